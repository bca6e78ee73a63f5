//! Interrupts flowing through list registers: SPIs, levels and edges, priorities, eviction.

use super::*;
use crate::bus::InterruptSink;
use crate::vgic::ich_hcr;

const UART: u32 = 33;
const VIRTIO: u32 = 48;
const TIMER: u32 = 27;

#[test]
fn spi_flows_through_a_list_register() {
    let mut vgic = linux_boot(2, 64);
    let mut cpu = Cpu::new(0);
    vgic.set_spi_level(UART, true);
    assert_eq!(vgic.take_kicks(), 0b01, "routed to vCPU 0");
    assert!(vgic.has_deliverable(0) && !vgic.has_deliverable(1));
    assert!(!cpu.enter(&mut vgic));
    let expected = 1 << 62 | 1 << 60 | u64::from(DEFAULT_PRIORITY) << 48 | 1 << 41 | u64::from(UART);
    assert_eq!(
        cpu.lrs,
        [expected, 0, 0, 0],
        "pending, group 1, EOI maintenance for a level"
    );
    assert_eq!(read(&mut vgic, D, 0x204), 1 << 1, "ISPENDR sees it");
    assert_eq!(cpu.ack(), Some(UART));
    cpu.exit(&mut vgic);
    assert_eq!(
        read(&mut vgic, D, 0x304),
        1 << 1,
        "ISACTIVER after the guest acknowledged"
    );
    assert!(!vgic.has_deliverable(0), "active, not pending");
    vgic.set_spi_level(UART, false);
    cpu.eoi(UART);
    cpu.exit(&mut vgic);
    assert_eq!(cpu.lrs, [0; 4], "deactivated: gone");
    assert!(!cpu.enter(&mut vgic));
    assert_eq!(cpu.lrs, [0; 4]);
    assert_eq!(read(&mut vgic, D, 0x204) | read(&mut vgic, D, 0x304), 0);
    assert!(!vgic.has_deliverable(0));
    assert_eq!(vgic.counters().injected, vec![1, 0]);
}

#[test]
fn level_spi_still_high_after_eoi_is_pending_again() {
    let mut vgic = linux_boot(1, 64);
    let mut cpu = Cpu::new(0);
    vgic.set_spi_level(VIRTIO, true);
    cpu.enter(&mut vgic);
    assert_eq!(cpu.ack(), Some(VIRTIO));
    cpu.exit(&mut vgic);
    assert!(!cpu.enter(&mut vgic));
    assert_eq!(cpu.state(VIRTIO), 0b10, "no pending added while active: sampled at EOI");
    cpu.eoi(VIRTIO);
    cpu.exit(&mut vgic);
    assert!(vgic.has_deliverable(0), "the line is still high");
    cpu.enter(&mut vgic);
    assert_eq!(cpu.pending(), vec![VIRTIO]);
    assert_eq!(vgic.counters().injected, vec![2]);
}

#[test]
fn level_line_dropped_before_acknowledge_retires_it() {
    let mut vgic = linux_boot(1, 64);
    let mut cpu = Cpu::new(0);
    vgic.set_spi_level(VIRTIO, true);
    cpu.enter(&mut vgic);
    cpu.exit(&mut vgic);
    vgic.set_spi_level(VIRTIO, false);
    assert!(!vgic.has_deliverable(0), "the device took it back");
    cpu.enter(&mut vgic);
    assert_eq!(cpu.lrs, [0; 4]);
    assert_eq!(read(&mut vgic, D, 0x204), 0);
}

#[test]
fn edge_spi_pends_again_while_active() {
    let mut vgic = linux_boot(1, 64);
    let mut cpu = Cpu::new(0);
    write(&mut vgic, D, 0xc08, 0b10 << 4); // INTID 34 edge
    write(&mut vgic, D, 0x104, 1 << 2);
    let pulse = |vgic: &mut Vgic| {
        vgic.set_spi_level(34, true);
        vgic.set_spi_level(34, false);
    };
    pulse(&mut vgic);
    cpu.enter(&mut vgic);
    assert_eq!(cpu.lrs[0] & (1 << 41), 0, "no EOI maintenance for edges");
    assert_eq!(cpu.ack(), Some(34));
    cpu.exit(&mut vgic);
    pulse(&mut vgic);
    assert_eq!(vgic.take_kicks(), 1, "new pending state needs a flush");
    pulse(&mut vgic);
    cpu.enter(&mut vgic);
    assert_eq!(cpu.state(34), 0b11, "pending and active");
    cpu.eoi(34);
    assert_eq!(cpu.ack(), Some(34));
    cpu.eoi(34);
    cpu.exit(&mut vgic);
    cpu.enter(&mut vgic);
    assert_eq!(cpu.lrs, [0; 4], "two edges while active collapse into one");
}

