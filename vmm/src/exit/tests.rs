//! Exit decoding against real syndrome values.

use super::*;

/// HPFAR_EL2 for the page of `ipa`.
fn hpfar(ipa: u64) -> u64 {
    (ipa >> 12) << 4
}

#[test]
fn str_w1_to_the_uart() {
    // str w1, [x0] with x0 -> IPA 0x0900_0000: EC 0x24, IL, ISV, SAS=word, SRT=1, WnR,
    // translation fault level 1.
    let esr = 0x9381_0045;
    let far = 0xffff_0000_0900_0000;
    let exit = decode(esr, far, hpfar(0x0900_0000));
    let access = MmioAccess {
        ipa: 0x0900_0000,
        width: AccessWidth::Word,
        write: true,
        register: 1,
        sign_extend: false,
        sixty_four: false,
    };
    assert_eq!(exit, Exit::Mmio(access));
    let mut x = [0u64; 31];
    x[1] = 0xdead_beef_0000_0041;
    assert_eq!(access.store_value(&x), 0x41);
    assert_eq!(instruction_length(esr), 4);
}

#[test]
fn ldrb_with_sign_extension() {
    // ldrsb x2, [x0, #0x18] at 0x0900_0018: ISV, SAS=byte, SSE, SRT=2, SF, read.
    let esr = 0x9322_8005;
    let Exit::Mmio(access) = decode(esr, 0x0900_0018, hpfar(0x0900_0018)) else {
        panic!("not MMIO")
    };
    assert_eq!(access.ipa, 0x0900_0018);
    assert_eq!(
        (access.width, access.write, access.register),
        (AccessWidth::Byte, false, 2)
    );
    assert!(access.sign_extend && access.sixty_four);
    assert_eq!(access.load_value(0x80), 0xffff_ffff_ffff_ff80);
    assert_eq!(access.load_value(0x1_7f), 0x7f, "only the access width counts");
    let mut x = [7u64; 31];
    access.complete_load(&mut x, 0xfe);
    assert_eq!(x[2], u64::MAX - 1);
    // ldrsb w3: sign-extended to 32 bits, upper half zero.
    let Exit::Mmio(w) = decode(0x9323_0005, 0x0900_0018, hpfar(0x0900_0018)) else {
        panic!()
    };
    assert!(w.sign_extend && !w.sixty_four);
    assert_eq!(w.load_value(0x80), 0xffff_ff80);
    // ldrsh x4 and ldrsw x5.
    let Exit::Mmio(h) = decode(0x9364_8005, 0, hpfar(0x0a00_0000)) else {
        panic!()
    };
    assert_eq!(
        (h.width, h.load_value(0x8001)),
        (AccessWidth::Half, 0xffff_ffff_ffff_8001)
    );
    let Exit::Mmio(s) = decode(0x93a5_8005, 0, hpfar(0x0a00_0000)) else {
        panic!()
    };
    assert_eq!(
        (s.width, s.load_value(0x8000_0000)),
        (AccessWidth::Word, 0xffff_ffff_8000_0000)
    );
    // ldr w6 of a word: zero-extended; ldr x7: the whole value.
    let Exit::Mmio(l) = decode(0x9386_0005, 0, hpfar(0x0a00_0000)) else {
        panic!()
    };
    assert_eq!(l.load_value(0xffff_ffff_8000_0000), 0x8000_0000);
    let Exit::Mmio(d) = decode(0x93c7_8005, 0, hpfar(0x0a00_0000)) else {
        panic!()
    };
    assert_eq!((d.width, d.load_value(u64::MAX)), (AccessWidth::Double, u64::MAX));
}

#[test]
fn xzr_transfers() {
    // str wzr / ldr wzr: SRT = 31.
    let Exit::Mmio(store) = decode(0x939f_0045, 0x10, hpfar(0x0900_0000)) else {
        panic!()
    };
    assert_eq!(store.register, 31);
    assert_eq!(store.store_value(&[u64::MAX; 31]), 0);
    let mut x = [5u64; 31];
    store.complete_load(&mut x, 9);
    assert_eq!(x, [5u64; 31], "a load into xzr is dropped");
}

#[test]
fn aborts_that_cannot_be_emulated() {
    let page = hpfar(0x0a00_0000);
    // ISV = 0 (e.g. ldp x0, x1, [x2]): reported, never guessed.
    assert_eq!(
        decode(0x9200_0005, 0x200, page),
        Exit::AbortWithoutSyndrome {
            ipa: 0x0a00_0200,
            write: false,
            esr: 0x9200_0005
        }
    );
    assert_eq!(
        decode(0x9200_0045, 0x208, page),
        Exit::AbortWithoutSyndrome {
            ipa: 0x0a00_0208,
            write: true,
            esr: 0x9200_0045
        }
    );
    // ISV set but FAR not valid, a stage-1 walk fault, an external abort: not MMIO either.
    for esr in [0x9381_0445u64, 0x9381_00c5, 0x9381_0010] {
        assert!(matches!(decode(esr, 0, page), Exit::AbortWithoutSyndrome { esr: e, .. } if e == esr));
    }
    // Permission and access-flag faults with a syndrome are emulable accesses.
    assert!(matches!(decode(0x9381_004f, 0, page), Exit::Mmio(_)));
    assert!(matches!(decode(0x9381_004b, 0, page), Exit::Mmio(_)));
}

