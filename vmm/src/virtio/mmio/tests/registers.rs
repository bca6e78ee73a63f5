//! The register file: identification, features, widths, access rules, queue setup
//! registers, shared memory, config space.

use super::*;
use crate::bus::AccessWidth::{Byte, Double, Half};
use crate::bus::MmioBus;
use crate::virtio::error::{GuestError, TransportError};

#[test]
fn identification() {
    let mut dev = device();
    assert_eq!(rd(&mut dev, MAGIC_VALUE), 0x7472_6976);
    assert_eq!(rd(&mut dev, VERSION), 2);
    assert_eq!(rd(&mut dev, DEVICE_ID), TEST_ID);
    assert_eq!(rd(&mut dev, VENDOR_ID), VENDOR);
    assert_eq!(rd(&mut dev, STATUS), 0);
    assert_eq!(rd(&mut dev, INTERRUPT_STATUS), 0);
    assert_eq!(rd(&mut dev, CONFIG_GENERATION), 0);
    assert_eq!(dev.name(), "test-reverse");
}

#[test]
fn device_features_by_selector() {
    let mut dev = device();
    let offered = features(&mut dev);
    assert_eq!(offered, 1 | 1 << 3 | VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX);
    assert_eq!(offered & 1 << 34, 0, "the backend cannot offer transport features the queues lack");
    let mut line = Line::default();
    wr(&mut dev, &mut line, DEVICE_FEATURES_SEL, 2);
    assert_eq!(rd(&mut dev, DEVICE_FEATURES), 0);
    wr(&mut dev, &mut line, DEVICE_FEATURES_SEL, u32::MAX);
    assert_eq!(rd(&mut dev, DEVICE_FEATURES), 0);
}

#[test]
fn registers_are_32_bit_and_aligned() {
    let mut dev = device();
    let mut line = Line::default();
    for width in [Byte, Half, Double] {
        assert_eq!(dev.read(MAGIC_VALUE, width, &mut line), Err(MmioError::BadRegister));
        assert_eq!(dev.write(STATUS, width, 1, &mut line), Err(MmioError::BadRegister));
    }
    assert_eq!(dev.read(MAGIC_VALUE + 2, Word, &mut line), Err(MmioError::BadRegister));
    assert_eq!(dev.write(STATUS + 1, Word, 1, &mut line), Err(MmioError::BadRegister));
    assert_eq!(rd(&mut dev, STATUS), 0, "refused writes change nothing");
}

#[test]
fn access_directions_and_holes() {
    let mut dev = device();
    let mut line = Line::default();
    for offset in [
        DEVICE_FEATURES_SEL,
        DRIVER_FEATURES,
        DRIVER_FEATURES_SEL,
        QUEUE_SEL,
        QUEUE_NUM,
        QUEUE_NOTIFY,
        INTERRUPT_ACK,
        SHM_SEL,
    ] {
        assert_eq!(dev.read(offset, Word, &mut line), Err(MmioError::WriteOnly), "{offset:#x}");
    }
    for offset in [
        MAGIC_VALUE,
        VERSION,
        DEVICE_ID,
        VENDOR_ID,
        DEVICE_FEATURES,
        QUEUE_NUM_MAX,
        INTERRUPT_STATUS,
        SHM_LEN_LOW,
        SHM_BASE_HIGH,
        CONFIG_GENERATION,
    ] {
        assert_eq!(dev.write(offset, Word, 0, &mut line), Err(MmioError::ReadOnly), "{offset:#x}");
    }
    // Legacy registers (GuestPageSize, QueueAlign, QueuePFN) and QueueReset do not exist.
    for offset in [0x018, 0x028, 0x03c, 0x040, 0x0c0, 0x0f8] {
        assert_eq!(dev.read(offset, Word, &mut line), Err(MmioError::BadRegister), "{offset:#x}");
        assert_eq!(dev.write(offset, Word, 0, &mut line), Err(MmioError::BadRegister), "{offset:#x}");
    }
    assert_eq!(dev.counters().guest_errors, 0, "refused accesses are the bus's errors");
}

#[test]
fn no_shared_memory_regions() {
    let mut dev = device();
    let mut line = Line::default();
    wr(&mut dev, &mut line, SHM_SEL, 0);
    assert_eq!(rd(&mut dev, SHM_LEN_LOW), u32::MAX);
    assert_eq!(rd(&mut dev, SHM_LEN_HIGH), u32::MAX);
    assert_eq!(rd(&mut dev, SHM_BASE_LOW), u32::MAX);
}

