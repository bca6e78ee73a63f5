//! The system-call ABI shared by the Keel kernel and user space.
//!
//! Calling convention: `svc #0` with the call number in x8 and up to six arguments in
//! x0..x5; the result comes back in x0. A result in `-4095..=-1` is an [`Error`]; any other
//! value is the call's success value. Pointers are user virtual addresses; the kernel
//! checks every pointer and length and answers [`Error::BadAddress`] instead of faulting.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod vmstats;
pub use vmstats::VmVcpuStats;

/// System-call numbers (x8).
pub mod call {
    /// `write(fd, ptr, len) -> bytes`: fd 1 and 2 are the console.
    pub const WRITE: u64 = 1;
    /// `read(fd, ptr, len, timeout_ns) -> bytes`: fd 0 is the console. Blocks until at
    /// least one byte is there or `timeout_ns` passes (then 0); `u64::MAX` waits forever.
    pub const READ: u64 = 2;
    /// `spawn(path_ptr, path_len, argv_ptr, argc) -> pid`: runs an ELF from the initrd.
    /// `argv_ptr` points at `argc` [`super::StrRef`]s.
    pub const SPAWN: u64 = 3;
    /// `wait(pid, status_ptr, flags) -> pid`: reaps a child (`pid` = u64::MAX: any child)
    /// and writes a [`super::WaitStatus`]; with [`super::WAIT_NOHANG`] returns 0 at once if
    /// none has ended.
    pub const WAIT: u64 = 4;
    /// `exit(code) -> !`.
    pub const EXIT: u64 = 5;
    /// `kill(pid) -> 0`: ends a process (not init, not a kernel thread).
    pub const KILL: u64 = 6;
    /// `sleep(ns) -> 0`.
    pub const SLEEP: u64 = 7;
    /// `yield() -> 0`.
    pub const YIELD: u64 = 8;
    /// `time() -> ns` since boot (monotonic).
    pub const TIME: u64 = 9;
    /// `thread_list(ptr, max) -> total`: fills up to `max` [`super::ThreadInfo`]s and
    /// returns how many threads exist (user processes, kernel threads, vCPUs).
    pub const THREAD_LIST: u64 = 10;
    /// `mem_stats(ptr) -> 0`: writes a [`super::MemStats`].
    pub const MEM_STATS: u64 = 11;
    /// `poweroff() -> !`.
    pub const POWEROFF: u64 = 12;
    /// `reboot() -> !`.
    pub const REBOOT: u64 = 13;
    /// `getpid() -> pid`.
    pub const GETPID: u64 = 14;
    /// `cpu_list(ptr, max) -> total`: fills up to `max` [`super::CpuInfo`]s.
    pub const CPU_LIST: u64 = 15;
    /// `vm_create(config_ptr) -> 0`: defines a VM from a [`super::VmConfig`]; files are
    /// checked now, nothing runs yet.
    pub const VM_CREATE: u64 = 16;
    /// `vm_start(name_ptr, name_len) -> 0`: boots a created or stopped VM.
    pub const VM_START: u64 = 17;
    /// `vm_stop(name_ptr, name_len) -> 0`: asks the guest to power off (graceful).
    pub const VM_STOP: u64 = 18;
    /// `vm_kill(name_ptr, name_len) -> 0`: stops the VM at once.
    pub const VM_KILL: u64 = 19;
    /// `vm_destroy(name_ptr, name_len) -> 0`: forgets a VM that is not running.
    pub const VM_DESTROY: u64 = 20;
    /// `vm_list(ptr, max) -> total`: fills up to `max` [`super::VmInfo`]s.
    pub const VM_LIST: u64 = 21;
    /// `vm_console_read(name_ptr, name_len, buf, len, timeout_ns, flags) -> bytes`: takes
    /// guest console output (kept in a bounded buffer while nobody reads); 0 after the
    /// timeout, or at once when the VM is not running, or with
    /// [`super::VM_CONSOLE_READ_OR_TYPED`] when Keel's console has typed input to read.
    pub const VM_CONSOLE_READ: u64 = 22;
    /// `vm_console_write(name_ptr, name_len, buf, len) -> bytes`: types into the guest's
    /// console; returns how many bytes it took (its input buffer is bounded).
    pub const VM_CONSOLE_WRITE: u64 = 23;
    /// `open(path_ptr, path_len, flags) -> fd`: opens a file or directory of the file
    /// namespace ([`super::O_READ`], [`super::O_WRITE`], [`super::O_CREATE`],
    /// [`super::O_TRUNCATE`]); a relative path starts at the process's current directory.
    /// `read` and `write` take the fd (from 3 on), at its offset, which they advance.
    pub const OPEN: u64 = 24;
    /// `close(fd) -> 0`.
    pub const CLOSE: u64 = 25;
    /// `seek(fd, offset, whence) -> offset`: [`super::SEEK_SET`], [`super::SEEK_CUR`] or
    /// [`super::SEEK_END`]; `offset` is an i64.
    pub const SEEK: u64 = 26;
    /// `stat(path_ptr, path_len, stat_ptr) -> 0`: writes a [`super::Stat`].
    pub const STAT: u64 = 27;
    /// `fstat(fd, stat_ptr) -> 0`: writes a [`super::Stat`] of an open file.
    pub const FSTAT: u64 = 28;
    /// `readdir(fd, ptr, max) -> n`: fills up to `max` [`super::DirEntry`]s with the next
    /// entries of an open directory; 0 at its end.
    pub const READDIR: u64 = 29;
    /// `chdir(path_ptr, path_len) -> 0`: sets the process's current directory (children
    /// start in their parent's).
    pub const CHDIR: u64 = 30;
    /// `getcwd(ptr, len) -> n`: writes the current directory (at most `len` bytes) and
    /// returns its full length.
    pub const GETCWD: u64 = 31;
    /// `vm_create_disks(config_ptr, disks_ptr, count) -> 0`: `vm_create` with up to
    /// [`super::VM_MAX_DISKS`] [`super::VmDiskSpec`]s (vda, vdb, … in this order). A disk
    /// with a size is made on the host disk if missing (`Exists` if it exists with another
    /// size); one without must exist. Nothing changes on error: `TooBig` when a new disk does
    /// not fit (see `disk_list`'s [`super::DiskSpace`]), `NotFound` without a host disk.
    pub const VM_CREATE_DISKS: u64 = 40;
    /// `disk_list(ptr, max, space_ptr) -> total`: fills up to `max` [`super::DiskInfo`]s
    /// (the guest disks on the host disk) and, if `space_ptr` is not 0, a
    /// [`super::DiskSpace`]; `NotFound` without a usable host disk.
    pub const DISK_LIST: u64 = 41;
    /// `disk_delete(name_ptr, name_len) -> 0`: deletes a guest disk no running VM uses
    /// (`NotPermitted` while one does).
    pub const DISK_DELETE: u64 = 42;
    /// `vm_stats(name_ptr, name_len, ptr, max) -> total`: fills up to `max`
    /// [`super::VmDeviceStats`], one per virtio device of a running VM (of its last run
    /// when it is not running; 0 before its first start).
    pub const VM_STATS: u64 = 43;

