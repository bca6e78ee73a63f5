//! virtio-net (ID 1): receiveq 0 carries frames from the host switch into the guest's
//! buffers, transmitq 1 carries the guest's frames to the host.
//!
//! Every buffer starts with the 12-byte `virtio_net_hdr` (VERSION_1, so `num_buffers` is
//! there; it is always 1, as MRG_RXBUF is not offered). No offloads are offered, so frames
//! are whole Ethernet frames of [`MIN_FRAME`]..=[`MAX_FRAME`] bytes without FCS; a frame
//! outside that range, from either side, is dropped and counted, as is a frame larger than
//! the receive buffer the guest posted. Frames for the guest wait in a bounded queue
//! ([`RX_FRAMES`]) until it posts buffers; beyond it they are dropped and counted. Frames
//! from the guest collect in a bounded queue ([`TX_FRAMES`]) the kernel drains with
//! [`VirtioNet::take_frame`]; while it is full, transmit buffers stay in the ring (the
//! guest waits) and draining resumes transmission.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::device::{queue_bit, QueueIo, VirtioDevice, DEVICE_ID_NET};
use super::error::{BackendError, RequestError};

pub const RECEIVE_QUEUE: u16 = 0;
pub const TRANSMIT_QUEUE: u16 = 1;
/// Both queues' largest size.
pub const QUEUE_SIZE: u16 = 256;
/// `virtio_net_hdr` with `num_buffers` (virtio 1.x, 5.1.6).
pub const HEADER_BYTES: usize = 12;
/// Ethernet frames without FCS: a header, at most 1500 bytes of payload.
pub const MIN_FRAME: usize = 14;
pub const MAX_FRAME: usize = 1514;
/// Frames waiting for guest receive buffers, and guest frames waiting for the host.
pub const RX_FRAMES: usize = 128;
pub const TX_FRAMES: usize = 128;

/// Device feature bits (virtio 1.x, 5.1.3).
pub const VIRTIO_NET_F_MAC: u64 = 1 << 5;
pub const VIRTIO_NET_F_STATUS: u64 = 1 << 16;
/// `status` in the config space: the link is up.
pub const VIRTIO_NET_S_LINK_UP: u16 = 1;

/// Config: mac[6], status u16.
const CONFIG_BYTES: usize = 8;

/// What went through the device, for `vm stats` and the switch's view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetCounters {
    /// Frames (and their bytes) delivered into guest buffers.
    pub rx_frames: u64,
    pub rx_bytes: u64,
    /// Frames for the guest dropped: the waiting queue was full, the frame's size was
    /// invalid, or the posted buffer was too small for it.
    pub rx_dropped: u64,
    /// Frames (and bytes) the guest sent that the host got.
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Guest frames dropped: shorter than a header plus an Ethernet header, or longer than
    /// a header plus [`MAX_FRAME`].
    pub tx_dropped: u64,
}

/// The network device.
pub struct VirtioNet {
    config: [u8; CONFIG_BYTES],
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
    counters: NetCounters,
    /// Transmission stopped for a full transmit queue.
    transmit_paused: bool,
    /// Queues with host work: frames arrived, or room again after a pause.
    host_work: u32,
}

impl VirtioNet {
    /// A device with this MAC address; the link is up.
    pub fn new(mac: [u8; 6]) -> Self {
        let mut config = [0u8; CONFIG_BYTES];
        config[..6].copy_from_slice(&mac);
        config[6..].copy_from_slice(&VIRTIO_NET_S_LINK_UP.to_le_bytes());
        Self {
            config,
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            counters: NetCounters::default(),
            transmit_paused: false,
            host_work: 0,
        }
    }

