//! Block tests: requests of each type, ranges, read-only stores, I/O errors, broken requests.

use super::*;
use crate::bus::AccessWidth::Word;
use crate::bus::MmioDevice;
use crate::virtio::device::{VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1};
use crate::virtio::error::RequestError;
use crate::virtio::memory::{GuestMemory, VecMemory};
use crate::virtio::mmio::{VirtioMmio, STATUS_NEEDS_RESET};
use crate::virtio::queue::DESC_F_INDIRECT;
use crate::virtio::testing::{memory, start_device, DriverQueue, Line, BUFFERS};

const DISK_SECTORS: u64 = 256;
const HEADER: u64 = BUFFERS;
const DATA: u64 = BUFFERS + 0x1000;
const STATUS: u64 = BUFFERS + 0x800;

struct Setup<S: BlockStore> {
    dev: VirtioMmio<VirtioBlock<S>>,
    queue: DriverQueue,
    mem: VecMemory,
    line: Line,
}

fn disk(read_only: bool) -> MemoryStore {
    let bytes = (0..DISK_SECTORS as usize * 512).map(|i| (i / 512) as u8).collect();
    MemoryStore::new(bytes, read_only)
}

fn setup<S: BlockStore>(store: S, features: u64) -> Setup<S> {
    let mut dev = VirtioMmio::new(VirtioBlock::new(store, b"keel-disk-0"), 50);
    let mut line = Line::default();
    let queue = start_device(&mut dev, &mut line, VIRTIO_F_VERSION_1 | features).remove(0);
    Setup { dev, queue, mem: memory(), line }
}

impl<S: BlockStore> Setup<S> {
    fn header(&mut self, kind: u32, sector: u64) {
        let mut header = [0u8; 16];
        header[..4].copy_from_slice(&kind.to_le_bytes());
        header[8..].copy_from_slice(&sector.to_le_bytes());
        self.mem.write(HEADER, &header).unwrap();
        self.mem.write(STATUS, &[0xee]).unwrap();
    }

    /// Posts a chain, runs the device, returns (used len, status byte).
    fn request(&mut self, buffers: &[(u64, u32, bool)]) -> (u32, u8) {
        let head = self.queue.add_chain(&mut self.mem, buffers);
        self.dev.write(0x050, Word, 0, &mut self.line).unwrap();
        self.dev.process(&mut self.mem, &mut self.line);
        let used = self.queue.take_used(&mut self.mem);
        assert_eq!(used.len(), 1);
        assert_eq!(used[0].0, u32::from(head));
        (used[0].1, self.mem.bytes()[(STATUS - self.mem.base()) as usize])
    }

    fn read(&mut self, sector: u64, len: u32) -> (u32, u8) {
        self.header(VIRTIO_BLK_T_IN, sector);
        self.request(&[(HEADER, 16, false), (DATA, len, true), (STATUS, 1, true)])
    }

    fn write(&mut self, sector: u64, len: u32) -> (u32, u8) {
        self.header(VIRTIO_BLK_T_OUT, sector);
        self.request(&[(HEADER, 16, false), (DATA, len, false), (STATUS, 1, true)])
    }

    fn data(&self, len: usize) -> &[u8] {
        let start = (DATA - self.mem.base()) as usize;
        &self.mem.bytes()[start..start + len]
    }
}

#[test]
fn identification_features_and_config() {
    let mut s = setup(disk(false), 0);
    assert_eq!(s.dev.read(0x008, Word, &mut s.line), Ok(2));
    assert_eq!(s.dev.device().features(), VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH);
    // Linux reads the 64-bit capacity as two 32-bit halves.
    assert_eq!(s.dev.read(0x100, Word, &mut s.line), Ok(DISK_SECTORS));
    assert_eq!(s.dev.read(0x104, Word, &mut s.line), Ok(0));
    assert_eq!(s.dev.read(0x10c, Word, &mut s.line), Ok(u64::from(SEG_MAX)));
    assert_eq!(s.dev.read(0x138, Word, &mut s.line), Ok(0), "the whole config is there");
    let s = setup(disk(true), 0);
    assert_ne!(s.dev.device().features() & VIRTIO_BLK_F_RO, 0);
}

