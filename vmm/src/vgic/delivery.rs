//! Delivery: what a vCPU may take now, and moving interrupts into and out of its list registers.

use super::irq::{Held, Irq, Target};
use super::list_register::{is_active, is_pending, vintid, LrContent, MAX_LIST_REGISTERS};
use super::{Vgic, PRIVATE_IRQS};

impl Vgic {
    /// Before entering `vcpu`: put the highest-priority deliverable interrupts (pending,
    /// enabled, their group enabled in GICD_CTLR, the redistributor awake, routed to this
    /// vCPU) into list registers.
    ///
    /// `lrs` are the values the hardware had at the last exit (or that the last flush
    /// wrote, if the vCPU did not run since); they are folded back first, so a missed
    /// [`Vgic::sync_list_registers`] loses nothing. List registers still in flight keep
    /// their slots; a pending-only one is evicted for a higher-priority interrupt when all
    /// are in use. Every slot is rewritten (0 = empty).
    ///
    /// Returns true when a deliverable interrupt did not fit: enter with
    /// ICH_HCR_EL2.UIE set ([`super::ich_hcr`]) so the underflow maintenance interrupt
    /// brings the vCPU back out to flush it.
    pub fn flush_list_registers(&mut self, vcpu: usize, lrs: &mut [u64]) -> bool {
        if vcpu >= self.vcpus.len() {
            return false;
        }
        self.fold_list_registers(vcpu, lrs);
        let count = lrs.len().min(MAX_LIST_REGISTERS);
        let state = &self.vcpus[vcpu];
        if !state.rescan && state.slots.iter().all(Option::is_none) {
            // Nothing in flight and nothing changed since a flush found nothing to add.
            lrs.fill(0);
            return false;
        }
        for (slot, lr) in lrs.iter_mut().enumerate() {
            *lr = match self.vcpus[vcpu].slots.get(slot).copied().flatten() {
                Some(intid) => self.refresh_slot(vcpu, slot, intid),
                None => 0,
            };
        }
        let mut best = Best::new(count);
        for intid in 0..PRIVATE_IRQS + self.spi_count() {
            if let Some(irq) = self.irq(vcpu, intid) {
                if irq.held.is_none() && irq.fresh_pending() && self.can_deliver(vcpu, intid, irq) {
                    best.offer(irq.priority, intid);
                }
            }
        }
        let mut leftover = best.overflowed;
        for &(priority, intid) in best.entries() {
            let free = self.vcpus[vcpu].slots[..count].iter().position(Option::is_none);
            let Some(slot) = free.or_else(|| self.evict_for(vcpu, count, priority)) else {
                leftover = true;
                break;
            };
            leftover |= free.is_none();
            lrs[slot] = self.inject(vcpu, slot, intid);
        }
        self.overflows += u64::from(leftover);
        self.vcpus[vcpu].rescan = leftover;
        leftover
    }

    /// After an exit from `vcpu`: take back the state of each list register the model
    /// wrote. Invalid means the guest deactivated it (the interrupt leaves the list
    /// register; a level-sensitive one whose line is still high is pending again); pending
    /// or active means still in flight. Slots the model does not use are zeroed.
    pub fn sync_list_registers(&mut self, vcpu: usize, lrs: &mut [u64]) {
        if vcpu < self.vcpus.len() {
            self.fold_list_registers(vcpu, lrs);
        }
    }

    /// True when the vCPU has something deliverable (so a WFI must not block, or must be
    /// woken): fresh pending state routed to it, or a pending list register.
    pub fn has_deliverable(&self, vcpu: usize) -> bool {
        let Some(state) = self.vcpus.get(vcpu) else {
            return false;
        };
        let wants = |intid: u32, irq: &Irq| {
            let mine = irq.held.is_none_or(|held| held.vcpu == vcpu);
            mine && (irq.lr_pending_stands() || irq.fresh_pending()) && self.can_deliver(vcpu, intid, irq)
        };
        (0..PRIVATE_IRQS).any(|intid| wants(intid, &state.private[intid as usize]))
            || (PRIVATE_IRQS..).zip(&self.spis).any(|(intid, irq)| wants(intid, irq))
    }

