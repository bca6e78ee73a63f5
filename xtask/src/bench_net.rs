//! `bench net`: TCP throughput and ping round trips of Linux guests on Keel's switch,
//! against the same guest on bare QEMU with its own virtio-net.
//!
//! Under Keel (one QEMU, 2 CPUs): guest `b` (fixed address 10.0.3.50) serves a file with
//! busybox httpd; the default guest `linux` (DHCP) pings Keel and `b`, fetches the file with
//! wget (guest → guest through the switch) and sends as much to Keel's discard service,
//! TCP port 9 of br0 (guest → host service), which logs the bytes and the time from the
//! first byte to the last.
//! On bare QEMU: the guest with QEMU's user network sends to a discard listener of this
//! program on the machine (10.0.2.2 is the machine's loopback) and pings 10.0.2.2; two
//! bare guests joined by a QEMU socket network do the guest → guest part.

use crate::bench::{BenchArgs, KeelSession};
use crate::image::Images;
use crate::session::Session;
use std::io::{IsTerminal, Read};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Each transfer: 256 blocks of 64 KiB.
const TRANSFER_BYTES: u64 = 16 << 20;
const BLOCKS: &str = "count=256";
/// Echo requests per ping figure.
const PINGS: u32 = 10;
/// The serving guest's fixed address (outside the DHCP pool of Keel's br0).
const SERVER_IP: &str = "10.0.3.50";
const CLIENT_IP: &str = "10.0.3.100";
/// A Linux guest boots in 10-60 s under TCG; a transfer takes seconds.
const BOOT_WAIT: Duration = Duration::from_secs(240);
const STEP_WAIT: Duration = Duration::from_secs(120);
const GUEST_CMDLINE: &str = "console=ttyAMA0 earlycon=pl011,0x09000000";
/// Printed by a guest when a command has finished. Typed as `bench-""done` so that the
/// echo of the typed line does not match.
const DONE: &str = "bench-done";
const TYPED_DONE: &str = "; echo bench-\"\"done\n";

/// The figures of one environment.
#[derive(Default)]
struct NetFigures {
    /// MB/s of each transfer, guest → host service.
    to_host: Vec<f64>,
    /// MB/s of each transfer, guest → guest.
    guest_to_guest: Vec<f64>,
    /// Each echo's round trip in ms, guest → host and guest → guest.
    ping_host: Vec<f64>,
    ping_guest: Vec<f64>,
}

/// The serving guest's part, the same everywhere: a 16 MiB file in tmpfs, busybox httpd.
fn serve(session: &mut Session) -> Result<(), String> {
    session.type_text(&format!(
        "mkdir -p /www && dd if=/dev/zero of=/www/big bs=64k {BLOCKS} 2>/dev/null && httpd -p 80 -h /www{TYPED_DONE}"
    ))?;
    session.wait_for(DONE, STEP_WAIT).map(drop)
}

/// Runs `command` in a guest's shell and returns what it printed.
fn run(session: &mut Session, command: &str) -> Result<String, String> {
    session.type_text(&format!("{command}{TYPED_DONE}"))?;
    session.wait_for(DONE, STEP_WAIT)
}

fn ping(session: &mut Session, to: &str) -> Result<Vec<f64>, String> {
    let output = run(session, &format!("ping -c {PINGS} {to}"))?;
    let times = round_trips_ms(&output);
    if times.is_empty() {
        return Err(format!("no replies to the guest's ping of {to}:\n{output}"));
    }
    Ok(times)
}

/// `runs` fetches of the serving guest's file; MB/s of each.
fn fetches(session: &mut Session, runs: usize) -> Result<Vec<f64>, String> {
    let mut rates = Vec::new();
    for _ in 0..runs {
        let output = run(session, &format!("time wget -q -O /dev/null http://{SERVER_IP}/big"))?;
        let seconds = real_seconds(&output).ok_or_else(|| format!("no time for the fetch:\n{output}"))?;
        rates.push(megabytes_per_second(TRANSFER_BYTES, seconds));
    }
    Ok(rates)
}

fn megabytes_per_second(bytes: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    bytes as f64 / 1e6 / seconds
}

fn progress(text: &str) {
    if std::io::stderr().is_terminal() {
        eprint!("\rbench net: {text:<60}");
    }
}

