//! The host disk: a virtio-blk device of the machine, holding guest disks as named extents.

pub mod table;
