//! The built-in commands: help, ps, top, kill, mem, uptime, cpus, echo, jobs, the file commands
//! (ls, cat, cp, stat, cd, pwd, sum), vm, net, ping, poweroff, reboot.

use super::files;
use super::programs;
use super::report;
use super::shell::Shell;
use super::vm;
use super::words::Command;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use keel_userland::abi::{CpuInfo, Error, ThreadInfo};
use keel_userland::{eprintln, print, println, sys};

struct Builtin {
    name: &'static str,
    /// Arguments, for `help`.
    usage: &'static str,
    about: &'static str,
    run: fn(&mut Shell, &[String]),
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "help",
        usage: "",
        about: "this list",
        run: help,
    },
    Builtin {
        name: "ps",
        usage: "",
        about: "threads: processes, kernel threads, vCPUs",
        run: ps,
    },
    Builtin {
        name: "top",
        usage: " [-n COUNT] [-d SECONDS]",
        about: "threads and vCPUs by CPU use, every second until q or Ctrl-C (-n: COUNT times)",
        run: super::top::run,
    },
    Builtin {
        name: "kill",
        usage: " PID|%JOB...",
        about: "end processes",
        run: kill,
    },
    Builtin {
        name: "mem",
        usage: "",
        about: "memory use",
        run: mem,
    },
    Builtin {
        name: "uptime",
        usage: "",
        about: "time since boot and CPUs",
        run: uptime,
    },
    Builtin {
        name: "cpus",
        usage: "",
        about: "the CPUs and how busy they are",
        run: cpus,
    },
    Builtin {
        name: "echo",
        usage: " ARGS...",
        about: "print the arguments",
        run: echo,
    },
    Builtin {
        name: "jobs",
        usage: "",
        about: "background jobs that still run",
        run: jobs,
    },
    Builtin {
        name: "ls",
        usage: " [-l] [PATH...]",
        about: "list a directory (-l: mode and size)",
        run: files::ls,
    },
    Builtin {
        name: "cat",
        usage: " FILE...",
        about: "print files",
        run: files::cat,
    },
    Builtin {
        name: "cp",
        usage: " SRC DST",
        about: "copy a file (DST may be a directory)",
        run: files::cp,
    },
    Builtin {
        name: "stat",
        usage: " PATH...",
        about: "type, size, mode and time of files",
        run: files::stat,
    },
    Builtin {
        name: "cd",
        usage: " [DIR]",
        about: "change the current directory (/ without DIR)",
        run: files::cd,
    },
    Builtin {
        name: "pwd",
        usage: "",
        about: "print the current directory",
        run: files::pwd,
    },
    Builtin {
        name: "sum",
        usage: " FILE...",
        about: "CRC-32 and size of files, and the read speed",
        run: files::sum,
    },
    Builtin {
        name: "vm",
        usage: " COMMAND ...",
        about: "guests: create, start, console, list, stop, kill, destroy (vm help)",
        run: vm::run,
    },
    Builtin {
        name: "net",
        usage: " [forward add|del|list ...]",
        about: "network: interfaces, switch ports, forwards (net help)",
        run: super::net::net,
    },
    Builtin {
        name: "ping",
        usage: " HOST [COUNT]",
        about: "ICMP echo from Keel to an IPv4 address",
        run: super::net::ping,
    },
    Builtin {
        name: "poweroff",
        usage: "",
        about: "power the machine off",
        run: poweroff,
    },
    Builtin {
        name: "reboot",
        usage: "",
        about: "restart the machine",
        run: reboot,
    },
];

const HELP_FOOTER: &str = "\
PROGRAM [ARGS...] [&]  run /bin/PROGRAM (or a path with /); & runs it in the background
programs: spin [SECONDS], fault KIND, badptr, sysbench [CALLS]
guests: vm start linux, then vm console linux (Ctrl-] returns to the shell); vm list
files: / is the initrd (read-only), /host the directory shared with scripts/run --share

keys: Left/Right, Home/End (Ctrl-A/Ctrl-E), Backspace, Delete, Up/Down (history),
      Ctrl-U (delete to the start), Ctrl-C (abandon the line, or kill the running
      program), Ctrl-D (on an empty line: leave the shell; init starts a new one)
";