    // The network: 50..=69.
    /// `net_status(ptr, len, what) -> total`: the network as text ([`super::NET_SHOW_ALL`]:
    /// interfaces, switch ports, forwards, leases; [`super::NET_SHOW_FORWARDS`]: forwards);
    /// writes at most `len` bytes and returns the whole length.
    pub const NET_STATUS: u64 = 50;
    /// `net_forward_add(wan_port, guest_ip, guest_port) -> 0`: forwards TCP connections to
    /// `wan_port` of Keel's wan interface to a guest (`guest_ip` as `u32::from_be_bytes`).
    /// `Exists`: the port is forwarded; `NotPermitted`: a port Keel serves itself (80);
    /// `InvalidArgument`: port 0 or not a guest address on br0; `TooBig`: too many.
    pub const NET_FORWARD_ADD: u64 = 51;
    /// `net_forward_del(wan_port) -> 0`; `NotFound` if no forward uses the port.
    pub const NET_FORWARD_DEL: u64 = 52;
    /// `net_ping(ip, timeout_ns) -> rtt_ns`: one ICMP echo from the interface that routes to
    /// `ip` (`u32::from_be_bytes`); [`super::NET_NO_REPLY`] when none came in time;
    /// `NotFound` when no interface routes there.
    pub const NET_PING: u64 = 53;
    /// `vm_net(name_ptr, name_len, on) -> 0`: whether the VM gets a virtio-net device on
    /// Keel's switch at its next start (`NotPermitted` while it runs).
    pub const VM_NET: u64 = 54;

