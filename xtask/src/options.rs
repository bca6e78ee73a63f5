//! Options of `cargo xtask run` (also used by the system tests and benchmarks): parsing and
//! validation only, no side effects.

use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_CPU: &str = "cortex-a76";
pub const DEFAULT_SMP: u32 = 2;
pub const DEFAULT_MEM_MIB: u64 = 2048;
pub const MAX_SMP: u32 = 64;
/// Smallest RAM size the runner accepts; Keel needs room for itself, its heap and the DTB.
pub const MIN_MEM_MIB: u64 = 64;
/// Largest RAM size the runner accepts (1 TiB).
pub const MAX_MEM_MIB: u64 = 1 << 20;
pub const DEFAULT_QUIET_AFTER_EOF: Duration = Duration::from_secs(2);

/// How QEMU's TCG runs the emulated CPUs (`--tcg`): each on a host thread of its own
/// (`multi`, the default: guests on different CPUs run in parallel), or all on one host
/// thread in turn (`single`: a lone guest boots faster, QEMU then translating as for one
/// CPU and never stopping the others; guests side by side share one host core).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcgThreads {
    Single,
    Multi,
}

impl TcgThreads {
    /// Parses `single` or `multi`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "single" => Ok(TcgThreads::Single),
            "multi" => Ok(TcgThreads::Multi),
            other => Err(format!("--tcg wants single or multi, not `{other}`")),
        }
    }

    /// The option's value, as `parse` takes it.
    pub fn name(self) -> &'static str {
        match self {
            TcgThreads::Single => "single",
            TcgThreads::Multi => "multi",
        }
    }

    /// The value for QEMU's `-accel`.
    pub fn qemu_arg(self) -> String {
        format!("tcg,thread={}", self.name())
    }
}

pub const RUN_USAGE: &str = "usage: cargo xtask run [options] [-- extra QEMU arguments]

options:
  --cpu MODEL              QEMU CPU model (default cortex-a76; `max` means max,pauth-impdef=on)
  --smp N                  number of CPUs, 1..=64 (default 2)
  --mem SIZE               RAM size such as 512M or 2G (default 2G)
  --append ARGS            Keel's boot arguments (QEMU -append), e.g. keel.selftest
  --timeout SECS           kill QEMU and exit 124 after SECS seconds
  --tcg single|multi       QEMU runs the CPUs on one host thread in turn, or each on its own
                           (default multi; single boots a lone guest faster, see docs/vmm.md)
  --no-virtualization      leave out virtualization=on (Keel must refuse to boot)
  --timing                 print `run: banner after X.XXX s` to stderr at the end
  --quiet-after-eof SECS   piped input: once input ended and the banner was seen, press the
                           power button after the console was quiet this long (default 2)
  --kernel PATH            boot this Image instead of building target/keel/Image
  --initrd PATH            use this initrd instead of building target/keel/initrd.cpio
  --add DIR                put the files under DIR into the built initrd, at their paths
                           relative to DIR (DIR/guest/mine/Image is /guest/mine/Image)
  --share DIR              share DIR with Keel, read-write, at /host (virtio-9p)
  --disk FILE              the host disk image (default target/keel/disk.img, made sparse,
                           2 GiB, on first use; kept across runs and Keel's reboot)
  --no-disk                boot without a host disk
  --http-port PORT         the machine's 127.0.0.1:PORT reaches Keel's status page (port 80
                           of its wan interface; default 8080; 0: no such forward)
  --forward HOST:KEEL      the machine's 127.0.0.1:HOST reaches Keel's wan port KEEL
                           (repeatable; `net forward add KEEL GUESTIP:PORT` passes it on)
  --no-net                 no network card (Keel then has only its guest network br0)
";

/// The default `--http-port`.
pub const DEFAULT_HTTP_PORT: u16 = 8080;

/// A RAM size, kept in MiB (QEMU gets `<MiB>M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemSize {
    pub mib: u64,
}

impl MemSize {
    /// The value for QEMU's `-m`.
    pub fn qemu_arg(self) -> String {
        format!("{}M", self.mib)
    }
}

