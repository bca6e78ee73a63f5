//! `badptr`: calls write, read, spawn, wait, thread_list, mem_stats, cpu_list and the file
//! calls (open, stat, fstat, readdir, chdir, getcwd, read of a file) with bad pointers (null, kernel addresses, unmapped or read-only memory, ranges running off the
//! end of the program or wrapping around) and checks the kernel refuses every one.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

keel_userland::program!(badptr::main);

#[cfg(target_os = "none")]
mod badptr {
    use alloc::vec::Vec;
    use core::time::Duration;
    use keel_userland::abi::{call, decode, Error, StrRef};
    use keel_userland::{eprintln, println, sys};

    /// The kernel's linear map and its image: mapped for the kernel, never for us.
    const KERNEL_MAP: u64 = 0xffff_ff80_0000_0000;
    const KERNEL_IMAGE: u64 = 0xffff_ffff_c000_0000;
    /// Below the program (linked at 0x40_0000); nothing is mapped there.
    const UNMAPPED: u64 = 0x1000;
    /// Above the 39-bit user half.
    const PAST_USER_SPACE: u64 = 1 << 47;
    /// The last bytes before the top of the address space: a range from here wraps around.
    const WRAPPING: u64 = u64::MAX - 7;
    /// How long a wrongly accepted `read` may wait for input.
    const READ_TIMEOUT: Duration = Duration::from_millis(10);

    unsafe extern "C" {
        /// The end of the program's memory (user.ld): the page after it is unmapped.
        static __image_end: u8;
    }

    /// user.ld puts `.bss_tail` last, so the bytes right before `__image_end` are this or
    /// alignment padding: a probe whose range runs off the end starts in memory nothing
    /// else uses.
    #[unsafe(link_section = ".bss_tail")]
    static mut TAIL: [u8; 64] = [0; 64];

    static SPIN: &str = "/bin/spin";
    static INIT: &str = "/init";
    static ROOT: &str = "/";
    static NOT_UTF8: [u8; 2] = [0xff, 0xfe];
    /// `spin 0`, which ends at once, should a spawn probe be wrongly accepted.
    static ARG_SPIN: &str = "spin";
    static ARG_ZERO: &str = "0";
    static KERNEL_ARGV: [StrRef; 1] = [StrRef {
        ptr: KERNEL_MAP,
        len: 4,
    }];
    static UNMAPPED_ARGV: [StrRef; 1] = [StrRef { ptr: UNMAPPED, len: 4 }];

    /// One call with a bad pointer, and the answers that count as right.
    struct Probe {
        call: &'static str,
        what: &'static str,
        number: u64,
        args: [u64; 6],
        expect: &'static [Error],
    }

    const BAD_ADDRESS: &[Error] = &[Error::BadAddress];

    fn probe(call: &'static str, what: &'static str, number: u64, args: [u64; 6]) -> Probe {
        Probe {
            call,
            what,
            number,
            args,
            expect: BAD_ADDRESS,
        }
    }

    /// The end of the program's memory, once it is checked that the 16 bytes before it
    /// belong to TAIL or the padding after it.
    fn checked_end() -> Option<u64> {
        let end = (&raw const __image_end) as u64;
        let tail = (&raw const TAIL) as u64;
        (tail <= end - 16 && end - tail < 4096 + 64).then_some(end)
    }

    fn probes(end: u64, child: u64, good_argv: &[StrRef]) -> Vec<Probe> {
        let code = main as *const () as u64;
        let rodata = NOT_UTF8.as_ptr() as u64;
        let path = SPIN.as_ptr() as u64;
        let path_len = SPIN.len() as u64;
        let argv = good_argv.as_ptr() as u64;
        let argc = good_argv.len() as u64;
        let timeout = READ_TIMEOUT.as_nanos() as u64;
        let mut probes = Vec::new();
        for (what, ptr, len) in [
            ("a null pointer", 0, 16),
            ("a kernel address", KERNEL_MAP, 16),
            ("the kernel image", KERNEL_IMAGE, 16),
            ("an unmapped address", UNMAPPED, 16),
            ("an address past user space", PAST_USER_SPACE, 16),
            ("a length running off the end", end - 16, 4096),
            ("a range that wraps around", WRAPPING, 16),
        ] {
            probes.push(probe("write", what, call::WRITE, [1, ptr, len, 0, 0, 0]));
        }
        for (what, ptr, len) in [
            ("a null pointer", 0, 16),
            ("a kernel address", KERNEL_MAP, 16),
            ("an unmapped address", UNMAPPED, 16),
            ("its own code", code, 16),
            ("read-only data", rodata, 2),
            ("a length running off the end", end - 16, 4096),
            ("a range that wraps around", WRAPPING, 16),
        ] {
            probes.push(probe("read", what, call::READ, [0, ptr, len, timeout, 0, 0]));
        }
        for (what, args) in [
            ("a null path", [0, path_len, argv, argc, 0, 0]),
            ("a kernel path", [KERNEL_MAP, path_len, argv, argc, 0, 0]),
            ("a path running off the end", [end - 4, 64, argv, argc, 0, 0]),
            ("a null argv", [path, path_len, 0, argc, 0, 0]),
            ("a kernel argv", [path, path_len, KERNEL_MAP, argc, 0, 0]),
            (
                "an argument in kernel memory",
                [path, path_len, KERNEL_ARGV.as_ptr() as u64, 1, 0, 0],
            ),
            (
                "an unmapped argument",
                [path, path_len, UNMAPPED_ARGV.as_ptr() as u64, 1, 0, 0],
            ),
        ] {
            probes.push(probe("spawn", what, call::SPAWN, args));
        }
        probes.push(Probe {
            call: "spawn",
            what: "a path that is not UTF-8",
            number: call::SPAWN,
            args: [rodata, NOT_UTF8.len() as u64, argv, argc, 0, 0],
            expect: &[Error::InvalidArgument],
        });
        for (what, ptr) in [
            ("a kernel address", KERNEL_MAP),
            ("an unmapped address", UNMAPPED),
            ("its own code", code),
            ("a status running off the end", end - 8),
        ] {
            probes.push(probe("wait", what, call::WAIT, [child, ptr, 0, 0, 0, 0]));
        }
        for (name, number) in [
            ("thread_list", call::THREAD_LIST),
            ("mem_stats", call::MEM_STATS),
            ("cpu_list", call::CPU_LIST),
        ] {
            for (what, ptr) in [
                ("a null pointer", 0),
                ("a kernel address", KERNEL_MAP),
                ("its own code", code),
                ("a buffer running off the end", end - 16),
            ] {
                probes.push(probe(name, what, number, [ptr, 8, 0, 0, 0, 0]));
            }
        }
        for (what, ptr, len) in [
            ("a null name", 0, 5),
            ("a kernel name", KERNEL_MAP, 5),
            ("a name running off the end", end - 4, 16),
        ] {
            // No output buffer: only the name is read.
            probes.push(probe("vm_vcpu_stats", what, call::VM_VCPU_STATS, [ptr, len, 0, 0, 0, 0]));
        }
        file_probes(&mut probes, end, code);
        probes
    }

