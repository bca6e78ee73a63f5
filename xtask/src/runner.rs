//! Runs Keel under QEMU: `cargo xtask run`, and the library the system tests and
//! benchmarks call.
//!
//! On a terminal QEMU gets the terminal (`-serial mon:stdio`). Otherwise the console goes
//! through pipes: one thread types our input into the console, one copies the console out
//! while recognising the contract's lines, and this thread decides when to press the power
//! button (QMP `system_powerdown`), when to give up, and what the exit code is.

use crate::console::{LineSplitter, Scan, CRASH_PREFIX, REFUSAL_PREFIX};
use crate::options::{self, Parsed, RunOptions};
use crate::{image, qemu, qmp};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long QEMU gets to exit after the power button was pressed.
pub const POWERDOWN_GRACE: Duration = Duration::from_secs(30);
/// The same when Keel has already crashed or refused to boot: the exit code is settled and a
/// crashed Keel may well not answer.
pub const POWERDOWN_GRACE_AFTER_FAILURE: Duration = Duration::from_secs(5);

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_REFUSED: u8 = 3;
pub const EXIT_CRASHED: u8 = 4;
pub const EXIT_TIMEOUT: u8 = 124;

/// Why the runner killed QEMU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kill {
    Timeout(Duration),
    NoExitAfterPowerdown(Duration),
    PowerButtonFailed(String),
}

/// What the runner should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Wait,
    PowerDown,
    Kill(Kill),
}

/// The runner's clock-driven decisions, kept free of I/O so they can be tested. Times are
/// measured from QEMU's start.
#[derive(Debug, Clone)]
pub struct Watch {
    quiet_after_eof: Duration,
    timeout: Option<Duration>,
    /// Last console output or input end, whichever came later.
    last_activity: Duration,
    input_ended: bool,
    powerdown_at: Option<Duration>,
}

impl Watch {
    pub fn new(quiet_after_eof: Duration, timeout: Option<Duration>) -> Self {
        Watch {
            quiet_after_eof,
            timeout,
            last_activity: Duration::ZERO,
            input_ended: false,
            powerdown_at: None,
        }
    }

    pub fn console_output(&mut self, at: Duration) {
        self.last_activity = self.last_activity.max(at);
    }

    pub fn input_ended(&mut self, at: Duration) {
        self.input_ended = true;
        self.console_output(at);
    }

    pub fn powerdown_sent(&mut self, at: Duration) {
        self.powerdown_at = Some(at);
    }

    /// Once input has ended, the power button is pressed when Keel has come up (banner) — or
    /// has stopped with a crash or refusal without powering off — and the console has been
    /// quiet for `quiet_after_eof`. QEMU then has `POWERDOWN_GRACE` to exit.
    pub fn poll(&self, now: Duration, scan: &Scan) -> Action {
        if let Some(timeout) = self.timeout {
            if now >= timeout {
                return Action::Kill(Kill::Timeout(timeout));
            }
        }
        if let Some(pressed) = self.powerdown_at {
            let grace = if scan.crash.is_some() || scan.refusal.is_some() {
                POWERDOWN_GRACE_AFTER_FAILURE
            } else {
                POWERDOWN_GRACE
            };
            if now >= pressed + grace {
                return Action::Kill(Kill::NoExitAfterPowerdown(grace));
            }
            return Action::Wait;
        }
        let settled = scan.banner.is_some() || scan.crash.is_some() || scan.refusal.is_some();
        if self.input_ended && settled && now >= self.last_activity + self.quiet_after_eof {
            return Action::PowerDown;
        }
        Action::Wait
    }
}

/// How QEMU ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QemuEnd {
    Exited(i32),
    Signalled,
    Killed(Kill),
}

impl QemuEnd {
    fn from_status(status: ExitStatus) -> Self {
        status.code().map_or(QemuEnd::Signalled, QemuEnd::Exited)
    }
}

