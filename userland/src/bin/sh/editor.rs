//! The line editor: keys in, the edited line out, plus the bytes that show the editing on a
//! serial terminal (the shell does its own echo; the console sends typed bytes raw).

use super::history::History;
use super::keys::{Decoder, Key};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Longest line, in characters; further characters are ignored.
pub const MAX_LINE: usize = 1024;

/// What a byte did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing finished yet.
    Pending,
    /// Enter: the line (also added to the history).
    Line(String),
    /// Ctrl-C: the line was abandoned.
    Interrupted,
    /// Ctrl-D on an empty line.
    EndOfInput,
}

/// A line being edited, with the history and the key decoder that survive between lines.
pub struct Editor {
    prompt: &'static str,
    line: Vec<char>,
    cursor: usize,
    decoder: Decoder,
    history: History,
}

impl Editor {
    /// An editor for lines that follow `prompt` (printed by the caller; shown again when the
    /// whole line is redrawn).
    pub fn new(prompt: &'static str) -> Self {
        Editor {
            prompt,
            line: Vec::new(),
            cursor: 0,
            decoder: Decoder::default(),
            history: History::default(),
        }
    }

    /// Feeds one typed byte; appends what the terminal should show to `echo`.
    pub fn feed(&mut self, byte: u8, echo: &mut Vec<u8>) -> Event {
        let Some(key) = self.decoder.feed(byte) else {
            return Event::Pending;
        };
        match key {
            Key::Char(c) => self.insert(c, echo),
            Key::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.line.remove(self.cursor);
                echo.push(0x08);
                self.show_tail_after_delete(echo);
            }
            Key::Delete => self.delete_under_cursor(echo),
            Key::Left if self.cursor > 0 => {
                self.cursor -= 1;
                echo.extend_from_slice(b"\x1b[D");
            }
            Key::Right if self.cursor < self.line.len() => {
                self.cursor += 1;
                echo.extend_from_slice(b"\x1b[C");
            }
            Key::Home => {
                move_left(echo, self.cursor);
                self.cursor = 0;
            }
            Key::End => {
                move_right(echo, self.line.len() - self.cursor);
                self.cursor = self.line.len();
            }
            Key::Up => {
                let current: String = self.line.iter().collect();
                if let Some(older) = self.history.older(&current) {
                    let older = String::from(older);
                    self.replace(&older, echo);
                }
            }
            Key::Down => {
                if let Some(newer) = self.history.newer() {
                    self.replace(&newer, echo);
                }
            }
            Key::KillToStart if self.cursor > 0 => {
                self.line.drain(..self.cursor);
                self.cursor = 0;
                self.redraw(echo);
            }
            Key::Interrupt => {
                echo.extend_from_slice(b"^C\r\n");
                self.clear();
                self.history.reset();
                return Event::Interrupted;
            }
            Key::EndOfInput if self.line.is_empty() => {
                echo.extend_from_slice(b"\r\n");
                self.history.reset();
                return Event::EndOfInput;
            }
            Key::EndOfInput => self.delete_under_cursor(echo),
            Key::Enter => {
                echo.extend_from_slice(b"\r\n");
                let line: String = self.line.iter().collect();
                self.clear();
                self.history.add(&line);
                return Event::Line(line);
            }
            Key::Backspace | Key::Left | Key::Right | Key::KillToStart => {}
        }
        Event::Pending
    }

    fn insert(&mut self, c: char, echo: &mut Vec<u8>) {
        if self.line.len() >= MAX_LINE {
            return;
        }
        self.line.insert(self.cursor, c);
        self.cursor += 1;
        push_chars(echo, &self.line[self.cursor - 1..]);
        move_left(echo, self.line.len() - self.cursor);
    }

    fn delete_under_cursor(&mut self, echo: &mut Vec<u8>) {
        if self.cursor < self.line.len() {
            self.line.remove(self.cursor);
            self.show_tail_after_delete(echo);
        }
    }

    /// After a character at the cursor went: rewrite the rest of the line over it, blank
    /// the last column, and come back.
    fn show_tail_after_delete(&self, echo: &mut Vec<u8>) {
        let tail = &self.line[self.cursor..];
        push_chars(echo, tail);
        echo.push(b' ');
        move_left(echo, tail.len() + 1);
    }

    fn replace(&mut self, text: &str, echo: &mut Vec<u8>) {
        self.line = text.chars().take(MAX_LINE).collect();
        self.cursor = self.line.len();
        self.redraw(echo);
    }

    /// Rewrites the whole line: prompt, text, clear to the end, cursor in place.
    fn redraw(&self, echo: &mut Vec<u8>) {
        echo.push(b'\r');
        echo.extend_from_slice(self.prompt.as_bytes());
        push_chars(echo, &self.line);
        echo.extend_from_slice(b"\x1b[K");
        move_left(echo, self.line.len() - self.cursor);
    }

    fn clear(&mut self) {
        self.line.clear();
        self.cursor = 0;
    }
}

