//! The process table and every process's life: spawn, run at EL0, exit, wait, kill.

use super::elf;
use super::space::{AddressSpace, STACK_SIZE, STACK_TOP};
use crate::arch::context;
use crate::arch::exception::TrapFrame;
use crate::mm::frames::FRAME_SIZE;
use crate::mm::pagetable::Attributes;
use crate::sched::{self, runqueue::NICE_0_WEIGHT, thread::ThreadKind, wait::WaitQueue, ThreadSpec};
use crate::sync::IrqSpinlock;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use keel_abi::{Error, StrRef, WaitStatus};

pub type Pid = u64;

/// Largest program file, argument count and argument bytes `spawn` accepts.
const MAX_PROGRAM_BYTES: usize = 64 << 20;
const MAX_ARGS: usize = 64;
const MAX_ARG_BYTES: usize = 16 * 1024;
/// Most processes at once.
const MAX_PROCESSES: usize = 512;

pub struct Process {
    pub pid: Pid,
    pub name: String,
    parent: AtomicU64,
    pub space: IrqSpinlock<Option<AddressSpace>>,
    /// Set by kill; the process ends at its next return to user mode or wake.
    pub killed: AtomicBool,
    status: IrqSpinlock<Option<WaitStatus>>,
    /// The main thread's id.
    thread: AtomicU64,
    /// Open files and the current directory.
    pub files: spin::Mutex<crate::fs::fd::FdTable>,
}

impl Process {
    pub fn parent(&self) -> Pid {
        self.parent.load(Ordering::Relaxed)
    }

    pub fn thread_id(&self) -> u64 {
        self.thread.load(Ordering::Relaxed)
    }
}

static PROCESSES: IrqSpinlock<BTreeMap<Pid, Arc<Process>>> = IrqSpinlock::new(BTreeMap::new());
static NEXT_PID: AtomicU64 = AtomicU64::new(1);
/// Parents waiting for a child to end.
static CHILD_EXITS: WaitQueue = WaitQueue::new();

pub fn by_pid(pid: Pid) -> Option<Arc<Process>> {
    PROCESSES.lock().get(&pid).cloned()
}

/// The process of the running thread, if it is a user thread.
pub fn current() -> Option<Arc<Process>> {
    match sched::current()?.kind {
        ThreadKind::User { pid } => by_pid(pid),
        _ => None,
    }
}

/// Loads `path` from the initrd and starts it as a child of `parent` with `args`.
pub fn spawn(path: &str, args: &[String], parent: Pid) -> Result<Pid, Error> {
    if args.len() > MAX_ARGS || args.iter().map(|a| a.len() + 1).sum::<usize>() > MAX_ARG_BYTES {
        return Err(Error::TooBig);
    }
    if PROCESSES.lock().len() >= MAX_PROCESSES {
        return Err(Error::TooBig);
    }
    let file = crate::fs::initrd_file(path)?;
    if file.len() > MAX_PROGRAM_BYTES {
        return Err(Error::TooBig);
    }
    let image = elf::parse(file).map_err(|error| {
        log::info!("proc: {path}: {error}");
        Error::NotExecutable
    })?;
    let mut space = AddressSpace::new()?;
    for segment in &image.segments {
        load_segment(&mut space, file, segment)?;
    }
    let stack_base = STACK_TOP - STACK_SIZE;
    space.map_zeroed(stack_base, STACK_SIZE, Attributes::USER_DATA)?;
    let (sp, argv) = place_arguments(&space, args)?;
    synchronise_instruction_cache();

    let pid = NEXT_PID.fetch_add(1, Ordering::Relaxed);
    let name = String::from(path.rsplit('/').next().unwrap_or(path));
    let ttbr0 = space.ttbr0();
    let process = Arc::new(Process {
        pid,
        name: name.clone(),
        parent: AtomicU64::new(parent),
        space: IrqSpinlock::new(Some(space)),
        killed: AtomicBool::new(false),
        status: IrqSpinlock::new(None),
        thread: AtomicU64::new(0),
        files: spin::Mutex::new(crate::fs::fd::FdTable::new(inherited_cwd(parent))),
    });
    PROCESSES.lock().insert(pid, process.clone());
    let entry = image.entry;
    let argc = args.len() as u64;
    let spec = ThreadSpec { name: &name, kind: ThreadKind::User { pid }, weight: NICE_0_WEIGHT, pinned: None, ttbr0 };
    let thread = sched::spawn(spec, alloc::boxed::Box::new(move || enter_user(entry, sp, argc, argv)));
    match thread {
        Some(thread) => {
            process.thread.store(thread.id, Ordering::Relaxed);
            Ok(pid)
        }
        None => {
            PROCESSES.lock().remove(&pid);
            Err(Error::NoMemory)
        }
    }
}

