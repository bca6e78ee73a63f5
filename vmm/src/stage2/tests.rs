//! Host tests of the stage-2 tables over a hash-map table memory that can run out.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

const GIB: u64 = 1 << 30;
const MIB2: u64 = 2 << 20;
const RAM_LEAF_BITS: u64 = 0x7fd; // valid block | AF | SH inner | S2AP RW | MemAttr WB
const RAM_PAGE_BITS: u64 = 0x7ff;

/// Tables in a map keyed by address; a budget of tables simulates running out.
struct Memory {
    tables: BTreeMap<u64, [u64; ENTRIES]>,
    roots: BTreeSet<u64>,
    next: u64,
    budget: usize,
    misalign_root: bool,
}

impl Memory {
    fn new(budget: usize) -> Self {
        Self {
            tables: BTreeMap::new(),
            roots: BTreeSet::new(),
            next: 0x10_0000,
            budget,
            misalign_root: false,
        }
    }

    fn take(&mut self, count: usize) -> Option<u64> {
        if self.budget < count {
            return None;
        }
        self.budget -= count;
        let pa = self.next;
        self.next += count as u64 * PAGE_SIZE;
        for i in 0..count as u64 {
            self.tables.insert(pa + i * PAGE_SIZE, [0; ENTRIES]);
        }
        Some(pa)
    }

    /// Tables other than the root's two.
    fn non_root_tables(&self) -> usize {
        self.tables.len() - 2 * self.roots.len()
    }
}

impl TableMemory for Memory {
    fn alloc_table(&mut self) -> Option<u64> {
        self.take(1)
    }

    fn alloc_root(&mut self) -> Option<u64> {
        self.next = self.next.next_multiple_of(ROOT_SIZE) + if self.misalign_root { PAGE_SIZE } else { 0 };
        let pa = self.take(2)?;
        self.roots.insert(pa);
        Some(pa)
    }

    fn table(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
        self.tables
            .get_mut(&pa)
            .expect("the walk touched a table it does not own")
    }

    fn free_table(&mut self, pa: u64) {
        assert!(!self.roots.contains(&pa), "a root freed as a table");
        assert!(self.tables.remove(&pa).is_some(), "double free of {pa:#x}");
        self.budget += 1;
    }

    fn free_root(&mut self, pa: u64) {
        assert!(self.roots.remove(&pa), "not a root: {pa:#x}");
        assert!(self.tables.remove(&pa).is_some() && self.tables.remove(&(pa + PAGE_SIZE)).is_some());
        self.budget += 2;
    }
}

/// The descriptor that finally translates `ipa` and its level (or the invalid one met).
fn leaf_of(mem: &mut Memory, s2: &Stage2, ipa: u64) -> (Level, u64) {
    let mut table = s2.root();
    let mut level = Level::L1;
    loop {
        let index = level.index(ipa);
        let desc = mem.table(table + (index / ENTRIES) as u64 * PAGE_SIZE)[index % ENTRIES];
        match level.next() {
            Some(next) if level.is_table(desc) => {
                table = desc & OA_MASK;
                level = next;
            }
            _ => return (level, desc),
        }
    }
}

#[test]
fn register_values() {
    assert_eq!(vtcr_el2(40), Some(0x8002_3558));
    assert_eq!(vtcr_el2(44), Some(0x8004_3558));
    assert_eq!(vtcr_el2(48), Some(0x8005_3558));
    assert_eq!(
        vtcr_el2(52),
        Some(0x8005_3558),
        "52-bit output needs LPA2: capped at 48"
    );
    assert_eq!(vtcr_el2(36), None, "the 40-bit IPA may not exceed the host's PA size");
    assert_eq!(pa_range_bits(0x0000_0000_0010_1122), Some(40)); // cortex-a76
    assert_eq!(pa_range_bits(0x5), Some(48));
    assert_eq!(pa_range_bits(0x7), None);
    assert_eq!(vttbr(0x4321_2000, 5), 0x0005_0000_4321_2000);
    assert_eq!(vttbr(0x4321_3fff, 0xff), 0x00ff_0000_4321_2000, "low bits dropped");
}

