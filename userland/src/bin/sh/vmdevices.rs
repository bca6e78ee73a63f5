//! `vm stats`, `vm disks`, `vm rmdisk` and the disk part of `vm create`: guest devices and
//! the guest disks on the host disk.

use super::report::{guest_size, table};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use keel_userland::abi::{self, DiskInfo, DiskSpace, VmDeviceStats, VmInfo, VmVcpuStats};

/// `vm stats`: a line about the VM, then its vCPUs' counters and its devices.
pub fn stats_text(vm: &VmInfo, vcpus: &[VmVcpuStats], devices: &[VmDeviceStats]) -> String {
    let uptime = if vm.uptime_ns == 0 { String::from("-") } else { abi::vmstats::seconds(vm.uptime_ns) };
    let mut text = format!("vm {}: {}, up {} s\n", vm.name(), abi::vm_state_name(vm.state), uptime);
    text.push_str(&abi::vmstats::report(vcpus, devices));
    text
}

/// Who uses a disk: `-`, `rw`, `ro`, `ro x2`.
fn users(disk: &DiskInfo) -> String {
    match (disk.writers, disk.readers) {
        (0, 0) => "-".into(),
        (0, 1) => "ro".into(),
        (0, readers) => format!("ro x{readers}"),
        _ => "rw".into(),
    }
}

/// The `vm disks` table and the host disk's space.
pub fn disks_table(disks: &[DiskInfo], space: &DiskSpace) -> String {
    let mut sorted: Vec<&DiskInfo> = disks.iter().collect();
    sorted.sort_by(|a, b| a.name().cmp(b.name()));
    let rows: Vec<[String; 3]> =
        sorted.iter().map(|d| [d.name().into(), guest_size(d.size_bytes), users(d)]).collect();
    let mut text = if rows.is_empty() {
        String::from("no disks (vm create NAME --disk SIZE makes one)\n")
    } else {
        table(["DISK", "SIZE", "IN USE"], [false, true, false], &rows)
    };
    text.push_str(&format!(
        "host disk: {}, {} free (largest {})\n",
        guest_size(space.total_bytes),
        guest_size(space.free_bytes),
        guest_size(space.largest_free_bytes)
    ));
    text
}

#[cfg(target_os = "none")]
pub use commands::*;

#[cfg(target_os = "none")]
mod commands {
    use super::super::vmargs::CreateArgs;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;
    use keel_userland::abi::{self, DiskInfo, DiskSpace, Error, VmDeviceStats, VmInfo, VmVcpuStats};
    use keel_userland::sys::VmDefinition;
    use keel_userland::vmdev::{self, DiskRequest};
    use keel_userland::{eprintln, print};

    /// Every guest disk and the host disk's space.
    fn all_disks() -> Result<(Vec<DiskInfo>, DiskSpace), Error> {
        let mut disks = vec![DiskInfo::default(); 64];
        let (total, space) = vmdev::disk_list(&mut disks)?;
        disks.truncate(total);
        Ok((disks, space))
    }

    /// The VM, its vCPUs and its devices.
    fn all_stats(name: &str) -> Result<(VmInfo, Vec<VmVcpuStats>, Vec<VmDeviceStats>), Error> {
        let mut vcpus = vec![VmVcpuStats::default(); abi::VM_MAX_VCPUS as usize];
        let count = vmdev::vm_vcpu_stats(name, &mut vcpus)?;
        vcpus.truncate(count);
        let mut devices = vec![VmDeviceStats::default(); 8];
        let count = vmdev::vm_stats(name, &mut devices)?;
        devices.truncate(count);
        let vm = super::super::vm::list()?.into_iter().find(|vm| vm.name() == name).ok_or(Error::NotFound)?;
        Ok((vm, vcpus, devices))
    }

    pub fn stats(name: &str) {
        match all_stats(name) {
            Ok((vm, vcpus, devices)) => {
                print!("{}", super::stats_text(&vm, &vcpus, &devices));
                super::super::vmerrors::print(name);
            }
            Err(Error::NotFound) => eprintln!("vm: no such VM: {name}"),
            Err(error) => eprintln!("vm: cannot read the statistics of {name}: {error}"),
        }
    }

