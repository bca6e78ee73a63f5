//! Keel host drivers: the register blocks of the devices Keel drives, and the platform
//! description read from the device tree.
//!
//! # Where the `unsafe` is
//!
//! The only `unsafe` in this crate is hardware access:
//!
//! - the MMIO register blocks ([`pl011`], [`pl061`], [`gicv3`]), each described with
//!   tock-registers `register_structs!` and reached through a `&'static` reference that an
//!   `unsafe fn new(base)` creates;
//! - the `mrs`/`msr` wrappers in `sysreg` (aarch64 only) for system registers that
//!   aarch64-cpu lacks;
//! - the `hvc`/`smc` instruction in [`psci`], and the `isb`/`dsb` barriers of the GIC CPU
//!   interface;
//! - `unsafe impl Send` on the device handles (a handle may move between CPUs; none is
//!   `Sync`, so the kernel puts a shared device behind a lock).
//!
//! Everything else — device-tree parsing ([`platform`]), MIDR decoding ([`cpu_model`]), the
//! bit packing of GIC and PSCI values — is safe, allocation-free and unit-tested on the host.
//!
//! # Addresses
//!
//! The device tree gives physical addresses. This crate never maps anything: the kernel maps
//! each device, turns the physical address into the virtual address of that mapping, and
//! passes that virtual `base` to the driver's `new`. Drivers assume the mapping is
//! Device-nGnRE (or stronger) memory that stays valid for the rest of the kernel's life.
//!
//! Nothing here allocates: the kernel calls [`platform::Platform::parse`] before it has a heap.

#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

pub mod cpu_model;
pub mod gicv3;
pub mod pl011;
pub mod pl061;
pub mod platform;
pub mod psci;
#[cfg(target_arch = "aarch64")]
pub mod sysreg;
