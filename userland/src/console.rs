//! Console output: `print!`, `println!` and `eprintln!` write to fd 1 and 2.
//!
//! Each call formats into a small buffer and writes it in as few `write`s as it can (a
//! string longer than the buffer, such as a whole `ps` table, goes out in one), so the lines
//! of different processes and the kernel's log rarely mix. The kernel's console turns `\n`
//! into `\r\n`.

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
        let bytes = text.as_bytes();
        if bytes.len() > BUFFER - self.len {
            self.flush();
        }
        if bytes.len() >= BUFFER {
            // A whole table or report in one `write`, so no kernel log line lands inside it.
            let _ = sys::write_all(self.fd, bytes);
            return Ok(());
        }
        self.buffer[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
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