#[test]
fn reads_and_writes_whole_sectors() {
    let mut s = setup(disk(false), 0);
    assert_eq!(s.read(3, 1024), (1025, VIRTIO_BLK_S_OK));
    assert_eq!(&s.data(1024)[..2], &[3, 3]);
    assert_eq!(s.data(1024)[512], 4);

    let pattern: Vec<u8> = (0..1536u32).map(|i| (i % 253) as u8).collect();
    s.mem.write(DATA, &pattern).unwrap();
    assert_eq!(s.write(10, 1536), (1, VIRTIO_BLK_S_OK));
    assert_eq!(&s.dev.device().store().bytes()[10 * 512..13 * 512], pattern);
    let counters = s.dev.device().counters();
    assert_eq!((counters.reads, counters.writes, counters.bytes_written, counters.failed), (1, 1, 1536, 0));
}

#[test]
fn large_requests_move_in_chunks() {
    let mut s = setup(disk(false), 0);
    let len = 3 * CHUNK_BYTES as u32 / 2;
    assert_eq!(s.read(100, len), (len + 1, VIRTIO_BLK_S_OK));
    let data = s.data(len as usize).to_vec();
    assert!(data.chunks(512).enumerate().all(|(i, sector)| sector.iter().all(|&b| b == (100 + i) as u8)));
    s.mem.write(DATA, &vec![0x5a; len as usize]).unwrap();
    assert_eq!(s.write(0, len), (1, VIRTIO_BLK_S_OK));
    assert!(s.dev.device().store().bytes()[..len as usize].iter().all(|&b| b == 0x5a));
}

#[test]
fn the_header_may_be_split_and_data_scattered() {
    let mut s = setup(disk(false), 0);
    s.header(VIRTIO_BLK_T_IN, 7);
    let buffers =
        [(HEADER, 5, false), (HEADER + 5, 11, false), (DATA + 0x800, 512, true), (DATA, 512, true), (STATUS, 1, true)];
    assert_eq!(s.request(&buffers), (1025, VIRTIO_BLK_S_OK));
    assert_eq!(s.mem.bytes()[(DATA + 0x800 - s.mem.base()) as usize], 7);
    assert_eq!(s.data(1)[0], 8);
}

#[test]
fn a_request_through_an_indirect_table_with_seg_max_segments() {
    let mut s = setup(disk(false), VIRTIO_F_INDIRECT_DESC);
    s.header(VIRTIO_BLK_T_IN, 0);
    let table = DriverQueue::new(BUFFERS + 0x4_0000, 128);
    let segments = SEG_MAX as u16;
    table.write_desc(&mut s.mem, 0, HEADER, 16, crate::virtio::queue::DESC_F_NEXT, 1);
    for i in 0..segments {
        let flags = crate::virtio::queue::DESC_F_WRITE | crate::virtio::queue::DESC_F_NEXT;
        table.write_desc(&mut s.mem, 1 + i, DATA + 512 * u64::from(i), 512, flags, 2 + i);
    }
    table.write_desc(&mut s.mem, segments + 1, STATUS, 1, crate::virtio::queue::DESC_F_WRITE, 0);
    s.queue.write_desc(&mut s.mem, 0, table.desc, 16 * (u32::from(segments) + 2), DESC_F_INDIRECT, 0);
    s.queue.publish(&mut s.mem, 0);
    s.dev.write(0x050, Word, 0, &mut s.line).unwrap();
    s.dev.process(&mut s.mem, &mut s.line);
    assert_eq!(s.queue.take_used(&mut s.mem), [(0, 512 * SEG_MAX + 1)]);
    assert_eq!(s.data(512 * SEG_MAX as usize)[512 * 125], 125);
}

