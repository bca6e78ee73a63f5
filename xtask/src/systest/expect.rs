//! What a system test expects of the console, and the checks.

use crate::console::{self, after_prompts, Marker};
use crate::pstable;
use crate::runner::Timed;
use std::time::Duration;

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
    LineStartingWith {
        prefix: &'static str,
        contains: &'static str,
    },
    /// Lines containing these texts, in this order (other lines may come between).
    Sequence(&'static [&'static str]),
    /// Exactly `times` lines are `line` (leading and trailing blanks aside).
    Count { line: &'static str, times: usize },
    /// At most `times` lines contain `text` (e.g. a log line that must not flood).
    AtMost { text: &'static str, times: usize },
    /// A check of a case's own over all console lines; `what` names it in failures.
    Custom {
        what: &'static str,
        check: fn(&[&str]) -> Result<(), String>,
    },
    /// `selftest: N passed, 0 failed` with N at least this, and no `... FAILED` line.
    SelftestsPass { at_least: u32 },
    /// Each time the script typed `to` (a line, compared without its newline), a line
    /// starting with `starting` (after any prompt) came within `within`.
    Responds {
        to: &'static str,
        starting: &'static str,
        within: Duration,
    },
    /// After the first line containing `after`, the first line with a cell `cell` (cells are
    /// two or more blanks apart) also has each of `with` among its cells, and, with
    /// `at_least`, its last cell is a number of at least that (in counter tables: the TOTAL
    /// column).
    Row {
        after: &'static str,
        cell: &'static str,
        with: &'static [&'static str],
        at_least: Option<f64>,
    },
    /// The `table`-th answer to `ps` (from 0, in console order) passes `check`.
    Ps { table: usize, check: PsCheck },
    /// Memory came back: the `after`-th answer to `mem` (from 0) shows at most `slack_mib`
    /// MiB less free memory than the `before`-th.
    MemoryBack {
        before: usize,
        after: usize,
        slack_mib: u32,
    },
    /// The kernel heap came back: the `after`-th answer to `mem` shows at most `slack_kib`
    /// KiB more heap in use than the `before`-th.
    HeapBack {
        before: usize,
        after: usize,
        slack_kib: u32,
    },
    /// The `after`-th `ps` table (from 0) lists the same threads as the `before`-th: as
    /// many, with the same names and kinds.
    SameThreads { before: usize, after: usize },
    /// In the `table`-th answer to `vm list` (from 0), the VM `name` has VMID `vmid`.
    VmId {
        table: usize,
        name: &'static str,
        vmid: u32,
    },
}

/// A check of one `ps` table.
#[derive(Debug, Clone, Copy)]
pub enum PsCheck {
    /// Rows with each of these names.
    Shows(&'static [&'static str]),
    /// No row with any of these names.
    Lacks(&'static [&'static str]),
    /// At least one kernel thread (PID `-`, KIND `kernel`).
    KernelThreads,
    /// At least one row of this KIND (e.g. `vcpu`).
    Kind(&'static str),
    /// Exactly `count` rows named `name`, whose CPU times are within `percent` of each
    /// other: the largest is at most (100 + percent)% of the smallest.
    Fair {
        name: &'static str,
        count: usize,
        percent: u32,
    },
}

/// What a finished case showed.
#[derive(Debug, Default)]
pub struct Session {
    pub code: u8,
    pub console: Vec<Timed>,
    pub typed: Vec<Timed>,
}

impl Session {
    fn lines(&self) -> impl Iterator<Item = &str> {
        self.console.iter().map(|line| line.text.as_str())
    }

    /// A session (exit code 0) of these console lines, one every 100 ms.
    #[cfg(test)]
    pub fn of_text(text: &str) -> Session {
        let console = text
            .lines()
            .enumerate()
            .map(|(i, line)| Timed {
                at: Duration::from_millis(i as u64 * 100),
                text: line.into(),
            })
            .collect();
        Session {
            code: 0,
            console,
            typed: Vec::new(),
        }
    }
}

