//! virtio-net tests: frames both ways, the header, sizes, bounded queues, back-pressure,
//! config, reset and broken requests.

use super::*;
use crate::bus::AccessWidth::{Byte, Word};
use crate::bus::MmioDevice;
use crate::virtio::device::VIRTIO_F_VERSION_1;
use crate::virtio::memory::{GuestMemory, VecMemory};
use crate::virtio::mmio::{VirtioMmio, STATUS_NEEDS_RESET};
use crate::virtio::testing::{memory, start_device, DriverQueue, Line, BUFFERS};

const NOTIFY: u64 = 0x050;
const MAC: [u8; 6] = [0x02, 0x4b, 1, 2, 3, 4];

struct Setup {
    dev: VirtioMmio<VirtioNet>,
    rx: DriverQueue,
    tx: DriverQueue,
    mem: VecMemory,
    line: Line,
}

fn setup() -> Setup {
    let mut dev = VirtioMmio::new(VirtioNet::new(MAC), 50);
    let mut line = Line::default();
    let wanted = VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS;
    let mut queues = start_device(&mut dev, &mut line, wanted);
    let tx = queues.pop().unwrap();
    let rx = queues.pop().unwrap();
    let mut setup = Setup { dev, rx, tx, mem: memory(), line };
    setup.process();
    setup
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
}

impl Setup {
    fn process(&mut self) -> bool {
        self.dev.process(&mut self.mem, &mut self.line)
    }

    fn notify(&mut self, queue: u16) {
        self.dev.write(NOTIFY, Word, u64::from(queue), &mut self.line).unwrap();
    }

    fn post_receive(&mut self, addr: u64, len: u32) -> u16 {
        self.rx.add_chain(&mut self.mem, &[(addr, len, true)])
    }

    /// A transmit chain: header and frame in two buffers.
    fn transmit(&mut self, addr: u64, frame: &[u8]) -> u16 {
        self.mem.write(addr, &[0u8; HEADER_BYTES]).unwrap();
        self.mem.write(addr + 0x100, frame).unwrap();
        self.tx.add_chain(&mut self.mem, &[(addr, HEADER_BYTES as u32, false), (addr + 0x100, frame.len() as u32, false)])
    }

    fn bytes(&self, addr: u64, len: usize) -> &[u8] {
        let start = (addr - self.mem.base()) as usize;
        &self.mem.bytes()[start..start + len]
    }
}

#[test]
fn identity_features_and_config() {
    let mut s = setup();
    assert_eq!(s.dev.read(0x008, Word, &mut s.line), Ok(1), "device id 1");
    let features = s.dev.driver_features();
    assert_ne!(features & VIRTIO_NET_F_MAC, 0);
    assert_ne!(features & VIRTIO_NET_F_STATUS, 0);
    let config: Vec<u8> = (0..8).map(|i| s.dev.read(0x100 + i, Byte, &mut s.line).unwrap() as u8).collect();
    assert_eq!(config[..6], MAC);
    assert_eq!(config[6..], VIRTIO_NET_S_LINK_UP.to_le_bytes());
    s.dev.write(0x100, Byte, 0xff, &mut s.line).unwrap();
    assert_eq!(s.dev.device().mac(), MAC, "the MAC is read-only");
    assert_eq!(s.dev.counters().guest_errors, 1);
}

#[test]
fn frames_reach_the_guest_with_a_header() {
    let mut s = setup();
    let first = s.post_receive(BUFFERS, 2048);
    let second = s.post_receive(BUFFERS + 0x1000, 2048);
    s.notify(RECEIVE_QUEUE);
    s.process();
    assert!(s.rx.take_used(&mut s.mem).is_empty());
    let (a, b) = (frame(60, 1), frame(MAX_FRAME, 2));
    assert!(s.dev.device_mut().push_frame(&a));
    assert!(s.dev.device_mut().push_frame(&b));
    assert!(s.dev.needs_processing());
    s.process();
    let used = s.rx.take_used(&mut s.mem);
    assert_eq!(used, [(u32::from(first), 12 + 60), (u32::from(second), 12 + MAX_FRAME as u32)]);
    let mut header = [0u8; 12];
    header[10] = 1;
    assert_eq!(s.bytes(BUFFERS, 12), header, "num_buffers = 1, nothing else");
    assert_eq!(s.bytes(BUFFERS + 12, 60), &a[..]);
    assert_eq!(s.bytes(BUFFERS + 0x1000 + 12, MAX_FRAME), &b[..]);
    assert!(s.line.high());
    let counters = s.dev.device().counters();
    assert_eq!((counters.rx_frames, counters.rx_bytes), (2, 60 + MAX_FRAME as u64));
}

#[test]
fn frames_wait_for_buffers_in_a_bounded_queue() {
    let mut s = setup();
    for i in 0..RX_FRAMES + 5 {
        s.dev.device_mut().push_frame(&frame(100, i as u8));
    }
    assert_eq!(s.dev.device().counters().rx_dropped, 5);
    assert_eq!(s.dev.device().rx_room(), 0);
    assert!(!s.process(), "no buffers: nothing to do");
    assert!(!s.dev.needs_processing(), "and the task is not kept busy");
    for i in 0..4 {
        s.post_receive(BUFFERS + 0x800 * i, 1600);
    }
    s.notify(RECEIVE_QUEUE);
    s.process();
    assert_eq!(s.rx.take_used(&mut s.mem).len(), 4);
    assert_eq!(s.bytes(BUFFERS + 12, 100), &frame(100, 0)[..], "oldest first");
    assert_eq!(s.dev.device().rx_room(), 4);
}

