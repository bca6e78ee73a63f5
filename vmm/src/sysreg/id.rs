//! The feature ID registers (trapped by HCR_EL2.TID3) sanitised to one coherent CPU.
//!
//! Each register Keel knows has a list of its 4-bit fields: passed through (`Keep`), capped
//! (`Max`, unsigned fields only) or reported as not implemented (`Hide`, never used on a
//! signed field, where 0 means "implemented"). Fields not listed — the ones the
//! architecture adds after this list was written — read as zero, as do the registers Keel
//! has not reviewed and the unallocated encodings of the ID space (RAZ, as the architecture
//! specifies for them). A feature hidden here stays hidden only if its instructions and
//! registers also trap or are disabled: each `Hide` names the control that does that.

use super::*;

/// What a guest sees of one 4-bit field.
#[derive(Clone, Copy, Debug)]
enum Field {
    /// The host's value.
    Keep,
    /// The host's value, at most this.
    Max(u64),
    /// Zero: not implemented.
    Hide,
}

use Field::{Hide, Keep, Max};

/// (lowest bit, treatment) of every field a guest may see non-zero.
type Rules = &'static [(u32, Field)];

/// ID_AA64MMFR0_EL1.PARange for the guest's 40-bit physical (IPA) space.
pub const GUEST_PARANGE: u64 = 0b0010;

const AA64PFR0: Rules = &[
    (0, Max(1)),  // EL0: AArch64 only; AArch32 EL0 would need FPEXC32_EL2 switched per guest.
    (4, Max(1)),  // EL1: AArch64 only (HCR_EL2.RW = 1).
    (8, Hide),    // EL2: no nested virtualisation.
    (12, Keep),   // EL3 (the guest's SMCs trap to Keel's PSCI either way).
    (16, Keep),   // FP (signed), switched with the vCPU.
    (20, Keep),   // AdvSIMD (signed).
    (24, Max(1)), // GIC: GICv3 system registers; the model is GICv3, not GICv4.1.
    (28, Hide),   // RAS: error records and DISR/VSESR are not virtualised (HCR_EL2.TERR traps).
    (32, Hide),   // SVE: Z/P/FFR and ZCR_EL1 are not switched (CPTR_EL2.ZEN traps).
    (36, Hide),   // SEL2: no secure state in a guest.
    (40, Hide),   // MPAM: MPAM0/1_EL1 would tag guest traffic with host partitions; no MPAM2_EL2 setup.
    (44, Hide),   // AMU: counts the physical CPU across guests (a leak); no virtual offsets (CPTR_EL2.TAM traps).
    (48, Keep),   // DIT: PSTATE.DIT lives in SPSR.
    (52, Hide),   // RME: an EL3 feature.
    (56, Max(1)), // CSV2: 2+ implies SCXTNUM_ELx, which trap (HCR_EL2.EnSCXT = 0) and are not switched.
    (60, Keep),   // CSV3.
];

const AA64PFR1: Rules = &[
    (0, Keep),    // BT: state in SPSR.BTYPE and SCTLR_EL1, both switched.
    (4, Keep),    // SSBS: PSTATE.SSBS lives in SPSR.
    (8, Hide),    // MTE: tags, GCR/RGSR/TFSR_EL1 not switched (HCR_EL2.ATA = 0 traps).
    (12, Hide),   // RAS_frac: with RAS.
    (16, Hide),   // MPAM_frac: with MPAM.
    (24, Hide),   // SME: ZA, streaming mode, SMCR/SVCR/TPIDR2 not switched (CPTR_EL2.SMEN traps).
    (28, Hide),   // RNDR_trap: an EL3 control.
    (32, Max(1)), // CSV2_frac: 2 (CSV2_1p2) implies SCXTNUM_ELx.
    (36, Hide),   // NMI: ALLINT and superpriority need a vGIC NMI model.
    (40, Hide),   // MTE_frac: with MTE.
    (44, Hide),   // GCS: GCSPR/GCSCR_EL1 not switched.
    (48, Hide),   // THE: RCWMASK_EL1 not switched.
    (52, Hide),   // MTEX: with MTE.
    (56, Hide),   // DF2: needs SCTLR2_EL1, not switched.
    (60, Hide),   // PFAR: PFAR_EL1 not switched.
];