    // Observability: 60..=64.
    /// `vm_vcpu_stats(name_ptr, name_len, ptr, max) -> total`: fills up to `max`
    /// [`super::VmVcpuStats`], one per vCPU of the VM: its counters since the VM's last
    /// start (exits by class, interrupts injected, errors) and its thread's CPU time.
    pub const VM_VCPU_STATS: u64 = 60;

    // VM lifecycle: 65..=69.
    /// `vm_console_tail(name_ptr, name_len, buf, len) -> total`: the last
    /// [`super::VM_CONSOLE_TAIL_BYTES`] bytes the VM's consoles printed in its latest run (and
    /// Keel's own line when it crashed), kept until its next start and not consumed by
    /// reading (unlike `vm_console_read`). Writes the last `len` bytes of them and returns
    /// how many there are.
    pub const VM_CONSOLE_TAIL: u64 = 65;

    // Hostile guests: 75..=79.
    /// `vm_guest_errors(name_ptr, name_len, ptr) -> 0`: writes the VM's
    /// [`super::VmGuestErrors`] (errors its guest provoked since its last start; kept after
    /// it stops).
    pub const VM_GUEST_ERRORS: u64 = 75;
}

/// Errors, returned as their negative code in x0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum Error {
    /// A pointer or length does not lie in the caller's mapped memory.
    BadAddress = -1,
    /// An argument is out of range or malformed (bad UTF-8, too long, unknown fd).
    InvalidArgument = -2,
    /// No such file, process or call.
    NotFound = -3,
    /// The kernel is out of memory.
    NoMemory = -4,
    /// `wait`: the caller has no such child.
    NoChild = -5,
    /// The file is not a runnable ELF for Keel.
    NotExecutable = -6,
    /// The operation is not allowed (e.g. killing init or a kernel thread).
    NotPermitted = -7,
    /// The system call number is unknown.
    NoSuchCall = -8,
    /// Too many processes, arguments or bytes.
    TooBig = -9,
    /// A directory where a file is needed.
    IsADirectory = -10,
    /// A file where a directory is needed (also: a path component that is not one).
    NotADirectory = -11,
    /// The file system cannot be written (the initrd).
    ReadOnly = -12,
    /// The file descriptor is not open (or not open for this).
    BadFd = -13,
    /// A path or one of its names is too long.
    NameTooLong = -14,
    /// The device or the file server failed.
    IoError = -15,
    /// The name exists already.
    Exists = -16,
}

impl Error {
    /// All errors, for decoding.
    pub const ALL: [Error; 16] = [
        Error::BadAddress,
        Error::InvalidArgument,
        Error::NotFound,
        Error::NoMemory,
        Error::NoChild,
        Error::NotExecutable,
        Error::NotPermitted,
        Error::NoSuchCall,
        Error::TooBig,
        Error::IsADirectory,
        Error::NotADirectory,
        Error::ReadOnly,
        Error::BadFd,
        Error::NameTooLong,
        Error::IoError,
        Error::Exists,
    ];

    /// The value placed in x0.
    pub const fn to_raw(self) -> u64 {
        self as i64 as u64
    }

    /// A short description for messages.
    pub const fn message(self) -> &'static str {
        match self {
            Error::BadAddress => "bad address",
            Error::InvalidArgument => "invalid argument",
            Error::NotFound => "not found",
            Error::NoMemory => "out of memory",
            Error::NoChild => "no such child",
            Error::NotExecutable => "not an executable",
            Error::NotPermitted => "not permitted",
            Error::NoSuchCall => "no such system call",
            Error::TooBig => "too big",
            Error::IsADirectory => "is a directory",
            Error::NotADirectory => "not a directory",
            Error::ReadOnly => "read-only file system",
            Error::BadFd => "bad file descriptor",
            Error::NameTooLong => "name too long",
            Error::IoError => "I/O error",
            Error::Exists => "file exists",
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message())
    }
}

