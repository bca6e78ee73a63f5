//! A hostile guest: random features, queue setups, descriptors, ring indices, register
//! writes and memory the kernel refuses, against each backend.
//!
//! Each guest gets a hostility level: how often its choices go wrong (0, 1, 4 or 16 in 32).
//! At 0 it is a correct driver, which must see no guest error at all.
//!
//! Properties: nothing panics; the device never attempts an access outside guest memory
//! (every ring and buffer is checked first), so memory refuses only inside the window made
//! unavailable, and any refused access leaves the device in NEEDS_RESET; the interrupt line
//! always equals InterruptStatus != 0; FEATURES_OK is never set over features that were
//! not offered or without VERSION_1; processing always comes to rest; and after a reset
//! the device serves a clean driver as if nothing had happened.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::*;
use crate::bus::AccessWidth::{self, Word};
use crate::bus::MmioDevice;
use crate::virtio::device::VIRTIO_F_VERSION_1;
use crate::virtio::mmio::{VirtioMmio, STATUS_FEATURES_OK};
use crate::virtio::queue::{DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE};
use crate::virtio::testing::{memory, start_device, Line, BUFFERS, RAM};

/// The hostile guest's memory: small, so random addresses often hit rings and edges.
const MEM_BYTES: u64 = 64 * 1024;
const STEPS: usize = 100;

/// A queue as the driver set it up, and what it has in flight.
struct DriverRing {
    desc: u64,
    avail: u64,
    used: u64,
    size: u16,
    /// The next free descriptor, as a real driver hands them out.
    next_desc: u16,
    /// Descriptors of each chain in flight, oldest first (backends complete in order).
    in_flight: VecDeque<u16>,
    used_seen: u16,
}

impl DriverRing {
    /// Forgets chains the device has returned.
    fn reap(&mut self, mem: &mut VecMemory) {
        let used_idx = mem.read_u16(self.used.wrapping_add(2)).unwrap_or(self.used_seen);
        while self.used_seen != used_idx && self.in_flight.pop_front().is_some() {
            self.used_seen = self.used_seen.wrapping_add(1);
        }
    }

    fn descriptors_in_flight(&self) -> u32 {
        self.in_flight.iter().map(|&n| u32::from(n)).sum()
    }
}

struct Guest<B: Backend> {
    dev: VirtioMmio<B>,
    mem: VecMemory,
    line: Line,
    /// The range made unavailable, if any.
    window: Option<(u64, u64)>,
    queues: Vec<DriverRing>,
    /// How often (in 32) a choice goes the hostile way: some guests are mostly well
    /// behaved and run long before they misbehave, others misbehave at once.
    hostility: u64,
}

fn read(dev: &mut impl MmioDevice, offset: u64) -> u32 {
    dev.read(offset, Word, &mut Line::default()).unwrap_or(0) as u32
}

fn write(dev: &mut impl MmioDevice, line: &mut Line, offset: u64, value: u64) {
    let _ = dev.write(offset, Word, value, line);
}

/// An address a hostile guest might use: mostly in memory, sometimes at its edges or
/// anywhere at all.
fn address(rng: &mut XorShift) -> u64 {
    match rng.below(10) {
        0..=6 => RAM + rng.below(MEM_BYTES),
        7 => RAM + MEM_BYTES - rng.below(64),
        8 => u64::MAX - rng.below(64),
        _ => rng.next(),
    }
}

fn length(rng: &mut XorShift) -> u32 {
    match rng.below(10) {
        0..=5 => rng.below(600) as u32,
        6 | 7 => rng.below(70_000) as u32,
        8 => u32::MAX - rng.below(64) as u32,
        _ => rng.next() as u32,
    }
}

fn descriptor_flags(rng: &mut XorShift) -> u16 {
    match rng.below(8) {
        0..=2 => DESC_F_NEXT,
        3 | 4 => DESC_F_WRITE | DESC_F_NEXT,
        5 => DESC_F_WRITE,
        6 => DESC_F_INDIRECT,
        _ => rng.next() as u16,
    }
}

