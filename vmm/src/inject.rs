//! Exceptions Keel injects into a guest: their syndromes and the vector each is taken to,
//! as the architecture would deliver them to the guest's EL1 (ARM DDI 0487, D1.10).

/// PSTATE on taking an exception to EL1: EL1h (SP_EL1) with D, A, I and F masked.
pub const PSTATE_EL1H_MASKED: u64 = 0x3c5;
/// ESR.IL: the instruction was 32 bits long.
const IL: u64 = 1 << 25;
/// Data abort ISS.WnR: the access was a write.
const WNR: u64 = 1 << 6;
/// Fault status code of a synchronous external abort, not on a table walk.
const FSC_EXTERNAL: u64 = 0x10;
/// Exception classes of the injected exceptions.
const EC_UNKNOWN: u64 = 0x00;
const EC_INSTRUCTION_ABORT_LOWER: u64 = 0x20;
const EC_INSTRUCTION_ABORT_SAME: u64 = 0x21;
const EC_DATA_ABORT_LOWER: u64 = 0x24;
const EC_DATA_ABORT_SAME: u64 = 0x25;

/// Whether the guest was at EL1 (PSTATE.M[3:2] = 1) when the exception came.
pub const fn from_el1(pstate: u64) -> bool {
    pstate & 0b1100 == 0b0100
}

/// The offset in VBAR_EL1 of the synchronous-exception vector for an exception taken
/// from `pstate`: current EL with SP_EL0 (0x000) or SP_EL1 (0x200), lower EL in AArch64
/// (0x400) or AArch32 (0x600).
pub const fn sync_vector_offset(pstate: u64) -> u64 {
    let aarch32 = pstate & 0x10 != 0;
    match (from_el1(pstate) && !aarch32, pstate & 1 == 1, aarch32) {
        (true, false, _) => 0x000,
        (true, true, _) => 0x200,
        (false, _, false) => 0x400,
        (false, _, true) => 0x600,
    }
}

/// ESR_EL1 of a synchronous external abort on a data access (what a bus error is).
pub const fn external_data_abort(pstate: u64, write: bool) -> u64 {
    let class = if from_el1(pstate) {
        EC_DATA_ABORT_SAME
    } else {
        EC_DATA_ABORT_LOWER
    };
    (class << 26) | IL | if write { WNR } else { 0 } | FSC_EXTERNAL
}

/// ESR_EL1 of a synchronous external abort on an instruction fetch.
pub const fn external_instruction_abort(pstate: u64) -> u64 {
    let class = if from_el1(pstate) {
        EC_INSTRUCTION_ABORT_SAME
    } else {
        EC_INSTRUCTION_ABORT_LOWER
    };
    (class << 26) | IL | FSC_EXTERNAL
}

/// ESR_EL1 of an UNDEFINED instruction (class 0, "unknown reason").
pub const fn undefined() -> u64 {
    (EC_UNKNOWN << 26) | IL
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esr::{ExceptionClass, FaultStatus};

    const EL1H: u64 = 0x3c5;
    const EL1T: u64 = 0x3c4;
    const EL0: u64 = 0x0;
    const EL0_AARCH32: u64 = 0x10;

    #[test]
    fn vectors_follow_the_mode_taken_from() {
        assert_eq!(sync_vector_offset(EL1T), 0x000);
        assert_eq!(sync_vector_offset(EL1H), 0x200);
        assert_eq!(sync_vector_offset(EL0), 0x400);
        assert_eq!(sync_vector_offset(EL0_AARCH32), 0x600);
        assert_eq!(sync_vector_offset(PSTATE_EL1H_MASKED), 0x200);
    }

    #[test]
    fn aborts_say_external_and_where_they_came_from() {
        let from_kernel = external_data_abort(EL1H, true);
        assert_eq!(ExceptionClass::from_esr(from_kernel), ExceptionClass::DataAbortSame);
        assert_eq!(from_kernel & WNR, WNR);
        assert_eq!(from_kernel & 0x3f, FSC_EXTERNAL);
        assert!(!matches!(
            FaultStatus::from_esr(from_kernel),
            FaultStatus::Translation { .. }
        ));
        let from_user = external_data_abort(EL0, false);
        assert_eq!(ExceptionClass::from_esr(from_user), ExceptionClass::DataAbortLower);
        assert_eq!(from_user & WNR, 0);
        assert_eq!(from_user & IL, IL);
        assert_eq!(
            ExceptionClass::from_esr(external_instruction_abort(EL1H)),
            ExceptionClass::InstructionAbortSame
        );
        assert_eq!(
            ExceptionClass::from_esr(external_instruction_abort(EL0)),
            ExceptionClass::InstructionAbortLower
        );
        assert_eq!(external_instruction_abort(EL0) & 0x3f, FSC_EXTERNAL);
        assert_eq!(ExceptionClass::from_esr(undefined()), ExceptionClass::Unknown);
        assert_eq!(undefined(), 1 << 25);
    }
}
