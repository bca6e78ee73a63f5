//! The exception record that `start.S` fills, and probes run against it: each probe runs
//! one instruction that may trap and gets back the value or the exception.

use core::arch::asm;
use keel_hostile_guest::Outcome;

/// What the vector saw of the last exception (`start.S` writes these three words).
#[repr(C)]
pub struct TrapRecord {
    esr: u64,
    far: u64,
    count: u64,
}

#[no_mangle]
static mut hostile_trap: TrapRecord = TrapRecord {
    esr: 0,
    far: 0,
    count: 0,
};

/// Runs `probe` and returns what it saw: its value, or the exception it took.
pub fn run(probe: impl FnOnce() -> u64) -> Outcome {
    let record = &raw mut hostile_trap;
    // SAFETY: one CPU, and the vector writes the record only inside `probe`; volatile, so
    // the writes of the vector (which the compiler does not see) are read back.
    unsafe { core::ptr::write_volatile(&raw mut (*record).count, 0) };
    let value = probe();
    // SAFETY: as above.
    let (count, esr, far) = unsafe {
        (
            core::ptr::read_volatile(&raw const (*record).count),
            core::ptr::read_volatile(&raw const (*record).esr),
            core::ptr::read_volatile(&raw const (*record).far),
        )
    };
    if count == 0 {
        Outcome::Completed(value)
    } else {
        Outcome::Exception { esr, far }
    }
}

/// A 32-bit load from `address` (which may abort).
pub fn read32(address: u64) -> u64 {
    let mut value: u64 = 0;
    // SAFETY: a load from device memory or from no memory at all: the abort it may raise
    // is taken by this guest's vector, which steps over it; no Rust-visible memory is read.
    unsafe { asm!("ldr {v:w}, [{a}]", a = in(reg) address, v = inout(reg) value, options(nostack, readonly)) };
    value
}

/// A 64-bit load from `address`.
pub fn read64(address: u64) -> u64 {
    let mut value: u64 = 0;
    // SAFETY: as for `read32`.
    unsafe { asm!("ldr {v}, [{a}]", a = in(reg) address, v = inout(reg) value, options(nostack, readonly)) };
    value
}

/// A 32-bit store to `address` (which may abort).
pub fn write32(address: u64, value: u32) -> u64 {
    // SAFETY: a store to device memory or to no memory: it changes no Rust-visible memory
    // (the addresses probed are outside this program's image, stack and BSS).
    unsafe { asm!("str {v:w}, [{a}]", a = in(reg) address, v = in(reg) value, options(nostack)) };
    0
}

/// A 64-bit store to `address`.
pub fn write64(address: u64, value: u64) -> u64 {
    // SAFETY: as for `write32`.
    unsafe { asm!("str {v}, [{a}]", a = in(reg) address, v = in(reg) value, options(nostack)) };
    0
}

/// A load pair from `address`: a data abort of it has no instruction syndrome.
pub fn load_pair(address: u64) -> u64 {
    let (mut low, mut high): (u64, u64) = (0, 0);
    // SAFETY: as for `read32`.
    unsafe {
        asm!("ldp {l}, {h}, [{a}]", a = in(reg) address, l = inout(reg) low, h = inout(reg) high, options(nostack, readonly))
    };
    low ^ high
}

/// A store with writeback (`str x, [a], #8`): no instruction syndrome either.
pub fn store_post_index(address: u64, value: u64) -> u64 {
    let mut cursor = address;
    // SAFETY: as for `write32`; the base register is a local copy.
    unsafe { asm!("str {v}, [{a}], #8", a = inout(reg) cursor, v = in(reg) value, options(nostack)) };
    cursor - address
}

/// Branches to `address`: the fetch there aborts and the vector returns here through x30.
pub fn fetch(address: u64) -> u64 {
    // SAFETY: the probed addresses hold no memory (or no code of this program): the fetch
    // aborts before any instruction runs and the vector resumes at the return address.
    unsafe { asm!("blr {t}", t = in(reg) address, out("x30") _, options(nostack)) };
    0
}
