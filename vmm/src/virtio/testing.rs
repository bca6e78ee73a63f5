//! Test helpers: the driver's side of a split virtqueue in a `VecMemory`, and an interrupt line.

use alloc::vec::Vec;

use super::device::VirtioDevice;
use super::memory::{GuestMemory, VecMemory};
use super::mmio::VirtioMmio;
use super::queue::{DESC_F_NEXT, DESC_F_WRITE};
use crate::bus::{InterruptSink, MmioDevice};

/// Guest memory of the tests: 1 MiB at the start of guest RAM.
pub const RAM: u64 = 0x4000_0000;
pub const RAM_BYTES: usize = 1 << 20;
/// Where test buffers go (the rings live below).
pub const BUFFERS: u64 = RAM + 0x8_0000;

pub fn memory() -> VecMemory {
    VecMemory::new(RAM, RAM_BYTES)
}

/// A driver's view of one queue: the rings it allocated and the indices it keeps.
#[derive(Clone, Debug)]
pub struct DriverQueue {
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    pub size: u16,
    avail_idx: u16,
    next_desc: u16,
    used_seen: u16,
}

impl DriverQueue {
    /// Rings for `size` entries laid out from `base` (which must be 16-byte aligned).
    pub fn new(base: u64, size: u16) -> Self {
        let desc = base;
        let avail = desc + 16 * u64::from(size);
        let used = (avail + 6 + 2 * u64::from(size)).next_multiple_of(4);
        Self { desc, avail, used, size, avail_idx: 0, next_desc: 0, used_seen: 0 }
    }

    pub fn write_desc(&self, mem: &mut VecMemory, index: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&addr.to_le_bytes());
        bytes[8..12].copy_from_slice(&len.to_le_bytes());
        bytes[12..14].copy_from_slice(&flags.to_le_bytes());
        bytes[14..].copy_from_slice(&next.to_le_bytes());
        mem.write(self.desc + 16 * u64::from(index), &bytes).unwrap();
    }

    /// Puts `head` in the available ring and publishes it.
    pub fn publish(&mut self, mem: &mut VecMemory, head: u16) {
        let slot = u64::from(self.avail_idx % self.size);
        mem.write_u16(self.avail + 4 + 2 * slot, head).unwrap();
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.write_u16(self.avail + 2, self.avail_idx).unwrap();
    }

    /// Sets the available index directly (hostile tests).
    pub fn set_avail_idx(&mut self, mem: &mut VecMemory, idx: u16) {
        self.avail_idx = idx;
        mem.write_u16(self.avail + 2, idx).unwrap();
    }

    /// Writes a chain of (address, length, device-writable) buffers into the next free
    /// descriptors, publishes it, and returns its head.
    pub fn add_chain(&mut self, mem: &mut VecMemory, buffers: &[(u64, u32, bool)]) -> u16 {
        let head = self.next_desc % self.size;
        for (i, &(addr, len, writable)) in buffers.iter().enumerate() {
            let index = (self.next_desc + i as u16) % self.size;
            let last = i + 1 == buffers.len();
            let flags = if writable { DESC_F_WRITE } else { 0 } | if last { 0 } else { DESC_F_NEXT };
            self.write_desc(mem, index, addr, len, flags, (index + 1) % self.size);
        }
        self.next_desc = self.next_desc.wrapping_add(buffers.len() as u16);
        self.publish(mem, head);
        head
    }

    /// Writes the buffers as an indirect table at `table` and publishes one INDIRECT
    /// descriptor for it; returns its head.
    pub fn add_indirect(&mut self, mem: &mut VecMemory, table: u64, buffers: &[(u64, u32, bool)]) -> u16 {
        let table_queue = DriverQueue { desc: table, ..DriverQueue::new(table, buffers.len() as u16) };
        for (i, &(addr, len, writable)) in buffers.iter().enumerate() {
            let last = i + 1 == buffers.len();
            let flags = if writable { DESC_F_WRITE } else { 0 } | if last { 0 } else { DESC_F_NEXT };
            table_queue.write_desc(mem, i as u16, addr, len, flags, i as u16 + 1);
        }
        let head = self.next_desc % self.size;
        self.write_desc(mem, head, table, 16 * buffers.len() as u32, super::queue::DESC_F_INDIRECT, 0);
        self.next_desc = self.next_desc.wrapping_add(1);
        self.publish(mem, head);
        head
    }

    /// Used entries (id, len) the device added since the last call.
    pub fn take_used(&mut self, mem: &mut VecMemory) -> Vec<(u32, u32)> {
        let used_idx = self.used_idx(mem);
        let mut entries = Vec::new();
        while self.used_seen != used_idx {
            let slot = u64::from(self.used_seen % self.size);
            let id = mem.read_u32(self.used + 4 + 8 * slot).unwrap();
            let len = mem.read_u32(self.used + 8 + 8 * slot).unwrap();
            entries.push((id, len));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        entries
    }

    pub fn used_idx(&self, mem: &mut VecMemory) -> u16 {
        mem.read_u16(self.used + 2).unwrap()
    }

    /// The driver's avail flags (VRING_AVAIL_F_NO_INTERRUPT).
    pub fn set_avail_flags(&self, mem: &mut VecMemory, flags: u16) {
        mem.write_u16(self.avail, flags).unwrap();
    }

    /// EVENT_IDX: interrupt me once the used index passes `index`.
    pub fn set_used_event(&self, mem: &mut VecMemory, index: u16) {
        mem.write_u16(self.avail + 4 + 2 * u64::from(self.size), index).unwrap();
    }

    /// EVENT_IDX: the index at which the device wants the next notification.
    pub fn avail_event(&self, mem: &mut VecMemory) -> u16 {
        mem.read_u16(self.used + 4 + 8 * u64::from(self.size)).unwrap()
    }
}
/// An interrupt controller that remembers every level driven.
#[derive(Default, Debug)]
pub struct Line {
    pub events: Vec<(u32, bool)>,
}

