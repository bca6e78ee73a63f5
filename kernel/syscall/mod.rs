//! The system calls of the user ABI (keel-abi): argument checks and dispatch.

mod fs;
mod net;
mod vm;

use crate::arch::exception::TrapFrame;
use crate::arch::{cpu, timer};
use crate::proc::{self, Process};
use crate::sched;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use keel_abi::{call, CpuInfo, Error, MemStats, StrRef, ThreadInfo};

/// Largest single console read or write.
const MAX_IO: usize = 64 * 1024;
/// Longest path.
const MAX_PATH: usize = 256;

/// Handles `svc #0` from EL0: x8 = number, x0..x5 = arguments, x0 = result.
pub fn dispatch(frame: &mut TrapFrame) {
    let number = frame.x[8];
    let args = [frame.x[0], frame.x[1], frame.x[2], frame.x[3], frame.x[4], frame.x[5]];
    let result = match proc::current() {
        Some(process) => handle(&process, number, args),
        None => Err(Error::NotPermitted),
    };
    frame.x[0] = keel_abi::encode(result);
}

fn handle(process: &Arc<Process>, number: u64, a: [u64; 6]) -> Result<u64, Error> {
    match number {
        call::WRITE => write(process, a[0], a[1], a[2]),
        call::READ => read(process, a[0], a[1], a[2], a[3]),
        call::SPAWN => spawn(process, a[0], a[1], a[2], a[3]),
        call::WAIT => wait(process, a[0], a[1], a[2]),
        call::EXIT => proc::exit_current(keel_abi::EXITED, a[0] as i64),
        call::KILL => proc::kill(a[0]).map(|()| 0),
        call::SLEEP => {
            sched::sleep::sleep_until(timer::now_ns().saturating_add(a[0]));
            Ok(0)
        }
        call::YIELD => {
            sched::yield_now();
            Ok(0)
        }
        call::TIME => Ok(timer::now_ns()),
        call::THREAD_LIST => thread_list(process, a[0], a[1]),
        call::MEM_STATS => mem_stats(process, a[0]),
        call::POWEROFF => crate::power::power_off(),
        call::REBOOT => crate::power::reboot(),
        call::GETPID => Ok(process.pid),
        call::CPU_LIST => cpu_list(process, a[0], a[1]),
        call::VM_CREATE => vm::create(process, a[0]),
        call::VM_START => vm::by_name(process, a[0], a[1], crate::vm::registry::start),
        call::VM_STOP => vm::by_name(process, a[0], a[1], crate::vm::registry::request_stop),
        call::VM_KILL => vm::by_name(process, a[0], a[1], crate::vm::registry::kill),
        call::VM_DESTROY => vm::by_name(process, a[0], a[1], crate::vm::registry::destroy),
        call::VM_LIST => vm::list(process, a[0], a[1]),
        call::VM_CONSOLE_READ => vm::console_read(process, a),
        call::VM_CONSOLE_WRITE => vm::console_write(process, a),
        call::VM_CONSOLE_TAIL => vm::console_tail(process, a),
        call::OPEN => fs::open(process, a[0], a[1], a[2]),
        call::CLOSE => fs::close(process, a[0]),
        call::SEEK => fs::seek(process, a[0], a[1], a[2]),
        call::STAT => fs::stat(process, a[0], a[1], a[2]),
        call::FSTAT => fs::fstat(process, a[0], a[1]),
        call::READDIR => fs::readdir(process, a[0], a[1], a[2]),
        call::CHDIR => fs::chdir(process, a[0], a[1]),
        call::GETCWD => fs::getcwd(process, a[0], a[1]),
        call::VM_CREATE_DISKS => vm::create_with_disks(process, a[0], a[1], a[2]),
        call::DISK_LIST => vm::disk_list(process, a[0], a[1], a[2]),
        call::DISK_DELETE => vm::by_name(process, a[0], a[1], crate::disk::store::delete),
        call::VM_STATS => vm::stats(process, a),
        call::VM_GUEST_ERRORS => vm::guest_errors(process, a[0], a[1], a[2]),
        call::VM_VCPU_STATS => vm::vcpu_stats(process, a),
        call::NET_STATUS => net::status(process, a[0], a[1], a[2]),
        call::NET_FORWARD_ADD => net::forward_add(a[0], a[1], a[2]),
        call::NET_FORWARD_DEL => net::forward_del(a[0]),
        call::NET_PING => net::ping(a[0], a[1]),
        call::VM_NET => net::vm_net(process, a[0], a[1], a[2]),
        _ => Err(Error::NoSuchCall),
    }
}

/// Runs `f` with the process's address space (gone once it has exited).
pub(crate) fn with_space<R>(process: &Process, f: impl FnOnce(&proc::space::AddressSpace) -> Result<R, Error>) -> Result<R, Error> {
    match process.space.lock().as_ref() {
        Some(space) => f(space),
        None => Err(Error::BadAddress),
    }
}

fn write(process: &Process, fd: u64, ptr: u64, len: u64) -> Result<u64, Error> {
    if fd >= crate::fs::fd::FIRST_FD {
        return fs::write(process, fd, ptr, len);
    }
    if fd != 1 && fd != 2 {
        return Err(Error::InvalidArgument);
    }
    let len = usize::try_from(len).map_err(|_| Error::TooBig)?.min(MAX_IO);
    let mut bytes = alloc::vec![0; len];
    with_space(process, |space| space.read(ptr, &mut bytes))?;
    crate::console::write_bytes(&bytes);
    Ok(len as u64)
}

