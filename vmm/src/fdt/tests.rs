//! Host tests: every value of the written tree, read back with the `fdt` parser.

use super::*;
use fdt::Fdt;

fn config<'a>(mpidrs: &'a [u64], slots: &'a [u32]) -> GuestDtbConfig<'a> {
    GuestDtbConfig {
        ram_bytes: 512 << 20,
        vcpu_mpidrs: mpidrs,
        bootargs: "console=ttyAMA0 earlycon rdinit=/init",
        initrd: Some((0x4240_0000, 0x4300_0000)),
        virtio_slots: slots,
        psci_method: PsciMethod::Hvc,
        seeds: None,
    }
}

/// A property's raw bytes; panics (failing the test) when node or property is missing.
fn prop<'a>(tree: &'a Fdt<'a>, path: &str, name: &str) -> &'a [u8] {
    let node = tree.find_node(path).unwrap_or_else(|| panic!("no node {path}"));
    node.property(name).unwrap_or_else(|| panic!("no {path}:{name}")).value
}

fn cells(bytes: &[u8]) -> Vec<u32> {
    assert_eq!(bytes.len() % 4, 0);
    bytes.chunks(4).map(|c| u32::from_be_bytes(c.try_into().unwrap())).collect()
}

fn u64s(bytes: &[u8]) -> Vec<u64> {
    assert_eq!(bytes.len() % 8, 0);
    bytes.chunks(8).map(|c| u64::from_be_bytes(c.try_into().unwrap())).collect()
}

fn strings(bytes: &[u8]) -> Vec<&str> {
    assert_eq!(bytes.last(), Some(&0), "NUL-terminated");
    bytes[..bytes.len() - 1].split(|&b| b == 0).map(|s| core::str::from_utf8(s).unwrap()).collect()
}

fn has(tree: &Fdt, path: &str, name: &str) -> bool {
    tree.find_node(path).and_then(|node| node.property(name)).is_some()
}

#[test]
fn root_memory_chosen_and_aliases() {
    let dtb = build(&config(&[0], &[])).unwrap();
    assert!(dtb.len() <= MAX_DTB_BYTES);
    let tree = Fdt::new(&dtb).unwrap();
    assert_eq!(tree.total_size(), dtb.len());
    assert_eq!(strings(prop(&tree, "/", "compatible")), ["linux,dummy-virt"]);
    assert_eq!(strings(prop(&tree, "/", "model")), ["linux,dummy-virt"]);
    assert_eq!(cells(prop(&tree, "/", "#address-cells")), [2]);
    assert_eq!(cells(prop(&tree, "/", "#size-cells")), [2]);
    assert_eq!(cells(prop(&tree, "/", "interrupt-parent")), [GIC_PHANDLE]);

    assert_eq!(strings(prop(&tree, "/memory@40000000", "device_type")), ["memory"]);
    assert_eq!(u64s(prop(&tree, "/memory@40000000", "reg")), [layout::RAM_BASE, 512 << 20]);
    let region = tree.memory().regions().next().unwrap();
    assert_eq!((region.starting_address as u64, region.size), (0x4000_0000, Some(512 << 20)));

    let chosen = tree.chosen();
    assert_eq!(chosen.bootargs(), Some("console=ttyAMA0 earlycon rdinit=/init"));
    assert_eq!(chosen.stdout().unwrap().name, "pl011@9000000");
    assert_eq!(strings(prop(&tree, "/chosen", "stdout-path")), ["/pl011@9000000"]);
    assert_eq!(u64s(prop(&tree, "/chosen", "linux,initrd-start")), [0x4240_0000]);
    assert_eq!(u64s(prop(&tree, "/chosen", "linux,initrd-end")), [0x4300_0000]);
    assert_eq!(strings(prop(&tree, "/aliases", "serial0")), ["/pl011@9000000"]);
    assert_eq!(uart_path(), "/pl011@9000000");
    assert!(tree.memory_reservations().next().is_none());
}

