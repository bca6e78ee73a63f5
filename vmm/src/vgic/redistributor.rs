//! Each vCPU's redistributor: RD_base (control, identification, wake-up) and SGI_base (private banks).

use super::banks::BankReg;
use super::distributor::{IIDR, PIDR2, PIDR2_GICV3};
use super::{aligned, Vgic, PRIVATE_IRQS};
use crate::bus::{AccessWidth, MmioError};
use crate::layout::GICR_STRIDE;

/// The SGI_base frame follows the RD_base frame.
const SGI_BASE: u64 = 0x1_0000;
/// GICR_WAKER.ProcessorSleep (RW) and ChildrenAsleep (RO, follows at once).
const WAKER_PROCESSOR_SLEEP: u64 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u64 = 1 << 2;
/// GICR_TYPER.Last: the last redistributor of the region.
const TYPER_LAST: u64 = 1 << 4;

/// A register of one redistributor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GicrReg {
    /// GICR_CTLR (no LPIs, nothing to wait for) and GICR_STATUSR: RAZ/WI.
    RazWi,
    Iidr,
    /// GICR_TYPER, whole or one 32-bit half.
    Typer {
        high_half: bool,
    },
    Waker,
    Id,
    Bank(BankReg),
    Reserved,
}

impl GicrReg {
    fn classify(offset: u64) -> Self {
        match offset {
            0x0000 | 0x0010 => Self::RazWi,
            0x0004 => Self::Iidr,
            0x0008 => Self::Typer { high_half: false },
            0x000c => Self::Typer { high_half: true },
            0x0014 => Self::Waker,
            0xffd0..=0xffff => Self::Id,
            _ => match offset.checked_sub(SGI_BASE).map(BankReg::classify) {
                Some(Some(bank)) => Self::Bank(bank),
                _ => Self::Reserved,
            },
        }
    }

    fn width_ok(self, width: AccessWidth) -> bool {
        match self {
            Self::Typer { high_half } => width == AccessWidth::Word || (width == AccessWidth::Double && !high_half),
            Self::Bank(bank) => bank.width_ok(width),
            Self::Reserved => true,
            _ => width == AccessWidth::Word,
        }
    }
}

impl Vgic {
    pub(super) fn gicr_read(&mut self, vcpu: usize, offset: u64, width: AccessWidth) -> Result<u64, MmioError> {
        let reg = self.gicr_decode(vcpu, offset, width)?;
        Ok(match reg {
            GicrReg::RazWi => 0,
            GicrReg::Iidr => IIDR,
            GicrReg::Typer { high_half } => {
                let typer = self.gicr_typer(vcpu);
                if high_half {
                    typer >> 32
                } else {
                    typer
                }
            }
            GicrReg::Waker => {
                if self.vcpus[vcpu].asleep {
                    WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP
                } else {
                    0
                }
            }
            GicrReg::Id => {
                if offset == PIDR2 {
                    PIDR2_GICV3
                } else {
                    0
                }
            }
            GicrReg::Bank(bank) => self.bank_read(vcpu, bank, width, 0..PRIVATE_IRQS),
            GicrReg::Reserved => {
                self.bad_accesses += 1;
                0
            }
        })
    }

    pub(super) fn gicr_write(
        &mut self,
        vcpu: usize,
        offset: u64,
        width: AccessWidth,
        value: u64,
    ) -> Result<(), MmioError> {
        match self.gicr_decode(vcpu, offset, width)? {
            GicrReg::Waker => self.with_kicks_for_all(|vgic| {
                vgic.vcpus[vcpu].asleep = value & WAKER_PROCESSOR_SLEEP != 0;
            }),
            GicrReg::Bank(bank) => self.bank_write(vcpu, bank, width, value, 0..PRIVATE_IRQS),
            GicrReg::Reserved => self.bad_accesses += 1,
            // Read-only or RAZ/WI registers ignore writes.
            GicrReg::RazWi | GicrReg::Iidr | GicrReg::Typer { .. } | GicrReg::Id => {}
        }
        Ok(())
    }

    fn gicr_decode(&self, vcpu: usize, offset: u64, width: AccessWidth) -> Result<GicrReg, MmioError> {
        if vcpu >= self.vcpus.len() || offset >= GICR_STRIDE {
            return Err(MmioError::Unmapped);
        }
        let reg = GicrReg::classify(offset);
        if !aligned(offset, width) || !reg.width_ok(width) {
            return Err(MmioError::BadRegister);
        }
        Ok(reg)
    }

    /// Affinity_Value (Aff3.Aff2.Aff1.Aff0) [63:32], Processor_Number [23:8], Last; no
    /// LPIs (PLPIS = DirectLPI = 0), 16 PPIs.
    fn gicr_typer(&self, vcpu: usize) -> u64 {
        let affinity = self.vcpus[vcpu].affinity;
        let affinity_value = (affinity >> 32 & 0xff) << 24 | (affinity & 0xff_ffff);
        let last = if vcpu + 1 == self.vcpus.len() { TYPER_LAST } else { 0 };
        affinity_value << 32 | (vcpu as u64) << 8 | last
    }
}
