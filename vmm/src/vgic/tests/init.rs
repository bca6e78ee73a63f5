//! Identification, register layout and access rules, and a Linux-like boot sequence.

use super::*;
use crate::bus::MmioError;
use crate::layout::{GICD_BASE, GICR_BASE};
use AccessWidth::{Byte, Double, Half, Word};

#[test]
fn identification_registers() {
    let mut vgic = Vgic::new(&MPIDRS, 64);
    // ITLinesNumber 2 (96 INTIDs), CPUNumber 3, IDbits 9, A3V.
    assert_eq!(read(&mut vgic, D, 0x4), 2 | 3 << 5 | 9 << 19 | 1 << 24);
    assert_eq!(read(&mut vgic, D, 0x8), 0x6b00_043b);
    assert_eq!(read(&mut vgic, D, 0xc), 0, "TYPER2");
    assert_eq!(read(&mut vgic, D, 0xffe8), 0x3b, "ArchRev 3");
    assert_eq!(read(&mut vgic, r(2), 0xffe8), 0x3b);
    assert_eq!(read(&mut vgic, r(2), 0x4), 0x6b00_043b);
    assert_eq!(read(&mut vgic, D, 0x0), 0x50, "ARE and DS, nothing enabled");
    assert_eq!(Vgic::new(&MPIDRS, 96).spi_count(), 96);
    assert_eq!(Vgic::new(&MPIDRS, 50).spi_count(), 64, "rounded up to whole registers");
    let mut big = Vgic::new(&MPIDRS[..1], u32::MAX);
    assert_eq!(big.spi_count(), 988);
    assert_eq!(read(&mut big, D, 0x4) & 0xff, 31);
}

#[test]
fn redistributor_typer_names_each_vcpu() {
    let mpidrs = [0x8000_0000, 0x8000_0100, 0x80_8001_0203];
    let mut vgic = Vgic::new(&mpidrs, 32);
    let typer = |vgic: &mut Vgic, vcpu| vgic.mmio_read(r(vcpu), 0x8, Double).unwrap();
    assert_eq!(typer(&mut vgic, 0), 0);
    assert_eq!(typer(&mut vgic, 1), 0x0000_0100 << 32 | 1 << 8);
    assert_eq!(
        typer(&mut vgic, 2),
        0x8001_0203 << 32 | 2 << 8 | 1 << 4,
        "Aff3 at [63:56], Last"
    );
    assert_eq!(read(&mut vgic, r(2), 0x8), 2 << 8 | 1 << 4);
    assert_eq!(read(&mut vgic, r(2), 0xc), 0x8001_0203);
    assert_eq!(vgic.mmio_read(r(2), 0xc, Double), Err(MmioError::BadRegister));
}

#[test]
fn region_of_maps_frames() {
    let vgic = Vgic::new(&MPIDRS[..2], 64);
    assert_eq!(vgic.region_of(GICD_BASE + 0x104), Some((D, 0x104)));
    assert_eq!(vgic.region_of(GICD_BASE + 0xffff), Some((D, 0xffff)));
    assert_eq!(vgic.region_of(GICR_BASE), Some((r(0), 0)));
    assert_eq!(vgic.region_of(GICR_BASE + 0x3_0080), Some((r(1), 0x1_0080)));
    assert_eq!(vgic.region_of(GICR_BASE + 0x4_0000), None, "past the last frame");
    assert_eq!(vgic.region_of(GICD_BASE + 0x1_0000), None);
    assert_eq!(vgic.region_of(0), None);
    assert_eq!(vgic.region_of(u64::MAX), None);
}

#[test]
fn waker_handshake() {
    let mut vgic = Vgic::new(&MPIDRS[..1], 32);
    assert_eq!(read(&mut vgic, r(0), 0x14), 0b110, "asleep at reset");
    wake_redistributor(&mut vgic, 0);
    assert_eq!(read(&mut vgic, r(0), 0x14), 0);
    write(&mut vgic, r(0), 0x14, 0b10);
    assert_eq!(read(&mut vgic, r(0), 0x14), 0b110);
}