impl Line {
    pub fn high(&self) -> bool {
        self.events.last().is_some_and(|&(_, high)| high)
    }
}

impl InterruptSink for Line {
    fn set_spi_level(&mut self, intid: u32, high: bool) {
        self.events.push((intid, high));
    }
}

/// Rings of queue n start here: 64 KiB apart from RAM, below [`BUFFERS`].
pub fn ring_base(queue: usize) -> u64 {
    RAM + 0x1_0000 * queue as u64
}

/// Probes and starts any device as Linux's virtio_mmio does: reset, ACKNOWLEDGE, DRIVER,
/// the offered features among `wanted`, FEATURES_OK, every queue (at its maximum size, at
/// most 256, rings at [`ring_base`]), DRIVER_OK. Returns the driver's queues.
pub fn start_device<D: VirtioDevice>(dev: &mut VirtioMmio<D>, line: &mut Line, wanted: u64) -> Vec<DriverQueue> {
    use crate::bus::AccessWidth::Word;
    let mut wr = |dev: &mut VirtioMmio<D>, offset: u64, value: u64| dev.write(offset, Word, value, line).unwrap();
    let rd = |dev: &mut VirtioMmio<D>, offset: u64| dev.read(offset, Word, &mut Line::default()).unwrap();
    assert_eq!(rd(dev, 0x000), u64::from(crate::virtio::mmio::MAGIC));
    wr(dev, 0x070, 0);
    wr(dev, 0x070, 1);
    wr(dev, 0x070, 3);
    wr(dev, 0x014, 1);
    let offered = rd(dev, 0x010) << 32;
    wr(dev, 0x014, 0);
    let accepted = (offered | rd(dev, 0x010)) & wanted;
    wr(dev, 0x024, 1);
    wr(dev, 0x020, accepted >> 32);
    wr(dev, 0x024, 0);
    wr(dev, 0x020, accepted & 0xffff_ffff);
    wr(dev, 0x070, 0xb);
    assert_eq!(rd(dev, 0x070), 0xb, "features accepted");
    let mut queues = Vec::new();
    for index in 0.. {
        wr(dev, 0x030, index);
        let max = rd(dev, 0x034) as u16;
        if max == 0 {
            break;
        }
        let size = max.min(256);
        let driver = DriverQueue::new(ring_base(index as usize), size);
        wr(dev, 0x038, u64::from(size));
        for (low, address) in [(0x080, driver.desc), (0x090, driver.avail), (0x0a0, driver.used)] {
            wr(dev, low, address & 0xffff_ffff);
            wr(dev, low + 4, address >> 32);
        }
        wr(dev, 0x044, 1);
        queues.push(driver);
    }
    wr(dev, 0x070, 0xf);
    queues
}
