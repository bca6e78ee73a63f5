//! The distributor (GICD) frame: global control, identification, the SPI banks and routing.

use super::banks::BankReg;
use super::{aligned, Vgic, AFFINITY_MASK, PRIVATE_IRQS};
use crate::bus::{AccessWidth, MmioError};
use crate::layout::GICD_SIZE;

/// GICD_IROUTER.IRM: route to any participating PE.
pub(super) const IROUTER_IRM: u64 = 1 << 31;
/// GICD_IIDR and GICR_IIDR: implementer 0x43b, product 0x6b ('k'), revision 0.
pub(super) const IIDR: u64 = 0x6b00_043b;
/// GICD_PIDR2 and GICR_PIDR2: ArchRev [7:4] = 3 (GICv3).
pub(super) const PIDR2_GICV3: u64 = 0x3b;
/// Offset of PIDR2 in either frame.
pub(super) const PIDR2: u64 = 0xffe8;

const CTLR_ENABLE_GRP0: u64 = 1 << 0;
const CTLR_ENABLE_GRP1: u64 = 1 << 1;
/// Affinity routing, always on.
const CTLR_ARE: u64 = 1 << 4;
/// Disable Security: one security state, always.
const CTLR_DS: u64 = 1 << 6;
const TYPER_IDBITS: u64 = 9 << 19;
const TYPER_A3V: u64 = 1 << 24;
const IROUTER_BASE: u64 = 0x6000;
const IROUTER_END: u64 = 0x7fdf;

/// A register of the distributor frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GicdReg {
    Ctlr,
    Typer,
    Iidr,
    Typer2,
    Bank(BankReg),
    /// GICD_IROUTER<intid>, whole or one 32-bit half.
    Router {
        intid: u32,
        high_half: bool,
    },
    /// Identification registers (PIDR2 says GICv3, the others read as zero).
    Id,
    /// STATUSR and the legacy SGI registers (SGIR, CPENDSGIR, SPENDSGIR): RAZ/WI under
    /// affinity routing.
    RazWi {
        bytes_allowed: bool,
    },
    Reserved,
}

impl GicdReg {
    fn classify(offset: u64) -> Self {
        match offset {
            0x0000 => Self::Ctlr,
            0x0004 => Self::Typer,
            0x0008 => Self::Iidr,
            0x000c => Self::Typer2,
            0x0010 | 0x0f00 => Self::RazWi { bytes_allowed: false },
            0x0f10..=0x0f2f => Self::RazWi { bytes_allowed: true },
            0xffd0..=0xffff => Self::Id,
            IROUTER_BASE..=IROUTER_END => {
                let intid = ((offset - IROUTER_BASE) / 8) as u32;
                if intid < PRIVATE_IRQS {
                    Self::Reserved
                } else {
                    Self::Router {
                        intid,
                        high_half: offset % 8 == 4,
                    }
                }
            }
            _ => BankReg::classify(offset).map_or(Self::Reserved, Self::Bank),
        }
    }

    fn width_ok(self, width: AccessWidth) -> bool {
        match self {
            Self::Bank(bank) => bank.width_ok(width),
            Self::Router { high_half, .. } => {
                width == AccessWidth::Word || (width == AccessWidth::Double && !high_half)
            }
            Self::RazWi { bytes_allowed: true } => matches!(width, AccessWidth::Byte | AccessWidth::Word),
            Self::Reserved => true,
            _ => width == AccessWidth::Word,
        }
    }
}

impl Vgic {
    pub(super) fn gicd_read(&mut self, offset: u64, width: AccessWidth) -> Result<u64, MmioError> {
        let reg = self.gicd_decode(offset, width)?;
        Ok(match reg {
            GicdReg::Ctlr => self.gicd_ctlr(),
            GicdReg::Typer => self.gicd_typer(),
            GicdReg::Iidr => IIDR,
            GicdReg::Typer2 | GicdReg::RazWi { .. } => 0,
            GicdReg::Bank(bank) => self.bank_read(0, bank, width, self.spi_intids()),
            GicdReg::Router { intid, high_half } => {
                let router = self.irq(0, intid).map_or(0, |irq| irq.router);
                if high_half {
                    router >> 32
                } else {
                    router
                }
            }
            GicdReg::Id => {
                if offset == PIDR2 {
                    PIDR2_GICV3
                } else {
                    0
                }
            }
            GicdReg::Reserved => {
                self.bad_accesses += 1;
                0
            }
        })
    }

    pub(super) fn gicd_write(&mut self, offset: u64, width: AccessWidth, value: u64) -> Result<(), MmioError> {
        match self.gicd_decode(offset, width)? {
            GicdReg::Ctlr => self.with_kicks_for_all(|vgic| {
                vgic.group0_enabled = value & CTLR_ENABLE_GRP0 != 0;
                vgic.group1_enabled = value & CTLR_ENABLE_GRP1 != 0;
            }),
            GicdReg::Bank(bank) => self.bank_write(0, bank, width, value, self.spi_intids()),
            GicdReg::Router { intid, high_half } => self.write_router(intid, high_half, width, value),
            GicdReg::Reserved => self.bad_accesses += 1,
            // Read-only or RAZ/WI registers ignore writes.
            GicdReg::Typer | GicdReg::Iidr | GicdReg::Typer2 | GicdReg::Id | GicdReg::RazWi { .. } => {}
        }
        Ok(())
    }

    fn gicd_decode(&self, offset: u64, width: AccessWidth) -> Result<GicdReg, MmioError> {
        if offset >= GICD_SIZE {
            return Err(MmioError::Unmapped);
        }
        let reg = GicdReg::classify(offset);
        if !aligned(offset, width) || !reg.width_ok(width) {
            return Err(MmioError::BadRegister);
        }
        Ok(reg)
    }

    /// The INTIDs the distributor's banks serve: the SPIs (private ones are RAZ/WI here).
    fn spi_intids(&self) -> core::ops::Range<u32> {
        PRIVATE_IRQS..PRIVATE_IRQS + self.spi_count()
    }

    fn gicd_ctlr(&self) -> u64 {
        let mut value = CTLR_ARE | CTLR_DS;
        if self.group0_enabled {
            value |= CTLR_ENABLE_GRP0;
        }
        if self.group1_enabled {
            value |= CTLR_ENABLE_GRP1;
        }
        value
    }

    /// ITLinesNumber, CPUNumber, IDbits = 9 (10-bit INTIDs), A3V; no LPIs, MBIS or
    /// security extension.
    fn gicd_typer(&self) -> u64 {
        let it_lines = u64::from((PRIVATE_IRQS + self.spi_count()).div_ceil(32) - 1);
        let cpu_number = (self.vcpus.len().clamp(1, 8) - 1) as u64;
        it_lines | cpu_number << 5 | TYPER_IDBITS | TYPER_A3V
    }

    /// GICD_IROUTER: keeps Aff3..Aff0 and IRM, the rest is RES0.
    fn write_router(&mut self, intid: u32, high_half: bool, width: AccessWidth, value: u64) {
        let Some(old) = self.irq(0, intid).map(|irq| irq.router) else {
            return;
        };
        let new = match (width, high_half) {
            (AccessWidth::Double, _) => value,
            (_, false) => old & !0xffff_ffff | value,
            (_, true) => old & 0xffff_ffff | value << 32,
        } & (AFFINITY_MASK | IROUTER_IRM);
        let target = self.target_of(new);
        self.with_irq(0, intid, |irq| {
            irq.router = new;
            irq.target = target;
        });
    }
}