/// Checks one expectation against a finished session.
pub fn check(expect: &Expect, session: &Session) -> Result<(), String> {
    let find = |needle: &str| session.lines().any(|line| line.contains(needle));
    match *expect {
        Expect::Exit(want) if session.code == want => Ok(()),
        Expect::Exit(want) => Err(format!("exit code {}, expected {want}", session.code)),
        Expect::Banner { model, cpus } => match session.lines().find_map(console::parse_banner) {
            Some(banner) if banner.model == model && banner.cpus == cpus => Ok(()),
            Some(banner) => Err(format!(
                "banner shows {} x{}, expected {model} x{cpus}",
                banner.model, banner.cpus
            )),
            None => Err(format!("no banner (expected {model} x{cpus})")),
        },
        Expect::Line(needle) if find(needle) => Ok(()),
        Expect::Line(needle) => Err(format!("no line contains `{needle}`")),
        Expect::NoLine(needle) => match session.lines().find(|line| line.contains(needle)) {
            Some(line) => Err(format!("unexpected line `{line}`")),
            None => Ok(()),
        },
        Expect::LineStartingWith { prefix, contains } => {
            let starting: Vec<_> = session.lines().filter(|l| l.starts_with(prefix)).collect();
            if starting.iter().any(|l| l.contains(contains)) {
                Ok(())
            } else if let Some(line) = starting.first() {
                Err(format!("`{line}` does not mention `{contains}`"))
            } else {
                Err(format!("no line starts with `{prefix}`"))
            }
        }
        Expect::Sequence(needles) => {
            let mut rest = session.lines();
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
        Expect::Count { line, times } => {
            let seen = session.lines().filter(|l| l.trim() == line).count();
            if seen == times {
                Ok(())
            } else {
                Err(format!("{seen} lines are `{line}`, expected {times}"))
            }
        }
        Expect::AtMost { text, times } => {
            let seen = session.lines().filter(|l| l.contains(text)).count();
            if seen <= times {
                Ok(())
            } else {
                Err(format!("{seen} lines contain `{text}`, expected at most {times}"))
            }
        }
        Expect::Custom { what, check } => {
            let lines: Vec<&str> = session.lines().collect();
            check(&lines).map_err(|why| format!("{what}: {why}"))
        }
        Expect::SelftestsPass { at_least } => selftests_pass(session, at_least),
        Expect::Responds { to, starting, within } => responds(session, to, starting, within),
        Expect::Row { after, cell, with, at_least } => row(session, after, cell, with, at_least),
        Expect::Ps { table, check } => ps(session, table, check),
        Expect::MemoryBack {
            before,
            after,
            slack_mib,
        } => memory_back(session, before, after, slack_mib),
        Expect::HeapBack { before, after, slack_kib } => heap_back(session, before, after, slack_kib),
        Expect::SameThreads { before, after } => same_threads(session, before, after),
        Expect::VmId { table, name, vmid } => vm_id(session, table, name, vmid),
    }
}

/// The heap in use of a `mem` answer, in KiB: `kernel heap: 64.0 MiB, 276 KiB used`.
pub fn heap_used_kib(line: &str) -> Option<f64> {
    let rest = after_prompts(line).strip_prefix("kernel heap: ")?;
    let used = rest.rsplit(", ").next()?.strip_suffix(" used")?;
    let (number, unit) = used.split_once(' ')?;
    let number: f64 = number.parse().ok()?;
    match unit {
        "KiB" => Some(number),
        "MiB" => Some(number * 1024.0),
        _ => None,
    }
}

fn heap_back(session: &Session, before: usize, after: usize, slack_kib: u32) -> Result<(), String> {
    let answers: Vec<f64> = session.lines().filter_map(heap_used_kib).collect();
    let nth = |index: usize| {
        answers
            .get(index)
            .copied()
            .ok_or_else(|| format!("no kernel heap line in mem answer #{} (the console shows {})", index + 1, answers.len()))
    };
    let (was, is) = (nth(before)?, nth(after)?);
    if is <= was + f64::from(slack_kib) {
        Ok(())
    } else {
        Err(format!(
            "the kernel heap did not come back: {was:.0} KiB used in mem answer #{}, {is:.0} KiB in #{}",
            before + 1,
            after + 1
        ))
    }
}

/// The threads of a `ps` table as sorted (name, kind) pairs.
fn thread_names(rows: &[pstable::Row]) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = rows.iter().map(|row| (row.name.clone(), row.kind.clone())).collect();
    names.sort();
    names
}

