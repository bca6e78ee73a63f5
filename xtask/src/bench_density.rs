//! `bench density`: how many Linux guests of 64 MiB with one vCPU a Keel host of 2 CPUs
//! and 4 GiB boots to their marker line, how long N of them take booting together, and
//! how much host memory each running guest costs.
//!
//! One Keel runs it all. For N = 1, 2, 4 and 8, N guests are started at once and each
//! console is visited in turn until it shows the marker line (a guest's console keeps what
//! it printed while nobody watched, so the last visit ends at the last marker); `mem`
//! before and after gives the memory they hold; then they are killed. Then guests are
//! started in batches of eight, each batch booted before the next starts, until `vm start`
//! refuses one (out of memory) or one does not boot: every guest booted stays running.

use crate::bench::{BenchArgs, KeelSession};
use crate::image::Images;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

const PROMPT: &str = "keel> ";
const MARKER: &str = "keel-guest: up ";
/// Guest RAM in MiB.
const GUEST_MIB: u64 = 64;
/// The sizes of the "booting together" rows.
const TOGETHER: &[usize] = &[1, 2, 4, 8];
/// Guests started at once while filling the host.
const BATCH: usize = 8;
/// VMIDs run out at 255; the host's RAM long before.
const MOST_GUESTS: usize = 200;
/// Booting many guests at once under TCG takes minutes.
const BOOT_WAIT: Duration = Duration::from_secs(600);
const STEP_WAIT: Duration = Duration::from_secs(60);

/// What `mem` printed: MiB used of the host's RAM, KiB of kernel heap in use.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Memory {
    used_mib: f64,
    heap_kib: f64,
}

/// Reads the figures of `mem`'s output (`memory: … 67.5 MiB used, …` and `kernel heap:
/// 64.0 MiB, 617 KiB used`).
fn parse_mem(text: &str) -> Option<Memory> {
    let figure_before = |line: &str, unit: &str| -> Option<f64> {
        let end = line.find(unit)?;
        line[..end]
            .rsplit([' ', ','])
            .find(|w| !w.is_empty())?
            .parse()
            .ok()
    };
    let memory = text.lines().rev().find(|l| l.starts_with("memory: "))?;
    let heap = text.lines().rev().find(|l| l.starts_with("kernel heap: "))?;
    let heap_kib = figure_before(heap, " KiB used").or_else(|| figure_before(heap, " MiB used").map(|m| m * 1024.0))?;
    Some(Memory {
        used_mib: figure_before(memory, " MiB used")?,
        heap_kib,
    })
}

/// A Keel console to drive.
struct Host {
    session: KeelSession,
}

impl Host {
    /// Types a shell command and returns what it printed, up to the next prompt.
    fn command(&mut self, line: &str) -> Result<String, String> {
        self.session.type_text(&format!("{line}\n"))?;
        self.session.wait_for(PROMPT, STEP_WAIT)
    }

    fn mem(&mut self) -> Result<Memory, String> {
        let text = self.command("mem")?;
        parse_mem(&text).ok_or_else(|| format!("cannot read `mem`: {text}"))
    }

    /// Visits each guest's console until it shows its marker line.
    fn await_markers(&mut self, names: &[String]) -> Result<(), String> {
        for name in names {
            self.session.type_text(&format!("vm console {name}\n"))?;
            self.session
                .wait_for(MARKER, BOOT_WAIT)
                .map_err(|e| format!("{name} did not boot: {e}"))?;
            self.session.type_text("\x1d")?;
            self.session.wait_for(&format!("[detached from {name}]"), STEP_WAIT)?;
            self.session.wait_for(PROMPT, STEP_WAIT)?;
        }
        Ok(())
    }
}

fn progress(text: &str) {
    if std::io::stderr().is_terminal() {
        eprint!("\rbench density: {text:<60}");
    }
}

/// One "booting together" row.
struct Together {
    guests: usize,
    seconds: f64,
    /// Host memory the running guests held, per guest (MiB), and kernel heap (KiB).
    per_guest: Memory,
}

/// The figures of a run.
struct Density {
    together: Vec<Together>,
    booted: usize,
    /// Why no more booted.
    stopped_by: String,
    /// Per running guest once the host was full.
    per_guest: Memory,
    host_mib: f64,
}

fn name(index: usize) -> String {
    format!("d{index}")
}