#[test]
fn bad_ranges_are_io_errors() {
    let mut s = setup(disk(false), 0);
    assert_eq!(s.read(DISK_SECTORS - 1, 1024).1, VIRTIO_BLK_S_IOERR, "past the end");
    assert_eq!(s.read(u64::MAX, 512).1, VIRTIO_BLK_S_IOERR, "sector overflow");
    assert_eq!(s.read(0, 100).1, VIRTIO_BLK_S_IOERR, "not whole sectors");
    assert_eq!(s.write(DISK_SECTORS, 512).1, VIRTIO_BLK_S_IOERR);
    assert_eq!(s.read(DISK_SECTORS - 1, 512).1, VIRTIO_BLK_S_OK, "the last sector");
    assert_eq!(s.dev.device().counters().failed, 4);
    assert!(!s.dev.needs_reset(), "a bad value is not a broken request");
}

#[test]
fn a_read_only_store_refuses_writes() {
    let mut s = setup(disk(true), VIRTIO_BLK_F_RO);
    s.mem.write(DATA, &[0xff; 512]).unwrap();
    assert_eq!(s.write(0, 512).1, VIRTIO_BLK_S_IOERR);
    assert_eq!(s.dev.device().store().bytes()[0], 0);
    assert_eq!(s.read(1, 512).1, VIRTIO_BLK_S_OK);
}

#[test]
fn flush_get_id_and_unknown_types() {
    let mut s = setup(disk(false), VIRTIO_BLK_F_FLUSH);
    s.header(VIRTIO_BLK_T_FLUSH, 0);
    assert_eq!(s.request(&[(HEADER, 16, false), (STATUS, 1, true)]), (1, VIRTIO_BLK_S_OK));
    s.header(VIRTIO_BLK_T_GET_ID, 0);
    assert_eq!(s.request(&[(HEADER, 16, false), (DATA, 20, true), (STATUS, 1, true)]), (21, VIRTIO_BLK_S_OK));
    assert_eq!(&s.data(20)[..11], b"keel-disk-0");
    assert_eq!(s.data(20)[11], 0);
    s.header(13, 0); // WRITE_ZEROES, not offered
    assert_eq!(s.request(&[(HEADER, 16, false), (STATUS, 1, true)]).1, VIRTIO_BLK_S_UNSUPP);
}

/// A store whose every operation fails.
struct Broken;

impl BlockStore for Broken {
    fn sectors(&self) -> u64 {
        DISK_SECTORS
    }
    fn read_only(&self) -> bool {
        false
    }
    fn read(&mut self, _: u64, _: &mut [u8]) -> Result<(), IoError> {
        Err(IoError)
    }
    fn write(&mut self, _: u64, _: &[u8]) -> Result<(), IoError> {
        Err(IoError)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Err(IoError)
    }
}

#[test]
fn store_errors_are_io_errors() {
    let mut s = setup(Broken, 0);
    assert_eq!(s.read(0, 512).1, VIRTIO_BLK_S_IOERR);
    assert_eq!(s.write(0, 512).1, VIRTIO_BLK_S_IOERR);
    s.header(VIRTIO_BLK_T_FLUSH, 0);
    assert_eq!(s.request(&[(HEADER, 16, false), (STATUS, 1, true)]).1, VIRTIO_BLK_S_IOERR);
    assert!(!s.dev.needs_reset());
}

#[test]
fn requests_without_header_or_status_break_the_device() {
    for buffers in [
        vec![(HEADER, 8, false), (STATUS, 1, true)],
        vec![(HEADER, 16, false)],
        vec![(DATA, 512, true), (STATUS, 1, true)],
    ] {
        let mut s = setup(disk(false), 0);
        s.header(VIRTIO_BLK_T_IN, 0);
        s.queue.add_chain(&mut s.mem, &buffers);
        s.dev.write(0x050, Word, 0, &mut s.line).unwrap();
        s.dev.process(&mut s.mem, &mut s.line);
        assert_eq!(s.dev.status() & STATUS_NEEDS_RESET, STATUS_NEEDS_RESET, "{buffers:?}");
        assert!(s.queue.take_used(&mut s.mem).is_empty());
    }
}

