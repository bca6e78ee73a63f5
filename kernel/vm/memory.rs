//! Guest memory: host frames for guest RAM, made ready block by block, and the stage-2
//! tables that map it.

use crate::mm::frames::FRAME_SIZE;
use crate::mm::kernel_space;
use crate::mm::layout::phys_to_virt;
use crate::sync::IrqSpinlock;
use keel_vmm::layout::RAM_BASE;
use keel_vmm::ram::{Claim, RamBlocks, BLOCK_SIZE};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use keel_vmm::stage2::{Leaves, Stage2, Stage2Error, TableMemory, ENTRIES};
use keel_vmm::virtio::memory::{GuestMemory, MemoryError};

/// Stage-2 table pages come from the frame allocator and are reached through the linear map.
pub struct Stage2Frames;

impl TableMemory for Stage2Frames {
    fn alloc_table(&mut self) -> Option<u64> {
        kernel_space::alloc_frames(1, 1)
    }

    fn alloc_root(&mut self) -> Option<u64> {
        kernel_space::alloc_frames(2, 2)
    }

    fn table(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
        let va = phys_to_virt(pa).unwrap_or(0);
        // SAFETY: the stage-2 code only passes addresses of tables it got from
        // alloc_table/alloc_root (zeroed frames owned by that table), reached through the
        // linear map; `&mut self` keeps the borrow unique.
        unsafe { &mut *(va as *mut [u64; ENTRIES]) }
    }

    fn free_table(&mut self, pa: u64) {
        let _ = kernel_space::free_frames(pa, 1);
    }

    fn free_root(&mut self, pa: u64) {
        let _ = kernel_space::free_frames(pa, 2);
    }
}

/// How guest RAM is mapped at stage 2 (`keel.stage2=blocks|pages` on Keel's command line;
/// pages by default, see [`Leaves`]).
static USE_BLOCKS: AtomicBool = AtomicBool::new(false);

/// Sets the stage-2 leaf policy from Keel's command line word (`blocks` or `pages`).
pub fn set_stage2_leaves(word: &str) {
    match word {
        "blocks" => USE_BLOCKS.store(true, Ordering::Relaxed),
        "pages" => USE_BLOCKS.store(false, Ordering::Relaxed),
        other => log::warn!("vm: keel.stage2={other} is not blocks or pages; keeping {}", leaves_name()),
    }
}

fn leaves() -> Leaves {
    if USE_BLOCKS.load(Ordering::Relaxed) {
        Leaves::Blocks
    } else {
        Leaves::Pages
    }
}

fn leaves_name() -> &'static str {
    match leaves() {
        Leaves::Blocks => "blocks",
        Leaves::Pages => "pages",
    }
}

/// Stage-2 tables reserved when a VM starts, so that mapping its RAM later, on first
/// touch, never needs memory the host may no longer have. Frees what is left when dropped.
struct TablePool {
    spare: Vec<u64>,
    frames: Stage2Frames,
}

impl TablePool {
    fn reserve(count: usize) -> Option<Self> {
        let mut pool = Self { spare: Vec::with_capacity(count), frames: Stage2Frames };
        for _ in 0..count {
            pool.spare.push(kernel_space::alloc_frames(1, 1)?);
        }
        Some(pool)
    }
}

impl Drop for TablePool {
    fn drop(&mut self) {
        for &pa in &self.spare {
            let _ = kernel_space::free_frames(pa, 1);
        }
    }
}

impl TableMemory for TablePool {
    fn alloc_table(&mut self) -> Option<u64> {
        self.spare.pop()
    }

    fn alloc_root(&mut self) -> Option<u64> {
        self.frames.alloc_root()
    }

    fn table(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
        self.frames.table(pa)
    }

    fn free_table(&mut self, pa: u64) {
        self.frames.free_table(pa);
    }

    fn free_root(&mut self, pa: u64) {
        self.frames.free_root(pa);
    }
}

