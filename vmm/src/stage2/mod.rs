//! Stage-2 translation tables for guest memory: 4 KiB granule, 40-bit IPA, 3-level walk.
//!
//! # Layout: two concatenated level-1 tables
//!
//! VTCR_EL2.T0SZ = 24 (40-bit IPA) with SL0 = 0b01: the walk starts at level 1, whose 10
//! index bits (IPA[39:30]) span two 4 KiB tables concatenated into one 8 KiB-aligned root.
//! The alternative, starting at level 0 (SL0 = 0b10) with a 2-entry level-0 table, is
//! refused: the architecture reserves a level-0 start with the 4 KiB granule when the
//! implemented PA size is under 44 bits (AArch64.S2InvalidSL), and QEMU's `cortex-a76` has
//! 40 — every guest access would fault. Concatenation also saves one level on every
//! stage-2 walk (a 4-level guest walk nested in it costs 19 memory reads, not 24). The
//! price is one 8 KiB, 8 KiB-aligned allocation per VM ([`TableMemory::alloc_root`]).
//!
//! # Use
//!
//! Guest RAM is mapped with [`Stage2::map_ram`] (1 GiB and 2 MiB blocks wherever both
//! addresses are aligned); emulated devices are left unmapped, so their accesses fault to
//! EL2 and are emulated. Every operation checks before it writes: on error nothing changed.
//!
//! Barriers and TLB maintenance are the kernel's. Stage-2 (and guest stage-1) TLBIs act on
//! the VMID in VTTBR_EL2 and, on a VHE host, only with HCR_EL2.TGE clear (with E2H=TGE=1
//! the `*E1` operations hit the host's EL2&0 regime instead): load the VM's VTTBR_EL2 and
//! clear TGE around them, as on guest entry.
//! - after `map` (only empty entries are written): `dsb ishst` before the guest runs;
//! - after `unmap`: `tlbi ipas2e1is` for each unmapped page (or `tlbi vmalls12e1is`), then
//!   `dsb ish`, `tlbi vmalle1is`, `dsb ish`, `isb`. Unmap replaces a partly unmapped block
//!   by a table without break-before-make, and may free tables that another CPU's walk
//!   caches still hold: call it only while no vCPU of the VM runs, and do not reuse freed
//!   tables before that invalidation (a kernel `TableMemory` may defer its frees);
//! - after `destroy`: `tlbi vmalls12e1is` for the VMID before the VMID or the frames are
//!   reused.

mod descriptor;
#[cfg(test)]
mod tests;
mod walk;

use alloc::vec::Vec;

pub use descriptor::{
    Level, MemoryKind, AF, DESC_TABLE_OR_PAGE, DESC_VALID, ENTRIES, IPA_BITS, IPA_LIMIT, MEMATTR_DEVICE_NGNRE,
    MEMATTR_MASK, MEMATTR_NORMAL_WB, OA_MASK, PAGE_SIZE, PA_LIMIT, S2AP_READ, S2AP_WRITE, SH_INNER, XN,
};
use walk::Pass;

/// Size and alignment of the root: two concatenated level-1 tables.
pub const ROOT_SIZE: u64 = 2 * PAGE_SIZE;

/// VTCR_EL2.T0SZ: the IPA space is 2^(64 - T0SZ) bytes.
pub const VTCR_T0SZ: u64 = 64 - IPA_BITS as u64;
/// VTCR_EL2.SL0 = 0b01: with the 4 KiB granule, the walk starts at level 1.
pub const VTCR_SL0_LEVEL1: u64 = 0b01 << 6;
/// VTCR_EL2.IRGN0 = 0b01: table walks are inner write-back, read/write-allocate.
pub const VTCR_IRGN0_WBWA: u64 = 0b01 << 8;
/// VTCR_EL2.ORGN0 = 0b01: table walks are outer write-back, read/write-allocate.
pub const VTCR_ORGN0_WBWA: u64 = 0b01 << 10;
/// VTCR_EL2.SH0 = 0b11: table walks are inner shareable.
pub const VTCR_SH0_INNER: u64 = 0b11 << 12;
/// VTCR_EL2.TG0 = 0b00: 4 KiB granule.
pub const VTCR_TG0_4K: u64 = 0b00 << 14;
/// VTCR_EL2.PS: the output (host physical) address size, bits [18:16].
pub const VTCR_PS_SHIFT: u32 = 16;
/// VTCR_EL2 bit 31 is RES1.
pub const VTCR_RES1: u64 = 1 << 31;
/// VMIDs are 8 bits (VTCR_EL2.VS = 0, which every ARMv8 CPU supports).
pub const VMID_COUNT: usize = 256;
/// VTTBR_EL2.VMID position.
pub const VTTBR_VMID_SHIFT: u32 = 48;

