//! Switch tests: learning, flooding, aging, bounds, pinned addresses, counters, wakers.

use super::*;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};
use alloc::task::Wake;

const A: Mac = [0x02, 0, 0, 0, 0, 0xa];
const B: Mac = [0x02, 0, 0, 0, 0, 0xb];
const C: Mac = [0x02, 0, 0, 0, 0, 0xc];

fn frame(dst: Mac, src: Mac, len: usize) -> Vec<u8> {
    let mut frame = vec![0u8; len];
    frame[..6].copy_from_slice(&dst);
    frame[6..12].copy_from_slice(&src);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame
}

fn send(switch: &mut Switch, from: PortId, frame: &[u8], now: u64) -> usize {
    let mut wake = Vec::new();
    switch.input(from, frame, now, &mut wake);
    wake.len()
}

fn drain(switch: &mut Switch, port: PortId) -> Vec<Vec<u8>> {
    core::iter::from_fn(|| switch.pop(port)).collect()
}

fn three() -> (Switch, PortId, PortId, PortId) {
    let mut switch = Switch::new();
    let host = switch.add_port("br0", Some(A)).unwrap();
    let one = switch.add_port("vm-one", None).unwrap();
    let two = switch.add_port("vm-two", None).unwrap();
    (switch, host, one, two)
}

#[test]
fn unknown_and_broadcast_frames_flood_and_learned_ones_go_straight() {
    let (mut s, host, one, two) = three();
    let hello = frame(BROADCAST, B, 60);
    send(&mut s, one, &hello, 0);
    assert_eq!(drain(&mut s, host), core::slice::from_ref(&hello));
    assert_eq!(drain(&mut s, two), [hello]);
    assert!(drain(&mut s, one).is_empty(), "never back to the sender");
    // B is learned on `one`: a reply to it goes there only.
    let reply = frame(B, A, 100);
    send(&mut s, host, &reply, 1);
    assert_eq!(drain(&mut s, one), [reply]);
    assert!(drain(&mut s, two).is_empty());
    // An unknown unicast floods.
    let unknown = frame(C, A, 64);
    send(&mut s, host, &unknown, 2);
    assert_eq!(drain(&mut s, one).len(), 1);
    assert_eq!(drain(&mut s, two).len(), 1);
    // A frame to an address on its own port is filtered.
    send(&mut s, one, &frame(BROADCAST, C, 60), 3);
    drain(&mut s, host);
    drain(&mut s, two);
    send(&mut s, one, &frame(C, B, 60), 4);
    assert!(drain(&mut s, host).is_empty() && drain(&mut s, two).is_empty());
}

#[test]
fn multicast_floods_and_is_never_learned_as_a_source() {
    let (mut s, host, one, two) = three();
    send(&mut s, one, &frame([0x01, 0, 0x5e, 0, 0, 1], B, 60), 0);
    assert_eq!(drain(&mut s, host).len(), 1);
    assert_eq!(drain(&mut s, two).len(), 1);
    send(&mut s, one, &frame(A, [0x03, 0, 0, 0, 0, 1], 60), 0);
    assert_eq!(s.counters(one).unwrap().rx_drops, 1);
    assert!(drain(&mut s, host).is_empty());
}

#[test]
fn addresses_move_and_age() {
    let (mut s, host, one, two) = three();
    send(&mut s, one, &frame(A, B, 60), 0);
    assert_eq!(s.lookup(&B, 0), Some(one));
    send(&mut s, two, &frame(A, B, 60), 10);
    assert_eq!(s.lookup(&B, 10), Some(two), "the guest moved");
    assert_eq!(s.lookup(&B, 10 + MAC_AGING_NS), None, "aged out");
    drain(&mut s, host);
    // An aged entry floods again.
    send(&mut s, host, &frame(B, A, 60), 10 + MAC_AGING_NS);
    assert_eq!(drain(&mut s, one).len(), 1);
    assert_eq!(drain(&mut s, two).len(), 1);
    s.age(20 + MAC_AGING_NS);
    assert_eq!(s.learned(), 1, "only br0's pinned address is left");
    assert_eq!(s.lookup(&A, u64::MAX), Some(host), "pinned addresses never age");
}

#[test]
fn a_port_cannot_steal_a_pinned_address() {
    let (mut s, host, one, _) = three();
    send(&mut s, one, &frame(BROADCAST, A, 60), 0);
    assert_eq!(s.counters(one).unwrap().rx_drops, 1);
    assert_eq!(s.lookup(&A, 0), Some(host));
    assert!(drain(&mut s, host).is_empty());
    assert_eq!(s.add_port("other", Some(A)), Err(SwitchError::InUse));
    assert_eq!(s.add_port("br0", None), Err(SwitchError::InUse));
}