#[test]
fn no_initrd_and_no_bootargs_leave_the_properties_out() {
    let mut config = config(&[0], &[]);
    config.initrd = None;
    config.bootargs = "";
    let dtb = build(&config).unwrap();
    let tree = Fdt::new(&dtb).unwrap();
    assert!(!has(&tree, "/chosen", "linux,initrd-start"));
    assert!(!has(&tree, "/chosen", "linux,initrd-end"));
    assert!(!has(&tree, "/chosen", "bootargs"));
    assert!(has(&tree, "/chosen", "stdout-path"));
}

#[test]
fn cpus_and_psci() {
    let mpidrs = [0x8000_0000, 0x8000_0001, 0x8000_0100]; // bit 31 (RES1) is not affinity
    let dtb = build(&config(&mpidrs, &[])).unwrap();
    let tree = Fdt::new(&dtb).unwrap();
    assert_eq!(cells(prop(&tree, "/cpus", "#address-cells")), [1]);
    assert_eq!(cells(prop(&tree, "/cpus", "#size-cells")), [0]);
    for (path, reg) in [("/cpus/cpu@0", 0), ("/cpus/cpu@1", 1), ("/cpus/cpu@100", 0x100)] {
        assert_eq!(cells(prop(&tree, path, "reg")), [reg], "{path}");
        assert_eq!(strings(prop(&tree, path, "device_type")), ["cpu"]);
        assert_eq!(strings(prop(&tree, path, "compatible")), ["arm,armv8"]);
        assert_eq!(strings(prop(&tree, path, "enable-method")), ["psci"]);
    }
    assert_eq!(tree.cpus().count(), 3);
    let ids: Vec<usize> = tree.cpus().map(|cpu| cpu.ids().first()).collect();
    assert_eq!(ids, [0, 1, 0x100]);
    assert_eq!(u32::from_be_bytes(dtb[28..32].try_into().unwrap()), 0, "boot_cpuid_phys");

    assert_eq!(strings(prop(&tree, "/psci", "compatible")), ["arm,psci-1.0", "arm,psci-0.2"]);
    assert_eq!(strings(prop(&tree, "/psci", "method")), ["hvc"]);
    let mut smc = config(&mpidrs, &[]);
    smc.psci_method = PsciMethod::Smc;
    let dtb = build(&smc).unwrap();
    assert_eq!(strings(prop(&Fdt::new(&dtb).unwrap(), "/psci", "method")), ["smc"]);
}

#[test]
fn aff3_makes_cpu_reg_two_cells() {
    let dtb = build(&config(&[0, 0x1_0000_0000], &[])).unwrap();
    let tree = Fdt::new(&dtb).unwrap();
    assert_eq!(cells(prop(&tree, "/cpus", "#address-cells")), [2]);
    assert_eq!(u64s(prop(&tree, "/cpus/cpu@0", "reg")), [0]);
    assert_eq!(u64s(prop(&tree, "/cpus/cpu@100000000", "reg")), [0x1_0000_0000]);
}

#[test]
fn gic_and_timer() {
    for vcpus in [1usize, 2, 4, layout::MAX_VCPUS as usize] {
        let mpidrs: Vec<u64> = (0..vcpus as u64).map(|i| ((i / 16) << 8) | (i % 16)).collect();
        let dtb = build(&config(&mpidrs, &[])).unwrap();
        let tree = Fdt::new(&dtb).unwrap();
        let gic = "/intc@8000000";
        assert_eq!(strings(prop(&tree, gic, "compatible")), ["arm,gic-v3"]);
        assert_eq!(cells(prop(&tree, gic, "#interrupt-cells")), [3]);
        assert!(prop(&tree, gic, "interrupt-controller").is_empty());
        assert_eq!(cells(prop(&tree, gic, "#address-cells")), [2]);
        assert_eq!(cells(prop(&tree, gic, "#size-cells")), [2]);
        assert!(prop(&tree, gic, "ranges").is_empty());
        assert_eq!(cells(prop(&tree, gic, "#redistributor-regions")), [1]);
        let redistributors = vcpus as u64 * 0x2_0000;
        assert_eq!(u64s(prop(&tree, gic, "reg")), [0x0800_0000, 0x1_0000, 0x080a_0000, redistributors]);
        assert_eq!(cells(prop(&tree, gic, "interrupts")), [1, 9, 4], "maintenance: PPI 9 = INTID 25");
        assert_eq!(cells(prop(&tree, gic, "phandle")), [GIC_PHANDLE]);
        assert_eq!(tree.find_phandle(GIC_PHANDLE).unwrap().name, "intc@8000000");
        assert_eq!(tree.cpus().count(), vcpus);
    }

    let dtb = build(&config(&[0], &[])).unwrap();
    let tree = Fdt::new(&dtb).unwrap();
    assert_eq!(strings(prop(&tree, "/timer", "compatible")), ["arm,armv8-timer", "arm,armv7-timer"]);
    assert!(prop(&tree, "/timer", "always-on").is_empty());
    let interrupts = cells(prop(&tree, "/timer", "interrupts"));
    assert_eq!(interrupts, [1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]);
    assert_eq!(interrupts[7] + 16, layout::VTIMER_INTID);
}

