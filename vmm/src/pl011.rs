//! A PL011 UART model (the guest console), with the registers Linux's amba-pl011 driver uses.
//!
//! Transmission is instant: a byte written to DR lands in a bounded output buffer that the
//! owner drains with [`Pl011::drain_output`], so the TX FIFO is always empty (TXFE set, TXFF
//! and BUSY clear) and TXIS is raised at reset and after every write. Input goes through
//! [`Pl011::push_input`] into a software queue of [`RX_QUEUE_BYTES`] bytes: larger than the
//! 16-entry hardware FIFO so a pasted line is not lost while the guest is slow to read, yet
//! bounded. The guest sees a 16-entry FIFO (PeriphID revision 1): RXFF once 16 bytes wait,
//! RXIS at the IFLS trigger level, and RTIS whenever input waits (with no clock, the receive
//! timeout has always elapsed). ICR clears RXIS/RTIS until the next input byte arrives, and
//! TXIS until the next write. The interrupt is a level SPI, [`layout::UART_INTID`].

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::bus::{AccessWidth, InterruptSink, MmioDevice, MmioError};
use crate::layout;

/// Bytes of guest input kept until the guest reads them.
pub const RX_QUEUE_BYTES: usize = 4096;
/// Bytes of guest output kept until the owner drains them; more are dropped and counted.
pub const TX_BUFFER_BYTES: usize = 64 * 1024;
/// The FIFO depth the guest sees (PL011 r1p4: 16; Linux derives it from PeriphID2).
const FIFO_DEPTH: usize = 16;

const DR: u64 = 0x000;
const RSR_ECR: u64 = 0x004;
const FR: u64 = 0x018;
const ILPR: u64 = 0x020;
const IBRD: u64 = 0x024;
const FBRD: u64 = 0x028;
const LCR_H: u64 = 0x02c;
const CR: u64 = 0x030;
const IFLS: u64 = 0x034;
const IMSC: u64 = 0x038;
const RIS: u64 = 0x03c;
const MIS: u64 = 0x040;
const ICR: u64 = 0x044;
const DMACR: u64 = 0x048;
const ID_FIRST: u64 = 0xfe0;
const ID_LAST: u64 = 0xffc;

