//! Arm PL011 UART: the host console (QEMU `virt` has one at 0x0900_0000, SPI 1 = INTID 33).

use core::fmt;

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    DR [
        DATA OFFSET(0) NUMBITS(8) [],
    ],
    FR [
        /// Transmitter busy (also while the TX FIFO is not empty).
        BUSY OFFSET(3) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
    ],
    LCR_H [
        /// FIFO enable.
        FEN OFFSET(4) NUMBITS(1) [],
        /// Word length.
        WLEN OFFSET(5) NUMBITS(2) [
            FiveBits = 0b00,
            EightBits = 0b11,
        ],
    ],
    CR [
        UARTEN OFFSET(0) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        RXE OFFSET(9) NUMBITS(1) [],
    ],
    /// Interrupt bits, shared by IMSC (mask), MIS (masked status) and ICR (clear).
    INT [
        /// Receive: the RX FIFO reached its trigger level.
        RX OFFSET(4) NUMBITS(1) [],
        /// Receive timeout: data sits in the RX FIFO below the trigger level.
        RT OFFSET(6) NUMBITS(1) [],
        /// All eleven interrupt sources.
        ALL OFFSET(0) NUMBITS(11) [],
    ]
}

register_structs! {
    /// The PL011 register block (PL011 TRM, table 3-1).
    Pl011Registers {
        (0x000 => dr: ReadWrite<u32, DR::Register>),
        (0x004 => _rsr_ecr),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved0),
        (0x024 => ibrd: ReadWrite<u32>),
        (0x028 => fbrd: ReadWrite<u32>),
        (0x02c => lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x030 => cr: ReadWrite<u32, CR::Register>),
        (0x034 => _ifls),
        (0x038 => imsc: ReadWrite<u32, INT::Register>),
        (0x03c => _ris),
        (0x040 => mis: ReadOnly<u32, INT::Register>),
        (0x044 => icr: WriteOnly<u32, INT::Register>),
        (0x048 => _dmacr_and_ids),
        (0x1000 => @END),
    }
}

/// Reference clock of QEMU `virt`'s UART (the DTB's `apb-pclk`, 24 MHz).
const UART_CLOCK_HZ: u32 = 24_000_000;
/// Line speed programmed by `init` (QEMU ignores it; real PL011s need it).
const BAUD_RATE: u32 = 115_200;
/// How many times `init` polls BUSY before reprogramming the UART anyway.
const BUSY_POLL_LIMIT: u32 = 100_000;

/// A PL011 UART.
pub struct Pl011 {
    regs: &'static Pl011Registers,
}

