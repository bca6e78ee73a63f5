//! `cargo xtask bench [NAME...]`: measurements printed as tables (not timed tests).
//!
//! `banner`: seconds from QEMU's start to Keel's banner and to the shell's first prompt, 1
//! and 4 CPUs, median of several boots, and the size of the kernel Image.
//! `switch`: a kernel thread-to-thread switch and a system-call round trip, in ns.
//! `boot`: the default Linux guest booted under Keel and directly on QEMU, alternately.
//! `net`: guests' TCP throughput and ping round trips under Keel and on bare QEMU
//! (`bench_net`).
//! `density`: how many small guests a 2-CPU, 4 GiB host boots, N of them booting
//! together, host memory per guest (`bench_density`).

use crate::image::{self, Images};
use crate::options::{self, Parsed, RunOptions, TcgThreads};
use crate::runner::{self, Piped};
use crate::session::Session;
use crate::typing::Input;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: cargo xtask bench [banner] [switch] [boot] [net] [density] [--runs N] [--cpu MODEL] [--kernel PATH] [--initrd PATH] [--tcg single|multi]

benchmarks (all when none is named):
  banner          seconds from QEMU start to the banner and to the shell's prompt with 1 and
                  4 CPUs (median), Image size
  switch          ns per kernel thread switch and per system call round trip (1 CPU)
  boot            seconds to the Linux guest's marker line under Keel and on bare QEMU
                  (same kernel, initramfs, CPU model, 1 vCPU, 256 MiB), their ratio, and
                  the guest's exits by class during one boot
  net             TCP throughput (MB/s) guest -> host service and guest -> guest, and ping
                  round trips, of Linux guests on Keel's switch and on bare QEMU with their
                  own virtio-net, and the ratios (--runs transfers of 16 MiB each way)
  density         Linux guests of 64 MiB with 1 vCPU on a host of 2 CPUs and 4 GiB: seconds
                  for 1, 2, 4 and 8 booting together, how many boot and run at once, host
                  memory per running guest

  --runs N        boots per configuration, or transfers for net (default 5)
  --cpu MODEL     CPU model (default cortex-a76)
  --kernel PATH   measure this Image instead of building target/keel/Image
  --initrd PATH   boot with this initrd instead of building target/keel/initrd.cpio
  --tcg MODE      how QEMU runs Keel's CPUs (cargo xtask run --tcg; default multi); boot
                  also measures Keel with the other mode
";

const BENCHMARKS: &[&str] = &["banner", "switch", "boot", "net", "density"];

#[derive(Debug, PartialEq)]
pub struct BenchArgs {
    pub names: Vec<String>,
    pub runs: usize,
    pub cpu: String,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    /// How QEMU runs Keel's CPUs.
    pub tcg: TcgThreads,
}

pub fn parse_args(args: &[String]) -> Result<Option<BenchArgs>, String> {
    let mut parsed = BenchArgs {
        names: Vec::new(),
        runs: 5,
        cpu: options::DEFAULT_CPU.into(),
        kernel: None,
        initrd: None,
        tcg: TcgThreads::Multi,
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
            "--runs" => {
                let text = value()?;
                parsed.runs = match text.parse::<usize>() {
                    Ok(n) if (1..=100).contains(&n) => n,
                    _ => return Err(format!("--runs wants a number from 1 to 100, not `{text}`")),
                }
            }
            "--cpu" => parsed.cpu = value()?,
            "--kernel" => parsed.kernel = Some(PathBuf::from(value()?)),
            "--initrd" => parsed.initrd = Some(PathBuf::from(value()?)),
            "--tcg" => parsed.tcg = TcgThreads::parse(&value()?)?,
            "-h" | "--help" => return Ok(None),
            benchmark if BENCHMARKS.contains(&benchmark) => parsed.names.push(benchmark.into()),
            other => return Err(format!("unknown benchmark or option `{other}`\n{USAGE}")),
        }
    }
    if parsed.names.is_empty() {
        parsed.names = BENCHMARKS.iter().map(|s| s.to_string()).collect();
    }
    Ok(Some(parsed))
}

/// The `run` options of a benchmark's own fixed arguments.
pub fn run_options(args: &[&str]) -> Result<RunOptions, String> {
    match options::parse_run_args(args)? {
        Parsed::Run(options) => Ok(options),
        Parsed::Help => Err(format!("a benchmark's arguments asked for --help: {args:?}")),
    }
}

