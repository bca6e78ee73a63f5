//! A user address space: TTBR0_EL2 tables with an ASID, its pages, and checked copies.

use crate::mm::frames::FRAME_SIZE;
use crate::mm::kernel_space::{self, KernelTables};
use crate::mm::layout::phys_to_virt;
use crate::mm::pagetable::{Attributes, Half, PageTable};
use crate::sync::IrqSpinlock;
use alloc::vec::Vec;
use keel_abi::Error;

/// Highest user address + 1 (the lower half of the 39-bit space).
pub const USER_END: u64 = 1 << 39;
/// The user stack: its top and size.
pub const STACK_TOP: u64 = USER_END - 0x1000_0000;
pub const STACK_SIZE: u64 = 256 * 1024;

/// 16-bit ASIDs; 0 is never handed out.
static ASIDS: IrqSpinlock<[u64; 1024]> = IrqSpinlock::new([0; 1024]);

fn alloc_asid() -> Option<u16> {
    let mut asids = ASIDS.lock();
    for (word_index, word) in asids.iter_mut().enumerate() {
        if *word != u64::MAX {
            let bit = (!*word).trailing_zeros() as usize;
            let asid = word_index * 64 + bit;
            if asid == 0 {
                *word |= 1;
                continue;
            }
            *word |= 1 << bit;
            return u16::try_from(asid).ok();
        }
    }
    None
}

fn free_asid(asid: u16) {
    let mut asids = ASIDS.lock();
    asids[usize::from(asid) / 64] &= !(1u64 << (asid % 64));
}

pub struct AddressSpace {
    table: Option<PageTable>,
    asid: u16,
    /// Every user page mapped: (virtual address, physical frame).
    pages: Vec<(u64, u64)>,
}

impl AddressSpace {
    pub fn new() -> Result<Self, Error> {
        let asid = alloc_asid().ok_or(Error::TooBig)?;
        let table = kernel_space::with_tables(|tables| PageTable::new(tables, Half::Lower)).ok_or(Error::NoMemory);
        match table {
            Ok(Ok(table)) => Ok(Self { table: Some(table), asid, pages: Vec::new() }),
            _ => {
                free_asid(asid);
                Err(Error::NoMemory)
            }
        }
    }

    /// The TTBR0_EL2 value: table address and ASID.
    pub fn ttbr0(&self) -> u64 {
        self.table.as_ref().map_or(0, |t| t.root() | (u64::from(self.asid) << 48))
    }

