//! The virtio-mmio transport (version 2) over a [`VirtioDevice`] backend, as a bus device.
//!
//! The guest's register accesses come through [`MmioDevice`]; they are cheap: QueueNotify
//! only records which queue was notified. The kernel then wakes the device's task, which
//! calls [`VirtioMmio::process`] with guest memory: that serves the notified queues (and
//! those the backend has host work for) and raises the interrupt. The interrupt line
//! follows InterruptStatus: high while any bit is set, driven through [`InterruptSink`].
//!
//! A guest error in a queue or request puts the device in NEEDS_RESET (status bit 0x40
//! and a config-change interrupt once DRIVER_OK is set): it serves no queue until the
//! guest writes Status = 0. Register misuse is ignored. Either way the error is counted,
//! and the first one is kept for the kernel to log once ([`VirtioMmio::take_error_report`]).

mod config;
mod registers;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use config::CONFIG;
pub use registers::{
    INTERRUPT_CONFIG_CHANGE, INTERRUPT_USED_BUFFER, MAGIC, STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK,
    STATUS_FAILED, STATUS_FEATURES_OK, STATUS_NEEDS_RESET, VENDOR,
};

use super::device::{
    QueueIo, VirtioDevice, TRANSPORT_FEATURES, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1,
};
use super::error::{BackendError, GuestError, TransportError};
use super::memory::GuestMemory;
use super::queue::{Queue, RingFeatures};
use crate::bus::{AccessWidth, InterruptSink, MmioDevice, MmioError};
use crate::layout;

/// The most queues one device has (notifications are a 32-bit mask).
pub const MAX_QUEUES: usize = 32;
/// Chains one queue may complete in one [`VirtioMmio::process`] pass.
pub const CHAINS_PER_PASS: u32 = 256;
/// The transport features this implementation offers on top of the backend's.
pub const TRANSPORT_OFFERED: u64 = VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX;

/// The interrupt ID of virtio-mmio slot `slot` (the DTB gives the same).
pub fn slot_intid(slot: u32) -> u32 {
    layout::VIRTIO_FIRST_INTID + slot
}

/// The guest address of virtio-mmio slot `slot`; its range is [`layout::VIRTIO_STRIDE`] long.
pub fn slot_base(slot: u32) -> u64 {
    layout::VIRTIO_BASE + u64::from(slot) * layout::VIRTIO_STRIDE
}

/// What one device did, for `vm stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtioCounters {
    /// QueueNotify writes for an existing queue.
    pub notifications: u64,
    /// Chains returned to the guest through the used rings.
    pub chains: u64,
    /// Interrupts signalled (used buffers or config change).
    pub interrupts: u64,
    /// Guest errors of every kind (register misuse, broken queues and requests).
    pub guest_errors: u64,
    /// Device resets by the guest.
    pub resets: u64,
}

/// A virtio-mmio device: the register file, the queues and the backend.
pub struct VirtioMmio<D: VirtioDevice> {
    device: D,
    intid: u32,
    queues: Vec<Queue>,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    /// The driver's status bits (NEEDS_RESET is `broken`).
    status: u32,
    broken: bool,
    interrupt_status: u32,
    line_high: bool,
    config_generation: u32,
    /// Queues the guest notified (bit n = queue n) and not yet served.
    notified: u32,
    counters: VirtioCounters,
    first_error: Option<GuestError>,
    error_reported: bool,
    /// Counts resets and queues stopped by the driver: chains taken for later completion
    /// ([`VirtioMmio::complete`]) belong to the epoch they were taken in.
    epoch: u64,
}

impl<D: VirtioDevice> VirtioMmio<D> {
    /// The transport for `device`, signalling on SPI `intid` (see [`slot_intid`]).
    pub fn new(device: D, intid: u32) -> Self {
        let queues = device.queue_max_sizes().iter().take(MAX_QUEUES).map(|&max| Queue::new(max)).collect();
        Self {
            device,
            intid,
            queues,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            status: 0,
            broken: false,
            interrupt_status: 0,
            line_high: false,
            config_generation: 0,
            notified: 0,
            counters: VirtioCounters::default(),
            first_error: None,
            error_reported: false,
            epoch: 0,
        }
    }

    pub fn device(&self) -> &D {
        &self.device
    }

    /// The backend, to feed it input or take its output. After giving it host work, check
    /// [`VirtioMmio::needs_processing`].
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    pub fn intid(&self) -> u32 {
        self.intid
    }

    pub fn counters(&self) -> VirtioCounters {
        self.counters
    }