/// A Keel under QEMU whose console a benchmark drives, started with fixed `run`
/// arguments; its QMP socket goes with it.
pub struct KeelSession {
    session: Session,
    qmp: PathBuf,
}

impl KeelSession {
    /// Starts Keel; `name` tells this benchmark's QMP socket from others'.
    pub fn start(args: &[&str], images: &Images, name: &str) -> Result<Self, String> {
        let options = crate::qemu::with_checked_share(&run_options(args)?)?;
        let qmp = std::env::temp_dir().join(format!("keel-bench-{name}-{}.qmp", std::process::id()));
        let mut command = std::process::Command::new(crate::qemu::binary());
        command.args(crate::qemu::args(&options, images, crate::qemu::Console::Piped { qmp_socket: &qmp }));
        Ok(Self { session: Session::spawn("Keel", command)?, qmp })
    }
}

impl std::ops::Deref for KeelSession {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

impl std::ops::DerefMut for KeelSession {
    fn deref_mut(&mut self) -> &mut Session {
        &mut self.session
    }
}

impl Drop for KeelSession {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.qmp);
    }
}

/// The median of some durations (the mean of the middle two for an even count).
pub fn median(values: &[Duration]) -> Option<Duration> {
    let mut sorted = values.to_vec();
    sorted.sort();
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2),
    }
}

/// Seconds from QEMU's start to the banner and to the shell's first prompt, in one boot.
#[derive(Debug, Clone, Copy)]
struct BootTimes {
    banner: Duration,
    prompt: Duration,
}

/// One boot to the shell's prompt; Keel is powered off right after it.
fn boot_times(cpu: &str, smp: u32, tcg: TcgThreads, images: &Images) -> Result<BootTimes, String> {
    let args = [
        "--cpu",
        cpu,
        "--smp",
        &smp.to_string(),
        "--tcg",
        tcg.name(),
        "--timeout",
        "120",
        "--quiet-after-eof",
        "0",
    ];
    let options = run_options(&args)?;
    let outcome = runner::run_piped(
        &options,
        images,
        Piped {
            input: Input::Bytes(Vec::new()),
            echo: false,
            keep_lines: 20,
        },
    )?;
    match (outcome.banner_after, outcome.prompt_after, outcome.code) {
        (Some(banner), Some(prompt), 0) => Ok(BootTimes { banner, prompt }),
        _ => {
            let reason = outcome.reason.unwrap_or_else(|| "no banner or no prompt".into());
            let tail: Vec<String> = outcome.console.iter().map(|l| format!("    | {}", l.text)).collect();
            Err(format!("boot with {cpu} x{smp} failed: {reason}\n{}", tail.join("\n")))
        }
    }
}

fn banner(args: &BenchArgs, images: &Images) -> Result<(), String> {
    let progress = std::io::stderr().is_terminal();
    let mut rows = Vec::new();
    for smp in [1u32, 4] {
        let mut times = Vec::new();
        for run in 1..=args.runs {
            if progress {
                eprint!("\rbench banner: {} x{smp}, boot {run}/{} ", args.cpu, args.runs);
            }
            times.push(boot_times(&args.cpu, smp, args.tcg, images)?);
        }
        rows.push((smp, times));
    }
    if progress {
        eprintln!();
    }
    println!(
        "bench banner: seconds from QEMU start to the banner and to the shell's prompt \
         ({}, {} MiB, --tcg {}, median of {})",
        args.cpu,
        options::DEFAULT_MEM_MIB,
        args.tcg.name(),
        args.runs
    );
    println!(
        "{:>6}  {:>8}  {:>8}  {:>8}  {:>8}",
        "CPUs", "banner", "min", "max", "prompt"
    );
    let mut medians = Vec::new();
    for (smp, times) in &rows {
        let banners: Vec<Duration> = times.iter().map(|t| t.banner).collect();
        let prompts: Vec<Duration> = times.iter().map(|t| t.prompt).collect();
        let median_banner = median(&banners).unwrap_or_default();
        medians.push(median_banner);
        let min = banners.iter().min().copied().unwrap_or_default();
        let max = banners.iter().max().copied().unwrap_or_default();
        println!(
            "{smp:>6}  {:>8.3}  {:>8.3}  {:>8.3}  {:>8.3}",
            median_banner.as_secs_f64(),
            min.as_secs_f64(),
            max.as_secs_f64(),
            median(&prompts).unwrap_or_default().as_secs_f64()
        );
    }
    if let [one, four] = medians[..] {
        if !one.is_zero() {
            println!("ratio x4/x1 (banner): {:.2}", four.as_secs_f64() / one.as_secs_f64());
        }
    }
    let kernel = &images.kernel;
    let size = std::fs::metadata(kernel)
        .map_err(|e| format!("{}: {e}", kernel.display()))?
        .len();
    println!(
        "kernel Image: {size} bytes ({:.1} KiB), {}",
        size as f64 / 1024.0,
        kernel.display()
    );
    Ok(())
}

