//! Virtio devices for guests: guest memory access, split virtqueues, the virtio-mmio transport.
//!
//! See `docs/virtio.md` for the design and the error policy.

pub mod block;
pub mod console;
pub mod device;
pub mod error;
#[cfg(test)]
mod fuzz;
pub mod memory;
pub mod mmio;
pub mod net;
pub mod queue;
pub mod rng;
#[cfg(test)]
mod testing;
