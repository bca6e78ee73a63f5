//! Guest RAM made ready on first touch: which 2 MiB blocks are zeroed and mapped at stage 2.
//!
//! Zeroing all of a guest's RAM before it starts costs more than its whole boot under an
//! emulator (each first store to host memory is a host page fault), and most of it is not
//! touched while the guest boots. So RAM frames are reserved when the VM starts (a VM that
//! does not fit still fails at once) but each block is zeroed and mapped only when first
//! needed: by the loader, by the guest (a stage-2 translation fault inside RAM), or by a
//! host device model about to read or write guest memory. A block is never visible to the
//! guest, nor read by the host on the guest's behalf, before it is zeroed (or, by the
//! loader, filled whole with the kernel or initrd: [`RamBlocks::pieces`]).
//!
//! Blocks move Absent → Preparing → Ready. The one who claims a block (Absent → Preparing)
//! zeroes and maps it, then marks it Ready; anyone else who needs it meanwhile waits (a vCPU
//! simply retries its access). A failed preparation puts the block back to Absent.

use alloc::vec::Vec;
use core::ops::Range;
use core::sync::atomic::{AtomicU8, Ordering};

use crate::esr::{ExceptionClass, FaultStatus};
use crate::exit::fault_ipa;

/// The unit of zeroing and mapping: one stage-2 level-2 block.
pub const BLOCK_SIZE: u64 = 2 << 20;

const ABSENT: u8 = 0;
const PREPARING: u8 = 1;
const READY: u8 = 2;

/// What [`RamBlocks::claim`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The block is zeroed and mapped.
    Ready,
    /// The caller now owns the block's preparation: zero it, map it, then call
    /// [`RamBlocks::set_ready`] (or [`RamBlocks::release`] if that failed).
    Claimed,
    /// Someone else is preparing it: wait or retry.
    Busy,
}

/// One block's share of a write into guest RAM ([`RamBlocks::pieces`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub block: usize,
    /// The written bytes that land in this block (offsets into the write).
    pub bytes: Range<usize>,
    /// They cover the whole block.
    pub whole: bool,
}

/// The readiness of each block of one guest's RAM, [base, base + size).
#[derive(Debug)]
pub struct RamBlocks {
    base: u64,
    size: u64,
    states: Vec<AtomicU8>,
}

impl RamBlocks {
    /// Blocks for RAM at `base` (2 MiB aligned) of `size` bytes; every block Absent. The
    /// last block is shorter when `size` is not a multiple of 2 MiB.
    pub fn new(base: u64, size: u64) -> Self {
        let count = size.div_ceil(BLOCK_SIZE) as usize;
        Self { base, size, states: (0..count).map(|_| AtomicU8::new(ABSENT)).collect() }
    }

    pub fn count(&self) -> usize {
        self.states.len()
    }

    /// The block holding guest-physical address `ipa`, if it is RAM.
    pub fn block_of(&self, ipa: u64) -> Option<usize> {
        let offset = ipa.checked_sub(self.base)?;
        (offset < self.size).then_some((offset / BLOCK_SIZE) as usize)
    }

    /// The blocks that [ipa, ipa + len) overlaps; None unless all of it is RAM.
    pub fn blocks_in(&self, ipa: u64, len: u64) -> Option<Range<usize>> {
        if len == 0 {
            return Some(0..0);
        }
        let last = ipa.checked_add(len - 1)?;
        Some(self.block_of(ipa)?..self.block_of(last)? + 1)
    }

    /// How a write of `len` bytes at guest-physical `ipa` falls into blocks: for each block
    /// it touches, the range of the written bytes that lands there and whether they cover
    /// the whole block (which then needs no zeroing first). None unless all of it is RAM.
    pub fn pieces(&self, ipa: u64, len: u64) -> Option<Vec<Piece>> {
        let blocks = self.blocks_in(ipa, len)?;
        let end = ipa + len;
        Some(
            blocks
                .map(|block| {
                    let (start, size) = self.span(block);
                    let (from, to) = (start.max(ipa), (start + size).min(end));
                    Piece {
                        block,
                        bytes: (from - ipa) as usize..(to - ipa) as usize,
                        whole: from == start && to == start + size,
                    }
                })
                .collect(),
        )
    }

    /// Guest-physical start and length of `block`.
    pub fn span(&self, block: usize) -> (u64, u64) {
        let offset = block as u64 * BLOCK_SIZE;
        (self.base + offset, BLOCK_SIZE.min(self.size.saturating_sub(offset)))
    }

    /// Tries to take the preparation of `block` (out of range: Ready, there is nothing to do).
    pub fn claim(&self, block: usize) -> Claim {
        let Some(state) = self.states.get(block) else { return Claim::Ready };
        match state.compare_exchange(ABSENT, PREPARING, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => Claim::Claimed,
            Err(READY) => Claim::Ready,
            Err(_) => Claim::Busy,
        }
    }

    /// The claimed `block` is zeroed and mapped.
    pub fn set_ready(&self, block: usize) {
        if let Some(state) = self.states.get(block) {
            state.store(READY, Ordering::Release);
        }
    }

    /// The claimed `block` could not be prepared: back to Absent.
    pub fn release(&self, block: usize) {
        if let Some(state) = self.states.get(block) {
            state.store(ABSENT, Ordering::Release);
        }
    }

