//! Scheduler mechanics: current thread, switching, waking, preemption and balancing.

use super::runqueue::{self, RunQueue, ThreadId, NICE_0_WEIGHT};
use super::thread::{Entry, KernelStack, Thread, ThreadKind, BLOCKED, EXITED, READY, RUNNING};
use crate::arch::{context, cpu, cpu::MAX_CPUS, timer};
use crate::sync::IrqSpinlock;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One CPU's scheduling state.
struct CpuSched {
    queue: RunQueue,
    /// Threads in `queue`, by id.
    queued: BTreeMap<ThreadId, Arc<Thread>>,
    current: Option<Arc<Thread>>,
    idle: Option<Arc<Thread>>,
    /// The thread switched away from, finished by the next one to run.
    previous: Option<Arc<Thread>>,
    slice_end_ns: u64,
    idle_ns: u64,
    busy_ns: u64,
}

impl CpuSched {
    const fn new() -> Self {
        Self {
            queue: RunQueue::new(),
            queued: BTreeMap::new(),
            current: None,
            idle: None,
            previous: None,
            slice_end_ns: 0,
            idle_ns: 0,
            busy_ns: 0,
        }
    }

    /// Threads that want this CPU: the ready ones and a running one that is not idle.
    fn load(&self) -> usize {
        let busy = match (&self.current, &self.idle) {
            (Some(current), Some(idle)) => !Arc::ptr_eq(current, idle),
            (Some(_), None) => true,
            _ => false,
        };
        self.queue.len() + usize::from(busy)
    }

    /// Whether a waiting thread here may move to another CPU.
    fn has_movable(&self) -> bool {
        let current = self.current.as_ref().map(|t| t.id);
        self.queued.keys().any(|&id| may_move(&self.queued, current, id))
    }

    fn is_idle(&self, thread: &Arc<Thread>) -> bool {
        self.idle.as_ref().is_some_and(|idle| Arc::ptr_eq(idle, thread))
    }

    fn enqueue(&mut self, thread: Arc<Thread>, vruntime: u64) {
        if self.queue.enqueue(thread.id, thread.weight, vruntime) {
            self.queued.insert(thread.id, thread);
        }
    }
}

static CPUS: [IrqSpinlock<CpuSched>; MAX_CPUS] = [const { IrqSpinlock::new(CpuSched::new()) }; MAX_CPUS];
static NEED_RESCHED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Every thread that exists, by id.
static THREADS: IrqSpinlock<BTreeMap<ThreadId, Arc<Thread>>> = IrqSpinlock::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// Set once the boot CPU runs as a scheduled thread.
static STARTED: AtomicBool = AtomicBool::new(false);

/// The SGI that asks a CPU to reschedule.
pub const SGI_RESCHED: u32 = 2;

/// Turns the running boot context of this CPU into its idle thread.
pub fn init_this_cpu() {
    let index = cpu::current().index;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let name = alloc::format!("idle/{index}");
    let idle = Arc::new(Thread::new(id, &name, ThreadKind::Kernel, 1, Some(index), None, None));
    idle.state.store(RUNNING, Ordering::Release);
    idle.on_cpu.store(true, Ordering::Release);
    THREADS.lock().insert(id, idle.clone());
    let mut sched = CPUS[index].lock();
    sched.idle = Some(idle.clone());
    sched.current = Some(idle);
    STARTED.store(true, Ordering::Release);
}

/// The thread running on this CPU.
pub fn current() -> Option<Arc<Thread>> {
    CPUS[cpu::current().index].lock().current.clone()
}

/// How a new thread is set up.
pub struct ThreadSpec<'a> {
    pub name: &'a str,
    pub kind: ThreadKind,
    pub weight: u32,
    /// The only CPU it may run on.
    pub pinned: Option<usize>,
    /// TTBR0_EL2 for a user thread (its process's tables and ASID); 0 for kernel threads.
    pub ttbr0: u64,
}

/// Creates a thread that starts by running `entry` and queues it.
pub fn spawn(spec: ThreadSpec<'_>, entry: Entry) -> Option<Arc<Thread>> {
    let stack = KernelStack::new()?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let thread = Thread::new(id, spec.name, spec.kind, spec.weight, spec.pinned, Some(stack), Some(entry));
    // Set before the thread is queued: another CPU may start it at once.
    thread.ttbr0.store(spec.ttbr0, Ordering::Release);
    let thread = Arc::new(thread);
    let pinned = spec.pinned;
    THREADS.lock().insert(id, thread.clone());
    let target = pinned.unwrap_or_else(least_loaded_cpu);
    thread.cpu.store(target as u32, Ordering::Relaxed);
    make_ready(&thread, target, Placement::New);
    Some(thread)
}

