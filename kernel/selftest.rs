//! In-kernel self-tests on the real (emulated) machine, run with `keel.selftest`.

use crate::arch::{cpu, exception, smp, timer};
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
    ("timer_ticks_on_every_cpu", timer_ticks_on_every_cpu),
    ("ipi_to_every_cpu", ipi_to_every_cpu),
    ("crash_report_null_read", crash_report_null_read),
    ("crash_report_write_to_kernel_text", crash_report_write_to_kernel_text),
    ("crash_report_undefined_instruction", crash_report_undefined_instruction),
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

fn timer_ticks_on_every_cpu() -> Result<(), &'static str> {
    let before: Vec<(usize, u64)> = cpu::online().map(|c| (c.index, c.ticks.load(Ordering::Relaxed))).collect();
    // 100 ms: 10 ticks at 100 Hz; ask for at least 3 to allow for a slow emulator.
    timer::spin_us(100_000);
    for (index, ticks) in before {
        let now = cpu::by_index(index).map_or(0, |c| c.ticks.load(Ordering::Relaxed));
        if now < ticks + 3 {
            return Err("a CPU took fewer than 3 timer interrupts in 100 ms");
        }
    }
    Ok(())
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
            core::hint::spin_loop();
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