fn read(process: &Arc<Process>, fd: u64, ptr: u64, len: u64, timeout_ns: u64) -> Result<u64, Error> {
    if fd >= crate::fs::fd::FIRST_FD {
        return fs::read(process, fd, ptr, len);
    }
    if fd != 0 {
        return Err(Error::InvalidArgument);
    }
    let len = usize::try_from(len).map_err(|_| Error::TooBig)?.min(MAX_IO);
    // Check the buffer before blocking, so a bad pointer fails at once.
    with_space(process, |space| space.check_writable(ptr, len))?;
    let deadline = if timeout_ns == u64::MAX { None } else { Some(timer::now_ns().saturating_add(timeout_ns)) };
    let mut buffer = alloc::vec![0; len];
    let killed = || process.killed.load(Ordering::Acquire);
    let n = crate::console::read_input(&mut buffer, deadline, killed);
    with_space(process, |space| space.write(ptr, &buffer[..n]))?;
    Ok(n as u64)
}

fn spawn(process: &Process, path_ptr: u64, path_len: u64, argv_ptr: u64, argc: u64) -> Result<u64, Error> {
    let argc = usize::try_from(argc).map_err(|_| Error::TooBig)?;
    if argc > 64 {
        return Err(Error::TooBig);
    }
    let (path, args) = with_space(process, |space| {
        let path = space.read_str(path_ptr, path_len, MAX_PATH)?;
        let mut refs = alloc::vec![StrRef::default(); argc];
        for (i, r) in refs.iter_mut().enumerate() {
            let mut raw = [0u8; 16];
            space.read(argv_ptr + (i * 16) as u64, &mut raw)?;
            let (ptr, len) = raw.split_at(8);
            r.ptr = u64::from_le_bytes(ptr.try_into().map_err(|_| Error::InvalidArgument)?);
            r.len = u64::from_le_bytes(len.try_into().map_err(|_| Error::InvalidArgument)?);
        }
        let args: Result<Vec<String>, Error> = refs.iter().map(|r| space.read_str(r.ptr, r.len, 4096)).collect();
        Ok((path, args?))
    })?;
    proc::spawn(&path, &args, process.pid)
}

fn wait(process: &Process, pid: u64, status_ptr: u64, flags: u64) -> Result<u64, Error> {
    if status_ptr != 0 {
        with_space(process, |space| space.write_value(status_ptr, &keel_abi::WaitStatus::default()))?;
    }
    match proc::wait(pid, flags & keel_abi::WAIT_NOHANG != 0)? {
        Some(status) => {
            if status_ptr != 0 {
                with_space(process, |space| space.write_value(status_ptr, &status))?;
            }
            Ok(status.pid)
        }
        None => Ok(0),
    }
}

/// Writes `items` to the user array at `ptr` (at most `max`); returns how many exist.
pub(crate) fn write_array<T: Copy>(process: &Process, ptr: u64, max: u64, items: &[T]) -> Result<u64, Error> {
    let count = items.len().min(usize::try_from(max).unwrap_or(usize::MAX));
    let size = core::mem::size_of::<T>() as u64;
    with_space(process, |space| {
        for (i, item) in items[..count].iter().enumerate() {
            space.write_value(ptr.checked_add(i as u64 * size).ok_or(Error::BadAddress)?, item)?;
        }
        Ok(())
    })?;
    Ok(items.len() as u64)
}

fn thread_list(process: &Process, ptr: u64, max: u64) -> Result<u64, Error> {
    // An exited thread is gone for user space; the scheduler keeps it only until the next
    // switch on its CPU releases it (an idle CPU may not switch for a while).
    let infos: Vec<ThreadInfo> = sched::threads()
        .iter()
        .filter(|thread| thread.state() != sched::thread::EXITED)
        .map(|thread| {
            let (kind, pid) = match thread.kind {
                sched::thread::ThreadKind::Kernel => (keel_abi::KIND_KERNEL, 0),
                sched::thread::ThreadKind::User { pid } => (keel_abi::KIND_USER, pid),
                sched::thread::ThreadKind::Vcpu { .. } => (keel_abi::KIND_VCPU, 0),
            };
            ThreadInfo {
                tid: thread.id,
                pid,
                parent: proc::by_pid(pid).map_or(0, |p| p.parent()),
                kind,
                state: thread.state(),
                cpu: thread.last_cpu() as u32,
                weight: thread.weight,
                cpu_time_ns: thread.cpu_time_ns(),
                name: keel_abi::name_field(&thread.name),
            }
        })
        .collect();
    write_array(process, ptr, max, &infos)
}

fn mem_stats(process: &Process, ptr: u64) -> Result<u64, Error> {
    let (usable, free) = crate::mm::kernel_space::usable_and_free_bytes();
    let (heap, heap_used) = crate::mm::heap::usage();
    let stats = MemStats {
        total_bytes: crate::mm::kernel_space::ram_bytes(),
        usable_bytes: usable,
        free_bytes: free,
        heap_bytes: heap as u64,
        heap_used_bytes: heap_used as u64,
    };
    with_space(process, |space| space.write_value(ptr, &stats))?;
    Ok(0)
}

fn cpu_list(process: &Process, ptr: u64, max: u64) -> Result<u64, Error> {
    let infos: Vec<CpuInfo> = cpu::online()
        .map(|c| {
            let (ready, idle_ns, busy_ns) = sched::cpu_load(c.index);
            CpuInfo {
                index: c.index as u32,
                online: 1,
                mpidr: c.mpidr.load(Ordering::Relaxed),
                ready: ready as u64,
                idle_ns,
                busy_ns,
                ticks: c.ticks.load(Ordering::Relaxed),
            }
        })
        .collect();
    write_array(process, ptr, max, &infos)
}
