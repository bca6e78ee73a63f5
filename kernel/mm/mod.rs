//! Memory: physical frames, the EL2&0 page tables, the kernel's address layout and heap.

pub mod frames;
pub mod layout;
pub mod pagetable;

#[cfg(target_os = "none")]
pub mod frame_buffer;
#[cfg(target_os = "none")]
pub mod heap;
#[cfg(target_os = "none")]
pub mod kernel_space;