/// Runs `command` if it names a built-in; false if it does not.
pub fn run(shell: &mut Shell, command: &Command) -> bool {
    let name = command.words[0].as_str();
    let Some(builtin) = BUILTINS.iter().find(|builtin| builtin.name == name) else {
        return false;
    };
    if command.background {
        eprintln!("sh: {name} is built in; it cannot run in the background");
    } else {
        (builtin.run)(shell, &command.words[1..]);
    }
    true
}

/// Complains about arguments to a command that takes none; true if there are none.
fn no_arguments(name: &str, args: &[String]) -> bool {
    match args.first() {
        Some(extra) => {
            eprintln!("{name}: unexpected argument: {extra}");
            false
        }
        None => true,
    }
}

fn help(_shell: &mut Shell, args: &[String]) {
    if !no_arguments("help", args) {
        return;
    }
    let width = BUILTINS.iter().map(|b| b.name.len() + b.usage.len()).max().unwrap_or(0);
    for builtin in BUILTINS {
        let command = [builtin.name, builtin.usage].concat();
        println!("{command:<width$}  {}", builtin.about);
    }
    print!("{HELP_FOOTER}");
}

/// Fills a list from a `*_list` call, growing the buffer until everything fits.
fn list<T: Copy + Default>(what: &str, call: fn(&mut [T]) -> Result<usize, Error>) -> Option<Vec<T>> {
    let mut items = vec![T::default(); 64];
    for _ in 0..4 {
        match call(&mut items) {
            Ok(total) if total <= items.len() => {
                items.truncate(total);
                return Some(items);
            }
            Ok(total) => items.resize(total + 16, T::default()),
            Err(error) => {
                eprintln!("{what}: {error}");
                return None;
            }
        }
    }
    eprintln!("{what}: the list keeps growing");
    None
}

fn ps(_shell: &mut Shell, args: &[String]) {
    if no_arguments("ps", args) {
        if let Some(threads) = list::<ThreadInfo>("ps", sys::thread_list) {
            print!("{}", report::ps(&threads));
        }
    }
}

fn kill(shell: &mut Shell, args: &[String]) {
    if args.is_empty() {
        eprintln!("kill: usage: kill PID|%JOB...");
        return;
    }
    // Every argument must name a process before any is killed.
    let mut pids = Vec::with_capacity(args.len());
    for arg in args {
        match shell.jobs.target(arg) {
            Ok(pid) => pids.push(pid),
            Err(error) => {
                eprintln!("kill: {error}");
                return;
            }
        }
    }
    for pid in pids {
        match sys::kill(pid) {
            Ok(()) => {}
            Err(Error::NotFound) => eprintln!("kill: no such process: {pid}"),
            Err(error) => eprintln!("kill: cannot kill {pid}: {error}"),
        }
    }
}

fn mem(_shell: &mut Shell, args: &[String]) {
    if no_arguments("mem", args) {
        match sys::mem_stats() {
            Ok(stats) => print!("{}", report::mem(&stats)),
            Err(error) => eprintln!("mem: {error}"),
        }
    }
}

fn uptime(_shell: &mut Shell, args: &[String]) {
    if no_arguments("uptime", args) {
        let since_boot = sys::time();
        if let Some(cpus) = list::<CpuInfo>("uptime", sys::cpu_list) {
            let online = cpus.iter().filter(|cpu| cpu.online != 0).count();
            print!("{}", report::uptime(since_boot, online));
        }
    }
}

fn cpus(_shell: &mut Shell, args: &[String]) {
    if no_arguments("cpus", args) {
        if let Some(cpus) = list::<CpuInfo>("cpus", sys::cpu_list) {
            print!("{}", report::cpus(&cpus));
        }
    }
}

fn echo(_shell: &mut Shell, args: &[String]) {
    println!("{}", args.join(" "));
}

fn jobs(shell: &mut Shell, args: &[String]) {
    if no_arguments("jobs", args) {
        programs::report_finished_jobs(&mut shell.jobs);
        for job in shell.jobs.iter() {
            println!("[{}] {}  running  {}", job.number, job.pid, job.command);
        }
    }
}

fn poweroff(_shell: &mut Shell, args: &[String]) {
    if no_arguments("poweroff", args) {
        eprintln!("poweroff: {}", sys::poweroff());
    }
}

fn reboot(_shell: &mut Shell, args: &[String]) {
    if no_arguments("reboot", args) {
        eprintln!("reboot: {}", sys::reboot());
    }
}
