//! System registers and instructions: trapped ones Keel does not give guests, ones no
//! CPU implements, hidden features, and the ones Keel emulates with nonsense values.

use crate::report::Report;
use crate::trap::run;
use core::arch::asm;
use keel_hostile_guest::Expected::{Completes, Masked, Returns, Undefined, UndefinedOrZero};

/// `MRS x, REG` as a probe.
macro_rules! mrs {
    ($register:literal) => {
        || {
            let mut value: u64 = 0;
            // SAFETY: a system-register read: it may trap (the vector steps over it) and
            // changes no memory.
            unsafe { asm!(concat!("mrs {v}, ", $register), v = inout(reg) value, options(nomem, nostack)) };
            value
        }
    };
}

/// `MSR REG, x` as a probe.
macro_rules! msr {
    ($register:literal, $value:expr) => {
        || {
            // SAFETY: a system-register write that Keel traps (or the CPU refuses): it may
            // trap and changes no memory of this program.
            unsafe { asm!(concat!("msr ", $register, ", {v}"), v = in(reg) $value, options(nomem, nostack)) };
            0
        }
    };
}

pub fn probe(report: &mut Report) {
    // Trapped by Keel and not given to guests: UNDEFINED.
    report.probe(
        format_args!("MRS PMCR_EL0 (PMU)"),
        Undefined,
        run(mrs!("s3_3_c9_c12_0")),
    );
    report.probe(
        format_args!("MSR PMCR_EL0 (PMU)"),
        Undefined,
        run(msr!("s3_3_c9_c12_0", 0xffff_u64)),
    );
    report.probe(
        format_args!("MRS PMCCNTR_EL0 (PMU)"),
        Undefined,
        run(mrs!("s3_3_c9_c13_0")),
    );
    // Implementation defined registers (HCR_EL2.TIDCP traps them on hardware; QEMU 7.2
    // does not, and models some of `max`'s as reading zero and ignoring writes).
    report.probe(
        format_args!("MRS S3_0_C15_C0_0 (implementation defined)"),
        UndefinedOrZero,
        run(mrs!("s3_0_c15_c0_0")),
    );
    report.probe(
        format_args!("MSR S3_1_C15_C2_1 (implementation defined)"),
        UndefinedOrZero,
        run(msr!("s3_1_c15_c2_1", u64::MAX)),
    );
    report.probe(
        format_args!("MRS S3_1_C15_C2_1 after it"),
        UndefinedOrZero,
        run(mrs!("s3_1_c15_c2_1")),
    );
    report.probe(
        format_args!("MRS LORID_EL1 (LOR)"),
        Undefined,
        run(mrs!("s3_0_c10_c4_7")),
    );
    report.probe(
        format_args!("MSR LORSA_EL1 (LOR)"),
        Undefined,
        run(msr!("s3_0_c10_c4_0", u64::MAX)),
    );
    report.probe(
        format_args!("MSR ACTLR_EL1"),
        Undefined,
        run(msr!("s3_0_c1_c0_1", u64::MAX)),
    );
    // Encodings no CPU implements, and features a guest does not have.
    report.probe(
        format_args!("MRS S3_0_C11_C0_0 (implementation defined)"),
        UndefinedOrZero,
        run(mrs!("s3_0_c11_c0_0")),
    );
    report.probe(
        format_args!("MRS S3_0_C4_C7_7 (unallocated)"),
        Undefined,
        run(mrs!("s3_0_c4_c7_7")),
    );
    report.probe(
        format_args!("MRS AMCR_EL0 (activity monitors)"),
        Undefined,
        run(mrs!("s3_3_c13_c2_0")),
    );
    report.probe(
        format_args!("RDVL (SVE)"),
        Undefined,
        run(|| {
            let mut value: u64 = 0;
            // SAFETY: `rdvl x0, #1` (SVE) only reads the vector length into x0, or is
            // UNDEFINED (the vector steps over it).
            unsafe { asm!(".inst 0x04bf5020", inout("x0") value, options(nomem, nostack)) };
            value
        }),
    );
    // Emulated: the debug unit is idle (writes ignored, reads zero).
    report.probe(
        format_args!("MSR DBGBVR0_EL1"),
        Completes,
        run(msr!("s2_0_c0_c0_4", 0xffff_ffff_ffff_fffc_u64)),
    );
    report.probe(
        format_args!("MRS DBGBVR0_EL1 after it"),
        Returns(0),
        run(mrs!("s2_0_c0_c0_4")),
    );
    report.probe(
        format_args!("MSR DBGWCR1_EL1"),
        Completes,
        run(msr!("s2_0_c0_c1_7", u64::MAX)),
    );
    // ID registers are sanitised: no SVE (PFR0 [35:32]), no MTE or SME (PFR1 [11:8], [27:24]).
    report.probe(
        format_args!("MRS ID_AA64PFR0_EL1 (SVE hidden)"),
        Masked {
            mask: 0xf << 32,
            bits: 0,
        },
        run(mrs!("s3_0_c0_c4_0")),
    );
    report.probe(
        format_args!("MRS ID_AA64PFR1_EL1 (MTE, SME hidden)"),
        Masked {
            mask: 0x0f00_0f00,
            bits: 0,
        },
        run(mrs!("s3_0_c0_c4_1")),
    );
    report.probe(
        format_args!("MRS S3_0_C0_C7_7 (reserved ID register)"),
        Returns(0),
        run(mrs!("s3_0_c0_c7_7")),
    );
    // SGIs to every target with every field set: taken, no harm.
    report.probe(
        format_args!("MSR ICC_SGI1R_EL1 (all ones)"),
        Completes,
        run(msr!("s3_0_c12_c11_5", u64::MAX)),
    );
}
