//! A byte buffer in contiguous frames of its own (outside the heap): large files read
//! whole, DMA memory for devices. Freed when dropped.

use super::frames::FRAME_SIZE;
use super::kernel_space;
use super::layout::phys_to_virt;

pub struct FrameBuffer {
    pa: u64,
    frames: usize,
    len: usize,
}

impl FrameBuffer {
    /// `len` bytes (at least one frame), zeroed.
    pub fn new(len: usize) -> Option<Self> {
        let frames = len.div_ceil(FRAME_SIZE as usize).max(1);
        let pa = kernel_space::alloc_frames(frames, 1)?;
        Some(Self { pa, frames, len })
    }

    /// Physical address of the first byte.
    pub fn phys(&self) -> u64 {
        self.pa
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Shortens the buffer (its frames stay until it is dropped).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn va(&self) -> u64 {
        // The allocator hands out RAM only, which the linear map covers.
        phys_to_virt(self.pa).unwrap_or(0)
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the frames were allocated for this buffer alone, are reached through the
        // linear map (normal memory), and `len` is within them; `&self` forbids writers.
        unsafe { core::slice::from_raw_parts(self.va() as *const u8, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`; `&mut self` makes this the only access.
        unsafe { core::slice::from_raw_parts_mut(self.va() as *mut u8, self.len) }
    }
}

impl Drop for FrameBuffer {
    fn drop(&mut self) {
        if let Err(error) = kernel_space::free_frames(self.pa, self.frames) {
            log::error!("mm: frame buffer {:#x} could not be freed: {error:?}", self.pa);
        }
    }
}