const AA64DFR0: Rules = &[
    (0, Keep),  // DebugVer.
    (4, Hide),  // TraceVer: trace unit not virtualised.
    (8, Hide),  // PMUVer: no virtual PMU (MDCR_EL2.TPM/TPMCR trap the registers).
    (12, Keep), // BRPs.
    (16, Hide), // PMSS: PMU snapshots.
    (20, Keep), // WRPs.
    (24, Hide), // SEBEP: PMU exceptions.
    (28, Keep), // CTX_CMPs.
    (32, Hide), // PMSVer: statistical profiling writes a buffer Keel does not manage.
    (36, Keep), // DoubleLock (signed).
    (40, Hide), // TraceFilt.
    (44, Hide), // TraceBuffer.
    (48, Hide), // MTPMU: with the PMU.
    (52, Hide), // BRBE: branch records not switched.
    (56, Hide), // ExtTrcBuff.
    (60, Hide), // HPMN0: an EL2 PMU control.
];

const AA64ISAR0: Rules = &[
    (4, Keep),  // AES
    (8, Keep),  // SHA1
    (12, Keep), // SHA2
    (16, Keep), // CRC32
    (20, Keep), // Atomic
    (24, Hide), // TME: transactional memory, disabled by HCR_EL2.TME = 0.
    (28, Keep), // RDM
    (32, Keep), // SHA3
    (36, Keep), // SM3
    (40, Keep), // SM4
    (44, Keep), // DP
    (48, Keep), // FHM
    (52, Keep), // TS
    (56, Keep), // TLB
    (60, Keep), // RNDR: no state, reads the hardware generator.
];

const AA64ISAR1: Rules = &[
    (0, Keep),  // DPB
    (4, Hide),  // APA: pointer authentication keys are not switched (HCR_EL2.API/APK = 0 trap).
    (8, Hide),  // API: likewise.
    (12, Keep), // JSCVT
    (16, Keep), // FCMA
    (20, Keep), // LRCPC
    (24, Hide), // GPA: generic authentication, same keys.
    (28, Hide), // GPI: likewise.
    (32, Keep), // FRINTTS
    (36, Keep), // SB
    (40, Keep), // SPECRES
    (44, Keep), // BF16
    (48, Keep), // DGH
    (52, Keep), // I8MM
    (56, Keep), // XS
    (60, Hide), // LS64: ACCDATA_EL1 not switched; needs HCRX_EL2 enables.
];

const AA64ISAR2: Rules = &[
    (0, Hide),  // WFxT: WFIT/WFET deadlines are not honoured by the vCPU's wait.
    (4, Keep),  // RPRES
    (8, Hide),  // GPA3: pointer authentication.
    (12, Hide), // APA3: pointer authentication.
    (16, Hide), // MOPS: needs HCRX_EL2.MSCEn, which Keel leaves clear.
    (20, Keep), // BC
    (24, Hide), // PAC_frac: pointer authentication.
    (28, Keep), // CLRBHB
    (32, Hide), // SYSREG_128: 128-bit registers not switched.
    (36, Hide), // SYSINSTR_128: likewise.
    (40, Keep), // PRFMSLC
    (48, Keep), // RPRFM
    (52, Keep), // CSSC
    (56, Keep), // LUT
    (60, Keep), // ATS1A
];

const AA64MMFR0: Rules = &[
    (0, Max(GUEST_PARANGE)), // PARange: the guest's physical space is the 40-bit IPA space.
    (4, Keep),               // ASIDBits
    (8, Keep),               // BigEnd
    (12, Keep),              // SNSMem
    (16, Keep),              // BigEndEL0
    (20, Keep),              // TGran16
    (24, Keep),              // TGran64 (signed)
    (28, Keep),              // TGran4 (signed)
    (32, Keep),              // TGran16_2
    (36, Keep),              // TGran64_2
    (40, Keep),              // TGran4_2
    (44, Keep),              // ExS
    (56, Hide),              // FGT: EL2 fine-grained traps.
    (60, Hide),              // ECV: EL2 counter controls; guests use ISB + CNTVCT.
];

const AA64MMFR1: Rules = &[
    (0, Keep),  // HAFDBS (stage 1; the guest's own TCR_EL1)
    (4, Hide),  // VMIDBits: EL2.
    (8, Hide),  // VH: EL2.
    (12, Keep), // HPDS
    (16, Hide), // LO: LORegion registers not switched (HCR_EL2.TLOR traps).
    (20, Keep), // PAN
    (24, Keep), // SpecSEI
    (28, Keep), // XNX
    (32, Hide), // TWED: EL2.
    (36, Keep), // ETS
    (40, Hide), // HCX: EL2.
    (44, Keep), // AFP: FPCR bits, switched with FP.
    (48, Keep), // nTLBPA
    (52, Keep), // TIDCP1
    (56, Keep), // CMOW
    (60, Keep), // ECBHB
];

