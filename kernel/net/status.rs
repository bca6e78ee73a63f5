//! What the network reports — interfaces, switch ports, forwards, leases, VMs with their
//! counters — as a snapshot, rendered as text (the shell's `net`, the status page's
//! `/status.txt`) and HTML (the status page).

use super::link::LinkCounters;
use super::switch::{format_mac, Mac, PortInfo};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use keel_abi::vmstats;
use keel_abi::{VmDeviceStats, VmVcpuStats};
use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

/// One smoltcp interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceStatus {
    pub name: String,
    pub mac: Mac,
    pub address: Option<Ipv4Cidr>,
    pub gateway: Option<Ipv4Address>,
    /// How it got its address ("dhcp", "static") or why it has none ("waiting for DHCP").
    pub how: String,
    pub counters: LinkCounters,
}

/// One port forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardStatus {
    pub wan_port: u16,
    pub guest: Ipv4Address,
    pub guest_port: u16,
    /// Connections open now, and since the forward was made.
    pub active: usize,
    pub total: u64,
}

/// One VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmStatus {
    pub name: String,
    pub state: &'static str,
    pub vcpus: usize,
    pub mem_bytes: u64,
    pub uptime_ns: u64,
    /// Counters of its vCPUs and devices (of the last run when it is not running).
    pub vcpu_stats: Vec<VmVcpuStats>,
    pub devices: Vec<VmDeviceStats>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub uptime_ns: u64,
    pub interfaces: Vec<InterfaceStatus>,
    pub ports: Vec<PortInfo>,
    pub forwards: Vec<ForwardStatus>,
    pub leases: Vec<(Mac, Ipv4Address)>,
    pub vms: Vec<VmStatus>,
}

fn seconds(ns: u64) -> String {
    alloc::format!("{}.{}", ns / 1_000_000_000, ns % 1_000_000_000 / 100_000_000)
}

fn address(interface: &InterfaceStatus) -> String {
    match interface.address {
        Some(cidr) => alloc::format!("{cidr}"),
        None => String::from("-"),
    }
}

/// The interfaces, as `net` prints them.
pub fn interfaces_text(status: &Status, out: &mut String) {
    let _ = writeln!(out, "INTERFACE  MAC                ADDRESS          GATEWAY      HOW               RX PKTS  TX PKTS");
    for i in &status.interfaces {
        let gateway = i.gateway.map_or(String::from("-"), |g| alloc::format!("{g}"));
        let _ = writeln!(
            out,
            "{:<10} {:<18} {:<16} {:<12} {:<17} {:>7}  {:>7}",
            i.name,
            format_mac(&i.mac),
            address(i),
            gateway,
            i.how,
            i.counters.rx_packets,
            i.counters.tx_packets
        );
    }
}

/// The switch ports, as `net` prints them.
pub fn ports_text(status: &Status, out: &mut String) {
    let _ = writeln!(out, "PORT          MAC                 RX PKTS   RX BYTES  RX DROP   TX PKTS   TX BYTES  TX DROP");
    for p in &status.ports {
        let mac = p.mac.map_or(String::from("-"), |m| format_mac(&m));
        let c = &p.counters;
        let _ = writeln!(
            out,
            "{:<13} {:<18} {:>8} {:>10} {:>8}  {:>8} {:>10} {:>8}",
            p.name, mac, c.rx_packets, c.rx_bytes, c.rx_drops, c.tx_packets, c.tx_bytes, c.tx_drops
        );
    }
}

/// The forwards, as `net forward list` prints them.
pub fn forwards_text(status: &Status, out: &mut String) {
    if status.forwards.is_empty() {
        let _ = writeln!(out, "no forwards (net forward add WANPORT GUESTIP:PORT makes one)");
        return;
    }
    let _ = writeln!(out, "WAN PORT  TO                     ACTIVE  TOTAL");
    for f in &status.forwards {
        let to = alloc::format!("{}:{}", f.guest, f.guest_port);
        let _ = writeln!(out, "{:<9} {:<22} {:>6} {:>6}", f.wan_port, to, f.active, f.total);
    }
}

/// Everything `net` prints.
pub fn render_text(status: &Status) -> String {
    let mut out = String::new();
    interfaces_text(status, &mut out);
    out.push('\n');
    ports_text(status, &mut out);
    out.push('\n');
    forwards_text(status, &mut out);
    if !status.leases.is_empty() {
        out.push('\n');
        let _ = writeln!(out, "LEASE             MAC");
        for (mac, ip) in &status.leases {
            let _ = writeln!(out, "{:<17} {}", alloc::format!("{ip}"), format_mac(mac));
        }
    }
    out
}

