//! Random well-formed traffic: a correct driver posting requests of every shape (split
//! buffers, indirect tables, full rings, index wrap-around) with random notifications,
//! interrupt suppression and host activity.
//!
//! Properties: the device reports no guest error; every chain comes back exactly once, in
//! order, with the used length its request calls for (never more than its writable part);
//! an interrupt comes whenever the driver asked for one; console output is exactly what the
//! guest sent and console input arrives whole and in order; the entropy stream is unbroken.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::*;
use crate::bus::AccessWidth::Word;
use crate::bus::MmioDevice;
use crate::virtio::device::{VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1};
use crate::virtio::mmio::{VirtioMmio, INTERRUPT_USED_BUFFER};
use crate::virtio::queue::VRING_AVAIL_F_NO_INTERRUPT;
use crate::virtio::testing::{start_device, DriverQueue, Line, BUFFERS, RAM};

const STEPS: usize = 200;
/// Request areas of 4 KiB from [`BUFFERS`], and a 64-byte indirect table for each.
const AREAS: usize = 256;
const AREA_BYTES: u64 = 0x1000;
const TABLES: u64 = BUFFERS + AREAS as u64 * AREA_BYTES;

/// A chain the driver posted and waits for.
struct Posted {
    head: u16,
    descriptors: u16,
    area: usize,
    buffers: Vec<(u64, u32, bool)>,
    expected: Option<u32>,
    /// The device-readable bytes as posted (what the device must have read).
    readable: Vec<u8>,
}

/// A returned chain: what the device read, and what it wrote.
pub struct Completed {
    pub readable: Vec<u8>,
    pub written: Vec<u8>,
}

pub struct Traffic<B: Backend> {
    pub dev: VirtioMmio<B>,
    mem: VecMemory,
    line: Line,
    queues: Vec<DriverQueue>,
    in_flight: Vec<VecDeque<Posted>>,
    free_areas: Vec<usize>,
    indirect: bool,
    event_idx: bool,
    /// Per queue: the driver asked for an interrupt for the next used buffer.
    armed: Vec<bool>,
    /// Per queue, every chain returned, in order.
    pub completed: Vec<Vec<Completed>>,
}

impl<B: Backend> Traffic<B> {
    fn new(rng: &mut XorShift) -> Self {
        let mut dev = VirtioMmio::new(B::make(rng), 48);
        let mut line = Line::default();
        let mut wanted = VIRTIO_F_VERSION_1 | rng.next() & !0xffff_ffff_0000_0000;
        if rng.chance(1, 2) {
            wanted |= VIRTIO_F_INDIRECT_DESC;
        }
        if rng.chance(1, 2) {
            wanted |= VIRTIO_F_EVENT_IDX;
        }
        let queues = start_device(&mut dev, &mut line, wanted);
        let features = dev.driver_features();
        let count = queues.len();
        Self {
            dev,
            mem: VecMemory::new(RAM, 2 << 20),
            line,
            queues,
            in_flight: (0..count).map(|_| VecDeque::new()).collect(),
            free_areas: (0..AREAS).rev().collect(),
            indirect: features & VIRTIO_F_INDIRECT_DESC != 0,
            event_idx: features & VIRTIO_F_EVENT_IDX != 0,
            armed: vec![true; count],
            completed: (0..count).map(|_| Vec::new()).collect(),
        }
    }

    fn post(&mut self, rng: &mut XorShift) {
        let queue = rng.below(self.queues.len() as u64) as usize;
        let Some(area) = self.free_areas.pop() else { return };
        let (buffers, expected) = B::request(rng, queue, &mut self.mem, BUFFERS + area as u64 * AREA_BYTES);
        let indirect = self.indirect && rng.chance(1, 2);
        let descriptors = if indirect { 1 } else { buffers.len() as u16 };
        let in_flight: u16 = self.in_flight[queue].iter().map(|p| p.descriptors).sum();
        if in_flight + descriptors > self.queues[queue].size {
            self.free_areas.push(area);
            return; // the ring is full: a driver waits
        }
        let mut readable = Vec::new();
        for &(addr, len, writable) in buffers.iter().filter(|b| !b.2) {
            let mut bytes = vec![0; len as usize];
            self.mem.read(addr, &mut bytes).unwrap();
            readable.extend_from_slice(&bytes);
            assert!(!writable);
        }
        let head = if indirect {
            self.queues[queue].add_indirect(&mut self.mem, TABLES + 64 * area as u64, &buffers)
        } else {
            self.queues[queue].add_chain(&mut self.mem, &buffers)
        };
        self.in_flight[queue].push_back(Posted { head, descriptors, area, buffers, expected, readable });
        if rng.chance(7, 8) {
            self.dev.write(0x050, Word, queue as u64, &mut self.line).unwrap();
        }
    }

