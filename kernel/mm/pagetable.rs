//! Stage-1 page tables for the EL2&0 regime: 4 KiB granule, 39-bit halves, walks from level 1.
//!
//! Pure logic over a [`TableMemory`]: the kernel supplies tables through its linear map and
//! does the barriers and TLB maintenance. Operations check before they write, so an error
//! leaves the tables exactly as they were. Tables created (or blocks split) by the operation
//! in progress carry a software bit in their table descriptor until it finishes, which is how
//! a failed allocation finds and undoes its own work without any memory of its own.
//!
//! Barriers and TLBs are the caller's: after `map`, a `dsb ishst` before the new entries are
//! used; after `unmap`, invalidate the unmapped range and the whole of every block around its
//! ends (a split replaces a live block by an equivalent table, which the architecture counts
//! as a change of block size).
#![forbid(unsafe_code)]

/// Size of a page (the granule).
pub const PAGE_SIZE: u64 = 4096;
/// Entries in one table.
pub const ENTRIES: usize = 512;
/// Virtual address bits of each half.
pub const VA_BITS: u32 = 39;
/// TCR_EL2.T0SZ and T1SZ for [`VA_BITS`].
pub const TCR_TXSZ: u64 = 64 - VA_BITS as u64;
/// Size of each half of the address space.
pub const HALF_SIZE: u64 = 1 << VA_BITS;
/// The lowest upper-half (TTBR1) address.
pub const UPPER_BASE: u64 = HALF_SIZE.wrapping_neg();
/// Output addresses must be below this (48-bit physical addresses).
pub const PA_LIMIT: u64 = 1 << 48;

/// MAIR index of Device-nGnRE memory.
pub const MAIR_IDX_DEVICE: u64 = 0;
/// MAIR index of Normal write-back, read/write-allocate memory.
pub const MAIR_IDX_NORMAL: u64 = 1;
/// MAIR index of Normal non-cacheable memory.
pub const MAIR_IDX_NORMAL_NC: u64 = 2;
pub const MAIR_ATTR_DEVICE_NGNRE: u64 = 0x04;
pub const MAIR_ATTR_NORMAL_WB: u64 = 0xff;
pub const MAIR_ATTR_NORMAL_NC: u64 = 0x44;
/// MAIR_EL2: the three attributes at their fixed indices.
pub const MAIR_VALUE: u64 = (MAIR_ATTR_DEVICE_NGNRE << (8 * MAIR_IDX_DEVICE))
    | (MAIR_ATTR_NORMAL_WB << (8 * MAIR_IDX_NORMAL))
    | (MAIR_ATTR_NORMAL_NC << (8 * MAIR_IDX_NORMAL_NC));

/// Bit 0: the descriptor is valid.
pub const DESC_VALID: u64 = 1 << 0;
/// Bit 1: table (levels 1-2) or page (level 3); clear for a block.
pub const DESC_TABLE_OR_PAGE: u64 = 1 << 1;
pub const DESC_ATTR_INDX_SHIFT: u32 = 2;
pub const DESC_ATTR_INDX_MASK: u64 = 0b111 << DESC_ATTR_INDX_SHIFT;
/// AP[1]: accessible from EL0.
pub const DESC_AP_EL0: u64 = 1 << 6;
/// AP[2]: read-only.
pub const DESC_AP_RO: u64 = 1 << 7;
/// SH = 0b11: inner shareable.
pub const DESC_SH_INNER: u64 = 0b11 << 8;
/// Access flag.
pub const DESC_AF: u64 = 1 << 10;
/// Not global: tagged with the current ASID.
pub const DESC_NG: u64 = 1 << 11;
/// Privileged (EL2) execute-never.
pub const DESC_PXN: u64 = 1 << 53;
/// Unprivileged (EL0) execute-never.
pub const DESC_UXN: u64 = 1 << 54;
/// Output address bits [47:12].
pub const DESC_OA_MASK: u64 = (PA_LIMIT - 1) & !(PAGE_SIZE - 1);
/// Software bit (ignored by the walker in table descriptors): the table was created by the
/// operation in progress.
const SW_NEW_TABLE: u64 = 1 << 55;

/// A level of the walk; the walk starts at level 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// 1 GiB per entry.
    L1,
    /// 2 MiB per entry.
    L2,
    /// 4 KiB per entry (pages only).
    L3,
}

impl Level {
    /// Bit position of this level's index in a virtual address.
    pub const fn shift(self) -> u32 {
        match self {
            Self::L1 => 30,
            Self::L2 => 21,
            Self::L3 => 12,
        }
    }

    /// Bytes mapped by one entry (block or page size).
    pub const fn size(self) -> u64 {
        1 << self.shift()
    }

    pub const fn next(self) -> Option<Self> {
        match self {
            Self::L1 => Some(Self::L2),
            Self::L2 => Some(Self::L3),
            Self::L3 => None,
        }
    }

    /// The entry of this level's table that translates `offset` (an offset in a half).
    pub const fn index(self, offset: u64) -> usize {
        ((offset >> self.shift()) % ENTRIES as u64) as usize
    }

    /// The type bits [1:0] of a block (levels 1-2) or page (level 3) descriptor.
    const fn leaf_type(self) -> u64 {
        match self {
            Self::L3 => DESC_VALID | DESC_TABLE_OR_PAGE,
            _ => DESC_VALID,
        }
    }
}

/// The memory type of a mapping; selects the MAIR index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    Normal,
    Device,
    NormalNonCacheable,
}

/// What a mapping allows. `user` mappings are EL0-accessible, non-global and never executable
/// by the kernel; kernel mappings are never EL0-accessible or EL0-executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attributes {
    pub kind: MemoryKind,
    pub writable: bool,
    pub executable: bool,
    pub user: bool,
}

impl Attributes {
    pub const KERNEL_TEXT: Self = Self::new(MemoryKind::Normal, false, true, false);
    pub const KERNEL_RODATA: Self = Self::new(MemoryKind::Normal, false, false, false);
    pub const KERNEL_DATA: Self = Self::new(MemoryKind::Normal, true, false, false);
    /// Kernel memory shared with devices that do not snoop caches.
    pub const KERNEL_UNCACHED: Self = Self::new(MemoryKind::NormalNonCacheable, true, false, false);
    pub const DEVICE: Self = Self::new(MemoryKind::Device, true, false, false);
    pub const USER_TEXT: Self = Self::new(MemoryKind::Normal, false, true, true);
    pub const USER_RODATA: Self = Self::new(MemoryKind::Normal, false, false, true);
    pub const USER_DATA: Self = Self::new(MemoryKind::Normal, true, false, true);
    pub const USER_DEVICE: Self = Self::new(MemoryKind::Device, true, false, true);

    pub const fn new(kind: MemoryKind, writable: bool, executable: bool, user: bool) -> Self {
        Self {
            kind,
            writable,
            executable,
            user,
        }
    }

