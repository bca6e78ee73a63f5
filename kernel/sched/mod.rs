//! The one scheduler: per-CPU weighted-fair run queues for kernel, user and vCPU threads.

#[cfg(target_os = "none")]
pub mod mutex;
pub mod runqueue;
#[cfg(target_os = "none")]
pub mod sleep;
#[cfg(target_os = "none")]
pub mod thread;
#[cfg(target_os = "none")]
pub mod wait;

#[cfg(target_os = "none")]
mod core_sched;
#[cfg(target_os = "none")]
pub use core_sched::*;