    /// The driver changes its mind about interrupts on a queue.
    fn suppress(&mut self, rng: &mut XorShift) {
        let queue = rng.below(self.queues.len() as u64) as usize;
        let driver = &self.queues[queue];
        if self.event_idx {
            // Interrupt at the next used entry, or some entries later.
            let used = driver.used_idx(&mut self.mem);
            let ahead = if rng.chance(1, 2) { 0 } else { 1 + rng.below(8) as u16 };
            driver.set_used_event(&mut self.mem, used.wrapping_add(ahead));
            self.armed[queue] = ahead == 0;
        } else {
            let off = rng.chance(1, 3);
            driver.set_avail_flags(&mut self.mem, if off { VRING_AVAIL_F_NO_INTERRUPT } else { 0 });
            self.armed[queue] = !off;
        }
    }

    fn process(&mut self) {
        let mut passes = 0;
        self.dev.process(&mut self.mem, &mut self.line);
        while self.dev.needs_processing() {
            passes += 1;
            assert!(passes < 100, "processing does not come to rest");
            self.dev.process(&mut self.mem, &mut self.line);
        }
        assert!(!self.dev.needs_reset(), "{:?}", self.dev.take_error_report());
        assert_eq!(self.dev.counters().guest_errors, 0, "{:?}", self.dev.take_error_report());
        let status = self.dev.read(0x060, Word, &mut self.line).unwrap() as u32;
        for queue in 0..self.queues.len() {
            let used = self.queues[queue].take_used(&mut self.mem);
            if !used.is_empty() && self.armed[queue] {
                assert_ne!(status & INTERRUPT_USED_BUFFER, 0, "queue {queue}: the driver asked for an interrupt");
            }
            for (id, len) in used {
                self.complete(queue, id, len);
            }
            if self.event_idx && self.armed[queue] {
                // As Linux's virtqueue_enable_cb: interrupt me at the next used entry.
                let used_idx = self.queues[queue].used_idx(&mut self.mem);
                self.queues[queue].set_used_event(&mut self.mem, used_idx);
            }
        }
        if status != 0 {
            self.dev.write(0x064, Word, u64::from(status), &mut self.line).unwrap();
        }
        assert!(!self.line.high());
    }

    fn complete(&mut self, queue: usize, id: u32, len: u32) {
        let posted = self.in_flight[queue].pop_front().expect("a chain came back that was not in flight");
        assert_eq!(id, u32::from(posted.head), "chains come back in order, once");
        let writable: u32 = posted.buffers.iter().filter(|b| b.2).map(|b| b.1).sum();
        assert!(len <= writable, "used length {len} > writable {writable}");
        if let Some(expected) = posted.expected {
            assert_eq!(len, expected, "used length of {:?}", posted.buffers);
        }
        let mut written = Vec::new();
        for &(addr, size, _) in posted.buffers.iter().filter(|b| b.2) {
            let take = (len as usize - written.len()).min(size as usize);
            let mut bytes = vec![0; take];
            self.mem.read(addr, &mut bytes).unwrap();
            written.extend_from_slice(&bytes);
        }
        self.completed[queue].push(Completed { readable: posted.readable, written });
        self.free_areas.push(posted.area);
    }
}

/// Runs one seeded stretch of traffic; `host` is the host side's turn (input, output).
fn traffic<B: Backend>(seed: u64, mut host: impl FnMut(&mut Traffic<B>, &mut XorShift)) -> Traffic<B> {
    let mut rng = XorShift::new(seed);
    let mut t = Traffic::<B>::new(&mut rng);
    for _ in 0..STEPS {
        match rng.below(10) {
            0..=4 => t.post(&mut rng),
            5 => t.suppress(&mut rng),
            6 => host(&mut t, &mut rng),
            _ => t.process(),
        }
    }
    // Finally every queue is notified and served.
    for queue in 0..t.queues.len() {
        t.dev.write(0x050, Word, queue as u64, &mut t.line).unwrap();
    }
    t.process();
    t
}

