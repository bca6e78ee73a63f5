//! Seeded property tests ("fuzz") run by `cargo test`: random guests against every backend.
//!
//! `hostile` fills rings, descriptors and registers with random and adversarial values;
//! `valid` drives random but well-formed traffic. Both are deterministic for a seed. The
//! defaults keep `cargo test` fast; for a long run:
//!
//! ```text
//! KEEL_FUZZ_ITERS=20000 KEEL_FUZZ_SEED=7 cargo test -p keel-vmm --release virtio::fuzz
//! ```
//!
//! A failing iteration prints its seed; `KEEL_FUZZ_SEED=<seed> KEEL_FUZZ_ITERS=1` replays it.

mod hostile;
mod valid;

use alloc::vec::Vec;

use super::block::{MemoryStore, VirtioBlock};
use super::console::VirtioConsole;
use super::device::VirtioDevice;
use super::memory::{GuestMemory, VecMemory};
use super::net::VirtioNet;
use super::rng::VirtioRng;

/// Iterations per backend of the hostile and the valid tests unless `KEEL_FUZZ_ITERS`
/// says otherwise (valid traffic moves more bytes per iteration).
const HOSTILE_ITERATIONS: u64 = 400;
const VALID_ITERATIONS: u64 = 100;
const DEFAULT_SEED: u64 = 0x6b65_656c_7669_7274; // "keelvirt"

/// A xorshift64 generator: small, fast, deterministic.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in 0..n (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// True `num` times in `den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Runs `iteration` for each seed of the configured run; prints the seed of a failure.
fn run(name: &str, default_iterations: u64, mut iteration: impl FnMut(u64)) {
    let iterations = env_u64("KEEL_FUZZ_ITERS").unwrap_or(default_iterations);
    let base = env_u64("KEEL_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    for i in 0..iterations {
        // The first iteration uses the base seed itself, so a printed seed replays alone.
        let seed = base.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let guard = SeedReport { name, seed };
        iteration(seed);
        core::mem::forget(guard);
    }
}

/// Prints the seed if the iteration panics.
struct SeedReport<'a> {
    name: &'a str,
    seed: u64,
}

impl Drop for SeedReport<'_> {
    fn drop(&mut self) {
        std::eprintln!("{}: failed with KEEL_FUZZ_SEED={:#x} KEEL_FUZZ_ITERS=1", self.name, self.seed);
    }
}

/// What the property tests need to know about a backend.
trait Backend: VirtioDevice + Sized {
    fn make(rng: &mut XorShift) -> Self;

    /// Something the host side might do now (type input, drain output).
    fn host_action(&mut self, _rng: &mut XorShift) {}

    /// A well-formed request for `queue` in `area` (4 KiB, data written to memory), and the
    /// used length the device must report for it when that is known in advance.
    fn request(rng: &mut XorShift, queue: usize, mem: &mut VecMemory, area: u64) -> Request;
}

/// Buffers (address, length, device-writable) and the used length expected, if known.
type Request = (Vec<(u64, u32, bool)>, Option<u32>);

/// Entropy that is a counter (no need for real randomness here).
pub struct Counter(u8);

impl super::rng::EntropySource for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        for byte in buf {
            *byte = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
}

impl Backend for VirtioRng<Counter> {
    fn make(_: &mut XorShift) -> Self {
        VirtioRng::new(Counter(0))
    }

    fn request(rng: &mut XorShift, _: usize, _: &mut VecMemory, area: u64) -> Request {
        let (first, second) = (1 + rng.below(1024) as u32, 1 + rng.below(1024) as u32);
        let expected = (first + second).min(super::rng::MAX_REQUEST_BYTES);
        (vec![(area, first, true), (area + 2048, second, true)], Some(expected))
    }
}

impl Backend for VirtioConsole {
    fn make(_: &mut XorShift) -> Self {
        VirtioConsole::new()
    }

    fn host_action(&mut self, rng: &mut XorShift) {
        if rng.chance(1, 2) {
            let mut bytes = vec![0; rng.below(300) as usize];
            rng.fill(&mut bytes);
            self.push_input(&bytes);
        } else {
            self.take_output();
        }
    }

