//! `cargo xtask systest`: Keel booted under QEMU, checked from its console.
//!
//! Every case is a row of `cases::CASES`, `idle::IDLE_CASES`, `files::FILE_CASES`,
//! `guests::GUEST_CASES`, `virtio::VIRTIO_CASES`, `hostile::HOSTILE_CASES`,
//! `observe::OBSERVE_CASES`, `many::FAIR_CASES` or `lifecycle::cases()` (or, for a directory shared with Keel, of
//! `files::SHARE_CASES` or `lifecycle::SHARE_CASES`; with ports of the machine, of
//! `net::NET_CASES` or `many::MANY_CASES`): the `run` options, what
//! to type into the console (at once, line by line at the shell's prompts, or at a guest's
//! prompts), and what must be seen (`expect::Expect`). Cases run through the same runner as
//! `cargo xtask run` with piped input.

mod cases;
mod expect;
mod files;
mod guests;
mod idle;
mod lifecycle;
mod many;
mod net;
mod hostile;
mod observe;
mod splice;
mod virtio;

use crate::image::{self, Images};
use crate::options::{self, Parsed, RunOptions};
use crate::runner::{self, Outcome, Piped, Timed};
use crate::typing::{Input, Step};
use expect::{Expect, Session};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Per-case limit, unless a case's args give `--timeout`.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);
pub const DEFAULT_JOBS: usize = 2;
/// How many console lines a failure report shows.
const TAIL_LINES: usize = 40;
/// Whether the guest cases run unless `--guests`/`--no-guests` or `KEEL_SYSTEST_GUESTS`
/// say otherwise. (Should a kernel change break guests for a while, turn this off and set
/// `GUESTS_OFF_BECAUSE`: the run then says that it skipped them, and which.)
pub const GUESTS_BY_DEFAULT: bool = true;
/// Why they are off by default, printed when they are skipped for that reason.
const GUESTS_OFF_BECAUSE: &str = "they are off by default";
/// `1` runs the guest cases, `0` skips them (the options win over it).
const GUESTS_VAR: &str = "KEEL_SYSTEST_GUESTS";

/// What a case types into the console.
#[derive(Debug, Clone, Copy)]
pub enum Typing {
    /// All at once from the start, as a pipe does (Keel keeps what the shell has not read).
    AtOnce(&'static str),
    /// Step by step: each `Type` once the shell shows a new prompt.
    Script(&'static [Step]),
}

/// A system test.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    /// `cargo xtask run` options.
    pub args: &'static [&'static str],
    /// Its end is the end of input (then the power button, once the shell's prompt is there
    /// and the console is quiet).
    pub typing: Typing,
    pub expect: &'static [Expect],
}

/// The run options of a case, with the per-case timeout filled in.
pub fn case_options(case: &Case) -> Result<RunOptions, String> {
    match options::parse_run_args(case.args)? {
        Parsed::Run(mut options) => {
            options.timeout.get_or_insert(CASE_TIMEOUT);
            // Cases run side by side: none takes the default status-page port of the
            // machine unless it asks for a port (the network cases pick free ones).
            if !case.args.iter().any(|arg| arg.starts_with("--http-port")) {
                options.http_port = None;
            }
            Ok(options)
        }
        Parsed::Help => Err("a case's args ask for --help".into()),
    }
}

struct CaseResult {
    passed: bool,
    report: String,
}

fn log_dir() -> PathBuf {
    image::output_dir().join("systest")
}

/// The whole console of a case, with what the script typed interleaved as `#> typed …`.
fn log_text(case: &Case, outcome: &Outcome) -> String {
    let mut log = format!(
        "# cargo xtask run{}\n# {}\n# QEMU: {:?}; exit code {}",
        case.args.iter().map(|arg| format!(" {arg}")).collect::<String>(),
        outcome.command,
        outcome.end,
        outcome.code
    );
    if let Some(reason) = &outcome.reason {
        log.push_str(&format!(" ({reason})"));
    }
    log.push('\n');
    let mut typed = outcome.typed.iter().peekable();
    for line in &outcome.console {
        while let Some(step) = typed.next_if(|step| step.at <= line.at) {
            log.push_str(&format!("#> typed {:?} at {:.3} s\n", step.text, step.at.as_secs_f64()));
        }
        log.push_str(&line.text);
        log.push('\n');
    }
    for step in typed {
        log.push_str(&format!("#> typed {:?} at {:.3} s\n", step.text, step.at.as_secs_f64()));
    }
    for line in &outcome.stderr {
        log.push_str(line);
        log.push('\n');
    }
    log
}

