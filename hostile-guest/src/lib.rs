//! The hostile guest's pure parts: what a probe saw, what it should have seen, and the
//! words it prints for both (host-tested; the guest itself is `main.rs`).
#![cfg_attr(not(test), no_std)]

use core::fmt;

/// What a probe saw: the value it read or was returned, or the exception it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Completed(u64),
    Exception { esr: u64, far: u64 },
}

/// ESR exception classes the guest sees.
const EC_UNKNOWN: u64 = 0x00;
const EC_INSTRUCTION_ABORT_SAME: u64 = 0x21;
const EC_DATA_ABORT_SAME: u64 = 0x25;
/// Fault status code of a synchronous external abort.
const FSC_EXTERNAL: u64 = 0x10;

/// What a probe should see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A synchronous external abort on the data access (Keel's answer to a bus error).
    ExternalAbort,
    /// Any data abort (an address-size fault of the guest's own stage 1 included).
    DataAbort,
    /// A synchronous external abort on the instruction fetch.
    FetchAbort,
    /// An UNDEFINED instruction exception.
    Undefined,
    /// UNDEFINED, or no exception and the value 0: an implementation defined register
    /// where the CPU (or its emulator) does not trap it to Keel but has it read as zero
    /// and ignore writes (QEMU 7.2 `-cpu max` models some of them and lacks HCR_EL2.TIDCP).
    UndefinedOrZero,
    /// No exception and exactly this value (x0 of a call, a register read).
    Returns(u64),
    /// No exception and a value whose bits in `mask` are `bits`.
    Masked { mask: u64, bits: u64 },
    /// No exception, whatever the value.
    Completes,
}

impl Outcome {
    fn class(esr: u64) -> u64 {
        (esr >> 26) & 0x3f
    }
}

/// Whether `outcome` is what `expected` asks for.
pub fn judge(expected: Expected, outcome: Outcome) -> bool {
    match (expected, outcome) {
        (Expected::ExternalAbort, Outcome::Exception { esr, .. }) => {
            Outcome::class(esr) == EC_DATA_ABORT_SAME && esr & 0x3f == FSC_EXTERNAL
        }
        (Expected::DataAbort, Outcome::Exception { esr, .. }) => Outcome::class(esr) == EC_DATA_ABORT_SAME,
        (Expected::FetchAbort, Outcome::Exception { esr, .. }) => {
            Outcome::class(esr) == EC_INSTRUCTION_ABORT_SAME && esr & 0x3f == FSC_EXTERNAL
        }
        (Expected::Undefined | Expected::UndefinedOrZero, Outcome::Exception { esr, .. }) => {
            Outcome::class(esr) == EC_UNKNOWN
        }
        (Expected::UndefinedOrZero, Outcome::Completed(value)) => value == 0,
        (Expected::Returns(want), Outcome::Completed(value)) => value == want,
        (Expected::Masked { mask, bits }, Outcome::Completed(value)) => value & mask == bits,
        (Expected::Completes, Outcome::Completed(_)) => true,
        _ => false,
    }
}

/// The name of a PSCI/SMCCC return code, if `value` is one.
pub fn psci_code_name(value: u64) -> Option<&'static str> {
    Some(match value as i64 {
        -1 => "NOT_SUPPORTED",
        -2 => "INVALID_PARAMETERS",
        -3 => "DENIED",
        -4 => "ALREADY_ON",
        -5 => "ON_PENDING",
        -6 => "INTERNAL_FAILURE",
        -7 => "NOT_PRESENT",
        -8 => "DISABLED",
        -9 => "INVALID_ADDRESS",
        _ => return None,
    })
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Outcome::Completed(value) => match psci_code_name(value) {
                Some(name) => write!(f, "returned {} ({name})", value as i64),
                None => write!(f, "returned {value:#x}"),
            },
            Outcome::Exception { esr, far } => {
                let fsc = esr & 0x3f;
                let external = if fsc == FSC_EXTERNAL { "external abort" } else { "fault" };
                match Outcome::class(esr) {
                    EC_DATA_ABORT_SAME => write!(f, "data abort ({external}, FSC {fsc:#x}, FAR {far:#x})"),
                    EC_INSTRUCTION_ABORT_SAME => {
                        write!(f, "instruction abort ({external}, FSC {fsc:#x}, FAR {far:#x})")
                    }
                    EC_UNKNOWN => write!(f, "UNDEF"),
                    class => write!(f, "exception class {class:#x} (ESR {esr:#x})"),
                }
            }
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Expected::ExternalAbort => write!(f, "an external data abort"),
            Expected::DataAbort => write!(f, "a data abort"),
            Expected::FetchAbort => write!(f, "an external instruction abort"),
            Expected::Undefined => write!(f, "UNDEF"),
            Expected::UndefinedOrZero => write!(f, "UNDEF or zero"),
            Expected::Returns(value) => write!(f, "{}", Outcome::Completed(value)),
            Expected::Masked { mask, bits } => write!(f, "a value with bits {mask:#x} = {bits:#x}"),
            Expected::Completes => write!(f, "no exception"),
        }
    }
}

/// Accesses of a register sweep over one device and how many of them aborted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub writes: u64,
    pub write_aborts: u64,
    pub reads: u64,
    pub read_aborts: u64,
}