#[test]
fn bad_sizes_and_small_buffers_drop_frames() {
    let mut s = setup();
    assert!(!s.dev.device_mut().push_frame(&frame(13, 0)));
    assert!(!s.dev.device_mut().push_frame(&frame(MAX_FRAME + 1, 0)));
    assert!(s.dev.device_mut().push_frame(&frame(1000, 0)));
    assert!(s.dev.device_mut().push_frame(&frame(50, 9)));
    let small = s.post_receive(BUFFERS, 500);
    let big = s.post_receive(BUFFERS + 0x1000, 2048);
    s.notify(RECEIVE_QUEUE);
    s.process();
    assert_eq!(s.rx.take_used(&mut s.mem), [(u32::from(small), 0), (u32::from(big), 62)]);
    assert_eq!(s.bytes(BUFFERS + 0x1000 + 12, 50), &frame(50, 9)[..]);
    assert_eq!(s.dev.device().counters().rx_dropped, 3);
    assert!(!s.dev.needs_reset());
}

#[test]
fn guest_frames_reach_the_host() {
    let mut s = setup();
    let (a, b) = (frame(42, 3), frame(MAX_FRAME, 4));
    let one = s.transmit(BUFFERS, &a);
    let two = s.transmit(BUFFERS + 0x1000, &b);
    // A frame in one buffer with its header, as Linux sends them.
    let mut whole = vec![0u8; HEADER_BYTES];
    whole.extend_from_slice(&frame(64, 5));
    s.mem.write(BUFFERS + 0x3000, &whole).unwrap();
    let three = s.tx.add_chain(&mut s.mem, &[(BUFFERS + 0x3000, whole.len() as u32, false)]);
    s.notify(TRANSMIT_QUEUE);
    s.process();
    assert_eq!(s.tx.take_used(&mut s.mem), [(u32::from(one), 0), (u32::from(two), 0), (u32::from(three), 0)]);
    let net = s.dev.device_mut();
    assert_eq!(net.take_frame(), Some(a));
    assert_eq!(net.take_frame(), Some(b));
    assert_eq!(net.take_frame(), Some(frame(64, 5)));
    assert_eq!(net.take_frame(), None);
    assert_eq!(net.counters().tx_frames, 3);
}

#[test]
fn short_and_oversized_guest_frames_are_dropped_and_counted() {
    let mut s = setup();
    s.transmit(BUFFERS, &frame(13, 0));
    s.transmit(BUFFERS + 0x1000, &frame(MAX_FRAME + 1, 0));
    s.tx.add_chain(&mut s.mem, &[(BUFFERS + 0x3000, 5, false)]);
    s.transmit(BUFFERS + 0x4000, &frame(14, 0));
    s.notify(TRANSMIT_QUEUE);
    s.process();
    assert_eq!(s.tx.take_used(&mut s.mem).len(), 4, "every chain comes back");
    let net = s.dev.device_mut();
    assert_eq!(net.counters().tx_dropped, 3);
    assert_eq!(net.take_frame().map(|f| f.len()), Some(14));
    assert!(!s.dev.needs_reset(), "bad frames are not guest errors");
}

#[test]
fn a_full_transmit_queue_pauses_without_loss() {
    let mut s = setup();
    let chains = TX_FRAMES + 3;
    for i in 0..chains {
        let header_at = BUFFERS + 0x800 * i as u64;
        s.mem.write(header_at, &[0u8; HEADER_BYTES]).unwrap();
        s.mem.write(header_at + HEADER_BYTES as u64, &frame(100, i as u8)).unwrap();
        s.tx.add_chain(&mut s.mem, &[(header_at, HEADER_BYTES as u32 + 100, false)]);
    }
    s.notify(TRANSMIT_QUEUE);
    s.process();
    assert_eq!(s.tx.take_used(&mut s.mem).len(), TX_FRAMES);
    assert!(!s.dev.needs_processing(), "paused until the host drains");
    assert_eq!(s.dev.device_mut().take_frame(), Some(frame(100, 0)));
    assert!(s.dev.needs_processing(), "draining resumes it");
    s.process();
    assert_eq!(s.tx.take_used(&mut s.mem).len(), 1);
    let mut taken = 1;
    while s.dev.device_mut().take_frame().is_some() {
        taken += 1;
        s.process();
    }
    assert_eq!(taken, chains);
    assert_eq!(s.tx.take_used(&mut s.mem).len(), 2);
}

#[test]
fn buffers_of_the_wrong_direction_break_the_device() {
    let mut s = setup();
    s.tx.add_chain(&mut s.mem, &[(BUFFERS, 60, false), (BUFFERS + 0x100, 10, true)]);
    s.notify(TRANSMIT_QUEUE);
    s.process();
    assert_eq!(s.dev.status() & STATUS_NEEDS_RESET, STATUS_NEEDS_RESET);

    let mut s = setup();
    s.rx.add_chain(&mut s.mem, &[(BUFFERS, 12, false), (BUFFERS + 0x100, 1600, true)]);
    s.dev.device_mut().push_frame(&frame(60, 0));
    s.process();
    assert_eq!(s.dev.status() & STATUS_NEEDS_RESET, STATUS_NEEDS_RESET);
}

#[test]
fn a_reset_keeps_waiting_frames() {
    let mut s = setup();
    s.dev.device_mut().push_frame(&frame(60, 7));
    s.dev.write(0x070, Word, 0, &mut s.line).unwrap();
    let mut queues = start_device(&mut s.dev, &mut s.line, VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC);
    queues[0].add_chain(&mut s.mem, &[(BUFFERS, 2048, true)]);
    assert!(s.dev.needs_processing());
    s.process();
    assert_eq!(queues[0].take_used(&mut s.mem), [(0, 72)]);
    assert_eq!(s.bytes(BUFFERS + 12, 60), &frame(60, 7)[..]);
}