fn same_threads(session: &Session, before: usize, after: usize) -> Result<(), String> {
    let lines: Vec<&str> = session.lines().collect();
    let tables = pstable::tables(&lines);
    let nth = |index: usize| {
        tables
            .get(index)
            .map(|rows| thread_names(rows))
            .ok_or_else(|| format!("no ps table #{} (the console shows {})", index + 1, tables.len()))
    };
    let (was, is) = (nth(before)?, nth(after)?);
    if was == is {
        return Ok(());
    }
    let gone: Vec<String> = was.iter().filter(|t| !is.contains(t)).map(|t| t.0.clone()).collect();
    let new: Vec<String> = is.iter().filter(|t| !was.contains(t)).map(|t| t.0.clone()).collect();
    Err(format!(
        "ps table #{} has {} threads, #{} has {} (gone: {gone:?}, new: {new:?})",
        before + 1,
        was.len(),
        after + 1,
        is.len()
    ))
}

/// Every `vm list` table among the console lines: (name, last column) per row.
pub fn vm_tables(lines: &[&str]) -> Vec<Vec<(String, String)>> {
    let mut tables = Vec::new();
    let mut current: Option<Vec<(String, String)>> = None;
    for line in lines {
        let cells: Vec<&str> = after_prompts(line).split_whitespace().collect();
        if cells.first() == Some(&"NAME") && cells.get(1) == Some(&"STATE") && cells.last() == Some(&"VMID") {
            tables.extend(current.replace(Vec::new()));
            continue;
        }
        if let Some(rows) = current.as_mut() {
            match (cells.first(), cells.last()) {
                (Some(name), Some(vmid)) if cells.len() >= 7 && !line.starts_with("keel> ") => {
                    rows.push((name.to_string(), vmid.to_string()))
                }
                _ => tables.extend(current.take()),
            }
        }
    }
    tables.extend(current);
    tables
}

fn vm_id(session: &Session, table: usize, name: &str, vmid: u32) -> Result<(), String> {
    let lines: Vec<&str> = session.lines().collect();
    let tables = vm_tables(&lines);
    let rows = tables
        .get(table)
        .ok_or_else(|| format!("no vm list table #{} (the console shows {})", table + 1, tables.len()))?;
    match rows.iter().find(|(row, _)| row == name) {
        Some((_, shown)) if *shown == vmid.to_string() => Ok(()),
        Some((_, shown)) => Err(format!("vm list #{}: {name} has VMID {shown}, expected {vmid}", table + 1)),
        None => Err(format!("vm list #{} shows no VM {name}", table + 1)),
    }
}

/// A line's cells: the text between runs of two or more blanks (after any prompt).
pub fn cells(line: &str) -> Vec<&str> {
    after_prompts(line).split("  ").map(str::trim).filter(|cell| !cell.is_empty()).collect()
}

fn row(session: &Session, after: &str, cell: &str, with: &[&str], at_least: Option<f64>) -> Result<(), String> {
    let mut lines = session.lines().skip_while(|line| !line.contains(after));
    if lines.next().is_none() {
        return Err(format!("no line contains `{after}`"));
    }
    let Some(found) = lines.map(cells).find(|cells| cells.contains(&cell)) else {
        return Err(format!("no row `{cell}` after `{after}`"));
    };
    if let Some(missing) = with.iter().find(|wanted| !found.contains(wanted)) {
        return Err(format!("row `{cell}` after `{after}` lacks `{missing}`: {found:?}"));
    }
    let Some(at_least) = at_least else { return Ok(()) };
    match found.last().and_then(|last| last.split_whitespace().last()).and_then(|n| n.parse::<f64>().ok()) {
        Some(value) if value >= at_least => Ok(()),
        Some(value) => Err(format!("row `{cell}` after `{after}` ends in {value}, expected at least {at_least}")),
        None => Err(format!("row `{cell}` after `{after}` does not end in a number: {found:?}")),
    }
}

/// The free memory of a `mem` answer, in MiB:
/// `memory: 2048.0 MiB RAM, 2041.3 MiB usable, 67.0 MiB used, 1974.3 MiB free`.
pub fn free_mib(line: &str) -> Option<f64> {
    let rest = after_prompts(line).strip_prefix("memory: ")?;
    let free = rest.rsplit(", ").next()?.strip_suffix(" free")?;
    let (number, unit) = free.split_once(' ')?;
    let number: f64 = number.parse().ok()?;
    match unit {
        "MiB" => Some(number),
        "KiB" => Some(number / 1024.0),
        _ => None,
    }
}

