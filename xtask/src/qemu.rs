//! The QEMU command line: one place that decides how Keel is started.

use crate::image::Images;
use crate::options::{MemSize, RunOptions};
use std::path::Path;

/// The QEMU binary; `KEEL_QEMU` overrides it (handy to try another build of QEMU).
pub fn binary() -> String {
    std::env::var("KEEL_QEMU")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "qemu-system-aarch64".into())
}

/// How the console (the PL011) is wired.
#[derive(Debug, Clone, Copy)]
pub enum Console<'a> {
    /// Interactive: the terminal, multiplexed with the QEMU monitor (Ctrl-A X quits, Ctrl-A C
    /// switches to the monitor).
    Terminal,
    /// Pipes: QEMU's stdin/stdout carry the console; no monitor; QMP on this Unix socket.
    Piped { qmp_socket: &'a Path },
}

/// The CPU model as QEMU gets it: `max` means `max,pauth-impdef=on`, which boots much
/// faster under TCG (QEMU's own pointer-authentication algorithm instead of QARMA).
pub fn cpu_arg(cpu: &str) -> String {
    if cpu == "max" {
        "max,pauth-impdef=on".into()
    } else {
        cpu.into()
    }
}

/// The `-M` value.
pub fn machine_arg(options: &RunOptions) -> String {
    if options.virtualization {
        "virt,virtualization=on,gic-version=3".into()
    } else {
        "virt,gic-version=3".into()
    }
}

/// How many bytes of initrd QEMU can load with this much RAM: `-M virt` puts the initrd at
/// half the RAM, but at most 128 MiB, past its start, and it must end in RAM.
pub fn initrd_room(mem: MemSize) -> u64 {
    let ram = mem.mib << 20;
    ram - (ram / 2).min(128 << 20)
}

/// Refuses an initrd that QEMU could not load (its own message names no cause), e.g. the
/// host initrd with the guest (~40 MB) and `--mem 64M`.
pub fn check_initrd_fits(options: &RunOptions, images: &Images) -> Result<(), String> {
    let size = std::fs::metadata(&images.initrd)
        .map_err(|e| format!("cannot read {}: {e}", images.initrd.display()))?
        .len();
    let room = initrd_room(options.mem);
    if size <= room {
        return Ok(());
    }
    let mut need = options.mem;
    while initrd_room(need) < size {
        need.mib *= 2;
    }
    Err(format!(
        "the initrd {} ({} MiB) does not fit in {} of RAM (QEMU has room for {} MiB); \
         use --mem {} or more (KEEL_GUEST_IMAGES=off builds one without the Linux guest)",
        images.initrd.display(),
        size.div_ceil(1 << 20),
        options.mem.qemu_arg(),
        room >> 20,
        need.qemu_arg()
    ))
}

/// The fsdev id and mount tag of the `--share` directory (Keel mounts the tag `host`).
pub const SHARE_TAG: &str = "host";

/// The QEMU arguments that share `dir` through virtio-9p (modern virtio-mmio): the path is
/// absolute and its commas doubled, as QEMU's option syntax wants.
pub fn share_args(dir: &Path) -> Vec<String> {
    let path = dir.display().to_string().replace(',', ",,");
    vec![
        "-fsdev".into(),
        format!("local,id={SHARE_TAG},path={path},security_model=none"),
        "-device".into(),
        format!("virtio-9p-device,fsdev={SHARE_TAG},mount_tag={SHARE_TAG}"),
    ]
}

/// The host disk image unless `--disk` names another.
pub fn default_disk() -> std::path::PathBuf {
    crate::image::output_dir().join("disk.img")
}

/// The size of a host disk image made on first use (sparse: it takes room as it is written).
pub const NEW_DISK_BYTES: u64 = 2 << 30;

/// Makes the disk image `path` (sparse, [`NEW_DISK_BYTES`]) unless it exists; refuses a
/// directory. Its contents are Keel's (a table of guest disks, docs/virtio.md).
pub fn prepare_disk(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => return Ok(()),
        Ok(_) => return Err(format!("--disk {}: not a regular file", path.display())),
        Err(_) => {}
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("--disk {}: {e}", path.display()))?;
    }
    let file = std::fs::File::create(path).map_err(|e| format!("--disk {}: {e}", path.display()))?;
    file.set_len(NEW_DISK_BYTES).map_err(|e| format!("--disk {}: {e}", path.display()))
}

/// The QEMU arguments of the host disk (modern virtio-mmio, like every virtio device Keel
/// gets): the path's commas doubled.
pub fn disk_args(path: &Path) -> Vec<String> {
    let file = path.display().to_string().replace(',', ",,");
    vec![
        "-drive".into(),
        format!("if=none,file={file},format=raw,id=hostdisk"),
        "-device".into(),
        "virtio-blk-device,drive=hostdisk".into(),
    ]
}

