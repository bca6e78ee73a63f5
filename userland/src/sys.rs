//! System calls: `svc #0` and a typed wrapper for every call of [`keel_abi::call`].
//!
//! Results are decoded with [`keel_abi::decode`]; nothing here panics on what the kernel
//! answers.

use alloc::vec::Vec;
use core::time::Duration;
use keel_abi::{call, decode, CpuInfo, DirEntry, Error, MemStats, Stat, StrRef, ThreadInfo, VmConfig, VmInfo, WaitStatus};

/// The console, as file descriptors.
pub const STDIN: u64 = 0;
pub const STDOUT: u64 = 1;
pub const STDERR: u64 = 2;

/// Makes system call `number` with arguments x0..x5 and returns x0 as it came back.
///
/// # Safety
/// The kernel reads and writes user memory through the pointers among the arguments, as the
/// call's ABI describes. Memory it may write must not be referenced by live Rust references
/// (other than a `&mut` handed over for the call), and memory it may read must be
/// initialised. A pointer outside the caller's mapped memory is safe: the kernel refuses it
/// with [`Error::BadAddress`] and touches nothing.
pub unsafe fn raw(number: u64, args: [u64; 6]) -> u64 {
    let result;
    // SAFETY: `svc #0` enters the kernel, which preserves every register but x0 and returns
    // after the instruction; what it does to memory is the caller's contract above.
    unsafe {
        core::arch::asm!(
            "svc #0",
            inlateout("x0") args[0] => result,
            in("x1") args[1],
            in("x2") args[2],
            in("x3") args[3],
            in("x4") args[4],
            in("x5") args[5],
            in("x8") number,
            options(nostack),
        );
    }
    result
}

