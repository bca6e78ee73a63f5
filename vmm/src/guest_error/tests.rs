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
    for function in [0x8600_ff01, 0xc700_0000, 0x8400_0005, 0x8400_00ff, 0, u64::MAX] {
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
