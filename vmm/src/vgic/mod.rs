//! GICv3 model of one VM: emulated distributor and redistributors, delivery through list registers.
//!
//! The model owns every interrupt's state. Before the kernel enters a vCPU it calls
//! [`Vgic::flush_list_registers`] with the list register values saved at the last exit;
//! after an exit, [`Vgic::sync_list_registers`]. Guest MMIO to the GIC frames goes to
//! [`Vgic::mmio_read`] / [`Vgic::mmio_write`], trapped ICC_SGI1R_EL1 writes to
//! [`Vgic::write_sgi1r`], devices drive SPIs through [`InterruptSink`] and the kernel
//! drives the virtual timer with [`Vgic::set_ppi_level`]. The model is not thread-safe by
//! itself: the kernel keeps it under the VM's lock.
//!
//! A vCPU's run loop, with the VM's lock held around each model call:
//! 1. After an exit: save `ICH_LR<n>_EL2` and write ICH_HCR_EL2 = 0 (no maintenance
//!    interrupt in host context), then `sync_list_registers`; sample the virtual timer
//!    line into `set_ppi_level(vcpu, 27, ..)`.
//! 2. Handle the exit (GIC MMIO, ICC_SGI1R_EL1, WFI: block only while `has_deliverable`
//!    is false); a maintenance interrupt (PPI 25) needs nothing more than the exit.
//! 3. `take_kicks`: wake or IPI every other vCPU named in it.
//! 4. Before entering: `flush_list_registers`, write the list registers back and
//!    ICH_HCR_EL2 = [`ich_hcr`]`(leftover)` (En, plus UIE when something did not fit).
//!
//! Level-sensitive interrupts go out with the list register's EOI bit, so the guest's
//! deactivation causes a maintenance exit and the line is sampled again.

mod banks;
mod delivery;
mod distributor;
mod irq;
mod list_register;
mod redistributor;
mod sgi;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use irq::{Irq, Target};
pub use list_register::{ich_hcr, lr_in_flight, must_disable_for_host, ICH_HCR_EN, ICH_HCR_UIE, MAX_LIST_REGISTERS};

use crate::bus::{AccessWidth, InterruptSink, MmioError};
use crate::layout::{GICD_BASE, GICD_SIZE, GICR_BASE, GICR_STRIDE};

/// The most vCPUs one model serves (kicks are a 64-bit mask).
pub const MAX_VCPUS: usize = 64;
/// The most SPIs (INTIDs 32..1019).
pub const MAX_SPIS: u32 = 988;
/// SGIs 0..15 and PPIs 16..31, banked per vCPU.
const PRIVATE_IRQS: u32 = 32;
/// MPIDR_EL1 affinity fields Aff3 [39:32], Aff2, Aff1, Aff0 [23:0]; GICD_IROUTER has them
/// at the same places.
const AFFINITY_MASK: u64 = 0xff_00ff_ffff;

/// A GIC MMIO frame the guest accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicRegion {
    Distributor,
    /// The redistributor (RD_base + SGI_base frames) of one vCPU.
    Redistributor {
        vcpu: usize,
    },
}

/// Statistics of one model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VgicCounters {
    /// Interrupts put into list registers, per vCPU.
    pub injected: Vec<u64>,
    /// SGIs made pending on a target by ICC_SGI1R_EL1 writes.
    pub sgis: u64,
    /// Flushes that left a deliverable interrupt out for lack of list registers.
    pub overflows: u64,
    /// Guest accesses refused (bad width or alignment) or aimed at reserved offsets.
    pub bad_accesses: u64,
}

/// One vCPU's redistributor, private interrupts and list-register bookkeeping.
struct VcpuState {
    /// Affinity fields of the vCPU's MPIDR.
    affinity: u64,
    private: [Irq; PRIVATE_IRQS as usize],
    /// GICR_WAKER.ProcessorSleep (ChildrenAsleep follows it at once).
    asleep: bool,
    /// The INTID each list register holds, as the model last wrote or read it.
    slots: [Option<u32>; MAX_LIST_REGISTERS],
    injected: u64,
    /// Interrupts put into list registers, by INTID (private ones, then the SPIs).
    injected_by_intid: Vec<u64>,
    /// Something changed since this vCPU's last flush looked at every interrupt (or that
    /// flush left some out): the next flush must look again. Entering a vCPU with nothing
    /// in flight and nothing changed then costs no scan.
    rescan: bool,
}