    /// The file calls: bad paths, and bad buffers for a good path or descriptor.
    fn file_probes(probes: &mut Vec<Probe>, end: u64, code: u64) {
        let init = INIT.as_ptr() as u64;
        let init_len = INIT.len() as u64;
        for (what, ptr, len) in [
            ("a null path", 0, 5),
            ("a kernel path", KERNEL_MAP, 5),
            ("a path running off the end", end - 4, 64),
        ] {
            probes.push(probe("open", what, call::OPEN, [ptr, len, 1, 0, 0, 0]));
            probes.push(probe("chdir", what, call::CHDIR, [ptr, len, 0, 0, 0, 0]));
        }
        for (what, ptr) in [
            ("a null pointer", 0),
            ("a kernel address", KERNEL_MAP),
            ("its own code", code),
            ("a buffer running off the end", end - 8),
        ] {
            probes.push(probe("stat", what, call::STAT, [init, init_len, ptr, 0, 0, 0]));
            probes.push(probe("getcwd", what, call::GETCWD, [ptr, 64, 0, 0, 0, 0]));
        }
        probes.push(probe("stat", "a kernel path", call::STAT, [KERNEL_MAP, 5, end - 4096, 0, 0, 0]));
        // Descriptors of a file and a directory for the calls that take one.
        let (Ok(file), Ok(dir)) = (sys::open(INIT, 1), sys::open(ROOT, 1)) else {
            eprintln!("badptr: cannot open {INIT} and {ROOT} for the descriptor probes");
            return;
        };
        for (what, ptr) in [("a kernel address", KERNEL_MAP), ("its own code", code), ("a buffer running off the end", end - 8)] {
            probes.push(probe("read of a file", what, call::READ, [file, ptr, 64, 0, 0, 0]));
            probes.push(probe("fstat", what, call::FSTAT, [file, ptr, 0, 0, 0, 0]));
            probes.push(probe("readdir", what, call::READDIR, [dir, ptr, 4, 0, 0, 0]));
        }
    }

    pub fn main(_args: &[&str]) -> i32 {
        let Some(end) = checked_end() else {
            eprintln!("badptr: .bss_tail is not at the end of the program (see userland/user.ld)");
            return 1;
        };
        let good_argv = [ARG_SPIN, ARG_ZERO].map(|arg| StrRef {
            ptr: arg.as_ptr() as u64,
            len: arg.len() as u64,
        });
        // A child that ends at once, for the wait probes to name.
        let child = match sys::spawn(SPIN, &[ARG_SPIN, ARG_ZERO]) {
            Ok(pid) => pid,
            Err(error) => {
                eprintln!("badptr: cannot start {SPIN} for the wait probes: {error}");
                return 1;
            }
        };
        let probes = probes(end, child, &good_argv);
        let (mut refused, mut accepted, mut wrong) = (0, 0, 0);
        for probe in &probes {
            // SAFETY: every pointer a probe hands the kernel to write through is unmapped,
            // kernel memory, read-only memory, or starts in TAIL or the padding after it
            // (which nothing reads); what the kernel reads is unmapped, kernel memory, or
            // initialised statics and `good_argv`, alive for the call.
            let answer = decode(unsafe { sys::raw(probe.number, probe.args) });
            match answer {
                Err(error) if probe.expect.contains(&error) => refused += 1,
                Err(error) => {
                    refused += 1;
                    wrong += 1;
                    eprintln!(
                        "badptr: {} with {}: answered \"{error}\", expected \"{}\"",
                        probe.call, probe.what, probe.expect[0]
                    );
                }
                Ok(value) => {
                    accepted += 1;
                    println!(
                        "badptr: {} with {} was accepted (answered {value})",
                        probe.call, probe.what
                    );
                    if probe.number == call::SPAWN {
                        let _ = sys::kill(value);
                        let _ = sys::wait(value, false);
                    }
                }
            }
        }
        // The child may already be reaped (by a wait that failed late); either is fine.
        let _ = sys::wait(child, false);
        println!("badptr: {refused} calls refused, {accepted} accepted");
        if accepted == 0 && wrong == 0 {
            0
        } else {
            1
        }
    }
}
