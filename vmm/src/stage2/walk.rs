//! The stage-2 table walks. Map and unmap run twice over the same code: a check pass that
//! writes nothing and counts the tables needed, then an apply pass fed from a pool of
//! exactly that many tables, so an operation either completes or changes nothing.

use alloc::vec::Vec;

use super::descriptor::{self, Level, DESC_VALID, ENTRIES, OA_MASK, PAGE_SIZE};
use super::{Leaves, Stage2Error, TableMemory};

/// Which pass of an operation is running.
pub(super) enum Pass<'a> {
    /// Validate the range and count the new tables needed; write nothing.
    Check,
    /// Write, taking new tables from the pool the check pass sized.
    Apply(&'a mut Vec<u64>),
}

/// The 4 KiB table holding entry `index` of a table, and the slot in it (the root
/// spans two concatenated tables).
fn locate(table: u64, index: usize) -> (u64, usize) {
    (table + (index / ENTRIES) as u64 * PAGE_SIZE, index % ENTRIES)
}

fn read_index(mem: &mut impl TableMemory, table: u64, index: usize) -> u64 {
    let (pa, slot) = locate(table, index);
    mem.table(pa)[slot]
}

fn write_index(mem: &mut impl TableMemory, table: u64, index: usize, desc: u64) {
    let (pa, slot) = locate(table, index);
    mem.table(pa)[slot] = desc;
}

/// The descriptor translating `ipa` in the table at `level`.
pub(super) fn read(mem: &mut impl TableMemory, table: u64, level: Level, ipa: u64) -> u64 {
    read_index(mem, table, level.index(ipa))
}

fn write(mem: &mut impl TableMemory, table: u64, level: Level, ipa: u64, desc: u64) {
    write_index(mem, table, level.index(ipa), desc);
}

/// Bytes from `ipa` to the end of its entry at `level`, at most `remaining`.
fn step(level: Level, ipa: u64, remaining: u64) -> u64 {
    (level.size() - (ipa & (level.size() - 1))).min(remaining)
}

/// Maps [ipa, ipa + len) to [pa, pa + len) under `table` (None: a table the apply pass will
/// create, so every entry is empty). Returns the number of new tables needed.
#[allow(clippy::too_many_arguments)]
pub(super) fn map(
    mem: &mut impl TableMemory,
    table: Option<u64>,
    level: Level,
    ipa: u64,
    pa: u64,
    len: u64,
    attributes: u64,
    leaves: Leaves,
    pass: &mut Pass<'_>,
) -> Result<usize, Stage2Error> {
    let mut needed = 0;
    let mut done = 0;
    let leaf_here = leaves == Leaves::Blocks || level.next().is_none();
    while done < len {
        let (here, out) = (ipa + done, pa + done);
        let chunk = step(level, here, len - done);
        let entry = table.map_or(0, |t| read(mem, t, level, here));
        let whole = leaf_here && chunk == level.size() && out & (level.size() - 1) == 0;
        if entry & DESC_VALID == 0 && whole {
            if let (Pass::Apply(_), Some(t)) = (&pass, table) {
                write(mem, t, level, here, descriptor::leaf(level, out, attributes));
            }
        } else if entry & DESC_VALID == 0 {
            let next = level.next().ok_or(Stage2Error::Misaligned)?;
            let mut child = None;
            if let (Pass::Apply(pool), Some(t)) = (&mut *pass, table) {
                let new = pool.pop().ok_or(Stage2Error::OutOfMemory)?;
                write(mem, t, level, here, descriptor::table(new));
                child = Some(new);
            }
            needed += 1 + map(mem, child, next, here, out, chunk, attributes, leaves, pass)?;
        } else if level.is_table(entry) {
            let next = level.next().ok_or(Stage2Error::Misaligned)?;
            needed += map(mem, Some(entry & OA_MASK), next, here, out, chunk, attributes, leaves, pass)?;
        } else {
            return Err(Stage2Error::Overlap { ipa: here });
        }
        done += chunk;
    }
    Ok(needed)
}

/// Tables needed to unmap [ipa, ipa + len) inside a table at `level` whose entries all map
/// memory (a block being split): one per entry only partly covered, recursively.
fn split_tables(level: Level, ipa: u64, len: u64) -> usize {
    let mut needed = 0;
    let mut done = 0;
    while done < len {
        let here = ipa + done;
        let chunk = step(level, here, len - done);
        if let (true, Some(next)) = (chunk < level.size(), level.next()) {
            needed += 1 + split_tables(next, here, chunk);
        }
        done += chunk;
    }
    needed
}

/// Removes every mapping of [ipa, ipa + len) under `table`, splitting blocks that are only
/// partly covered and freeing tables left empty. Returns the number of new tables needed.
pub(super) fn unmap(
    mem: &mut impl TableMemory,
    table: u64,
    level: Level,
    ipa: u64,
    len: u64,
    pass: &mut Pass<'_>,
) -> Result<usize, Stage2Error> {
    let mut needed = 0;
    let mut done = 0;
    while done < len {
        let here = ipa + done;
        let chunk = step(level, here, len - done);
        let entry = read(mem, table, level, here);
        let apply = matches!(pass, Pass::Apply(_));
        if entry & DESC_VALID == 0 {
            // Nothing mapped here.
        } else if level.is_table(entry) {
            let next = level.next().ok_or(Stage2Error::Misaligned)?;
            let child = entry & OA_MASK;
            needed += unmap(mem, child, next, here, chunk, pass)?;
            if apply && mem.table(child).iter().all(|&d| d & DESC_VALID == 0) {
                write(mem, table, level, here, 0);
                mem.free_table(child);
            }
        } else if chunk == level.size() || !level.is_leaf(entry) {
            if apply {
                write(mem, table, level, here, 0);
            }
        } else {
            let next = level.next().ok_or(Stage2Error::Misaligned)?;
            needed += 1 + split_tables(next, here, chunk);
            if let Pass::Apply(pool) = pass {
                let new = pool.pop().ok_or(Stage2Error::OutOfMemory)?;
                let base = entry & OA_MASK & !(level.size() - 1);
                let attributes = descriptor::attributes(entry);
                for (i, slot) in mem.table(new).iter_mut().enumerate() {
                    *slot = descriptor::leaf(next, base + i as u64 * next.size(), attributes);
                }
                write(mem, table, level, here, descriptor::table(new));
                unmap(mem, new, next, here, chunk, pass)?;
            }
        }
        done += chunk;
    }
    Ok(needed)
}

/// The host address `ipa` maps to under `table`, if any.
pub(super) fn translate(mem: &mut impl TableMemory, mut table: u64, ipa: u64) -> Option<u64> {
    let mut level = Level::L1;
    loop {
        let desc = read(mem, table, level, ipa);
        if level.is_leaf(desc) {
            let offset = ipa & (level.size() - 1);
            return Some((desc & OA_MASK & !(level.size() - 1)) | offset);
        }
        if !level.is_table(desc) {
            return None;
        }
        table = desc & OA_MASK;
        level = level.next()?;
    }
}

/// Frees every table below `table` (not `table` itself).
pub(super) fn free_below(mem: &mut impl TableMemory, table: u64, level: Level) {
    for index in 0..level.entries() {
        let desc = read_index(mem, table, index);
        if let (true, Some(next)) = (level.is_table(desc), level.next()) {
            free_below(mem, desc & OA_MASK, next);
            mem.free_table(desc & OA_MASK);
        }
    }
}
