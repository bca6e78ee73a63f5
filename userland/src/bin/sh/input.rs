//! The console as the shell reads it: typed bytes are kept until they are used, so what is
//! typed while a program runs (type-ahead) is edited and run afterwards.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;
use keel_userland::abi::Error;
use keel_userland::sys;

const CTRL_C: u8 = 0x03;
/// Most typed bytes kept unread; more is dropped (a paste cannot exhaust the heap).
const MAX_PENDING: usize = 16 * 1024;

#[derive(Default)]
pub struct Input {
    pending: VecDeque<u8>,
}

impl Input {
    /// The next typed byte, waiting as long as it takes.
    pub fn next_byte(&mut self) -> Result<u8, Error> {
        loop {
            if let Some(byte) = self.pending.pop_front() {
                return Ok(byte);
            }
            self.fill(None)?;
        }
    }

    /// Whether a typed byte is waiting.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Takes every typed byte not used yet (`vm console` hands them to the guest).
    pub fn take_pending(&mut self) -> Vec<u8> {
        self.pending.drain(..).collect()
    }

    /// Puts `bytes` back in front of what is pending: they are read next, as if typed now.
    pub fn give_back(&mut self, bytes: &[u8]) {
        for &byte in bytes.iter().rev() {
            self.pending.push_front(byte);
        }
    }

    /// Takes in what is typed within `timeout` and says whether a Ctrl-C came (typed before
    /// it is dropped with it, as a terminal drops type-ahead on an interrupt).
    pub fn interrupted_within(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.fill(Some(timeout))?;
        match self.pending.iter().rposition(|&byte| byte == CTRL_C) {
            Some(at) => {
                self.pending.drain(..=at);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The next typed byte, waiting at most `timeout` for one (`top` reads its keys so).
    pub fn key_within(&mut self, timeout: Duration) -> Result<Option<u8>, Error> {
        if self.pending.is_empty() {
            self.fill(Some(timeout))?;
        }
        Ok(self.pending.pop_front())
    }

    fn fill(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        let mut buffer = [0; 256];
        let count = sys::read(sys::STDIN, &mut buffer, timeout)?;
        let room = MAX_PENDING.saturating_sub(self.pending.len());
        self.pending.extend(&buffer[..count.min(room)]);
        Ok(())
    }
}
