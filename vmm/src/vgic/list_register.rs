//! The `ICH_LR<n>_EL2` and ICH_HCR_EL2 bit layouts the model reads and writes.

/// The most list registers a GICv3 CPU interface can have (ICH_VTR_EL2.ListRegs + 1 ≤ 16).
pub const MAX_LIST_REGISTERS: usize = 16;

/// ICH_HCR_EL2.En: the virtual CPU interface is enabled.
pub const ICH_HCR_EN: u64 = 1 << 0;
/// ICH_HCR_EL2.UIE: maintenance interrupt while at most one list register holds a valid
/// interrupt (underflow), so leftover interrupts get their turn.
pub const ICH_HCR_UIE: u64 = 1 << 1;

/// The ICH_HCR_EL2 value to enter a vCPU with, given what `flush_list_registers` returned.
pub fn ich_hcr(leftover: bool) -> u64 {
    if leftover {
        ICH_HCR_EN | ICH_HCR_UIE
    } else {
        ICH_HCR_EN
    }
}

const VINTID_MASK: u64 = 0xffff_ffff;
/// EOI (HW = 0 only): a maintenance interrupt when the guest deactivates this interrupt.
const EOI_MAINTENANCE: u64 = 1 << 41;
const PRIORITY_SHIFT: u32 = 48;
const GROUP1: u64 = 1 << 60;
const PENDING: u64 = 1 << 62;
const ACTIVE: u64 = 1 << 63;

/// What the model puts into one list register (always HW = 0: a purely virtual interrupt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LrContent {
    pub intid: u32,
    pub priority: u8,
    pub group1: bool,
    pub pending: bool,
    pub active: bool,
    /// Ask for a maintenance interrupt on deactivation (level-sensitive interrupts, so the
    /// line is sampled again).
    pub eoi_maintenance: bool,
}

impl LrContent {
    pub fn encode(self) -> u64 {
        let mut value = u64::from(self.intid) | (u64::from(self.priority) << PRIORITY_SHIFT);
        if self.group1 {
            value |= GROUP1;
        }
        if self.pending {
            value |= PENDING;
        }
        if self.active {
            value |= ACTIVE;
        }
        if self.eoi_maintenance {
            value |= EOI_MAINTENANCE;
        }
        value
    }
}

/// The virtual INTID a list register holds.
pub(super) fn vintid(value: u64) -> u32 {
    (value & VINTID_MASK) as u32
}

pub(super) fn is_pending(value: u64) -> bool {
    value & PENDING != 0
}

pub(super) fn is_active(value: u64) -> bool {
    value & ACTIVE != 0
}

/// Whether the guest can change this list register while it runs (it holds a pending or
/// active interrupt): only such registers need reading back at an exit. An invalid one
/// stays as it was written.
pub fn lr_in_flight(value: u64) -> bool {
    value & (PENDING | ACTIVE) != 0
}

/// Whether the virtual CPU interface must be disabled (ICH_HCR_EL2 = 0) while the host runs,
/// given the ICH_HCR_EL2 and list register values in the hardware: otherwise it could raise
/// maintenance interrupts at the host (an underflow request, or a finished interrupt whose
/// EOI bit asks for one). Leaving it enabled when it cannot saves writes on every exit.
pub fn must_disable_for_host(hcr: u64, lrs: &[u64]) -> bool {
    hcr & !ICH_HCR_EN != 0 || lrs.iter().any(|&lr| lr & EOI_MAINTENANCE != 0 && !lr_in_flight(lr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_keeps_an_interface_that_cannot_interrupt_it() {
        let pending_level = PENDING | EOI_MAINTENANCE | 40;
        assert!(!must_disable_for_host(ICH_HCR_EN, &[0, 0, 0, 0]));
        assert!(!must_disable_for_host(ICH_HCR_EN, &[pending_level, 0]), "still pending: no EOI yet");
        assert!(must_disable_for_host(ICH_HCR_EN, &[EOI_MAINTENANCE | 40]), "finished, EOI maintenance asserted");
        assert!(must_disable_for_host(ICH_HCR_EN | ICH_HCR_UIE, &[0]));
        assert!(!must_disable_for_host(ICH_HCR_EN, &[GROUP1 | 27]), "an edge interrupt that finished");
        assert!(lr_in_flight(pending_level) && lr_in_flight(ACTIVE) && !lr_in_flight(EOI_MAINTENANCE | 40));
    }

    #[test]
    fn encodes_the_architectural_fields() {
        let lr = LrContent {
            intid: 33,
            priority: 0xa0,
            group1: true,
            pending: true,
            active: false,
            eoi_maintenance: true,
        };
        assert_eq!(lr.encode(), 0x5000_0000_0000_0000 | (0xa0 << 48) | (1 << 41) | 33);
        let both = LrContent {
            pending: true,
            active: true,
            eoi_maintenance: false,
            ..lr
        }
        .encode();
        assert_eq!(both >> 62, 0b11);
        assert!(is_pending(both) && is_active(both));
        assert_eq!(vintid(both), 33);
        assert_eq!(both & (1 << 61), 0, "HW stays clear");
        assert_eq!(ich_hcr(false), 1);
        assert_eq!(ich_hcr(true), 3);
    }
}
