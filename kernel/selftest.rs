//! In-kernel self-tests on the real (emulated) machine, run with `keel.selftest`.

use crate::arch::{cpu, exception, smp, timer};
use crate::sched::{self, wait::WaitQueue};
use crate::kprintln;
use crate::mm::frames::FRAME_SIZE;
use crate::mm::kernel_space;
use crate::mm::layout::phys_to_virt;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

type Test = fn() -> Result<(), &'static str>;

const TESTS: &[(&str, Test)] = &[
    ("frames_concurrent_all_cpus", frames_concurrent_all_cpus),
    ("heap_on_all_cpus", heap_on_all_cpus),
    ("timer_ticks_on_every_busy_cpu", timer_ticks_on_every_busy_cpu),
    ("ipi_to_every_cpu", ipi_to_every_cpu),
    ("crash_report_null_read", crash_report_null_read),
    ("crash_report_write_to_kernel_text", crash_report_write_to_kernel_text),
    ("crash_report_undefined_instruction", crash_report_undefined_instruction),
    ("threads_spawn_run_and_exit", threads_spawn_run_and_exit),
    ("threads_block_and_exit_under_interrupts", threads_block_and_exit_under_interrupts),
    ("thread_sleep", thread_sleep),
    ("fair_share_of_spinning_threads", fair_share_of_spinning_threads),
    ("async_task_with_timer", async_task_with_timer),
    ("context_switch_round_trip", context_switch_round_trip),
    ("guest_world_switch", guest_world_switch),
];

/// Runs every self-test and prints `selftest: N passed, N failed`.
pub fn run() {
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in TESTS {
        let started = timer::now_ns();
        match test() {
            Ok(()) => {
                passed += 1;
                kprintln!("selftest: {name} ... ok ({} ms)", (timer::now_ns() - started) / 1_000_000);
            }
            Err(why) => {
                failed += 1;
                kprintln!("selftest: {name} ... FAILED: {why}");
            }
        }
    }
    kprintln!("selftest: {passed} passed, {failed} failed");
}

/// Frames handed out per CPU per round.
const FRAMES_PER_CPU: usize = 256;
static FRAME_ERRORS: AtomicUsize = AtomicUsize::new(0);

/// Every CPU allocates frames at once (single frames and aligned runs), stamps each with
/// its CPU and slot, checks every stamp after all are written, and frees them: a frame
/// handed out twice shows up as a foreign stamp.
fn frames_concurrent_all_cpus() -> Result<(), &'static str> {
    let (free_before, _) = kernel_space::frame_counts();
    FRAME_ERRORS.store(0, Ordering::SeqCst);
    for _round in 0..4 {
        smp::run_on_all(frames_worker);
    }
    if FRAME_ERRORS.load(Ordering::SeqCst) != 0 {
        return Err("a frame was handed out twice or not freed cleanly");
    }
    if kernel_space::frame_counts().0 != free_before {
        return Err("free frame count changed");
    }
    Ok(())
}

fn stamp(cpu: usize, slot: usize) -> u64 {
    0x5e1f_0000_0000_0000 | ((cpu as u64) << 32) | slot as u64
}

