//! The VM system calls: define, start, stop, list VMs and talk to their consoles.

use super::{with_space, write_array};
use crate::proc::Process;
use crate::vm::machine::{DiskConfig, VmConfig};
use crate::vm::registry;
use alloc::string::String;
use alloc::vec::Vec;
use keel_abi::{Error, VmInfo};

/// Longest path or command line.
const MAX_TEXT: usize = 2048;
/// Largest console transfer.
const MAX_CONSOLE_IO: usize = 16 * 1024;

fn name(process: &Process, ptr: u64, len: u64) -> Result<String, Error> {
    with_space(process, |space| space.read_str(ptr, len, keel_abi::NAME_LEN))
}

/// Calls `f` with the VM name at (ptr, len).
pub fn by_name(process: &Process, ptr: u64, len: u64, f: fn(&str) -> Result<(), Error>) -> Result<u64, Error> {
    f(&name(process, ptr, len)?).map(|()| 0)
}

pub fn create(process: &Process, config_ptr: u64) -> Result<u64, Error> {
    registry::create(read_config(process, config_ptr)?).map(|()| 0)
}

/// `vm_create_disks(config_ptr, disks_ptr, count)`.
pub fn create_with_disks(process: &Process, config_ptr: u64, disks_ptr: u64, count: u64) -> Result<u64, Error> {
    if count > keel_abi::VM_MAX_DISKS {
        return Err(Error::TooBig);
    }
    let mut config = read_config(process, config_ptr)?;
    let mut sizes = Vec::new();
    for index in 0..count {
        let spec: keel_abi::VmDiskSpec = with_space(process, |space| {
            let mut raw = [0u8; core::mem::size_of::<keel_abi::VmDiskSpec>()];
            space.read(disks_ptr.checked_add(index * 32).ok_or(Error::BadAddress)?, &mut raw)?;
            let word = |at: usize| -> u64 {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&raw[at..at + 8]);
                u64::from_le_bytes(bytes)
            };
            Ok(keel_abi::VmDiskSpec {
                name: keel_abi::StrRef { ptr: word(0), len: word(8) },
                size_bytes: word(16),
                flags: word(24),
            })
        })?;
        let name = with_space(process, |space| space.read_str(spec.name.ptr, spec.name.len, keel_abi::NAME_LEN))?;
        if spec.flags & !keel_abi::DISK_READ_ONLY != 0 {
            return Err(Error::InvalidArgument);
        }
        config.disks.push(DiskConfig { name, read_only: spec.flags & keel_abi::DISK_READ_ONLY != 0 });
        sizes.push(spec.size_bytes);
    }
    registry::create_with_disks(config, &sizes).map(|()| 0)
}

/// `disk_list(ptr, max, space_ptr)`.
pub fn disk_list(process: &Process, ptr: u64, max: u64, space_ptr: u64) -> Result<u64, Error> {
    let (entries, (total, free, largest)) = crate::disk::store::list()?;
    let infos: Vec<keel_abi::DiskInfo> = entries
        .iter()
        .map(|entry| keel_abi::DiskInfo {
            name: keel_abi::name_field(&entry.name),
            size_bytes: entry.bytes,
            writers: entry.writers,
            readers: entry.readers,
        })
        .collect();
    if space_ptr != 0 {
        let space = keel_abi::DiskSpace { total_bytes: total, free_bytes: free, largest_free_bytes: largest };
        with_space(process, |s| s.write_value(space_ptr, &space))?;
    }
    write_array(process, ptr, max, &infos)
}

/// `vm_stats(name_ptr, name_len, ptr, max)`.
pub fn stats(process: &Process, a: [u64; 6]) -> Result<u64, Error> {
    let vm = registry::get(&name(process, a[0], a[1])?).ok_or(Error::NotFound)?;
    let stats = crate::vm::stats::device_stats(&vm);
    write_array(process, a[2], a[3], &stats)
}

/// `vm_vcpu_stats(name_ptr, name_len, ptr, max)`.
pub fn vcpu_stats(process: &Process, a: [u64; 6]) -> Result<u64, Error> {
    let vm = registry::get(&name(process, a[0], a[1])?).ok_or(Error::NotFound)?;
    let stats = crate::vm::stats::vcpu_stats(&vm);
    write_array(process, a[2], a[3], &stats)
}

/// `vm_guest_errors(name_ptr, name_len, ptr)`.
pub fn guest_errors(process: &Process, name_ptr: u64, name_len: u64, ptr: u64) -> Result<u64, Error> {
    let vm = registry::get(&name(process, name_ptr, name_len)?).ok_or(Error::NotFound)?;
    let errors = keel_abi::VmGuestErrors { counts: vm.guest_errors.snapshot() };
    with_space(process, |space| space.write_value(ptr, &errors))?;
    Ok(0)
}

