//! Host tests: broken, truncated and corrupted blobs give errors, never panics.

use super::test_dtb::*;
use super::*;

fn malformed_reason(blob: &[u8]) -> &'static str {
    match Platform::parse(blob) {
        Err(PlatformError::Malformed { reason, .. }) => reason,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

/// A valid tree: root with `#address-cells`, one child with `reg`.
fn small_tree() -> DtbBuilder {
    let mut dtb = DtbBuilder::new();
    dtb.begin("")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1]);
    dtb.begin("memory@0")
        .string("device_type", "memory")
        .cells("reg", &[0, 0x1000])
        .end();
    dtb
}

#[test]
fn garbage_and_empty_blobs() {
    assert_eq!(
        Platform::parse(&[]).unwrap_err(),
        PlatformError::NotADeviceTree
    );
    assert_eq!(
        Platform::parse(b"hello, world").unwrap_err(),
        PlatformError::NotADeviceTree
    );
    assert_eq!(
        Platform::parse(&[0xd0, 0x0d, 0xfe, 0xed]).unwrap_err(),
        PlatformError::Truncated
    );
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(Platform::parse(&noise).is_err());
}

#[test]
fn truncated_blob_is_an_error() {
    let half = &VIRT_A76_SMP4[..VIRT_A76_SMP4.len() / 2];
    assert_eq!(Platform::parse(half).unwrap_err(), PlatformError::Truncated);
    assert_eq!(
        Platform::parse(&VIRT_A76_SMP4[..39]).unwrap_err(),
        PlatformError::Truncated
    );
}

#[test]
fn header_fields_are_checked() {
    let mut blob = small_tree().end().build();
    set_be_u32(&mut blob, 20, 16); // version
    assert_eq!(
        Platform::parse(&blob).unwrap_err(),
        PlatformError::UnsupportedVersion(16)
    );

    let mut blob = small_tree().end().build();
    set_be_u32(&mut blob, 8, 0x7fff_fff0); // off_dt_struct
    assert_eq!(
        malformed_reason(&blob),
        "structure block lies outside totalsize"
    );

    let mut blob = small_tree().end().build();
    let total_size = be_u32(&blob, 4);
    set_be_u32(&mut blob, 16, total_size - 8); // reservation block at the very end
    assert_eq!(
        malformed_reason(&blob),
        "memory reservation block is not terminated"
    );
}

#[test]
fn structure_errors_are_reported() {
    let unbalanced = small_tree().build(); // root never closed
    assert_eq!(
        malformed_reason(&unbalanced),
        "FDT_END inside a node or before the root"
    );

    let extra_end = small_tree().end().end().build();
    assert_eq!(malformed_reason(&extra_end), "FDT_END_NODE without a node");

    let late_property = small_tree().cells("late", &[1]).end().build();
    assert_eq!(
        malformed_reason(&late_property),
        "property outside a node or after a child node"
    );

    let nop = small_tree().token(FDT_NOP).end().build();
    assert_eq!(malformed_reason(&nop), "FDT_NOP tokens are not supported");

    let unknown = small_tree().token(7).end().build();
    assert_eq!(malformed_reason(&unknown), "unknown structure token");

    let two_roots = small_tree().end().begin("").end().build();
    assert_eq!(malformed_reason(&two_roots), "second root node");

    let mut dtb = DtbBuilder::new();
    let short_cells = dtb
        .begin("")
        .prop("#address-cells", &[0, 0, 1])
        .end()
        .build();
    assert_eq!(
        malformed_reason(&short_cells),
        "#address-cells or #size-cells is not one cell"
    );

    let mut dtb = DtbBuilder::new();
    dtb.begin("");
    for level in 0..MAX_DEPTH_FOR_TESTS {
        dtb.begin(&format!("n{level}"));
    }
    assert_eq!(malformed_reason(&dtb.build()), "nodes nested too deeply");
}

const MAX_DEPTH_FOR_TESTS: usize = super::dtb_check::MAX_DEPTH;

#[test]
fn bad_property_length_and_name_offset() {
    let mut blob = small_tree().end().build();
    let struct_offset = be_u32(&blob, 8) as usize;
    // First property of the root: FDT_BEGIN_NODE, "\0" padded to 4, then FDT_PROP len nameoff.
    let property = struct_offset + 8;
    assert_eq!(be_u32(&blob, property), FDT_PROP);
    set_be_u32(&mut blob, property + 4, 0xffff_fff0);
    assert_eq!(
        malformed_reason(&blob),
        "property value runs past the structure block"
    );

    let mut blob = small_tree().end().build();
    set_be_u32(&mut blob, property + 8, 0x1000);
    assert_eq!(
        malformed_reason(&blob),
        "property name not NUL-terminated UTF-8 in the strings block"
    );
}

/// Parses `blob`; any result is fine as long as there is no panic.
fn parse_without_panic(blob: &[u8]) -> bool {
    Platform::parse(blob).is_ok()
}

/// Flips bits of the QEMU DTB at each position `positions` yields and parses the result.
/// Returns how many corrupted blobs still parsed.
fn corrupt_and_parse(positions: impl Iterator<Item = usize>) -> usize {
    let mut blob = VIRT_A76_SMP4.to_vec();
    let mut still_parsed = 0;
    for index in positions {
        let original = blob[index];
        for flip in [0xff, 0x01, 0x80] {
            blob[index] = original ^ flip;
            still_parsed += usize::from(parse_without_panic(&blob));
        }
        blob[index] = original;
    }
    still_parsed
}

#[test]
fn byte_corruptions_are_handled() {
    // Every byte of the header, reservation block and first nodes, then a sample of the rest
    // (the exhaustive run below takes ~20 s in a debug build).
    let positions = (0..0x200).chain((0x200..VIRT_A76_SMP4.len()).step_by(7));
    assert!(
        corrupt_and_parse(positions) > 0,
        "corrupting property values leaves parseable trees"
    );
}

#[test]
#[ignore = "slow: ~24k parses; run with `cargo test -p keel-drivers -- --ignored`"]
fn every_single_byte_corruption_is_handled() {
    assert!(corrupt_and_parse(0..VIRT_A76_SMP4.len()) > 0);
}

#[test]
fn every_truncation_with_a_consistent_header_is_handled() {
    let mut blob = VIRT_A76_SMP4.to_vec();
    let full_len = blob.len();
    for len in (0..full_len).rev() {
        blob.truncate(len);
        if len >= 8 {
            set_be_u32(&mut blob, 4, len as u32); // totalsize matches what is left
        }
        assert!(
            !parse_without_panic(&blob),
            "a DTB cut at {len} bytes cannot be complete"
        );
    }
}

#[test]
#[ignore = "slow in debug builds; run with `cargo test --release -p keel-drivers -- --ignored`"]
fn random_multi_byte_corruptions_are_handled() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut blob = VIRT_A76_SMP4.to_vec();
        for _ in 0..1 + next() % 8 {
            let index = (next() % blob.len() as u64) as usize;
            blob[index] = next() as u8;
        }
        parse_without_panic(&blob);
    }
}