    /// Refuses writable + executable (W^X) and executable device memory.
    pub const fn check(self) -> Result<(), MapError> {
        if self.writable && self.executable {
            Err(MapError::WritableExecutable)
        } else if self.executable && matches!(self.kind, MemoryKind::Device) {
            Err(MapError::ExecutableDevice)
        } else {
            Ok(())
        }
    }

    /// Descriptor bits other than the output address and the type bits.
    const fn bits(self) -> u64 {
        let mut d = DESC_AF;
        d |= match self.kind {
            MemoryKind::Normal => (MAIR_IDX_NORMAL << DESC_ATTR_INDX_SHIFT) | DESC_SH_INNER,
            MemoryKind::NormalNonCacheable => {
                (MAIR_IDX_NORMAL_NC << DESC_ATTR_INDX_SHIFT) | DESC_SH_INNER
            }
            MemoryKind::Device => MAIR_IDX_DEVICE << DESC_ATTR_INDX_SHIFT,
        };
        if !self.writable {
            d |= DESC_AP_RO;
        }
        if self.user {
            d |= DESC_AP_EL0 | DESC_NG | DESC_PXN;
            if !self.executable {
                d |= DESC_UXN;
            }
        } else {
            d |= DESC_UXN;
            if !self.executable {
                d |= DESC_PXN;
            }
        }
        d
    }
}

/// Why a page-table operation was refused. Every refusal leaves the tables unchanged.
#[derive(Debug, PartialEq, Eq)]
pub enum MapError {
    /// `TableMemory::alloc_table` returned `None`.
    OutOfMemory,
    /// An address or length that is not page-aligned (or, for a block descriptor, not
    /// aligned to the block).
    Unaligned,
    /// A virtual range that leaves the table's half.
    OutOfRange,
    /// A physical range that reaches past 48 bits.
    PhysicalOutOfRange,
    /// `map` over an existing mapping; `va` is its first mapped address in the range.
    AlreadyMapped { va: u64 },
    /// `unmap` over a hole; `va` is its first unmapped address in the range.
    NotMapped { va: u64 },
    /// Writable and executable at once (W^X).
    WritableExecutable,
    /// Executable device memory.
    ExecutableDevice,
}

/// The block (level 1-2) or page (level 3) descriptor mapping `pa` with `attrs`.
pub const fn encode_block_or_page(
    pa: u64,
    attrs: Attributes,
    level: Level,
) -> Result<u64, MapError> {
    if let Err(e) = attrs.check() {
        return Err(e);
    }
    if !pa.is_multiple_of(level.size()) {
        return Err(MapError::Unaligned);
    }
    if pa >= PA_LIMIT {
        return Err(MapError::PhysicalOutOfRange);
    }
    Ok(pa | attrs.bits() | level.leaf_type())
}

/// The output address and attributes of a block or page descriptor at `level`; `None` for
/// anything else (invalid, table, reserved type, unknown MAIR index).
pub const fn decode_block_or_page(desc: u64, level: Level) -> Option<(u64, Attributes)> {
    if desc & (DESC_VALID | DESC_TABLE_OR_PAGE) != level.leaf_type() {
        return None;
    }
    let kind = match (desc & DESC_ATTR_INDX_MASK) >> DESC_ATTR_INDX_SHIFT {
        MAIR_IDX_DEVICE => MemoryKind::Device,
        MAIR_IDX_NORMAL => MemoryKind::Normal,
        MAIR_IDX_NORMAL_NC => MemoryKind::NormalNonCacheable,
        _ => return None,
    };
    let user = desc & DESC_AP_EL0 != 0;
    let never = if user { DESC_UXN } else { DESC_PXN };
    let attrs = Attributes::new(kind, desc & DESC_AP_RO == 0, desc & never == 0, user);
    Some((desc & DESC_OA_MASK & !(level.size() - 1), attrs))
}

/// The table descriptor pointing at the next-level table at `pa` (bits outside [47:12]
/// dropped).
pub const fn encode_table(pa: u64) -> u64 {
    (pa & DESC_OA_MASK) | DESC_VALID | DESC_TABLE_OR_PAGE
}

/// The next-level table address of a table descriptor at `level` (levels 1-2 only).
pub const fn decode_table(desc: u64, level: Level) -> Option<u64> {
    match level {
        Level::L3 => None,
        _ if desc & (DESC_VALID | DESC_TABLE_OR_PAGE) == DESC_VALID | DESC_TABLE_OR_PAGE => {
            Some(desc & DESC_OA_MASK)
        }
        _ => None,
    }
}

/// The level 1 / level 2 block descriptor of the boot assembly's kernel mappings, which are
/// RWX at EL2 until Rust builds the exact tables. Normal (and non-cacheable): AttrIndx,
/// inner shareable, AF, UXN. Device: AttrIndx 0, AF, PXN, UXN. `pa` is rounded down to
/// 2 MiB and cut to 48 bits.
pub const fn boot_block_descriptor(pa: u64, kind: MemoryKind) -> u64 {
    let base = (pa & DESC_OA_MASK & !(Level::L2.size() - 1)) | DESC_VALID | DESC_AF;
    match kind {
        MemoryKind::Normal => {
            base | (MAIR_IDX_NORMAL << DESC_ATTR_INDX_SHIFT) | DESC_SH_INNER | DESC_UXN
        }
        MemoryKind::NormalNonCacheable => {
            base | (MAIR_IDX_NORMAL_NC << DESC_ATTR_INDX_SHIFT) | DESC_SH_INNER | DESC_UXN
        }
        MemoryKind::Device => {
            base | (MAIR_IDX_DEVICE << DESC_ATTR_INDX_SHIFT) | DESC_PXN | DESC_UXN
        }
    }
}

/// Where page tables live: the kernel implements it over its frame allocator and linear map;
/// tests over a hash map.
pub trait TableMemory {
    /// A new zeroed 4 KiB table; its physical address. None when out of memory.
    fn alloc_table(&mut self) -> Option<u64>;
    /// The 512 entries of the table at physical address `pa`.
    fn table(&mut self, pa: u64) -> &mut [u64; ENTRIES];
    fn free_table(&mut self, pa: u64);
}

/// Which half of the address space a table translates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    /// `[0, 2^39)`, through TTBR0_EL2: user processes.
    Lower,
    /// `[0xFFFF_FF80_0000_0000, 2^64)`, through TTBR1_EL2: the kernel.
    Upper,
}

impl Half {
    /// The lowest virtual address of the half.
    pub const fn base(self) -> u64 {
        match self {
            Self::Lower => 0,
            Self::Upper => UPPER_BASE,
        }
    }

    /// The offset of `va` inside the half, if it is there.
    pub const fn offset(self, va: u64) -> Option<u64> {
        match va.checked_sub(self.base()) {
            Some(off) if off < HALF_SIZE => Some(off),
            _ => None,
        }
    }
}