#[test]
fn memory_store_rounds_down_and_checks_ranges() {
    let mut store = MemoryStore::new(vec![1; 1000], false);
    assert_eq!(store.sectors(), 1);
    let mut buf = [0; 512];
    assert_eq!(store.read(1, &mut buf), Err(IoError));
    assert_eq!(store.read(u64::MAX, &mut buf), Err(IoError));
    assert_eq!(store.write(0, &[2; 1024]), Err(IoError));
    assert_eq!(store.read(0, &mut buf), Ok(()));
}

/// A deferred device with one request posted and taken: (setup, chains, epoch).
fn deferred_with_read(sector: u64) -> (VirtioMmio<DeferredBlock>, DriverQueue, VecMemory, Line) {
    let mut dev = VirtioMmio::new(DeferredBlock::new(DISK_SECTORS, false, b"later"), 50);
    let mut line = Line::default();
    let mut queue = start_device(&mut dev, &mut line, VIRTIO_F_VERSION_1).remove(0);
    let mut mem = memory();
    let mut header = [0u8; 16];
    header[..4].copy_from_slice(&VIRTIO_BLK_T_IN.to_le_bytes());
    header[8..].copy_from_slice(&sector.to_le_bytes());
    mem.write(HEADER, &header).unwrap();
    queue.add_chain(&mut mem, &[(HEADER, 16, false), (DATA, 1024, true), (STATUS, 1, true)]);
    dev.write(0x050, Word, 0, &mut line).unwrap();
    dev.process(&mut mem, &mut line);
    (dev, queue, mem, line)
}

#[test]
fn a_deferred_request_completes_later_with_an_interrupt() {
    let (mut dev, mut queue, mut mem, mut line) = deferred_with_read(3);
    assert!(queue.take_used(&mut mem).is_empty(), "nothing is returned by process");
    assert!(!line.high());
    let epoch = dev.epoch();
    let chains = dev.device_mut().take_chains();
    assert_eq!(chains.len(), 1);
    let request = BlockRequest::parse(&chains[0], &mut mem, DISK_SECTORS, false).unwrap();
    assert_eq!(request.op, BlockOp::Read { sector: 3, len: 1024 });
    chains[0].write_at(&mut mem, 0, &[7; 1024]).unwrap();
    let used = request.finish(&chains[0], &mut mem, VIRTIO_BLK_S_OK, 1024).unwrap();
    assert!(dev.complete(epoch, 0, chains[0].head(), used, &mut mem, &mut line));
    assert_eq!(queue.take_used(&mut mem), [(u32::from(chains[0].head()), 1025)]);
    assert!(line.high());
    assert_eq!(mem.bytes()[(STATUS - mem.base()) as usize], VIRTIO_BLK_S_OK);
    assert_eq!(dev.counters().chains, 1);
}

#[test]
fn a_deferred_request_of_an_old_epoch_is_dropped() {
    let (mut dev, mut queue, mut mem, mut line) = deferred_with_read(0);
    let epoch = dev.epoch();
    let chains = dev.device_mut().take_chains();
    dev.write(0x070, Word, 0, &mut line).unwrap(); // reset
    assert_ne!(dev.epoch(), epoch);
    assert!(!dev.complete(epoch, 0, chains[0].head(), 1, &mut mem, &mut line));
    assert!(queue.take_used(&mut mem).is_empty());
    dev.fail(epoch, 0, RequestError::UnexpectedReadable.into(), &mut line);
    assert!(!dev.needs_reset(), "an old epoch's error is not the new driver's");
}

