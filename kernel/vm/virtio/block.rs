//! A guest disk request served against its extent of the host disk: the data moves
//! between guest memory and the host disk in chunks, each an awaited host-disk request,
//! then the chain goes back to the guest in the epoch it was taken in.

use super::{GuestDevice, VgicSink, VirtioSlot};
use crate::disk::store::Attachment;
use crate::virtio::blk::Op;
use crate::vm::machine::{Running, Vm};
use crate::vm::memory::DeviceMemory;
use alloc::vec;
use keel_vmm::virtio::block::{BlockOp, BlockRequest, HEADER_BYTES, ID_BYTES, SECTOR_BYTES, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK};
use keel_vmm::virtio::error::BackendError;
use keel_vmm::virtio::queue::DescriptorChain;

/// Bytes moved per host-disk request.
const CHUNK_BYTES: u32 = 256 * 1024;

/// What serving one request did, for the counters.
#[derive(Default)]
struct Served {
    status: u8,
    /// Bytes of data written into the chain.
    written: u32,
    bytes_read: u64,
    bytes_written: u64,
}

/// Moves the request's data; a guest-memory failure is the guest's error.
async fn run(
    request: &BlockRequest,
    chain: &DescriptorChain,
    memory: &mut DeviceMemory<'_>,
    disk: &Attachment,
) -> Result<Served, BackendError> {
    let mut served = Served { status: VIRTIO_BLK_S_OK, ..Served::default() };
    let sector_of = |sector: u64, done: u32| disk.start + sector + u64::from(done / SECTOR_BYTES);
    match request.op {
        BlockOp::Read { sector, len } => {
            let mut buffer = vec![0u8; len.min(CHUNK_BYTES) as usize];
            let mut done = 0;
            while done < len {
                let count = (len - done).min(CHUNK_BYTES) as usize;
                buffer.resize(count, 0);
                let (result, back) = disk.disk.submit(Op::Read, sector_of(sector, done), buffer).await;
                buffer = back;
                if result.is_err() {
                    served.status = VIRTIO_BLK_S_IOERR;
                    break;
                }
                chain.write_at(memory, done, &buffer)?;
                done += count as u32;
            }
            served.written = done;
            served.bytes_read = u64::from(done);
        }
        BlockOp::Write { sector, len } => {
            let mut buffer = vec![0u8; len.min(CHUNK_BYTES) as usize];
            let mut done = 0;
            while done < len {
                let count = (len - done).min(CHUNK_BYTES) as usize;
                buffer.resize(count, 0);
                let got = chain.read_at(memory, HEADER_BYTES + done, &mut buffer)?;
                if got < count {
                    return Err(keel_vmm::virtio::error::RequestError::ReadableTooShort {
                        needed: HEADER_BYTES + done + count as u32,
                        available: chain.readable_len(),
                    }
                    .into());
                }
                let (result, back) = disk.disk.submit(Op::Write, sector_of(sector, done), buffer).await;
                buffer = back;
                if result.is_err() {
                    served.status = VIRTIO_BLK_S_IOERR;
                    break;
                }
                done += count as u32;
            }
            served.bytes_written = u64::from(done);
        }
        BlockOp::Flush => {
            if disk.disk.submit(Op::Flush, 0, vec![]).await.0.is_err() {
                served.status = VIRTIO_BLK_S_IOERR;
            }
        }
        BlockOp::GetId { len } => {
            let mut id = [0u8; ID_BYTES];
            let name = disk.name.as_bytes();
            let n = name.len().min(ID_BYTES);
            id[..n].copy_from_slice(&name[..n]);
            served.written = chain.write_at(memory, 0, &id[..(len as usize).min(ID_BYTES)])? as u32;
        }
        BlockOp::Answer(status) => served.status = status,
    }
    Ok(served)
}

/// Serves `chain` (taken in `epoch`) and returns it to the guest.
pub async fn serve_chain(vm: &Vm, running: &Running, slot: &VirtioSlot, disk: &Attachment, chain: DescriptorChain, epoch: u64) {
    let mut memory = DeviceMemory(&running.ram);
    let outcome = match BlockRequest::parse(&chain, &mut memory, disk.sectors, disk.read_only) {
        Ok(request) => match run(&request, &chain, &mut memory, disk).await {
            Ok(served) => request
                .finish(&chain, &mut memory, served.status, served.written)
                .map(|used| (request.op, served, used))
                .map_err(BackendError::from),
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    let mut sink = VgicSink::new(&running.devices);
    {
        let mut device = slot.device.lock();
        let GuestDevice::Block(block) = &mut *device else { return };
        match outcome {
            Ok((op, served, used)) => {
                let counters = block.device_mut().counters_mut();
                match op {
                    BlockOp::Read { .. } => counters.reads += 1,
                    BlockOp::Write { .. } => counters.writes += 1,
                    BlockOp::Flush => counters.flushes += 1,
                    _ => {}
                }
                counters.bytes_read += served.bytes_read;
                counters.bytes_written += served.bytes_written;
                if served.status != VIRTIO_BLK_S_OK {
                    counters.failed += 1;
                }
                let mut bytes = slot.bytes.lock();
                bytes.0 += served.bytes_read;
                bytes.1 += served.bytes_written;
                drop(bytes);
                block.complete(epoch, 0, chain.head(), used, &mut memory, &mut sink);
            }
            Err(error) => block.fail(epoch, 0, error, &mut sink),
        }
        slot.report_errors(vm, &mut device);
    }
    super::super::vcpu::kick_mask(vm, sink.kicks);
}