#[test]
fn linux_boot_reads_back() {
    let mut vgic = linux_boot(2, 64);
    assert_eq!(read(&mut vgic, D, 0x0), 0x53);
    assert_eq!(read(&mut vgic, D, 0x084), 0xffff_ffff, "SPIs group 1");
    assert_eq!(read(&mut vgic, D, 0x104), 1 << 1 | 1 << 16);
    assert_eq!(read(&mut vgic, D, 0x420), 0xa0a0_a0a0);
    assert_eq!(vgic.mmio_read(D, 0x6000 + 33 * 8, Double), Ok(0));
    for vcpu in 0..2 {
        assert_eq!(read(&mut vgic, r(vcpu), SGI_BASE + 0x100), 0xffff | 1 << 27);
        assert_eq!(read(&mut vgic, r(vcpu), SGI_BASE + 0x41c), 0xa0a0_a0a0);
        assert_eq!(read(&mut vgic, r(vcpu), 0x14), 0);
    }
    // Private interrupts are the redistributor's: the distributor's copies are RAZ/WI.
    write(&mut vgic, D, 0x100, u64::from(u32::MAX));
    assert_eq!(read(&mut vgic, D, 0x100), 0);
    assert_eq!(read(&mut vgic, D, 0x400), 0);
    assert_eq!(read(&mut vgic, r(0), SGI_BASE + 0x100), 0xffff | 1 << 27);
}

#[test]
fn priorities_take_bytes_and_keep_five_bits() {
    let mut vgic = Vgic::new(&MPIDRS[..1], 32);
    vgic.mmio_write(D, 0x421, Byte, 0xff).unwrap();
    assert_eq!(vgic.mmio_read(D, 0x421, Byte), Ok(0xf8));
    assert_eq!(read(&mut vgic, D, 0x420), 0xf800);
    write(&mut vgic, r(0), SGI_BASE + 0x418, 0x1234_5678);
    assert_eq!(read(&mut vgic, r(0), SGI_BASE + 0x418), 0x1030_5078);
    assert_eq!(vgic.mmio_read(r(0), SGI_BASE + 0x41b, Byte), Ok(0x10));
    assert_eq!(vgic.mmio_write(D, 0x420, Half, 0), Err(MmioError::BadRegister));
    assert_eq!(vgic.mmio_read(D, 0x420, Double), Err(MmioError::BadRegister));
    // Beyond the implemented SPIs: RAZ/WI.
    write(&mut vgic, D, 0x440, u64::from(u32::MAX));
    assert_eq!(read(&mut vgic, D, 0x440), 0);
}

#[test]
fn interrupt_configuration() {
    let mut vgic = Vgic::new(&MPIDRS[..1], 64);
    assert_eq!(read(&mut vgic, r(0), SGI_BASE + 0xc00), 0xaaaa_aaaa, "SGIs are edge");
    write(&mut vgic, r(0), SGI_BASE + 0xc04, u64::from(u32::MAX));
    assert_eq!(read(&mut vgic, r(0), SGI_BASE + 0xc04), 0, "PPIs stay level");
    write(&mut vgic, D, 0xc08, u64::from(u32::MAX));
    assert_eq!(read(&mut vgic, D, 0xc08), 0xaaaa_aaaa, "odd bits are RES0");
    write(&mut vgic, D, 0xc08, 0b1000);
    assert_eq!(read(&mut vgic, D, 0xc08), 0b1000, "INTID 33 edge");
    assert_eq!(read(&mut vgic, D, 0xc00), 0, "private config is not the distributor's");
}

