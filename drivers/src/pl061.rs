//! Arm PL061 GPIO controller: eight pins; QEMU `virt` wires its power button to one of them.
//!
//! QEMU `virt` has a PL061 at 0x0903_0000 (SPI 7 = INTID 39); `system_powerdown` (or the
//! QMP command of that name) raises GPIO line 3, described in the DTB by a `gpio-keys`
//! node with `linux,code = <116>` (KEY_POWER).

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    /// One bit per pin, shared by every per-pin register.
    PINS [
        ALL OFFSET(0) NUMBITS(8) [],
    ]
}

register_structs! {
    /// The PL061 register block (PL061 TRM, table 3-1).
    Pl061Registers {
        /// GPIODATA is "address-masked": word `n` reads and writes only the pins whose bits
        /// are set in `n`.
        (0x000 => data: [ReadWrite<u32, PINS::Register>; 256]),
        /// Direction: 1 = output.
        (0x400 => dir: ReadWrite<u32, PINS::Register>),
        /// Interrupt sense: 1 = level, 0 = edge.
        (0x404 => is: ReadWrite<u32, PINS::Register>),
        /// Interrupt on both edges.
        (0x408 => ibe: ReadWrite<u32, PINS::Register>),
        /// Interrupt event: 1 = rising edge / high level.
        (0x40c => iev: ReadWrite<u32, PINS::Register>),
        /// Interrupt mask: 1 = enabled.
        (0x410 => ie: ReadWrite<u32, PINS::Register>),
        (0x414 => _ris),
        /// Masked interrupt status.
        (0x418 => mis: ReadOnly<u32, PINS::Register>),
        /// Interrupt clear (edge interrupts).
        (0x41c => ic: WriteOnly<u32, PINS::Register>),
        (0x420 => _afsel_and_ids),
        (0x1000 => @END),
    }
}

/// One of the controller's eight pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpioPin(u8);

impl GpioPin {
    /// Pin `number`, or `None` if it is not 0..8.
    pub fn new(number: u32) -> Option<Self> {
        u8::try_from(number).ok().filter(|n| *n < 8).map(Self)
    }

    /// The pin's number, 0..8.
    pub fn number(self) -> u8 {
        self.0
    }

    /// The pin's bit in the per-pin registers and in [`Pl061::pending`].
    pub fn mask(self) -> u8 {
        1 << self.0
    }
}

/// A PL061 GPIO controller.
pub struct Pl061 {
    regs: &'static Pl061Registers,
}

// SAFETY: the controller is reachable from every CPU, so the handle may move between CPUs;
// it is not `Sync` (read-modify-write of the interrupt configuration).
unsafe impl Send for Pl061 {}

impl Pl061 {
    /// Creates the driver for the PL061 whose registers are mapped at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the virtual address of the controller's 4 KiB register block, mapped as
    /// device memory for the rest of the kernel's life.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` maps the register block for 'static; the
        // register types only allow volatile access.
        let regs = unsafe { &*(base as *const Pl061Registers) };
        Self { regs }
    }

    /// Makes `pin` an input that interrupts on its rising edge, clearing a stale event first.
    pub fn enable_edge_interrupt(&self, pin: GpioPin) {
        let bit = u32::from(pin.mask());
        let clear = |register: &ReadWrite<u32, PINS::Register>| register.set(register.get() & !bit);
        let set = |register: &ReadWrite<u32, PINS::Register>| register.set(register.get() | bit);
        clear(&self.regs.ie);
        clear(&self.regs.dir);
        clear(&self.regs.is);
        clear(&self.regs.ibe);
        set(&self.regs.iev);
        self.regs.ic.set(bit);
        set(&self.regs.ie);
    }

    /// Pins with an enabled interrupt pending (masked interrupt status), one bit per pin.
    pub fn pending(&self) -> u8 {
        // PINS::ALL is 8 bits wide.
        self.regs.mis.read(PINS::ALL) as u8
    }

    /// Clears the edge interrupts of the pins in `pin_mask`.
    pub fn clear(&self, pin_mask: u8) {
        self.regs.ic.set(u32::from(pin_mask));
    }

    /// The current level of `pin`.
    pub fn read(&self, pin: GpioPin) -> bool {
        let mask = pin.mask();
        // Address masking: word `mask` of GPIODATA reads only this pin's bit.
        self.regs
            .data
            .get(usize::from(mask))
            .is_some_and(|word| word.read(PINS::ALL) & u32::from(mask) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_zero_to_seven() {
        assert_eq!(GpioPin::new(3).map(GpioPin::mask), Some(0b1000));
        assert_eq!(GpioPin::new(7).map(GpioPin::number), Some(7));
        assert_eq!(GpioPin::new(8), None);
        assert_eq!(GpioPin::new(u32::MAX), None);
    }

    #[test]
    fn fake_controller_programs_rising_edge() {
        let memory: &'static mut [u32] = Vec::leak(vec![0u32; 0x1000 / 4]);
        // Every pin level-sensitive before; GPIODATA word 8 (pin 3 only) reads pin 3 high.
        memory[0x404 / 4] = 0xff;
        memory[8] = 0b1000;
        // SAFETY: the leaked buffer is 4 KiB, aligned and lives forever.
        let gpio = unsafe { Pl061::new(memory.as_mut_ptr() as usize) };
        let pin = GpioPin::new(3).expect("pin 3");
        gpio.enable_edge_interrupt(pin);
        assert_eq!(gpio.regs.is.get(), 0xf7);
        assert_eq!(gpio.regs.iev.get(), 0x08);
        assert_eq!(gpio.regs.ie.get(), 0x08);
        assert!(gpio.read(pin));
        assert!(!gpio.read(GpioPin::new(2).expect("pin 2")));
    }
}
