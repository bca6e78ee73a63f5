//! Console output through the PL011's data register (each byte an MMIO exit to Keel).

use core::fmt;

/// The PL011 of QEMU virt's map, as Keel emulates it.
pub const UART_BASE: u64 = 0x0900_0000;
/// UARTCR: UART, transmit and receive enabled.
const CR_ENABLED: u32 = 0x301;
const CR: u64 = 0x30;
const IMSC: u64 = 0x38;

pub struct Uart;

impl fmt::Write for Uart {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            // SAFETY: UART_BASE is the emulated PL011's data register, device memory of
            // this guest; a store there has no effect on Rust-visible memory.
            unsafe { core::ptr::write_volatile(UART_BASE as *mut u32, u32::from(byte)) };
        }
        Ok(())
    }
}

/// Puts the UART back in working order after the register sweep wrote nonsense in it.
pub fn restore() {
    for (offset, value) in [(IMSC, 0), (CR, CR_ENABLED)] {
        // SAFETY: registers of the emulated PL011 (device memory, no Rust-visible state).
        unsafe { core::ptr::write_volatile((UART_BASE + offset) as *mut u32, value) };
    }
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::uart::Uart, format_args!($($arg)*));
        let _ = core::fmt::Write::write_str(&mut $crate::uart::Uart, "\n");
    }};
}
