//! The `vm` command's arguments: which subcommand, the options of `vm create`, and sizes
//! such as `256M`. Pure: it checks what it can without the kernel and says what was wrong.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use keel_userland::abi::{NAME_LEN, VM_MAX_MEM, VM_MAX_VCPUS, VM_MIN_MEM};

/// The guest `vm create` boots unless told otherwise: the default image in the host initrd.
pub const DEFAULT_KERNEL: &str = "/guest/linux/Image";
pub const DEFAULT_INITRD: &str = "/guest/linux/initramfs.cpio.gz";
pub const DEFAULT_MEM: u64 = 256 << 20;
pub const DEFAULT_VCPUS: u64 = 1;
pub const DEFAULT_CMDLINE: &str = "console=ttyAMA0 earlycon=pl011,0x09000000";
/// Guest RAM is a whole number of these.
const GUEST_RAM_BLOCK: u64 = 2 << 20;

pub const USAGE: &str = "\
usage: vm create NAME [--kernel PATH] [--initrd PATH] [--mem SIZE] [--vcpus N] [--cmdline STR]
                 [--disk [DISK:]SIZE[,ro] | --disk DISK[,ro]]... [--net]
       vm start|stop|kill|destroy|console|stats|tail NAME
       vm list
       vm load FILE
       vm disks
       vm rmdisk DISK
  create   define a VM (defaults: --kernel /guest/linux/Image
           --initrd /guest/linux/initramfs.cpio.gz (--initrd '' for none), --mem 256M,
           --vcpus 1, --cmdline 'console=ttyAMA0 earlycon=pl011,0x09000000')
  start    boot it            stop     ask the guest to power off
  kill     stop it at once    destroy  forget a VM that is not running
  list     NAME, STATE, VCPUS, MEM, UPTIME (s), EXITS, VMID
  tail     the last lines its console printed in its latest run (kept after it stops)
  load     define the VMs of a file (one `NAME [create options] [--autostart]` a line)
           and start those marked --autostart; /etc/vms.conf is loaded at boot
  console  attach the terminal to its console; Ctrl-] returns to the shell
  stats    per vCPU: CPU time, exits by class (MMIO by device), interrupts injected,
           errors; its virtio devices: requests, bytes, interrupts, guest errors
  --disk   a disk on the host disk (vda, vdb, ... in order, at most 4): DISK:SIZE makes
           DISK if missing, SIZE alone names it after the VM, DISK alone must exist;
           ,ro makes it read-only for the guest
  disks    the host disk's guest disks and free space     rmdisk  delete one not in use
  --net    a network card (eth0) on Keel's switch, MAC from the name; DHCP from 10.0.3.1
SIZE: like 128M, 1G or 512 (MiB), a multiple of 2M from 16M to 16G (a disk: whole MiB)
";

/// Most disks one VM may have.
pub const MAX_DISKS: usize = 4;
/// Longest disk name.
const DISK_NAME_MAX: usize = 31;
/// Largest disk `--disk` makes.
const MAX_DISK_BYTES: u64 = 1 << 40;

/// A parsed `vm` command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmCommand {
    Help,
    Create(CreateArgs),
    Start(String),
    Stop(String),
    Kill(String),
    Destroy(String),
    List,
    Console(String),
    Stats(String),
    Tail(String),
    /// `vm load FILE`: the definitions in a file (see `vmconf`).
    Load(String),
    Disks,
    RemoveDisk(String),
}

/// One `--disk` of `vm create`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskArg {
    pub name: String,
    /// Bytes to make it with when missing; 0: it must exist.
    pub size_bytes: u64,
    pub read_only: bool,
}

/// What `vm create` defines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateArgs {
    pub name: String,
    pub kernel: String,
    /// `None` with `--initrd ''`.
    pub initrd: Option<String>,
    pub cmdline: String,
    pub mem_bytes: u64,
    pub vcpus: u64,
    pub disks: Vec<DiskArg>,
    /// `--net`: a NIC on Keel's switch.
    pub net: bool,
}

