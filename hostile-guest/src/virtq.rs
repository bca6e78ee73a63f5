//! The entropy device's virtqueue, driven by hand: a flood of notifications, a queue kept
//! full, then corrupt indices, a descriptor loop and a buffer outside RAM — each of which
//! must break only this device (NEEDS_RESET) until the guest resets it.

use crate::report::Report;
use crate::trap::{self, run};
use core::arch::asm;
use keel_hostile_guest::Expected::{Masked, Returns};

/// virtio-mmio slots of QEMU virt's map, as Keel lays them out.
pub const VIRTIO_BASE: u64 = 0x0a00_0000;
pub const VIRTIO_STRIDE: u64 = 0x200;
pub const VIRTIO_SLOTS: u64 = 32;
const MAGIC: u64 = 0x74726976;
const DEVICE_ID_RNG: u64 = 4;

const DEVICE_ID: u64 = 0x008;
const DEVICE_FEATURES_SEL: u64 = 0x014;
const DRIVER_FEATURES: u64 = 0x020;
const DRIVER_FEATURES_SEL: u64 = 0x024;
const QUEUE_SEL: u64 = 0x030;
const QUEUE_NUM_MAX: u64 = 0x034;
const QUEUE_NUM: u64 = 0x038;
const QUEUE_READY: u64 = 0x044;
const QUEUE_NOTIFY: u64 = 0x050;
const STATUS: u64 = 0x070;
const QUEUE_DESC: u64 = 0x080;
const QUEUE_DRIVER: u64 = 0x090;
const QUEUE_DEVICE: u64 = 0x0a0;

const ACKNOWLEDGE: u32 = 1;
const DRIVER: u32 = 2;
const DRIVER_OK: u32 = 4;
const FEATURES_OK: u32 = 8;
pub const NEEDS_RESET: u64 = 0x40;

/// Descriptor flags.
const NEXT: u16 = 1;
const WRITE: u16 = 2;

const QUEUE_SIZE: u16 = 8;
/// How many notifications a flood writes.
const FLOOD: u32 = 20_000;
/// How long to wait for the device, in seconds (generous: the machine is shared).
const PATIENCE_S: u64 = 20;

