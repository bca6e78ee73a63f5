//! `top`: threads — processes, kernel threads, vCPUs with their VM — by CPU use over the
//! last interval, refreshed until q or Ctrl-C; `-n COUNT` prints COUNT frames and ends.

use super::report::{seconds, size, table};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;
use keel_userland::abi::{self, CpuInfo, MemStats, ThreadInfo};

/// What `top` was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopArgs {
    /// Frames to print before ending (None: until q or Ctrl-C, clearing the screen each time).
    pub frames: Option<u32>,
    /// Time between frames.
    pub delay: Duration,
}

pub const USAGE: &str = "usage: top [-n COUNT] [-d SECONDS]";

/// Parses `top`'s arguments: `-n COUNT` (1 to 10000), `-d SECONDS` (0.1 to 60, decimals).
pub fn parse_args(args: &[String]) -> Result<TopArgs, String> {
    let mut parsed = TopArgs {
        frames: None,
        delay: Duration::from_secs(1),
    };
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let value =
            |name: &str, value: Option<&String>| value.cloned().ok_or(format!("{name} needs a value ({USAGE})"));
        match word.as_str() {
            "-n" => {
                let text = value("-n", words.next())?;
                match text.parse::<u32>() {
                    Ok(count @ 1..=10_000) => parsed.frames = Some(count),
                    _ => return Err(format!("-n: not a number from 1 to 10000: {text}")),
                }
            }
            "-d" => {
                let text = value("-d", words.next())?;
                parsed.delay = parse_seconds(&text).ok_or(format!("-d: not a time from 0.1 to 60 seconds: {text}"))?;
            }
            other => return Err(format!("unexpected argument: {other} ({USAGE})")),
        }
    }
    Ok(parsed)
}

/// `1`, `0.5`, `2.25` seconds, from 0.1 to 60.
fn parse_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.len() > 2 || fraction.len() > 3 || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let millis = fraction
        .bytes()
        .chain(core::iter::repeat(b'0'))
        .take(3)
        .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
    let delay = Duration::from_millis(whole * 1000 + millis);
    (Duration::from_millis(100)..=Duration::from_secs(60))
        .contains(&delay)
        .then_some(delay)
}

/// What the kernel reported at one moment.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// ns since boot.
    pub at_ns: u64,
    pub threads: Vec<ThreadInfo>,
    pub cpus: Vec<CpuInfo>,
    pub mem: MemStats,
}

/// The VM a vCPU thread (`vm-NAME/N`) runs.
pub fn vm_of(thread: &ThreadInfo) -> Option<&str> {
    if thread.kind != abi::KIND_VCPU {
        return None;
    }
    let rest = thread.name().strip_prefix("vm-")?;
    rest.rsplit_once('/').map(|(vm, _)| vm)
}

/// Tenths of a percent of `part` in `whole` (0 when `whole` is 0).
fn per_mille(part: u64, whole: u64) -> u64 {
    (u128::from(part) * 1000)
        .checked_div(u128::from(whole))
        .map_or(0, |v| v.min(u128::from(u64::MAX)) as u64)
}

fn percent(per_mille: u64) -> String {
    format!("{}.{}", per_mille / 10, per_mille % 10)
}

/// A thread's CPU use between two samples, in tenths of a percent of one CPU. A thread
/// missing from `before` started meanwhile: all its time is from the interval.
pub fn cpu_use(before: &Sample, now: &Sample, thread: &ThreadInfo) -> u64 {
    let earlier = before
        .threads
        .iter()
        .find(|t| t.tid == thread.tid)
        .map_or(0, |t| t.cpu_time_ns);
    let used = thread.cpu_time_ns.saturating_sub(earlier);
    per_mille(used, now.at_ns.saturating_sub(before.at_ns))
}

fn state(state: u32) -> &'static str {
    match state {
        abi::STATE_RUNNING => "running",
        abi::STATE_READY => "ready",
        abi::STATE_BLOCKED => "blocked",
        abi::STATE_EXITED => "exited",
        _ => "?",
    }
}

