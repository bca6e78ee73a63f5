//! Guest exits decoded into typed values from ESR_EL2, FAR_EL2 and HPFAR_EL2.
//!
//! The kernel reads the three registers when a guest traps to EL2 and calls [`decode`];
//! safe code then handles each [`Exit`] variant. Everything in a syndrome is taken as
//! hostile: every bit pattern decodes to some variant, nothing is guessed.
//!
//! # Advancing the guest PC
//!
//! ELR_EL2 points at the trapping instruction for data aborts, system-register traps,
//! WFI/WFE and trapped SMC: once such an exit is emulated, the kernel adds
//! [`instruction_length`] (4 bytes when ESR.IL is set, 2 for a 16-bit T32 instruction) to
//! the guest PC. For HVC, ELR_EL2 already points past the instruction: never skip it. An
//! exit that is not emulated (an abort injected back into the guest) leaves the PC alone.

pub mod class;

use crate::bus::AccessWidth;
use crate::esr::{abort_is_write, ExceptionClass, FaultStatus};
use crate::sysreg;

/// ESR.IL (bit 25): the trapped instruction is 32 bits long.
pub const ESR_IL: u64 = 1 << 25;
/// Data abort ISS.ISV (bit 24): bits [23:14] hold a valid instruction syndrome.
pub const ISS_ISV: u64 = 1 << 24;
/// Data abort ISS.SSE (bit 21): the load sign-extends.
pub const ISS_SSE: u64 = 1 << 21;
/// Data abort ISS.SF (bit 15): the register is 64 bits wide (X, not W).
pub const ISS_SF: u64 = 1 << 15;
/// Abort ISS.FnV (bit 10): FAR is not valid.
pub const ISS_FNV: u64 = 1 << 10;
/// Abort ISS.S1PTW (bit 7): the fault happened on a stage-2 access of a stage-1 walk.
pub const ISS_S1PTW: u64 = 1 << 7;
/// HPFAR_EL2.FIPA, bits [43:4]: IPA bits [51:12].
pub const HPFAR_FIPA_MASK: u64 = 0x0000_0fff_ffff_fff0;

/// Why a guest left EL1/EL0, as far as the syndrome tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// A data abort on an unmapped IPA with a valid syndrome (ISV=1): emulate the access.
    Mmio(MmioAccess),
    /// A data abort that cannot be emulated: no valid syndrome (ISV=0, e.g. a load pair or
    /// a post-indexed access), FAR not valid, a fault on a stage-1 table walk, or a fault
    /// that is not a stage-2 translation, access-flag, permission or address-size fault.
    /// Reported with its syndrome, never guessed. `ipa` is meaningful only for stage-2
    /// fault status codes (see [`FaultStatus`]).
    AbortWithoutSyndrome { ipa: u64, write: bool, esr: u64 },
    /// The guest fetched an instruction from an unmapped (or faulting) IPA.
    InstructionAbort { ipa: u64, esr: u64 },
    /// A trapped MSR/MRS or SYS instruction (EC 0x18).
    SysReg(SysRegAccess),
    /// WFI: block the vCPU until a virtual interrupt is pending.
    Wfi,
    /// WFE (and WFIT/WFET, hidden from guests, which are treated as a hint to yield): let
    /// other threads run, then resume.
    Wfe,
    /// HVC with its immediate (SMCCC calls use #0). The PC already points past it.
    Hvc { imm: u16 },
    /// SMC trapped by HCR_EL2.TSC, with its immediate. The PC points at it.
    Smc { imm: u16 },
    /// An FP/SIMD access trapped by CPTR_EL2.
    FpSimdTrap,
    /// An instruction of a feature hidden from guests (pointer authentication, SVE, SME)
    /// trapped: the guest is to see it as UNDEFINED, as on a CPU without the feature.
    HiddenFeature { esr: u64, class: ExceptionClass },
    /// Every other class: reported with its syndrome and the guest PC.
    Other { esr: u64, class: ExceptionClass },
}

/// A guest load or store to an emulated device, from a data abort's syndrome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioAccess {
    /// The guest-physical address accessed.
    pub ipa: u64,
    pub width: AccessWidth,
    pub write: bool,
    /// The transfer register, x0..x30; 31 is xzr/wzr (reads as zero, writes are dropped).
    pub register: u8,
    /// The load sign-extends (LDRSB, LDRSH, LDRSW).
    pub sign_extend: bool,
    /// The register is 64 bits wide (Xn); otherwise Wn, whose upper half a load zeroes.
    pub sixty_four: bool,
}

impl MmioAccess {
    /// The value to place in the register after a read of `raw` from the device:
    /// truncated to the access width, sign-extended for LDRS*, upper half zeroed for a
    /// W register.
    pub fn load_value(&self, raw: u64) -> u64 {
        let bits = self.width.bytes() * 8;
        let value = raw & self.width.mask();
        let value = if self.sign_extend && bits < 64 {
            let shift = 64 - bits;
            (((value << shift) as i64) >> shift) as u64
        } else {
            value
        };
        if self.sixty_four {
            value
        } else {
            value & 0xffff_ffff
        }
    }

