//! The kernel's virtual address layout and the boot-time placement of physical memory.
//!
//! ```text
//! 0xFFFF_FF80_0000_0000  LINEAR_BASE: all RAM (normal) and mapped devices, at PA + LINEAR_BASE
//! 0xFFFF_FFC0_0000_0000  (end of the 256 GiB linear window)
//! 0xFFFF_FFFF_C000_0000  KIMAGE_BASE: the kernel image (text RX, rodata R, data/bss RW)
//! ```
//! The lower half (TTBR0_EL2) belongs to user processes.

use crate::mm::frames::PhysRange;

/// Start of the linear map of physical memory.
pub const LINEAR_BASE: u64 = 0xFFFF_FF80_0000_0000;
/// Size of the linear window: physical addresses below this are reachable.
pub const LINEAR_SIZE: u64 = 256 << 30;
/// Where the kernel image is linked (see link.ld).
pub const KIMAGE_BASE: u64 = 0xFFFF_FFFF_C000_0000;

/// The linear-map virtual address of a physical address, if it is inside the window.
pub const fn phys_to_virt(pa: u64) -> Option<u64> {
    if pa < LINEAR_SIZE {
        Some(pa + LINEAR_BASE)
    } else {
        None
    }
}

/// The physical address behind a linear-map virtual address.
pub const fn virt_to_phys(va: u64) -> Option<u64> {
    if va >= LINEAR_BASE && va - LINEAR_BASE < LINEAR_SIZE {
        Some(va - LINEAR_BASE)
    } else {
        None
    }
}

/// Finds `len` bytes aligned to `align` inside `usable` memory that overlap none of the
/// `reserved` ranges: used once at boot to place the frame allocator's bitmap.
pub fn find_free_span(usable: &[PhysRange], reserved: &[PhysRange], len: u64, align: u64) -> Option<u64> {
    let align = align.max(1);
    for range in usable {
        let mut candidate = range.start.checked_add(align - 1)? & !(align - 1);
        'search: loop {
            let end = candidate.checked_add(len)?;
            if end > range.end {
                break;
            }
            for r in reserved {
                if r.start < end && candidate < r.end {
                    candidate = r.end.checked_add(align - 1)? & !(align - 1);
                    continue 'search;
                }
            }
            return Some(candidate);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> PhysRange {
        PhysRange { start, end }
    }

    #[test]
    fn linear_map_round_trips_and_bounds() {
        assert_eq!(phys_to_virt(0x4000_0000), Some(0xFFFF_FF80_4000_0000));
        assert_eq!(virt_to_phys(0xFFFF_FF80_4000_0000), Some(0x4000_0000));
        assert_eq!(phys_to_virt(LINEAR_SIZE), None);
        assert_eq!(virt_to_phys(KIMAGE_BASE), None);
        assert_eq!(virt_to_phys(0x1000), None);
    }

    #[test]
    fn free_span_skips_reserved_ranges() {
        let usable = [r(0x4000_0000, 0x4010_0000)];
        let reserved = [r(0x4000_0000, 0x4000_3000), r(0x4000_4000, 0x4000_8000)];
        assert_eq!(find_free_span(&usable, &reserved, 0x1000, 0x1000), Some(0x4000_3000));
        assert_eq!(find_free_span(&usable, &reserved, 0x2000, 0x1000), Some(0x4000_8000));
        assert_eq!(find_free_span(&usable, &reserved, 0x20_0000, 0x1000), None);
    }

    #[test]
    fn free_span_moves_to_the_next_range() {
        let usable = [r(0x1000, 0x3000), r(0x10_0000, 0x20_0000)];
        let reserved = [r(0x1000, 0x2000)];
        assert_eq!(find_free_span(&usable, &reserved, 0x2000, 0x1000), Some(0x10_0000));
    }
}
