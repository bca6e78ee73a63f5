//! A VM's statistics as `vm_vcpu_stats` and `vm_stats` report them, and their one text
//! rendering, shared by the shell's `vm stats` and the status page's `/status.txt`.
//!
//! The rendering needs `alloc` (both sides of the ABI have a heap); nothing else here does.

use crate::{field_text, VmDeviceStats};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Exit classes, the indices of [`VmVcpuStats::exits`].
pub const EXIT_MMIO_GICD: usize = 0;
pub const EXIT_MMIO_GICR: usize = 1;
pub const EXIT_MMIO_UART: usize = 2;
/// Any virtio-mmio slot with a device (split by slot in [`VmVcpuStats::virtio_exits`]).
pub const EXIT_MMIO_VIRTIO: usize = 3;
/// MMIO anywhere else: unmapped addresses, empty virtio slots.
pub const EXIT_MMIO_OTHER: usize = 4;
pub const EXIT_SYSREG: usize = 5;
pub const EXIT_WFI: usize = 6;
pub const EXIT_WFE: usize = 7;
/// HVC (PSCI and any other function ID).
pub const EXIT_HVC: usize = 8;
pub const EXIT_SMC: usize = 9;
/// A host interrupt pulled the vCPU out (timer tick, IPI, a device of the host).
pub const EXIT_IRQ: usize = 10;
/// A first touch of guest RAM (the block is zeroed and mapped, the access retried).
pub const EXIT_STAGE2: usize = 11;
/// Everything else (instruction aborts, hidden features, SError, …).
pub const EXIT_OTHER: usize = 12;
/// The names of the classes, in index order.
pub const EXIT_CLASS_NAMES: [&str; 13] = [
    "mmio-gicd",
    "mmio-gicr",
    "mmio-uart",
    "mmio-virtio",
    "mmio-other",
    "sysreg",
    "wfi",
    "wfe",
    "hvc",
    "smc",
    "irq",
    "stage2",
    "other",
];
/// Room in [`VmVcpuStats::exits`] (classes may be added without changing the layout).
pub const EXIT_CLASSES: usize = 16;

/// Interrupt sources, the indices of [`VmVcpuStats::irqs`].
pub const IRQ_SGI: usize = 0;
/// The virtual timer (PPI 27).
pub const IRQ_TIMER: usize = 1;
/// Other private interrupts (PPIs but the timer).
pub const IRQ_PPI: usize = 2;
/// The PL011's SPI.
pub const IRQ_UART: usize = 3;
/// The virtio devices' SPIs (split by slot in [`VmVcpuStats::virtio_irqs`]).
pub const IRQ_VIRTIO: usize = 4;
/// Any other SPI.
pub const IRQ_SPI: usize = 5;
pub const IRQ_SOURCE_NAMES: [&str; 6] = ["sgi", "timer", "ppi", "uart", "virtio", "spi"];
pub const IRQ_SOURCES: usize = 8;

/// Virtio slots counted one by one (the slots Keel gives devices: 0..=6).
pub const STATS_VIRTIO_SLOTS: usize = 8;

/// vCPU power states, as [`VmVcpuStats::power`] reports them.
pub const VCPU_POWER_OFF: u32 = 0;
pub const VCPU_POWER_ON: u32 = 1;
/// PSCI CPU_ON was accepted; the thread has not started yet.
pub const VCPU_POWER_PENDING: u32 = 2;

