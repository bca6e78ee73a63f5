//! User processes: creation from initrd ELF files, exit, wait, kill, and faults.

pub mod elf;
#[cfg(target_os = "none")]
pub mod space;

#[cfg(target_os = "none")]
mod process;
#[cfg(target_os = "none")]
pub use process::*;
