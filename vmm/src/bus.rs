//! The guest MMIO bus: emulated devices by address range, with overlap refused.

use alloc::boxed::Box;
use alloc::vec::Vec;

/// Width of a guest MMIO access in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessWidth {
    Byte = 1,
    Half = 2,
    Word = 4,
    Double = 8,
}

impl AccessWidth {
    /// The width for a syndrome's SAS field (0 = byte … 3 = doubleword).
    pub fn from_sas(sas: u64) -> Self {
        match sas & 3 {
            0 => Self::Byte,
            1 => Self::Half,
            2 => Self::Word,
            _ => Self::Double,
        }
    }

    pub fn bytes(self) -> u64 {
        self as u64
    }

    /// The bits an access of this width carries.
    pub fn mask(self) -> u64 {
        match self {
            Self::Double => u64::MAX,
            other => (1u64 << (other.bytes() * 8)) - 1,
        }
    }
}

/// Why a device refused an access. The vCPU then sees an external abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioError {
    /// No device at that address.
    Unmapped,
    /// The device has no register at that offset, or not of that width.
    BadRegister,
    /// The register cannot be written (or read).
    ReadOnly,
    WriteOnly,
}

/// Where devices signal interrupts: the VM's interrupt controller.
pub trait InterruptSink {
    /// Drives the level of a shared peripheral interrupt (INTID 32..1019).
    fn set_spi_level(&mut self, intid: u32, high: bool);
}

/// Holds back the levels a device drives during an access, so that the caller learns
/// whether the access moved any interrupt line before it passes them on: an access that
/// moved none needs no look from the interrupt controller.
#[derive(Debug, Default)]
pub struct HeldLevels {
    levels: Vec<(u32, bool)>,
}

impl HeldLevels {
    /// No level was driven.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Drives the held levels into `sink`, in the order the device drove them.
    pub fn release(self, sink: &mut dyn InterruptSink) {
        for (intid, high) in self.levels {
            sink.set_spi_level(intid, high);
        }
    }
}

impl InterruptSink for HeldLevels {
    fn set_spi_level(&mut self, intid: u32, high: bool) {
        self.levels.push((intid, high));
    }
}

/// An emulated device. It never knows its own guest address: offsets are relative to
/// the start of its range on the bus.
pub trait MmioDevice: Send {
    /// A short name for statistics and logs (e.g. "pl011").
    fn name(&self) -> &'static str;
    fn read(&mut self, offset: u64, width: AccessWidth, irq: &mut dyn InterruptSink) -> Result<u64, MmioError>;
    fn write(&mut self, offset: u64, width: AccessWidth, value: u64, irq: &mut dyn InterruptSink) -> Result<(), MmioError>;
}

/// A device on the bus and its counters.
struct Slot {
    base: u64,
    size: u64,
    device: Box<dyn MmioDevice>,
    accesses: u64,
    errors: u64,
}

/// Why a device could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusError {
    Overlap { base: u64 },
    EmptyRange,
}

#[derive(Default)]
pub struct MmioBus {
    slots: Vec<Slot>,
}

