//! GICv3 interrupt controller: distributor, redistributors and the system-register CPU interface.
//!
//! The driver assumes the configuration QEMU `virt` presents to software at EL2: a GIC with
//! a single Security state (GICD_CTLR.DS = 1), affinity routing, all interrupts in Group 1
//! (non-secure), one priority for everything (0xa0) and EOImode 0 (end of interrupt both
//! drops priority and deactivates).
//!
//! INTID ranges: 0..16 SGIs, 16..32 PPIs (both private to a CPU, configured in its
//! redistributor), 32..1020 SPIs (shared, configured in the distributor), 1020..=1023 special.

mod distributor;
mod encoding;
mod redistributor;

#[cfg(target_arch = "aarch64")]
pub mod cpu_interface;

pub use distributor::Distributor;
pub use encoding::{decode_iar, gicr_affinity, irouter_value, sgi1r_value, SgiTarget};
pub use redistributor::Redistributor;

use core::fmt;

/// Priority given to every interrupt by `init` (lower value = more urgent).
pub const DEFAULT_PRIORITY: u8 = 0xa0;

/// Number of software-generated interrupts (INTIDs 0..16).
pub const SGI_COUNT: u32 = 16;

/// Number of private interrupts per CPU: SGIs and PPIs (INTIDs 0..32).
pub const PRIVATE_INTID_COUNT: u32 = 32;

/// First shared peripheral interrupt.
pub const FIRST_SPI: u32 = 32;

/// INTIDs 1020..=1023 are special: the CPU interface returns them instead of a real
/// interrupt (1023 = nothing pending).
pub const SPECIAL_INTIDS: core::ops::RangeInclusive<u32> = 1020..=1023;

/// How long the driver polls a "write pending" or "children asleep" bit before giving up.
const POLL_LIMIT: u32 = 1_000_000;

/// How an interrupt line signals: as a level or as an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Level-sensitive: pending while the line is asserted.
    Level,
    /// Edge-triggered: pending on a rising edge.
    Edge,
}

/// Why a GIC operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// The INTID is not an SPI this distributor implements.
    NotSpi(u32),
    /// The INTID is not an SGI or PPI (0..32).
    NotPrivate(u32),
    /// The INTID is not an SGI (0..16).
    NotSgi(u32),
    /// The GIC did not clear a busy bit (GICD/GICR_CTLR.RWP or GICR_WAKER.ChildrenAsleep)
    /// within the polling limit.
    Timeout,
}

impl fmt::Display for GicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSpi(intid) => write!(f, "INTID {intid} is not an SPI of this GIC"),
            Self::NotPrivate(intid) => write!(f, "INTID {intid} is not an SGI or PPI (0..32)"),
            Self::NotSgi(intid) => write!(f, "INTID {intid} is not an SGI (0..16)"),
            Self::Timeout => write!(f, "the GIC stayed busy past the polling limit"),
        }
    }
}

/// Polls `busy` until it returns false, at most [`POLL_LIMIT`] times.
fn wait_until_idle(mut busy: impl FnMut() -> bool) -> Result<(), GicError> {
    for _ in 0..POLL_LIMIT {
        if !busy() {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(GicError::Timeout)
}

/// The 32-bit register index and bit of `intid` in a one-bit-per-INTID register array
/// (ISENABLER, ICENABLER, IGROUPR, ...).
fn bit_position(intid: u32) -> (usize, u32) {
    ((intid / 32) as usize, 1 << (intid % 32))
}
