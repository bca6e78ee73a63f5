//! `cargo xtask systest`: Keel booted under QEMU, checked from its console.
//!
//! Every case is a row of `CASES`: the `run` options, what to type into the console, and what
//! must be seen. Cases run through the same runner as `cargo xtask run` with piped input.

use crate::console::CONTAINED_SUFFIX;
use crate::options::{self, Parsed, RunOptions};
use crate::runner::{self, Input, Outcome, Piped};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Per-case limit, unless a case's args give `--timeout`.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);
pub const DEFAULT_JOBS: usize = 2;
/// How many console lines a failure report shows.
const TAIL_LINES: usize = 40;

/// One thing a case expects.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// The runner's exit code (0 also means `keel: power off` and no crash or refusal).
    Exit(u8),
    /// The banner, with this CPU model and number of CPUs.
    Banner { model: &'static str, cpus: u32 },
    /// Some console line contains this text.
    Line(&'static str),
    /// No console line contains this text.
    NoLine(&'static str),
    /// Some line starts with `prefix` and contains `contains`.
    LineStartingWith { prefix: &'static str, contains: &'static str },
    /// Lines containing these texts, in this order (other lines may come between).
    Sequence(&'static [&'static str]),
    /// `selftest: N passed, 0 failed` with N at least this, and no `... FAILED` line.
    SelftestsPass { at_least: u32 },
}

/// A system test.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    /// `cargo xtask run` options.
    pub args: &'static [&'static str],
    /// Typed into the console; its end is the end of input (then the power button, once the
    /// console is quiet).
    pub stdin: &'static str,
    pub expect: &'static [Expect],
}

const BOOTS_CLEANLY: Expect = Expect::Exit(0);
const POWERS_OFF: Expect = Expect::Line("keel: power off");

macro_rules! boot_case {
    ($name:literal, $cpu:literal, $smp:literal, $model:literal, $cpus:literal) => {
        Case {
            name: $name,
            args: &["--cpu", $cpu, "--smp", $smp],
            stdin: "",
            expect: &[
                BOOTS_CLEANLY,
                Expect::Banner { model: $model, cpus: $cpus },
                Expect::Sequence(&["keel: EL2 VHE", "keel: power button", "keel: power off"]),
            ],
        }
    };
}

pub const CASES: &[Case] = &[
    boot_case!("boot-cortex-a76-x1", "cortex-a76", "1", "cortex-a76", 1),
    boot_case!("boot-cortex-a76-x4", "cortex-a76", "4", "cortex-a76", 4),
    boot_case!("boot-neoverse-n1-x1", "neoverse-n1", "1", "neoverse-n1", 1),
    boot_case!("boot-neoverse-n1-x4", "neoverse-n1", "4", "neoverse-n1", 4),
    boot_case!("boot-max-x1", "max", "1", "max", 1),
    boot_case!("boot-max-x4", "max", "4", "max", 4),
    Case {
        name: "selftest-x4",
        args: &["--smp", "4", "--append", "keel.selftest"],
        stdin: "",
        expect: &[
            BOOTS_CLEANLY,
            Expect::Banner { model: "cortex-a76", cpus: 4 },
            Expect::SelftestsPass { at_least: 4 },
            // The deliberate fault's crash report, caught in a sacrificial context.
            Expect::LineStartingWith { prefix: "keel: CRASH ", contains: CONTAINED_SUFFIX },
            POWERS_OFF,
        ],
    },
    Case {
        name: "selftest-x1",
        args: &["--smp", "1", "--append", "keel.selftest"],
        stdin: "",
        expect: &[
            BOOTS_CLEANLY,
            Expect::Banner { model: "cortex-a76", cpus: 1 },
            Expect::SelftestsPass { at_least: 4 },
            // The deliberate fault's crash report, caught in a sacrificial context.
            Expect::LineStartingWith { prefix: "keel: CRASH ", contains: CONTAINED_SUFFIX },
            POWERS_OFF,
        ],
    },
    Case {
        name: "refuse-no-vhe-cortex-a72",
        args: &["--cpu", "cortex-a72"],
        stdin: "",
        expect: &[
            Expect::Exit(runner::EXIT_REFUSED),
            Expect::LineStartingWith { prefix: "keel: cannot boot: ", contains: "VHE" },
            Expect::NoLine("keel: EL2 VHE"),
        ],
    },
    Case {
        name: "refuse-no-virtualization",
        args: &["--no-virtualization"],
        stdin: "",
        expect: &[
            Expect::Exit(runner::EXIT_REFUSED),
            Expect::LineStartingWith {
                prefix: "keel: cannot boot: ",
                contains: "virtualization=on",
            },
            Expect::NoLine("keel: EL2 VHE"),
        ],
    },
];

