//! Hostile input (every offset and width, garbage list registers): no panic, a sound model.

use super::*;
use crate::bus::{InterruptSink, MmioError};
use crate::vgic::MAX_LIST_REGISTERS;

const WIDTHS: [AccessWidth; 4] = [
    AccessWidth::Byte,
    AccessWidth::Half,
    AccessWidth::Word,
    AccessWidth::Double,
];

/// Reads and writes of random values at every offset and width of `region`.
fn storm(vgic: &mut Vgic, rng: &mut XorShift, region: GicRegion, size: u64) {
    for offset in 0..size {
        for width in WIDTHS {
            let value = rng.next();
            let read = vgic.mmio_read(region, offset, width);
            let written = vgic.mmio_write(region, offset, width, value);
            if !offset.is_multiple_of(width.bytes()) {
                assert_eq!(read, Err(MmioError::BadRegister));
                assert_eq!(written, Err(MmioError::BadRegister));
            }
            assert_eq!(read.is_ok(), written.is_ok(), "{region:?} {offset:#x} {width:?}");
            if let Ok(value) = read {
                assert_eq!(value & !width.mask(), 0);
            }
        }
    }
}

#[test]
fn every_offset_every_width_never_panics() {
    let mut vgic = linux_boot(2, 96);
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut cpus = [Cpu::new(0), Cpu::new(1)];
    vgic.set_spi_level(33, true);
    for cpu in &mut cpus {
        cpu.enter(&mut vgic);
    }
    storm(&mut vgic, &mut rng, D, 0x1_0000);
    for vcpu in 0..2 {
        storm(&mut vgic, &mut rng, r(vcpu), 0x2_0000);
    }
    assert_consistent(&vgic);
    assert!(
        vgic.counters().bad_accesses > 0x10_0000,
        "most offsets are reserved or misaligned"
    );
    for cpu in &mut cpus {
        cpu.exit(&mut vgic);
        cpu.enter(&mut vgic);
    }
    // Beyond the frames and for unknown vCPUs: unmapped, never a panic.
    for offset in [0x1_0000, u64::MAX - 7, 1 << 63] {
        assert_eq!(vgic.mmio_read(D, offset, AccessWidth::Word), Err(MmioError::Unmapped));
    }
    assert_eq!(
        vgic.mmio_write(r(usize::MAX), 0, AccessWidth::Word, 0),
        Err(MmioError::Unmapped)
    );
    assert_eq!(vgic.mmio_read(r(0), !7, AccessWidth::Double), Err(MmioError::Unmapped));
}

#[test]
fn the_model_still_works_after_a_storm() {
    let mut vgic = linux_boot(2, 64);
    let mut rng = XorShift(42);
    storm(&mut vgic, &mut rng, D, 0x1_0000);
    storm(&mut vgic, &mut rng, r(1), 0x2_0000);
    // Linux boots again over whatever the storm left, and an interrupt flows.
    let lines = (read(&mut vgic, D, 0x4) & 0x1f) + 1;
    assert_eq!(lines, 3, "TYPER survives");
    write(&mut vgic, D, 0x0, 0x13);
    write(&mut vgic, D, 0x184, u64::from(u32::MAX));
    write(&mut vgic, D, 0x284, u64::from(u32::MAX));
    write(&mut vgic, D, 0x384, u64::from(u32::MAX));
    write(&mut vgic, D, 0xc08, 0);
    vgic.mmio_write(D, 0x6000 + 33 * 8, AccessWidth::Double, 0).unwrap();
    write(&mut vgic, D, 0x084, u64::from(u32::MAX));
    write(&mut vgic, D, 0x420, 0xa0a0_a0a0);
    wake_redistributor(&mut vgic, 0);
    write(&mut vgic, D, 0x104, 1 << 1);
    for spi in 32..96 {
        vgic.set_spi_level(spi, false);
    }
    let mut cpu = Cpu::new(0);
    cpu.enter(&mut vgic);
    let before = cpu.pending();
    vgic.set_spi_level(33, true);
    cpu.enter(&mut vgic);
    assert!(cpu.pending().contains(&33) && !before.contains(&33));
}

#[test]
fn garbage_list_registers_and_system_register_values() {
    let mut vgic = linux_boot(4, 64);
    let mut rng = XorShift(7);
    write(&mut vgic, D, 0x104, u64::from(u32::MAX));
    let mut lrs = [[0u64; 20]; 4];
    for round in 0..20_000 {
        let vcpu = rng.below(5) as usize; // 4 is out of range
        let count = rng.below(21) as usize;
        match rng.below(9) {
            0 => vgic.set_spi_level(rng.below(1100) as u32, rng.next() & 1 == 0),
            1 => vgic.set_ppi_level(vcpu, rng.below(40) as u32, rng.next() & 1 == 0),
            2 => vgic.write_sgi1r(vcpu, rng.next()),
            3 => {
                let lrs = &mut lrs[vcpu % 4][..count];
                vgic.flush_list_registers(vcpu, lrs);
                if vcpu < 4 {
                    check_after_flush(&vgic, vcpu, &lrs[..count.min(MAX_LIST_REGISTERS)]);
                }
            }
            4 => vgic.sync_list_registers(vcpu, &mut lrs[vcpu % 4][..count]),
            5 => {
                // The "guest" scribbles on a list register: states, INTIDs, anything.
                let slot = rng.below(20) as usize;
                lrs[vcpu % 4][slot] = if rng.next() & 1 == 0 {
                    rng.next()
                } else {
                    lrs[vcpu % 4][slot] ^ 3 << 62
                };
            }
            6 => {
                let _ = vgic.has_deliverable(vcpu);
                let _ = vgic.take_kicks();
            }
            7 => write(&mut vgic, D, 0x104 + rng.below(3) * 0x80, rng.next() & 0xffff_ffff),
            _ => {
                let offset = SGI_BASE + 0x100 + rng.below(6) * 0x80;
                let _ = vgic.mmio_write(r(vcpu), offset, AccessWidth::Word, rng.next());
            }
        }
        if round % 64 == 0 {
            assert_consistent(&vgic);
        }
    }
    assert_consistent(&vgic);
}

#[test]
fn odd_construction_parameters() {
    let mut empty = Vgic::new(&[], 0);
    assert_eq!(empty.region_of(crate::layout::GICR_BASE), None);
    assert!(!empty.flush_list_registers(0, &mut [0; 4]));
    empty.write_sgi1r(0, u64::MAX);
    empty.set_spi_level(32, true);
    assert_eq!(read(&mut empty, D, 0x4) & 0xff, 0);
    let many: Vec<u64> = (0..100).collect();
    let vgic = Vgic::new(&many, 64);
    assert_eq!(vgic.vcpu_count(), crate::vgic::MAX_VCPUS);
    let mut one = linux_boot(1, 32);
    one.set_spi_level(33, true);
    assert!(
        one.flush_list_registers(0, &mut []),
        "no list registers: everything is left over"
    );
    let mut wide = [u64::MAX; 20];
    assert!(!one.flush_list_registers(0, &mut wide));
    assert_eq!(wide[0] & 0xffff_ffff, 33);
    assert!(wide[1..].iter().all(|&lr| lr == 0));
}
