//! The default Linux guest in the host initrd: `images/build-guest` makes (or finds up to
//! date) `target/images/linux/{Image,initramfs.cpio.gz}`, which go into the initrd as
//! `/guest/linux/Image` and `/guest/linux/initramfs.cpio.gz`.
//!
//! Without the network on first use the recipe cannot fetch Debian's packages. Then the
//! build warns and makes an initrd without the guest, so Keel still boots and its tests
//! still run, unless `KEEL_GUEST_IMAGES=require` says the guest must be there
//! (`KEEL_GUEST_IMAGES=off` leaves it out without trying).

use crate::image::workspace_root;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The environment variable that decides what happens to the guest images.
pub const POLICY_VAR: &str = "KEEL_GUEST_IMAGES";

/// The guest's files: (path in the host initrd, path under target/images/).
pub const GUEST_FILES: &[(&str, &str)] = &[
    ("guest/linux/Image", "linux/Image"),
    ("guest/linux/initramfs.cpio.gz", "linux/initramfs.cpio.gz"),
];

/// The host initrd's VM definitions (`/etc/vms.conf`, from `images/vms.conf`): they name
/// the default guest, so they go in only with it.
pub const DEFINITIONS: (&str, &str) = ("etc/vms.conf", include_str!("../../images/vms.conf"));

/// Whether the build puts the guest into the initrd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Build it; if that fails, warn and leave it out (the default).
    Auto,
    /// Build it; if that fails, the build fails.
    Require,
    /// Leave it out.
    Off,
}

impl Policy {
    /// Reads `KEEL_GUEST_IMAGES` (unset or empty: `auto`).
    pub fn from_env() -> Result<Policy, String> {
        Policy::parse(std::env::var(POLICY_VAR).ok().as_deref().unwrap_or(""))
    }

    pub fn parse(text: &str) -> Result<Policy, String> {
        match text {
            "" | "auto" => Ok(Policy::Auto),
            "require" | "required" | "1" => Ok(Policy::Require),
            "off" | "0" => Ok(Policy::Off),
            other => Err(format!("{POLICY_VAR}={other}: use auto, require or off")),
        }
    }
}

/// A file for the initrd: its path there and its bytes.
pub type InitrdFile = (&'static str, Vec<u8>);

/// The guest's files for the initrd, after running the recipe; empty with a warning when
/// they cannot be had and the policy allows it.
pub fn files() -> Result<Vec<InitrdFile>, String> {
    let policy = Policy::from_env()?;
    if policy == Policy::Off {
        return Ok(Vec::new());
    }
    match build_and_read() {
        Ok(files) => Ok(files),
        Err(why) if policy == Policy::Require => Err(format!(
            "no guest images: {why} ({POLICY_VAR}=require makes this an error)"
        )),
        Err(why) => {
            eprintln!("xtask: warning: the initrd is made WITHOUT the default Linux guest: {why}");
            eprintln!(
                "xtask: warning: `vm create NAME` needs /guest/linux/Image; bring your own with \
                 --kernel/--initrd, or fix the above and build again \
                 ({POLICY_VAR}=require makes this an error, =off skips it)"
            );
            Ok(Vec::new())
        }
    }
}

/// Where `images/build-guest` writes.
pub fn images_dir() -> PathBuf {
    workspace_root().join("target").join("images")
}

fn build_and_read() -> Result<Vec<InitrdFile>, String> {
    let recipe = workspace_root().join("images").join("build-guest");
    let status = Command::new(&recipe)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", recipe.display()))?;
    if !status.success() {
        let how = status
            .code()
            .map_or("a signal".to_string(), |code| format!("status {code}"));
        return Err(format!(
            "images/build-guest failed ({how}; its message is above; it needs the network on first use)"
        ));
    }
    GUEST_FILES
        .iter()
        .map(|&(in_initrd, built)| {
            let path = images_dir().join(built);
            match std::fs::read(&path) {
                Ok(bytes) if !bytes.is_empty() => Ok((in_initrd, bytes)),
                Ok(_) => Err(format!("{} is empty", path.display())),
                Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        assert_eq!(Policy::parse(""), Ok(Policy::Auto));
        assert_eq!(Policy::parse("auto"), Ok(Policy::Auto));
        assert_eq!(Policy::parse("require"), Ok(Policy::Require));
        assert_eq!(Policy::parse("1"), Ok(Policy::Require));
        assert_eq!(Policy::parse("off"), Ok(Policy::Off));
        let error = Policy::parse("yes").unwrap_err();
        assert!(
            error.contains("KEEL_GUEST_IMAGES=yes") && error.contains("require"),
            "{error}"
        );
    }

    #[test]
    fn guest_files_live_under_guest() {
        for (in_initrd, built) in GUEST_FILES {
            assert!(in_initrd.starts_with("guest/linux/"), "{in_initrd}");
            assert!(in_initrd.ends_with(built), "{in_initrd} vs {built}");
        }
    }
}
