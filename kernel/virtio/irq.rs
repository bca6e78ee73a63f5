//! Virtio interrupts as wake-ups: a driver waits on the wait queue of its device's INTID
//! until its queue has a reply; the handler only wakes (the driver acknowledges the device
//! itself, under its own lock).

use crate::sched::wait::WaitQueue;
use crate::sync::IrqSpinlock;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use keel_drivers::gicv3::Trigger;

static WAITERS: IrqSpinlock<BTreeMap<u32, Arc<WaitQueue>>> = IrqSpinlock::new(BTreeMap::new());

/// The wait queue woken by `intid`, registering the handler on first use. The line is
/// edge-triggered, as QEMU `virt`'s DTB describes virtio-mmio interrupts: the device's line
/// stays high until the driver acknowledges it, and the next completion raises a new edge.
pub fn waiters(intid: u32) -> Arc<WaitQueue> {
    let (queue, new) = {
        let mut waiters = WAITERS.lock();
        match waiters.get(&intid) {
            Some(queue) => (queue.clone(), false),
            None => {
                let queue = Arc::new(WaitQueue::new());
                waiters.insert(intid, queue.clone());
                (queue, true)
            }
        }
    };
    if new {
        crate::irq::register_shared(intid, Trigger::Edge, on_interrupt);
    }
    queue
}

fn on_interrupt(intid: u32) {
    let queue = WAITERS.lock().get(&intid).cloned();
    if let Some(queue) = queue {
        queue.wake_all();
    }
}

static TASKS: IrqSpinlock<BTreeMap<u32, &'static crate::exec::IrqWaker>> = IrqSpinlock::new(BTreeMap::new());

/// Makes `intid` fire `waker`: for a driver an async task runs (the task acknowledges the
/// device itself). The line is edge-triggered, as for [`waiters`].
pub fn fire_on(intid: u32, waker: &'static crate::exec::IrqWaker) {
    let new = TASKS.lock().insert(intid, waker).is_none();
    if new {
        crate::irq::register_shared(intid, Trigger::Edge, on_task_interrupt);
    }
}

fn on_task_interrupt(intid: u32) {
    let waker = TASKS.lock().get(&intid).copied();
    if let Some(waker) = waker {
        waker.fire();
    }
}