impl MmioBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `device` at [base, base + size); refuses a range that overlaps another.
    pub fn add(&mut self, base: u64, size: u64, device: Box<dyn MmioDevice>) -> Result<(), BusError> {
        let end = base.checked_add(size).filter(|_| size > 0).ok_or(BusError::EmptyRange)?;
        if self.slots.iter().any(|s| s.base < end && base < s.base + s.size) {
            return Err(BusError::Overlap { base });
        }
        self.slots.push(Slot { base, size, device, accesses: 0, errors: 0 });
        self.slots.sort_by_key(|s| s.base);
        Ok(())
    }

    fn slot(&mut self, address: u64, width: AccessWidth) -> Result<&mut Slot, MmioError> {
        self.slots
            .iter_mut()
            .find(|s| address >= s.base && address - s.base + width.bytes() <= s.size)
            .ok_or(MmioError::Unmapped)
    }

    pub fn read(&mut self, address: u64, width: AccessWidth, irq: &mut dyn InterruptSink) -> Result<u64, MmioError> {
        let slot = self.slot(address, width)?;
        slot.accesses += 1;
        let result = slot.device.read(address - slot.base, width, irq).map(|v| v & width.mask());
        slot.errors += u64::from(result.is_err());
        result
    }

    pub fn write(&mut self, address: u64, width: AccessWidth, value: u64, irq: &mut dyn InterruptSink) -> Result<(), MmioError> {
        let slot = self.slot(address, width)?;
        slot.accesses += 1;
        let result = slot.device.write(address - slot.base, width, value & width.mask(), irq);
        slot.errors += u64::from(result.is_err());
        result
    }

    /// (name, accesses, errors) per device, in address order.
    pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64, u64)> + '_ {
        self.slots.iter().map(|s| (s.device.name(), s.accesses, s.errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Register {
        value: u64,
    }

    impl MmioDevice for Register {
        fn name(&self) -> &'static str {
            "register"
        }
        fn read(&mut self, offset: u64, _: AccessWidth, _: &mut dyn InterruptSink) -> Result<u64, MmioError> {
            if offset == 0 { Ok(self.value) } else { Err(MmioError::BadRegister) }
        }
        fn write(&mut self, offset: u64, _: AccessWidth, value: u64, irq: &mut dyn InterruptSink) -> Result<(), MmioError> {
            if offset != 0 {
                return Err(MmioError::BadRegister);
            }
            self.value = value;
            irq.set_spi_level(33, value != 0);
            Ok(())
        }
    }

    #[derive(Default)]
    struct Lines(Vec<(u32, bool)>);
    impl InterruptSink for Lines {
        fn set_spi_level(&mut self, intid: u32, high: bool) {
            self.0.push((intid, high));
        }
    }

    #[test]
    fn routes_by_address_and_refuses_overlap() {
        let mut bus = MmioBus::new();
        bus.add(0x1000, 0x100, Box::new(Register { value: 0 })).unwrap();
        assert_eq!(bus.add(0x10f0, 0x100, Box::new(Register { value: 0 })), Err(BusError::Overlap { base: 0x10f0 }));
        assert_eq!(bus.add(0x2000, 0, Box::new(Register { value: 0 })), Err(BusError::EmptyRange));
        bus.add(0x1100, 0x100, Box::new(Register { value: 7 })).unwrap();
        let mut lines = Lines::default();
        bus.write(0x1000, AccessWidth::Word, 0x1_2345_6789, &mut lines).unwrap();
        assert_eq!(bus.read(0x1000, AccessWidth::Word, &mut lines), Ok(0x2345_6789));
        assert_eq!(bus.read(0x1100, AccessWidth::Byte, &mut lines), Ok(7));
        assert_eq!(lines.0, vec![(33, true)]);
        assert_eq!(bus.read(0x1004, AccessWidth::Word, &mut lines), Err(MmioError::BadRegister));
        assert_eq!(bus.read(0x3000, AccessWidth::Word, &mut lines), Err(MmioError::Unmapped));
        // An access running past the end of a range is not the device's.
        assert_eq!(bus.read(0x11fc, AccessWidth::Double, &mut lines), Err(MmioError::Unmapped));
        let counters: Vec<_> = bus.counters().collect();
        assert_eq!(counters, vec![("register", 3, 1), ("register", 1, 0)]);
    }

    #[test]
    fn held_levels_pass_on_in_order() {
        let mut device = Register { value: 0 };
        let mut held = HeldLevels::default();
        device.read(0, AccessWidth::Word, &mut held).unwrap();
        assert!(held.is_empty(), "a read that drives no line");
        device.write(0, AccessWidth::Word, 5, &mut held).unwrap();
        device.write(0, AccessWidth::Word, 0, &mut held).unwrap();
        assert!(!held.is_empty());
        let mut lines = Lines::default();
        held.release(&mut lines);
        assert_eq!(lines.0, vec![(33, true), (33, false)]);
    }

    #[test]
    fn widths() {
        assert_eq!(AccessWidth::from_sas(2), AccessWidth::Word);
        assert_eq!(AccessWidth::Half.mask(), 0xffff);
        assert_eq!(AccessWidth::Double.mask(), u64::MAX);
    }
}