fn descriptor(rng: &mut XorShift, next: u16) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&address(rng).to_le_bytes());
    bytes[8..12].copy_from_slice(&length(rng).to_le_bytes());
    bytes[12..14].copy_from_slice(&descriptor_flags(rng).to_le_bytes());
    bytes[14..].copy_from_slice(&next.to_le_bytes());
    bytes
}

impl<B: Backend> Guest<B> {
    fn new(rng: &mut XorShift) -> Self {
        let mut mem = VecMemory::new(RAM, MEM_BYTES as usize);
        let hostility = [0, 1, 4, 16][rng.below(4) as usize];
        if rng.chance(hostility, 64) {
            rng.fill(mem.bytes_mut());
        }
        let window = rng.chance(hostility, 64).then(|| {
            let start = RAM + rng.below(MEM_BYTES);
            (start, start + 1 + rng.below(4096))
        });
        if let Some((start, end)) = window {
            mem.make_unavailable(start, end);
        }
        Self {
            dev: VirtioMmio::new(B::make(rng), 48),
            mem,
            line: Line::default(),
            window,
            queues: Vec::new(),
            hostility,
        }
    }

    /// Whether this choice goes the hostile way.
    fn evil(&self, rng: &mut XorShift) -> bool {
        rng.chance(self.hostility, 32)
    }

    /// A driver start with random deviations: features, queue sizes and addresses.
    fn start(&mut self, rng: &mut XorShift) {
        write(&mut self.dev, &mut self.line, 0x070, 0);
        write(&mut self.dev, &mut self.line, 0x070, 1);
        write(&mut self.dev, &mut self.line, 0x070, 3);
        write(&mut self.dev, &mut self.line, 0x014, 1);
        let high = u64::from(read(&mut self.dev, 0x010));
        write(&mut self.dev, &mut self.line, 0x014, 0);
        let offered = high << 32 | u64::from(read(&mut self.dev, 0x010));
        let mut features = offered & rng.next();
        if !self.evil(rng) {
            features |= VIRTIO_F_VERSION_1;
        }
        if self.evil(rng) {
            features |= rng.next(); // most likely not offered: FEATURES_OK is refused
        }
        for (sel, value) in [(1, features >> 32), (0, features & 0xffff_ffff)] {
            write(&mut self.dev, &mut self.line, 0x024, sel);
            write(&mut self.dev, &mut self.line, 0x020, value);
        }
        write(&mut self.dev, &mut self.line, 0x070, 0xb);
        for index in 0..4u64 {
            write(&mut self.dev, &mut self.line, 0x030, index);
            let max = u64::from(read(&mut self.dev, 0x034)).min(64);
            if max == 0 && !self.evil(rng) {
                continue;
            }
            let size = if !self.evil(rng) && max > 0 {
                1 << rng.below(u64::from(max.ilog2()) + 1)
            } else {
                rng.next() & 0x1_ffff
            };
            let base = if !self.evil(rng) { RAM + 0x2000 * index } else { address(rng) };
            let (desc, avail, used) = (base, base.wrapping_add(16 * size), base.wrapping_add(18 * size + 8) & !3);
            write(&mut self.dev, &mut self.line, 0x038, size);
            for (low, address) in [(0x080, desc), (0x090, avail), (0x0a0, used)] {
                write(&mut self.dev, &mut self.line, low, address & 0xffff_ffff);
                write(&mut self.dev, &mut self.line, low + 4, address >> 32);
            }
            if !self.evil(rng) {
                write(&mut self.dev, &mut self.line, 0x044, 1);
            }
            let size = (size as u16).max(1);
            self.queues.push(DriverRing {
                desc,
                avail,
                used,
                size,
                next_desc: 0,
                in_flight: VecDeque::new(),
                used_seen: 0,
            });
        }
        if !self.evil(rng) {
            write(&mut self.dev, &mut self.line, 0x070, 0xf);
        }
    }

