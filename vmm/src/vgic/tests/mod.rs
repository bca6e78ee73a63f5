//! Host tests of the GICv3 model: a Linux-like guest driving it, and hostile input.

mod flow;
mod hostile;
mod init;
mod routing;

use super::irq::Held;
use super::list_register::{is_active, is_pending, vintid};
use super::{GicRegion, Vgic};
use crate::bus::AccessWidth;

/// Four vCPUs, MPIDRs as QEMU gives them (bit 31 RES1, Aff0 = index).
pub(super) const MPIDRS: [u64; 4] = [0x8000_0000, 0x8000_0001, 0x8000_0002, 0x8000_0003];
pub(super) const D: GicRegion = GicRegion::Distributor;
pub(super) const SGI_BASE: u64 = 0x1_0000;
pub(super) const DEFAULT_PRIORITY: u8 = 0xa0;

pub(super) fn r(vcpu: usize) -> GicRegion {
    GicRegion::Redistributor { vcpu }
}

pub(super) fn read(vgic: &mut Vgic, region: GicRegion, offset: u64) -> u64 {
    vgic.mmio_read(region, offset, AccessWidth::Word).expect("word read")
}

pub(super) fn write(vgic: &mut Vgic, region: GicRegion, offset: u64, value: u64) {
    vgic.mmio_write(region, offset, AccessWidth::Word, value)
        .expect("word write");
}

/// What Linux 6.1's GICv3 driver does at boot (distributor from vCPU 0, then every
/// redistributor as its CPU comes up), then enables the timer PPI and SPIs 33 and 48.
pub(super) fn linux_boot(vcpus: usize, spi_count: u32) -> Vgic {
    let mut vgic = Vgic::new(&MPIDRS[..vcpus], spi_count);
    let lines = (read(&mut vgic, D, 0x4) & 0x1f) as u32 + 1;
    write(&mut vgic, D, 0x0, 0);
    assert_eq!(read(&mut vgic, D, 0x0) & (1 << 31), 0, "RWP");
    for word in 1..lines as u64 {
        write(&mut vgic, D, 0x080 + word * 4, u64::from(u32::MAX));
        write(&mut vgic, D, 0x380 + word * 4, u64::from(u32::MAX));
        write(&mut vgic, D, 0x180 + word * 4, u64::from(u32::MAX));
    }
    for intid in (32..lines as u64 * 32).step_by(16) {
        write(&mut vgic, D, 0xc00 + intid / 4, 0);
    }
    for intid in (32..lines as u64 * 32).step_by(4) {
        write(&mut vgic, D, 0x400 + intid, 0xa0a0_a0a0);
    }
    write(&mut vgic, D, 0x0, 0x13);
    for intid in 32..lines as u64 * 32 {
        vgic.mmio_write(D, 0x6000 + intid * 8, AccessWidth::Double, MPIDRS[0] & 0xff_00ff_ffff)
            .unwrap();
    }
    for vcpu in 0..vcpus {
        wake_redistributor(&mut vgic, vcpu);
        let rd = r(vcpu);
        write(&mut vgic, rd, SGI_BASE + 0x080, u64::from(u32::MAX));
        write(&mut vgic, rd, SGI_BASE + 0x380, u64::from(u32::MAX));
        write(&mut vgic, rd, SGI_BASE + 0x180, 0xffff_0000);
        write(&mut vgic, rd, SGI_BASE + 0x100, 0x0000_ffff);
        for word in 0..8 {
            write(&mut vgic, rd, SGI_BASE + 0x400 + word * 4, 0xa0a0_a0a0);
        }
        // request_percpu_irq(timer): level, enabled.
        write(&mut vgic, rd, SGI_BASE + 0xc04, 0);
        write(&mut vgic, rd, SGI_BASE + 0x100, 1 << 27);
    }
    // request_irq(33) and (48): priority by byte, then enable.
    vgic.mmio_write(D, 0x400 + 33, AccessWidth::Byte, 0xa0).unwrap();
    write(&mut vgic, D, 0x104, 1 << 1 | 1 << 16);
    assert_eq!(vgic.take_kicks(), 0, "nothing pending yet");
    vgic
}

/// GICR_WAKER handshake: clear ProcessorSleep, wait for ChildrenAsleep to clear.
pub(super) fn wake_redistributor(vgic: &mut Vgic, vcpu: usize) {
    let rd = r(vcpu);
    assert_eq!(read(vgic, rd, 0xffe8) & 0xf0, 0x30, "GICv3 redistributor");
    let waker = read(vgic, rd, 0x14);
    write(vgic, rd, 0x14, waker & !0b10);
    assert_eq!(read(vgic, rd, 0x14) & 0b100, 0, "ChildrenAsleep clears");
}

