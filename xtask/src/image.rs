//! Builds what QEMU boots: the kernel as an arm64 Linux-format Image, and the initrd (a cpio
//! archive of the user programs, built for aarch64-unknown-none, and the default Linux guest).

use crate::{added, cpio, elf, guest};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "aarch64-unknown-none";

/// The initrd's files: (path in the archive, program in target/aarch64-unknown-none/release).
pub const INITRD_PROGRAMS: &[(&str, &str)] = &[
    ("init", "init"),
    ("bin/sh", "sh"),
    ("bin/spin", "spin"),
    ("bin/fault", "fault"),
    ("bin/badptr", "badptr"),
    ("bin/sysbench", "sysbench"),
];

/// The hostile guest (crate keel-hostile-guest), flattened to a raw binary: its path in
/// the initrd and the program it is made from.
pub const HOSTILE_GUEST: (&str, &str) = ("guest/hostile/hostile.bin", "keel-hostile-guest");

/// Modes of the initrd's files: programs, and data such as the guest's kernel.
const PROGRAM_MODE: u32 = 0o755;
const DATA_MODE: u32 = 0o644;

/// The packages that hold the user programs.
const USER_PACKAGES: &[&str] = &["keel-userland", "keel-init", "keel-hostile-guest"];

/// The two files QEMU is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// The workspace root (the parent of xtask/).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where built artefacts go: target/keel/.
pub fn output_dir() -> PathBuf {
    workspace_root().join("target").join("keel")
}

/// Checks the 64-byte arm64 Image header that kernel/arch/head.S lays down.
pub fn check_image_header(image: &[u8]) -> Result<(), String> {
    let header = image.get(..64).ok_or("image shorter than its 64-byte header")?;
    if &header[56..60] != b"ARM\x64" {
        return Err("image lacks the arm64 magic `ARM\\x64` at offset 56".into());
    }
    let image_size = u64::from_le_bytes(header[16..24].try_into().map_err(|_| "header")?);
    if image_size < image.len() as u64 {
        return Err(format!(
            "header image_size {image_size:#x} is smaller than the file ({:#x})",
            image.len()
        ));
    }
    Ok(())
}

/// `cargo build --release --target aarch64-unknown-none` with `packages` (and `extra`).
fn cargo_build(packages: &[&str], extra: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--release", "--target", TARGET]);
    for package in packages {
        command.args(["--package", package]);
    }
    let status = command
        .args(extra)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build of {} failed", packages.join(", ")))
    }
}

fn release_dir() -> PathBuf {
    workspace_root().join("target").join(TARGET).join("release")
}

