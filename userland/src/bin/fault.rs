//! `fault KIND`: does one thing the kernel must kill a user process for, so the kernel's
//! one-line reason (`keel: pid N (fault) killed: …`) and the shell going on can be seen.
#![cfg_attr(target_os = "none", no_std, no_main)]

keel_userland::program!(fault::main);

#[cfg(target_os = "none")]
mod fault {
    use core::arch::asm;
    use keel_userland::eprintln;

    /// Mapped, writable, never executable memory to aim at.
    static mut DATA: [u64; 2] = [0; 2];

    const KINDS: &[(&str, &str, fn())] = &[
        ("null", "read address 0x8", read_null),
        ("write-text", "write to its own code", write_text),
        ("undefined", "run an undefined instruction (udf)", undefined),
        (
            "align",
            "exclusive load (ldxr) from an odd address",
            misaligned_exclusive,
        ),
        ("jump", "branch to data, which is not executable", jump_to_data),
    ];

    pub fn main(args: &[&str]) -> i32 {
        let kind = match args {
            [_, kind] => *kind,
            _ => return usage(),
        };
        let Some((_, _, provoke)) = KINDS.iter().find(|(name, _, _)| *name == kind) else {
            eprintln!("fault: unknown kind: {kind}");
            return usage();
        };
        provoke();
        eprintln!("fault: {kind}: still alive; the kernel should have killed this process");
        1
    }

    fn usage() -> i32 {
        eprintln!("usage: fault KIND, where KIND is one of:");
        for (name, what, _) in KINDS {
            eprintln!("  {name:<10}  {what}");
        }
        2
    }

    fn read_null() {
        // SAFETY: a load from 0x8, which is never mapped: the kernel ends the process here.
        // Were it mapped, the load would only put a value in a scratch register.
        unsafe {
            asm!("ldr {value}, [{address}]", address = in(reg) 8u64, value = out(reg) _, options(nostack, readonly))
        };
    }

    fn write_text() {
        let code = write_text as *const () as usize;
        // SAFETY: a store to this function's first instruction, in a read-only, executable
        // page: the kernel ends the process here. Were the page writable, the instruction
        // overwritten has already run and runs no more.
        unsafe { asm!("str wzr, [{address}]", address = in(reg) code, options(nostack)) };
    }

    fn undefined() {
        // SAFETY: `udf` always raises an undefined-instruction exception; the kernel ends the
        // process here.
        unsafe { asm!("udf #0", options(nostack, nomem)) };
    }

    fn misaligned_exclusive() {
        let odd = (&raw const DATA) as usize + 1;
        // SAFETY: an exclusive load from an odd address always takes an alignment fault
        // (whatever SCTLR.A says); the kernel ends the process here. Were it to succeed, it
        // would only read DATA into a scratch register.
        unsafe {
            asm!("ldxr {value}, [{address}]", address = in(reg) odd, value = out(reg) _, options(nostack, readonly))
        };
    }

    fn jump_to_data() {
        let data = (&raw const DATA) as usize;
        // SAFETY: DATA lies in a mapped page that is never executable, so fetching the first
        // instruction there faults and the kernel ends the process; nothing returns here.
        unsafe { asm!("br {target}", target = in(reg) data, options(noreturn, nostack)) };
    }
}