    /// The driver's status with NEEDS_RESET, as the guest reads it.
    pub fn status(&self) -> u32 {
        self.status | if self.broken { STATUS_NEEDS_RESET } else { 0 }
    }

    /// Whether the device is waiting for the guest to reset it.
    pub fn needs_reset(&self) -> bool {
        self.broken
    }

    /// The features the driver accepted (meaningful once FEATURES_OK is set).
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    pub fn queue(&self, index: usize) -> Option<&Queue> {
        self.queues.get(index)
    }

    /// The first guest error since the device was made, once: the kernel logs it. Later
    /// errors are only counted ([`VirtioCounters::guest_errors`]).
    pub fn take_error_report(&mut self) -> Option<GuestError> {
        let error = self.first_error.take();
        self.error_reported |= error.is_some();
        error
    }

    /// Queues the guest notified that [`VirtioMmio::process`] has not served yet (bit n =
    /// queue n), for tracing; [`VirtioMmio::needs_processing`] is what decides a wake-up.
    pub fn notified_queues(&self) -> u32 {
        self.notified
    }

    /// Whether [`VirtioMmio::process`] has something to do: queues notified or host work,
    /// on a device the driver has started and that is not broken or failed.
    pub fn needs_processing(&self) -> bool {
        self.running() && self.pending() != 0
    }

    /// Ready queues that were notified or have host work.
    fn pending(&self) -> u32 {
        let ready = self.queues.iter().enumerate().filter(|(_, q)| q.is_ready()).fold(0, |mask, (i, _)| mask | 1 << i);
        (self.notified | self.device.host_work()) & ready
    }

    /// Serves notified queues and queues with host work, then signals used buffers. Run by
    /// the device's task; returns whether work is left (a queue hit its per-pass budget):
    /// then run again after yielding.
    pub fn process(&mut self, mem: &mut dyn GuestMemory, irq: &mut dyn InterruptSink) -> bool {
        if !self.running() {
            return false;
        }
        let pending = self.pending();
        self.notified = 0;
        let mut signal = false;
        for index in 0..self.queues.len() {
            let Some(queue) = self.queues.get_mut(index).filter(|_| pending & (1 << index) != 0) else {
                continue;
            };
            let mut io = QueueIo::new(&mut *queue, &mut *mem, CHAINS_PER_PASS);
            let result = self.device.process_queue(index as u16, &mut io);
            self.counters.chains += u64::from(io.completed());
            if io.exhausted() {
                self.notified |= 1 << index;
            }
            let result = result.map_err(|error| error.on_queue(index as u16)).and_then(|()| {
                queue.needs_interrupt(mem).map_err(|error| GuestError::Queue { queue: index as u16, error })
            });
            match result {
                Ok(wanted) => signal |= wanted,
                Err(error) => {
                    self.guest_error(error, irq);
                    return false;
                }
            }
        }
        if signal {
            self.raise(INTERRUPT_USED_BUFFER, irq);
        }
        self.needs_processing()
    }

    /// The current epoch: a chain taken out of [`VirtioMmio::process`] by a backend that
    /// completes later is completed with the epoch it was taken in, and dropped if the
    /// device was reset or its queue stopped meanwhile.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Returns a chain that a backend took in `epoch` and served outside `process` (its
    /// host I/O was asynchronous): the used element, then the interrupt if the driver wants
    /// one. Nothing happens when the epoch is over or the device is not running (the guest
    /// reset it, or it broke); returns whether the chain was returned.
    pub fn complete(
        &mut self,
        epoch: u64,
        queue: u16,
        head: u16,
        written: u32,
        mem: &mut dyn GuestMemory,
        irq: &mut dyn InterruptSink,
    ) -> bool {
        if epoch != self.epoch || !self.running() {
            return false;
        }
        let Some(ring) = self.queues.get_mut(usize::from(queue)).filter(|q| q.is_ready()) else {
            return false;
        };
        let result = ring.add_used(mem, head, written).and_then(|()| ring.needs_interrupt(mem));
        match result {
            Ok(wanted) => {
                self.counters.chains += 1;
                if wanted {
                    self.raise(INTERRUPT_USED_BUFFER, irq);
                }
                true
            }
            Err(error) => {
                self.guest_error(GuestError::Queue { queue, error }, irq);
                false
            }
        }
    }

    /// A guest error found while serving a chain outside `process` (a request without the
    /// buffers it needs, memory refused): counted, reported once, and the device needs a
    /// reset. Ignored when `epoch` is over.
    pub fn fail(&mut self, epoch: u64, queue: u16, error: BackendError, irq: &mut dyn InterruptSink) {
        if epoch == self.epoch {
            self.guest_error(error.on_queue(queue), irq);
        }
    }

