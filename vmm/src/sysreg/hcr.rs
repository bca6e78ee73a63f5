//! The HCR_EL2 a guest runs with on a VHE host, each bit chosen and explained.
//!
//! Keel's host runs with E2H=1, TGE=1. Entering a guest writes [`guest_hcr_el2`] (TGE
//! clear, E2H kept); the exit path writes the host's value back before anything else of the
//! kernel runs.

/// VM: stage-2 translation on for EL1&0.
pub const HCR_VM: u64 = 1 << 0;
/// SWIO: data cache invalidate by set/way acts as clean and invalidate.
pub const HCR_SWIO: u64 = 1 << 1;
/// PTW: a stage-1 walk that lands in stage-2 Device memory faults.
pub const HCR_PTW: u64 = 1 << 2;
/// FMO: physical FIQs go to EL2; virtual FIQs (vGIC group 0) are enabled.
pub const HCR_FMO: u64 = 1 << 3;
/// IMO: physical IRQs go to EL2; virtual IRQs enabled; ICC_* go to the virtual interface.
pub const HCR_IMO: u64 = 1 << 4;
/// AMO: physical SErrors go to EL2; virtual SErrors enabled.
pub const HCR_AMO: u64 = 1 << 5;
/// FB: TLB and instruction-cache maintenance is broadcast in the inner shareable domain.
pub const HCR_FB: u64 = 1 << 9;
/// BSU = 0b01: barriers are upgraded to at least inner shareable.
pub const HCR_BSU_INNER: u64 = 0b01 << 10;
/// TWI: WFI traps to EL2.
pub const HCR_TWI: u64 = 1 << 13;
/// TWE: WFE traps to EL2.
pub const HCR_TWE: u64 = 1 << 14;
/// TID3: the feature ID registers (op0=3, op1=0, CRn=0, CRm=1..7) trap.
pub const HCR_TID3: u64 = 1 << 18;
/// TSC: SMC traps to EL2.
pub const HCR_TSC: u64 = 1 << 19;
/// TIDCP: implementation defined system registers trap.
pub const HCR_TIDCP: u64 = 1 << 20;
/// TACR: ACTLR_EL1 accesses trap.
pub const HCR_TACR: u64 = 1 << 21;
/// TSW: data cache maintenance by set/way traps (left clear, see [`guest_hcr_el2`]).
pub const HCR_TSW: u64 = 1 << 22;
/// TGE: EL1 is off and everything traps to EL2 (the host's setting).
pub const HCR_TGE: u64 = 1 << 27;
/// RW: EL1 is AArch64.
pub const HCR_RW: u64 = 1 << 31;
/// E2H: the EL2&0 (VHE) regime.
pub const HCR_E2H: u64 = 1 << 34;
/// TLOR: the LORegion registers trap.
pub const HCR_TLOR: u64 = 1 << 35;
/// TERR: RAS error record registers trap (RES0 without FEAT_RAS).
pub const HCR_TERR: u64 = 1 << 36;
/// TEA: synchronous external aborts go to EL2 (left clear).
pub const HCR_TEA: u64 = 1 << 37;
/// APK: when clear, pointer-authentication key registers trap.
pub const HCR_APK: u64 = 1 << 40;
/// API: when clear, pointer-authentication instructions trap (if the guest enabled keys).
pub const HCR_API: u64 = 1 << 41;
/// EnSCXT: when clear, SCXTNUM_EL0/EL1 trap.
pub const HCR_ENSCXT: u64 = 1 << 53;
/// ATA: when clear, MTE allocation-tag accesses and tag registers trap or are disabled.
pub const HCR_ATA: u64 = 1 << 56;