/// Runs one case; `unbootable` says why it cannot run at all (a guest case without a guest).
fn run_case(case: &Case, images: &Images, unbootable: Option<&str>) -> CaseResult {
    let started = Instant::now();
    let took = || format!("{:.1}s", started.elapsed().as_secs_f64());
    let failed = |why: String| CaseResult {
        passed: false,
        report: format!("systest: {} ... FAILED: {why}\n", case.name),
    };
    if let Some(why) = unbootable {
        return failed(why.to_string());
    }
    let mut options = match case_options(case) {
        Ok(options) => options,
        Err(error) => return failed(format!("bad case: {error}")),
    };
    // Each case gets a fresh host disk of its own (cases run side by side, and QEMU locks
    // its image); it lives through the case's reboots.
    if options.disk.is_none() && !options.no_disk {
        let disk = log_dir().join(format!("{}.disk", case.name));
        let _ = std::fs::remove_file(&disk);
        options.disk = Some(disk);
    }
    let input = match case.typing {
        Typing::AtOnce(text) => Input::Bytes(text.as_bytes().to_vec()),
        Typing::Script(steps) => Input::Script(steps.to_vec()),
    };
    let piped = Piped {
        input,
        echo: false,
        keep_lines: 1 << 20,
    };
    let outcome = match runner::run_piped(&options, images, piped) {
        Ok(outcome) => outcome,
        Err(error) => return failed(error),
    };
    let log_path = log_dir().join(format!("{}.log", case.name));
    let _ = std::fs::write(&log_path, log_text(case, &outcome));

    let session = Session {
        code: outcome.code,
        console: splice::unsplice(outcome.console),
        typed: outcome.typed,
    };
    let Some(why) = expect::judge(case.expect, &session) else {
        return CaseResult {
            passed: true,
            report: format!("systest: {} ... ok ({})\n", case.name, took()),
        };
    };
    let mut report = format!("systest: {} ... FAILED: {why} ({})\n", case.name, took());
    if let Some(reason) = &outcome.reason {
        report.push_str(&format!("    run: {reason}\n"));
    }
    let skip = session.console.len().saturating_sub(TAIL_LINES);
    report.push_str(&format!(
        "    last {} console lines (all in {}):\n",
        session.console.len() - skip,
        log_path.display()
    ));
    for Timed { text, .. } in &session.console[skip..] {
        report.push_str(&format!("    | {text}\n"));
    }
    for line in &outcome.stderr {
        report.push_str(&format!("    qemu stderr: {line}\n"));
    }
    CaseResult { passed: false, report }
}

