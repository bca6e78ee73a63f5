//! Power off and reset through PSCI, and the machine's power button.

use crate::arch::cpu;
use crate::sync::IrqSpinlock;
use keel_drivers::pl061::{GpioPin, Pl061};
use keel_drivers::psci::Psci;

static PSCI: spin::Once<Psci> = spin::Once::new();
static POWER_BUTTON: IrqSpinlock<Option<(Pl061, GpioPin)>> = IrqSpinlock::new(None);

/// Records the PSCI conduit the DTB names.
pub fn init(psci: Psci) {
    PSCI.call_once(|| psci);
}

pub fn psci() -> Option<&'static Psci> {
    PSCI.get()
}

/// Powers the machine off: says so on the console, then PSCI SYSTEM_OFF.
pub fn power_off() -> ! {
    cpu::irq_save();
    crate::console::force_print(format_args!("keel: power off\n"));
    if let Some(psci) = PSCI.get() {
        psci.system_off();
    }
    crate::console::force_print(format_args!("keel: no PSCI to power off with; halted\n"));
    cpu::halt()
}

/// Resets the machine: says so, then PSCI SYSTEM_RESET.
pub fn reboot() -> ! {
    cpu::irq_save();
    crate::console::force_print(format_args!("keel: reboot\n"));
    if let Some(psci) = PSCI.get() {
        psci.system_reset();
    }
    crate::console::force_print(format_args!("keel: no PSCI to reset with; halted\n"));
    cpu::halt()
}

/// Arms the power button: `gpio` is the mapped PL061, `pin` the key's line.
pub fn init_power_button(gpio: Pl061, pin: GpioPin, intid: u32) {
    gpio.clear(0xff);
    gpio.enable_edge_interrupt(pin);
    *POWER_BUTTON.lock() = Some((gpio, pin));
    crate::irq::register_shared(intid, keel_drivers::gicv3::Trigger::Level, on_power_button);
}

/// The GPIO interrupt: a press of the power button shuts Keel down cleanly.
fn on_power_button(_intid: u32) {
    let pressed = match POWER_BUTTON.lock().as_ref() {
        Some((gpio, pin)) => {
            let pending = gpio.pending();
            gpio.clear(pending);
            pending & pin.mask() != 0
        }
        None => false,
    };
    if pressed {
        crate::console::force_print(format_args!("keel: power button\n"));
        power_off();
    }
}