#[test]
fn irouter_halves_and_res0_bits() {
    let mut vgic = Vgic::new(&MPIDRS, 32);
    let at = 0x6000 + 40 * 8;
    vgic.mmio_write(D, at, Double, u64::MAX).unwrap();
    assert_eq!(
        vgic.mmio_read(D, at, Double),
        Ok(0xff_8000_0000 | 0xff_ffff),
        "Aff3..0 and IRM"
    );
    write(&mut vgic, D, at, 0x0000_0102);
    write(&mut vgic, D, at + 4, 0x1_0000_0003);
    assert_eq!(vgic.mmio_read(D, at, Double), Ok(0x03_0000_0102));
    assert_eq!(read(&mut vgic, D, at + 4), 3);
    assert_eq!(vgic.mmio_write(D, at + 4, Double, 0), Err(MmioError::BadRegister));
    assert_eq!(
        vgic.mmio_read(D, 0x6000 + 31 * 8, Double),
        Ok(0),
        "no IROUTER for private INTIDs"
    );
    assert_eq!(vgic.mmio_read(D, 0x6000 + 64 * 8, Double), Ok(0), "unimplemented SPI");
}

#[test]
fn widths_alignment_and_reserved_offsets() {
    let mut vgic = Vgic::new(&MPIDRS[..2], 64);
    let bad = Err(MmioError::BadRegister);
    assert_eq!(vgic.mmio_read(D, 0x104, Half), bad);
    assert_eq!(vgic.mmio_write(D, 0x104, Byte, 1), Err(MmioError::BadRegister));
    assert_eq!(vgic.mmio_read(D, 0x0, Double), bad);
    assert_eq!(vgic.mmio_read(D, 0x102, Word), bad, "misaligned");
    assert_eq!(vgic.mmio_read(r(0), 0x14, Byte), bad);
    assert_eq!(vgic.mmio_read(r(0), SGI_BASE + 0x100, Double), bad);
    assert_eq!(vgic.counters().bad_accesses, 6);
    // Reserved offsets are RAZ/WI (and counted).
    assert_eq!(vgic.mmio_read(D, 0x20, Word), Ok(0));
    assert_eq!(vgic.mmio_write(r(1), 0x70, Double, u64::MAX), Ok(()));
    assert_eq!(vgic.mmio_read(r(1), SGI_BASE + 0x10, Half), Ok(0));
    assert_eq!(vgic.counters().bad_accesses, 9);
    // Known RAZ/WI registers are not errors.
    assert_eq!(vgic.mmio_write(D, 0xf00, Word, u64::MAX), Ok(()));
    assert_eq!(vgic.mmio_read(D, 0xf13, Byte), Ok(0));
    assert_eq!(
        vgic.mmio_read(D, 0x801, Byte),
        Ok(0),
        "ITARGETSR under affinity routing"
    );
    assert_eq!(vgic.mmio_write(r(0), 0x0, Word, u64::MAX), Ok(()));
    assert_eq!(read(&mut vgic, r(0), 0x0), 0, "GICR_CTLR: no LPIs, RWP clear");
    write(&mut vgic, D, 0x4, 0);
    assert_eq!(read(&mut vgic, D, 0x4) & 0x1f, 2, "TYPER is read-only");
    assert_eq!(vgic.counters().bad_accesses, 9);
    // Outside the frames.
    assert_eq!(vgic.mmio_read(D, 0x1_0000, Word), Err(MmioError::Unmapped));
    assert_eq!(vgic.mmio_read(r(0), 0x2_0000, Word), Err(MmioError::Unmapped));
    assert_eq!(vgic.mmio_read(r(2), 0x0, Word), Err(MmioError::Unmapped));
}

#[test]
fn ctlr_keeps_are_and_ds() {
    let mut vgic = Vgic::new(&MPIDRS[..1], 32);
    write(&mut vgic, D, 0x0, 0);
    assert_eq!(read(&mut vgic, D, 0x0), 0x50);
    write(&mut vgic, D, 0x0, u64::from(u32::MAX));
    assert_eq!(read(&mut vgic, D, 0x0), 0x53, "no RWP, no nASSGIreq, no E1NWF");
}