/// What a descriptor is at its level.
enum Entry {
    Invalid,
    Table { pa: u64, level: Level },
    Leaf,
}

fn classify(desc: u64, level: Level) -> Entry {
    match (decode_table(desc, level), level.next()) {
        (Some(pa), Some(next)) => Entry::Table { pa, level: next },
        _ if desc & DESC_VALID == 0 => Entry::Invalid,
        _ => Entry::Leaf,
    }
}

/// The entries of a `level` table that `[start, end)` touches: `(index, chunk start, chunk
/// end)`, each chunk the part of the range inside that entry.
fn slots(level: Level, start: u64, end: u64) -> impl Iterator<Item = (usize, u64, u64)> {
    let mut cur = start;
    core::iter::from_fn(move || {
        if cur >= end {
            return None;
        }
        let chunk_end = end.min((cur | (level.size() - 1)) + 1);
        let item = (level.index(cur), cur, chunk_end);
        cur = chunk_end;
        Some(item)
    })
}

/// Whether the chunk fills its whole entry.
fn covers_entry(level: Level, start: u64, end: u64) -> bool {
    start.is_multiple_of(level.size()) && end - start == level.size()
}

/// The descriptor for entry `i` of the table that replaces `block` (a level `level` block).
fn split_entry(block: u64, level: Level, next: Level, i: usize) -> u64 {
    let pa = (block & DESC_OA_MASK & !(level.size() - 1)) + i as u64 * next.size();
    let attrs = block & !DESC_OA_MASK & !(DESC_VALID | DESC_TABLE_OR_PAGE);
    pa | attrs | next.leaf_type()
}

/// A `map` in progress: offset `o` in the half maps to `o + delta` with descriptor `bits`.
#[derive(Clone, Copy)]
struct MapJob {
    delta: u64,
    bits: u64,
}

impl MapJob {
    fn pa(self, offset: u64) -> u64 {
        offset.wrapping_add(self.delta)
    }

    /// Whether a chunk is mapped by one block at `level` (else by a next-level table).
    fn block_fits(self, level: Level, start: u64, end: u64) -> bool {
        level != Level::L3
            && covers_entry(level, start, end)
            && self.pa(start).is_multiple_of(level.size())
    }
}

/// A stage-1 translation table for one half of the EL2&0 regime.
#[derive(Debug)]
pub struct PageTable {
    root: u64,
    half: Half,
}

impl PageTable {
    pub fn new(mem: &mut impl TableMemory, half: Half) -> Result<Self, MapError> {
        let root = new_table(mem)?;
        Ok(Self { root, half })
    }

    /// The physical address of the level 1 table, for TTBRx_EL2.
    pub fn root(&self) -> u64 {
        self.root
    }

    pub fn half(&self) -> Half {
        self.half
    }

    /// Maps `[va, va + len)` to `[pa, pa + len)`; all page-aligned. Uses 1 GiB / 2 MiB
    /// blocks where `va`, `pa` and the remaining length allow. Refuses, changing nothing, to
    /// overwrite any existing mapping. A zero length maps nothing.
    pub fn map(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        pa: u64,
        len: u64,
        attrs: Attributes,
    ) -> Result<(), MapError> {
        attrs.check()?;
        if !(va | pa | len).is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Unaligned);
        }
        let (start, end) = self.offsets(va, len)?;
        if pa.checked_add(len).is_none_or(|pa_end| pa_end > PA_LIMIT) {
            return Err(MapError::PhysicalOutOfRange);
        }
        if len == 0 {
            return Ok(());
        }
        self.check_unmapped(mem, self.root, Level::L1, start, end)?;
        let job = MapJob {
            delta: pa.wrapping_sub(start),
            bits: attrs.bits(),
        };
        if let Err(e) = self.build(mem, self.root, Level::L1, start, end, job) {
            discard_new(mem, self.root, Level::L1, start, end);
            return Err(e);
        }
        fill(mem, self.root, Level::L1, start, end, job);
        Ok(())
    }

    /// Removes the mappings of `[va, va + len)`, page-aligned, all of which must be mapped.
    /// A block only partly covered by the range is split into the next level first. Tables
    /// left empty stay in place (later maps reuse them; `destroy` frees them).
    pub fn unmap(&mut self, mem: &mut impl TableMemory, va: u64, len: u64) -> Result<(), MapError> {
        if !(va | len).is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Unaligned);
        }
        let (start, end) = self.offsets(va, len)?;
        if len == 0 {
            return Ok(());
        }
        self.check_mapped(mem, self.root, Level::L1, start, end)?;
        if let Err(e) = split(mem, self.root, Level::L1, start, end) {
            unsplit(mem, self.root, Level::L1, start, end);
            return Err(e);
        }
        clear(mem, self.root, Level::L1, start, end);
        Ok(())
    }

    /// The physical address and attributes that `va` translates to.
    pub fn translate(&self, mem: &mut impl TableMemory, va: u64) -> Option<(u64, Attributes)> {
        let offset = self.half.offset(va)?;
        let (mut table, mut level) = (self.root, Level::L1);
        loop {
            let desc = mem.table(table)[level.index(offset)];
            match classify(desc, level) {
                Entry::Invalid => return None,
                Entry::Table { pa, level: next } => (table, level) = (pa, next),
                Entry::Leaf => {
                    let (pa, attrs) = decode_block_or_page(desc, level)?;
                    return Some((pa + offset % level.size(), attrs));
                }
            }
        }
    }

    /// Frees every table (not the mapped memory).
    pub fn destroy(self, mem: &mut impl TableMemory) {
        free_tree(mem, self.root, Level::L1);
    }

    /// `[va, va + len)` as offsets in the half.
    fn offsets(&self, va: u64, len: u64) -> Result<(u64, u64), MapError> {
        let start = self.half.offset(va).ok_or(MapError::OutOfRange)?;
        match start.checked_add(len) {
            Some(end) if end <= HALF_SIZE => Ok((start, end)),
            _ => Err(MapError::OutOfRange),
        }
    }

    fn check_unmapped(
        &self,
        mem: &mut impl TableMemory,
        table: u64,
        level: Level,
        start: u64,
        end: u64,
    ) -> Result<(), MapError> {
        for (i, cs, ce) in slots(level, start, end) {
            match classify(mem.table(table)[i], level) {
                Entry::Invalid => {}
                Entry::Table { pa, level } => self.check_unmapped(mem, pa, level, cs, ce)?,
                Entry::Leaf => {
                    return Err(MapError::AlreadyMapped {
                        va: self.half.base() + cs,
                    })
                }
            }
        }
        Ok(())
    }

    fn check_mapped(
        &self,
        mem: &mut impl TableMemory,
        table: u64,
        level: Level,
        start: u64,
        end: u64,
    ) -> Result<(), MapError> {
        for (i, cs, ce) in slots(level, start, end) {
            match classify(mem.table(table)[i], level) {
                Entry::Invalid => {
                    return Err(MapError::NotMapped {
                        va: self.half.base() + cs,
                    })
                }
                Entry::Table { pa, level } => self.check_mapped(mem, pa, level, cs, ce)?,
                Entry::Leaf => {}
            }
        }
        Ok(())
    }

    /// Creates the tables a checked `map` needs, marking new ones.
    fn build(
        &self,
        mem: &mut impl TableMemory,
        table: u64,
        level: Level,
        start: u64,
        end: u64,
        job: MapJob,
    ) -> Result<(), MapError> {
        for (i, cs, ce) in slots(level, start, end) {
            let desc = mem.table(table)[i];
            match (classify(desc, level), level.next()) {
                (Entry::Table { pa, level }, _) => self.build(mem, pa, level, cs, ce, job)?,
                (Entry::Invalid, Some(next)) if !job.block_fits(level, cs, ce) => {
                    let new = new_table(mem)?;
                    mem.table(table)[i] = encode_table(new) | SW_NEW_TABLE;
                    self.build(mem, new, next, cs, ce, job)?;
                }
                (Entry::Invalid, _) => {}
                (Entry::Leaf, _) => {
                    return Err(MapError::AlreadyMapped {
                        va: self.half.base() + cs,
                    })
                }
            }
        }
        Ok(())
    }
}