fn nanoseconds(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A string argument as the kernel reads it.
fn str_ref(text: &str) -> StrRef {
    StrRef {
        ptr: text.as_ptr() as u64,
        len: text.len() as u64,
    }
}

/// Writes some of `bytes` to `fd` (1 and 2 are the console); returns how many were taken.
pub fn write(fd: u64, bytes: &[u8]) -> Result<usize, Error> {
    // SAFETY: the kernel only reads `bytes`, which is initialised and borrowed for the call.
    let raw = unsafe { raw(call::WRITE, [fd, bytes.as_ptr() as u64, bytes.len() as u64, 0, 0, 0]) };
    decode(raw).map(|n| n as usize)
}

/// Writes all of `bytes` to `fd`.
pub fn write_all(fd: u64, mut bytes: &[u8]) -> Result<(), Error> {
    while !bytes.is_empty() {
        let taken = write(fd, bytes)?.min(bytes.len());
        if taken == 0 {
            return Err(Error::InvalidArgument);
        }
        bytes = &bytes[taken..];
    }
    Ok(())
}

/// Reads from `fd` (0 is the console): blocks until at least one byte is there or `timeout`
/// passes (then returns 0); `None` waits for ever.
pub fn read(fd: u64, buffer: &mut [u8], timeout: Option<Duration>) -> Result<usize, Error> {
    let timeout_ns = timeout.map_or(u64::MAX, nanoseconds);
    let args = [fd, buffer.as_mut_ptr() as u64, buffer.len() as u64, timeout_ns, 0, 0];
    // SAFETY: the kernel writes at most `buffer.len()` bytes into `buffer`, which is
    // exclusively borrowed for the call.
    let raw = unsafe { raw(call::READ, args) };
    decode(raw).map(|n| (n as usize).min(buffer.len()))
}

/// Starts the program at `path` (in the initrd) with `args` (`args[0]` is, by convention,
/// its name); returns its pid.
pub fn spawn(path: &str, args: &[&str]) -> Result<u64, Error> {
    let refs: Vec<StrRef> = args.iter().map(|arg| str_ref(arg)).collect();
    let call_args = [
        path.as_ptr() as u64,
        path.len() as u64,
        refs.as_ptr() as u64,
        refs.len() as u64,
        0,
        0,
    ];
    // SAFETY: the kernel only reads the path, the `StrRef` array and the strings it names,
    // all initialised and alive for the call.
    let raw = unsafe { raw(call::SPAWN, call_args) };
    decode(raw)
}

/// Reaps a child that has ended: `pid`, or any child with [`keel_abi::ANY_CHILD`]. With
/// `no_hang`, answers `None` at once if none has ended; a blocking wait answers `None` only
/// when the caller is being killed.
pub fn wait(pid: u64, no_hang: bool) -> Result<Option<WaitStatus>, Error> {
    let mut status = WaitStatus::default();
    let flags = if no_hang { keel_abi::WAIT_NOHANG } else { 0 };
    let status_ptr = &mut status as *mut WaitStatus as u64;
    // SAFETY: the kernel writes one `WaitStatus` into `status`, a local exclusively ours.
    let raw = unsafe { raw(call::WAIT, [pid, status_ptr, flags, 0, 0, 0]) };
    match decode(raw)? {
        0 => Ok(None),
        _ => Ok(Some(status)),
    }
}

/// Ends this process with `code`.
pub fn exit(code: i32) -> ! {
    loop {
        // SAFETY: no pointers; the kernel does not return from `exit`.
        unsafe { raw(call::EXIT, [code as i64 as u64, 0, 0, 0, 0, 0]) };
    }
}

/// Ends process `pid` (not init, not a kernel thread).
pub fn kill(pid: u64) -> Result<(), Error> {
    // SAFETY: no pointers.
    decode(unsafe { raw(call::KILL, [pid, 0, 0, 0, 0, 0]) }).map(drop)
}

/// Sleeps for `duration`.
pub fn sleep(duration: Duration) {
    // SAFETY: no pointers.
    unsafe { raw(call::SLEEP, [nanoseconds(duration), 0, 0, 0, 0, 0]) };
}

/// Gives the CPU to another thread that is ready to run.
pub fn yield_now() {
    // SAFETY: no pointers.
    unsafe { raw(call::YIELD, [0; 6]) };
}

/// Time since boot (monotonic).
pub fn time() -> Duration {
    // SAFETY: no pointers.
    let raw = unsafe { raw(call::TIME, [0; 6]) };
    Duration::from_nanos(decode(raw).unwrap_or(0))
}

/// Fills `threads` with the first of all threads; returns how many exist.
pub fn thread_list(threads: &mut [ThreadInfo]) -> Result<usize, Error> {
    let args = [threads.as_mut_ptr() as u64, threads.len() as u64, 0, 0, 0, 0];
    // SAFETY: the kernel writes at most `threads.len()` entries into `threads`, exclusively
    // borrowed for the call; every bit pattern is a valid `ThreadInfo`.
    decode(unsafe { raw(call::THREAD_LIST, args) }).map(|n| n as usize)
}

/// Memory statistics.
pub fn mem_stats() -> Result<MemStats, Error> {
    let mut stats = MemStats::default();
    let ptr = &mut stats as *mut MemStats as u64;
    // SAFETY: the kernel writes one `MemStats` into `stats`, a local exclusively ours.
    decode(unsafe { raw(call::MEM_STATS, [ptr, 0, 0, 0, 0, 0]) })?;
    Ok(stats)
}

/// Powers the machine off; returns only if the kernel refused.
pub fn poweroff() -> Error {
    // SAFETY: no pointers.
    decode(unsafe { raw(call::POWEROFF, [0; 6]) })
        .err()
        .unwrap_or(Error::InvalidArgument)
}

/// Reboots the machine; returns only if the kernel refused.
pub fn reboot() -> Error {
    // SAFETY: no pointers.
    decode(unsafe { raw(call::REBOOT, [0; 6]) })
        .err()
        .unwrap_or(Error::InvalidArgument)
}

/// This process's pid.
pub fn getpid() -> Result<u64, Error> {
    // SAFETY: no pointers.
    decode(unsafe { raw(call::GETPID, [0; 6]) })
}

/// Fills `cpus` with the first of all CPUs; returns how many exist.
pub fn cpu_list(cpus: &mut [CpuInfo]) -> Result<usize, Error> {
    let args = [cpus.as_mut_ptr() as u64, cpus.len() as u64, 0, 0, 0, 0];
    // SAFETY: the kernel writes at most `cpus.len()` entries into `cpus`, exclusively
    // borrowed for the call; every bit pattern is a valid `CpuInfo`.
    decode(unsafe { raw(call::CPU_LIST, args) }).map(|n| n as usize)
}

/// A VM to define with [`vm_create`]: the paths name files in Keel's file namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmDefinition<'a> {
    pub name: &'a str,
    /// An arm64 Linux Image, or a raw binary.
    pub kernel: &'a str,
    /// The initramfs, if any.
    pub initrd: Option<&'a str>,
    /// The guest kernel's command line.
    pub cmdline: &'a str,
    pub mem_bytes: u64,
    pub vcpus: u64,
}