    fn request(rng: &mut XorShift, queue: usize, mem: &mut VecMemory, area: u64) -> Request {
        let len = 1 + rng.below(4095) as u32;
        if queue == 0 {
            return (vec![(area, len, true)], None); // as much input as there is
        }
        let mut bytes = vec![0; len as usize];
        rng.fill(&mut bytes);
        let _ = mem.write(area, &bytes); // refused in a hostile test's window: fine
        let split = rng.below(u64::from(len)) as u32;
        (vec![(area, split, false), (area + u64::from(split), len - split, false)], Some(0))
    }
}

/// Sectors of the property tests' disk.
const DISK_SECTORS: u64 = 64;

impl Backend for VirtioBlock<MemoryStore> {
    fn make(rng: &mut XorShift) -> Self {
        VirtioBlock::new(MemoryStore::new(vec![0; DISK_SECTORS as usize * 512], rng.chance(1, 4)), b"fuzz")
    }

    fn request(rng: &mut XorShift, _: usize, mem: &mut VecMemory, area: u64) -> Request {
        use super::block::{VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT};
        let kind =
            [VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, 99][rng.below(5) as usize];
        // Sometimes past the end of the disk: an I/O error, not a broken request.
        let sector = rng.below(DISK_SECTORS + 8);
        let mut header = [0u8; 16];
        header[..4].copy_from_slice(&kind.to_le_bytes());
        header[8..].copy_from_slice(&sector.to_le_bytes());
        let _ = mem.write(area, &header);
        let data = 512 * (1 + rng.below(6) as u32);
        let in_range = sector + u64::from(data / 512) <= DISK_SECTORS;
        match kind {
            VIRTIO_BLK_T_IN => {
                let used = if in_range { data + 1 } else { 1 };
                (vec![(area, 16, false), (area + 512, data, true), (area + 16, 1, true)], Some(used))
            }
            VIRTIO_BLK_T_OUT => (vec![(area, 16, false), (area + 512, data, false), (area + 16, 1, true)], Some(1)),
            VIRTIO_BLK_T_GET_ID => (vec![(area, 16, false), (area + 32, 20, true), (area + 16, 1, true)], Some(21)),
            _ => (vec![(area, 16, false), (area + 16, 1, true)], Some(1)),
        }
    }
}

impl Backend for VirtioNet {
    fn make(rng: &mut XorShift) -> Self {
        VirtioNet::new([0x02, 0x4b, 0, 0, 0, rng.below(256) as u8])
    }

    fn host_action(&mut self, rng: &mut XorShift) {
        if rng.chance(1, 2) {
            // Sometimes a size the device must refuse.
            let mut frame = vec![0; rng.below(super::net::MAX_FRAME as u64 + 40) as usize];
            rng.fill(&mut frame);
            self.push_frame(&frame);
        } else {
            while self.take_frame().is_some() {}
        }
    }

    fn request(rng: &mut XorShift, queue: usize, mem: &mut VecMemory, area: u64) -> Request {
        use super::net::{HEADER_BYTES, MAX_FRAME, MIN_FRAME};
        if queue == 0 {
            // Receive buffers: mostly big enough, sometimes split, sometimes small.
            let len = if rng.chance(1, 8) { 1 + rng.below(600) as u32 } else { (HEADER_BYTES + MAX_FRAME) as u32 };
            let split = rng.below(u64::from(len)) as u32;
            return (vec![(area, split.max(1), true), (area + 2048, len - split.min(len - 1), true)], None);
        }
        let frame = MIN_FRAME + rng.below((MAX_FRAME - MIN_FRAME + 1) as u64) as usize;
        let mut bytes = vec![0; HEADER_BYTES + frame];
        rng.fill(&mut bytes[HEADER_BYTES..]);
        let _ = mem.write(area, &bytes);
        let split = rng.below(bytes.len() as u64) as u32;
        (vec![(area, split, false), (area + u64::from(split), bytes.len() as u32 - split, false)], Some(0))
    }
}
