//! Builds the kernel for aarch64-unknown-none and writes it as an arm64 Linux-format Image.

use crate::elf;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "aarch64-unknown-none";

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

/// Builds the kernel in release mode and writes target/keel/Image; returns its path.
pub fn build() -> Result<PathBuf, String> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release", "--package", "keel-kernel", "--bin", "keel", "--target", TARGET])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("kernel build failed".into());
    }
    let elf_path = root.join("target").join(TARGET).join("release").join("keel");
    let elf_bytes =
        std::fs::read(&elf_path).map_err(|e| format!("cannot read {}: {e}", elf_path.display()))?;
    let image = elf::flatten(&elf::load_segments(&elf_bytes)?)?;
    check_image_header(&image)?;
    let out = output_dir();
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let image_path = out.join("Image");
    std::fs::write(&image_path, &image)
        .map_err(|e| format!("cannot write {}: {e}", image_path.display()))?;
    Ok(image_path)
}