/// Everything `cargo xtask run` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    pub cpu: String,
    pub smp: u32,
    pub mem: MemSize,
    pub append: Option<String>,
    pub timeout: Option<Duration>,
    pub virtualization: bool,
    pub timing: bool,
    pub quiet_after_eof: Duration,
    /// A prebuilt Image to boot instead of building one.
    pub kernel: Option<PathBuf>,
    /// A prebuilt initrd to boot with instead of building one.
    pub initrd: Option<PathBuf>,
    /// Directories whose files go into the built initrd.
    pub add: Vec<PathBuf>,
    /// A directory shared with Keel at `/host` (virtio-9p).
    pub share: Option<PathBuf>,
    /// The host disk image; None: the default one (`qemu::default_disk`), unless `no_disk`.
    pub disk: Option<PathBuf>,
    /// Boot without a host disk.
    pub no_disk: bool,
    /// Arguments after `--`, appended to QEMU's command line as they are.
    pub extra_qemu_args: Vec<String>,
    /// A network card on QEMU's user network (`--no-net`: none).
    pub net: bool,
    /// The machine's port forwarded to Keel's status page (wan port 80).
    pub http_port: Option<u16>,
    /// More forwards from the machine's ports to Keel's wan ports (host, keel).
    pub forwards: Vec<(u16, u16)>,
    /// How QEMU runs the emulated CPUs.
    pub tcg: TcgThreads,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            cpu: DEFAULT_CPU.into(),
            smp: DEFAULT_SMP,
            mem: MemSize { mib: DEFAULT_MEM_MIB },
            append: None,
            timeout: None,
            virtualization: true,
            timing: false,
            quiet_after_eof: DEFAULT_QUIET_AFTER_EOF,
            kernel: None,
            initrd: None,
            add: Vec::new(),
            share: None,
            disk: None,
            no_disk: false,
            extra_qemu_args: Vec::new(),
            net: true,
            http_port: Some(DEFAULT_HTTP_PORT),
            forwards: Vec::new(),
            tcg: TcgThreads::Multi,
        }
    }
}

/// What the command line asked for: a run, or the help text.
#[derive(Debug, PartialEq)]
#[expect(clippy::large_enum_variant, reason = "made once per command; boxing buys nothing")]
pub enum Parsed {
    Run(RunOptions),
    Help,
}

/// Parses a RAM size: a whole number with an optional K, M, G or T suffix (any case; no
/// suffix means MiB, as in QEMU). It must be a whole number of MiB within the limits.
pub fn parse_size(text: &str) -> Result<MemSize, String> {
    let bad = || format!("`{text}` is not a memory size; write a whole number with a unit, such as 512M or 2G");
    let text_trimmed = text.trim();
    let (digits, unit) = match text_trimmed.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text_trimmed.split_at(at),
        None => (text_trimmed, "M"),
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let kib_per_unit: u64 = match unit.to_ascii_uppercase().as_str() {
        "K" => 1,
        "M" => 1 << 10,
        "G" => 1 << 20,
        "T" => 1 << 30,
        _ => return Err(bad()),
    };
    let kib = number.checked_mul(kib_per_unit).ok_or_else(bad)?;
    if kib % 1024 != 0 {
        return Err(format!("`{text}` is not a whole number of MiB"));
    }
    let mib = kib / 1024;
    if !(MIN_MEM_MIB..=MAX_MEM_MIB).contains(&mib) {
        return Err(format!("`{text}` is out of range: use between {MIN_MEM_MIB}M and 1T"));
    }
    Ok(MemSize { mib })
}

/// Parses a number of seconds (decimals allowed); zero only if `allow_zero`.
pub fn parse_seconds(option: &str, text: &str, allow_zero: bool) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{option} wants a number of seconds, not `{text}`"))?;
    if !seconds.is_finite() || seconds < 0.0 || (!allow_zero && seconds == 0.0) || seconds > 1e7 {
        return Err(format!("{option} `{text}` is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses the CPU count: 1..=64.
pub fn parse_smp(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_SMP).contains(&n) => Ok(n),
        _ => Err(format!(
            "--smp wants a number of CPUs from 1 to {MAX_SMP}, not `{text}`"
        )),
    }
}

/// Parses a TCP port, 1..=65535.
pub fn parse_port(option: &str, text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!("{option} wants a TCP port from 1 to 65535, not `{text}`")),
    }
}

/// Parses `HOSTPORT:KEELPORT` for `--forward`.
pub fn parse_forward(text: &str) -> Result<(u16, u16), String> {
    let (host, keel) = text
        .split_once(':')
        .ok_or_else(|| format!("--forward wants HOSTPORT:KEELPORT, not `{text}`"))?;
    Ok((parse_port("--forward", host)?, parse_port("--forward", keel)?))
}