    pub fn mac(&self) -> [u8; 6] {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&self.config[..6]);
        mac
    }

    /// Queues a frame for the guest; false when it was dropped (invalid size, no room).
    /// Then check the transport's `needs_processing`.
    pub fn push_frame(&mut self, frame: &[u8]) -> bool {
        if !(MIN_FRAME..=MAX_FRAME).contains(&frame.len()) || self.rx.len() >= RX_FRAMES {
            self.counters.rx_dropped += 1;
            return false;
        }
        self.rx.push_back(frame.to_vec());
        self.host_work |= queue_bit(RECEIVE_QUEUE);
        true
    }

    /// Frames [`VirtioNet::push_frame`] would still take.
    pub fn rx_room(&self) -> usize {
        RX_FRAMES - self.rx.len()
    }

    /// The next frame the guest sent. Resumes a paused transmission (check the transport's
    /// `needs_processing`).
    pub fn take_frame(&mut self) -> Option<Vec<u8>> {
        let frame = self.tx.pop_front();
        if self.transmit_paused {
            self.transmit_paused = false;
            self.host_work |= queue_bit(TRANSMIT_QUEUE);
        }
        frame
    }

    pub fn counters(&self) -> NetCounters {
        self.counters
    }

    fn receive(&mut self, io: &mut QueueIo<'_>) -> Result<(), BackendError> {
        while let Some(frame) = self.rx.front() {
            let Some(chain) = io.pop()? else { break };
            if chain.readable_len() != 0 {
                return Err(RequestError::UnexpectedReadable.into());
            }
            let needed = HEADER_BYTES + frame.len();
            if (chain.writable_len() as usize) < needed {
                // A driver that posts small buffers gets nothing it could not hold: the
                // frame is dropped and the buffer comes back empty.
                self.counters.rx_dropped += 1;
                self.rx.pop_front();
                io.add_used(chain, 0)?;
                continue;
            }
            let mut header = [0u8; HEADER_BYTES];
            header[10..12].copy_from_slice(&1u16.to_le_bytes()); // num_buffers
            io.write(&chain, 0, &header)?;
            io.write(&chain, HEADER_BYTES as u32, frame)?;
            self.counters.rx_frames += 1;
            self.counters.rx_bytes += frame.len() as u64;
            self.rx.pop_front();
            io.add_used(chain, needed as u32)?;
        }
        Ok(())
    }

    fn transmit(&mut self, io: &mut QueueIo<'_>) -> Result<(), BackendError> {
        loop {
            if self.tx.len() >= TX_FRAMES {
                self.transmit_paused = true;
                return Ok(());
            }
            let Some(chain) = io.pop()? else { return Ok(()) };
            if chain.writable_len() != 0 {
                return Err(RequestError::UnexpectedWritable.into());
            }
            let len = chain.readable_len() as usize;
            if !(HEADER_BYTES + MIN_FRAME..=HEADER_BYTES + MAX_FRAME).contains(&len) {
                self.counters.tx_dropped += 1;
                io.add_used(chain, 0)?;
                continue;
            }
            // The header asks for no offload (none was offered): only the frame matters.
            let mut frame = alloc::vec![0u8; len - HEADER_BYTES];
            io.read_exact(&chain, HEADER_BYTES as u32, &mut frame)?;
            self.counters.tx_frames += 1;
            self.counters.tx_bytes += frame.len() as u64;
            self.tx.push_back(frame);
            io.add_used(chain, 0)?;
        }
    }
}

impl VirtioDevice for VirtioNet {
    fn name(&self) -> &'static str {
        "virtio-net"
    }

    fn device_id(&self) -> u32 {
        DEVICE_ID_NET
    }

    fn features(&self) -> u64 {
        VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE, QUEUE_SIZE]
    }

    fn config(&self) -> &[u8] {
        &self.config
    }

    fn reset(&mut self) {
        // Queued frames are the host's (bounded); only the transmit pause was the guest's.
        self.transmit_paused = false;
        self.host_work = if self.rx.is_empty() { 0 } else { queue_bit(RECEIVE_QUEUE) };
    }

    fn host_work(&self) -> u32 {
        self.host_work
    }

    fn process_queue(&mut self, queue: u16, io: &mut QueueIo<'_>) -> Result<(), BackendError> {
        self.host_work &= !queue_bit(queue);
        match queue {
            RECEIVE_QUEUE => self.receive(io),
            TRANSMIT_QUEUE => self.transmit(io),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
