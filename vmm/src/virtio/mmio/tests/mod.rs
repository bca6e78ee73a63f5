//! Transport tests with a small test backend and a driver that initialises devices as
//! Linux's virtio_mmio does.

mod flow;
mod registers;
mod status;

use alloc::vec;
use alloc::vec::Vec;

use super::registers::*;
use super::*;
use crate::bus::AccessWidth::Word;
use crate::virtio::error::{BackendError, RequestError};
use crate::virtio::memory::VecMemory;
use crate::virtio::testing::{memory, DriverQueue, Line, RAM};

const INTID: u32 = 50;
const TEST_ID: u32 = 42;
/// Device-type features of the test backend: bits 0 and 3, and RING_PACKED (bit 34), which
/// the transport must not pass on.
const TEST_FEATURES: u64 = 1 | 1 << 3 | 1 << 34;

/// Queue 0 reverses readable bytes into the writable part; queue 1 writes one '!' and
/// needs a writable byte.
#[derive(Default)]
struct Reverse {
    config: [u8; 8],
    host_work: u32,
    activated: Option<u64>,
    resets: u32,
}

impl VirtioDevice for Reverse {
    fn name(&self) -> &'static str {
        "test-reverse"
    }
    fn device_id(&self) -> u32 {
        TEST_ID
    }
    fn features(&self) -> u64 {
        TEST_FEATURES
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[1024, 8]
    }
    fn config(&self) -> &[u8] {
        &self.config
    }
    fn write_config(&mut self, offset: usize, data: &[u8]) -> bool {
        // Bytes 4..8 are writable, 0..4 read-only.
        match self.config.get_mut(offset..offset + data.len()) {
            Some(field) if offset >= 4 => {
                field.copy_from_slice(data);
                true
            }
            _ => false,
        }
    }
    fn activate(&mut self, features: u64) {
        self.activated = Some(features);
    }
    fn reset(&mut self) {
        self.resets += 1;
        self.activated = None;
    }
    fn host_work(&self) -> u32 {
        self.host_work
    }
    fn process_queue(&mut self, queue: u16, io: &mut QueueIo<'_>) -> Result<(), BackendError> {
        self.host_work &= !crate::virtio::device::queue_bit(queue);
        while let Some(chain) = io.pop()? {
            if queue == 0 {
                let mut bytes = vec![0; chain.readable_len() as usize];
                io.read_exact(&chain, 0, &mut bytes)?;
                bytes.reverse();
                let written = io.write(&chain, 0, &bytes)?;
                io.add_used(chain, written as u32)?;
            } else {
                if chain.writable_len() == 0 {
                    return Err(RequestError::WritableTooShort { needed: 1, available: 0 }.into());
                }
                io.write(&chain, 0, b"!")?;
                io.add_used(chain, 1)?;
            }
        }
        Ok(())
    }
}

type Device = VirtioMmio<Reverse>;

fn device() -> Device {
    VirtioMmio::new(Reverse { config: [1, 2, 3, 4, 5, 6, 7, 8], ..Reverse::default() }, INTID)
}

fn rd(dev: &mut Device, offset: u64) -> u32 {
    dev.read(offset, Word, &mut Line::default()).unwrap() as u32
}

fn wr(dev: &mut Device, line: &mut Line, offset: u64, value: u32) {
    dev.write(offset, Word, u64::from(value), line).unwrap();
}

fn features(dev: &mut Device) -> u64 {
    let mut line = Line::default();
    wr(dev, &mut line, DEVICE_FEATURES_SEL, 1);
    let high = rd(dev, DEVICE_FEATURES);
    wr(dev, &mut line, DEVICE_FEATURES_SEL, 0);
    u64::from(high) << 32 | u64::from(rd(dev, DEVICE_FEATURES))
}

fn write_driver_features(dev: &mut Device, line: &mut Line, features: u64) {
    wr(dev, line, DRIVER_FEATURES_SEL, 1);
    wr(dev, line, DRIVER_FEATURES, (features >> 32) as u32);
    wr(dev, line, DRIVER_FEATURES_SEL, 0);
    wr(dev, line, DRIVER_FEATURES, features as u32);
}

fn add_status(dev: &mut Device, line: &mut Line, bits: u32) {
    let status = rd(dev, STATUS);
    wr(dev, line, STATUS, status | bits);
}

/// Sets up queue `index` with rings from `base`, as vm_setup_vq does.
fn setup_queue(dev: &mut Device, line: &mut Line, index: u32, base: u64, size: u16) -> DriverQueue {
    let driver = DriverQueue::new(base, size);
    wr(dev, line, QUEUE_SEL, index);
    assert_eq!(rd(dev, QUEUE_READY), 0);
    assert!(rd(dev, QUEUE_NUM_MAX) >= u32::from(size));
    wr(dev, line, QUEUE_NUM, u32::from(size));
    for (low, address) in
        [(QUEUE_DESC_LOW, driver.desc), (QUEUE_DRIVER_LOW, driver.avail), (QUEUE_DEVICE_LOW, driver.used)]
    {
        wr(dev, line, low, address as u32);
        wr(dev, line, low + 4, (address >> 32) as u32);
    }
    wr(dev, line, QUEUE_READY, 1);
    driver
}

/// Linux's probe: reset, ACKNOWLEDGE, DRIVER, features (those offered of `wanted`),
/// FEATURES_OK, both queues, DRIVER_OK. Returns the driver's queues.
fn start(dev: &mut Device, line: &mut Line, wanted: u64) -> Vec<DriverQueue> {
    assert_eq!(rd(dev, MAGIC_VALUE), MAGIC);
    assert_eq!(rd(dev, VERSION), 2);
    wr(dev, line, STATUS, 0);
    add_status(dev, line, STATUS_ACKNOWLEDGE);
    add_status(dev, line, STATUS_DRIVER);
    let accepted = features(dev) & wanted;
    write_driver_features(dev, line, accepted);
    add_status(dev, line, STATUS_FEATURES_OK);
    assert_ne!(rd(dev, STATUS) & STATUS_FEATURES_OK, 0, "features accepted");
    let queues = vec![setup_queue(dev, line, 0, RAM, 256), setup_queue(dev, line, 1, RAM + 0x4000, 8)];
    add_status(dev, line, STATUS_DRIVER_OK);
    queues
}

fn version_1() -> u64 {
    VIRTIO_F_VERSION_1
}

/// A started device, its queues, memory and line.
fn started(wanted: u64) -> (Device, Vec<DriverQueue>, VecMemory, Line) {
    let mut dev = device();
    let mut line = Line::default();
    let queues = start(&mut dev, &mut line, wanted);
    (dev, queues, memory(), line)
}
