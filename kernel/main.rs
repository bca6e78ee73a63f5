//! The Keel kernel binary: everything lives in the `keel_kernel` library.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
use keel_kernel as _;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("keel: the kernel runs on aarch64-unknown-none under QEMU; use scripts/run");
    std::process::exit(2);
}
