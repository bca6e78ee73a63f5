//! virtio-console (ID 3) with one port and no multiport: receiveq 0 carries host input into
//! the guest's buffers, transmitq 1 carries guest output to the host.
//!
//! Input waits in a bounded queue ([`INPUT_BYTES`]) until the guest posts receive buffers.
//! Output collects in a bounded buffer the kernel drains with [`VirtioConsole::take_output`];
//! while it is full, transmit buffers stay in the ring (the guest waits, nothing is lost)
//! and draining it resumes transmission. VIRTIO_CONSOLE_F_EMERG_WRITE is offered: a write
//! to the config field `emerg_wr` outputs one byte, as early consoles do.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::device::{queue_bit, QueueIo, VirtioDevice, DEVICE_ID_CONSOLE};
use super::error::{BackendError, RequestError};

pub const RECEIVE_QUEUE: u16 = 0;
pub const TRANSMIT_QUEUE: u16 = 1;
/// Both queues' largest size.
pub const QUEUE_SIZE: u16 = 128;
/// Host input kept until the guest takes it.
pub const INPUT_BYTES: usize = 4096;
/// Guest output kept until the kernel drains it; transmission pauses beyond.
pub const OUTPUT_BYTES: usize = 64 * 1024;
/// The most one transmit chain delivers; the rest of a larger one is dropped and counted.
pub const MAX_TRANSMIT_BYTES: u32 = 64 * 1024;

pub const VIRTIO_CONSOLE_F_SIZE: u64 = 1 << 0;
pub const VIRTIO_CONSOLE_F_MULTIPORT: u64 = 1 << 1;
pub const VIRTIO_CONSOLE_F_EMERG_WRITE: u64 = 1 << 2;

/// Config: cols u16, rows u16, max_nr_ports u32, emerg_wr u32.
const CONFIG_BYTES: usize = 12;
const EMERG_WR: usize = 8;

/// The console device.
pub struct VirtioConsole {
    input: VecDeque<u8>,
    output: Vec<u8>,
    dropped_output: u64,
    config: [u8; CONFIG_BYTES],
    /// Transmission stopped for a full output buffer.
    transmit_paused: bool,
    /// Queues with host work: new input, or room again after a pause.
    host_work: u32,
}

impl Default for VirtioConsole {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtioConsole {
    pub fn new() -> Self {
        Self {
            input: VecDeque::new(),
            output: Vec::new(),
            dropped_output: 0,
            config: [0; CONFIG_BYTES],
            transmit_paused: false,
            host_work: 0,
        }
    }

    /// Queues typed input for the guest; returns how many bytes were taken (the rest stays
    /// the caller's). Then check the transport's `needs_processing`.
    pub fn push_input(&mut self, bytes: &[u8]) -> usize {
        let taken = bytes.len().min(self.input_room());
        self.input.extend(bytes.iter().take(taken));
        if taken > 0 {
            self.host_work |= queue_bit(RECEIVE_QUEUE);
        }
        taken
    }

    /// Free room in the input queue.
    pub fn input_room(&self) -> usize {
        INPUT_BYTES.saturating_sub(self.input.len())
    }

    /// Everything the guest wrote since the last call. Resumes a paused transmission (check
    /// the transport's `needs_processing`).
    pub fn take_output(&mut self) -> Vec<u8> {
        if self.transmit_paused {
            self.transmit_paused = false;
            self.host_work |= queue_bit(TRANSMIT_QUEUE);
        }
        core::mem::take(&mut self.output)
    }

    /// Output bytes dropped: beyond [`MAX_TRANSMIT_BYTES`] in one chain, or emergency
    /// writes while the buffer was full.
    pub fn dropped_output(&self) -> u64 {
        self.dropped_output
    }

    fn receive(&mut self, io: &mut QueueIo<'_>) -> Result<(), BackendError> {
        while !self.input.is_empty() {
            let Some(chain) = io.pop()? else { break };
            if chain.readable_len() != 0 {
                return Err(RequestError::UnexpectedReadable.into());
            }
            let count = self.input.len().min(chain.writable_len() as usize);
            let (first, second) = self.input.as_slices();
            let from_first = count.min(first.len());
            let mut written = io.write(&chain, 0, first.get(..from_first).unwrap_or_default())?;
            let rest = second.get(..count - from_first).unwrap_or_default();
            written += io.write(&chain, written as u32, rest)?;
            self.input.drain(..written);
            io.add_used(chain, written as u32)?;
        }
        Ok(())
    }

    fn transmit(&mut self, io: &mut QueueIo<'_>) -> Result<(), BackendError> {
        loop {
            if self.output.len() >= OUTPUT_BYTES {
                self.transmit_paused = true;
                return Ok(());
            }
            let Some(chain) = io.pop()? else { return Ok(()) };
            if chain.writable_len() != 0 {
                return Err(RequestError::UnexpectedWritable.into());
            }
            let count = chain.readable_len().min(MAX_TRANSMIT_BYTES);
            self.dropped_output += u64::from(chain.readable_len() - count);
            let start = self.output.len();
            self.output.resize(start + count as usize, 0);
            let read = io.read(&chain, 0, self.output.get_mut(start..).unwrap_or_default())?;
            self.output.truncate(start + read);
            io.add_used(chain, 0)?;
        }
    }
}

impl VirtioDevice for VirtioConsole {
    fn name(&self) -> &'static str {
        "virtio-console"
    }

    fn device_id(&self) -> u32 {
        DEVICE_ID_CONSOLE
    }

    fn features(&self) -> u64 {
        VIRTIO_CONSOLE_F_EMERG_WRITE
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE, QUEUE_SIZE]
    }

    fn config(&self) -> &[u8] {
        &self.config
    }

    fn write_config(&mut self, offset: usize, data: &[u8]) -> bool {
        if offset != EMERG_WR {
            return false;
        }
        let Some(&byte) = data.first() else { return true };
        if self.output.len() < OUTPUT_BYTES {
            self.output.push(byte);
        } else {
            self.dropped_output += 1;
        }
        true
    }

    fn reset(&mut self) {
        // Input and output are the host's; only the transmit pause belonged to the guest.
        self.transmit_paused = false;
        self.host_work = if self.input.is_empty() { 0 } else { queue_bit(RECEIVE_QUEUE) };
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