/// Keel with the guests `linux` and `b` on its switch.
fn keel(args: &BenchArgs, images: &Images) -> Result<NetFigures, String> {
    let run_args = ["--cpu", &args.cpu, "--smp", "2", "--tcg", args.tcg.name(), "--append", "keel.log=info", "--http-port", "0", "--no-disk"];
    let mut keel = KeelSession::start(&run_args, images, "net")?;
    let prompt = "keel> ";
    keel.wait_for(prompt, STEP_WAIT)?;
    let create = format!("vm create b --net --mem 256M --cmdline '{GUEST_CMDLINE} keel.ip={SERVER_IP}/24'\n");
    for line in [create.as_str(), "vm start b\n", "vm start linux\n"] {
        keel.type_text(line)?;
        keel.wait_for(prompt, STEP_WAIT)?;
    }
    keel.type_text("vm console b\n")?;
    progress("Keel: guests booting");
    keel.wait_for(&format!("keel-guest: eth0 {SERVER_IP}/24"), BOOT_WAIT)?;
    serve(&mut keel)?;
    keel.type_text("\x1d")?;
    keel.wait_for("[detached from b]", STEP_WAIT)?;
    keel.type_text("vm console linux\n")?;
    keel.wait_for("keel-guest: eth0 10.0.3.", BOOT_WAIT)?;
    let mut figures = NetFigures::default();
    progress("Keel: pings");
    figures.ping_host = ping(&mut keel, "10.0.3.1")?;
    figures.ping_guest = ping(&mut keel, SERVER_IP)?;
    progress("Keel: guest -> guest");
    figures.guest_to_guest = fetches(&mut keel, args.runs)?;
    progress("Keel: guest -> host");
    for _ in 0..args.runs {
        let mark = keel.mark();
        run(&mut keel, &format!("dd if=/dev/zero bs=64k {BLOCKS} 2>/dev/null | nc 10.0.3.1 9"))?;
        // Keel logs the transfer when the guest's connection closes (before or after the
        // guest's shell has gone on).
        let logged = keel.wait_from(mark, " MB/s) from ", STEP_WAIT)?;
        let (bytes, ms) = discard_figures(&logged).ok_or_else(|| format!("no discard figures in:\n{logged}"))?;
        if bytes != TRANSFER_BYTES {
            return Err(format!("Keel's discard service got {bytes} bytes, not {TRANSFER_BYTES}"));
        }
        figures.to_host.push(megabytes_per_second(bytes, ms as f64 / 1000.0));
    }
    Ok(figures)
}

/// A bare QEMU running the default guest as its kernel, with `net` as its network.
fn bare_guest(name: &str, cpu: &str, netdev: &str, mac: &str, cmdline: &str) -> Result<Session, String> {
    let dir = crate::guest::images_dir().join("linux");
    let (kernel, initramfs) = (dir.join("Image"), dir.join("initramfs.cpio.gz"));
    if !kernel.is_file() || !initramfs.is_file() {
        return Err(format!("no guest images in {} (cargo xtask build makes them)", dir.display()));
    }
    let mut command = Command::new(crate::qemu::binary());
    command
        .args(["-M", "virt,gic-version=3", "-cpu", &crate::qemu::cpu_arg(cpu), "-smp", "1", "-m", "256M"])
        .args(["-display", "none", "-nodefaults", "-no-user-config", "-serial", "stdio", "-monitor", "none"])
        .args(["-global", "virtio-mmio.force-legacy=false"])
        .args(["-netdev", netdev, "-device", &format!("virtio-net-device,netdev=n0,mac={mac}")])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", cmdline]);
    Session::spawn(name, command)
}

/// The machine's end of a guest → host transfer on bare QEMU: accepts connections and
/// sends the bytes and the time from the first byte to the last of each.
fn discard_listener() -> Result<(u16, mpsc::Receiver<(u64, Duration)>), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no port for the discard listener: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = vec![0u8; 1 << 16];
            let (mut bytes, mut first, mut last) = (0u64, None, Instant::now());
            while let Ok(read) = stream.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                last = Instant::now();
                first.get_or_insert(last);
                bytes += read as u64;
            }
            let span = first.map_or(Duration::ZERO, |first| last - first);
            if sender.send((bytes, span)).is_err() {
                return;
            }
        }
    });
    Ok((port, receiver))
}