/// The physical address size ID_AA64MMFR0_EL1.PARange (bits [3:0]) announces.
pub fn pa_range_bits(id_aa64mmfr0: u64) -> Option<u32> {
    match id_aa64mmfr0 & 0xf {
        0 => Some(32),
        1 => Some(36),
        2 => Some(40),
        3 => Some(42),
        4 => Some(44),
        5 => Some(48),
        6 => Some(52),
        _ => None,
    }
}

/// The PARange / PS encoding of the largest size the 4 KiB stage-2 tables can use on a
/// host with `pa_bits` physical address bits (48 at most without FEAT_LPA2).
fn ps_encoding(pa_bits: u32) -> Option<u64> {
    match pa_bits {
        0..=39 => None,
        40..=41 => Some(2),
        42..=43 => Some(3),
        44..=47 => Some(4),
        _ => Some(5),
    }
}

/// VTCR_EL2 for a host with `pa_range_bits` physical address bits: 40-bit IPA, 4 KiB
/// granule, walk from two concatenated level-1 tables, write-back inner-shareable walks,
/// 8-bit VMIDs, no hardware access-flag or dirty management. None when the host's physical
/// address space is smaller than the 40-bit IPA space (the IPA may not exceed it).
pub fn vtcr_el2(pa_range_bits: u32) -> Option<u64> {
    let ps = ps_encoding(pa_range_bits)?;
    Some(
        VTCR_T0SZ
            | VTCR_SL0_LEVEL1
            | VTCR_IRGN0_WBWA
            | VTCR_ORGN0_WBWA
            | VTCR_SH0_INNER
            | VTCR_TG0_4K
            | (ps << VTCR_PS_SHIFT)
            | VTCR_RES1,
    )
}

/// VTTBR_EL2 for the tables at `root_pa` (8 KiB aligned; lower bits are dropped) and `vmid`.
pub fn vttbr(root_pa: u64, vmid: u8) -> u64 {
    (u64::from(vmid) << VTTBR_VMID_SHIFT) | (root_pa & OA_MASK & !(ROOT_SIZE - 1))
}

/// Where stage-2 tables live: the kernel implements it over its frame allocator and linear
/// map; tests over a hash map.
pub trait TableMemory {
    /// A new zeroed 4 KiB table; its physical address. None when out of memory.
    fn alloc_table(&mut self) -> Option<u64>;
    /// A new zeroed root: two physically contiguous 4 KiB tables, 8 KiB aligned.
    fn alloc_root(&mut self) -> Option<u64>;
    /// The 512 entries of the table at `pa`: any address `alloc_table` returned, or a root
    /// or a root + 4096.
    fn table(&mut self, pa: u64) -> &mut [u64; ENTRIES];
    fn free_table(&mut self, pa: u64);
    fn free_root(&mut self, pa: u64);
}

/// The largest leaves a mapping may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaves {
    /// 1 GiB and 2 MiB blocks wherever both addresses are aligned, 4 KiB pages elsewhere:
    /// the fewest TLB entries on hardware.
    Blocks,
    /// 4 KiB pages only. Under QEMU TCG this is faster: QEMU files a translation under the
    /// larger of its stage-1 and stage-2 sizes, and an invalidation by address inside a
    /// large one flushes the vCPU's whole TLB, so with blocks every guest `TLBI VA` would.
    Pages,
}

/// Why a stage-2 operation was refused. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage2Error {
    /// An address or the length is not a multiple of 4 KiB.
    Misaligned,
    /// The length is zero.
    Empty,
    /// The range runs past the 40-bit IPA space, or its output past 48-bit addresses.
    OutOfRange,
    /// Part of the range is already mapped; the first conflicting address.
    Overlap { ipa: u64 },
    /// No memory for a table.
    OutOfMemory,
    /// The root the table memory handed out is not 8 KiB aligned or not below 2^48.
    MisalignedRoot,
}

/// One VM's stage-2 tables.
#[derive(Debug)]
pub struct Stage2 {
    root: u64,
}

impl Stage2 {
    /// Allocates the (empty) root.
    pub fn new(mem: &mut impl TableMemory) -> Result<Self, Stage2Error> {
        let root = mem.alloc_root().ok_or(Stage2Error::OutOfMemory)?;
        if !root.is_multiple_of(ROOT_SIZE) || root >= PA_LIMIT {
            mem.free_root(root);
            return Err(Stage2Error::MisalignedRoot);
        }
        Ok(Self { root })
    }

    /// Physical address of the root (for VTTBR_EL2).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// VTTBR_EL2 for these tables under `vmid`.
    pub fn vttbr(&self, vmid: u8) -> u64 {
        vttbr(self.root, vmid)
    }

