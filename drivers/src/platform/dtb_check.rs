//! Strict structural check of a DTB, so that the fdt crate never meets input it would panic on.
//!
//! fdt 0.1.5 trusts the blob: it slices the structure and strings blocks without bounds
//! checks, `unwrap`s token reads, asserts on unexpected tokens and recurses without limit.
//! This pass walks the whole structure block once and proves what its parser assumes:
//! header blocks inside the blob, balanced nodes, properties before child nodes, every name
//! NUL-terminated UTF-8 inside its block, `#address-cells`/`#size-cells` one cell long,
//! nesting at most [`MAX_DEPTH`] deep. It also rejects `FDT_NOP`, which fdt 0.1.5 skips in
//! some positions and not others (QEMU and dtc never emit it).

use super::{MemoryRange, PlatformError};

const FDT_MAGIC: u32 = 0xd00d_feed;
const HEADER_SIZE: usize = 40;
/// Structure-block layout and header fields are those of version 17 (the current one).
const SUPPORTED_VERSION: u32 = 17;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
/// Deepest node nesting accepted (root = 1); fdt 0.1.5 tracks at most 63 levels.
pub(super) const MAX_DEPTH: usize = 32;

/// Where the memory reservation block is, once the blob has passed [`check`].
#[derive(Clone, Copy, Debug)]
pub(super) struct CheckedDtb {
    reservations_offset: usize,
    reservation_count: usize,
}

fn malformed(offset: usize, reason: &'static str) -> PlatformError {
    PlatformError::Malformed { offset, reason }
}

fn be_u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes(word.try_into().ok()?))
}

fn be_u64_at(bytes: &[u8], offset: usize) -> Option<u64> {
    let word = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_be_bytes(word.try_into().ok()?))
}

/// `offset..offset + size` as a range inside `0..limit`, if it fits.
fn block(offset: u32, size: u32, limit: usize) -> Option<core::ops::Range<usize>> {
    let start = offset as usize;
    let end = start.checked_add(size as usize)?;
    (end <= limit).then_some(start..end)
}

/// The NUL-terminated UTF-8 string at the start of `bytes`, and its length without the NUL.
fn c_string(bytes: &[u8]) -> Option<(&str, usize)> {
    let len = bytes.iter().position(|byte| *byte == 0)?;
    let text = core::str::from_utf8(bytes.get(..len)?).ok()?;
    Some((text, len))
}

fn align4(offset: usize) -> Option<usize> {
    Some(offset.checked_add(3)? & !3)
}

/// Checks the header, the memory reservation block and the whole structure block.
pub(super) fn check(dtb: &[u8]) -> Result<CheckedDtb, PlatformError> {
    if be_u32_at(dtb, 0) != Some(FDT_MAGIC) {
        return Err(PlatformError::NotADeviceTree);
    }
    let field = |index: usize| be_u32_at(dtb, index * 4).ok_or(PlatformError::Truncated);
    let (total_size, struct_offset, strings_offset, reservations_offset) =
        (field(1)?, field(2)?, field(3)?, field(4)?);
    let (version, last_compatible_version) = (field(5)?, field(6)?);
    let (strings_size, struct_size) = (field(8)?, field(9)?);
    if version < SUPPORTED_VERSION || last_compatible_version > SUPPORTED_VERSION {
        return Err(PlatformError::UnsupportedVersion(version));
    }
    let total_size = total_size as usize;
    if total_size > dtb.len() {
        return Err(PlatformError::Truncated);
    }
    if total_size < HEADER_SIZE {
        return Err(malformed(4, "totalsize is smaller than the header"));
    }
    let structure = block(struct_offset, struct_size, total_size)
        .and_then(|range| dtb.get(range))
        .ok_or(malformed(8, "structure block lies outside totalsize"))?;
    let strings = block(strings_offset, strings_size, total_size)
        .and_then(|range| dtb.get(range))
        .ok_or(malformed(12, "strings block lies outside totalsize"))?;
    let reservation_count = count_reservations(dtb, reservations_offset as usize, total_size)?;
    check_structure(structure, strings, struct_offset as usize)?;
    Ok(CheckedDtb {
        reservations_offset: reservations_offset as usize,
        reservation_count,
    })
}

