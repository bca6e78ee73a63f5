//! Glue between the VM logic (keel-vmm) and the machine: VMs, vCPU threads, guest memory.

pub mod machine;
pub mod memory;
pub mod registry;
pub mod stats;
pub mod test_guest;
pub mod vcpu;
pub mod virtio;