    /// Maps guest-physical [ipa, ipa + len) to host-physical [pa, pa + len) as normal RAM
    /// (read, write, execute), using 1 GiB / 2 MiB blocks where both sides are aligned;
    /// refuses overlaps; no change on error.
    pub fn map_ram(&mut self, mem: &mut impl TableMemory, ipa: u64, pa: u64, len: u64) -> Result<(), Stage2Error> {
        self.map(mem, ipa, pa, len, MemoryKind::Ram)
    }

    /// [`Stage2::map_ram`] with a choice of [`Leaves`].
    pub fn map_ram_with(
        &mut self,
        mem: &mut impl TableMemory,
        ipa: u64,
        pa: u64,
        len: u64,
        leaves: Leaves,
    ) -> Result<(), Stage2Error> {
        self.map_leaves(mem, ipa, pa, len, MemoryKind::Ram, leaves)
    }

    /// Like [`Stage2::map_ram`], for any [`MemoryKind`].
    pub fn map(
        &mut self,
        mem: &mut impl TableMemory,
        ipa: u64,
        pa: u64,
        len: u64,
        kind: MemoryKind,
    ) -> Result<(), Stage2Error> {
        self.map_leaves(mem, ipa, pa, len, kind, Leaves::Blocks)
    }

    fn map_leaves(
        &mut self,
        mem: &mut impl TableMemory,
        ipa: u64,
        pa: u64,
        len: u64,
        kind: MemoryKind,
        leaves: Leaves,
    ) -> Result<(), Stage2Error> {
        check_range(ipa, len, IPA_LIMIT)?;
        check_range(pa, len, PA_LIMIT)?;
        let attributes = kind.leaf_attributes();
        let needed = walk::map(
            mem,
            Some(self.root),
            Level::L1,
            ipa,
            pa,
            len,
            attributes,
            leaves,
            &mut Pass::Check,
        )?;
        let mut pool = reserve(mem, needed)?;
        let result = walk::map(
            mem,
            Some(self.root),
            Level::L1,
            ipa,
            pa,
            len,
            attributes,
            leaves,
            &mut Pass::Apply(&mut pool),
        );
        release(mem, pool);
        result.map(|_| ())
    }

    /// Removes every mapping in [ipa, ipa + len); holes are fine. A block only partly in
    /// the range is split first (which needs tables: on OutOfMemory nothing changed).
    pub fn unmap(&mut self, mem: &mut impl TableMemory, ipa: u64, len: u64) -> Result<(), Stage2Error> {
        check_range(ipa, len, IPA_LIMIT)?;
        let needed = walk::unmap(mem, self.root, Level::L1, ipa, len, &mut Pass::Check)?;
        let mut pool = reserve(mem, needed)?;
        let result = walk::unmap(mem, self.root, Level::L1, ipa, len, &mut Pass::Apply(&mut pool));
        release(mem, pool);
        result.map(|_| ())
    }

    /// The host physical address guest-physical `ipa` maps to, if it is mapped.
    pub fn translate(&self, mem: &mut impl TableMemory, ipa: u64) -> Option<u64> {
        if ipa >= IPA_LIMIT {
            return None;
        }
        walk::translate(mem, self.root, ipa)
    }

    /// Frees every table, the root last.
    pub fn destroy(self, mem: &mut impl TableMemory) {
        walk::free_below(mem, self.root, Level::L1);
        mem.free_root(self.root);
    }
}

/// Checks that [start, start + len) is a non-empty, page-aligned range below `limit`.
fn check_range(start: u64, len: u64, limit: u64) -> Result<(), Stage2Error> {
    if len == 0 {
        return Err(Stage2Error::Empty);
    }
    if !start.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
        return Err(Stage2Error::Misaligned);
    }
    match start.checked_add(len) {
        Some(end) if end <= limit => Ok(()),
        _ => Err(Stage2Error::OutOfRange),
    }
}

/// Allocates `count` tables up front; on failure frees the ones it got.
fn reserve(mem: &mut impl TableMemory, count: usize) -> Result<Vec<u64>, Stage2Error> {
    let mut pool = Vec::new();
    pool.try_reserve_exact(count).map_err(|_| Stage2Error::OutOfMemory)?;
    for _ in 0..count {
        match mem.alloc_table() {
            Some(table) => pool.push(table),
            None => {
                release(mem, pool);
                return Err(Stage2Error::OutOfMemory);
            }
        }
    }
    Ok(pool)
}

fn release(mem: &mut impl TableMemory, pool: Vec<u64>) {
    for table in pool {
        mem.free_table(table);
    }
}