const AA64MMFR2: Rules = &[
    (0, Keep),  // CnP
    (4, Keep),  // UAO
    (8, Keep),  // LSM
    (12, Hide), // IESB: implicit error synchronisation, with RAS.
    (16, Keep), // VARange
    (20, Keep), // CCIDX
    (24, Hide), // NV: nested virtualisation.
    (28, Keep), // ST
    (32, Keep), // AT
    (36, Keep), // IDS
    (40, Hide), // FWB: a stage-2 control.
    (48, Keep), // TTL
    (52, Keep), // BBM
    (56, Hide), // EVT: EL2 traps.
    (60, Keep), // E0PD
];

/// The field rules of an ID register; None: the whole register reads as zero.
fn rules(encoding: u32) -> Option<Rules> {
    match encoding {
        ID_AA64PFR0_EL1 => Some(AA64PFR0),
        ID_AA64PFR1_EL1 => Some(AA64PFR1),
        ID_AA64DFR0_EL1 => Some(AA64DFR0),
        ID_AA64ISAR0_EL1 => Some(AA64ISAR0),
        ID_AA64ISAR1_EL1 => Some(AA64ISAR1),
        ID_AA64ISAR2_EL1 => Some(AA64ISAR2),
        ID_AA64MMFR0_EL1 => Some(AA64MMFR0),
        ID_AA64MMFR1_EL1 => Some(AA64MMFR1),
        ID_AA64MMFR2_EL1 => Some(AA64MMFR2),
        // Hidden whole: SVE (ZFR0), SME (SMFR0), FP8 with FPMR (FPFR0), MTE/FPMR extras
        // (PFR2); DFR1/DFR2 (PMU, breakpoint extensions); AFR0/AFR1 (implementation
        // defined); ISAR3 and MMFR3/MMFR4 (features with EL1 registers Keel does not switch:
        // TCR2, SCTLR2, PIR, POR, …, or EL2 features); the AArch32 registers of CRm 1-3
        // (AArch32 EL0 is hidden); every unallocated encoding.
        _ => None,
    }
}

fn apply(rules: Rules, host_value: u64) -> u64 {
    rules.iter().fold(0, |guest, &(lsb, field)| {
        let host = (host_value >> lsb) & 0xf;
        let value = match field {
            Keep => host,
            Max(max) => host.min(max),
            Hide => 0,
        };
        guest | (value << lsb)
    })
}

