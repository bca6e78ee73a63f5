//! The host timer: the EL2 physical timer (CNTHP_*, reached as CNTP_*_EL0 under E2H=1),
//! firing for the periodic tick and for the earliest sleeper's deadline.

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
pub fn on_tick(_intid: u32) {
    let cpu = super::cpu::current();
    let now = now_ns();
    let next_tick = cpu.next_tick_ns.load(Ordering::Relaxed);
    if now >= next_tick {
        cpu.ticks.fetch_add(1, Ordering::Relaxed);
        let following = if next_tick + TICK_NS > now { next_tick + TICK_NS } else { now + TICK_NS };
        cpu.next_tick_ns.store(following, Ordering::Relaxed);
        crate::sched::tick();
    }
    crate::sched::sleep::wake_expired(now);
    crate::exec::wake_expired_timers(now);
    let mut next = cpu.next_tick_ns.load(Ordering::Relaxed);
    for deadline in [crate::sched::sleep::earliest(), crate::exec::earliest_timer()].into_iter().flatten() {
        next = next.min(deadline);
    }
    program(next);
}
