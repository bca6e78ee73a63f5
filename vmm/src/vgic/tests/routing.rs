//! SGIs between vCPUs, SPI routing through GICD_IROUTER, kicks and counters.

use super::*;
use crate::bus::InterruptSink;

/// ICC_SGI1R_EL1 for SGI `intid` to Aff0 targets in `list` of cluster 0.
fn sgi1r(intid: u64, list: u64) -> u64 {
    intid << 24 | list
}

const IRM: u64 = 1 << 40;

#[test]
fn sgi_from_vcpu0_to_vcpu1() {
    let mut vgic = linux_boot(2, 64);
    vgic.write_sgi1r(0, sgi1r(1, 0b10));
    assert_eq!(vgic.take_kicks(), 0b10);
    let (mut cpu0, mut cpu1) = (Cpu::new(0), Cpu::new(1));
    cpu0.enter(&mut vgic);
    assert_eq!(cpu0.lrs, [0; 4]);
    cpu1.enter(&mut vgic);
    assert_eq!(cpu1.pending(), vec![1]);
    assert_eq!(cpu1.lrs[0] & 1 << 41, 0, "SGIs are edge: no EOI maintenance");
    assert_eq!(cpu1.ack(), Some(1));
    cpu1.eoi(1);
    cpu1.exit(&mut vgic);
    assert_eq!(cpu1.lrs, [0; 4]);
    assert!(!vgic.has_deliverable(1));
    assert_eq!(vgic.counters().sgis, 1);
}

#[test]
fn sgi_to_all_but_self() {
    let mut vgic = linux_boot(4, 64);
    vgic.write_sgi1r(2, IRM | sgi1r(3, 0));
    assert_eq!(vgic.take_kicks(), 0b1011);
    for vcpu in [0, 1, 3] {
        assert_eq!(read(&mut vgic, r(vcpu), SGI_BASE + 0x200), 1 << 3);
    }
    assert_eq!(read(&mut vgic, r(2), SGI_BASE + 0x200), 0);
    assert_eq!(vgic.counters().sgis, 3);
    // A list naming nobody, an unknown sender, a foreign cluster: nothing happens.
    vgic.write_sgi1r(0, sgi1r(4, 0));
    vgic.write_sgi1r(7, sgi1r(4, 0b1111));
    vgic.write_sgi1r(0, sgi1r(4, 0b1111) | 1 << 16);
    assert_eq!(vgic.take_kicks(), 0);
    assert_eq!(vgic.counters().sgis, 3);
}

#[test]
fn sgi_to_self_and_disabled_sgi() {
    let mut vgic = linux_boot(2, 64);
    write(&mut vgic, r(0), SGI_BASE + 0x180, 1 << 5);
    vgic.write_sgi1r(0, sgi1r(5, 0b11));
    assert_eq!(vgic.take_kicks(), 0b10, "vCPU 0 disabled SGI 5");
    assert!(!vgic.has_deliverable(0) && vgic.has_deliverable(1));
    write(&mut vgic, r(0), SGI_BASE + 0x100, 1 << 5);
    assert_eq!(vgic.take_kicks(), 0b01);
}

#[test]
fn spis_follow_irouter() {
    let mut vgic = linux_boot(4, 64);
    let router = 0x6000 + 33 * 8;
    vgic.mmio_write(D, router, AccessWidth::Double, 2).unwrap();
    vgic.set_spi_level(33, true);
    assert_eq!(vgic.take_kicks(), 0b100);
    let mut cpu0 = Cpu::new(0);
    cpu0.enter(&mut vgic);
    assert_eq!(cpu0.lrs, [0; 4]);
    // IRM = 1: the first awake vCPU takes it.
    write(&mut vgic, r(0), 0x14, 0b10);
    vgic.mmio_write(D, router, AccessWidth::Double, 1 << 31).unwrap();
    assert_eq!(vgic.take_kicks(), 0b010);
    // An affinity nobody has: stays pending, nobody kicked.
    vgic.mmio_write(D, router, AccessWidth::Double, 0x0100).unwrap();
    assert_eq!(vgic.take_kicks(), 0);
    assert!((0..4).all(|v| !vgic.has_deliverable(v)));
    assert_eq!(read(&mut vgic, D, 0x204) & 0b10, 0b10);
    vgic.mmio_write(D, router, AccessWidth::Double, 3).unwrap();
    let mut cpu3 = Cpu::new(3);
    cpu3.enter(&mut vgic);
    assert_eq!(cpu3.pending(), vec![33]);
}

