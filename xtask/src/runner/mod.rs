//! Runs Keel under QEMU: `cargo xtask run`, and the library the system tests and
//! benchmarks call.
//!
//! On a terminal QEMU gets the terminal (`-serial mon:stdio`). Otherwise the console goes
//! through pipes: one thread types our input into the console, one copies the console out
//! while recognising the contract's lines and the shell's prompts, and this thread follows
//! `verdict::Watch` to decide when to press the power button (QMP `system_powerdown`) and
//! when to give up, and `verdict::verdict` for the exit code.

mod verdict;

pub use verdict::{QemuEnd, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_TIMEOUT};

use crate::console::{LineSplitter, Scan};
use crate::image::{self, Images};
use crate::options::{self, Parsed, RunOptions};
use crate::typing::{self, EnterCounter, Input, PromptGate};
use crate::{qemu, qmp};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use verdict::{seconds, verdict, Action, Kill, Watch};

/// A private directory for the QMP socket, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "keel-run-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // A Unix socket path must fit in 108 bytes; fall back to /tmp for a long TMPDIR.
        let mut base = std::env::temp_dir();
        if base.join(&name).join("qmp.sock").as_os_str().len() > 100 {
            base = PathBuf::from("/tmp");
        }
        let path = base.join(name);
        std::fs::create_dir(&path)
            .map_err(|e| format!("cannot create a temporary directory {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A piped session.
pub struct Piped {
    pub input: Input,
    /// Copy the console to our stdout as it comes, and let QEMU's stderr through to ours.
    pub echo: bool,
    /// How many of the last console lines to keep in the outcome.
    pub keep_lines: usize,
}

/// Text and when it was seen or typed, counted from QEMU's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timed {
    pub at: Duration,
    pub text: String,
}

/// The result of a piped session.
#[derive(Debug)]
pub struct Outcome {
    pub code: u8,
    pub reason: Option<String>,
    /// The QEMU command line, for people to read.
    pub command: String,
    /// The last `keep_lines` console lines.
    pub console: Vec<Timed>,
    /// What a script typed, step by step.
    pub typed: Vec<Timed>,
    /// QEMU's standard error, when it was not echoed.
    pub stderr: Vec<String>,
    pub banner_after: Option<Duration>,
    /// When the shell's first prompt appeared.
    pub prompt_after: Option<Duration>,
    pub end: QemuEnd,
    /// QEMU's CPU time over the session (same clock as `at`).
    pub cpu: crate::cputime::CpuSamples,
}

enum Event {
    Output(Duration),
    Line(String, Duration),
    Prompt(Duration),
    Typed(Vec<u8>, Duration),
    Stderr(String),
    InputEnded(Duration),
}

fn spawn_error(binary: &str, error: std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::NotFound {
        format!(
            "{binary} is not installed (on Debian: apt-get install qemu-system-arm; \
             scripts/run installs it for you)"
        )
    } else {
        format!("cannot start {binary}: {error}")
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills QEMU if the runner leaves early (an error, a panic); harmless once QEMU was reaped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        kill(&mut self.0);
    }
}

/// Runs one session with the console on pipes.
pub fn run_piped(options: &RunOptions, images: &Images, piped: Piped) -> Result<Outcome, String> {
    let options = &qemu::with_checked_share(options)?;
    qemu::check_initrd_fits(options, images)?;
    let temp = TempDir::new()?;
    let qmp_socket = temp.0.join("qmp.sock");
    let binary = qemu::binary();
    let args = qemu::args(
        options,
        images,
        qemu::Console::Piped {
            qmp_socket: &qmp_socket,
        },
    );
    let start = Instant::now();
    let mut guard = KillOnDrop(
        Command::new(&binary)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if piped.echo { Stdio::inherit() } else { Stdio::piped() })
            .spawn()
            .map_err(|e| spawn_error(&binary, e))?,
    );
    let child = &mut guard.0;
    let sampler = crate::cputime::Sampler::start(child.id(), start);
    let (events, received) = mpsc::channel::<Event>();

    // The console, out: copied raw to our stdout, cut into lines for the scanner, and watched
    // for the shell's prompts (which the typist may be waiting for).
    let mut console_out = child.stdout.take().ok_or("QEMU has no stdout pipe")?;
    let sender = events.clone();
    let echo = piped.echo;
    let gate = Arc::new(PromptGate::default());
    let reader_gate = gate.clone();
    let reader = std::thread::spawn(move || {
        let mut splitter = LineSplitter::default();
        let mut buffer = [0u8; 4096];
        let mut stdout = std::io::stdout();
        loop {
            let count = match console_out.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(count) => count,
            };
            let at = start.elapsed();
            if echo {
                let _ = stdout.write_all(&buffer[..count]);
                let _ = stdout.flush();
            }
            let _ = sender.send(Event::Output(at));
            for line in splitter.push(&buffer[..count]) {
                if crate::console::parse_banner(&line).is_some() {
                    reader_gate.banner();
                }
                let _ = sender.send(Event::Line(line, at));
            }
            // The gate counts the shell's prompts (for the typist and for us).
            let new_prompts = reader_gate.output(&buffer[..count]);
            for _ in 0..new_prompts {
                let _ = sender.send(Event::Prompt(at));
            }
        }
        if let Some(line) = splitter.finish() {
            let _ = sender.send(Event::Line(line, start.elapsed()));
        }
    });

    // QEMU's own messages, kept for the report when not echoed.
    let stderr_reader = child.stderr.take().map(|mut stderr| {
        let sender = events.clone();
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            for line in String::from_utf8_lossy(&text).lines() {
                let _ = sender.send(Event::Stderr(line.to_string()));
            }
        })
    });

    // The console, in. We keep one descriptor of QEMU's stdin open until QEMU exits, so the
    // end of our input never looks like a hang-up to QEMU; the writer gets a duplicate.
    let console_in = OwnedFd::from(child.stdin.take().ok_or("QEMU has no stdin pipe")?);
    let mut writer = File::from(console_in.try_clone().map_err(|e| format!("dup: {e}"))?);
    let sender = events.clone();
    let input = piped.input;
    let typist_gate = gate.clone();
    std::thread::spawn(move || {
        typing::type_input(input, &mut writer, &typist_gate, |text| {
            let _ = sender.send(Event::Typed(text.to_vec(), start.elapsed()));
        });
        drop(writer);
        let _ = sender.send(Event::InputEnded(start.elapsed()));
    });
    drop(events);

    let mut scan = Scan::default();
    let mut watch = Watch::new(options.quiet_after_eof, options.timeout);
    let mut console: VecDeque<Timed> = VecDeque::new();
    let mut typed = Vec::new();
    let mut enters = EnterCounter::default();
    let mut stderr_lines = Vec::new();
    let mut banner_after = None;
    let mut prompt_after = None;
    let mut handle = |event: Event, scan: &mut Scan, watch: &mut Watch| match event {
        Event::Output(at) => watch.console_output(at),
        Event::InputEnded(at) => watch.input_ended(at),
        Event::Stderr(line) => stderr_lines.push(line),
        Event::Prompt(at) => {
            scan.prompts += 1;
            prompt_after.get_or_insert(at);
        }
        Event::Typed(bytes, at) => {
            watch.typed_enters(enters.push(&bytes));
            if piped.keep_lines > 0 {
                typed.push(Timed {
                    at,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
        }
        Event::Line(text, at) => {
            scan.feed(&text);
            if banner_after.is_none() && scan.banner.is_some() {
                banner_after = Some(at);
            }
            if console.len() == piped.keep_lines {
                console.pop_front();
            }
            if piped.keep_lines > 0 {
                console.push_back(Timed { at, text });
            }
        }
    };

    let end = loop {
        if let Ok(event) = received.recv_timeout(Duration::from_millis(20)) {
            handle(event, &mut scan, &mut watch);
            while let Ok(event) = received.try_recv() {
                handle(event, &mut scan, &mut watch);
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => break QemuEnd::from_status(status),
            Ok(None) => {}
            Err(error) => {
                kill(child);
                return Err(format!("cannot wait for QEMU: {error}"));
            }
        }
        match watch.poll(start.elapsed(), &scan) {
            Action::Wait => {}
            Action::PowerDown => {
                match qmp::system_powerdown(&qmp_socket, Duration::from_secs(5)) {
                    Ok(()) => watch.powerdown_sent(start.elapsed()),
                    Err(error) => {
                        // QEMU may have exited by itself meanwhile; that is not a failure.
                        if let Ok(Some(status)) = child.try_wait() {
                            break QemuEnd::from_status(status);
                        }
                        kill(child);
                        break QemuEnd::Killed(Kill::PowerButtonFailed(error));
                    }
                }
            }
            Action::Kill(why) => {
                kill(child);
                break QemuEnd::Killed(why);
            }
        }
    };
    // QEMU is gone, so its pipes close and the readers finish with everything it wrote; a
    // typist waiting for a prompt gives up.
    gate.close();
    let _ = reader.join();
    if let Some(stderr_reader) = stderr_reader {
        let _ = stderr_reader.join();
    }
    for event in received.try_iter() {
        handle(event, &mut scan, &mut watch);
    }
    drop(console_in);
    let (code, reason) = verdict(&scan, &end);
    Ok(Outcome {
        code,
        reason,
        command: qemu::display_command(&binary, &args),
        console: console.into(),
        typed,
        stderr: stderr_lines,
        banner_after,
        prompt_after,
        end,
        cpu: sampler.samples(),
    })
}

/// Runs QEMU on the terminal; returns QEMU's exit code (124 if `--timeout` expired).
pub fn run_interactive(options: &RunOptions, images: &Images) -> Result<u8, String> {
    let options = &qemu::with_checked_share(options)?;
    qemu::check_initrd_fits(options, images)?;
    let binary = qemu::binary();
    let args = qemu::args(options, images, qemu::Console::Terminal);
    if options.timing {
        eprintln!("run: --timing needs piped input and output; ignored on a terminal");
    }
    eprintln!("run: Keel's console; quit with Ctrl-A X (Ctrl-A C switches to the QEMU monitor)");
    let mut child = Command::new(&binary)
        .args(&args)
        .spawn()
        .map_err(|e| spawn_error(&binary, e))?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("cannot wait for QEMU: {e}"))? {
            return Ok(match status.code() {
                Some(code) => u8::try_from(code).unwrap_or(EXIT_FAILED),
                None => EXIT_FAILED,
            });
        }
        if options.timeout.is_some_and(|timeout| start.elapsed() >= timeout) {
            // SIGTERM first: QEMU then restores the terminal it put in raw mode.
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            kill(&mut child);
            eprintln!(
                "\r\nrun: timed out after {} s; killed QEMU",
                seconds(options.timeout.unwrap_or_default())
            );
            return Ok(EXIT_TIMEOUT);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `cargo xtask run ...`; returns the process exit code.
pub fn command(args: &[String]) -> u8 {
    let options = match options::parse_run_args(args) {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            print!("{}", options::RUN_USAGE);
            return EXIT_OK;
        }
        Err(error) => {
            eprintln!("run: {error}");
            return 2;
        }
    };
    let images = match image::resolve_with(options.kernel.as_deref(), options.initrd.as_deref(), &options.add) {
        Ok(images) => images,
        Err(error) => {
            eprintln!("run: {error}");
            return EXIT_FAILED;
        }
    };
    if std::io::stdin().is_terminal() {
        return match run_interactive(&options, &images) {
            Ok(code) => {
                if code != EXIT_OK && code != EXIT_TIMEOUT {
                    eprintln!("run: QEMU exited with status {code}");
                }
                code
            }
            Err(error) => {
                eprintln!("run: {error}");
                EXIT_FAILED
            }
        };
    }
    let piped = Piped {
        input: Input::Stdin,
        echo: true,
        keep_lines: 0,
    };
    match run_piped(&options, &images, piped) {
        Ok(outcome) => {
            let _ = std::io::stdout().flush();
            if options.timing {
                match outcome.banner_after {
                    Some(after) => eprintln!("run: banner after {:.3} s", after.as_secs_f64()),
                    None => eprintln!("run: no banner seen"),
                }
            }
            if let Some(reason) = &outcome.reason {
                eprintln!("run: {reason}");
            }
            outcome.code
        }
        Err(error) => {
            eprintln!("run: {error}");
            EXIT_FAILED
        }
    }
}