/// The QEMU arguments of the network card: QEMU's user network with the forwards from the
/// machine's loopback to Keel's wan ports, and a virtio-net device on it (modern, as every
/// virtio device: see `args`).
pub fn net_args(options: &RunOptions) -> Vec<String> {
    if !options.net {
        return Vec::new();
    }
    let mut netdev = String::from("user,id=wan0");
    let http = options.http_port.map(|port| (port, 80));
    for (host, keel) in http.into_iter().chain(options.forwards.iter().copied()) {
        netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{keel}"));
    }
    vec!["-netdev".into(), netdev, "-device".into(), "virtio-net-device,netdev=wan0".into()]
}

/// Checks the `--share` directory and makes its path absolute.
pub fn check_share(dir: &Path) -> Result<std::path::PathBuf, String> {
    let absolute = std::fs::canonicalize(dir).map_err(|e| format!("--share {}: {e}", dir.display()))?;
    if !absolute.is_dir() {
        return Err(format!("--share {}: not a directory", dir.display()));
    }
    Ok(absolute)
}

/// `options` with the `--share` directory checked and made absolute, and the host disk
/// chosen (the default one unless `--disk` or `--no-disk`) and made if missing.
pub fn with_checked_share(options: &RunOptions) -> Result<RunOptions, String> {
    let mut options = options.clone();
    if let Some(dir) = &options.share {
        options.share = Some(check_share(dir)?);
    }
    if options.no_disk {
        options.disk = None;
    } else {
        let disk = options.disk.clone().unwrap_or_else(default_disk);
        prepare_disk(&disk)?;
        options.disk = Some(disk);
    }
    Ok(options)
}

/// All arguments after the QEMU binary name.
pub fn args(options: &RunOptions, images: &Images, console: Console) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-M".into(),
        machine_arg(options),
        "-cpu".into(),
        cpu_arg(&options.cpu),
        "-smp".into(),
        options.smp.to_string(),
        "-accel".into(),
        options.tcg.qemu_arg(),
        "-m".into(),
        options.mem.qemu_arg(),
        "-kernel".into(),
        images.kernel.display().to_string(),
        "-initrd".into(),
        images.initrd.display().to_string(),
    ];
    if let Some(append) = &options.append {
        args.extend(["-append".into(), append.clone()]);
    }
    args.extend(["-display", "none", "-nodefaults", "-no-user-config"].map(String::from));
    if let Some(dir) = &options.share {
        args.extend(share_args(dir));
    }
    args.extend(net_args(options));
    if let Some(disk) = &options.disk {
        args.extend(disk_args(disk));
    }
    // Host entropy for guests; every virtio device is modern (version 2).
    args.extend(["-device", "virtio-rng-device", "-global", "virtio-mmio.force-legacy=false"].map(String::from));
    match console {
        Console::Terminal => args.extend(["-serial".into(), "mon:stdio".into()]),
        Console::Piped { qmp_socket } => {
            args.extend(["-serial", "stdio", "-monitor", "none", "-qmp"].map(String::from));
            args.push(format!("unix:{},server=on,wait=off", qmp_socket.display()));
        }
    }
    args.extend(options.extra_qemu_args.iter().cloned());
    args
}