    /// Bitmask of the vCPUs for which [`Vgic::has_deliverable`] holds.
    pub(super) fn deliverable_mask(&self) -> u64 {
        (0..self.vcpus.len())
            .filter(|&v| self.has_deliverable(v))
            .fold(0, |mask, v| mask | 1 << v)
    }

    /// The vCPU whose next flush would deliver `intid`'s fresh pending state.
    pub(super) fn fresh_target(&self, owner: usize, intid: u32) -> Option<usize> {
        let irq = self.irq(owner, intid).filter(|irq| irq.fresh_pending())?;
        let vcpu = match irq.held {
            Some(held) => held.vcpu,
            None => self.route(owner, intid, irq)?,
        };
        self.can_deliver(vcpu, intid, irq).then_some(vcpu)
    }

    /// Whether `irq` may be signalled to `vcpu` now, whatever its pending state.
    fn can_deliver(&self, vcpu: usize, intid: u32, irq: &Irq) -> bool {
        let group_enabled = if irq.group1 {
            self.group1_enabled
        } else {
            self.group0_enabled
        };
        irq.enabled
            && group_enabled
            && self.vcpus.get(vcpu).is_some_and(|v| !v.asleep)
            && self.route(vcpu, intid, irq) == Some(vcpu)
    }

    /// The vCPU an interrupt goes to: its owner for private ones, its router for SPIs.
    fn route(&self, owner: usize, intid: u32, irq: &Irq) -> Option<usize> {
        if intid < PRIVATE_IRQS {
            return Some(owner);
        }
        match irq.target {
            Target::Vcpu(vcpu) => Some(vcpu),
            Target::AnyParticipating => self.vcpus.iter().position(|v| !v.asleep),
            Target::Nobody => None,
        }
    }

    /// Takes back the guest's progress from the list registers into the model.
    fn fold_list_registers(&mut self, vcpu: usize, lrs: &mut [u64]) {
        for slot in 0..MAX_LIST_REGISTERS {
            let Some(intid) = self.vcpus[vcpu].slots[slot] else {
                if let Some(lr) = lrs.get_mut(slot) {
                    *lr = 0;
                }
                continue;
            };
            // An interrupt in flight may have moved on (EOI, deactivation): look again.
            self.rescan_all();
            let value = lrs.get(slot).copied();
            let Some(irq) = self.irq_mut(vcpu, intid) else { continue };
            match value {
                // The kernel passed fewer list registers than before: this one is gone.
                None => {
                    irq.unload_pending();
                    irq.active = false;
                }
                Some(value) if vintid(value) == intid => irq.fold(is_pending(value), is_active(value)),
                // Not what the model wrote: keep the model's view, the flush rewrites it.
                Some(_) => {}
            }
            if !irq.in_flight() {
                self.release(vcpu, slot, intid);
                if let Some(lr) = lrs.get_mut(slot) {
                    *lr = 0;
                }
            }
        }
    }

    /// Brings a held list register up to date with the model; returns its new value.
    fn refresh_slot(&mut self, vcpu: usize, slot: usize, intid: u32) -> u64 {
        let can_deliver = self
            .irq(vcpu, intid)
            .is_some_and(|irq| self.can_deliver(vcpu, intid, irq));
        let Some(irq) = self.irq_mut(vcpu, intid) else { return 0 };
        if can_deliver && irq.latch {
            irq.latch = false;
            irq.lr_pending = true;
            irq.lr_latched = true;
        }
        if irq.lr_pending && (!can_deliver || !irq.lr_pending_stands()) {
            irq.unload_pending();
        }
        irq.active_written = false;
        if !irq.in_flight() {
            self.release(vcpu, slot, intid);
            return 0;
        }
        lr_value(intid, irq)
    }

