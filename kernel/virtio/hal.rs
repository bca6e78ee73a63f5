//! virtio-drivers' `Hal` for Keel: DMA memory from the frame allocator, addresses through
//! the linear map. Shared by every virtio host driver.

use crate::mm::kernel_space;
use crate::mm::layout::{phys_to_virt, virt_to_phys};
use core::ptr::NonNull;
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

pub struct KeelHal;

// SAFETY: `dma_alloc` returns zeroed, page-aligned frames owned by the caller until
// `dma_dealloc`, reached through the linear map (valid, unaliased normal memory); `share`
// gives the physical address of memory the kernel reaches through the linear map, which
// is what the device addresses. The virtio devices Keel drives (QEMU's) are cache
// coherent and sit behind no IOMMU, so sharing needs no copies or cache maintenance.
unsafe impl Hal for KeelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let memory = kernel_space::alloc_frames(pages, 1)
            .and_then(|pa| Some((pa, NonNull::new(phys_to_virt(pa)? as *mut u8)?)));
        match memory {
            Some(memory) => memory,
            // The trait has no way to fail: a virtio queue without memory cannot be made.
            None => panic!("virtio: no memory for {pages} DMA page(s)"),
        }
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        match kernel_space::free_frames(paddr, pages) {
            Ok(()) => 0,
            Err(error) => {
                log::error!("virtio: DMA pages at {paddr:#x} not freed: {error:?}");
                -1
            }
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        match kernel_space::map_device(paddr, size as u64).ok().and_then(|va| NonNull::new(va as *mut u8)) {
            Some(va) => va,
            None => panic!("virtio: cannot map MMIO {paddr:#x} (+{size:#x})"),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        let va = buffer.as_ptr() as *mut u8 as u64;
        match virt_to_phys(va) {
            Some(pa) => pa,
            // Drivers pass heap, stack or DMA memory, all in the linear map; anything else
            // is a kernel bug, not something a device or user can cause.
            None => panic!("virtio: buffer {va:#x} is outside the linear map"),
        }
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

const _: () = assert!(PAGE_SIZE == crate::mm::frames::FRAME_SIZE as usize);
