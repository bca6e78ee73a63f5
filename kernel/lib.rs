//! The Keel kernel: a host microkernel that runs entirely at EL2 with VHE.
//!
//! Pure logic (frame allocator, page-table builder, address layout) compiles on the host
//! and is unit-tested there; everything that touches the machine is compiled only for
//! `aarch64-unknown-none` (`target_os = "none"`).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod cmdline;
pub mod disk;
pub mod fs;
pub mod mm;
pub mod net;
pub mod proc;
pub mod sched;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod exec;
#[cfg(target_os = "none")]
mod irq;
#[cfg(target_os = "none")]
mod logger;
#[cfg(target_os = "none")]
mod power;
#[cfg(target_os = "none")]
mod selftest;
#[cfg(target_os = "none")]
pub mod sync;
#[cfg(target_os = "none")]
mod syscall;
#[cfg(target_os = "none")]
pub mod virtio;
#[cfg(target_os = "none")]
pub mod vm;
