//! Host entropy for guests: the machine's virtio-rng device (QEMU `-device
//! virtio-rng-device`, fed from the host's getrandom) through virtio-drivers' `VirtIORng`.
//! A request is polled to completion under a lock (QEMU answers within microseconds).
//! Without the device, a documented non-cryptographic generator (xorshift64* seeded from
//! the counter) stands in, and a warning says so once.

use super::{Found, KeelHal};
use crate::sync::IrqSpinlock;
use core::sync::atomic::{AtomicBool, Ordering};
use virtio_drivers::device::rng::VirtIORng;
use virtio_drivers::transport::mmio::MmioTransport;

struct HostRng(VirtIORng<KeelHal, MmioTransport<'static>>);

// SAFETY: the driver owns its queue memory and MMIO transport; it is only used under the
// lock below.
unsafe impl Send for HostRng {}

static RNG: IrqSpinlock<Option<HostRng>> = IrqSpinlock::new(None);
/// The stand-in generator's state (0: not seeded yet).
static FALLBACK: IrqSpinlock<u64> = IrqSpinlock::new(0);
static WARNED: AtomicBool = AtomicBool::new(false);
/// Bytes asked of the device at a time.
const CHUNK: usize = 256;

/// Takes the machine's virtio-rng device.
pub fn start(found: Found) {
    match VirtIORng::<KeelHal, _>::new(found.transport) {
        Ok(rng) => {
            log::info!("rng: guest entropy from virtio-rng at {:#x}", found.device.base);
            *RNG.lock() = Some(HostRng(rng));
        }
        Err(error) => log::warn!("virtio-rng at {:#x}: {error}", found.device.base),
    }
}

/// Whether guest entropy comes from the host device (rather than the stand-in).
pub fn from_device() -> bool {
    RNG.lock().is_some()
}

/// Fills `buf` with random bytes: from the device, or from the stand-in generator.
pub fn fill(buf: &mut [u8]) {
    let mut done = 0;
    {
        let mut rng = RNG.lock();
        if let Some(HostRng(device)) = rng.as_mut() {
            let mut chunk = [0u8; CHUNK];
            while done < buf.len() {
                let want = (buf.len() - done).min(CHUNK);
                match device.request_entropy(&mut chunk[..want]) {
                    Ok(got) if got > 0 => {
                        let got = got.min(want);
                        buf[done..done + got].copy_from_slice(&chunk[..got]);
                        done += got;
                    }
                    _ => break,
                }
            }
        }
    }
    if done < buf.len() {
        fill_fallback(&mut buf[done..]);
    }
}

/// xorshift64* (Vigna), seeded from the counter: statistically fine, not cryptographic.
fn fill_fallback(buf: &mut [u8]) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!("rng: no virtio-rng device: guests get a non-cryptographic generator (xorshift64*)");
    }
    let mut state = FALLBACK.lock();
    if *state == 0 {
        *state = crate::arch::timer::counter() | 1;
    }
    for chunk in buf.chunks_mut(8) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let value = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&value[..chunk.len()]);
    }
}
