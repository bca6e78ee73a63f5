//! Console output: `print!`, `println!` and `eprintln!` write to fd 1 and 2.
//!
//! Each call formats into a small buffer and writes it in as few `write`s as it can, so the
//! lines of different processes rarely mix. The kernel's console turns `\n` into `\r\n`.

use crate::sys;
use core::fmt;

const BUFFER: usize = 256;

/// Formatted output to one fd, buffered until full or flushed.
pub struct Writer {
    fd: u64,
    buffer: [u8; BUFFER],
    len: usize,
}

impl Writer {
    pub const fn new(fd: u64) -> Self {
        Writer {
            fd,
            buffer: [0; BUFFER],
            len: 0,
        }
    }

    /// Writes out what is buffered. Console errors are dropped: there is nowhere to report
    /// them.
    pub fn flush(&mut self) {
        let _ = sys::write_all(self.fd, &self.buffer[..self.len]);
        self.len = 0;
    }
}

impl fmt::Write for Writer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut bytes = text.as_bytes();
        while !bytes.is_empty() {
            if self.len == BUFFER {
                self.flush();
            }
            let room = (BUFFER - self.len).min(bytes.len());
            self.buffer[self.len..self.len + room].copy_from_slice(&bytes[..room]);
            self.len += room;
            bytes = &bytes[room..];
        }
        Ok(())
    }
}

/// Writes `args` to `fd`, then a newline if `newline`. Used by the printing macros.
#[doc(hidden)]
pub fn print_to(fd: u64, args: fmt::Arguments<'_>, newline: bool) {
    let mut writer = Writer::new(fd);
    let _ = fmt::Write::write_fmt(&mut writer, args);
    if newline {
        let _ = fmt::Write::write_str(&mut writer, "\n");
    }
    writer.flush();
}

/// Prints to the console (fd 1).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::console::print_to($crate::sys::STDOUT, format_args!($($arg)*), false)
    };
}

/// Prints a line to the console (fd 1).
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::print_to($crate::sys::STDOUT, format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::console::print_to($crate::sys::STDOUT, format_args!($($arg)*), true)
    };
}

/// Prints a line to standard error (fd 2, also the console).
#[macro_export]
macro_rules! eprintln {
    ($($arg:tt)*) => {
        $crate::console::print_to($crate::sys::STDERR, format_args!($($arg)*), true)
    };
}