#[test]
fn gigabyte_aligned_ram_is_one_block() {
    let mut mem = Memory::new(16);
    let mut s2 = Stage2::new(&mut mem).unwrap();
    s2.map_ram(&mut mem, 0x4000_0000, 0x1_c000_0000, GIB).unwrap();
    assert_eq!(mem.non_root_tables(), 0);
    assert_eq!(mem.table(s2.root())[1], 0x1_c000_0000 | RAM_LEAF_BITS);
    assert_eq!(s2.translate(&mut mem, 0x4000_1234), Some(0x1_c000_1234));
    assert_eq!(s2.translate(&mut mem, 0x7fff_ffff), Some(0x1_ffff_ffff));
    assert_eq!(s2.translate(&mut mem, 0x8000_0000), None);
    assert_eq!(s2.translate(&mut mem, 0x0900_0000), None, "devices stay unmapped");
}

#[test]
fn pages_only_when_asked() {
    let mut mem = Memory::new(16);
    let mut s2 = Stage2::new(&mut mem).unwrap();
    // A 2 MiB-aligned 2 MiB range that would be one block: a level-2 and a level-3 table.
    s2.map_ram_with(&mut mem, 0x4020_0000, 0x8020_0000, MIB2, Leaves::Pages).unwrap();
    assert_eq!(mem.non_root_tables(), 2);
    assert_eq!(leaf_of(&mut mem, &s2, 0x4020_0000).0, Level::L3);
    assert_eq!(leaf_of(&mut mem, &s2, 0x403f_f000).0, Level::L3);
    assert_eq!(s2.translate(&mut mem, 0x403f_f123), Some(0x803f_f123));
    // The next block, as a block, under the same level-2 table.
    s2.map_ram_with(&mut mem, 0x4040_0000, 0x8040_0000, MIB2, Leaves::Blocks).unwrap();
    assert_eq!(mem.non_root_tables(), 2);
    assert_eq!(leaf_of(&mut mem, &s2, 0x4040_0000).0, Level::L2);
}

#[test]
fn two_megabyte_blocks_and_pages_where_alignment_allows() {
    let mut mem = Memory::new(16);
    let mut s2 = Stage2::new(&mut mem).unwrap();
    // 2 MiB-aligned but not 1 GiB-aligned output: 2 MiB blocks under one level-2 table.
    s2.map_ram(&mut mem, 0x4000_0000, 0x8020_0000, 2 * MIB2).unwrap();
    assert_eq!(mem.non_root_tables(), 1);
    assert_eq!(
        leaf_of(&mut mem, &s2, 0x4020_0000),
        (Level::L2, 0x8040_0000 | RAM_LEAF_BITS)
    );
    // Pages, then a block, then pages: two pages each side of one 2 MiB block.
    let (ipa, pa) = (0x8_001f_e000, 0x3_001f_e000);
    s2.map_ram(&mut mem, ipa, pa, MIB2 + 4 * PAGE_SIZE).unwrap();
    assert_eq!(mem.non_root_tables(), 1 + 3);
    assert_eq!(leaf_of(&mut mem, &s2, ipa), (Level::L3, pa | RAM_PAGE_BITS));
    assert_eq!(
        leaf_of(&mut mem, &s2, ipa + 0x2000),
        (Level::L2, 0x3_0020_0000 | RAM_LEAF_BITS)
    );
    assert_eq!(
        leaf_of(&mut mem, &s2, 0x8_0040_1000),
        (Level::L3, 0x3_0040_1000 | RAM_PAGE_BITS)
    );
    assert_eq!(leaf_of(&mut mem, &s2, 0x8_0040_2000).1, 0, "just past the end");
    for offset in [0, 0x1fff, 0x2000, 0x1f_ffff, 0x20_1fff] {
        assert_eq!(s2.translate(&mut mem, ipa + offset), Some(pa + offset));
    }
    // A neighbouring page reuses the existing tables.
    s2.map_ram(&mut mem, ipa - PAGE_SIZE, 0x5000_0000, PAGE_SIZE).unwrap();
    assert_eq!(mem.non_root_tables(), 4);
}

#[test]
fn upper_half_of_the_ipa_space_uses_the_second_root_table() {
    let mut mem = Memory::new(16);
    let mut s2 = Stage2::new(&mut mem).unwrap();
    s2.map_ram(&mut mem, IPA_LIMIT - GIB, 0x40_0000_0000, GIB).unwrap();
    assert_eq!(mem.table(s2.root() + PAGE_SIZE)[511], 0x40_0000_0000 | RAM_LEAF_BITS);
    assert_eq!(s2.translate(&mut mem, IPA_LIMIT - 1), Some(0x40_3fff_ffff));
    assert_eq!(s2.translate(&mut mem, IPA_LIMIT), None);
}

