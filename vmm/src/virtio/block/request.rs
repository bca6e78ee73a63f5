//! One virtio-blk request as read from its chain: what it asks for, checked against the
//! disk, and where its status byte goes. Shared by the synchronous device and by backends
//! whose I/O completes later.

use super::{
    SECTOR_BYTES, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN,
    VIRTIO_BLK_T_OUT,
};
use crate::virtio::error::{BackendError, QueueError, RequestError};
use crate::virtio::memory::GuestMemory;
use crate::virtio::queue::DescriptorChain;

/// The request header's size (type u32, reserved u32, sector u64).
pub const HEADER_BYTES: u32 = 16;

/// What a request asks the disk for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockOp {
    /// `len` bytes from `sector` into the writable part, before the status byte.
    Read { sector: u64, len: u32 },
    /// The `len` readable bytes after the header to `sector`.
    Write { sector: u64, len: u32 },
    Flush,
    /// The disk's ID into the first `len` writable bytes.
    GetId { len: u32 },
    /// Nothing to do but answer with this status: a range outside the disk or not whole
    /// sectors, a write to a read-only disk, an unknown type.
    Answer(u8),
}

/// A parsed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRequest {
    pub op: BlockOp,
    /// Offset of the status byte in the writable part (its last byte).
    pub status_offset: u32,
}

/// Whether [sector, sector + len / 512) are whole sectors inside a disk of `sectors`.
pub fn range_ok(sectors: u64, sector: u64, len: u32) -> bool {
    len.is_multiple_of(SECTOR_BYTES)
        && sector.checked_add(u64::from(len / SECTOR_BYTES)).is_some_and(|end| end <= sectors)
}

impl BlockRequest {
    /// Reads the header of `chain` and decides what the request is for a disk of `sectors`
    /// (read-only or not). A chain without a whole header or without a status byte is a
    /// broken request.
    pub fn parse(
        chain: &DescriptorChain,
        mem: &mut dyn GuestMemory,
        sectors: u64,
        read_only: bool,
    ) -> Result<Self, BackendError> {
        let mut header = [0u8; HEADER_BYTES as usize];
        let got = chain.read_at(mem, 0, &mut header)?;
        if got < header.len() {
            return Err(RequestError::ReadableTooShort { needed: HEADER_BYTES, available: chain.readable_len() }.into());
        }
        let writable = chain.writable_len();
        if writable == 0 {
            return Err(RequestError::WritableTooShort { needed: 1, available: 0 }.into());
        }
        let [t0, t1, t2, t3, _, _, _, _, s0, s1, s2, s3, s4, s5, s6, s7] = header;
        let kind = u32::from_le_bytes([t0, t1, t2, t3]);
        let sector = u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7]);
        let status_offset = writable - 1;
        let op = match kind {
            VIRTIO_BLK_T_IN if range_ok(sectors, sector, status_offset) => BlockOp::Read { sector, len: status_offset },
            VIRTIO_BLK_T_OUT => {
                let len = chain.readable_len().saturating_sub(HEADER_BYTES);
                if read_only || !range_ok(sectors, sector, len) {
                    BlockOp::Answer(VIRTIO_BLK_S_IOERR)
                } else {
                    BlockOp::Write { sector, len }
                }
            }
            VIRTIO_BLK_T_IN => BlockOp::Answer(VIRTIO_BLK_S_IOERR),
            VIRTIO_BLK_T_FLUSH => BlockOp::Flush,
            VIRTIO_BLK_T_GET_ID => BlockOp::GetId { len: status_offset },
            _ => BlockOp::Answer(VIRTIO_BLK_S_UNSUPP),
        };
        Ok(Self { op, status_offset })
    }

    /// Writes the status byte; returns the used length to report (`data_written` bytes of
    /// data and the status byte).
    pub fn finish(
        &self,
        chain: &DescriptorChain,
        mem: &mut dyn GuestMemory,
        status: u8,
        data_written: u32,
    ) -> Result<u32, QueueError> {
        chain.write_at(mem, self.status_offset, &[status])?;
        Ok(data_written.min(self.status_offset) + 1)
    }
}