#[test]
fn queue_registers_by_selector() {
    let mut dev = device();
    let mut line = Line::default();
    assert_eq!(rd(&mut dev, QUEUE_NUM_MAX), 1024);
    wr(&mut dev, &mut line, QUEUE_SEL, 1);
    assert_eq!(rd(&mut dev, QUEUE_NUM_MAX), 8);
    wr(&mut dev, &mut line, QUEUE_DESC_LOW, 0x1000);
    wr(&mut dev, &mut line, QUEUE_DESC_HIGH, 0x2);
    wr(&mut dev, &mut line, QUEUE_DRIVER_LOW, 0x3000);
    wr(&mut dev, &mut line, QUEUE_DEVICE_HIGH, 0x4);
    assert_eq!(dev.queue(1).unwrap().desc_table(), 0x2_0000_1000);
    assert_eq!((rd(&mut dev, QUEUE_DESC_LOW), rd(&mut dev, QUEUE_DESC_HIGH)), (0x1000, 2));
    assert_eq!(rd(&mut dev, QUEUE_DRIVER_LOW), 0x3000);
    assert_eq!(dev.queue(1).unwrap().used_ring(), 0x4_0000_0000);
    assert_eq!(dev.queue(0).unwrap().desc_table(), 0, "queue 0 untouched");
    // A queue that does not exist: QueueNumMax 0, not ready, setup writes counted.
    wr(&mut dev, &mut line, QUEUE_SEL, 2);
    assert_eq!(rd(&mut dev, QUEUE_NUM_MAX), 0);
    assert_eq!(rd(&mut dev, QUEUE_READY), 0);
    wr(&mut dev, &mut line, QUEUE_NUM, 8);
    wr(&mut dev, &mut line, QUEUE_READY, 1);
    assert_eq!(dev.counters().guest_errors, 2);
    assert_eq!(dev.take_error_report(), Some(GuestError::Transport(TransportError::NoSuchQueue { queue: 2 })));
    assert!(!dev.needs_reset());
}

#[test]
fn queue_setup_is_refused_while_ready() {
    let (mut dev, queues, _, mut line) = started(version_1());
    wr(&mut dev, &mut line, QUEUE_SEL, 0);
    assert_eq!(rd(&mut dev, QUEUE_READY), 1);
    wr(&mut dev, &mut line, QUEUE_NUM, 16);
    wr(&mut dev, &mut line, QUEUE_DESC_LOW, 0);
    wr(&mut dev, &mut line, QUEUE_DEVICE_HIGH, 1);
    let queue = dev.queue(0).unwrap();
    assert_eq!((queue.size(), queue.desc_table(), queue.used_ring()), (256, queues[0].desc, queues[0].used));
    assert_eq!(dev.counters().guest_errors, 3);
    assert_eq!(
        dev.take_error_report(),
        Some(GuestError::Transport(TransportError::QueueChangedWhileReady { queue: 0 }))
    );
    // Writing 0 to QueueReady stops the queue; then it can be set up again.
    wr(&mut dev, &mut line, QUEUE_READY, 0);
    assert_eq!(rd(&mut dev, QUEUE_READY), 0);
    wr(&mut dev, &mut line, QUEUE_NUM, 16);
    assert_eq!(dev.queue(0).unwrap().size(), 16);
    assert!(!dev.needs_reset());
}

#[test]
fn a_queue_the_device_cannot_use_needs_a_reset() {
    for (num, desc) in [(3, RAM), (16, RAM + 8), (0x1_0000, RAM), (2048, RAM)] {
        let mut dev = device();
        let mut line = Line::default();
        wr(&mut dev, &mut line, QUEUE_NUM, num);
        wr(&mut dev, &mut line, QUEUE_DESC_LOW, desc as u32);
        wr(&mut dev, &mut line, QUEUE_DESC_HIGH, (desc >> 32) as u32);
        wr(&mut dev, &mut line, QUEUE_READY, 1);
        assert_eq!(rd(&mut dev, QUEUE_READY), 0, "num {num} desc {desc:#x}");
        assert_eq!(rd(&mut dev, STATUS), STATUS_NEEDS_RESET);
        assert!(matches!(dev.take_error_report(), Some(GuestError::Queue { queue: 0, .. })));
        assert!(line.events.is_empty(), "no config interrupt before DRIVER_OK");
    }
}

