//! The boot assembly (head.S, vectors.S) and the constants it is assembled with.

use crate::mm::layout::LINEAR_BASE;
use crate::mm::pagetable::MAIR_VALUE;
use core::arch::global_asm;

/// HCR_EL2 for the host: E2H (VHE), TGE (EL0 is the host's), RW (lower ELs are AArch64).
/// VM and PTW are set too although TGE makes the CPU behave as if VM were clear and PTW
/// only concerns a guest's stage 2: they are part of every guest's HCR, and keeping them
/// constant means entering and leaving a guest changes only TGE and trap bits (emulators,
/// QEMU among them, flush their whole TLB when VM or PTW change).
pub const HCR_HOST: u64 = (1 << 34) | (1 << 31) | (1 << 27) | (1 << 2) | 1;
/// CPTR_EL2 in its CPACR layout (E2H=1): FPEN = 0b11, no FP/SIMD traps at EL2 and EL0.
const CPTR_FPEN: u64 = 3 << 20;
/// CPTR_EL2 in its non-VHE layout with no traps (RES1 bits set): only on the refusal path.
const CPTR_EL2_NVHE_NOTRAP: u64 = 0x33ff;
/// CNTHCTL_EL2 (E2H=1 layout) for the host: EL0 may read the physical and virtual
/// counters. A guest's settings apply only while it runs (arch/guest.rs).
pub const CNTHCTL_HOST: u64 = 0b11;
/// TCR_EL2 (TCR_EL1 layout under E2H): T0SZ=T1SZ=25 (39-bit halves), 4 KiB granules,
/// inner-shareable write-back walks. IPS and AS are filled in from the ID registers.
pub const TCR_BASE: u64 = 25 | (1 << 8) | (1 << 10) | (3 << 12) | (25 << 16) | (1 << 24) | (1 << 26) | (3 << 28) | (2 << 30);
/// TCR.EPD0: no walks through TTBR0 (no user address space loaded).
pub const TCR_EPD0: u64 = 1 << 7;
/// SCTLR_EL2 (SCTLR_EL1 layout under E2H): MMU, caches, SP alignment checks, EL0 may use
/// WFI/WFE, DC ZVA, CTR_EL0 and cache maintenance; RES1 bits set; PAN left clear.
const SCTLR_MMU_ON: u64 = 0x34D5_D81D;
/// Boot block descriptors: normal memory executable (identity map, kernel image), normal
/// memory never executable (linear map), device memory.
const BLOCK_NORMAL_EXEC: u64 = 0x0040_0000_0000_0705;
const BLOCK_NORMAL_NOEXEC: u64 = 0x0060_0000_0000_0705;
const BLOCK_DEVICE: u64 = 0x0060_0000_0000_0401;
/// Reasons handed to the refusal path.
pub const REFUSE_NOT_EL2: u64 = 1;
pub const REFUSE_NO_VHE: u64 = 2;
/// The boot CPU's stack (in .bss).
const BOOT_STACK_SIZE: usize = 64 * 1024;

global_asm!(
    include_str!("head.S"),
    HCR_HOST = const HCR_HOST,
    CPTR_FPEN = const CPTR_FPEN,
    CPTR_EL2_NVHE_NOTRAP = const CPTR_EL2_NVHE_NOTRAP,
    CNTHCTL_HOST = const CNTHCTL_HOST,
    MAIR = const MAIR_VALUE,
    TCR_BASE = const TCR_BASE,
    SCTLR_MMU_ON = const SCTLR_MMU_ON,
    BLOCK_NORMAL_EXEC = const BLOCK_NORMAL_EXEC,
    BLOCK_NORMAL_NOEXEC = const BLOCK_NORMAL_NOEXEC,
    BLOCK_DEVICE = const BLOCK_DEVICE,
    REFUSE_NOT_EL2 = const REFUSE_NOT_EL2,
    REFUSE_NO_VHE = const REFUSE_NO_VHE,
    LINEAR_BASE = const LINEAR_BASE,
    BOOT_STACK_SIZE = const BOOT_STACK_SIZE,
    SECONDARY_STATUS = const core::mem::offset_of!(super::smp::SecondaryBoot, status),
    SECONDARY_TTBR1 = const core::mem::offset_of!(super::smp::SecondaryBoot, ttbr1),
    SECONDARY_STACK = const core::mem::offset_of!(super::smp::SecondaryBoot, stack_top),
);

global_asm!(
    include_str!("vectors.S"),
    FRAME_SIZE = const core::mem::size_of::<super::exception::TrapFrame>(),
);

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
    /// The identity map built by head.S, used by secondary CPUs to turn their MMU on.
    pub static keel_boot_idmap_l1: u8;
    /// Entry point for PSCI CPU_ON.
    pub fn keel_secondary_entry();
}

/// The kernel image's sections as virtual address ranges (from link.ld).
pub struct ImageLayout {
    pub start: u64,
    pub text_end: u64,
    pub rodata_end: u64,
    pub end: u64,
}

/// Where link.ld put the image's sections.
pub fn image_layout() -> ImageLayout {
    ImageLayout {
        start: (&raw const __kernel_start) as u64,
        text_end: (&raw const __text_end) as u64,
        rodata_end: (&raw const __rodata_end) as u64,
        end: (&raw const __kernel_end) as u64,
    }
}

/// The physical address of a symbol in the kernel image, given the load address.
pub fn image_phys(va: u64, phys_base: u64) -> u64 {
    va - crate::mm::layout::KIMAGE_BASE + phys_base
}
