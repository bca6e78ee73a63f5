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
            // which memory the kernel may access: GIC CPU-interface registers, and the
            // guest's EL1&0-regime registers, which the EL2 host never translates through.
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

    // ---- Guest context: the EL1&0 regime's registers as seen from a VHE host ----
    // (the *_EL12 / *_EL02 aliases reach the guest's EL1 registers while E2H=1)

    /// Reads SCTLR_EL1 of the guest.
    read read_sctlr_el12 = "s3_5_c1_c0_0";
    /// Writes SCTLR_EL1 of the guest.
    write write_sctlr_el12 = "s3_5_c1_c0_0";

    /// Reads CPACR_EL1 of the guest.
    read read_cpacr_el12 = "s3_5_c1_c0_2";
    /// Writes CPACR_EL1 of the guest.
    write write_cpacr_el12 = "s3_5_c1_c0_2";

    /// Reads TTBR0_EL1 of the guest.
    read read_ttbr0_el12 = "s3_5_c2_c0_0";
    /// Writes TTBR0_EL1 of the guest.
    write write_ttbr0_el12 = "s3_5_c2_c0_0";

    /// Reads TTBR1_EL1 of the guest.
    read read_ttbr1_el12 = "s3_5_c2_c0_1";
    /// Writes TTBR1_EL1 of the guest.
    write write_ttbr1_el12 = "s3_5_c2_c0_1";

    /// Reads TCR_EL1 of the guest.
    read read_tcr_el12 = "s3_5_c2_c0_2";
    /// Writes TCR_EL1 of the guest.
    write write_tcr_el12 = "s3_5_c2_c0_2";

    /// Reads SPSR_EL1 of the guest.
    read read_spsr_el12 = "s3_5_c4_c0_0";
    /// Writes SPSR_EL1 of the guest.
    write write_spsr_el12 = "s3_5_c4_c0_0";

    /// Reads ELR_EL1 of the guest.
    read read_elr_el12 = "s3_5_c4_c0_1";
    /// Writes ELR_EL1 of the guest.
    write write_elr_el12 = "s3_5_c4_c0_1";

    /// Reads AFSR0_EL1 of the guest.
    read read_afsr0_el12 = "s3_5_c5_c1_0";
    /// Writes AFSR0_EL1 of the guest.
    write write_afsr0_el12 = "s3_5_c5_c1_0";

    /// Reads AFSR1_EL1 of the guest.
    read read_afsr1_el12 = "s3_5_c5_c1_1";
    /// Writes AFSR1_EL1 of the guest.
    write write_afsr1_el12 = "s3_5_c5_c1_1";

    /// Reads ESR_EL1 of the guest.
    read read_esr_el12 = "s3_5_c5_c2_0";
    /// Writes ESR_EL1 of the guest.
    write write_esr_el12 = "s3_5_c5_c2_0";

    /// Reads FAR_EL1 of the guest.
    read read_far_el12 = "s3_5_c6_c0_0";
    /// Writes FAR_EL1 of the guest.
    write write_far_el12 = "s3_5_c6_c0_0";

    /// Reads MAIR_EL1 of the guest.
    read read_mair_el12 = "s3_5_c10_c2_0";
    /// Writes MAIR_EL1 of the guest.
    write write_mair_el12 = "s3_5_c10_c2_0";

    /// Reads AMAIR_EL1 of the guest.
    read read_amair_el12 = "s3_5_c10_c3_0";
    /// Writes AMAIR_EL1 of the guest.
    write write_amair_el12 = "s3_5_c10_c3_0";

    /// Reads VBAR_EL1 of the guest.
    read read_vbar_el12 = "s3_5_c12_c0_0";
    /// Writes VBAR_EL1 of the guest.
    write write_vbar_el12 = "s3_5_c12_c0_0";

    /// Reads CONTEXTIDR_EL1 of the guest.
    read read_contextidr_el12 = "s3_5_c13_c0_1";
    /// Writes CONTEXTIDR_EL1 of the guest.
    write write_contextidr_el12 = "s3_5_c13_c0_1";

    /// Reads CNTKCTL_EL1 of the guest.
    read read_cntkctl_el12 = "s3_5_c14_c1_0";
    /// Writes CNTKCTL_EL1 of the guest.
    write write_cntkctl_el12 = "s3_5_c14_c1_0";

    /// Reads CNTV_CTL_EL0 of the guest (its virtual timer).
    read read_cntv_ctl_el02 = "s3_5_c14_c3_1";
    /// Writes CNTV_CTL_EL0 of the guest (its virtual timer).
    write write_cntv_ctl_el02 = "s3_5_c14_c3_1";

    /// Reads CNTV_CVAL_EL0 of the guest.
    read read_cntv_cval_el02 = "s3_5_c14_c3_2";
    /// Writes CNTV_CVAL_EL0 of the guest.
    write write_cntv_cval_el02 = "s3_5_c14_c3_2";

    /// Reads CNTP_CTL_EL0 of the guest (its physical timer).
    read read_cntp_ctl_el02 = "s3_5_c14_c2_1";
    /// Writes CNTP_CTL_EL0 of the guest (its physical timer).
    write write_cntp_ctl_el02 = "s3_5_c14_c2_1";

    /// Reads CNTP_CVAL_EL0 of the guest.
    read read_cntp_cval_el02 = "s3_5_c14_c2_2";
    /// Writes CNTP_CVAL_EL0 of the guest.
    write write_cntp_cval_el02 = "s3_5_c14_c2_2";

    /// Reads SP_EL1: the guest kernel's stack pointer.
    read read_sp_el1 = "s3_4_c4_c1_0";
    /// Writes SP_EL1: the guest kernel's stack pointer.
    write write_sp_el1 = "s3_4_c4_c1_0";

    /// Reads TPIDR_EL1: not redirected by E2H; only guests use it.
    read read_tpidr_el1 = "s3_0_c13_c0_4";
    /// Writes TPIDR_EL1: not redirected by E2H; only guests use it.
    write write_tpidr_el1 = "s3_0_c13_c0_4";

    /// Reads TPIDRRO_EL0 (guest user thread pointer).
    read read_tpidrro_el0 = "s3_3_c13_c0_3";
    /// Writes TPIDRRO_EL0 (guest user thread pointer).
    write write_tpidrro_el0 = "s3_3_c13_c0_3";

    /// Reads PAR_EL1 (guest address-translation results).
    read read_par_el1 = "s3_0_c7_c4_0";
    /// Writes PAR_EL1 (guest address-translation results).
    write write_par_el1 = "s3_0_c7_c4_0";

    /// Reads CSSELR_EL1 (guest cache-size selection).
    read read_csselr_el1 = "s3_2_c0_c0_0";
    /// Writes CSSELR_EL1 (guest cache-size selection).
    write write_csselr_el1 = "s3_2_c0_c0_0";

    /// Reads MDSCR_EL1 (guest debug control).
    read read_mdscr_el1 = "s2_0_c0_c2_2";
    /// Writes MDSCR_EL1 (guest debug control).
    write write_mdscr_el1 = "s2_0_c0_c2_2";

    /// Reads VPIDR_EL2: the MIDR the guest reads.
    read read_vpidr_el2 = "s3_4_c0_c0_0";
    /// Writes VPIDR_EL2: the MIDR the guest reads.
    write write_vpidr_el2 = "s3_4_c0_c0_0";

    /// Reads VMPIDR_EL2: the MPIDR the guest reads.
    read read_vmpidr_el2 = "s3_4_c0_c0_5";
    /// Writes VMPIDR_EL2: the MPIDR the guest reads.
    write write_vmpidr_el2 = "s3_4_c0_c0_5";

    /// Reads VTTBR_EL2: the guest's stage-2 table and VMID.
    read read_vttbr_el2 = "s3_4_c2_c1_0";
    /// Writes VTTBR_EL2: the guest's stage-2 table and VMID.
    write write_vttbr_el2 = "s3_4_c2_c1_0";

    /// Reads VTCR_EL2: the guest's stage-2 translation control.
    read read_vtcr_el2 = "s3_4_c2_c1_2";
    /// Writes VTCR_EL2: the guest's stage-2 translation control.
    write write_vtcr_el2 = "s3_4_c2_c1_2";

    /// Reads ICH_HCR_EL2: virtual CPU interface control.
    read read_ich_hcr_el2 = "s3_4_c12_c11_0";
    /// Writes ICH_HCR_EL2: virtual CPU interface control.
    write write_ich_hcr_el2 = "s3_4_c12_c11_0";

    /// Reads ICH_VMCR_EL2: the guest's view of its CPU interface.
    read read_ich_vmcr_el2 = "s3_4_c12_c11_7";
    /// Writes ICH_VMCR_EL2: the guest's view of its CPU interface.
    write write_ich_vmcr_el2 = "s3_4_c12_c11_7";

    /// Reads ICH_MISR_EL2: maintenance interrupt status.
    read read_ich_misr_el2 = "s3_4_c12_c11_2";
    /// Writes ICH_MISR_EL2: maintenance interrupt status.
    write write_ich_misr_el2 = "s3_4_c12_c11_2";

    /// Reads ICH_AP1R0_EL2: active group-1 priorities.
    read read_ich_ap1r0_el2 = "s3_4_c12_c9_0";
    /// Writes ICH_AP1R0_EL2: active group-1 priorities.
    write write_ich_ap1r0_el2 = "s3_4_c12_c9_0";

    /// Reads ICH_LR0_EL2: list register 0.
    read read_ich_lr0_el2 = "s3_4_c12_c12_0";
    /// Writes ICH_LR0_EL2: list register 0.
    write write_ich_lr0_el2 = "s3_4_c12_c12_0";

    /// Reads ICH_LR1_EL2: list register 1.
    read read_ich_lr1_el2 = "s3_4_c12_c12_1";
    /// Writes ICH_LR1_EL2: list register 1.
    write write_ich_lr1_el2 = "s3_4_c12_c12_1";

    /// Reads ICH_LR2_EL2: list register 2.
    read read_ich_lr2_el2 = "s3_4_c12_c12_2";
    /// Writes ICH_LR2_EL2: list register 2.
    write write_ich_lr2_el2 = "s3_4_c12_c12_2";

    /// Reads ICH_LR3_EL2: list register 3.
    read read_ich_lr3_el2 = "s3_4_c12_c12_3";
    /// Writes ICH_LR3_EL2: list register 3.
    write write_ich_lr3_el2 = "s3_4_c12_c12_3";

    // ---- ID registers aarch64-cpu 11.2 lacks (read to build a guest's view) ----

    /// Reads ID_AA64PFR2_EL1.
    read read_id_aa64pfr2_el1 = "s3_0_c0_c4_2";
    /// Reads ID_AA64ZFR0_EL1 (SVE features).
    read read_id_aa64zfr0_el1 = "s3_0_c0_c4_4";
    /// Reads ID_AA64SMFR0_EL1 (SME features).
    read read_id_aa64smfr0_el1 = "s3_0_c0_c4_5";
    /// Reads ID_AA64ISAR2_EL1.
    read read_id_aa64isar2_el1 = "s3_0_c0_c6_2";
    /// Reads ID_AA64MMFR3_EL1.
    read read_id_aa64mmfr3_el1 = "s3_0_c0_c7_3";

    // ---- Cache and memory ----

    /// Reads DCZID_EL0: the DC ZVA block size (log2 of words in bits [3:0]) and whether
    /// DC ZVA is prohibited (DZP, bit 4).
    read read_dczid_el0 = "s3_3_c0_c0_7";
    /// Reads PMCR_EL0 (its N field, bits [15:11], counts the PMU's event counters).
    read read_pmcr_el0 = "s3_3_c9_c12_0";
}
