//! The host console: the PL011 named by the DTB, printing macros and the receive buffer.

use crate::sync::IrqSpinlock;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};
use keel_drivers::pl011::Pl011;

static CONSOLE: IrqSpinlock<Option<Pl011>> = IrqSpinlock::new(None);

/// Bytes received and not yet read.
const RX_CAPACITY: usize = 4096;
struct RxBuffer {
    bytes: [u8; RX_CAPACITY],
    head: usize,
    len: usize,
    dropped: usize,
}

static RX: IrqSpinlock<RxBuffer> =
    IrqSpinlock::new(RxBuffer { bytes: [0; RX_CAPACITY], head: 0, len: 0, dropped: 0 });

/// Installs the console UART (already mapped at `base`).
///
/// # Safety
/// `base` must be the virtual address of a PL011's registers, mapped as device memory for
/// the rest of the kernel's life and used by no other driver.
pub unsafe fn init(base: usize) {
    // SAFETY: guaranteed by the caller.
    let uart = unsafe { Pl011::new(base) };
    uart.init();
    CONSOLE_BASE.store(base, Ordering::Relaxed);
    *CONSOLE.lock() = Some(uart);
}

/// Turns on receive interrupts; the IRQ handler is `on_receive`.
pub fn enable_receive_interrupt() {
    if let Some(uart) = CONSOLE.lock().as_ref() {
        uart.enable_rx_interrupt();
    }
    // Bytes typed before Keel started may already wait in the UART, with their interrupt
    // cleared by its set-up: take them now, or no further byte would come in.
    on_receive(0);
}

/// Fired by the receive interrupt; the console task waits on it.
static RX_EVENT: crate::exec::IrqWaker = crate::exec::IrqWaker::new();
/// Bytes the console task has handed to readers.
static INPUT: IrqSpinlock<alloc::collections::VecDeque<u8>> = IrqSpinlock::new(alloc::collections::VecDeque::new());
/// Threads blocked in a console read.
static READERS: crate::sched::wait::WaitQueue = crate::sched::wait::WaitQueue::new();
/// Most bytes readers may leave unread before new input is dropped.
const INPUT_CAPACITY: usize = 64 * 1024;

/// The console's first async consumer: the IRQ wakes this task, which moves received
/// bytes to the readers' queue and wakes blocked readers.
pub async fn feed_readers() {
    loop {
        RX_EVENT.wait().await;
        let mut moved = false;
        while let Some(byte) = read_byte() {
            let mut input = INPUT.lock();
            if input.len() < INPUT_CAPACITY {
                input.push_back(byte);
                moved = true;
            }
        }
        if moved {
            READERS.wake_all();
            // `vm console` waits for guest output and typed input in one call.
            crate::vm::registry::wake_console_readers();
        }
    }
}

/// Whether typed input waits for a console read.
pub fn input_pending() -> bool {
    !INPUT.lock().is_empty()
}

/// Blocks until console input is there (or `deadline_ns` passes, or `interrupted()` says
/// stop) and copies up to `buffer.len()` bytes; returns how many.
pub fn read_input(buffer: &mut [u8], deadline_ns: Option<u64>, interrupted: impl Fn() -> bool) -> usize {
    let result = READERS.wait_until(deadline_ns, || {
        if interrupted() {
            return Some(0);
        }
        let mut input = INPUT.lock();
        if input.is_empty() {
            return None;
        }
        let mut n = 0;
        while n < buffer.len() {
            match input.pop_front() {
                Some(byte) => {
                    buffer[n] = byte;
                    n += 1;
                }
                None => break,
            }
        }
        Some(n)
    });
    result.unwrap_or(0)
}

/// Wakes console readers so they recheck (e.g. after a kill).
pub fn wake_readers() {
    READERS.wake_all();
}

