//! The text of `ps`, `cpus`, `mem`, `uptime` and `vm list` (and why a VM did not fit): pure
//! formatting of what the kernel reports.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;
use keel_userland::abi::{self, CpuInfo, MemStats, ThreadInfo, VmInfo};

/// Seconds with two decimals (cut, not rounded): `12.34`.
pub fn seconds(time: Duration) -> String {
    format!("{}.{:02}", time.as_secs(), time.subsec_millis() / 10)
}

/// A size: in MiB with one decimal from 1 MiB on (`2048.0 MiB`), else in KiB (`36 KiB`).
pub fn size(bytes: u64) -> String {
    if bytes < 1 << 20 {
        return format!("{} KiB", bytes.div_ceil(1 << 10));
    }
    let tenths = u128::from(bytes) * 10 / (1 << 20);
    format!("{}.{} MiB", tenths / 10, tenths % 10)
}

fn kind(kind: u32) -> String {
    match kind {
        abi::KIND_KERNEL => "kernel".into(),
        abi::KIND_USER => "user".into(),
        abi::KIND_VCPU => "vcpu".into(),
        other => format!("kind{other}"),
    }
}

fn state(state: u32) -> String {
    match state {
        abi::STATE_RUNNING => "running".into(),
        abi::STATE_READY => "ready".into(),
        abi::STATE_BLOCKED => "blocked".into(),
        abi::STATE_EXITED => "exited".into(),
        other => format!("state{other}"),
    }
}

/// The `ps` table: PID, TID, NAME, KIND, STATE, CPU, TIME. User threads come first (by
/// pid), then kernel and vCPU threads (by tid), whose PID is `-`.
pub fn ps(threads: &[ThreadInfo]) -> String {
    let mut sorted: Vec<&ThreadInfo> = threads.iter().collect();
    sorted.sort_by_key(|t| {
        if t.kind == abi::KIND_USER {
            (0, t.pid, t.tid)
        } else {
            (1, t.tid, 0)
        }
    });
    let rows = sorted
        .iter()
        .map(|t| {
            let pid = if t.kind == abi::KIND_USER {
                t.pid.to_string()
            } else {
                "-".into()
            };
            let name = if t.name().is_empty() { "?" } else { t.name() };
            [
                pid,
                t.tid.to_string(),
                name.into(),
                kind(t.kind),
                state(t.state),
                t.cpu.to_string(),
                seconds(Duration::from_nanos(t.cpu_time_ns)),
            ]
        })
        .collect::<Vec<_>>();
    table(
        ["PID", "TID", "NAME", "KIND", "STATE", "CPU", "TIME"],
        [true, true, false, false, false, true, true],
        &rows,
    )
}

/// The `cpus` table: CPU, MPIDR, ONLINE, READY, BUSY (share of time since boot), TICKS.
pub fn cpus(cpus: &[CpuInfo]) -> String {
    let rows = cpus
        .iter()
        .map(|c| {
            let total = u128::from(c.busy_ns) + u128::from(c.idle_ns);
            let busy = (u128::from(c.busy_ns) * 100).checked_div(total).unwrap_or(0);
            [
                c.index.to_string(),
                format!("{:#x}", c.mpidr),
                if c.online != 0 { "yes" } else { "no" }.into(),
                c.ready.to_string(),
                format!("{busy}%"),
                c.ticks.to_string(),
            ]
        })
        .collect::<Vec<_>>();
    table(
        ["CPU", "MPIDR", "ONLINE", "READY", "BUSY", "TICKS"],
        [true, false, false, true, true, true],
        &rows,
    )
}

/// `mem`: RAM and the kernel heap.
pub fn mem(stats: &MemStats) -> String {
    let used = stats.usable_bytes.saturating_sub(stats.free_bytes);
    format!(
        "memory: {} RAM, {} usable, {} used, {} free\nkernel heap: {}, {} used\n",
        size(stats.total_bytes),
        size(stats.usable_bytes),
        size(used),
        size(stats.free_bytes),
        size(stats.heap_bytes),
        size(stats.heap_used_bytes),
    )
}

/// `uptime`: `up 12.34 s, 2 CPUs`.
pub fn uptime(since_boot: Duration, cpus: usize) -> String {
    let plural = if cpus == 1 { "" } else { "s" };
    format!("up {} s, {cpus} CPU{plural}\n", seconds(since_boot))
}