#[repr(C)]
#[derive(Clone, Copy)]
struct Descriptor {
    address: u64,
    len: u32,
    flags: u16,
    next: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct UsedElement {
    id: u32,
    len: u32,
}

/// The split queue and its buffers, in this guest's BSS (zeroed by Keel).
#[repr(C, align(4096))]
struct Queue {
    descriptors: [Descriptor; QUEUE_SIZE as usize],
    avail_flags: u16,
    avail_idx: u16,
    avail_ring: [u16; QUEUE_SIZE as usize],
    avail_event: u16,
    _pad: [u8; 4096 - 128 - 22],
    used_flags: u16,
    used_idx: u16,
    used_ring: [UsedElement; QUEUE_SIZE as usize],
    buffers: [[u8; 64]; QUEUE_SIZE as usize],
}

static mut QUEUE: Queue = Queue {
    descriptors: [Descriptor {
        address: 0,
        len: 0,
        flags: 0,
        next: 0,
    }; QUEUE_SIZE as usize],
    avail_flags: 0,
    avail_idx: 0,
    avail_ring: [0; QUEUE_SIZE as usize],
    avail_event: 0,
    _pad: [0; 4096 - 128 - 22],
    used_flags: 0,
    used_idx: 0,
    used_ring: [UsedElement { id: 0, len: 0 }; QUEUE_SIZE as usize],
    buffers: [[0; 64]; QUEUE_SIZE as usize],
};

fn queue() -> *mut Queue {
    &raw mut QUEUE
}

fn reg_read(base: u64, offset: u64) -> u64 {
    trap::read32(base + offset)
}

fn reg_write(base: u64, offset: u64, value: u32) {
    trap::write32(base + offset, value);
}

fn counter() -> (u64, u64) {
    let (now, frequency): (u64, u64);
    // SAFETY: reads of the virtual counter and its frequency; no memory, no side effect.
    unsafe {
        asm!("isb", "mrs {n}, cntvct_el0", "mrs {f}, cntfrq_el0", n = out(reg) now, f = out(reg) frequency, options(nomem, nostack))
    };
    (now, frequency.max(1))
}

/// Polls `ready` until it holds or the patience runs out.
fn wait_for(mut ready: impl FnMut() -> bool) -> bool {
    let (start, frequency) = counter();
    loop {
        if ready() {
            return true;
        }
        if counter().0.wrapping_sub(start) > PATIENCE_S * frequency {
            return false;
        }
    }
}

/// The slot holding the entropy device.
fn rng_base() -> Option<u64> {
    (0..VIRTIO_SLOTS)
        .map(|slot| VIRTIO_BASE + slot * VIRTIO_STRIDE)
        .find(|&base| {
            matches!(run(|| reg_read(base, 0)), keel_hostile_guest::Outcome::Completed(MAGIC))
                && reg_read(base, DEVICE_ID) == DEVICE_ID_RNG
        })
}

/// Resets the device and the queue memory, then brings the device up as a driver would.
fn start(base: u64) -> Result<(), &'static str> {
    reg_write(base, STATUS, 0);
    let q = queue();
    // SAFETY: the queue is this program's static and the device is reset (it does not
    // touch the memory now); volatile because the device reads and writes it.
    unsafe {
        core::ptr::write_volatile(&raw mut (*q).avail_idx, 0);
        core::ptr::write_volatile(&raw mut (*q).used_idx, 0);
    }
    reg_write(base, STATUS, ACKNOWLEDGE);
    reg_write(base, STATUS, ACKNOWLEDGE | DRIVER);
    reg_write(base, DEVICE_FEATURES_SEL, 1);
    reg_write(base, DRIVER_FEATURES_SEL, 1);
    reg_write(base, DRIVER_FEATURES, 1); // VIRTIO_F_VERSION_1 (bit 32)
    reg_write(base, DRIVER_FEATURES_SEL, 0);
    reg_write(base, DRIVER_FEATURES, 0);
    reg_write(base, STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
    if reg_read(base, STATUS) as u32 & FEATURES_OK == 0 {
        return Err("FEATURES_OK refused");
    }
    reg_write(base, QUEUE_SEL, 0);
    if reg_read(base, QUEUE_NUM_MAX) < u64::from(QUEUE_SIZE) {
        return Err("queue 0 too small");
    }
    reg_write(base, QUEUE_NUM, u32::from(QUEUE_SIZE));
    // SAFETY: addresses of parts of the static, not accesses.
    let (desc, avail, used) = unsafe {
        (
            &raw const (*q).descriptors as u64,
            &raw const (*q).avail_flags as u64,
            &raw const (*q).used_flags as u64,
        )
    };
    for (offset, address) in [(QUEUE_DESC, desc), (QUEUE_DRIVER, avail), (QUEUE_DEVICE, used)] {
        reg_write(base, offset, address as u32);
        reg_write(base, offset + 4, (address >> 32) as u32);
    }
    reg_write(base, QUEUE_READY, 1);
    reg_write(base, STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
    Ok(())
}

/// Puts descriptor `index` (buffer `index`, `len` bytes, device-writable) in the avail ring.
fn post(index: u16, len: u32, flags: u16, next: u16, address: Option<u64>) {
    let q = queue();
    // SAFETY: the queue is this program's static; the device only reads the descriptor
    // and avail ring, and writes the used ring and the buffers (volatile for that).
    unsafe {
        let buffer = &raw mut (*q).buffers[usize::from(index % QUEUE_SIZE)] as u64;
        let descriptor = Descriptor {
            address: address.unwrap_or(buffer),
            len,
            flags: WRITE | flags,
            next,
        };
        core::ptr::write_volatile(&raw mut (*q).descriptors[usize::from(index % QUEUE_SIZE)], descriptor);
        let avail = core::ptr::read_volatile(&raw const (*q).avail_idx);
        core::ptr::write_volatile(
            &raw mut (*q).avail_ring[usize::from(avail % QUEUE_SIZE)],
            index % QUEUE_SIZE,
        );
        asm!("dmb ishst", options(nostack));
        core::ptr::write_volatile(&raw mut (*q).avail_idx, avail.wrapping_add(1));
        asm!("dmb ish", options(nostack));
    }
}

fn used_idx() -> u16 {
    // SAFETY: a volatile read of the static the device writes.
    unsafe { core::ptr::read_volatile(&raw const (*queue()).used_idx) }
}

fn set_avail_idx(value: u16) {
    // SAFETY: a volatile write of the static's avail index.
    unsafe { core::ptr::write_volatile(&raw mut (*queue()).avail_idx, value) };
}

/// Bytes returned by the device for the requests up to `target` in the used ring, or
/// u64::MAX when they did not come (or the device broke).
fn wait_used(base: u64, target: u16) -> u64 {
    if !wait_for(|| used_idx() == target || reg_read(base, STATUS) & NEEDS_RESET != 0) || used_idx() != target {
        return u64::MAX;
    }
    // SAFETY: a volatile read of the static the device wrote.
    let UsedElement { len, .. } = unsafe {
        core::ptr::read_volatile(&raw const (*queue()).used_ring[usize::from(target.wrapping_sub(1) % QUEUE_SIZE)])
    };
    u64::from(len)
}

/// Waits for NEEDS_RESET and returns the status.
fn wait_broken(base: u64) -> u64 {
    wait_for(|| reg_read(base, STATUS) & NEEDS_RESET != 0);
    reg_read(base, STATUS)
}

pub fn probe(report: &mut Report) {
    let Some(base) = rng_base() else {
        report.probe(
            format_args!("virtio: find the entropy device"),
            Returns(1),
            keel_hostile_guest::Outcome::Completed(0),
        );
        return;
    };
    let broken = Masked {
        mask: NEEDS_RESET,
        bits: NEEDS_RESET,
    };
    if let Err(why) = start(base) {
        crate::println!("hostile: virtio-rng at {base:#x}: {why}");
    }
    // A flood of notifications with nothing in the queue, then one request.
    for _ in 0..FLOOD {
        reg_write(base, QUEUE_NOTIFY, 0);
    }
    post(0, 16, 0, 0, None);
    reg_write(base, QUEUE_NOTIFY, 0);
    report.probe(
        format_args!("virtio-rng: {FLOOD} notifications, then a request of 16 bytes"),
        Returns(16),
        keel_hostile_guest::Outcome::Completed(wait_used(base, 1)),
    );
    // The queue kept full while the flood goes on: every request is served.
    for index in 0..QUEUE_SIZE {
        post(index, 32, 0, 0, None);
    }
    for _ in 0..FLOOD {
        reg_write(base, QUEUE_NOTIFY, 0);
    }
    report.probe(
        format_args!("virtio-rng: a full queue of 32-byte requests under {FLOOD} notifications"),
        Returns(32),
        keel_hostile_guest::Outcome::Completed(wait_used(base, 1 + QUEUE_SIZE)),
    );
    // An avail index that runs ahead by more than the queue holds.
    set_avail_idx(used_idx().wrapping_add(1000));
    reg_write(base, QUEUE_NOTIFY, 0);
    report.probe(
        format_args!("virtio-rng: avail index 1000 ahead"),
        broken,
        keel_hostile_guest::Outcome::Completed(wait_broken(base)),
    );
    // A descriptor chained to itself.
    let _ = start(base);
    post(0, 16, NEXT, 0, None);
    reg_write(base, QUEUE_NOTIFY, 0);
    report.probe(
        format_args!("virtio-rng: descriptor chained to itself"),
        broken,
        keel_hostile_guest::Outcome::Completed(wait_broken(base)),
    );
    // A buffer outside RAM.
    let _ = start(base);
    post(0, 4096, 0, 0, Some(0x1000_0000));
    reg_write(base, QUEUE_NOTIFY, 0);
    report.probe(
        format_args!("virtio-rng: buffer at 0x10000000 (outside RAM)"),
        broken,
        keel_hostile_guest::Outcome::Completed(wait_broken(base)),
    );
    // Notifying a queue that does not exist.
    let _ = start(base);
    reg_write(base, QUEUE_NOTIFY, 0xffff);
    report.probe(
        format_args!("virtio-rng: notify queue 0xffff"),
        keel_hostile_guest::Expected::Completes,
        run(|| reg_read(base, STATUS)),
    );
    // A reset brings it back.
    reg_write(base, STATUS, 0);
    report.probe(
        format_args!("virtio-rng: status after a reset"),
        Returns(0),
        run(|| reg_read(base, STATUS)),
    );
}

/// After every register of every device took nonsense: a fresh start still gets entropy.
pub fn after_sweeps(report: &mut Report) {
    let Some(base) = rng_base() else {
        report.probe(
            format_args!("virtio: find the entropy device after the sweeps"),
            Returns(1),
            keel_hostile_guest::Outcome::Completed(0),
        );
        return;
    };
    let outcome = match start(base) {
        Ok(()) => {
            post(0, 16, 0, 0, None);
            reg_write(base, QUEUE_NOTIFY, 0);
            keel_hostile_guest::Outcome::Completed(wait_used(base, 1))
        }
        Err(_) => keel_hostile_guest::Outcome::Completed(u64::MAX),
    };
    report.probe(
        format_args!("virtio-rng after the sweeps: reset, start, request 16 bytes"),
        Returns(16),
        outcome,
    );
}
