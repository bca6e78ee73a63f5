//! The device side of a split virtqueue: configuration checks, popping chains, the used ring,
//! and interrupt suppression (VRING_AVAIL_F_NO_INTERRUPT or VIRTIO_F_EVENT_IDX).
//!
//! Guest memory layout (virtio 1.x, 2.7): a descriptor table of `size` 16-byte entries
//! (16-byte aligned); the available ring `flags u16, idx u16, ring[size] u16, used_event
//! u16` (2-byte aligned); the used ring `flags u16, idx u16, ring[size] {id u32, len u32},
//! avail_event u16` (4-byte aligned). The rings are checked to lie in guest memory the first
//! time the queue is used; every index read from them is checked before it is used.

mod chain;
#[cfg(test)]
mod tests;

use core::sync::atomic::{fence, Ordering};

pub use chain::{
    DescriptorChain, Segment, DESCRIPTOR_BYTES, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, MAX_CHAIN_BYTES,
    MAX_INDIRECT_DESCRIPTORS,
};

use super::error::{QueueError, RingArea};
use super::memory::GuestMemory;

/// The largest queue the split layout allows.
pub const MAX_QUEUE_SIZE: u16 = 32768;
/// Available ring flag: the driver asks for no used-buffer interrupts.
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;

/// Ring features the driver negotiated (they change how the queue reads and signals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingFeatures {
    /// VIRTIO_F_INDIRECT_DESC.
    pub indirect: bool,
    /// VIRTIO_F_EVENT_IDX.
    pub event_idx: bool,
}

/// One virtqueue as the device keeps it.
#[derive(Clone, Debug)]
pub struct Queue {
    max_size: u16,
    /// As the driver wrote QueueNum; checked when the queue is made ready.
    size: u16,
    ready: bool,
    desc_table: u64,
    avail_ring: u64,
    used_ring: u64,
    features: RingFeatures,
    /// The rings were found to lie in guest memory (checked on first use).
    rings_checked: bool,
    /// The next available-ring entry to consume (free-running, as the indices are).
    next_avail: u16,
    /// The next used-ring entry to fill.
    next_used: u16,
    /// `next_used` when the driver was last considered for an interrupt.
    signalled_used: u16,
}

impl Queue {
    /// A queue in its reset state that accepts up to `max_size` entries (clamped to
    /// [`MAX_QUEUE_SIZE`]).
    pub fn new(max_size: u16) -> Self {
        let max_size = max_size.min(MAX_QUEUE_SIZE);
        Self {
            max_size,
            size: max_size,
            ready: false,
            desc_table: 0,
            avail_ring: 0,
            used_ring: 0,
            features: RingFeatures::default(),
            rings_checked: false,
            next_avail: 0,
            next_used: 0,
            signalled_used: 0,
        }
    }

    /// Back to the reset state (device reset).
    pub fn reset(&mut self) {
        *self = Self::new(self.max_size);
    }

    pub fn max_size(&self) -> u16 {
        self.max_size
    }

