//! The file cases: Keel's namespace without a share, and with a directory of the machine
//! shared at `/host` (listed, read byte-exact, written from Keel, a guest booted from it).
//!
//! A shared case fills a fresh temporary directory first and builds its script and
//! expectations from what it put there (checksums computed here, on the machine); after
//! the run it checks what Keel wrote into the directory.

use super::expect::Expect;
use super::{Case, Typing};
use crate::typing::Step::{self, Type, TypeAfter};
use std::path::{Path, PathBuf};

/// A case that needs a shared directory.
pub struct ShareCase {
    pub name: &'static str,
    /// Boots a Linux guest (left out with `--no-guests`).
    pub guest: bool,
    /// Fills the directory and returns the case to run with it shared.
    pub prepare: fn(&Path) -> Result<Case, String>,
    /// Checks the directory after the run.
    pub check: fn(&Path) -> Result<(), String>,
}

/// Cases without a share: the initrd alone, `/host` missing.
pub const FILE_CASES: &[Case] = &[Case {
    name: "files-initrd",
    args: &[],
    typing: Typing::Script(&[
        Type("ls /\n"),
        Type("ls -l /bin\n"),
        Type("stat /init\n"),
        Type("ls /host\n"),
        Type("cp /bin/sh /sh2\n"),
        Type("cat /bin\n"),
        Type("cat /init/\n"),
        Type("cd /guest/linux\n"),
        Type("pwd\n"),
        Type("ls\n"),
        Type("cd ..\n"),
        Type("pwd\n"),
        Type("cd\n"),
        Type("pwd\n"),
        Type("poweroff\n"),
    ]),
    expect: &[
        Expect::Exit(0),
        Expect::Sequence(&["keel> ls /", "bin/", "init", "keel> "]),
        Expect::LineStartingWith { prefix: "-rwxr-xr-x", contains: "  sh" },
        Expect::Line("  type: regular file"),
        Expect::Line("  from: a read-only file system"),
        Expect::Line("ls: /host: not found"),
        Expect::Line("cp: /sh2: read-only file system"),
        Expect::Line("cat: /bin: is a directory"),
        Expect::Line("cat: /init/: not a directory"),
        Expect::Sequence(&["keel> pwd", "/guest/linux", "keel> ls", "Image", "initramfs.cpio.gz"]),
        Expect::Sequence(&["keel> cd ..", "keel> pwd", "/guest", "keel> cd", "keel> pwd", "/"]),
        Expect::NoLine("init: shell exited"),
    ],
}];

pub const SHARE_CASES: &[ShareCase] = &[
    ShareCase { name: "files-share", guest: false, prepare: prepare_share, check: check_share },
    ShareCase { name: "vm-from-host", guest: true, prepare: prepare_guest, check: |_| Ok(()) },
];

/// Size of the throughput file: what a guest kernel weighs.
const BIG: usize = 32 << 20;
/// An odd size, so the last read is short.
const DATA: usize = (3 << 20) + 123;
const HELLO: &str = "hello from the machine\n";