/// The GICv3 model of one VM.
pub struct Vgic {
    vcpus: Vec<VcpuState>,
    spis: Vec<Irq>,
    group0_enabled: bool,
    group1_enabled: bool,
    kicks: u64,
    sgis: u64,
    overflows: u64,
    bad_accesses: u64,
}

impl Vgic {
    /// A model for vCPUs with these MPIDRs (at most [`MAX_VCPUS`]) and `spi_count` SPIs
    /// (rounded up to a multiple of 32, at most [`MAX_SPIS`]). SPIs are routed to the first
    /// vCPU's affinity until the guest says otherwise.
    pub fn new(vcpu_mpidrs: &[u64], spi_count: u32) -> Self {
        let mut private = [Irq::new(false, Target::Nobody); PRIVATE_IRQS as usize];
        for sgi in &mut private[..16] {
            sgi.edge = true;
        }
        let vcpus: Vec<VcpuState> = vcpu_mpidrs
            .iter()
            .take(MAX_VCPUS)
            .map(|mpidr| VcpuState {
                affinity: mpidr & AFFINITY_MASK,
                private,
                asleep: true,
                slots: [None; MAX_LIST_REGISTERS],
                injected: 0,
                injected_by_intid: Vec::new(),
                rescan: true,
            })
            .collect();
        let spi_count = spi_count.div_ceil(32).saturating_mul(32).min(MAX_SPIS);
        let router = vcpus.first().map_or(0, |v| v.affinity);
        let mut vgic = Self {
            vcpus,
            spis: Vec::new(),
            group0_enabled: false,
            group1_enabled: false,
            kicks: 0,
            sgis: 0,
            overflows: 0,
            bad_accesses: 0,
        };
        let spi = Irq {
            router,
            target: vgic.target_of(router),
            ..Irq::new(false, Target::Nobody)
        };
        vgic.spis = alloc::vec![spi; spi_count as usize];
        for vcpu in &mut vgic.vcpus {
            vcpu.injected_by_intid = alloc::vec![0; (PRIVATE_IRQS + spi_count) as usize];
        }
        vgic
    }

    pub fn vcpu_count(&self) -> usize {
        self.vcpus.len()
    }

    pub fn spi_count(&self) -> u32 {
        self.spis.len() as u32
    }

    /// Which region and vCPU an IPA falls in (GICD, or GICR frame of vCPU n), and the offset in it.
    pub fn region_of(&self, ipa: u64) -> Option<(GicRegion, u64)> {
        if (GICD_BASE..GICD_BASE + GICD_SIZE).contains(&ipa) {
            return Some((GicRegion::Distributor, ipa - GICD_BASE));
        }
        let offset = ipa.checked_sub(GICR_BASE)?;
        let vcpu = usize::try_from(offset / GICR_STRIDE)
            .ok()
            .filter(|&v| v < self.vcpus.len())?;
        Some((GicRegion::Redistributor { vcpu }, offset % GICR_STRIDE))
    }

    /// A guest read. Reserved offsets read as zero; a width or alignment the register does
    /// not allow is refused.
    pub fn mmio_read(&mut self, region: GicRegion, offset: u64, width: AccessWidth) -> Result<u64, MmioError> {
        self.rescan_all();
        let result = match region {
            GicRegion::Distributor => self.gicd_read(offset, width),
            GicRegion::Redistributor { vcpu } => self.gicr_read(vcpu, offset, width),
        };
        self.bad_accesses += u64::from(result.is_err());
        result.map(|value| value & width.mask())
    }

    /// A guest write. Reserved offsets and read-only registers ignore it; a width or
    /// alignment the register does not allow is refused.
    pub fn mmio_write(
        &mut self,
        region: GicRegion,
        offset: u64,
        width: AccessWidth,
        value: u64,
    ) -> Result<(), MmioError> {
        let value = value & width.mask();
        self.rescan_all();
        let result = match region {
            GicRegion::Distributor => self.gicd_write(offset, width, value),
            GicRegion::Redistributor { vcpu } => self.gicr_write(vcpu, offset, width, value),
        };
        self.bad_accesses += u64::from(result.is_err());
        result
    }

