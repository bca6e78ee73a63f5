//! The guest's PSCI 1.1 and SMCCC 1.1 firmware interface over HVC/SMC, as pure decisions.
//!
//! The kernel calls [`handle`] for `HVC #0` or `SMC #0` with w0 (the function id), x1..x3,
//! the calling vCPU and a view of the VM, then carries out the outcome. Other immediates
//! are not SMCCC calls: the kernel answers them with x0 = NOT_SUPPORTED. Results follow
//! SMCCC (DEN0028 B and later): negative codes are sign-extended to 64 bits for 32-bit
//! and 64-bit function ids alike, so w0 holds the 32-bit code and x0 its 64-bit value;
//! arguments of 32-bit function ids are their low 32 bits.

/// PSCI return codes.
pub const SUCCESS: i32 = 0;
pub const NOT_SUPPORTED: i32 = -1;
pub const INVALID_PARAMETERS: i32 = -2;
pub const DENIED: i32 = -3;
pub const ALREADY_ON: i32 = -4;
pub const ON_PENDING: i32 = -5;

/// AFFINITY_INFO states.
pub const AFFINITY_ON: u64 = 0;
pub const AFFINITY_OFF: u64 = 1;
pub const AFFINITY_ON_PENDING: u64 = 2;

/// PSCI 1.1 and SMCCC 1.1: major in bits [31:16], minor in [15:0].
pub const PSCI_VERSION_1_1: u64 = 0x1_0001;
pub const SMCCC_VERSION_1_1: u64 = 0x1_0001;
/// MIGRATE_INFO_TYPE: no trusted OS that needs migration.
pub const MIGRATE_NOT_REQUIRED: u64 = 2;

/// Function ids (bit 30 set: the SMC64/HVC64 convention).
pub const SMCCC_VERSION: u32 = 0x8000_0000;
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
pub const PSCI_VERSION: u32 = 0x8400_0000;
pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
pub const CPU_SUSPEND_64: u32 = 0xc400_0001;
pub const CPU_OFF: u32 = 0x8400_0002;
pub const CPU_ON_32: u32 = 0x8400_0003;
pub const CPU_ON_64: u32 = 0xc400_0003;
pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
pub const AFFINITY_INFO_64: u32 = 0xc400_0004;
pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
pub const SYSTEM_OFF: u32 = 0x8400_0008;
pub const SYSTEM_RESET: u32 = 0x8400_0009;
pub const PSCI_FEATURES: u32 = 0x8400_000a;
pub const SYSTEM_RESET2_32: u32 = 0x8400_0012;
pub const SYSTEM_RESET2_64: u32 = 0xc400_0012;

/// SYSTEM_RESET2's one architectural reset type (bit 31 clear, the rest 0).
pub const SYSTEM_WARM_RESET: u64 = 0;

/// Bit 30 of a function id: the 64-bit calling convention.
const SMC64: u32 = 1 << 30;
/// The affinity fields of an MPIDR: Aff3 [39:32], Aff2 [23:16], Aff1 [15:8], Aff0 [7:0].
pub const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;

/// What the kernel does after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciOutcome {
    /// Set x0 to this and resume the caller.
    Return(u64),
    /// Mark `target_vcpu` ON_PENDING (re-checking under the VM's lock that it is still off;
    /// if not, return ALREADY_ON or ON_PENDING instead), start it at `entry` with
    /// x0 = `context`, EL1h with interrupts masked and its MMU and caches off, then return
    /// SUCCESS to the caller.
    CpuOn {
        target_vcpu: usize,
        entry: u64,
        context: u64,
    },
    /// Power the caller off; it does not return (a later CPU_ON restarts it).
    CpuOff,
    /// Standby: wait like WFI until an interrupt is pending, then x0 = SUCCESS. Power-down
    /// states are taken as standby, which PSCI allows.
    Suspend,
    /// The VM powers off.
    SystemOff,
    /// The VM resets.
    SystemReset,
    /// The guest asked for a warm reset (SYSTEM_RESET2, SYSTEM_WARM_RESET). Linux does so
    /// only when its kernel panicked and its command line says `reboot=panic_warm`: Keel
    /// takes it as the guest kernel's report that it crashed.
    SystemWarmReset,
}

/// What PSCI needs to know of the VM.
pub trait VcpuStates {
    fn vcpu_count(&self) -> usize;
    /// The MPIDR (VMPIDR_EL2) of `vcpu`.
    fn mpidr(&self, vcpu: usize) -> u64;
    /// The vCPU runs (or is runnable).
    fn is_on(&self, vcpu: usize) -> bool;
    /// A CPU_ON for the vCPU is accepted but it has not started yet.
    fn is_pending(&self, vcpu: usize) -> bool;
}

/// The MPIDR Keel gives vCPU `index`: Aff0 = index % 16 (the GICv3 SGI target list holds
/// 16 CPUs per Aff1 group), Aff1 = index / 16, bit 31 RES1, uniprocessor and
/// multithreading bits clear.
pub const fn vcpu_mpidr(index: usize) -> u64 {
    (1 << 31) | (((index as u64 / 16) & 0xff) << 8) | (index as u64 % 16)
}