/// A guest's RAM as `vm create --mem` takes it: `1G`, `256M`, else `1500K` or bytes.
pub fn guest_size(bytes: u64) -> String {
    if bytes != 0 && bytes.is_multiple_of(1 << 30) {
        format!("{}G", bytes >> 30)
    } else if bytes != 0 && bytes.is_multiple_of(1 << 20) {
        format!("{}M", bytes >> 20)
    } else if bytes.is_multiple_of(1 << 10) {
        format!("{}K", bytes >> 10)
    } else {
        bytes.to_string()
    }
}

/// The `vm list` table: NAME, STATE, VCPUS, MEM, UPTIME (seconds; `-` when not running),
/// EXITS, sorted by name.
pub fn vm_list(vms: &[VmInfo]) -> String {
    let mut sorted: Vec<&VmInfo> = vms.iter().collect();
    sorted.sort_by(|a, b| a.name().cmp(b.name()));
    let rows = sorted
        .iter()
        .map(|vm| {
            let uptime = if vm.state == abi::VM_RUNNING {
                seconds(Duration::from_nanos(vm.uptime_ns))
            } else {
                "-".into()
            };
            [
                vm.name().into(),
                abi::vm_state_name(vm.state).into(),
                vm.vcpus.to_string(),
                guest_size(vm.mem_bytes),
                uptime,
                vm.exits.to_string(),
                vm.vmid.to_string(),
            ]
        })
        .collect::<Vec<_>>();
    table(
        ["NAME", "STATE", "VCPUS", "MEM", "UPTIME", "EXITS", "VMID"],
        [false, false, true, true, true, true, true],
        &rows,
    )
}

