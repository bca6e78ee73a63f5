//! Register banks the distributor and the SGI frame share: one bit, two bits or a byte per INTID.

use core::ops::Range;

use super::irq::{Irq, PRIORITY_MASK};
use super::Vgic;
use crate::bus::AccessWidth;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BitKind {
    Group,
    SetEnable,
    ClearEnable,
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
}

/// A register of the shared bank layout (offsets 0x080..0xeff of either frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BankReg {
    /// One bit per INTID, 32 INTIDs from `first`.
    Bits { kind: BitKind, first: u32 },
    /// IPRIORITYR: one byte per INTID, from `first`.
    Priority { first: u32 },
    /// ITARGETSR: RAZ/WI under affinity routing.
    Targets,
    /// ICFGR: two bits per INTID, 16 INTIDs from `first`.
    Config { first: u32 },
    /// IGRPMODR and NSACR: RAZ/WI with a single security state.
    SecurityOnly,
}

impl BankReg {
    /// The bank register at `offset`, if the offset is in the bank layout.
    pub fn classify(offset: u64) -> Option<Self> {
        let index = |base: u64, per_word: u64| ((offset - base) / 4 * per_word) as u32;
        let reg = match offset {
            0x080..=0x3ff => {
                let kind = match offset >> 7 {
                    1 => BitKind::Group,
                    2 => BitKind::SetEnable,
                    3 => BitKind::ClearEnable,
                    4 => BitKind::SetPending,
                    5 => BitKind::ClearPending,
                    6 => BitKind::SetActive,
                    _ => BitKind::ClearActive,
                };
                Self::Bits {
                    kind,
                    first: index(offset & !0x7f, 32),
                }
            }
            0x400..=0x7ff => Self::Priority {
                first: (offset - 0x400) as u32,
            },
            0x800..=0xbff => Self::Targets,
            0xc00..=0xcff => Self::Config {
                first: index(0xc00, 16),
            },
            0xd00..=0xd7f | 0xe00..=0xeff => Self::SecurityOnly,
            _ => return None,
        };
        Some(reg)
    }

    /// Byte-per-INTID registers take byte and word accesses; the others words only.
    pub fn width_ok(self, width: AccessWidth) -> bool {
        match self {
            Self::Priority { .. } | Self::Targets => matches!(width, AccessWidth::Byte | AccessWidth::Word),
            _ => width == AccessWidth::Word,
        }
    }
}

impl Vgic {
    /// Reads a bank register; INTIDs outside `served` (or not implemented) read as zero.
    pub(super) fn bank_read(&self, owner: usize, reg: BankReg, width: AccessWidth, served: Range<u32>) -> u64 {
        let field = |intid: u32, read: &dyn Fn(&Irq) -> u64| {
            if served.contains(&intid) {
                self.irq(owner, intid).map_or(0, read)
            } else {
                0
            }
        };
        match reg {
            BankReg::Bits { kind, first } => (0..32).fold(0, |acc, bit| {
                acc | field(first + bit, &|irq| u64::from(bit_value(kind, irq))) << bit
            }),
            BankReg::Priority { first } => (0..width.bytes() as u32).fold(0, |acc, lane| {
                acc | field(first + lane, &|irq| u64::from(irq.priority)) << (8 * lane)
            }),
            BankReg::Config { first } => (0..16).fold(0, |acc, index| {
                acc | field(first + index, &|irq| if irq.edge { 0b10 } else { 0 }) << (2 * index)
            }),
            BankReg::Targets | BankReg::SecurityOnly => 0,
        }
    }

    /// Writes a bank register; INTIDs outside `served` (or not implemented) ignore it.
    pub(super) fn bank_write(
        &mut self,
        owner: usize,
        reg: BankReg,
        width: AccessWidth,
        value: u64,
        served: Range<u32>,
    ) {
        match reg {
            BankReg::Bits { kind, first } => {
                for bit in 0..32 {
                    let set = value & (1 << bit) != 0;
                    let intid = first + bit;
                    if served.contains(&intid) && (set || kind == BitKind::Group) {
                        self.with_irq(owner, intid, |irq| apply_bit(kind, set, irq));
                    }
                }
            }
            BankReg::Priority { first } => {
                for lane in 0..width.bytes() as u32 {
                    let intid = first + lane;
                    let priority = (value >> (8 * lane)) as u8 & PRIORITY_MASK;
                    if served.contains(&intid) {
                        if let Some(irq) = self.irq_mut(owner, intid) {
                            irq.priority = priority;
                        }
                    }
                }
            }
            BankReg::Config { first } => {
                for index in 0..16 {
                    let intid = first + index;
                    // SGIs are always edge-triggered and PPIs level-sensitive (the virtual
                    // timer relies on it); only SPIs are configurable.
                    if intid >= super::PRIVATE_IRQS && served.contains(&intid) {
                        let edge = value & (0b10 << (2 * index)) != 0;
                        self.with_irq(owner, intid, |irq| irq.edge = edge);
                    }
                }
            }
            BankReg::Targets | BankReg::SecurityOnly => {}
        }
    }
}

fn bit_value(kind: BitKind, irq: &Irq) -> bool {
    match kind {
        BitKind::Group => irq.group1,
        BitKind::SetEnable | BitKind::ClearEnable => irq.enabled,
        BitKind::SetPending | BitKind::ClearPending => irq.pending(),
        BitKind::SetActive | BitKind::ClearActive => irq.active,
    }
}

/// One bit of a write: `set` is the bit's value (only Group acts on zero bits).
fn apply_bit(kind: BitKind, set: bool, irq: &mut Irq) {
    match kind {
        BitKind::Group => irq.group1 = set,
        BitKind::SetEnable => irq.enabled = true,
        BitKind::ClearEnable => irq.enabled = false,
        BitKind::SetPending => irq.latch = true,
        BitKind::ClearPending => irq.clear_pending(),
        BitKind::SetActive => irq.set_active(true),
        BitKind::ClearActive => irq.set_active(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_shared_layout() {
        assert_eq!(
            BankReg::classify(0x084),
            Some(BankReg::Bits {
                kind: BitKind::Group,
                first: 32
            })
        );
        assert_eq!(
            BankReg::classify(0x100),
            Some(BankReg::Bits {
                kind: BitKind::SetEnable,
                first: 0
            })
        );
        assert_eq!(
            BankReg::classify(0x3fc),
            Some(BankReg::Bits {
                kind: BitKind::ClearActive,
                first: 992
            })
        );
        assert_eq!(BankReg::classify(0x421), Some(BankReg::Priority { first: 33 }));
        assert_eq!(BankReg::classify(0xc08), Some(BankReg::Config { first: 32 }));
        assert_eq!(BankReg::classify(0xd00), Some(BankReg::SecurityOnly));
        assert_eq!(BankReg::classify(0x07c), None);
        assert_eq!(BankReg::classify(0xf00), None);
        assert!(BankReg::Priority { first: 0 }.width_ok(AccessWidth::Byte));
        assert!(!BankReg::Priority { first: 0 }.width_ok(AccessWidth::Half));
        assert!(!BankReg::Config { first: 0 }.width_ok(AccessWidth::Double));
    }
}