/// Checks one expectation against a finished session.
pub fn check(expect: &Expect, code: u8, lines: &[String]) -> Result<(), String> {
    let find = |needle: &str| lines.iter().any(|line| line.contains(needle));
    match *expect {
        Expect::Exit(want) if code == want => Ok(()),
        Expect::Exit(want) => Err(format!("exit code {code}, expected {want}")),
        Expect::Banner { model, cpus } => {
            let banners: Vec<_> =
                lines.iter().filter_map(|l| crate::console::parse_banner(l)).collect();
            match banners.first() {
                Some(banner) if banner.model == model && banner.cpus == cpus => Ok(()),
                Some(banner) => Err(format!(
                    "banner shows {} x{}, expected {model} x{cpus}",
                    banner.model, banner.cpus
                )),
                None => Err(format!("no banner (expected {model} x{cpus})")),
            }
        }
        Expect::Line(needle) if find(needle) => Ok(()),
        Expect::Line(needle) => Err(format!("no line contains `{needle}`")),
        Expect::NoLine(needle) => match lines.iter().find(|line| line.contains(needle)) {
            Some(line) => Err(format!("unexpected line `{line}`")),
            None => Ok(()),
        },
        Expect::LineStartingWith { prefix, contains } => {
            let starting: Vec<_> = lines.iter().filter(|l| l.starts_with(prefix)).collect();
            if starting.iter().any(|l| l.contains(contains)) {
                Ok(())
            } else if let Some(line) = starting.first() {
                Err(format!("`{line}` does not mention `{contains}`"))
            } else {
                Err(format!("no line starts with `{prefix}`"))
            }
        }
        Expect::Sequence(needles) => {
            let mut rest = lines.iter();
            for (index, needle) in needles.iter().enumerate() {
                if !rest.any(|line| line.contains(needle)) {
                    return Err(if index == 0 {
                        format!("no line contains `{needle}`")
                    } else {
                        format!("no line contains `{needle}` after `{}`", needles[index - 1])
                    });
                }
            }
            Ok(())
        }
        Expect::SelftestsPass { at_least } => {
            let failed: Vec<_> = lines
                .iter()
                .filter(|l| {
                    matches!(
                        crate::console::classify(l),
                        Some(crate::console::Marker::SelftestResult { ok: false, .. })
                    )
                })
                .collect();
            if let Some(line) = failed.first() {
                return Err(format!("{line} ({} failed)", failed.len()));
            }
            let summary =
                lines.iter().rev().find_map(|line| match crate::console::classify(line) {
                    Some(crate::console::Marker::SelftestSummary { passed, failed }) => {
                        Some((passed, failed))
                    }
                    _ => None,
                });
            match summary {
                Some((passed, 0)) if passed >= at_least => Ok(()),
                Some((passed, failed)) => Err(format!(
                    "self-tests: {passed} passed, {failed} failed (expected at least {at_least} passed, 0 failed)"
                )),
                None => Err("no `selftest: N passed, N failed` line".into()),
            }
        }
    }
}

/// All failed expectations of a case, as one line; None if it passed.
pub fn judge(case: &Case, code: u8, lines: &[String]) -> Option<String> {
    let failures: Vec<String> =
        case.expect.iter().filter_map(|e| check(e, code, lines).err()).collect();
    (!failures.is_empty()).then(|| failures.join("; "))
}

/// The run options of a case, with the per-case timeout filled in.
pub fn case_options(case: &Case) -> Result<RunOptions, String> {
    match options::parse_run_args(case.args)? {
        Parsed::Run(mut options) => {
            options.timeout.get_or_insert(CASE_TIMEOUT);
            Ok(options)
        }
        Parsed::Help => Err("a case's args ask for --help".into()),
    }
}

struct Result_ {
    passed: bool,
    report: String,
}

fn log_dir() -> PathBuf {
    crate::image::output_dir().join("systest")
}