#[test]
fn stopping_a_queue_ends_the_epoch_and_a_late_error_breaks_the_device() {
    let (mut dev, _queue, mut mem, mut line) = deferred_with_read(0);
    let epoch = dev.epoch();
    let _ = dev.device_mut().take_chains();
    dev.fail(epoch, 0, RequestError::WritableTooShort { needed: 1, available: 0 }.into(), &mut line);
    assert!(dev.needs_reset());
    assert_eq!(dev.counters().guest_errors, 1);
    let (mut dev, _queue, _, mut line2) = deferred_with_read(0);
    let epoch = dev.epoch();
    dev.write(0x030, Word, 0, &mut line2).unwrap(); // QueueSel 0
    dev.write(0x044, Word, 0, &mut line2).unwrap(); // QueueReady 0
    assert_ne!(dev.epoch(), epoch);
    assert!(!dev.complete(epoch, 0, 0, 1, &mut mem, &mut line));
}

#[test]
fn requests_are_parsed_against_the_disk() {
    let mut mem = memory();
    let mut parse = |kind: u32, sector: u64, buffers: &[(u64, u32, bool)], read_only| {
        let mut header = [0u8; 16];
        header[..4].copy_from_slice(&kind.to_le_bytes());
        header[8..].copy_from_slice(&sector.to_le_bytes());
        mem.write(HEADER, &header).unwrap();
        let mut driver = DriverQueue::new(crate::virtio::testing::ring_base(1), 16);
        let _ = driver.add_chain(&mut mem, buffers);
        let mut ring = crate::virtio::queue::Queue::new(16);
        ring.set_size(16);
        ring.set_desc_table(driver.desc);
        ring.set_avail_ring(driver.avail);
        ring.set_used_ring(driver.used);
        ring.enable().unwrap();
        let chain = ring.pop(&mut mem).unwrap().unwrap();
        BlockRequest::parse(&chain, &mut mem, DISK_SECTORS, read_only).map(|r| r.op)
    };
    let read = [(HEADER, 16, false), (DATA, 512, true), (STATUS, 1, true)];
    let write = [(HEADER, 16, false), (DATA, 512, false), (STATUS, 1, true)];
    assert_eq!(parse(VIRTIO_BLK_T_IN, 1, &read, false), Ok(BlockOp::Read { sector: 1, len: 512 }));
    assert_eq!(parse(VIRTIO_BLK_T_IN, DISK_SECTORS, &read, false), Ok(BlockOp::Answer(VIRTIO_BLK_S_IOERR)));
    assert_eq!(parse(VIRTIO_BLK_T_OUT, 2, &write, false), Ok(BlockOp::Write { sector: 2, len: 512 }));
    assert_eq!(parse(VIRTIO_BLK_T_OUT, 2, &write, true), Ok(BlockOp::Answer(VIRTIO_BLK_S_IOERR)));
    assert_eq!(parse(99, 0, &read, false), Ok(BlockOp::Answer(VIRTIO_BLK_S_UNSUPP)));
    assert_eq!(parse(VIRTIO_BLK_T_GET_ID, 0, &read, false), Ok(BlockOp::GetId { len: 512 }));
    assert!(parse(VIRTIO_BLK_T_IN, 0, &[(HEADER, 16, false)], false).is_err());
    assert!(parse(VIRTIO_BLK_T_IN, 0, &[(HEADER, 8, false), (STATUS, 1, true)], false).is_err());
}

/// Serves one taken chain the way the kernel does, against `store`; returns the result the
/// kernel would hand to `complete` (used length) or `fail`.
fn serve_deferred(chain: &DescriptorChain, mem: &mut VecMemory, store: &mut MemoryStore) -> Result<u32, BackendError> {
    let request = BlockRequest::parse(chain, mem, store.sectors(), store.read_only())?;
    let (status, written) = match request.op {
        BlockOp::Read { sector, len } => {
            let mut buf = vec![0; len as usize];
            match store.read(sector, &mut buf) {
                Ok(()) => (VIRTIO_BLK_S_OK, chain.write_at(mem, 0, &buf)? as u32),
                Err(_) => (VIRTIO_BLK_S_IOERR, 0),
            }
        }
        BlockOp::Write { sector, len } => {
            let mut buf = vec![0; len as usize];
            chain.read_at(mem, HEADER_BYTES, &mut buf)?;
            (if store.write(sector, &buf).is_ok() { VIRTIO_BLK_S_OK } else { VIRTIO_BLK_S_IOERR }, 0)
        }
        BlockOp::Flush => (VIRTIO_BLK_S_OK, 0),
        BlockOp::GetId { len } => (VIRTIO_BLK_S_OK, chain.write_at(mem, 0, &b"fuzz"[..(len as usize).min(4)])? as u32),
        BlockOp::Answer(status) => (status, 0),
    };
    Ok(request.finish(chain, mem, status, written)?)
}