    /// Completes a read: writes `load_value(raw)` into the guest's x0..x30 (a load into
    /// xzr is dropped).
    pub fn complete_load(&self, registers: &mut [u64; 31], raw: u64) {
        if let Some(slot) = registers.get_mut(usize::from(self.register)) {
            *slot = self.load_value(raw);
        }
    }

    /// The value a write stores: the transfer register (zero for xzr), truncated to the
    /// access width.
    pub fn store_value(&self, registers: &[u64; 31]) -> u64 {
        registers.get(usize::from(self.register)).copied().unwrap_or(0) & self.width.mask()
    }
}

/// A trapped system-register access or system instruction (EC 0x18).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysRegAccess {
    pub op0: u8,
    pub op1: u8,
    pub crn: u8,
    pub crm: u8,
    pub op2: u8,
    /// The transfer register, x0..x30; 31 is xzr.
    pub register: u8,
    /// MSR (or SYS): the guest writes; MRS (or SYSL): it reads.
    pub write: bool,
}

impl SysRegAccess {
    /// Decodes the ISS of an EC 0x18 syndrome.
    pub fn from_esr(esr: u64) -> Self {
        let field = |shift: u32, bits: u32| ((esr >> shift) & ((1 << bits) - 1)) as u8;
        Self {
            op0: field(20, 2),
            op2: field(17, 3),
            op1: field(14, 3),
            crn: field(10, 4),
            register: field(5, 5),
            crm: field(1, 4),
            write: esr & 1 == 0,
        }
    }

    /// The register's packed encoding, as [`sysreg::encode`] makes it.
    pub fn encoding(&self) -> u32 {
        sysreg::encode(self.op0, self.op1, self.crn, self.crm, self.op2)
    }

    /// The architectural name of a well-known register, for logs and exit statistics.
    pub fn name(&self) -> Option<&'static str> {
        sysreg::name(self.encoding())
    }
}

/// Bytes to add to the guest PC to step over the trapping instruction (see the module
/// documentation for which exits need it).
pub fn instruction_length(esr: u64) -> u64 {
    if esr & ESR_IL != 0 {
        4
    } else {
        2
    }
}

/// The faulting IPA: the page from HPFAR_EL2.FIPA, the offset in it from FAR_EL2.
pub fn fault_ipa(far: u64, hpfar: u64) -> u64 {
    ((hpfar & HPFAR_FIPA_MASK) << 8) | (far & 0xfff)
}

/// True for the fault status codes of stage-2 faults, for which HPFAR_EL2 holds the IPA.
fn is_stage2_fault(esr: u64) -> bool {
    matches!(
        FaultStatus::from_esr(esr),
        FaultStatus::Translation { .. }
            | FaultStatus::AccessFlag { .. }
            | FaultStatus::Permission { .. }
            | FaultStatus::AddressSize { .. }
    )
}

/// Decodes a guest exit.
pub fn decode(esr: u64, far: u64, hpfar: u64) -> Exit {
    let class = ExceptionClass::from_esr(esr);
    let imm = (esr & 0xffff) as u16;
    match class {
        ExceptionClass::DataAbortLower => decode_data_abort(esr, far, hpfar),
        ExceptionClass::InstructionAbortLower => Exit::InstructionAbort {
            ipa: fault_ipa(far, hpfar),
            esr,
        },
        ExceptionClass::SysRegTrap => Exit::SysReg(SysRegAccess::from_esr(esr)),
        // ISS.TI, bits [1:0]: 0 WFI, 1 WFE, 2 WFIT, 3 WFET.
        ExceptionClass::WfiWfe if esr & 0b11 == 0 => Exit::Wfi,
        ExceptionClass::WfiWfe => Exit::Wfe,
        ExceptionClass::Hvc64 => Exit::Hvc { imm },
        ExceptionClass::Smc64 => Exit::Smc { imm },
        ExceptionClass::FpSimdAccess => Exit::FpSimdTrap,
        ExceptionClass::PointerAuthTrap | ExceptionClass::SveAccess | ExceptionClass::SmeAccess => {
            Exit::HiddenFeature { esr, class }
        }
        class => Exit::Other { esr, class },
    }
}

fn decode_data_abort(esr: u64, far: u64, hpfar: u64) -> Exit {
    let ipa = fault_ipa(far, hpfar);
    let write = abort_is_write(esr);
    let emulable = esr & ISS_ISV != 0 && esr & (ISS_FNV | ISS_S1PTW) == 0 && is_stage2_fault(esr);
    if !emulable {
        return Exit::AbortWithoutSyndrome { ipa, write, esr };
    }
    Exit::Mmio(MmioAccess {
        ipa,
        width: AccessWidth::from_sas(esr >> 22),
        write,
        register: ((esr >> 16) & 0x1f) as u8,
        sign_extend: esr & ISS_SSE != 0,
        sixty_four: esr & ISS_SF != 0,
    })
}

#[cfg(test)]
mod tests;
