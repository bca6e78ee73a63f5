//! What the runner types into Keel's console: our standard input as it comes, fixed bytes,
//! or a script that waits for the shell's prompt before each line, as a person would.
//!
//! Nothing is typed before Keel's banner: setting up the PL011 flushes its receive FIFO, so
//! what arrives before that is lost. From the banner on, Keel keeps what is typed until a
//! reader takes it, so input may run ahead of the shell.

use crate::console::PromptCounter;
use std::collections::VecDeque;
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
    /// Wait until the console shows `wait_for` (in what came after the previous step was
    /// typed), then type `text`: for a guest's console, whose prompts are not the shell's.
    /// After [`WAIT_PATIENCE`] without it, the script ends there. The next `Type` waits for
    /// a prompt the shell shows after `wait_for` was seen.
    TypeAfter { wait_for: &'static str, text: &'static str },
    /// Like `TypeAfter` with nothing to type: lets a later `Type` count the shell's prompts
    /// from here (e.g. after a line that made the shell print more than one prompt).
    WaitFor(&'static str),
    /// Wait this long.
    Pause(Duration),
}

/// Longest wait of a [`Step::TypeAfter`] (a Linux guest boots in 10-60 s under TCG).
pub const WAIT_PATIENCE: Duration = Duration::from_secs(150);
/// Console output the gate keeps for [`Step::TypeAfter`] (older output is forgotten).
const KEPT_OUTPUT: usize = 1 << 20;

/// What the console reader has seen that the typist waits for: the banner, prompts, and the
/// recent output.
#[derive(Default)]
pub struct PromptGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    banner: bool,
    prompts: usize,
    counter: PromptCounter,
    /// Console offsets where each prompt was complete, oldest first (those before
    /// `output_start` are forgotten with the output).
    prompt_ends: VecDeque<usize>,
    /// QEMU has ended: nothing more will come.
    closed: bool,
    /// The last console output, up to `KEPT_OUTPUT` bytes, ...
    output: Vec<u8>,
    /// ... which starts this many bytes into the console.
    output_start: usize,
}

impl GateState {
    /// Where the console's output has got to.
    fn output_end(&self) -> usize {
        self.output_start + self.output.len()
    }

    /// Where the first `needle` in the output from `from` on (a console offset) ends.
    fn find(&self, needle: &[u8], from: usize) -> Option<usize> {
        let skip = from.saturating_sub(self.output_start).min(self.output.len());
        let at = self.output[skip..]
            .windows(needle.len().max(1))
            .position(|w| w == needle)?;
        Some(self.output_start + skip + at + needle.len())
    }

    /// How many prompts were complete at console offset `at`.
    fn prompts_at(&self, at: usize) -> usize {
        self.prompts - self.prompt_ends.iter().filter(|&&end| end > at).count()
    }
}