/// The ABI names the kinds of guest error as `vmm` does, in the same order.
const _: () = {
    use keel_vmm::guest_error::{GuestError, KINDS};
    assert!(KINDS == keel_abi::GUEST_ERROR_KINDS);
    let mut kind = 0;
    while kind < KINDS {
        let (ours, abi) = (GuestError::ALL[kind].name().as_bytes(), keel_abi::GUEST_ERROR_NAMES[kind].as_bytes());
        assert!(ours.len() == abi.len());
        let mut at = 0;
        while at < ours.len() {
            assert!(ours[at] == abi[at]);
            at += 1;
        }
        kind += 1;
    }
};

fn read_config(process: &Process, config_ptr: u64) -> Result<VmConfig, Error> {
    with_space(process, |space| {
        let mut raw = [0u8; core::mem::size_of::<keel_abi::VmConfig>()];
        space.read(config_ptr, &mut raw)?;
        let word = |at: usize| -> u64 {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&raw[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        let text = |at: usize, max: usize| space.read_str(word(at), word(at + 8), max);
        let initrd = text(32, MAX_TEXT)?;
        Ok(VmConfig {
            name: text(0, keel_abi::NAME_LEN)?,
            kernel: super::fs::absolute(process, &text(16, MAX_TEXT)?)?,
            initrd: if initrd.is_empty() { None } else { Some(super::fs::absolute(process, &initrd)?) },
            cmdline: text(48, MAX_TEXT)?,
            mem_bytes: word(64),
            vcpus: usize::try_from(word(72)).map_err(|_| Error::InvalidArgument)?,
            disks: Vec::new(),
            net: false,
        })
    })
}

pub fn list(process: &Process, ptr: u64, max: u64) -> Result<u64, Error> {
    let infos: Vec<VmInfo> = registry::all()
        .iter()
        .map(|vm| VmInfo {
            name: keel_abi::name_field(&vm.config.name),
            state: vm.state(),
            vcpus: vm.config.vcpus as u32,
            mem_bytes: vm.config.mem_bytes,
            uptime_ns: registry::uptime_ns(vm),
            exits: crate::vm::stats::total_exits(vm),
            vmid: u32::from(vm.vmid),
            reserved: 0,
        })
        .collect();
    write_array(process, ptr, max, &infos)
}

/// `vm_console_read(name_ptr, name_len, buf, len, timeout_ns, flags)`.
pub fn console_read(process: &Process, a: [u64; 6]) -> Result<u64, Error> {
    let vm = registry::get(&name(process, a[0], a[1])?).ok_or(Error::NotFound)?;
    let len = usize::try_from(a[3]).map_err(|_| Error::TooBig)?.min(MAX_CONSOLE_IO);
    if a[5] & !keel_abi::VM_CONSOLE_READ_OR_TYPED != 0 {
        return Err(Error::InvalidArgument);
    }
    let or_typed = a[5] & keel_abi::VM_CONSOLE_READ_OR_TYPED != 0;
    with_space(process, |space| space.check_writable(a[2], len))?;
    let deadline = crate::arch::timer::now_ns().saturating_add(a[4]);
    let killed = || process.killed.load(core::sync::atomic::Ordering::Acquire);
    let bytes: Vec<u8> = vm
        .console_readers
        .wait_until(Some(deadline), || {
            if killed() {
                return Some(Vec::new());
            }
            let mut console = vm.console.lock();
            if console.is_empty() {
                let typed = or_typed && crate::console::input_pending();
                return (typed || vm.state() != keel_abi::VM_RUNNING).then(Vec::new);
            }
            let n = console.len().min(len);
            Some(console.drain(..n).collect())
        })
        .unwrap_or_default();
    with_space(process, |space| space.write(a[2], &bytes))?;
    Ok(bytes.len() as u64)
}

/// `vm_console_tail(name_ptr, name_len, buf, len)`: the last `len` bytes of the kept tail;
/// returns the tail's whole length.
pub fn console_tail(process: &Process, a: [u64; 6]) -> Result<u64, Error> {
    let vm = registry::get(&name(process, a[0], a[1])?).ok_or(Error::NotFound)?;
    let len = usize::try_from(a[3]).map_err(|_| Error::TooBig)?.min(keel_abi::VM_CONSOLE_TAIL_BYTES);
    with_space(process, |space| space.check_writable(a[2], len))?;
    let (bytes, total): (Vec<u8>, usize) = {
        let tail = vm.console_tail.lock();
        (tail.iter().skip(tail.len().saturating_sub(len)).copied().collect(), tail.len())
    };
    with_space(process, |space| space.write(a[2], &bytes))?;
    Ok(total as u64)
}

/// `vm_console_write(name_ptr, name_len, buf, len)`.
pub fn console_write(process: &Process, a: [u64; 6]) -> Result<u64, Error> {
    let vm = registry::get(&name(process, a[0], a[1])?).ok_or(Error::NotFound)?;
    let len = usize::try_from(a[3]).map_err(|_| Error::TooBig)?.min(MAX_CONSOLE_IO);
    let mut bytes = alloc::vec![0; len];
    with_space(process, |space| space.read(a[2], &mut bytes))?;
    let taken = crate::vm::machine::type_into_console(&vm, false, &bytes).ok_or(Error::NotPermitted)?;
    Ok(taken as u64)
}
