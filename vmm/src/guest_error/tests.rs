use super::*;
use crate::psci::{self, INVALID_PARAMETERS, NOT_SUPPORTED};

fn code(value: i32) -> u64 {
    value as i64 as u64
}

#[test]
fn refused_mmio_is_outside_memory_or_refused_by_the_device() {
    assert_eq!(GuestError::of_mmio(MmioError::Unmapped), GuestError::OutsideMemory);
    for error in [MmioError::BadRegister, MmioError::ReadOnly, MmioError::WriteOnly] {
        assert_eq!(GuestError::of_mmio(error), GuestError::DeviceRefused);
    }
}

#[test]
fn calls_are_errors_only_when_unknown_or_refused() {
    // Unknown function ids and services, and any immediate but 0.
    for function in [
        0x8600_0001,
        0xc700_0000,
        0x8400_0005,
        0x8400_00ff,
        0x8400_0051,
        0,
        u64::MAX,
    ] {
        assert_eq!(
            GuestError::of_call(0, function, code(NOT_SUPPORTED)),
            Some(GuestError::UnknownCall),
            "{function:#x}"
        );
    }
    assert_eq!(
        GuestError::of_call(1, u64::from(psci::PSCI_VERSION), 0),
        Some(GuestError::UnknownCall)
    );
    assert_eq!(GuestError::of_call(0xffff, 0, 0), Some(GuestError::UnknownCall));
    assert_eq!(
        GuestError::of_call(1, 0x8600_ff01, code(NOT_SUPPORTED)),
        Some(GuestError::UnknownCall),
        "a discovery call with another immediate"
    );
    // Discovery calls a Linux guest makes at boot: the TRNG, KVM's vendor services (UID),
    // other services' counts, UIDs and revisions.
    for function in [0x8400_0050, 0x8600_ff01, 0xbf00_ff01, 0x8600_ff00, 0xb000_ff03] {
        assert_eq!(
            GuestError::of_call(0, function, code(NOT_SUPPORTED)),
            None,
            "{function:#x}"
        );
    }
    assert!(!is_discovery(0x0600_ff01), "not a fast call");
    assert!(!is_discovery(0x8600_ff02));
    // Implemented calls that worked, and queries answered "no".
    assert_eq!(
        GuestError::of_call(0, u64::from(psci::PSCI_VERSION), psci::PSCI_VERSION_1_1),
        None
    );
    assert_eq!(
        GuestError::of_call(0, u64::from(psci::PSCI_FEATURES), code(NOT_SUPPORTED)),
        None
    );
    assert_eq!(
        GuestError::of_call(0, u64::from(psci::SMCCC_ARCH_FEATURES), code(NOT_SUPPORTED)),
        None
    );
    // The upper half of x0 is not part of the function id.
    assert_eq!(
        GuestError::of_call(0, 0xdead_0000_8400_0000, psci::PSCI_VERSION_1_1),
        None
    );
    // Implemented calls that refused their arguments.
    assert_eq!(
        GuestError::of_call(0, u64::from(psci::CPU_ON_64), code(INVALID_PARAMETERS)),
        Some(GuestError::PsciRefused)
    );
    assert_eq!(
        GuestError::of_call(0, u64::from(psci::AFFINITY_INFO_64), code(INVALID_PARAMETERS)),
        Some(GuestError::PsciRefused)
    );
}

#[test]
fn counters_count_every_error_and_log_the_first_of_each_kind() {
    let errors = GuestErrors::default();
    assert_eq!(errors.total(), 0);
    assert!(errors.record(GuestError::OutsideMemory), "the first is logged");
    for _ in 0..1000 {
        assert!(!errors.record(GuestError::OutsideMemory), "repeats are not");
    }
    assert!(
        errors.record(GuestError::UnknownCall),
        "another kind is logged once too"
    );
    assert!(!errors.record(GuestError::UnknownCall));
    assert_eq!(errors.count(GuestError::OutsideMemory), 1001);
    assert_eq!(errors.count(GuestError::UnknownCall), 2);
    assert_eq!(errors.count(GuestError::PsciRefused), 0);
    assert_eq!(errors.snapshot(), [1001, 0, 0, 0, 0, 0, 2, 0]);
    assert_eq!(errors.total(), 1003);
    errors.reset();
    assert_eq!(errors.total(), 0);
    assert!(errors.record(GuestError::OutsideMemory), "a new run logs again");
}

#[test]
fn kinds_are_in_counter_order_with_distinct_names() {
    for (index, kind) in GuestError::ALL.iter().enumerate() {
        assert_eq!(*kind as usize, index);
        assert!(!kind.outcome().is_empty());
    }
    let mut names: std::vec::Vec<_> = GuestError::ALL.iter().map(|k| k.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), KINDS);
}

/// Syndromes the hostile guest causes (ESR_EL2, FAR_EL2, HPFAR_EL2 as Keel reads them).
mod syndromes {
    /// `ldp x0, x1, [x2]` at 0x1000_0000 from EL1: a data abort, stage-2 translation fault
    /// at level 1, no instruction syndrome.
    pub const LOAD_PAIR: (u64, u64, u64) = (0x9200_0005, 0x1000_0000, 0x1000_0000 >> 8);
    /// `str x0, [x1], #8` at 0x4200_0000: a store with writeback, WnR set, no syndrome.
    pub const STORE_WRITEBACK: (u64, u64, u64) = (0x9200_0045, 0x4200_0000, 0x4200_0000 >> 8);
    /// `blr` to 0x1000_0000: an instruction abort, stage-2 translation fault at level 1.
    pub const FETCH: (u64, u64, u64) = (0x8200_0005, 0x1000_0000, 0x1000_0000 >> 8);
    /// `rdvl x0, #1` with SVE trapped by CPTR_EL2 (class 0x19).
    pub const SVE: (u64, u64, u64) = (0x6600_0000, 0, 0);
    /// `ldr w0, [x1]` at 0: a data abort with a syndrome (an access to emulate).
    pub const LOAD: (u64, u64, u64) = (0x9380_0006, 0, 0);
    /// `hvc #0`.
    pub const HVC: (u64, u64, u64) = (0x5a00_0000, 0, 0);
}

#[test]
fn accesses_keel_cannot_emulate_get_an_abort_not_a_dead_vm() {
    use crate::exit::decode;
    let answer = |(esr, far, hpfar): (u64, u64, u64)| unservable(&decode(esr, far, hpfar));
    assert_eq!(
        answer(syndromes::LOAD_PAIR),
        Some((GuestError::NoSyndrome, Answer::DataAbort { write: false }))
    );
    assert_eq!(
        answer(syndromes::STORE_WRITEBACK),
        Some((GuestError::NoSyndrome, Answer::DataAbort { write: true }))
    );
    assert_eq!(
        answer(syndromes::FETCH),
        Some((GuestError::InstructionFetch, Answer::FetchAbort))
    );
    assert_eq!(
        answer(syndromes::SVE),
        Some((GuestError::HiddenFeature, Answer::Undefined))
    );
    // Served exits are not errors by themselves (the device or the call decides).
    assert_eq!(answer(syndromes::LOAD), None);
    assert_eq!(answer(syndromes::HVC), None);
}
