//! Pure bit packing for GICv3 values: affinities, IROUTER, IAR decoding and ICC_SGI1R_EL1.

use tock_registers::register_bitfields;

use super::{GicError, SGI_COUNT, SPECIAL_INTIDS};

register_bitfields! {u64,
    /// ICC_SGI1R_EL1: generate a Group 1 SGI (GIC architecture spec 12.2.23).
    ICC_SGI1R [
        /// One bit per target CPU whose Aff0 is `RS * 16 + bit`.
        TARGET_LIST OFFSET(0) NUMBITS(16) [],
        AFF1 OFFSET(16) NUMBITS(8) [],
        INTID OFFSET(24) NUMBITS(4) [],
        AFF2 OFFSET(32) NUMBITS(8) [],
        /// Interrupt Routing Mode: 1 = every PE except the sender.
        IRM OFFSET(40) NUMBITS(1) [],
        /// Range Selector: which block of 16 Aff0 values TARGET_LIST covers.
        RS OFFSET(44) NUMBITS(4) [],
        AFF3 OFFSET(48) NUMBITS(8) [],
    ]
}

/// MPIDR_EL1 affinity fields: Aff0 `[7:0]`, Aff1 `[15:8]`, Aff2 `[23:16]`, Aff3 `[39:32]`.
const MPIDR_AFF0_2_MASK: u64 = 0x00ff_ffff;
const MPIDR_AFF3_SHIFT: u32 = 32;

fn mpidr_aff(mpidr: u64, level: u32) -> u64 {
    let shift = if level == 3 {
        MPIDR_AFF3_SHIFT
    } else {
        level * 8
    };
    (mpidr >> shift) & 0xff
}

/// Where an SGI goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgiTarget {
    /// The one CPU with this MPIDR (only the affinity fields are used).
    Cpu {
        /// MPIDR_EL1 value of the target CPU.
        mpidr: u64,
    },
    /// Every CPU except the one sending.
    AllOthers,
}

/// Packs an MPIDR's affinity as GICR_TYPER.Affinity_Value reports it:
/// `Aff3:Aff2:Aff1:Aff0`, one byte each, Aff3 in the top byte.
pub fn gicr_affinity(mpidr: u64) -> u32 {
    let packed = (mpidr_aff(mpidr, 3) << 24) | (mpidr & MPIDR_AFF0_2_MASK);
    // The four bytes fit 32 bits by construction.
    packed as u32
}

/// The `GICD_IROUTER<n>` value that routes an SPI to the CPU with this MPIDR (IRM = 0).
/// IROUTER keeps the MPIDR's layout: Aff0..Aff2 in `[23:0]`, Aff3 in `[39:32]`.
pub fn irouter_value(mpidr: u64) -> u64 {
    (mpidr_aff(mpidr, 3) << MPIDR_AFF3_SHIFT) | (mpidr & MPIDR_AFF0_2_MASK)
}

/// Decodes a value read from ICC_IAR1_EL1: `Some(intid)` for a real interrupt, `None` for
/// the special INTIDs 1020..=1023 (spurious / nothing pending).
pub fn decode_iar(raw: u64) -> Option<u32> {
    let intid = (raw & 0x00ff_ffff) as u32;
    if SPECIAL_INTIDS.contains(&intid) {
        None
    } else {
        Some(intid)
    }
}

/// The ICC_SGI1R_EL1 value that sends SGI `intid` to `target`.
///
/// A single CPU is addressed by Aff3.Aff2.Aff1 plus one TargetList bit for Aff0; an Aff0 of
/// 16 or more uses the range selector (RS = Aff0 / 16), which needs ICC_CTLR_EL1.RSS on the
/// hardware (QEMU `virt` keeps Aff0 below 16 with GICv3).
pub fn sgi1r_value(intid: u32, target: SgiTarget) -> Result<u64, GicError> {
    if intid >= SGI_COUNT {
        return Err(GicError::NotSgi(intid));
    }
    let sgi = ICC_SGI1R::INTID.val(u64::from(intid));
    let fields = match target {
        SgiTarget::AllOthers => sgi + ICC_SGI1R::IRM::SET,
        SgiTarget::Cpu { mpidr } => {
            let aff0 = mpidr_aff(mpidr, 0);
            sgi + ICC_SGI1R::TARGET_LIST.val(1 << (aff0 % 16))
                + ICC_SGI1R::RS.val(aff0 / 16)
                + ICC_SGI1R::AFF1.val(mpidr_aff(mpidr, 1))
                + ICC_SGI1R::AFF2.val(mpidr_aff(mpidr, 2))
                + ICC_SGI1R::AFF3.val(mpidr_aff(mpidr, 3))
        }
    };
    Ok(fields.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gicr_affinity_packs_all_four_levels() {
        assert_eq!(gicr_affinity(0x8000_0000), 0); // MPIDR bit 31 (RES1) is dropped
        assert_eq!(gicr_affinity(0x0000_0003), 0x0000_0003);
        assert_eq!(gicr_affinity(0x12_0034_5678), 0x1234_5678);
        assert_eq!(gicr_affinity(0xab_00cd_ef01), 0xabcd_ef01);
    }

    #[test]
    fn irouter_keeps_mpidr_layout_without_mt_and_u_bits() {
        // MT (bit 24), U (bit 30) and RES1 (bit 31) must not leak into IROUTER (IRM is bit 31).
        assert_eq!(irouter_value(0x4100_0102 | 0x8000_0000), 0x0102);
        assert_eq!(irouter_value(0x07_0002_0100), 0x07_0002_0100);
    }

    #[test]
    fn iar_special_intids_are_none() {
        assert_eq!(decode_iar(27), Some(27));
        assert_eq!(decode_iar(33), Some(33));
        assert_eq!(decode_iar(1019), Some(1019));
        for special in 1020..=1023 {
            assert_eq!(decode_iar(special), None);
        }
        assert_eq!(decode_iar(0xff00_0000 | 30), Some(30)); // reserved upper bits ignored
    }

    #[test]
    fn sgi_to_one_cpu() {
        // CPU 2 of cluster 0: TargetList bit 2, INTID 1.
        assert_eq!(
            sgi1r_value(1, SgiTarget::Cpu { mpidr: 0x8000_0002 }),
            Ok(0x0100_0004)
        );
        // Aff3=1, Aff2=2, Aff1=3, Aff0=4, INTID 15.
        let value = sgi1r_value(
            15,
            SgiTarget::Cpu {
                mpidr: 0x01_0002_0304,
            },
        );
        assert_eq!(value, Ok(0x0001_0002_0f03_0010));
    }

    #[test]
    fn sgi_aff0_beyond_15_uses_range_selector() {
        let value = sgi1r_value(0, SgiTarget::Cpu { mpidr: 0x13 });
        assert_eq!(value, Ok((1 << 44) | (1 << 3)));
    }

    #[test]
    fn sgi_to_all_others_sets_irm_only() {
        assert_eq!(
            sgi1r_value(7, SgiTarget::AllOthers),
            Ok((1 << 40) | (7 << 24))
        );
    }

    #[test]
    fn sgi_rejects_non_sgi_intid() {
        assert_eq!(
            sgi1r_value(16, SgiTarget::AllOthers),
            Err(GicError::NotSgi(16))
        );
    }
}