#[test]
fn rerouting_while_in_flight() {
    let mut vgic = linux_boot(2, 64);
    let (mut cpu0, mut cpu1) = (Cpu::new(0), Cpu::new(1));
    vgic.set_spi_level(33, true);
    cpu0.enter(&mut vgic);
    cpu0.exit(&mut vgic);
    vgic.take_kicks();
    vgic.mmio_write(D, 0x6000 + 33 * 8, AccessWidth::Double, 1).unwrap();
    cpu1.enter(&mut vgic);
    assert_eq!(cpu1.lrs, [0; 4], "still held by vCPU 0: never in two list registers");
    cpu0.enter(&mut vgic);
    assert_eq!(cpu0.lrs, [0; 4], "vCPU 0 gives it back");
    assert_eq!(vgic.take_kicks(), 0b10, "and vCPU 1 is told");
    cpu1.enter(&mut vgic);
    assert_eq!(cpu1.pending(), vec![33]);
    // Active on vCPU 1 and rerouted: it stays there until deactivated.
    cpu1.ack();
    cpu1.exit(&mut vgic);
    vgic.mmio_write(D, 0x6000 + 33 * 8, AccessWidth::Double, 0).unwrap();
    cpu1.enter(&mut vgic);
    assert_eq!(cpu1.state(33), 0b10);
    cpu0.enter(&mut vgic);
    assert_eq!(cpu0.lrs, [0; 4]);
    cpu1.eoi(33);
    cpu1.exit(&mut vgic);
    assert_eq!(vgic.take_kicks(), 0b01, "level still high: now vCPU 0's");
    cpu0.enter(&mut vgic);
    assert_eq!(cpu0.pending(), vec![33]);
}

#[test]
fn kicks_are_reported_once_per_change() {
    let mut vgic = linux_boot(2, 64);
    vgic.set_spi_level(33, true);
    vgic.set_spi_level(33, true);
    assert_eq!(vgic.take_kicks(), 1);
    assert_eq!(vgic.take_kicks(), 0);
    vgic.set_spi_level(33, false);
    vgic.set_spi_level(33, true);
    assert_eq!(vgic.take_kicks(), 1, "pending again after it dropped");
    vgic.set_ppi_level(0, 27, true);
    vgic.set_spi_level(48, true);
    assert_eq!(vgic.take_kicks(), 0b01, "two new interrupts for vCPU 0, one kick");
    vgic.write_sgi1r(0, sgi1r(2, 0b10));
    assert_eq!(vgic.take_kicks(), 0b10);
}

#[test]
fn counters_count_per_vcpu() {
    let mut vgic = linux_boot(2, 64);
    let (mut cpu0, mut cpu1) = (Cpu::new(0), Cpu::new(1));
    vgic.write_sgi1r(0, IRM | sgi1r(0, 0));
    vgic.write_sgi1r(1, IRM | sgi1r(0, 0));
    vgic.set_spi_level(33, true);
    cpu0.enter(&mut vgic);
    cpu1.enter(&mut vgic);
    let _ = vgic.mmio_read(D, 0x3, AccessWidth::Byte);
    let counters = vgic.counters();
    assert_eq!(counters.injected, vec![2, 1]);
    // By INTID: SGI 0 on both, the UART's SPI on vCPU 0 only.
    assert_eq!(vgic.injections(0).len(), 32 + 64);
    assert_eq!((vgic.injections(0)[0], vgic.injections(0)[33]), (1, 1));
    assert_eq!((vgic.injections(1)[0], vgic.injections(1)[33]), (1, 0));
    assert_eq!(vgic.injections(0).iter().sum::<u64>(), 2);
    assert!(vgic.injections(2).is_empty());
    assert_eq!(counters.sgis, 2);
    assert_eq!(counters.bad_accesses, 1);
    assert_eq!(counters.overflows, 0);
}
