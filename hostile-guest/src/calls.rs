//! HVC and SMC calls: unknown function ids and immediates, undefined and malformed PSCI.

use crate::report::Report;
use crate::trap::run;
use core::arch::asm;
use keel_hostile_guest::Expected::Returns;

const NOT_SUPPORTED: u64 = -1i64 as u64;
const INVALID_PARAMETERS: u64 = -2i64 as u64;
const ALREADY_ON: u64 = -4i64 as u64;

/// PSCI 1.1 as Keel reports it.
const PSCI_VERSION_1_1: u64 = 0x1_0001;

/// An SMCCC call through `HVC #0`; returns x0.
fn hvc(function: u64, x1: u64, x2: u64, x3: u64) -> u64 {
    let mut x0 = function;
    // SAFETY: a hypervisor call: Keel answers in x0..x3 (SMCCC 1.1) and changes no memory
    // of this program.
    unsafe {
        asm!("hvc #0", inout("x0") x0, inout("x1") x1 => _, inout("x2") x2 => _, inout("x3") x3 => _, options(nostack))
    };
    x0
}

/// The same through `SMC #0` (trapped to Keel: the guest has no EL3).
fn smc(function: u64, x1: u64, x2: u64, x3: u64) -> u64 {
    let mut x0 = function;
    // SAFETY: as for `hvc`.
    unsafe {
        asm!("smc #0", inout("x0") x0, inout("x1") x1 => _, inout("x2") x2 => _, inout("x3") x3 => _, options(nostack))
    };
    x0
}

/// `HVC #0x4b1d` and `SMC #0xffff`: immediates that are not SMCCC calls.
fn hvc_other_immediate(function: u64) -> u64 {
    let mut x0 = function;
    // SAFETY: as for `hvc`.
    unsafe { asm!("hvc #0x4b1d", inout("x0") x0, out("x1") _, out("x2") _, out("x3") _, options(nostack)) };
    x0
}

fn smc_other_immediate(function: u64) -> u64 {
    let mut x0 = function;
    // SAFETY: as for `hvc`.
    unsafe { asm!("smc #0xffff", inout("x0") x0, out("x1") _, out("x2") _, out("x3") _, options(nostack)) };
    x0
}

pub fn probe(report: &mut Report) {
    // Sanity: the interface itself answers.
    report.probe(
        format_args!("HVC PSCI_VERSION"),
        Returns(PSCI_VERSION_1_1),
        run(|| hvc(0x8400_0000, 0, 0, 0)),
    );
    // Unknown function ids and services (0x8600ff01, 0xbf00ff01 and 0x8000ff00 are
    // discovery calls: NOT_SUPPORTED too, but Keel does not count them as errors).
    for function in [
        0x8600_ff01,
        0xc700_0000,
        0xbf00_ff01,
        0x8000_ff00,
        0xffff_ffff,
        0x0000_0000,
    ] {
        report.probe(
            format_args!("HVC function {function:#x}"),
            Returns(NOT_SUPPORTED),
            run(|| hvc(function, 1, 2, 3)),
        );
    }
    for function in [0x8600_ff01, 0xc400_00ff] {
        report.probe(
            format_args!("SMC function {function:#x}"),
            Returns(NOT_SUPPORTED),
            run(|| smc(function, 1, 2, 3)),
        );
    }
    report.probe(
        format_args!("HVC #0x4b1d PSCI_VERSION"),
        Returns(NOT_SUPPORTED),
        run(|| hvc_other_immediate(0x8400_0000)),
    );
    report.probe(
        format_args!("SMC #0xffff PSCI_VERSION"),
        Returns(NOT_SUPPORTED),
        run(|| smc_other_immediate(0x8400_0000)),
    );
    // PSCI functions Keel does not implement, and one PSCI never defined.
    for (function, what) in [
        (0x8400_0005, "MIGRATE"),
        (0x8400_0007, "MIGRATE_INFO_UP_CPU"),
        (0x8400_000e, "SYSTEM_SUSPEND"),
        (0x8400_001f, "undefined PSCI function 0x1f"),
    ] {
        report.probe(
            format_args!("HVC PSCI {what}"),
            Returns(NOT_SUPPORTED),
            run(|| hvc(function, 0, 0, 0)),
        );
    }
    // SYSTEM_RESET2 is implemented for its warm reset (a guest's panic); other types are
    // refused: vendor-specific ones (bit 31) are not supported, other architectural ones
    // are invalid.
    report.probe(
        format_args!("HVC PSCI SYSTEM_RESET2 vendor type 0x80000001"),
        Returns(NOT_SUPPORTED),
        run(|| hvc(0xc400_0012, 0x8000_0001, 0, 0)),
    );
    report.probe(
        format_args!("HVC PSCI SYSTEM_RESET2 type 1"),
        Returns(INVALID_PARAMETERS),
        run(|| hvc(0xc400_0012, 1, 0, 0)),
    );
    report.probe(
        format_args!("HVC PSCI_FEATURES(0x840000ff)"),
        Returns(NOT_SUPPORTED),
        run(|| hvc(0x8400_000a, 0x8400_00ff, 0, 0)),
    );
    // Implemented PSCI calls with bad arguments.
    report.probe(
        format_args!("HVC CPU_ON of MPIDR 0xff00 (no such vCPU)"),
        Returns(INVALID_PARAMETERS),
        run(|| hvc(0xc400_0003, 0xff00, 0x4008_0000, 0)),
    );
    report.probe(
        format_args!("HVC CPU_ON of MPIDR 0x1_0000_0000_0000 (not an affinity)"),
        Returns(INVALID_PARAMETERS),
        run(|| hvc(0xc400_0003, 1 << 48, 0x4008_0000, 0)),
    );
    report.probe(
        format_args!("HVC CPU_ON of itself"),
        Returns(ALREADY_ON),
        run(|| hvc(0xc400_0003, 0, 0x4008_0000, 0)),
    );
    report.probe(
        format_args!("HVC AFFINITY_INFO at level 3"),
        Returns(INVALID_PARAMETERS),
        run(|| hvc(0xc400_0004, 0, 3, 0)),
    );
    report.probe(
        format_args!("SMC AFFINITY_INFO of MPIDR 0xffff"),
        Returns(INVALID_PARAMETERS),
        run(|| smc(0xc400_0004, 0xffff, 0, 0)),
    );
}