fn run(args: &BenchArgs, images: &Images) -> Result<Density, String> {
    let run_args = [
        "--cpu",
        &args.cpu,
        "--smp",
        "2",
        "--tcg",
        args.tcg.name(),
        "--mem",
        "4G",
        "--http-port",
        "0",
        "--no-disk",
        "--no-net",
    ];
    let mut host = Host { session: KeelSession::start(&run_args, images, "density")? };
    host.session.wait_for(PROMPT, STEP_WAIT)?;
    let memory_line = host.command("mem")?;
    let host_mib = memory_line
        .lines()
        .find_map(|l| {
            l.strip_prefix("memory: ")?
                .split(" MiB RAM")
                .next()?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(0.0);
    for index in 1..=MOST_GUESTS {
        let reply = host.command(&format!("vm create {} --mem {GUEST_MIB}M", name(index)))?;
        if reply.contains("vm: ") {
            return Err(format!("vm create {}: {reply}", name(index)));
        }
    }
    let mut together = Vec::new();
    for &count in TOGETHER {
        progress(&format!("{count} guest(s) booting together"));
        let names: Vec<String> = (1..=count).map(name).collect();
        let before = host.mem()?;
        let started = Instant::now();
        for name in &names {
            let reply = host.command(&format!("vm start {name}"))?;
            if !reply.contains("started") {
                return Err(format!("vm start {name}: {reply}"));
            }
        }
        host.await_markers(&names)?;
        let seconds = started.elapsed().as_secs_f64();
        let after = host.mem()?;
        together.push(Together {
            guests: count,
            seconds,
            per_guest: per_guest(before, after, count),
        });
        for name in &names {
            host.command(&format!("vm kill {name}"))?;
        }
    }
    let before = host.mem()?;
    let mut booted = 0;
    let stopped_by = loop {
        let batch: Vec<String> = (booted + 1..=(booted + BATCH).min(MOST_GUESTS)).map(name).collect();
        if batch.is_empty() {
            break format!("the benchmark's limit of {MOST_GUESTS} guests");
        }
        progress(&format!("{booted} guests running, starting {} more", batch.len()));
        let mut started = Vec::new();
        let mut refused = None;
        for name in &batch {
            let reply = host.command(&format!("vm start {name}"))?;
            if reply.contains("started") {
                started.push(name.clone());
            } else {
                refused = Some(
                    reply
                        .lines()
                        .find(|l| l.starts_with("vm: "))
                        .unwrap_or(reply.trim())
                        .to_string(),
                );
                break;
            }
        }
        if let Err(error) = host.await_markers(&started) {
            break format!("a guest did not boot: {error}");
        }
        booted += started.len();
        if let Some(why) = refused {
            break why;
        }
    };
    let after = host.mem()?;
    let list = host.command("vm list")?;
    let running = list
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("running"))
        .count();
    if running != booted {
        return Err(format!("{booted} guests booted but {running} are running:\n{list}"));
    }
    Ok(Density {
        together,
        booted,
        stopped_by,
        per_guest: per_guest(before, after, booted.max(1)),
        host_mib,
    })
}

/// What `count` guests added between two `mem`s, per guest.
fn per_guest(before: Memory, after: Memory, count: usize) -> Memory {
    let count = count.max(1) as f64;
    Memory {
        used_mib: (after.used_mib - before.used_mib) / count,
        heap_kib: (after.heap_kib - before.heap_kib) / count,
    }
}

/// `cargo xtask bench density`.
pub fn density(args: &BenchArgs, images: &Images) -> Result<(), String> {
    let figures = run(args, images)?;
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    println!(
        "bench density: Linux guests of {GUEST_MIB} MiB with 1 vCPU on a Keel host with 2 CPUs and {:.0} MiB ({}, --tcg {})",
        figures.host_mib,
        args.cpu,
        args.tcg.name()
    );
    println!(
        "{:<26}  {:>9}  {:>10}  {:>14}  {:>20}",
        "guests booting together", "seconds", "per guest", "vs 1 guest x N", "host MiB per guest"
    );
    let one = figures.together.first().map_or(0.0, |row| row.seconds);
    for row in &figures.together {
        let ratio = if one > 0.0 {
            row.seconds / (one * row.guests as f64)
        } else {
            0.0
        };
        println!(
            "{:<26}  {:>9.2}  {:>10.2}  {:>14.2}  {:>20.1}",
            row.guests,
            row.seconds,
            row.seconds / row.guests as f64,
            ratio,
            row.per_guest.used_mib
        );
    }
    println!(
        "guests booted and running at once: {} (then: {})",
        figures.booted, figures.stopped_by
    );
    let overhead = figures.per_guest.used_mib - GUEST_MIB as f64;
    println!(
        "host memory per running guest: {:.2} MiB = {GUEST_MIB} MiB of guest RAM + {:.2} MiB (stage-2 tables, vCPU stack, device buffers); kernel heap {:.0} KiB",
        figures.per_guest.used_mib, overhead, figures.per_guest.heap_kib
    );
    println!(
        "ratio host memory / guest RAM: {:.3}",
        figures.per_guest.used_mib / GUEST_MIB as f64
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_figures() {
        let text = "keel> mem\nmemory: 4096.0 MiB RAM, 4053.2 MiB usable, 131.5 MiB used, 3921.7 MiB free\nkernel heap: 64.0 MiB, 617 KiB used\nkeel> ";
        assert_eq!(
            parse_mem(text),
            Some(Memory {
                used_mib: 131.5,
                heap_kib: 617.0
            })
        );
        let big_heap =
            "memory: 1.0 MiB RAM, 1.0 MiB usable, 2.0 MiB used, 3.0 MiB free\nkernel heap: 64.0 MiB, 1.5 MiB used";
        assert_eq!(
            parse_mem(big_heap),
            Some(Memory {
                used_mib: 2.0,
                heap_kib: 1536.0
            })
        );
        assert_eq!(parse_mem("no figures"), None);
    }

    #[test]
    fn per_guest_divides_the_difference() {
        let before = Memory {
            used_mib: 100.0,
            heap_kib: 500.0,
        };
        let after = Memory {
            used_mib: 366.0,
            heap_kib: 900.0,
        };
        assert_eq!(
            per_guest(before, after, 4),
            Memory {
                used_mib: 66.5,
                heap_kib: 100.0
            }
        );
    }
}