/// One vCPU as `vm_vcpu_stats` reports it: counters since the VM's last start (after it
/// stopped, those of the run that ended).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmVcpuStats {
    pub index: u32,
    /// [`VCPU_POWER_OFF`], [`VCPU_POWER_ON`] or [`VCPU_POWER_PENDING`].
    pub power: u32,
    /// Its thread's id (0 when it has none).
    pub tid: u64,
    /// CPU time of its thread (guest and exit handling), in nanoseconds.
    pub cpu_time_ns: u64,
    /// Exits by class ([`EXIT_MMIO_GICD`], …).
    pub exits: [u64; EXIT_CLASSES],
    /// MMIO exits per virtio slot.
    pub virtio_exits: [u64; STATS_VIRTIO_SLOTS],
    /// Interrupts injected (put into a list register) by source ([`IRQ_SGI`], …).
    pub irqs: [u64; IRQ_SOURCES],
    /// Virtio interrupts injected per slot.
    pub virtio_irqs: [u64; STATS_VIRTIO_SLOTS],
    /// Synchronous external aborts injected (an MMIO access no device took).
    pub aborts_injected: u64,
    /// UNDEFINED exceptions injected (trapped registers and instructions of hidden features).
    pub undefs_injected: u64,
    /// Exits Keel could not handle (the VM crashed on them).
    pub unhandled: u64,
}

impl Default for VmVcpuStats {
    fn default() -> Self {
        Self {
            index: 0,
            power: 0,
            tid: 0,
            cpu_time_ns: 0,
            exits: [0; EXIT_CLASSES],
            virtio_exits: [0; STATS_VIRTIO_SLOTS],
            irqs: [0; IRQ_SOURCES],
            virtio_irqs: [0; STATS_VIRTIO_SLOTS],
            aborts_injected: 0,
            undefs_injected: 0,
            unhandled: 0,
        }
    }
}

impl VmVcpuStats {
    /// Every exit counted.
    pub fn total_exits(&self) -> u64 {
        self.exits.iter().sum()
    }

    /// Every interrupt injected.
    pub fn total_irqs(&self) -> u64 {
        self.irqs.iter().sum()
    }

    /// Adds `other`'s counters to these (for a VM's totals).
    pub fn add(&mut self, other: &VmVcpuStats) {
        self.cpu_time_ns += other.cpu_time_ns;
        let pairs = self
            .exits
            .iter_mut()
            .zip(&other.exits)
            .chain(self.virtio_exits.iter_mut().zip(&other.virtio_exits));
        for (sum, value) in pairs
            .chain(self.irqs.iter_mut().zip(&other.irqs))
            .chain(self.virtio_irqs.iter_mut().zip(&other.virtio_irqs))
        {
            *sum += value;
        }
        self.aborts_injected += other.aborts_injected;
        self.undefs_injected += other.undefs_injected;
        self.unhandled += other.unhandled;
    }
}

/// The sum over every vCPU.
pub fn totals(vcpus: &[VmVcpuStats]) -> VmVcpuStats {
    let mut total = VmVcpuStats::default();
    for vcpu in vcpus {
        total.add(vcpu);
    }
    total
}

/// The name of a vCPU power state.
pub const fn vcpu_power_name(power: u32) -> &'static str {
    match power {
        VCPU_POWER_OFF => "off",
        VCPU_POWER_ON => "on",
        VCPU_POWER_PENDING => "starting",
        _ => "unknown",
    }
}

/// Seconds with two decimals.
pub fn seconds(ns: u64) -> String {
    format!("{}.{:02}", ns / 1_000_000_000, ns % 1_000_000_000 / 10_000_000)
}

/// What the guest calls the device in `slot` (`slotN` when no device is listed).
fn slot_name(devices: &[VmDeviceStats], slot: usize) -> String {
    match devices.iter().find(|d| d.slot as usize == slot) {
        Some(device) => field_text(&device.guest_name).into(),
        None => format!("slot{slot}"),
    }
}

/// One labelled row of counters: a value per vCPU and the total.
pub struct CounterRow {
    /// `exits`, `irqs`, `errors`.
    pub group: &'static str,
    /// The class, source or error: `wfi`, `mmio-hvc0`, `aborts injected`.
    pub label: String,
    pub per_vcpu: Vec<u64>,
    pub total: u64,
}