/// Boots once with `input` typed (or `append` as boot arguments) and returns the console.
fn console_of(cpu: &str, append: &str, input: &str, images: &Images) -> Result<Vec<String>, String> {
    let mut args = vec!["--cpu", cpu, "--smp", "1", "--timeout", "300", "--quiet-after-eof", "1"];
    if !append.is_empty() {
        args.extend(["--append", append]);
    }
    let options = run_options(&args)?;
    let piped = Piped { input: Input::Bytes(input.as_bytes().to_vec()), echo: false, keep_lines: 400 };
    let outcome = runner::run_piped(&options, images, piped)?;
    let lines: Vec<String> = outcome.console.iter().map(|l| l.text.clone()).collect();
    if outcome.code != 0 {
        let reason = outcome.reason.unwrap_or_else(|| "the run failed".into());
        return Err(format!("{reason}\n    | {}", lines.join("\n    | ")));
    }
    Ok(lines)
}

/// The number before `unit` in the first console line that starts with `prefix` and
/// contains `unit`.
fn figure(lines: &[String], prefix: &str, unit: &str) -> Option<u64> {
    let line = lines.iter().find(|l| l.trim_start().starts_with(prefix) && l.contains(unit))?;
    let before = line.split(unit).next()?;
    before.split_whitespace().last()?.parse().ok()
}

/// Thread-to-thread switch (the kernel self-test's ping-pong) and the system-call round
/// trip (sysbench), on one CPU, in one run each.
fn switch(args: &BenchArgs, images: &Images) -> Result<(), String> {
    let selftest = console_of(&args.cpu, "keel.selftest", "", images)?;
    let switch = figure(&selftest, "selftest:", " ns per switch").ok_or("no switch figure from the self-tests")?;
    let guest_exit = figure(&selftest, "selftest:", " ns per guest exit").ok_or("no guest exit figure from the self-tests")?;
    let in_place = figure(&selftest, "selftest:", " ns per in-place exit").ok_or("no in-place exit figure from the self-tests")?;
    let shell = console_of(&args.cpu, "", "sysbench\n", images)?;
    let getpid = figure(&shell, "sysbench: getpid", " ns per call").ok_or("no getpid figure from sysbench")?;
    let yields = figure(&shell, "sysbench: yield", " ns per call").ok_or("no yield figure from sysbench")?;
    println!("bench switch: costs on {} x1 under QEMU TCG (one run each)", args.cpu);
    println!("{:<44}  {:>8}", "what", "ns");
    println!("{:<44}  {:>8}", "kernel thread -> thread switch (block + wake)", switch);
    println!("{:<44}  {:>8}", "syscall round trip (getpid, EL0 -> EL2 -> EL0)", getpid);
    println!("{:<44}  {:>8}", "syscall + scheduler pass (yield, no switch)", yields);
    println!("{:<44}  {:>8}", "guest exit round trip (world switch, MMIO)", guest_exit);
    println!("{:<44}  {:>8}", "guest exit completed in place (MMIO)", in_place);
    if getpid > 0 {
        println!("ratio switch/syscall: {:.2}", switch as f64 / getpid as f64);
    }
    Ok(())
}

/// The guest's marker line (images/guest/init).
const GUEST_MARKER: &str = "keel-guest: up ";
/// The same guest command line as Keel's default `linux` VM.
const GUEST_CMDLINE: &str = "console=ttyAMA0 earlycon=pl011,0x09000000";

