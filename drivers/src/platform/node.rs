//! Typed reads of device-tree nodes: paths, strings, cells, `reg` ranges, GIC interrupt specifiers.
//!
//! Path lookups walk the tree from the root here instead of using `Fdt::find_node`, whose
//! alias fallback recurses without limit on a self-referencing alias.

use fdt::node::FdtNode;
use fdt::Fdt;

use super::MemoryRange;

/// A node of a checked DTB.
pub(super) type Node<'b, 'a> = FdtNode<'b, 'a>;

/// Bytes per GIC interrupt specifier: `<type number flags>`.
const GIC_SPECIFIER_SIZE: usize = 12;
/// GIC specifier type 0: an SPI, INTID 32 + number.
const GIC_SPI: u32 = 0;
/// GIC specifier type 1: a PPI, INTID 16 + number.
const GIC_PPI: u32 = 1;

/// The root node.
pub(super) fn root<'b, 'a>(fdt: &'b Fdt<'a>) -> Option<Node<'b, 'a>> {
    // "/" always names the root directly, so this never reaches the alias fallback.
    fdt.find_node("/")
}

/// The node at an absolute `path` ("/cpus", "/pl011@9000000"). A component without a unit
/// address matches a node name with any unit address, as in `find_node`.
pub(super) fn find_path<'b, 'a>(fdt: &'b Fdt<'a>, path: &str) -> Option<Node<'b, 'a>> {
    let relative = path.strip_prefix('/')?;
    let mut node = root(fdt)?;
    for component in relative
        .split('/')
        .filter(|component| !component.is_empty())
    {
        node = node
            .children()
            .find(|child| name_matches(child.name, component))?;
    }
    Some(node)
}

fn name_matches(node_name: &str, wanted: &str) -> bool {
    node_name == wanted || (!wanted.contains('@') && node_name.split('@').next() == Some(wanted))
}

/// A string property without its terminating NUL, if it is UTF-8.
pub(super) fn string<'a>(node: Node<'_, 'a>, name: &str) -> Option<&'a str> {
    let value = node.property(name)?.value;
    let text = value.strip_suffix(&[0]).unwrap_or(value);
    core::str::from_utf8(text).ok()
}

/// Whether `node` lists `compatible` among its compatible strings.
pub(super) fn is_compatible(node: Node<'_, '_>, compatible: &str) -> bool {
    node.compatible()
        .is_some_and(|list| list.all().any(|entry| entry == compatible))
}

/// Whether `node` is usable: no `status`, or `status` "okay" / "ok".
pub(super) fn is_enabled(node: Node<'_, '_>) -> bool {
    string(node, "status").is_none_or(|status| matches!(status, "okay" | "ok"))
}

/// Cell `index` (big-endian u32) of a property.
pub(super) fn cell(node: Node<'_, '_>, name: &str, index: usize) -> Option<u32> {
    let value = node.property(name)?.value;
    let bytes = value.get(index.checked_mul(4)?..)?.get(..4)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// A number stored in one or two cells (0 cells read as 0); wider values are not supported.
pub(super) fn read_cells(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        0 => Some(0),
        4 => Some(u64::from(u32::from_be_bytes(bytes.try_into().ok()?))),
        8 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// The entries of `node`'s `reg`, sized by the parent's `#address-cells`/`#size-cells`.
/// `None` without a usable `reg` (missing, empty, or not a whole number of entries); an
/// entry is `None` when its address or size needs more than 64 bits.
pub(super) fn reg_ranges<'a>(
    node: Node<'_, 'a>,
) -> Option<impl Iterator<Item = Option<MemoryRange>> + 'a> {
    // fdt slices the first entry by the parent's cell counts; its lengths give the layout.
    let first = node.raw_reg()?.next()?;
    let (address_len, entry_len) = (first.address.len(), first.address.len() + first.size.len());
    let value = node.property("reg")?.value;
    if entry_len == 0 || value.len() % entry_len != 0 {
        return None;
    }
    Some(value.chunks_exact(entry_len).map(move |entry| {
        let (address, size) = entry.split_at_checked(address_len)?;
        Some(MemoryRange {
            base: read_cells(address)?,
            size: read_cells(size)?,
        })
    }))
}

/// The first `reg` entry of `node`.
pub(super) fn first_reg(node: Node<'_, '_>) -> Option<MemoryRange> {
    reg_ranges(node)?.next().flatten()
}

/// The INTID a GIC interrupt specifier names: type 0 (SPI) number `n` is INTID 32 + n,
/// type 1 (PPI) number `n` is INTID 16 + n. `None` for other types or numbers out of range.
pub fn decode_gic_interrupt(kind: u32, number: u32) -> Option<u32> {
    match kind {
        GIC_SPI if number < 988 => Some(32 + number),
        GIC_PPI if number < 16 => Some(16 + number),
        _ => None,
    }
}

/// Number of 3-cell GIC specifiers in `node`'s `interrupts`; `None` if the property is
/// missing or not made of whole specifiers.
pub(super) fn interrupt_count(node: Node<'_, '_>) -> Option<usize> {
    let len = node.property("interrupts")?.value.len();
    (len % GIC_SPECIFIER_SIZE == 0).then_some(len / GIC_SPECIFIER_SIZE)
}

/// The INTID of specifier `index` of `node`'s `interrupts`, which is assumed to be in the
/// 3-cell GIC format (QEMU `virt`'s only interrupt controller is the GIC).
pub(super) fn interrupt(node: Node<'_, '_>, index: usize) -> Option<u32> {
    interrupt_count(node)?;
    let first_cell = index.checked_mul(3)?;
    let kind = cell(node, "interrupts", first_cell)?;
    let number = cell(node, "interrupts", first_cell + 1)?;
    decode_gic_interrupt(kind, number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gic_specifiers_decode_to_intids() {
        assert_eq!(decode_gic_interrupt(0, 1), Some(33)); // PL011 on QEMU virt
        assert_eq!(decode_gic_interrupt(0, 7), Some(39)); // PL061
        assert_eq!(decode_gic_interrupt(1, 13), Some(29));
        assert_eq!(decode_gic_interrupt(1, 10), Some(26));
        assert_eq!(decode_gic_interrupt(0, 987), Some(1019));
        assert_eq!(decode_gic_interrupt(0, 988), None);
        assert_eq!(decode_gic_interrupt(1, 16), None);
        assert_eq!(decode_gic_interrupt(2, 0), None);
    }

    #[test]
    fn cells_read_as_one_or_two_words() {
        assert_eq!(read_cells(&[]), Some(0));
        assert_eq!(read_cells(&[0, 0, 0x10, 0]), Some(0x1000));
        assert_eq!(read_cells(&[0, 0, 0, 1, 0, 0, 0, 2]), Some(0x1_0000_0002));
        assert_eq!(read_cells(&[0; 12]), None);
        assert_eq!(read_cells(&[1, 2]), None);
    }

    #[test]
    fn names_match_with_or_without_unit_address() {
        assert!(name_matches("memory@40000000", "memory"));
        assert!(name_matches("memory@40000000", "memory@40000000"));
        assert!(!name_matches("memory@40000000", "memory@0"));
        assert!(!name_matches("memoryx", "memory"));
    }
}