/// Decodes x0: an error code, or the success value.
pub fn decode(raw: u64) -> Result<u64, Error> {
    let signed = raw as i64;
    if (-4095..0).contains(&signed) {
        Err(Error::ALL.iter().copied().find(|e| *e as i64 == signed).unwrap_or(Error::InvalidArgument))
    } else {
        Ok(raw)
    }
}

/// Encodes a result for x0.
pub fn encode(result: Result<u64, Error>) -> u64 {
    match result {
        Ok(value) => value,
        Err(error) => error.to_raw(),
    }
}

/// A string argument: pointer and length in the caller's memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrRef {
    pub ptr: u64,
    pub len: u64,
}

/// `wait` flag: do not block.
pub const WAIT_NOHANG: u64 = 1;
/// `wait` with this pid: any child.
pub const ANY_CHILD: u64 = u64::MAX;

/// How a process ended.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitStatus {
    pub pid: u64,
    /// [`EXITED`], [`KILLED`] or [`FAULTED`].
    pub how: u64,
    /// The exit code when `how == EXITED`.
    pub code: i64,
}

/// The process called `exit`.
pub const EXITED: u64 = 0;
/// The process was killed with `kill`.
pub const KILLED: u64 = 1;
/// The process was killed for a fault or a bad system call; the kernel printed why.
pub const FAULTED: u64 = 2;

/// Longest name in [`ThreadInfo`].
pub const NAME_LEN: usize = 32;

/// One thread as `thread_list` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Thread id (for user processes, the pid).
    pub tid: u64,
    /// The owning process's pid (0 for kernel threads).
    pub pid: u64,
    /// The parent process's pid (0 if none).
    pub parent: u64,
    /// [`KIND_KERNEL`], [`KIND_USER`] or [`KIND_VCPU`].
    pub kind: u32,
    /// [`STATE_RUNNING`], [`STATE_READY`], [`STATE_BLOCKED`] or [`STATE_EXITED`].
    pub state: u32,
    /// CPU it runs or last ran on.
    pub cpu: u32,
    /// Scheduling weight (1024 = normal).
    pub weight: u32,
    /// CPU time used, in nanoseconds.
    pub cpu_time_ns: u64,
    /// The name, NUL-padded.
    pub name: [u8; NAME_LEN],
}

impl Default for ThreadInfo {
    fn default() -> Self {
        Self { tid: 0, pid: 0, parent: 0, kind: 0, state: 0, cpu: 0, weight: 0, cpu_time_ns: 0, name: [0; NAME_LEN] }
    }
}

impl ThreadInfo {
    /// The name as text (up to the first NUL; invalid UTF-8 shows as `?`).
    pub fn name(&self) -> &str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }
}

/// Copies `text` into a fixed, NUL-padded name field (cut at a character boundary).
pub fn name_field(text: &str) -> [u8; NAME_LEN] {
    let mut field = [0; NAME_LEN];
    let mut len = text.len().min(NAME_LEN);
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    field[..len].copy_from_slice(&text.as_bytes()[..len]);
    field
}

pub const KIND_KERNEL: u32 = 0;
pub const KIND_USER: u32 = 1;
pub const KIND_VCPU: u32 = 2;

pub const STATE_RUNNING: u32 = 0;
pub const STATE_READY: u32 = 1;
pub const STATE_BLOCKED: u32 = 2;
pub const STATE_EXITED: u32 = 3;

/// Memory as `mem_stats` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStats {
    /// RAM the machine has.
    pub total_bytes: u64,
    /// RAM the frame allocator can hand out.
    pub usable_bytes: u64,
    /// Of that, free now.
    pub free_bytes: u64,
    /// Kernel heap size and use.
    pub heap_bytes: u64,
    pub heap_used_bytes: u64,
}

/// One CPU as `cpu_list` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuInfo {
    pub index: u32,
    pub online: u32,
    pub mpidr: u64,
    /// Threads waiting to run on it.
    pub ready: u64,
    /// Time spent idle and busy since boot, in nanoseconds.
    pub idle_ns: u64,
    pub busy_ns: u64,
    /// Timer interrupts taken.
    pub ticks: u64,
}

