//! The virtio-mmio version 2 register file (virtio 1.x, 4.2.2): offsets and the register
//! reads and writes, including the device status state machine.

use super::VirtioMmio;
use crate::bus::{InterruptSink, MmioError};
use crate::virtio::device::VirtioDevice;
use crate::virtio::error::{GuestError, TransportError};

pub const MAGIC_VALUE: u64 = 0x000;
pub const VERSION: u64 = 0x004;
pub const DEVICE_ID: u64 = 0x008;
pub const VENDOR_ID: u64 = 0x00c;
pub const DEVICE_FEATURES: u64 = 0x010;
pub const DEVICE_FEATURES_SEL: u64 = 0x014;
pub const DRIVER_FEATURES: u64 = 0x020;
pub const DRIVER_FEATURES_SEL: u64 = 0x024;
pub const QUEUE_SEL: u64 = 0x030;
pub const QUEUE_NUM_MAX: u64 = 0x034;
pub const QUEUE_NUM: u64 = 0x038;
pub const QUEUE_READY: u64 = 0x044;
pub const QUEUE_NOTIFY: u64 = 0x050;
pub const INTERRUPT_STATUS: u64 = 0x060;
pub const INTERRUPT_ACK: u64 = 0x064;
pub const STATUS: u64 = 0x070;
pub const QUEUE_DESC_LOW: u64 = 0x080;
pub const QUEUE_DESC_HIGH: u64 = 0x084;
pub const QUEUE_DRIVER_LOW: u64 = 0x090;
pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
pub const SHM_SEL: u64 = 0x0ac;
pub const SHM_LEN_LOW: u64 = 0x0b0;
pub const SHM_LEN_HIGH: u64 = 0x0b4;
pub const SHM_BASE_LOW: u64 = 0x0b8;
pub const SHM_BASE_HIGH: u64 = 0x0bc;
pub const CONFIG_GENERATION: u64 = 0x0fc;

/// "virt" in little-endian.
pub const MAGIC: u32 = 0x7472_6976;
/// Vendor ID reported to the guest: "KEEL" in little-endian.
pub const VENDOR: u32 = 0x4c45_454b;

/// Device status bits (virtio 1.x, 2.1).
pub const STATUS_ACKNOWLEDGE: u32 = 1;
pub const STATUS_DRIVER: u32 = 2;
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_FEATURES_OK: u32 = 8;
pub const STATUS_NEEDS_RESET: u32 = 0x40;
pub const STATUS_FAILED: u32 = 0x80;
/// The bits a driver may set.
const STATUS_DRIVER_BITS: u32 =
    STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK | STATUS_FEATURES_OK | STATUS_FAILED;

/// InterruptStatus bits.
pub const INTERRUPT_USED_BUFFER: u32 = 1;
pub const INTERRUPT_CONFIG_CHANGE: u32 = 2;

/// Which half of a 64-bit queue address a register holds.
#[derive(Clone, Copy)]
enum Half {
    Low,
    High,
}

fn with_half(old: u64, half: Half, value: u32) -> u64 {
    match half {
        Half::Low => (old & !0xffff_ffff) | u64::from(value),
        Half::High => (old & 0xffff_ffff) | u64::from(value) << 32,
    }
}

