//! virtio-blk (ID 2) over a synchronous [`BlockStore`] of 512-byte sectors: read, write,
//! flush and get-ID requests on one request queue.
//!
//! A request is a 16-byte device-readable header (type u32, reserved u32, sector u64), the
//! data (device-readable for writes, device-writable for reads) and a status byte, the last
//! device-writable byte. A chain without room for the header or the status byte is a
//! broken request (the device needs a reset); a request the store cannot serve (sectors
//! past the end, a length that is not whole sectors, a write to a read-only store, an I/O
//! error) completes with VIRTIO_BLK_S_IOERR, and an unknown type with VIRTIO_BLK_S_UNSUPP.

mod deferred;
mod request;
#[cfg(test)]
mod tests;

pub use deferred::DeferredBlock;
pub use request::{range_ok, BlockOp, BlockRequest, HEADER_BYTES};

use alloc::vec;
use alloc::vec::Vec;

use super::device::{QueueIo, VirtioDevice, DEVICE_ID_BLOCK};
use super::error::BackendError;
use super::queue::DescriptorChain;

pub const SECTOR_BYTES: u32 = 512;
/// The request queue's largest size.
pub const QUEUE_SIZE: u16 = 128;
/// Data segments per request the driver may use (the header and status take two more
/// descriptors, so a request fits in the ring without indirect descriptors).
pub const SEG_MAX: u32 = QUEUE_SIZE as u32 - 2;
/// Bytes moved between guest memory and the store at a time.
const CHUNK_BYTES: usize = 64 * SECTOR_BYTES as usize;

pub const VIRTIO_BLK_F_SEG_MAX: u64 = 1 << 2;
pub const VIRTIO_BLK_F_RO: u64 = 1 << 5;
pub const VIRTIO_BLK_F_FLUSH: u64 = 1 << 9;

pub const VIRTIO_BLK_T_IN: u32 = 0;
pub const VIRTIO_BLK_T_OUT: u32 = 1;
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;

pub const VIRTIO_BLK_S_OK: u8 = 0;
pub const VIRTIO_BLK_S_IOERR: u8 = 1;
pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;

/// GET_ID answers with up to this many bytes.
pub const ID_BYTES: usize = 20;
/// The whole virtio_blk_config (through write_zeroes_may_unmap and padding).
const CONFIG_BYTES: usize = 60;

/// The configuration space of a disk of `sectors` (capacity and SEG_MAX).
fn config_for(sectors: u64) -> [u8; CONFIG_BYTES] {
    let mut config = [0; CONFIG_BYTES];
    config[..8].copy_from_slice(&sectors.to_le_bytes());
    config[12..16].copy_from_slice(&SEG_MAX.to_le_bytes());
    config
}

/// The features a disk offers.
fn features_for(read_only: bool) -> u64 {
    VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH | if read_only { VIRTIO_BLK_F_RO } else { 0 }
}

/// The store could not do it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoError;

/// What a virtio-blk device stores its sectors in; the kernel implements it (a host disk,
/// a file, memory). Buffers are whole sectors; the device checks ranges first.
pub trait BlockStore: Send {
    /// The size in 512-byte sectors.
    fn sectors(&self) -> u64;

    /// Whether writes are refused (the device then offers VIRTIO_BLK_F_RO).
    fn read_only(&self) -> bool;

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoError>;

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), IoError>;

    /// Makes earlier writes durable.
    fn flush(&mut self) -> Result<(), IoError>;
}

/// A store in memory (a RAM disk, and the tests' disk).
pub struct MemoryStore {
    bytes: Vec<u8>,
    read_only: bool,
}

