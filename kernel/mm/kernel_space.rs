//! The kernel's own address space: frames, the final TTBR1_EL2 tables, device mappings.

use super::frames::{FrameAllocator, PhysRange, FRAME_SIZE};
use super::layout::{phys_to_virt, KIMAGE_BASE, LINEAR_BASE};
use super::pagetable::{Attributes, Half, MapError, PageTable, TableMemory};
use crate::arch::boot::{image_layout, TCR_EPD0};
use crate::sync::IrqSpinlock;
use aarch64_cpu::registers::{Readable, Writeable, TCR_EL2};
use core::sync::atomic::{AtomicU64, Ordering};

static FRAMES: IrqSpinlock<Option<FrameAllocator<'static>>> = IrqSpinlock::new(None);
static KERNEL_TABLE: IrqSpinlock<Option<PageTable>> = IrqSpinlock::new(None);
/// Physical address of the kernel's TTBR1_EL2 root table, for secondary CPUs.
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);
/// Total RAM the DTB describes.
static RAM_BYTES: AtomicU64 = AtomicU64::new(0);

/// Page-table pages come from the frame allocator and are reached through the linear map.
pub struct KernelTables<'a> {
    frames: &'a mut FrameAllocator<'static>,
}

impl TableMemory for KernelTables<'_> {
    fn alloc_table(&mut self) -> Option<u64> {
        let pa = self.frames.alloc(1, 1)?;
        zero_frames(pa, 1);
        Some(pa)
    }

    fn table(&mut self, pa: u64) -> &mut [u64; 512] {
        let va = phys_to_virt(pa).unwrap_or(0);
        // SAFETY: the page-table code only passes addresses of tables it allocated through
        // alloc_table (or the root), which are whole RAM frames reached through the linear
        // map and owned by the table; the `&mut self` borrow keeps the access unique.
        unsafe { &mut *(va as *mut [u64; 512]) }
    }

    fn free_table(&mut self, pa: u64) {
        if let Err(error) = self.frames.free(pa, 1) {
            log::error!("mm: page table {pa:#x} could not be freed: {error:?}");
        }
    }
}

/// Zeroes `count` frames at `pa` (which the caller owns).
pub fn zero_frames(pa: u64, count: usize) {
    let Some(va) = phys_to_virt(pa) else { return };
    let bytes = count * FRAME_SIZE as usize;
    // 128 bytes per iteration with paired 128-bit stores. Under an emulator this is several
    // times faster than DC ZVA (a helper call per 64-byte block: 680 ms for 256 MiB of guest
    // RAM under QEMU TCG) and than `write_bytes`; on hardware it runs at store bandwidth.
    // SAFETY: the frames were just allocated, so nothing else refers to them; the linear map
    // covers [va, va + bytes) as normal cacheable memory, and bytes is a multiple of 4 KiB.
    unsafe {
        core::arch::asm!(
            "movi v0.2d, #0",
            "2:",
            "stp q0, q0, [{ptr}]",
            "stp q0, q0, [{ptr}, #32]",
            "stp q0, q0, [{ptr}, #64]",
            "stp q0, q0, [{ptr}, #96]",
            "add {ptr}, {ptr}, #128",
            "cmp {ptr}, {end}",
            "b.lo 2b",
            ptr = inout(reg) va as usize => _,
            end = in(reg) va as usize + bytes,
            out("v0") _,
            options(nostack),
        )
    };
}

/// Copies `bytes` into frames at `pa` (which the caller owns, with room for them).
pub fn copy_to_frames(pa: u64, bytes: &[u8]) {
    let Some(va) = phys_to_virt(pa) else { return };
    let bulk = bytes.len() & !63;
    if bulk > 0 {
        // 64 bytes per iteration with paired 128-bit loads and stores: under an emulator
        // about twice as fast as `copy_nonoverlapping` (which moves a word at a time), so
        // loading a 32 MiB guest kernel takes half as long.
        // SAFETY: [bytes, bytes + bulk) is readable (a slice); [va, va + bulk) lies in frames
        // the caller owns, mapped as normal memory by the linear map (unaligned 128-bit
        // accesses are allowed there); the two do not overlap (the caller's frames are not
        // part of any slice it holds).
        unsafe {
            core::arch::asm!(
                "2:",
                "ldp q0, q1, [{src}]",
                "ldp q2, q3, [{src}, #32]",
                "stp q0, q1, [{dst}]",
                "stp q2, q3, [{dst}, #32]",
                "add {src}, {src}, #64",
                "add {dst}, {dst}, #64",
                "cmp {src}, {end}",
                "b.lo 2b",
                src = inout(reg) bytes.as_ptr() as usize => _,
                dst = inout(reg) va as usize => _,
                end = in(reg) bytes.as_ptr() as usize + bulk,
                out("v0") _, out("v1") _, out("v2") _, out("v3") _,
                options(nostack),
            )
        };
    }
    let tail = &bytes[bulk..];
    // SAFETY: as above, for the last bytes after the bulk.
    unsafe { core::ptr::copy_nonoverlapping(tail.as_ptr(), (va as usize + bulk) as *mut u8, tail.len()) };
}

