//! The guest device tree: QEMU `virt`'s nodes, written from [`crate::layout`] with vm-fdt.
//!
//! The nodes and their values follow QEMU's hw/arm/virt.c (GICv3, no ITS, no PMU, no PCI),
//! so a Linux guest configures itself as it does on bare QEMU. Interrupt trigger flags are
//! QEMU's too: level-high for the timers, UART and maintenance interrupt, edge-rising for
//! virtio-mmio.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use vm_fdt::FdtWriter;

use crate::layout;

#[cfg(test)]
mod tests;

/// Smallest guest RAM accepted.
pub const MIN_RAM_BYTES: u64 = 16 << 20;
/// Longest kernel command line, without its NUL (arm64 `COMMAND_LINE_SIZE` is 2048).
pub const MAX_BOOTARGS_LEN: usize = 2047;
/// Largest DTB Linux accepts (Documentation/arm64/booting.rst).
pub const MAX_DTB_BYTES: usize = crate::loader::DTB_MAX_BYTES as usize;

const GIC_PHANDLE: u32 = 1;
const CLOCK_PHANDLE: u32 = 2;
const APB_PCLK_HZ: u32 = 24_000_000;
/// The MPIDR bits that identify a CPU (Aff3 and Aff2..Aff0), the CPU node's `reg`.
const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;
const MPIDR_AFF3_MASK: u64 = 0xff_0000_0000;

// GIC interrupt specifier cells: type, number, flags.
const IRQ_TYPE_SPI: u32 = 0;
const IRQ_TYPE_PPI: u32 = 1;
const IRQ_EDGE_RISING: u32 = 1;
const IRQ_LEVEL_HIGH: u32 = 4;
/// Architected timer PPIs: secure physical, non-secure physical, virtual, hypervisor.
const TIMER_PPIS: [u32; 4] = [13, 14, layout::VTIMER_INTID - PPI_BASE, 10];
const SPI_BASE: u32 = 32;
const PPI_BASE: u32 = 16;

/// How the guest calls PSCI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    Hvc,
    Smc,
}

impl PsciMethod {
    /// The `/psci` node's `method` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hvc => "hvc",
            Self::Smc => "smc",
        }
    }
}

/// What the guest's device tree describes.
#[derive(Clone, Copy, Debug)]
pub struct GuestDtbConfig<'a> {
    /// RAM size; RAM starts at [`layout::RAM_BASE`].
    pub ram_bytes: u64,
    /// Each vCPU's MPIDR (only the affinity bits are used); the first boots.
    pub vcpu_mpidrs: &'a [u64],
    /// The kernel command line (empty: no `bootargs`).
    pub bootargs: &'a str,
    /// The initrd's guest physical [start, end).
    pub initrd: Option<(u64, u64)>,
    /// Which virtio-mmio slots (0..[`layout::VIRTIO_SLOTS`]) hold a device.
    pub virtio_slots: &'a [u32],
    pub psci_method: PsciMethod,
    /// Random bytes for the guest kernel, as QEMU and firmware give them: `/chosen`
    /// `kaslr-seed` (the first 8 bytes: Linux places itself at a random address) and
    /// `rng-seed` (the rest: early entropy). None: neither property.
    pub seeds: Option<&'a BootSeeds>,
}

/// The random bytes of [`GuestDtbConfig::seeds`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootSeeds {
    pub kaslr: u64,
    pub rng: [u8; RNG_SEED_BYTES],
}

/// Bytes of `/chosen/rng-seed` (what QEMU's `virt` gives too).
pub const RNG_SEED_BYTES: usize = 32;

/// Why a device tree was not written.
#[derive(Debug, PartialEq, Eq)]
pub enum DtbError {
    NoVcpus,
    TooManyVcpus { count: usize, max: u64 },
    /// Two vCPUs with the same affinity.
    DuplicateMpidr(u64),
    RamTooSmall { bytes: u64, min: u64 },
    /// RAM must be a whole number of 4 KiB pages and end below 2^64.
    RamSizeInvalid(u64),
    BootargsTooLong { len: usize, max: usize },
    BootargsContainNul,
    /// The initrd is empty, reversed or not inside RAM.
    InitrdInvalid { start: u64, end: u64 },
    VirtioSlotInvalid(u32),
    DuplicateVirtioSlot(u32),
    /// The finished tree is larger than [`MAX_DTB_BYTES`].
    TooLarge(usize),
    /// vm-fdt refused a node or property (a bug here, not a configuration error).
    Writer(vm_fdt::Error),
}

impl From<vm_fdt::Error> for DtbError {
    fn from(error: vm_fdt::Error) -> Self {
        Self::Writer(error)
    }
}

