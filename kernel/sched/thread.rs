//! Threads as the scheduler sees them: kernel, user and vCPU threads share one type.

use crate::arch::context::Context;
use crate::mm::frames::FRAME_SIZE;
use crate::mm::kernel_space;
use crate::sync::IrqSpinlock;
use alloc::boxed::Box;
use alloc::string::String;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

pub use super::runqueue::ThreadId;

/// What a thread runs. A vCPU thread's "user mode" is a guest; it is scheduled exactly
/// like the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadKind {
    Kernel,
    User { pid: u64 },
    Vcpu { vm: u64 },
}

/// Thread states (the values of `keel_abi::STATE_*`).
pub const RUNNING: u32 = keel_abi::STATE_RUNNING;
pub const READY: u32 = keel_abi::STATE_READY;
pub const BLOCKED: u32 = keel_abi::STATE_BLOCKED;
pub const EXITED: u32 = keel_abi::STATE_EXITED;

/// Kernel stack of every thread but the boot contexts.
pub const STACK_FRAMES: usize = 16;

/// A kernel stack made of frames; returned to the allocator when the thread is gone.
pub struct KernelStack {
    base: u64,
}

impl KernelStack {
    pub fn new() -> Option<Self> {
        Some(Self { base: kernel_space::alloc_frames(STACK_FRAMES, 1)? })
    }

    /// The top (highest address) of the stack, in the linear map.
    pub fn top(&self) -> u64 {
        crate::mm::layout::phys_to_virt(self.base).unwrap_or(0) + STACK_FRAMES as u64 * FRAME_SIZE
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        if let Err(error) = kernel_space::free_frames(self.base, STACK_FRAMES) {
            log::error!("sched: kernel stack {:#x} not freed: {error}", self.base);
        }
    }
}

/// Scheduling numbers of a thread.
pub struct SchedStats {
    pub vruntime: u64,
    /// When it last started running (ns since boot).
    pub started_ns: u64,
    pub cpu_time_ns: u64,
}

pub type Entry = Box<dyn FnOnce() + Send>;

pub struct Thread {
    pub id: ThreadId,
    pub name: String,
    pub kind: ThreadKind,
    /// Weight in the fair scheduler (1024 = normal).
    pub weight: u32,
    /// A CPU this thread may only run on (idle and executor threads).
    pub pinned: Option<usize>,
    pub(super) context: UnsafeCell<Context>,
    _stack: Option<KernelStack>,
    pub(super) state: AtomicU32,
    /// True from the moment a CPU picks this thread until it has switched away from it.
    pub(super) on_cpu: AtomicBool,
    pub(super) cpu: AtomicU32,
    pub(super) stats: IrqSpinlock<SchedStats>,
    pub(super) entry: IrqSpinlock<Option<Entry>>,
    /// TTBR0_EL2 value (table | ASID << 48) for user threads; 0 for kernel threads.
    pub ttbr0: AtomicU64,
    /// Threads waiting in `join` for this one to end.
    pub(super) joiners: super::wait::WaitQueue,
}

// SAFETY: `context` is only touched by the scheduler: written when this thread is switched
// away from (on the CPU that runs it) and read when it is switched to, which `on_cpu`
// orders (a CPU waits until the previous CPU has finished switching away).
unsafe impl Sync for Thread {}

impl Thread {
    pub(super) fn new(
        id: ThreadId,
        name: &str,
        kind: ThreadKind,
        weight: u32,
        pinned: Option<usize>,
        stack: Option<KernelStack>,
        entry: Option<Entry>,
    ) -> Self {
        let context = match &stack {
            Some(stack) => Context::new_thread(stack.top(), id),
            None => Context::default(),
        };
        Self {
            id,
            name: String::from(name),
            kind,
            weight,
            pinned,
            context: UnsafeCell::new(context),
            _stack: stack,
            state: AtomicU32::new(READY),
            on_cpu: AtomicBool::new(false),
            cpu: AtomicU32::new(pinned.unwrap_or(0) as u32),
            stats: IrqSpinlock::new(SchedStats { vruntime: 0, started_ns: 0, cpu_time_ns: 0 }),
            entry: IrqSpinlock::new(entry),
            ttbr0: AtomicU64::new(0),
            joiners: super::wait::WaitQueue::new(),
        }
    }

    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    pub fn last_cpu(&self) -> usize {
        self.cpu.load(Ordering::Relaxed) as usize
    }

    /// CPU time used so far, including the current run.
    pub fn cpu_time_ns(&self) -> u64 {
        let stats = self.stats.lock();
        let running = if self.state() == RUNNING {
            crate::arch::timer::now_ns().saturating_sub(stats.started_ns)
        } else {
            0
        };
        stats.cpu_time_ns + running
    }

    /// Blocks until this thread has exited (or `deadline_ns` passes).
    pub fn join(&self, deadline_ns: Option<u64>) -> Result<(), super::wait::WaitEnd> {
        self.joiners.wait_until(deadline_ns, || (self.state() == EXITED).then_some(()))
    }

    /// The kernel stack's top, for the first entry to user mode.
    pub fn stack_top(&self) -> Option<u64> {
        self._stack.as_ref().map(KernelStack::top)
    }
}
