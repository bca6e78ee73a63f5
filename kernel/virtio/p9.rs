//! The virtio-9p device (virtio-drivers' `VirtIO9p`) as the transport of the 9P client;
//! the share tagged `host` is mounted at `/host`.
//!
//! `VirtIO9p::request` waits for the reply by polling the used ring (the crate has no
//! interrupt-driven call for 9P), so a request keeps its CPU busy until QEMU answers; the
//! large message size keeps the number of requests, and so the polling, small.

use super::{Found, KeelHal};
use crate::fs::p9::client::{Client, Transport};
use crate::fs::p9::fs::P9Fs;
use alloc::sync::Arc;
use keel_abi::Error;
use virtio_drivers::device::virtio_9p::VirtIO9p;
use virtio_drivers::transport::mmio::MmioTransport;

/// The mount tag `scripts/run --share` gives the share, and where it appears.
const HOST_TAG: &str = "host";
const HOST_MOUNT: &str = "/host";
/// Message size asked for: 1 MiB of data per Tread/Twrite plus the header.
const MSIZE: u32 = (1 << 20) + 4096;

struct Virtio9pTransport(VirtIO9p<KeelHal, MmioTransport<'static>>);

impl Transport for Virtio9pTransport {
    fn request(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        match self.0.request(request, reply) {
            Ok(len) => Ok(len as usize),
            Err(error) => {
                log::warn!("virtio-9p: request failed: {error}");
                Err(Error::IoError)
            }
        }
    }
}

// SAFETY: the driver owns its queue memory and its MMIO transport; moving it to another
// CPU moves that ownership. It is only ever used under the client's lock.
unsafe impl Send for Virtio9pTransport {}

/// Starts the driver and mounts the share.
pub fn start(found: Found) {
    let device = match VirtIO9p::<KeelHal, _>::new(found.transport) {
        Ok(device) => device,
        Err(error) => {
            log::warn!("virtio-9p at {:#x}: {error}", found.device.base);
            return;
        }
    };
    let tag = alloc::string::String::from(device.mount_tag());
    if tag != HOST_TAG {
        log::info!("virtio-9p: share tagged {tag:?} not mounted (only {HOST_TAG:?} is, at {HOST_MOUNT})");
        return;
    }
    let client = match Client::connect(Virtio9pTransport(device), MSIZE, "") {
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