    /// Writes a chain into a queue's table and publishes it. A friendly post is a
    /// well-formed request in free descriptors (or waits while the ring is full); a hostile
    /// one may be random, overwrite chains in flight, point NEXT anywhere, publish a bogus
    /// head or jump the index.
    fn post(&mut self, rng: &mut XorShift) {
        let queue = rng.below(self.queues.len() as u64) as usize;
        let evil = self.evil(rng);
        let mut chain: Vec<[u8; 16]> = Vec::new();
        if !evil {
            let area = RAM + 0x8000 + 0x1000 * rng.below(8);
            let (buffers, _) = B::request(rng, queue, &mut self.mem, area);
            for (i, &(addr, len, writable)) in buffers.iter().enumerate() {
                let last = i + 1 == buffers.len();
                let flags = if writable { DESC_F_WRITE } else { 0 } | if last { 0 } else { DESC_F_NEXT };
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&addr.to_le_bytes());
                bytes[8..12].copy_from_slice(&len.to_le_bytes());
                bytes[12..14].copy_from_slice(&flags.to_le_bytes());
                chain.push(bytes);
            }
        } else {
            for _ in 0..1 + rng.below(4) {
                chain.push(descriptor(rng, 0));
            }
        }
        let evil_next = self.evil(rng);
        let evil_head = self.evil(rng);
        let evil_idx = self.evil(rng);
        let Some(ring) = self.queues.get_mut(queue) else { return };
        let size = ring.size;
        ring.reap(&mut self.mem);
        let count = chain.len() as u16;
        if !evil && ring.descriptors_in_flight() + u32::from(count) > u32::from(size) {
            return; // a driver waits for free descriptors
        }
        let start = if evil { rng.below(u64::from(size)) as u16 } else { ring.next_desc };
        for (i, bytes) in chain.iter_mut().enumerate() {
            let index = start.wrapping_add(i as u16) % size;
            let next = if evil_next { rng.next() as u16 } else { (index + 1) % size };
            bytes[14..].copy_from_slice(&next.to_le_bytes());
            let _ = self.mem.write(ring.desc.wrapping_add(16 * u64::from(index)), bytes);
        }
        if !evil {
            ring.next_desc = start.wrapping_add(count) % size;
            ring.in_flight.push_back(count);
        }
        let idx_ipa = ring.avail.wrapping_add(2);
        let idx = self.mem.read_u16(idx_ipa).unwrap_or(0);
        let head = if evil_head { rng.next() as u16 } else { start };
        let _ = self.mem.write_u16(ring.avail.wrapping_add(4 + 2 * u64::from(idx % size)), head);
        let new_idx = if evil_idx { rng.next() as u16 } else { idx.wrapping_add(1) };
        let _ = self.mem.write_u16(idx_ipa, new_idx);
        if evil && rng.chance(1, 4) {
            // An indirect table somewhere, with random entries.
            let table = address(rng);
            for i in 0..1 + rng.below(4) as u16 {
                let _ = self.mem.write(table.wrapping_add(16 * u64::from(i)), &descriptor(rng, i + 1));
            }
        }
        if rng.chance(7, 8) {
            write(&mut self.dev, &mut self.line, 0x050, queue as u64);
        }
    }

    fn corrupt(&mut self, rng: &mut XorShift) {
        let mut bytes = [0u8; 8];
        rng.fill(&mut bytes);
        let len = 1 + rng.below(8) as usize;
        let target = match self.queues.get(rng.below(8) as usize) {
            Some(ring) => ring.desc.wrapping_add(rng.below(18 * u64::from(ring.size) + 16)),
            None => address(rng),
        };
        let _ = self.mem.write(target, &bytes[..len]);
    }

    fn register_access(&mut self, rng: &mut XorShift) {
        let offset = if rng.chance(3, 4) { rng.below(0x100) & !3 } else { rng.below(0x210) };
        let width = AccessWidth::from_sas(if rng.chance(3, 4) { 2 } else { rng.next() });
        let value = match rng.below(4) {
            0 => rng.below(4),
            1 => rng.below(0x100),
            _ => rng.next(),
        };
        if rng.chance(1, 2) {
            let _ = self.dev.read(offset, width, &mut self.line);
        } else if offset != 0x070 || rng.chance(1, 4) {
            let _ = self.dev.write(offset, width, value, &mut self.line);
        }
    }

    /// Processes, checking the memory properties around it.
    fn process(&mut self) {
        let refused = self.mem.refused();
        let more = self.dev.process(&mut self.mem, &mut self.line);
        assert_eq!(more, self.dev.needs_processing());
        if self.mem.refused() > refused {
            assert!(self.window.is_some(), "the device touched memory outside guest RAM");
            assert!(self.dev.needs_reset(), "a refused access must leave the device broken");
        }
    }

    fn check_invariants(&mut self) {
        let status = read(&mut self.dev, 0x060);
        assert_eq!(self.line.high(), status != 0, "line and InterruptStatus {status:#x}");
        if self.dev.status() & STATUS_FEATURES_OK != 0 {
            let features = self.dev.driver_features();
            assert_ne!(features & VIRTIO_F_VERSION_1, 0);
            let offered = (self.dev.device().features() & !crate::virtio::device::TRANSPORT_FEATURES)
                | crate::virtio::mmio::TRANSPORT_OFFERED;
            assert_eq!(features & !offered, 0);
        }
    }

    /// Runs the device until it rests; a bounded number of passes.
    fn settle(&mut self) {
        for _ in 0..1000 {
            self.process();
            if !self.dev.needs_processing() {
                return;
            }
        }
        panic!("processing does not come to rest");
    }

    /// After Status = 0, a clean driver on clean memory gets a request served.
    fn check_recovery(&mut self, rng: &mut XorShift) {
        write(&mut self.dev, &mut self.line, 0x070, 0);
        assert_eq!(read(&mut self.dev, 0x070), 0);
        assert_eq!(read(&mut self.dev, 0x060), 0);
        assert!(!self.line.high());
        let mut mem = memory();
        let mut queues = start_device(&mut self.dev, &mut self.line, VIRTIO_F_VERSION_1);
        let queue = queues.len() - 1;
        let (buffers, _) = B::request(rng, queue, &mut mem, BUFFERS);
        let head = queues[queue].add_chain(&mut mem, &buffers);
        write(&mut self.dev, &mut self.line, 0x050, queue as u64);
        for _ in 0..1000 {
            if !self.dev.process(&mut mem, &mut self.line) {
                break;
            }
        }
        assert!(!self.dev.needs_reset(), "{:?}", self.dev.take_error_report());
        let used = queues[queue].take_used(&mut mem);
        assert_eq!(used.first().map(|u| u.0), Some(u32::from(head)));
    }
}