/// The value a guest reads from the ID register `encoding` (see [`super::encode`]) on a
/// host whose register holds `host_value`. None when `encoding` is not in the feature ID
/// space (op0=3, op1=0, CRn=0, CRm=1..7).
pub fn sanitise_id_register(encoding: u32, host_value: u64) -> Option<u64> {
    if !is_id_register(encoding) {
        return None;
    }
    Some(rules(encoding).map_or(0, |rules| apply(rules, host_value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(encoding: u32, host_value: u64) -> u64 {
        sanitise_id_register(encoding, host_value).expect("an ID register")
    }

    #[test]
    fn cpu_max_loses_sve_and_everything_keel_does_not_switch() {
        // CSV3=1 CSV2=2 DIT=1 SEL2=1 SVE=1 RAS=1 GIC=1 AdvSIMD=1 FP=1 EL3=0 EL2=1 EL1=2 EL0=2.
        let host = 0x1201_0011_1111_0122;
        let seen = guest(ID_AA64PFR0_EL1, host);
        assert_eq!((seen >> 32) & 0xf, 0, "SVE hidden");
        assert_eq!(seen, 0x1101_0000_0111_0011);
        // AMU and MPAM present on the host: hidden.
        assert_eq!(guest(ID_AA64PFR0_EL1, 0x0000_1100_0000_0011), 0x11);
        // BT=1 SSBS=2 MTE=2 RAS_frac=1 MPAM_frac=1 SME=1 CSV2_frac=2 NMI=1 GCS=1.
        assert_eq!(guest(ID_AA64PFR1_EL1, 0x0000_1012_0101_1221), 0x0000_0001_0000_0021);
        assert_eq!(guest(ID_AA64ZFR0_EL1, 0x0110_0110_0011_0011), 0, "SVE features");
        assert_eq!(guest(ID_AA64SMFR0_EL1, 0x8ff1_0000_0000_0000), 0, "SME features");
        assert_eq!(guest(ID_AA64PFR2_EL1, 0x111), 0);
    }

    #[test]
    fn pointer_authentication_is_hidden() {
        let all_ones = 0x1111_1111_1111_1111;
        assert_eq!(guest(ID_AA64ISAR1_EL1, all_ones), 0x0111_1111_0011_1001);
        // WFxT=2 RPRES=1 GPA3=1 APA3=3 MOPS=1 BC=1 PAC_frac=1 CLRBHB=1.
        assert_eq!(guest(ID_AA64ISAR2_EL1, 0x0000_0000_1111_3112), 0x0000_0000_1010_0010);
        // TME hidden, the crypto and atomics kept.
        assert_eq!(guest(ID_AA64ISAR0_EL1, 0x1221_1111_1121_2120), 0x1221_1111_1021_2120);
    }

    #[test]
    fn memory_model_fits_the_guest() {
        // cortex-a76: PARange=2 (40 bits), kept; `max`: PARange=5 capped, FGT and ECV hidden.
        assert_eq!(guest(ID_AA64MMFR0_EL1, 0x0000_0000_0010_1122), 0x0000_0000_0010_1122);
        assert_eq!(guest(ID_AA64MMFR0_EL1, 0x1100_0000_0010_1125), 0x0000_0000_0010_1122);
        assert_eq!(
            crate::stage2::pa_range_bits(GUEST_PARANGE),
            Some(crate::stage2::IPA_BITS)
        );
        // VH, VMIDBits, LO, TWED, HCX hidden; PAN, HPDS, HAFDBS kept.
        assert_eq!(guest(ID_AA64MMFR1_EL1, 0x0000_0111_1031_1122), 0x0000_0010_1030_1002);
        // NV, FWB, EVT, IESB hidden.
        assert_eq!(guest(ID_AA64MMFR2_EL1, 0x1221_0111_1111_1111), 0x1021_0011_1011_0111);
        assert_eq!(guest(ID_AA64MMFR3_EL1, 0x1111), 0);
    }

    #[test]
    fn debug_without_pmu_trace_or_profiling() {
        // cortex-a76: DebugVer=8 PMUVer=4 BRPs=5 WRPs=3 CTX_CMPs=1.
        assert_eq!(guest(ID_AA64DFR0_EL1, 0x0000_0000_1030_5408), 0x0000_0000_1030_5008);
        assert_eq!(
            guest(ID_AA64DFR0_EL1, 0x0000_0001_0000_0016),
            0x6,
            "SPE and trace hidden"
        );
        assert_eq!(guest(ID_AA64AFR0_EL1, 0xffff), 0);
    }

    #[test]
    fn aarch32_and_unallocated_registers_read_as_zero() {
        for encoding in [ID_PFR0_EL1, ID_ISAR5_EL1, MVFR0_EL1, MVFR1_EL1, ID_MMFR5_EL1] {
            assert_eq!(sanitise_id_register(encoding, 0x1111_2222), Some(0));
        }
        assert_eq!(sanitise_id_register(encode(3, 0, 0, 4, 3), u64::MAX), Some(0));
        assert_eq!(sanitise_id_register(encode(3, 0, 0, 7, 7), u64::MAX), Some(0));
        assert_eq!(sanitise_id_register(MIDR_EL1, 0x410f_d0b0), None);
        assert_eq!(sanitise_id_register(ICC_SGI1R_EL1, 0), None);
        assert_eq!(sanitise_id_register(encode(3, 1, 0, 4, 0), 0), None);
    }

    #[test]
    fn rules_are_well_formed_and_never_invent_features() {
        let tables = [
            AA64PFR0, AA64PFR1, AA64DFR0, AA64ISAR0, AA64ISAR1, AA64ISAR2, AA64MMFR0, AA64MMFR1, AA64MMFR2,
        ];
        for table in tables {
            let mut seen = 0u64;
            for &(lsb, field) in table {
                assert!(lsb % 4 == 0 && lsb < 64, "field at bit {lsb}");
                assert_eq!(seen & (0xf << lsb), 0, "field at bit {lsb} listed twice");
                seen |= 0xf << lsb;
                assert!(!matches!(field, Max(0)), "Max(0) at bit {lsb}: use Hide");
            }
        }
        // Signed fields (0 = implemented) are never hidden.
        let signed = [
            (AA64PFR0, 16),
            (AA64PFR0, 20),
            (AA64MMFR0, 24),
            (AA64MMFR0, 28),
            (AA64DFR0, 36),
        ];
        for (table, lsb) in signed {
            assert!(table.iter().any(|&(l, f)| l == lsb && matches!(f, Keep)));
        }
        // Every field of the guest's value is at most the host's.
        let mut host = 0x0123_4567_89ab_cdefu64;
        for _ in 0..64 {
            host = host.rotate_left(7) ^ 0x9e37_79b9_7f4a_7c15;
            for crm in 1..=7 {
                for op2 in 0..8 {
                    let seen = guest(encode(3, 0, 0, crm, op2), host);
                    for lsb in (0..64).step_by(4) {
                        assert!((seen >> lsb) & 0xf <= (host >> lsb) & 0xf);
                    }
                }
            }
        }
        for crm in 1..=7 {
            assert_eq!(guest(encode(3, 0, 0, crm, 0), 0), 0);
        }
    }
}