/// The parent's current directory (`/` for the first process).
fn inherited_cwd(parent: Pid) -> String {
    by_pid(parent).map_or_else(|| String::from("/"), |p| p.files.lock().cwd.clone())
}

fn load_segment(space: &mut AddressSpace, file: &[u8], segment: &elf::LoadSegment) -> Result<(), Error> {
    let start = segment.vaddr & !(FRAME_SIZE - 1);
    let end = (segment.vaddr + segment.mem_size).div_ceil(FRAME_SIZE) * FRAME_SIZE;
    let attributes = match (segment.writable, segment.executable) {
        (true, _) => Attributes::USER_DATA,
        (false, true) => Attributes::USER_TEXT,
        (false, false) => Attributes::USER_RODATA,
    };
    space.map_zeroed(start, end - start, attributes)?;
    let offset = segment.file_offset as usize;
    let bytes = file.get(offset..offset + segment.file_size as usize).ok_or(Error::NotExecutable)?;
    space.write_loaded(segment.vaddr, bytes)
}

/// Puts the argument strings and their `StrRef` array at the top of the user stack.
fn place_arguments(space: &AddressSpace, args: &[String]) -> Result<(u64, u64), Error> {
    let mut at = STACK_TOP;
    let mut refs = Vec::with_capacity(args.len());
    for arg in args {
        at -= arg.len() as u64;
        space.write(at, arg.as_bytes())?;
        refs.push(StrRef { ptr: at, len: arg.len() as u64 });
    }
    at &= !0xf;
    at -= (refs.len() * core::mem::size_of::<StrRef>()) as u64;
    at &= !0xf;
    for (i, r) in refs.iter().enumerate() {
        space.write_value(at + (i * core::mem::size_of::<StrRef>()) as u64, r)?;
    }
    let argv = at;
    Ok(((at - 16) & !0xf, argv))
}

fn synchronise_instruction_cache() {
    // SAFETY: cache maintenance only: the new code was written through the data side.
    unsafe { core::arch::asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack)) };
}

/// First run of a user thread: build the EL0 register state on the kernel stack, enter.
fn enter_user(entry: u64, sp: u64, argc: u64, argv: u64) {
    let Some(me) = sched::current() else { return };
    let Some(stack_top) = me.stack_top() else { return };
    let frame_address = context::user_frame_address(stack_top);
    let frame = frame_address as *mut TrapFrame;
    // SAFETY: the frame lies at the top of this thread's own kernel stack, which
    // Context::new_thread kept free (the Rust frames start below it); it is written once
    // and then handed to the return path.
    unsafe {
        core::ptr::write_bytes(frame, 0, 1);
        (*frame).x[0] = argc;
        (*frame).x[1] = argv;
        (*frame).elr = entry;
        (*frame).sp_el0 = sp;
        (*frame).spsr = 0; // EL0t, interrupts unmasked
    }
    crate::arch::cpu::irq_save();
    crate::mm::kernel_space::load_user_table(me.ttbr0.load(Ordering::Acquire));
    drop(me);
    // SAFETY: the frame is at the top of this thread's kernel stack and names EL0t; the
    // process's address space was just loaded.
    unsafe { context::enter_user(frame) }
}

