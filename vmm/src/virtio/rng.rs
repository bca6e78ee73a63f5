//! virtio-rng (entropy device, ID 4): fills the guest's buffers from a host entropy source.
//!
//! One queue of device-writable buffers. Each request gets up to [`MAX_REQUEST_BYTES`]
//! bytes (the spec lets the device write fewer than the buffer holds); a request with
//! device-readable buffers is a broken request.

use super::device::{QueueIo, VirtioDevice, DEVICE_ID_ENTROPY};
use super::error::{BackendError, RequestError};

/// The request queue's largest size.
pub const QUEUE_SIZE: u16 = 64;
/// Bytes given per request at most.
pub const MAX_REQUEST_BYTES: u32 = 4096;
/// Bytes produced per call to the source.
const CHUNK: usize = 256;

/// Where random bytes come from; the kernel implements it (RNDR, a DRBG, …). Any
/// `FnMut(&mut [u8]) + Send` closure is one.
pub trait EntropySource: Send {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<F: FnMut(&mut [u8]) + Send> EntropySource for F {
    fn fill(&mut self, buf: &mut [u8]) {
        self(buf)
    }
}

/// The entropy device.
pub struct VirtioRng<E: EntropySource> {
    source: E,
    bytes_given: u64,
}

impl<E: EntropySource> VirtioRng<E> {
    pub fn new(source: E) -> Self {
        Self { source, bytes_given: 0 }
    }

    /// Random bytes handed to the guest so far.
    pub fn bytes_given(&self) -> u64 {
        self.bytes_given
    }
}

impl<E: EntropySource> VirtioDevice for VirtioRng<E> {
    fn name(&self) -> &'static str {
        "virtio-rng"
    }

    fn device_id(&self) -> u32 {
        DEVICE_ID_ENTROPY
    }

    fn features(&self) -> u64 {
        0
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn reset(&mut self) {}

    fn process_queue(&mut self, _queue: u16, io: &mut QueueIo<'_>) -> Result<(), BackendError> {
        let mut chunk = [0u8; CHUNK];
        while let Some(chain) = io.pop()? {
            if chain.readable_len() != 0 {
                return Err(RequestError::UnexpectedReadable.into());
            }
            let len = chain.writable_len().min(MAX_REQUEST_BYTES);
            let mut written = 0u32;
            while written < len {
                let part = chunk.get_mut(..((len - written) as usize).min(CHUNK)).unwrap_or_default();
                self.source.fill(part);
                match io.write(&chain, written, part)? {
                    0 => break,
                    count => written += count as u32,
                }
            }
            self.bytes_given += u64::from(written);
            io.add_used(chain, written)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::AccessWidth::Word;
    use crate::bus::MmioDevice;
    use crate::virtio::device::VIRTIO_F_VERSION_1;
    use crate::virtio::mmio::{VirtioMmio, STATUS_NEEDS_RESET};
    use crate::virtio::testing::{memory, start_device, Line, BUFFERS};

    /// A source that counts up, so the bytes can be checked.
    fn counting() -> impl EntropySource {
        let mut next = 0u8;
        move |buf: &mut [u8]| {
            for byte in buf {
                *byte = next;
                next = next.wrapping_add(1);
            }
        }
    }

    #[test]
    fn fills_writable_buffers_up_to_the_request_limit() {
        let mut dev = VirtioMmio::new(VirtioRng::new(counting()), 48);
        let mut line = Line::default();
        let mut mem = memory();
        assert_eq!(dev.read(0x008, Word, &mut line), Ok(4), "device ID 4");
        let mut queues = start_device(&mut dev, &mut line, VIRTIO_F_VERSION_1);
        let small = queues[0].add_chain(&mut mem, &[(BUFFERS, 16, true), (BUFFERS + 0x100, 600, true)]);
        let large = queues[0].add_chain(&mut mem, &[(BUFFERS + 0x1000, 10_000, true)]);
        dev.write(0x050, Word, 0, &mut line).unwrap();
        dev.process(&mut mem, &mut line);
        assert_eq!(queues[0].take_used(&mut mem), [(u32::from(small), 616), (u32::from(large), 4096)]);
        assert_eq!(&mem.bytes()[0x8_0000..0x8_0010], (0..16).collect::<Vec<u8>>());
        assert_eq!(mem.bytes()[0x8_0100], 16, "the stream goes on in the next buffer");
        assert_eq!(mem.bytes()[0x8_1000], (616 % 256) as u8);
        assert_eq!(mem.bytes()[0x8_1000 + 4096], 0, "nothing past the request limit");
        assert_eq!(dev.device().bytes_given(), 616 + 4096);
        assert!(line.high());
    }

    #[test]
    fn a_readable_buffer_is_a_broken_request() {
        let mut dev = VirtioMmio::new(VirtioRng::new(counting()), 48);
        let mut line = Line::default();
        let mut mem = memory();
        let mut queues = start_device(&mut dev, &mut line, VIRTIO_F_VERSION_1);
        queues[0].add_chain(&mut mem, &[(BUFFERS, 16, false), (BUFFERS + 0x100, 16, true)]);
        dev.write(0x050, Word, 0, &mut line).unwrap();
        dev.process(&mut mem, &mut line);
        assert_eq!(dev.status() & STATUS_NEEDS_RESET, STATUS_NEEDS_RESET);
        assert!(queues[0].take_used(&mut mem).is_empty());
    }
}