fn run_case(case: &Case, image: &Path) -> Result_ {
    let started = Instant::now();
    let took = || format!("{:.1}s", started.elapsed().as_secs_f64());
    let options = match case_options(case) {
        Ok(options) => options,
        Err(error) => {
            return Result_ {
                passed: false,
                report: format!("systest: {} ... FAILED: bad case: {error}\n", case.name),
            }
        }
    };
    let piped = Piped {
        input: Input::Bytes(case.stdin.as_bytes().to_vec()),
        echo: false,
        keep_lines: 1 << 20,
    };
    let outcome: Outcome = match runner::run_piped(&options, image, piped) {
        Ok(outcome) => outcome,
        Err(error) => {
            return Result_ {
                passed: false,
                report: format!("systest: {} ... FAILED: {error}\n", case.name),
            }
        }
    };
    let log_path = log_dir().join(format!("{}.log", case.name));
    let mut log = String::new();
    log.push_str(&format!(
        "# cargo xtask run {}\n# {}\n# QEMU: {:?}; exit code {}",
        case.args.join(" "),
        outcome.command,
        outcome.end,
        outcome.code
    ));
    if let Some(reason) = &outcome.reason {
        log.push_str(&format!(" ({reason})"));
    }
    log.push('\n');
    for line in outcome.console.iter().chain(&outcome.stderr) {
        log.push_str(line);
        log.push('\n');
    }
    let _ = std::fs::write(&log_path, log);

    match judge(case, outcome.code, &outcome.console) {
        None => Result_ {
            passed: true,
            report: format!("systest: {} ... ok ({})\n", case.name, took()),
        },
        Some(why) => {
            let mut report = format!("systest: {} ... FAILED: {why} ({})\n", case.name, took());
            if let Some(reason) = &outcome.reason {
                report.push_str(&format!("    run: {reason}\n"));
            }
            let skip = outcome.console.len().saturating_sub(TAIL_LINES);
            report.push_str(&format!(
                "    last {} console lines (all in {}):\n",
                outcome.console.len() - skip,
                log_path.display()
            ));
            for line in outcome.console[skip..].iter() {
                report.push_str(&format!("    | {line}\n"));
            }
            for line in &outcome.stderr {
                report.push_str(&format!("    qemu stderr: {line}\n"));
            }
            Result_ { passed: false, report }
        }
    }
}

const USAGE: &str =
    "usage: cargo xtask systest [--filter SUBSTR] [--jobs N] [--kernel PATH] [--list]

  --filter SUBSTR   run only the cases whose name contains SUBSTR
  --jobs N          run up to N cases at a time (default 2)
  --kernel PATH     test this Image instead of building target/keel/Image
  --list            print the case names and exit
";

/// Parsed `systest` arguments.
#[derive(Debug, PartialEq)]
pub struct SystestArgs {
    pub filter: Option<String>,
    pub jobs: usize,
    pub kernel: Option<PathBuf>,
    pub list: bool,
}