#[test]
fn deferred_requests_from_a_hostile_driver_stay_inside_guest_memory() {
    let mut rng = crate::virtio::fuzz::XorShift::new(0x6465_6665_7272_6564);
    let mut completed = 0;
    let mut broken = 0;
    for round in 0..300 {
        let read_only = rng.chance(1, 4);
        let mut dev = VirtioMmio::new(DeferredBlock::new(DISK_SECTORS, read_only, b"fuzz"), 50);
        let mut line = Line::default();
        let mut queue = start_device(&mut dev, &mut line, VIRTIO_F_VERSION_1).remove(0);
        let mut mem = memory();
        let mut store = MemoryStore::new(vec![0; DISK_SECTORS as usize * 512], read_only);
        for _ in 0..16 {
            let kind = [VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, 77][rng.below(5) as usize];
            let buffers: Vec<(u64, u32, bool)> = if rng.chance(3, 4) {
                // A well-formed request (its sector and length may still be out of range).
                let data = 512 * rng.below(9) as u32;
                let mut chain = vec![(HEADER, 16, false)];
                if data > 0 {
                    chain.push((DATA, data, kind != VIRTIO_BLK_T_OUT));
                }
                chain.push((STATUS, 1, true));
                chain
            } else {
                // Anything: buffers anywhere, of any length, in any direction.
                let count = 1 + rng.below(4) as usize;
                (0..count)
                    .map(|i| {
                        let addr = if rng.chance(1, 4) { rng.next() } else { BUFFERS + 0x2000 * i as u64 + rng.below(16) };
                        let len = if rng.chance(1, 4) { rng.next() as u32 } else { [1, 16, 512, 1024][rng.below(4) as usize] };
                        (addr, len, rng.chance(1, 2))
                    })
                    .collect()
            };
            let mut header = [0u8; 16];
            header[..4].copy_from_slice(&kind.to_le_bytes());
            header[8..].copy_from_slice(&rng.below(DISK_SECTORS + 8).to_le_bytes());
            if mem.contains(buffers[0].0, 16) {
                mem.write(buffers[0].0, &header).unwrap();
            }
            queue.add_chain(&mut mem, &buffers);
            dev.write(0x050, Word, 0, &mut line).unwrap();
            dev.process(&mut mem, &mut line);
            let epoch = dev.epoch();
            let chains = dev.device_mut().take_chains();
            let reset = rng.chance(1, 16);
            if reset {
                dev.write(0x070, Word, 0, &mut line).unwrap();
            }
            for chain in chains {
                match serve_deferred(&chain, &mut mem, &mut store) {
                    Ok(used) => completed += u32::from(dev.complete(epoch, 0, chain.head(), used, &mut mem, &mut line)),
                    Err(error) => dev.fail(epoch, 0, error, &mut line),
                }
            }
            let status = dev.read(0x060, Word, &mut Line::default()).unwrap();
            assert_eq!(line.high(), status != 0, "round {round}: the line follows InterruptStatus");
            if reset {
                assert!(!dev.needs_reset(), "round {round}: an old epoch never breaks the new driver");
                break;
            }
            if dev.needs_reset() {
                broken += 1;
                break;
            }
        }
        assert_eq!(mem.refused(), 0, "round {round}: an access outside guest memory was attempted");
    }
    assert!(completed > 100 && broken > 30, "the test reaches both outcomes: {completed} completed, {broken} broken");
}