/// The guest side of one vCPU: its list registers, acknowledged and deactivated the way
/// the hardware's virtual CPU interface does it.
pub(super) struct Cpu {
    pub vcpu: usize,
    pub lrs: [u64; 4],
}

impl Cpu {
    pub fn new(vcpu: usize) -> Self {
        Self { vcpu, lrs: [0; 4] }
    }

    /// Flush before entering; returns the leftover flag.
    pub fn enter(&mut self, vgic: &mut Vgic) -> bool {
        let leftover = vgic.flush_list_registers(self.vcpu, &mut self.lrs);
        check_after_flush(vgic, self.vcpu, &self.lrs);
        leftover
    }

    pub fn exit(&mut self, vgic: &mut Vgic) {
        vgic.sync_list_registers(self.vcpu, &mut self.lrs);
        assert_consistent(vgic);
    }

    /// ICC_IAR1_EL1: the highest-priority pending (not active) list register becomes active.
    pub fn ack(&mut self) -> Option<u32> {
        let slot = (0..4)
            .filter(|&s| is_pending(self.lrs[s]) && !is_active(self.lrs[s]))
            .min_by_key(|&s| (self.lrs[s] >> 48) & 0xff)?;
        self.lrs[slot] = self.lrs[slot] & !(3 << 62) | 1 << 63;
        Some(vintid(self.lrs[slot]))
    }

    /// ICC_EOIR1_EL1 with EOImode 0: deactivates the interrupt.
    pub fn eoi(&mut self, intid: u32) {
        let slot = (0..4)
            .find(|&s| vintid(self.lrs[s]) == intid && is_active(self.lrs[s]))
            .expect("active LR");
        self.lrs[slot] &= !(1 << 63);
    }

    /// INTIDs whose list register is pending, in slot order.
    pub fn pending(&self) -> Vec<u32> {
        self.lrs
            .iter()
            .filter(|&&lr| is_pending(lr))
            .map(|&lr| vintid(lr))
            .collect()
    }

    /// State bits [63:62] of the list register holding `intid` (0 = none).
    pub fn state(&self, intid: u32) -> u64 {
        self.lrs
            .iter()
            .find(|&&lr| lr >> 62 != 0 && vintid(lr) == intid)
            .map_or(0, |lr| lr >> 62)
    }
}

/// Links between list-register slots and interrupts agree both ways; state outside
/// list registers is plain.
pub(super) fn assert_consistent(vgic: &Vgic) {
    for (vcpu, state) in vgic.vcpus.iter().enumerate() {
        for (slot, intid) in state.slots.iter().enumerate() {
            if let Some(intid) = *intid {
                let irq = vgic.irq(vcpu, intid).expect("slot names an interrupt");
                assert_eq!(
                    irq.held,
                    Some(Held { vcpu, slot }),
                    "vCPU {vcpu} slot {slot} INTID {intid}"
                );
            }
        }
        for (intid, irq) in state.private.iter().enumerate() {
            check_irq(vgic, vcpu, intid as u32, irq);
            assert!(irq.held.is_none_or(|h| h.vcpu == vcpu));
        }
    }
    for (index, irq) in vgic.spis.iter().enumerate() {
        check_irq(vgic, 0, 32 + index as u32, irq);
        assert_eq!(vgic.target_of(irq.router), irq.target);
    }
}

fn check_irq(vgic: &Vgic, owner: usize, intid: u32, irq: &super::irq::Irq) {
    assert_eq!(irq.priority & 7, 0);
    match irq.held {
        Some(h) => assert_eq!(
            vgic.vcpus[h.vcpu].slots[h.slot],
            Some(intid),
            "INTID {intid} of {owner}"
        ),
        None => assert!(
            !irq.lr_pending && !irq.lr_latched && !irq.active_written,
            "INTID {intid} of {owner}"
        ),
    }
}

/// After a flush every held interrupt is in flight and its list register says so.
pub(super) fn check_after_flush(vgic: &Vgic, vcpu: usize, lrs: &[u64]) {
    assert_consistent(vgic);
    for (slot, &lr) in lrs.iter().enumerate() {
        match vgic.vcpus[vcpu].slots.get(slot).copied().flatten() {
            Some(intid) => {
                let irq = vgic.irq(vcpu, intid).unwrap();
                assert!(irq.in_flight());
                assert_eq!(vintid(lr), intid);
                assert_eq!(is_pending(lr), irq.lr_pending);
                assert_eq!(is_active(lr), irq.active);
                assert_eq!(lr >> 60 & 3, 1, "group 1, HW = 0");
            }
            None => assert_eq!(lr, 0, "empty slot {slot}"),
        }
    }
}

/// A small deterministic generator for hostile values.
pub(super) struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}