/// Parses `cargo xtask run` arguments. Options take their value as the next argument or
/// after `=` (`--smp 4`, `--smp=4`); everything after `--` goes to QEMU unchanged.
pub fn parse_run_args<S: AsRef<str>>(args: &[S]) -> Result<Parsed, String> {
    let mut options = RunOptions::default();
    let mut index = 0;
    while index < args.len() {
        let arg = args[index].as_ref();
        index += 1;
        if arg == "--" {
            options.extra_qemu_args = args[index..].iter().map(|a| a.as_ref().to_string()).collect();
            break;
        }
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_string())),
            _ => (arg, None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            if let Some(value) = inline_value.clone() {
                return Ok(value);
            }
            let value = args
                .get(index)
                .map(|v| v.as_ref().to_string())
                .ok_or_else(|| format!("{name} needs a value"))?;
            index += 1;
            Ok(value)
        };
        let flag = |name: &str| -> Result<(), String> {
            match inline_value {
                Some(_) => Err(format!("{name} takes no value")),
                None => Ok(()),
            }
        };
        match name {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--cpu" => {
                let cpu = value(name)?;
                if cpu.is_empty() || cpu.starts_with('-') || cpu.contains(char::is_whitespace) {
                    return Err(format!("--cpu wants a QEMU CPU model name, not `{cpu}`"));
                }
                options.cpu = cpu;
            }
            "--smp" => options.smp = parse_smp(&value(name)?)?,
            "--mem" => options.mem = parse_size(&value(name)?)?,
            "--append" => options.append = Some(value(name)?),
            "--timeout" => options.timeout = Some(parse_seconds(name, &value(name)?, false)?),
            "--quiet-after-eof" => options.quiet_after_eof = parse_seconds(name, &value(name)?, true)?,
            "--kernel" => options.kernel = Some(PathBuf::from(value(name)?)),
            "--initrd" => options.initrd = Some(PathBuf::from(value(name)?)),
            "--add" => options.add.push(PathBuf::from(value(name)?)),
            "--share" => {
                let dir = value(name)?;
                if dir.is_empty() {
                    return Err("--share wants a directory".into());
                }
                options.share = Some(PathBuf::from(dir));
            }
            "--disk" => {
                let file = value(name)?;
                if file.is_empty() {
                    return Err("--disk wants a file".into());
                }
                options.disk = Some(PathBuf::from(file));
            }
            "--no-disk" => {
                flag(name)?;
                options.no_disk = true;
            }
            "--http-port" => {
                let text = value(name)?;
                options.http_port = if text.trim() == "0" { None } else { Some(parse_port(name, &text)?) };
            }
            "--forward" => options.forwards.push(parse_forward(&value(name)?)?),
            "--tcg" => options.tcg = TcgThreads::parse(&value(name)?)?,
            "--no-net" => {
                flag(name)?;
                options.net = false;
            }
            "--no-virtualization" => {
                flag(name)?;
                options.virtualization = false;
            }
            "--timing" => {
                flag(name)?;
                options.timing = true;
            }
            other => return Err(format!("unknown option `{other}` (see cargo xtask run --help)")),
        }
    }
    Ok(Parsed::Run(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> RunOptions {
        match parse_run_args(args).unwrap() {
            Parsed::Run(options) => options,
            Parsed::Help => panic!("help"),
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2G").unwrap().mib, 2048);
        assert_eq!(parse_size("2g").unwrap().mib, 2048);
        assert_eq!(parse_size("512M").unwrap().mib, 512);
        assert_eq!(parse_size("512").unwrap().mib, 512);
        assert_eq!(parse_size("1T").unwrap().mib, 1 << 20);
        assert_eq!(parse_size("65536K").unwrap().mib, 64);
        assert_eq!(parse_size("1G").unwrap().qemu_arg(), "1024M");
        for bad in [
            "", "G", "2GB", "2 G", "1.5G", "-1G", "two", "2X", "0", "32M", "2T", "1025K",
        ] {
            assert!(parse_size(bad).is_err(), "{bad} accepted");
        }
        assert!(parse_size("99999999999999999999G").is_err());
        assert!(parse_size("9999999999999999T").is_err());
    }

    #[test]
    fn defaults() {
        let options = run(&[]);
        assert_eq!(options, RunOptions::default());
        assert_eq!(options.cpu, "cortex-a76");
        assert_eq!(options.smp, 2);
        assert_eq!(options.mem.mib, 2048);
        assert!(options.virtualization);
        assert_eq!(options.quiet_after_eof, Duration::from_secs(2));
        assert_eq!(options.tcg, TcgThreads::Multi);
    }

    #[test]
    fn tcg_threads() {
        assert_eq!(run(&["--tcg", "single"]).tcg, TcgThreads::Single);
        assert_eq!(run(&["--tcg=multi"]).tcg, TcgThreads::Multi);
        for bad in [&["--tcg", "one"][..], &["--tcg", ""], &["--tcg"]] {
            assert!(parse_run_args(bad).is_err(), "{bad:?}");
        }
        assert_eq!(TcgThreads::Single.qemu_arg(), "tcg,thread=single");
    }

    #[test]
    fn all_options() {
        let options = run(&[
            "--cpu",
            "max",
            "--smp=4",
            "--mem",
            "1G",
            "--append",
            "keel.selftest a=b",
            "--timeout",
            "1.5",
            "--no-virtualization",
            "--timing",
            "--quiet-after-eof=0",
            "--kernel",
            "/tmp/Image",
            "--initrd=/tmp/initrd.cpio",
            "--add",
            "mine",
            "--add=/tmp/more",
            "--share",
            "/tmp/shared",
            "--",
            "-s",
            "-S",
        ]);
        assert_eq!(options.cpu, "max");
        assert_eq!(options.smp, 4);
        assert_eq!(options.mem.mib, 1024);
        assert_eq!(options.append.as_deref(), Some("keel.selftest a=b"));
        assert_eq!(options.timeout, Some(Duration::from_millis(1500)));
        assert!(!options.virtualization);
        assert!(options.timing);
        assert_eq!(options.quiet_after_eof, Duration::ZERO);
        assert_eq!(options.kernel, Some(PathBuf::from("/tmp/Image")));
        assert_eq!(options.initrd, Some(PathBuf::from("/tmp/initrd.cpio")));
        assert_eq!(options.add, [PathBuf::from("mine"), PathBuf::from("/tmp/more")]);
        assert_eq!(options.share, Some(PathBuf::from("/tmp/shared")));
        assert_eq!(run(&["--disk", "/tmp/d.img"]).disk, Some(PathBuf::from("/tmp/d.img")));
        assert!(run(&["--no-disk"]).no_disk);
        assert_eq!(options.extra_qemu_args, vec!["-s", "-S"]);
    }

    #[test]
    fn cpu_models_with_properties_pass_through() {
        assert_eq!(run(&["--cpu", "max,sve=off"]).cpu, "max,sve=off");
        assert_eq!(run(&["--cpu=neoverse-n1"]).cpu, "neoverse-n1");
    }

    #[test]
    fn errors() {
        for (args, needle) in [
            (&["--smp", "0"][..], "1 to 64"),
            (&["--smp", "65"][..], "1 to 64"),
            (&["--smp", "x"][..], "1 to 64"),
            (&["--smp"][..], "needs a value"),
            (&["--mem", "lots"][..], "not a memory size"),
            (&["--timeout", "0"][..], "out of range"),
            (&["--timeout", "soon"][..], "seconds"),
            (&["--quiet-after-eof", "-1"][..], "out of range"),
            (&["--cpu", "--smp"][..], "CPU model"),
            (&["--timing=yes"][..], "takes no value"),
            (&["--frobnicate"][..], "unknown option"),
            (&["--share"][..], "needs a value"),
            (&["--share="][..], "wants a directory"),
            (&["--disk="][..], "wants a file"),
            (&["--no-disk=1"][..], "takes no value"),
            (&["extra"][..], "unknown option"),
        ] {
            let error = parse_run_args(args).unwrap_err();
            assert!(error.contains(needle), "{args:?}: {error}");
        }
    }

    #[test]
    fn network_options() {
        let options = run(&["--http-port", "18080", "--forward", "2222:22", "--forward=8081:8081"]);
        assert_eq!(options.http_port, Some(18080));
        assert_eq!(options.forwards, [(2222, 22), (8081, 8081)]);
        assert!(options.net);
        assert_eq!(run(&[]).http_port, Some(8080));
        assert_eq!(run(&["--http-port=0"]).http_port, None);
        assert!(!run(&["--no-net"]).net);
        for (args, needle) in [
            (&["--http-port", "x"][..], "TCP port"),
            (&["--http-port", "70000"][..], "TCP port"),
            (&["--forward", "80"][..], "HOSTPORT:KEELPORT"),
            (&["--forward", "0:80"][..], "TCP port"),
            (&["--no-net=1"][..], "takes no value"),
        ] {
            let error = parse_run_args(args).unwrap_err();
            assert!(error.contains(needle), "{args:?}: {error}");
        }
    }

    #[test]
    fn help() {
        assert_eq!(parse_run_args(&["--smp", "2", "--help"]).unwrap(), Parsed::Help);
    }
}