/// Why a `vm` command line was refused; the text follows `vm: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmArgError {
    /// No such subcommand.
    UnknownCommand(String),
    /// The subcommand's usage line, for a missing name.
    Usage(&'static str),
    UnknownOption(String),
    MissingValue(&'static str),
    Unexpected(String),
    NotASize(String),
    /// Guest RAM comes in 2 MiB blocks.
    SizeNotBlocks(String),
    SizeOutOfRange(String),
    BadVcpus(String),
    BadName(String),
    EmptyKernel,
    /// A `--disk` that is not `[DISK:]SIZE[,ro]` or `DISK[,ro]`, and why.
    BadDisk(String, &'static str),
    TooManyDisks,
}

impl fmt::Display for VmArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmArgError::UnknownCommand(word) => write!(f, "unknown command: {word} (try vm help)"),
            VmArgError::Usage(usage) => write!(f, "usage: {usage}"),
            VmArgError::UnknownOption(option) => write!(f, "unknown option: {option} (try vm help)"),
            VmArgError::MissingValue(option) => write!(f, "{option} needs a value"),
            VmArgError::Unexpected(word) => write!(f, "unexpected argument: {word}"),
            VmArgError::NotASize(text) => write!(f, "--mem: not a size: {text}"),
            VmArgError::SizeNotBlocks(text) => write!(f, "--mem: not a multiple of 2M: {text}"),
            VmArgError::SizeOutOfRange(text) => write!(
                f,
                "--mem: {text} is out of range ({}M to {}G)",
                VM_MIN_MEM >> 20,
                VM_MAX_MEM >> 30
            ),
            VmArgError::BadVcpus(text) => write!(f, "--vcpus: not a number from 1 to {VM_MAX_VCPUS}: {text}"),
            VmArgError::BadName(name) => write!(
                f,
                "not a VM name: '{name}' (1 to {NAME_LEN} letters, digits, '-' and '_')"
            ),
            VmArgError::EmptyKernel => f.write_str("--kernel: the path is empty"),
            VmArgError::BadDisk(text, why) => write!(f, "--disk {text}: {why}"),
            VmArgError::TooManyDisks => write!(f, "--disk: at most {MAX_DISKS} disks"),
        }
    }
}

/// Parses the words after `vm`.
pub fn parse(args: &[String]) -> Result<VmCommand, VmArgError> {
    let Some((word, rest)) = args.split_first() else {
        return Ok(VmCommand::Help);
    };
    let named = |usage: &'static str| -> Result<String, VmArgError> {
        match rest {
            [] => Err(VmArgError::Usage(usage)),
            [name] if name.starts_with('-') => Err(VmArgError::Usage(usage)),
            [name] => check_name(name),
            [_, extra, ..] => Err(VmArgError::Unexpected(extra.clone())),
        }
    };
    match word.as_str() {
        "help" | "--help" | "-h" => match rest.first() {
            Some(extra) => Err(VmArgError::Unexpected(extra.clone())),
            None => Ok(VmCommand::Help),
        },
        "create" => parse_create(rest).map(VmCommand::Create),
        "start" => named("vm start NAME").map(VmCommand::Start),
        "stop" => named("vm stop NAME").map(VmCommand::Stop),
        "kill" => named("vm kill NAME").map(VmCommand::Kill),
        "destroy" => named("vm destroy NAME").map(VmCommand::Destroy),
        "console" => named("vm console NAME").map(VmCommand::Console),
        "stats" => named("vm stats NAME").map(VmCommand::Stats),
        "tail" => named("vm tail NAME").map(VmCommand::Tail),
        "load" => match rest {
            [path] => Ok(VmCommand::Load(path.clone())),
            [] => Err(VmArgError::Usage("vm load FILE")),
            [_, extra, ..] => Err(VmArgError::Unexpected(extra.clone())),
        },
        "rmdisk" => named("vm rmdisk DISK").map(VmCommand::RemoveDisk),
        "disks" => match rest.first() {
            Some(extra) => Err(VmArgError::Unexpected(extra.clone())),
            None => Ok(VmCommand::Disks),
        },
        "list" => match rest.first() {
            Some(extra) => Err(VmArgError::Unexpected(extra.clone())),
            None => Ok(VmCommand::List),
        },
        other => Err(VmArgError::UnknownCommand(other.into())),
    }
}

