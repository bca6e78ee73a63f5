//! The host disk: the machine's virtio-blk device, driven by one kernel thread
//! (`disk`) that takes requests from a queue, one at a time. Callers hand over an owned
//! buffer and get it back with the result: async tasks await it (guest disks), threads
//! block on it (the disk table). The thread submits with virtio-drivers' non-blocking
//! `VirtIOBlk` calls and sleeps on the device's interrupt, looking every 20 ms in case
//! one is lost.

use super::{irq, Found, KeelHal};
use crate::sched::wait::WaitQueue;
use crate::sync::IrqSpinlock;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use keel_abi::Error;
use virtio_drivers::device::blk::{BlkReq, BlkResp, VirtIOBlk, SECTOR_SIZE};
use virtio_drivers::transport::mmio::MmioTransport;

/// How long one look at the queue sleeps, and how long a request may take in all.
const LOOK_NS: u64 = 20_000_000;
const REQUEST_LIMIT_NS: u64 = 30_000_000_000;
/// Largest buffer of one request.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Flush,
}

/// A finished request: its result and its buffer back.
pub type Finished = (Result<(), Error>, Vec<u8>);

/// Where a finished request's result waits for its caller.
struct Completion {
    result: IrqSpinlock<Option<Finished>>,
    waker: IrqSpinlock<Option<Waker>>,
    threads: WaitQueue,
}

impl Completion {
    fn new() -> Self {
        Self { result: IrqSpinlock::new(None), waker: IrqSpinlock::new(None), threads: WaitQueue::new() }
    }
}

struct Request {
    op: Op,
    sector: u64,
    buffer: Vec<u8>,
    done: Arc<Completion>,
}

/// The host disk as the rest of the kernel sees it.
pub struct HostDisk {
    queue: IrqSpinlock<VecDeque<Request>>,
    work: WaitQueue,
    sectors: u64,
    read_only: bool,
}

static DISK: IrqSpinlock<Option<Arc<HostDisk>>> = IrqSpinlock::new(None);

/// The host disk, if the machine has one.
pub fn disk() -> Option<Arc<HostDisk>> {
    DISK.lock().clone()
}

/// A request on its way: await it (tasks) or [`Pending::wait`] (threads).
pub struct Pending {
    done: Arc<Completion>,
}

impl Future for Pending {
    type Output = Finished;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        *self.done.waker.lock() = Some(context.waker().clone());
        match self.done.result.lock().take() {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }
}

impl Pending {
    /// Blocks this thread until the request is done.
    pub fn wait(self) -> Finished {
        loop {
            if let Ok(result) = self.done.threads.wait_until(None, || self.done.result.lock().take()) {
                return result;
            }
            // Before the scheduler runs: nothing can complete it but the disk thread.
            core::hint::spin_loop();
        }
    }
}

impl HostDisk {
    /// Size in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Queues a request: `buffer` is read into (Read) or written out (Write), whole sectors,
    /// at most [`MAX_REQUEST_BYTES`]; it comes back with the result.
    pub fn submit(&self, op: Op, sector: u64, buffer: Vec<u8>) -> Pending {
        let done = Arc::new(Completion::new());
        let bad = op != Op::Flush
            && (buffer.is_empty()
                || !buffer.len().is_multiple_of(SECTOR_SIZE)
                || buffer.len() > MAX_REQUEST_BYTES
                || sector.checked_add((buffer.len() / SECTOR_SIZE) as u64).is_none_or(|end| end > self.sectors));
        if bad || (op == Op::Write && self.read_only) {
            *done.result.lock() = Some((Err(if bad { Error::InvalidArgument } else { Error::ReadOnly }), buffer));
            return Pending { done };
        }
        self.queue.lock().push_back(Request { op, sector, buffer, done: done.clone() });
        self.work.wake_all();
        Pending { done }
    }
}

/// The driver state the disk thread owns.
struct Driver {
    blk: VirtIOBlk<KeelHal, MmioTransport<'static>>,
    waiters: Option<Arc<WaitQueue>>,
    /// A request never completed: the device may still write into its buffer, so the
    /// disk is given up.
    broken: bool,
}

// SAFETY: the driver owns its queue memory and MMIO transport; it moves once, into the
// disk thread, which alone uses it.
unsafe impl Send for Driver {}