fn write_output(name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let out = output_dir();
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let path = out.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Builds the kernel in release mode and writes target/keel/Image; returns its path.
pub fn build_kernel() -> Result<PathBuf, String> {
    cargo_build(&["keel-kernel"], &["--bin", "keel"]).map_err(|_| "kernel build failed".to_string())?;
    let elf_path = release_dir().join("keel");
    let elf_bytes = std::fs::read(&elf_path).map_err(|e| format!("cannot read {}: {e}", elf_path.display()))?;
    let image = elf::flatten(&elf::load_segments(&elf_bytes)?)?;
    check_image_header(&image)?;
    write_output("Image", &image)
}

/// Builds the user programs, checks their layout, adds the default guest (see `guest`), and
/// writes target/keel/initrd.cpio.
pub fn build_initrd() -> Result<PathBuf, String> {
    build_initrd_with(&[])
}

/// `build_initrd`, plus the files under `add` (see `added`).
pub fn build_initrd_with(add: &[PathBuf]) -> Result<PathBuf, String> {
    let extra = added::collect(add)?;
    cargo_build(USER_PACKAGES, &[]).map_err(|_| "user programs build failed".to_string())?;
    let mut files = Vec::new();
    for &(path, program) in INITRD_PROGRAMS {
        let file = release_dir().join(program);
        let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        elf::check_user_program(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
        files.push((path, PROGRAM_MODE, bytes));
    }
    files.push((HOSTILE_GUEST.0, DATA_MODE, hostile_guest()?));
    // Last, so that looking up a program does not step over the guest's 33 MB.
    let guest_files = guest::files()?;
    if !guest_files.is_empty() {
        let (path, text) = guest::DEFINITIONS;
        files.push((path, DATA_MODE, text.as_bytes().to_vec()));
    }
    for (path, bytes) in guest_files {
        files.push((path, DATA_MODE, bytes));
    }
    let taken: Vec<&str> = files.iter().map(|(path, _, _)| *path).collect();
    added::check_clashes(&extra, &taken)?;
    files.extend(
        extra
            .iter()
            .map(|(path, mode, bytes)| (path.as_str(), *mode, bytes.clone())),
    );
    write_output("initrd.cpio", &initrd_archive(&files)?)
}

/// The hostile guest as a raw binary (no arm64 Image header: Keel loads it at RAM base +
/// 0x80000 and starts it at its first byte), from its ELF file built with the user programs.
fn hostile_guest() -> Result<Vec<u8>, String> {
    let file = release_dir().join(HOSTILE_GUEST.1);
    let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let image = elf::flatten(&elf::load_segments(&bytes)?).map_err(|e| format!("{}: {e}", file.display()))?;
    if image.get(56..60) == Some(b"ARM\x64".as_slice()) {
        return Err(format!("{}: a raw guest must not look like an arm64 Image", file.display()));
    }
    Ok(image)
}

/// The initrd: each file (path, permission bits, bytes) after the directories that lead to it.
pub fn initrd_archive(files: &[(&str, u32, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut writer = cpio::Writer::default();
    let mut directories: Vec<&str> = Vec::new();
    for (path, mode, bytes) in files {
        let parents = path.match_indices('/').map(|(at, _)| &path[..at]);
        for parent in parents {
            if !directories.contains(&parent) {
                writer.directory(parent, 0o755)?;
                directories.push(parent);
            }
        }
        writer.file(path, *mode, bytes)?;
    }
    Ok(writer.finish())
}

/// Whether the initrd at `path` holds the default guest's files; if not, which is missing.
pub fn initrd_guest(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let entries = cpio::read(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    for (wanted, _) in guest::GUEST_FILES {
        if !entries.iter().any(|entry| entry.name == *wanted) {
            return Err(format!("{} has no /{wanted}", path.display()));
        }
    }
    Ok(())
}

/// Builds the kernel Image and the initrd.
pub fn build() -> Result<Images, String> {
    Ok(Images {
        kernel: build_kernel()?,
        initrd: build_initrd()?,
    })
}

/// The files to boot: the ones given (which must exist), the others freshly built.
pub fn resolve(kernel: Option<&Path>, initrd: Option<&Path>) -> Result<Images, String> {
    resolve_with(kernel, initrd, &[])
}

/// `resolve`, with the files under `add` in the initrd it builds.
pub fn resolve_with(kernel: Option<&Path>, initrd: Option<&Path>, add: &[PathBuf]) -> Result<Images, String> {
    if initrd.is_some() && !add.is_empty() {
        return Err("--add goes into the initrd that is built; it cannot change one given with --initrd".into());
    }
    let given = |path: &Path, what: &str| {
        if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(format!("no {what} at {}", path.display()))
        }
    };
    let kernel = match kernel {
        Some(path) => given(path, "kernel Image")?,
        None => build_kernel().map_err(|e| format!("cannot build Keel: {e}"))?,
    };
    let initrd = match initrd {
        Some(path) => given(path, "initrd")?,
        None => build_initrd_with(add).map_err(|e| format!("cannot build the initrd: {e}"))?,
    };
    Ok(Images { kernel, initrd })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initrd_has_directories_before_their_files() {
        let files = [
            ("init", PROGRAM_MODE, b"1".to_vec()),
            ("bin/sh", PROGRAM_MODE, b"2".to_vec()),
            ("bin/spin", PROGRAM_MODE, b"3".to_vec()),
            ("guest/linux/Image", DATA_MODE, b"4".to_vec()),
            ("guest/linux/initramfs.cpio.gz", DATA_MODE, b"5".to_vec()),
        ];
        let archive = initrd_archive(&files).unwrap();
        let entries = cpio::read(&archive).unwrap();
        let summary: Vec<(&str, u32)> = entries.iter().map(|e| (e.name.as_str(), e.mode)).collect();
        assert_eq!(
            summary,
            [
                ("init", cpio::S_IFREG | 0o755),
                ("bin", cpio::S_IFDIR | 0o755),
                ("bin/sh", cpio::S_IFREG | 0o755),
                ("bin/spin", cpio::S_IFREG | 0o755),
                ("guest", cpio::S_IFDIR | 0o755),
                ("guest/linux", cpio::S_IFDIR | 0o755),
                ("guest/linux/Image", cpio::S_IFREG | 0o644),
                ("guest/linux/initramfs.cpio.gz", cpio::S_IFREG | 0o644),
                (cpio::TRAILER, 0),
            ]
        );
        assert_eq!(&archive[entries[6].data.clone()], b"4");
    }

    #[test]
    fn guest_presence_is_checked_by_name() {
        let dir = std::env::temp_dir().join(format!("keel-initrd-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let without = dir.join("without.cpio");
        std::fs::write(
            &without,
            initrd_archive(&[("init", PROGRAM_MODE, b"1".to_vec())]).unwrap(),
        )
        .unwrap();
        let error = initrd_guest(&without).unwrap_err();
        assert!(error.ends_with("has no /guest/linux/Image"), "{error}");
        let with = dir.join("with.cpio");
        let files: Vec<_> = guest::GUEST_FILES
            .iter()
            .map(|(path, _)| (*path, DATA_MODE, b"x".to_vec()))
            .collect();
        std::fs::write(&with, initrd_archive(&files).unwrap()).unwrap();
        assert_eq!(initrd_guest(&with), Ok(()));
        assert!(initrd_guest(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