/// `vm create NAME [options]`: options before or after the name, as `--opt VALUE` or
/// `--opt=VALUE`.
fn parse_create(args: &[String]) -> Result<CreateArgs, VmArgError> {
    let mut name = None;
    let mut create = CreateArgs {
        name: String::new(),
        kernel: DEFAULT_KERNEL.into(),
        initrd: Some(DEFAULT_INITRD.into()),
        cmdline: DEFAULT_CMDLINE.into(),
        mem_bytes: DEFAULT_MEM,
        vcpus: DEFAULT_VCPUS,
        disks: Vec::new(),
        net: false,
    };
    // `--disk` values, named once the VM's name is known.
    let mut disk_texts: Vec<String> = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if !word.starts_with("--") || word == "--" {
            if word.starts_with('-') {
                return Err(VmArgError::UnknownOption(word.clone()));
            }
            match name {
                None => name = Some(check_name(word)?),
                Some(_) => return Err(VmArgError::Unexpected(word.clone())),
            }
            continue;
        }
        if word == "--net" {
            create.net = true;
            continue;
        }
        let (option, inline) = match word.split_once('=') {
            Some((option, value)) => (option, Some(value.to_string())),
            None => (word.as_str(), None),
        };
        let option: &'static str = match option {
            "--kernel" => "--kernel",
            "--initrd" => "--initrd",
            "--mem" => "--mem",
            "--vcpus" => "--vcpus",
            "--cmdline" => "--cmdline",
            "--disk" => "--disk",
            _ => return Err(VmArgError::UnknownOption(option.into())),
        };
        let value = match inline {
            Some(value) => value,
            None => words.next().cloned().ok_or(VmArgError::MissingValue(option))?,
        };
        match option {
            "--kernel" if value.is_empty() => return Err(VmArgError::EmptyKernel),
            "--kernel" => create.kernel = value,
            "--initrd" => create.initrd = (!value.is_empty()).then_some(value),
            "--mem" => create.mem_bytes = parse_size(&value)?,
            "--vcpus" => create.vcpus = parse_vcpus(&value)?,
            "--disk" => disk_texts.push(value),
            _ => create.cmdline = value,
        }
    }
    create.name = name.ok_or(VmArgError::Usage(
        "vm create NAME [--kernel PATH] [--initrd PATH] [--mem SIZE] [--vcpus N] [--cmdline STR]",
    ))?;
    if disk_texts.len() > MAX_DISKS {
        return Err(VmArgError::TooManyDisks);
    }
    let mut unnamed = 0;
    for text in &disk_texts {
        let disk = parse_disk(text, &create.name, &mut unnamed)?;
        if create.disks.iter().any(|d| d.name == disk.name) {
            return Err(VmArgError::BadDisk(text.clone(), "the same disk twice"));
        }
        create.disks.push(disk);
    }
    Ok(create)
}

/// Whether `name` may name a disk: 1 to 31 letters, digits, `-` and `_`, starting with a
/// letter (the host disk's table says so too).
pub fn valid_disk_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= DISK_NAME_MAX
        && bytes[0].is_ascii_alphabetic()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// A disk size: a whole number of MiB with an optional unit (K, M, G, T; none means MiB),
/// from 1M to 1T.
pub fn parse_disk_size(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let shift = match unit {
        "" | "M" | "m" => 20,
        "K" | "k" => 10,
        "G" | "g" => 30,
        "T" | "t" => 40,
        _ => return None,
    };
    let bytes = digits.parse::<u64>().ok()?.checked_mul(1 << shift)?;
    ((1 << 20)..=MAX_DISK_BYTES).contains(&bytes).then_some(bytes).filter(|b| b.is_multiple_of(1 << 20))
}