    /// Maps fresh zeroed frames at [va, va + len) (page-aligned) with `attributes`.
    pub fn map_zeroed(&mut self, va: u64, len: u64, attributes: Attributes) -> Result<(), Error> {
        let table = self.table.as_mut().ok_or(Error::NoMemory)?;
        for page in (va..va + len).step_by(FRAME_SIZE as usize) {
            let frame = kernel_space::alloc_frames(1, 1).ok_or(Error::NoMemory)?;
            let mapped = kernel_space::with_tables(|tables: &mut KernelTables<'_>| {
                table.map(tables, page, frame, FRAME_SIZE, attributes)
            });
            if !matches!(mapped, Some(Ok(()))) {
                let _ = kernel_space::free_frames(frame, 1);
                return Err(Error::NoMemory);
            }
            self.pages.push((page, frame));
        }
        Ok(())
    }

    /// Physical address behind a user address, if mapped for the access.
    fn translate(&self, va: u64, write: bool) -> Option<u64> {
        let table = self.table.as_ref()?;
        let (pa, attributes) = kernel_space::with_tables(|tables| table.translate(tables, va))??;
        if !attributes.user || (write && !attributes.writable) {
            return None;
        }
        Some(pa)
    }

    /// Runs `f` on each piece of [va, va + len) as kernel-visible bytes, page by page,
    /// after checking the whole range is mapped (and writable if `write`).
    fn for_each_piece(&self, va: u64, len: usize, write: bool, mut f: impl FnMut(*mut u8, usize, usize)) -> Result<(), Error> {
        let end = va.checked_add(len as u64).ok_or(Error::BadAddress)?;
        if end > USER_END {
            return Err(Error::BadAddress);
        }
        let mut pieces = Vec::new();
        let mut at = va;
        while at < end {
            let page_end = ((at / FRAME_SIZE) + 1) * FRAME_SIZE;
            let piece_end = page_end.min(end);
            let pa = self.translate(at, write).ok_or(Error::BadAddress)?;
            let kernel_va = phys_to_virt(pa).ok_or(Error::BadAddress)?;
            pieces.push((kernel_va, (at - va) as usize, (piece_end - at) as usize));
            at = piece_end;
        }
        for (kernel_va, offset, piece_len) in pieces {
            f(kernel_va as *mut u8, offset, piece_len);
        }
        Ok(())
    }

    /// Copies user memory into `buffer`.
    pub fn read(&self, va: u64, buffer: &mut [u8]) -> Result<(), Error> {
        let len = buffer.len();
        self.for_each_piece(va, len, false, |source, offset, piece| {
            // SAFETY: `source` is the linear-map address of a frame this address space
            // owns (checked by translate); `piece` bytes stay inside that page.
            let bytes = unsafe { core::slice::from_raw_parts(source, piece) };
            buffer[offset..offset + piece].copy_from_slice(bytes);
        })
    }

    /// Checks that [va, va + len) is mapped writable for the user, without touching it
    /// (so a call can fail on a bad buffer before it blocks).
    pub fn check_writable(&self, va: u64, len: usize) -> Result<(), Error> {
        self.for_each_piece(va, len, true, |_, _, _| {})
    }

    /// Copies `bytes` into user memory (which must be mapped writable).
    pub fn write(&self, va: u64, bytes: &[u8]) -> Result<(), Error> {
        self.for_each_piece(va, bytes.len(), true, |destination, offset, piece| {
            // SAFETY: as in `read`; the page is mapped writable for the user and owned by
            // this address space.
            let target = unsafe { core::slice::from_raw_parts_mut(destination, piece) };
            target.copy_from_slice(&bytes[offset..offset + piece]);
        })
    }

    /// Fills memory the loader mapped (even pages the user may not write, like code).
    pub fn write_loaded(&self, va: u64, bytes: &[u8]) -> Result<(), Error> {
        self.for_each_piece(va, bytes.len(), false, |destination, offset, piece| {
            // SAFETY: as in `write`; the frame belongs to this address space, which no
            // thread runs yet.
            let target = unsafe { core::slice::from_raw_parts_mut(destination, piece) };
            target.copy_from_slice(&bytes[offset..offset + piece]);
        })
    }

    /// Writes a plain-data value (an ABI struct) to user memory.
    pub fn write_value<T: Copy>(&self, va: u64, value: &T) -> Result<(), Error> {
        // SAFETY: T is a Copy ABI struct (repr(C), no padding-sensitive invariants); its
        // bytes are only copied out.
        let bytes = unsafe { core::slice::from_raw_parts(value as *const T as *const u8, core::mem::size_of::<T>()) };
        self.write(va, bytes)
    }

    /// Copies a user string of at most `max` bytes; it must be UTF-8.
    pub fn read_str(&self, va: u64, len: u64, max: usize) -> Result<alloc::string::String, Error> {
        let len = usize::try_from(len).map_err(|_| Error::TooBig)?;
        if len > max {
            return Err(Error::TooBig);
        }
        let mut bytes = alloc::vec![0; len];
        self.read(va, &mut bytes)?;
        alloc::string::String::from_utf8(bytes).map_err(|_| Error::InvalidArgument)
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        kernel_space::forget_user_table(self.ttbr0());
        kernel_space::invalidate_asid(self.asid);
        if let Some(table) = self.table.take() {
            kernel_space::with_tables(|tables| table.destroy(tables));
        }
        for &(_, frame) in &self.pages {
            let _ = kernel_space::free_frames(frame, 1);
        }
        free_asid(self.asid);
    }
}
