//! The host tick: the EL2 physical timer (CNTHP_*, reached as CNTP_*_EL0 under E2H=1).

use aarch64_cpu::registers::{Readable, Writeable, CNTFRQ_EL0, CNTPCT_EL0, CNTP_CTL_EL0, CNTP_TVAL_EL0};

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
        core::hint::spin_loop();
    }
}

/// Arms this CPU's timer for the next tick.
pub fn arm_next_tick() {
    CNTP_TVAL_EL0.set(frequency() / TICK_HZ);
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
}

/// Handles this CPU's timer interrupt.
pub fn on_tick(_intid: u32) {
    let cpu = super::cpu::current();
    cpu.ticks.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    arm_next_tick();
    crate::sched::tick();
    if cpu.index == 0 {
        crate::exec::wake_expired_timers(now_ns());
    }
}