/// What the boot code knows about physical memory.
pub struct BootMemory<'a> {
    pub ram: &'a [PhysRange],
    pub reserved: &'a [PhysRange],
    pub phys_base: u64,
}

/// Errors while setting up the kernel's memory.
#[derive(Debug)]
pub enum SetupError {
    NoRoomForBitmap,
    Frames(super::frames::FrameError),
    Map(MapError),
}

/// Builds the frame allocator and the final kernel tables (linear map of RAM, the image
/// with per-section permissions, `devices`), switches TTBR1_EL2 to them and disables
/// TTBR0 walks until user space exists.
pub fn init(memory: &BootMemory<'_>, devices: &[PhysRange]) -> Result<(), SetupError> {
    let words = FrameAllocator::bitmap_words(memory.ram);
    let bitmap_bytes = (words as u64 * 8).div_ceil(FRAME_SIZE) * FRAME_SIZE;
    let bitmap_pa = super::layout::find_free_span(memory.ram, memory.reserved, bitmap_bytes, FRAME_SIZE)
        .ok_or(SetupError::NoRoomForBitmap)?;
    let bitmap_va = phys_to_virt(bitmap_pa).ok_or(SetupError::NoRoomForBitmap)?;
    // SAFETY: the span lies in RAM outside every reserved range (the image, DTB, initrd),
    // is reached through the boot linear map, and is never handed out by the allocator
    // because it is passed as reserved below.
    let bitmap = unsafe { core::slice::from_raw_parts_mut(bitmap_va as *mut u64, words) };
    let mut reserved = [PhysRange::new(0, 0); 40];
    let mut n = 0;
    for range in memory.reserved.iter().chain([PhysRange::new(bitmap_pa, bitmap_pa + bitmap_bytes)].iter()) {
        if n < reserved.len() {
            reserved[n] = *range;
            n += 1;
        }
    }
    let mut frames = FrameAllocator::new(memory.ram, &reserved[..n], bitmap).map_err(SetupError::Frames)?;
    RAM_BYTES.store(memory.ram.iter().map(|r| r.len()).sum(), Ordering::Relaxed);

    let mut tables = KernelTables { frames: &mut frames };
    let mut table = PageTable::new(&mut tables, Half::Upper).map_err(SetupError::Map)?;
    for range in memory.ram {
        let range = range.align_in();
        if range.is_empty() {
            continue;
        }
        table
            .map(&mut tables, LINEAR_BASE + range.start, range.start, range.len(), Attributes::KERNEL_DATA)
            .map_err(SetupError::Map)?;
    }
    let image = image_layout();
    let sections = [
        (image.start, image.text_end, Attributes::KERNEL_TEXT),
        (image.text_end, image.rodata_end, Attributes::KERNEL_RODATA),
        (image.rodata_end, image.end, Attributes::KERNEL_DATA),
    ];
    for (start, end, attributes) in sections {
        let pa = start - KIMAGE_BASE + memory.phys_base;
        table.map(&mut tables, start, pa, end - start, attributes).map_err(SetupError::Map)?;
    }
    for device in devices {
        map_device_in(&mut table, &mut tables, *device).map_err(SetupError::Map)?;
    }
    let root = table.root();
    // SAFETY: the new tables map everything the kernel uses right now at the same virtual
    // addresses as the boot tables (image, stacks, linear RAM, the devices in use), so
    // execution continues unchanged; the TLB is invalidated right after the switch.
    unsafe { keel_drivers::sysreg::write_ttbr1_el2(root) };
    invalidate_tlb();
    KERNEL_ROOT.store(root, Ordering::Release);
    *KERNEL_TABLE.lock() = Some(table);
    *FRAMES.lock() = Some(frames);
    finish_cpu_boot();
    Ok(())
}