/// PeriphID0..3 then PrimeCellID0..3 of an ARM PL011 r1p4: part 0x011, designer 0x41 ('A'),
/// revision 1, and the PrimeCell signature 0xb105f00d.
const ID_BYTES: [u8; 8] = [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

// Flag register bits.
const FR_CTS: u32 = 1 << 0;
const FR_DSR: u32 = 1 << 1;
const FR_DCD: u32 = 1 << 2;
const FR_RXFE: u32 = 1 << 4;
const FR_RXFF: u32 = 1 << 6;
const FR_TXFE: u32 = 1 << 7;

// Interrupt bits, the same in IMSC, RIS, MIS and ICR.
const INT_RX: u32 = 1 << 4;
const INT_TX: u32 = 1 << 5;
const INT_RT: u32 = 1 << 6;
const INT_ALL: u32 = 0x7ff;

const LCR_H_FEN: u32 = 1 << 4;
/// DR: break error (BE) with no data.
const DR_BREAK: u16 = 1 << 10;
const CR_RESET: u32 = 0x300; // TXE | RXE, UART disabled

/// The PL011 state. It transmits and receives whether or not the guest has set CR.UARTEN,
/// as QEMU's model does, so early consoles work before the driver enables the UART.
pub struct Pl011 {
    /// Received characters as DR reads them: data in bits [7:0], error flags above.
    rx: VecDeque<u16>,
    output: Vec<u8>,
    dropped_output: u64,
    ilpr: u32,
    ibrd: u32,
    fbrd: u32,
    lcr_h: u32,
    cr: u32,
    ifls: u32,
    imsc: u32,
    dmacr: u32,
    /// TXIS: set by each write to DR (the FIFO drains past the level at once), cleared by ICR.
    tx_raised: bool,
    /// RXIS/RTIS bits cleared through ICR; the next input byte re-arms them.
    rx_cleared: u32,
    /// The level last driven on the interrupt line.
    line_high: bool,
}

impl Default for Pl011 {
    fn default() -> Self {
        Self::new()
    }
}

impl Pl011 {
    /// A UART in its reset state.
    pub fn new() -> Self {
        Self {
            rx: VecDeque::new(),
            output: Vec::new(),
            dropped_output: 0,
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            lcr_h: 0,
            cr: CR_RESET,
            ifls: 0x12,
            imsc: 0,
            dmacr: 0,
            tx_raised: true,
            rx_cleared: 0,
            line_high: false,
        }
    }

    /// Queues guest input; returns how many bytes were taken (fewer than `bytes.len()` when
    /// the queue is full — the rest stays the caller's). Call [`Pl011::update_irq`] after.
    pub fn push_input(&mut self, bytes: &[u8]) -> usize {
        let taken = bytes.len().min(RX_QUEUE_BYTES - self.rx.len());
        self.rx.extend(bytes[..taken].iter().map(|&byte| u16::from(byte)));
        if taken > 0 {
            self.rx_cleared = 0;
        }
        taken
    }

    /// Queues a break condition (DR reads 0 with BE set), as a serial line held low does.
    /// Linux takes a break followed by a key as a magic SysRq request. Returns false when
    /// the queue is full.
    pub fn push_break(&mut self) -> bool {
        if self.rx.len() >= RX_QUEUE_BYTES {
            return false;
        }
        self.rx.push_back(DR_BREAK);
        self.rx_cleared = 0;
        true
    }

    /// Free room in the input queue.
    pub fn input_room(&self) -> usize {
        RX_QUEUE_BYTES - self.rx.len()
    }

    /// Hands everything the guest wrote since the last call to `to`, then forgets it (the
    /// buffer is kept: no allocation per byte on the console's hot path).
    pub fn drain_output(&mut self, to: impl FnOnce(&[u8])) {
        if !self.output.is_empty() {
            to(&self.output);
            self.output.clear();
        }
    }

    /// Output bytes dropped because the owner did not drain the buffer in time.
    pub fn dropped_output(&self) -> u64 {
        self.dropped_output
    }

    /// Drives the interrupt line to the UART's current level (always calls the sink).
    pub fn update_irq(&mut self, irq: &mut dyn InterruptSink) {
        self.line_high = self.masked_status() != 0;
        irq.set_spi_level(layout::UART_INTID, self.line_high);
    }

    /// Drives the line only when its level changed.
    fn sync_irq(&mut self, irq: &mut dyn InterruptSink) {
        if (self.masked_status() != 0) != self.line_high {
            self.update_irq(irq);
        }
    }

    /// RXIS fires once this many bytes wait (IFLS RXIFLSEL; 1 with the FIFO disabled).
    fn rx_trigger(&self) -> usize {
        if self.lcr_h & LCR_H_FEN == 0 {
            return 1;
        }
        match (self.ifls >> 3) & 7 {
            0 => FIFO_DEPTH / 8,
            1 => FIFO_DEPTH / 4,
            2 => FIFO_DEPTH / 2,
            3 => FIFO_DEPTH * 3 / 4,
            _ => FIFO_DEPTH * 7 / 8,
        }
    }

    fn raw_status(&self) -> u32 {
        let mut status = 0;
        if self.tx_raised {
            status |= INT_TX;
        }
        if !self.rx.is_empty() {
            status |= INT_RT;
        }
        if self.rx.len() >= self.rx_trigger() {
            status |= INT_RX;
        }
        status & !self.rx_cleared
    }

    fn masked_status(&self) -> u32 {
        self.raw_status() & self.imsc
    }

    fn flags(&self) -> u32 {
        // Always "connected" (CTS, DSR, DCD), so no open or flow control waits for a modem.
        let mut flags = FR_TXFE | FR_CTS | FR_DSR | FR_DCD;
        if self.rx.is_empty() {
            flags |= FR_RXFE;
        }
        let depth = if self.lcr_h & LCR_H_FEN != 0 { FIFO_DEPTH } else { 1 };
        if self.rx.len() >= depth {
            flags |= FR_RXFF;
        }
        flags
    }

    fn read_register(&mut self, offset: u64) -> Result<u32, MmioError> {
        Ok(match offset {
            // The byte, with no framing, parity, break or overrun error bits.
            DR => self.rx.pop_front().map_or(0, u32::from),
            RSR_ECR => 0,
            FR => self.flags(),
            ILPR => self.ilpr,
            IBRD => self.ibrd,
            FBRD => self.fbrd,
            LCR_H => self.lcr_h,
            CR => self.cr,
            IFLS => self.ifls,
            IMSC => self.imsc,
            RIS => self.raw_status(),
            MIS => self.masked_status(),
            DMACR => self.dmacr,
            ICR => return Err(MmioError::WriteOnly),
            ID_FIRST..=ID_LAST => u32::from(ID_BYTES[((offset - ID_FIRST) / 4) as usize]),
            _ => return Err(MmioError::BadRegister),
        })
    }

    fn write_register(&mut self, offset: u64, value: u32) -> Result<(), MmioError> {
        match offset {
            DR => {
                if self.output.len() < TX_BUFFER_BYTES {
                    self.output.push(value as u8);
                } else {
                    self.dropped_output += 1;
                }
                self.tx_raised = true;
            }
            RSR_ECR => {} // clears error flags; there never are any
            ILPR => self.ilpr = value & 0xff,
            IBRD => self.ibrd = value & 0xffff,
            FBRD => self.fbrd = value & 0x3f,
            LCR_H => self.lcr_h = value & 0xff,
            CR => self.cr = value & 0xffff,
            IFLS => self.ifls = value & 0x3f,
            IMSC => self.imsc = value & INT_ALL,
            ICR => {
                if value & INT_TX != 0 {
                    self.tx_raised = false;
                }
                self.rx_cleared |= value & (INT_RX | INT_RT);
            }
            DMACR => self.dmacr = value & 0x7,
            FR | RIS | MIS | ID_FIRST..=ID_LAST => return Err(MmioError::ReadOnly),
            _ => return Err(MmioError::BadRegister),
        }
        Ok(())
    }
}

/// Registers are 32 bits wide at word-aligned offsets; byte, halfword and word accesses to
/// the start of a register are accepted (Linux uses 16-bit accesses, earlycon 8-bit writes).
fn check_access(offset: u64, width: AccessWidth) -> Result<(), MmioError> {
    if width == AccessWidth::Double || !offset.is_multiple_of(4) || offset > ID_LAST {
        return Err(MmioError::BadRegister);
    }
    Ok(())
}

impl MmioDevice for Pl011 {
    fn name(&self) -> &'static str {
        "pl011"
    }

    fn read(&mut self, offset: u64, width: AccessWidth, irq: &mut dyn InterruptSink) -> Result<u64, MmioError> {
        check_access(offset, width)?;
        let value = self.read_register(offset)?;
        self.sync_irq(irq);
        Ok(u64::from(value) & width.mask())
    }

    fn write(
        &mut self,
        offset: u64,
        width: AccessWidth,
        value: u64,
        irq: &mut dyn InterruptSink,
    ) -> Result<(), MmioError> {
        check_access(offset, width)?;
        self.write_register(offset, (value & width.mask()) as u32)?;
        self.sync_irq(irq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the guest wrote since the last look.
    fn take_output(uart: &mut Pl011) -> Vec<u8> {
        let mut output = Vec::new();
        uart.drain_output(|bytes| output.extend_from_slice(bytes));
        output
    }
    use crate::bus::AccessWidth::{Byte, Double, Half, Word};

    /// Records every level driven, and the current one.
    #[derive(Default)]
    struct Line {
        events: Vec<(u32, bool)>,
    }

    impl Line {
        fn high(&self) -> bool {
            self.events.last().is_some_and(|&(_, high)| high)
        }
    }

    impl InterruptSink for Line {
        fn set_spi_level(&mut self, intid: u32, high: bool) {
            self.events.push((intid, high));
        }
    }

    fn rd(uart: &mut Pl011, line: &mut Line, offset: u64) -> u32 {
        uart.read(offset, Half, line).unwrap() as u32
    }

    fn wr(uart: &mut Pl011, line: &mut Line, offset: u64, value: u32) {
        uart.write(offset, Half, u64::from(value), line).unwrap();
    }

    /// What Linux's AMBA bus and amba-pl011 do from probe to an opened port.
    fn linux_probe_and_startup(uart: &mut Pl011, line: &mut Line) {
        let id = |i: u64, uart: &mut Pl011, line: &mut Line| uart.read(ID_FIRST + 4 * i, Word, line).unwrap();
        let periphid = (0..4).fold(0, |acc, i| acc | id(i, uart, line) << (8 * i));
        let cellid = (0..4).fold(0, |acc, i| acc | id(i + 4, uart, line) << (8 * i));
        assert_eq!(periphid, 0x0014_1011, "part 0x011, ARM, revision 1 (16-byte FIFO)");
        assert_eq!(cellid, 0xb105_f00d);
        // pl011_hwinit: clear errors and RX, remember IMSC, unmask RX.
        wr(uart, line, ICR, 0x780 | INT_RT | INT_RX);
        assert_eq!(rd(uart, line, IMSC), 0);
        wr(uart, line, IMSC, INT_RT | INT_RX);
        // pl011_startup
        wr(uart, line, IFLS, 0x12);
        wr(uart, line, CR, 0x301);
        // pl011_set_termios: 115200 baud from 24 MHz, 8N1 with FIFOs.
        wr(uart, line, IBRD, 13);
        wr(uart, line, FBRD, 1);
        wr(uart, line, LCR_H, 0x70);
        // pl011_enable_interrupts: clear RX, drain the FIFO, unmask RX and RX timeout.
        wr(uart, line, ICR, INT_RT | INT_RX);
        for _ in 0..32 {
            if rd(uart, line, FR) & FR_RXFE != 0 {
                break;
            }
            rd(uart, line, DR);
        }
        wr(uart, line, IMSC, INT_RT | INT_RX);
    }

    #[test]
    fn reset_values() {
        let mut uart = Pl011::new();
        let mut line = Line::default();
        assert_eq!(rd(&mut uart, &mut line, FR), FR_TXFE | FR_RXFE | FR_CTS | FR_DSR | FR_DCD);
        assert_eq!(rd(&mut uart, &mut line, CR), 0x300);
        assert_eq!(rd(&mut uart, &mut line, IFLS), 0x12);
        assert_eq!(rd(&mut uart, &mut line, RIS), INT_TX, "the empty TX FIFO is below any level");
        assert_eq!(rd(&mut uart, &mut line, MIS), 0);
        assert_eq!(rd(&mut uart, &mut line, RSR_ECR), 0);
        assert_eq!(uart.name(), "pl011");
        assert!(line.events.is_empty(), "nothing to signal");
    }

    #[test]
    fn linux_probe_init_write_and_interrupt_driven_read() {
        let mut uart = Pl011::new();
        let mut line = Line::default();
        linux_probe_and_startup(&mut uart, &mut line);
        assert_eq!(rd(&mut uart, &mut line, IBRD), 13);
        assert_eq!(rd(&mut uart, &mut line, FBRD), 1);
        assert_eq!(rd(&mut uart, &mut line, LCR_H), 0x70);
        assert_eq!(rd(&mut uart, &mut line, CR), 0x301);

        // Console output: earlycon writes bytes, the driver halfwords; FR never says full or busy.
        uart.write(DR, Byte, u64::from(b'o'), &mut line).unwrap();
        for &byte in b"k\n" {
            assert_eq!(rd(&mut uart, &mut line, FR) & (FR_RXFF | 1 << 5 | 1 << 3), 0);
            wr(&mut uart, &mut line, DR, u32::from(byte));
        }
        assert_eq!(take_output(&mut uart), b"ok\n");
        assert!(take_output(&mut uart).is_empty());
        assert!(!line.high(), "TX is masked");

        // Input: below the trigger level (8), only the receive timeout fires.
        assert_eq!(uart.push_input(b"ls\n"), 3);
        uart.update_irq(&mut line);
        assert_eq!(line.events.last(), Some(&(layout::UART_INTID, true)));
        assert_eq!(rd(&mut uart, &mut line, MIS), INT_RT);
        // The handler: read MIS, drain until RXFE; the line drops with the last byte.
        let mut received = Vec::new();
        while rd(&mut uart, &mut line, FR) & FR_RXFE == 0 {
            received.push(rd(&mut uart, &mut line, DR) as u8);
        }
        assert_eq!(received, b"ls\n");
        assert!(!line.high());
        assert_eq!(rd(&mut uart, &mut line, MIS), 0);

        // At the trigger level RXIS joins RTIS.
        uart.push_input(b"12345678");
        uart.update_irq(&mut line);
        assert_eq!(rd(&mut uart, &mut line, MIS), INT_RX | INT_RT);
        assert_eq!(uart.read(DR, Word, &mut line), Ok(u64::from(b'1')), "no error bits");
        assert_eq!(rd(&mut uart, &mut line, MIS), INT_RT, "below the level again");
    }

    #[test]
    fn masked_input_raises_nothing_until_unmasked() {
        let mut uart = Pl011::new();
        let mut line = Line::default();
        uart.push_input(b"x");
        uart.update_irq(&mut line);
        assert!(!line.high());
        assert_eq!(rd(&mut uart, &mut line, RIS) & (INT_RX | INT_RT), INT_RX | INT_RT, "FIFO off: 1 byte");
        assert_eq!(rd(&mut uart, &mut line, MIS), 0);
        wr(&mut uart, &mut line, IMSC, INT_RX);
        assert!(line.high(), "unmasking a pending interrupt raises the line at once");
        wr(&mut uart, &mut line, IMSC, 0);
        assert!(!line.high());
    }

    #[test]
    fn icr_clears_until_the_next_event() {
        let mut uart = Pl011::new();
        let mut line = Line::default();
        wr(&mut uart, &mut line, IMSC, INT_RX | INT_RT | INT_TX);
        assert!(line.high(), "TXIS is pending after reset");
        wr(&mut uart, &mut line, ICR, INT_TX);
        assert!(!line.high());
        wr(&mut uart, &mut line, DR, u32::from(b'a'));
        assert!(line.high(), "the byte left at once: the FIFO fell below the level again");
        wr(&mut uart, &mut line, ICR, INT_TX);

        uart.push_input(b"ab");
        uart.update_irq(&mut line);
        assert!(line.high());
        wr(&mut uart, &mut line, ICR, INT_RT);
        assert_eq!(rd(&mut uart, &mut line, RIS), INT_RX, "FIFO off: RXIS stays");
        wr(&mut uart, &mut line, ICR, INT_RX);
        assert_eq!(rd(&mut uart, &mut line, RIS), 0);
        assert!(!line.high());
        uart.push_input(b"c");
        uart.update_irq(&mut line);
        assert!(line.high(), "new input re-arms RX");
        assert_eq!(rd(&mut uart, &mut line, RIS), INT_RX | INT_RT);
    }

    #[test]
    fn unmasked_tx_interrupt_serves_linux_irq_path() {
        let mut uart = Pl011::new();
        let mut line = Line::default();
        linux_probe_and_startup(&mut uart, &mut line);
        // pl011_start_tx: unmask TXIM; the handler writes fifosize / 2 bytes a pass, and
        // TXIS stays raised until everything is out and pl011_stop_tx masks it again.
        wr(&mut uart, &mut line, IMSC, INT_RX | INT_RT | INT_TX);
        let text = b"0123456789abcdefghij";
        for chunk in text.chunks(FIFO_DEPTH / 2) {
            assert!(line.high());
            assert_eq!(rd(&mut uart, &mut line, MIS), INT_TX);
            for &byte in chunk {
                wr(&mut uart, &mut line, DR, u32::from(byte));
            }
        }
        wr(&mut uart, &mut line, IMSC, INT_RX | INT_RT);
        assert!(!line.high());
        assert_eq!(take_output(&mut uart), text);
    }

    #[test]
    fn input_is_bounded_and_fifo_flags_follow_it() {
        let mut uart = Pl011::new();
        let mut line = Line::default();
        wr(&mut uart, &mut line, LCR_H, 0x70);
        let many = vec![b'z'; RX_QUEUE_BYTES + 100];
        assert_eq!(uart.push_input(&many), RX_QUEUE_BYTES);
        assert_eq!(uart.push_input(b"more"), 0);
        assert_eq!(uart.input_room(), 0);
        assert_ne!(rd(&mut uart, &mut line, FR) & FR_RXFF, 0);
        for _ in 0..RX_QUEUE_BYTES - FIFO_DEPTH + 1 {
            rd(&mut uart, &mut line, DR);
        }
        assert_eq!(rd(&mut uart, &mut line, FR) & (FR_RXFF | FR_RXFE), 0, "15 left: neither full nor empty");
        for _ in 0..FIFO_DEPTH - 1 {
            assert_eq!(rd(&mut uart, &mut line, DR), u32::from(b'z'));
        }
        assert_ne!(rd(&mut uart, &mut line, FR) & FR_RXFE, 0);
        assert_eq!(rd(&mut uart, &mut line, DR), 0, "reading an empty FIFO is harmless");
        assert_eq!(uart.input_room(), RX_QUEUE_BYTES);
    }

    #[test]
    fn output_is_bounded_and_drops_are_counted() {
        let mut uart = Pl011::new();
        let mut line = Line::default();
        for i in 0..TX_BUFFER_BYTES + 10 {
            uart.write(DR, Byte, i as u64, &mut line).unwrap();
        }
        assert_eq!(uart.dropped_output(), 10);
        assert_eq!(take_output(&mut uart).len(), TX_BUFFER_BYTES);
        wr(&mut uart, &mut line, DR, 0x1_41); // only the low byte is data
        assert_eq!(take_output(&mut uart), b"A");
    }

    #[test]
    fn trigger_levels_follow_ifls() {
        let mut uart = Pl011::new();
        let mut line = Line::default();
        wr(&mut uart, &mut line, LCR_H, 0x70);
        for (rxiflsel, level) in [(0, 2), (1, 4), (2, 8), (3, 12), (4, 14), (7, 14)] {
            wr(&mut uart, &mut line, IFLS, rxiflsel << 3);
            uart.push_input(&vec![b'.'; level - 1]);
            assert_eq!(rd(&mut uart, &mut line, RIS) & INT_RX, 0, "level {level}");
            uart.push_input(b".");
            assert_eq!(rd(&mut uart, &mut line, RIS) & INT_RX, INT_RX, "level {level}");
            while rd(&mut uart, &mut line, FR) & FR_RXFE == 0 {
                rd(&mut uart, &mut line, DR);
            }
        }
    }

    #[test]
    fn bad_offsets_and_widths_are_refused() {
        let mut uart = Pl011::new();
        let mut line = Line::default();
        assert_eq!(uart.read(DR, Double, &mut line), Err(MmioError::BadRegister));
        assert_eq!(uart.write(DR, Double, 0, &mut line), Err(MmioError::BadRegister));
        assert_eq!(uart.read(0x001, Byte, &mut line), Err(MmioError::BadRegister));
        assert_eq!(uart.read(0x008, Word, &mut line), Err(MmioError::BadRegister), "reserved");
        assert_eq!(uart.read(0x080, Word, &mut line), Err(MmioError::BadRegister), "test registers");
        assert_eq!(uart.read(0x1000, Word, &mut line), Err(MmioError::BadRegister));
        assert_eq!(uart.read(u64::MAX - 3, Word, &mut line), Err(MmioError::BadRegister));
        assert_eq!(uart.read(ICR, Word, &mut line), Err(MmioError::WriteOnly));
        for offset in [FR, RIS, MIS, ID_FIRST, ID_LAST] {
            assert_eq!(uart.write(offset, Word, 0, &mut line), Err(MmioError::ReadOnly));
        }
        assert!(take_output(&mut uart).is_empty(), "refused accesses have no effect");
    }

    #[test]
    fn arbitrary_accesses_never_panic() {
        let mut uart = Pl011::new();
        let mut line = Line::default();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..50_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let offset = if seed & 1 == 0 { seed >> 52 } else { seed >> 8 };
            let width = AccessWidth::from_sas(seed >> 4);
            if seed & 2 == 0 {
                let _ = uart.read(offset, width, &mut line);
            } else {
                let _ = uart.write(offset, width, seed, &mut line);
            }
            if seed & 0xf0_0000 == 0 {
                uart.push_input(&seed.to_le_bytes());
            }
        }
        uart.update_irq(&mut line);
        assert!(line.events.iter().all(|&(intid, _)| intid == layout::UART_INTID));
    }

    #[test]
    fn a_break_reads_as_be_then_data_follows() {
        let mut uart = Pl011::new();
        let mut line = Line::default();
        assert!(uart.push_break());
        uart.push_input(b"o");
        assert_eq!(uart.read(DR, AccessWidth::Word, &mut line), Ok(1 << 10));
        assert_eq!(uart.read(DR, AccessWidth::Word, &mut line), Ok(u64::from(b'o')));
    }

}