/// Columns padded to their widest cell, two spaces apart, numbers right-aligned.
pub fn table<const N: usize>(header: [&str; N], right: [bool; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut push_row = |cells: [&str; N]| {
        let mut line = String::new();
        for (column, cell) in cells.iter().enumerate() {
            let pad = widths[column] - cell.chars().count();
            let last = column == N - 1;
            if column > 0 {
                line.push_str("  ");
            }
            if right[column] {
                line.extend(core::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if !last {
                    line.extend(core::iter::repeat_n(' ', pad));
                }
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    };
    push_row(header);
    for row in rows {
        push_row(row.each_ref().map(String::as_str));
    }
    text
}

/// `: it needs N MiB of RAM, the host has M MiB free`: why a VM of `needed` bytes did not
/// start with `free` bytes free. A guest's RAM is one run of host memory, so when enough is
/// free in pieces the message says that.
pub fn start_memory_hint(needed: u64, free: u64) -> String {
    let (needed, free) = (needed >> 20, free >> 20);
    if free >= needed {
        format!(": it needs {needed} MiB of RAM in one piece, the host has {free} MiB free but in smaller pieces")
    } else {
        format!(": it needs {needed} MiB of RAM, the host has {free} MiB free")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(tid: u64, pid: u64, kind: u32, state: u32, name: &str, ms: u64) -> ThreadInfo {
        ThreadInfo {
            tid,
            pid,
            kind,
            state,
            cpu: (tid % 2) as u32,
            cpu_time_ns: ms * 1_000_000,
            name: abi::name_field(name),
            ..Default::default()
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(seconds(Duration::from_millis(12_345)), "12.34");
        assert_eq!(seconds(Duration::from_millis(5)), "0.00");
        assert_eq!(seconds(Duration::from_millis(1_090)), "1.09");
        assert_eq!(size(2048 << 20), "2048.0 MiB");
        assert_eq!(size(3 << 19), "1.5 MiB");
        assert_eq!(size(u64::MAX), "17592186044415.9 MiB");
        assert_eq!(size(1 << 19), "512 KiB");
        assert_eq!(size(36_000), "36 KiB");
        assert_eq!(size(0), "0 KiB");
    }

    #[test]
    fn ps_table() {
        let text = ps(&[
            thread(1, 0, abi::KIND_KERNEL, abi::STATE_RUNNING, "idle0", 12_340),
            thread(6, 2, abi::KIND_USER, abi::STATE_BLOCKED, "sh", 20),
            thread(5, 1, abi::KIND_USER, abi::STATE_BLOCKED, "init", 3),
            thread(3, 0, abi::KIND_KERNEL, abi::STATE_READY, "console feed", 0),
            thread(9, 0, 7, 9, "", 0),
        ]);
        let expected = "\
PID  TID  NAME          KIND    STATE    CPU   TIME
  1    5  init          user    blocked    1   0.00
  2    6  sh            user    blocked    0   0.02
  -    1  idle0         kernel  running    1  12.34
  -    3  console feed  kernel  ready      1   0.00
  -    9  ?             kind7   state9     1   0.00
";
        assert_eq!(text, expected);
    }

    #[test]
    fn cpus_table() {
        let text = cpus(&[
            CpuInfo {
                index: 0,
                online: 1,
                mpidr: 0x8000_0000,
                ready: 2,
                idle_ns: 750,
                busy_ns: 250,
                ticks: 1234,
            },
            CpuInfo {
                index: 1,
                online: 0,
                mpidr: 0x8000_0001,
                ..Default::default()
            },
        ]);
        let expected = "\
CPU  MPIDR       ONLINE  READY  BUSY  TICKS
  0  0x80000000  yes         2   25%   1234
  1  0x80000001  no          0    0%      0
";
        assert_eq!(text, expected);
    }

    #[test]
    fn mem_and_uptime() {
        let stats = MemStats {
            total_bytes: 2048 << 20,
            usable_bytes: 2000 << 20,
            free_bytes: 1900 << 20,
            heap_bytes: 64 << 20,
            heap_used_bytes: 40 << 10,
        };
        assert_eq!(
            mem(&stats),
            "memory: 2048.0 MiB RAM, 2000.0 MiB usable, 100.0 MiB used, 1900.0 MiB free\n\
             kernel heap: 64.0 MiB, 40 KiB used\n"
        );
        assert_eq!(uptime(Duration::from_millis(83_456), 2), "up 83.45 s, 2 CPUs\n");
        assert_eq!(uptime(Duration::from_millis(1_000), 1), "up 1.00 s, 1 CPU\n");
    }

    #[test]
    fn vm_table() {
        let vm = |name: &str, state, vcpus, mem_bytes, uptime_ms: u64, exits, vmid| VmInfo {
            name: abi::name_field(name),
            state,
            vcpus,
            mem_bytes,
            uptime_ns: uptime_ms * 1_000_000,
            exits,
            vmid,
            reserved: 0,
        };
        let text = vm_list(&[
            vm("web", abi::VM_STOPPED, 2, 1 << 30, 0, 0, 2),
            vm("linux", abi::VM_RUNNING, 1, 256 << 20, 12_345, 48_211, 1),
            vm("crashy", abi::VM_CRASHED, 8, 1536 << 20, 99, 7, 3),
            vm("odd", 42, 1, 16 << 20, 0, 0, 255),
        ]);
        let expected = "\
NAME    STATE    VCPUS    MEM  UPTIME  EXITS  VMID
crashy  crashed      8  1536M       -      7     3
linux   running      1   256M   12.34  48211     1
odd     unknown      1    16M       -      0   255
web     stopped      2     1G       -      0     2
";
        assert_eq!(text, expected);
        assert_eq!(vm_list(&[]), "NAME  STATE  VCPUS  MEM  UPTIME  EXITS  VMID\n");
    }

    #[test]
    fn guest_sizes() {
        assert_eq!(guest_size(1 << 30), "1G");
        assert_eq!(guest_size(3 << 29), "1536M");
        assert_eq!(guest_size(1500 << 10), "1500K");
        assert_eq!(guest_size(1000), "1000");
        assert_eq!(guest_size(0), "0K");
    }

    #[test]
    fn a_vm_that_did_not_start_is_told_why() {
        const MIB: u64 = 1 << 20;
        assert_eq!(start_memory_hint(700 * MIB, 658 * MIB), ": it needs 700 MiB of RAM, the host has 658 MiB free");
        assert_eq!(
            start_memory_hint(64 * MIB, 69 * MIB),
            ": it needs 64 MiB of RAM in one piece, the host has 69 MiB free but in smaller pieces"
        );
    }
}
