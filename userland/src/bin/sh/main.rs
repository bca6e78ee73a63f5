//! `sh`, the Keel shell: line editing and history on the console, built-in commands (among
//! them `vm`, which manages guests), and programs from the initrd in the foreground or the
//! background.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(any(test, target_os = "none"))]
extern crate alloc;

#[cfg(target_os = "none")]
mod builtins;
#[cfg(any(test, target_os = "none"))]
mod editor;
#[cfg(any(test, target_os = "none"))]
mod escape;
#[cfg(target_os = "none")]
mod files;
#[cfg(any(test, target_os = "none"))]
mod history;
#[cfg(target_os = "none")]
mod input;
#[cfg(any(test, target_os = "none"))]
mod jobs;
#[cfg(any(test, target_os = "none"))]
mod keys;
#[cfg(any(test, target_os = "none"))]
mod listing;
#[cfg(target_os = "none")]
mod net;
#[cfg(any(test, target_os = "none"))]
mod netargs;
#[cfg(target_os = "none")]
mod programs;
#[cfg(any(test, target_os = "none"))]
mod report;
#[cfg(any(test, target_os = "none"))]
mod top;
#[cfg(target_os = "none")]
mod vm;
#[cfg(any(test, target_os = "none"))]
mod vmargs;
#[cfg(any(test, target_os = "none"))]
mod vmconf;
#[cfg(target_os = "none")]
mod vmconsole;
#[cfg(any(test, target_os = "none"))]
mod vmdevices;
#[cfg(target_os = "none")]
mod vmload;
#[cfg(any(test, target_os = "none"))]
mod vmerrors;
#[cfg(any(test, target_os = "none"))]
mod words;

keel_userland::program!(shell::main);

#[cfg(target_os = "none")]
mod shell {
    use super::editor::{Editor, Event};
    use super::input::Input;
    use super::jobs::Jobs;
    use super::{builtins, programs, words};
    use alloc::vec::Vec;
    use keel_userland::abi::Error;
    use keel_userland::{eprintln, sys};

    const PROMPT: &str = "keel> ";

    /// The shell's state between commands.
    pub struct Shell {
        pub editor: Editor,
        pub input: Input,
        pub jobs: Jobs,
    }

    pub fn main(args: &[&str]) -> i32 {
        let mut shell = Shell {
            editor: Editor::new(PROMPT),
            input: Input::default(),
            jobs: Jobs::default(),
        };
        // `sh -c LINE`: runs the one command line and ends (init loads /etc/vms.conf so).
        if let [_, "-c", line] = args {
            execute(&mut shell, line);
            return 0;
        }
        loop {
            programs::report_finished_jobs(&mut shell.jobs);
            let _ = sys::write_all(sys::STDOUT, PROMPT.as_bytes());
            match read_line(&mut shell) {
                Ok(Event::Line(line)) => execute(&mut shell, &line),
                Ok(Event::EndOfInput) => return 0,
                Ok(Event::Interrupted | Event::Pending) => {}
                Err(error) => {
                    eprintln!("sh: cannot read the console: {error}");
                    return 1;
                }
            }
        }
    }

    /// Edits one line; the echo is written whenever the shell is about to wait for input.
    fn read_line(shell: &mut Shell) -> Result<Event, Error> {
        let mut echo = Vec::new();
        loop {
            if !shell.input.has_pending() {
                flush(&mut echo);
            }
            let byte = shell.input.next_byte()?;
            let event = shell.editor.feed(byte, &mut echo);
            if event != Event::Pending {
                flush(&mut echo);
                return Ok(event);
            }
        }
    }

    fn flush(echo: &mut Vec<u8>) {
        if !echo.is_empty() {
            let _ = sys::write_all(sys::STDOUT, echo);
            echo.clear();
        }
    }

    fn execute(shell: &mut Shell, line: &str) {
        match words::parse(line) {
            Ok(Some(command)) => {
                if !builtins::run(shell, &command) {
                    programs::run(shell, &command);
                }
            }
            Ok(None) => {}
            Err(error) => eprintln!("sh: {error}"),
        }
    }
}