fn iteration<B: Backend>(seed: u64) {
    let mut rng = XorShift::new(seed);
    let mut guest = Guest::<B>::new(&mut rng);
    guest.start(&mut rng);
    for _ in 0..STEPS {
        match rng.below(14) {
            0..=3 => guest.post(&mut rng),
            4 | 5 if guest.evil(&mut rng) => guest.corrupt(&mut rng),
            6 | 7 if guest.evil(&mut rng) => guest.register_access(&mut rng),
            8 => {
                let queue = if guest.evil(&mut rng) { rng.below(5) } else { rng.below(guest.queues.len() as u64) };
                write(&mut guest.dev, &mut guest.line, 0x050, queue);
            }
            9 => guest.dev.device_mut().host_action(&mut rng),
            10 => {
                let status = read(&mut guest.dev, 0x060);
                write(&mut guest.dev, &mut guest.line, 0x064, u64::from(status));
            }
            _ => guest.process(),
        }
        guest.check_invariants();
    }
    guest.settle();
    guest.check_invariants();
    if guest.hostility == 0 {
        assert_eq!(guest.dev.counters().guest_errors, 0, "a friendly driver: {:?}", guest.dev.take_error_report());
    }
    guest.check_recovery(&mut rng);
}

#[test]
fn hostile_guests_against_rng() {
    run("hostile rng", HOSTILE_ITERATIONS, iteration::<VirtioRng<Counter>>);
}

#[test]
fn hostile_guests_against_console() {
    run("hostile console", HOSTILE_ITERATIONS, iteration::<VirtioConsole>);
}

#[test]
fn hostile_guests_against_block() {
    run("hostile block", HOSTILE_ITERATIONS, iteration::<VirtioBlock<MemoryStore>>);
}

#[test]
fn hostile_guests_against_net() {
    run("hostile net", HOSTILE_ITERATIONS, iteration::<VirtioNet>);
}
