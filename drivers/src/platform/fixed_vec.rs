//! `FixedVec`: a vector with a capacity fixed at compile time, for use before the heap exists.

use core::fmt;
use core::ops::Deref;

/// `push` on a full [`FixedVec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityExceeded;

/// Up to `N` values of `T`, stored inline. Unused slots hold `T::default()`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedVec<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> FixedVec<T, N> {
    /// An empty vector.
    pub fn new() -> Self {
        Self {
            items: [T::default(); N],
            len: 0,
        }
    }

    /// Appends `value`, or returns [`CapacityExceeded`] if all `N` slots are used.
    pub fn push(&mut self, value: T) -> Result<(), CapacityExceeded> {
        let slot = self.items.get_mut(self.len).ok_or(CapacityExceeded)?;
        *slot = value;
        self.len += 1;
        Ok(())
    }

    /// The values pushed so far, in order.
    pub fn as_slice(&self) -> &[T] {
        // `len` never exceeds N; `get` keeps that invariant from ever becoming a panic.
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// How many values fit.
    pub const fn capacity(&self) -> usize {
        N
    }
}

impl<T: Copy + Default, const N: usize> Default for FixedVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default, const N: usize> Deref for FixedVec<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy + Default + fmt::Debug, const N: usize> fmt::Debug for FixedVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_until_full() {
        let mut values: FixedVec<u32, 2> = FixedVec::new();
        assert!(values.is_empty());
        assert_eq!(values.push(7), Ok(()));
        assert_eq!(values.push(8), Ok(()));
        assert_eq!(values.push(9), Err(CapacityExceeded));
        assert_eq!(values.as_slice(), &[7, 8]);
        assert_eq!(values.len(), 2);
        assert_eq!(values.capacity(), 2);
    }

    #[test]
    fn zero_capacity_and_debug() {
        let mut nothing: FixedVec<u8, 0> = FixedVec::default();
        assert_eq!(nothing.push(1), Err(CapacityExceeded));
        assert_eq!(nothing.as_slice(), &[] as &[u8]);
        let mut some: FixedVec<u8, 64> = FixedVec::new();
        assert_eq!(some.push(3), Ok(()));
        assert_eq!(format!("{some:?}"), "[3]");
    }
}