/// Defines a VM; the kernel checks its files now and runs nothing yet.
pub fn vm_create(definition: &VmDefinition<'_>) -> Result<(), Error> {
    let config = VmConfig {
        name: str_ref(definition.name),
        kernel: str_ref(definition.kernel),
        initrd: definition.initrd.map_or(StrRef::default(), str_ref),
        cmdline: str_ref(definition.cmdline),
        mem_bytes: definition.mem_bytes,
        vcpus: definition.vcpus,
    };
    let ptr = &config as *const VmConfig as u64;
    // SAFETY: the kernel only reads `config` and the strings it names, all initialised and
    // alive for the call.
    decode(unsafe { raw(call::VM_CREATE, [ptr, 0, 0, 0, 0, 0]) }).map(drop)
}

/// A VM call that takes only the VM's name.
fn vm_by_name(number: u64, name: &str) -> Result<(), Error> {
    // SAFETY: the kernel only reads the name, which is initialised and borrowed for the call.
    decode(unsafe { raw(number, [name.as_ptr() as u64, name.len() as u64, 0, 0, 0, 0]) }).map(drop)
}

/// Boots a created or stopped VM.
pub fn vm_start(name: &str) -> Result<(), Error> {
    vm_by_name(call::VM_START, name)
}

/// Asks the guest to power off (graceful); the VM stops when the guest has done so.
pub fn vm_stop(name: &str) -> Result<(), Error> {
    vm_by_name(call::VM_STOP, name)
}

/// Stops the VM at once.
pub fn vm_kill(name: &str) -> Result<(), Error> {
    vm_by_name(call::VM_KILL, name)
}

/// Forgets a VM that is not running.
pub fn vm_destroy(name: &str) -> Result<(), Error> {
    vm_by_name(call::VM_DESTROY, name)
}

/// Fills `vms` with the first of all VMs; returns how many exist.
pub fn vm_list(vms: &mut [VmInfo]) -> Result<usize, Error> {
    let args = [vms.as_mut_ptr() as u64, vms.len() as u64, 0, 0, 0, 0];
    // SAFETY: the kernel writes at most `vms.len()` entries into `vms`, exclusively borrowed
    // for the call; every bit pattern is a valid `VmInfo`.
    decode(unsafe { raw(call::VM_LIST, args) }).map(|n| n as usize)
}

/// Takes what the guest wrote to its console (kept while nobody reads): blocks until some
/// is there or `timeout` passes (then returns 0); `None` waits for ever. With `or_typed`,
/// also returns 0 as soon as Keel's console has typed input to read.
pub fn vm_console_read(name: &str, buffer: &mut [u8], timeout: Option<Duration>, or_typed: bool) -> Result<usize, Error> {
    let timeout_ns = timeout.map_or(u64::MAX, nanoseconds);
    let flags = if or_typed { keel_abi::VM_CONSOLE_READ_OR_TYPED } else { 0 };
    let args = [
        name.as_ptr() as u64,
        name.len() as u64,
        buffer.as_mut_ptr() as u64,
        buffer.len() as u64,
        timeout_ns,
        flags,
    ];
    // SAFETY: the kernel reads the name and writes at most `buffer.len()` bytes into
    // `buffer`, which is exclusively borrowed for the call.
    let raw = unsafe { raw(call::VM_CONSOLE_READ, args) };
    decode(raw).map(|n| (n as usize).min(buffer.len()))
}