fn push_chars(echo: &mut Vec<u8>, chars: &[char]) {
    let mut buffer = [0; 4];
    for c in chars {
        echo.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
    }
}

fn move_left(echo: &mut Vec<u8>, columns: usize) {
    match columns {
        0 => {}
        1 => echo.extend_from_slice(b"\x1b[D"),
        n => echo.extend_from_slice(format!("\x1b[{n}D").as_bytes()),
    }
}

fn move_right(echo: &mut Vec<u8>, columns: usize) {
    match columns {
        0 => {}
        1 => echo.extend_from_slice(b"\x1b[C"),
        n => echo.extend_from_slice(format!("\x1b[{n}C").as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input`; returns the finished events and the echo as text.
    fn run(editor: &mut Editor, input: &[u8]) -> (Vec<Event>, String) {
        let mut echo = Vec::new();
        let events = input
            .iter()
            .map(|&b| editor.feed(b, &mut echo))
            .filter(|e| *e != Event::Pending)
            .collect();
        (events, String::from_utf8(echo).unwrap())
    }

    fn line(text: &str) -> Event {
        Event::Line(text.into())
    }

    #[test]
    fn typing_and_enter() {
        let mut editor = Editor::new("keel> ");
        assert_eq!(run(&mut editor, b"ps\n"), (vec![line("ps")], "ps\r\n".into()));
        assert_eq!(run(&mut editor, b"\r\n"), (vec![line("")], "\r\n".into()));
        assert_eq!(run(&mut editor, "é€\r".as_bytes()), (vec![line("é€")], "é€\r\n".into()));
        assert_eq!(
            run(&mut editor, b"a\r\nb\n\r"),
            (vec![line("a"), line("b")], "a\r\nb\r\n".into())
        );
    }

    #[test]
    fn backspace_and_delete() {
        let mut editor = Editor::new("> ");
        assert_eq!(
            run(&mut editor, b"pz\x7fs\n"),
            (vec![line("ps")], "pz\x08 \x1b[Ds\r\n".into())
        );
        assert_eq!(run(&mut editor, b"\x7f\x08x\x08\n").0, vec![line("")]);
        // Backspace in the middle rewrites the tail.
        let (events, echo) = run(&mut editor, b"abc\x1b[D\x7f\n");
        assert_eq!(events, vec![line("ac")]);
        assert_eq!(echo, "abc\x1b[D\x08c \x1b[2D\r\n");
        // Delete and Ctrl-D in the middle delete under the cursor.
        let (events, echo) = run(&mut editor, b"abc\x01\x1b[3~\x04\n");
        assert_eq!(events, vec![line("c")]);
        assert_eq!(echo, "abc\x1b[3Dbc \x1b[3Dc \x1b[2D\r\n");
        // At the end of the line Delete does nothing.
        assert_eq!(run(&mut editor, b"x\x1b[3~\n"), (vec![line("x")], "x\r\n".into()));
    }

    #[test]
    fn cursor_movement_and_insertion() {
        let mut editor = Editor::new("> ");
        let (events, echo) = run(&mut editor, b"echo abc\x1b[D\x1b[DX\n");
        assert_eq!(events, vec![line("echo aXbc")]);
        assert_eq!(echo, "echo abc\x1b[D\x1b[DXbc\x1b[2D\r\n");
        let (events, echo) = run(&mut editor, b"bc\x01a\x05d\n");
        assert_eq!(events, vec![line("abcd")]);
        assert_eq!(echo, "bc\x1b[2Dabc\x1b[2D\x1b[2Cd\r\n");
        let (events, _) = run(&mut editor, b"ab\x1b[H\x1b[C\x1b[C\x1b[C-\x1bOH+\x1b[F!\n");
        assert_eq!(events, vec![line("+ab-!")]);
        // Left at the start and Right at the end do nothing.
        assert_eq!(run(&mut editor, b"\x1b[Dq\x1b[C\n"), (vec![line("q")], "q\r\n".into()));
    }

    #[test]
    fn kill_to_start_redraws() {
        let mut editor = Editor::new("keel> ");
        let (events, echo) = run(&mut editor, b"abc def\x1b[D\x1b[D\x1b[D\x15\n");
        assert_eq!(events, vec![line("def")]);
        assert!(echo.ends_with("\rkeel> def\x1b[K\x1b[3D\r\n"), "{echo:?}");
        assert_eq!(run(&mut editor, b"\x15\n"), (vec![line("")], "\r\n".into()));
    }

    #[test]
    fn interrupt_and_end_of_input() {
        let mut editor = Editor::new("> ");
        assert_eq!(
            run(&mut editor, b"sleepy\x03"),
            (vec![Event::Interrupted], "sleepy^C\r\n".into())
        );
        // The abandoned text is gone.
        assert_eq!(run(&mut editor, b"ok\n").0, vec![line("ok")]);
        assert_eq!(run(&mut editor, b"\x04"), (vec![Event::EndOfInput], "\r\n".into()));
        // Ctrl-D with text does not end anything.
        assert_eq!(run(&mut editor, b"x\x04\n").0, vec![line("x")]);
    }

    #[test]
    fn history_with_arrows() {
        let mut editor = Editor::new("keel> ");
        run(&mut editor, b"first\nsecond\n");
        let (events, echo) = run(&mut editor, b"dr\x1b[A");
        assert!(events.is_empty());
        assert_eq!(echo, "dr\rkeel> second\x1b[K");
        let (_, echo) = run(&mut editor, b"\x1b[A\x1b[A");
        assert_eq!(echo, "\rkeel> first\x1b[K");
        let (_, echo) = run(&mut editor, b"\x1b[B\x1b[B");
        assert_eq!(echo, "\rkeel> second\x1b[K\rkeel> dr\x1b[K");
        assert_eq!(run(&mut editor, b"\x1b[B!\n").0, vec![line("dr!")]);
        // Recalled lines can be edited and entered.
        assert_eq!(run(&mut editor, b"\x1b[A\x1b[A\x7f\n").0, vec![line("secon")]);
        assert_eq!(run(&mut editor, b"\x1b[A\n").0, vec![line("secon")]);
        // Ctrl-C while browsing starts afresh.
        assert_eq!(
            run(&mut editor, b"\x1b[A\x03\x1b[B\n").0,
            vec![Event::Interrupted, line("")]
        );
    }

    #[test]
    fn lines_are_bounded() {
        let mut editor = Editor::new("> ");
        let long = vec![b'x'; MAX_LINE + 5];
        let (_, echo) = run(&mut editor, &long);
        assert_eq!(echo.len(), MAX_LINE);
        assert_eq!(run(&mut editor, b"\n").0, vec![line(&"x".repeat(MAX_LINE))]);
    }
}