/// The guest's own uptime in its marker line (`keel-guest: up 1.32`): how long its kernel
/// ran, whatever it took to load it.
fn guest_uptime(line: &str) -> Option<f64> {
    let rest = &line[line.find(GUEST_MARKER)? + GUEST_MARKER.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Seconds from QEMU's start to the guest's marker line, with the guest as QEMU's own
/// kernel (no Keel): the baseline. With `cpus` 2, QEMU emulates a second CPU that the
/// guest leaves off (`maxcpus=1`), as Keel's default host has one the guest does not use.
fn bare_guest_boot(cpu: &str, cpus: u32) -> Result<BootRun, String> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = crate::guest::images_dir();
    let (kernel, initramfs) = (dir.join("linux").join("Image"), dir.join("linux").join("initramfs.cpio.gz"));
    if !kernel.is_file() || !initramfs.is_file() {
        return Err(format!("no guest images in {} (cargo xtask build makes them)", dir.display()));
    }
    let started = std::time::Instant::now();
    let mut child = Command::new(crate::qemu::binary())
        .args(["-M", "virt,gic-version=3", "-cpu", &crate::qemu::cpu_arg(cpu), "-smp", &cpus.to_string(), "-m", "256M"])
        .args(["-display", "none", "-nodefaults", "-no-user-config", "-serial", "stdio", "-monitor", "none"])
        .arg("-kernel")
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initramfs)
        .args(["-append", &if cpus > 1 { format!("{GUEST_CMDLINE} maxcpus=1") } else { GUEST_CMDLINE.to_string() }])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start QEMU: {e}"))?;
    let sampler = crate::cputime::Sampler::start(child.id(), started);
    let stdout = child.stdout.take().ok_or("no QEMU output")?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
            let text = String::from_utf8_lossy(&line);
            if text.contains(GUEST_MARKER) {
                let _ = sender.send((started.elapsed(), guest_uptime(&text)));
                return;
            }
        }
    });
    let result = receiver.recv_timeout(Duration::from_secs(300)).map_err(|_| "the bare guest never printed its marker".to_string());
    // One more sample past the marker, so the CPU time at the marker can be read.
    std::thread::sleep(Duration::from_millis(30));
    let samples = sampler.samples();
    let _ = child.kill();
    let _ = child.wait();
    let (time, uptime) = result?;
    Ok(BootRun { time, uptime, cpu: samples.at(time).map(Duration::from_secs_f64), exits: None })
}

/// The boots of one configuration.
#[derive(Default)]
struct Series {
    time: Vec<Duration>,
    cpu: Vec<Duration>,
    uptime: Vec<Duration>,
}

impl Series {
    fn add(&mut self, run: BootRun) {
        self.time.push(run.time);
        self.cpu.extend(run.cpu);
        self.uptime.extend(run.uptime.map(Duration::from_secs_f64));
    }
}

/// One boot of the guest to its marker line.
struct BootRun {
    /// Wall time to the marker.
    time: Duration,
    /// The guest's own uptime in the marker.
    uptime: Option<f64>,
    /// QEMU's CPU time over the same span.
    cpu: Option<Duration>,
    /// Keel's report of exits by class (under Keel only).
    exits: Option<String>,
}

/// Seconds from typing `vm start linux` to the guest's marker line under Keel, and the
/// kernel's report of the guest's exits by class (after the guest powers itself off).
fn keel_guest_boot(cpu: &str, host_cpus: u32, tcg: TcgThreads, stage2: &str, images: &Images) -> Result<BootRun, String> {
    use crate::typing::Step::{Type, TypeAfter, WaitFor};
    let append = format!("keel.log=info keel.stage2={stage2}");
    let smp = host_cpus.to_string();
    let args = ["--cpu", cpu, "--smp", &smp, "--tcg", tcg.name(), "--timeout", "300", "--append", &append];
    let options = run_options(&args)?;
    let script = vec![
        Type("vm start linux\n"),
        Type("vm console linux\n"),
        WaitFor(GUEST_MARKER),
        TypeAfter { wait_for: "guest# ", text: "poweroff\n" },
        WaitFor("exits:"),
    ];
    let piped = Piped { input: Input::Script(script), echo: false, keep_lines: 2000 };
    let outcome = runner::run_piped(&options, images, piped)?;
    let typed = outcome.typed.iter().find(|t| t.text.contains("vm start linux"));
    let marker = outcome.console.iter().find(|l| l.text.contains(GUEST_MARKER));
    let exits = outcome.console.iter().find(|l| l.text.contains(" exits:")).map(|l| l.text.clone());
    match (typed, marker) {
        (Some(typed), Some(marker)) if marker.at > typed.at => {
            let cpu = match (outcome.cpu.at(typed.at), outcome.cpu.at(marker.at)) {
                (Some(from), Some(to)) if to >= from => Some(Duration::from_secs_f64(to - from)),
                _ => None,
            };
            Ok(BootRun { time: marker.at - typed.at, uptime: guest_uptime(&marker.text), cpu, exits })
        }
        _ => Err(format!("the guest did not boot under Keel: {}", outcome.reason.unwrap_or_default())),
    }
}

