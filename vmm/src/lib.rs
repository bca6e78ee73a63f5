//! Keel's VM logic as a safe `no_std` library: everything about guests (and about
//! exception syndromes) that can be decided without touching hardware.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod bus;
pub mod crash;
pub mod esr;
pub mod exit;
pub mod fdt;
pub mod guest_error;
pub mod inject;
pub mod layout;
pub mod loader;
pub mod pl011;
pub mod psci;
pub mod ram;
pub mod stage2;
pub mod sysreg;
pub mod vgic;
pub mod virtio;