/// A VM definition for `vm_create`: strings are [`StrRef`]s in the caller's memory.
/// The name is 1 to [`NAME_LEN`] letters, digits, `-` or `_`; memory is a multiple of
/// 2 MiB between [`VM_MIN_MEM`] and [`VM_MAX_MEM`]; 1 to [`VM_MAX_VCPUS`] vCPUs. A name in
/// use, or a missing kernel or initrd file, is refused (`InvalidArgument`, `NotFound`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmConfig {
    pub name: StrRef,
    /// Path of the kernel (an arm64 Linux Image or a raw binary).
    pub kernel: StrRef,
    /// Path of the initramfs; length 0 for none.
    pub initrd: StrRef,
    /// The guest kernel's command line.
    pub cmdline: StrRef,
    pub mem_bytes: u64,
    pub vcpus: u64,
}

/// Most vCPUs one VM may have.
pub const VM_MAX_VCPUS: u64 = 8;
/// Smallest and largest guest RAM.
pub const VM_MIN_MEM: u64 = 16 << 20;
pub const VM_MAX_MEM: u64 = 16 << 30;

/// A guest disk of `vm_create_disks`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmDiskSpec {
    /// The disk's name on the host disk: 1 to 31 letters, digits, `-` and `_`, starting
    /// with a letter.
    pub name: StrRef,
    /// Bytes (rounded up to whole MiB) to make it with if it is missing; 0: it must exist.
    pub size_bytes: u64,
    /// [`DISK_READ_ONLY`].
    pub flags: u64,
}

/// The guest sees the disk read-only.
pub const DISK_READ_ONLY: u64 = 1;
/// Most disks one VM may have.
pub const VM_MAX_DISKS: u64 = 4;

/// One guest disk as `disk_list` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskInfo {
    pub name: [u8; NAME_LEN],
    pub size_bytes: u64,
    /// Running VMs that use it read-write, and read-only.
    pub writers: u32,
    pub readers: u32,
}

impl Default for DiskInfo {
    fn default() -> Self {
        Self { name: [0; NAME_LEN], size_bytes: 0, writers: 0, readers: 0 }
    }
}

impl DiskInfo {
    /// The name as text.
    pub fn name(&self) -> &str {
        field_text(&self.name)
    }
}

/// The host disk's space, as `disk_list` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskSpace {
    pub total_bytes: u64,
    pub free_bytes: u64,
    /// The largest disk that can still be made.
    pub largest_free_bytes: u64,
}

/// How many kinds of guest error `vm_guest_errors` counts.
pub const GUEST_ERROR_KINDS: usize = 8;

/// The kinds' names, in the order of [`VmGuestErrors::counts`] (Keel's
/// `vmm::guest_error::GuestError::ALL`; the kernel checks at compile time that they agree).
pub const GUEST_ERROR_NAMES: [&str; GUEST_ERROR_KINDS] = [
    "outside-memory",
    "device-refused",
    "no-syndrome",
    "fetch-outside-ram",
    "undefined-sysreg",
    "hidden-feature",
    "unknown-call",
    "psci-refused",
];

/// Errors a VM's guest provoked since its last start, by kind, as `vm_guest_errors`
/// reports them: each one was answered with an error the guest sees (an external abort,
/// UNDEFINED, a PSCI/SMCCC error code).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmGuestErrors {
    pub counts: [u64; GUEST_ERROR_KINDS],
}

/// One virtio device of a running VM, as `vm_stats` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmDeviceStats {
    /// Its virtio-mmio slot (0x0A00_0000 + 0x200 * slot, INTID 48 + slot).
    pub slot: u32,
    /// 1 while it waits for the guest to reset it (a guest error broke it).
    pub needs_reset: u32,
    /// `console`, `rng`, `block`.
    pub kind: [u8; 16],
    /// What the guest calls it: `hvc0`, `hwrng`, `vda`, …
    pub guest_name: [u8; 16],
    /// For a disk: its name on the host disk, with ` (ro)` when read-only.
    pub detail: [u8; NAME_LEN],
    /// QueueNotify writes, chains returned, interrupts raised, guest errors, guest resets.
    pub notifications: u64,
    pub chains: u64,
    pub interrupts: u64,
    pub guest_errors: u64,
    pub resets: u64,
    /// Requests served (disk reads, writes and flushes; entropy requests).
    pub requests: u64,
    /// Bytes the host side moved to the guest and from it.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Default for VmDeviceStats {
    fn default() -> Self {
        Self {
            slot: 0,
            needs_reset: 0,
            kind: [0; 16],
            guest_name: [0; 16],
            detail: [0; NAME_LEN],
            notifications: 0,
            chains: 0,
            interrupts: 0,
            guest_errors: 0,
            resets: 0,
            requests: 0,
            bytes_in: 0,
            bytes_out: 0,
        }
    }
}

