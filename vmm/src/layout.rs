//! The guest physical memory map (the same as QEMU `virt`, so guest kernels need nothing
//! special); the guest DTB is written from these constants.
//!
//! ```text
//! 0x0800_0000  GICv3 distributor        (64 KiB)
//! 0x080A_0000  GICv3 redistributors     (128 KiB per vCPU)
//! 0x0900_0000  PL011 UART               (4 KiB, SPI 1 = INTID 33)
//! 0x0A00_0000  virtio-mmio slots        (0x200 each, SPI 16 + n = INTID 48 + n)
//! 0x4000_0000  RAM
//! ```

pub const GICD_BASE: u64 = 0x0800_0000;
pub const GICD_SIZE: u64 = 0x1_0000;
pub const GICR_BASE: u64 = 0x080A_0000;
/// One redistributor: RD_base + SGI_base frames.
pub const GICR_STRIDE: u64 = 0x2_0000;
/// Room for this many vCPUs' redistributors below the UART.
pub const MAX_VCPUS: u64 = (UART_BASE - GICR_BASE) / GICR_STRIDE;
pub const UART_BASE: u64 = 0x0900_0000;
pub const UART_SIZE: u64 = 0x1000;
pub const UART_INTID: u32 = 33;
pub const VIRTIO_BASE: u64 = 0x0A00_0000;
pub const VIRTIO_STRIDE: u64 = 0x200;
pub const VIRTIO_SLOTS: u64 = 32;
pub const VIRTIO_FIRST_INTID: u32 = 48;
pub const RAM_BASE: u64 = 0x4000_0000;
/// The guest's virtual timer PPI, as QEMU virt's DTB names it.
pub const VTIMER_INTID: u32 = 27;
/// The GIC maintenance interrupt PPI.
pub const MAINTENANCE_INTID: u32 = 25;

// The regions must not overlap; checked when the crate compiles.
const _: () = {
    assert!(GICD_BASE + GICD_SIZE <= GICR_BASE);
    assert!(GICR_BASE + MAX_VCPUS * GICR_STRIDE <= UART_BASE);
    assert!(UART_BASE + UART_SIZE <= VIRTIO_BASE);
    assert!(VIRTIO_BASE + VIRTIO_SLOTS * VIRTIO_STRIDE <= RAM_BASE);
    assert!(MAX_VCPUS == 123);
};