/// The checks [`build`] makes before writing anything; returns the RAM's end.
pub fn validate(config: &GuestDtbConfig) -> Result<u64, DtbError> {
    let vcpus = config.vcpu_mpidrs;
    if vcpus.is_empty() {
        return Err(DtbError::NoVcpus);
    }
    if vcpus.len() as u64 > layout::MAX_VCPUS {
        return Err(DtbError::TooManyVcpus { count: vcpus.len(), max: layout::MAX_VCPUS });
    }
    for (i, mpidr) in vcpus.iter().enumerate() {
        let affinity = mpidr & MPIDR_AFFINITY_MASK;
        if vcpus[..i].iter().any(|other| other & MPIDR_AFFINITY_MASK == affinity) {
            return Err(DtbError::DuplicateMpidr(affinity));
        }
    }
    if config.ram_bytes < MIN_RAM_BYTES {
        return Err(DtbError::RamTooSmall { bytes: config.ram_bytes, min: MIN_RAM_BYTES });
    }
    let ram_end = layout::RAM_BASE
        .checked_add(config.ram_bytes)
        .filter(|_| config.ram_bytes.is_multiple_of(4096))
        .ok_or(DtbError::RamSizeInvalid(config.ram_bytes))?;
    if config.bootargs.len() > MAX_BOOTARGS_LEN {
        return Err(DtbError::BootargsTooLong { len: config.bootargs.len(), max: MAX_BOOTARGS_LEN });
    }
    if config.bootargs.contains('\0') {
        return Err(DtbError::BootargsContainNul);
    }
    if let Some((start, end)) = config.initrd {
        if start >= end || start < layout::RAM_BASE || end > ram_end {
            return Err(DtbError::InitrdInvalid { start, end });
        }
    }
    for (i, &slot) in config.virtio_slots.iter().enumerate() {
        if u64::from(slot) >= layout::VIRTIO_SLOTS {
            return Err(DtbError::VirtioSlotInvalid(slot));
        }
        if config.virtio_slots[..i].contains(&slot) {
            return Err(DtbError::DuplicateVirtioSlot(slot));
        }
    }
    Ok(ram_end)
}

/// Writes the guest's DTB (at most [`MAX_DTB_BYTES`]).
pub fn build(config: &GuestDtbConfig) -> Result<Vec<u8>, DtbError> {
    validate(config)?;
    let mut fdt = FdtWriter::new()?;
    fdt.set_boot_cpuid_phys((config.vcpu_mpidrs[0] & MPIDR_AFFINITY_MASK) as u32);
    let root = fdt.begin_node("")?;
    fdt.property_string("compatible", "linux,dummy-virt")?;
    fdt.property_string("model", "linux,dummy-virt")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_u32("interrupt-parent", GIC_PHANDLE)?;

    write_chosen(&mut fdt, config)?;
    let aliases = fdt.begin_node("aliases")?;
    fdt.property_string("serial0", &uart_path())?;
    fdt.end_node(aliases)?;

    let memory = fdt.begin_node(&format!("memory@{:x}", layout::RAM_BASE))?;
    fdt.property_string("device_type", "memory")?;
    fdt.property_array_u64("reg", &[layout::RAM_BASE, config.ram_bytes])?;
    fdt.end_node(memory)?;

    write_cpus(&mut fdt, config.vcpu_mpidrs)?;

    let psci = fdt.begin_node("psci")?;
    property_strings(&mut fdt, "compatible", &["arm,psci-1.0", "arm,psci-0.2"])?;
    fdt.property_string("method", config.psci_method.as_str())?;
    fdt.end_node(psci)?;

    write_gic(&mut fdt, config.vcpu_mpidrs.len() as u64)?;

    let timer = fdt.begin_node("timer")?;
    property_strings(&mut fdt, "compatible", &["arm,armv8-timer", "arm,armv7-timer"])?;
    fdt.property_null("always-on")?;
    let cells: Vec<u32> = TIMER_PPIS.iter().flat_map(|&ppi| [IRQ_TYPE_PPI, ppi, IRQ_LEVEL_HIGH]).collect();
    fdt.property_array_u32("interrupts", &cells)?;
    fdt.end_node(timer)?;

    let clock = fdt.begin_node("apb-pclk")?;
    fdt.property_string("compatible", "fixed-clock")?;
    fdt.property_u32("#clock-cells", 0)?;
    fdt.property_u32("clock-frequency", APB_PCLK_HZ)?;
    fdt.property_string("clock-output-names", "clk24mhz")?;
    fdt.property_phandle(CLOCK_PHANDLE)?;
    fdt.end_node(clock)?;

    let uart = fdt.begin_node(&format!("pl011@{:x}", layout::UART_BASE))?;
    property_strings(&mut fdt, "compatible", &["arm,pl011", "arm,primecell"])?;
    fdt.property_array_u64("reg", &[layout::UART_BASE, layout::UART_SIZE])?;
    fdt.property_array_u32("interrupts", &[IRQ_TYPE_SPI, layout::UART_INTID - SPI_BASE, IRQ_LEVEL_HIGH])?;
    fdt.property_array_u32("clocks", &[CLOCK_PHANDLE, CLOCK_PHANDLE])?;
    property_strings(&mut fdt, "clock-names", &["uartclk", "apb_pclk"])?;
    fdt.end_node(uart)?;

    let mut slots: Vec<u32> = config.virtio_slots.to_vec();
    slots.sort_unstable(); // Linux probes in tree order: lowest slot first, as on QEMU
    for slot in slots {
        let base = layout::VIRTIO_BASE + u64::from(slot) * layout::VIRTIO_STRIDE;
        let node = fdt.begin_node(&format!("virtio_mmio@{base:x}"))?;
        fdt.property_string("compatible", "virtio,mmio")?;
        fdt.property_array_u64("reg", &[base, layout::VIRTIO_STRIDE])?;
        let spi = layout::VIRTIO_FIRST_INTID - SPI_BASE + slot;
        fdt.property_array_u32("interrupts", &[IRQ_TYPE_SPI, spi, IRQ_EDGE_RISING])?;
        fdt.property_null("dma-coherent")?;
        fdt.end_node(node)?;
    }

    fdt.end_node(root)?;
    let dtb = fdt.finish()?;
    if dtb.len() > MAX_DTB_BYTES {
        return Err(DtbError::TooLarge(dtb.len()));
    }
    Ok(dtb)
}

