//! The `vm` command: defines, starts, stops, kills, destroys and lists VMs and shows the
//! tail of their consoles through the kernel's VM calls (the console is `vmconsole`,
//! definition files `vmload`). Errors name what was wrong and change
//! nothing.

use super::report;
use super::shell::Shell;
use super::vmargs::{self, CreateArgs, VmCommand};
use super::vmconsole;
use super::vmdevices;
use super::vmload;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use keel_userland::abi::{self, Error, VmInfo};
use keel_userland::sys::{self, VmDefinition};
use keel_userland::{eprintln, print, println};

/// Runs `vm ARGS...`.
pub fn run(shell: &mut Shell, args: &[String]) {
    let command = match vmargs::parse(args) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("vm: {error}");
            return;
        }
    };
    match command {
        VmCommand::Help => print!("{}", vmargs::USAGE),
        VmCommand::Create(create_args) => {
            if let Err(why) = create(&create_args) {
                eprintln!("vm: {why}");
            }
        }
        VmCommand::Start(name) => match sys::vm_start(&name) {
            Ok(()) => println!("vm: {name} started; `vm console {name}` attaches to it (Ctrl-] detaches)"),
            Err(Error::NoMemory) => eprintln!("vm: cannot start {name}: {}{}", Error::NoMemory, memory_hint(&name)),
            Err(error) => refused("start", &name, error),
        },
        VmCommand::Stop(name) => {
            if act("stop", &name, sys::vm_stop) {
                println!("vm: asked {name} to power off");
            }
        }
        VmCommand::Kill(name) => {
            act("kill", &name, sys::vm_kill);
        }
        VmCommand::Destroy(name) => {
            act("destroy", &name, sys::vm_destroy);
        }
        VmCommand::List => match list() {
            Ok(vms) if vms.is_empty() => println!("no VMs (vm create NAME defines one)"),
            Ok(vms) => print!("{}", report::vm_list(&vms)),
            Err(error) => eprintln!("vm: {}", kernel_error("list the VMs", error)),
        },
        VmCommand::Console(name) => vmconsole::attach(shell, &name),
        VmCommand::Stats(name) => vmdevices::stats(&name),
        VmCommand::Tail(name) => tail(&name),
        VmCommand::Load(path) => vmload::load(&path),
        VmCommand::Disks => vmdevices::disks(),
        VmCommand::RemoveDisk(name) => vmdevices::remove_disk(&name),
    }
}

/// Why a start ran out of memory (`report::start_memory_hint`: the size it needs, what is
/// free, and whether that is free only in smaller pieces).
fn memory_hint(name: &str) -> String {
    match (find(name), sys::mem_stats()) {
        (Ok(Some(vm)), Ok(stats)) => super::report::start_memory_hint(vm.mem_bytes, stats.free_bytes),
        _ => String::new(),
    }
}

/// `vm tail NAME`: the kept end of its console output, from the first whole line.
fn tail(name: &str) {
    let mut buffer = vec![0u8; abi::VM_CONSOLE_TAIL_BYTES];
    let count = match sys::vm_console_tail(name, &mut buffer) {
        Ok(count) => count,
        Err(Error::NotFound) => return eprintln!("vm: no such VM: {name}"),
        Err(error) => return eprintln!("vm: {}", kernel_error(&format!("read the console of {name}"), error)),
    };
    let mut kept = &buffer[..count];
    if count == abi::VM_CONSOLE_TAIL_BYTES {
        // The buffer starts mid-line: from the next line on.
        if let Some(newline) = kept.iter().position(|&b| b == b'\n') {
            kept = &kept[newline + 1..];
        }
    }
    if kept.is_empty() {
        return println!("[{name} printed nothing in its latest run]");
    }
    let _ = sys::write_all(sys::STDOUT, kept);
    if kept.last() != Some(&b'\n') {
        println!();
    }
    if let Ok(Some(vm)) = find(name) {
        println!("[{name}: {}]", abi::vm_state_name(vm.state));
    }
}

/// Every VM, growing the buffer until all fit (a list that keeps growing is `TooBig`).
pub fn list() -> Result<Vec<VmInfo>, Error> {
    let mut vms = vec![VmInfo::default(); 16];
    for _ in 0..4 {
        let total = sys::vm_list(&mut vms)?;
        if total <= vms.len() {
            vms.truncate(total);
            return Ok(vms);
        }
        vms.resize(total.min(1024) + 16, VmInfo::default());
    }
    Err(Error::TooBig)
}