/// Enables SPIs 32.. with the given priorities and raises them (level).
fn raise_with_priorities(vgic: &mut Vgic, priorities: &[u8]) {
    for (index, &priority) in priorities.iter().enumerate() {
        let intid = 32 + index as u64;
        vgic.mmio_write(D, 0x400 + intid, AccessWidth::Byte, u64::from(priority))
            .unwrap();
        write(vgic, D, 0x100 + intid / 32 * 4, 1 << (intid % 32));
        vgic.set_spi_level(intid as u32, true);
    }
}

#[test]
fn priority_order_with_more_pending_than_list_registers() {
    let mut vgic = Vgic::new(&MPIDRS[..1], 64);
    write(&mut vgic, D, 0x0, 0x13);
    wake_redistributor(&mut vgic, 0);
    raise_with_priorities(&mut vgic, &[0xa0, 0x20, 0xf0, 0x80, 0x20, 0x60]);
    let mut cpu = Cpu::new(0);
    let leftover = cpu.enter(&mut vgic);
    assert!(leftover);
    assert_eq!(ich_hcr(leftover), 0b11, "En + UIE");
    assert_eq!(
        cpu.pending(),
        vec![33, 36, 37, 35],
        "the four best, by priority then INTID"
    );
    for expected in [33, 36, 37, 35] {
        let intid = cpu.ack().unwrap();
        assert_eq!(intid, expected);
        vgic.set_spi_level(intid, false);
        cpu.eoi(intid);
    }
    cpu.exit(&mut vgic);
    assert!(!cpu.enter(&mut vgic), "the rest fits now");
    assert_eq!(cpu.pending(), vec![32, 34]);
    assert_eq!(vgic.counters().overflows, 1);
}

#[test]
fn higher_priority_evicts_pending_only_list_registers() {
    let mut vgic = Vgic::new(&MPIDRS[..1], 64);
    write(&mut vgic, D, 0x0, 0x13);
    wake_redistributor(&mut vgic, 0);
    raise_with_priorities(&mut vgic, &[0xa0, 0xa0, 0xa0, 0xc0]);
    let mut cpu = Cpu::new(0);
    assert!(!cpu.enter(&mut vgic));
    assert_eq!(cpu.ack(), Some(32));
    cpu.exit(&mut vgic);
    // Two urgent edge interrupts arrive; the lowest-priority pending-only entries give way.
    write(&mut vgic, D, 0xc08, 0b1010 << 12); // 38, 39 edge
    raise_with_priorities(&mut vgic, &[0xa0, 0xa0, 0xa0, 0xc0, 0xf0, 0xf0, 0x10, 0x10]);
    assert!(cpu.enter(&mut vgic), "evicted ones are left over");
    let states: Vec<u64> = (32..40).map(|intid| cpu.state(intid)).collect();
    assert_eq!(
        states,
        [0b10, 0b01, 0, 0, 0, 0, 0b01, 0b01],
        "active 32 stays; 34 and 35 make room"
    );
    assert_eq!(
        read(&mut vgic, D, 0x204) & 0xff,
        0xff,
        "the model still has all of them pending"
    );
    for _ in 0..2 {
        let intid = cpu.ack().unwrap();
        assert!(intid == 38 || intid == 39);
        cpu.eoi(intid);
    }
    cpu.exit(&mut vgic);
    assert!(cpu.enter(&mut vgic), "34 and 35 come back; 36 and 37 still wait");
    let states: Vec<u64> = (32..40).map(|intid| cpu.state(intid)).collect();
    assert_eq!(states, [0b10, 0b01, 0b01, 0b01, 0, 0, 0, 0]);
}