/// Ends the current process with `status` and never returns.
pub fn exit_current(how: u64, code: i64) -> ! {
    if let Some(process) = current() {
        finish(&process, how, code);
    }
    sched::exit_current()
}

fn finish(process: &Arc<Process>, how: u64, code: i64) {
    *process.status.lock() = Some(WaitStatus { pid: process.pid, how, code });
    // The address space goes now; the process entry stays until the parent waits.
    let space = process.space.lock().take();
    drop(space);
    // Open files close here, outside the table's lock (closing may talk to a device).
    let files = process.files.lock().take_all();
    drop(files);
    // Children of the dead are adopted by init.
    let orphans: Vec<Arc<Process>> =
        PROCESSES.lock().values().filter(|p| p.parent() == process.pid).cloned().collect();
    for orphan in orphans {
        orphan.parent.store(1, Ordering::Relaxed);
    }
    CHILD_EXITS.wake_all();
}

/// Reaps an ended child of `parent` (`pid` or any); `None` if none has ended yet.
fn reap(parent: Pid, pid: Pid) -> Result<Option<WaitStatus>, Error> {
    let mut processes = PROCESSES.lock();
    let mut any_child = false;
    let mut found = None;
    for (child_pid, child) in processes.iter() {
        if child.parent() != parent || (pid != keel_abi::ANY_CHILD && *child_pid != pid) {
            continue;
        }
        any_child = true;
        if let Some(status) = *child.status.lock() {
            found = Some((*child_pid, status));
            break;
        }
    }
    match found {
        Some((child_pid, status)) => {
            processes.remove(&child_pid);
            Ok(Some(status))
        }
        None if any_child => Ok(None),
        None => Err(Error::NoChild),
    }
}

/// `wait`: blocks (unless `no_hang`) until a child of the caller ends.
pub fn wait(pid: Pid, no_hang: bool) -> Result<Option<WaitStatus>, Error> {
    let me = current().ok_or(Error::NoChild)?;
    if no_hang {
        return reap(me.pid, pid);
    }
    let result = CHILD_EXITS.wait_until(None, || {
        if me.killed.load(Ordering::Acquire) {
            return Some(Ok(None));
        }
        match reap(me.pid, pid) {
            Ok(None) => None,
            other => Some(other),
        }
    });
    result.unwrap_or(Ok(None))
}

/// `kill`: marks the process; it ends at its next kernel exit or wake.
pub fn kill(pid: Pid) -> Result<(), Error> {
    if pid == 1 {
        return Err(Error::NotPermitted);
    }
    let process = by_pid(pid).ok_or(Error::NotFound)?;
    if process.status.lock().is_some() {
        return Err(Error::NotFound);
    }
    process.killed.store(true, Ordering::Release);
    if let Some(thread) = sched::thread(process.thread_id()) {
        sched::wake(&thread);
    }
    crate::console::wake_readers();
    CHILD_EXITS.wake_all();
    Ok(())
}

/// On the way back to user mode: a killed process ends here.
pub fn exit_if_killed() {
    if let Some(process) = current() {
        if process.killed.load(Ordering::Acquire) {
            exit_current(keel_abi::KILLED, -1);
        }
    }
}

/// A user fault: say why in one line and end the process.
pub fn kill_for_fault(reason: core::fmt::Arguments<'_>) -> ! {
    if let Some(process) = current() {
        crate::kprintln!("keel: pid {} ({}) killed: {}", process.pid, process.name, reason);
    }
    exit_current(keel_abi::FAULTED, -1)
}

/// Processes that exist (running or not yet reaped).
pub fn count() -> usize {
    PROCESSES.lock().len()
}
