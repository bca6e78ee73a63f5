//! Descriptor chains: walking NEXT links and indirect tables into a validated list of buffers.
//!
//! A chain is read once from guest memory into [`Segment`]s and checked as it is read, so a
//! guest changing descriptors afterwards changes nothing the device relies on. Checks: every
//! index inside its table, no more descriptors than the table holds (which catches loops),
//! indirect tables only when negotiated, never nested, never with NEXT, a multiple of 16
//! bytes and at most [`MAX_INDIRECT_DESCRIPTORS`] long; every buffer inside guest memory;
//! device-readable buffers before device-writable ones; at most [`MAX_CHAIN_BYTES`] in all.

use alloc::vec::Vec;

use crate::virtio::error::QueueError;
use crate::virtio::memory::GuestMemory;

/// The buffers of one chain add up to at most this many bytes.
pub const MAX_CHAIN_BYTES: u32 = 16 << 20;
/// The longest indirect table accepted (QEMU's limit for a whole queue).
pub const MAX_INDIRECT_DESCRIPTORS: u32 = 1024;
/// Bytes in one descriptor: addr u64, len u32, flags u16, next u16.
pub const DESCRIPTOR_BYTES: u64 = 16;

/// Descriptor flags.
pub const DESC_F_NEXT: u16 = 1;
pub const DESC_F_WRITE: u16 = 2;
pub const DESC_F_INDIRECT: u16 = 4;

/// One buffer of a chain: guest address, length, and whether the device may write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub ipa: u64,
    pub len: u32,
    pub writable: bool,
}

/// A validated chain, as popped from the available ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescriptorChain {
    head: u16,
    segments: Vec<Segment>,
    readable_len: u32,
    writable_len: u32,
}

/// A descriptor as the guest wrote it.
#[derive(Clone, Copy, Debug)]
struct Descriptor {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

impl Descriptor {
    fn read(mem: &mut dyn GuestMemory, ipa: u64) -> Result<Self, QueueError> {
        let mut bytes = [0u8; DESCRIPTOR_BYTES as usize];
        mem.read(ipa, &mut bytes)?;
        let [a0, a1, a2, a3, a4, a5, a6, a7, l0, l1, l2, l3, f0, f1, n0, n1] = bytes;
        Ok(Self {
            addr: u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
            len: u32::from_le_bytes([l0, l1, l2, l3]),
            flags: u16::from_le_bytes([f0, f1]),
            next: u16::from_le_bytes([n0, n1]),
        })
    }
}

/// A descriptor table: where it is and how many entries it has.
#[derive(Clone, Copy)]
struct Table {
    ipa: u64,
    len: u32,
}

impl Table {
    fn entry(self, index: u32) -> Result<u64, QueueError> {
        u64::from(index)
            .checked_mul(DESCRIPTOR_BYTES)
            .and_then(|offset| self.ipa.checked_add(offset))
            .ok_or(QueueError::BufferOutsideMemory { ipa: self.ipa, len: u64::from(self.len) * DESCRIPTOR_BYTES })
    }
}

impl DescriptorChain {
    /// Reads the chain starting at `head` of the queue's table (`table_ipa`, `queue_size`
    /// entries, already known to be in guest memory).
    pub(super) fn walk(
        mem: &mut dyn GuestMemory,
        table_ipa: u64,
        queue_size: u16,
        head: u16,
        indirect_allowed: bool,
    ) -> Result<Self, QueueError> {
        let mut chain = Self { head, segments: Vec::new(), readable_len: 0, writable_len: 0 };
        let mut table = Table { ipa: table_ipa, len: u32::from(queue_size) };
        let mut index = u32::from(head);
        let mut in_indirect = false;
        let mut visited = 0u32;
        loop {
            visited += 1;
            if visited > table.len {
                return Err(QueueError::ChainTooLong { limit: table.len });
            }
            let descriptor = Descriptor::read(mem, table.entry(index)?)?;
            if descriptor.flags & DESC_F_INDIRECT != 0 {
                if in_indirect {
                    return Err(QueueError::NestedIndirect);
                }
                table = indirect_table(mem, &descriptor, indirect_allowed)?;
                in_indirect = true;
                index = 0;
                visited = 0;
                continue;
            }
            chain.push(mem, &descriptor)?;
            if descriptor.flags & DESC_F_NEXT == 0 {
                return Ok(chain);
            }
            if u32::from(descriptor.next) >= table.len {
                return Err(QueueError::NextOutOfRange { next: descriptor.next, table_len: table.len });
            }
            index = u32::from(descriptor.next);
        }
    }

