//! `mrs`/`msr` wrappers for the system registers that aarch64-cpu 11.2 lacks, in one table.
//!
//! Add a register here (one table line) rather than writing `mrs`/`msr` elsewhere.
//!
//! Registers are named by their `s3_<op1>_c<n>_c<m>_<op2>` encoding, because LLVM's assembler
//! rejects some symbolic names for the target's base architecture. Each accessor is generated
//! from one line of the table below, which says whether it reads, writes, or writes and then
//! synchronizes with `isb`.
//!
//! Seen from EL2 with E2H=1, the `ICC_*_EL1` encodings reach the physical GIC CPU interface
//! (virtual redirection through HCR_EL2.IMO/FMO applies only below EL2).
//!
//! Why the `isb`s: a write to a system register is only guaranteed to affect instructions
//! after the next context synchronization event. Where the GIC architecture requires that
//! (ICC_SRE_*, ICC_IGRPEN1_EL1) or where the caller relies on the effect being ordered
//! before what follows (EOI/deactivate before re-enabling interrupts, the priority mask,
//! SGI generation, a new translation table base), the writer issues `isb` itself.

use core::arch::asm;

/// Generates accessor functions from a table of system registers. Each line is one of:
///
/// - `read NAME = "encoding";` — a safe reader returning `u64`;
/// - `write NAME = "encoding";` — a safe writer with no synchronization;
/// - `write_isb NAME = "encoding";` — a safe writer followed by `isb`;
/// - `unsafe_write_isb NAME = "encoding";` — an `unsafe fn` writer followed by `isb`, for
///   registers whose value decides memory safety. Its docs must carry a `# Safety` section.
macro_rules! system_registers {
    () => {};
    ($(#[$doc:meta])* read $name:ident = $enc:literal; $($rest:tt)*) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name() -> u64 {
            let value: u64;
            // SAFETY: reading this system register (encoding from the table, checked against
            // the Arm ARM) touches no memory and cannot break memory safety. Acknowledging an
            // interrupt through ICC_IAR1_EL1 changes GIC state only.
            unsafe {
                asm!(
                    concat!("mrs {value}, ", $enc),
                    value = out(reg) value,
                    options(nostack, preserves_flags),
                )
            };
            value
        }
        system_registers!($($rest)*);
    };
    ($(#[$doc:meta])* write $name:ident = $enc:literal; $($rest:tt)*) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name(value: u64) {
            // SAFETY: the table lists as `write` only registers whose value cannot change
            // which memory the kernel may access (GIC CPU-interface registers).
            unsafe {
                asm!(
                    concat!("msr ", $enc, ", {value}"),
                    value = in(reg) value,
                    options(nostack, preserves_flags),
                )
            };
        }
        system_registers!($($rest)*);
    };
    ($(#[$doc:meta])* write_isb $name:ident = $enc:literal; $($rest:tt)*) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name(value: u64) {
            // SAFETY: the table lists as `write_isb` only registers whose value cannot change
            // which memory the kernel may access (GIC CPU-interface registers); `isb` only
            // synchronizes the context.
            unsafe {
                asm!(
                    concat!("msr ", $enc, ", {value}"),
                    "isb",
                    value = in(reg) value,
                    options(nostack, preserves_flags),
                )
            };
        }
        system_registers!($($rest)*);
    };
    ($(#[$doc:meta])* unsafe_write_isb $name:ident = $enc:literal; $($rest:tt)*) => {
        $(#[$doc])*
        #[inline(always)]
        pub unsafe fn $name(value: u64) {
            // SAFETY: the caller upholds the `# Safety` contract documented on this function.
            unsafe {
                asm!(
                    concat!("msr ", $enc, ", {value}"),
                    "isb",
                    value = in(reg) value,
                    options(nostack, preserves_flags),
                )
            };
        }
        system_registers!($($rest)*);
    };
}

system_registers! {
    // ---- GICv3 CPU interface (GIC architecture spec, chapter 12) ----

    /// Reads ICC_PMR_EL1, the priority mask: interrupts with a priority value lower than
    /// this (numerically) are signalled.
    read read_icc_pmr_el1 = "s3_0_c4_c6_0";
    /// Writes ICC_PMR_EL1; the `isb` makes the new mask apply to the instructions after it.
    write_isb write_icc_pmr_el1 = "s3_0_c4_c6_0";

    /// Reads ICC_IAR1_EL1: acknowledges the highest-priority pending Group 1 interrupt and
    /// returns its INTID in bits `[23:0]` (1023 when none is pending).
    read read_icc_iar1_el1 = "s3_0_c12_c12_0";
    /// Writes ICC_EOIR1_EL1 (end of interrupt for an INTID); the `isb` orders the priority
    /// drop before a later unmasking of interrupts.
    write_isb write_icc_eoir1_el1 = "s3_0_c12_c12_1";
    /// Writes ICC_DIR_EL1 (deactivate an INTID, used when ICC_CTLR_EL1.EOImode = 1); the
    /// `isb` orders the deactivation before what follows.
    write_isb write_icc_dir_el1 = "s3_0_c12_c11_1";

    /// Reads ICC_BPR1_EL1, the Group 1 binary point (priority grouping).
    read read_icc_bpr1_el1 = "s3_0_c12_c12_3";
    /// Writes ICC_BPR1_EL1.
    write write_icc_bpr1_el1 = "s3_0_c12_c12_3";

    /// Reads ICC_CTLR_EL1 (EOImode in bit 1, RSS in bit 18, priority bits in `[10:8]`).
    read read_icc_ctlr_el1 = "s3_0_c12_c12_4";
    /// Writes ICC_CTLR_EL1; aarch64-cpu 11.2 only offers a reader. The `isb` makes a new
    /// EOImode apply before the next acknowledge.
    write_isb write_icc_ctlr_el1 = "s3_0_c12_c12_4";

    /// Reads ICC_SRE_EL1 (SRE in bit 0: the EL1 system-register interface).
    read read_icc_sre_el1 = "s3_0_c12_c12_5";
    /// Writes ICC_SRE_EL1. The architecture requires an `isb` before the new SRE value is
    /// guaranteed to be seen by other ICC register accesses.
    write_isb write_icc_sre_el1 = "s3_0_c12_c12_5";

    /// Reads ICC_IGRPEN1_EL1 (Enable in bit 0: Group 1 interrupts are signalled).
    read read_icc_igrpen1_el1 = "s3_0_c12_c12_7";
    /// Writes ICC_IGRPEN1_EL1; the `isb` makes the group enable take effect before the
    /// instructions after it (the GIC spec requires context synchronization here).
    write_isb write_icc_igrpen1_el1 = "s3_0_c12_c12_7";

    /// Writes ICC_SGI1R_EL1: generates a Group 1 SGI (see
    /// [`crate::gicv3::sgi1r_value`] for the layout). The `isb` makes sure the write is
    /// executed (and the SGI sent) before the instructions after it. Callers that want a
    /// target CPU to see earlier memory writes issue `dsb ishst` first.
    write_isb write_icc_sgi1r_el1 = "s3_0_c12_c11_5";

    // ---- GICv3 virtual interface control (for the vGIC) ----

    /// Reads ICH_EISR_EL2: one bit per list register holding an EOI maintenance interrupt.
    read read_ich_eisr_el2 = "s3_4_c12_c11_3";
    /// Reads ICH_ELRSR_EL2: one bit per list register that is empty (usable).
    read read_ich_elrsr_el2 = "s3_4_c12_c11_5";

    // ---- EL2&0 translation regime ----

    /// Reads TTBR1_EL2, the translation table base for the upper (kernel) half of the EL2&0
    /// regime (exists with FEAT_VHE).
    read read_ttbr1_el2 = "s3_4_c2_c0_1";
    /// Writes TTBR1_EL2 and synchronizes with `isb`, so that instructions after the call
    /// translate with the new table. TLB maintenance is the caller's job.
    ///
    /// # Safety
    ///
    /// The value must name a valid translation table (and ASID) that maps the code, stack and
    /// data the kernel keeps using after the switch with the same meaning, and stale TLB
    /// entries for the old table must not break that (the caller invalidates as needed).
    unsafe_write_isb write_ttbr1_el2 = "s3_4_c2_c0_1";
}