fn frames_worker(cpu_index: usize) {
    let mut held: [(u64, usize); FRAMES_PER_CPU] = [(0, 0); FRAMES_PER_CPU];
    let mut count = 0;
    for slot in 0..FRAMES_PER_CPU {
        // Mostly single frames, some 2 MiB-aligned runs of 4.
        let (frames, align) = if slot % 16 == 0 { (4, 512) } else { (1, 1) };
        let Some(pa) = kernel_space::alloc_frames(frames, align) else { break };
        if pa % (align as u64 * FRAME_SIZE) != 0 {
            FRAME_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(va) = phys_to_virt(pa) {
            for frame in 0..frames as u64 {
                let word = (va + frame * FRAME_SIZE) as *mut u64;
                // SAFETY: the frames were just allocated to this CPU; the linear map
                // covers them.
                unsafe { word.write_volatile(stamp(cpu_index, slot)) };
            }
        }
        held[count] = (pa, frames);
        count += 1;
    }
    for (slot, &(pa, frames)) in held[..count].iter().enumerate() {
        let Some(va) = phys_to_virt(pa) else { continue };
        for frame in 0..frames as u64 {
            let word = (va + frame * FRAME_SIZE) as *const u64;
            // SAFETY: still owned by this CPU (freed below).
            if unsafe { word.read_volatile() } != stamp(cpu_index, slot) {
                FRAME_ERRORS.fetch_add(1, Ordering::Relaxed);
            }
        }
        if kernel_space::free_frames(pa, frames).is_err() {
            FRAME_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

static HEAP_ERRORS: AtomicUsize = AtomicUsize::new(0);

fn heap_on_all_cpus() -> Result<(), &'static str> {
    HEAP_ERRORS.store(0, Ordering::SeqCst);
    smp::run_on_all(|cpu_index| {
        let mut vectors: Vec<Vec<u64>> = Vec::new();
        for n in 0..64usize {
            vectors.push((0..(n * 7 + 1) as u64).map(|v| v ^ cpu_index as u64).collect());
        }
        for (n, vector) in vectors.iter().enumerate() {
            if vector.len() != n * 7 + 1 || vector.iter().enumerate().any(|(i, &v)| v != i as u64 ^ cpu_index as u64) {
                HEAP_ERRORS.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    match HEAP_ERRORS.load(Ordering::SeqCst) {
        0 => Ok(()),
        _ => Err("heap contents were corrupted"),
    }
}

/// CPUs that took too few ticks while busy in `timer_ticks_on_every_busy_cpu`.
static TICK_SHORTFALLS: AtomicUsize = AtomicUsize::new(0);

/// Idle CPUs stop their tick; each one made busy (by cross-CPU work, which wakes it) must
/// tick again.
fn timer_ticks_on_every_busy_cpu() -> Result<(), &'static str> {
    TICK_SHORTFALLS.store(0, Ordering::SeqCst);
    smp::run_on_all(|_| {
        let cpu = cpu::current();
        let before = cpu.ticks.load(Ordering::Relaxed);
        // 100 ms: 10 ticks at 100 Hz; ask for at least 3 to allow for a slow emulator.
        timer::spin_us(100_000);
        if cpu.ticks.load(Ordering::Relaxed) < before + 3 {
            TICK_SHORTFALLS.fetch_add(1, Ordering::SeqCst);
        }
    });
    match TICK_SHORTFALLS.load(Ordering::SeqCst) {
        0 => Ok(()),
        _ => Err("a busy CPU took fewer than 3 timer interrupts in 100 ms"),
    }
}

fn ipi_to_every_cpu() -> Result<(), &'static str> {
    for target in cpu::online() {
        let before = target.ipis.load(Ordering::Relaxed);
        crate::irq::send_ipi(smp::SGI_WORK, target.mpidr.load(Ordering::Relaxed));
        let deadline = timer::counter() + timer::frequency() / 10;
        while target.ipis.load(Ordering::Relaxed) == before {
            if timer::counter() > deadline {
                return Err("an IPI was not taken within 100 ms");
            }
            cpu::relax();
        }
    }
    Ok(())
}

/// Runs `f` in a sacrificial context and checks that it produced a crash report with the
/// expected exception class (and fault address, when given).
fn expect_crash(f: extern "C" fn(u64) -> u64, arg: u64, class: u8, far: Option<u64>) -> Result<(), &'static str> {
    let this = cpu::current();
    let crashes = this.crashes.load(Ordering::Relaxed);
    if exception::try_call(f, arg).is_ok() {
        return Err("the deliberate fault did not fault");
    }
    if this.crashes.load(Ordering::Relaxed) != crashes + 1 {
        return Err("no crash report was produced");
    }
    let esr = this.last_crash_esr.load(Ordering::Relaxed);
    if keel_vmm::esr::ExceptionClass::code(esr) != class {
        return Err("the crash report has the wrong exception class");
    }
    if far.is_some_and(|far| this.last_crash_far.load(Ordering::Relaxed) != far) {
        return Err("the crash report has the wrong fault address");
    }
    Ok(())
}

extern "C" fn read_address(address: u64) -> u64 {
    // SAFETY: deliberately unsound: this runs under try_call to provoke a data abort.
    unsafe { (address as *const u64).read_volatile() }
}

extern "C" fn write_address(address: u64) -> u64 {
    // SAFETY: deliberately unsound: this runs under try_call to provoke a permission fault.
    unsafe { (address as *mut u64).write_volatile(0) };
    0
}

extern "C" fn undefined_instruction(_: u64) -> u64 {
    // SAFETY: deliberately executes a permanently undefined instruction under try_call.
    unsafe { core::arch::asm!("udf #0x4b45", options(nomem, nostack)) };
    0
}

fn crash_report_null_read() -> Result<(), &'static str> {
    expect_crash(read_address, 0x10, 0x25, Some(0x10))
}

fn crash_report_write_to_kernel_text() -> Result<(), &'static str> {
    let text = run as *const () as u64;
    expect_crash(write_address, text, 0x25, Some(text))
}

fn crash_report_undefined_instruction() -> Result<(), &'static str> {
    expect_crash(undefined_instruction, 0, 0x00, None)
}

static FINISHED: AtomicUsize = AtomicUsize::new(0);
static DONE: WaitQueue = WaitQueue::new();

/// Waits (blocking this thread) until `FINISHED` reaches `count`, for at most `ms`.
fn wait_finished(count: usize, ms: u64) -> Result<(), &'static str> {
    let deadline = timer::now_ns() + ms * 1_000_000;
    DONE.wait_until(Some(deadline), || (FINISHED.load(Ordering::Acquire) >= count).then_some(()))
        .map_err(|_| "threads did not finish in time")
}

