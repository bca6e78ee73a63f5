//! Notify → process → used ring → interrupt → ack; suppression, budgets, host work, and
//! what happens when the guest breaks a queue.

use super::*;
use crate::virtio::error::{GuestError, QueueError};
use crate::virtio::queue::VRING_AVAIL_F_NO_INTERRUPT;

const BUF: u64 = RAM + 0x8_0000;

#[test]
fn notify_process_used_interrupt_ack() {
    let (mut dev, mut queues, mut mem, mut line) = started(version_1());
    assert!(!dev.process(&mut mem, &mut line), "the first look finds nothing");
    assert!(!dev.needs_processing());
    mem.write(BUF, b"abc").unwrap();
    let head = queues[0].add_chain(&mut mem, &[(BUF, 3, false), (BUF + 0x100, 8, true)]);
    assert!(!dev.needs_processing(), "nothing happens before the notification");

    wr(&mut dev, &mut line, QUEUE_NOTIFY, 0);
    assert!(dev.needs_processing());
    assert_eq!(dev.notified_queues(), 1);
    assert!(line.events.is_empty(), "QueueNotify only records");
    assert!(!dev.process(&mut mem, &mut line), "no work left");
    assert_eq!(dev.notified_queues(), 0);
    assert_eq!(queues[0].take_used(&mut mem), [(u32::from(head), 3)]);
    assert_eq!(&mem.bytes()[0x8_0100..0x8_0103], b"cba");
    assert_eq!(line.events, [(INTID, true)]);
    assert_eq!(rd(&mut dev, INTERRUPT_STATUS), INTERRUPT_USED_BUFFER);

    // Linux's vm_interrupt: read, ack what it read; the line drops.
    let status = rd(&mut dev, INTERRUPT_STATUS);
    wr(&mut dev, &mut line, INTERRUPT_ACK, status);
    assert_eq!(line.events, [(INTID, true), (INTID, false)]);
    assert_eq!(rd(&mut dev, INTERRUPT_STATUS), 0);
    let counters = dev.counters();
    assert_eq!((counters.notifications, counters.chains, counters.interrupts), (1, 1, 1));
}

#[test]
fn a_new_used_buffer_after_the_ack_is_a_new_rising_edge() {
    let (mut dev, mut queues, mut mem, mut line) = started(version_1());
    for round in 0..3 {
        queues[1].add_chain(&mut mem, &[(BUF, 1, true)]);
        wr(&mut dev, &mut line, QUEUE_NOTIFY, 1);
        dev.process(&mut mem, &mut line);
        assert!(line.high(), "round {round}");
        wr(&mut dev, &mut line, INTERRUPT_ACK, INTERRUPT_USED_BUFFER);
        assert!(!line.high());
    }
    assert_eq!(line.events.len(), 6);
}

#[test]
fn buffers_posted_before_driver_ok_are_served_after_it() {
    let mut dev = device();
    let mut line = Line::default();
    let mut mem = memory();
    wr(&mut dev, &mut line, STATUS, 0);
    add_status(&mut dev, &mut line, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    write_driver_features(&mut dev, &mut line, version_1());
    add_status(&mut dev, &mut line, STATUS_FEATURES_OK);
    let mut queue = setup_queue(&mut dev, &mut line, 1, RAM, 8);
    queue.add_chain(&mut mem, &[(BUF, 1, true)]);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 1);
    assert!(!dev.needs_processing(), "not before DRIVER_OK");
    dev.process(&mut mem, &mut line);
    assert!(queue.take_used(&mut mem).is_empty());
    add_status(&mut dev, &mut line, STATUS_DRIVER_OK);
    assert!(dev.needs_processing());
    dev.process(&mut mem, &mut line);
    assert_eq!(queue.take_used(&mut mem), [(0, 1)]);
}

#[test]
fn no_interrupt_flag_and_event_idx_through_the_transport() {
    let (mut dev, mut queues, mut mem, mut line) = started(version_1());
    queues[1].set_avail_flags(&mut mem, VRING_AVAIL_F_NO_INTERRUPT);
    queues[1].add_chain(&mut mem, &[(BUF, 1, true)]);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 1);
    dev.process(&mut mem, &mut line);
    assert_eq!(queues[1].take_used(&mut mem).len(), 1);
    assert!(line.events.is_empty(), "the driver polls");

    let (mut dev, mut queues, mut mem, mut line) = started(version_1() | VIRTIO_F_EVENT_IDX);
    queues[1].set_used_event(&mut mem, 1);
    queues[1].add_chain(&mut mem, &[(BUF, 1, true)]);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 1);
    dev.process(&mut mem, &mut line);
    assert!(line.events.is_empty(), "used idx 1 has not passed used_event 1");
    assert_eq!(queues[1].avail_event(&mut mem), 1, "the device asks for the next notification");
    queues[1].add_chain(&mut mem, &[(BUF, 1, true)]);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 1);
    dev.process(&mut mem, &mut line);
    assert!(line.high(), "used idx 2 passed it");
}