/// One VM's line and counters, as `vm stats` prints them.
pub fn vm_text(vm: &VmStatus, out: &mut String) {
    let uptime = if vm.uptime_ns == 0 { String::from("-") } else { vmstats::seconds(vm.uptime_ns) };
    let _ = writeln!(out, "vm {}: {}, up {} s, {} vCPU(s), {}M", vm.name, vm.state, uptime, vm.vcpus, vm.mem_bytes >> 20);
    if !vm.vcpu_stats.is_empty() {
        out.push_str(&vmstats::report(&vm.vcpu_stats, &vm.devices));
    }
}

/// The status page's `/status.txt`: what `net` prints, then every VM with its counters.
pub fn render_status_text(status: &Status) -> String {
    let mut out = alloc::format!("keel: up {} s\n\n", seconds(status.uptime_ns));
    out.push_str(&render_text(status));
    for vm in &status.vms {
        out.push('\n');
        vm_text(vm, &mut out);
    }
    out
}

/// `text` with HTML's special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn row(out: &mut String, cells: &[String]) {
    out.push_str("<tr>");
    for cell in cells {
        let _ = write!(out, "<td>{}</td>", escape(cell));
    }
    out.push_str("</tr>\n");
}

fn table(out: &mut String, title: &str, head: &[&str], rows: &[Vec<String>]) {
    let _ = write!(out, "<h2>{}</h2>\n<table>\n<tr>", escape(title));
    for h in head {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for cells in rows {
        row(out, cells);
    }
    out.push_str("</table>\n");
}

/// One VM's counters: vCPUs (state, thread, CPU time), exits by class, interrupts and
/// errors (a column per vCPU and the total), then its devices.
fn vm_html(out: &mut String, vm: &VmStatus) {
    let mut head: Vec<String> = alloc::vec![String::from("counter")];
    head.extend(vm.vcpu_stats.iter().map(|v| alloc::format!("vcpu{}", v.index)));
    head.push(String::from("total"));
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let cpu: u64 = vm.vcpu_stats.iter().map(|v| v.cpu_time_ns).sum();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut state = alloc::vec![String::from("state")];
    state.extend(vm.vcpu_stats.iter().map(|v| String::from(vmstats::vcpu_power_name(v.power))));
    state.push(String::new());
    rows.push(state);
    let mut time = alloc::vec![String::from("cpu time (s)")];
    time.extend(vm.vcpu_stats.iter().map(|v| vmstats::seconds(v.cpu_time_ns)));
    time.push(vmstats::seconds(cpu));
    rows.push(time);
    for counter in vmstats::counter_rows(&vm.vcpu_stats, &vm.devices) {
        let mut row = alloc::vec![alloc::format!("{} {}", counter.group, counter.label)];
        row.extend(counter.per_vcpu.iter().map(|n| alloc::format!("{n}")));
        row.push(alloc::format!("{}", counter.total));
        rows.push(row);
    }
    table(out, &alloc::format!("VM {}: vCPUs, exits, interrupts, errors", vm.name), &head, &rows);
    let devices: Vec<Vec<String>> = vm
        .devices
        .iter()
        .map(|d| {
            alloc::vec![
                String::from(keel_abi::field_text(&d.guest_name)),
                String::from(keel_abi::field_text(&d.kind)),
                String::from(keel_abi::field_text(&d.detail)),
                alloc::format!("{}", d.notifications),
                alloc::format!("{}", d.chains),
                alloc::format!("{}", d.interrupts),
                alloc::format!("{}", d.requests),
                alloc::format!("{}", d.bytes_in),
                alloc::format!("{}", d.bytes_out),
                alloc::format!("{}", d.guest_errors),
                String::from(if d.needs_reset != 0 { "needs-reset" } else { "ok" })
            ]
        })
        .collect();
    let head = ["device", "kind", "disk", "notify", "chains", "irqs", "requests", "bytes in", "bytes out", "errors", "state"];
    table(out, &alloc::format!("VM {}: virtio devices", vm.name), &head, &devices);
}

/// The status page.
pub fn render_html(status: &Status) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Keel status</title>\n\
         <style>body{font-family:sans-serif}table{border-collapse:collapse}\
         td,th{border:1px solid #999;padding:2px 8px;text-align:left}</style></head><body>\n<h1>Keel</h1>\n",
    );
    let _ = writeln!(out, "<p>up {} s</p>", seconds(status.uptime_ns));
    let vms: Vec<Vec<String>> = status
        .vms
        .iter()
        .map(|vm| {
            let uptime = if vm.uptime_ns == 0 { String::from("-") } else { seconds(vm.uptime_ns) };
            alloc::vec![
                vm.name.clone(),
                String::from(vm.state),
                alloc::format!("{}", vm.vcpus),
                alloc::format!("{}M", vm.mem_bytes >> 20),
                uptime
            ]
        })
        .collect();
    table(&mut out, "VMs", &["name", "state", "vCPUs", "memory", "uptime (s)"], &vms);
    for vm in status.vms.iter().filter(|vm| !vm.vcpu_stats.is_empty()) {
        vm_html(&mut out, vm);
    }
    let interfaces: Vec<Vec<String>> = status
        .interfaces
        .iter()
        .map(|i| {
            alloc::vec![
                i.name.clone(),
                format_mac(&i.mac),
                address(i),
                i.gateway.map_or(String::from("-"), |g| alloc::format!("{g}")),
                i.how.clone(),
                alloc::format!("{}", i.counters.rx_packets),
                alloc::format!("{}", i.counters.tx_packets)
            ]
        })
        .collect();
    table(&mut out, "Interfaces", &["name", "MAC", "address", "gateway", "how", "rx packets", "tx packets"], &interfaces);
    let ports: Vec<Vec<String>> = status
        .ports
        .iter()
        .map(|p| {
            let c = &p.counters;
            alloc::vec![
                p.name.clone(),
                p.mac.map_or(String::from("-"), |m| format_mac(&m)),
                alloc::format!("{}", c.rx_packets),
                alloc::format!("{}", c.rx_bytes),
                alloc::format!("{}", c.rx_drops),
                alloc::format!("{}", c.tx_packets),
                alloc::format!("{}", c.tx_bytes),
                alloc::format!("{}", c.tx_drops)
            ]
        })
        .collect();
    let head = ["port", "MAC", "rx packets", "rx bytes", "rx drops", "tx packets", "tx bytes", "tx drops"];
    table(&mut out, "Switch ports", &head, &ports);
    let forwards: Vec<Vec<String>> = status
        .forwards
        .iter()
        .map(|f| {
            alloc::vec![
                alloc::format!("{}", f.wan_port),
                alloc::format!("{}:{}", f.guest, f.guest_port),
                alloc::format!("{}", f.active),
                alloc::format!("{}", f.total)
            ]
        })
        .collect();
    table(&mut out, "Port forwards", &["wan port", "to", "active", "total"], &forwards);
    let leases: Vec<Vec<String>> =
        status.leases.iter().map(|(mac, ip)| alloc::vec![alloc::format!("{ip}"), format_mac(mac)]).collect();
    table(&mut out, "DHCP leases", &["address", "MAC"], &leases);
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::switch::{PortCounters, PortId};

    fn sample_vcpu() -> VmVcpuStats {
        let mut vcpu = VmVcpuStats { power: vmstats::VCPU_POWER_ON, tid: 9, cpu_time_ns: 2_250_000_000, ..Default::default() };
        vcpu.exits[vmstats::EXIT_WFI] = 40;
        vcpu.exits[vmstats::EXIT_MMIO_VIRTIO] = 6;
        vcpu.virtio_exits[1] = 6;
        vcpu.irqs[vmstats::IRQ_VIRTIO] = 5;
        vcpu.virtio_irqs[1] = 5;
        vcpu
    }

    fn sample() -> Status {
        Status {
            uptime_ns: 12_345_000_000,
            interfaces: alloc::vec![
                InterfaceStatus {
                    name: "wan".into(),
                    mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
                    address: Some(Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24)),
                    gateway: Some(Ipv4Address::new(10, 0, 2, 2)),
                    how: "dhcp".into(),
                    counters: LinkCounters { rx_packets: 5, rx_bytes: 500, tx_packets: 6, tx_bytes: 600 },
                },
                InterfaceStatus { name: "br0".into(), how: "waiting for DHCP".into(), ..Default::default() },
            ],
            ports: alloc::vec![PortInfo {
                id: PortId(1),
                name: "vm-<evil>".into(),
                mac: None,
                counters: PortCounters { rx_packets: 1, rx_bytes: 60, rx_drops: 2, tx_packets: 3, tx_bytes: 180, tx_drops: 4 },
                queued: 0,
                learned: 1,
            }],
            forwards: alloc::vec![ForwardStatus {
                wan_port: 8081,
                guest: Ipv4Address::new(10, 0, 3, 100),
                guest_port: 80,
                active: 1,
                total: 7
            }],
            leases: alloc::vec![([2, 0x4b, 0, 0, 0, 1], Ipv4Address::new(10, 0, 3, 100))],
            vms: alloc::vec![VmStatus {
                name: "linux".into(),
                state: "running",
                vcpus: 2,
                mem_bytes: 256 << 20,
                uptime_ns: 3_000_000_000,
                vcpu_stats: alloc::vec![sample_vcpu()],
                devices: alloc::vec![VmDeviceStats {
                    slot: 1,
                    kind: keel_abi::small_field("rng"),
                    guest_name: keel_abi::small_field("hwrng"),
                    requests: 5,
                    bytes_in: 320,
                    ..VmDeviceStats::default()
                }],
            }],
        }
    }

    #[test]
    fn text_lists_everything() {
        let text = render_text(&sample());
        assert!(text.contains("wan        52:54:00:12:34:56  10.0.2.15/24     10.0.2.2     dhcp"), "{text}");
        assert!(text.contains("br0"), "{text}");
        assert!(text.contains("vm-<evil>"), "{text}");
        assert!(text.contains("8081      10.0.3.100:80"), "{text}");
        assert!(text.contains("10.0.3.100        02:4b:00:00:00:01"), "{text}");
        let mut none = String::new();
        forwards_text(&Status::default(), &mut none);
        assert!(none.starts_with("no forwards"));
    }

    #[test]
    fn status_text_has_the_vms_counters() {
        let text = render_status_text(&sample());
        assert!(text.starts_with("keel: up 12.3 s\n\nINTERFACE"), "{text}");
        assert!(text.contains("vm linux: running, up 3.00 s, 2 vCPU(s), 256M\n"), "{text}");
        let row = |label: &str| text.lines().find(|l| l.split("  ").any(|c| c.trim() == label)).map(|l| l.split_whitespace().collect::<Vec<_>>());
        assert_eq!(row("wfi"), Some(alloc::vec!["wfi", "40", "40"]), "{text}");
        assert_eq!(row("mmio-hwrng"), Some(alloc::vec!["mmio-hwrng", "6", "6"]), "{text}");
        assert!(text.contains("hwrng   rng"), "{text}");
        // `net` shows no VM counters.
        assert!(!render_text(&sample()).contains("mmio-hwrng"));
        let stopped = VmStatus { vcpu_stats: Vec::new(), devices: Vec::new(), state: "created", uptime_ns: 0, ..sample().vms[0].clone() };
        let mut out = String::new();
        vm_text(&stopped, &mut out);
        assert_eq!(out, "vm linux: created, up - s, 2 vCPU(s), 256M\n");
    }

    #[test]
    fn html_escapes_and_shows_vms() {
        let html = render_html(&sample());
        assert!(html.contains("<td>vm-&lt;evil&gt;</td>"), "{html}");
        assert!(!html.contains("<evil>"));
        assert!(html.contains("<td>linux</td><td>running</td><td>2</td><td>256M</td><td>3.0</td>"), "{html}");
        assert!(html.contains("<p>up 12.3 s</p>"));
        assert!(html.contains("<h2>VM linux: vCPUs, exits, interrupts, errors</h2>"), "{html}");
        assert!(html.contains("<tr><td>cpu time (s)</td><td>2.25</td><td>2.25</td></tr>"), "{html}");
        assert!(html.contains("<tr><td>exits wfi</td><td>40</td><td>40</td></tr>"), "{html}");
        assert!(html.contains("<tr><td>irqs hwrng</td><td>5</td><td>5</td></tr>"), "{html}");
        assert!(html.contains("<td>hwrng</td><td>rng</td><td></td><td>0</td><td>0</td><td>0</td><td>5</td><td>320</td>"), "{html}");
        assert!(html.contains("<td>10.0.2.15/24</td>"));
        assert!(html.ends_with("</body></html>\n"));
        assert_eq!(escape("a&b\"'"), "a&amp;b&quot;&#39;");
    }
}
