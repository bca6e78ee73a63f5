//! Extraction of each part of the [`Platform`](super::Platform) from a checked device tree.

use fdt::Fdt;

use super::node::{self, Node};
use super::{push_or_too_many, FixedVec, MemoryRange, MmioDevice, PlatformError};
use super::{GicV3, PowerButton, TimerIrqs, MAX_CPUS, MAX_MEMORY_RANGES, MAX_RESERVED_RANGES, MAX_VIRTIO_MMIO};
use crate::psci::Conduit;

/// `linux,code` of the power key (KEY_POWER in Linux's input-event-codes.h).
const KEY_POWER: u32 = 116;

const PSCI_COMPATIBLES: [&str; 3] = ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"];

/// RAM ranges from the root's `device_type = "memory"` children.
pub(super) fn memory(
    root: Node<'_, '_>,
) -> Result<FixedVec<MemoryRange, MAX_MEMORY_RANGES>, PlatformError> {
    let mut memory = FixedVec::new();
    let memory_nodes = root.children().filter(|child| {
        node::string(*child, "device_type") == Some("memory") && node::is_enabled(*child)
    });
    for memory_node in memory_nodes {
        let ranges =
            node::reg_ranges(memory_node).ok_or(PlatformError::BadProperty("memory reg"))?;
        for range in ranges {
            let range = range.ok_or(PlatformError::BadProperty("memory reg"))?;
            if range.size != 0 {
                push_or_too_many(&mut memory, range, "memory ranges")?;
            }
        }
    }
    Ok(memory)
}

/// The memory reservation block's entries, then the `reg` of each `/reserved-memory` child
/// (children with only a `size` are allocated by the OS and reserve nothing yet).
pub(super) fn reserved(
    fdt: &Fdt<'_>,
    reservation_block: impl Iterator<Item = MemoryRange>,
) -> Result<FixedVec<MemoryRange, MAX_RESERVED_RANGES>, PlatformError> {
    let mut reserved = FixedVec::new();
    for range in reservation_block.filter(|range| range.size != 0) {
        push_or_too_many(&mut reserved, range, "reserved ranges")?;
    }
    let Some(reserved_memory) = node::find_path(fdt, "/reserved-memory") else {
        return Ok(reserved);
    };
    for child in reserved_memory
        .children()
        .filter(|child| node::is_enabled(*child))
    {
        if child.property("reg").is_none() {
            continue;
        }
        let ranges =
            node::reg_ranges(child).ok_or(PlatformError::BadProperty("reserved-memory reg"))?;
        for range in ranges {
            let range = range.ok_or(PlatformError::BadProperty("reserved-memory reg"))?;
            push_or_too_many(&mut reserved, range, "reserved ranges")?;
        }
    }
    Ok(reserved)
}

/// The initrd from `/chosen`; its start and end may each be one or two cells.
pub(super) fn initrd(chosen: Node<'_, '_>) -> Result<Option<MemoryRange>, PlatformError> {
    let start = chosen
        .property("linux,initrd-start")
        .map(|start| node::read_cells(start.value));
    let end = chosen
        .property("linux,initrd-end")
        .map(|end| node::read_cells(end.value));
    match (start, end) {
        (None, None) => Ok(None),
        (Some(Some(start)), Some(Some(end))) if end >= start => Ok(Some(MemoryRange {
            base: start,
            size: end - start,
        })),
        _ => Err(PlatformError::BadProperty("/chosen linux,initrd-start/end")),
    }
}

/// The PL011 `/chosen/stdout-path` names, else the first enabled PL011.
pub(super) fn uart(
    fdt: &Fdt<'_>,
    chosen: Option<Node<'_, '_>>,
) -> Result<Option<MmioDevice>, PlatformError> {
    let usable = |candidate: &Node<'_, '_>| {
        node::is_compatible(*candidate, "arm,pl011") && node::is_enabled(*candidate)
    };
    let named = chosen
        .and_then(|chosen| node::string(chosen, "stdout-path"))
        .and_then(|path| resolve_stdout_path(fdt, path))
        .filter(usable);
    named
        .or_else(|| fdt.all_nodes().find(usable))
        .map(|uart| mmio_device(uart, "pl011 reg"))
        .transpose()
}

/// Resolves a `stdout-path` value: options after ':' dropped, an alias looked up once in
/// `/aliases`.
fn resolve_stdout_path<'b, 'a>(fdt: &'b Fdt<'a>, stdout_path: &str) -> Option<Node<'b, 'a>> {
    let path = stdout_path.split(':').next()?;
    if path.starts_with('/') {
        return node::find_path(fdt, path);
    }
    let aliases = node::find_path(fdt, "/aliases")?;
    node::find_path(fdt, node::string(aliases, path)?)
}

fn mmio_device(device: Node<'_, '_>, what: &'static str) -> Result<MmioDevice, PlatformError> {
    let registers = node::first_reg(device).ok_or(PlatformError::BadProperty(what))?;
    Ok(MmioDevice {
        base: registers.base,
        size: registers.size,
        intid: node::interrupt(device, 0),
    })
}

