//! System calls for guest devices: VMs with disks, the host disk's guest disks, and
//! per-device and per-vCPU statistics (calls 40-43 and 60 of [`keel_abi::call`]).

use crate::sys::{raw, VmDefinition};
use keel_abi::{
    call, decode, DiskInfo, DiskSpace, Error, StrRef, VmConfig, VmDeviceStats, VmDiskSpec, VmGuestErrors, VmVcpuStats,
};

fn str_ref(text: &str) -> StrRef {
    StrRef { ptr: text.as_ptr() as u64, len: text.len() as u64 }
}

/// One disk of [`vm_create_disks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskRequest<'a> {
    pub name: &'a str,
    /// Bytes to make it with when missing; 0: it must exist.
    pub size_bytes: u64,
    pub read_only: bool,
}

/// Defines a VM with disks (made on the host disk when missing); nothing changes on error.
pub fn vm_create_disks(definition: &VmDefinition<'_>, disks: &[DiskRequest<'_>]) -> Result<(), Error> {
    let config = VmConfig {
        name: str_ref(definition.name),
        kernel: str_ref(definition.kernel),
        initrd: definition.initrd.map_or(StrRef::default(), str_ref),
        cmdline: str_ref(definition.cmdline),
        mem_bytes: definition.mem_bytes,
        vcpus: definition.vcpus,
    };
    let specs: alloc::vec::Vec<VmDiskSpec> = disks
        .iter()
        .map(|disk| VmDiskSpec {
            name: str_ref(disk.name),
            size_bytes: disk.size_bytes,
            flags: if disk.read_only { keel_abi::DISK_READ_ONLY } else { 0 },
        })
        .collect();
    let args = [&config as *const VmConfig as u64, specs.as_ptr() as u64, specs.len() as u64, 0, 0, 0];
    // SAFETY: the kernel only reads `config`, `specs` and the strings they name, all
    // initialised and alive for the call.
    decode(unsafe { raw(call::VM_CREATE_DISKS, args) }).map(drop)
}

/// Fills `disks` with the first guest disks and returns how many exist, with the host
/// disk's space.
pub fn disk_list(disks: &mut [DiskInfo]) -> Result<(usize, DiskSpace), Error> {
    let mut space = DiskSpace::default();
    let args = [disks.as_mut_ptr() as u64, disks.len() as u64, &mut space as *mut DiskSpace as u64, 0, 0, 0];
    // SAFETY: the kernel writes at most `disks.len()` entries into `disks` and one
    // `DiskSpace` into `space`, both exclusively borrowed for the call; every bit pattern
    // is valid for both.
    let total = decode(unsafe { raw(call::DISK_LIST, args) })?;
    Ok((total as usize, space))
}

/// Deletes a guest disk that no running VM uses.
pub fn disk_delete(name: &str) -> Result<(), Error> {
    // SAFETY: the kernel only reads the name, initialised and borrowed for the call.
    decode(unsafe { raw(call::DISK_DELETE, [name.as_ptr() as u64, name.len() as u64, 0, 0, 0, 0]) }).map(drop)
}

/// The errors a VM's guest provoked since its last start.
pub fn vm_guest_errors(name: &str) -> Result<VmGuestErrors, Error> {
    let mut errors = VmGuestErrors::default();
    let args = [name.as_ptr() as u64, name.len() as u64, &raw mut errors as u64, 0, 0, 0];
    // SAFETY: the kernel reads the name and writes one `VmGuestErrors` into `errors`,
    // exclusively borrowed for the call; every bit pattern is valid.
    decode(unsafe { raw(call::VM_GUEST_ERRORS, args) })?;
    Ok(errors)
}

/// Fills `stats` with the devices of a running VM; returns how many it has.
pub fn vm_stats(name: &str, stats: &mut [VmDeviceStats]) -> Result<usize, Error> {
    let args = [name.as_ptr() as u64, name.len() as u64, stats.as_mut_ptr() as u64, stats.len() as u64, 0, 0];
    // SAFETY: the kernel reads the name and writes at most `stats.len()` entries into
    // `stats`, exclusively borrowed for the call; every bit pattern is valid.
    decode(unsafe { raw(call::VM_STATS, args) }).map(|n| n as usize)
}

/// Fills `stats` with the VM's vCPUs (counters since its last start, CPU time); returns how
/// many it has.
pub fn vm_vcpu_stats(name: &str, stats: &mut [VmVcpuStats]) -> Result<usize, Error> {
    let args = [name.as_ptr() as u64, name.len() as u64, stats.as_mut_ptr() as u64, stats.len() as u64, 0, 0];
    // SAFETY: the kernel reads the name and writes at most `stats.len()` entries into
    // `stats`, exclusively borrowed for the call; every bit pattern is valid.
    decode(unsafe { raw(call::VM_VCPU_STATS, args) }).map(|n| n as usize)
}
