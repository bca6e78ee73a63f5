//! Timed waits: threads sleeping until a deadline, woken by the host timer set for it.

use super::thread::Thread;
use super::runqueue::ThreadId;
use crate::sync::IrqSpinlock;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;

/// Sleepers by (deadline in ns, thread id).
static SLEEPERS: IrqSpinlock<BTreeMap<(u64, ThreadId), Arc<Thread>>> = IrqSpinlock::new(BTreeMap::new());

/// Wakes `thread` (if it is still blocked) once `deadline_ns` has passed.
pub fn wake_at(deadline_ns: u64, thread: Arc<Thread>) {
    SLEEPERS.lock().insert((deadline_ns, thread.id), thread);
    crate::arch::timer::wake_by(deadline_ns);
}

/// The earliest deadline of any sleeper.
pub fn earliest() -> Option<u64> {
    SLEEPERS.lock().first_key_value().map(|(&(deadline, _), _)| deadline)
}

/// Forgets a pending wakeup.
pub fn cancel(deadline_ns: u64, id: ThreadId) {
    SLEEPERS.lock().remove(&(deadline_ns, id));
}

/// Wakes every sleeper whose deadline has passed.
pub fn wake_expired(now_ns: u64) {
    loop {
        let due = {
            let mut sleepers = SLEEPERS.lock();
            match sleepers.first_key_value() {
                Some((&(deadline, _), _)) if deadline <= now_ns => sleepers.pop_first().map(|(_, t)| t),
                _ => None,
            }
        };
        match due {
            Some(thread) => super::wake(&thread),
            None => break,
        }
    }
}

/// Blocks the current thread until `deadline_ns` (or an earlier wake, e.g. a kill).
pub fn sleep_until(deadline_ns: u64) {
    if crate::arch::timer::now_ns() >= deadline_ns {
        return;
    }
    let Some(me) = super::prepare_to_block() else {
        // An idle thread cannot block: it waits for the time to pass.
        while crate::arch::timer::now_ns() < deadline_ns {
            crate::arch::cpu::wait_for_interrupt();
        }
        return;
    };
    let id = me.id;
    wake_at(deadline_ns, me);
    super::schedule();
    cancel(deadline_ns, id);
}