#[test]
fn valid_traffic_on_rng() {
    run("valid rng", VALID_ITERATIONS, |seed| {
        let t = traffic::<VirtioRng<Counter>>(seed, |_, _| {});
        assert!(t.in_flight[0].is_empty(), "every request served");
        let stream: Vec<u8> = t.completed[0].iter().flat_map(|c| c.written.iter().copied()).collect();
        assert!(stream.iter().enumerate().all(|(i, &b)| b == i as u8), "the entropy stream is unbroken");
        assert_eq!(t.dev.device().bytes_given(), stream.len() as u64);
    });
}

#[test]
fn valid_traffic_on_console() {
    run("valid console", VALID_ITERATIONS, |seed| {
        let mut typed = Vec::new();
        let mut output = Vec::new();
        let mut t = traffic::<VirtioConsole>(seed, |t, rng| {
            if rng.chance(1, 2) {
                let mut bytes = vec![0; rng.below(3000) as usize];
                rng.fill(&mut bytes);
                let taken = t.dev.device_mut().push_input(&bytes);
                typed.extend_from_slice(&bytes[..taken]);
            } else {
                output.extend(t.dev.device_mut().take_output());
            }
        });
        // The host drains what is left; paused transmission resumes.
        for _ in 0..100 {
            output.extend(t.dev.device_mut().take_output());
            if !t.dev.needs_processing() {
                break;
            }
            t.process();
        }
        let sent: Vec<u8> = t.completed[1].iter().flat_map(|c| c.readable.iter().copied()).collect();
        assert_eq!(output, sent, "output is what the guest sent");
        assert!(t.in_flight[1].is_empty());
        let received: Vec<u8> = t.completed[0].iter().flat_map(|c| c.written.iter().copied()).collect();
        let waiting = INPUT_BYTES - t.dev.device().input_room();
        assert_eq!(received.len() + waiting, typed.len(), "no input lost");
        assert_eq!(received, typed[..received.len()], "input in order");
        assert_eq!(t.dev.device().dropped_output(), 0);
    });
}

#[test]
fn valid_traffic_on_block() {
    run("valid block", VALID_ITERATIONS, |seed| {
        let t = traffic::<VirtioBlock<MemoryStore>>(seed, |_, _| {});
        assert!(t.in_flight[0].is_empty());
        assert!(t.completed[0].iter().all(|c| c.written.last().is_some_and(|&s| s <= 2)), "a status byte");
    });
}

#[test]
fn valid_traffic_on_net() {
    use crate::virtio::net::{HEADER_BYTES, MAX_FRAME, MIN_FRAME};
    run("valid net", VALID_ITERATIONS, |seed| {
        let mut pushed = Vec::new();
        let mut taken = Vec::new();
        let mut t = traffic::<VirtioNet>(seed, |t, rng| {
            if rng.chance(1, 2) {
                let mut frame = vec![0; rng.below(MAX_FRAME as u64 + 40) as usize];
                rng.fill(&mut frame);
                if t.dev.device_mut().push_frame(&frame) {
                    pushed.push(frame);
                }
            } else {
                while let Some(frame) = t.dev.device_mut().take_frame() {
                    taken.push(frame);
                }
            }
        });
        for _ in 0..100 {
            while let Some(frame) = t.dev.device_mut().take_frame() {
                taken.push(frame);
            }
            if !t.dev.needs_processing() {
                break;
            }
            t.process();
        }
        // Every frame the guest sent reached the host whole and in order.
        let sent: Vec<Vec<u8>> = t.completed[1].iter().map(|c| c.readable[HEADER_BYTES..].to_vec()).collect();
        assert_eq!(taken, sent);
        assert!(t.in_flight[1].is_empty());
        // Frames into receive buffers: in order, each whole behind its header, or dropped
        // for a buffer too small (used length 0).
        let mut expected = pushed.iter();
        for completed in &t.completed[0] {
            if completed.written.is_empty() {
                expected.next();
                continue;
            }
            let frame = expected.next().expect("no more frames than pushed");
            assert_eq!(completed.written[10..12], [1, 0], "num_buffers");
            assert_eq!(&completed.written[HEADER_BYTES..], &frame[..]);
            assert!((MIN_FRAME..=MAX_FRAME).contains(&frame.len()));
        }
        let counters = t.dev.device().counters();
        assert_eq!(counters.tx_dropped, 0);
        assert_eq!(counters.tx_frames as usize, sent.len());
    });
}

use crate::virtio::console::INPUT_BYTES;