fn seconds(duration: Duration) -> String {
    let text = format!("{:.1}", duration.as_secs_f64());
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

/// The exit code of a piped run and, unless it is 0, why. A refusal (3) or crash (4) wins
/// over how QEMU ended; then a timeout (124); anything else short of a clean power off is 1.
pub fn verdict(scan: &Scan, end: &QemuEnd) -> (u8, Option<String>) {
    let how_qemu_ended = match end {
        QemuEnd::Killed(Kill::Timeout(after)) => Some(format!(
            "timed out after {} s{}; killed QEMU",
            seconds(*after),
            if scan.banner.is_none() { " without seeing the banner" } else { "" }
        )),
        QemuEnd::Killed(Kill::NoExitAfterPowerdown(grace)) => Some(format!(
            "QEMU did not exit within {} s of the power button (QMP system_powerdown); killed it",
            seconds(*grace)
        )),
        QemuEnd::Killed(Kill::PowerButtonFailed(error)) => {
            Some(format!("could not press the power button ({error}); killed QEMU"))
        }
        QemuEnd::Signalled => Some("QEMU was killed by a signal".to_string()),
        QemuEnd::Exited(0) => None,
        QemuEnd::Exited(code) => Some(format!(
            "QEMU exited with status {code}{}",
            if scan.banner.is_none() && scan.refusal.is_none() && scan.crash.is_none() {
                " before Keel printed its banner (see QEMU's message)"
            } else {
                ""
            }
        )),
    };
    let with_also = |text: String| match &how_qemu_ended {
        Some(also) if !matches!(end, QemuEnd::Exited(_)) => format!("{text}; also: {also}"),
        _ => text,
    };
    if let Some(line) = &scan.refusal {
        let why = line.strip_prefix(REFUSAL_PREFIX).unwrap_or(line);
        return (EXIT_REFUSED, Some(with_also(format!("Keel refused to boot: {why}"))));
    }
    if let Some(line) = &scan.crash {
        let what = if line.starts_with(CRASH_PREFIX) { "crashed" } else { "panicked" };
        return (EXIT_CRASHED, Some(with_also(format!("Keel {what}: {line}"))));
    }
    if let QemuEnd::Killed(Kill::Timeout(_)) = end {
        return (EXIT_TIMEOUT, how_qemu_ended);
    }
    if how_qemu_ended.is_some() {
        return (EXIT_FAILED, how_qemu_ended);
    }
    if !scan.powered_off {
        let why = if scan.banner.is_none() {
            "QEMU exited before Keel printed its banner"
        } else {
            "QEMU exited without Keel printing `keel: power off`"
        };
        return (EXIT_FAILED, Some(why.to_string()));
    }
    (EXIT_OK, None)
}

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

/// What to type into the console.
pub enum Input {
    /// Our own standard input, as it comes.
    Stdin,
    /// These bytes, then end of input.
    Bytes(Vec<u8>),
}

/// A piped session.
pub struct Piped {
    pub input: Input,
    /// Copy the console to our stdout as it comes, and let QEMU's stderr through to ours.
    pub echo: bool,
    /// How many of the last console lines to keep in the outcome.
    pub keep_lines: usize,
}

/// The result of a piped session.
#[derive(Debug)]
pub struct Outcome {
    pub code: u8,
    pub reason: Option<String>,
    /// The QEMU command line, for people to read.
    pub command: String,
    /// The last `keep_lines` console lines.
    pub console: Vec<String>,
    /// QEMU's standard error, when it was not echoed.
    pub stderr: Vec<String>,
    pub banner_after: Option<Duration>,
    pub end: QemuEnd,
}

enum Event {
    Output(Duration),
    Line(String, Duration),
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
pub fn run_piped(options: &RunOptions, image: &Path, piped: Piped) -> Result<Outcome, String> {
    let temp = TempDir::new()?;
    let qmp_socket = temp.0.join("qmp.sock");
    let binary = qemu::binary();
    let args = qemu::args(options, image, qemu::Console::Piped { qmp_socket: &qmp_socket });
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
    let (events, received) = mpsc::channel::<Event>();

    // The console, out: copied raw to our stdout, and cut into lines for the scanner.
    let mut console_out = child.stdout.take().ok_or("QEMU has no stdout pipe")?;
    let sender = events.clone();
    let echo = piped.echo;
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
                let _ = sender.send(Event::Line(line, at));
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
    std::thread::spawn(move || {
        match input {
            Input::Bytes(bytes) => {
                let _ = writer.write_all(&bytes);
            }
            Input::Stdin => {
                let mut stdin = std::io::stdin().lock();
                let mut buffer = [0u8; 4096];
                loop {
                    match stdin.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(count) => {
                            if writer.write_all(&buffer[..count]).is_err() {
                                break;
                            }
                        }
                        Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
        }
        drop(writer);
        let _ = sender.send(Event::InputEnded(start.elapsed()));
    });
    drop(events);

    let mut scan = Scan::default();
    let mut watch = Watch::new(options.quiet_after_eof, options.timeout);
    let mut console: VecDeque<String> = VecDeque::new();
    let mut stderr_lines = Vec::new();
    let mut banner_after = None;
    let mut handle = |event: Event, scan: &mut Scan, watch: &mut Watch| match event {
        Event::Output(at) => watch.console_output(at),
        Event::InputEnded(at) => watch.input_ended(at),
        Event::Stderr(line) => stderr_lines.push(line),
        Event::Line(line, at) => {
            scan.feed(&line);
            if banner_after.is_none() && scan.banner.is_some() {
                banner_after = Some(at);
            }
            if console.len() == piped.keep_lines {
                console.pop_front();
            }
            if piped.keep_lines > 0 {
                console.push_back(line);
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
    // QEMU is gone, so its pipes close and the readers finish with everything it wrote.
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
        stderr: stderr_lines,
        banner_after,
        end,
    })
}

/// Runs QEMU on the terminal; returns QEMU's exit code (124 if `--timeout` expired).
pub fn run_interactive(options: &RunOptions, image: &Path) -> Result<u8, String> {
    let binary = qemu::binary();
    let args = qemu::args(options, image, qemu::Console::Terminal);
    if options.timing {
        eprintln!("run: --timing needs piped input and output; ignored on a terminal");
    }
    eprintln!("run: Keel's console; quit with Ctrl-A X (Ctrl-A C switches to the QEMU monitor)");
    let mut child =
        Command::new(&binary).args(&args).spawn().map_err(|e| spawn_error(&binary, e))?;
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

/// The Image to boot: `--kernel PATH`, or a fresh build of target/keel/Image.
pub fn kernel_image(options: &RunOptions) -> Result<PathBuf, String> {
    match &options.kernel {
        Some(path) if path.is_file() => Ok(path.clone()),
        Some(path) => Err(format!("no kernel Image at {}", path.display())),
        None => image::build().map_err(|e| format!("cannot build Keel: {e}")),
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
    let image = match kernel_image(&options) {
        Ok(image) => image,
        Err(error) => {
            eprintln!("run: {error}");
            return EXIT_FAILED;
        }
    };
    if std::io::stdin().is_terminal() {
        return match run_interactive(&options, &image) {
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
    let piped = Piped { input: Input::Stdin, echo: true, keep_lines: 0 };
    match run_piped(&options, &image, piped) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(seconds: f64) -> Duration {
        Duration::from_secs_f64(seconds)
    }

    fn scan(lines: &[&str]) -> Scan {
        let mut scan = Scan::default();
        for line in lines {
            scan.feed(line);
        }
        scan
    }

    const BANNER: &str = "keel: EL2 VHE (E2H=1 TGE=1) cortex-a76 x2, 2048 MiB";

    #[test]
    fn power_button_waits_for_input_end_banner_and_quiet() {
        let booted = scan(&[BANNER]);
        let mut watch = Watch::new(s(2.0), None);
        watch.console_output(s(1.0));
        assert_eq!(watch.poll(s(10.0), &booted), Action::Wait, "input has not ended");
        watch.input_ended(s(10.0));
        assert_eq!(watch.poll(s(10.5), &Scan::default()), Action::Wait, "no banner yet");
        assert_eq!(watch.poll(s(11.9), &booted), Action::Wait, "not quiet long enough");
        watch.console_output(s(11.0));
        assert_eq!(watch.poll(s(12.5), &booted), Action::Wait);
        assert_eq!(watch.poll(s(13.0), &booted), Action::PowerDown);
        watch.powerdown_sent(s(13.0));
        assert_eq!(watch.poll(s(20.0), &booted), Action::Wait);
        assert_eq!(watch.poll(s(43.0), &booted), Action::Kill(Kill::NoExitAfterPowerdown(s(30.0))));
        let crashed = scan(&[BANNER, "keel: CRASH x"]);
        assert_eq!(watch.poll(s(17.9), &crashed), Action::Wait);
        assert_eq!(watch.poll(s(18.0), &crashed), Action::Kill(Kill::NoExitAfterPowerdown(s(5.0))));
    }

    #[test]
    fn power_button_after_a_crash_or_refusal_that_did_not_power_off() {
        let mut watch = Watch::new(s(0.0), None);
        watch.input_ended(s(0.1));
        assert_eq!(watch.poll(s(1.0), &scan(&["keel: CRASH x"])), Action::PowerDown);
        assert_eq!(watch.poll(s(1.0), &scan(&["keel: cannot boot: x"])), Action::PowerDown);
        assert_eq!(watch.poll(s(1.0), &scan(&["hello"])), Action::Wait);
    }

    #[test]
    fn timeout_wins() {
        let mut watch = Watch::new(s(2.0), Some(s(5.0)));
        assert_eq!(watch.poll(s(4.9), &Scan::default()), Action::Wait);
        assert_eq!(watch.poll(s(5.0), &Scan::default()), Action::Kill(Kill::Timeout(s(5.0))));
        watch.powerdown_sent(s(1.0));
        assert_eq!(watch.poll(s(6.0), &Scan::default()), Action::Kill(Kill::Timeout(s(5.0))));
    }

    #[test]
    fn verdicts() {
        let clean = scan(&[BANNER, "keel: power button", "keel: power off"]);
        assert_eq!(verdict(&clean, &QemuEnd::Exited(0)), (0, None));
        let contained = scan(&[
            BANNER,
            "keel: CRASH on cpu 0: data abort (EC 0x25, synchronous, EL2) in a sacrificial context",
            "selftest: 1 passed, 0 failed",
            "keel: power off",
        ]);
        assert_eq!(verdict(&contained, &QemuEnd::Exited(0)), (0, None));

        let (code, why) = verdict(&scan(&[BANNER]), &QemuEnd::Exited(0));
        assert_eq!(code, 1);
        assert!(why.unwrap().contains("keel: power off"));

        let (code, why) = verdict(&Scan::default(), &QemuEnd::Exited(1));
        assert_eq!(code, 1);
        assert!(why.unwrap().contains("status 1"));

        let (code, why) = verdict(&clean, &QemuEnd::Exited(1));
        assert_eq!((code, why.unwrap()), (1, "QEMU exited with status 1".to_string()));

        let refused = scan(&["keel: cannot boot: this CPU has no VHE", "keel: power off"]);
        let (code, why) = verdict(&refused, &QemuEnd::Exited(0));
        assert_eq!((code, why.unwrap()), (3, "Keel refused to boot: this CPU has no VHE".into()));

        let (code, why) = verdict(&scan(&[BANNER, "keel: CRASH data abort"]), &QemuEnd::Exited(0));
        assert_eq!((code, why.unwrap()), (4, "Keel crashed: keel: CRASH data abort".into()));

        let panicked = scan(&[BANNER, "keel: PANIC oops", "keel: power off"]);
        let (code, why) = verdict(&panicked, &QemuEnd::Killed(Kill::Timeout(s(3.0))));
        assert_eq!(code, 4);
        assert_eq!(
            why.unwrap(),
            "Keel panicked: keel: PANIC oops; also: timed out after 3 s; killed QEMU"
        );

        let (code, why) = verdict(&Scan::default(), &QemuEnd::Killed(Kill::Timeout(s(1.5))));
        assert_eq!(code, 124);
        assert_eq!(why.unwrap(), "timed out after 1.5 s without seeing the banner; killed QEMU");

        let (code, why) = verdict(&clean, &QemuEnd::Killed(Kill::NoExitAfterPowerdown(s(30.0))));
        assert_eq!(code, 1);
        assert!(why.unwrap().contains("did not exit within 30 s"));

        assert_eq!(verdict(&clean, &QemuEnd::Signalled).0, 1);
        let (code, why) = verdict(&Scan::default(), &QemuEnd::Exited(0));
        assert_eq!(code, 1);
        assert!(why.unwrap().contains("before Keel printed its banner"));
    }
}