/// HCR_EL2 while a guest runs:
///
/// - VM: stage-2 translation of everything the guest does.
/// - SWIO: set/way invalidates become clean+invalidate, so a guest never discards dirty
///   lines of memory that is not its own. Set/way operations are not trapped (TSW clear):
///   Linux does not use them, and a guest only affects the cache of the CPU it runs on.
/// - PTW: stage-1 walks into stage-2 Device memory fault (matters only for pass-through).
/// - FMO, IMO, AMO: physical FIQ, IRQ and SError reach Keel's EL2 vectors while the guest
///   runs (the host timer preempts vCPUs like any thread); the guest's interrupts come
///   from the GIC's virtual CPU interface (list registers), and ICC_SGI*R writes trap.
/// - FB, BSU=inner: a vCPU migrates between physical CPUs, so its TLB/I-cache maintenance
///   and barriers must reach all of them.
/// - TWI: WFI blocks the vCPU thread until a virtual interrupt is pending (the CPU goes to
///   other threads).
/// - TWE: WFE yields the CPU: a vCPU spinning on a lock whose holder is preempted lets the
///   holder (or any other thread) run instead of burning its time slice.
/// - TID3: the guest's feature ID reads go through [`super::sanitise_id_register`].
/// - TSC: SMC reaches Keel's PSCI (there is no EL3 for a guest).
/// - TIDCP, TACR: implementation defined registers and ACTLR_EL1 could change the physical
///   core's behaviour for everyone: they trap (Keel answers RAZ/WI or UNDEFINED). QEMU 7.2
///   does not implement the TIDCP trap (docs/vmm.md, "Hostile guests").
/// - RW: the guest's EL1 is AArch64.
/// - E2H stays set: EL2 itself keeps the VHE regime (TTBR1_EL2, the CPACR-style CPTR_EL2,
///   the EL2&0 timers), and guest exits land in the same kernel. TGE is clear: that is
///   what makes EL1&0 the guest's.
/// - TLOR, TERR: LORegions and RAS error records are hidden from the ID registers; their
///   registers trap so the guest cannot reach the physical ones. (TERR is RES0 on a CPU
///   without FEAT_RAS, where the registers do not exist.) TEA is clear: a synchronous
///   external abort is the guest's to handle.
/// - APK, API clear: pointer-authentication key accesses and (once a guest enables a key)
///   the PAC instructions trap; keys are not switched, so the feature is hidden. The
///   hint-space PACIASP/AUTIASP stay NOPs in a guest that never enables keys.
/// - ATA clear (MTE hidden), EnSCXT clear (SCXTNUM not switched), TME clear
///   (transactional memory off), NV/NV1/AT clear (no nested virtualisation), TVM/TRVM
///   clear (the guest's own stage 1 is not watched), TID1/TID2 clear (REVIDR, AIDR, cache
///   geometry pass through; CSSELR_EL1 must then be switched with the vCPU).
pub const fn guest_hcr_el2() -> u64 {
    HCR_VM
        | HCR_SWIO
        | HCR_PTW
        | HCR_FMO
        | HCR_IMO
        | HCR_AMO
        | HCR_FB
        | HCR_BSU_INNER
        | HCR_TWI
        | HCR_TWE
        | HCR_TID3
        | HCR_TSC
        | HCR_TIDCP
        | HCR_TACR
        | HCR_RW
        | HCR_E2H
        | HCR_TLOR
        | HCR_TERR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_hcr_value_is_pinned() {
        assert_eq!(guest_hcr_el2(), 0x0000_001c_803c_663f);
        let hcr = guest_hcr_el2();
        assert_ne!(hcr & HCR_E2H, 0, "the host keeps VHE");
        for (bit, name) in [
            (HCR_TGE, "TGE"),
            (HCR_APK, "APK"),
            (HCR_API, "API"),
            (HCR_ATA, "ATA"),
            (HCR_ENSCXT, "EnSCXT"),
            (HCR_TSW, "TSW"),
            (HCR_TEA, "TEA"),
        ] {
            assert_eq!(hcr & bit, 0, "{name} must be clear");
        }
    }
}
