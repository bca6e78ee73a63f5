//! What a guest can do wrong to a virtio device, as typed errors.
//!
//! Two kinds: transport misuse (a register written at the wrong time or with a value the
//! device cannot take) is ignored and counted; a broken queue or request (anything wrong in
//! guest memory) additionally puts the device in NEEDS_RESET. See `docs/virtio.md`.

use super::memory::MemoryError;

/// A part of a split virtqueue in guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingArea {
    DescriptorTable,
    AvailRing,
    UsedRing,
}

/// A queue the driver configured wrongly, or a ring or chain it filled wrongly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// QueueNum is zero, not a power of two, or above QueueNumMax.
    SizeInvalid { size: u16, max: u16 },
    /// A ring address is not aligned as the spec requires (16, 2, 4 bytes).
    Misaligned { area: RingArea, ipa: u64 },
    /// A ring does not lie entirely in guest memory.
    RingOutsideMemory { area: RingArea, ipa: u64 },
    /// The available index ran more than a queue's worth ahead of what the device consumed.
    AvailIndexJump { avail_idx: u16, consumed: u16 },
    /// A head index in the available ring is not a descriptor.
    HeadOutOfRange { head: u16, size: u16 },
    /// A NEXT link leaves the table it is in.
    NextOutOfRange { next: u16, table_len: u32 },
    /// More descriptors than the table holds: a loop.
    ChainTooLong { limit: u32 },
    /// INDIRECT without VIRTIO_F_INDIRECT_DESC negotiated.
    IndirectNotNegotiated,
    /// INDIRECT together with NEXT.
    IndirectWithNext,
    /// INDIRECT inside an indirect table.
    NestedIndirect,
    /// An indirect table whose length is zero, not a multiple of 16 or too large.
    IndirectTableLength { len: u32 },
    /// A device-readable descriptor after a device-writable one.
    ReadableAfterWritable,
    /// The buffers of one chain add up to more than [`super::queue::MAX_CHAIN_BYTES`].
    ChainTooLarge,
    /// A buffer (or indirect table) outside guest memory, or wrapping around.
    BufferOutsideMemory { ipa: u64, len: u64 },
    /// Guest memory refused an access the checks had admitted.
    Memory(MemoryError),
}

impl From<MemoryError> for QueueError {
    fn from(error: MemoryError) -> Self {
        Self::Memory(error)
    }
}

/// A request whose buffers do not have the layout the device type prescribes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Fewer device-readable bytes than the request needs.
    ReadableTooShort {
        needed: u32,
        available: u32,
    },
    /// Fewer device-writable bytes than the request needs.
    WritableTooShort {
        needed: u32,
        available: u32,
    },
    /// Device-writable buffers in a request that must only be read (or the reverse).
    UnexpectedWritable,
    UnexpectedReadable,
}

/// Transport registers used against the rules; the write is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// FEATURES_OK with features the device did not offer (the bits that are extra).
    FeaturesNotOffered { extra: u64 },
    /// FEATURES_OK without VIRTIO_F_VERSION_1 (a legacy driver on a modern transport).
    Version1NotAccepted,
    /// A Status write that clears bits, or sets them out of order.
    StatusTransition { from: u32, to: u32 },
    /// DriverFeatures written after FEATURES_OK.
    FeaturesAfterFeaturesOk,
    /// A queue register written while that queue is ready.
    QueueChangedWhileReady { queue: u32 },
    /// A queue register written, or notified, while QueueSel names no queue.
    NoSuchQueue { queue: u32 },
    /// A config space access beyond the device's config.
    ConfigOutOfRange { offset: u64 },
    /// A config write the device does not accept (read-only field).
    ConfigWriteRefused { offset: u64 },
}

/// Anything a guest did wrong to a device: what `take_first_error` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestError {
    Transport(TransportError),
    /// A queue's configuration or contents; the device needs a reset.
    Queue {
        queue: u16,
        error: QueueError,
    },
    /// A request's layout; the device needs a reset.
    Request {
        queue: u16,
        error: RequestError,
    },
}

impl GuestError {
    /// Whether the device must stop and ask for a reset (DEVICE_NEEDS_RESET).
    pub fn needs_reset(&self) -> bool {
        !matches!(self, Self::Transport(_))
    }
}

/// What a backend's queue handler can fail with (the transport adds the queue index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendError {
    Queue(QueueError),
    Request(RequestError),
}

impl From<QueueError> for BackendError {
    fn from(error: QueueError) -> Self {
        Self::Queue(error)
    }
}

impl From<RequestError> for BackendError {
    fn from(error: RequestError) -> Self {
        Self::Request(error)
    }
}

impl BackendError {
    /// The error as the transport reports it for `queue`.
    pub fn on_queue(self, queue: u16) -> GuestError {
        match self {
            Self::Queue(error) => GuestError::Queue { queue, error },
            Self::Request(error) => GuestError::Request { queue, error },
        }
    }
}