    /// Private interrupt of one vCPU (e.g. the virtual timer PPI 27), level semantics.
    /// INTIDs outside 16..31 and unknown vCPUs are ignored.
    pub fn set_ppi_level(&mut self, vcpu: usize, intid: u32, high: bool) {
        if (16..PRIVATE_IRQS).contains(&intid) {
            self.with_irq(vcpu, intid, |irq| irq.drive(high));
        }
    }

    /// vCPUs that got a newly deliverable interrupt since the last call (to kick/wake them).
    pub fn take_kicks(&mut self) -> u64 {
        core::mem::take(&mut self.kicks)
    }

    pub fn counters(&self) -> VgicCounters {
        VgicCounters {
            injected: self.vcpus.iter().map(|v| v.injected).collect(),
            sgis: self.sgis,
            overflows: self.overflows,
            bad_accesses: self.bad_accesses,
        }
    }

    /// How often each INTID was put into one of `vcpu`'s list registers (indexed by INTID:
    /// SGIs, PPIs, then the SPIs); empty for an unknown vCPU.
    pub fn injections(&self, vcpu: usize) -> &[u64] {
        self.vcpus.get(vcpu).map_or(&[], |v| &v.injected_by_intid)
    }

    /// The interrupt `intid` as vCPU `owner` sees it (SPIs are the same for every vCPU).
    fn irq(&self, owner: usize, intid: u32) -> Option<&Irq> {
        match intid.checked_sub(PRIVATE_IRQS) {
            None => self.vcpus.get(owner).map(|v| &v.private[intid as usize]),
            Some(spi) => self.spis.get(spi as usize),
        }
    }

    fn irq_mut(&mut self, owner: usize, intid: u32) -> Option<&mut Irq> {
        match intid.checked_sub(PRIVATE_IRQS) {
            None => self.vcpus.get_mut(owner).map(|v| &mut v.private[intid as usize]),
            Some(spi) => self.spis.get_mut(spi as usize),
        }
    }

    /// Every vCPU's next flush looks at every interrupt again.
    fn rescan_all(&mut self) {
        for vcpu in &mut self.vcpus {
            vcpu.rescan = true;
        }
    }

    /// Changes one interrupt and kicks the vCPU it became newly deliverable to.
    fn with_irq(&mut self, owner: usize, intid: u32, change: impl FnOnce(&mut Irq)) {
        let before = self.fresh_target(owner, intid);
        let Some(irq) = self.irq_mut(owner, intid) else { return };
        let old = *irq;
        change(irq);
        if *irq != old {
            self.rescan_all();
        }
        if let Some(vcpu) = self.fresh_target(owner, intid).filter(|&v| before != Some(v)) {
            self.kicks |= 1 << vcpu;
        }
    }

    /// Runs a change that may affect many interrupts (group enables, redistributor wake,
    /// routing) and kicks every vCPU that has something deliverable only afterwards.
    fn with_kicks_for_all(&mut self, change: impl FnOnce(&mut Self)) {
        self.rescan_all();
        let before = self.deliverable_mask();
        change(self);
        self.kicks |= self.deliverable_mask() & !before;
    }

    /// The vCPU an IROUTER value names.
    fn target_of(&self, router: u64) -> Target {
        if router & distributor::IROUTER_IRM != 0 {
            return Target::AnyParticipating;
        }
        let affinity = router & AFFINITY_MASK;
        self.vcpus
            .iter()
            .position(|v| v.affinity == affinity)
            .map_or(Target::Nobody, Target::Vcpu)
    }
}

impl InterruptSink for Vgic {
    /// Drives an SPI's line; INTIDs that are not implemented SPIs are ignored.
    fn set_spi_level(&mut self, intid: u32, high: bool) {
        if intid >= PRIVATE_IRQS {
            self.with_irq(0, intid, |irq| irq.drive(high));
        }
    }
}

/// Whether an access is naturally aligned.
fn aligned(offset: u64, width: AccessWidth) -> bool {
    offset.is_multiple_of(width.bytes())
}