    /// Checks a buffer descriptor and appends it.
    fn push(&mut self, mem: &mut dyn GuestMemory, descriptor: &Descriptor) -> Result<(), QueueError> {
        let writable = descriptor.flags & DESC_F_WRITE != 0;
        if !writable && self.writable_len > 0 {
            return Err(QueueError::ReadableAfterWritable);
        }
        let total = self.readable_len.checked_add(self.writable_len).and_then(|sum| sum.checked_add(descriptor.len));
        if total.is_none_or(|total| total > MAX_CHAIN_BYTES) {
            return Err(QueueError::ChainTooLarge);
        }
        if descriptor.len == 0 {
            return Ok(()); // nothing to read or write: no address to trust either
        }
        if !mem.contains(descriptor.addr, u64::from(descriptor.len)) {
            return Err(QueueError::BufferOutsideMemory { ipa: descriptor.addr, len: u64::from(descriptor.len) });
        }
        // Both sums are at most the checked total.
        if writable {
            self.writable_len += descriptor.len;
        } else {
            self.readable_len += descriptor.len;
        }
        self.segments.push(Segment { ipa: descriptor.addr, len: descriptor.len, writable });
        Ok(())
    }

    /// The descriptor index the chain started at (what the used ring reports).
    pub fn head(&self) -> u16 {
        self.head
    }

    /// The buffers, readable ones first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Bytes the device may read.
    pub fn readable_len(&self) -> u32 {
        self.readable_len
    }

    /// Bytes the device may write.
    pub fn writable_len(&self) -> u32 {
        self.writable_len
    }

    /// Copies device-readable bytes from byte `offset` of the readable part into `buf`;
    /// returns how many (fewer than `buf.len()` at the end of the readable part).
    pub fn read_at(&self, mem: &mut dyn GuestMemory, offset: u32, buf: &mut [u8]) -> Result<usize, QueueError> {
        let mut done = 0;
        for (ipa, range) in self.pieces(false, offset, buf.len()) {
            let Some(part) = buf.get_mut(range) else { break };
            mem.read(ipa, part)?;
            done += part.len();
        }
        Ok(done)
    }

    /// Copies `data` to byte `offset` of the device-writable part; returns how many bytes
    /// fitted.
    pub fn write_at(&self, mem: &mut dyn GuestMemory, offset: u32, data: &[u8]) -> Result<usize, QueueError> {
        let mut done = 0;
        for (ipa, range) in self.pieces(true, offset, data.len()) {
            let Some(part) = data.get(range) else { break };
            mem.write(ipa, part)?;
            done += part.len();
        }
        Ok(done)
    }

    /// The guest pieces of [offset, offset + len) of the readable or writable part: each
    /// as (guest address, range in the caller's buffer).
    fn pieces(
        &self,
        writable: bool,
        offset: u32,
        len: usize,
    ) -> impl Iterator<Item = (u64, core::ops::Range<usize>)> + '_ {
        let mut skip = u64::from(offset);
        let mut done = 0usize;
        self.segments.iter().filter(move |s| s.writable == writable).filter_map(move |segment| {
            let seg_len = u64::from(segment.len);
            if skip >= seg_len {
                skip -= seg_len;
                return None;
            }
            let start = skip;
            skip = 0;
            // A segment is at most MAX_CHAIN_BYTES long, so these fit in usize.
            let count = usize::try_from(seg_len - start).ok()?.min(len - done);
            if count == 0 {
                return None;
            }
            let piece = (segment.ipa + start, done..done + count);
            done += count;
            Some(piece)
        })
    }
}

/// The table an INDIRECT descriptor points to, checked.
fn indirect_table(mem: &mut dyn GuestMemory, descriptor: &Descriptor, allowed: bool) -> Result<Table, QueueError> {
    if !allowed {
        return Err(QueueError::IndirectNotNegotiated);
    }
    if descriptor.flags & DESC_F_NEXT != 0 {
        return Err(QueueError::IndirectWithNext);
    }
    let len = descriptor.len;
    let entries = len / DESCRIPTOR_BYTES as u32;
    if len == 0 || !u64::from(len).is_multiple_of(DESCRIPTOR_BYTES) || entries > MAX_INDIRECT_DESCRIPTORS {
        return Err(QueueError::IndirectTableLength { len });
    }
    if !mem.contains(descriptor.addr, u64::from(len)) {
        return Err(QueueError::BufferOutsideMemory { ipa: descriptor.addr, len: u64::from(len) });
    }
    Ok(Table { ipa: descriptor.addr, len: entries })
}