    /// The device's configuration changed (say, a console resize): a new generation, and a
    /// config-change interrupt once the driver is running.
    pub fn config_changed(&mut self, irq: &mut dyn InterruptSink) {
        self.config_generation = self.config_generation.wrapping_add(1);
        if self.status & STATUS_DRIVER_OK != 0 {
            self.raise(INTERRUPT_CONFIG_CHANGE, irq);
        }
    }

    /// Drives the interrupt line to its current level (always calls the sink).
    pub fn update_irq(&mut self, irq: &mut dyn InterruptSink) {
        self.line_high = self.interrupt_status != 0;
        irq.set_spi_level(self.intid, self.line_high);
    }

    fn running(&self) -> bool {
        self.status & (STATUS_DRIVER_OK | STATUS_FAILED) == STATUS_DRIVER_OK && !self.broken
    }

    fn offered_features(&self) -> u64 {
        (self.device.features() & !TRANSPORT_FEATURES) | TRANSPORT_OFFERED
    }

    fn ring_features(&self) -> RingFeatures {
        RingFeatures {
            indirect: self.driver_features & VIRTIO_F_INDIRECT_DESC != 0,
            event_idx: self.driver_features & VIRTIO_F_EVENT_IDX != 0,
        }
    }

    /// DRIVER_OK: the backend starts, and every ready queue is looked at once.
    fn activate(&mut self) {
        let features = self.ring_features();
        for (index, queue) in self.queues.iter_mut().enumerate() {
            queue.set_features(features);
            if queue.is_ready() {
                self.notified |= 1 << index;
            }
        }
        self.device.activate(self.driver_features);
    }

    /// Status = 0 from the guest: everything back to the reset state.
    fn reset(&mut self, irq: &mut dyn InterruptSink) {
        self.epoch += 1;
        self.queues.iter_mut().for_each(Queue::reset);
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.queue_sel = 0;
        self.status = 0;
        self.broken = false;
        self.notified = 0;
        self.interrupt_status = 0;
        self.sync_line(irq);
        self.counters.resets += 1;
        self.device.reset();
    }

    fn raise(&mut self, bits: u32, irq: &mut dyn InterruptSink) {
        self.counters.interrupts += 1;
        self.interrupt_status |= bits;
        self.sync_line(irq);
    }

    fn sync_line(&mut self, irq: &mut dyn InterruptSink) {
        if (self.interrupt_status != 0) != self.line_high {
            self.update_irq(irq);
        }
    }

    fn record(&mut self, error: GuestError) {
        self.counters.guest_errors += 1;
        if !self.error_reported && self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }

    /// Register misuse: counted and reported, the access ignored.
    fn violation(&mut self, error: TransportError) {
        self.record(GuestError::Transport(error));
    }

    /// A broken queue or request: the device needs a reset.
    fn guest_error(&mut self, error: GuestError, irq: &mut dyn InterruptSink) {
        self.record(error);
        if error.needs_reset() && !self.broken {
            self.broken = true;
            self.notified = 0;
            if self.status & STATUS_DRIVER_OK != 0 {
                self.raise(INTERRUPT_CONFIG_CHANGE, irq);
            }
        }
    }
}

/// Registers below [`CONFIG`] are 32 bits wide and word-aligned.
fn check_register_access(offset: u64, width: AccessWidth) -> Result<(), MmioError> {
    if width != AccessWidth::Word || !offset.is_multiple_of(4) {
        return Err(MmioError::BadRegister);
    }
    Ok(())
}

impl<D: VirtioDevice> MmioDevice for VirtioMmio<D> {
    fn name(&self) -> &'static str {
        self.device.name()
    }

    fn read(&mut self, offset: u64, width: AccessWidth, _irq: &mut dyn InterruptSink) -> Result<u64, MmioError> {
        if let Some(config_offset) = offset.checked_sub(CONFIG) {
            return self.read_config(config_offset, width);
        }
        check_register_access(offset, width)?;
        self.read_register(offset).map(u64::from)
    }

    fn write(
        &mut self,
        offset: u64,
        width: AccessWidth,
        value: u64,
        irq: &mut dyn InterruptSink,
    ) -> Result<(), MmioError> {
        if let Some(config_offset) = offset.checked_sub(CONFIG) {
            return self.write_config(config_offset, width, value & width.mask());
        }
        check_register_access(offset, width)?;
        self.write_register(offset, value as u32, irq)
    }
}