/// The guest's boot under Keel against bare QEMU, alternating, `runs` of each. Keel runs
/// on 2 CPUs (its default; with stage-2 pages, with blocks, and with QEMU's other TCG
/// threading) and on 1, like the bare QEMU; the bare QEMU also runs with a second CPU the
/// guest leaves off: QEMU with more than one CPU on a thread each translates the guest's
/// code for parallel CPUs (host atomics and barriers), and every broadcast TLB invalidation
/// of the guest makes it stop its other emulated CPUs — costs of the emulation (and not of
/// Keel) that hardware does not have.
fn boot(args: &BenchArgs, images: &Images) -> Result<(), String> {
    let other_tcg = match args.tcg {
        TcgThreads::Multi => TcgThreads::Single,
        TcgThreads::Single => TcgThreads::Multi,
    };
    let mut other = Series::default();
    let (mut keel, mut blocks, mut one) = (Series::default(), Series::default(), Series::default());
    let (mut bare, mut bare_two) = (Series::default(), Series::default());
    let mut exits = None;
    for run in 1..=args.runs {
        if std::io::stderr().is_terminal() {
            eprint!("\rbench boot: run {run}/{} ", args.runs);
        }
        bare.add(bare_guest_boot(&args.cpu, 1)?);
        bare_two.add(bare_guest_boot(&args.cpu, 2)?);
        let pages = keel_guest_boot(&args.cpu, 2, args.tcg, "pages", images)?;
        exits = exits.or(pages.exits.clone());
        keel.add(pages);
        blocks.add(keel_guest_boot(&args.cpu, 2, args.tcg, "blocks", images)?);
        other.add(keel_guest_boot(&args.cpu, 2, other_tcg, "pages", images)?);
        one.add(keel_guest_boot(&args.cpu, 1, args.tcg, "pages", images)?);
    }
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    println!(
        "bench boot: the guest's boot to its marker line ({}, 1 vCPU, 256 MiB; Keel on 2 host CPUs, --tcg {}, unless said; median of {})",
        args.cpu,
        args.tcg.name(),
        args.runs
    );
    let other_row = format!("  with --tcg {}", other_tcg.name());
    println!("{:<50}  {:>8}  {:>8}  {:>8}", "seconds", "median", "min", "max");
    let rows = [
        ("wall time under Keel (from vm start)", &keel.time),
        ("  with stage-2 blocks (keel.stage2=blocks)", &blocks.time),
        (&other_row, &other.time),
        ("  on 1 host CPU (--smp 1)", &one.time),
        ("wall time on bare QEMU (from QEMU start)", &bare.time),
        ("  with a second CPU the guest leaves off", &bare_two.time),
        ("QEMU CPU time under Keel (vm start to marker)", &keel.cpu),
        ("  with stage-2 blocks", &blocks.cpu),
        (&other_row, &other.cpu),
        ("  on 1 host CPU", &one.cpu),
        ("QEMU CPU time on bare QEMU (start to marker)", &bare.cpu),
        ("  with a second CPU the guest leaves off", &bare_two.cpu),
        ("the guest's own uptime at its marker, under Keel", &keel.uptime),
        ("  with stage-2 blocks", &blocks.uptime),
        (&other_row, &other.uptime),
        ("  on 1 host CPU", &one.uptime),
        ("the guest's own uptime at its marker, bare QEMU", &bare.uptime),
        ("  with a second CPU the guest leaves off", &bare_two.uptime),
    ];
    for (name, times) in rows {
        let min = times.iter().min().copied().unwrap_or_default();
        let max = times.iter().max().copied().unwrap_or_default();
        let median = median(times).unwrap_or_default();
        println!("{name:<50}  {:>8.3}  {:>8.3}  {:>8.3}", median.as_secs_f64(), min.as_secs_f64(), max.as_secs_f64());
    }
    let ratios = [
        ("ratio Keel/bare, wall time", &keel.time, &bare.time),
        ("ratio Keel/bare, QEMU CPU time", &keel.cpu, &bare.cpu),
        ("ratio Keel/bare, guest's own uptime", &keel.uptime, &bare.uptime),
        ("ratio Keel with stage-2 blocks/bare, wall time", &blocks.time, &bare.time),
        ("ratio Keel with stage-2 blocks/bare, QEMU CPU time", &blocks.cpu, &bare.cpu),
        (&format!("ratio Keel with --tcg {}/bare, wall time", other_tcg.name()), &other.time, &bare.time),
        ("ratio Keel on 1 host CPU/bare, wall time", &one.time, &bare.time),
        ("ratio Keel on 1 host CPU/bare, QEMU CPU time", &one.cpu, &bare.cpu),
        ("ratio Keel/bare with a second CPU, wall time", &keel.time, &bare_two.time),
        ("ratio Keel/bare with a second CPU, QEMU CPU time", &keel.cpu, &bare_two.cpu),
        ("ratio bare with a second CPU/bare, wall time", &bare_two.time, &bare.time),
    ];
    for (what, keel, bare) in ratios {
        let (keel, bare) = (median(keel).unwrap_or_default(), median(bare).unwrap_or_default());
        if !bare.is_zero() {
            println!("{what}: {:.2}", keel.as_secs_f64() / bare.as_secs_f64());
        }
    }
    if let Some(report) = exits {
        println!("one boot to poweroff, {}", report.trim_start_matches("[info] keel_kernel::vm::registry: "));
    }
    Ok(())
}

