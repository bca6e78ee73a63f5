//! What kind of exit an exit was, for the per-vCPU counters: MMIO by the device it hit,
//! the other exits by their kind.

use super::Exit;
use crate::layout::{
    GICD_BASE, GICD_SIZE, GICR_BASE, GICR_STRIDE, UART_BASE, UART_SIZE, VIRTIO_BASE, VIRTIO_SLOTS, VIRTIO_STRIDE,
};

/// The class of one exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitClass {
    MmioGicDistributor,
    MmioGicRedistributor,
    MmioUart,
    /// A virtio-mmio slot that holds a device.
    MmioVirtio {
        slot: u32,
    },
    /// Anything else: unmapped IPAs, empty virtio slots, redistributors of vCPUs the VM
    /// does not have.
    MmioOther,
    SysReg,
    Wfi,
    Wfe,
    Hvc,
    Smc,
    /// The rest: aborts without a syndrome, instruction aborts, FP/SIMD traps, hidden
    /// features, unknown classes.
    Other,
}

/// The MMIO class of an access at `ipa` in a VM of `vcpus` vCPUs; `has_virtio(slot)` says
/// whether a virtio slot holds a device.
pub fn mmio_class(ipa: u64, vcpus: usize, has_virtio: impl Fn(u32) -> bool) -> ExitClass {
    if (GICD_BASE..GICD_BASE + GICD_SIZE).contains(&ipa) {
        return ExitClass::MmioGicDistributor;
    }
    if (GICR_BASE..GICR_BASE.saturating_add((vcpus as u64).saturating_mul(GICR_STRIDE))).contains(&ipa) {
        return ExitClass::MmioGicRedistributor;
    }
    if (UART_BASE..UART_BASE + UART_SIZE).contains(&ipa) {
        return ExitClass::MmioUart;
    }
    if (VIRTIO_BASE..VIRTIO_BASE + VIRTIO_SLOTS * VIRTIO_STRIDE).contains(&ipa) {
        let slot = ((ipa - VIRTIO_BASE) / VIRTIO_STRIDE) as u32;
        if has_virtio(slot) {
            return ExitClass::MmioVirtio { slot };
        }
    }
    ExitClass::MmioOther
}

/// The class of a decoded exit (see [`mmio_class`] for the arguments).
pub fn classify(exit: &Exit, vcpus: usize, has_virtio: impl Fn(u32) -> bool) -> ExitClass {
    match exit {
        Exit::Mmio(access) => mmio_class(access.ipa, vcpus, has_virtio),
        Exit::SysReg(_) => ExitClass::SysReg,
        Exit::Wfi => ExitClass::Wfi,
        Exit::Wfe => ExitClass::Wfe,
        Exit::Hvc { .. } => ExitClass::Hvc,
        Exit::Smc { .. } => ExitClass::Smc,
        Exit::AbortWithoutSyndrome { .. }
        | Exit::InstructionAbort { .. }
        | Exit::FpSimdTrap
        | Exit::HiddenFeature { .. }
        | Exit::Other { .. } => ExitClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::AccessWidth;
    use crate::exit::MmioAccess;

    fn at(ipa: u64) -> Exit {
        Exit::Mmio(MmioAccess {
            ipa,
            width: AccessWidth::Word,
            write: false,
            register: 0,
            sign_extend: false,
            sixty_four: false,
        })
    }

    #[test]
    fn mmio_by_device() {
        let slots = |slot: u32| slot < 2 || slot == 6;
        assert_eq!(
            classify(&at(GICD_BASE + 0x100), 2, slots),
            ExitClass::MmioGicDistributor
        );
        assert_eq!(
            classify(&at(GICR_BASE + GICR_STRIDE + 0x10), 2, slots),
            ExitClass::MmioGicRedistributor
        );
        // The redistributor of a third vCPU the VM does not have.
        assert_eq!(
            classify(&at(GICR_BASE + 2 * GICR_STRIDE), 2, slots),
            ExitClass::MmioOther
        );
        assert_eq!(classify(&at(UART_BASE + 0x18), 1, slots), ExitClass::MmioUart);
        assert_eq!(
            classify(&at(VIRTIO_BASE + 0x70), 1, slots),
            ExitClass::MmioVirtio { slot: 0 }
        );
        assert_eq!(
            classify(&at(VIRTIO_BASE + 6 * VIRTIO_STRIDE + 0x50), 1, slots),
            ExitClass::MmioVirtio { slot: 6 }
        );
        assert_eq!(
            classify(&at(VIRTIO_BASE + 3 * VIRTIO_STRIDE), 1, slots),
            ExitClass::MmioOther,
            "empty slot"
        );
        assert_eq!(
            classify(&at(VIRTIO_BASE + VIRTIO_SLOTS * VIRTIO_STRIDE), 1, |_| true),
            ExitClass::MmioOther
        );
        assert_eq!(classify(&at(0x1000), 1, slots), ExitClass::MmioOther);
        assert_eq!(classify(&at(u64::MAX), 8, |_| true), ExitClass::MmioOther);
    }

    #[test]
    fn other_kinds() {
        let none = |_| false;
        assert_eq!(classify(&Exit::Wfi, 1, none), ExitClass::Wfi);
        assert_eq!(classify(&Exit::Wfe, 1, none), ExitClass::Wfe);
        assert_eq!(classify(&Exit::Hvc { imm: 0 }, 1, none), ExitClass::Hvc);
        assert_eq!(classify(&Exit::Smc { imm: 0 }, 1, none), ExitClass::Smc);
        assert_eq!(classify(&Exit::FpSimdTrap, 1, none), ExitClass::Other);
        assert_eq!(
            classify(&Exit::InstructionAbort { ipa: 0, esr: 0 }, 1, none),
            ExitClass::Other
        );
    }
}