fn memory_back(session: &Session, before: usize, after: usize, slack_mib: u32) -> Result<(), String> {
    let answers: Vec<f64> = session.lines().filter_map(free_mib).collect();
    let nth = |index: usize| {
        answers
            .get(index)
            .copied()
            .ok_or_else(|| format!("no mem answer #{} (the console shows {})", index + 1, answers.len()))
    };
    let (was, is) = (nth(before)?, nth(after)?);
    if is + f64::from(slack_mib) >= was {
        Ok(())
    } else {
        Err(format!(
            "memory did not come back: {was:.1} MiB free in mem answer #{}, {is:.1} MiB in #{}",
            before + 1,
            after + 1
        ))
    }
}

fn selftests_pass(session: &Session, at_least: u32) -> Result<(), String> {
    let failed: Vec<_> = session
        .lines()
        .filter(|l| matches!(console::classify(l), Some(Marker::SelftestResult { ok: false, .. })))
        .collect();
    if let Some(line) = failed.first() {
        return Err(format!("{line} ({} failed)", failed.len()));
    }
    let summary = session
        .lines()
        .filter_map(console::classify)
        .find_map(|marker| match marker {
            Marker::SelftestSummary { passed, failed } => Some((passed, failed)),
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

fn responds(session: &Session, to: &str, starting: &str, within: Duration) -> Result<(), String> {
    let mut typed = session.typed.iter().filter(|typed| typed.text.trim_end() == to).peekable();
    if typed.peek().is_none() {
        return Err(format!("`{to}` was never typed"));
    }
    for (nth, typed) in typed.enumerate() {
        let answer = session
            .console
            .iter()
            .find(|line| line.at >= typed.at && after_prompts(&line.text).starts_with(starting))
            .ok_or_else(|| format!("no line starting with `{starting}` after `{to}` was typed (time {})", nth + 1))?;
        let took = answer.at - typed.at;
        if took > within {
            return Err(format!(
                "`{to}` (time {}) was answered after {:.2} s (allowed: {:.2} s)",
                nth + 1,
                took.as_secs_f64(),
                within.as_secs_f64()
            ));
        }
    }
    Ok(())
}

fn ps(session: &Session, table: usize, check: PsCheck) -> Result<(), String> {
    let lines: Vec<&str> = session.lines().collect();
    let tables = pstable::tables(&lines);
    let rows = tables
        .get(table)
        .ok_or_else(|| format!("no ps table #{} (the console shows {})", table + 1, tables.len()))?;
    let which = format!("ps table #{}", table + 1);
    match check {
        PsCheck::Shows(names) => match names.iter().find(|name| !rows.iter().any(|row| row.name == **name)) {
            Some(missing) => Err(format!("{which} has no `{missing}`")),
            None => Ok(()),
        },
        PsCheck::Lacks(names) => match rows.iter().find(|row| names.contains(&row.name.as_str())) {
            Some(row) => Err(format!(
                "{which} still shows `{}` (tid {}, {})",
                row.name, row.tid, row.state
            )),
            None => Ok(()),
        },
        PsCheck::KernelThreads => {
            if rows.iter().any(|row| row.pid.is_none() && row.kind == "kernel") {
                Ok(())
            } else {
                Err(format!("{which} shows no kernel thread"))
            }
        }
        PsCheck::Kind(kind) => {
            if rows.iter().any(|row| row.kind == kind) {
                Ok(())
            } else {
                Err(format!("{which} shows no thread of kind `{kind}`"))
            }
        }
        PsCheck::Fair { name, count, percent } => {
            let times: Vec<f64> = rows
                .iter()
                .filter(|row| row.name == name)
                .map(|row| row.seconds)
                .collect();
            if times.len() != count {
                return Err(format!("{which} has {} `{name}` rows, expected {count}", times.len()));
            }
            let min = times.iter().copied().fold(f64::INFINITY, f64::min);
            let max = times.iter().copied().fold(0.0, f64::max);
            let shown = times.iter().map(|t| format!("{t:.2}")).collect::<Vec<_>>().join(", ");
            if min > 0.0 && max <= min * (1.0 + f64::from(percent) / 100.0) {
                Ok(())
            } else {
                Err(format!(
                    "{which}: CPU times of `{name}` are {shown} s, not within {percent}% of each other"
                ))
            }
        }
    }
}

/// All failed expectations, as one line; None if all passed.
pub fn judge(expect: &[Expect], session: &Session) -> Option<String> {
    let failures: Vec<String> = expect.iter().filter_map(|e| check(e, session).err()).collect();
    (!failures.is_empty()).then(|| failures.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, text: &str) -> Timed {
        Timed {
            at: Duration::from_millis(ms),
            text: text.into(),
        }
    }

    fn session(text: &str) -> Session {
        Session::of_text(text)
    }

    #[test]
    fn selftest_expectations() {
        let expect = Expect::SelftestsPass { at_least: 4 };
        assert_eq!(
            check(&expect, &session("selftest: a ... ok\nselftest: 4 passed, 0 failed")),
            Ok(())
        );
        assert!(check(&expect, &session("selftest: 3 passed, 0 failed"))
            .unwrap_err()
            .contains("at least 4"));
        let failing = session("selftest: ipi ... FAILED: cpu 2\nselftest: 4 passed, 1 failed");
        assert!(check(&expect, &failing)
            .unwrap_err()
            .contains("selftest: ipi ... FAILED: cpu 2"));
        let timed = session("selftest: a ... ok (3 ms)\nselftest: 5 passed, 0 failed");
        assert_eq!(check(&expect, &timed), Ok(()));
        assert!(check(&expect, &session("")).unwrap_err().contains("no `selftest"));
    }

    #[test]
    fn sequences_lines_and_counts() {
        let transcript = session("$ ps\nPID NAME\n1 init\n$ mem\nfree 10 MiB\n  ok \nok");
        assert_eq!(check(&Expect::Sequence(&["ps", "init", "free"]), &transcript), Ok(()));
        let why = check(&Expect::Sequence(&["mem", "init"]), &transcript).unwrap_err();
        assert_eq!(why, "no line contains `init` after `mem`");
        assert!(check(&Expect::Sequence(&["nope"]), &transcript).is_err());
        assert_eq!(
            check(&Expect::Sequence(&["init", "init"]), &transcript).unwrap_err(),
            "no line contains `init` after `init`"
        );
        assert_eq!(check(&Expect::Line("PID"), &transcript), Ok(()));
        assert_eq!(check(&Expect::Count { line: "ok", times: 2 }, &transcript), Ok(()));
        assert_eq!(
            check(&Expect::Count { line: "init", times: 1 }, &transcript).unwrap_err(),
            "0 lines are `init`, expected 1"
        );
    }

    #[test]
    fn at_most_and_custom_checks() {
        let transcript = session("log a\nlog b\nother");
        assert_eq!(check(&Expect::AtMost { text: "log", times: 2 }, &transcript), Ok(()));
        assert_eq!(
            check(&Expect::AtMost { text: "log", times: 1 }, &transcript).unwrap_err(),
            "2 lines contain `log`, expected at most 1"
        );
        fn three_lines(lines: &[&str]) -> Result<(), String> {
            if lines.len() == 3 {
                Ok(())
            } else {
                Err(format!("{} lines", lines.len()))
            }
        }
        let custom = Expect::Custom { what: "three", check: three_lines };
        assert_eq!(check(&custom, &transcript), Ok(()));
        assert_eq!(check(&custom, &session("one")).unwrap_err(), "three: 1 lines");
    }

    #[test]
    fn responses_are_timed_from_the_typing() {
        let mut transcript = session("keel> spin &\n[1] 7\nkeel> uptime\nup 3.21 s, 2 CPUs\nkeel> ");
        transcript.typed = vec![at(0, "spin &\n"), at(150, "uptime\n")];
        let within = |ms| Expect::Responds {
            to: "uptime",
            starting: "up ",
            within: Duration::from_millis(ms),
        };
        assert_eq!(check(&within(200), &transcript), Ok(()));
        assert!(check(&within(100), &transcript)
            .unwrap_err()
            .contains("answered after 0.15 s"));
        let never = Expect::Responds {
            to: "mem",
            starting: "memory",
            within: Duration::from_secs(1),
        };
        assert!(check(&never, &transcript).unwrap_err().contains("never typed"));
        let silent = Expect::Responds {
            to: "uptime",
            starting: "down",
            within: Duration::from_secs(1),
        };
        assert!(check(&silent, &transcript)
            .unwrap_err()
            .contains("no line starting with `down`"));
    }

    const TABLES: &str = "\
keel> ps
PID  TID  NAME   KIND    STATE    CPU  TIME
  1    5  init   user    blocked    1  0.00
  2    6  sh     user    running    0  0.01
  3    7  spin   user    ready      0  2.00
  4    8  spin   user    running    1  2.40
  -    1  idle0  kernel  running    1  9.00
keel> ps
PID  TID  NAME   KIND    STATE    CPU  TIME
  1    5  init   user    blocked    1  0.00
";

    #[test]
    fn row_checks() {
        let transcript = session(
            "keel> vm stats obs\n\
             vm obs: running, up 3.00 s\n\
             \x20                     vcpu0  vcpu1  TOTAL\n\
             exits   wfi             100     40    140\n\
             \x20       mmio-vda          0      0      0\n\
             vcpu    cpu time (s)   1.50   0.25   1.75\n\
             keel>   -    8  vm-obs/0  vcpu  obs  running  0.5  2.41  1\n",
        );
        let row = |cell, with, at_least| check(&Expect::Row { after: "vm stats obs", cell, with, at_least }, &transcript);
        assert_eq!(row("wfi", &[], Some(140.0)), Ok(()));
        assert_eq!(row("wfi", &["100", "40"], Some(1.0)), Ok(()));
        assert_eq!(row("cpu time (s)", &[], Some(0.01)), Ok(()));
        assert_eq!(
            row("mmio-vda", &[], Some(1.0)).unwrap_err(),
            "row `mmio-vda` after `vm stats obs` ends in 0, expected at least 1"
        );
        assert_eq!(row("vm-obs/0", &["vcpu", "obs"], None), Ok(()));
        assert!(row("vm-obs/0", &["vcpu", "obs"], Some(0.0)).is_ok());
        assert!(row("vm-obs/0", &["linux"], None).unwrap_err().contains("lacks `linux`"));
        assert!(row("hvc", &[], Some(1.0)).unwrap_err().starts_with("no row `hvc`"));
        assert!(check(&Expect::Row { after: "nothing", cell: "wfi", with: &[], at_least: None }, &transcript).is_err());
    }

    #[test]
    fn ps_checks() {
        let transcript = session(TABLES);
        let ps = |table, check| self::check(&Expect::Ps { table, check }, &transcript);
        assert_eq!(ps(0, PsCheck::Shows(&["init", "sh"])), Ok(()));
        assert_eq!(ps(1, PsCheck::Shows(&["sh"])).unwrap_err(), "ps table #2 has no `sh`");
        assert_eq!(ps(1, PsCheck::Lacks(&["spin", "sh"])), Ok(()));
        assert_eq!(
            ps(0, PsCheck::Lacks(&["spin"])).unwrap_err(),
            "ps table #1 still shows `spin` (tid 7, ready)"
        );
        assert_eq!(ps(0, PsCheck::KernelThreads), Ok(()));
        assert_eq!(
            ps(1, PsCheck::KernelThreads).unwrap_err(),
            "ps table #2 shows no kernel thread"
        );
        assert_eq!(ps(0, PsCheck::Kind("kernel")), Ok(()));
        assert_eq!(
            ps(0, PsCheck::Kind("vcpu")).unwrap_err(),
            "ps table #1 shows no thread of kind `vcpu`"
        );
        assert_eq!(
            ps(
                0,
                PsCheck::Fair {
                    name: "spin",
                    count: 2,
                    percent: 25
                }
            ),
            Ok(())
        );
        assert_eq!(
            ps(
                0,
                PsCheck::Fair {
                    name: "spin",
                    count: 2,
                    percent: 10
                }
            )
            .unwrap_err(),
            "ps table #1: CPU times of `spin` are 2.00, 2.40 s, not within 10% of each other"
        );
        assert!(ps(
            0,
            PsCheck::Fair {
                name: "spin",
                count: 4,
                percent: 25
            }
        )
        .unwrap_err()
        .contains("has 2 `spin` rows"));
        assert!(ps(2, PsCheck::KernelThreads)
            .unwrap_err()
            .contains("no ps table #3 (the console shows 2)"));
    }

    #[test]
    fn memory_comes_back() {
        let transcript = session(
            "keel> mem\nmemory: 2048.0 MiB RAM, 2000.0 MiB usable, 60.0 MiB used, 1940.0 MiB free\n\
             memory: 2048.0 MiB RAM, 2000.0 MiB usable, 316.0 MiB used, 1684.0 MiB free\n\
             memory: 2048.0 MiB RAM, 2000.0 MiB usable, 60.5 MiB used, 1939.5 MiB free\n\
             memory: 64.0 MiB RAM, 60.0 MiB usable, 59.9 MiB used, 100 KiB free",
        );
        let back = |before, after, slack_mib| {
            check(
                &Expect::MemoryBack {
                    before,
                    after,
                    slack_mib,
                },
                &transcript,
            )
        };
        assert_eq!(back(0, 2, 1), Ok(()));
        assert_eq!(
            back(0, 1, 1).unwrap_err(),
            "memory did not come back: 1940.0 MiB free in mem answer #1, 1684.0 MiB in #2"
        );
        assert!(back(0, 2, 0).is_err());
        assert!(back(0, 4, 1)
            .unwrap_err()
            .contains("no mem answer #5 (the console shows 4)"));
        assert_eq!(
            free_mib("memory: 1 MiB RAM, 1 MiB usable, 0 KiB used, 100 KiB free"),
            Some(100.0 / 1024.0)
        );
        assert_eq!(free_mib("memory: nonsense"), None);
    }

    #[test]
    fn idle_threads_are_not_fair_game() {
        let transcript =
            session("PID TID NAME KIND STATE CPU TIME\n3 7 spin user ready 0 0.00\n4 8 spin user ready 0 0.00");
        let fair = Expect::Ps {
            table: 0,
            check: PsCheck::Fair {
                name: "spin",
                count: 2,
                percent: 25,
            },
        };
        assert!(
            check(&fair, &transcript).is_err(),
            "no CPU time at all is not fair sharing"
        );
    }

    #[test]
    fn threads_and_vmids_are_compared_between_tables() {
        let transcript = session(
            "keel> ps\nPID TID NAME KIND STATE CPU TIME\n- 1 idle kernel ready 0 1.00\n1 5 init user blocked 0 0.01\n\
             keel> ps\nPID TID NAME KIND STATE CPU TIME\n- 1 idle kernel ready 0 9.00\n1 5 init user blocked 0 0.02\n\
             - 9 vm-c/0 vcpu ready 1 0.50\n\
             keel> ps\nPID TID NAME KIND STATE CPU TIME\n- 1 idle kernel ready 1 9.50\n1 5 init user blocked 0 0.02\n\
             keel> vm list\nNAME   STATE    VCPUS  MEM  UPTIME  EXITS  VMID\nc      running      1  64M    1.00     10     2\n\
             linux  created      1  256M       -      0     1\nkeel> vm list\nno VMs (vm create NAME defines one)\n\
             keel> vm list\nNAME   STATE    VCPUS  MEM  UPTIME  EXITS  VMID\nc      killed       1  64M       -     10     3\nkeel> ",
        );
        assert_eq!(check(&Expect::SameThreads { before: 0, after: 2 }, &transcript), Ok(()));
        let heap = session("kernel heap: 64.0 MiB, 276 KiB used\nkernel heap: 64.0 MiB, 1.5 MiB used\nkernel heap: 64.0 MiB, 280 KiB used");
        let back = |after, slack_kib| check(&Expect::HeapBack { before: 0, after, slack_kib }, &heap);
        assert_eq!(back(2, 4), Ok(()));
        assert!(back(2, 3).unwrap_err().contains("276 KiB used in mem answer #1, 280 KiB in #3"));
        assert!(back(1, 64).is_err());
        assert!(back(3, 0).unwrap_err().contains("no kernel heap line in mem answer #4"));
        let leaked = check(&Expect::SameThreads { before: 0, after: 1 }, &transcript).unwrap_err();
        assert!(leaked.contains("#1 has 2 threads, #2 has 3") && leaked.contains("vm-c/0"), "{leaked}");
        let vmid = |table, name, vmid| check(&Expect::VmId { table, name, vmid }, &transcript);
        assert_eq!(vmid(0, "c", 2), Ok(()));
        assert_eq!(vmid(0, "linux", 1), Ok(()));
        assert_eq!(vmid(1, "c", 2).unwrap_err(), "vm list #2: c has VMID 3, expected 2");
        assert!(vmid(1, "linux", 1).unwrap_err().contains("shows no VM linux"));
        assert!(vmid(2, "c", 2).unwrap_err().contains("no vm list table #3"));
    }
}