/// A command line for people to read and paste: arguments with spaces or shell
/// metacharacters are single-quoted.
pub fn display_command(binary: &str, args: &[String]) -> String {
    let quote = |arg: &str| {
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.,:/=+@%".contains(c));
        if plain {
            arg.to_string()
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    };
    std::iter::once(binary)
        .chain(args.iter().map(String::as_str))
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{parse_run_args, Parsed};

    fn images(kernel: &str, initrd: &str) -> Images {
        Images {
            kernel: kernel.into(),
            initrd: initrd.into(),
        }
    }

    fn options(args: &[&str]) -> RunOptions {
        match parse_run_args(args).unwrap() {
            Parsed::Run(options) => options,
            Parsed::Help => unreachable!(),
        }
    }

    #[test]
    fn piped_command_line() {
        let args = args(
            &options(&["--append", "keel.selftest"]),
            &images("target/keel/Image", "target/keel/initrd.cpio"),
            Console::Piped {
                qmp_socket: Path::new("/tmp/x/qmp.sock"),
            },
        );
        assert_eq!(
            display_command("qemu-system-aarch64", &args),
            "qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu cortex-a76 -smp 2 \
             -accel tcg,thread=multi -m 2048M -kernel target/keel/Image -initrd target/keel/initrd.cpio -append keel.selftest \
             -display none -nodefaults \
             -no-user-config -netdev user,id=wan0,hostfwd=tcp:127.0.0.1:8080-:80 \
             -device virtio-net-device,netdev=wan0 -device virtio-rng-device -global virtio-mmio.force-legacy=false \
             -serial stdio -monitor none \
             -qmp unix:/tmp/x/qmp.sock,server=on,wait=off"
        );
    }

    #[test]
    fn terminal_command_line() {
        let args = args(
            &options(&["--cpu", "max", "--smp", "4", "--tcg", "single", "--no-virtualization", "--", "-s"]),
            &images("Image", "my initrd"),
            Console::Terminal,
        );
        assert_eq!(
            args.join(" "),
            "-M virt,gic-version=3 -cpu max,pauth-impdef=on -smp 4 -accel tcg,thread=single -m 2048M -kernel Image \
             -initrd my initrd -display none -nodefaults -no-user-config -netdev user,id=wan0,hostfwd=tcp:127.0.0.1:8080-:80 \
             -device virtio-net-device,netdev=wan0 -device virtio-rng-device \
             -global virtio-mmio.force-legacy=false -serial mon:stdio -s"
        );
    }

    #[test]
    fn initrd_room_follows_qemu() {
        assert_eq!(initrd_room(MemSize { mib: 64 }), 32 << 20);
        assert_eq!(initrd_room(MemSize { mib: 128 }), 64 << 20);
        assert_eq!(initrd_room(MemSize { mib: 2048 }), 1920 << 20);
        let dir = std::env::temp_dir().join(format!("keel-qemu-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let initrd = dir.join("initrd.cpio");
        std::fs::write(&initrd, vec![0u8; (40 << 20) + 1]).unwrap();
        let images = Images {
            kernel: "Image".into(),
            initrd: initrd.clone(),
        };
        let error = check_initrd_fits(&options(&["--mem", "64M"]), &images).unwrap_err();
        assert!(error.contains("(41 MiB) does not fit in 64M of RAM"), "{error}");
        assert!(error.contains("use --mem 128M or more"), "{error}");
        assert_eq!(check_initrd_fits(&options(&["--mem", "128M"]), &images), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn share_command_line() {
        let args = args(
            &options(&["--share", "/tmp/a,b"]),
            &images("Image", "initrd"),
            Console::Terminal,
        );
        let joined = args.join(" ");
        assert!(
            joined.contains(
                "-fsdev local,id=host,path=/tmp/a,,b,security_model=none \
                 -device virtio-9p-device,fsdev=host,mount_tag=host"
            ),
            "{joined}"
        );
        assert!(check_share(Path::new("/nonexistent-keel-share")).is_err());
        assert!(check_share(Path::new("/")).is_ok());
    }

    #[test]
    fn net_command_line() {
        let joined = args(
            &options(&["--http-port", "18080", "--forward", "8081:8081", "--share", "/tmp"]),
            &images("Image", "initrd"),
            Console::Terminal,
        )
        .join(" ");
        assert!(
            joined.contains(
                "-netdev user,id=wan0,hostfwd=tcp:127.0.0.1:18080-:80,hostfwd=tcp:127.0.0.1:8081-:8081 \
                 -device virtio-net-device,netdev=wan0"
            ),
            "{joined}"
        );
        let none = args(&options(&["--no-net"]), &images("Image", "initrd"), Console::Terminal).join(" ");
        assert!(!none.contains("netdev"), "{none}");
        let quiet = args(&options(&["--http-port", "0"]), &images("Image", "initrd"), Console::Terminal).join(" ");
        assert!(quiet.contains("-netdev user,id=wan0 -device"), "{quiet}");
    }

    #[test]
    fn disk_command_line_and_image() {
        let mut with_disk = options(&[]);
        with_disk.disk = Some("/tmp/k,d.img".into());
        let joined = args(&with_disk, &images("Image", "initrd"), Console::Terminal).join(" ");
        assert!(
            joined.contains(
                "-drive if=none,file=/tmp/k,,d.img,format=raw,id=hostdisk \
                 -device virtio-blk-device,drive=hostdisk -device virtio-rng-device"
            ),
            "{joined}"
        );
        let dir = std::env::temp_dir().join(format!("keel-disk-test-{}", std::process::id()));
        let image = dir.join("sub").join("disk.img");
        prepare_disk(&image).unwrap();
        assert_eq!(std::fs::metadata(&image).unwrap().len(), NEW_DISK_BYTES);
        std::fs::write(&image, b"kept").unwrap();
        prepare_disk(&image).unwrap();
        assert_eq!(std::fs::read(&image).unwrap(), b"kept", "an existing image is kept");
        assert!(prepare_disk(&dir).is_err(), "a directory");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn quoting() {
        let shown = display_command("q", &["a b".into(), "it's".into(), "".into(), "x=1".into()]);
        assert_eq!(shown, r"q 'a b' 'it'\''s' '' x=1");
    }
}
