//! Trapped ICC_SGI1R_EL1 writes: which vCPUs an SGI goes to.

use super::Vgic;

const TARGET_LIST_MASK: u64 = 0xffff;
const INTID_SHIFT: u32 = 24;
const AFF1_SHIFT: u32 = 16;
const AFF2_SHIFT: u32 = 32;
const IRM: u64 = 1 << 40;
const RS_SHIFT: u32 = 44;
const AFF3_SHIFT: u32 = 48;

/// A decoded ICC_SGI1R_EL1 value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SgiRequest {
    intid: u32,
    targets: SgiTargets,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SgiTargets {
    /// IRM = 1: every PE but the sender.
    AllButSender,
    /// The PEs Aff3.Aff2.Aff1.<RS * 16 + n> for each bit n of `list`; `cluster` holds
    /// Aff3..Aff1 in MPIDR layout.
    List { cluster: u64, range: u64, list: u16 },
}

impl SgiRequest {
    fn decode(value: u64) -> Self {
        let intid = (value >> INTID_SHIFT & 0xf) as u32;
        if value & IRM != 0 {
            return Self {
                intid,
                targets: SgiTargets::AllButSender,
            };
        }
        let field = |shift: u32| value >> shift & 0xff;
        let cluster = field(AFF3_SHIFT) << 32 | field(AFF2_SHIFT) << 16 | field(AFF1_SHIFT) << 8;
        let targets = SgiTargets::List {
            cluster,
            range: value >> RS_SHIFT & 0xf,
            list: (value & TARGET_LIST_MASK) as u16,
        };
        Self { intid, targets }
    }

    /// Whether the PE with this affinity (MPIDR layout) is a target.
    fn targets(&self, affinity: u64, is_sender: bool) -> bool {
        match self.targets {
            SgiTargets::AllButSender => !is_sender,
            SgiTargets::List { cluster, range, list } => {
                let aff0 = affinity & 0xff;
                affinity & !0xff == cluster && aff0 >> 4 == range && list & (1 << (aff0 & 0xf)) != 0
            }
        }
    }
}

impl Vgic {
    /// A guest write to ICC_SGI1R_EL1 (trapped to EL2): make the SGI pending on its
    /// targets (TargetList + Aff3.Aff2.Aff1 + RS, or IRM = all but the sender). Affinities
    /// that name no vCPU are ignored, as is an unknown sender.
    pub fn write_sgi1r(&mut self, sender: usize, value: u64) {
        if sender >= self.vcpus.len() {
            return;
        }
        let request = SgiRequest::decode(value);
        for vcpu in 0..self.vcpus.len() {
            if request.targets(self.vcpus[vcpu].affinity, vcpu == sender) {
                self.sgis += 1;
                self.with_irq(vcpu, request.intid, |irq| irq.latch = true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_target_lists_and_irm() {
        let value = 5 << INTID_SHIFT | 2 << AFF1_SHIFT | 1 << RS_SHIFT | 0b1010;
        let request = SgiRequest::decode(value);
        assert_eq!(request.intid, 5);
        assert!(request.targets(0x0211, false), "Aff1 2, Aff0 16 + 1");
        assert!(request.targets(0x0213, true), "a list may name the sender");
        assert!(!request.targets(0x0212, false));
        assert!(!request.targets(0x0011, false), "other cluster");
        assert!(!request.targets(0x0201, false), "other range");
        let all = SgiRequest::decode(IRM | 3 << INTID_SHIFT | 0xffff);
        assert_eq!(
            all,
            SgiRequest {
                intid: 3,
                targets: SgiTargets::AllButSender
            }
        );
        assert!(all.targets(7, false) && !all.targets(7, true));
        let aff3 = SgiRequest::decode(1 << AFF3_SHIFT | 4 << AFF2_SHIFT | 1);
        assert!(aff3.targets(1 << 32 | 4 << 16, false));
    }
}