impl Sweep {
    /// Counts one access; `aborted` when it took an external abort.
    pub fn count(&mut self, write: bool, aborted: bool) {
        let (total, aborts) = if write {
            (&mut self.writes, &mut self.write_aborts)
        } else {
            (&mut self.reads, &mut self.read_aborts)
        };
        *total += 1;
        *aborts += u64::from(aborted);
    }
}

impl fmt::Display for Sweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} writes ({} aborted), {} reads ({} aborted)",
            self.writes, self.write_aborts, self.reads, self.read_aborts
        )
    }
}

/// A register value that means nothing: it differs per offset and pass so that no
/// register keeps one pattern by chance.
pub fn nonsense(offset: u64, pass: u64) -> u32 {
    let mixed = (offset ^ 0xa5a5_5a5a)
        .wrapping_mul(0x9e37_79b9)
        .wrapping_add(pass.wrapping_mul(0x7f4a_7c15));
    (mixed ^ (mixed >> 29)) as u32
}

/// Counts probes and those that saw what they should.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub probes: u32,
    pub as_expected: u32,
}

impl Tally {
    /// Judges one probe, counts it, and says whether it saw what it should.
    pub fn check(&mut self, expected: Expected, outcome: Outcome) -> bool {
        let good = judge(expected, outcome);
        self.probes += 1;
        self.as_expected += u32::from(good);
        good
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXTERNAL_DATA_ABORT: u64 = (0x25 << 26) | (1 << 25) | 0x10;
    const ADDRESS_SIZE_FAULT: u64 = (0x25 << 26) | (1 << 25);
    const FETCH_ABORT: u64 = (0x21 << 26) | (1 << 25) | 0x10;
    const UNDEF: u64 = 1 << 25;

    fn exception(esr: u64) -> Outcome {
        Outcome::Exception { esr, far: 0x1000 }
    }

    #[test]
    fn outcomes_are_judged_by_class_and_fault_status() {
        assert!(judge(Expected::ExternalAbort, exception(EXTERNAL_DATA_ABORT)));
        assert!(!judge(Expected::ExternalAbort, exception(ADDRESS_SIZE_FAULT)));
        assert!(judge(Expected::DataAbort, exception(ADDRESS_SIZE_FAULT)));
        assert!(!judge(Expected::DataAbort, exception(FETCH_ABORT)));
        assert!(judge(Expected::FetchAbort, exception(FETCH_ABORT)));
        assert!(!judge(Expected::FetchAbort, exception(EXTERNAL_DATA_ABORT)));
        assert!(judge(Expected::Undefined, exception(UNDEF)));
        assert!(!judge(Expected::Undefined, Outcome::Completed(0)));
        assert!(judge(Expected::UndefinedOrZero, exception(UNDEF)));
        assert!(judge(Expected::UndefinedOrZero, Outcome::Completed(0)));
        assert!(!judge(Expected::UndefinedOrZero, Outcome::Completed(0x41)));
        assert!(!judge(Expected::UndefinedOrZero, exception(EXTERNAL_DATA_ABORT)));
        assert!(judge(Expected::Returns(u64::MAX), Outcome::Completed(u64::MAX)));
        assert!(!judge(Expected::Returns(0), Outcome::Completed(1)));
        assert!(!judge(Expected::Returns(0), exception(UNDEF)));
        assert!(judge(
            Expected::Masked { mask: 0xf00, bits: 0 },
            Outcome::Completed(0x0ff)
        ));
        assert!(!judge(
            Expected::Masked { mask: 0xf00, bits: 0 },
            Outcome::Completed(0x100)
        ));
        assert!(judge(Expected::Completes, Outcome::Completed(7)));
        assert!(!judge(Expected::Completes, exception(EXTERNAL_DATA_ABORT)));
    }

    #[test]
    fn outcomes_print_what_the_guest_saw() {
        assert_eq!(
            exception(EXTERNAL_DATA_ABORT).to_string(),
            "data abort (external abort, FSC 0x10, FAR 0x1000)"
        );
        assert_eq!(
            exception(FETCH_ABORT).to_string(),
            "instruction abort (external abort, FSC 0x10, FAR 0x1000)"
        );
        assert_eq!(exception(UNDEF).to_string(), "UNDEF");
        assert_eq!(
            Outcome::Completed(-1i64 as u64).to_string(),
            "returned -1 (NOT_SUPPORTED)"
        );
        assert_eq!(Outcome::Completed(-4i64 as u64).to_string(), "returned -4 (ALREADY_ON)");
        assert_eq!(Outcome::Completed(0x10001).to_string(), "returned 0x10001");
        assert_eq!(
            Expected::Returns(-2i64 as u64).to_string(),
            "returned -2 (INVALID_PARAMETERS)"
        );
        assert_eq!(psci_code_name(0), None);
    }

    #[test]
    fn sweeps_and_tallies_count() {
        let mut sweep = Sweep::default();
        sweep.count(true, false);
        sweep.count(true, true);
        sweep.count(false, true);
        assert_eq!(sweep.to_string(), "2 writes (1 aborted), 1 reads (1 aborted)");
        let mut tally = Tally::default();
        assert!(tally.check(Expected::Undefined, exception(UNDEF)));
        assert!(!tally.check(Expected::Undefined, Outcome::Completed(0)));
        assert_eq!(
            tally,
            Tally {
                probes: 2,
                as_expected: 1
            }
        );
        assert_ne!(nonsense(0, 0), nonsense(4, 0));
        assert_ne!(nonsense(4, 0), nonsense(4, 1));
    }
}