fn kind(kind: u32) -> &'static str {
    match kind {
        abi::KIND_KERNEL => "kernel",
        abi::KIND_USER => "user",
        abi::KIND_VCPU => "vcpu",
        _ => "?",
    }
}

/// A CPU's idle thread (`idle/N`, a kernel thread): its time is the CPU's idle time.
fn is_idle(thread: &ThreadInfo) -> bool {
    thread.kind == abi::KIND_KERNEL && thread.name().starts_with("idle/")
}

/// One frame: a summary (uptime, each CPU's load, threads by state, vCPUs, memory), then
/// every thread by CPU use over the interval (then by total time, then by thread id), the
/// CPUs' idle threads last.
pub fn frame(before: &Sample, now: &Sample) -> String {
    let interval = now.at_ns.saturating_sub(before.at_ns);
    let loads: Vec<String> = now
        .cpus
        .iter()
        .map(|cpu| {
            let earlier = before.cpus.iter().find(|c| c.index == cpu.index);
            let busy = cpu.busy_ns.saturating_sub(earlier.map_or(0, |c| c.busy_ns));
            let idle = cpu.idle_ns.saturating_sub(earlier.map_or(0, |c| c.idle_ns));
            format!("cpu{} {}%", cpu.index, per_mille(busy, busy + idle) / 10)
        })
        .collect();
    let count = |wanted: u32| now.threads.iter().filter(|t| t.state == wanted).count();
    let vcpus = now.threads.iter().filter(|t| t.kind == abi::KIND_VCPU).count();
    let mut vms: Vec<&str> = now.threads.iter().filter_map(vm_of).collect();
    vms.sort_unstable();
    vms.dedup();
    let used = now.mem.usable_bytes.saturating_sub(now.mem.free_bytes);
    let mut text = format!(
        "top: up {} s, every {} s; {}\n\
         threads: {} ({} running, {} ready, {} blocked); vCPUs: {} of {} VM(s)\n\
         memory: {} used, {} free\n\n",
        seconds(Duration::from_nanos(now.at_ns)),
        seconds(Duration::from_nanos(interval)),
        loads.join(", "),
        now.threads.len(),
        count(abi::STATE_RUNNING),
        count(abi::STATE_READY),
        count(abi::STATE_BLOCKED),
        vcpus,
        vms.len(),
        size(used),
        size(now.mem.free_bytes)
    );
    let mut rows: Vec<(u64, &ThreadInfo)> = now.threads.iter().map(|t| (cpu_use(before, now, t), t)).collect();
    rows.sort_by(|(a_use, a), (b_use, b)| {
        is_idle(a)
            .cmp(&is_idle(b))
            .then(b_use.cmp(a_use))
            .then(b.cpu_time_ns.cmp(&a.cpu_time_ns))
            .then(a.tid.cmp(&b.tid))
    });
    let rows: Vec<[String; 9]> = rows
        .iter()
        .map(|(used, t)| {
            [
                if t.kind == abi::KIND_USER {
                    t.pid.to_string()
                } else {
                    "-".into()
                },
                t.tid.to_string(),
                if t.name().is_empty() {
                    "?".into()
                } else {
                    t.name().into()
                },
                kind(t.kind).into(),
                vm_of(t).unwrap_or("-").into(),
                state(t.state).into(),
                percent(*used),
                seconds(Duration::from_nanos(t.cpu_time_ns)),
                t.cpu.to_string(),
            ]
        })
        .collect();
    text.push_str(&table(
        ["PID", "TID", "NAME", "KIND", "VM", "STATE", "CPU%", "TIME", "CPU"],
        [true, true, false, false, false, false, true, true, true],
        &rows,
    ));
    text
}

/// Whether a typed byte ends `top`: q, Q or Ctrl-C.
pub fn ends(byte: u8) -> bool {
    matches!(byte, b'q' | b'Q' | 0x03)
}

