//! What the runner types into Keel's console: our standard input as it comes, fixed bytes,
//! or a script that waits for the shell's prompt before each line, as a person would.
//!
//! Nothing is typed before Keel's banner: setting up the PL011 flushes its receive FIFO, so
//! what arrives before that is lost. From the banner on, Keel keeps what is typed until a
//! reader takes it, so input may run ahead of the shell.

use std::io::{Read, Write};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// What to type.
pub enum Input {
    /// Our own standard input, as it comes.
    Stdin,
    /// These bytes at once (Keel keeps what it has not read yet), then end of input.
    Bytes(Vec<u8>),
    /// These steps, then end of input.
    Script(Vec<Step>),
}

/// One step of a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Wait until the shell shows a prompt it has not shown before this step, then type.
    Type(&'static str),
    /// Type at once (e.g. a Ctrl-C for a program that is running).
    TypeNow(&'static str),
    /// Wait this long.
    Pause(Duration),
}

/// What the console reader has seen that the typist waits for: the banner, and prompts.
#[derive(Default)]
pub struct PromptGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    banner: bool,
    prompts: usize,
    /// QEMU has ended: nothing more will come.
    closed: bool,
}

impl PromptGate {
    /// Keel printed its banner: its console takes input.
    pub fn banner(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.banner = true;
            self.changed.notify_all();
        }
    }

    pub fn add(&self, prompts: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.prompts += prompts;
            self.changed.notify_all();
        }
    }

    pub fn close(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.closed = true;
            self.changed.notify_all();
        }
    }

    /// Waits until the banner was printed and more than `seen` prompts were shown; returns
    /// how many prompts, or `None` once QEMU has ended.
    fn wait_for(&self, seen: usize) -> Option<usize> {
        let mut state = self.state.lock().ok()?;
        loop {
            if state.closed {
                return None;
            }
            if state.banner && state.prompts >= seen {
                return Some(state.prompts);
            }
            state = self.changed.wait(state).ok()?;
        }
    }
}

/// Counts the Enter keys in typed bytes as the shell does: CR or LF, with CR LF and LF CR
/// counting once.
#[derive(Default)]
pub struct EnterCounter {
    /// The Enter byte just seen, if the previous byte was one.
    last_enter: Option<u8>,
}

impl EnterCounter {
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let mut enters = 0;
        for &byte in bytes {
            let previous = self.last_enter.take();
            if (byte == b'\r' || byte == b'\n') && previous.is_none_or(|previous| previous == byte) {
                enters += 1;
                self.last_enter = Some(byte);
            }
        }
        enters
    }
}

/// Types `input` into `console` once the banner is out, calling `typed` with every piece it
/// typed. Returns when the input has ended (or QEMU has, or the console can no longer be
/// written).
pub fn type_input(input: Input, console: &mut impl Write, gate: &PromptGate, mut typed: impl FnMut(&[u8])) {
    if gate.wait_for(0).is_none() {
        return;
    }
    match input {
        Input::Bytes(bytes) => {
            if console.write_all(&bytes).is_ok() {
                typed(&bytes);
            }
        }
        Input::Stdin => {
            let mut stdin = std::io::stdin().lock();
            let mut buffer = [0u8; 4096];
            loop {
                match stdin.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(count) => {
                        if console.write_all(&buffer[..count]).is_err() {
                            break;
                        }
                        typed(&buffer[..count]);
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        Input::Script(steps) => {
            let mut seen = 0;
            for step in steps {
                let text = match step {
                    Step::Pause(duration) => {
                        std::thread::sleep(duration);
                        continue;
                    }
                    Step::Type(text) => match gate.wait_for(seen + 1) {
                        Some(prompts) => {
                            seen = prompts;
                            text
                        }
                        None => return,
                    },
                    Step::TypeNow(text) => text,
                };
                if console
                    .write_all(text.as_bytes())
                    .and_then(|()| console.flush())
                    .is_err()
                {
                    return;
                }
                typed(text.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn bytes_are_typed_at_once_after_the_banner() {
        let gate = Arc::new(PromptGate::default());
        let typist = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let mut console = Vec::new();
                type_input(Input::Bytes(b"ps\n".to_vec()), &mut console, &gate, |_| {});
                console
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!typist.is_finished(), "nothing may be typed before the banner");
        gate.banner();
        assert_eq!(typist.join().unwrap(), b"ps\n");
    }

    #[test]
    fn script_lines_wait_for_new_prompts() {
        let gate = Arc::new(PromptGate::default());
        let steps = vec![
            Step::Type("ps\n"),
            Step::Type("spin\n"),
            Step::Pause(Duration::from_millis(1)),
            Step::TypeNow("\x03"),
            Step::Type("mem\n"),
        ];
        let typist = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let mut console = Vec::new();
                let mut log = Vec::new();
                type_input(Input::Script(steps), &mut console, &gate, |text| {
                    log.push(text.to_vec())
                });
                (console, log)
            })
        };
        // Two prompts at once let only one line through; each later prompt, one more.
        gate.add(2);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!typist.is_finished(), "not before the banner");
        gate.banner();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!typist.is_finished());
        gate.add(1);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!typist.is_finished(), "mem must wait for the prompt after spin");
        gate.add(1);
        let (console, log) = typist.join().unwrap();
        assert_eq!(console, b"ps\nspin\n\x03mem\n");
        assert_eq!(log, [&b"ps\n"[..], b"spin\n", b"\x03", b"mem\n"]);
    }

    #[test]
    fn enters_count_like_the_shell() {
        let mut counter = EnterCounter::default();
        assert_eq!(counter.push(b"ps\nmem\r\nuptime\n\r"), 3);
        assert_eq!(counter.push(b"x\n\n"), 2);
        assert_eq!(counter.push(b"x\r"), 1);
        assert_eq!(counter.push(b"\n"), 0, "the LF of a CR LF split across writes");
        assert_eq!(counter.push(b"x\ry\r\r"), 3);
    }

    #[test]
    fn a_closed_gate_ends_the_script() {
        let gate = PromptGate::default();
        gate.close();
        let mut console = Vec::new();
        type_input(Input::Script(vec![Step::Type("ps\n")]), &mut console, &gate, |_| {});
        assert!(console.is_empty());
    }
}
