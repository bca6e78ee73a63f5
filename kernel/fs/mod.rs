//! Files: one namespace for user space and the VMM — the host initrd (cpio, read-only) at
//! `/`, the 9P share at `/host` — through the VFS, with per-process descriptors.

pub mod cpio;
pub mod fd;
pub mod initrd;
pub mod mount;
pub mod p9;
pub mod path;
pub mod vfs;

#[cfg(target_os = "none")]
mod global;
#[cfg(target_os = "none")]
pub use global::*;