fn map_device_in(table: &mut PageTable, tables: &mut KernelTables<'_>, device: PhysRange) -> Result<u64, MapError> {
    let range = device.align_out();
    let va = phys_to_virt(range.start).ok_or(MapError::OutOfRange)?;
    for page in (0..range.len()).step_by(FRAME_SIZE as usize) {
        match table.map(tables, va + page, range.start + page, FRAME_SIZE, Attributes::DEVICE) {
            Ok(()) | Err(MapError::AlreadyMapped { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(va + (device.start - range.start))
}

/// Maps a device's registers (device memory, never executable) into the linear window and
/// returns their virtual address. Mapping the same device twice is harmless.
pub fn map_device(start: u64, len: u64) -> Result<usize, MapError> {
    let mut table = KERNEL_TABLE.lock();
    let mut frames = FRAMES.lock();
    let (Some(table), Some(frames)) = (table.as_mut(), frames.as_mut()) else {
        return Err(MapError::OutOfMemory);
    };
    let mut tables = KernelTables { frames };
    let va = map_device_in(table, &mut tables, PhysRange::new(start, start + len))?;
    // New entries only replaced invalid ones: a barrier makes them visible to the walker.
    // SAFETY: barriers only.
    unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack)) };
    Ok(va as usize)
}

/// Per-CPU end of boot: no walks through TTBR0 (so null pointers fault) and a clean TLB.
pub fn finish_cpu_boot() {
    TCR_EL2.set(TCR_EL2.get() | TCR_EPD0);
    invalidate_tlb();
}

fn invalidate_tlb() {
    // SAFETY: TLB maintenance for this CPU's EL2&0 regime; changes no memory.
    unsafe { core::arch::asm!("isb", "tlbi alle2", "dsb nsh", "isb", options(nostack)) };
}

/// The kernel's TTBR1_EL2 root (physical), for starting CPUs.
pub fn kernel_root() -> u64 {
    KERNEL_ROOT.load(Ordering::Acquire)
}

/// `count` contiguous zeroed frames aligned to `align` frames; their physical address.
pub fn alloc_frames(count: usize, align: usize) -> Option<u64> {
    let pa = alloc_frames_unzeroed(count, align)?;
    zero_frames(pa, count);
    Some(pa)
}

/// Like [`alloc_frames`], but the frames keep whatever they held: the caller must zero
/// every part before anyone else can read it (guest RAM does so block by block).
pub fn alloc_frames_unzeroed(count: usize, align: usize) -> Option<u64> {
    FRAMES.lock().as_mut()?.alloc(count, align)
}

/// Returns frames to the allocator.
pub fn free_frames(pa: u64, count: usize) -> Result<(), super::frames::FrameError> {
    match FRAMES.lock().as_mut() {
        Some(frames) => frames.free(pa, count),
        None => Ok(()),
    }
}

/// (free, total) frames.
pub fn frame_counts() -> (usize, usize) {
    FRAMES.lock().as_ref().map_or((0, 0), |f| (f.free_frames(), f.total_frames()))
}

/// Bytes of RAM the DTB describes.
pub fn ram_bytes() -> u64 {
    RAM_BYTES.load(Ordering::Relaxed)
}

/// Runs `f` with page-table memory from the frame allocator (for user address spaces).
pub fn with_tables<R>(f: impl FnOnce(&mut KernelTables<'_>) -> R) -> Option<R> {
    let mut frames = FRAMES.lock();
    let frames = frames.as_mut()?;
    Some(f(&mut KernelTables { frames }))
}

/// Loads a user address space (TTBR0_EL2 = table | ASID) and enables TTBR0 walks.
pub fn load_user_table(ttbr0: u64) {
    // SAFETY: `ttbr0` comes from a live AddressSpace (its thread holds it); the lower half
    // holds only user mappings, so the kernel's own view is unchanged. ASIDs keep the
    // TLB entries of different processes apart.
    unsafe {
        core::arch::asm!("msr ttbr0_el2, {}", "isb", in(reg) ttbr0, options(nostack));
    }
    TCR_EL2.set(TCR_EL2.get() & !TCR_EPD0);
    // SAFETY: a barrier only.
    unsafe { core::arch::asm!("isb", options(nostack)) };
}

/// Stops this CPU from walking a user table that is about to be freed.
pub fn forget_user_table(ttbr0: u64) {
    let current: u64;
    // SAFETY: reading TTBR0_EL2 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ttbr0_el2", out(reg) current, options(nomem, nostack)) };
    if current == ttbr0 {
        TCR_EL2.set(TCR_EL2.get() | TCR_EPD0);
        // SAFETY: a barrier only.
        unsafe { core::arch::asm!("isb", options(nostack)) };
    }
}

/// Drops every TLB entry of `asid` on all CPUs.
pub fn invalidate_asid(asid: u16) {
    let operand = u64::from(asid) << 48;
    // SAFETY: TLB maintenance only; changes no memory.
    unsafe { core::arch::asm!("dsb ishst", "tlbi aside1is, {}", "dsb ish", "isb", in(reg) operand, options(nostack)) };
}

/// Bytes the frame allocator manages and has free.
pub fn usable_and_free_bytes() -> (u64, u64) {
    let (free, total) = frame_counts();
    (total as u64 * FRAME_SIZE, free as u64 * FRAME_SIZE)
}