const fn code(code: i32) -> PsciOutcome {
    PsciOutcome::Return(code as i64 as u64)
}

/// Decides the outcome of a PSCI or SMCCC call made by vCPU `caller`.
pub fn handle(function: u64, args: [u64; 3], caller: usize, vm: &impl VcpuStates) -> PsciOutcome {
    // The function id is w0; a 32-bit id's arguments are w1..w3.
    let function = function as u32;
    let [x1, x2, x3] = if function & SMC64 == 0 {
        args.map(|a| a & 0xffff_ffff)
    } else {
        args
    };
    match function {
        PSCI_VERSION => PsciOutcome::Return(PSCI_VERSION_1_1),
        CPU_SUSPEND_32 | CPU_SUSPEND_64 => PsciOutcome::Suspend,
        CPU_OFF => PsciOutcome::CpuOff,
        CPU_ON_32 | CPU_ON_64 => cpu_on(x1, x2, x3, caller, vm),
        AFFINITY_INFO_32 | AFFINITY_INFO_64 => affinity_info(x1, x2, vm),
        MIGRATE_INFO_TYPE => PsciOutcome::Return(MIGRATE_NOT_REQUIRED),
        SYSTEM_OFF => PsciOutcome::SystemOff,
        SYSTEM_RESET => PsciOutcome::SystemReset,
        SYSTEM_RESET2_32 | SYSTEM_RESET2_64 => system_reset2(x1),
        PSCI_FEATURES => code(features(x1 as u32)),
        SMCCC_VERSION => PsciOutcome::Return(SMCCC_VERSION_1_1),
        // No architectural workarounds or SoC id are offered: every query is answered so.
        SMCCC_ARCH_FEATURES => code(NOT_SUPPORTED),
        _ => code(NOT_SUPPORTED),
    }
}

/// PSCI_FEATURES: 0 for every function implemented (for CPU_SUSPEND: original power-state
/// format, platform-coordinated mode only), NOT_SUPPORTED otherwise.
fn features(function: u32) -> i32 {
    match function {
        PSCI_VERSION | CPU_SUSPEND_32 | CPU_SUSPEND_64 | CPU_OFF | CPU_ON_32 | CPU_ON_64 | AFFINITY_INFO_32
        | AFFINITY_INFO_64 | MIGRATE_INFO_TYPE | SYSTEM_OFF | SYSTEM_RESET | SYSTEM_RESET2_32 | SYSTEM_RESET2_64
        | PSCI_FEATURES | SMCCC_VERSION => SUCCESS,
        _ => NOT_SUPPORTED,
    }
}

/// SYSTEM_RESET2: the warm reset is the only type offered; vendor-specific types (bit 31)
/// are not supported and other architectural ones are invalid (PSCI 1.1, 5.16).
fn system_reset2(reset_type: u64) -> PsciOutcome {
    const VENDOR_SPECIFIC: u64 = 1 << 31;
    match reset_type {
        SYSTEM_WARM_RESET => PsciOutcome::SystemWarmReset,
        vendor if vendor & VENDOR_SPECIFIC != 0 => code(NOT_SUPPORTED),
        _ => code(INVALID_PARAMETERS),
    }
}

/// Whether Keel implements `function` (a PSCI or SMCCC function id, w0 of the call).
pub fn implements(function: u32) -> bool {
    function == SMCCC_ARCH_FEATURES || features(function) == SUCCESS
}

/// The vCPU whose MPIDR affinity is `target`; None for bits outside the affinity fields or
/// an MPIDR no vCPU has.
fn find_vcpu(target: u64, vm: &impl VcpuStates) -> Option<usize> {
    if target & !MPIDR_AFFINITY_MASK != 0 {
        return None;
    }
    (0..vm.vcpu_count()).find(|&vcpu| vm.mpidr(vcpu) & MPIDR_AFFINITY_MASK == target)
}

fn cpu_on(target: u64, entry: u64, context: u64, caller: usize, vm: &impl VcpuStates) -> PsciOutcome {
    let Some(target_vcpu) = find_vcpu(target, vm) else {
        return code(INVALID_PARAMETERS);
    };
    if target_vcpu == caller || vm.is_on(target_vcpu) {
        code(ALREADY_ON)
    } else if vm.is_pending(target_vcpu) {
        code(ON_PENDING)
    } else {
        PsciOutcome::CpuOn {
            target_vcpu,
            entry,
            context,
        }
    }
}

fn affinity_info(target: u64, lowest_level: u64, vm: &impl VcpuStates) -> PsciOutcome {
    // PSCI 1.0 on: only level 0 must be supported; higher levels are refused.
    let Some(vcpu) = find_vcpu(target, vm).filter(|_| lowest_level == 0) else {
        return code(INVALID_PARAMETERS);
    };
    PsciOutcome::Return(if vm.is_on(vcpu) {
        AFFINITY_ON
    } else if vm.is_pending(vcpu) {
        AFFINITY_ON_PENDING
    } else {
        AFFINITY_OFF
    })
}

#[cfg(test)]
mod tests;