impl PromptGate {
    /// Keel printed its banner: its console takes input.
    pub fn banner(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.banner = true;
            self.changed.notify_all();
        }
    }

    /// Console output, as it comes; returns how many prompts of the shell it completed.
    pub fn output(&self, bytes: &[u8]) -> usize {
        let Ok(mut state) = self.state.lock() else { return 0 };
        let mut prompts = 0;
        for (index, byte) in bytes.iter().enumerate() {
            if state.counter.push(std::slice::from_ref(byte)) > 0 {
                let end = state.output_end() + index + 1;
                state.prompt_ends.push_back(end);
                prompts += 1;
            }
        }
        state.prompts += prompts;
        state.output.extend_from_slice(bytes);
        let excess = state.output.len().saturating_sub(KEPT_OUTPUT);
        if excess > 0 {
            state.output.drain(..excess);
            state.output_start += excess;
            let start = state.output_start;
            while state.prompt_ends.front().is_some_and(|&end| end <= start) {
                state.prompt_ends.pop_front();
            }
        }
        self.changed.notify_all();
        prompts
    }

    /// Where the console's output has got to (an offset for [`Self::wait_for_text`]).
    fn output_end(&self) -> usize {
        self.state.lock().map_or(0, |state| state.output_end())
    }

    /// Waits until the output from console offset `from` on contains `needle`; returns how
    /// many prompts the shell had shown where it ends, or `None` if it did not come within
    /// `patience`, or QEMU has ended.
    fn wait_for_text(&self, needle: &str, from: usize, patience: Duration) -> Option<usize> {
        let deadline = std::time::Instant::now() + patience;
        let mut state = self.state.lock().ok()?;
        loop {
            if let Some(end) = state.find(needle.as_bytes(), from) {
                return Some(state.prompts_at(end));
            }
            let now = std::time::Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = self.changed.wait_timeout(state, deadline - now).ok()?.0;
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
            // The console offset when the previous step was typed.
            let mut mark = 0;
            for step in steps {
                let text = match step {
                    Step::TypeAfter { wait_for, text } => match gate.wait_for_text(wait_for, mark, WAIT_PATIENCE) {
                        Some(prompts) => {
                            seen = prompts;
                            text
                        }
                        None => return,
                    },
                    Step::WaitFor(wait_for) => match gate.wait_for_text(wait_for, mark, WAIT_PATIENCE) {
                        Some(prompts) => {
                            seen = prompts;
                            continue;
                        }
                        None => return,
                    },
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
                // Taken before typing, so that no answer can come before it.
                mark = gate.output_end();
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
        gate.output(b"keel> \nkeel> ");
        std::thread::sleep(Duration::from_millis(50));
        assert!(!typist.is_finished(), "not before the banner");
        gate.banner();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!typist.is_finished());
        gate.output(b"\nkeel> ");
        std::thread::sleep(Duration::from_millis(50));
        assert!(!typist.is_finished(), "mem must wait for the prompt after spin");
        gate.output(b"\nkeel> ");
        let (console, log) = typist.join().unwrap();
        assert_eq!(console, b"ps\nspin\n\x03mem\n");
        assert_eq!(log, [&b"ps\n"[..], b"spin\n", b"\x03", b"mem\n"]);
    }

    #[test]
    fn type_after_waits_for_text_that_came_after_the_previous_step() {
        let gate = Arc::new(PromptGate::default());
        gate.banner();
        gate.output(b"boot\nguest# ");
        let steps = vec![
            Step::TypeNow("vm console g\n"),
            Step::TypeAfter {
                wait_for: "guest# ",
                text: "uname\n",
            },
        ];
        let (typed, first_typed) = std::sync::mpsc::channel();
        let typist = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let mut console = Vec::new();
                type_input(Input::Script(steps), &mut console, &gate, |text| {
                    let _ = typed.send(text.to_vec());
                });
                console
            })
        };
        // Only once the first step is typed (a loaded machine may start the typist late).
        assert_eq!(first_typed.recv().unwrap(), b"vm console g\n");
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !typist.is_finished(),
            "the prompt shown before the previous step does not count"
        );
        gate.output(b"Linux guest# ");
        assert_eq!(typist.join().unwrap(), b"vm console g\nuname\n");
    }

    #[test]
    fn prompts_are_counted_from_the_last_text_waited_for() {
        // The guest comes up, the escape detaches (a prompt), the shell echoes `echo x`, runs
        // it and shows another prompt: in two pieces, or all at once.
        for pieces in [
            &[&b"[detached]\nkeel> echo x\n"[..], b"x\nkeel> "][..],
            &[b"[detached]\nkeel> echo x\nx\nkeel> "],
        ] {
            let gate = Arc::new(PromptGate::default());
            gate.banner();
            gate.output(b"keel> ");
            let steps = vec![
                Step::Type("vm console g\n"),
                Step::TypeAfter {
                    wait_for: "up",
                    text: "\x1decho x\n",
                },
                Step::WaitFor("echo x"),
                Step::Type("ps\n"),
            ];
            let (typed, steps_typed) = std::sync::mpsc::channel();
            let typist = {
                let gate = gate.clone();
                std::thread::spawn(move || {
                    let mut console = Vec::new();
                    type_input(Input::Script(steps), &mut console, &gate, |text| {
                        let _ = typed.send(text.to_vec());
                    });
                    console
                })
            };
            // Each output only once the step before it is typed (a loaded machine may run
            // the typist late; output before the step would not count for it).
            assert_eq!(steps_typed.recv().unwrap(), b"vm console g\n");
            gate.output(b"up\n");
            assert_eq!(steps_typed.recv().unwrap(), b"\x1decho x\n");
            for piece in pieces {
                std::thread::sleep(Duration::from_millis(30));
                assert!(!typist.is_finished(), "ps must wait for the prompt after `echo x`");
                gate.output(piece);
            }
            assert_eq!(typist.join().unwrap(), b"vm console g\n\x1decho x\nps\n");
        }
    }

    #[test]
    fn output_is_kept_within_bounds() {
        let gate = PromptGate::default();
        assert_eq!(gate.output(b"keel> \n"), 1);
        gate.output(&vec![b'x'; KEPT_OUTPUT]);
        assert_eq!(gate.output(b"keel> marker"), 1);
        let state = gate.state.lock().unwrap();
        assert_eq!(state.output.len(), KEPT_OUTPUT);
        let end = KEPT_OUTPUT + 7 + 12;
        assert_eq!(state.output_end(), end);
        assert_eq!(state.find(b"marker", KEPT_OUTPUT), Some(end));
        assert_eq!(state.find(b"marker", 0), Some(end));
        assert_eq!(state.find(b"marker", end - 5), None);
        // The first prompt's place was forgotten with its output; it still counts.
        assert_eq!(state.prompt_ends.len(), 1);
        assert_eq!(state.prompts_at(end), 2);
        assert_eq!(state.prompts_at(end - 7), 1);
    }

    #[test]
    fn a_text_that_never_comes_ends_the_script() {
        let gate = PromptGate::default();
        gate.banner();
        assert_eq!(gate.wait_for_text("never", 0, Duration::from_millis(20)), None);
        gate.output(b"now keel> ");
        assert_eq!(gate.wait_for_text("now", 0, Duration::from_millis(20)), Some(0));
        assert_eq!(gate.wait_for_text("keel", 0, Duration::from_millis(20)), Some(0));
        assert_eq!(gate.wait_for_text("> ", 0, Duration::from_millis(20)), Some(1));
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
