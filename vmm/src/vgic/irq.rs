//! One interrupt's state: configuration, input line, pending/active, and its list register.

/// The priority bits the virtual CPU interface implements (5, as QEMU's): the low three
/// bits of every priority field read as zero.
pub(super) const PRIORITY_MASK: u8 = 0xf8;

/// Where a shared interrupt goes, from its GICD_IROUTER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    Vcpu(usize),
    /// IRM = 1: any participating vCPU (the model picks the first awake one).
    AnyParticipating,
    /// An affinity that names no vCPU: the interrupt stays pending.
    Nobody,
}

/// The list register that holds an interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Held {
    pub vcpu: usize,
    pub slot: usize,
}

/// The state of one interrupt.
///
/// Pending state lives in one of two places: `latch` (software-set or edge pending that
/// no list register has yet) or, while `held`, `lr_pending` (what the list register had
/// at the last flush or sync). A level-sensitive interrupt is also pending while `level`
/// is high and no list register holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Irq {
    pub enabled: bool,
    pub group1: bool,
    pub edge: bool,
    pub priority: u8,
    /// The input line (level-sensitive interrupts; edge ones latch on a rising edge).
    pub level: bool,
    pub latch: bool,
    /// Active state (the list register's, as of the last flush or sync, while held).
    pub active: bool,
    pub held: Option<Held>,
    pub lr_pending: bool,
    /// The held pending state came (in part) from `latch`, which eviction gives back.
    pub lr_latched: bool,
    /// The guest changed `active` through MMIO since the last flush: sync keeps it.
    pub active_written: bool,
    /// The raw GICD_IROUTER value (SPIs only).
    pub router: u64,
    pub target: Target,
}

impl Irq {
    /// An interrupt at reset: group 1, priority 0, disabled, level-sensitive.
    pub fn new(edge: bool, target: Target) -> Self {
        Self {
            enabled: false,
            group1: true,
            edge,
            priority: 0,
            level: false,
            latch: false,
            active: false,
            held: None,
            lr_pending: false,
            lr_latched: false,
            active_written: false,
            router: 0,
            target,
        }
    }

    /// Pending as the guest reads it through ISPENDR.
    pub fn pending(&self) -> bool {
        self.latch || self.lr_pending || (!self.edge && self.level)
    }

    /// Pending state that no list register has yet. A held level-sensitive interrupt does
    /// not count its line: it is sampled again when the guest deactivates it.
    pub fn fresh_pending(&self) -> bool {
        self.latch || (!self.edge && self.level && self.held.is_none())
    }

    /// Held pending state that still stands: a level-sensitive interrupt whose line
    /// dropped (and that software did not make pending) is no longer pending.
    pub fn lr_pending_stands(&self) -> bool {
        self.lr_pending && (self.edge || self.level || self.lr_latched)
    }

    /// Drives the input line; a rising edge latches an edge-triggered interrupt.
    pub fn drive(&mut self, high: bool) {
        if self.edge && high && !self.level {
            self.latch = true;
        }
        self.level = high;
    }

    /// ICPENDR: clears software and edge pending state; a high level line stays pending.
    pub fn clear_pending(&mut self) {
        self.latch = false;
        self.lr_pending = self.lr_pending && !self.edge && self.level;
        self.lr_latched = false;
    }

    /// ISACTIVER / ICACTIVER.
    pub fn set_active(&mut self, active: bool) {
        self.active = active;
        if self.held.is_some() {
            self.active_written = true;
        }
    }

    /// Takes back the pending state of the list register that held this interrupt (it is
    /// leaving the list register without having been acknowledged).
    pub fn unload_pending(&mut self) {
        if self.lr_pending && self.lr_latched {
            self.latch = true;
        }
        self.lr_pending = false;
        self.lr_latched = false;
    }

    /// Folds back what a list register says after the guest ran: the guest can only
    /// acknowledge (pending → active) and deactivate, so the LR cannot add pending state;
    /// an ICPENDR or I[SC]ACTIVER write since the last flush wins over it.
    pub fn fold(&mut self, lr_pending: bool, lr_active: bool) {
        if !self.active_written {
            self.active = lr_active;
        }
        self.lr_pending &= lr_pending;
        if !self.lr_pending {
            self.lr_latched = false;
        }
    }

    /// Whether a list register still has a reason to hold this interrupt.
    pub fn in_flight(&self) -> bool {
        self.lr_pending || self.active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_latches_on_rising_edges_only() {
        let mut irq = Irq::new(true, Target::Vcpu(0));
        irq.drive(true);
        assert!(irq.latch);
        irq.latch = false;
        irq.drive(true);
        assert!(!irq.latch, "no new edge while high");
        irq.drive(false);
        irq.drive(true);
        assert!(irq.latch);
    }

    #[test]
    fn level_pending_follows_the_line_until_held() {
        let mut irq = Irq::new(false, Target::Vcpu(0));
        irq.drive(true);
        assert!(irq.pending() && irq.fresh_pending());
        irq.held = Some(Held { vcpu: 0, slot: 0 });
        irq.lr_pending = true;
        assert!(!irq.fresh_pending());
        irq.clear_pending();
        assert!(irq.lr_pending, "ICPENDR leaves a high level pending");
        irq.drive(false);
        irq.clear_pending();
        assert!(!irq.pending());
    }

    #[test]
    fn fold_keeps_mmio_changes() {
        let mut irq = Irq::new(true, Target::Vcpu(0));
        irq.held = Some(Held { vcpu: 0, slot: 1 });
        irq.lr_pending = true;
        irq.lr_latched = true;
        irq.clear_pending();
        irq.fold(true, false);
        assert!(!irq.in_flight(), "ICPENDR before the guest acknowledged wins");
        irq.set_active(true);
        irq.fold(false, false);
        assert!(irq.active, "ISACTIVER since the flush wins");
    }
}