/// A zeroed table (zeroed here too, so a careless `TableMemory` cannot create mappings).
fn new_table(mem: &mut impl TableMemory) -> Result<u64, MapError> {
    let pa = mem.alloc_table().ok_or(MapError::OutOfMemory)?;
    *mem.table(pa) = [0; ENTRIES];
    Ok(pa)
}

/// Frees `table` and every table below it.
fn free_tree(mem: &mut impl TableMemory, table: u64, level: Level) {
    if level != Level::L3 {
        for i in 0..ENTRIES {
            if let Entry::Table { pa, level } = classify(mem.table(table)[i], level) {
                free_tree(mem, pa, level);
            }
        }
    }
    mem.free_table(table);
}

/// Undoes a failed `build`: frees the marked tables in the range and clears their entries.
fn discard_new(mem: &mut impl TableMemory, table: u64, level: Level, start: u64, end: u64) {
    for (i, cs, ce) in slots(level, start, end) {
        let desc = mem.table(table)[i];
        if let Entry::Table { pa, level } = classify(desc, level) {
            if desc & SW_NEW_TABLE != 0 {
                free_tree(mem, pa, level);
                mem.table(table)[i] = 0;
            } else {
                discard_new(mem, pa, level, cs, ce);
            }
        }
    }
}

/// Splits every block that the range covers only in part into an equivalent marked table.
fn split(
    mem: &mut impl TableMemory,
    table: u64,
    level: Level,
    start: u64,
    end: u64,
) -> Result<(), MapError> {
    for (i, cs, ce) in slots(level, start, end) {
        let desc = mem.table(table)[i];
        match (classify(desc, level), level.next()) {
            (Entry::Table { pa, level }, _) => split(mem, pa, level, cs, ce)?,
            (Entry::Leaf, Some(next)) if !covers_entry(level, cs, ce) => {
                let new = new_table(mem)?;
                let entries = mem.table(new);
                for (j, entry) in entries.iter_mut().enumerate() {
                    *entry = split_entry(desc, level, next, j);
                }
                mem.table(table)[i] = encode_table(new) | SW_NEW_TABLE;
                split(mem, new, next, cs, ce)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Undoes a failed `split`: puts each marked table's block back and frees the tables.
fn unsplit(mem: &mut impl TableMemory, table: u64, level: Level, start: u64, end: u64) {
    for (i, cs, ce) in slots(level, start, end) {
        let desc = mem.table(table)[i];
        let Entry::Table { pa, level: next } = classify(desc, level) else {
            continue;
        };
        if desc & SW_NEW_TABLE == 0 {
            unsplit(mem, pa, next, cs, ce);
            continue;
        }
        // Entry 0 of a split table maps the block's start, possibly through a deeper split.
        let (mut first, mut first_level) = (mem.table(pa)[0], next);
        while let Entry::Table { pa, level } = classify(first, first_level) {
            (first, first_level) = (mem.table(pa)[0], level);
        }
        let attrs = first & !DESC_OA_MASK & !(DESC_VALID | DESC_TABLE_OR_PAGE);
        free_tree(mem, pa, next);
        mem.table(table)[i] = (first & DESC_OA_MASK) | attrs | level.leaf_type();
    }
}

/// Writes the leaves of a built `map` and unmarks its new tables.
fn fill(mem: &mut impl TableMemory, table: u64, level: Level, start: u64, end: u64, job: MapJob) {
    for (i, cs, ce) in slots(level, start, end) {
        let desc = mem.table(table)[i];
        match classify(desc, level) {
            Entry::Table { pa, level } => {
                mem.table(table)[i] = desc & !SW_NEW_TABLE;
                fill(mem, pa, level, cs, ce, job);
            }
            Entry::Invalid => mem.table(table)[i] = job.pa(cs) | job.bits | level.leaf_type(),
            Entry::Leaf => {}
        }
    }
}

/// Clears the leaves of a checked and split range and unmarks the tables it split.
fn clear(mem: &mut impl TableMemory, table: u64, level: Level, start: u64, end: u64) {
    for (i, cs, ce) in slots(level, start, end) {
        let desc = mem.table(table)[i];
        match classify(desc, level) {
            Entry::Table { pa, level } => {
                mem.table(table)[i] = desc & !SW_NEW_TABLE;
                clear(mem, pa, level, cs, ce);
            }
            Entry::Leaf => mem.table(table)[i] = 0,
            Entry::Invalid => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::collections::{BTreeMap, HashMap};
    use std::vec::Vec;

    const KIB4: u64 = 4096;
    const MIB2: u64 = 2 << 20;
    const GIB: u64 = 1 << 30;
    /// The address of the last page of the address space.
    const LAST_PAGE: u64 = !(KIB4 - 1);

    /// Tables in a hash map, at made-up physical addresses; can run out after N tables.
    struct TestMem {
        tables: HashMap<u64, Box<[u64; ENTRIES]>>,
        next: u64,
        allocs_left: Option<usize>,
    }

    impl TestMem {
        fn new() -> Self {
            Self {
                tables: HashMap::new(),
                next: 0x7000_0000,
                allocs_left: None,
            }
        }

        fn failing_after(n: usize) -> Self {
            Self {
                allocs_left: Some(n),
                ..Self::new()
            }
        }

        fn snapshot(&self) -> BTreeMap<u64, Vec<u64>> {
            self.tables
                .iter()
                .map(|(pa, t)| (*pa, t.to_vec()))
                .collect()
        }
    }

    impl TableMemory for TestMem {
        fn alloc_table(&mut self) -> Option<u64> {
            if let Some(left) = &mut self.allocs_left {
                *left = left.checked_sub(1)?;
            }
            let pa = self.next;
            self.next += PAGE_SIZE;
            // Not zeroed: the page-table code must zero what it gets.
            self.tables
                .insert(pa, Box::new([0xdead_0000_0000_0003; ENTRIES]));
            Some(pa)
        }

        fn table(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
            self.tables.get_mut(&pa).expect("not a live table")
        }

        fn free_table(&mut self, pa: u64) {
            assert!(self.tables.remove(&pa).is_some(), "freed {pa:#x} twice");
        }
    }

    /// Every leaf: (level, offset in the half, descriptor).
    fn leaves(mem: &mut TestMem, pt: &PageTable) -> Vec<(Level, u64, u64)> {
        fn walk(
            mem: &mut TestMem,
            t: u64,
            level: Level,
            base: u64,
            out: &mut Vec<(Level, u64, u64)>,
        ) {
            for i in 0..ENTRIES {
                let desc = mem.table(t)[i];
                let off = base + i as u64 * level.size();
                match classify(desc, level) {
                    Entry::Invalid => {}
                    Entry::Table { pa, level: next } => walk(mem, pa, next, off, out),
                    Entry::Leaf => out.push((level, off, desc)),
                }
            }
        }
        let mut out = Vec::new();
        walk(mem, pt.root(), Level::L1, 0, &mut out);
        out
    }

    fn levels(leaves: &[(Level, u64, u64)]) -> [usize; 3] {
        let count = |l| leaves.iter().filter(|(level, ..)| *level == l).count();
        [count(Level::L1), count(Level::L2), count(Level::L3)]
    }

    /// A small linear congruential generator: deterministic, no extra crates.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    #[test]
    fn fixed_constants_are_pinned() {
        assert_eq!(MAIR_VALUE, 0x0044_ff04);
        assert_eq!(TCR_TXSZ, 25);
        assert_eq!(UPPER_BASE, 0xFFFF_FF80_0000_0000);
        assert_eq!(DESC_OA_MASK, 0x0000_FFFF_FFFF_F000);
        assert_eq!(
            boot_block_descriptor(0x4000_0000, MemoryKind::Normal),
            0x0040_0000_4000_0705
        );
        assert_eq!(
            boot_block_descriptor(0x4020_0000, MemoryKind::Normal),
            0x0040_0000_4020_0705
        );
        assert_eq!(
            boot_block_descriptor(0, MemoryKind::Device),
            0x0060_0000_0000_0401
        );
        assert_eq!(
            boot_block_descriptor(0, MemoryKind::NormalNonCacheable),
            0x0040_0000_0000_0709
        );
        // Out-of-range bits are dropped rather than corrupting the attributes.
        assert_eq!(
            boot_block_descriptor(0xFFFF_0000_4012_3456, MemoryKind::Normal),
            0x0040_0000_4000_0705
        );
        // The boot blocks read back as kernel RWX (normal) and kernel RW no-exec (device).
        let rwx = Attributes::new(MemoryKind::Normal, true, true, false);
        let boot = boot_block_descriptor(GIB, MemoryKind::Normal);
        assert_eq!(decode_block_or_page(boot, Level::L1), Some((GIB, rwx)));
        let boot = boot_block_descriptor(0, MemoryKind::Device);
        assert_eq!(
            decode_block_or_page(boot, Level::L2),
            Some((0, Attributes::DEVICE))
        );
    }

    #[test]
    fn descriptor_bits_are_exact() {
        let enc = |pa, attrs, level| encode_block_or_page(pa, attrs, level).unwrap();
        assert_eq!(
            enc(0x8000_1000, Attributes::KERNEL_TEXT, Level::L3),
            0x0040_0000_8000_1787
        );
        assert_eq!(
            enc(0x8000_1000, Attributes::KERNEL_RODATA, Level::L3),
            0x0060_0000_8000_1787
        );
        assert_eq!(
            enc(0x8000_1000, Attributes::KERNEL_DATA, Level::L3),
            0x0060_0000_8000_1707
        );
        assert_eq!(
            enc(0x0800_0000, Attributes::DEVICE, Level::L2),
            0x0060_0000_0800_0401
        );
        assert_eq!(
            enc(0x4000_0000, Attributes::KERNEL_DATA, Level::L1),
            0x0060_0000_4000_0705
        );
        assert_eq!(
            enc(0x8000_2000, Attributes::KERNEL_UNCACHED, Level::L3),
            0x0060_0000_8000_270b
        );
        assert_eq!(
            enc(0x1_0000_0000, Attributes::USER_TEXT, Level::L3),
            0x0020_0001_0000_0fc7
        );
        assert_eq!(
            enc(0x1_0000_0000, Attributes::USER_RODATA, Level::L3),
            0x0060_0001_0000_0fc7
        );
        assert_eq!(
            enc(0x1_0000_0000, Attributes::USER_DATA, Level::L3),
            0x0060_0001_0000_0f47
        );
        assert_eq!(encode_table(0x7000_0000), 0x7000_0003);
        assert_eq!(decode_table(0x7000_0003, Level::L2), Some(0x7000_0000));
        assert_eq!(decode_table(0x7000_0003, Level::L3), None);
        assert_eq!(decode_table(0x7000_0001, Level::L1), None);
    }

    #[test]
    fn encoding_refuses_bad_input_and_round_trips() {
        let wx = Attributes::new(MemoryKind::Normal, true, true, false);
        assert_eq!(
            encode_block_or_page(0, wx, Level::L3),
            Err(MapError::WritableExecutable)
        );
        let dx = Attributes::new(MemoryKind::Device, false, true, false);
        assert_eq!(
            encode_block_or_page(0, dx, Level::L3),
            Err(MapError::ExecutableDevice)
        );
        assert_eq!(
            encode_block_or_page(KIB4, Attributes::KERNEL_DATA, Level::L2),
            Err(MapError::Unaligned)
        );
        assert_eq!(
            encode_block_or_page(PA_LIMIT, Attributes::KERNEL_DATA, Level::L3),
            Err(MapError::PhysicalOutOfRange)
        );
        let all = [
            Attributes::KERNEL_TEXT,
            Attributes::KERNEL_RODATA,
            Attributes::KERNEL_DATA,
            Attributes::KERNEL_UNCACHED,
            Attributes::DEVICE,
            Attributes::USER_TEXT,
            Attributes::USER_RODATA,
            Attributes::USER_DATA,
            Attributes::USER_DEVICE,
        ];
        for attrs in all {
            for level in [Level::L1, Level::L2, Level::L3] {
                let pa = 3 * GIB;
                let desc = encode_block_or_page(pa, attrs, level).unwrap();
                assert_eq!(decode_block_or_page(desc, level), Some((pa, attrs)));
                // A block is not a page and vice versa.
                let other = if level == Level::L3 {
                    Level::L2
                } else {
                    Level::L3
                };
                assert_eq!(decode_block_or_page(desc, other), None);
                assert_eq!(desc & DESC_UXN != 0, !(attrs.user && attrs.executable));
                assert_eq!(desc & DESC_PXN != 0, attrs.user || !attrs.executable);
                assert_eq!(desc & DESC_NG != 0, attrs.user);
                assert_ne!(desc & DESC_AF, 0);
            }
        }
        assert_eq!(
            decode_block_or_page(0x0000_0000_4000_0000 | 0b111 << 2 | 1, Level::L1),
            None
        );
    }

    #[test]
    fn aligned_two_gib_uses_two_l1_blocks() {
        let mut mem = TestMem::new();
        let mut pt = PageTable::new(&mut mem, Half::Lower).unwrap();
        pt.map(&mut mem, 2 * GIB, 4 * GIB, 2 * GIB, Attributes::USER_DATA)
            .unwrap();
        assert_eq!(mem.tables.len(), 1);
        let l = leaves(&mut mem, &pt);
        assert_eq!(levels(&l), [2, 0, 0]);
        assert_eq!(
            l[0],
            (
                Level::L1,
                2 * GIB,
                (4 * GIB) | Attributes::USER_DATA.bits() | 1
            )
        );
        assert_eq!(l[1].1, 3 * GIB);
    }

    #[test]
    fn unaligned_range_uses_pages_at_edges_and_blocks_inside() {
        let mut mem = TestMem::new();
        let mut pt = PageTable::new(&mut mem, Half::Lower).unwrap();
        // GiB 1 minus 8 KiB .. GiB 2 plus 2 MiB plus 4 KiB.
        let va = GIB - 2 * KIB4;
        let len = 2 * KIB4 + GIB + MIB2 + KIB4;
        pt.map(&mut mem, va, va + 4 * GIB, len, Attributes::KERNEL_DATA)
            .unwrap();
        let l = leaves(&mut mem, &pt);
        assert_eq!(levels(&l), [1, 1, 3]);
        let offs: Vec<u64> = l.iter().map(|x| x.1).collect();
        assert_eq!(offs, [va, va + KIB4, GIB, 2 * GIB, 2 * GIB + MIB2]);
        // Root, L2 + L3 below GiB 1, L2 + L3 in GiB 2.
        assert_eq!(mem.tables.len(), 5);
        // A physical address off by one page from the virtual one allows no blocks at all.
        let mut pt2 = PageTable::new(&mut mem, Half::Lower).unwrap();
        pt2.map(&mut mem, 0, KIB4, 4 * MIB2, Attributes::KERNEL_DATA)
            .unwrap();
        assert_eq!(levels(&leaves(&mut mem, &pt2)), [0, 0, 4 * 512]);
    }

    #[test]
    fn translate_round_trips() {
        let mut mem = TestMem::new();
        let mut pt = PageTable::new(&mut mem, Half::Lower).unwrap();
        let maps = [
            (
                0x40_0000,
                0x8000_0000,
                3 * MIB2 + 5 * KIB4,
                Attributes::USER_TEXT,
            ),
            (GIB, 2 * GIB, GIB, Attributes::USER_RODATA),
            (
                0x10_0000_0000 - KIB4,
                0x1234_5000,
                KIB4,
                Attributes::USER_DEVICE,
            ),
        ];
        for (va, pa, len, attrs) in maps {
            pt.map(&mut mem, va, pa, len, attrs).unwrap();
        }
        for (va, pa, len, attrs) in maps {
            for off in [0, 8, KIB4 - 1, len / 2, len - 1] {
                assert_eq!(
                    pt.translate(&mut mem, va + off),
                    Some((pa + off, attrs)),
                    "{:#x}",
                    va + off
                );
            }
            assert_ne!(
                pt.translate(&mut mem, va + len).map(|(p, _)| p),
                Some(pa + len)
            );
        }
        assert_eq!(pt.translate(&mut mem, 0), None);
        assert_eq!(pt.translate(&mut mem, HALF_SIZE), None);
        assert_eq!(pt.translate(&mut mem, UPPER_BASE + GIB), None);
    }

    #[test]
    fn overlap_and_bad_requests_change_nothing() {
        let mut mem = TestMem::new();
        let mut pt = PageTable::new(&mut mem, Half::Lower).unwrap();
        pt.map(
            &mut mem,
            3 * GIB + 5 * MIB2 + 7 * KIB4,
            0x9000_0000,
            KIB4,
            Attributes::USER_DATA,
        )
        .unwrap();
        pt.map(&mut mem, 6 * GIB, 0, GIB, Attributes::USER_DATA)
            .unwrap();
        let before = mem.snapshot();
        let data = Attributes::USER_DATA;
        let cases = [
            // The overlap is at the far end, after tables the map would need elsewhere.
            (
                0,
                0,
                3 * GIB + 6 * MIB2,
                data,
                MapError::AlreadyMapped {
                    va: 3 * GIB + 5 * MIB2 + 7 * KIB4,
                },
            ),
            (
                6 * GIB + MIB2,
                0,
                KIB4,
                data,
                MapError::AlreadyMapped { va: 6 * GIB + MIB2 },
            ),
            (
                5 * GIB,
                0,
                2 * GIB,
                data,
                MapError::AlreadyMapped { va: 6 * GIB },
            ),
            (
                0,
                0,
                KIB4,
                Attributes::new(MemoryKind::Normal, true, true, true),
                MapError::WritableExecutable,
            ),
            (
                0,
                0,
                KIB4,
                Attributes::new(MemoryKind::Device, false, true, false),
                MapError::ExecutableDevice,
            ),
            (0x800, 0, KIB4, data, MapError::Unaligned),
            (0, 0x800, KIB4, data, MapError::Unaligned),
            (0, 0, 0x800, data, MapError::Unaligned),
            (HALF_SIZE - KIB4, 0, 2 * KIB4, data, MapError::OutOfRange),
            (UPPER_BASE, 0, KIB4, data, MapError::OutOfRange),
            (0, 0, LAST_PAGE, data, MapError::OutOfRange),
            (
                0,
                PA_LIMIT - KIB4,
                2 * KIB4,
                data,
                MapError::PhysicalOutOfRange,
            ),
        ];
        for (va, pa, len, attrs, err) in cases {
            assert_eq!(
                pt.map(&mut mem, va, pa, len, attrs),
                Err(err),
                "map({va:#x}, {pa:#x}, {len:#x})"
            );
            assert_eq!(
                mem.snapshot(),
                before,
                "map({va:#x}, {pa:#x}, {len:#x}) changed the tables"
            );
        }
        assert_eq!(
            pt.unmap(&mut mem, 6 * GIB - KIB4, 2 * KIB4),
            Err(MapError::NotMapped { va: 6 * GIB - KIB4 })
        );
        assert_eq!(
            pt.unmap(&mut mem, 6 * GIB, GIB + KIB4),
            Err(MapError::NotMapped { va: 7 * GIB })
        );
        assert_eq!(
            pt.unmap(&mut mem, 6 * GIB + 1, KIB4),
            Err(MapError::Unaligned)
        );
        assert_eq!(mem.snapshot(), before);
        assert_eq!(pt.map(&mut mem, 0, 0, 0, data), Ok(()));
        assert_eq!(pt.unmap(&mut mem, 0, 0), Ok(()));
        assert_eq!(mem.snapshot(), before);
    }

    #[test]
    fn upper_half_addresses() {
        let mut mem = TestMem::new();
        let mut pt = PageTable::new(&mut mem, Half::Upper).unwrap();
        let kimage = 0xFFFF_FFFF_C000_0000;
        pt.map(
            &mut mem,
            kimage,
            0x4020_0000,
            0x3000,
            Attributes::KERNEL_TEXT,
        )
        .unwrap();
        pt.map(
            &mut mem,
            kimage + 0x3000,
            0x4020_3000,
            0x1000,
            Attributes::KERNEL_RODATA,
        )
        .unwrap();
        pt.map(
            &mut mem,
            UPPER_BASE + GIB,
            GIB,
            4 * GIB,
            Attributes::KERNEL_DATA,
        )
        .unwrap();
        // The very last page of the address space.
        pt.map(&mut mem, LAST_PAGE, 0x5000, KIB4, Attributes::KERNEL_DATA)
            .unwrap();
        assert_eq!(
            pt.translate(&mut mem, kimage + 0x1234),
            Some((0x4020_1234, Attributes::KERNEL_TEXT))
        );
        assert_eq!(
            pt.translate(&mut mem, kimage + 0x3fff),
            Some((0x4020_3fff, Attributes::KERNEL_RODATA))
        );
        assert_eq!(
            pt.translate(&mut mem, UPPER_BASE + 3 * GIB + 5),
            Some((3 * GIB + 5, Attributes::KERNEL_DATA))
        );
        assert_eq!(
            pt.translate(&mut mem, u64::MAX),
            Some((0x5fff, Attributes::KERNEL_DATA))
        );
        assert_eq!(pt.translate(&mut mem, 0x4020_0000), None);
        let l = leaves(&mut mem, &pt);
        assert_eq!(levels(&l), [4, 0, 5]);
        assert_eq!(l.last().unwrap().1, HALF_SIZE - KIB4);
        assert_eq!(
            pt.map(&mut mem, LAST_PAGE, 0, 2 * KIB4, Attributes::KERNEL_DATA),
            Err(MapError::OutOfRange)
        );
        assert_eq!(
            pt.map(&mut mem, 0x1000, 0, KIB4, Attributes::KERNEL_DATA),
            Err(MapError::OutOfRange)
        );
        assert_eq!(
            pt.map(
                &mut mem,
                UPPER_BASE - KIB4,
                0,
                2 * KIB4,
                Attributes::KERNEL_DATA
            ),
            Err(MapError::OutOfRange)
        );
    }

    #[test]
    fn unmap_splits_blocks() {
        let mut mem = TestMem::new();
        let mut pt = PageTable::new(&mut mem, Half::Lower).unwrap();
        pt.map(&mut mem, GIB, 0x8000_0000, 2 * MIB2, Attributes::USER_DATA)
            .unwrap();
        assert_eq!(levels(&leaves(&mut mem, &pt)), [0, 2, 0]);
        let hole = GIB + 17 * KIB4;
        pt.unmap(&mut mem, hole, KIB4).unwrap();
        assert_eq!(levels(&leaves(&mut mem, &pt)), [0, 1, 511]);
        assert_eq!(pt.translate(&mut mem, hole), None);
        assert_eq!(
            pt.translate(&mut mem, hole - 1),
            Some((0x8001_0fff, Attributes::USER_DATA))
        );
        assert_eq!(
            pt.translate(&mut mem, hole + KIB4),
            Some((0x8001_2000, Attributes::USER_DATA))
        );
        assert_eq!(
            pt.translate(&mut mem, GIB + MIB2 + 5),
            Some((0x8020_0005, Attributes::USER_DATA))
        );
        // The hole can be mapped again, elsewhere.
        pt.map(&mut mem, hole, 0x1000, KIB4, Attributes::USER_RODATA)
            .unwrap();
        assert_eq!(
            pt.translate(&mut mem, hole),
            Some((0x1000, Attributes::USER_RODATA))
        );
        // A 1 GiB block split twice: an L2 table of blocks, one of them an L3 table.
        pt.map(&mut mem, 4 * GIB, 0, GIB, Attributes::USER_RODATA)
            .unwrap();
        pt.unmap(&mut mem, 4 * GIB + 3 * MIB2 - KIB4, 2 * KIB4)
            .unwrap();
        let l = leaves(&mut mem, &pt);
        // The two pages straddle two 2 MiB blocks, so both are split.
        assert_eq!(levels(&l), [0, 1 + 510, 512 + 2 * 511]);
        assert_eq!(pt.translate(&mut mem, 4 * GIB + 3 * MIB2), None);
        assert_eq!(
            pt.translate(&mut mem, 4 * GIB + 3 * MIB2 + KIB4),
            Some((3 * MIB2 + KIB4, Attributes::USER_RODATA))
        );
        // Unmapping everything left: no leaves, tables stay until destroy.
        pt.unmap(&mut mem, GIB, 2 * MIB2).unwrap();
        pt.unmap(&mut mem, 4 * GIB, 3 * MIB2 - KIB4).unwrap();
        pt.unmap(&mut mem, 4 * GIB + 3 * MIB2 + KIB4, GIB - 3 * MIB2 - KIB4)
            .unwrap();
        assert!(leaves(&mut mem, &pt).is_empty());
        // Existing (empty) tables are reused by a later map, even where a block would fit.
        let tables = mem.tables.len();
        pt.map(&mut mem, 4 * GIB, 0, GIB, Attributes::USER_DATA)
            .unwrap();
        assert_eq!(mem.tables.len(), tables);
        assert_eq!(
            pt.translate(&mut mem, 4 * GIB + 3 * MIB2),
            Some((3 * MIB2, Attributes::USER_DATA))
        );
    }

    #[test]
    fn destroy_frees_every_table() {
        let mut mem = TestMem::new();
        let mut pt = PageTable::new(&mut mem, Half::Lower).unwrap();
        pt.map(&mut mem, KIB4, KIB4, 3 * GIB, Attributes::USER_DATA)
            .unwrap();
        pt.map(&mut mem, 100 * GIB, 0, GIB, Attributes::USER_DATA)
            .unwrap();
        pt.unmap(&mut mem, 100 * GIB + MIB2, KIB4).unwrap();
        assert!(mem.tables.len() > 4);
        pt.destroy(&mut mem);
        assert!(mem.tables.is_empty());
    }

    #[test]
    fn out_of_memory_midway_changes_nothing() {
        // This map needs 4 new tables: L2 + L3 at each end.
        let (va, len) = (GIB - KIB4, GIB + 2 * KIB4);
        for n in 0..4 {
            let mut mem = TestMem::new();
            let mut pt = PageTable::new(&mut mem, Half::Lower).unwrap();
            pt.map(&mut mem, 5 * GIB, 0, KIB4, Attributes::USER_DATA)
                .unwrap();
            let before = mem.snapshot();
            mem.allocs_left = Some(n);
            assert_eq!(
                pt.map(&mut mem, va, va, len, Attributes::USER_DATA),
                Err(MapError::OutOfMemory)
            );
            assert_eq!(mem.snapshot(), before, "with {n} tables to spare");
            mem.allocs_left = Some(4);
            pt.map(&mut mem, va, va, len, Attributes::USER_DATA)
                .unwrap();
            assert_eq!(mem.allocs_left, Some(0));
        }
        // Splitting a 1 GiB block down to a page needs 2 tables.
        for n in 0..2 {
            let mut mem = TestMem::new();
            let mut pt = PageTable::new(&mut mem, Half::Lower).unwrap();
            pt.map(&mut mem, GIB, 0, GIB, Attributes::USER_DATA)
                .unwrap();
            let before = mem.snapshot();
            mem.allocs_left = Some(n);
            assert_eq!(
                pt.unmap(&mut mem, GIB + 5 * MIB2, KIB4),
                Err(MapError::OutOfMemory)
            );
            assert_eq!(mem.snapshot(), before, "with {n} tables to spare");
        }
        let mut mem = TestMem::failing_after(0);
        assert_eq!(
            PageTable::new(&mut mem, Half::Upper).unwrap_err(),
            MapError::OutOfMemory
        );
    }

    /// The reference for the randomized test: mapped ranges `(va, len, pa, attrs)`.
    #[derive(Default)]
    struct Model(Vec<(u64, u64, u64, Attributes)>);

    impl Model {
        fn lookup(&self, va: u64) -> Option<(u64, Attributes)> {
            let hit = self.0.iter().find(|&&(v, len, ..)| v <= va && va < v + len);
            hit.map(|&(v, _, pa, a)| (pa + (va - v), a))
        }

        fn any_mapped(&self, va: u64, len: u64) -> bool {
            self.0.iter().any(|&(v, l, ..)| v < va + len && va < v + l)
        }

        /// Whether the ranges cover `[va, va + len)` without a gap.
        fn all_mapped(&self, va: u64, len: u64) -> bool {
            let mut hits: Vec<_> = self
                .0
                .iter()
                .filter(|&&(v, l, ..)| v < va + len && va < v + l)
                .collect();
            hits.sort_by_key(|h| h.0);
            let mut covered = va;
            for &&(v, l, ..) in &hits {
                if v > covered {
                    return false;
                }
                covered = covered.max(v + l);
            }
            covered >= va + len
        }

        fn remove(&mut self, va: u64, len: u64) {
            let mut kept = Vec::new();
            for &(v, l, pa, a) in &self.0 {
                if v < va {
                    kept.push((v, (v + l).min(va) - v, pa, a));
                }
                if v + l > va + len {
                    let start = v.max(va + len);
                    kept.push((start, v + l - start, pa + (start - v), a));
                }
            }
            self.0 = kept;
        }
    }

    #[test]
    fn randomized_against_a_model() {
        // A 16 GiB window; sizes and alignments chosen so that blocks are common.
        let mut mem = TestMem::new();
        let mut pt = PageTable::new(&mut mem, Half::Lower).unwrap();
        let mut model = Model::default();
        let mut rng = Lcg(7);
        let attrs = [
            Attributes::USER_DATA,
            Attributes::USER_TEXT,
            Attributes::USER_RODATA,
        ];
        let window = 16 * GIB;
        let (mut mapped, mut unmapped, mut l1_blocks) = (0, 0, 0);
        for step in 0..600 {
            let unit = [KIB4, MIB2, GIB][rng.below(3) as usize];
            let op = rng.below(3);
            let (va, len) = match model.0.len() {
                // Part of a mapped range, so that unmaps succeed and split blocks.
                n if op == 2 && n > 0 => {
                    let (va, len, ..) = model.0[rng.below(n as u64) as usize];
                    let first = rng.below(len / KIB4) * KIB4;
                    (va + first, (1 + rng.below((len - first) / KIB4)) * KIB4)
                }
                _ => {
                    let va = rng.below(window / unit) * unit + rng.below(4) / 3 * KIB4;
                    let len = (1 + rng.below(2)) * unit + rng.below(3) * KIB4;
                    (va, len.min(window - va))
                }
            };
            let expect_ok = match op {
                0 => !model.any_mapped(va, len),
                _ => model.all_mapped(va, len),
            };
            let before = (!expect_ok).then(|| mem.snapshot());
            if op == 0 {
                let offset = rng.below(4) / 2 * [KIB4, MIB2][rng.below(2) as usize];
                let pa = rng.below(64) * GIB + offset;
                let a = attrs[rng.below(3) as usize];
                let got = pt.map(&mut mem, va, pa, len, a);
                assert_eq!(
                    got.is_ok(),
                    expect_ok,
                    "step {step}: map {va:#x}+{len:#x}: {got:?}"
                );
                if expect_ok {
                    model.0.push((va, len, pa, a));
                    mapped += 1;
                }
            } else {
                let got = pt.unmap(&mut mem, va, len);
                assert_eq!(
                    got.is_ok(),
                    expect_ok,
                    "step {step}: unmap {va:#x}+{len:#x}: {got:?}"
                );
                if expect_ok {
                    model.remove(va, len);
                    unmapped += 1;
                }
            }
            if let Some(before) = before {
                assert!(
                    mem.snapshot() == before,
                    "step {step}: a refusal changed the tables"
                );
            }
            // 1 GiB blocks are the rarest leaves (splits and tables left behind remove them).
            let root = mem.table(pt.root());
            l1_blocks += root
                .iter()
                .filter(|&&d| matches!(classify(d, Level::L1), Entry::Leaf))
                .count();
            for _ in 0..20 {
                let va = rng.below(window / 8) * 8;
                assert_eq!(
                    pt.translate(&mut mem, va),
                    model.lookup(va),
                    "step {step}: {va:#x}"
                );
            }
        }
        let l = leaves(&mut mem, &pt);
        let leaf_bytes: u64 = l.iter().map(|(level, ..)| level.size()).sum();
        assert_eq!(leaf_bytes, model.0.iter().map(|r| r.1).sum::<u64>());
        assert!(
            mapped > 50 && unmapped > 50,
            "{mapped} maps, {unmapped} unmaps succeeded"
        );
        assert!(l1_blocks > 0 && levels(&l)[1] > 0 && levels(&l)[2] > 0);
        pt.destroy(&mut mem);
        assert!(mem.tables.is_empty());
    }
}