/// Spawns a kernel thread with normal weight.
pub fn spawn_kernel(name: &str, entry: impl FnOnce() + Send + 'static) -> Option<Arc<Thread>> {
    let spec = ThreadSpec { name, kind: ThreadKind::Kernel, weight: NICE_0_WEIGHT, pinned: None, ttbr0: 0 };
    spawn(spec, alloc::boxed::Box::new(entry))
}

fn least_loaded_cpu() -> usize {
    cpu::online()
        .map(|c| c.index)
        .min_by_key(|&index| CPUS[index].lock().load())
        .unwrap_or(cpu::current().index)
}

/// Where a thread joins a queue: new threads start at the floor; threads waking from a
/// sleep get a little credit so that interactive work runs promptly.
enum Placement {
    New,
    Woken,
}

/// Queues a READY thread on `target` and prods that CPU.
fn make_ready(thread: &Arc<Thread>, target: usize, placement: Placement) {
    {
        let mut sched = CPUS[target].lock();
        let floor = sched.queue.min_vruntime();
        let vruntime = {
            let mut stats = thread.stats.lock();
            stats.vruntime = match placement {
                Placement::New => floor,
                Placement::Woken => runqueue::placement_on_wake(stats.vruntime, floor),
            };
            stats.vruntime
        };
        sched.enqueue(thread.clone(), vruntime);
    }
    if target == cpu::current().index {
        NEED_RESCHED[target].store(true, Ordering::Release);
    } else if let Some(other) = cpu::by_index(target) {
        crate::irq::send_ipi(SGI_RESCHED, other.mpidr.load(Ordering::Relaxed));
    }
}

/// Makes a BLOCKED thread runnable again. Waking a thread that is not blocked does nothing.
pub fn wake(thread: &Arc<Thread>) {
    if thread.state.compare_exchange(BLOCKED, READY, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return;
    }
    let mut target = thread.pinned.unwrap_or_else(|| thread.last_cpu());
    if !cpu::by_index(target).is_some_and(|c| c.online.load(Ordering::Acquire)) {
        target = cpu::current().index;
    }
    make_ready(thread, target, Placement::Woken);
}

/// Marks the current thread blocked; the caller then calls `schedule` (after publishing
/// where it can be woken from). `None` for an idle thread, which never blocks. Interrupts
/// taken in between do not switch the thread away (see `Reason::Preempt`).
pub fn prepare_to_block() -> Option<Arc<Thread>> {
    let (me, idle) = {
        let sched = CPUS[cpu::current().index].lock();
        let me = sched.current.clone()?;
        let idle = sched.is_idle(&me);
        (me, idle)
    };
    if idle {
        return None;
    }
    me.state.store(BLOCKED, Ordering::Release);
    Some(me)
}

/// Gives up the CPU: the current thread goes back to its queue (if still running) and the
/// next one runs.
pub fn yield_now() {
    schedule();
}

/// Ends the current thread. Never returns.
pub fn exit_current() -> ! {
    if let Some(me) = current() {
        // Joiners recheck the state under their queue's lock: they see EXITED or are woken.
        // No interrupt switches an exited thread away before its `schedule` below, so every
        // joiner is woken.
        me.state.store(EXITED, Ordering::Release);
        me.joiners.wake_all();
    }
    schedule();
    // A thread marked exited is never picked again.
    cpu::halt()
}

/// Why the scheduler runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// The current thread asked: it yields, blocks or exits.
    Voluntary,
    /// An interrupt asked on its way out (the tick, a wakeup, the resched IPI). It only
    /// switches away from a RUNNING thread: one that has marked itself blocked or exited is
    /// between that and its own `schedule`, still registering its sleep deadline or waking
    /// its joiners; switched away there it would never run again, and whoever it was to
    /// wake, or whatever was to wake it, would be lost.
    Preempt,
}

/// Picks the next thread on this CPU and switches to it.
pub fn schedule() {
    switch_away(Reason::Voluntary);
}

fn switch_away(reason: Reason) {
    if !STARTED.load(Ordering::Acquire) {
        return;
    }
    let irqs = cpu::irq_save();
    let index = cpu::current().index;
    if let Some((prev, next)) = pick_next(index, reason) {
        // The CPU that last ran `next` may still be saving its context.
        while next.on_cpu.load(Ordering::Acquire) {
            cpu::relax();
        }
        next.on_cpu.store(true, Ordering::Release);
        load_address_space(&next);
        let prev_context = prev.context.get();
        let next_context = next.context.get() as *const _;
        drop(prev);
        drop(next);
        // A thread gets this CPU: it ticks again if it idled without.
        timer::restart_tick();
        // SAFETY: prev is the thread running on this CPU (its context is saved here);
        // next is READY, its stack is alive (the THREADS table and `current` hold it),
        // and no CPU runs on it (on_cpu was false). IRQs are masked.
        unsafe { context::switch(prev_context, next_context) };
        finish_switch();
    }
    cpu::irq_restore(irqs);
}

