//! Turns the bytes a terminal sends into keys: escape sequences, UTF-8, control characters,
//! and Enter as CR, LF, CR LF or LF CR.

/// One key press, as the line editor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    /// Backspace (0x7f or 0x08): delete before the cursor.
    Backspace,
    /// Delete (ESC [ 3 ~): delete under the cursor.
    Delete,
    Left,
    Right,
    /// Home, or Ctrl-A.
    Home,
    /// End, or Ctrl-E.
    End,
    Up,
    Down,
    /// Ctrl-U: delete from the start of the line to the cursor.
    KillToStart,
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D.
    EndOfInput,
}

const ESC: u8 = 0x1b;
/// Longest numeric parameter kept from a CSI sequence (longer ones are not keys we know).
const MAX_PARAMETER: u16 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ground,
    /// After ESC.
    Escape,
    /// After ESC [, with the last numeric parameter so far.
    Csi(u16),
    /// After ESC O.
    Ss3,
    /// Inside a UTF-8 sequence: bytes so far and how many it has in all.
    Utf8 {
        bytes: [u8; 4],
        have: usize,
        need: usize,
    },
}

/// The decoder; keeps its state between reads, so a sequence may arrive in pieces.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    /// The Enter byte just seen (CR or LF), so the other one right after it is swallowed.
    last_enter: Option<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            state: State::Ground,
            last_enter: None,
        }
    }
}

impl Decoder {
    /// Feeds one byte; returns the key it completes, if any.
    pub fn feed(&mut self, byte: u8) -> Option<Key> {
        let last_enter = self.last_enter.take();
        match self.state {
            State::Ground => self.ground(byte, last_enter),
            State::Escape => {
                self.state = match byte {
                    b'[' => State::Csi(0),
                    b'O' => State::Ss3,
                    _ => State::Ground,
                };
                None
            }
            State::Csi(parameter) => self.csi(parameter, byte),
            State::Ss3 => {
                self.state = State::Ground;
                final_key(byte, 0)
            }
            State::Utf8 { mut bytes, have, need } => {
                if byte & 0xc0 != 0x80 {
                    // Not a continuation: drop the broken sequence, read this byte afresh.
                    self.state = State::Ground;
                    return self.ground(byte, None);
                }
                bytes[have] = byte;
                if have + 1 < need {
                    self.state = State::Utf8 {
                        bytes,
                        have: have + 1,
                        need,
                    };
                    return None;
                }
                self.state = State::Ground;
                let text = core::str::from_utf8(&bytes[..need]).ok()?;
                text.chars().next().filter(|c| !c.is_control()).map(Key::Char)
            }
        }
    }

    fn ground(&mut self, byte: u8, last_enter: Option<u8>) -> Option<Key> {
        match byte {
            b'\r' | b'\n' => {
                if last_enter.is_some_and(|previous| previous != byte) {
                    return None; // the second half of CR LF or LF CR
                }
                self.last_enter = Some(byte);
                Some(Key::Enter)
            }
            ESC => {
                self.state = State::Escape;
                None
            }
            0x7f | 0x08 => Some(Key::Backspace),
            0x01 => Some(Key::Home),
            0x03 => Some(Key::Interrupt),
            0x04 => Some(Key::EndOfInput),
            0x05 => Some(Key::End),
            0x15 => Some(Key::KillToStart),
            0x20..=0x7e => Some(Key::Char(char::from(byte))),
            0xc2..=0xf4 => {
                let need = match byte {
                    0xc2..=0xdf => 2,
                    0xe0..=0xef => 3,
                    _ => 4,
                };
                self.state = State::Utf8 {
                    bytes: [byte, 0, 0, 0],
                    have: 1,
                    need,
                };
                None
            }
            _ => None,
        }
    }

    fn csi(&mut self, parameter: u16, byte: u8) -> Option<Key> {
        match byte {
            b'0'..=b'9' => {
                let next = parameter.saturating_mul(10).saturating_add(u16::from(byte - b'0'));
                self.state = State::Csi(next.min(MAX_PARAMETER));
                None
            }
            b';' => {
                self.state = State::Csi(0);
                None
            }
            0x40..=0x7e => {
                self.state = State::Ground;
                final_key(byte, parameter)
            }
            // Intermediate bytes: part of a sequence we do not know; wait for its end.
            0x20..=0x3f => None,
            _ => {
                self.state = State::Ground;
                None
            }
        }
    }
}

