//! Exception Syndrome Register (ESR_ELx) decoding: classes, names and data-abort details.

/// The exception class, ESR bits [31:26].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionClass {
    Unknown,
    WfiWfe,
    FpSimdAccess,
    IllegalExecutionState,
    Svc64,
    Hvc64,
    Smc64,
    SysRegTrap,
    SveAccess,
    /// EC 0x09: a pointer authentication instruction trapped by HCR_EL2.API = 0.
    PointerAuthTrap,
    /// EC 0x1C: a pointer authentication failure (FEAT_FPAC).
    PointerAuthFailure,
    /// EC 0x1D: an SME access trap.
    SmeAccess,
    InstructionAbortLower,
    InstructionAbortSame,
    PcAlignment,
    DataAbortLower,
    DataAbortSame,
    SpAlignment,
    FpException,
    SError,
    BreakpointLower,
    BreakpointSame,
    SoftwareStepLower,
    SoftwareStepSame,
    WatchpointLower,
    WatchpointSame,
    Brk64,
    Other(u8),
}

impl ExceptionClass {
    /// Decodes the class field of a syndrome value.
    pub fn from_esr(esr: u64) -> Self {
        match ((esr >> 26) & 0x3f) as u8 {
            0x00 => Self::Unknown,
            0x01 => Self::WfiWfe,
            0x07 => Self::FpSimdAccess,
            0x09 => Self::PointerAuthTrap,
            0x0e => Self::IllegalExecutionState,
            0x15 => Self::Svc64,
            0x16 => Self::Hvc64,
            0x17 => Self::Smc64,
            0x18 => Self::SysRegTrap,
            0x19 => Self::SveAccess,
            0x1c => Self::PointerAuthFailure,
            0x1d => Self::SmeAccess,
            0x20 => Self::InstructionAbortLower,
            0x21 => Self::InstructionAbortSame,
            0x22 => Self::PcAlignment,
            0x24 => Self::DataAbortLower,
            0x25 => Self::DataAbortSame,
            0x26 => Self::SpAlignment,
            0x2c => Self::FpException,
            0x2f => Self::SError,
            0x30 => Self::BreakpointLower,
            0x31 => Self::BreakpointSame,
            0x32 => Self::SoftwareStepLower,
            0x33 => Self::SoftwareStepSame,
            0x34 => Self::WatchpointLower,
            0x35 => Self::WatchpointSame,
            0x3c => Self::Brk64,
            other => Self::Other(other),
        }
    }

    /// A short human name for crash reports and exit statistics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown reason (undefined instruction)",
            Self::WfiWfe => "WFI/WFE",
            Self::FpSimdAccess => "FP/SIMD access trap",
            Self::IllegalExecutionState => "illegal execution state",
            Self::Svc64 => "SVC",
            Self::Hvc64 => "HVC",
            Self::Smc64 => "SMC",
            Self::SysRegTrap => "system register trap",
            Self::SveAccess => "SVE access trap",
            Self::PointerAuthTrap => "pointer authentication instruction trap",
            Self::PointerAuthFailure => "pointer authentication failure",
            Self::SmeAccess => "SME access trap",
            Self::InstructionAbortLower => "instruction abort from a lower EL",
            Self::InstructionAbortSame => "instruction abort",
            Self::PcAlignment => "PC alignment fault",
            Self::DataAbortLower => "data abort from a lower EL",
            Self::DataAbortSame => "data abort",
            Self::SpAlignment => "SP alignment fault",
            Self::FpException => "floating-point exception",
            Self::SError => "SError",
            Self::BreakpointLower | Self::BreakpointSame => "breakpoint",
            Self::SoftwareStepLower | Self::SoftwareStepSame => "software step",
            Self::WatchpointLower | Self::WatchpointSame => "watchpoint",
            Self::Brk64 => "BRK instruction",
            Self::Other(_) => "unrecognised exception class",
        }
    }

    /// The raw class number.
    pub fn code(esr: u64) -> u8 {
        ((esr >> 26) & 0x3f) as u8
    }
}

/// What the fault status code (DFSC/IFSC, ISS bits [5:0]) of an abort says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultStatus {
    AddressSize { level: u8 },
    Translation { level: u8 },
    AccessFlag { level: u8 },
    Permission { level: u8 },
    SyncExternal,
    Alignment,
    TlbConflict,
    Other(u8),
}

impl FaultStatus {
    /// Decodes ISS bits [5:0] of an instruction or data abort.
    pub fn from_esr(esr: u64) -> Self {
        let code = (esr & 0x3f) as u8;
        let level = code & 0x3;
        match code & 0x3c {
            0x00 => Self::AddressSize { level },
            0x04 => Self::Translation { level },
            0x08 => Self::AccessFlag { level },
            0x0c => Self::Permission { level },
            _ => match code {
                0x10 => Self::SyncExternal,
                0x21 => Self::Alignment,
                0x30 => Self::TlbConflict,
                other => Self::Other(other),
            },
        }
    }
}

impl core::fmt::Display for FaultStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::AddressSize { level } => write!(f, "address size fault, level {level}"),
            Self::Translation { level } => write!(f, "translation fault, level {level}"),
            Self::AccessFlag { level } => write!(f, "access flag fault, level {level}"),
            Self::Permission { level } => write!(f, "permission fault, level {level}"),
            Self::SyncExternal => write!(f, "synchronous external abort"),
            Self::Alignment => write!(f, "alignment fault"),
            Self::TlbConflict => write!(f, "TLB conflict"),
            Self::Other(code) => write!(f, "fault status {code:#04x}"),
        }
    }
}

/// True for a data abort caused by a write (ISS WnR, bit 6).
pub fn abort_is_write(esr: u64) -> bool {
    esr & (1 << 6) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_kernel_null_read() {
        // Data abort, same EL, IL=1, read, translation fault level 0 (TTBR0 walks disabled).
        let esr = 0x9600_0004;
        assert_eq!(ExceptionClass::from_esr(esr), ExceptionClass::DataAbortSame);
        assert_eq!(FaultStatus::from_esr(esr), FaultStatus::Translation { level: 0 });
        assert!(!abort_is_write(esr));
        assert_eq!(ExceptionClass::code(esr), 0x25);
    }

    #[test]
    fn decodes_write_permission_fault_and_classes() {
        let esr = 0x9600_004f;
        assert!(abort_is_write(esr));
        assert_eq!(FaultStatus::from_esr(esr), FaultStatus::Permission { level: 3 });
        assert_eq!(ExceptionClass::from_esr(0x5600_0000), ExceptionClass::Svc64);
        assert_eq!(ExceptionClass::from_esr(0x5a00_0000), ExceptionClass::Hvc64);
        assert_eq!(ExceptionClass::from_esr(0x0200_0000), ExceptionClass::Unknown);
        assert_eq!(ExceptionClass::from_esr(0x0a00_0000), ExceptionClass::Other(0x02));
        assert_eq!(ExceptionClass::from_esr(0xf200_0000).name(), "BRK instruction");
    }

    #[test]
    fn fault_status_display() {
        assert_eq!(FaultStatus::from_esr(0x21).to_string(), "alignment fault");
        assert_eq!(FaultStatus::from_esr(0x3f).to_string(), "fault status 0x3f");
    }
}