fn counter_row(
    group: &'static str,
    label: String,
    vcpus: &[VmVcpuStats],
    value: impl Fn(&VmVcpuStats) -> u64,
) -> CounterRow {
    let per_vcpu: Vec<u64> = vcpus.iter().map(&value).collect();
    CounterRow {
        group,
        label,
        total: per_vcpu.iter().sum(),
        per_vcpu,
    }
}

/// Every counter of a VM as rows: exits by class (MMIO by device: GIC distributor and
/// redistributors, UART, each virtio device, other), interrupts injected by source (each
/// virtio device's SPI apart), errors. The text and the status page's HTML are made from
/// these rows.
pub fn counter_rows(vcpus: &[VmVcpuStats], devices: &[VmDeviceStats]) -> Vec<CounterRow> {
    let mut rows = Vec::new();
    let total = totals(vcpus);
    let slots: Vec<usize> = (0..STATS_VIRTIO_SLOTS)
        .filter(|&slot| {
            devices.iter().any(|d| d.slot as usize == slot) || total.virtio_exits[slot] + total.virtio_irqs[slot] != 0
        })
        .collect();
    rows.push(counter_row("exits", "all".into(), vcpus, VmVcpuStats::total_exits));
    for (class, name) in EXIT_CLASS_NAMES.iter().enumerate() {
        if class == EXIT_MMIO_VIRTIO {
            for &slot in &slots {
                rows.push(counter_row(
                    "exits",
                    format!("mmio-{}", slot_name(devices, slot)),
                    vcpus,
                    |v| v.virtio_exits[slot],
                ));
            }
            continue;
        }
        rows.push(counter_row("exits", (*name).into(), vcpus, |v| v.exits[class]));
    }
    rows.push(counter_row("irqs", "all".into(), vcpus, VmVcpuStats::total_irqs));
    for (source, name) in IRQ_SOURCE_NAMES.iter().enumerate() {
        if source == IRQ_VIRTIO {
            for &slot in &slots {
                rows.push(counter_row("irqs", slot_name(devices, slot), vcpus, |v| {
                    v.virtio_irqs[slot]
                }));
            }
            continue;
        }
        rows.push(counter_row("irqs", (*name).into(), vcpus, |v| v.irqs[source]));
    }
    rows.push(counter_row("errors", "aborts injected".into(), vcpus, |v| {
        v.aborts_injected
    }));
    rows.push(counter_row("errors", "undefs injected".into(), vcpus, |v| {
        v.undefs_injected
    }));
    rows.push(counter_row("errors", "unhandled exits".into(), vcpus, |v| v.unhandled));
    let virtqueue_errors: u64 = devices.iter().map(|d| d.guest_errors).sum();
    rows.push(CounterRow {
        group: "errors",
        label: "virtio errors".into(),
        per_vcpu: alloc::vec![0; vcpus.len()],
        total: virtqueue_errors,
    });
    rows
}

