//! Virtio host drivers: the transports the DTB lists, found and handed to the driver of
//! their device type (the 9P share, the host disk, host entropy, the host NIC).

pub mod blk;
mod hal;
pub mod irq;
pub mod net;
mod p9;
pub mod rng;

pub use hal::KeelHal;

use core::ptr::NonNull;
use keel_drivers::platform::{MmioDevice, Platform};
use virtio_drivers::transport::mmio::{MmioError, MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, DeviceTypeError, Transport};

/// A virtio-mmio transport with a device behind it.
pub struct Found {
    pub device: MmioDevice,
    pub transport: MmioTransport<'static>,
}

impl Found {
    pub fn device_type(&self) -> DeviceType {
        self.transport.device_type()
    }
}

/// Maps every virtio-mmio slot of the DTB and keeps those with a device (slot with device
/// ID 0 are empty). Each transport is returned once: its driver owns it.
pub fn discover(platform: &Platform<'_>) -> alloc::vec::Vec<Found> {
    let mut found = alloc::vec::Vec::new();
    for device in platform.virtio_mmio.as_slice() {
        let Ok(va) = crate::mm::kernel_space::map_device(device.base, device.size) else {
            log::warn!("virtio: cannot map {:#x}", device.base);
            continue;
        };
        let Some(header) = NonNull::new(va as *mut VirtIOHeader) else { continue };
        // SAFETY: the DTB names this range a virtio-mmio transport; it was just mapped as
        // device memory for the kernel's lifetime, and each slot is wrapped only here, once.
        match unsafe { MmioTransport::new(header, device.size as usize) } {
            Ok(transport) => {
                log::info!(
                    "virtio: {:?} at {:#x} (virtio-mmio {:?}, INTID {:?})",
                    transport.device_type(),
                    device.base,
                    transport.version(),
                    device.intid
                );
                found.push(Found { device: *device, transport });
            }
            Err(MmioError::InvalidDeviceID(DeviceTypeError::InvalidDeviceType(0))) => {}
            Err(error) => log::warn!("virtio: slot {:#x}: {error}", device.base),
        }
    }
    found
}

/// Finds the virtio devices and starts the drivers Keel has.
pub fn init(platform: &Platform<'_>) {
    for found in discover(platform) {
        match found.device_type() {
            DeviceType::_9P => p9::start(found),
            DeviceType::Block => blk::start(found),
            DeviceType::EntropySource => rng::start(found),
            DeviceType::Network => net::start(found),
            other => log::info!("virtio: no driver for {other:?} at {:#x}", found.device.base),
        }
    }
}
