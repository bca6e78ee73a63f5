//! Wait queues: threads blocked until a condition holds, woken by whoever makes it true.

use super::thread::Thread;
use crate::sync::IrqSpinlock;
use alloc::collections::VecDeque;
use alloc::sync::Arc;

pub struct WaitQueue {
    waiters: IrqSpinlock<VecDeque<Arc<Thread>>>,
}

/// Why a wait ended without its condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitEnd {
    TimedOut,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    pub const fn new() -> Self {
        Self { waiters: IrqSpinlock::new(VecDeque::new()) }
    }

    /// Blocks until `ready` returns `Some` (checked under the queue's lock, so a waker that
    /// changes the condition and then calls `wake_all` is never missed), or until
    /// `deadline_ns` passes. `ready` must be quick and take no sleeping locks.
    pub fn wait_until<T>(&self, deadline_ns: Option<u64>, mut ready: impl FnMut() -> Option<T>) -> Result<T, WaitEnd> {
        loop {
            let me = {
                let mut waiters = self.waiters.lock();
                if let Some(value) = ready() {
                    return Ok(value);
                }
                if deadline_ns.is_some_and(|deadline| crate::arch::timer::now_ns() >= deadline) {
                    return Err(WaitEnd::TimedOut);
                }
                let Some(me) = super::prepare_to_block() else {
                    // Before the scheduler runs there is nothing to wait for.
                    return Err(WaitEnd::TimedOut);
                };
                waiters.push_back(me.clone());
                me
            };
            if let Some(deadline) = deadline_ns {
                super::sleep::wake_at(deadline, me.clone());
            }
            super::schedule();
            self.waiters.lock().retain(|t| !Arc::ptr_eq(t, &me));
            if let Some(deadline) = deadline_ns {
                super::sleep::cancel(deadline, me.id);
            }
        }
    }

    /// Wakes every waiting thread (each rechecks its condition).
    pub fn wake_all(&self) {
        let waiters: VecDeque<Arc<Thread>> = core::mem::take(&mut *self.waiters.lock());
        for thread in waiters {
            super::wake(&thread);
        }
    }

}