/// The GICv3: `reg` = distributor, then the (first) redistributor region.
pub(super) fn gic(fdt: &Fdt<'_>) -> Result<Option<GicV3>, PlatformError> {
    let Some(gic) = fdt
        .all_nodes()
        .find(|candidate| node::is_compatible(*candidate, "arm,gic-v3"))
    else {
        return Ok(None);
    };
    let bad_reg = PlatformError::BadProperty("gic-v3 reg");
    let mut frames = node::reg_ranges(gic).ok_or(bad_reg)?;
    let distributor = frames.next().flatten().ok_or(bad_reg)?;
    let redistributors = frames.next().flatten().ok_or(bad_reg)?;
    Ok(Some(GicV3 {
        distributor,
        redistributors,
        maintenance_intid: node::interrupt(gic, 0),
    }))
}

/// The generic timer's four (or five) PPIs.
pub(super) fn timer(fdt: &Fdt<'_>) -> Result<Option<TimerIrqs>, PlatformError> {
    let Some(timer) = fdt
        .all_nodes()
        .find(|candidate| node::is_compatible(*candidate, "arm,armv8-timer"))
    else {
        return Ok(None);
    };
    let bad_interrupts = PlatformError::BadProperty("armv8-timer interrupts");
    let count = node::interrupt_count(timer).ok_or(bad_interrupts)?;
    let intid = |index| node::interrupt(timer, index).ok_or(bad_interrupts);
    Ok(Some(TimerIrqs {
        secure_phys: intid(0)?,
        nonsecure_phys: intid(1)?,
        virt: intid(2)?,
        hyp_phys: intid(3)?,
        hyp_virt: if count > 4 { Some(intid(4)?) } else { None },
    }))
}

/// The PSCI conduit from `method` of `/psci` (or of any node compatible with PSCI).
pub(super) fn psci(fdt: &Fdt<'_>) -> Result<Option<Conduit>, PlatformError> {
    let Some(psci) = node::find_path(fdt, "/psci").or_else(|| {
        fdt.all_nodes().find(|candidate| {
            PSCI_COMPATIBLES
                .iter()
                .any(|compatible| node::is_compatible(*candidate, compatible))
        })
    }) else {
        return Ok(None);
    };
    match node::string(psci, "method") {
        Some("hvc") => Ok(Some(Conduit::Hvc)),
        Some("smc") => Ok(Some(Conduit::Smc)),
        _ => Err(PlatformError::BadProperty("psci method")),
    }
}

/// MPIDRs from `reg` of the enabled `/cpus` children with `device_type = "cpu"`.
pub(super) fn cpus(fdt: &Fdt<'_>) -> Result<FixedVec<u64, MAX_CPUS>, PlatformError> {
    let mut cpus = FixedVec::new();
    let Some(cpus_node) = node::find_path(fdt, "/cpus") else {
        return Ok(cpus);
    };
    let cpu_nodes = cpus_node.children().filter(|child| {
        node::string(*child, "device_type") == Some("cpu") && node::is_enabled(*child)
    });
    for cpu in cpu_nodes {
        let mpidr = node::first_reg(cpu)
            .ok_or(PlatformError::BadProperty("cpu reg"))?
            .base;
        push_or_too_many(&mut cpus, mpidr, "CPUs")?;
    }
    Ok(cpus)
}

/// The `gpio-keys` key with `linux,code = <KEY_POWER>`, if its `gpios` names a PL061.
pub(super) fn power_button(fdt: &Fdt<'_>) -> Result<Option<PowerButton>, PlatformError> {
    let key_groups = fdt.all_nodes().filter(|candidate| {
        node::is_compatible(*candidate, "gpio-keys") && node::is_enabled(*candidate)
    });
    for key_group in key_groups {
        let Some(key) = key_group
            .children()
            .find(|key| node::cell(*key, "linux,code", 0) == Some(KEY_POWER))
        else {
            continue;
        };
        // gpios = <&controller pin flags>
        let bad_gpios = PlatformError::BadProperty("power key gpios");
        let controller_phandle = node::cell(key, "gpios", 0).ok_or(bad_gpios)?;
        let pin = node::cell(key, "gpios", 1).ok_or(bad_gpios)?;
        let controller = fdt.find_phandle(controller_phandle).filter(|controller| {
            node::is_compatible(*controller, "arm,pl061") && node::is_enabled(*controller)
        });
        if let Some(controller) = controller {
            return Ok(Some(PowerButton {
                gpio: mmio_device(controller, "pl061 reg")?,
                pin,
            }));
        }
    }
    Ok(None)
}

/// The enabled `virtio,mmio` nodes: registers and interrupt of each transport.
pub(super) fn virtio_mmio(
    fdt: &Fdt<'_>,
) -> Result<FixedVec<MmioDevice, MAX_VIRTIO_MMIO>, PlatformError> {
    let mut transports = FixedVec::new();
    let nodes = fdt.all_nodes().filter(|candidate| {
        node::is_compatible(*candidate, "virtio,mmio") && node::is_enabled(*candidate)
    });
    for transport in nodes {
        let device = mmio_device(transport, "virtio,mmio reg")?;
        push_or_too_many(&mut transports, device, "virtio-mmio transports")?;
    }
    Ok(transports)
}