#[test]
fn device_descriptor_bits() {
    let mut mem = Memory::new(16);
    let mut s2 = Stage2::new(&mut mem).unwrap();
    s2.map(&mut mem, 0x0a00_0000, 0x0a00_0000, PAGE_SIZE, MemoryKind::Device)
        .unwrap();
    let (level, desc) = leaf_of(&mut mem, &s2, 0x0a00_0000);
    assert_eq!(level, Level::L3);
    assert_eq!(
        desc,
        0x0a00_0000 | XN | AF | S2AP_WRITE | S2AP_READ | MEMATTR_DEVICE_NGNRE | 0b11
    );
    assert_eq!(desc, 0x0040_0000_0a00_04c7);
}

#[test]
fn overlaps_are_refused_without_change() {
    let mut mem = Memory::new(16);
    let mut s2 = Stage2::new(&mut mem).unwrap();
    s2.map_ram(&mut mem, 0x4000_0000, 0x8000_0000, MIB2).unwrap();
    s2.map_ram(&mut mem, 0x4040_0000, 0x9000_0000, PAGE_SIZE).unwrap();
    let before = mem.tables.clone();
    let err = s2.map_ram(&mut mem, 0x401f_f000, 0x7000_0000, 2 * PAGE_SIZE);
    assert_eq!(err, Err(Stage2Error::Overlap { ipa: 0x401f_f000 }));
    // Free at the start, overlapping only at the end: still nothing written.
    let err = s2.map_ram(&mut mem, 0x4030_0000, 0x7000_0000, MIB2);
    assert_eq!(err, Err(Stage2Error::Overlap { ipa: 0x4040_0000 }));
    // A whole gigabyte over a table that holds mappings.
    assert_eq!(
        s2.map_ram(&mut mem, 0x4000_0000, 0x8000_0000, GIB),
        Err(Stage2Error::Overlap { ipa: 0x4000_0000 })
    );
    assert_eq!(mem.tables, before);
    assert_eq!(mem.budget, 16 - 2 - 2);
}

#[test]
fn running_out_of_tables_midway_changes_nothing() {
    // Root (2) + one more: the map needs a level-2 and two level-3 tables.
    let mut mem = Memory::new(3);
    let mut s2 = Stage2::new(&mut mem).unwrap();
    let before = mem.tables.clone();
    let err = s2.map_ram(&mut mem, 0x401f_f000, 0x8000_1000, 2 * PAGE_SIZE);
    assert_eq!(err, Err(Stage2Error::OutOfMemory));
    assert_eq!(mem.tables, before);
    assert_eq!(mem.budget, 1, "the tables taken before the failure were given back");
    assert_eq!(s2.translate(&mut mem, 0x401f_f000), None);
    mem.budget = 3;
    s2.map_ram(&mut mem, 0x401f_f000, 0x8000_1000, 2 * PAGE_SIZE).unwrap();
    assert_eq!(mem.budget, 0);
}

#[test]
fn unmap_splits_blocks_and_frees_empty_tables() {
    let mut mem = Memory::new(16);
    let mut s2 = Stage2::new(&mut mem).unwrap();
    s2.map_ram(&mut mem, 0x4000_0000, 0x1_0000_0000, GIB).unwrap();
    // One page out of the middle: the 1 GiB block becomes 2 MiB blocks, one of them pages.
    s2.unmap(&mut mem, 0x4060_3000, PAGE_SIZE).unwrap();
    assert_eq!(mem.non_root_tables(), 2);
    assert_eq!(s2.translate(&mut mem, 0x4060_3000), None);
    assert_eq!(s2.translate(&mut mem, 0x4060_2fff), Some(0x1_0060_2fff));
    assert_eq!(s2.translate(&mut mem, 0x4060_4000), Some(0x1_0060_4000));
    assert_eq!(s2.translate(&mut mem, 0x7fff_f000), Some(0x1_3fff_f000));
    assert_eq!(
        leaf_of(&mut mem, &s2, 0x4060_4000),
        (Level::L3, 0x1_0060_4000 | RAM_PAGE_BITS)
    );
    assert_eq!(
        leaf_of(&mut mem, &s2, 0x4080_0000),
        (Level::L2, 0x1_0080_0000 | RAM_LEAF_BITS)
    );
    // Unmapping across holes is fine; emptied tables go back.
    s2.unmap(&mut mem, 0x4000_0000, GIB).unwrap();
    assert_eq!(mem.non_root_tables(), 0);
    assert_eq!(mem.table(s2.root())[1], 0);
    s2.unmap(&mut mem, 0x4000_0000, GIB).unwrap();
}