/// Deterministic bytes (xorshift).
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// CRC-32 (IEEE), as Keel's `sum` prints it.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn write(path: PathBuf, contents: &[u8]) -> Result<(), String> {
    std::fs::write(&path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn share_args(dir: &Path, extra: &[&'static str]) -> &'static [&'static str] {
    let mut args = vec!["--share", leak(dir.display().to_string())];
    args.extend_from_slice(extra);
    Box::leak(args.into_boxed_slice())
}

fn prepare_share(dir: &Path) -> Result<Case, String> {
    std::fs::create_dir_all(dir.join("sub")).map_err(|e| format!("cannot make {}/sub: {e}", dir.display()))?;
    let data = bytes(DATA, 7);
    let big = bytes(BIG, 11);
    write(dir.join("hello.txt"), HELLO.as_bytes())?;
    write(dir.join("data.bin"), &data)?;
    write(dir.join("big.bin"), &big)?;
    write(dir.join("sub").join("inner.txt"), b"inner file\n")?;
    let data_sum = leak(format!("{:08x}  {DATA}  /host/data.bin  (read ", crc32(&data)));
    let big_sum = leak(format!("{:08x}  {BIG}  big.bin  (read ", crc32(&big)));
    let steps: &'static [Step] = &[
        Type("ls /\n"),
        Type("ls /host\n"),
        Type("ls -l /host\n"),
        Type("cat /host/hello.txt\n"),
        Type("sum /host/data.bin\n"),
        Type("cd /host\n"),
        Type("sum big.bin\n"),
        Type("cd sub\n"),
        Type("pwd\n"),
        Type("cat inner.txt\n"),
        Type("cd ../..\n"),
        Type("pwd\n"),
        Type("cp /host/data.bin /host/sub/copy.bin\n"),
        Type("cp /host/hello.txt /host/sub\n"),
        Type("cp /bin/sh /host/sh.copy\n"),
        Type("ls /host/sub\n"),
        Type("stat /host/sub/copy.bin\n"),
        Type("cp /host/hello.txt /init\n"),
        Type("cat /host/nope\n"),
        Type("cat /host/sub\n"),
        Type("cd /host/hello.txt\n"),
        Type("ls /host/hello.txt/\n"),
        Type("poweroff\n"),
    ];
    let expect: Vec<Expect> = vec![
        Expect::Exit(0),
        Expect::Sequence(&["keel> ls /", "bin/", "guest/", "host/", "init", "keel> ls /host"]),
        Expect::Sequence(&["keel> ls /host", "big.bin", "data.bin", "hello.txt", "sub/", "keel> ls -l /host"]),
        Expect::LineStartingWith { prefix: "-rw-r--r--", contains: "  hello.txt" },
        Expect::Sequence(&["keel> cat /host/hello.txt", "hello from the machine", "keel> sum"]),
        Expect::LineStartingWith { prefix: data_sum, contains: "MB/s)" },
        Expect::LineStartingWith { prefix: big_sum, contains: "MB/s)" },
        Expect::Sequence(&["keel> pwd", "/host/sub", "keel> cat inner.txt", "inner file", "keel> cd ../..", "keel> pwd", "/"]),
        Expect::Sequence(&["keel> ls /host/sub", "copy.bin", "hello.txt", "inner.txt"]),
        Expect::Line(leak(format!("  size: {DATA} bytes"))),
        Expect::Line("cp: /init: read-only file system"),
        Expect::Line("cat: /host/nope: not found"),
        Expect::Line("cat: /host/sub: is a directory"),
        Expect::Line("cd: /host/hello.txt: not a directory"),
        Expect::Line("ls: /host/hello.txt/: not a directory"),
        Expect::NoLine("init: shell exited"),
    ];
    Ok(Case {
        name: "files-share",
        args: share_args(dir, &[]),
        typing: Typing::Script(steps),
        expect: Box::leak(expect.into_boxed_slice()),
    })
}

fn check_share(dir: &Path) -> Result<(), String> {
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("{name} was not written by Keel: {e}"));
    if read("sub/copy.bin")? != bytes(DATA, 7) {
        return Err("sub/copy.bin differs from data.bin".into());
    }
    if read("sub/hello.txt")? != HELLO.as_bytes() {
        return Err("sub/hello.txt differs from hello.txt".into());
    }
    let sh = crate::image::workspace_root().join("target/aarch64-unknown-none/release/sh");
    if let Ok(original) = std::fs::read(&sh) {
        if read("sh.copy")? != original {
            return Err(format!("sh.copy differs from {}", sh.display()));
        }
    }
    Ok(())
}

/// The guest's marker line (images/guest/init) and its shell's prompt.
const MARKER: &str = "keel-guest: up ";
const GUEST_PROMPT: &str = "guest# ";

fn prepare_guest(dir: &Path) -> Result<Case, String> {
    let images = crate::guest::images_dir().join("linux");
    for (from, to) in [("Image", "my-Image"), ("initramfs.cpio.gz", "my-initrd.gz")] {
        std::fs::copy(images.join(from), dir.join(to)).map_err(|e| {
            format!("cannot copy {} (images/build-guest makes it): {e}", images.join(from).display())
        })?;
    }
    Ok(Case {
        name: "vm-from-host",
        args: share_args(dir, &["--timeout", "300"]),
        typing: Typing::Script(&[
            Type("vm create mine --kernel /host/my-Image --initrd /host/my-initrd.gz\n"),
            Type("vm create bad --kernel /host/missing-Image\n"),
            Type("vm create bad --kernel /host/my-Image --initrd /host\n"),
            Type("vm start mine\n"),
            Type("vm console mine\n"),
            TypeAfter { wait_for: GUEST_PROMPT, text: "uname -r\n" },
            TypeAfter { wait_for: GUEST_PROMPT, text: "poweroff\n" },
            Type("vm list\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Line("vm: cannot create bad: /host/missing-Image: not found"),
            Expect::Line("vm: cannot create bad: /host: is a directory"),
            Expect::Sequence(&[
                "keel> vm start mine",
                "vm: mine started",
                "[attached to mine; Ctrl-] detaches]",
                MARKER,
                "uname -r",
                "6.",
                "[mine stopped: stopped]",
            ]),
            Expect::LineStartingWith { prefix: "mine   stopped", contains: "256M" },
            Expect::NoLine("bad    created"),
            Expect::NoLine("init: shell exited"),
        ],
    })
}

/// A fresh directory for a shared case (removed afterwards by the caller).
pub fn share_dir(name: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("keel-share-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_standard_one() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn shared_cases_prepare_their_directory() {
        let dir = share_dir("unit-test").unwrap();
        let case = prepare_share(&dir).unwrap();
        assert_eq!(case.args[0], "--share");
        assert_eq!(std::fs::metadata(dir.join("big.bin")).unwrap().len(), BIG as u64);
        assert!(check_share(&dir).is_err(), "nothing copied yet");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/copy.bin"), bytes(DATA, 7)).unwrap();
        std::fs::write(dir.join("sub/hello.txt"), HELLO).unwrap();
        let _ = std::fs::copy(crate::image::workspace_root().join("target/aarch64-unknown-none/release/sh"), dir.join("sh.copy"));
        assert_eq!(check_share(&dir), Ok(()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
