//! A QEMU whose serial console is driven like a person at a terminal: wait for some text,
//! then type. The benchmarks that need a conversation with guests (`bench net`) use it
//! for Keel and for bare QEMU alike.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the console has printed so far, and whether QEMU has ended.
#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    output: Mutex<Output>,
    changed: Condvar,
}

/// One QEMU and its console.
pub struct Session {
    name: String,
    child: Child,
    stdin: ChildStdin,
    shared: Arc<Shared>,
    /// Where the last wait ended: the next wait searches from here.
    seen: usize,
}

impl Session {
    /// Starts `command` (a QEMU with `-serial stdio`); `name` labels its errors.
    pub fn spawn(name: &str, mut command: Command) -> Result<Self, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{name}: cannot start QEMU: {e}"))?;
        let stdin = child.stdin.take().ok_or_else(|| format!("{name}: no console input"))?;
        let stdout = child.stdout.take().ok_or_else(|| format!("{name}: no console output"))?;
        // QEMU's own complaints (a port taken, a bad option) go into the console's text,
        // where a failed wait shows them.
        let stderr = child.stderr.take().ok_or_else(|| format!("{name}: no error output"))?;
        let shared = Arc::new(Shared::default());
        let errors = Arc::clone(&shared);
        std::thread::spawn(move || copy(stderr, &errors, false));
        let reader = Arc::clone(&shared);
        std::thread::spawn(move || copy(stdout, &reader, true));
        Ok(Self { name: name.into(), child, stdin, shared, seen: 0 })
    }

    /// Where the console has got to: a mark for [`Session::wait_from`].
    pub fn mark(&self) -> usize {
        self.shared.output.lock().unwrap_or_else(|e| e.into_inner()).bytes.len()
    }

    /// Waits until `needle` is printed after the last wait; returns what was printed up
    /// to and including it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        let (text, end) = self.find(self.seen, needle, timeout)?;
        self.seen = end;
        Ok(text)
    }

    /// Like [`Session::wait_for`], searching from `mark` instead, without moving on.
    pub fn wait_from(&self, mark: usize, needle: &str, timeout: Duration) -> Result<String, String> {
        self.find(mark, needle, timeout).map(|(text, _)| text)
    }

    fn find(&self, from: usize, needle: &str, timeout: Duration) -> Result<(String, usize), String> {
        let deadline = Instant::now() + timeout;
        let mut output = self.shared.output.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let start = from.min(output.bytes.len());
            if let Some(at) = find_bytes(&output.bytes[start..], needle.as_bytes()) {
                let end = start + at + needle.len();
                return Ok((String::from_utf8_lossy(&output.bytes[start..end]).into_owned(), end));
            }
            let now = Instant::now();
            if output.closed || now >= deadline {
                let tail = String::from_utf8_lossy(&output.bytes[output.bytes.len().saturating_sub(1500)..]).into_owned();
                let why = if output.closed { "QEMU ended" } else { "timed out" };
                return Err(format!("{}: {why} waiting for {needle:?}; the console's last output:\n{tail}", self.name));
            }
            output = self.shared.changed.wait_timeout(output, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Types `text` at the console.
    pub fn type_text(&mut self, text: &str) -> Result<(), String> {
        self.stdin
            .write_all(text.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("{}: cannot type: {e}", self.name))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies what QEMU prints into the session's output; the console's end is QEMU's end.
fn copy(mut from: impl Read, to: &Shared, console: bool) {
    let mut buffer = [0u8; 4096];
    loop {
        let read = from.read(&mut buffer).unwrap_or(0);
        let mut output = to.output.lock().unwrap_or_else(|e| e.into_inner());
        if read == 0 {
            output.closed |= console;
        } else {
            output.bytes.extend_from_slice(&buffer[..read]);
        }
        to.changed.notify_all();
        if read == 0 {
            return;
        }
    }
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_find_text_in_order_and_marks_search_again() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo one; echo two; echo one; read line; echo got $line"]);
        let mut session = Session::spawn("sh", command).expect("sh starts");
        let mark = session.mark();
        assert!(session.wait_for("one", Duration::from_secs(10)).is_ok());
        assert_eq!(session.wait_for("one", Duration::from_secs(10)).as_deref(), Ok("\ntwo\none"));
        assert!(session.wait_from(mark, "two", Duration::from_secs(10)).is_ok());
        session.type_text("x\n").expect("typed");
        assert!(session.wait_for("got x", Duration::from_secs(10)).is_ok());
        let error = session.wait_for("never", Duration::from_secs(10)).unwrap_err();
        assert!(error.contains("QEMU ended"), "{error}");
    }
}