/// A NUL-padded field as text (invalid UTF-8 shows as `?`).
pub fn field_text(field: &[u8]) -> &str {
    let len = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    core::str::from_utf8(&field[..len]).unwrap_or("?")
}

/// Copies `text` into a NUL-padded field of `N` bytes (cut at a character boundary).
pub fn small_field<const N: usize>(text: &str) -> [u8; N] {
    let mut field = [0; N];
    let mut len = text.len().min(N);
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    field[..len].copy_from_slice(&text.as_bytes()[..len]);
    field
}

/// `open` flags: read, write, create if missing, cut to length 0.
pub const O_READ: u64 = 1;
pub const O_WRITE: u64 = 2;
pub const O_CREATE: u64 = 4;
pub const O_TRUNCATE: u64 = 8;

/// `seek` origins.
pub const SEEK_SET: u64 = 0;
pub const SEEK_CUR: u64 = 1;
pub const SEEK_END: u64 = 2;

/// File kinds, as [`Stat::kind`] and [`DirEntry::kind`] report them.
pub const KIND_FILE: u32 = 1;
pub const KIND_DIR: u32 = 2;
pub const KIND_SYMLINK: u32 = 3;
pub const KIND_OTHER: u32 = 4;

/// Longest path the file calls take, and longest name in it.
pub const PATH_MAX: usize = 1024;
pub const FILE_NAME_MAX: usize = 255;

/// A file's attributes, as `stat` and `fstat` report them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Bytes (0 for a directory).
    pub size: u64,
    /// Last modification, seconds since 1970 (0 when unknown, as in the initrd).
    pub mtime: u64,
    /// Type and permission bits, as in `st_mode`.
    pub mode: u32,
    /// [`KIND_FILE`], [`KIND_DIR`], [`KIND_SYMLINK`] or [`KIND_OTHER`].
    pub kind: u32,
    /// 1 when the file system cannot be written.
    pub read_only: u32,
    pub reserved: u32,
}

/// One entry of a directory, as `readdir` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// [`KIND_FILE`], [`KIND_DIR`], [`KIND_SYMLINK`] or [`KIND_OTHER`].
    pub kind: u32,
    /// Bytes of `name` in use.
    pub name_len: u32,
    pub name: [u8; FILE_NAME_MAX + 1],
}

impl Default for DirEntry {
    fn default() -> Self {
        Self { kind: 0, name_len: 0, name: [0; FILE_NAME_MAX + 1] }
    }
}

impl DirEntry {
    /// An entry named `name` (cut to [`FILE_NAME_MAX`] bytes at a character boundary).
    pub fn new(kind: u32, name: &str) -> Self {
        let mut entry = Self { kind, ..Self::default() };
        let mut len = name.len().min(FILE_NAME_MAX);
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        entry.name[..len].copy_from_slice(&name.as_bytes()[..len]);
        entry.name_len = len as u32;
        entry
    }

    /// The name as text (invalid UTF-8 shows as `?`).
    pub fn name(&self) -> &str {
        let len = (self.name_len as usize).min(FILE_NAME_MAX);
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }
}

/// VM states, as [`VmInfo::state`] reports them.
pub const VM_CREATED: u32 = 0;
pub const VM_RUNNING: u32 = 1;
/// The guest powered off (PSCI SYSTEM_OFF) or was stopped.
pub const VM_STOPPED: u32 = 2;
/// The guest asked for a reset (PSCI SYSTEM_RESET).
pub const VM_RESET: u32 = 3;
/// The guest did something Keel cannot emulate; the reason is in its console buffer.
pub const VM_CRASHED: u32 = 4;
/// Killed from the host.
pub const VM_KILLED: u32 = 5;

/// How much of a VM's latest console output Keel keeps for `vm_console_tail`.
pub const VM_CONSOLE_TAIL_BYTES: usize = 4096;