    pub fn is_ready(&self, block: usize) -> bool {
        self.states.get(block).is_some_and(|s| s.load(Ordering::Acquire) == READY)
    }

    /// How many blocks are ready.
    pub fn ready_count(&self) -> usize {
        self.states.iter().filter(|s| s.load(Ordering::Relaxed) == READY).count()
    }
}

/// The IPA of a guest access that missed at stage 2 (a data or instruction abort from the
/// guest with a stage-2 translation fault, including one on a stage-1 table walk): the
/// access to retry once that address is mapped. None for every other exit.
pub fn stage2_miss(esr: u64, far: u64, hpfar: u64) -> Option<u64> {
    let class = ExceptionClass::from_esr(esr);
    if !matches!(class, ExceptionClass::DataAbortLower | ExceptionClass::InstructionAbortLower) {
        return None;
    }
    matches!(FaultStatus::from_esr(esr), FaultStatus::Translation { .. }).then(|| fault_ipa(far, hpfar))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x4000_0000;

    #[test]
    fn blocks_cover_ram_and_nothing_else() {
        let blocks = RamBlocks::new(BASE, 5 << 20);
        assert_eq!(blocks.count(), 3);
        assert_eq!(blocks.block_of(BASE - 1), None);
        assert_eq!(blocks.block_of(BASE), Some(0));
        assert_eq!(blocks.block_of(BASE + (4 << 20)), Some(2));
        assert_eq!(blocks.block_of(BASE + (5 << 20) - 1), Some(2));
        assert_eq!(blocks.block_of(BASE + (5 << 20)), None);
        assert_eq!(blocks.span(2), (BASE + (4 << 20), 1 << 20));
        assert_eq!(blocks.span(0), (BASE, BLOCK_SIZE));
        assert_eq!(blocks.blocks_in(BASE + BLOCK_SIZE - 1, 2), Some(0..2));
        assert_eq!(blocks.blocks_in(BASE, 0), Some(0..0));
        assert_eq!(blocks.blocks_in(BASE + (4 << 20), 2 << 20), None, "runs past the end");
        assert_eq!(blocks.blocks_in(u64::MAX, 2), None, "wraps");
    }

    #[test]
    fn a_write_falls_into_pieces() {
        const MIB: u64 = 1 << 20;
        let blocks = RamBlocks::new(BASE, 7 * MIB);
        // A 5 MiB write from 1 MiB: half of block 0, all of block 1, 2 MiB of block 2.
        let pieces = blocks.pieces(BASE + MIB, 5 * MIB).unwrap();
        let m = MIB as usize;
        assert_eq!(
            pieces,
            vec![
                Piece { block: 0, bytes: 0..m, whole: false },
                Piece { block: 1, bytes: m..3 * m, whole: true },
                Piece { block: 2, bytes: 3 * m..5 * m, whole: true },
            ]
        );
        // The short last block (1 MiB) written whole.
        assert_eq!(blocks.pieces(BASE + 6 * MIB, MIB).unwrap(), vec![Piece { block: 3, bytes: 0..m, whole: true }]);
        assert_eq!(blocks.pieces(BASE + 4 * MIB + 10, 4).unwrap(), vec![Piece { block: 2, bytes: 0..4, whole: false }]);
        assert_eq!(blocks.pieces(BASE, 0).unwrap(), vec![]);
        assert_eq!(blocks.pieces(BASE + 6 * MIB, MIB + 1), None, "past the end of RAM");
        assert_eq!(blocks.pieces(BASE - 1, 2), None, "below RAM");
    }

    #[test]
    fn one_claimant_prepares_a_block() {
        let blocks = RamBlocks::new(BASE, 4 << 20);
        assert_eq!(blocks.claim(1), Claim::Claimed);
        assert_eq!(blocks.claim(1), Claim::Busy);
        assert!(!blocks.is_ready(1));
        blocks.set_ready(1);
        assert_eq!(blocks.claim(1), Claim::Ready);
        assert!(blocks.is_ready(1));
        assert_eq!(blocks.ready_count(), 1);
        assert_eq!(blocks.claim(0), Claim::Claimed);
        blocks.release(0);
        assert_eq!(blocks.claim(0), Claim::Claimed, "a failed preparation can be retried");
        assert_eq!(blocks.claim(9), Claim::Ready, "outside RAM there is nothing to prepare");
    }

    #[test]
    fn only_stage2_translation_faults_are_misses() {
        // Data abort from a lower EL, ISV clear, DFSC 0b000111 (translation, level 3).
        let data_translation = (0x24 << 26) | 0x07;
        let hpfar = (0x4020_1000u64 >> 12) << 4;
        assert_eq!(stage2_miss(data_translation, 0x1234, hpfar), Some(0x4020_1234));
        // The same on a stage-1 table walk (S1PTW).
        assert_eq!(stage2_miss(data_translation | (1 << 7), 0x8, hpfar), Some(0x4020_1008));
        // Instruction abort, IFSC translation level 2.
        assert_eq!(stage2_miss((0x20 << 26) | 0x06, 0, hpfar), Some(0x4020_1000));
        // A permission fault is not a miss.
        assert_eq!(stage2_miss((0x24 << 26) | 0x0f, 0, hpfar), None);
        // Nor is an HVC.
        assert_eq!(stage2_miss(0x16 << 26, 0, hpfar), None);
    }
}