/// `[DISK:]SIZE[,ro]` or `DISK[,ro]`; a disk given only a size is named after the VM (the
/// second such `NAME-2`, and so on).
fn parse_disk(text: &str, vm: &str, unnamed: &mut usize) -> Result<DiskArg, VmArgError> {
    let bad = |why| VmArgError::BadDisk(text.into(), why);
    let (spec, read_only) = match text.split_once(',') {
        Some((spec, "ro")) => (spec, true),
        Some(_) => return Err(bad("the only option is ,ro")),
        None => (text, false),
    };
    let (name, size) = match spec.split_once(':') {
        Some((name, size)) => (String::from(name), Some(size)),
        None if spec.starts_with(|c: char| c.is_ascii_digit()) => {
            *unnamed += 1;
            let name = if *unnamed == 1 { vm.into() } else { alloc::format!("{vm}-{unnamed}") };
            (name, Some(spec))
        }
        None => (spec.into(), None),
    };
    if !valid_disk_name(&name) {
        return Err(bad("not a disk name (1 to 31 letters, digits, '-' and '_', starting with a letter; DISK:SIZE names it)"));
    }
    let size_bytes = match size {
        Some(size) => parse_disk_size(size).ok_or(bad("not a disk size (whole MiB from 1M to 1T, like 64M or 2G)"))?,
        None => 0,
    };
    Ok(DiskArg { name, size_bytes, read_only })
}

/// A VM name as the kernel takes it: 1 to [`NAME_LEN`] ASCII letters, digits, `-` and `_`;
/// here also not starting with `-`, so that it cannot be mistaken for an option.
pub fn check_name(name: &str) -> Result<String, VmArgError> {
    let fits = !name.is_empty() && name.len() <= NAME_LEN && !name.starts_with('-');
    if fits
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(name.into())
    } else {
        Err(VmArgError::BadName(name.into()))
    }
}

/// A guest RAM size in bytes: a whole number with an optional unit K, M or G (any case; no
/// unit means MiB), a multiple of 2 MiB (the kernel maps guest RAM in 2 MiB blocks), from
/// `VM_MIN_MEM` to `VM_MAX_MEM`.
pub fn parse_size(text: &str) -> Result<u64, VmArgError> {
    let not_a_size = || VmArgError::NotASize(text.into());
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(not_a_size());
    }
    let shift = match unit {
        "" | "M" | "m" => 20,
        "K" | "k" => 10,
        "G" | "g" => 30,
        _ => return Err(not_a_size()),
    };
    let number: u64 = digits.parse().map_err(|_| VmArgError::SizeOutOfRange(text.into()))?;
    let bytes = number
        .checked_mul(1 << shift)
        .ok_or_else(|| VmArgError::SizeOutOfRange(text.into()))?;
    if !(VM_MIN_MEM..=VM_MAX_MEM).contains(&bytes) {
        return Err(VmArgError::SizeOutOfRange(text.into()));
    }
    if !bytes.is_multiple_of(GUEST_RAM_BLOCK) {
        return Err(VmArgError::SizeNotBlocks(text.into()));
    }
    Ok(bytes)
}