/// One bare guest on QEMU's user network: pings of the machine, transfers to it.
fn bare_to_host(args: &BenchArgs, figures: &mut NetFigures) -> Result<(), String> {
    let (port, transfers) = discard_listener()?;
    let cmdline = GUEST_CMDLINE;
    let mut guest = bare_guest("bare guest", &args.cpu, "user,id=n0", "52:54:00:4b:00:64", cmdline)?;
    progress("bare QEMU: guest booting");
    guest.wait_for("keel-guest: eth0 10.0.2.15/24", BOOT_WAIT)?;
    progress("bare QEMU: ping");
    figures.ping_host = ping(&mut guest, "10.0.2.2")?;
    progress("bare QEMU: guest -> host");
    for _ in 0..args.runs {
        run(&mut guest, &format!("dd if=/dev/zero bs=64k {BLOCKS} 2>/dev/null | nc 10.0.2.2 {port}"))?;
        let (bytes, span) =
            transfers.recv_timeout(STEP_WAIT).map_err(|_| "the bare guest's transfer never reached the machine".to_string())?;
        if bytes != TRANSFER_BYTES {
            return Err(format!("the machine got {bytes} bytes from the bare guest, not {TRANSFER_BYTES}"));
        }
        figures.to_host.push(megabytes_per_second(bytes, span.as_secs_f64()));
    }
    Ok(())
}

/// Two bare guests joined by a QEMU socket network: pings and fetches between them.
fn bare_guest_to_guest(args: &BenchArgs, figures: &mut NetFigures) -> Result<(), String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for the socket network: {e}"))?
        .port();
    let server_cmdline = format!("{GUEST_CMDLINE} keel.ip={SERVER_IP}/24");
    let netdev = format!("socket,id=n0,listen=127.0.0.1:{port}");
    let mut server = bare_guest("bare server guest", &args.cpu, &netdev, "52:54:00:4b:00:32", &server_cmdline)?;
    // QEMU listens before the guest runs: the guest's first words mean the socket is there.
    server.wait_for("Booting Linux", BOOT_WAIT)?;
    let client_cmdline = format!("{GUEST_CMDLINE} keel.ip={CLIENT_IP}/24");
    let netdev = format!("socket,id=n0,connect=127.0.0.1:{port}");
    let mut client = bare_guest("bare client guest", &args.cpu, &netdev, "52:54:00:4b:00:64", &client_cmdline)?;
    progress("bare QEMU: two guests booting");
    server.wait_for(&format!("keel-guest: eth0 {SERVER_IP}/24"), BOOT_WAIT)?;
    serve(&mut server)?;
    client.wait_for(&format!("keel-guest: eth0 {CLIENT_IP}/24"), BOOT_WAIT)?;
    progress("bare QEMU: ping between guests");
    figures.ping_guest = ping(&mut client, SERVER_IP)?;
    progress("bare QEMU: guest -> guest");
    figures.guest_to_guest = fetches(&mut client, args.runs)?;
    Ok(())
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

/// Prints the table: median throughput of the transfers, average round trips, ratios.
fn table(args: &BenchArgs, keel: &NetFigures, bare: &NetFigures) {
    println!(
        "bench net: Linux guests, {}, 1 vCPU and 256 MiB each; Keel on 2 CPUs, --tcg {}; {} transfers of {} MiB (median), {PINGS} pings",
        args.cpu,
        args.tcg.name(),
        args.runs,
        TRANSFER_BYTES >> 20
    );
    println!("{:<40}  {:>10}  {:>10}  {:>10}", "", "Keel", "bare QEMU", "Keel/bare");
    let rows = [
        ("TCP guest -> host service, MB/s", median(&keel.to_host), median(&bare.to_host)),
        ("TCP guest -> guest, MB/s", median(&keel.guest_to_guest), median(&bare.guest_to_guest)),
        ("ping guest -> host, median ms", median(&keel.ping_host), median(&bare.ping_host)),
        ("ping guest -> guest, median ms", median(&keel.ping_guest), median(&bare.ping_guest)),
    ];
    let cell = |value: Option<f64>| value.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    for (name, keel, bare) in rows {
        let ratio = match (keel, bare) {
            (Some(keel), Some(bare)) if bare > 0.0 => Some(keel / bare),
            _ => None,
        };
        println!("{name:<40}  {:>10}  {:>10}  {:>10}", cell(keel), cell(bare), cell(ratio));
    }
    let range = |times: &[f64]| {
        let min = times.iter().copied().fold(f64::INFINITY, f64::min);
        let max = times.iter().copied().fold(0.0, f64::max);
        format!("{min:.2}-{max:.2}")
    };
    println!(
        "ping ranges, ms: guest -> host {} under Keel, {} bare; guest -> guest {} under Keel, {} bare",
        range(&keel.ping_host),
        range(&bare.ping_host),
        range(&keel.ping_guest),
        range(&bare.ping_guest)
    );
    println!("(host service: Keel's discard service on br0, or the machine through QEMU's user network;");
    println!(" guest -> guest: Keel's switch, or a QEMU socket network between two QEMUs)");
}