impl Driver {
    fn serve(&mut self, request: &mut Request) -> Result<(), Error> {
        if self.broken {
            return Err(Error::IoError);
        }
        if request.op == Op::Flush {
            // Rare (the guest's flush): virtio-drivers' flush polls the queue.
            return self.blk.flush().map_err(|_| Error::IoError);
        }
        // On the heap, so that a device that never answers cannot write into a reused stack.
        let mut header = alloc::boxed::Box::new(BlkReq::default());
        let mut response = alloc::boxed::Box::new(BlkResp::default());
        let sector = usize::try_from(request.sector).map_err(|_| Error::InvalidArgument)?;
        let buffer = &mut request.buffer[..];
        // SAFETY: header, buffer and response stay borrowed here, untouched, until the
        // matching complete call below; if the device never answers the driver is marked
        // broken and the buffers are leaked rather than reused (see below).
        let token = unsafe {
            match request.op {
                Op::Read => self.blk.read_blocks_nb(sector, &mut header, buffer, &mut response),
                _ => self.blk.write_blocks_nb(sector, &mut header, buffer, &mut response),
            }
        }
        .map_err(|_| Error::IoError)?;
        if !self.wait_for(token) {
            self.broken = true;
            log::error!("disk: no answer within {} s; the host disk is given up", REQUEST_LIMIT_NS / 1_000_000_000);
            // The device may still write into these: never free them.
            core::mem::forget(core::mem::take(&mut request.buffer));
            alloc::boxed::Box::leak(response);
            alloc::boxed::Box::leak(header);
            return Err(Error::IoError);
        }
        self.blk.ack_interrupt();
        // SAFETY: the same buffers that were submitted with this token.
        let result = unsafe {
            match request.op {
                Op::Read => self.blk.complete_read_blocks(token, &header, buffer, &mut response),
                _ => self.blk.complete_write_blocks(token, &header, buffer, &mut response),
            }
        };
        result.map_err(|error| {
            log::warn!("disk: {:?} at sector {}: {error}", request.op, request.sector);
            Error::IoError
        })
    }

    /// Sleeps until `token` is the next used element; false when it took too long.
    fn wait_for(&mut self, token: u16) -> bool {
        let start = crate::arch::timer::now_ns();
        loop {
            if self.blk.peek_used() == Some(token) {
                return true;
            }
            let now = crate::arch::timer::now_ns();
            if now.saturating_sub(start) > REQUEST_LIMIT_NS {
                return false;
            }
            match &self.waiters {
                Some(waiters) => {
                    let blk = &mut self.blk;
                    let _ = waiters.wait_until(Some(now + LOOK_NS), || blk.peek_used().map(|_| ()));
                }
                None => crate::sched::sleep::sleep_until(now + LOOK_NS),
            }
        }
    }
}

fn disk_thread(disk: Arc<HostDisk>, mut driver: Driver) {
    loop {
        let next = disk.work.wait_until(None, || disk.queue.lock().pop_front());
        let Ok(mut request) = next else { continue };
        let result = driver.serve(&mut request);
        let buffer = core::mem::take(&mut request.buffer);
        *request.done.result.lock() = Some((result, buffer));
        if let Some(waker) = request.done.waker.lock().take() {
            waker.wake();
        }
        request.done.threads.wake_all();
    }
}

/// Takes the machine's (first) virtio-blk device as the host disk.
pub fn start(found: Found) {
    let base = found.device.base;
    if DISK.lock().is_some() {
        log::warn!("virtio-blk at {base:#x}: Keel uses only the first disk");
        return;
    }
    let mut blk = match VirtIOBlk::<KeelHal, _>::new(found.transport) {
        Ok(blk) => blk,
        Err(error) => {
            log::warn!("virtio-blk at {base:#x}: {error}");
            return;
        }
    };
    blk.enable_interrupts();
    let disk = Arc::new(HostDisk {
        queue: IrqSpinlock::new(VecDeque::new()),
        work: WaitQueue::new(),
        sectors: blk.capacity(),
        read_only: blk.readonly(),
    });
    let driver = Driver { blk, waiters: found.device.intid.map(irq::waiters), broken: false };
    let thread_disk = disk.clone();
    if crate::sched::spawn_kernel("disk", move || disk_thread(thread_disk, driver)).is_none() {
        log::warn!("virtio-blk: no memory for the disk thread");
        return;
    }
    log::info!(
        "disk: {} MiB at {base:#x}{}",
        (disk.sectors * SECTOR_SIZE as u64) >> 20,
        if disk.read_only { " (read-only)" } else { "" }
    );
    *DISK.lock() = Some(disk);
}