/// Under this CPU's lock: charges the current thread, queues it again if it still runs,
/// picks the next one and makes it current. `Some((previous, next))` when they differ;
/// `None` when the current thread goes on (or may not be preempted now).
fn pick_next(index: usize, reason: Reason) -> Option<(Arc<Thread>, Arc<Thread>)> {
    let now = timer::now_ns();
    let mut sched = CPUS[index].lock();
    let prev = sched.current.clone()?;
    if reason == Reason::Preempt && prev.state() != RUNNING {
        return None;
    }
    NEED_RESCHED[index].store(false, Ordering::Relaxed);
    let is_idle = sched.is_idle(&prev);
    let prev_vruntime = account(&prev, now, is_idle, &mut sched);
    if prev.state() == RUNNING {
        // The idle thread is not queued: it runs whenever the queue is empty.
        prev.state.store(READY, Ordering::Release);
        if !is_idle {
            sched.enqueue(prev.clone(), prev_vruntime);
        }
    }
    let next = loop {
        match sched.queue.pick_next() {
            Some((id, _, _)) => match sched.queued.remove(&id) {
                Some(thread) if thread.state() == READY => break thread,
                _ => continue,
            },
            None => match sched.idle.clone() {
                Some(idle) => break idle,
                None => break prev.clone(),
            },
        }
    };
    sched.queue.update_min_vruntime(Some(next.stats.lock().vruntime));
    next.state.store(RUNNING, Ordering::Release);
    next.cpu.store(index as u32, Ordering::Relaxed);
    next.stats.lock().started_ns = now;
    let total = sched.queue.total_weight() + u64::from(next.weight);
    sched.slice_end_ns = now + runqueue::time_slice(next.weight, total);
    if Arc::ptr_eq(&next, &prev) {
        return None;
    }
    sched.current = Some(next.clone());
    sched.previous = Some(prev.clone());
    Some((prev, next))
}

/// Charges the running thread for the time since it started; returns its vruntime.
fn account(thread: &Arc<Thread>, now: u64, is_idle: bool, sched: &mut CpuSched) -> u64 {
    let mut stats = thread.stats.lock();
    let ran = now.saturating_sub(stats.started_ns);
    stats.started_ns = now;
    stats.cpu_time_ns += ran;
    if is_idle {
        sched.idle_ns += ran;
    } else {
        sched.busy_ns += ran;
        stats.vruntime = runqueue::charge(stats.vruntime, ran, thread.weight);
    }
    stats.vruntime
}

fn load_address_space(thread: &Thread) {
    let ttbr0 = thread.ttbr0.load(Ordering::Acquire);
    if ttbr0 != 0 {
        crate::mm::kernel_space::load_user_table(ttbr0);
    }
}

/// Runs on the thread just switched to: releases the previous one.
fn finish_switch() {
    let index = cpu::current().index;
    let previous = CPUS[index].lock().previous.take();
    if let Some(previous) = previous {
        previous.on_cpu.store(false, Ordering::Release);
        if previous.state() == EXITED {
            THREADS.lock().remove(&previous.id);
        }
    }
}

/// First Rust code of a new thread (from the context trampoline).
#[unsafe(no_mangle)]
extern "C" fn keel_thread_start(_id: u64) -> ! {
    finish_switch();
    cpu::irq_enable();
    let entry = current().and_then(|me| me.entry.lock().take());
    if let Some(entry) = entry {
        entry();
    }
    exit_current()
}

/// The host tick on this CPU: ends time slices, balances load (arch::timer wakes sleepers).
pub fn tick() {
    if !STARTED.load(Ordering::Acquire) {
        return;
    }
    let index = cpu::current().index;
    let now = timer::now_ns();
    {
        let sched = CPUS[index].lock();
        let is_idle = match (&sched.current, &sched.idle) {
            (Some(current), Some(idle)) => Arc::ptr_eq(current, idle),
            _ => true,
        };
        if (now >= sched.slice_end_ns || is_idle) && !sched.queue.is_empty() {
            NEED_RESCHED[index].store(true, Ordering::Release);
        }
    }
    if cpu::current().ticks.load(Ordering::Relaxed) % 4 == u64::from(index as u32 % 4) {
        balance(index);
        wake_idle_to_balance(index);
    }
}

