//! The kernel heap: talc over a contiguous run of frames claimed at boot.

use super::frames::FRAME_SIZE;
use talc::source::Manual;
use talc::TalcLock;

#[global_allocator]
/// IRQ-safe: interrupt handlers allocate when they wake threads and tasks.
static HEAP: TalcLock<crate::sync::IrqRawSpinlock, Manual> = TalcLock::new(Manual);

/// Claims `bytes` of frames as the heap. Returns the heap's size on success.
pub fn init(bytes: usize) -> Option<usize> {
    let frames = bytes.div_ceil(FRAME_SIZE as usize);
    let pa = super::kernel_space::alloc_frames(frames, 1)?;
    let va = super::layout::phys_to_virt(pa)?;
    let size = frames * FRAME_SIZE as usize;
    // SAFETY: the frames were just taken from the allocator, so this memory belongs to the
    // heap alone from now on, and the linear map covers it for the kernel's lifetime.
    unsafe { HEAP.lock().claim(va as *mut u8, size) }?;
    HEAP_BYTES.store(size, core::sync::atomic::Ordering::Relaxed);
    Some(size)
}

static HEAP_BYTES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// (heap size, bytes allocated now).
pub fn usage() -> (usize, usize) {
    let used = HEAP.lock().counters().allocated_bytes;
    (HEAP_BYTES.load(core::sync::atomic::Ordering::Relaxed), used)
}
