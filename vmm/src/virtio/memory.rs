//! Guest memory as a device sees it: a trait the kernel implements over guest RAM, and a
//! bounds-checked `Vec`-backed implementation for tests.
//!
//! Every address here is a guest physical address (IPA). An implementation must refuse an
//! access that is not entirely inside memory it is willing to touch, and may refuse any
//! other (say, a block it could not make ready); the device then treats the request as
//! broken. Accesses are plain byte copies: the queue code orders them with fences where
//! the virtio memory model needs it.

use alloc::vec;
use alloc::vec::Vec;

/// Why guest memory refused an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// [ipa, ipa + len) is not (entirely) guest memory, or wraps around the address space.
    OutOfRange { ipa: u64, len: u64 },
    /// The memory is there but could not be accessed now (the kernel's choice).
    Unavailable { ipa: u64 },
}

/// Guest RAM for a device model.
pub trait GuestMemory {
    /// Copies `buf.len()` bytes from guest address `ipa`. On error `buf` may be partly written.
    fn read(&mut self, ipa: u64, buf: &mut [u8]) -> Result<(), MemoryError>;

    /// Copies `data` to guest address `ipa`. On error part of it may have been written.
    fn write(&mut self, ipa: u64, data: &[u8]) -> Result<(), MemoryError>;

    /// Whether [ipa, ipa + len) lies entirely in guest memory (without touching it). An
    /// access inside such a range may still be refused later.
    fn contains(&self, ipa: u64, len: u64) -> bool;

    fn read_u16(&mut self, ipa: u64) -> Result<u16, MemoryError> {
        let mut bytes = [0; 2];
        self.read(ipa, &mut bytes)?;
        Ok(u16::from_le_bytes(bytes))
    }

    fn read_u32(&mut self, ipa: u64) -> Result<u32, MemoryError> {
        let mut bytes = [0; 4];
        self.read(ipa, &mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn write_u16(&mut self, ipa: u64, value: u16) -> Result<(), MemoryError> {
        self.write(ipa, &value.to_le_bytes())
    }

    fn write_u32(&mut self, ipa: u64, value: u32) -> Result<(), MemoryError> {
        self.write(ipa, &value.to_le_bytes())
    }
}

/// The offset of [ipa, ipa + len) in memory that starts at `base` and holds `size` bytes,
/// if the range lies entirely inside it (checked arithmetic; an empty range counts as
/// inside when its address does).
pub fn offset_in(base: u64, size: u64, ipa: u64, len: u64) -> Option<usize> {
    let offset = ipa.checked_sub(base)?;
    let end = offset.checked_add(len)?;
    if offset > size || end > size {
        return None;
    }
    usize::try_from(offset).ok()
}

/// Guest memory held in a `Vec` at a base address, for tests and host tools. It counts the
/// accesses it refused, and can be told to refuse one range although it holds it (as the
/// kernel may refuse a block it cannot make ready).
#[derive(Clone, Debug)]
pub struct VecMemory {
    base: u64,
    bytes: Vec<u8>,
    /// [start, end) that [`GuestMemory::contains`] admits but accesses are refused in.
    unavailable: Option<(u64, u64)>,
    refused: u64,
}

impl VecMemory {
    /// `size` zeroed bytes at guest address `base`.
    pub fn new(base: u64, size: usize) -> Self {
        Self { base, bytes: vec![0; size], unavailable: None, refused: 0 }
    }

    pub fn base(&self) -> u64 {
        self.base
    }

    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The backing bytes (index 0 is guest address `base`).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// From now on, refuse accesses that overlap [start, end).
    pub fn make_unavailable(&mut self, start: u64, end: u64) {
        self.unavailable = Some((start, end));
    }

    /// How many accesses were refused.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The byte range an access would touch, or why it is refused (and count it).
    fn range(&mut self, ipa: u64, len: usize) -> Result<core::ops::Range<usize>, MemoryError> {
        let len64 = len as u64;
        let Some(start) = offset_in(self.base, self.size(), ipa, len64) else {
            self.refused += 1;
            return Err(MemoryError::OutOfRange { ipa, len: len64 });
        };
        if let Some((bad_start, bad_end)) = self.unavailable {
            // In range, so ipa + len cannot overflow.
            if ipa < bad_end && bad_start < ipa + len64 {
                self.refused += 1;
                return Err(MemoryError::Unavailable { ipa });
            }
        }
        Ok(start..start + len)
    }
}

impl GuestMemory for VecMemory {
    fn read(&mut self, ipa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let range = self.range(ipa, buf.len())?;
        let source = self.bytes.get(range).ok_or(MemoryError::OutOfRange { ipa, len: buf.len() as u64 })?;
        buf.copy_from_slice(source);
        Ok(())
    }

    fn write(&mut self, ipa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let range = self.range(ipa, data.len())?;
        let target = self.bytes.get_mut(range).ok_or(MemoryError::OutOfRange { ipa, len: data.len() as u64 })?;
        target.copy_from_slice(data);
        Ok(())
    }

    fn contains(&self, ipa: u64, len: u64) -> bool {
        offset_in(self.base, self.size(), ipa, len).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_inside_work_and_outside_are_refused() {
        let mut memory = VecMemory::new(0x4000_0000, 0x100);
        memory.write_u32(0x4000_00fc, 0xdead_beef).unwrap();
        assert_eq!(memory.read_u32(0x4000_00fc), Ok(0xdead_beef));
        assert_eq!(memory.read_u16(0x4000_00fe), Ok(0xdead));
        let mut four = [0; 4];
        assert_eq!(memory.read(0x4000_00fd, &mut four), Err(MemoryError::OutOfRange { ipa: 0x4000_00fd, len: 4 }));
        assert_eq!(memory.write(0x3fff_ffff, &[1, 2]), Err(MemoryError::OutOfRange { ipa: 0x3fff_ffff, len: 2 }));
        assert!(memory.read(u64::MAX, &mut four).is_err(), "wrapping");
        assert_eq!(memory.refused(), 3);
        assert!(memory.contains(0x4000_0000, 0x100));
        assert!(memory.contains(0x4000_0100, 0), "an empty range at the end");
        assert!(!memory.contains(0x4000_0000, 0x101));
        assert!(!memory.contains(0x4000_0001, u64::MAX));
        assert_eq!(memory.bytes()[0xfc..], [0xef, 0xbe, 0xad, 0xde]);
    }

    #[test]
    fn an_unavailable_range_is_contained_but_refused() {
        let mut memory = VecMemory::new(0x1000, 0x100);
        memory.make_unavailable(0x1080, 0x1090);
        assert!(memory.contains(0x1080, 4));
        assert_eq!(memory.write_u32(0x107e, 1), Err(MemoryError::Unavailable { ipa: 0x107e }));
        assert_eq!(memory.write_u32(0x107c, 1), Ok(()));
        assert_eq!(memory.write_u32(0x1090, 1), Ok(()));
        assert_eq!(memory.refused(), 1);
    }

    #[test]
    fn offsets_are_overflow_checked() {
        assert_eq!(offset_in(0, u64::MAX, u64::MAX - 1, 1), Some((u64::MAX - 1) as usize));
        assert_eq!(offset_in(0, u64::MAX, u64::MAX - 1, 2), None);
        assert_eq!(offset_in(10, 5, 9, 1), None);
        assert_eq!(offset_in(10, 5, 15, 0), Some(5));
    }
}
