//! Encodings and names of the system registers Keel meets in guest traps.

use super::encode;

macro_rules! registers {
    ($($name:ident = ($op0:literal, $op1:literal, $crn:literal, $crm:literal, $op2:literal);)*) => {
        $(pub const $name: u32 = encode($op0, $op1, $crn, $crm, $op2);)*
        /// Every register above with its name.
        pub(super) const NAMES: &[(u32, &str)] = &[$(($name, stringify!($name))),*];
    };
}

registers! {
    // Identification, CRn=0, CRm=0: not trapped by TID3.
    MIDR_EL1 = (3, 0, 0, 0, 0);
    MPIDR_EL1 = (3, 0, 0, 0, 5);
    REVIDR_EL1 = (3, 0, 0, 0, 6);
    // AArch32 feature registers (CRm 1-3).
    ID_PFR0_EL1 = (3, 0, 0, 1, 0);
    ID_PFR1_EL1 = (3, 0, 0, 1, 1);
    ID_DFR0_EL1 = (3, 0, 0, 1, 2);
    ID_AFR0_EL1 = (3, 0, 0, 1, 3);
    ID_MMFR0_EL1 = (3, 0, 0, 1, 4);
    ID_MMFR1_EL1 = (3, 0, 0, 1, 5);
    ID_MMFR2_EL1 = (3, 0, 0, 1, 6);
    ID_MMFR3_EL1 = (3, 0, 0, 1, 7);
    ID_ISAR0_EL1 = (3, 0, 0, 2, 0);
    ID_ISAR1_EL1 = (3, 0, 0, 2, 1);
    ID_ISAR2_EL1 = (3, 0, 0, 2, 2);
    ID_ISAR3_EL1 = (3, 0, 0, 2, 3);
    ID_ISAR4_EL1 = (3, 0, 0, 2, 4);
    ID_ISAR5_EL1 = (3, 0, 0, 2, 5);
    ID_MMFR4_EL1 = (3, 0, 0, 2, 6);
    ID_ISAR6_EL1 = (3, 0, 0, 2, 7);
    MVFR0_EL1 = (3, 0, 0, 3, 0);
    MVFR1_EL1 = (3, 0, 0, 3, 1);
    MVFR2_EL1 = (3, 0, 0, 3, 2);
    ID_PFR2_EL1 = (3, 0, 0, 3, 4);
    ID_DFR1_EL1 = (3, 0, 0, 3, 5);
    ID_MMFR5_EL1 = (3, 0, 0, 3, 6);
    // AArch64 feature registers (CRm 4-7).
    ID_AA64PFR0_EL1 = (3, 0, 0, 4, 0);
    ID_AA64PFR1_EL1 = (3, 0, 0, 4, 1);
    ID_AA64PFR2_EL1 = (3, 0, 0, 4, 2);
    ID_AA64ZFR0_EL1 = (3, 0, 0, 4, 4);
    ID_AA64SMFR0_EL1 = (3, 0, 0, 4, 5);
    ID_AA64FPFR0_EL1 = (3, 0, 0, 4, 7);
    ID_AA64DFR0_EL1 = (3, 0, 0, 5, 0);
    ID_AA64DFR1_EL1 = (3, 0, 0, 5, 1);
    ID_AA64DFR2_EL1 = (3, 0, 0, 5, 2);
    ID_AA64AFR0_EL1 = (3, 0, 0, 5, 4);
    ID_AA64AFR1_EL1 = (3, 0, 0, 5, 5);
    ID_AA64ISAR0_EL1 = (3, 0, 0, 6, 0);
    ID_AA64ISAR1_EL1 = (3, 0, 0, 6, 1);
    ID_AA64ISAR2_EL1 = (3, 0, 0, 6, 2);
    ID_AA64ISAR3_EL1 = (3, 0, 0, 6, 3);
    ID_AA64MMFR0_EL1 = (3, 0, 0, 7, 0);
    ID_AA64MMFR1_EL1 = (3, 0, 0, 7, 1);
    ID_AA64MMFR2_EL1 = (3, 0, 0, 7, 2);
    ID_AA64MMFR3_EL1 = (3, 0, 0, 7, 3);
    ID_AA64MMFR4_EL1 = (3, 0, 0, 7, 4);
    // Cache identification (HCR_EL2.TID2) and other ID-like registers.
    CCSIDR_EL1 = (3, 1, 0, 0, 0);
    CLIDR_EL1 = (3, 1, 0, 0, 1);
    GMID_EL1 = (3, 1, 0, 0, 4);
    AIDR_EL1 = (3, 1, 0, 0, 7);
    CSSELR_EL1 = (3, 2, 0, 0, 0);
    CTR_EL0 = (3, 3, 0, 0, 1);
    DCZID_EL0 = (3, 3, 0, 0, 7);
    // Implementation defined control (HCR_EL2.TACR).
    ACTLR_EL1 = (3, 0, 1, 0, 1);
    // MTE (hidden).
    RGSR_EL1 = (3, 0, 1, 0, 5);
    GCR_EL1 = (3, 0, 1, 0, 6);
    TFSR_EL1 = (3, 0, 5, 6, 0);
    TFSRE0_EL1 = (3, 0, 5, 6, 1);
    // SVE and SME (hidden).
    ZCR_EL1 = (3, 0, 1, 2, 0);
    SMPRI_EL1 = (3, 0, 1, 2, 4);
    SMCR_EL1 = (3, 0, 1, 2, 6);
    SVCR = (3, 3, 4, 2, 2);
    TPIDR2_EL0 = (3, 3, 13, 0, 5);
    // Pointer authentication keys (HCR_EL2.APK = 0 traps them).
    APIAKEYLO_EL1 = (3, 0, 2, 1, 0);
    APIAKEYHI_EL1 = (3, 0, 2, 1, 1);
    APIBKEYLO_EL1 = (3, 0, 2, 1, 2);
    APIBKEYHI_EL1 = (3, 0, 2, 1, 3);
    APDAKEYLO_EL1 = (3, 0, 2, 2, 0);
    APDAKEYHI_EL1 = (3, 0, 2, 2, 1);
    APDBKEYLO_EL1 = (3, 0, 2, 2, 2);
    APDBKEYHI_EL1 = (3, 0, 2, 2, 3);
    APGAKEYLO_EL1 = (3, 0, 2, 3, 0);
    APGAKEYHI_EL1 = (3, 0, 2, 3, 1);
    // RAS error records (HCR_EL2.TERR).
    ERRIDR_EL1 = (3, 0, 5, 3, 0);
    ERRSELR_EL1 = (3, 0, 5, 3, 1);
    ERXFR_EL1 = (3, 0, 5, 4, 0);
    ERXCTLR_EL1 = (3, 0, 5, 4, 1);
    ERXSTATUS_EL1 = (3, 0, 5, 4, 2);
    ERXADDR_EL1 = (3, 0, 5, 4, 3);
    ERXMISC0_EL1 = (3, 0, 5, 5, 0);
    ERXMISC1_EL1 = (3, 0, 5, 5, 1);
    DISR_EL1 = (3, 0, 12, 1, 1);
    // LORegions (HCR_EL2.TLOR).
    LORSA_EL1 = (3, 0, 10, 4, 0);
    LOREA_EL1 = (3, 0, 10, 4, 1);
    LORN_EL1 = (3, 0, 10, 4, 2);
    LORC_EL1 = (3, 0, 10, 4, 3);
    LORID_EL1 = (3, 0, 10, 4, 7);
    // MPAM (hidden).
    MPAMIDR_EL1 = (3, 0, 10, 4, 4);
    MPAM1_EL1 = (3, 0, 10, 5, 0);
    MPAM0_EL1 = (3, 0, 10, 5, 1);
    // Speculation context numbers (HCR_EL2.EnSCXT = 0 traps them).
    SCXTNUM_EL1 = (3, 0, 13, 0, 7);
    SCXTNUM_EL0 = (3, 3, 13, 0, 7);
    // GICv3 CPU interface: SGI generation traps with HCR_EL2.IMO/FMO.
    ICC_PMR_EL1 = (3, 0, 4, 6, 0);
    ICC_DIR_EL1 = (3, 0, 12, 11, 1);
    ICC_SGI1R_EL1 = (3, 0, 12, 11, 5);
    ICC_ASGI1R_EL1 = (3, 0, 12, 11, 6);
    ICC_SGI0R_EL1 = (3, 0, 12, 11, 7);
    ICC_SRE_EL1 = (3, 0, 12, 12, 5);
    // Generic timer: the physical timer and counter trap through CNTHCTL_EL2.
    CNTKCTL_EL1 = (3, 0, 14, 1, 0);
    CNTFRQ_EL0 = (3, 3, 14, 0, 0);
    CNTPCT_EL0 = (3, 3, 14, 0, 1);
    CNTVCT_EL0 = (3, 3, 14, 0, 2);
    CNTPCTSS_EL0 = (3, 3, 14, 0, 5);
    CNTVCTSS_EL0 = (3, 3, 14, 0, 6);
    CNTP_TVAL_EL0 = (3, 3, 14, 2, 0);
    CNTP_CTL_EL0 = (3, 3, 14, 2, 1);
    CNTP_CVAL_EL0 = (3, 3, 14, 2, 2);
    CNTV_TVAL_EL0 = (3, 3, 14, 3, 0);
    CNTV_CTL_EL0 = (3, 3, 14, 3, 1);
    CNTV_CVAL_EL0 = (3, 3, 14, 3, 2);
    // Performance monitors (MDCR_EL2.TPM/TPMCR).
    PMCR_EL0 = (3, 3, 9, 12, 0);
    PMCNTENSET_EL0 = (3, 3, 9, 12, 1);
    PMCCNTR_EL0 = (3, 3, 9, 13, 0);
    PMUSERENR_EL0 = (3, 3, 9, 14, 0);
    // Activity monitors (hidden).
    AMCR_EL0 = (3, 3, 13, 2, 0);
    // Debug (MDCR_EL2.TDA/TDOSA/TDRA; see `debug`).
    MDSCR_EL1 = (2, 0, 0, 2, 2);
    OSLAR_EL1 = (2, 0, 1, 0, 4);
    OSLSR_EL1 = (2, 0, 1, 1, 4);
    OSDLR_EL1 = (2, 0, 1, 3, 4);
    DBGPRCR_EL1 = (2, 0, 1, 4, 4);
    // Cache maintenance by set/way (HCR_EL2.TSW), op0 = 1.
    DC_ISW = (1, 0, 7, 6, 2);
    DC_CSW = (1, 0, 7, 10, 2);
    DC_CISW = (1, 0, 7, 14, 2);
}
