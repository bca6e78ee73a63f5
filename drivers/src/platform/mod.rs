//! The machine as the device tree describes it: memory, CPUs, devices, boot arguments.
//!
//! [`Platform::parse`] reads a DTB into a plain, allocation-free [`Platform`]. It never
//! panics on a bad blob: the blob is checked structurally first, and every value is read
//! with bounds checks. Addresses are physical, taken from `reg` as they are: QEMU `virt` puts
//! every device this parses directly under the root, so no `ranges` translation applies.
//! Interrupt specifiers are read in the 3-cell GIC format.

mod devices;
mod dtb_check;
mod fixed_vec;
mod node;

#[cfg(test)]
mod malformed_tests;
#[cfg(test)]
mod test_dtb;
#[cfg(test)]
mod tests;

use core::fmt;

use fdt::Fdt;

use crate::psci::Conduit;

pub use fixed_vec::{CapacityExceeded, FixedVec};
pub use node::decode_gic_interrupt;

/// Most RAM ranges [`Platform::memory`] holds.
pub const MAX_MEMORY_RANGES: usize = 8;
/// Most reserved ranges [`Platform::reserved`] holds.
pub const MAX_RESERVED_RANGES: usize = 16;
/// Most CPUs [`Platform::cpus`] holds.
pub const MAX_CPUS: usize = 64;
/// Most virtio-mmio transports [`Platform::virtio_mmio`] holds (QEMU `virt` has 32).
pub const MAX_VIRTIO_MMIO: usize = 64;

/// A range of physical addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryRange {
    /// First address.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl MemoryRange {
    /// One past the last address (saturating at `u64::MAX`).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// A memory-mapped device: its register range and its interrupt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmioDevice {
    /// Physical address of the registers.
    pub base: u64,
    /// Size of the register range in bytes.
    pub size: u64,
    /// INTID of the device's (first) interrupt, if it has one.
    pub intid: Option<u32>,
}

/// Where a GICv3's register frames are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicV3 {
    /// The distributor (GICD) frame.
    pub distributor: MemoryRange,
    /// The (first) redistributor region: one GICR frame pair per CPU.
    pub redistributors: MemoryRange,
    /// INTID of the virtual-interface maintenance interrupt (a PPI), if given.
    pub maintenance_intid: Option<u32>,
}

/// INTIDs of the generic timer's interrupts (all PPIs), in the order of the
/// `arm,armv8-timer` binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerIrqs {
    /// Secure EL1 physical timer.
    pub secure_phys: u32,
    /// Non-secure EL1 physical timer.
    pub nonsecure_phys: u32,
    /// EL1 virtual timer.
    pub virt: u32,
    /// EL2 physical timer (the one Keel uses for itself).
    pub hyp_phys: u32,
    /// EL2 virtual timer, when the DTB lists it (QEMU 7.2 does not).
    pub hyp_virt: Option<u32>,
}

/// The power button: a GPIO line of a PL061.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerButton {
    /// The PL061 controller.
    pub gpio: MmioDevice,
    /// The controller's line the button drives.
    pub pin: u32,
}

/// What the device tree says about the machine.
#[derive(Clone, Debug)]
pub struct Platform<'a> {
    /// RAM, from every `device_type = "memory"` node, empty ranges left out.
    pub memory: FixedVec<MemoryRange, MAX_MEMORY_RANGES>,
    /// Memory not to use: the DTB's memory reservation block, then `/reserved-memory`
    /// children that have a `reg`.
    pub reserved: FixedVec<MemoryRange, MAX_RESERVED_RANGES>,
    /// The initial ramdisk, from `/chosen` `linux,initrd-start` / `linux,initrd-end`.
    pub initrd: Option<MemoryRange>,
    /// The kernel command line, from `/chosen` `bootargs`.
    pub bootargs: Option<&'a str>,
    /// The console: the PL011 `/chosen/stdout-path` names, else the first enabled PL011.
    pub uart: Option<MmioDevice>,
    /// The GICv3 (`arm,gic-v3`).
    pub gic: Option<GicV3>,
    /// The generic timer's interrupts (`arm,armv8-timer`).
    pub timer: Option<TimerIrqs>,
    /// How to call PSCI firmware, from `/psci` `method`.
    pub psci: Option<Conduit>,
    /// MPIDR of each enabled CPU, from `reg` of the `/cpus` children with `device_type = "cpu"`.
    pub cpus: FixedVec<u64, MAX_CPUS>,
    /// The power button (`gpio-keys` child with `linux,code = <116>` on a PL061).
    pub power_button: Option<PowerButton>,
    /// Every enabled `virtio,mmio` transport, in tree order (most are empty slots: the
    /// device ID register tells).
    pub virtio_mmio: FixedVec<MmioDevice, MAX_VIRTIO_MMIO>,
    /// Random bytes the loader left in `/chosen` `rng-seed` (QEMU fills it from the
    /// machine's entropy), if any.
    pub rng_seed: Option<&'a [u8]>,
}