#[test]
fn instruction_abort() {
    // A fetch from unmapped IPA 0x8000_1234: EC 0x20, IL, translation fault level 2.
    let esr = 0x8200_0006;
    assert_eq!(
        decode(esr, 0xffff_8000_0000_1234, hpfar(0x8000_1000)),
        Exit::InstructionAbort { ipa: 0x8000_1234, esr }
    );
}

#[test]
fn msr_icc_sgi1r() {
    // msr ICC_SGI1R_EL1, x5: EC 0x18, IL, Op0=3 Op2=5 Op1=0 CRn=12 Rt=5 CRm=11, write.
    let Exit::SysReg(access) = decode(0x623a_30b6, 0, 0) else {
        panic!("not a sysreg trap")
    };
    assert_eq!(
        access,
        SysRegAccess {
            op0: 3,
            op1: 0,
            crn: 12,
            crm: 11,
            op2: 5,
            register: 5,
            write: true
        }
    );
    assert_eq!(access.encoding(), sysreg::ICC_SGI1R_EL1);
    assert_eq!(access.name(), Some("ICC_SGI1R_EL1"));
    // mrs x0, ID_AA64PFR0_EL1: Op0=3 Op2=0 Op1=0 CRn=0 Rt=0 CRm=4, read.
    let Exit::SysReg(read) = decode(0x6230_0009, 0, 0) else {
        panic!()
    };
    assert_eq!(
        (read.encoding(), read.write, read.register),
        (sysreg::ID_AA64PFR0_EL1, false, 0)
    );
    assert_eq!(read.name(), Some("ID_AA64PFR0_EL1"));
    // mrs x1, CNTPCT_EL0 (Op1=3, CRn=14, CRm=0, Op2=1): read into x1.
    let Exit::SysReg(cnt) = decode(0x6232_f821, 0, 0) else {
        panic!()
    };
    assert_eq!((cnt.name(), cnt.register, cnt.write), (Some("CNTPCT_EL0"), 1, false));
}

#[test]
fn hvc_smc_wfi_wfe_fp() {
    assert_eq!(decode(0x5a00_0000, 0, 0), Exit::Hvc { imm: 0 });
    assert_eq!(decode(0x5a00_1234, 0, 0), Exit::Hvc { imm: 0x1234 });
    assert_eq!(decode(0x5e00_0000, 0, 0), Exit::Smc { imm: 0 });
    // WFI / WFE from AArch64 (CV=1, COND=0xe in the ISS, as some cores report) and without.
    assert_eq!(decode(0x0600_0000, 0, 0), Exit::Wfi);
    assert_eq!(decode(0x07e0_0000, 0, 0), Exit::Wfi);
    assert_eq!(decode(0x0600_0001, 0, 0), Exit::Wfe);
    assert_eq!(decode(0x07e0_0001, 0, 0), Exit::Wfe);
    assert_eq!(
        decode(0x0600_0002, 0, 0),
        Exit::Wfe,
        "WFIT never blocks without its deadline"
    );
    assert_eq!(decode(0x0600_0003, 0, 0), Exit::Wfe, "WFET");
    assert_eq!(decode(0x1fe0_0000, 0, 0), Exit::FpSimdTrap);
}

#[test]
fn hidden_features_are_undefined_for_the_guest() {
    for (esr, class) in [
        (0x2600_0000, ExceptionClass::PointerAuthTrap),
        (0x6600_0000, ExceptionClass::SveAccess),
        (0x7600_0000, ExceptionClass::SmeAccess),
    ] {
        assert_eq!(decode(esr, 0, 0), Exit::HiddenFeature { esr, class });
    }
}

#[test]
fn everything_else_is_reported() {
    for (esr, class) in [
        (0x0200_0000, ExceptionClass::Unknown),
        // EC 0x09: a PAC instruction trapped by HCR_EL2.API (inject UNDEFINED).
        (0x7200_0000, ExceptionClass::PointerAuthFailure),
        (0xbe00_0000, ExceptionClass::SError),
        (0x9600_0000, ExceptionClass::DataAbortSame),
        (0xfe00_0000, ExceptionClass::Other(0x3f)),
    ] {
        assert_eq!(decode(esr, 0, 0), Exit::Other { esr, class });
    }
    // A 16-bit T32 instruction (IL clear) is 2 bytes.
    assert_eq!(instruction_length(0x0400_0000), 2);
}

#[test]
fn hostile_values_never_panic() {
    let mut seed = 0x243f_6a88_85a3_08d3u64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let exit = decode(seed, seed.rotate_left(17), seed.rotate_left(31));
        if let Exit::Mmio(access) = exit {
            assert!(access.register <= 31 && access.ipa < 1 << 52);
            let _ = access.load_value(seed);
            let _ = access.store_value(&[seed; 31]);
        }
        if let Exit::SysReg(access) = exit {
            assert!(access.encoding() < 1 << 16);
            let _ = access.name();
        }
    }
}
