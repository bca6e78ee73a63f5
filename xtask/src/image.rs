//! Builds what QEMU boots: the kernel as an arm64 Linux-format Image, and the initrd (a cpio
//! archive of the user programs, built for aarch64-unknown-none).

use crate::{cpio, elf};
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

/// The packages that hold the user programs.
const USER_PACKAGES: &[&str] = &["keel-userland", "keel-init"];

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

/// Builds the user programs, checks their layout, and writes target/keel/initrd.cpio.
pub fn build_initrd() -> Result<PathBuf, String> {
    cargo_build(USER_PACKAGES, &[]).map_err(|_| "user programs build failed".to_string())?;
    let mut programs = Vec::new();
    for &(path, program) in INITRD_PROGRAMS {
        let file = release_dir().join(program);
        let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        elf::check_user_program(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
        programs.push((path, bytes));
    }
    write_output("initrd.cpio", &initrd_archive(&programs)?)
}

/// The initrd: each program (mode 0755) after the directories that lead to it.
pub fn initrd_archive(programs: &[(&str, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut writer = cpio::Writer::default();
    let mut directories: Vec<&str> = Vec::new();
    for (path, bytes) in programs {
        let parents = path.match_indices('/').map(|(at, _)| &path[..at]);
        for parent in parents {
            if !directories.contains(&parent) {
                writer.directory(parent, 0o755)?;
                directories.push(parent);
            }
        }
        writer.file(path, 0o755, bytes)?;
    }
    Ok(writer.finish())
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
        None => build_initrd().map_err(|e| format!("cannot build the initrd: {e}"))?,
    };
    Ok(Images { kernel, initrd })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initrd_has_directories_before_their_files() {
        let programs = [
            ("init", b"1".to_vec()),
            ("bin/sh", b"2".to_vec()),
            ("bin/spin", b"3".to_vec()),
        ];
        let archive = initrd_archive(&programs).unwrap();
        let text = String::from_utf8_lossy(&archive);
        let at = |name: &str| {
            text.find(&format!("{name}\0"))
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        assert!(at("init") < at("bin"));
        assert!(at("bin") < at("bin/sh"));
        assert!(at("bin/sh") < at("bin/spin"));
        assert_eq!(text.matches("bin\0").count(), 1, "one entry for the directory");
        assert!(text.ends_with("TRAILER!!!\0\0\0\0"));
    }
}
