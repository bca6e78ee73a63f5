//! Errors a guest provokes (by mistake or on purpose), what it sees of each, and per-VM
//! counters that log the first of each kind only.
//!
//! Every exit Keel cannot serve as the guest asked ends in an error the guest can see — a
//! synchronous external abort, a PSCI/SMCCC error code or an UNDEFINED instruction — and
//! is counted here; none stops the VM or touches anything of the host's or another
//! guest's. The kernel logs one line per kind per VM run ([`GuestErrors::record`] says
//! when), so a guest repeating an error cannot flood the log.

use crate::bus::MmioError;
use crate::exit::Exit;
use crate::psci;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// One kind of guest error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestError {
    /// A load or store to an IPA with neither RAM nor a device: synchronous external abort.
    OutsideMemory,
    /// A device refused the access (no register at that offset, a wrong width, a write to
    /// a read-only register): synchronous external abort.
    DeviceRefused,
    /// A data access Keel cannot emulate (no instruction syndrome: load/store pair,
    /// writeback, a stage-1 table walk outside RAM): synchronous external abort.
    NoSyndrome,
    /// An instruction fetch outside RAM: synchronous external abort on the fetch.
    InstructionFetch,
    /// A trapped system register or instruction Keel does not give guests: UNDEFINED.
    UndefinedSysReg,
    /// An instruction of a feature hidden from guests (SVE, SME, pointer authentication):
    /// UNDEFINED.
    HiddenFeature,
    /// HVC/SMC with an immediate other than 0 or a function id Keel does not implement:
    /// x0 = NOT_SUPPORTED (-1).
    UnknownCall,
    /// An implemented PSCI call refused for its arguments: x0 = the PSCI error code
    /// (INVALID_PARAMETERS, ALREADY_ON, …).
    PsciRefused,
}

/// How many kinds there are.
pub const KINDS: usize = 8;

impl GuestError {
    /// Every kind, in the order of the counters.
    pub const ALL: [GuestError; KINDS] = [
        GuestError::OutsideMemory,
        GuestError::DeviceRefused,
        GuestError::NoSyndrome,
        GuestError::InstructionFetch,
        GuestError::UndefinedSysReg,
        GuestError::HiddenFeature,
        GuestError::UnknownCall,
        GuestError::PsciRefused,
    ];

    /// Its short name in reports (`vm stats`, logs).
    pub const fn name(self) -> &'static str {
        match self {
            GuestError::OutsideMemory => "outside-memory",
            GuestError::DeviceRefused => "device-refused",
            GuestError::NoSyndrome => "no-syndrome",
            GuestError::InstructionFetch => "fetch-outside-ram",
            GuestError::UndefinedSysReg => "undefined-sysreg",
            GuestError::HiddenFeature => "hidden-feature",
            GuestError::UnknownCall => "unknown-call",
            GuestError::PsciRefused => "psci-refused",
        }
    }

    /// What the guest sees.
    pub const fn outcome(self) -> &'static str {
        match self {
            GuestError::OutsideMemory | GuestError::DeviceRefused | GuestError::NoSyndrome => "external abort",
            GuestError::InstructionFetch => "external abort on the fetch",
            GuestError::UndefinedSysReg | GuestError::HiddenFeature => "undefined instruction",
            GuestError::UnknownCall => "NOT_SUPPORTED",
            GuestError::PsciRefused => "PSCI error code",
        }
    }

    /// The kind of a refused MMIO access.
    pub const fn of_mmio(error: MmioError) -> Self {
        match error {
            MmioError::Unmapped => GuestError::OutsideMemory,
            MmioError::BadRegister | MmioError::ReadOnly | MmioError::WriteOnly => GuestError::DeviceRefused,
        }
    }

    /// The kind of an HVC/SMC with immediate `imm` and function id `function` that
    /// returned `x0`, if it is an error: an unknown call, or an implemented PSCI call that
    /// refused its arguments. Queries answered "not supported" — PSCI_FEATURES,
    /// SMCCC_ARCH_FEATURES and the discovery calls of [`is_discovery`] — are answers,
    /// not errors: a Linux guest makes some at every boot.
    pub fn of_call(imm: u16, function: u64, x0: u64) -> Option<Self> {
        let function = function as u32;
        if imm != 0 {
            return Some(GuestError::UnknownCall);
        }
        if !psci::implements(function) {
            return (!is_discovery(function)).then_some(GuestError::UnknownCall);
        }
        let refused = (x0 as i64) < 0 && function != psci::PSCI_FEATURES && function != psci::SMCCC_ARCH_FEATURES;
        refused.then_some(GuestError::PsciRefused)
    }
}

/// SMCCC function ids that ask whether a service is there (SMCCC 1.4, DEN0028, 6.2): a
/// service's Call Count, Call UID and Revision (function numbers 0xff00, 0xff01, 0xff03 of
/// any fast-call range), and TRNG_VERSION (DEN0098). Linux asks for the TRNG and for KVM's
/// vendor hypervisor services (its UID) at boot.
pub const fn is_discovery(function: u32) -> bool {
    const FAST_CALL: u32 = 1 << 31;
    const TRNG_VERSION: u32 = 0x8400_0050;
    let number = function & 0xffff;
    (function & FAST_CALL != 0 && matches!(number, 0xff00 | 0xff01 | 0xff03)) || function == TRNG_VERSION
}

/// The exception a guest gets for an exit Keel does not serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A synchronous external abort on the data access (`write`: it was a store).
    DataAbort { write: bool },
    /// A synchronous external abort on the instruction fetch.
    FetchAbort,
    /// An UNDEFINED instruction exception.
    Undefined,
}

/// For an exit no guest access can be served by (whatever the address or device), its
/// kind of error and the exception the guest gets; None for exits that may be served
/// (MMIO, system registers, calls, WFI/WFE, …) or that no guest instruction should cause.
pub fn unservable(exit: &Exit) -> Option<(GuestError, Answer)> {
    match *exit {
        Exit::AbortWithoutSyndrome { write, .. } => Some((GuestError::NoSyndrome, Answer::DataAbort { write })),
        Exit::InstructionAbort { .. } => Some((GuestError::InstructionFetch, Answer::FetchAbort)),
        Exit::HiddenFeature { .. } => Some((GuestError::HiddenFeature, Answer::Undefined)),
        _ => None,
    }
}

/// A VM's guest-error counters (since its last start), readable while it runs.
#[derive(Default)]
pub struct GuestErrors {
    counts: [AtomicU64; KINDS],
    /// Bit `k`: kind `k` was already logged since the last reset.
    logged: AtomicU32,
}

impl GuestErrors {
    /// Counts one error; true when it is the first of its kind since the last reset (the
    /// one to log).
    pub fn record(&self, kind: GuestError) -> bool {
        let index = kind as usize;
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        let bit = 1 << index;
        self.logged.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// The count of one kind.
    pub fn count(&self, kind: GuestError) -> u64 {
        self.counts[kind as usize].load(Ordering::Relaxed)
    }

    /// Every count, in the order of [`GuestError::ALL`].
    pub fn snapshot(&self) -> [u64; KINDS] {
        GuestError::ALL.map(|kind| self.count(kind))
    }

    /// All errors together.
    pub fn total(&self) -> u64 {
        self.snapshot().iter().sum()
    }

    /// Zeroes the counts and forgets what was logged (at the VM's start).
    pub fn reset(&self) {
        for count in &self.counts {
            count.store(0, Ordering::Relaxed);
        }
        self.logged.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