fn parse_vcpus(text: &str) -> Result<u64, VmArgError> {
    match text.parse::<u64>() {
        Ok(n) if (1..=VM_MAX_VCPUS).contains(&n) && !text.starts_with('+') => Ok(n),
        _ => Err(VmArgError::BadVcpus(text.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn parse_words(line: &str) -> Result<VmCommand, VmArgError> {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&words)
    }

    fn create(line: &str) -> CreateArgs {
        match parse_words(line) {
            Ok(VmCommand::Create(args)) => args,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn error(line: &str) -> String {
        parse_words(line).unwrap_err().to_string()
    }

    #[test]
    fn disks() {
        let args = create("create web --disk 64M --disk data:1G,ro --disk base,ro --disk 2G");
        assert_eq!(
            args.disks,
            [
                DiskArg { name: "web".into(), size_bytes: 64 << 20, read_only: false },
                DiskArg { name: "data".into(), size_bytes: 1 << 30, read_only: true },
                DiskArg { name: "base".into(), size_bytes: 0, read_only: true },
                DiskArg { name: "web-2".into(), size_bytes: 2 << 30, read_only: false },
            ]
        );
        assert!(create("create x").disks.is_empty());
        assert!(error("create x --disk 1M --disk 1M --disk 1M --disk 1M --disk 1M").contains("at most 4"));
        assert!(error("create x --disk d:1M --disk d:2M").contains("the same disk twice"));
        assert!(error("create x --disk 12Q").contains("--disk 12Q: not a disk size"));
        assert!(error("create x --disk 1500K").contains("not a disk size"));
        assert!(error("create x --disk 2T").contains("not a disk size"));
        assert!(error("create x --disk d:64M,rw").contains("the only option is ,ro"));
        assert!(error("create 9x --disk 64M").contains("not a disk name"));
        assert!(error("create x --disk -d").contains("not a disk name"));
        assert_eq!(parse_words("stats web"), Ok(VmCommand::Stats("web".into())));
        assert_eq!(parse_words("disks"), Ok(VmCommand::Disks));
        assert_eq!(parse_words("rmdisk data"), Ok(VmCommand::RemoveDisk("data".into())));
        assert!(valid_disk_name(&"d".repeat(31)) && !valid_disk_name(&"d".repeat(32)));
        assert_eq!(parse_disk_size("1T"), Some(1 << 40));
        assert_eq!(parse_disk_size("0"), None);
    }

    #[test]
    fn subcommands() {
        assert_eq!(parse_words(""), Ok(VmCommand::Help));
        assert_eq!(parse_words("help"), Ok(VmCommand::Help));
        assert_eq!(parse_words("list"), Ok(VmCommand::List));
        assert_eq!(parse_words("start linux"), Ok(VmCommand::Start("linux".into())));
        assert_eq!(parse_words("stop a"), Ok(VmCommand::Stop("a".into())));
        assert_eq!(parse_words("kill a"), Ok(VmCommand::Kill("a".into())));
        assert_eq!(parse_words("destroy a"), Ok(VmCommand::Destroy("a".into())));
        assert_eq!(parse_words("console g-2_y"), Ok(VmCommand::Console("g-2_y".into())));
        assert_eq!(parse_words("tail a"), Ok(VmCommand::Tail("a".into())));
        assert_eq!(parse_words("tail"), Err(VmArgError::Usage("vm tail NAME")));
        assert_eq!(parse_words("load /etc/vms.conf"), Ok(VmCommand::Load("/etc/vms.conf".into())));
        assert_eq!(parse_words("load"), Err(VmArgError::Usage("vm load FILE")));
        assert_eq!(parse_words("load a b"), Err(VmArgError::Unexpected("b".into())));
    }

    #[test]
    fn create_defaults() {
        assert_eq!(
            create("create linux"),
            CreateArgs {
                name: "linux".into(),
                kernel: "/guest/linux/Image".into(),
                initrd: Some("/guest/linux/initramfs.cpio.gz".into()),
                cmdline: "console=ttyAMA0 earlycon=pl011,0x09000000".into(),
                mem_bytes: 256 << 20,
                vcpus: 1,
                disks: Vec::new(),
                net: false,
            }
        );
        assert!(create("create g --net").net);
        assert!(create("create --net g --mem 128M").net);
    }

    #[test]
    fn create_options_anywhere_and_inline() {
        let args = create("create --vcpus 2 g --mem=1G --kernel /host/Image --initrd /host/i.cpio");
        assert_eq!(args.name, "g");
        assert_eq!(args.vcpus, 2);
        assert_eq!(args.mem_bytes, 1 << 30);
        assert_eq!(args.kernel, "/host/Image");
        assert_eq!(args.initrd.as_deref(), Some("/host/i.cpio"));
        // A quoted command line arrives as one word from the shell's parser.
        let words: Vec<String> = ["create", "g", "--cmdline", "console=ttyAMA0 quiet", "--initrd="]
            .map(String::from)
            .to_vec();
        let Ok(VmCommand::Create(args)) = parse(&words) else {
            panic!()
        };
        assert_eq!(args.cmdline, "console=ttyAMA0 quiet");
        assert_eq!(args.initrd, None);
        let last_wins = create("create g --mem 128M --mem 64M");
        assert_eq!(last_wins.mem_bytes, 64 << 20);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("128M"), Ok(128 << 20));
        assert_eq!(parse_size("128m"), Ok(128 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("16G"), Ok(16 << 30));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("512"), Ok(512 << 20));
        assert_eq!(parse_size("65536K"), Ok(64 << 20));
        for bad in ["12Q", "", "M", "1.5G", "-1G", "1 G", "1GB", "1MiB", "+5M", "0x10M"] {
            assert_eq!(parse_size(bad), Err(VmArgError::NotASize(bad.into())), "{bad}");
        }
        assert_eq!(parse_size("32769K"), Err(VmArgError::SizeNotBlocks("32769K".into())));
        assert_eq!(parse_size("129M"), Err(VmArgError::SizeNotBlocks("129M".into())));
        assert_eq!(parse_size("130M"), Ok(130 << 20));
        for big in ["15M", "0", "17G", "99999999999999999999G", "18446744073709551615G"] {
            assert_eq!(parse_size(big), Err(VmArgError::SizeOutOfRange(big.into())), "{big}");
        }
    }

    #[test]
    fn messages() {
        assert_eq!(error("create x --mem 1Q"), "--mem: not a size: 1Q");
        assert_eq!(error("create x --mem 12Q"), "--mem: not a size: 12Q");
        assert_eq!(error("create x --mem 8M"), "--mem: 8M is out of range (16M to 16G)");
        assert_eq!(
            error("create x --mem 1025K"),
            "--mem: 1025K is out of range (16M to 16G)"
        );
        assert_eq!(error("create x --mem 129M"), "--mem: not a multiple of 2M: 129M");
        assert_eq!(error("create x --vcpus 9"), "--vcpus: not a number from 1 to 8: 9");
        assert_eq!(error("create x --vcpus 0"), "--vcpus: not a number from 1 to 8: 0");
        assert_eq!(error("create x --vcpus two"), "--vcpus: not a number from 1 to 8: two");
        assert_eq!(error("create x --mem"), "--mem needs a value");
        assert_eq!(error("create x --kernel="), "--kernel: the path is empty");
        assert_eq!(error("create x --frob 1"), "unknown option: --frob (try vm help)");
        assert_eq!(error("create x -m 1G"), "unknown option: -m (try vm help)");
        assert_eq!(error("create x y"), "unexpected argument: y");
        assert!(error("create --mem 1G").starts_with("usage: vm create NAME [--kernel PATH]"));
        assert_eq!(error("start"), "usage: vm start NAME");
        assert_eq!(error("console --help"), "usage: vm console NAME");
        assert_eq!(error("stop a b"), "unexpected argument: b");
        assert_eq!(error("list all"), "unexpected argument: all");
        assert_eq!(error("help me"), "unexpected argument: me");
        assert_eq!(error("boot linux"), "unknown command: boot (try vm help)");
    }

    #[test]
    fn usage_names_every_command_and_default() {
        for word in [
            "create", "start", "stop", "kill", "destroy", "list", "console", "Ctrl-]",
        ] {
            assert!(USAGE.contains(word), "{word}");
        }
        for default in [DEFAULT_KERNEL, DEFAULT_INITRD, DEFAULT_CMDLINE, "256M", "--vcpus 1"] {
            assert!(USAGE.contains(default), "{default}");
        }
        assert!(USAGE.lines().all(|line| line.chars().count() <= 100));
    }

    #[test]
    fn names() {
        let long = "x".repeat(NAME_LEN);
        assert_eq!(check_name(&long), Ok(long.clone()));
        let longer = "x".repeat(NAME_LEN + 1);
        assert!(check_name(&longer).is_err());
        for bad in ["", "a b", "a/b", "a.b", "é", "-x", "a\u{1}"] {
            assert_eq!(check_name(bad), Err(VmArgError::BadName(bad.into())), "{bad:?}");
        }
        assert_eq!(
            error("start a/b"),
            "not a VM name: 'a/b' (1 to 32 letters, digits, '-' and '_')"
        );
    }
}