    pub fn disks() {
        match all_disks() {
            Ok((disks, space)) => print!("{}", super::disks_table(&disks, &space)),
            Err(Error::NotFound) => eprintln!("vm: no host disk (scripts/run attaches target/keel/disk.img)"),
            Err(error) => eprintln!("vm: cannot list the disks: {error}"),
        }
    }

    pub fn remove_disk(name: &str) {
        match vmdev::disk_delete(name) {
            Ok(()) => {}
            Err(Error::NotFound) => eprintln!("vm: no such disk: {name}"),
            Err(Error::NotPermitted) => eprintln!("vm: cannot delete {name}: a running VM uses it"),
            Err(error) => eprintln!("vm: cannot delete {name}: {error}"),
        }
    }

    /// `vm create` with disks; says what went wrong (`None` when it worked).
    pub fn create(args: &CreateArgs, definition: &VmDefinition<'_>) -> Result<(), String> {
        let requests: Vec<DiskRequest<'_>> = args
            .disks
            .iter()
            .map(|d| DiskRequest { name: &d.name, size_bytes: d.size_bytes, read_only: d.read_only })
            .collect();
        let error = match vmdev::vm_create_disks(definition, &requests) {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        let listed = all_disks();
        let find = |name: &str| listed.as_ref().ok().and_then(|(disks, _)| disks.iter().find(|d| d.name() == name).copied());
        Err(match (error, &listed) {
            (Error::NotFound, Err(_)) => String::from("no host disk (scripts/run attaches target/keel/disk.img)"),
            (Error::NotFound, Ok(_)) => match args.disks.iter().find(|d| d.size_bytes == 0 && find(&d.name).is_none()) {
                Some(disk) => format!("no such disk: {} (give a size to make it: {}:SIZE)", disk.name, disk.name),
                None => format!("{error}"),
            },
            (Error::TooBig, Ok((_, space))) => {
                let wanted: u64 = args.disks.iter().filter(|d| find(&d.name).is_none()).map(|d| d.size_bytes).sum();
                format!(
                    "the disks do not fit on the host disk ({} wanted, {} free, largest {})",
                    super::guest_size(wanted),
                    super::guest_size(space.free_bytes),
                    super::guest_size(space.largest_free_bytes)
                )
            }
            (Error::Exists, _) => match args.disks.iter().find_map(|d| find(&d.name).filter(|f| d.size_bytes != 0 && f.size_bytes != d.size_bytes.next_multiple_of(1 << 20))) {
                Some(disk) => format!("disk {} exists with another size ({})", disk.name(), super::guest_size(disk.size_bytes)),
                None => format!("{error}"),
            },
            _ => format!("{error}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        let disk = DiskInfo { name: abi::name_field("data"), size_bytes: 64 << 20, writers: 1, readers: 0 };
        let space = DiskSpace { total_bytes: 2 << 30, free_bytes: 1983 << 20, largest_free_bytes: 1983 << 20 };
        assert_eq!(
            disks_table(&[disk], &space),
            "DISK  SIZE  IN USE\ndata   64M  rw\nhost disk: 2G, 1983M free (largest 1983M)\n"
        );
        assert!(disks_table(&[], &space).starts_with("no disks"));
        let vm = VmInfo { name: abi::name_field("linux"), state: abi::VM_RUNNING, uptime_ns: 2_500_000_000, ..VmInfo::default() };
        let device = VmDeviceStats {
            slot: 2,
            kind: abi::small_field("block"),
            guest_name: abi::small_field("vda"),
            detail: abi::name_field("data"),
            ..VmDeviceStats::default()
        };
        let vcpu = VmVcpuStats { power: abi::vmstats::VCPU_POWER_ON, ..VmVcpuStats::default() };
        let text = stats_text(&vm, &[vcpu], &[device]);
        assert!(text.starts_with("vm linux: running, up 2.50 s\n"), "{text}");
        assert!(text.contains("mmio-vda") && text.contains("\nDEVICE  KIND   DISK"), "{text}");
        let stopped = VmInfo { state: abi::VM_STOPPED, uptime_ns: 0, ..vm };
        assert!(stats_text(&stopped, &[vcpu], &[]).starts_with("vm linux: stopped, up - s\n"));
    }
}