/// `vm_console_read` flag: also return (with 0 bytes) when Keel's console has typed input
/// waiting, so that one call waits for the guest and the keyboard both (`vm console`).
pub const VM_CONSOLE_READ_OR_TYPED: u64 = 1;

/// The name of a VM state.
pub const fn vm_state_name(state: u32) -> &'static str {
    match state {
        VM_CREATED => "created",
        VM_RUNNING => "running",
        VM_STOPPED => "stopped",
        VM_RESET => "reset",
        VM_CRASHED => "crashed",
        VM_KILLED => "killed",
        _ => "unknown",
    }
}

/// One VM as `vm_list` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmInfo {
    pub name: [u8; NAME_LEN],
    pub state: u32,
    pub vcpus: u32,
    pub mem_bytes: u64,
    /// Time since the last start (0 when not running).
    pub uptime_ns: u64,
    /// Exits handled since the last start.
    pub exits: u64,
    /// The VMID that tags its stage-2 translations (1..=255; held from `vm create` to
    /// `vm destroy`, then handed out again).
    pub vmid: u32,
    pub reserved: u32,
}

impl Default for VmInfo {
    fn default() -> Self {
        Self { name: [0; NAME_LEN], state: 0, vcpus: 0, mem_bytes: 0, uptime_ns: 0, exits: 0, vmid: 0, reserved: 0 }
    }
}

impl VmInfo {
    /// The name as text.
    pub fn name(&self) -> &str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }
}

/// `net_status` selections.
pub const NET_SHOW_ALL: u64 = 0;
pub const NET_SHOW_FORWARDS: u64 = 1;
/// `net_ping`'s answer when no reply came in time.
pub const NET_NO_REPLY: u64 = 1 << 62;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip() {
        for error in Error::ALL {
            assert_eq!(decode(encode(Err(error))), Err(error));
        }
        assert_eq!(decode(encode(Ok(42))), Ok(42));
        assert_eq!(decode(u64::MAX - 5000), Ok(u64::MAX - 5000));
        assert_eq!(decode((-4000i64) as u64), Err(Error::InvalidArgument));
    }

    #[test]
    fn names_are_cut_and_padded() {
        let info = ThreadInfo { name: name_field("shell"), ..Default::default() };
        assert_eq!(info.name(), "shell");
        let long = "x".repeat(40);
        assert_eq!(name_field(&long).len(), NAME_LEN);
        assert_eq!(ThreadInfo { name: name_field("ééééééééééééééééé"), ..Default::default() }.name().chars().count(), 16);
    }

    #[test]
    fn structures_have_stable_sizes() {
        assert_eq!(core::mem::size_of::<ThreadInfo>(), 80);
        assert_eq!(core::mem::size_of::<WaitStatus>(), 24);
        assert_eq!(core::mem::size_of::<MemStats>(), 40);
        assert_eq!(core::mem::size_of::<CpuInfo>(), 48);
        assert_eq!(core::mem::size_of::<StrRef>(), 16);
        assert_eq!(core::mem::size_of::<VmConfig>(), 80);
        assert_eq!(core::mem::size_of::<VmInfo>(), 72);
        assert_eq!(vm_state_name(VM_CRASHED), "crashed");
        assert_eq!(core::mem::size_of::<Stat>(), 32);
        assert_eq!(core::mem::size_of::<DirEntry>(), 264);
        assert_eq!(core::mem::size_of::<VmDiskSpec>(), 32);
        assert_eq!(core::mem::size_of::<DiskInfo>(), 48);
        assert_eq!(core::mem::size_of::<DiskSpace>(), 24);
        assert_eq!(core::mem::size_of::<VmDeviceStats>(), 136);
        assert_eq!(field_text(&small_field::<16>("hvc0")), "hvc0");
        assert_eq!(small_field::<4>("abcdef"), *b"abcd");
    }

    #[test]
    fn directory_entries_keep_their_names() {
        assert_eq!(DirEntry::new(KIND_DIR, "host").name(), "host");
        let long = "é".repeat(200);
        let entry = DirEntry::new(KIND_FILE, &long);
        assert!(entry.name_len as usize <= FILE_NAME_MAX);
        assert_eq!(entry.name().chars().count(), 127);
        assert_eq!(Error::ReadOnly.message(), "read-only file system");
    }
}
