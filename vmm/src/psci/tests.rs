//! PSCI and SMCCC calls against a small fake VM.

use super::*;

const NOT_SUPPORTED_X0: u64 = u64::MAX;
const INVALID_X0: u64 = (-2i64) as u64;

/// (on, pending) per vCPU; MPIDRs as Keel assigns them.
struct Vm(Vec<(bool, bool)>);

impl VcpuStates for Vm {
    fn vcpu_count(&self) -> usize {
        self.0.len()
    }
    fn mpidr(&self, vcpu: usize) -> u64 {
        vcpu_mpidr(vcpu)
    }
    fn is_on(&self, vcpu: usize) -> bool {
        self.0[vcpu].0
    }
    fn is_pending(&self, vcpu: usize) -> bool {
        self.0[vcpu].1
    }
}

/// vCPU 0 on, 1 off, 2 pending, … 17 off (Aff1 = 1).
fn vm() -> Vm {
    let mut states = vec![(false, false); 18];
    states[0] = (true, false);
    states[2] = (false, true);
    Vm(states)
}

fn call(function: u64, args: [u64; 3]) -> PsciOutcome {
    handle(function, args, 0, &vm())
}

#[test]
fn versions_and_features() {
    assert_eq!(call(0x8400_0000, [0; 3]), PsciOutcome::Return(0x1_0001));
    assert_eq!(
        call(0xffff_ffff_8400_0000, [0; 3]),
        PsciOutcome::Return(0x1_0001),
        "only w0 counts"
    );
    assert_eq!(call(0x8000_0000, [0; 3]), PsciOutcome::Return(0x1_0001), "SMCCC 1.1");
    for supported in [
        CPU_ON_64,
        CPU_ON_32,
        CPU_OFF,
        AFFINITY_INFO_64,
        SYSTEM_OFF,
        SYSTEM_RESET,
        SYSTEM_RESET2_64,
        SYSTEM_RESET2_32,
        CPU_SUSPEND_64,
    ] {
        assert_eq!(
            call(u64::from(PSCI_FEATURES), [u64::from(supported), 0, 0]),
            PsciOutcome::Return(0)
        );
    }
    // Linux asks PSCI_FEATURES(SMCCC_VERSION) before trusting SMCCC_VERSION.
    assert_eq!(call(0x8400_000a, [0x8000_0000, 0, 0]), PsciOutcome::Return(0));
    assert_eq!(
        call(0x8400_000a, [0xffff_ffff_8400_0003, 0, 0]),
        PsciOutcome::Return(0),
        "w1 only"
    );
    for unsupported in [0x8400_0005, 0xc400_0013, 0x8000_0001, 0x8400_0013, 0] {
        assert_eq!(
            call(0x8400_000a, [unsupported, 0, 0]),
            PsciOutcome::Return(NOT_SUPPORTED_X0)
        );
    }
    assert_eq!(call(0x8400_0006, [0; 3]), PsciOutcome::Return(2), "MIGRATE_INFO_TYPE");
}

#[test]
fn smccc_arch_features_and_unknown_functions() {
    for workaround in [0x8000_8000, 0x8000_7fff, 0x8000_3fff, 0x8000_0002] {
        assert_eq!(
            call(0x8000_0001, [workaround, 0, 0]),
            PsciOutcome::Return(NOT_SUPPORTED_X0)
        );
    }
    for unknown in [
        0x8400_0005,
        0xc400_0013,
        0x8600_0000,
        0xc200_0001,
        0x0000_0000,
        0xffff_ffff,
    ] {
        assert_eq!(
            call(unknown, [1, 2, 3]),
            PsciOutcome::Return(NOT_SUPPORTED_X0),
            "{unknown:#x}"
        );
    }
    // A negative result is the sign-extended 32-bit code: w0 = 0xffff_ffff either way.
    let PsciOutcome::Return(x0) = call(0x8400_0005, [0; 3]) else {
        panic!()
    };
    assert_eq!(x0 as u32, 0xffff_ffff);
}