/// An idle CPU has no tick to balance on: when threads wait here that another CPU could
/// run, prod one whose tick is stopped; its idle loop then pulls one (`balance_idle`).
fn wake_idle_to_balance(index: usize) {
    if !CPUS[index].lock().has_movable() {
        return;
    }
    let idle = cpu::online().find(|c| c.index != index && c.tick_stopped.load(Ordering::Relaxed));
    if let Some(idle) = idle {
        crate::irq::send_ipi(SGI_RESCHED, idle.mpidr.load(Ordering::Relaxed));
    }
}

/// Called by this CPU's idle loop: when its tick is stopped (it balances on its ticks
/// otherwise), takes a waiting thread from a busier CPU, if one may move. Not at every
/// pass: pulled as soon as they wait, threads that block and wake often (vCPUs passing
/// packets) moved back and forth, and each move costs (in QEMU the new CPU's translations
/// are cold): guest-to-guest TCP ran at half speed.
pub fn balance_idle() {
    if !STARTED.load(Ordering::Acquire) || !cpu::current().tick_stopped.load(Ordering::Relaxed) {
        return;
    }
    let index = cpu::current().index;
    if cpu::online().any(|c| c.index != index && CPUS[c.index].lock().has_movable()) {
        balance(index);
    }
}

/// Whether this CPU has nothing to do: its idle thread runs, no thread is queued here and
/// no switch is asked for. Called with IRQs masked.
pub fn idle_may_wait() -> bool {
    let index = cpu::current().index;
    if NEED_RESCHED[index].load(Ordering::Acquire) {
        return false;
    }
    CPUS[index].lock().load() == 0
}

/// Whether queued thread `id` may move to another CPU: not pinned, and not `current`. A
/// thread woken before its own `schedule` is queued while still current on its CPU: it stays
/// there (moved, it would be picked elsewhere while it runs there).
fn may_move(queued: &BTreeMap<ThreadId, Arc<Thread>>, current: Option<ThreadId>, id: ThreadId) -> bool {
    Some(id) != current && queued.get(&id).is_some_and(|t| t.pinned.is_none())
}

/// Pulls one thread from the busiest CPU when this one is the least loaded.
fn balance(index: usize) {
    let online: Vec<usize> = cpu::online().map(|c| c.index).collect();
    if online.len() < 2 {
        return;
    }
    let ready: Vec<usize> = online.iter().map(|&i| CPUS[i].lock().load()).collect();
    let Some((busiest, idlest)) = runqueue::imbalance(&ready) else { return };
    if online[idlest] != index {
        return;
    }
    let from = online[busiest];
    let (first, second) = if from < index { (from, index) } else { (index, from) };
    let mut a = CPUS[first].lock();
    let mut b = CPUS[second].lock();
    let (source, destination) = if from < index { (&mut *a, &mut *b) } else { (&mut *b, &mut *a) };
    let current = source.current.as_ref().map(|t| t.id);
    let queued = &source.queued;
    let stolen = source.queue.steal(|id| may_move(queued, current, id));
    if let Some((id, _, vruntime)) = stolen {
        if let Some(thread) = source.queued.remove(&id) {
            let moved = runqueue::migrate_vruntime(vruntime, source.queue.min_vruntime(), destination.queue.min_vruntime());
            thread.stats.lock().vruntime = moved;
            thread.cpu.store(index as u32, Ordering::Relaxed);
            destination.enqueue(thread, moved);
            NEED_RESCHED[index].store(true, Ordering::Release);
        }
    }
}

/// Called on the way out of an interrupt: switch if the tick or a wakeup asked for it and
/// the current thread is running (see `Reason::Preempt`).
pub fn preempt_if_needed() {
    let index = cpu::current().index;
    if NEED_RESCHED[index].load(Ordering::Acquire) {
        switch_away(Reason::Preempt);
    }
}

/// The resched IPI: the work happens in `preempt_if_needed` on the way out.
pub fn on_resched_ipi(_intid: u32) {
    NEED_RESCHED[cpu::current().index].store(true, Ordering::Release);
}

/// Every thread, for `ps`.
pub fn threads() -> Vec<Arc<Thread>> {
    THREADS.lock().values().cloned().collect()
}

/// Looks a thread up by id.
pub fn thread(id: ThreadId) -> Option<Arc<Thread>> {
    THREADS.lock().get(&id).cloned()
}

/// (ready threads, idle ns, busy ns) of CPU `index`.
pub fn cpu_load(index: usize) -> (usize, u64, u64) {
    let sched = CPUS[index % MAX_CPUS].lock();
    (sched.queue.len(), sched.idle_ns, sched.busy_ns)
}