#[test]
fn a_busy_queue_is_served_in_passes() {
    let (mut dev, _, mut mem, mut line) = started(version_1());
    // Queue 0 again, with 512 entries this time.
    wr(&mut dev, &mut line, QUEUE_SEL, 0);
    wr(&mut dev, &mut line, QUEUE_READY, 0);
    let mut queue = setup_queue(&mut dev, &mut line, 0, RAM + 0x1_0000, 512);
    for _ in 0..300 {
        queue.add_chain(&mut mem, &[(BUF, 1, false)]);
    }
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 0);
    assert!(dev.process(&mut mem, &mut line), "work is left after one pass");
    assert_eq!(queue.take_used(&mut mem).len(), CHAINS_PER_PASS as usize);
    assert!(dev.needs_processing());
    assert!(!dev.process(&mut mem, &mut line));
    assert_eq!(queue.take_used(&mut mem).len(), 300 - CHAINS_PER_PASS as usize);
}

#[test]
fn host_work_is_served_without_a_notification() {
    let (mut dev, mut queues, mut mem, mut line) = started(version_1());
    dev.process(&mut mem, &mut line);
    queues[1].add_chain(&mut mem, &[(BUF, 1, true)]);
    assert!(!dev.needs_processing());
    dev.device_mut().host_work = 1 << 7; // no such queue: ignored
    assert!(!dev.needs_processing());
    dev.device_mut().host_work = 1 << 1;
    assert!(dev.needs_processing());
    assert!(!dev.process(&mut mem, &mut line), "served, and the backend cleared its bit");
    assert_eq!(queues[1].take_used(&mut mem).len(), 1);
}

#[test]
fn notifying_a_queue_that_does_not_exist_is_counted() {
    let (mut dev, _, mut mem, mut line) = started(version_1());
    dev.process(&mut mem, &mut line);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 2);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, u32::MAX);
    assert!(!dev.needs_processing());
    assert_eq!(dev.counters().guest_errors, 2);
    assert_eq!(dev.counters().notifications, 0);
    assert!(!dev.needs_reset());
}

#[test]
fn a_broken_queue_makes_the_device_need_a_reset() {
    let (mut dev, mut queues, mut mem, mut line) = started(version_1());
    queues[1].add_chain(&mut mem, &[(BUF, 1, true)]);
    queues[1].write_desc(&mut mem, 0, BUF, 1, crate::virtio::queue::DESC_F_INDIRECT, 0);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 1);
    dev.process(&mut mem, &mut line);
    assert!(dev.needs_reset());
    assert_eq!(rd(&mut dev, STATUS) & STATUS_NEEDS_RESET, STATUS_NEEDS_RESET);
    assert_eq!(rd(&mut dev, INTERRUPT_STATUS), INTERRUPT_CONFIG_CHANGE);
    assert!(line.high());
    assert_eq!(dev.take_error_report(), Some(GuestError::Queue { queue: 1, error: QueueError::IndirectNotNegotiated }));

    // Nothing is served until the guest resets the device.
    queues[0].add_chain(&mut mem, &[(BUF, 1, false)]);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 0);
    assert!(!dev.needs_processing());
    dev.process(&mut mem, &mut line);
    assert!(queues[0].take_used(&mut mem).is_empty());
    // A driver writing back the status it read (NEEDS_RESET included) is not refused.
    add_status(&mut dev, &mut line, STATUS_FAILED);
    assert_eq!(rd(&mut dev, STATUS) & STATUS_FAILED, STATUS_FAILED);

    wr(&mut dev, &mut line, STATUS, 0);
    assert!(!dev.needs_reset());
    assert!(!line.high());
    let mut queues = start(&mut dev, &mut line, version_1());
    let mut mem = memory();
    queues[1].add_chain(&mut mem, &[(BUF, 1, false)]);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 1);
    dev.process(&mut mem, &mut line);
    assert!(dev.needs_reset(), "a request without a writable byte");
    assert_eq!(dev.take_error_report(), None, "the first error was reported already");
    assert_eq!(dev.counters().guest_errors, 2);
}

#[test]
fn refused_memory_breaks_the_device_and_nothing_else() {
    let (mut dev, mut queues, mut mem, mut line) = started(version_1());
    queues[0].add_chain(&mut mem, &[(BUF, 4, false), (BUF + 0x100, 4, true)]);
    mem.make_unavailable(BUF + 0x100, BUF + 0x101);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 0);
    dev.process(&mut mem, &mut line);
    assert!(dev.needs_reset());
    assert_eq!(mem.refused(), 1);
    assert!(matches!(dev.take_error_report(), Some(GuestError::Queue { queue: 0, error: QueueError::Memory(_) })));
}

#[test]
fn rings_outside_memory_are_found_when_first_used() {
    let mut dev = device();
    let mut line = Line::default();
    let mut mem = memory();
    wr(&mut dev, &mut line, STATUS, 0);
    add_status(&mut dev, &mut line, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    write_driver_features(&mut dev, &mut line, version_1());
    add_status(&mut dev, &mut line, STATUS_FEATURES_OK);
    setup_queue(&mut dev, &mut line, 1, 0x1000, 8); // below RAM
    add_status(&mut dev, &mut line, STATUS_DRIVER_OK);
    dev.process(&mut mem, &mut line);
    assert!(dev.needs_reset());
    assert_eq!(mem.refused(), 0, "checked, not attempted");
}
