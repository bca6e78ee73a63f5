//! The host disk: a virtio-blk device of the machine, holding guest disks as named extents.

#[cfg(target_os = "none")]
pub mod store;
pub mod table;
