//! Running programs from the initrd: in the foreground (Ctrl-C kills) or as background jobs.

use super::jobs::Jobs;
use super::shell::Shell;
use super::words::Command;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use keel_userland::abi::{Error, WaitStatus, ANY_CHILD};
use keel_userland::ending::Ending;
use keel_userland::{eprintln, print, println, sys};

/// How often the shell looks whether its foreground program ended, while it watches the
/// console for Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

/// Starts the program `command` names: a word without `/` is `/bin/WORD`.
pub fn run(shell: &mut Shell, command: &Command) {
    let word = &command.words[0];
    let path = if word.contains('/') {
        word.clone()
    } else {
        format!("/bin/{word}")
    };
    let args: Vec<&str> = command.words.iter().map(String::as_str).collect();
    let pid = match sys::spawn(&path, &args) {
        Ok(pid) => pid,
        Err(Error::NotFound) if !word.contains('/') => {
            eprintln!("sh: unknown command: {word} (try help)");
            return;
        }
        Err(error) => {
            eprintln!("sh: {path}: {error}");
            return;
        }
    };
    if command.background {
        let number = shell.jobs.add(pid, command.words.join(" "));
        println!("[{number}] {pid}");
    } else {
        let name = path.rsplit('/').next().unwrap_or(&path);
        wait_in_foreground(shell, pid, name);
    }
}

/// Waits for `pid`; a Ctrl-C on the console kills it.
fn wait_in_foreground(shell: &mut Shell, pid: u64, name: &str) {
    let mut interrupted = false;
    loop {
        match sys::wait(pid, true) {
            Ok(Some(status)) => return report_foreground(name, &status, interrupted),
            Ok(None) => {}
            Err(error) => {
                eprintln!("sh: lost {name} (pid {pid}): {error}");
                return;
            }
        }
        match shell.input.interrupted_within(POLL) {
            Ok(true) => {
                print!("^C\n");
                interrupted = true;
                let _ = sys::kill(pid);
            }
            Ok(false) => {}
            // The console cannot be read: keep waiting, without spinning.
            Err(_) => sys::sleep(POLL),
        }
    }
}

/// Says how a foreground program ended, unless it simply succeeded or Ctrl-C killed it.
fn report_foreground(name: &str, status: &WaitStatus, interrupted: bool) {
    match Ending::of(status) {
        Ending::Exited(0) => {}
        Ending::Killed if interrupted => {}
        ending => eprintln!("sh: {name} (pid {}) {}", status.pid, ending.sentence()),
    }
}

/// Reaps background jobs that ended and says how: `[1] done  spin 2`, `[2] killed  spin`.
pub fn report_finished_jobs(jobs: &mut Jobs) {
    while let Ok(Some(status)) = sys::wait(ANY_CHILD, true) {
        if let Some(job) = jobs.remove(status.pid) {
            match Ending::of(&status) {
                Ending::Exited(0) => println!("[{}] done  {}", job.number, job.command),
                ending => println!("[{}] {ending}  {}", job.number, job.command),
            }
        }
    }
}
