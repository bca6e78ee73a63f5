//! Start and end of a program: `_start`'s Rust half and the panic handler.

use crate::abi::StrRef;
use crate::sys;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

/// The program's name (the last part of `args[0]`), for panic messages.
static NAME: spin::Once<&'static str> = spin::Once::new();

/// Exit code of a program that panicked.
pub const PANIC_EXIT_CODE: i32 = 101;

/// Called by the `_start` that [`crate::program!`] defines: collects the arguments, runs
/// `main`, exits with its code.
pub fn start(argc: usize, argv: *const StrRef, main: fn(&[&str]) -> i32) -> ! {
    let args = arguments(argc, argv);
    let name = args
        .first()
        .map_or("program", |arg0| arg0.rsplit('/').next().unwrap_or(arg0));
    NAME.call_once(|| name);
    let code = main(&args);
    sys::exit(code)
}

/// The arguments the kernel placed on the stack, as text (bytes that are not UTF-8, which
/// the kernel does not pass, would show as `?`).
fn arguments(argc: usize, argv: *const StrRef) -> Vec<&'static str> {
    if argc == 0 || argv.is_null() {
        return Vec::new();
    }
    // SAFETY: Keel's entry contract: x1 points at `argc` StrRefs in this process's memory,
    // above the initial stack pointer, where nothing else ever writes.
    let refs = unsafe { core::slice::from_raw_parts(argv, argc) };
    refs.iter()
        .map(|arg| {
            // SAFETY: as above: each StrRef names `len` bytes the kernel copied above the
            // initial stack pointer, untouched for the rest of the program.
            let bytes = unsafe { core::slice::from_raw_parts(arg.ptr as *const u8, arg.len as usize) };
            core::str::from_utf8(bytes).unwrap_or("?")
        })
        .collect()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    static PANICKING: AtomicBool = AtomicBool::new(false);
    if !PANICKING.swap(true, Ordering::Relaxed) {
        let name = NAME.get().copied().unwrap_or("program");
        match info.location() {
            Some(at) => crate::eprintln!("{name}: panic: {} ({}:{})", info.message(), at.file(), at.line()),
            None => crate::eprintln!("{name}: panic: {}", info.message()),
        }
    }
    sys::exit(PANIC_EXIT_CODE)
}