/// A case to run: a fixed row, or one that prepares a shared directory first.
#[derive(Clone, Copy)]
enum Job {
    Plain(&'static Case),
    Shared(&'static files::ShareCase),
    Net(&'static net::NetCase),
}

impl Job {
    fn name(&self) -> &'static str {
        match self {
            Job::Plain(case) => case.name,
            Job::Shared(shared) => shared.name,
            Job::Net(case) => case.name,
        }
    }

    fn is_guest_case(&self) -> bool {
        match self {
            Job::Plain(case) => guest_cases().any(|guest| guest.name == case.name),
            Job::Shared(shared) => shared.guest,
            Job::Net(case) => case.guest,
        }
    }

    fn run(&self, images: &Images, unbootable: Option<&str>) -> CaseResult {
        let shared = match self {
            Job::Plain(case) => return run_case(case, images, unbootable),
            Job::Net(case) => return run_net_case(case, images, unbootable),
            Job::Shared(shared) => shared,
        };
        let failed = |why: String| CaseResult {
            passed: false,
            report: format!("systest: {} ... FAILED: {why}\n", shared.name),
        };
        if let Some(why) = unbootable {
            return failed(why.to_string());
        }
        let dir = match files::share_dir(shared.name) {
            Ok(dir) => dir,
            Err(error) => return failed(error),
        };
        let result = match (shared.prepare)(&dir) {
            Ok(case) => {
                let result = run_case(&case, images, None);
                match (shared.check)(&dir) {
                    Err(why) if result.passed => failed(format!("in the shared directory: {why}")),
                    _ => result,
                }
            }
            Err(error) => failed(error),
        };
        let _ = std::fs::remove_dir_all(&dir);
        result
    }
}

/// Runs a network case: Keel with a free port of the machine forwarded to its status
/// page, and the case's outside part on a thread meanwhile.
fn run_net_case(case: &net::NetCase, images: &Images, unbootable: Option<&str>) -> CaseResult {
    let failed = |why: String| CaseResult { passed: false, report: format!("systest: {} ... FAILED: {why}\n", case.name) };
    if let Some(why) = unbootable {
        return failed(why.to_string());
    }
    let ports = match net::free_ports() {
        Ok(ports) => ports,
        Err(error) => return failed(error),
    };
    let plain = (case.prepare)(ports);
    let outside = case.outside;
    let helper = std::thread::spawn(move || outside(ports));
    let result = run_case(&plain, images, None);
    let outside_result = helper.join().unwrap_or_else(|_| Err("the outside part panicked".into()));
    match outside_result {
        Err(why) if result.passed => failed(format!("from the machine, ports {ports:?}: {why}")),
        Err(why) => CaseResult { passed: false, report: format!("{}    from the machine, ports {ports:?}: {why}\n", result.report) },
        Ok(()) => result,
    }
}

const USAGE: &str = "usage: cargo xtask systest [--filter SUBSTR] [--jobs N] [--kernel PATH] [--initrd PATH]
                           [--guests|--no-guests] [--list]

  --filter SUBSTR   run only the cases whose name contains SUBSTR
  --jobs N          run up to N cases at a time (default 2)
  --guests          run the cases with Linux guests (vm-*) even where they are off by
                    default; --no-guests skips them (also KEEL_SYSTEST_GUESTS=1 or 0)
  --kernel PATH     test this Image instead of building target/keel/Image
  --initrd PATH     boot with this initrd instead of building target/keel/initrd.cpio
  --list            print the case names and exit
";

/// Parsed `systest` arguments.
#[derive(Debug, PartialEq)]
pub struct SystestArgs {
    pub filter: Option<String>,
    pub jobs: usize,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub list: bool,
    /// `--guests` / `--no-guests`, if given.
    pub guests: Option<bool>,
}

pub fn parse_args(args: &[String]) -> Result<Option<SystestArgs>, String> {
    let mut parsed = SystestArgs {
        filter: None,
        jobs: DEFAULT_JOBS,
        kernel: None,
        initrd: None,
        list: false,
        guests: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or(format!("{name} needs a value"))
        };
        match name {
            "--filter" => parsed.filter = Some(value()?),
            "--jobs" => {
                let text = value()?;
                parsed.jobs = match text.parse::<usize>() {
                    Ok(n) if (1..=64).contains(&n) => n,
                    _ => return Err(format!("--jobs wants a number from 1 to 64, not `{text}`")),
                }
            }
            "--kernel" => parsed.kernel = Some(PathBuf::from(value()?)),
            "--initrd" => parsed.initrd = Some(PathBuf::from(value()?)),
            "--list" => parsed.list = true,
            "--guests" => parsed.guests = Some(true),
            "--no-guests" => parsed.guests = Some(false),
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    Ok(Some(parsed))
}

/// `cargo xtask systest ...`; returns the process exit code.
pub fn command(args: &[String]) -> u8 {
    let args = match parse_args(args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return 0;
        }
        Err(error) => {
            eprintln!("systest: {error}");
            return 2;
        }
    };
    let guests = match guests_wanted(args.guests, std::env::var(GUESTS_VAR).ok().as_deref()) {
        Ok(guests) => guests,
        Err(error) => {
            eprintln!("systest: {error}");
            return 2;
        }
    };
    let matches = |job: &Job| args.filter.as_deref().is_none_or(|f| job.name().contains(f));
    let shared = files::SHARE_CASES
        .iter()
        .chain(lifecycle::SHARE_CASES)
        .map(Job::Shared)
        .chain(net::NET_CASES.iter().chain(many::MANY_CASES).map(Job::Net));
    let all = cases::CASES.iter().chain(idle::IDLE_CASES).chain(files::FILE_CASES).map(Job::Plain).chain(shared.clone().filter(|job| !job.is_guest_case()));
    let plain = all.filter(matches);
    let with_guests: Vec<Job> =
        guest_cases().map(Job::Plain).chain(shared.filter(Job::is_guest_case)).filter(matches).collect();
    let (cases, skipped): (Vec<Job>, Vec<Job>) = if guests {
        (plain.chain(with_guests).collect(), Vec::new())
    } else {
        (plain.collect(), with_guests)
    };
    if args.list {
        for case in &cases {
            println!("{}", case.name());
        }
        for case in &skipped {
            println!("{} (skipped: guest cases are off; --guests runs them)", case.name());
        }
        return 0;
    }
    if cases.is_empty() && skipped.is_empty() {
        eprintln!("systest: no case matches the filter");
        return 1;
    }
    if !skipped.is_empty() {
        let names: Vec<&str> = skipped.iter().map(Job::name).collect();
        println!(
            "systest: SKIPPING {} guest case(s) ({}): {}; --guests or {GUESTS_VAR}=1 runs them",
            skipped.len(),
            names.join(", "),
            if args.guests.is_some() || std::env::var(GUESTS_VAR).is_ok_and(|v| !v.is_empty()) {
                "asked to"
            } else {
                GUESTS_OFF_BECAUSE
            }
        );
        if cases.is_empty() {
            println!("systest: 0 passed, 0 failed{}", skipped_text(skipped.len()));
            return 0;
        }
    }
    let images = match image::resolve(args.kernel.as_deref(), args.initrd.as_deref()) {
        Ok(images) => images,
        Err(error) => {
            eprintln!("systest: {error}");
            println!(
                "systest: 0 passed, {} failed{}",
                cases.len(),
                skipped_text(skipped.len())
            );
            return 1;
        }
    };
    // A guest case cannot run without the guest in the initrd: say so once per case.
    let no_guest = if guests {
        image::initrd_guest(&images.initrd).err().map(|why| {
            format!(
                "no Linux guest to boot: {why} (images/build-guest failed: see the build's warning \
                     above; or KEEL_GUEST_IMAGES=off)"
            )
        })
    } else {
        None
    };
    let _ = std::fs::create_dir_all(log_dir());
    let jobs = args.jobs.min(cases.len()).max(1);
    println!(
        "systest: {} cases, {jobs} at a time, {} with {}",
        cases.len(),
        images.kernel.display(),
        images.initrd.display()
    );

    let next = AtomicUsize::new(0);
    let failed_names = Mutex::new(Vec::new());
    let passed = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(index) else { break };
                let unbootable = no_guest.as_deref().filter(|_| case.is_guest_case());
                let result = case.run(&images, unbootable);
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(result.report.as_bytes());
                let _ = stdout.flush();
                if result.passed {
                    passed.fetch_add(1, Ordering::SeqCst);
                } else if let Ok(mut names) = failed_names.lock() {
                    names.push(case.name());
                }
            });
        }
    });
    let failed = failed_names.into_inner().unwrap_or_default();
    if !failed.is_empty() {
        println!("systest: failed: {}", failed.join(", "));
    }
    println!(
        "systest: {} passed, {} failed{}",
        passed.load(Ordering::SeqCst),
        failed.len(),
        skipped_text(skipped.len())
    );
    u8::from(!failed.is_empty())
}

