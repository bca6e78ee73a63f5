//! Host tests of `Platform::parse`: QEMU `virt` DTBs, synthetic trees, and broken blobs.

use super::test_dtb::*;
use super::*;

const GIB: u64 = 1 << 30;

fn mmio(base: u64, size: u64, intid: u32) -> Option<MmioDevice> {
    Some(MmioDevice {
        base,
        size,
        intid: Some(intid),
    })
}

fn range(base: u64, size: u64) -> MemoryRange {
    MemoryRange { base, size }
}

#[test]
fn qemu_virt_cortex_a76_smp4() {
    let platform = Platform::parse(VIRT_A76_SMP4).expect("parse");
    assert_eq!(platform.memory.as_slice(), &[range(0x4000_0000, GIB)]);
    assert_eq!(platform.cpus.as_slice(), &[0, 1, 2, 3]);
    let gic = platform.gic.expect("gic");
    assert_eq!(gic.distributor, range(0x0800_0000, 0x1_0000));
    assert_eq!(gic.redistributors, range(0x080a_0000, 0xf6_0000));
    assert_eq!(gic.maintenance_intid, Some(25));
    assert_eq!(platform.uart, mmio(0x0900_0000, 0x1000, 33));
    let timer = platform.timer.expect("timer");
    assert_eq!(
        (
            timer.secure_phys,
            timer.nonsecure_phys,
            timer.virt,
            timer.hyp_phys,
            timer.hyp_virt
        ),
        (29, 30, 27, 26, None)
    );
    assert_eq!(platform.psci, Some(Conduit::Smc));
    let button = platform.power_button.expect("power button");
    assert_eq!(button.gpio, mmio(0x0903_0000, 0x1000, 39).unwrap());
    assert_eq!(button.pin, 3);
    assert_eq!((platform.initrd, platform.bootargs), (None, None));
    assert!(platform.reserved.is_empty());
    // QEMU virt's 32 virtio-mmio slots, 0x200 apart from 0x0a00_0000, SPIs 16..47.
    let virtio = platform.virtio_mmio.as_slice();
    assert_eq!(virtio.len(), 32);
    let mut slots: Vec<_> = virtio.iter().map(|d| (d.base, d.size, d.intid)).collect();
    slots.sort();
    assert_eq!(slots[0], (0x0a00_0000, 0x200, Some(48)));
    assert_eq!(slots[31], (0x0a00_3e00, 0x200, Some(79)));
}

#[test]
fn qemu_virt_neoverse_n1_2g_one_cpu() {
    let platform = Platform::parse(VIRT_N1_2G).expect("parse");
    assert_eq!(platform.memory.as_slice(), &[range(0x4000_0000, 2 * GIB)]);
    assert_eq!(platform.cpus.as_slice(), &[0]);
}

#[test]
fn qemu_virt_with_initrd_and_append() {
    let platform = Platform::parse(VIRT_A76_INITRD).expect("parse");
    // QEMU loads the initrd 128 MiB into RAM and writes 32-bit start/end cells.
    assert_eq!(platform.initrd, Some(range(0x4800_0000, 3000)));
    assert_eq!(platform.bootargs, Some("keel.selftest"));
    assert!(platform.rng_seed.is_some_and(|seed| seed.len() >= 8), "QEMU fills /chosen/rng-seed");
    assert_eq!(platform.cpus.len(), 2);
}

#[test]
fn qemu_virt_gicv2_without_virtualization() {
    let platform = Platform::parse(VIRT_GICV2_EL1).expect("parse");
    assert_eq!(platform.gic, None);
    assert_eq!(platform.psci, Some(Conduit::Hvc));
    // GICv2 specifiers carry a CPU mask in the flags cell; the INTIDs are the same.
    assert_eq!(platform.timer.map(|timer| timer.hyp_phys), Some(26));
    assert_eq!(platform.uart, mmio(0x0900_0000, 0x1000, 33));
}

/// A root with `#address-cells`/`#size-cells` = `cells` and one memory node.
fn minimal_tree(cells: u32) -> DtbBuilder {
    let mut dtb = DtbBuilder::new();
    dtb.begin("")
        .cells("#address-cells", &[cells])
        .cells("#size-cells", &[cells]);
    dtb.begin("memory@80000000").string("device_type", "memory");
    if cells == 1 {
        dtb.cells("reg", &[0x8000_0000, 0x1000_0000]);
    } else {
        dtb.cells(
            "reg",
            &[0, 0x8000_0000, 0, 0x1000_0000, 0x1, 0, 0, 0x2000_0000],
        );
    }
    dtb.end();
    dtb
}

#[test]
fn missing_optional_nodes_are_none() {
    let blob = minimal_tree(2).end().build();
    let platform = Platform::parse(&blob).expect("parse");
    assert_eq!(
        platform.memory.as_slice(),
        &[range(0x8000_0000, 0x1000_0000), range(1 << 32, 0x2000_0000)]
    );
    assert!(platform.cpus.is_empty() && platform.reserved.is_empty());
    assert_eq!(
        (platform.uart, platform.gic, platform.timer),
        (None, None, None)
    );
    assert_eq!((platform.psci, platform.power_button), (None, None));
    assert_eq!((platform.initrd, platform.bootargs), (None, None));
}

