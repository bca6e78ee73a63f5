//! CPU model names from MIDR_EL1 (implementer and part number), for boot messages.

/// The fields of MIDR_EL1 that name a CPU model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuModel {
    /// MIDR_EL1.Implementer, bits `[31:24]` (0x41 = Arm; 0 = QEMU's `max`).
    pub implementer: u8,
    /// MIDR_EL1.PartNum, bits `[15:4]`.
    pub part: u16,
    /// MIDR_EL1.Variant, bits `[23:20]` (the `r` of rNpM).
    pub variant: u8,
    /// MIDR_EL1.Revision, bits `[3:0]` (the `p` of rNpM).
    pub revision: u8,
}

const ARM: u8 = 0x41;
/// QEMU's `-cpu max` reports implementer 0 and part 0x051 ('Q').
const QEMU: u8 = 0x00;

/// Known models: (implementer, part, short name as QEMU's `-cpu` spells it).
const KNOWN_MODELS: &[(u8, u16, &str)] = &[
    (ARM, 0xd03, "cortex-a53"),
    (ARM, 0xd05, "cortex-a55"),
    (ARM, 0xd07, "cortex-a57"),
    (ARM, 0xd08, "cortex-a72"),
    (ARM, 0xd0b, "cortex-a76"),
    (ARM, 0xd0c, "neoverse-n1"),
    (ARM, 0xd40, "neoverse-v1"),
    (QEMU, 0x051, "max"),
];

impl CpuModel {
    /// Decodes a MIDR_EL1 value.
    pub fn from_midr(midr: u64) -> Self {
        // Each field is masked to its width before narrowing.
        Self {
            implementer: ((midr >> 24) & 0xff) as u8,
            part: ((midr >> 4) & 0xfff) as u16,
            variant: ((midr >> 20) & 0xf) as u8,
            revision: (midr & 0xf) as u8,
        }
    }

    /// Short model name ("cortex-a76", "max", ...), or "unknown".
    pub fn name(self) -> &'static str {
        KNOWN_MODELS
            .iter()
            .find(|(implementer, part, _)| *implementer == self.implementer && *part == self.part)
            .map_or("unknown", |(_, _, name)| name)
    }
}

/// Short model name of the CPU with this MIDR_EL1 value, or "unknown".
pub fn cpu_model_name(midr: u64) -> &'static str {
    CpuModel::from_midr(midr).name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midrs_qemu_reports() {
        // Values QEMU 7.2 gives these `-cpu` models.
        assert_eq!(cpu_model_name(0x414f_d0b1), "cortex-a76");
        assert_eq!(cpu_model_name(0x414f_d0c1), "neoverse-n1");
        assert_eq!(cpu_model_name(0x410f_d083), "cortex-a72");
        assert_eq!(cpu_model_name(0x411f_d070), "cortex-a57");
        assert_eq!(cpu_model_name(0x410f_d034), "cortex-a53");
        assert_eq!(cpu_model_name(0x411f_d050), "cortex-a55");
        assert_eq!(cpu_model_name(0x410f_d401), "neoverse-v1");
        assert_eq!(cpu_model_name(0x000f_0510), "max");
    }

    #[test]
    fn unknown_models() {
        assert_eq!(cpu_model_name(0), "unknown");
        assert_eq!(cpu_model_name(0x610f_0220), "unknown"); // Apple implementer
        assert_eq!(cpu_model_name(0x420f_d0b0), "unknown"); // right part, wrong implementer
    }

    #[test]
    fn revision_fields() {
        let model = CpuModel::from_midr(0x414f_d0b1);
        assert_eq!((model.implementer, model.part), (0x41, 0xd0b));
        assert_eq!((model.variant, model.revision), (4, 1));
    }
}