#[test]
fn cpu_on() {
    let entry = 0x4008_0000;
    assert_eq!(
        call(u64::from(CPU_ON_64), [0x1, entry, 0x1234_5678_9abc]),
        PsciOutcome::CpuOn {
            target_vcpu: 1,
            entry,
            context: 0x1234_5678_9abc
        }
    );
    assert_eq!(
        call(u64::from(CPU_ON_64), [0x101, entry, 0]),
        PsciOutcome::CpuOn {
            target_vcpu: 17,
            entry,
            context: 0
        },
        "Aff1 = 1"
    );
    // The 32-bit call uses the low halves of its arguments.
    assert_eq!(
        call(
            u64::from(CPU_ON_32),
            [0xffff_ffff_0000_0001, 0xdead_beef_4000_0000, 0x1_0000_0007]
        ),
        PsciOutcome::CpuOn {
            target_vcpu: 1,
            entry: 0x4000_0000,
            context: 7
        }
    );
    assert_eq!(
        call(u64::from(CPU_ON_64), [0x0, entry, 0]),
        PsciOutcome::Return((-4i64) as u64),
        "ALREADY_ON"
    );
    assert_eq!(
        call(u64::from(CPU_ON_64), [0x2, entry, 0]),
        PsciOutcome::Return((-5i64) as u64),
        "ON_PENDING"
    );
    assert_eq!(
        handle(u64::from(CPU_ON_64), [0x1, entry, 0], 1, &vm()),
        PsciOutcome::Return((-4i64) as u64)
    );
    for bad in [0x12, 0x200, 0x1_0000_0000, 0x8000_0001, u64::MAX] {
        assert_eq!(
            call(u64::from(CPU_ON_64), [bad, entry, 0]),
            PsciOutcome::Return(INVALID_X0),
            "{bad:#x}"
        );
    }
    assert_eq!(
        call(u64::from(CPU_ON_32), [0x12, entry, 0]),
        PsciOutcome::Return(0xffff_ffff_ffff_fffe)
    );
}

#[test]
fn affinity_info() {
    for function in [AFFINITY_INFO_32, AFFINITY_INFO_64] {
        let info = |target: u64, level: u64| call(u64::from(function), [target, level, 0]);
        assert_eq!(info(0x0, 0), PsciOutcome::Return(0), "on");
        assert_eq!(info(0x1, 0), PsciOutcome::Return(1), "off");
        assert_eq!(info(0x2, 0), PsciOutcome::Return(2), "on pending");
        assert_eq!(info(0x101, 0), PsciOutcome::Return(1));
        assert_eq!(info(0x0, 1), PsciOutcome::Return(INVALID_X0), "levels above 0");
        assert_eq!(info(0x0, 3), PsciOutcome::Return(INVALID_X0));
        assert_eq!(info(0x13, 0), PsciOutcome::Return(INVALID_X0), "no such MPIDR");
    }
}

#[test]
fn power_state_changes() {
    assert_eq!(call(u64::from(CPU_OFF), [0; 3]), PsciOutcome::CpuOff);
    assert_eq!(call(u64::from(SYSTEM_OFF), [0; 3]), PsciOutcome::SystemOff);
    assert_eq!(call(u64::from(SYSTEM_RESET), [0; 3]), PsciOutcome::SystemReset);
    // SYSTEM_RESET2: the warm reset (what Linux issues after a panic with
    // reboot=panic_warm); the cookie in x2 does not matter.
    assert_eq!(call(u64::from(SYSTEM_RESET2_64), [0, 0x1234, 0]), PsciOutcome::SystemWarmReset);
    assert_eq!(
        call(u64::from(SYSTEM_RESET2_32), [0xffff_ffff_0000_0000, 0, 0]),
        PsciOutcome::SystemWarmReset,
        "a 32-bit call's reset type is w1"
    );
    assert_eq!(call(u64::from(SYSTEM_RESET2_64), [1, 0, 0]), PsciOutcome::Return(INVALID_X0));
    assert_eq!(call(u64::from(SYSTEM_RESET2_64), [0x8000_0000, 0, 0]), PsciOutcome::Return(NOT_SUPPORTED_X0));
    assert_eq!(
        call(u64::from(CPU_SUSPEND_64), [0x1_0000, 0x4000_0000, 0]),
        PsciOutcome::Suspend
    );
    assert_eq!(call(u64::from(CPU_SUSPEND_32), [0, 0, 0]), PsciOutcome::Suspend);
}

#[test]
fn mpidrs() {
    assert_eq!(vcpu_mpidr(0), 0x8000_0000);
    assert_eq!(vcpu_mpidr(15), 0x8000_000f);
    assert_eq!(vcpu_mpidr(16), 0x8000_0100);
    assert_eq!(vcpu_mpidr(122), 0x8000_070a);
    let empty = Vm(Vec::new());
    assert_eq!(
        handle(u64::from(CPU_ON_64), [0, 0, 0], 0, &empty),
        PsciOutcome::Return(INVALID_X0)
    );
}