impl MemoryStore {
    /// `bytes`, rounded down to whole sectors.
    pub fn new(mut bytes: Vec<u8>, read_only: bool) -> Self {
        bytes.truncate(bytes.len() - bytes.len() % SECTOR_BYTES as usize);
        Self { bytes, read_only }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn range(&self, sector: u64, len: usize) -> Result<core::ops::Range<usize>, IoError> {
        let start = usize::try_from(sector).ok().and_then(|s| s.checked_mul(SECTOR_BYTES as usize)).ok_or(IoError)?;
        let end = start.checked_add(len).filter(|&end| end <= self.bytes.len()).ok_or(IoError)?;
        Ok(start..end)
    }
}

impl BlockStore for MemoryStore {
    fn sectors(&self) -> u64 {
        (self.bytes.len() / SECTOR_BYTES as usize) as u64
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let range = self.range(sector, buf.len())?;
        buf.copy_from_slice(self.bytes.get(range).ok_or(IoError)?);
        Ok(())
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), IoError> {
        if self.read_only {
            return Err(IoError);
        }
        let range = self.range(sector, data.len())?;
        self.bytes.get_mut(range).ok_or(IoError)?.copy_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

/// Requests served, by outcome, for statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockCounters {
    pub reads: u64,
    pub writes: u64,
    pub flushes: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Requests answered with IOERR or UNSUPP.
    pub failed: u64,
}

/// The block device.
pub struct VirtioBlock<S: BlockStore> {
    store: S,
    config: [u8; CONFIG_BYTES],
    id: [u8; ID_BYTES],
    counters: BlockCounters,
    chunk: Vec<u8>,
}

impl<S: BlockStore> VirtioBlock<S> {
    /// A device over `store`; `id` (at most 20 bytes are used) is what GET_ID answers, the
    /// disk's serial number in the guest.
    pub fn new(store: S, id: &[u8]) -> Self {
        let config = config_for(store.sectors());
        let mut serial = [0; ID_BYTES];
        let len = id.len().min(ID_BYTES);
        serial[..len].copy_from_slice(&id[..len]);
        Self { store, config, id: serial, counters: BlockCounters::default(), chunk: vec![0; CHUNK_BYTES] }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn counters(&self) -> BlockCounters {
        self.counters
    }

    /// Serves one request; returns the bytes written to its writable part.
    fn serve(&mut self, io: &mut QueueIo<'_>, chain: &DescriptorChain) -> Result<u32, BackendError> {
        let request = BlockRequest::parse(chain, io.memory(), self.store.sectors(), self.store.read_only())?;
        let (status, written) = match request.op {
            BlockOp::Read { sector, len } => self.read(io, chain, sector, len)?,
            BlockOp::Write { sector, len } => (self.write(io, chain, sector, len)?, 0),
            BlockOp::Flush => {
                self.counters.flushes += 1;
                (if self.store.flush().is_ok() { VIRTIO_BLK_S_OK } else { VIRTIO_BLK_S_IOERR }, 0)
            }
            BlockOp::GetId { len } => {
                let id = self.id;
                let len = (len as usize).min(ID_BYTES);
                (VIRTIO_BLK_S_OK, io.write(chain, 0, id.get(..len).unwrap_or_default())? as u32)
            }
            BlockOp::Answer(status) => (status, 0),
        };
        if status != VIRTIO_BLK_S_OK {
            self.counters.failed += 1;
        }
        Ok(request.finish(chain, io.memory(), status, written)?)
    }

    /// VIRTIO_BLK_T_IN of a checked range: sectors into the writable part.
    fn read(
        &mut self,
        io: &mut QueueIo<'_>,
        chain: &DescriptorChain,
        sector: u64,
        len: u32,
    ) -> Result<(u8, u32), BackendError> {
        self.counters.reads += 1;
        let mut done = 0u32;
        while done < len {
            let count = ((len - done) as usize).min(CHUNK_BYTES);
            let buf = self.chunk.get_mut(..count).unwrap_or_default();
            if self.store.read(sector + u64::from(done / SECTOR_BYTES), buf).is_err() {
                return Ok((VIRTIO_BLK_S_IOERR, done));
            }
            io.write(chain, done, buf)?;
            done += count as u32;
        }
        self.counters.bytes_read += u64::from(len);
        Ok((VIRTIO_BLK_S_OK, len))
    }

    /// VIRTIO_BLK_T_OUT of a checked range: the readable part after the header into sectors.
    fn write(&mut self, io: &mut QueueIo<'_>, chain: &DescriptorChain, sector: u64, len: u32) -> Result<u8, BackendError> {
        self.counters.writes += 1;
        let mut done = 0u32;
        while done < len {
            let count = ((len - done) as usize).min(CHUNK_BYTES);
            let buf = self.chunk.get_mut(..count).unwrap_or_default();
            io.read_exact(chain, HEADER_BYTES + done, buf)?;
            if self.store.write(sector + u64::from(done / SECTOR_BYTES), buf).is_err() {
                return Ok(VIRTIO_BLK_S_IOERR);
            }
            done += count as u32;
        }
        self.counters.bytes_written += u64::from(len);
        Ok(VIRTIO_BLK_S_OK)
    }
}

impl<S: BlockStore> VirtioDevice for VirtioBlock<S> {
    fn name(&self) -> &'static str {
        "virtio-blk"
    }

    fn device_id(&self) -> u32 {
        DEVICE_ID_BLOCK
    }

    fn features(&self) -> u64 {
        features_for(self.store.read_only())
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn config(&self) -> &[u8] {
        &self.config
    }

    fn reset(&mut self) {}

    fn process_queue(&mut self, _queue: u16, io: &mut QueueIo<'_>) -> Result<(), BackendError> {
        while let Some(chain) = io.pop()? {
            let written = self.serve(io, &chain)?;
            io.add_used(chain, written)?;
        }
        Ok(())
    }
}