pub fn parse_args(args: &[String]) -> Result<Option<SystestArgs>, String> {
    let mut parsed = SystestArgs { filter: None, jobs: DEFAULT_JOBS, kernel: None, list: false };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline.clone().or_else(|| args.next().cloned()).ok_or(format!("{name} needs a value"))
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
            "--list" => parsed.list = true,
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
    let cases: Vec<&Case> = CASES
        .iter()
        .filter(|c| args.filter.as_deref().is_none_or(|f| c.name.contains(f)))
        .collect();
    if args.list {
        for case in &cases {
            println!("{}", case.name);
        }
        return 0;
    }
    if cases.is_empty() {
        eprintln!("systest: no case matches the filter");
        return 1;
    }
    let image = match &args.kernel {
        Some(path) if path.is_file() => path.clone(),
        Some(path) => {
            eprintln!("systest: no kernel Image at {}", path.display());
            return 1;
        }
        None => match crate::image::build() {
            Ok(path) => path,
            Err(error) => {
                eprintln!("systest: cannot build Keel: {error}");
                println!("systest: 0 passed, {} failed", cases.len());
                return 1;
            }
        },
    };
    let _ = std::fs::create_dir_all(log_dir());
    let jobs = args.jobs.min(cases.len());
    println!("systest: {} cases, {jobs} at a time, {}", cases.len(), image.display());

    let next = AtomicUsize::new(0);
    let failed_names = Mutex::new(Vec::new());
    let passed = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(index) else { break };
                let result = run_case(case, &image);
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(result.report.as_bytes());
                let _ = stdout.flush();
                if result.passed {
                    passed.fetch_add(1, Ordering::SeqCst);
                } else if let Ok(mut names) = failed_names.lock() {
                    names.push(case.name);
                }
            });
        }
    });
    let failed = failed_names.into_inner().unwrap_or_default();
    if !failed.is_empty() {
        println!("systest: failed: {}", failed.join(", "));
    }
    println!("systest: {} passed, {} failed", passed.load(Ordering::SeqCst), failed.len());
    u8::from(!failed.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn every_case_parses_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for case in CASES {
            let options = case_options(case).unwrap();
            assert!(options.timeout.is_some());
            assert!(names.insert(case.name), "duplicate {}", case.name);
            assert!(!case.expect.is_empty());
        }
        let selftest = CASES.iter().find(|c| c.name == "selftest-x4").unwrap();
        assert_eq!(case_options(selftest).unwrap().append.as_deref(), Some("keel.selftest"));
        assert!(
            !case_options(CASES.iter().find(|c| c.name == "refuse-no-virtualization").unwrap())
                .unwrap()
                .virtualization
        );
    }

    #[test]
    fn boot_expectations() {
        let case = CASES.iter().find(|c| c.name == "boot-max-x4").unwrap();
        let good = lines("hello\nkeel: EL2 VHE (E2H=1 TGE=1) max x4, 2048 MiB\nkeel: power button\nkeel: power off");
        assert_eq!(judge(case, 0, &good), None);
        let why = judge(case, 1, &good).unwrap();
        assert!(why.contains("exit code 1, expected 0"), "{why}");
        let wrong = lines("keel: EL2 VHE (E2H=1 TGE=1) cortex-a76 x1, 2048 MiB\nkeel: power off");
        assert!(judge(case, 0, &wrong)
            .unwrap()
            .contains("banner shows cortex-a76 x1, expected max x4"));
        assert!(judge(case, 0, &lines("keel: power off")).unwrap().contains("no banner"));
    }

    #[test]
    fn refusal_expectations() {
        let case = CASES.iter().find(|c| c.name == "refuse-no-vhe-cortex-a72").unwrap();
        let good =
            lines("keel: cannot boot: this CPU has no VHE (ID_AA64MMFR1_EL1.VH = 0); use -cpu max");
        assert_eq!(judge(case, 3, &good), None);
        let vague = lines("keel: cannot boot: no");
        assert!(judge(case, 3, &vague).unwrap().contains("does not mention `VHE`"));
        assert!(judge(case, 3, &lines("nothing")).unwrap().contains("no line starts with"));
        let booted =
            lines("keel: EL2 VHE (E2H=1 TGE=1) cortex-a72 x2, 2048 MiB\nkeel: cannot boot: VHE");
        assert!(judge(case, 3, &booted).unwrap().contains("unexpected line"));
    }

    #[test]
    fn selftest_expectations() {
        let expect = Expect::SelftestsPass { at_least: 4 };
        let ok = lines("selftest: a ... ok\nselftest: 4 passed, 0 failed");
        assert_eq!(check(&expect, 0, &ok), Ok(()));
        let few = lines("selftest: 3 passed, 0 failed");
        assert!(check(&expect, 0, &few).unwrap_err().contains("at least 4"));
        let failing = lines("selftest: ipi ... FAILED: cpu 2\nselftest: 4 passed, 1 failed");
        assert!(check(&expect, 0, &failing)
            .unwrap_err()
            .contains("selftest: ipi ... FAILED: cpu 2"));
        let timed = lines("selftest: a ... ok (3 ms)\nselftest: 5 passed, 0 failed");
        assert_eq!(check(&expect, 0, &timed), Ok(()));
        assert!(check(&expect, 0, &lines("")).unwrap_err().contains("no `selftest"));
    }

    #[test]
    fn sequences() {
        let transcript = lines("$ ps\nPID NAME\n1 init\n$ mem\nfree 10 MiB");
        assert_eq!(check(&Expect::Sequence(&["ps", "init", "free"]), 0, &transcript), Ok(()));
        let why = check(&Expect::Sequence(&["mem", "init"]), 0, &transcript).unwrap_err();
        assert_eq!(why, "no line contains `init` after `mem`");
        assert!(check(&Expect::Sequence(&["nope"]), 0, &transcript).is_err());
        assert_eq!(
            check(&Expect::Sequence(&["init", "init"]), 0, &transcript).unwrap_err(),
            "no line contains `init` after `init`"
        );
        assert_eq!(check(&Expect::Line("PID"), 0, &transcript), Ok(()));
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let parsed = args(&["--filter", "boot", "--jobs=3"]).unwrap().unwrap();
        assert_eq!(parsed.filter.as_deref(), Some("boot"));
        assert_eq!(parsed.jobs, 3);
        assert_eq!(args(&[]).unwrap().unwrap().jobs, 2);
        assert!(args(&["--jobs", "0"]).is_err());
        assert!(args(&["--filter"]).is_err());
        assert!(args(&["--bogus"]).is_err());
        assert_eq!(args(&["--help"]).unwrap(), None);
    }
}