/// A text table: columns two blanks apart, each left- or right-aligned, no trailing blanks.
pub fn table(header: &[&str], right: &[bool], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut push_row = |cells: &[&str]| {
        let mut line = String::new();
        for (column, cell) in cells.iter().enumerate() {
            let pad = widths
                .get(column)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            if column > 0 {
                line.push_str("  ");
            }
            if right.get(column).copied().unwrap_or(false) {
                line.extend(core::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(core::iter::repeat_n(' ', pad));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    };
    push_row(header);
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        push_row(&cells);
    }
    text
}

/// The vCPU table: one column per vCPU and TOTAL; state, thread, CPU time, then every
/// counter row.
pub fn vcpus_text(vcpus: &[VmVcpuStats], devices: &[VmDeviceStats]) -> String {
    let heads: Vec<String> = vcpus.iter().map(|v| format!("vcpu{}", v.index)).collect();
    let mut header: Vec<&str> = alloc::vec!["", ""];
    header.extend(heads.iter().map(String::as_str));
    header.push("TOTAL");
    let mut right = alloc::vec![false, false];
    right.resize(header.len(), true);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |group: &str, label: &str, cells: Vec<String>, total: String| {
        let mut row = alloc::vec![String::from(group), String::from(label)];
        row.extend(cells);
        row.push(total);
        rows.push(row);
    };
    row(
        "vcpu",
        "state",
        vcpus.iter().map(|v| vcpu_power_name(v.power).into()).collect(),
        String::new(),
    );
    row(
        "",
        "thread",
        vcpus
            .iter()
            .map(|v| if v.tid == 0 { "-".into() } else { v.tid.to_string() })
            .collect(),
        String::new(),
    );
    let cpu: u64 = vcpus.iter().map(|v| v.cpu_time_ns).sum();
    row(
        "",
        "cpu time (s)",
        vcpus.iter().map(|v| seconds(v.cpu_time_ns)).collect(),
        seconds(cpu),
    );
    let mut last_group = "";
    for counter in counter_rows(vcpus, devices) {
        let group = if counter.group == last_group { "" } else { counter.group };
        last_group = counter.group;
        let cells = if counter.group == "errors" && counter.label == "virtio errors" {
            counter.per_vcpu.iter().map(|_| String::from("-")).collect()
        } else {
            counter.per_vcpu.iter().map(u64::to_string).collect()
        };
        row(group, &counter.label, cells, counter.total.to_string());
    }
    table(&header, &right, &rows)
}

/// The device table: one row per virtio device, by slot.
pub fn devices_text(devices: &[VmDeviceStats]) -> String {
    let mut sorted: Vec<&VmDeviceStats> = devices.iter().collect();
    sorted.sort_by_key(|s| s.slot);
    let rows: Vec<Vec<String>> = sorted
        .iter()
        .map(|s| {
            alloc::vec![
                field_text(&s.guest_name).into(),
                field_text(&s.kind).into(),
                match field_text(&s.detail) {
                    "" => "-".into(),
                    detail => detail.into(),
                },
                s.notifications.to_string(),
                s.chains.to_string(),
                s.interrupts.to_string(),
                s.requests.to_string(),
                s.bytes_in.to_string(),
                s.bytes_out.to_string(),
                s.guest_errors.to_string(),
                if s.needs_reset != 0 {
                    "needs-reset".into()
                } else {
                    "ok".into()
                },
            ]
        })
        .collect();
    table(
        &[
            "DEVICE", "KIND", "DISK", "NOTIFY", "CHAINS", "IRQS", "REQS", "IN", "OUT", "ERRORS", "STATE",
        ],
        &[false, false, false, true, true, true, true, true, true, true, false],
        &rows,
    )
}

/// The whole report: the vCPU table, a blank line, the device table (or a note that the
/// VM has had no devices yet).
pub fn report(vcpus: &[VmVcpuStats], devices: &[VmDeviceStats]) -> String {
    let mut text = vcpus_text(vcpus, devices);
    text.push('\n');
    if devices.is_empty() {
        text.push_str("no devices yet (they exist once the VM has started)\n");
    } else {
        text.push_str(&devices_text(devices));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{name_field, small_field};

    fn device(slot: u32, name: &str, kind: &str) -> VmDeviceStats {
        VmDeviceStats {
            slot,
            kind: small_field(kind),
            guest_name: small_field(name),
            ..VmDeviceStats::default()
        }
    }

    fn vcpu(index: u32, wfi: u64, mmio_hvc0: u64) -> VmVcpuStats {
        let mut stats = VmVcpuStats {
            index,
            power: VCPU_POWER_ON,
            tid: 10 + u64::from(index),
            cpu_time_ns: 1_500_000_000,
            ..Default::default()
        };
        stats.exits[EXIT_WFI] = wfi;
        stats.exits[EXIT_MMIO_VIRTIO] = mmio_hvc0;
        stats.virtio_exits[0] = mmio_hvc0;
        stats.exits[EXIT_MMIO_GICD] = 3;
        stats.irqs[IRQ_TIMER] = 7;
        stats.virtio_irqs[0] = 2;
        stats.irqs[IRQ_VIRTIO] = 2;
        stats
    }

    /// The row whose label cell is `label` (after the group cell), as its cells.
    fn row<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
        text.lines()
            .map(|line| {
                line.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect::<Vec<_>>()
            })
            .find_map(|cells| cells.iter().position(|c| *c == label).map(|at| cells[at..].to_vec()))
            .unwrap_or_else(|| panic!("no row {label} in\n{text}"))
    }

    #[test]
    fn sums_and_columns_per_vcpu() {
        let vcpus = [vcpu(0, 100, 5), vcpu(1, 40, 1)];
        let devices = [device(0, "hvc0", "console"), device(1, "hwrng", "rng")];
        let total = totals(&vcpus);
        assert_eq!(total.exits[EXIT_WFI], 140);
        assert_eq!(total.total_exits(), 100 + 5 + 3 + 40 + 1 + 3);
        assert_eq!(total.cpu_time_ns, 3_000_000_000);
        let text = vcpus_text(&vcpus, &devices);
        assert!(
            text.lines()
                .next()
                .is_some_and(|h| h.trim_start().starts_with("vcpu0  vcpu1  TOTAL")),
            "{text}"
        );
        assert_eq!(row(&text, "wfi"), ["wfi", "100", "40", "140"]);
        assert_eq!(row(&text, "mmio-hvc0"), ["mmio-hvc0", "5", "1", "6"]);
        assert_eq!(row(&text, "mmio-hwrng"), ["mmio-hwrng", "0", "0", "0"]);
        assert_eq!(row(&text, "cpu time (s)"), ["cpu time (s)", "1.50", "1.50", "3.00"]);
        assert_eq!(row(&text, "hvc0"), ["hvc0", "2", "2", "4"]);
        assert_eq!(row(&text, "timer"), ["timer", "7", "7", "14"]);
        assert_eq!(row(&text, "state"), ["state", "on", "on"]);
        // The virtio class is only shown split by device.
        assert!(!text.contains("mmio-virtio"), "{text}");
        assert_eq!(row(&text, "all"), ["all", "108", "44", "152"]);
    }

    #[test]
    fn errors_add_device_errors() {
        let mut broken = device(1, "hwrng", "rng");
        broken.guest_errors = 4;
        let stats = VmVcpuStats {
            aborts_injected: 2,
            ..Default::default()
        };
        let text = vcpus_text(&[stats], &[broken]);
        assert_eq!(row(&text, "aborts injected"), ["aborts injected", "2", "2"]);
        assert_eq!(row(&text, "virtio errors"), ["virtio errors", "-", "4"]);
    }

    #[test]
    fn unknown_slots_with_counts_are_named_by_number() {
        let mut stats = VmVcpuStats::default();
        stats.virtio_exits[5] = 9;
        let rows = counter_rows(&[stats], &[]);
        assert!(rows.iter().any(|r| r.label == "mmio-slot5" && r.total == 9));
        assert!(!rows.iter().any(|r| r.label == "mmio-slot4"));
    }

    #[test]
    fn device_table_and_report() {
        let mut disk = device(2, "vda", "block");
        disk.detail = name_field("data");
        disk.needs_reset = 1;
        disk.guest_errors = 1;
        let text = devices_text(&[disk]);
        assert!(text.starts_with("DEVICE  KIND   DISK  NOTIFY"), "{text}");
        assert!(
            text.contains("vda     block  data") && text.ends_with("1  needs-reset\n"),
            "{text}"
        );
        let whole = report(&[VmVcpuStats::default()], &[]);
        assert!(
            whole.ends_with("no devices yet (they exist once the VM has started)\n"),
            "{whole}"
        );
        assert_eq!(seconds(12_345_678_901), "12.34");
        assert_eq!(vcpu_power_name(VCPU_POWER_PENDING), "starting");
        assert_eq!(core::mem::size_of::<VmVcpuStats>(), 384 - 16);
    }
}
