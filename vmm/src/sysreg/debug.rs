//! The debug registers as guests see them: trapped (MDCR_EL2.TDA/TDOSA/TDRA) and emulated
//! as an idle debug unit, since the hardware's is the host's and not switched per guest.
//!
//! MDSCR_EL1 keeps the guest's value in software (so a guest reads back what it wrote);
//! OSLSR_EL1 says the OS lock is implemented and unlocked; every other debug register reads
//! as zero and ignores writes: breakpoints, watchpoints and single-step never fire in guests.

use super::decode;

/// MDSCR_EL1 (op0=2, op1=0, CRn=0, CRm=2, op2=2).
const MDSCR_EL1: (u8, u8, u8, u8, u8) = (2, 0, 0, 2, 2);
/// OSLSR_EL1 (op0=2, op1=0, CRn=1, CRm=1, op2=4).
const OSLSR_EL1: (u8, u8, u8, u8, u8) = (2, 0, 1, 1, 4);
/// OSLSR_EL1.OSLM = 0b10 (bits 3 and 0): the OS lock is implemented; OSLK (bit 1) clear.
const OSLSR_IMPLEMENTED_UNLOCKED: u64 = 1 << 3;

/// True for the debug register space (op0 = 2) these traps cover.
pub const fn is_debug_register(encoding: u32) -> bool {
    decode(encoding).0 == 2
}

/// Emulates a guest's access to a debug register: for a read, the value it gets; for a
/// write of `value`, None. `mdscr` is the guest's MDSCR_EL1.
pub fn access_debug_register(encoding: u32, write: bool, value: u64, mdscr: &mut u64) -> Option<u64> {
    let register = decode(encoding);
    if write {
        if register == MDSCR_EL1 {
            *mdscr = value;
        }
        return None;
    }
    Some(match register {
        MDSCR_EL1 => *mdscr,
        OSLSR_EL1 => OSLSR_IMPLEMENTED_UNLOCKED,
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysreg::encode;

    #[test]
    fn mdscr_is_kept_and_the_rest_is_idle() {
        let mut mdscr = 0;
        let mdscr_encoding = encode(2, 0, 0, 2, 2);
        assert!(is_debug_register(mdscr_encoding));
        assert_eq!(access_debug_register(mdscr_encoding, true, 0x8000, &mut mdscr), None);
        assert_eq!(access_debug_register(mdscr_encoding, false, 0, &mut mdscr), Some(0x8000));
        // DBGBCR0_EL1 (2,0,0,0,5): writes ignored, reads zero; MDSCR untouched.
        let dbgbcr0 = encode(2, 0, 0, 0, 5);
        assert_eq!(access_debug_register(dbgbcr0, true, 0x1e7, &mut mdscr), None);
        assert_eq!(access_debug_register(dbgbcr0, false, 0, &mut mdscr), Some(0));
        assert_eq!(mdscr, 0x8000);
        // OSLAR_EL1 write (unlock) is accepted; OSLSR_EL1 reads implemented + unlocked.
        assert_eq!(access_debug_register(encode(2, 0, 1, 0, 4), true, 0, &mut mdscr), None);
        assert_eq!(access_debug_register(encode(2, 0, 1, 1, 4), false, 0, &mut mdscr), Some(0b1000));
        assert!(!is_debug_register(encode(3, 0, 1, 0, 0)), "SCTLR_EL1 is not a debug register");
    }
}
