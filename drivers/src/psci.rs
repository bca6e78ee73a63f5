//! PSCI client: start CPUs and power the machine off or reset it through firmware (SMCCC calls).
//!
//! The DTB's `/psci` node names the conduit. Keel runs at EL2, so only `smc` reaches the
//! firmware (QEMU `virt` with `virtualization=on` says "smc"); an `hvc` issued at EL2 is
//! taken by Keel's own EL2 vectors, so [`Conduit::Hvc`] is only meaningful below EL2.

use core::fmt;

/// PSCI function IDs (PSCI spec, DEN0022, table 5-1). SMC64 variants have bit 30 set.
pub mod function {
    /// PSCI_VERSION (SMC32).
    pub const PSCI_VERSION: u32 = 0x8400_0000;
    /// CPU_OFF (SMC32).
    pub const CPU_OFF: u32 = 0x8400_0002;
    /// CPU_ON (SMC64).
    pub const CPU_ON: u32 = 0xc400_0003;
    /// AFFINITY_INFO (SMC64).
    pub const AFFINITY_INFO: u32 = 0xc400_0004;
    /// SYSTEM_OFF (SMC32).
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
    /// SYSTEM_RESET (SMC32).
    pub const SYSTEM_RESET: u32 = 0x8400_0009;
    /// PSCI_FEATURES (SMC32).
    pub const PSCI_FEATURES: u32 = 0x8400_000a;
}

/// Bit 30 of a function ID: the SMC64 calling convention (64-bit arguments and result).
const SMC64_BIT: u32 = 1 << 30;

/// How PSCI calls reach the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0`: firmware (or a hypervisor) at EL2. From EL2 itself this traps to EL2.
    Hvc,
    /// `smc #0`: firmware at EL3 (or, on QEMU without EL3, QEMU's built-in PSCI).
    Smc,
}

/// A PSCI error code (PSCI spec, table 5-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciError {
    /// -1: the function is not implemented.
    NotSupported,
    /// -2.
    InvalidParameters,
    /// -3.
    Denied,
    /// -4: CPU_ON for a CPU that is already on.
    AlreadyOn,
    /// -5: CPU_ON for a CPU that is already being turned on.
    OnPending,
    /// -6.
    InternalFailure,
    /// -7: no CPU has that MPIDR.
    NotPresent,
    /// -8.
    Disabled,
    /// -9: the entry point address is not valid.
    InvalidAddress,
    /// Any other negative value.
    Unknown(i64),
}

impl PsciError {
    /// The error a negative PSCI return value stands for.
    pub fn from_code(code: i64) -> Self {
        match code {
            -1 => Self::NotSupported,
            -2 => Self::InvalidParameters,
            -3 => Self::Denied,
            -4 => Self::AlreadyOn,
            -5 => Self::OnPending,
            -6 => Self::InternalFailure,
            -7 => Self::NotPresent,
            -8 => Self::Disabled,
            -9 => Self::InvalidAddress,
            other => Self::Unknown(other),
        }
    }
}

impl fmt::Display for PsciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSupported => f.write_str("not supported"),
            Self::InvalidParameters => f.write_str("invalid parameters"),
            Self::Denied => f.write_str("denied"),
            Self::AlreadyOn => f.write_str("CPU already on"),
            Self::OnPending => f.write_str("CPU already being turned on"),
            Self::InternalFailure => f.write_str("internal failure"),
            Self::NotPresent => f.write_str("no such CPU"),
            Self::Disabled => f.write_str("disabled"),
            Self::InvalidAddress => f.write_str("invalid entry address"),
            Self::Unknown(code) => write!(f, "unknown PSCI error {code}"),
        }
    }
}

/// Power state of a CPU, as AFFINITY_INFO reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffinityState {
    /// The CPU is running.
    On,
    /// The CPU is off.
    Off,
    /// CPU_ON was called and the CPU is on its way.
    OnPending,
}

/// Decodes the x0 a PSCI function returned: a non-negative value, or the error. SMC32
/// functions return a 32-bit signed value in w0; the upper half of x0 is ignored for them.
pub fn decode_result(function_id: u32, x0: u64) -> Result<u64, PsciError> {
    let value = if function_id & SMC64_BIT != 0 {
        x0 as i64
    } else {
        i64::from(x0 as u32 as i32)
    };
    u64::try_from(value).map_err(|_| PsciError::from_code(value))
}

/// Splits a PSCI_VERSION result into (major, minor).
pub fn decode_version(version: u32) -> (u16, u16) {
    (((version >> 16) & 0x7fff) as u16, (version & 0xffff) as u16)
}

/// Decodes an AFFINITY_INFO result.
pub fn decode_affinity_state(value: u64) -> Result<AffinityState, PsciError> {
    match value {
        0 => Ok(AffinityState::On),
        1 => Ok(AffinityState::Off),
        2 => Ok(AffinityState::OnPending),
        other => Err(PsciError::Unknown(other as i64)),
    }
}

/// The PSCI firmware interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Psci {
    conduit: Conduit,
}

impl Psci {
    /// A client that calls the firmware through `conduit`.
    pub const fn new(conduit: Conduit) -> Self {
        Self { conduit }
    }

    /// The conduit this client uses.
    pub fn conduit(&self) -> Conduit {
        self.conduit
    }
}

#[cfg(target_arch = "aarch64")]
mod calls;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_decode() {
        let expected = [
            PsciError::NotSupported,
            PsciError::InvalidParameters,
            PsciError::Denied,
            PsciError::AlreadyOn,
            PsciError::OnPending,
            PsciError::InternalFailure,
            PsciError::NotPresent,
            PsciError::Disabled,
            PsciError::InvalidAddress,
        ];
        for (index, error) in expected.into_iter().enumerate() {
            assert_eq!(PsciError::from_code(-1 - index as i64), error);
        }
        assert_eq!(PsciError::from_code(-10), PsciError::Unknown(-10));
    }

    #[test]
    fn smc64_results_use_all_of_x0() {
        assert_eq!(decode_result(function::CPU_ON, 0), Ok(0));
        assert_eq!(
            decode_result(function::CPU_ON, (-4i64) as u64),
            Err(PsciError::AlreadyOn)
        );
        assert_eq!(decode_result(function::AFFINITY_INFO, 2), Ok(2));
    }

    #[test]
    fn smc32_results_use_w0_only() {
        // Upper half of x0 is not part of an SMC32 result.
        assert_eq!(
            decode_result(function::PSCI_VERSION, 0xdead_0000_0001_0000),
            Ok(0x1_0000)
        );
        assert_eq!(
            decode_result(function::PSCI_FEATURES, 0xffff_ffff),
            Err(PsciError::NotSupported)
        );
        assert_eq!(
            decode_result(function::SYSTEM_OFF, 0x0000_0000_ffff_fffd),
            Err(PsciError::Denied)
        );
    }

    #[test]
    fn version_and_affinity_decode() {
        assert_eq!(decode_version(0x0001_0001), (1, 1));
        assert_eq!(decode_version(0x0000_0002), (0, 2));
        assert_eq!(decode_affinity_state(1), Ok(AffinityState::Off));
        assert_eq!(decode_affinity_state(7), Err(PsciError::Unknown(7)));
    }
}
