//! The host NIC: a virtio-net device (QEMU's user network) driven with virtio-drivers'
//! `VirtIONetRaw`, as the `Link` of the `wan` interface. Interrupt-driven: the device's
//! INTID fires the network task's waker; the task acknowledges the interrupt and takes
//! what the queues have.

use super::{Found, KeelHal};
use crate::net::link::Link;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::mmio::MmioTransport;

const QUEUE_SIZE: usize = 64;
/// Receive buffers kept posted: header + the largest frame, rounded up.
const RX_BUFFERS: usize = 32;
const RX_BUFFER_BYTES: usize = 2048;
/// The virtio_net_hdr in front of every frame (VERSION_1).
const HEADER_BYTES: usize = 12;

pub struct Nic {
    raw: VirtIONetRaw<KeelHal, MmioTransport<'static>, QUEUE_SIZE>,
    /// Posted receive buffers by token.
    rx: BTreeMap<u16, Box<[u8]>>,
    /// Frames handed to the device by token (kept until it has read them).
    tx: BTreeMap<u16, Vec<u8>>,
    pub mac: [u8; 6],
    pub intid: Option<u32>,
    /// Frames the device gave that were unusable, and buffers that could not be posted.
    pub errors: u64,
}

// SAFETY: the driver owns its queues, buffers and MMIO transport; moving it to another CPU
// moves that ownership. Only the network task uses it.
unsafe impl Send for Nic {}

impl Nic {
    fn new(found: Found) -> Result<Self, virtio_drivers::Error> {
        let raw = VirtIONetRaw::new(found.transport)?;
        let mac = raw.mac_address();
        let mut nic = Self { raw, rx: BTreeMap::new(), tx: BTreeMap::new(), mac, intid: found.device.intid, errors: 0 };
        for _ in 0..RX_BUFFERS {
            nic.post_rx(alloc::vec![0u8; RX_BUFFER_BYTES].into_boxed_slice());
        }
        nic.raw.enable_interrupts();
        Ok(nic)
    }

    fn post_rx(&mut self, mut buffer: Box<[u8]>) {
        // SAFETY: the buffer is kept in `self.rx` under its token, untouched, until
        // `receive_complete` returns it; it lives on the heap, so moving the Box keeps it
        // where the device writes.
        match unsafe { self.raw.receive_begin(&mut buffer) } {
            Ok(token) => {
                self.rx.insert(token, buffer);
            }
            Err(error) => {
                self.errors += 1;
                log::warn!("virtio-net: receive buffer not posted: {error}");
            }
        }
    }

    /// Frees the buffers of finished transmissions.
    fn reclaim_tx(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let Some(buffer) = self.tx.remove(&token) else {
                log::warn!("virtio-net: unknown transmit token {token}");
                return;
            };
            // SAFETY: the same buffer `transmit_begin` got with this token.
            if let Err(error) = unsafe { self.raw.transmit_complete(token, &buffer) } {
                log::warn!("virtio-net: transmit: {error}");
            }
        }
    }

    /// Acknowledges the device's interrupt (call before looking at the queues, so that
    /// what comes later raises a new edge).
    pub fn ack(&mut self) {
        self.raw.ack_interrupt();
    }
}

impl Link for Nic {
    fn recv(&mut self) -> Option<Vec<u8>> {
        loop {
            let token = self.raw.poll_receive()?;
            let Some(mut buffer) = self.rx.remove(&token) else {
                log::warn!("virtio-net: unknown receive token {token}");
                return None;
            };
            // SAFETY: the same buffer `receive_begin` got with this token.
            let result = unsafe { self.raw.receive_complete(token, &mut buffer) };
            let frame = match result {
                Ok((header, len)) => buffer.get(header..header + len).map(<[u8]>::to_vec),
                Err(_) => None,
            };
            self.post_rx(buffer);
            match frame {
                Some(frame) => return Some(frame),
                None => self.errors += 1,
            }
        }
    }

    fn can_send(&mut self) -> bool {
        self.reclaim_tx();
        self.raw.can_send()
    }

    fn headroom(&self) -> usize {
        HEADER_BYTES
    }

    fn send(&mut self, mut buffer: Vec<u8>) {
        if self.raw.fill_buffer_header(&mut buffer).is_err() {
            return;
        }
        // SAFETY: the buffer is kept in `self.tx` under its token, untouched, until
        // `transmit_complete`; its heap storage does not move when the Vec does.
        match unsafe { self.raw.transmit_begin(&buffer) } {
            Ok(token) => {
                self.tx.insert(token, buffer);
            }
            Err(error) => {
                self.errors += 1;
                log::debug!("virtio-net: frame not sent: {error}");
            }
        }
    }
}

/// Starts the driver and hands the NIC to the network.
pub fn start(found: Found) {
    let base = found.device.base;
    match Nic::new(found) {
        Ok(nic) => {
            log::info!("virtio-net at {base:#x}: MAC {}", crate::net::switch::format_mac(&nic.mac));
            crate::net::set_wan_nic(nic);
        }
        Err(error) => log::warn!("virtio-net at {base:#x}: {error}"),
    }
}