/// The stage-2 tables of one VM and the spare tables they grow from.
struct Tables {
    stage2: Stage2,
    pool: TablePool,
    leaves: Leaves,
}

/// A write that would not fit in guest RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutsideRam;

/// Why guest RAM could not be set up or a block of it made ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamError {
    /// Not enough host frames for the RAM or its tables.
    NoMemory,
    /// The stage-2 tables refused the mapping.
    Stage2(Stage2Error),
}

/// What a vCPU's stage-2 miss turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// Inside RAM: the block is mapped now (or being mapped by another vCPU): retry.
    Retry,
    /// Not RAM: an emulated device or a hole.
    NotRam,
    /// Inside RAM, but the block could not be mapped.
    Failed(RamError),
}

/// A guest's RAM: host frames reserved in full when the VM starts, and its stage-2 tables.
/// Each 2 MiB block is zeroed and mapped on first use (see `keel_vmm::ram`): by the
/// loader, by a guest access that misses, or by host code about to touch guest memory.
pub struct GuestRam {
    pa: u64,
    frames: usize,
    blocks: RamBlocks,
    tables: IrqSpinlock<Option<Tables>>,
}

impl GuestRam {
    /// `bytes` of RAM at guest-physical [`RAM_BASE`], in 2 MiB-aligned host memory, and the
    /// stage-2 tables that will map it: every table it can need is reserved now, so a VM
    /// that does not fit fails here and a running one never runs out.
    pub fn new(bytes: u64) -> Result<Self, RamError> {
        let frames = bytes.div_ceil(FRAME_SIZE) as usize;
        let size = frames as u64 * FRAME_SIZE;
        let blocks = RamBlocks::new(RAM_BASE, size);
        let leaves = leaves();
        // A level-2 table per GiB the RAM touches; with pages, a level-3 table per block (a
        // short last block needs one either way).
        let gigabytes = ((RAM_BASE + size - 1) >> 30) - (RAM_BASE >> 30) + 1;
        let per_block = match leaves {
            Leaves::Pages => blocks.count(),
            Leaves::Blocks => 1,
        };
        let pool = TablePool::reserve(gigabytes as usize + per_block).ok_or(RamError::NoMemory)?;
        let stage2 = Stage2::new(&mut Stage2Frames).map_err(|_| RamError::NoMemory)?;
        let Some(pa) = kernel_space::alloc_frames_unzeroed(frames, (BLOCK_SIZE / FRAME_SIZE) as usize) else {
            stage2.destroy(&mut Stage2Frames);
            return Err(RamError::NoMemory);
        };
        let tables = Tables { stage2, pool, leaves };
        Ok(Self { pa, frames, blocks, tables: IrqSpinlock::new(Some(tables)) })
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.frames as u64 * FRAME_SIZE
    }

    /// VTTBR_EL2 for this RAM's tables under `vmid`.
    pub fn vttbr(&self, vmid: u8) -> u64 {
        self.tables.lock().as_ref().map_or(0, |t| t.stage2.vttbr(vmid))
    }

    /// 2 MiB blocks zeroed and mapped so far.
    pub fn ready_blocks(&self) -> usize {
        self.blocks.ready_count()
    }

    /// Zeroes and maps `block` unless that is done; waits while another CPU does it.
    fn make_ready(&self, block: usize) -> Result<(), RamError> {
        self.make_ready_with(block, Contents::Zeroes)
    }

    /// Makes `block` ready holding `contents`, or writes them over it if it is ready
    /// already; waits while another CPU prepares it.
    fn make_ready_with(&self, block: usize, contents: Contents<'_>) -> Result<(), RamError> {
        loop {
            match self.blocks.claim(block) {
                Claim::Ready => {
                    if let Contents::Bytes(bytes) = contents {
                        self.copy_in(self.blocks.span(block).0 - RAM_BASE, bytes);
                    }
                    return Ok(());
                }
                Claim::Busy => crate::sched::yield_now(),
                Claim::Claimed => {
                    let result = self.prepare_claimed(block, contents);
                    match result {
                        Ok(()) => self.blocks.set_ready(block),
                        Err(_) => self.blocks.release(block),
                    }
                    return result;
                }
            }
        }
    }