    pub fn size(&self) -> u16 {
        self.size
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    pub fn desc_table(&self) -> u64 {
        self.desc_table
    }

    pub fn avail_ring(&self) -> u64 {
        self.avail_ring
    }

    pub fn used_ring(&self) -> u64 {
        self.used_ring
    }

    /// Setup values (QueueNum, QueueDesc, QueueDriver, QueueDevice), checked by
    /// [`Queue::enable`]. Ignored while the queue is ready: a ready queue's layout is fixed.
    pub fn set_size(&mut self, size: u16) {
        if self.ready {
            return;
        }
        self.size = size;
    }

    pub fn set_desc_table(&mut self, ipa: u64) {
        if self.ready {
            return;
        }
        self.desc_table = ipa;
    }

    pub fn set_avail_ring(&mut self, ipa: u64) {
        if self.ready {
            return;
        }
        self.avail_ring = ipa;
    }

    pub fn set_used_ring(&mut self, ipa: u64) {
        if self.ready {
            return;
        }
        self.used_ring = ipa;
    }

    pub fn set_features(&mut self, features: RingFeatures) {
        self.features = features;
    }

    /// QueueReady = 1: checks size and alignment, then starts from index 0. The rings'
    /// places in guest memory are checked on first use.
    pub fn enable(&mut self) -> Result<(), QueueError> {
        if self.size == 0 || !self.size.is_power_of_two() || self.size > self.max_size {
            return Err(QueueError::SizeInvalid { size: self.size, max: self.max_size });
        }
        for (area, ipa, align) in [
            (RingArea::DescriptorTable, self.desc_table, 16),
            (RingArea::AvailRing, self.avail_ring, 2),
            (RingArea::UsedRing, self.used_ring, 4),
        ] {
            if !ipa.is_multiple_of(align) {
                return Err(QueueError::Misaligned { area, ipa });
            }
        }
        self.ready = true;
        self.rings_checked = false;
        self.next_avail = 0;
        self.next_used = 0;
        self.signalled_used = 0;
        Ok(())
    }

    /// QueueReady = 0: the device stops using the queue.
    pub fn disable(&mut self) {
        self.ready = false;
    }

    /// How many chains the device has consumed and returned (free-running indices).
    pub fn next_avail(&self) -> u16 {
        self.next_avail
    }

    pub fn next_used(&self) -> u16 {
        self.next_used
    }

    fn slot(&self, index: u16) -> u64 {
        // The size is a power of two once the queue is ready.
        u64::from(index & self.size.wrapping_sub(1))
    }

    fn size64(&self) -> u64 {
        u64::from(self.size)
    }

    fn check_rings(&mut self, mem: &mut dyn GuestMemory) -> Result<(), QueueError> {
        if self.rings_checked {
            return Ok(());
        }
        let size = self.size64();
        for (area, ipa, len) in [
            (RingArea::DescriptorTable, self.desc_table, DESCRIPTOR_BYTES * size),
            (RingArea::AvailRing, self.avail_ring, 6 + 2 * size),
            (RingArea::UsedRing, self.used_ring, 6 + 8 * size),
        ] {
            if !mem.contains(ipa, len) {
                return Err(QueueError::RingOutsideMemory { area, ipa });
            }
        }
        self.rings_checked = true;
        Ok(())
    }

    /// The driver's available index, checked against what the device has consumed.
    fn avail_idx(&self, mem: &mut dyn GuestMemory) -> Result<u16, QueueError> {
        let avail_idx = mem.read_u16(self.avail_ring + 2)?;
        if avail_idx.wrapping_sub(self.next_avail) > self.size {
            return Err(QueueError::AvailIndexJump { avail_idx, consumed: self.next_avail });
        }
        Ok(avail_idx)
    }

    /// The next chain the driver made available, validated; None when there is none.
    ///
    /// With VIRTIO_F_EVENT_IDX, an empty queue first publishes `avail_event` (notify me at
    /// the next entry) and looks once more, so a buffer added meanwhile is not missed.
    pub fn pop(&mut self, mem: &mut dyn GuestMemory) -> Result<Option<DescriptorChain>, QueueError> {
        if !self.ready {
            return Ok(None);
        }
        self.check_rings(mem)?;
        if self.avail_idx(mem)? == self.next_avail {
            if !self.features.event_idx {
                return Ok(None);
            }
            mem.write_u16(self.used_ring + 4 + 8 * self.size64(), self.next_avail)?;
            fence(Ordering::SeqCst);
            if self.avail_idx(mem)? == self.next_avail {
                return Ok(None);
            }
        }
        // Ring entries are read after the index that published them.
        fence(Ordering::Acquire);
        let head = mem.read_u16(self.avail_ring + 4 + 2 * self.slot(self.next_avail))?;
        if head >= self.size {
            return Err(QueueError::HeadOutOfRange { head, size: self.size });
        }
        let chain = DescriptorChain::walk(mem, self.desc_table, self.size, head, self.features.indirect)?;
        self.next_avail = self.next_avail.wrapping_add(1);
        Ok(Some(chain))
    }

    /// Returns chain `head` to the driver with `written` bytes written into it.
    pub fn add_used(&mut self, mem: &mut dyn GuestMemory, head: u16, written: u32) -> Result<(), QueueError> {
        if !self.ready || head >= self.size {
            return Err(QueueError::HeadOutOfRange { head, size: self.size });
        }
        self.check_rings(mem)?;
        let entry = self.used_ring + 4 + 8 * self.slot(self.next_used);
        let mut element = [0u8; 8];
        element[..4].copy_from_slice(&u32::from(head).to_le_bytes());
        element[4..].copy_from_slice(&written.to_le_bytes());
        mem.write(entry, &element)?;
        // The element is visible before the index that publishes it.
        fence(Ordering::Release);
        self.next_used = self.next_used.wrapping_add(1);
        mem.write_u16(self.used_ring + 2, self.next_used)?;
        Ok(())
    }

    /// Whether the driver wants an interrupt for the used entries added since the last
    /// call: never for none; with EVENT_IDX when `used_event` was crossed, else unless
    /// the driver set VRING_AVAIL_F_NO_INTERRUPT.
    pub fn needs_interrupt(&mut self, mem: &mut dyn GuestMemory) -> Result<bool, QueueError> {
        let new = self.next_used;
        let old = self.signalled_used;
        if !self.ready || new == old {
            return Ok(false);
        }
        self.check_rings(mem)?;
        self.signalled_used = new;
        // The used index is written before the driver's suppression state is read.
        fence(Ordering::SeqCst);
        if self.features.event_idx {
            let used_event = mem.read_u16(self.avail_ring + 4 + 2 * self.size64())?;
            Ok(new.wrapping_sub(used_event).wrapping_sub(1) < new.wrapping_sub(old))
        } else {
            let flags = mem.read_u16(self.avail_ring)?;
            Ok(flags & VRING_AVAIL_F_NO_INTERRUPT == 0)
        }
    }
}
