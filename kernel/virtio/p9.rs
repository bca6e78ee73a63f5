//! The virtio-9p device as the transport of the 9P client; the share tagged `host` is
//! mounted at `/host`.
//!
//! virtio-drivers' `VirtIO9p::request` polls the used ring until the reply is there, so
//! this driver drives the crate's `VirtQueue` itself (as `VirtIO9p` does, with the same
//! transport and queue code) and sleeps on the device's interrupt instead: the request is
//! added and notified, the thread blocks on the INTID's wait queue until the queue has the
//! reply, then acknowledges the interrupt. It also wakes every 20 ms to look, so a lost
//! interrupt costs time, not the request.

use super::{irq, Found, KeelHal};
use crate::fs::p9::client::{Client, Transport as P9Transport};
use crate::fs::p9::fs::P9Fs;
use crate::sched::wait::WaitQueue;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use keel_abi::Error;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::mmio::MmioTransport;
use virtio_drivers::transport::Transport;

/// The mount tag `scripts/run --share` gives the share, and where it appears.
const HOST_TAG: &str = "host";
const HOST_MOUNT: &str = "/host";
/// Message size asked for: 1 MiB of data per Tread/Twrite plus the header.
const MSIZE: u32 = (1 << 20) + 4096;
const QUEUE: u16 = 0;
/// One request (two descriptors) at a time; a few spare.
const QUEUE_SIZE: usize = 4;
/// How long one look at the queue sleeps, and how long a reply may take in all.
const LOOK_NS: u64 = 20_000_000;
const REPLY_LIMIT_NS: u64 = 60_000_000_000;

bitflags::bitflags! {
    /// The device features this driver accepts.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        const VERSION_1 = 1 << 32;
    }
}

struct Virtio9p {
    transport: MmioTransport<'static>,
    queue: VirtQueue<KeelHal, QUEUE_SIZE>,
    /// Woken by the device's interrupt (`None`: the DTB gave none; the driver looks every
    /// `LOOK_NS`).
    waiters: Option<Arc<WaitQueue>>,
    /// A reply never came: the device may still write into the last reply buffer, so it
    /// is not used again.
    broken: bool,
}

// SAFETY: the driver owns its queue memory and its MMIO transport; moving it to another
// CPU moves that ownership. It is only ever used under the client's lock.
unsafe impl Send for Virtio9p {}

impl Virtio9p {
    fn new(mut transport: MmioTransport<'static>, intid: Option<u32>) -> Result<Self, virtio_drivers::Error> {
        transport.begin_init(Features::VERSION_1);
        let queue = VirtQueue::new(&mut transport, QUEUE, false, false)?;
        transport.finish_init();
        Ok(Self { transport, queue, waiters: intid.map(irq::waiters), broken: false })
    }

    /// The mount tag from the configuration space (`tag_len[2] tag[tag_len]`).
    fn mount_tag(&self) -> Result<String, virtio_drivers::Error> {
        let len: u16 = self.transport.read_config_space(0)?;
        let mut tag = Vec::with_capacity(usize::from(len));
        for at in 0..usize::from(len) {
            tag.push(self.transport.read_config_space::<u8>(2 + at)?);
        }
        Ok(String::from_utf8_lossy(&tag).into_owned())
    }

    /// Blocks until the queue holds a reply; false when none came in time.
    fn wait_for_reply(&self) -> bool {
        let start = crate::arch::timer::now_ns();
        loop {
            if self.queue.can_pop() {
                return true;
            }
            let now = crate::arch::timer::now_ns();
            if now.saturating_sub(start) > REPLY_LIMIT_NS {
                return false;
            }
            match &self.waiters {
                Some(waiters) => {
                    // Before the scheduler runs (boot), this returns at once: then it polls.
                    let _ = waiters.wait_until(Some(now + LOOK_NS), || self.queue.can_pop().then_some(()));
                }
                None => crate::sched::sleep::sleep_until(now + LOOK_NS),
            }
        }
    }
}

impl P9Transport for Virtio9p {
    fn request(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        if self.broken {
            return Err(Error::IoError);
        }
        let failed = |error: virtio_drivers::Error| {
            log::warn!("virtio-9p: {error}");
            Error::IoError
        };
        // SAFETY: both buffers stay borrowed (and so valid and untouched) until `pop_used`
        // below takes the token back; if no reply ever comes, the driver is marked broken
        // and never lets the device's writes into `reply` be followed by another use.
        let token = unsafe { self.queue.add(&[request], &mut [&mut *reply]) }.map_err(failed)?;
        if self.queue.should_notify() {
            self.transport.notify(QUEUE);
        }
        if !self.wait_for_reply() {
            self.broken = true;
            log::warn!("virtio-9p: no reply within {} s; the share is given up", REPLY_LIMIT_NS / 1_000_000_000);
            return Err(Error::IoError);
        }
        self.transport.ack_interrupt();
        // SAFETY: the same buffers that were added with this token.
        let used = unsafe { self.queue.pop_used(token, &[request], &mut [&mut *reply]) }.map_err(failed)?;
        let used = used as usize;
        if used > reply.len() {
            log::warn!("virtio-9p: the device claims {used} bytes written into {}", reply.len());
            return Err(Error::IoError);
        }
        Ok(used)
    }
}

/// Starts the driver and mounts the share.
pub fn start(found: Found) {
    let base = found.device.base;
    let device = match Virtio9p::new(found.transport, found.device.intid) {
        Ok(device) => device,
        Err(error) => {
            log::warn!("virtio-9p at {base:#x}: {error}");
            return;
        }
    };
    let tag = match device.mount_tag() {
        Ok(tag) => tag,
        Err(error) => {
            log::warn!("virtio-9p at {base:#x}: no mount tag: {error}");
            return;
        }
    };
    if tag != HOST_TAG {
        log::info!("virtio-9p: share tagged {tag:?} not mounted (only {HOST_TAG:?} is, at {HOST_MOUNT})");
        return;
    }
    let client = match Client::connect(device, MSIZE, "") {
        Ok(client) => client,
        Err(error) => {
            log::warn!("virtio-9p: the share {tag:?} did not answer: {error}");
            return;
        }
    };
    log::info!("virtio-9p: share {tag:?}, msize {}", client.msize());
    if let Err(error) = crate::fs::mount(HOST_MOUNT, Arc::new(P9Fs::new(client))) {
        log::warn!("virtio-9p: cannot mount {HOST_MOUNT}: {error}");
    }
}