/// Counts the (address, size) entries before the (0, 0) terminator.
fn count_reservations(
    dtb: &[u8],
    offset: usize,
    total_size: usize,
) -> Result<usize, PlatformError> {
    let within = dtb.get(..total_size).unwrap_or(&[]);
    let (mut entry, mut count) = (offset, 0);
    loop {
        let address = be_u64_at(within, entry);
        let size = entry.checked_add(8).and_then(|at| be_u64_at(within, at));
        match (address, size) {
            (Some(0), Some(0)) => return Ok(count),
            (Some(_), Some(_)) => (entry, count) = (entry + 16, count + 1),
            _ => {
                return Err(malformed(
                    entry,
                    "memory reservation block is not terminated",
                ))
            }
        }
    }
}

/// The memory reservation block's entries of a blob that passed [`check`].
pub(super) fn reservations(
    dtb: &[u8],
    checked: CheckedDtb,
) -> impl Iterator<Item = MemoryRange> + '_ {
    (0..checked.reservation_count).filter_map(move |index| {
        let entry = checked
            .reservations_offset
            .checked_add(index.checked_mul(16)?)?;
        let base = be_u64_at(dtb, entry)?;
        let size = be_u64_at(dtb, entry.checked_add(8)?)?;
        Some(MemoryRange { base, size })
    })
}

/// Walks the structure block token by token. `block_offset` only serves error messages.
fn check_structure(
    structure: &[u8],
    strings: &[u8],
    block_offset: usize,
) -> Result<(), PlatformError> {
    let mut position = 0;
    let mut depth = 0usize;
    let mut root_done = false;
    // Properties are allowed only between a node's name and its first child or its end.
    let mut properties_allowed = false;
    loop {
        let at = block_offset + position;
        let token = be_u32_at(structure, position)
            .ok_or(malformed(at, "structure block ends without FDT_END"))?;
        position += 4;
        match token {
            FDT_BEGIN_NODE => {
                if root_done {
                    return Err(malformed(at, "second root node"));
                }
                let rest = structure.get(position..).unwrap_or(&[]);
                let (_, name_len) =
                    c_string(rest).ok_or(malformed(at, "node name not NUL-terminated UTF-8"))?;
                position =
                    align4(position + name_len + 1).ok_or(malformed(at, "node name too long"))?;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(malformed(at, "nodes nested too deeply"));
                }
                properties_allowed = true;
            }
            FDT_PROP => {
                if !properties_allowed {
                    return Err(malformed(
                        at,
                        "property outside a node or after a child node",
                    ));
                }
                let value_len =
                    be_u32_at(structure, position).ok_or(malformed(at, "truncated property"))?;
                let name_offset = be_u32_at(structure, position + 4)
                    .ok_or(malformed(at, "truncated property"))?;
                let value_start = position + 8;
                let value_end = value_start
                    .checked_add(value_len as usize)
                    .filter(|end| *end <= structure.len())
                    .ok_or(malformed(
                        at,
                        "property value runs past the structure block",
                    ))?;
                let name = strings
                    .get(name_offset as usize..)
                    .and_then(c_string)
                    .ok_or(malformed(
                        at,
                        "property name not NUL-terminated UTF-8 in the strings block",
                    ))?
                    .0;
                if matches!(name, "#address-cells" | "#size-cells") && value_len != 4 {
                    return Err(malformed(
                        at,
                        "#address-cells or #size-cells is not one cell",
                    ));
                }
                position = align4(value_end).ok_or(malformed(at, "property too long"))?;
            }
            FDT_END_NODE => {
                depth = depth
                    .checked_sub(1)
                    .ok_or(malformed(at, "FDT_END_NODE without a node"))?;
                root_done = depth == 0;
                properties_allowed = false;
            }
            FDT_END if root_done => return Ok(()),
            FDT_END => return Err(malformed(at, "FDT_END inside a node or before the root")),
            FDT_NOP => return Err(malformed(at, "FDT_NOP tokens are not supported")),
            _ => return Err(malformed(at, "unknown structure token")),
        }
    }
}
