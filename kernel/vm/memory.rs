//! Guest memory: host frames for guest RAM, and the stage-2 tables that map it.

use crate::mm::frames::FRAME_SIZE;
use crate::mm::kernel_space;
use crate::mm::layout::phys_to_virt;
use keel_vmm::stage2::{TableMemory, ENTRIES};

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

/// A write that would not fit in guest RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutsideRam;

/// A run of host frames backing guest RAM, freed when dropped.
pub struct GuestRam {
    pa: u64,
    frames: usize,
}

impl GuestRam {
    /// `bytes` of zeroed RAM in 2 MiB-aligned physical memory (so stage 2 can use blocks).
    pub fn new(bytes: u64) -> Option<Self> {
        let frames = bytes.div_ceil(FRAME_SIZE) as usize;
        let pa = kernel_space::alloc_frames(frames, 512)?;
        Some(Self { pa, frames })
    }

    pub fn pa(&self) -> u64 {
        self.pa
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.frames as u64 * FRAME_SIZE
    }

    /// Copies `bytes` to `offset` in guest RAM.
    pub fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), OutsideRam> {
        let end = offset.checked_add(bytes.len() as u64).ok_or(OutsideRam)?;
        if end > self.size() {
            return Err(OutsideRam);
        }
        let va = phys_to_virt(self.pa + offset).ok_or(OutsideRam)?;
        // SAFETY: [offset, end) lies inside this RAM's frames, which only this object owns
        // (the guest is not running while the host loads it).
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), va as *mut u8, bytes.len()) };
        Ok(())
    }
}

impl Drop for GuestRam {
    fn drop(&mut self) {
        if let Err(error) = kernel_space::free_frames(self.pa, self.frames) {
            log::error!("vm: guest RAM at {:#x} not freed: {error}", self.pa);
        }
    }
}
