//! virtio-blk whose disk I/O completes later: `process_queue` only takes the guest's
//! chains; the kernel serves each one asynchronously (parse with [`BlockRequest`], move the
//! data between guest memory and its disk, write the status) and returns it with
//! `VirtioMmio::complete` in the epoch it was taken in.

use alloc::vec::Vec;

use super::{config_for, features_for, BlockCounters, CONFIG_BYTES, ID_BYTES, QUEUE_SIZE};
use crate::virtio::device::{QueueIo, VirtioDevice, DEVICE_ID_BLOCK};
use crate::virtio::error::BackendError;
use crate::virtio::queue::DescriptorChain;

/// The block device of a disk the kernel reaches asynchronously.
pub struct DeferredBlock {
    sectors: u64,
    read_only: bool,
    config: [u8; CONFIG_BYTES],
    id: [u8; ID_BYTES],
    /// Chains taken from the request queue and not yet handed to the kernel.
    taken: Vec<DescriptorChain>,
    counters: BlockCounters,
}

impl DeferredBlock {
    /// A disk of `sectors` 512-byte sectors; `id` (at most 20 bytes) is its serial number.
    pub fn new(sectors: u64, read_only: bool, id: &[u8]) -> Self {
        let mut serial = [0; ID_BYTES];
        let len = id.len().min(ID_BYTES);
        serial[..len].copy_from_slice(&id[..len]);
        Self {
            sectors,
            read_only,
            config: config_for(sectors),
            id: serial,
            taken: Vec::new(),
            counters: BlockCounters::default(),
        }
    }

    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The serial number GET_ID answers (NUL-padded).
    pub fn id(&self) -> &[u8; ID_BYTES] {
        &self.id
    }

    /// The chains taken since the last call, oldest first: serve them, then complete each
    /// one with the transport's epoch read under the same lock as this call.
    pub fn take_chains(&mut self) -> Vec<DescriptorChain> {
        core::mem::take(&mut self.taken)
    }

    pub fn counters(&self) -> BlockCounters {
        self.counters
    }

    /// For the kernel to count what it served.
    pub fn counters_mut(&mut self) -> &mut BlockCounters {
        &mut self.counters
    }
}

impl VirtioDevice for DeferredBlock {
    fn name(&self) -> &'static str {
        "virtio-blk"
    }

    fn device_id(&self) -> u32 {
        DEVICE_ID_BLOCK
    }

    fn features(&self) -> u64 {
        features_for(self.read_only)
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn config(&self) -> &[u8] {
        &self.config
    }

    fn reset(&mut self) {
        // Chains of the old epoch are not served.
        self.taken.clear();
    }

    fn process_queue(&mut self, _queue: u16, io: &mut QueueIo<'_>) -> Result<(), BackendError> {
        while let Some(chain) = io.pop()? {
            self.taken.push(chain);
        }
        Ok(())
    }
}