impl<D: VirtioDevice> VirtioMmio<D> {
    pub(super) fn read_register(&mut self, offset: u64) -> Result<u32, MmioError> {
        let queue = self.queues.get(self.queue_sel as usize);
        Ok(match offset {
            MAGIC_VALUE => MAGIC,
            VERSION => 2,
            DEVICE_ID => self.device.device_id(),
            VENDOR_ID => VENDOR,
            DEVICE_FEATURES => match self.device_features_sel {
                0 => self.offered_features() as u32,
                1 => (self.offered_features() >> 32) as u32,
                _ => 0,
            },
            QUEUE_NUM_MAX => queue.map_or(0, |q| u32::from(q.max_size())),
            QUEUE_READY => queue.map_or(0, |q| u32::from(q.is_ready())),
            INTERRUPT_STATUS => self.interrupt_status,
            STATUS => self.status | if self.broken { STATUS_NEEDS_RESET } else { 0 },
            QUEUE_DESC_LOW => queue.map_or(0, |q| q.desc_table() as u32),
            QUEUE_DESC_HIGH => queue.map_or(0, |q| (q.desc_table() >> 32) as u32),
            QUEUE_DRIVER_LOW => queue.map_or(0, |q| q.avail_ring() as u32),
            QUEUE_DRIVER_HIGH => queue.map_or(0, |q| (q.avail_ring() >> 32) as u32),
            QUEUE_DEVICE_LOW => queue.map_or(0, |q| q.used_ring() as u32),
            QUEUE_DEVICE_HIGH => queue.map_or(0, |q| (q.used_ring() >> 32) as u32),
            // No shared memory regions: a length of all ones says "none".
            SHM_LEN_LOW | SHM_LEN_HIGH | SHM_BASE_LOW | SHM_BASE_HIGH => u32::MAX,
            CONFIG_GENERATION => self.config_generation,
            DEVICE_FEATURES_SEL | DRIVER_FEATURES | DRIVER_FEATURES_SEL | QUEUE_SEL | QUEUE_NUM | QUEUE_NOTIFY
            | INTERRUPT_ACK | SHM_SEL => return Err(MmioError::WriteOnly),
            _ => return Err(MmioError::BadRegister),
        })
    }

    pub(super) fn write_register(
        &mut self,
        offset: u64,
        value: u32,
        irq: &mut dyn InterruptSink,
    ) -> Result<(), MmioError> {
        match offset {
            DEVICE_FEATURES_SEL => self.device_features_sel = value,
            DRIVER_FEATURES => self.write_driver_features(value),
            DRIVER_FEATURES_SEL => self.driver_features_sel = value,
            QUEUE_SEL => self.queue_sel = value,
            QUEUE_NUM => {
                let size = u16::try_from(value).unwrap_or(0); // too large: refused at QueueReady
                self.setup_queue(|q| q.set_size(size));
            }
            QUEUE_READY => self.write_queue_ready(value, irq),
            QUEUE_NOTIFY => self.notify(value),
            INTERRUPT_ACK => {
                self.interrupt_status &= !value;
                self.sync_line(irq);
            }
            STATUS => self.write_status(value, irq),
            QUEUE_DESC_LOW | QUEUE_DESC_HIGH => {
                let half = if offset == QUEUE_DESC_LOW { Half::Low } else { Half::High };
                self.setup_queue(|q| q.set_desc_table(with_half(q.desc_table(), half, value)));
            }
            QUEUE_DRIVER_LOW | QUEUE_DRIVER_HIGH => {
                let half = if offset == QUEUE_DRIVER_LOW { Half::Low } else { Half::High };
                self.setup_queue(|q| q.set_avail_ring(with_half(q.avail_ring(), half, value)));
            }
            QUEUE_DEVICE_LOW | QUEUE_DEVICE_HIGH => {
                let half = if offset == QUEUE_DEVICE_LOW { Half::Low } else { Half::High };
                self.setup_queue(|q| q.set_used_ring(with_half(q.used_ring(), half, value)));
            }
            SHM_SEL => {} // there are no regions to select
            MAGIC_VALUE | VERSION | DEVICE_ID | VENDOR_ID | DEVICE_FEATURES | QUEUE_NUM_MAX | INTERRUPT_STATUS
            | SHM_LEN_LOW | SHM_LEN_HIGH | SHM_BASE_LOW | SHM_BASE_HIGH | CONFIG_GENERATION => {
                return Err(MmioError::ReadOnly)
            }
            _ => return Err(MmioError::BadRegister),
        }
        Ok(())
    }

