//! `vm console NAME`: the terminal attached to a guest's console. First what the guest
//! printed while nobody watched, then typed bytes go to the guest and its output to the
//! terminal, until Ctrl-] is typed or the VM stops running.
//!
//! The loop takes what was typed without waiting, hands it to the guest, and waits for
//! guest output or typed input in one call (`vm_console_read` with
//! `VM_CONSOLE_READ_OR_TYPED`), so an attached idle guest costs no polling and a key
//! reaches the guest at once. Typed bytes wait in a bounded queue while the guest's input
//! buffer is full (offered again every [`POLL`]); the escape is looked for as bytes are
//! read, so a guest that reads nothing can still be left.

use super::escape::{self, LineStart};
use super::shell::Shell;
use super::vm;
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;
use keel_userland::abi::{self, Error};
use keel_userland::{eprintln, println, sys};

/// Longest wait for guest output while typed bytes wait for room in the guest's input
/// buffer (and before a stopped guest's output is drained, to pace `detach`).
const POLL: Duration = Duration::from_millis(20);
/// Longest wait for guest output or typed input before the VM's state is looked at again
/// (a VM that stops wakes the wait anyway).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// Most typed bytes held for a guest that does not take them; beyond that the console is
/// not read (Keel keeps typed bytes until they are read).
const MAX_QUEUED: usize = 16 * 1024;
/// How long bytes typed before the escape may take to reach the guest.
const FLUSH_PATIENCE: Duration = Duration::from_secs(1);

/// Why the attachment ended.
enum End {
    Detached,
    Stopped(u32),
    Gone,
    Failed(Error),
}

/// The terminal and the guest, while attached.
struct Attachment<'a> {
    name: &'a str,
    /// Typed bytes the guest has not taken yet.
    to_guest: VecDeque<u8>,
    screen: LineStart,
    /// Guest output on its way to the terminal.
    buffer: Vec<u8>,
}

pub fn attach(shell: &mut Shell, name: &str) {
    let state = match vm::find(name) {
        Ok(Some(info)) => info.state,
        Ok(None) => return eprintln!("vm: no such VM: {name}"),
        Err(Error::NoSuchCall) => return eprintln!("vm: this kernel has no VM support (no such system call)"),
        Err(error) => return eprintln!("vm: cannot look up {name}: {error}"),
    };
    let mut attachment = Attachment {
        name,
        to_guest: VecDeque::new(),
        screen: LineStart::default(),
        buffer: vec![0; 4096],
    };
    if state == abi::VM_RUNNING {
        println!("[attached to {name}; Ctrl-] detaches]");
    }
    let end = match attachment.show_backlog() {
        Err(end) => end,
        Ok(()) if state != abi::VM_RUNNING => End::Stopped(state),
        // What was typed ahead of `vm console` is the guest's too (up to an escape).
        Ok(()) => {
            let typed_ahead = shell.input.take_pending();
            if attachment.typed(shell, &typed_ahead) {
                attachment.detach()
            } else {
                attachment.run(shell)
            }
        }
    };
    let newline = attachment.screen.newline_needed();
    match end {
        End::Detached => println!("{newline}[detached from {name}]"),
        End::Stopped(state) if state == abi::VM_CREATED => {
            println!("{newline}[{name} is not running: created; vm start {name} boots it]")
        }
        End::Stopped(state) => println!("{newline}[{name} stopped: {}]", abi::vm_state_name(state)),
        End::Gone => println!("{newline}[{name} is gone]"),
        End::Failed(error) => println!("{newline}[{name}: console failed: {error}]"),
    }
    if !attachment.to_guest.is_empty() {
        eprintln!("vm: {} typed byte(s) did not reach {name}", attachment.to_guest.len());
    }
}

impl Attachment<'_> {
    /// Attached: until the escape, or the VM stops running.
    fn run(&mut self, shell: &mut Shell) -> End {
        let mut typed = [0u8; 256];
        loop {
            if self.to_guest.len() < MAX_QUEUED {
                let count = sys::read(sys::STDIN, &mut typed, Some(Duration::ZERO)).unwrap_or(0);
                if self.typed(shell, &typed[..count]) {
                    return self.detach();
                }
            }
            if let Err(end) = self.forward() {
                return end;
            }
            // Wait for guest output or a key (not while the queue is full: keys would then
            // stay unread and the wait would end at once, again and again); bytes the
            // guest had no room for are offered again after `POLL`.
            let wait = if self.to_guest.is_empty() { IDLE_WAIT } else { POLL };
            if let Err(end) = self.show(Some(wait), self.to_guest.len() < MAX_QUEUED) {
                return end;
            }
            match vm::find(self.name) {
                Ok(Some(info)) if info.state == abi::VM_RUNNING => {}
                // Its last words come before the note that it stopped.
                Ok(Some(info)) => return self.show_backlog().err().unwrap_or(End::Stopped(info.state)),
                Ok(None) => return End::Gone,
                Err(error) => return End::Failed(error),
            }
        }
    }

    /// Takes typed bytes: those before an escape are queued for the guest, those after it
    /// go back to the shell. True if there was an escape.
    fn typed(&mut self, shell: &mut Shell, bytes: &[u8]) -> bool {
        let split = escape::split(bytes);
        self.to_guest.extend(split.to_guest);
        match split.after_escape {
            Some(rest) => {
                shell.input.give_back(rest);
                true
            }
            None => false,
        }
    }

    /// The escape was typed: what came before it still goes to the guest, given a little
    /// time; then the terminal is the shell's again.
    fn detach(&mut self) -> End {
        let deadline = sys::time() + FLUSH_PATIENCE;
        while !self.to_guest.is_empty() && sys::time() < deadline {
            if self.forward().is_err() {
                break;
            }
            if !self.to_guest.is_empty() {
                sys::sleep(POLL);
            }
        }
        End::Detached
    }

    /// Hands queued bytes to the guest, as many as it takes.
    fn forward(&mut self) -> Result<(), End> {
        while !self.to_guest.is_empty() {
            let (front, _) = self.to_guest.as_slices();
            match sys::vm_console_write(self.name, front) {
                Ok(0) => break,
                Ok(taken) => {
                    self.to_guest.drain(..taken);
                }
                Err(error) => return Err(lost(error)),
            }
        }
        Ok(())
    }

    /// Everything the guest has written so far, without waiting.
    fn show_backlog(&mut self) -> Result<(), End> {
        while self.show(Some(Duration::ZERO), false)? > 0 {}
        Ok(())
    }

    /// Copies guest output to the terminal, waiting up to `timeout` for some (or, with
    /// `or_typed`, until something is typed); returns how many bytes.
    fn show(&mut self, timeout: Option<Duration>, or_typed: bool) -> Result<usize, End> {
        let count = sys::vm_console_read(self.name, &mut self.buffer, timeout, or_typed).map_err(lost)?;
        let output = &self.buffer[..count];
        if count > 0 {
            let _ = sys::write_all(sys::STDOUT, output);
            self.screen.wrote(output);
        }
        Ok(count)
    }
}

/// A console call failed: the VM was destroyed meanwhile, or something else went wrong.
fn lost(error: Error) -> End {
    match error {
        Error::NotFound => End::Gone,
        error => End::Failed(error),
    }
}
