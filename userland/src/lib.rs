//! Keel's user-space runtime: program entry, system calls, console output, heap, panics.
//!
//! A program is a binary in `src/bin/` that names its `main(args: &[&str]) -> i32` with
//! [`program!`]. Keel enters it at `_start` with x0 = argc and x1 = an array of `argc`
//! [`abi::StrRef`]s; the runtime turns those into `&str`s (`args[0]` is the program's name),
//! calls `main` and exits with its result. Everything that talks to the kernel is built only
//! for Keel (`target_os = "none"`); on the host this crate holds just its pure parts, and a
//! program is a stub that says where it runs.
#![cfg_attr(not(test), no_std)]

#[cfg(target_os = "none")]
extern crate alloc;

pub use keel_abi as abi;

pub mod ending;

#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
#[doc(hidden)]
pub mod rt;
#[cfg(target_os = "none")]
pub mod sys;
#[cfg(target_os = "none")]
pub mod vmdev;

/// Declares a program: `keel_userland::program!(path::to::main)`, where `main` is a
/// `fn(&[&str]) -> i32`. For Keel this defines `_start`; on the host it defines a `main`
/// that explains the program runs under Keel and exits with 2.
#[macro_export]
macro_rules! program {
    ($main:path) => {
        #[cfg(target_os = "none")]
        #[unsafe(no_mangle)]
        extern "C" fn _start(argc: usize, argv: *const $crate::abi::StrRef) -> ! {
            $crate::rt::start(argc, argv, $main)
        }

        #[cfg(not(target_os = "none"))]
        fn main() {
            eprintln!("this is a Keel program: it runs under Keel (scripts/run), not on the host");
            std::process::exit(2);
        }
    };
}