    fn write_driver_features(&mut self, value: u32) {
        if self.status & STATUS_FEATURES_OK != 0 {
            self.violation(TransportError::FeaturesAfterFeaturesOk);
            return;
        }
        match self.driver_features_sel {
            0 => self.driver_features = (self.driver_features & !0xffff_ffff) | u64::from(value),
            1 => self.driver_features = (self.driver_features & 0xffff_ffff) | u64::from(value) << 32,
            _ => {} // no features there; writing zeros is what a driver would do
        }
    }

    /// Applies a setup write to the selected queue, unless it is ready or does not exist.
    fn setup_queue(&mut self, change: impl FnOnce(&mut crate::virtio::queue::Queue)) {
        let queue = self.queue_sel;
        match self.queues.get_mut(queue as usize) {
            None => self.violation(TransportError::NoSuchQueue { queue }),
            Some(q) if q.is_ready() => self.violation(TransportError::QueueChangedWhileReady { queue }),
            Some(q) => change(q),
        }
    }

    fn write_queue_ready(&mut self, value: u32, irq: &mut dyn InterruptSink) {
        let index = self.queue_sel;
        let features = self.ring_features();
        let Some(queue) = self.queues.get_mut(index as usize) else {
            self.violation(TransportError::NoSuchQueue { queue: index });
            return;
        };
        if value & 1 == 0 {
            let was_ready = queue.is_ready();
            queue.disable();
            if was_ready {
                self.epoch += 1;
            }
            return;
        }
        if queue.is_ready() {
            return;
        }
        if let Err(error) = queue.enable() {
            // A queue the device cannot use: say so rather than ignore the driver forever.
            self.guest_error(GuestError::Queue { queue: index as u16, error }, irq);
        } else if self.status & STATUS_DRIVER_OK != 0 {
            queue.set_features(features);
            self.notified |= 1 << index; // look for buffers posted before it was enabled
        }
    }

    fn notify(&mut self, value: u32) {
        // Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index.
        if (value as usize) < self.queues.len() {
            self.counters.notifications += 1;
            if !self.broken {
                self.notified |= 1 << value;
            }
        } else {
            self.violation(TransportError::NoSuchQueue { queue: value });
        }
    }

    /// The status state machine: writing 0 resets; otherwise bits are only added, in order
    /// ACKNOWLEDGE → DRIVER → FEATURES_OK → DRIVER_OK (FAILED at any time). FEATURES_OK is
    /// refused (left clear) unless the driver accepted VERSION_1 and nothing not offered.
    fn write_status(&mut self, value: u32, irq: &mut dyn InterruptSink) {
        if value == 0 {
            self.reset(irq);
            return;
        }
        let old = self.status;
        // NEEDS_RESET is the device's; a driver writing back what it read may include it.
        let mut new = value & STATUS_DRIVER_BITS;
        let in_order = [
            (STATUS_DRIVER, STATUS_ACKNOWLEDGE),
            (STATUS_FEATURES_OK, STATUS_DRIVER),
            (STATUS_DRIVER_OK, STATUS_FEATURES_OK),
        ]
        .iter()
        .all(|&(bit, needs)| new & bit == 0 || new & needs != 0);
        if new & old != old || value & !(STATUS_DRIVER_BITS | STATUS_NEEDS_RESET) != 0 || !in_order {
            self.violation(TransportError::StatusTransition { from: old, to: value });
            return;
        }
        if new & STATUS_FEATURES_OK != 0 && old & STATUS_FEATURES_OK == 0 {
            if let Err(error) = self.check_driver_features() {
                self.violation(error);
                new &= !(STATUS_FEATURES_OK | STATUS_DRIVER_OK);
            }
        }
        self.status = new;
        if new & STATUS_DRIVER_OK != 0 && old & STATUS_DRIVER_OK == 0 {
            self.activate();
        }
    }

    fn check_driver_features(&self) -> Result<(), TransportError> {
        let extra = self.driver_features & !self.offered_features();
        if extra != 0 {
            return Err(TransportError::FeaturesNotOffered { extra });
        }
        if self.driver_features & crate::virtio::device::VIRTIO_F_VERSION_1 == 0 {
            return Err(TransportError::Version1NotAccepted);
        }
        Ok(())
    }
}