/// `bench net`.
pub fn net(args: &BenchArgs, images: &Images) -> Result<(), String> {
    let keel_figures = keel(args, images)?;
    let mut bare = NetFigures::default();
    bare_to_host(args, &mut bare)?;
    bare_guest_to_guest(args, &mut bare)?;
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    table(args, &keel_figures, &bare);
    Ok(())
}

/// Seconds in busybox `time`'s `real\t0m 1.69s` line.
fn real_seconds(output: &str) -> Option<f64> {
    let line = output.lines().find(|line| line.trim_start().starts_with("real"))?;
    let rest = line.trim_start().strip_prefix("real")?.trim();
    let (minutes, seconds) = rest.split_once('m')?;
    let minutes: f64 = minutes.trim().parse().ok()?;
    let seconds: f64 = seconds.trim().strip_suffix('s')?.parse().ok()?;
    Some(minutes * 60.0 + seconds)
}

/// The round trips of ping's replies: `64 bytes from 10.0.3.1: seq=0 ttl=64 time=0.734 ms`.
fn round_trips_ms(output: &str) -> Vec<f64> {
    output
        .lines()
        .filter(|line| line.contains(" bytes from "))
        .filter_map(|line| line.split("time=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Bytes and milliseconds of Keel's `discard: N bytes in T ms (R MB/s)` log line.
fn discard_figures(output: &str) -> Option<(u64, u64)> {
    let line = output.lines().rev().find(|line| line.contains("discard: "))?;
    let rest = &line[line.rfind("discard: ")? + "discard: ".len()..];
    let mut words = rest.split_whitespace();
    let bytes = words.next()?.parse().ok()?;
    let ms = words.nth(2)?.parse().ok()?;
    Some((bytes, ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_time_is_read() {
        assert_eq!(real_seconds("x\nreal\t0m 1.69s\nuser\t0m 0.01s\n"), Some(1.69));
        assert_eq!(real_seconds("real\t1m 2.50s"), Some(62.5));
        assert_eq!(real_seconds("no time here"), None);
    }

    #[test]
    fn ping_round_trips_are_read() {
        let busybox = "PING 10.0.3.1 (10.0.3.1): 56 data bytes\n64 bytes from 10.0.3.1: seq=0 ttl=64 time=12.512 ms\n\
                       64 bytes from 10.0.3.1: seq=1 ttl=64 time=0.734 ms\nround-trip min/avg/max = 0.734/6.623/12.512 ms\n";
        assert_eq!(round_trips_ms(busybox), vec![12.512, 0.734]);
        assert!(round_trips_ms("100% packet loss").is_empty());
    }

    #[test]
    fn discard_lines_are_read() {
        let line = "[info] keel_kernel::net::discard: discard: 16777216 bytes in 3210 ms (5.22 MB/s) from 10.0.3.100:40548";
        assert_eq!(discard_figures(line), Some((16_777_216, 3210)));
        assert_eq!(discard_figures("discard: nothing"), None);
    }

    #[test]
    fn rates_and_medians() {
        assert_eq!(megabytes_per_second(2_000_000, 2.0), 1.0);
        assert_eq!(megabytes_per_second(5, 0.0), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
    }
}