fn finished() {
    FINISHED.fetch_add(1, Ordering::AcqRel);
    DONE.wake_all();
}

fn threads_spawn_run_and_exit() -> Result<(), &'static str> {
    FINISHED.store(0, Ordering::SeqCst);
    let before = sched::threads().len();
    let mut threads = Vec::new();
    for n in 0..8 {
        threads.push(sched::spawn_kernel(&alloc::format!("selftest/{n}"), finished).ok_or("no memory for a thread")?);
    }
    let deadline = timer::now_ns() + 2_000_000_000;
    for thread in &threads {
        thread.join(Some(deadline)).map_err(|_| "join timed out")?;
    }
    if FINISHED.load(Ordering::SeqCst) != 8 {
        return Err("a joined thread had not run");
    }
    drop(threads);
    // Exited threads are released by the next switch on their CPU.
    let deadline = timer::now_ns() + 500_000_000;
    while sched::threads().len() != before {
        if timer::now_ns() > deadline {
            return Err("exited threads were not released");
        }
        sched::sleep::sleep_until(timer::now_ns() + 10_000_000);
    }
    Ok(())
}

static STOP_TICKING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
static TIMER_WAKEUPS: AtomicUsize = AtomicUsize::new(0);

/// For 300 ms, rounds of threads that sleep briefly, exit and are joined, while an async
/// task's timer fires every 50 us on this CPU: each expiry wakes the executor here and asks
/// for a switch, so interrupts land all over the block, sleep, wake and exit paths. A
/// wakeup lost there (a thread switched away between marking itself blocked or exited and
/// its own `schedule`) shows up as a join that needed its deadline, or as a hang.
fn threads_block_and_exit_under_interrupts() -> Result<(), &'static str> {
    const WORKERS: usize = 4;
    const RUN_NS: u64 = 300_000_000;
    FINISHED.store(0, Ordering::SeqCst);
    STOP_TICKING.store(false, Ordering::SeqCst);
    TIMER_WAKEUPS.store(0, Ordering::SeqCst);
    crate::exec::spawn(async {
        while !STOP_TICKING.load(Ordering::Acquire) {
            crate::exec::sleep(50_000).await;
            TIMER_WAKEUPS.fetch_add(1, Ordering::Relaxed);
        }
        finished();
    });
    let here = cpu::current().index;
    let end = timer::now_ns() + RUN_NS;
    let mut rounds = 0;
    let outcome = loop {
        if timer::now_ns() >= end {
            break Ok(());
        }
        rounds += 1;
        let mut threads = Vec::new();
        for n in 0..WORKERS {
            let name = alloc::format!("blocker/{n}");
            let (kind, weight) = (sched::thread::ThreadKind::Kernel, sched::runqueue::NICE_0_WEIGHT);
            let spec = sched::ThreadSpec { name: &name, kind, weight, pinned: Some(here), ttbr0: 0 };
            let body = || sched::sleep::sleep_until(timer::now_ns() + 20_000);
            threads.extend(sched::spawn(spec, alloc::boxed::Box::new(body)));
        }
        if threads.len() < WORKERS {
            break Err("no memory for a thread");
        }
        sched::sleep::sleep_until(timer::now_ns() + 30_000);
        let deadline = timer::now_ns() + 1_000_000_000;
        if threads.iter().any(|thread| thread.join(Some(deadline)).is_err() || timer::now_ns() >= deadline) {
            break Err("a join waited for its deadline: a wakeup was lost");
        }
    };
    STOP_TICKING.store(true, Ordering::SeqCst);
    wait_finished(1, 2000)?;
    let wakeups = TIMER_WAKEUPS.load(Ordering::Relaxed);
    kprintln!("selftest:   {rounds} rounds of {WORKERS} threads, {wakeups} timer wakeups");
    outcome
}

