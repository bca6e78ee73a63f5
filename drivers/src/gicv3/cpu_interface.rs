//! The GICv3 CPU interface of the running CPU, through ICC_* system registers (aarch64 only).
//!
//! Every function acts on the CPU that calls it. Call [`init`] once per CPU at EL2, after
//! that CPU's [`super::Redistributor::wake`].

use core::arch::asm;

use aarch64_cpu::registers::{ReadWriteable, ICC_SRE_EL2};

use super::encoding::{decode_iar, sgi1r_value, SgiTarget};
use super::GicError;
use crate::sysreg;

/// ICC_SRE_EL1.SRE: the system-register interface at EL1.
const ICC_SRE_EL1_SRE: u64 = 1 << 0;
/// ICC_CTLR_EL1.EOImode: 1 = EOI only drops priority and ICC_DIR deactivates.
const ICC_CTLR_EL1_EOIMODE: u64 = 1 << 1;
/// ICC_IGRPEN1_EL1.Enable.
const ICC_IGRPEN1_EL1_ENABLE: u64 = 1 << 0;
/// Priority mask that lets every priority through.
const PRIORITY_MASK_ALLOW_ALL: u64 = 0xff;

/// Enables this CPU's system-register interface for EL2 (ICC_SRE_EL2.SRE) and for EL1
/// (ICC_SRE_EL2.Enable lets EL1 use ICC_SRE_EL1; ICC_SRE_EL1.SRE), unmasks all priorities,
/// uses no priority grouping (BPR1 = 0), EOImode 0, and enables Group 1 interrupts.
/// PSTATE.I still decides whether the CPU takes them.
pub fn init() {
    ICC_SRE_EL2.modify(ICC_SRE_EL2::SRE::SET + ICC_SRE_EL2::ENABLE::SET);
    // SAFETY: `isb` only synchronizes the context (the GIC spec requires it after writing
    // ICC_SRE_EL2 before other ICC registers are accessed); it touches no memory.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
    sysreg::write_icc_sre_el1(sysreg::read_icc_sre_el1() | ICC_SRE_EL1_SRE);
    sysreg::write_icc_pmr_el1(PRIORITY_MASK_ALLOW_ALL);
    sysreg::write_icc_bpr1_el1(0);
    sysreg::write_icc_ctlr_el1(sysreg::read_icc_ctlr_el1() & !ICC_CTLR_EL1_EOIMODE);
    sysreg::write_icc_igrpen1_el1(ICC_IGRPEN1_EL1_ENABLE);
}

/// Acknowledges the highest-priority pending Group 1 interrupt: `Some(intid)`, or `None`
/// when nothing (or only a special INTID, 1020..=1023) is pending. An acknowledged
/// interrupt must be completed with [`end_of_interrupt`].
pub fn acknowledge() -> Option<u32> {
    decode_iar(sysreg::read_icc_iar1_el1())
}

/// Signals the end of interrupt `intid` (priority drop and, with EOImode 0, deactivation).
pub fn end_of_interrupt(intid: u32) {
    sysreg::write_icc_eoir1_el1(u64::from(intid));
}

/// Sends SGI `intid` (0..16) to `target`. Memory writes made before the call are visible
/// to the target CPU when it takes the SGI.
pub fn send_sgi(intid: u32, target: SgiTarget) -> Result<(), GicError> {
    let value = sgi1r_value(intid, target)?;
    // SAFETY: `dsb ishst` only orders this CPU's earlier stores before the SGI write; it
    // touches no memory itself.
    unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) };
    sysreg::write_icc_sgi1r_el1(value);
    Ok(())
}
