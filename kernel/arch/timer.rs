//! The host timer: the EL2 physical timer (CNTHP_*, reached as CNTP_*_EL0 under E2H=1),
//! firing for the periodic tick and for the earliest sleeper's deadline; an idle CPU stops
//! its tick and wakes only for deadlines and interrupts.

use aarch64_cpu::registers::{Readable, Writeable, CNTFRQ_EL0, CNTPCT_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0};
use core::sync::atomic::Ordering;

/// Host timer interrupts per second on every CPU.
pub const TICK_HZ: u64 = 100;

/// Counter frequency in Hz.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// The physical count (monotonic, shared by all CPUs).
pub fn counter() -> u64 {
    CNTPCT_EL0.get()
}

/// Nanoseconds since the counter started.
pub fn now_ns() -> u64 {
    let ticks = counter() as u128;
    (ticks * 1_000_000_000 / frequency() as u128) as u64
}

/// Busy-waits for `micros` microseconds (interrupts keep being taken).
pub fn spin_us(micros: u64) {
    let end = counter() + frequency() * micros / 1_000_000;
    while counter() < end {
        super::cpu::relax();
    }
}

/// Nanoseconds between two periodic ticks.
const TICK_NS: u64 = 1_000_000_000 / TICK_HZ;

/// Sets this CPU's timer to fire at `at_ns` (at once if that has passed).
fn program(at_ns: u64) {
    // Rounded up, so that `now_ns()` has reached `at_ns` when the interrupt comes.
    let count = (at_ns as u128 * frequency() as u128).div_ceil(1_000_000_000).min(u64::MAX as u128) as u64;
    CNTP_CVAL_EL0.set(count);
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
    super::cpu::current().timer_armed_ns.store(at_ns, Ordering::Relaxed);
}

/// Switches this CPU's timer off.
fn disarm() {
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::CLEAR + CNTP_CTL_EL0::IMASK::SET);
    super::cpu::current().timer_armed_ns.store(u64::MAX, Ordering::Relaxed);
}

/// The earliest deadline of a sleeping thread or an async timer.
fn earliest_deadline() -> Option<u64> {
    [crate::sched::sleep::earliest(), crate::exec::earliest_timer()].into_iter().flatten().min()
}

/// Starts this CPU's periodic tick again, one tick from now, if it was stopped while the
/// CPU idled (earlier deadlines stay set). Called when the CPU takes up work: a thread
/// switched in, or cross-CPU work.
pub fn restart_tick() {
    let cpu = super::cpu::current();
    if !cpu.tick_stopped.swap(false, Ordering::Relaxed) {
        return;
    }
    let next = now_ns() + TICK_NS;
    cpu.next_tick_ns.store(next, Ordering::Relaxed);
    if next < cpu.timer_armed_ns.load(Ordering::Relaxed) {
        program(next);
    }
}

/// Starts this CPU's periodic tick.
pub fn arm_next_tick() {
    let next = now_ns() + TICK_NS;
    super::cpu::current().next_tick_ns.store(next, Ordering::Relaxed);
    program(next);
}

/// Makes this CPU's timer fire no later than `deadline_ns`, for a thread or task that sleeps
/// until then: sleepers wake on time, not at the next tick.
pub fn wake_by(deadline_ns: u64) {
    let irqs = super::cpu::irq_save();
    if deadline_ns < super::cpu::current().timer_armed_ns.load(Ordering::Relaxed) {
        program(deadline_ns);
    }
    super::cpu::irq_restore(irqs);
}

/// Handles this CPU's timer interrupt: the periodic tick when it is due, then every sleeper
/// and timer whose deadline has passed; then sets the timer for the next of those events.
///
/// A CPU that is still waiting in its idle loop when the interrupt comes stops its tick:
/// the timer is then set only for the earliest deadline, if any, so that an idle CPU is not
/// woken 100 times a second for nothing. [`restart_tick`] starts it again. Stopping it here,
/// a tick into the idle time, and not on entry to the idle loop, keeps the timer's
/// registers untouched when a CPU idles briefly, which it does thousands of times a second
/// under load.
pub fn on_tick(_intid: u32) {
    let cpu = super::cpu::current();
    let now = now_ns();
    let next_tick = cpu.next_tick_ns.load(Ordering::Relaxed);
    if !cpu.tick_stopped.load(Ordering::Relaxed) && now >= next_tick {
        cpu.ticks.fetch_add(1, Ordering::Relaxed);
        let following = if next_tick + TICK_NS > now { next_tick + TICK_NS } else { now + TICK_NS };
        cpu.next_tick_ns.store(following, Ordering::Relaxed);
        crate::sched::tick();
    }
    crate::sched::sleep::wake_expired(now);
    crate::exec::wake_expired_timers(now);
    let deadline = earliest_deadline();
    if cpu.idle_waiting.load(Ordering::Relaxed) && crate::sched::idle_may_wait() {
        cpu.tick_stopped.store(true, Ordering::Relaxed);
        match deadline {
            Some(deadline) => program(deadline),
            None => disarm(),
        }
        return;
    }
    restart_tick();
    let next_tick = cpu.next_tick_ns.load(Ordering::Relaxed);
    program(deadline.map_or(next_tick, |deadline| deadline.min(next_tick)));
}