#[test]
fn memory_uses_the_parents_cell_sizes() {
    let blob = minimal_tree(1).end().build();
    let platform = Platform::parse(&blob).expect("parse");
    assert_eq!(
        platform.memory.as_slice(),
        &[range(0x8000_0000, 0x1000_0000)]
    );
}

#[test]
fn disabled_and_untyped_memory_is_ignored() {
    let mut dtb = minimal_tree(1);
    dtb.begin("memory@0")
        .string("device_type", "memory")
        .string("status", "disabled");
    dtb.cells("reg", &[0, 0x1000]).end();
    dtb.begin("sram@1000").cells("reg", &[0x1000, 0x1000]).end();
    let blob = dtb.end().build();
    let platform = Platform::parse(&blob).expect("parse");
    assert_eq!(platform.memory.len(), 1);
}

#[test]
fn reservations_from_block_and_reserved_memory() {
    let mut dtb = minimal_tree(2);
    dtb.reserve(0x4000_0000, 0x1_0000).reserve(0x5000_0000, 0);
    dtb.begin("reserved-memory")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1]);
    dtb.begin("secmon@7000000")
        .cells("reg", &[0x0700_0000, 0x10_0000])
        .end();
    dtb.begin("pool").cells("size", &[0x40_0000]).end();
    dtb.end();
    let blob = dtb.end().build();
    let platform = Platform::parse(&blob).expect("parse");
    assert_eq!(
        platform.reserved.as_slice(),
        &[range(0x4000_0000, 0x1_0000), range(0x0700_0000, 0x10_0000)]
    );
}

#[test]
fn initrd_with_64_bit_cells_and_inverted_range() {
    let mut dtb = minimal_tree(1);
    dtb.begin("chosen")
        .cells("linux,initrd-start", &[0x1, 0])
        .cells("linux,initrd-end", &[0x1, 0x8000]);
    dtb.prop("bootargs", b"").end();
    let blob = dtb.end().build();
    let platform = Platform::parse(&blob).expect("parse");
    assert_eq!(platform.initrd, Some(range(1 << 32, 0x8000)));
    assert_eq!(platform.bootargs, Some(""));

    let mut dtb = minimal_tree(1);
    dtb.begin("chosen")
        .cells("linux,initrd-start", &[0x2000])
        .cells("linux,initrd-end", &[0x1000])
        .end();
    let error = Platform::parse(&dtb.end().build()).unwrap_err();
    assert_eq!(
        error,
        PlatformError::BadProperty("/chosen linux,initrd-start/end")
    );
}

/// Two PL011s; `stdout_path` chooses between them.
fn two_uarts(stdout_path: &str, alias: &str) -> Option<MmioDevice> {
    let mut dtb = minimal_tree(1);
    dtb.begin("aliases").string("serial0", alias).end();
    dtb.begin("chosen").string("stdout-path", stdout_path).end();
    for base in [0x0900_0000u32, 0x0904_0000] {
        dtb.begin(&format!("pl011@{base:x}"))
            .string("compatible", "arm,pl011");
        dtb.cells("reg", &[base, 0x1000])
            .cells("interrupts", &[0, base >> 18 & 0xf, 4])
            .end();
    }
    Platform::parse(&dtb.end().build()).expect("parse").uart
}

#[test]
fn stdout_path_picks_the_console() {
    assert_eq!(
        two_uarts("/pl011@9040000", "/pl011@9000000"),
        mmio(0x0904_0000, 0x1000, 33)
    );
    assert_eq!(
        two_uarts("serial0:115200n8", "/pl011@9040000"),
        mmio(0x0904_0000, 0x1000, 33)
    );
    assert_eq!(
        two_uarts("/nowhere", "/pl011@9040000"),
        mmio(0x0900_0000, 0x1000, 32)
    );
    // An alias naming itself must neither recurse nor hang: fall back to the first PL011.
    assert_eq!(
        two_uarts("serial0", "serial0"),
        mmio(0x0900_0000, 0x1000, 32)
    );
}

#[test]
fn cpus_beyond_capacity_are_an_error() {
    let mut dtb = minimal_tree(1);
    dtb.begin("cpus")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[0]);
    for cpu in 0..=MAX_CPUS as u32 {
        dtb.begin(&format!("cpu@{cpu:x}"))
            .string("device_type", "cpu")
            .cells("reg", &[0x1, cpu])
            .end();
    }
    let error = Platform::parse(&dtb.end().end().build()).unwrap_err();
    assert_eq!(
        error,
        PlatformError::TooMany {
            what: "CPUs",
            capacity: MAX_CPUS
        }
    );
}

#[test]
fn bad_psci_method_is_an_error() {
    let mut dtb = minimal_tree(1);
    dtb.begin("psci").string("method", "spin-table").end();
    assert_eq!(
        Platform::parse(&dtb.end().build()).unwrap_err(),
        PlatformError::BadProperty("psci method")
    );
}