#[test]
fn unmap_out_of_memory_changes_nothing() {
    let mut mem = Memory::new(3);
    let mut s2 = Stage2::new(&mut mem).unwrap();
    s2.map_ram(&mut mem, 0x4000_0000, 0x1_0000_0000, GIB).unwrap();
    let before = mem.tables.clone();
    assert_eq!(
        s2.unmap(&mut mem, 0x4060_3000, PAGE_SIZE),
        Err(Stage2Error::OutOfMemory)
    );
    assert_eq!(mem.tables, before);
    assert_eq!(mem.budget, 1);
    // Unmapping whole blocks needs no tables.
    s2.unmap(&mut mem, 0x4000_0000, GIB).unwrap();
    assert_eq!(s2.translate(&mut mem, 0x4000_0000), None);
}

#[test]
fn destroy_frees_every_table() {
    let mut mem = Memory::new(64);
    let mut s2 = Stage2::new(&mut mem).unwrap();
    s2.map_ram(&mut mem, 0x4000_0000, 0x8000_1000, 3 * MIB2).unwrap();
    s2.map_ram(&mut mem, 0x80_4000_0000, 0x2_0000_0000, GIB + MIB2).unwrap();
    assert!(mem.non_root_tables() > 3);
    s2.destroy(&mut mem);
    assert!(mem.tables.is_empty());
    assert!(mem.roots.is_empty());
    assert_eq!(mem.budget, 64);
}

#[test]
fn bad_ranges_are_refused() {
    let mut mem = Memory::new(16);
    let mut s2 = Stage2::new(&mut mem).unwrap();
    assert_eq!(
        s2.map_ram(&mut mem, 0x4000_0000, 0x8000_0000, 0),
        Err(Stage2Error::Empty)
    );
    assert_eq!(
        s2.map_ram(&mut mem, 0x4000_0800, 0x8000_0000, PAGE_SIZE),
        Err(Stage2Error::Misaligned)
    );
    assert_eq!(
        s2.map_ram(&mut mem, 0x4000_0000, 0x8000_0010, PAGE_SIZE),
        Err(Stage2Error::Misaligned)
    );
    assert_eq!(
        s2.map_ram(&mut mem, 0x4000_0000, 0x8000_0000, 100),
        Err(Stage2Error::Misaligned)
    );
    assert_eq!(
        s2.map_ram(&mut mem, IPA_LIMIT, 0x8000_0000, PAGE_SIZE),
        Err(Stage2Error::OutOfRange)
    );
    assert_eq!(
        s2.map_ram(&mut mem, IPA_LIMIT - PAGE_SIZE, 0, 2 * PAGE_SIZE),
        Err(Stage2Error::OutOfRange)
    );
    assert_eq!(s2.map_ram(&mut mem, !0xfff, 0, PAGE_SIZE), Err(Stage2Error::OutOfRange));
    assert_eq!(
        s2.map_ram(&mut mem, 0, PA_LIMIT - PAGE_SIZE, 2 * PAGE_SIZE),
        Err(Stage2Error::OutOfRange)
    );
    assert_eq!(s2.map_ram(&mut mem, 0, !0xfff, PAGE_SIZE), Err(Stage2Error::OutOfRange));
    assert_eq!(s2.unmap(&mut mem, IPA_LIMIT, PAGE_SIZE), Err(Stage2Error::OutOfRange));
    assert_eq!(mem.non_root_tables(), 0);
    s2.map_ram(&mut mem, IPA_LIMIT - PAGE_SIZE, PA_LIMIT - PAGE_SIZE, PAGE_SIZE)
        .unwrap();
    assert_eq!(s2.translate(&mut mem, IPA_LIMIT - 1), Some(PA_LIMIT - 1));
    assert_eq!(s2.translate(&mut mem, u64::MAX), None);
}

#[test]
fn root_must_be_aligned() {
    let mut mem = Memory::new(4);
    mem.misalign_root = true;
    assert_eq!(Stage2::new(&mut mem).unwrap_err(), Stage2Error::MisalignedRoot);
    assert!(mem.tables.is_empty());
    let mut mem = Memory::new(1);
    assert_eq!(Stage2::new(&mut mem).unwrap_err(), Stage2Error::OutOfMemory);
}
