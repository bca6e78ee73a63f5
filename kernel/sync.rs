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
            core::hint::spin_loop();
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
