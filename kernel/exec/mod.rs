//! The async executor: async-task Runnables in per-CPU queues, drained by executor threads.

use crate::arch::cpu::{self, MAX_CPUS};
use crate::sched::wait::WaitQueue;
use crate::sync::IrqSpinlock;
use alloc::collections::VecDeque;
use async_task::Runnable;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};

struct CpuQueue {
    runnables: IrqSpinlock<VecDeque<Runnable>>,
    work: WaitQueue,
}

static QUEUES: [CpuQueue; MAX_CPUS] =
    [const { CpuQueue { runnables: IrqSpinlock::new(VecDeque::new()), work: WaitQueue::new() } }; MAX_CPUS];
static RUNNING: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Queues a Runnable on the CPU that woke it (any context, IRQs included).
fn schedule_here(runnable: Runnable) {
    let mut index = cpu::current().index;
    if !RUNNING[index].load(Ordering::Acquire) {
        index = 0;
    }
    QUEUES[index].runnables.lock().push_back(runnable);
    QUEUES[index].work.wake_all();
}

/// Spawns a task; it first runs on this CPU's executor.
pub fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    let (runnable, task) = async_task::spawn(future, schedule_here);
    runnable.schedule();
    task.detach();
}

/// Starts this CPU's executor thread.
pub fn start_on(index: usize) {
    let name = alloc::format!("executor/{index}");
    let spec = crate::sched::ThreadSpec {
        name: &name,
        kind: crate::sched::thread::ThreadKind::Kernel,
        weight: crate::sched::runqueue::NICE_0_WEIGHT * 2,
        pinned: Some(index),
        ttbr0: 0,
    };
    let started = crate::sched::spawn(spec, alloc::boxed::Box::new(move || executor_loop(index)));
    if started.is_some() {
        RUNNING[index].store(true, Ordering::Release);
    } else {
        log::error!("exec: no memory for the executor thread of cpu {index}");
    }
}

fn executor_loop(index: usize) -> ! {
    let queue = &QUEUES[index];
    loop {
        let next = queue.work.wait_until(None, || queue.runnables.lock().pop_front());
        if let Ok(runnable) = next {
            runnable.run();
        }
    }
}

/// Lets the other tasks of this executor run once before the caller goes on (a task with
/// more work to do yields instead of looping).
pub fn yield_now() -> impl Future<Output = ()> {
    YieldNow(false)
}

struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        context.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A waker slot that an interrupt handler can fire: the bridge from IRQs to tasks.
pub struct IrqWaker {
    waker: IrqSpinlock<Option<Waker>>,
    pending: AtomicBool,
}

impl Default for IrqWaker {
    fn default() -> Self {
        Self::new()
    }
}

impl IrqWaker {
    pub const fn new() -> Self {
        Self { waker: IrqSpinlock::new(None), pending: AtomicBool::new(false) }
    }

    /// Called from the IRQ handler: something happened.
    pub fn fire(&self) {
        self.pending.store(true, Ordering::Release);
        if let Some(waker) = self.waker.lock().take() {
            waker.wake();
        }
    }

    /// A future that completes at the next (or an already pending) `fire`.
    pub fn wait(&self) -> IrqEvent<'_> {
        IrqEvent { source: self }
    }
}

pub struct IrqEvent<'a> {
    source: &'a IrqWaker,
}

impl Future for IrqEvent<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        *self.source.waker.lock() = Some(context.waker().clone());
        if self.source.pending.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Wakers of sleeping tasks by (deadline ns, sequence).
static TIMERS: IrqSpinlock<alloc::collections::BTreeMap<(u64, u64), Waker>> =
    IrqSpinlock::new(alloc::collections::BTreeMap::new());
static TIMER_SEQUENCE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// A future that completes `ns` nanoseconds from now.
pub fn sleep(ns: u64) -> Sleep {
    Sleep { deadline_ns: crate::arch::timer::now_ns().saturating_add(ns), key: None }
}

pub struct Sleep {
    deadline_ns: u64,
    key: Option<(u64, u64)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if crate::arch::timer::now_ns() >= self.deadline_ns {
            return Poll::Ready(());
        }
        let key = match self.key {
            Some(key) => key,
            None => (self.deadline_ns, TIMER_SEQUENCE.fetch_add(1, Ordering::Relaxed)),
        };
        self.key = Some(key);
        TIMERS.lock().insert(key, context.waker().clone());
        crate::arch::timer::wake_by(key.0);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            TIMERS.lock().remove(&key);
        }
    }
}

/// The earliest deadline of any sleeping task.
pub fn earliest_timer() -> Option<u64> {
    TIMERS.lock().first_key_value().map(|(&(deadline, _), _)| deadline)
}

/// Wakes the tasks whose sleep has ended (from the host timer).
pub fn wake_expired_timers(now_ns: u64) {
    loop {
        let due = {
            let mut timers = TIMERS.lock();
            match timers.first_key_value() {
                Some((&(deadline, _), _)) if deadline <= now_ns => timers.pop_first().map(|(_, w)| w),
                _ => None,
            }
        };
        match due {
            Some(waker) => waker.wake(),
            None => break,
        }
    }
}