#[test]
fn clock_and_uart() {
    let dtb = build(&config(&[0], &[])).unwrap();
    let tree = Fdt::new(&dtb).unwrap();
    assert_eq!(strings(prop(&tree, "/apb-pclk", "compatible")), ["fixed-clock"]);
    assert_eq!(cells(prop(&tree, "/apb-pclk", "#clock-cells")), [0]);
    assert_eq!(cells(prop(&tree, "/apb-pclk", "clock-frequency")), [24_000_000]);
    assert_eq!(strings(prop(&tree, "/apb-pclk", "clock-output-names")), ["clk24mhz"]);
    assert_eq!(cells(prop(&tree, "/apb-pclk", "phandle")), [CLOCK_PHANDLE]);

    let uart = "/pl011@9000000";
    assert_eq!(strings(prop(&tree, uart, "compatible")), ["arm,pl011", "arm,primecell"]);
    assert_eq!(u64s(prop(&tree, uart, "reg")), [layout::UART_BASE, layout::UART_SIZE]);
    assert_eq!(cells(prop(&tree, uart, "interrupts")), [0, 1, 4]);
    assert_eq!(cells(prop(&tree, uart, "interrupts"))[1] + 32, layout::UART_INTID);
    assert_eq!(cells(prop(&tree, uart, "clocks")), [CLOCK_PHANDLE, CLOCK_PHANDLE]);
    assert_eq!(strings(prop(&tree, uart, "clock-names")), ["uartclk", "apb_pclk"]);
    let root = tree.find_node("/").unwrap();
    assert_eq!(root.interrupt_parent().unwrap().name, "intc@8000000", "inherited by every device");
    let node = tree.find_node(uart).unwrap();
    let reg = node.reg().unwrap().next().unwrap();
    assert_eq!((reg.starting_address as u64, reg.size), (0x0900_0000, Some(0x1000)));
}

#[test]
fn virtio_nodes_for_the_given_slots_in_address_order() {
    let dtb = build(&config(&[0], &[3, 0, 31])).unwrap();
    let tree = Fdt::new(&dtb).unwrap();
    let names: Vec<&str> = tree.all_nodes().map(|n| n.name).filter(|n| n.starts_with("virtio_mmio")).collect();
    assert_eq!(names, ["virtio_mmio@a000000", "virtio_mmio@a000600", "virtio_mmio@a003e00"]);
    for (slot, path) in [(0u32, "/virtio_mmio@a000000"), (3, "/virtio_mmio@a000600"), (31, "/virtio_mmio@a003e00")] {
        let base = layout::VIRTIO_BASE + u64::from(slot) * layout::VIRTIO_STRIDE;
        assert_eq!(strings(prop(&tree, path, "compatible")), ["virtio,mmio"]);
        assert_eq!(u64s(prop(&tree, path, "reg")), [base, 0x200]);
        assert_eq!(cells(prop(&tree, path, "interrupts")), [0, 16 + slot, 1]);
        assert_eq!(16 + slot + 32, layout::VIRTIO_FIRST_INTID + slot);
        assert!(prop(&tree, path, "dma-coherent").is_empty());
    }
    let none = build(&config(&[0], &[])).unwrap();
    assert!(Fdt::new(&none).unwrap().all_nodes().all(|n| !n.name.starts_with("virtio")));
}