// SAFETY: the UART is reachable from every CPU, so the handle may move between CPUs; it is
// not `Sync` — the kernel serializes writers (a console lock).
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// Creates the driver for the PL011 whose registers are mapped at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the virtual address of the UART's 4 KiB register block, mapped as
    /// device memory for the rest of the kernel's life.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` maps the register block for 'static; the
        // register types only allow volatile access.
        let regs = unsafe { &*(base as *const Pl011Registers) };
        Self { regs }
    }

    /// Resets the UART to 115200 8N1 (FIFOs left on or off as found), all interrupts masked
    /// and cleared, and the transmitter and receiver enabled.
    pub fn init(&self) {
        self.regs.cr.set(0);
        for _ in 0..BUSY_POLL_LIMIT {
            if !self.regs.fr.is_set(FR::BUSY) {
                break;
            }
            core::hint::spin_loop();
        }
        self.regs.imsc.set(0);
        self.regs.icr.write(INT::ALL::SET);
        let (integer, fraction) = baud_divisors(UART_CLOCK_HZ, BAUD_RATE);
        self.regs.ibrd.set(integer);
        self.regs.fbrd.set(fraction);
        // The divisors latch on the LCR_H write that follows them. FEN stays as it was:
        // switching the FIFOs on or off flushes them, which would lose what was typed before
        // Keel started (QEMU starts with them off and holds back input while its one-byte
        // holding register is full, so nothing is lost either way).
        let fifos = if self.regs.lcr_h.is_set(LCR_H::FEN) { LCR_H::FEN::SET } else { LCR_H::FEN::CLEAR };
        self.regs.lcr_h.write(LCR_H::WLEN::EightBits + fifos);
        self.regs
            .cr
            .write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        while self.regs.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.dr.write(DR::DATA.val(u32::from(byte)));
    }

    /// Takes one received byte, or `None` if the receive FIFO is empty. Bytes that arrived
    /// with a framing, parity or overrun error are returned as received.
    pub fn read_byte(&self) -> Option<u8> {
        if self.regs.fr.is_set(FR::RXFE) {
            return None;
        }
        // DATA is an 8-bit field.
        Some(self.regs.dr.read(DR::DATA) as u8)
    }

    /// Unmasks the receive and receive-timeout interrupts, so that any received byte
    /// eventually raises the UART's interrupt.
    pub fn enable_rx_interrupt(&self) {
        self.regs.imsc.modify(INT::RX::SET + INT::RT::SET);
    }

    /// Whether an unmasked interrupt is pending.
    pub fn interrupt_pending(&self) -> bool {
        self.regs.mis.get() != 0
    }

    /// Clears every pending interrupt.
    pub fn clear_interrupts(&self) {
        self.regs.icr.write(INT::ALL::SET);
    }
}

impl fmt::Write for Pl011 {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for_each_terminal_byte(text, |byte| self.write_byte(byte));
        Ok(())
    }
}

/// Feeds `text` to `emit` byte by byte, turning each `\n` into `\r\n` for terminals.
fn for_each_terminal_byte(text: &str, mut emit: impl FnMut(u8)) {
    for byte in text.bytes() {
        if byte == b'\n' {
            emit(b'\r');
        }
        emit(byte);
    }
}

/// IBRD and FBRD for a baud rate: the divisor clock / (16 * baud) in 16.6 fixed point,
/// rounded to nearest.
fn baud_divisors(clock_hz: u32, baud: u32) -> (u32, u32) {
    // divisor * 64 = clock * 4 / baud; + baud / 2 rounds to nearest.
    let scaled = (u64::from(clock_hz) * 4 + u64::from(baud) / 2) / u64::from(baud.max(1));
    let integer = (scaled >> 6).min(0xffff) as u32;
    let fraction = (scaled & 0x3f) as u32;
    (integer, fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newline_becomes_crlf() {
        let mut out = Vec::new();
        for_each_terminal_byte("a\nb\r\n", |byte| out.push(byte));
        assert_eq!(out, b"a\r\nb\r\r\n");
    }

    #[test]
    fn baud_divisors_match_the_trm_examples() {
        assert_eq!(baud_divisors(24_000_000, 115_200), (13, 1));
        assert_eq!(baud_divisors(4_000_000, 230_400), (1, 5)); // TRM 3.3.6 example
    }

    #[test]
    fn fake_uart_reads_and_writes_through_dr() {
        let memory: &'static mut [u32] = Vec::leak(vec![0u32; 0x1000 / 4]);
        memory[0] = u32::from(b'k');
        // SAFETY: the leaked buffer is 4 KiB, aligned and lives forever.
        let uart = unsafe { Pl011::new(memory.as_mut_ptr() as usize) };
        uart.init();
        assert_eq!(uart.regs.cr.get(), 0x301);
        assert_eq!(uart.regs.lcr_h.get(), 0x60, "8 bits; the FIFOs stay off as found");
        assert_eq!(
            uart.read_byte(),
            Some(b'k'),
            "FR.RXFE reads 0 on fake memory"
        );
        uart.write_byte(b'!');
        assert_eq!(uart.regs.dr.get(), u32::from(b'!'));
        uart.enable_rx_interrupt();
        assert_eq!(uart.regs.imsc.get(), 0x50);
    }
}