/// The cases that boot Linux guests (they need the guest in the initrd).
fn guest_cases() -> impl Iterator<Item = &'static Case> {
    guests::GUEST_CASES
        .iter()
        .chain(virtio::VIRTIO_CASES)
        .chain(hostile::HOSTILE_CASES)
        .chain(observe::OBSERVE_CASES)
        .chain(lifecycle::cases())
        .chain(many::FAIR_CASES)
}

/// `, N skipped` for the summary line, when some were.
fn skipped_text(skipped: usize) -> String {
    if skipped == 0 {
        String::new()
    } else {
        format!(", {skipped} skipped")
    }
}

/// Whether the guest cases run: the option, else `KEEL_SYSTEST_GUESTS`, else the default.
fn guests_wanted(option: Option<bool>, env: Option<&str>) -> Result<bool, String> {
    match (option, env) {
        (Some(wanted), _) => Ok(wanted),
        (None, None | Some("")) => Ok(GUESTS_BY_DEFAULT),
        (None, Some("1")) => Ok(true),
        (None, Some("0")) => Ok(false),
        (None, Some(other)) => Err(format!("{GUESTS_VAR}={other}: use 1 (run the guest cases) or 0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::QemuEnd;

    #[test]
    fn arguments() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let parsed = args(&["--filter", "boot", "--jobs=3", "--initrd", "/tmp/i.cpio"])
            .unwrap()
            .unwrap();
        assert_eq!(parsed.filter.as_deref(), Some("boot"));
        assert_eq!(parsed.jobs, 3);
        assert_eq!(parsed.initrd, Some(PathBuf::from("/tmp/i.cpio")));
        assert_eq!(args(&[]).unwrap().unwrap().jobs, 2);
        assert!(args(&["--jobs", "0"]).is_err());
        assert!(args(&["--filter"]).is_err());
        assert!(args(&["--bogus"]).is_err());
        assert_eq!(args(&["--help"]).unwrap(), None);
        assert_eq!(args(&["--guests"]).unwrap().unwrap().guests, Some(true));
        assert_eq!(args(&["--no-guests"]).unwrap().unwrap().guests, Some(false));
        assert_eq!(args(&[]).unwrap().unwrap().guests, None);
    }

    #[test]
    fn guest_cases_are_switched_by_option_then_environment() {
        assert_eq!(guests_wanted(Some(true), Some("0")), Ok(true));
        assert_eq!(guests_wanted(Some(false), None), Ok(false));
        assert_eq!(guests_wanted(None, Some("1")), Ok(true));
        assert_eq!(guests_wanted(None, Some("0")), Ok(false));
        assert_eq!(guests_wanted(None, None), Ok(GUESTS_BY_DEFAULT));
        assert!(guests_wanted(None, Some("yes"))
            .unwrap_err()
            .contains("KEEL_SYSTEST_GUESTS=yes"));
        assert_eq!(skipped_text(0), "");
        assert_eq!(skipped_text(5), ", 5 skipped");
    }

    #[test]
    fn case_names_are_unique_across_both_lists() {
        let mut names = std::collections::HashSet::new();
        for case in cases::CASES.iter().chain(idle::IDLE_CASES).chain(guest_cases()) {
            assert!(names.insert(case.name), "duplicate {}", case.name);
        }
    }

    #[test]
    fn logs_show_what_was_typed_where_it_was_typed() {
        let at = |ms, text: &str| Timed {
            at: Duration::from_millis(ms),
            text: text.into(),
        };
        let outcome = Outcome {
            code: 0,
            reason: None,
            command: "qemu".into(),
            console: vec![at(100, "banner"), at(300, "keel> ps"), at(400, "PID")],
            typed: vec![at(200, "ps\n"), at(500, "poweroff\n")],
            stderr: vec!["qemu says".into()],
            banner_after: None,
            prompt_after: None,
            end: QemuEnd::Exited(0),
            cpu: Default::default(),
        };
        let case = Case {
            name: "x",
            args: &["--smp", "1"],
            typing: Typing::AtOnce(""),
            expect: &[],
        };
        let log = log_text(&case, &outcome);
        let body: Vec<&str> = log.lines().skip(2).collect();
        assert_eq!(
            body,
            [
                "# QEMU: Exited(0); exit code 0",
                "banner",
                "#> typed \"ps\\n\" at 0.200 s",
                "keel> ps",
                "PID",
                "#> typed \"poweroff\\n\" at 0.500 s",
                "qemu says"
            ]
        );
    }
}