#[test]
fn disabled_group_disabled_or_asleep_is_not_delivered() {
    let mut vgic = linux_boot(2, 64);
    let mut cpu = Cpu::new(0);
    vgic.set_spi_level(40, true); // never enabled
    assert_eq!(vgic.take_kicks(), 0);
    assert!(!cpu.enter(&mut vgic) && cpu.lrs == [0; 4]);
    write(&mut vgic, D, 0x104, 1 << 8);
    assert_eq!(vgic.take_kicks(), 1, "enabling a pending interrupt kicks");
    write(&mut vgic, D, 0x0, 0x11); // group 1 off
    assert!(!vgic.has_deliverable(0));
    cpu.enter(&mut vgic);
    assert_eq!(cpu.lrs, [0; 4]);
    write(&mut vgic, D, 0x0, 0x13);
    assert_eq!(vgic.take_kicks(), 1, "group 1 back on");
    write(&mut vgic, r(0), 0x14, 0b10); // redistributor asleep
    assert!(!vgic.has_deliverable(0));
    cpu.enter(&mut vgic);
    assert_eq!(cpu.lrs, [0; 4]);
    wake_redistributor(&mut vgic, 0);
    assert_eq!(vgic.take_kicks() & 1, 1);
    cpu.enter(&mut vgic);
    assert_eq!(cpu.pending(), vec![40]);
    // Disabled while pending in a list register: taken back, still pending in the model.
    write(&mut vgic, D, 0x184, 1 << 8);
    cpu.enter(&mut vgic);
    assert_eq!(cpu.lrs, [0; 4]);
    assert_eq!(read(&mut vgic, D, 0x204) & 1 << 8, 1 << 8);
}

#[test]
fn group0_interrupts_go_out_as_group0() {
    let mut vgic = linux_boot(1, 64);
    write(&mut vgic, D, 0x084, 0);
    write(&mut vgic, D, 0x0, 0x12); // group 1 only
    vgic.set_spi_level(UART, true);
    assert!(!vgic.has_deliverable(0));
    write(&mut vgic, D, 0x0, 0x11);
    let mut cpu = Cpu::new(0);
    vgic.flush_list_registers(0, &mut cpu.lrs);
    assert_eq!(cpu.lrs[0] >> 60 & 1, 0, "group bit clear");
}

#[test]
fn icpendr_takes_pending_out_of_a_list_register() {
    let mut vgic = linux_boot(1, 64);
    let mut cpu = Cpu::new(0);
    write(&mut vgic, D, 0x204, 1 << 9); // ISPENDR: SPI 41, software pending
    write(&mut vgic, D, 0x104, 1 << 9);
    cpu.enter(&mut vgic);
    assert_eq!(cpu.pending(), vec![41]);
    cpu.exit(&mut vgic);
    write(&mut vgic, D, 0x284, 1 << 9);
    assert_eq!(read(&mut vgic, D, 0x204), 0);
    // The next exit still shows the stale pending LR: the write wins.
    cpu.exit(&mut vgic);
    cpu.enter(&mut vgic);
    assert_eq!(cpu.lrs, [0; 4]);
}

#[test]
fn timer_ppi_is_private_with_eoi_maintenance() {
    let mut vgic = linux_boot(2, 64);
    vgic.set_ppi_level(1, TIMER, true);
    vgic.set_ppi_level(1, 40, true); // not a PPI
    vgic.set_ppi_level(9, TIMER, true); // no such vCPU
    assert_eq!(vgic.take_kicks(), 0b10);
    let (mut cpu0, mut cpu1) = (Cpu::new(0), Cpu::new(1));
    cpu0.enter(&mut vgic);
    assert_eq!(cpu0.lrs, [0; 4]);
    cpu1.enter(&mut vgic);
    assert_eq!(cpu1.pending(), vec![TIMER]);
    assert_ne!(cpu1.lrs[0] & 1 << 41, 0);
    assert_eq!(read(&mut vgic, r(1), SGI_BASE + 0x200), 1 << TIMER);
    assert_eq!(read(&mut vgic, r(0), SGI_BASE + 0x200), 0);
}

#[test]
fn flush_without_sync_keeps_the_guests_progress() {
    let mut vgic = linux_boot(1, 64);
    let mut cpu = Cpu::new(0);
    vgic.set_spi_level(UART, true);
    cpu.enter(&mut vgic);
    cpu.ack();
    vgic.set_spi_level(UART, false);
    cpu.eoi(UART);
    // No sync: the flush folds the list registers back itself.
    cpu.enter(&mut vgic);
    assert_eq!(cpu.lrs, [0; 4]);
    assert_eq!(vgic.counters().injected, vec![1]);
    // Flushing twice in a row without running changes nothing.
    vgic.set_spi_level(UART, true);
    cpu.enter(&mut vgic);
    let once = cpu.lrs;
    cpu.enter(&mut vgic);
    assert_eq!(cpu.lrs, once);
}