#[test]
fn bad_sizes_are_dropped_and_counted() {
    let (mut s, host, one, _) = three();
    send(&mut s, one, &[0u8; 13], 0);
    send(&mut s, one, &frame(A, B, MAX_FRAME + 1), 0);
    send(&mut s, one, &frame(A, B, MAX_FRAME), 0);
    let counters = s.counters(one).unwrap();
    assert_eq!((counters.rx_drops, counters.rx_packets, counters.rx_bytes), (2, 1, MAX_FRAME as u64));
    assert_eq!(s.counters(host).unwrap().tx_packets, 1);
}

#[test]
fn queues_are_bounded_in_frames_and_bytes() {
    let (mut s, host, one, _) = three();
    for i in 0..QUEUE_FRAMES + 10 {
        send(&mut s, one, &frame(A, B, 60), i as u64);
    }
    let counters = s.counters(host).unwrap();
    assert_eq!((counters.tx_packets, counters.tx_drops), (QUEUE_FRAMES as u64, 10));
    assert_eq!(drain(&mut s, host).len(), QUEUE_FRAMES);
    let fit = QUEUE_BYTES / MAX_FRAME;
    for _ in 0..fit + 3 {
        send(&mut s, one, &frame(A, B, MAX_FRAME), 0);
    }
    assert_eq!(drain(&mut s, host).len(), fit);
    assert_eq!(s.counters(host).unwrap().tx_drops, 13);
}

#[test]
fn the_mac_table_is_bounded_and_keeps_pinned_entries() {
    let (mut s, host, one, _) = three();
    for i in 0..(MAX_MACS as u32 + 500) {
        let b = i.to_be_bytes();
        send(&mut s, one, &frame(A, [0x02, 0x77, b[0], b[1], b[2], b[3]], 60), u64::from(i));
        s.pop(host);
    }
    assert_eq!(s.learned(), MAX_MACS);
    assert_eq!(s.lookup(&A, 0), Some(host));
    // The newest source is known, the oldest was evicted.
    let last = (MAX_MACS as u32 + 499).to_be_bytes();
    assert_eq!(s.lookup(&[0x02, 0x77, last[0], last[1], last[2], last[3]], 0), Some(one));
    assert_eq!(s.lookup(&[0x02, 0x77, 0, 0, 0, 0], 0), None);
}

#[test]
fn ports_are_bounded_and_removed_cleanly() {
    let mut s = Switch::new();
    let ids: Vec<PortId> = (0..MAX_PORTS).map(|i| s.add_port(&alloc::format!("p{i}"), None).unwrap()).collect();
    assert_eq!(s.add_port("one-too-many", None), Err(SwitchError::Full));
    send(&mut s, ids[1], &frame(BROADCAST, B, 60), 0);
    assert_eq!(s.lookup(&B, 0), Some(ids[1]));
    assert!(s.has_frames(ids[0]));
    let counters = s.remove_port(ids[1]).unwrap();
    assert_eq!(counters.rx_packets, 1);
    assert_eq!(s.lookup(&B, 0), None, "its addresses go with it");
    assert!(!s.has_port(ids[1]));
    let again = s.add_port("p1", None).unwrap();
    assert_ne!(again, ids[1], "ids are not reused");
    let mut wake = Vec::new();
    s.input(ids[1], &frame(BROADCAST, B, 60), 0, &mut wake);
    assert!(wake.is_empty(), "a removed port sends nothing");
}

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_port_waker_fires_once_per_registration() {
    let (mut s, host, one, _) = three();
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    s.set_waker(host, &waker);
    assert_eq!(send(&mut s, one, &frame(A, B, 60), 0), 1);
    assert_eq!(send(&mut s, one, &frame(A, B, 60), 0), 0, "taken by the first frame");
    s.set_waker(host, &waker);
    s.remove_port(host);
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "removal wakes directly");
}

#[test]
fn counters_and_listing() {
    let (mut s, host, one, two) = three();
    send(&mut s, one, &frame(BROADCAST, B, 100), 0);
    let ports = s.ports();
    assert_eq!(ports.len(), 3);
    assert_eq!(ports[0].name, "br0");
    assert_eq!(ports[0].mac, Some(A));
    assert_eq!(ports[1].counters.rx_bytes, 100);
    assert_eq!(ports[1].learned, 1);
    assert_eq!(ports[2].counters.tx_packets, 1);
    assert_eq!(ports[2].queued, 1);
    let _ = (host, two);
}

#[test]
fn names_give_stable_local_unicast_macs() {
    let mac = mac_for_name("linux");
    assert_eq!(mac, mac_for_name("linux"));
    assert_ne!(mac, mac_for_name("linux2"));
    assert_eq!(mac[0] & 0x03, 0x02, "locally administered, unicast");
    assert_eq!(format_mac(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]), "52:54:00:12:34:56");
}