    /// Fills the claimed `block` with `contents` and maps it: nothing of it is visible
    /// before it holds what it should.
    fn prepare_claimed(&self, block: usize, contents: Contents<'_>) -> Result<(), RamError> {
        let (ipa, len) = self.blocks.span(block);
        let pa = self.pa + (ipa - RAM_BASE);
        let bytes = match contents {
            Contents::Bytes(bytes) => &bytes[..bytes.len().min(len as usize)],
            Contents::Zeroes => &[],
        };
        if (bytes.len() as u64) < len {
            kernel_space::zero_frames(pa, (len / FRAME_SIZE) as usize);
        }
        if !bytes.is_empty() {
            self.copy_in(ipa - RAM_BASE, bytes);
        }
        let mut tables = self.tables.lock();
        let Tables { stage2, pool, leaves } = tables.as_mut().ok_or(RamError::NoMemory)?;
        stage2.map_ram_with(pool, ipa, pa, len, *leaves).map_err(RamError::Stage2)?;
        // SAFETY: a barrier only: the block's contents and the new descriptor are visible
        // to every CPU's table walker before the block is marked ready (an empty entry was
        // replaced, so no TLB holds it).
        unsafe { core::arch::asm!("dsb ish", options(nostack)) };
        Ok(())
    }

    /// A vCPU's access to `ipa` missed at stage 2.
    pub fn miss(&self, ipa: u64) -> Miss {
        let Some(block) = self.blocks.block_of(ipa) else { return Miss::NotRam };
        match self.blocks.claim(block) {
            Claim::Ready => Miss::Retry,
            Claim::Busy => {
                crate::sched::yield_now();
                Miss::Retry
            }
            Claim::Claimed => match self.prepare_claimed(block, Contents::Zeroes) {
                Ok(()) => {
                    self.blocks.set_ready(block);
                    Miss::Retry
                }
                Err(error) => {
                    self.blocks.release(block);
                    Miss::Failed(error)
                }
            },
        }
    }

    /// Copies `bytes` to `offset` in guest RAM: the loader, before any vCPU runs. Blocks
    /// the bytes cover whole are filled and mapped without being zeroed first (zeroing a
    /// 32 MiB kernel only to overwrite it cost as much as the copy under QEMU TCG); the
    /// others are made ready first.
    pub fn write(&self, offset: u64, bytes: &[u8]) -> Result<(), OutsideRam> {
        let end = offset.checked_add(bytes.len() as u64).ok_or(OutsideRam)?;
        if end > self.size() {
            return Err(OutsideRam);
        }
        let pieces = self.blocks.pieces(RAM_BASE + offset, bytes.len() as u64).ok_or(OutsideRam)?;
        for piece in pieces {
            let part = bytes.get(piece.bytes.clone()).ok_or(OutsideRam)?;
            if piece.whole {
                self.make_ready_with(piece.block, Contents::Bytes(part)).map_err(|_| OutsideRam)?;
            } else {
                self.make_ready(piece.block).map_err(|_| OutsideRam)?;
                self.copy_in(offset + piece.bytes.start as u64, part);
            }
        }
        Ok(())
    }

    /// Copies `bytes` to `offset` in this RAM's frames (the caller checked the range).
    fn copy_in(&self, offset: u64, bytes: &[u8]) {
        debug_assert!(offset + bytes.len() as u64 <= self.size());
        kernel_space::copy_to_frames(self.pa + offset, bytes);
    }
}