#[test]
fn config_space_any_width_inside_its_length() {
    let mut dev = device();
    let mut line = Line::default();
    assert_eq!(dev.read(CONFIG, Byte, &mut line), Ok(1));
    assert_eq!(dev.read(CONFIG + 2, Half, &mut line), Ok(0x0403));
    assert_eq!(dev.read(CONFIG + 4, Word, &mut line), Ok(0x0807_0605));
    assert_eq!(dev.read(CONFIG, Double, &mut line), Ok(0x0807_0605_0403_0201));
    // Unaligned: refused like a bad register.
    assert_eq!(dev.read(CONFIG + 1, Half, &mut line), Err(MmioError::BadRegister));
    assert_eq!(dev.read(CONFIG + 2, Word, &mut line), Err(MmioError::BadRegister));
    assert_eq!(dev.counters().guest_errors, 0);
    // Past the end: reads as all ones, writes are dropped; both counted.
    assert_eq!(dev.read(CONFIG + 8, Byte, &mut line), Ok(0xff));
    assert_eq!(dev.read(CONFIG + 6, Word, &mut line), Err(MmioError::BadRegister), "unaligned first");
    assert_eq!(dev.read(CONFIG + 4, Double, &mut line), Err(MmioError::BadRegister));
    assert_eq!(dev.read(CONFIG + 0xfc, Word, &mut line), Ok(0xffff_ffff));
    assert_eq!(dev.read(u64::MAX - 7, Double, &mut line), Ok(u64::MAX));
    assert_eq!(dev.write(CONFIG + 8, Word, 0, &mut line), Ok(()));
    assert_eq!(dev.counters().guest_errors, 4);
    assert_eq!(
        dev.take_error_report(),
        Some(GuestError::Transport(TransportError::ConfigOutOfRange { offset: CONFIG + 8 }))
    );
    // The backend decides what is writable.
    assert_eq!(dev.write(CONFIG + 4, Half, 0xbeef, &mut line), Ok(()));
    assert_eq!(dev.read(CONFIG + 4, Word, &mut line), Ok(0x0807_beef));
    assert_eq!(dev.write(CONFIG, Byte, 0, &mut line), Ok(()));
    assert_eq!(dev.read(CONFIG, Byte, &mut line), Ok(1), "read-only byte kept");
    assert_eq!(dev.counters().guest_errors, 5);
    assert!(!dev.needs_reset());
}

#[test]
fn config_generation_follows_changes() {
    let mut dev = device();
    let mut line = Line::default();
    dev.config_changed(&mut line);
    assert_eq!(rd(&mut dev, CONFIG_GENERATION), 1);
    assert!(line.events.is_empty(), "no interrupt before DRIVER_OK");
    let (mut dev, _, _, mut line) = started(version_1());
    dev.config_changed(&mut line);
    assert_eq!(rd(&mut dev, CONFIG_GENERATION), 1);
    assert_eq!(rd(&mut dev, INTERRUPT_STATUS), INTERRUPT_CONFIG_CHANGE);
    assert_eq!(line.events, [(INTID, true)]);
    wr(&mut dev, &mut line, INTERRUPT_ACK, INTERRUPT_CONFIG_CHANGE);
    assert_eq!(line.events, [(INTID, true), (INTID, false)]);
}

#[test]
fn on_the_bus_at_a_slot() {
    let mut bus = MmioBus::new();
    bus.add(slot_base(3), crate::layout::VIRTIO_STRIDE, alloc::boxed::Box::new(device())).unwrap();
    let mut line = Line::default();
    assert_eq!(slot_base(3), 0x0a00_0600);
    assert_eq!(slot_intid(3), 51);
    assert_eq!(bus.read(slot_base(3), Word, &mut line), Ok(u64::from(MAGIC)));
    assert_eq!(bus.read(slot_base(3) + 0x1fc, Word, &mut line), Ok(0xffff_ffff), "config past its end");
    assert_eq!(bus.read(slot_base(3) + 0x200, Word, &mut line), Err(MmioError::Unmapped));
    assert_eq!(bus.counters().next(), Some(("test-reverse", 2, 0)));
}