fn thread_sleep() -> Result<(), &'static str> {
    let start = timer::now_ns();
    sched::sleep::sleep_until(start + 50_000_000);
    let slept = timer::now_ns() - start;
    if slept < 50_000_000 {
        return Err("woke before the deadline");
    }
    if slept > 500_000_000 {
        return Err("woke more than 450 ms late");
    }
    Ok(())
}

const SPINNERS: usize = 4;
/// 600 ms windows in which the spinners' shares are compared (the first fair one passes).
const FAIRNESS_WINDOWS: usize = 3;
static STOP_SPINNING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn fair_share_of_spinning_threads() -> Result<(), &'static str> {
    FINISHED.store(0, Ordering::SeqCst);
    STOP_SPINNING.store(false, Ordering::SeqCst);
    let mut threads = Vec::new();
    for n in 0..SPINNERS {
        let thread = sched::spawn_kernel(&alloc::format!("spinner/{n}"), || {
            while !STOP_SPINNING.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
            finished();
        });
        threads.push(thread.ok_or("no memory for a thread")?);
    }
    // QEMU's own thread can be held up by the machine (TCG on a shared host), and the
    // spinner running then is charged for it: a window that caught such a stall is
    // measured again (a scheduler that is really unfair fails every window).
    let mut outcome = Ok(());
    let mut before: Vec<u64> = threads.iter().map(|t| t.cpu_time_ns()).collect();
    for _window in 0..FAIRNESS_WINDOWS {
        sched::sleep::sleep_until(timer::now_ns() + 600_000_000);
        let now: Vec<u64> = threads.iter().map(|t| t.cpu_time_ns()).collect();
        let times: Vec<u64> = now.iter().zip(&before).map(|(now, before)| now.saturating_sub(*before)).collect();
        before = now;
        let most = times.iter().copied().max().unwrap_or(0);
        let least = times.iter().copied().min().unwrap_or(0);
        kprintln!("selftest:   spinner CPU times (ms): {:?}", times.iter().map(|t| t / 1_000_000).collect::<Vec<_>>());
        outcome = if least == 0 || most * 100 > least * 125 {
            Err("spinners' CPU times differ by more than 25% in every window")
        } else {
            Ok(())
        };
        if outcome.is_ok() {
            break;
        }
    }
    STOP_SPINNING.store(true, Ordering::SeqCst);
    wait_finished(SPINNERS, 2000)?;
    outcome
}

fn async_task_with_timer() -> Result<(), &'static str> {
    FINISHED.store(0, Ordering::SeqCst);
    let start = timer::now_ns();
    crate::exec::spawn(async {
        crate::exec::sleep(30_000_000).await;
        finished();
    });
    wait_finished(1, 2000)?;
    if timer::now_ns() - start < 30_000_000 {
        return Err("the task's sleep ended early");
    }
    Ok(())
}