/// `cargo xtask bench ...`; returns the process exit code.
pub fn command(args: &[String]) -> u8 {
    let args = match parse_args(args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return 0;
        }
        Err(error) => {
            eprintln!("bench: {error}");
            return 2;
        }
    };
    let images = match image::resolve(args.kernel.as_deref(), args.initrd.as_deref()) {
        Ok(images) => images,
        Err(error) => {
            eprintln!("bench: {error}");
            return 1;
        }
    };
    for name in &args.names {
        let result = match name.as_str() {
            "banner" => banner(&args, &images),
            "switch" => switch(&args, &images),
            "boot" => boot(&args, &images),
            "net" => crate::bench_net::net(&args, &images),
            "density" => crate::bench_density::density(&args, &images),
            other => Err(format!("unknown benchmark `{other}`")),
        };
        if let Err(error) = result {
            if std::io::stderr().is_terminal() {
                eprintln!();
            }
            eprintln!("bench: {error}");
            return 1;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_uptime_is_read_from_its_marker() {
        assert_eq!(guest_uptime("keel-guest: up 1.32"), Some(1.32));
        assert_eq!(guest_uptime("[x] keel-guest: up 2.05 s"), Some(2.05));
        assert_eq!(guest_uptime("keel-guest: up soon"), None);
    }

    #[test]
    fn figures_are_read_from_their_line() {
        let lines: Vec<String> = ["selftest: a ... ok (3 ms)", "selftest:   3388 ns per switch (4000 hand-offs)"]
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert_eq!(figure(&lines, "selftest:", " ns per switch"), Some(3388));
        assert_eq!(figure(&lines, "sysbench:", " ns per call"), None);
    }

    #[test]
    fn medians() {
        let ms = |v: &[u64]| v.iter().map(|&m| Duration::from_millis(m)).collect::<Vec<_>>();
        assert_eq!(median(&ms(&[])), None);
        assert_eq!(median(&ms(&[5, 1, 3])), Some(Duration::from_millis(3)));
        assert_eq!(median(&ms(&[4, 1, 3, 2])), Some(Duration::from_micros(2500)));
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let all = args(&[]).unwrap().unwrap();
        assert_eq!(all.names, vec!["banner", "switch", "boot", "net", "density"]);
        assert_eq!(all.runs, 5);
        let some = args(&["banner", "--runs=3", "--cpu", "max"]).unwrap().unwrap();
        assert_eq!((some.runs, some.cpu.as_str(), some.tcg), (3, "max", TcgThreads::Multi));
        assert_eq!(args(&["boot", "--tcg", "single"]).unwrap().unwrap().tcg, TcgThreads::Single);
        assert!(args(&["--tcg", "both"]).is_err());
        assert!(args(&["nope"]).is_err());
        assert!(args(&["--runs", "0"]).is_err());
        assert_eq!(args(&["-h"]).unwrap(), None);
    }
}