#[cfg(target_os = "none")]
pub use commands::run;

#[cfg(target_os = "none")]
mod commands {
    use super::super::shell::Shell;
    use super::{Sample, TopArgs};
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;
    use core::time::Duration;
    use keel_userland::abi::{CpuInfo, Error, ThreadInfo};
    use keel_userland::{eprintln, print, sys};

    /// Clears the terminal and puts the cursor home.
    const CLEAR: &str = "\x1b[H\x1b[2J";

    /// Fills a list from a `*_list` call, growing the buffer until everything fits.
    fn list<T: Copy + Default>(call: fn(&mut [T]) -> Result<usize, Error>) -> Result<Vec<T>, Error> {
        let mut items = vec![T::default(); 64];
        loop {
            let total = call(&mut items)?;
            if total <= items.len() {
                items.truncate(total);
                return Ok(items);
            }
            items.resize(total + 16, T::default());
        }
    }

    fn sample() -> Result<Sample, Error> {
        Ok(Sample {
            at_ns: sys::time().as_nanos() as u64,
            threads: list::<ThreadInfo>(sys::thread_list)?,
            cpus: list::<CpuInfo>(sys::cpu_list)?,
            mem: sys::mem_stats()?,
        })
    }

    /// Waits `delay`; true when a key that ends `top` was typed meanwhile (other keys are
    /// dropped).
    fn ended_within(shell: &mut Shell, delay: Duration) -> bool {
        let deadline = sys::time().saturating_add(delay);
        loop {
            let now = sys::time();
            if now >= deadline {
                return false;
            }
            match shell.input.key_within(deadline - now) {
                Ok(Some(byte)) if super::ends(byte) => return true,
                Ok(_) => {}
                // The console cannot be read: wait without it.
                Err(_) => {
                    sys::sleep(deadline.saturating_sub(sys::time()));
                    return false;
                }
            }
        }
    }

    pub fn run(shell: &mut Shell, args: &[String]) {
        let TopArgs { frames, delay } = match super::parse_args(args) {
            Ok(parsed) => parsed,
            Err(error) => {
                eprintln!("top: {error}");
                return;
            }
        };
        let mut before = match sample() {
            Ok(sample) => sample,
            Err(error) => {
                eprintln!("top: {error}");
                return;
            }
        };
        let mut shown = 0;
        while !ended_within(shell, delay) {
            let now = match sample() {
                Ok(sample) => sample,
                Err(error) => {
                    eprintln!("top: {error}");
                    return;
                }
            };
            match frames {
                None => print!("{}{}", CLEAR, super::frame(&before, &now)),
                Some(_) if shown > 0 => print!("\n{}", super::frame(&before, &now)),
                Some(_) => print!("{}", super::frame(&before, &now)),
            }
            shown += 1;
            if frames.is_some_and(|count| shown >= count) {
                return;
            }
            before = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn thread(tid: u64, kind: u32, name: &str, cpu_ms: u64) -> ThreadInfo {
        ThreadInfo {
            tid,
            pid: if kind == abi::KIND_USER { tid } else { 0 },
            kind,
            state: abi::STATE_BLOCKED,
            cpu_time_ns: cpu_ms * 1_000_000,
            name: abi::name_field(name),
            ..ThreadInfo::default()
        }
    }

    fn words(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| String::from(*a)).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse_args(&[]),
            Ok(TopArgs {
                frames: None,
                delay: Duration::from_secs(1)
            })
        );
        assert_eq!(
            parse_args(&words(&["-n", "1", "-d", "0.5"])),
            Ok(TopArgs {
                frames: Some(1),
                delay: Duration::from_millis(500)
            })
        );
        assert_eq!(
            parse_args(&words(&["-d", "2"])).map(|a| a.delay),
            Ok(Duration::from_secs(2))
        );
        assert_eq!(
            parse_args(&words(&["-d", ".25"])).map(|a| a.delay),
            Ok(Duration::from_millis(250))
        );
        assert!(parse_args(&words(&["-n", "0"])).is_err_and(|e| e.contains("-n: not a number from 1 to 10000: 0")));
        assert!(parse_args(&words(&["-n"])).is_err_and(|e| e.contains("-n needs a value")));
        for bad in ["0.05", "61", "1.2345", "x", ".", "-1", "1e3"] {
            assert!(parse_args(&words(&["-d", bad])).is_err(), "{bad}");
        }
        assert!(parse_args(&words(&["-x"])).is_err_and(|e| e.starts_with("unexpected argument: -x")));
    }