static PING: AtomicUsize = AtomicUsize::new(0);
static PING_QUEUE: WaitQueue = WaitQueue::new();
static PONG_QUEUE: WaitQueue = WaitQueue::new();
const ROUND_TRIPS: usize = 2000;

/// Two threads pinned to this CPU hand a token back and forth: each hand-off is a block,
/// a wake and a switch. Prints the cost per switch.
fn context_switch_round_trip() -> Result<(), &'static str> {
    PING.store(0, Ordering::SeqCst);
    FINISHED.store(0, Ordering::SeqCst);
    let here = cpu::current().index;
    let weight = sched::runqueue::NICE_0_WEIGHT;
    let kind = sched::thread::ThreadKind::Kernel;
    let pong = || {
        for round in 0..ROUND_TRIPS {
            let _ = PONG_QUEUE.wait_until(None, || (PING.load(Ordering::Acquire) == 2 * round + 1).then_some(()));
            PING.store(2 * round + 2, Ordering::Release);
            PING_QUEUE.wake_all();
        }
        finished();
    };
    let ping = || {
        for round in 0..ROUND_TRIPS {
            PING.store(2 * round + 1, Ordering::Release);
            PONG_QUEUE.wake_all();
            let _ = PING_QUEUE.wait_until(None, || (PING.load(Ordering::Acquire) == 2 * round + 2).then_some(()));
        }
        finished();
    };
    let start = timer::now_ns();
    let mut threads = Vec::new();
    for (name, body) in [("ping", alloc::boxed::Box::new(ping) as sched::thread::Entry), ("pong", alloc::boxed::Box::new(pong))] {
        let spec = sched::ThreadSpec { name, kind, weight, pinned: Some(here), ttbr0: 0 };
        threads.push(sched::spawn(spec, body).ok_or("no memory")?);
    }
    wait_finished(2, 20_000)?;
    let elapsed = timer::now_ns() - start;
    kprintln!("selftest:   {} ns per switch ({} hand-offs between two threads on cpu {here})",
        elapsed / (2 * ROUND_TRIPS as u64), 2 * ROUND_TRIPS);
    // The next test counts free frames: their stacks must be back.
    join_and_release(threads, 2000)
}

/// Joins `threads`, drops them and waits (at most `ms` in all) until the scheduler has
/// released them too, so that their stacks are free again.
fn join_and_release(threads: Vec<alloc::sync::Arc<sched::thread::Thread>>, ms: u64) -> Result<(), &'static str> {
    let deadline = timer::now_ns() + ms * 1_000_000;
    for thread in &threads {
        thread.join(Some(deadline)).map_err(|_| "join timed out")?;
    }
    let ids: Vec<_> = threads.iter().map(|thread| thread.id).collect();
    drop(threads);
    // Exited threads are released by the next switch on their CPU.
    while ids.iter().any(|&id| sched::thread(id).is_some()) {
        if timer::now_ns() > deadline {
            return Err("exited threads were not released");
        }
        sched::sleep::sleep_until(timer::now_ns() + 1_000_000);
    }
    Ok(())
}

/// Runs a tiny EL1 guest through the real world switch: its UART bytes arrive as MMIO
/// exits, its PSCI call as an HVC exit; the host goes on afterwards.
fn guest_world_switch() -> Result<(), &'static str> {
    let mut costs = [0; 2];
    for (in_place, cost) in [false, true].into_iter().zip(&mut costs) {
        let (free_before, _) = kernel_space::frame_counts();
        let run = crate::vm::test_guest::run(in_place)?;
        if run.output != b"hello from EL1\n" {
            return Err("the guest's UART output is wrong");
        }
        if !run.powered_off {
            return Err("the guest did not power off");
        }
        if kernel_space::frame_counts().0 != free_before {
            return Err("guest memory was not returned");
        }
        if !in_place {
            kprintln!("selftest:   {} exits for {} bytes of guest output", run.exits, run.output.len());
        }
        *cost = run.ns_per_exit;
    }
    kprintln!("selftest:   {} ns per guest exit (world switch, no device model)", costs[0]);
    kprintln!("selftest:   {} ns per in-place exit (completed before the host's state is back)", costs[1]);
    Ok(())
}