/// Types `bytes` into the guest's console; returns how many it took (its input buffer is
/// bounded, so possibly fewer, or 0 when it is full).
pub fn vm_console_write(name: &str, bytes: &[u8]) -> Result<usize, Error> {
    let args = [
        name.as_ptr() as u64,
        name.len() as u64,
        bytes.as_ptr() as u64,
        bytes.len() as u64,
        0,
        0,
    ];
    // SAFETY: the kernel only reads the name and `bytes`, initialised and borrowed for the
    // call.
    let raw = unsafe { raw(call::VM_CONSOLE_WRITE, args) };
    decode(raw).map(|n| (n as usize).min(bytes.len()))
}

/// Opens the file or directory at `path` with `keel_abi::O_*` flags; returns its fd (3 or
/// more). `read`, `write` and [`seek`] take the fd; [`close`] ends it.
pub fn open(path: &str, flags: u64) -> Result<u64, Error> {
    // SAFETY: the kernel only reads the path, initialised and borrowed for the call.
    decode(unsafe { raw(call::OPEN, [path.as_ptr() as u64, path.len() as u64, flags, 0, 0, 0]) })
}

/// Closes `fd`.
pub fn close(fd: u64) -> Result<(), Error> {
    // SAFETY: no pointers.
    decode(unsafe { raw(call::CLOSE, [fd, 0, 0, 0, 0, 0]) }).map(drop)
}

/// Moves the offset of `fd` (`keel_abi::SEEK_SET`, `SEEK_CUR`, `SEEK_END`); returns it.
pub fn seek(fd: u64, offset: i64, whence: u64) -> Result<u64, Error> {
    // SAFETY: no pointers.
    decode(unsafe { raw(call::SEEK, [fd, offset as u64, whence, 0, 0, 0]) })
}

/// Attributes of the file at `path`.
pub fn stat(path: &str) -> Result<Stat, Error> {
    let mut stat = Stat::default();
    let args = [path.as_ptr() as u64, path.len() as u64, &mut stat as *mut Stat as u64, 0, 0, 0];
    // SAFETY: the kernel reads the path and writes one `Stat` into `stat`, a local
    // exclusively ours.
    decode(unsafe { raw(call::STAT, args) })?;
    Ok(stat)
}

/// Attributes of the open file `fd`.
pub fn fstat(fd: u64) -> Result<Stat, Error> {
    let mut stat = Stat::default();
    // SAFETY: the kernel writes one `Stat` into `stat`, a local exclusively ours.
    decode(unsafe { raw(call::FSTAT, [fd, &mut stat as *mut Stat as u64, 0, 0, 0, 0]) })?;
    Ok(stat)
}

/// Fills `entries` with the next entries of the open directory `fd`; 0 at its end.
pub fn readdir(fd: u64, entries: &mut [DirEntry]) -> Result<usize, Error> {
    let args = [fd, entries.as_mut_ptr() as u64, entries.len() as u64, 0, 0, 0];
    // SAFETY: the kernel writes at most `entries.len()` entries into `entries`, exclusively
    // borrowed for the call; every bit pattern is a valid `DirEntry`.
    decode(unsafe { raw(call::READDIR, args) }).map(|n| (n as usize).min(entries.len()))
}

/// Changes the current directory.
pub fn chdir(path: &str) -> Result<(), Error> {
    // SAFETY: the kernel only reads the path, initialised and borrowed for the call.
    decode(unsafe { raw(call::CHDIR, [path.as_ptr() as u64, path.len() as u64, 0, 0, 0, 0]) }).map(drop)
}

