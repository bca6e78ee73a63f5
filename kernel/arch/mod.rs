//! The aarch64 machine layer: boot, vectors, per-CPU state, timer and SMP bring-up.

pub mod boot;
pub mod context;
pub mod cpu;
mod early;
pub mod exception;
pub mod guest;
pub mod smp;
pub mod timer;