    #[test]
    fn vms_of_vcpu_threads() {
        assert_eq!(vm_of(&thread(5, abi::KIND_VCPU, "vm-linux/0", 0)), Some("linux"));
        assert_eq!(vm_of(&thread(5, abi::KIND_VCPU, "vm-a/b/1", 0)), Some("a/b"));
        assert_eq!(vm_of(&thread(5, abi::KIND_USER, "vm-linux/0", 0)), None);
        assert_eq!(vm_of(&thread(5, abi::KIND_VCPU, "odd", 0)), None);
    }

    #[test]
    fn frames_sort_by_use_over_the_interval() {
        let cpu = |index: u32, busy_ms: u64, idle_ms: u64| CpuInfo {
            index,
            online: 1,
            busy_ns: busy_ms * 1_000_000,
            idle_ns: idle_ms * 1_000_000,
            ..CpuInfo::default()
        };
        let before = Sample {
            at_ns: 10_000_000_000,
            threads: vec![
                thread(1, abi::KIND_KERNEL, "idle/0", 9000),
                thread(3, abi::KIND_USER, "sh", 500),
                thread(8, abi::KIND_VCPU, "vm-linux/0", 4000),
            ],
            cpus: vec![cpu(0, 1000, 9000), cpu(1, 5000, 5000)],
            mem: MemStats::default(),
        };
        let mut vcpu = thread(8, abi::KIND_VCPU, "vm-linux/0", 4750);
        vcpu.state = abi::STATE_RUNNING;
        let now = Sample {
            at_ns: 11_000_000_000,
            threads: vec![
                thread(1, abi::KIND_KERNEL, "idle/0", 9900),
                thread(3, abi::KIND_USER, "sh", 510),
                vcpu,
                // Started during the interval.
                thread(12, abi::KIND_USER, "spin", 200),
            ],
            cpus: vec![cpu(0, 1250, 9750), cpu(1, 6000, 5000)],
            mem: MemStats {
                usable_bytes: 100 << 20,
                free_bytes: 60 << 20,
                ..MemStats::default()
            },
        };
        let text = frame(&before, &now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "top: up 11.00 s, every 1.00 s; cpu0 25%, cpu1 100%", "{text}");
        assert_eq!(
            lines[1],
            "threads: 4 (1 running, 0 ready, 3 blocked); vCPUs: 1 of 1 VM(s)"
        );
        assert_eq!(lines[2], "memory: 40.0 MiB used, 60.0 MiB free");
        assert!(
            lines[4].starts_with("PID  TID  NAME        KIND    VM     STATE    CPU%  TIME  CPU"),
            "{text}"
        );
        assert!(
            lines[5].starts_with("  -    8  vm-linux/0  vcpu    linux  running  75.0  4.75"),
            "{text}"
        );
        assert!(
            lines[6].starts_with(" 12   12  spin        user    -      blocked  20.0  0.20"),
            "{text}"
        );
        assert!(
            lines[7].starts_with("  3    3  sh          user    -      blocked   1.0  0.51"),
            "{text}"
        );
        // The idle thread comes last, though it used the most.
        assert!(
            lines[8].starts_with("  -    1  idle/0      kernel  -      blocked  90.0  9.90"),
            "{text}"
        );
        assert!(ends(b'q') && ends(0x03) && !ends(b'x'));
        // No time passed: no division by zero.
        assert!(frame(&now, &now).contains("0.0"));
    }
}