/// The VM named `name`, if there is one.
pub fn find(name: &str) -> Result<Option<VmInfo>, Error> {
    Ok(list()?.into_iter().find(|vm| vm.name() == name))
}

/// Calls `call(name)`; on failure says why and returns false.
fn act(verb: &str, name: &str, call: fn(&str) -> Result<(), Error>) -> bool {
    match call(name) {
        Ok(()) => true,
        Err(error) => {
            refused(verb, name, error);
            false
        }
    }
}

/// Says why `vm VERB NAME` was refused.
fn refused(verb: &str, name: &str, error: Error) {
    match error {
        Error::NotFound => eprintln!("vm: no such VM: {name}"),
        error => eprintln!("vm: {}{}", kernel_error(&format!("{verb} {name}"), error), state_hint(name)),
    }
}

/// `cannot WHAT: ERROR`, or that the kernel has no VM calls at all.
fn kernel_error(what: &str, error: Error) -> String {
    match error {
        Error::NoSuchCall => format!("cannot {what}: this kernel has no VM support ({error})"),
        _ => format!("cannot {what}: {error}"),
    }
}

/// ` (it is running)`: the VM's state, which usually explains a refusal; empty if unknown.
fn state_hint(name: &str) -> String {
    match find(name) {
        Ok(Some(vm)) if vm.state == abi::VM_RUNNING => " (it is running)".into(),
        Ok(Some(vm)) => format!(" (it is not running: {})", abi::vm_state_name(vm.state)),
        _ => String::new(),
    }
}

/// Defines a VM; on failure says why (after `vm: `) and leaves nothing behind.
pub fn create(args: &CreateArgs) -> Result<(), String> {
    let definition = VmDefinition {
        name: &args.name,
        kernel: &args.kernel,
        initrd: args.initrd.as_deref(),
        cmdline: &args.cmdline,
        mem_bytes: args.mem_bytes,
        vcpus: args.vcpus,
    };
    let what = format!("create {}", args.name);
    create_plain(args, &definition, &what)?;
    if args.net {
        // The NIC is a property of the defined VM: on failure the VM goes again, so a
        // refused `vm create` leaves nothing behind.
        if let Err(error) = sys::vm_net(&args.name, true) {
            let _ = sys::vm_destroy(&args.name);
            return Err(kernel_error(&format!("{what} with a network card"), error));
        }
    }
    Ok(())
}

/// Defines the VM without its NIC.
fn create_plain(args: &CreateArgs, definition: &VmDefinition<'_>, what: &str) -> Result<(), String> {
    let definition = *definition;
    let refused = |why: String| match bad_file(&definition) {
        Some((path, error)) => format!("cannot {what}: {path}: {error}"),
        None => match find(&args.name) {
            Ok(Some(_)) => format!("cannot {what}: a VM of that name exists"),
            _ => why,
        },
    };
    if !args.disks.is_empty() {
        return vmdevices::create(args, &definition).map_err(|why| refused(format!("cannot {what}: {why}")));
    }
    sys::vm_create(&definition).map_err(|error| match error {
        Error::NoMemory => format!("cannot {what}: {error}{}", usable_hint(args.mem_bytes)),
        error => refused(kernel_error(what, error)),
    })
}

/// `: it needs N MiB of RAM, the host has M MiB at most`: why a definition was too big.
fn usable_hint(mem_bytes: u64) -> String {
    match sys::mem_stats() {
        Ok(stats) => format!(
            ": it needs {} MiB of RAM, the host has {} MiB at most",
            mem_bytes >> 20,
            stats.usable_bytes >> 20
        ),
        Err(_) => String::new(),
    }
}

/// The kernel or initrd of a definition that `vm_create` refused, and why: missing, a
/// directory, or not a regular file.
fn bad_file<'a>(definition: &VmDefinition<'a>) -> Option<(&'a str, Error)> {
    let paths = core::iter::once(definition.kernel).chain(definition.initrd);
    for path in paths {
        match sys::stat(path) {
            Ok(stat) if stat.kind == abi::KIND_DIR => return Some((path, Error::IsADirectory)),
            Ok(stat) if stat.kind != abi::KIND_FILE => return Some((path, Error::InvalidArgument)),
            Ok(_) => {}
            Err(error) => return Some((path, error)),
        }
    }
    None
}
