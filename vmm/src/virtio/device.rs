//! What a device type (rng, console, block, net) provides to the transport, and the handle
//! through which it serves one queue.
//!
//! A backend is a pure state machine: the transport calls [`VirtioDevice::process_queue`]
//! for each queue the guest notified or the backend has host work for, with a [`QueueIo`]
//! that pops validated chains, copies bytes in and out of them and returns them. The
//! backend never sees the transport registers, interrupts or guest addresses beyond its
//! chains.

use super::error::{BackendError, QueueError, RequestError};
use super::memory::GuestMemory;
use super::queue::{DescriptorChain, Queue};

/// Device IDs (virtio 1.x, 5).
pub const DEVICE_ID_NET: u32 = 1;
pub const DEVICE_ID_BLOCK: u32 = 2;
pub const DEVICE_ID_CONSOLE: u32 = 3;
pub const DEVICE_ID_ENTROPY: u32 = 4;

/// Feature bits the transport and queues implement (virtio 1.x, 6).
pub const VIRTIO_F_INDIRECT_DESC: u64 = 1 << 28;
pub const VIRTIO_F_EVENT_IDX: u64 = 1 << 29;
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;
/// Bits 24..=41 belong to the transport and queues; a backend's own bits there are dropped.
pub const TRANSPORT_FEATURES: u64 = ((1 << 42) - 1) & !((1 << 24) - 1);

/// Queue `queue`'s bit in a queue mask ([`VirtioDevice::host_work`]); 0 past bit 31.
pub fn queue_bit(queue: u16) -> u32 {
    1u32.checked_shl(u32::from(queue)).unwrap_or(0)
}

/// One virtio device type, as the transport drives it.
pub trait VirtioDevice: Send {
    /// A short name for statistics and logs ("virtio-rng").
    fn name(&self) -> &'static str;

    /// The virtio device ID ([`DEVICE_ID_ENTROPY`], …).
    fn device_id(&self) -> u32;

    /// Device-type feature bits offered (the transport adds VERSION_1, INDIRECT_DESC and
    /// EVENT_IDX itself).
    fn features(&self) -> u64;

    /// Largest size of each queue; the number of entries is the number of queues (at most
    /// [`super::mmio::MAX_QUEUES`] are used).
    fn queue_max_sizes(&self) -> &[u16];

    /// The device-specific configuration space, as the guest reads it from offset 0x100.
    fn config(&self) -> &[u8] {
        &[]
    }

    /// A guest write to the configuration space, inside [`VirtioDevice::config`]'s length.
    /// Returns false when the field is read-only (the write is ignored and counted).
    fn write_config(&mut self, _offset: usize, _data: &[u8]) -> bool {
        false
    }

    /// The driver set DRIVER_OK with these negotiated features (transport bits included).
    fn activate(&mut self, _features: u64) {}

    /// The device was reset (by the guest or the kernel): drop guest-facing state. Host-side
    /// buffers (console input not yet delivered, say) may be kept.
    fn reset(&mut self);

    /// Queues (bit n = queue n) with new work from the host side since they were last
    /// served, such as console input that arrived: the transport serves them without a
    /// guest notification. A backend clears a queue's bit when it serves that queue, even
    /// if it could not finish (no receive buffers): the guest's next notification brings
    /// it back. A bit that stayed set would keep the device's task busy.
    fn host_work(&self) -> u32 {
        0
    }

    /// Serves queue `queue`: pop chains, handle them, return them. An error means the guest
    /// broke the queue or a request; the device then needs a reset.
    fn process_queue(&mut self, queue: u16, io: &mut QueueIo<'_>) -> Result<(), BackendError>;
}

impl<T: VirtioDevice + ?Sized> VirtioDevice for alloc::boxed::Box<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn device_id(&self) -> u32 {
        (**self).device_id()
    }
    fn features(&self) -> u64 {
        (**self).features()
    }
    fn queue_max_sizes(&self) -> &[u16] {
        (**self).queue_max_sizes()
    }
    fn config(&self) -> &[u8] {
        (**self).config()
    }
    fn write_config(&mut self, offset: usize, data: &[u8]) -> bool {
        (**self).write_config(offset, data)
    }
    fn activate(&mut self, features: u64) {
        (**self).activate(features)
    }
    fn reset(&mut self) {
        (**self).reset()
    }
    fn host_work(&self) -> u32 {
        (**self).host_work()
    }
    fn process_queue(&mut self, queue: u16, io: &mut QueueIo<'_>) -> Result<(), BackendError> {
        (**self).process_queue(queue, io)
    }
}

/// One queue and guest memory, for one processing pass of a backend. At most `budget`
/// chains are popped per pass, so one busy queue cannot hold the device's task forever;
/// the transport comes back for the rest.
pub struct QueueIo<'a> {
    queue: &'a mut Queue,
    mem: &'a mut dyn GuestMemory,
    budget: u32,
    completed: u32,
    exhausted: bool,
}

impl<'a> QueueIo<'a> {
    pub fn new(queue: &'a mut Queue, mem: &'a mut dyn GuestMemory, budget: u32) -> Self {
        Self { queue, mem, budget, completed: 0, exhausted: false }
    }

    /// The next available chain; None when the queue is empty or this pass's budget is spent.
    pub fn pop(&mut self) -> Result<Option<DescriptorChain>, QueueError> {
        if self.budget == 0 {
            self.exhausted = true;
            return Ok(None);
        }
        let chain = self.queue.pop(self.mem)?;
        if chain.is_some() {
            self.budget -= 1;
        }
        Ok(chain)
    }

    /// Copies readable bytes from `offset` of the chain's readable part; returns how many.
    pub fn read(&mut self, chain: &DescriptorChain, offset: u32, buf: &mut [u8]) -> Result<usize, QueueError> {
        chain.read_at(self.mem, offset, buf)
    }

    /// Fills `buf` from `offset` of the readable part, or fails with
    /// [`RequestError::ReadableTooShort`].
    pub fn read_exact(&mut self, chain: &DescriptorChain, offset: u32, buf: &mut [u8]) -> Result<(), BackendError> {
        let got = chain.read_at(self.mem, offset, buf)?;
        if got < buf.len() {
            let needed = u32::try_from(buf.len()).unwrap_or(u32::MAX).saturating_add(offset);
            return Err(RequestError::ReadableTooShort { needed, available: chain.readable_len() }.into());
        }
        Ok(())
    }

    /// Copies `data` to `offset` of the chain's writable part; returns how many bytes fitted.
    pub fn write(&mut self, chain: &DescriptorChain, offset: u32, data: &[u8]) -> Result<usize, QueueError> {
        chain.write_at(self.mem, offset, data)
    }

    /// Returns the chain to the driver, saying `written` bytes of it were written (at most
    /// its writable length).
    pub fn add_used(&mut self, chain: DescriptorChain, written: u32) -> Result<(), QueueError> {
        self.queue.add_used(self.mem, chain.head(), written.min(chain.writable_len()))?;
        self.completed += 1;
        Ok(())
    }

    /// Guest memory, for request parsing that works on a chain directly.
    pub fn memory(&mut self) -> &mut dyn GuestMemory {
        &mut *self.mem
    }

    /// Chains returned in this pass.
    pub fn completed(&self) -> u32 {
        self.completed
    }

    /// Whether the pass stopped for its budget (chains may be left).
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }
}