#[test]
fn every_node_is_one_qemu_virt_has() {
    let dtb = build(&config(&[0, 1], &[1])).unwrap();
    let tree = Fdt::new(&dtb).unwrap();
    let names: Vec<&str> = tree.all_nodes().map(|n| n.name).collect();
    let expected = [
        "/", "chosen", "aliases", "memory@40000000", "cpus", "cpu@0", "cpu@1", "psci", "intc@8000000", "timer",
        "apb-pclk", "pl011@9000000", "virtio_mmio@a000200",
    ];
    assert_eq!(names, expected);
}

#[test]
fn invalid_configurations_are_refused() {
    let ok = config(&[0, 1], &[0]);
    assert!(validate(&ok).is_ok());
    fn check<'a>(ok: GuestDtbConfig<'a>, change: impl FnOnce(&mut GuestDtbConfig<'a>), error: DtbError) {
        let mut bad = ok;
        change(&mut bad);
        assert_eq!(build(&bad), Err(error));
    }
    check(ok, |c| c.vcpu_mpidrs = &[], DtbError::NoVcpus);
    let too_many: Vec<u64> = (0..=layout::MAX_VCPUS).collect();
    check(ok, |c| c.vcpu_mpidrs = &too_many, DtbError::TooManyVcpus { count: 124, max: 123 });
    check(ok, |c| c.vcpu_mpidrs = &[1, 0x8000_0001], DtbError::DuplicateMpidr(1));
    check(ok, |c| c.ram_bytes = 8 << 20, DtbError::RamTooSmall { bytes: 8 << 20, min: 16 << 20 });
    check(ok, |c| c.ram_bytes = (64 << 20) + 1, DtbError::RamSizeInvalid((64 << 20) + 1));
    check(ok, |c| c.ram_bytes = !0xfff, DtbError::RamSizeInvalid(!0xfff));
    let long = "x".repeat(2048);
    check(ok, |c| c.bootargs = &long, DtbError::BootargsTooLong { len: 2048, max: 2047 });
    check(ok, |c| c.bootargs = "a\0b", DtbError::BootargsContainNul);
    let ram_end = 0x4000_0000 + (512 << 20);
    for (start, end) in [(0x4100_0000, 0x4100_0000), (0x4200_0000, 0x4100_0000), (0x3fff_f000, 0x4100_0000)] {
        check(ok, |c| c.initrd = Some((start, end)), DtbError::InitrdInvalid { start, end });
    }
    let past_ram = DtbError::InitrdInvalid { start: 0x4100_0000, end: ram_end + 1 };
    check(ok, |c| c.initrd = Some((0x4100_0000, ram_end + 1)), past_ram);
    check(ok, |c| c.virtio_slots = &[32], DtbError::VirtioSlotInvalid(32));
    check(ok, |c| c.virtio_slots = &[u32::MAX], DtbError::VirtioSlotInvalid(u32::MAX));
    check(ok, |c| c.virtio_slots = &[2, 5, 2], DtbError::DuplicateVirtioSlot(2));
    // The edges that are fine.
    let mut edge = ok;
    edge.ram_bytes = MIN_RAM_BYTES;
    edge.initrd = Some((0x4000_0000, 0x4000_0000 + MIN_RAM_BYTES));
    edge.bootargs = &long[..2047];
    assert!(build(&edge).is_ok());
}

#[test]
fn boot_seeds_go_to_chosen() {
    let tree_without = build(&config(&[0], &[])).unwrap();
    let without = Fdt::new(&tree_without).unwrap();
    assert!(!has(&without, "/chosen", "kaslr-seed"));
    assert!(!has(&without, "/chosen", "rng-seed"));
    let seeds = BootSeeds { kaslr: 0x0123_4567_89ab_cdef, rng: [7; RNG_SEED_BYTES] };
    let dtb = build(&GuestDtbConfig { seeds: Some(&seeds), ..config(&[0], &[]) }).unwrap();
    let tree = Fdt::new(&dtb).unwrap();
    assert_eq!(u64s(prop(&tree, "/chosen", "kaslr-seed")), [0x0123_4567_89ab_cdef]);
    assert_eq!(prop(&tree, "/chosen", "rng-seed"), &[7; RNG_SEED_BYTES]);
}