/// The console's node path, also `/chosen/stdout-path` and alias `serial0`.
pub fn uart_path() -> String {
    format!("/pl011@{:x}", layout::UART_BASE)
}

fn write_chosen(fdt: &mut FdtWriter, config: &GuestDtbConfig) -> Result<(), DtbError> {
    let chosen = fdt.begin_node("chosen")?;
    if !config.bootargs.is_empty() {
        fdt.property_string("bootargs", config.bootargs)?;
    }
    fdt.property_string("stdout-path", &uart_path())?;
    if let Some((start, end)) = config.initrd {
        fdt.property_u64("linux,initrd-start", start)?;
        fdt.property_u64("linux,initrd-end", end)?;
    }
    if let Some(seeds) = config.seeds {
        fdt.property_u64("kaslr-seed", seeds.kaslr)?;
        fdt.property("rng-seed", &seeds.rng)?;
    }
    fdt.end_node(chosen)?;
    Ok(())
}

/// `/cpus`: one cell of `reg` unless some vCPU has a non-zero Aff3 (QEMU's rule).
fn write_cpus(fdt: &mut FdtWriter, mpidrs: &[u64]) -> Result<(), DtbError> {
    let wide = mpidrs.iter().any(|mpidr| mpidr & MPIDR_AFF3_MASK != 0);
    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", if wide { 2 } else { 1 })?;
    fdt.property_u32("#size-cells", 0)?;
    for mpidr in mpidrs {
        let reg = mpidr & MPIDR_AFFINITY_MASK;
        let cpu = fdt.begin_node(&format!("cpu@{reg:x}"))?;
        fdt.property_string("device_type", "cpu")?;
        fdt.property_string("compatible", "arm,armv8")?;
        fdt.property_string("enable-method", "psci")?;
        if wide {
            fdt.property_u64("reg", reg)?;
        } else {
            fdt.property_u32("reg", reg as u32)?;
        }
        fdt.end_node(cpu)?;
    }
    fdt.end_node(cpus)?;
    Ok(())
}

/// `/intc`: GICv3 distributor plus one redistributor region sized for the vCPUs.
fn write_gic(fdt: &mut FdtWriter, vcpus: u64) -> Result<(), DtbError> {
    let gic = fdt.begin_node(&format!("intc@{:x}", layout::GICD_BASE))?;
    fdt.property_string("compatible", "arm,gic-v3")?;
    fdt.property_u32("#interrupt-cells", 3)?;
    fdt.property_null("interrupt-controller")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_null("ranges")?;
    fdt.property_u32("#redistributor-regions", 1)?;
    let redistributors = vcpus * layout::GICR_STRIDE;
    fdt.property_array_u64("reg", &[layout::GICD_BASE, layout::GICD_SIZE, layout::GICR_BASE, redistributors])?;
    let maintenance = layout::MAINTENANCE_INTID - PPI_BASE;
    fdt.property_array_u32("interrupts", &[IRQ_TYPE_PPI, maintenance, IRQ_LEVEL_HIGH])?;
    fdt.property_phandle(GIC_PHANDLE)?;
    fdt.end_node(gic)?;
    Ok(())
}

/// A string-list property ("a\0b\0").
fn property_strings(fdt: &mut FdtWriter, name: &str, values: &[&str]) -> Result<(), DtbError> {
    let mut bytes = Vec::new();
    for value in values {
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    fdt.property(name, &bytes)?;
    Ok(())
}
