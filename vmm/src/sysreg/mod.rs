//! What a guest sees of the CPU: system-register encodings and names, the ID registers
//! sanitised to one coherent CPU, the debug registers as an idle unit, and the HCR_EL2 a
//! guest runs with.

mod debug;
mod hcr;
mod id;
mod registers;

pub use debug::{access_debug_register, is_debug_register};
pub use hcr::*;
pub use id::sanitise_id_register;
pub use registers::*;

/// Packs a system-register encoding (op0, op1, CRn, CRm, op2) into 16 bits:
/// op0 [15:14], op1 [13:11], CRn [10:7], CRm [6:3], op2 [2:0]. Out-of-range parts are
/// truncated to their field.
pub const fn encode(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> u32 {
    ((op0 as u32 & 0x3) << 14)
        | ((op1 as u32 & 0x7) << 11)
        | ((crn as u32 & 0xf) << 7)
        | ((crm as u32 & 0xf) << 3)
        | (op2 as u32 & 0x7)
}

/// The (op0, op1, CRn, CRm, op2) of a packed encoding.
pub const fn decode(encoding: u32) -> (u8, u8, u8, u8, u8) {
    (
        ((encoding >> 14) & 0x3) as u8,
        ((encoding >> 11) & 0x7) as u8,
        ((encoding >> 7) & 0xf) as u8,
        ((encoding >> 3) & 0xf) as u8,
        (encoding & 0x7) as u8,
    )
}

/// True for the feature ID space HCR_EL2.TID3 traps: op0=3, op1=0, CRn=0, CRm=1..7.
pub const fn is_id_register(encoding: u32) -> bool {
    let (op0, op1, crn, crm, _) = decode(encoding);
    op0 == 3 && op1 == 0 && crn == 0 && crm >= 1 && crm <= 7
}

/// The architectural name of a well-known register or system instruction, if Keel knows it.
pub fn name(encoding: u32) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(known, _)| *known == encoding)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip_and_name() {
        assert_eq!(ID_AA64PFR0_EL1, 0xc020);
        assert_eq!(decode(ICC_SGI1R_EL1), (3, 0, 12, 11, 5));
        assert_eq!(name(encode(3, 0, 12, 11, 5)), Some("ICC_SGI1R_EL1"));
        assert_eq!(name(CNTP_CTL_EL0), Some("CNTP_CTL_EL0"));
        assert_eq!(name(encode(3, 0, 0, 4, 3)), None);
        assert_eq!(
            encode(7, 9, 0x1f, 0x1f, 9),
            encode(3, 1, 0xf, 0xf, 1),
            "parts are truncated"
        );
        assert!(is_id_register(ID_AA64ISAR1_EL1));
        assert!(is_id_register(encode(3, 0, 0, 7, 7)));
        assert!(!is_id_register(MIDR_EL1), "CRm = 0 is not the TID3 space");
        assert!(!is_id_register(encode(3, 1, 0, 4, 0)));
        assert!(!is_id_register(encode(2, 0, 0, 4, 0)));
        let mut seen = std::collections::BTreeSet::new();
        assert!(
            NAMES.iter().all(|(encoding, _)| seen.insert(*encoding)),
            "an encoding named twice"
        );
    }
}