/// Why a DTB could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// The blob does not start with the FDT magic number.
    NotADeviceTree,
    /// The blob is shorter than its header or its header's `totalsize`.
    Truncated,
    /// The header names a format version this parser does not read (it reads 17).
    UnsupportedVersion(u32),
    /// The blob's structure is broken at byte `offset`.
    Malformed {
        /// Byte offset in the blob.
        offset: usize,
        /// What is wrong there.
        reason: &'static str,
    },
    /// A property this parser relies on has an unusable value (e.g. "/chosen initrd").
    BadProperty(&'static str),
    /// More entries than a fixed-capacity list holds (e.g. "memory ranges").
    TooMany {
        /// Which list.
        what: &'static str,
        /// Its capacity.
        capacity: usize,
    },
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotADeviceTree => f.write_str("not a device tree (bad magic)"),
            Self::Truncated => f.write_str("device tree is truncated"),
            Self::UnsupportedVersion(version) => {
                write!(f, "device tree version {version} is not supported")
            }
            Self::Malformed { offset, reason } => {
                write!(f, "malformed device tree at byte {offset:#x}: {reason}")
            }
            Self::BadProperty(what) => {
                write!(f, "device tree property {what} has an unusable value")
            }
            Self::TooMany { what, capacity } => {
                write!(f, "device tree lists more than {capacity} {what}")
            }
        }
    }
}

impl<'a> Platform<'a> {
    /// Reads the machine description out of a flattened device tree.
    pub fn parse(dtb: &'a [u8]) -> Result<Self, PlatformError> {
        let checked = dtb_check::check(dtb)?;
        let fdt = Fdt::new(dtb).map_err(|_| PlatformError::Truncated)?;
        let root = node::root(&fdt).ok_or(PlatformError::Malformed {
            offset: 0,
            reason: "no root node",
        })?;
        let chosen = node::find_path(&fdt, "/chosen");
        Ok(Self {
            memory: devices::memory(root)?,
            reserved: devices::reserved(&fdt, dtb_check::reservations(dtb, checked))?,
            initrd: chosen.map(devices::initrd).transpose()?.flatten(),
            bootargs: chosen.and_then(|chosen| node::string(chosen, "bootargs")),
            uart: devices::uart(&fdt, chosen)?,
            gic: devices::gic(&fdt)?,
            timer: devices::timer(&fdt)?,
            psci: devices::psci(&fdt)?,
            cpus: devices::cpus(&fdt)?,
            power_button: devices::power_button(&fdt)?,
            virtio_mmio: devices::virtio_mmio(&fdt)?,
            rng_seed: chosen
                .and_then(|chosen| chosen.property("rng-seed"))
                .map(|property| property.value)
                .filter(|seed| !seed.is_empty()),
        })
    }
}

/// Pushes `value`, turning a full list into [`PlatformError::TooMany`].
fn push_or_too_many<T: Copy + Default, const N: usize>(
    list: &mut FixedVec<T, N>,
    value: T,
    what: &'static str,
) -> Result<(), PlatformError> {
    list.push(value)
        .map_err(|CapacityExceeded| PlatformError::TooMany { what, capacity: N })
}