/// The console's receive interrupt: move every waiting byte into the buffer.
pub fn on_receive(_intid: u32) {
    {
        let console = CONSOLE.lock();
        let Some(uart) = console.as_ref() else { return };
        // Clear first: a byte arriving during the drain raises the interrupt again (QEMU's
        // PL011 only signals the empty -> non-empty edge).
        uart.clear_interrupts();
        let mut rx = RX.lock();
        while let Some(byte) = uart.read_byte() {
            if rx.len == RX_CAPACITY {
                rx.dropped += 1;
                continue;
            }
            let tail = (rx.head + rx.len) % RX_CAPACITY;
            rx.bytes[tail] = byte;
            rx.len += 1;
        }
    }
    // Outside the console locks: waking takes scheduler locks.
    RX_EVENT.fire();
}

/// The next received byte, if any.
pub fn read_byte() -> Option<u8> {
    let mut rx = RX.lock();
    if rx.len == 0 {
        return None;
    }
    let byte = rx.bytes[rx.head];
    rx.head = (rx.head + 1) % RX_CAPACITY;
    rx.len -= 1;
    Some(byte)
}

/// Whether the last byte written to the console ended a line (updated under the console
/// lock). Kernel lines — `kprintln!`, the log, reports — begin on a line of their own:
/// when user output left the cursor mid-line (the shell's prompt, or a guest's console
/// relayed by `vm console`), a newline comes first, so a log line is never glued into the
/// middle of someone else's line.
static AT_LINE_START: AtomicBool = AtomicBool::new(true);

/// The console as kernel lines write to it: a newline first unless the cursor is at the
/// start of a line, and `AT_LINE_START` kept up to date.
struct LineWriter<'a> {
    uart: &'a mut Pl011,
    started: bool,
}

impl<'a> LineWriter<'a> {
    fn new(uart: &'a mut Pl011) -> Self {
        Self { uart, started: false }
    }
}

impl Write for LineWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let Some(last) = text.bytes().last() else { return Ok(()) };
        if !self.started && !AT_LINE_START.load(Ordering::Relaxed) {
            self.uart.write_str("\n")?;
        }
        self.started = true;
        self.uart.write_str(text)?;
        AT_LINE_START.store(last == b'\n', Ordering::Relaxed);
        Ok(())
    }
}

/// Writes raw bytes to the console (user output).
pub fn write_bytes(bytes: &[u8]) {
    if let Some(uart) = CONSOLE.lock().as_ref() {
        for &byte in bytes {
            if byte == b'\n' {
                uart.write_byte(b'\r');
            }
            uart.write_byte(byte);
        }
        if let Some(&last) = bytes.last() {
            AT_LINE_START.store(last == b'\n', Ordering::Relaxed);
        }
    }
}

/// Writes a kernel line to the console, on a line of its own (nothing before the console
/// exists).
pub fn print(args: fmt::Arguments<'_>) {
    if let Some(uart) = CONSOLE.lock().as_mut() {
        let _ = LineWriter::new(uart).write_fmt(args);
    }
}

/// Runs `f` with the console to itself, for multi-line output that must not interleave
/// (starting on a line of its own). If the lock cannot be had (its holder may have
/// crashed), writes without it.
pub fn with_exclusive(f: impl FnOnce(&mut dyn Write)) {
    match CONSOLE.try_lock_for(10_000_000) {
        Some(mut console) => {
            if let Some(uart) = console.as_mut() {
                f(&mut LineWriter::new(uart));
            }
        }
        None => {
            if let Some(mut uart) = stolen_console() {
                f(&mut LineWriter::new(&mut uart));
            }
        }
    }
}

/// Prints even when the console lock is stuck.
pub fn force_print(args: fmt::Arguments<'_>) {
    with_exclusive(|out| {
        let _ = out.write_fmt(args);
    });
}

/// The UART's address, for `stolen_console`.
static CONSOLE_BASE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

fn stolen_console() -> Option<Pl011> {
    let base = CONSOLE_BASE.load(Ordering::Relaxed);
    if base == 0 {
        return None;
    }
    // SAFETY: `base` was recorded by the boot code after mapping the console UART; using
    // a second handle only happens when the owner is stuck, to get a last report out.
    Some(unsafe { Pl011::new(base) })
}

#[macro_export]
macro_rules! kprintln {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
