//! `vm console`'s escape key: typed bytes are split into what goes to the guest and, once
//! Ctrl-] is typed, what comes after it (which stays with the shell). The escape itself is
//! the only byte taken.

/// Ctrl-]: detaches the terminal from a guest's console.
pub const ESCAPE: u8 = 0x1d;

/// Typed bytes, cut at the first escape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split<'a> {
    /// For the guest: everything before the escape (all of it if there is none).
    pub to_guest: &'a [u8],
    /// After an escape: the bytes that followed it, for the shell. `None`: no escape.
    pub after_escape: Option<&'a [u8]>,
}

/// Cuts `typed` at its first escape byte.
pub fn split(typed: &[u8]) -> Split<'_> {
    match typed.iter().position(|&byte| byte == ESCAPE) {
        Some(at) => Split {
            to_guest: &typed[..at],
            after_escape: Some(&typed[at + 1..]),
        },
        None => Split {
            to_guest: typed,
            after_escape: None,
        },
    }
}

/// Whether the terminal's cursor is at the start of a line after the bytes written to it,
/// so that a message of the shell can start its own line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineStart(bool);

impl Default for LineStart {
    fn default() -> Self {
        LineStart(true)
    }
}

impl LineStart {
    /// Follows bytes written to the terminal.
    pub fn wrote(&mut self, bytes: &[u8]) {
        if let Some(&last) = bytes.last() {
            self.0 = last == b'\n';
        }
    }

    /// A newline if the cursor is not at the start of a line, else nothing.
    pub fn newline_needed(self) -> &'static str {
        if self.0 {
            ""
        } else {
            "\n"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_escape_sends_everything() {
        assert_eq!(
            split(b"uname -a\r"),
            Split {
                to_guest: b"uname -a\r",
                after_escape: None
            }
        );
        assert_eq!(
            split(b""),
            Split {
                to_guest: b"",
                after_escape: None
            }
        );
        // Ctrl-C, Ctrl-D, escape sequences and Ctrl-[ (ESC) are the guest's.
        let keys = b"\x03\x04\x1b[A\x1b\x1c\x1e";
        assert_eq!(split(keys).to_guest, keys);
    }

    #[test]
    fn escape_cuts_and_only_the_escape_is_taken() {
        assert_eq!(
            split(b"ls\r\x1dps\n"),
            Split {
                to_guest: b"ls\r",
                after_escape: Some(b"ps\n")
            }
        );
        assert_eq!(
            split(b"\x1d"),
            Split {
                to_guest: b"",
                after_escape: Some(b"")
            }
        );
        // A second escape belongs to the shell's share (it does nothing there).
        assert_eq!(split(b"a\x1d\x1db").after_escape, Some(&b"\x1db"[..]));
    }

    #[test]
    fn line_start() {
        let mut at = LineStart::default();
        assert_eq!(at.newline_needed(), "");
        at.wrote(b"guest# ");
        assert_eq!(at.newline_needed(), "\n");
        at.wrote(b"");
        assert_eq!(at.newline_needed(), "\n");
        at.wrote(b"done\r\n");
        assert_eq!(at.newline_needed(), "");
    }
}