/// What a block holds when it is made ready.
#[derive(Clone, Copy)]
enum Contents<'a> {
    Zeroes,
    /// The block's bytes from its start (zeroes after them if they are fewer; only bytes
    /// that cover it whole spare the zeroing).
    Bytes(&'a [u8]),
}

/// Whole 64-bit words where both sides are aligned, bytes elsewhere, every access
/// volatile: guest memory changes under the device's feet (vCPUs run meanwhile), so it is
/// never turned into a Rust reference.
///
/// # Safety
/// `src` and `dst` must be valid for `len` bytes and not overlap.
unsafe fn copy_volatile(dst: *mut u8, src: *const u8, len: usize) {
    let mut done = 0;
    while done < len {
        let (d, s) = (dst.wrapping_add(done), src.wrapping_add(done));
        // SAFETY: [done, done + 8) or [done, done + 1) lies inside both buffers.
        unsafe {
            if len - done >= 8 && (d as usize).is_multiple_of(8) && (s as usize).is_multiple_of(8) {
                core::ptr::write_volatile(d as *mut u64, core::ptr::read_volatile(s as *const u64));
                done += 8;
            } else {
                core::ptr::write_volatile(d, core::ptr::read_volatile(s));
                done += 1;
            }
        }
    }
}

impl GuestRam {
    /// Whether [ipa, ipa + len) lies entirely in this RAM (nothing is touched).
    pub fn contains(&self, ipa: u64, len: u64) -> bool {
        self.blocks.blocks_in(ipa, len).is_some()
    }

    /// The host virtual address of [ipa, ipa + len) for a device's access, its blocks made
    /// ready first (so the device never sees frames that were not zeroed).
    fn device_window(&self, ipa: u64, len: usize) -> Result<u64, MemoryError> {
        let outside = MemoryError::OutOfRange { ipa, len: len as u64 };
        let blocks = self.blocks.blocks_in(ipa, len as u64).ok_or(outside)?;
        for block in blocks {
            self.make_ready(block).map_err(|_| MemoryError::Unavailable { ipa })?;
        }
        let offset = ipa.checked_sub(RAM_BASE).ok_or(outside)?;
        phys_to_virt(self.pa + offset).ok_or(MemoryError::Unavailable { ipa })
    }

    /// A device reads guest RAM at `ipa` (refused outside RAM).
    pub fn read_for_device(&self, ipa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let va = self.device_window(ipa, buf.len())?;
        // SAFETY: the window lies inside this RAM's frames (checked by `blocks_in`), reached
        // through the linear map and ready; `buf` is ours and cannot overlap guest RAM.
        unsafe { copy_volatile(buf.as_mut_ptr(), va as *const u8, buf.len()) };
        Ok(())
    }

    /// A device writes guest RAM at `ipa` (refused outside RAM).
    pub fn write_for_device(&self, ipa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let va = self.device_window(ipa, data.len())?;
        // SAFETY: as in `read_for_device`, the other way round.
        unsafe { copy_volatile(va as *mut u8, data.as_ptr(), data.len()) };
        Ok(())
    }
}

/// A VM's RAM as a virtio device sees it.
pub struct DeviceMemory<'a>(pub &'a GuestRam);

impl GuestMemory for DeviceMemory<'_> {
    fn read(&mut self, ipa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.0.read_for_device(ipa, buf)
    }

    fn write(&mut self, ipa: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.0.write_for_device(ipa, data)
    }

    fn contains(&self, ipa: u64, len: u64) -> bool {
        self.0.contains(ipa, len)
    }
}

impl Drop for GuestRam {
    fn drop(&mut self) {
        // Tables first (their TLB entries are the registry's to invalidate), then the frames.
        if let Some(Tables { stage2, mut pool, .. }) = self.tables.lock().take() {
            stage2.destroy(&mut pool);
        }
        if let Err(error) = kernel_space::free_frames(self.pa, self.frames) {
            log::error!("vm: guest RAM at {:#x} not freed: {error}", self.pa);
        }
    }
}