/// The current directory.
pub fn getcwd() -> Result<alloc::string::String, Error> {
    let mut buffer = alloc::vec![0u8; keel_abi::PATH_MAX];
    // SAFETY: the kernel writes at most `buffer.len()` bytes into `buffer`, exclusively ours.
    let len = decode(unsafe { raw(call::GETCWD, [buffer.as_mut_ptr() as u64, buffer.len() as u64, 0, 0, 0, 0]) })?;
    buffer.truncate((len as usize).min(keel_abi::PATH_MAX));
    alloc::string::String::from_utf8(buffer).map_err(|_| Error::InvalidArgument)
}

/// The network as text (`keel_abi::NET_SHOW_ALL` or `NET_SHOW_FORWARDS`).
pub fn net_status(what: u64) -> Result<alloc::string::String, Error> {
    let mut buffer = alloc::vec![0u8; 8192];
    for _ in 0..4 {
        let args = [buffer.as_mut_ptr() as u64, buffer.len() as u64, what, 0, 0, 0];
        // SAFETY: the kernel writes at most `buffer.len()` bytes into `buffer`, exclusively
        // borrowed for the call.
        let total = decode(unsafe { raw(call::NET_STATUS, args) })? as usize;
        if total <= buffer.len() {
            buffer.truncate(total);
            return Ok(alloc::string::String::from_utf8_lossy(&buffer).into_owned());
        }
        buffer.resize(total.min(1 << 20) + 1024, 0);
    }
    Err(Error::TooBig)
}

/// Forwards `wan_port` of Keel's wan interface to `guest:guest_port`.
pub fn net_forward_add(wan_port: u16, guest: [u8; 4], guest_port: u16) -> Result<(), Error> {
    let args = [u64::from(wan_port), u64::from(u32::from_be_bytes(guest)), u64::from(guest_port), 0, 0, 0];
    // SAFETY: no pointers.
    decode(unsafe { raw(call::NET_FORWARD_ADD, args) }).map(drop)
}

/// Removes the forward of `wan_port`.
pub fn net_forward_del(wan_port: u16) -> Result<(), Error> {
    // SAFETY: no pointers.
    decode(unsafe { raw(call::NET_FORWARD_DEL, [u64::from(wan_port), 0, 0, 0, 0, 0]) }).map(drop)
}

/// One ICMP echo to `to`: the round trip, or None without a reply within `timeout`.
pub fn net_ping(to: [u8; 4], timeout: Duration) -> Result<Option<Duration>, Error> {
    let args = [u64::from(u32::from_be_bytes(to)), nanoseconds(timeout), 0, 0, 0, 0];
    // SAFETY: no pointers.
    let rtt = decode(unsafe { raw(call::NET_PING, args) })?;
    Ok((rtt != keel_abi::NET_NO_REPLY).then(|| Duration::from_nanos(rtt)))
}

/// Whether the VM gets a NIC on Keel's switch at its next start.
pub fn vm_net(name: &str, on: bool) -> Result<(), Error> {
    let args = [name.as_ptr() as u64, name.len() as u64, u64::from(on), 0, 0, 0];
    // SAFETY: the kernel only reads the name, initialised and borrowed for the call.
    decode(unsafe { raw(call::VM_NET, args) }).map(drop)
}

/// The last console output of the VM's latest run (kept after it stops, not consumed):
/// fills the end of it into `buffer` and returns how many bytes that is.
pub fn vm_console_tail(name: &str, buffer: &mut [u8]) -> Result<usize, Error> {
    let args = [name.as_ptr() as u64, name.len() as u64, buffer.as_mut_ptr() as u64, buffer.len() as u64, 0, 0];
    // SAFETY: the kernel reads the name and writes at most `buffer.len()` bytes into
    // `buffer`, which is exclusively borrowed for the call.
    let total = decode(unsafe { raw(call::VM_CONSOLE_TAIL, args) })? as usize;
    Ok(total.min(buffer.len()))
}
