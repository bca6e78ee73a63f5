//! The idle case: an idle Keel stops its CPUs' periodic tick, and CPUs made busy tick again.

use super::expect::Expect;
use super::{Case, Typing};
use crate::typing::Step::{Pause, Type};
use std::time::Duration;

/// Host ticks per second on a busy CPU (the kernel's `TICK_HZ`).
const TICK_HZ: f64 = 100.0;
/// Most ticks an idle CPU may take, as a share of `TICK_HZ` (it takes them only while it
/// runs something for longer than a tick, such as the shell answering).
const IDLE_SHARE: f64 = 0.2;
/// Fewest ticks a CPU running a spinner must take, as a share of `TICK_HZ` (a slow
/// emulator delivers late timer interrupts, and the tick then skips ahead).
const BUSY_SHARE: f64 = 0.3;

pub const IDLE_CASES: &[Case] = &[Case {
    name: "idle-cpus-stop-ticking",
    args: &[],
    typing: Typing::Script(&[
        Type("uptime\n"),
        Type("cpus\n"),
        Pause(Duration::from_secs(3)),
        Type("uptime\n"),
        Type("cpus\n"),
        Type("spin &\n"),
        Type("spin &\n"),
        Type("uptime\n"),
        Type("cpus\n"),
        Pause(Duration::from_secs(3)),
        Type("uptime\n"),
        Type("cpus\n"),
        Type("kill %1 %2\n"),
        Type("poweroff\n"),
    ]),
    expect: &[
        Expect::Exit(0),
        Expect::Custom {
            what: "ticks while idle and while busy",
            check: ticks_follow_load,
        },
    ],
}];

/// Uptime and each CPU's tick count, as `uptime` then `cpus` showed them.
#[derive(Debug, PartialEq)]
struct Sample {
    seconds: f64,
    ticks: Vec<u64>,
}

/// Every `uptime` answer (`up 12.34 s, 2 CPUs`) followed by a `cpus` table, in order.
fn samples(lines: &[&str]) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut current: Option<Sample> = None;
    for line in lines {
        if let Some(rest) = line.strip_prefix("up ") {
            if let Some(seconds) = rest.split_whitespace().next().and_then(|s| s.parse().ok()) {
                samples.extend(current.take());
                current = Some(Sample { seconds, ticks: Vec::new() });
            }
            continue;
        }
        // A row of `cpus`: CPU MPIDR ONLINE READY BUSY TICKS.
        let cells: Vec<&str> = line.split_whitespace().collect();
        if let (Some(sample), [index, mpidr, "yes", _, busy, ticks]) = (current.as_mut(), cells.as_slice()) {
            let is_row = index.parse::<usize>().is_ok() && mpidr.starts_with("0x") && busy.ends_with('%');
            if let (true, Ok(ticks)) = (is_row, ticks.parse()) {
                sample.ticks.push(ticks);
            }
        }
    }
    samples.extend(current);
    samples
}

/// Each CPU's ticks per second between two samples.
fn rates(from: &Sample, to: &Sample) -> Result<Vec<f64>, String> {
    let elapsed = to.seconds - from.seconds;
    if elapsed < 1.0 || from.ticks.len() != to.ticks.len() || from.ticks.is_empty() {
        return Err(format!("samples do not fit together: {from:?} then {to:?}"));
    }
    Ok(from.ticks.iter().zip(&to.ticks).map(|(a, b)| b.saturating_sub(*a) as f64 / elapsed).collect())
}

/// Idle (first two samples), every CPU ticks at most `IDLE_SHARE` of the rate; with a
/// spinner per CPU (last two), at least `BUSY_SHARE`.
fn ticks_follow_load(lines: &[&str]) -> Result<(), String> {
    let samples = samples(lines);
    let [idle_from, idle_to, busy_from, busy_to] = samples.as_slice() else {
        return Err(format!("expected 4 samples of uptime and cpus, found {}", samples.len()));
    };
    let idle = rates(idle_from, idle_to)?;
    let busy = rates(busy_from, busy_to)?;
    if let Some(rate) = idle.iter().find(|&&rate| rate > IDLE_SHARE * TICK_HZ) {
        return Err(format!("an idle CPU ticked {rate:.1} times a second (all: {idle:.1?})"));
    }
    if let Some(rate) = busy.iter().find(|&&rate| rate < BUSY_SHARE * TICK_HZ) {
        return Err(format!("a busy CPU ticked only {rate:.1} times a second (all: {busy:.1?})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(idle_end: &str, busy_end: &str) -> Vec<String> {
        let table = |ticks: (&str, &str)| {
            vec![
                "CPU  MPIDR       ONLINE  READY  BUSY  TICKS".to_string(),
                format!("  0  0x80000000  yes         0    3%  {}", ticks.0),
                format!("  1  0x80000001  yes         0    1%  {}", ticks.1),
            ]
        };
        let mut lines = vec!["keel> uptime".to_string(), "up 10.00 s, 2 CPUs".to_string(), "keel> cpus".to_string()];
        lines.extend(table(("900", "880")));
        lines.extend(["keel> uptime".to_string(), "up 13.00 s, 2 CPUs".to_string(), "keel> cpus".to_string()]);
        lines.extend(table(("905", idle_end)));
        lines.extend(["keel> spin &".to_string(), "[1] 7".to_string(), "up 13.50 s, 2 CPUs".to_string()]);
        lines.extend(table(("910", "890")));
        lines.extend(["keel> uptime".to_string(), "up 16.50 s, 2 CPUs".to_string()]);
        lines.extend(table(("1200", busy_end)));
        lines
    }

    fn check(lines: &[String]) -> Result<(), String> {
        ticks_follow_load(&lines.iter().map(String::as_str).collect::<Vec<_>>())
    }

    #[test]
    fn samples_pair_uptime_with_the_table_after_it() {
        let lines = session("881", "1190");
        let found = samples(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(found.len(), 4);
        assert_eq!(found[0], Sample { seconds: 10.0, ticks: vec![900, 880] });
        assert_eq!(found[3], Sample { seconds: 16.5, ticks: vec![1200, 1190] });
    }

    #[test]
    fn quiet_idle_cpus_and_ticking_busy_ones_pass() {
        assert_eq!(check(&session("881", "1190")), Ok(()));
    }

    #[test]
    fn an_idle_cpu_that_keeps_ticking_fails() {
        // 300 ticks in 3 s: the periodic tick never stopped.
        let error = check(&session("1180", "1490")).unwrap_err();
        assert!(error.contains("an idle CPU ticked 100.0"), "{error}");
    }

    #[test]
    fn a_busy_cpu_without_ticks_fails() {
        let error = check(&session("881", "900")).unwrap_err();
        assert!(error.contains("a busy CPU ticked only 3.3"), "{error}");
    }

    #[test]
    fn missing_samples_fail() {
        let lines = session("881", "1190");
        let short: Vec<&str> = lines.iter().map(String::as_str).take(10).collect();
        assert!(ticks_follow_load(&short).unwrap_err().contains("expected 4 samples"));
    }
}