    /// Puts an unheld interrupt into an empty slot; returns the list register value.
    fn inject(&mut self, vcpu: usize, slot: usize, intid: u32) -> u64 {
        let Some(irq) = self.irq_mut(vcpu, intid) else { return 0 };
        irq.held = Some(Held { vcpu, slot });
        irq.lr_pending = true;
        irq.lr_latched = irq.latch;
        irq.latch = false;
        irq.active_written = false;
        let value = lr_value(intid, irq);
        let state = &mut self.vcpus[vcpu];
        state.slots[slot] = Some(intid);
        state.injected += 1;
        if let Some(count) = state.injected_by_intid.get_mut(intid as usize) {
            *count += 1;
        }
        value
    }

    /// Frees the lowest-priority pending-only list register that is worse than
    /// `priority`, giving its pending state back to the model; returns its slot.
    fn evict_for(&mut self, vcpu: usize, count: usize, priority: u8) -> Option<usize> {
        let (slot, intid) = (0..count)
            .filter_map(|slot| Some((slot, self.vcpus[vcpu].slots[slot]?)))
            .filter_map(|(slot, intid)| Some((slot, intid, self.irq(vcpu, intid)?)))
            .filter(|(_, _, irq)| irq.lr_pending && !irq.active && irq.priority > priority)
            .max_by_key(|(_, intid, irq)| (irq.priority, *intid))
            .map(|(slot, intid, _)| (slot, intid))?;
        if let Some(irq) = self.irq_mut(vcpu, intid) {
            irq.unload_pending();
        }
        self.release(vcpu, slot, intid);
        Some(slot)
    }

    /// Unlinks an interrupt from its list register; kicks another vCPU it may now go to.
    fn release(&mut self, vcpu: usize, slot: usize, intid: u32) {
        self.vcpus[vcpu].slots[slot] = None;
        if let Some(irq) = self.irq_mut(vcpu, intid) {
            irq.held = None;
            irq.lr_pending = false;
            irq.lr_latched = false;
            irq.active_written = false;
        }
        if let Some(other) = self.fresh_target(vcpu, intid).filter(|&other| other != vcpu) {
            self.kicks |= 1 << other;
        }
    }
}

fn lr_value(intid: u32, irq: &Irq) -> u64 {
    LrContent {
        intid,
        priority: irq.priority,
        group1: irq.group1,
        pending: irq.lr_pending,
        active: irq.active,
        eoi_maintenance: !irq.edge,
    }
    .encode()
}

/// The best `capacity` candidates by (priority, INTID), and whether any fell off.
struct Best {
    entries: [(u8, u32); MAX_LIST_REGISTERS],
    len: usize,
    capacity: usize,
    overflowed: bool,
}

impl Best {
    fn new(capacity: usize) -> Self {
        Self {
            entries: [(0, 0); MAX_LIST_REGISTERS],
            len: 0,
            capacity: capacity.min(MAX_LIST_REGISTERS),
            overflowed: false,
        }
    }

    fn offer(&mut self, priority: u8, intid: u32) {
        let candidate = (priority, intid);
        let at = self.entries[..self.len].partition_point(|&entry| entry < candidate);
        if self.len == self.capacity {
            self.overflowed = true;
            if at == self.len {
                return;
            }
            self.len -= 1;
        }
        self.entries.copy_within(at..self.len, at + 1);
        self.entries[at] = candidate;
        self.len += 1;
    }

    fn entries(&self) -> &[(u8, u32)] {
        &self.entries[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::Best;

    #[test]
    fn best_keeps_the_highest_priorities_in_order() {
        let mut best = Best::new(3);
        for (priority, intid) in [(0xa0, 40), (0x80, 41), (0xa0, 33), (0xf0, 34), (0x10, 50)] {
            best.offer(priority, intid);
        }
        assert_eq!(best.entries(), &[(0x10, 50), (0x80, 41), (0xa0, 33)]);
        assert!(best.overflowed);
        let mut none = Best::new(0);
        none.offer(0, 32);
        assert!(none.entries().is_empty() && none.overflowed);
    }
}
