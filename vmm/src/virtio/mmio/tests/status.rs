//! The status state machine, feature negotiation and reset.

use super::*;
use crate::virtio::error::{GuestError, TransportError};

#[test]
fn linux_probe_negotiates_and_starts_the_device() {
    let wanted = version_1() | VIRTIO_F_EVENT_IDX | 1 << 3;
    let (dev, _, _, line) = started(wanted);
    assert_eq!(dev.status(), STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
    assert_eq!(dev.driver_features(), wanted);
    assert_eq!(dev.device().activated, Some(wanted), "the backend learns the negotiated features");
    assert_eq!(dev.counters().guest_errors, 0);
    assert!(line.events.is_empty());
    assert!(dev.needs_processing(), "ready queues are looked at once after DRIVER_OK");
}

#[test]
fn features_not_offered_are_refused_at_features_ok() {
    let mut dev = device();
    let mut line = Line::default();
    add_status(&mut dev, &mut line, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    write_driver_features(&mut dev, &mut line, version_1() | 1 << 1 | 1 << 34);
    add_status(&mut dev, &mut line, STATUS_FEATURES_OK);
    assert_eq!(rd(&mut dev, STATUS), STATUS_ACKNOWLEDGE | STATUS_DRIVER, "FEATURES_OK stays clear");
    assert_eq!(
        dev.take_error_report(),
        Some(GuestError::Transport(TransportError::FeaturesNotOffered { extra: 1 << 1 | 1 << 34 }))
    );
    // The driver may try again with less.
    write_driver_features(&mut dev, &mut line, version_1() | 1);
    add_status(&mut dev, &mut line, STATUS_FEATURES_OK);
    assert_ne!(rd(&mut dev, STATUS) & STATUS_FEATURES_OK, 0);
    assert!(!dev.needs_reset());
}

#[test]
fn a_legacy_driver_without_version_1_is_refused() {
    let mut dev = device();
    let mut line = Line::default();
    add_status(&mut dev, &mut line, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    write_driver_features(&mut dev, &mut line, 1);
    add_status(&mut dev, &mut line, STATUS_FEATURES_OK | STATUS_DRIVER_OK);
    assert_eq!(rd(&mut dev, STATUS), STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    assert_eq!(dev.take_error_report(), Some(GuestError::Transport(TransportError::Version1NotAccepted)));
    assert_eq!(dev.device().activated, None);
}

#[test]
fn status_bits_are_added_in_order_and_never_cleared() {
    let mut dev = device();
    let mut line = Line::default();
    for (value, from) in [
        (STATUS_DRIVER, 0),                                         // DRIVER without ACKNOWLEDGE
        (STATUS_ACKNOWLEDGE | STATUS_DRIVER_OK, 0),                 // DRIVER_OK first
        (STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK, 0), // skipping FEATURES_OK
        (0x10, 0),                                                  // an undefined bit
    ] {
        wr(&mut dev, &mut line, STATUS, value);
        assert_eq!(rd(&mut dev, STATUS), from, "{value:#x}");
    }
    add_status(&mut dev, &mut line, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    wr(&mut dev, &mut line, STATUS, STATUS_ACKNOWLEDGE);
    assert_eq!(rd(&mut dev, STATUS), STATUS_ACKNOWLEDGE | STATUS_DRIVER, "clearing a bit is ignored");
    assert_eq!(dev.counters().guest_errors, 5);
    assert_eq!(
        dev.take_error_report(),
        Some(GuestError::Transport(TransportError::StatusTransition { from: 0, to: STATUS_DRIVER }))
    );
    assert_eq!(dev.take_error_report(), None, "reported once");
    // FAILED may come at any time.
    add_status(&mut dev, &mut line, STATUS_FAILED);
    assert_eq!(rd(&mut dev, STATUS), STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FAILED);
}

#[test]
fn driver_features_are_fixed_after_features_ok() {
    let (mut dev, _, _, mut line) = started(version_1());
    write_driver_features(&mut dev, &mut line, version_1() | VIRTIO_F_EVENT_IDX);
    assert_eq!(dev.driver_features(), version_1());
    assert_eq!(dev.take_error_report(), Some(GuestError::Transport(TransportError::FeaturesAfterFeaturesOk)));
}

#[test]
fn a_failed_driver_gets_no_service() {
    let (mut dev, mut queues, mut mem, mut line) = started(version_1());
    add_status(&mut dev, &mut line, STATUS_FAILED);
    queues[0].add_chain(&mut mem, &[(RAM + 0x8_0000, 4, false)]);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 0);
    assert!(!dev.needs_processing());
    assert!(!dev.process(&mut mem, &mut line));
    assert!(queues[0].take_used(&mut mem).is_empty());
}

#[test]
fn writing_zero_resets_device_and_queues() {
    let (mut dev, mut queues, mut mem, mut line) = started(version_1() | VIRTIO_F_INDIRECT_DESC);
    queues[1].add_chain(&mut mem, &[(RAM + 0x8_0000, 4, true)]);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 1);
    dev.process(&mut mem, &mut line);
    assert!(line.high());
    wr(&mut dev, &mut line, QUEUE_SEL, 1);
    wr(&mut dev, &mut line, DEVICE_FEATURES_SEL, 1);

    wr(&mut dev, &mut line, STATUS, 0);
    assert_eq!(rd(&mut dev, STATUS), 0);
    assert_eq!(rd(&mut dev, INTERRUPT_STATUS), 0);
    assert!(!line.high(), "the line drops with the status");
    assert_eq!(rd(&mut dev, QUEUE_READY), 0, "queue 0 selected again, not ready");
    assert_eq!(rd(&mut dev, DEVICE_FEATURES), features(&mut dev) as u32, "selector back to 0");
    assert_eq!(dev.driver_features(), 0);
    assert_eq!(dev.queue(1).map(|q| (q.is_ready(), q.desc_table(), q.next_used())), Some((false, 0, 0)));
    assert_eq!(dev.device().resets, 2, "the probe's reset and this one");
    assert_eq!(dev.device().activated, None);
    assert_eq!(dev.counters().resets, 2);
    // And it starts again from scratch.
    let mut queues = start(&mut dev, &mut line, version_1());
    let mut mem = memory();
    queues[1].add_chain(&mut mem, &[(RAM + 0x8_0000, 4, true)]);
    wr(&mut dev, &mut line, QUEUE_NOTIFY, 1);
    dev.process(&mut mem, &mut line);
    assert_eq!(queues[1].take_used(&mut mem), [(0, 1)]);
}
