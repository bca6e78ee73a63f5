//! Spin locks that mask interrupts while held, so IRQ handlers may take them too.

use crate::arch::cpu;
use core::ops::{Deref, DerefMut};

/// A spin lock whose holder runs with IRQs masked on its CPU.
pub struct IrqSpinlock<T> {
    inner: spin::Mutex<T>,
}

/// Access to the value; interrupts come back (if they were on) when it is dropped.
pub struct IrqSpinlockGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    irqs_were_enabled: bool,
}

impl<T> IrqSpinlock<T> {
    pub const fn new(value: T) -> Self {
        Self { inner: spin::Mutex::new(value) }
    }

    pub fn lock(&self) -> IrqSpinlockGuard<'_, T> {
        let irqs_were_enabled = cpu::irq_save();
        IrqSpinlockGuard { guard: Some(self.inner.lock()), irqs_were_enabled }
    }

    /// Tries for about `attempts` spins; used where waiting forever is worse than giving up
    /// (the crash reporter, when the lock holder may be the one that crashed).
    pub fn try_lock_for(&self, attempts: usize) -> Option<IrqSpinlockGuard<'_, T>> {
        let irqs_were_enabled = cpu::irq_save();
        for _ in 0..attempts {
            if let Some(guard) = self.inner.try_lock() {
                return Some(IrqSpinlockGuard { guard: Some(guard), irqs_were_enabled });
            }
            cpu::relax();
        }
        cpu::irq_restore(irqs_were_enabled);
        None
    }
}

impl<T> Deref for IrqSpinlockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.guard {
            Some(guard) => guard,
            None => unreachable!("guard is only taken in drop"),
        }
    }
}

impl<T> DerefMut for IrqSpinlockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.guard {
            Some(guard) => guard,
            None => unreachable!("guard is only taken in drop"),
        }
    }
}

impl<T> Drop for IrqSpinlockGuard<'_, T> {
    fn drop(&mut self) {
        // Release the lock before interrupts come back.
        drop(self.guard.take());
        cpu::irq_restore(self.irqs_were_enabled);
    }
}

/// A raw spin lock that masks IRQs on its CPU while held, for `lock_api` users such as the
/// heap: interrupt handlers allocate (wakeups grow queues), so the heap lock must never be
/// held by code an interrupt can preempt on the same CPU.
pub struct IrqRawSpinlock {
    locked: core::sync::atomic::AtomicBool,
    /// The holder's IRQ state from before it locked (written and read only by the holder).
    irqs_were_enabled: core::sync::atomic::AtomicBool,
}

// SAFETY: `lock` returns only once this CPU set `locked` from false to true (acquire), and
// `unlock` clears it (release), so at most one holder exists at a time; IRQs stay masked on
// the holder's CPU until unlock, so no handler on that CPU can try to take it again.
unsafe impl lock_api::RawMutex for IrqRawSpinlock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self {
        locked: core::sync::atomic::AtomicBool::new(false),
        irqs_were_enabled: core::sync::atomic::AtomicBool::new(false),
    };

    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        use core::sync::atomic::Ordering;
        loop {
            let irqs = cpu::irq_save();
            if self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                self.irqs_were_enabled.store(irqs, Ordering::Relaxed);
                return;
            }
            cpu::irq_restore(irqs);
            while self.locked.load(Ordering::Relaxed) {
                cpu::relax();
            }
        }
    }

    fn try_lock(&self) -> bool {
        use core::sync::atomic::Ordering;
        let irqs = cpu::irq_save();
        if self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            self.irqs_were_enabled.store(irqs, Ordering::Relaxed);
            true
        } else {
            cpu::irq_restore(irqs);
            false
        }
    }

    unsafe fn unlock(&self) {
        use core::sync::atomic::Ordering;
        let irqs = self.irqs_were_enabled.load(Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
        cpu::irq_restore(irqs);
    }
}