/// The key an escape sequence names by its final byte (and parameter, for `~`).
fn final_key(byte: u8, parameter: u16) -> Option<Key> {
    match (byte, parameter) {
        (b'A', _) => Some(Key::Up),
        (b'B', _) => Some(Key::Down),
        (b'C', _) => Some(Key::Right),
        (b'D', _) => Some(Key::Left),
        (b'H', _) | (b'~', 1 | 7) => Some(Key::Home),
        (b'F', _) | (b'~', 4 | 8) => Some(Key::End),
        (b'~', 3) => Some(Key::Delete),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bytes: &[u8]) -> Vec<Key> {
        let mut decoder = Decoder::default();
        bytes.iter().filter_map(|&b| decoder.feed(b)).collect()
    }

    #[test]
    fn printable_and_control_keys() {
        assert_eq!(
            keys(b"a Z~"),
            [Key::Char('a'), Key::Char(' '), Key::Char('Z'), Key::Char('~')]
        );
        assert_eq!(keys(&[0x7f, 0x08]), [Key::Backspace, Key::Backspace]);
        assert_eq!(
            keys(&[0x01, 0x05, 0x15, 0x03, 0x04]),
            [Key::Home, Key::End, Key::KillToStart, Key::Interrupt, Key::EndOfInput]
        );
        assert_eq!(keys(&[0x00, 0x07, 0x09, 0x0c, 0x1f, 0x80, 0xff]), []);
    }

    #[test]
    fn escape_sequences() {
        assert_eq!(
            keys(b"\x1b[A\x1b[B\x1b[C\x1b[D"),
            [Key::Up, Key::Down, Key::Right, Key::Left]
        );
        assert_eq!(
            keys(b"\x1b[H\x1b[F\x1bOH\x1bOF"),
            [Key::Home, Key::End, Key::Home, Key::End]
        );
        assert_eq!(
            keys(b"\x1b[1~\x1b[4~\x1b[7~\x1b[8~"),
            [Key::Home, Key::End, Key::Home, Key::End]
        );
        assert_eq!(keys(b"\x1b[3~"), [Key::Delete]);
        assert_eq!(keys(b"\x1bOA\x1bOD"), [Key::Up, Key::Left]);
        // Modifiers (ESC [ 1 ; 5 C is Ctrl-Right) still name the arrow.
        assert_eq!(keys(b"\x1b[1;5C"), [Key::Right]);
        // Unknown sequences vanish whole; what follows is read normally.
        assert_eq!(
            keys(b"\x1b[2~x\x1b[99Zy\x1b[>1;2cz"),
            [Key::Char('x'), Key::Char('y'), Key::Char('z')]
        );
        assert_eq!(keys(b"\x1bxq"), [Key::Char('q')]);
        assert_eq!(keys(b"\x1b[999999999~a"), [Key::Char('a')]);
    }

    #[test]
    fn sequences_split_across_reads() {
        let mut decoder = Decoder::default();
        assert_eq!(decoder.feed(0x1b), None);
        assert_eq!(decoder.feed(b'['), None);
        assert_eq!(decoder.feed(b'D'), Some(Key::Left));
        assert_eq!(decoder.feed(0xc3), None);
        assert_eq!(decoder.feed(0xa9), Some(Key::Char('é')));
    }

    #[test]
    fn utf8() {
        assert_eq!(
            keys("é€😀".as_bytes()),
            [Key::Char('é'), Key::Char('€'), Key::Char('😀')]
        );
        // A broken sequence is dropped; the byte that broke it counts.
        assert_eq!(keys(b"\xe2\x82a"), [Key::Char('a')]);
        // Overlong or surrogate encodings are not characters.
        assert_eq!(keys(b"\xed\xa0\x80b"), [Key::Char('b')]);
        // C1 controls encoded in UTF-8 are not printable.
        assert_eq!(keys(b"\xc2\x85"), []);
    }

    #[test]
    fn enter_pairs_count_once() {
        assert_eq!(keys(b"\r"), [Key::Enter]);
        assert_eq!(keys(b"\n"), [Key::Enter]);
        assert_eq!(keys(b"\r\n"), [Key::Enter]);
        assert_eq!(keys(b"\n\r"), [Key::Enter]);
        assert_eq!(keys(b"\r\r"), [Key::Enter, Key::Enter]);
        assert_eq!(keys(b"\n\n"), [Key::Enter, Key::Enter]);
        assert_eq!(keys(b"\r\n\r\n"), [Key::Enter, Key::Enter]);
        assert_eq!(
            keys(b"a\r\nb\n"),
            [Key::Char('a'), Key::Enter, Key::Char('b'), Key::Enter]
        );
        // Anything in between ends the pair.
        assert_eq!(keys(b"\rx\n"), [Key::Enter, Key::Char('x'), Key::Enter]);
    }
}
