//! Frames in and out of a smoltcp interface: the `Link` a NIC or a switch port provides,
//! and the `phy::Device` adapter over it that counts what passes.

use alloc::vec::Vec;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Largest Ethernet frame without FCS.
pub const MTU: usize = 1514;

/// Where an interface's frames come from and go to.
pub trait Link {
    /// The next received frame, if one is there.
    fn recv(&mut self) -> Option<Vec<u8>>;
    /// Whether a frame can be sent now.
    fn can_send(&mut self) -> bool;
    /// Bytes reserved in front of each frame handed to [`Link::send`] (a virtio header).
    fn headroom(&self) -> usize {
        0
    }
    /// Sends `buffer`: [`Link::headroom`] bytes, then the frame.
    fn send(&mut self, buffer: Vec<u8>);
}

/// Packets and bytes through an interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

/// A smoltcp device over a [`Link`].
pub struct FrameDevice<L: Link> {
    pub link: L,
    pub counters: LinkCounters,
}

impl<L: Link> FrameDevice<L> {
    pub fn new(link: L) -> Self {
        Self { link, counters: LinkCounters::default() }
    }
}

pub struct Received(Vec<u8>);

pub struct Sender<'a, L: Link> {
    link: &'a mut L,
    counters: &'a mut LinkCounters,
}

impl phy::RxToken for Received {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl<L: Link> phy::TxToken for Sender<'_, L> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let headroom = self.link.headroom();
        let mut buffer = alloc::vec![0u8; headroom + len];
        let result = f(&mut buffer[headroom..]);
        self.counters.tx_packets += 1;
        self.counters.tx_bytes += len as u64;
        self.link.send(buffer);
        result
    }
}

impl<L: Link> phy::Device for FrameDevice<L> {
    type RxToken<'a>
        = Received
    where
        Self: 'a;
    type TxToken<'a>
        = Sender<'a, L>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.link.recv()?;
        self.counters.rx_packets += 1;
        self.counters.rx_bytes += frame.len() as u64;
        Some((Received(frame), Sender { link: &mut self.link, counters: &mut self.counters }))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        if !self.link.can_send() {
            return None;
        }
        Some(Sender { link: &mut self.link, counters: &mut self.counters })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(32);
        caps
    }
}
