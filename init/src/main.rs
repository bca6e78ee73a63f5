//! `init`, process 1: defines the VMs of the VM definition files, then runs the shell on
//! the console, restarts it when it ends, reaps orphans.
#![cfg_attr(target_os = "none", no_std, no_main)]

keel_userland::program!(init::main);

#[cfg(target_os = "none")]
mod init {
    use core::time::Duration;
    use keel_userland::abi::{Error, ANY_CHILD};
    use keel_userland::ending::Ending;
    use keel_userland::{eprintln, println, sys};

    const SHELL: &str = "/bin/sh";
    /// A shell that ends sooner than this after its start is restarted only after a pause
    /// of the same length, so a broken shell cannot keep the machine busy.
    const QUICK_END: Duration = Duration::from_secs(1);

    /// VM definition files loaded at boot, in this order, each with the command that loads
    /// it: the image's own, then one in the directory shared at `/host`, if there is one.
    const VM_DEFINITIONS: [(&str, &str); 2] = [
        ("/etc/vms.conf", "vm load /etc/vms.conf"),
        ("/host/vms.conf", "vm load /host/vms.conf"),
    ];

    pub fn main(_args: &[&str]) -> i32 {
        load_vm_definitions();
        loop {
            let started = sys::time();
            match sys::spawn(SHELL, &["sh"]) {
                Ok(shell) => match wait_for(shell) {
                    Ok(ending) => println!("init: shell exited ({ending}); restarting"),
                    Err(error) => eprintln!("init: lost the shell ({error}); restarting"),
                },
                Err(error) => eprintln!("init: cannot start {SHELL}: {error}"),
            }
            if sys::time().saturating_sub(started) < QUICK_END {
                sys::sleep(QUICK_END);
            }
        }
    }

    /// Has the shell define (and autostart) the VMs of each definition file there is; it
    /// reports bad lines itself and the boot goes on.
    fn load_vm_definitions() {
        for (path, command) in VM_DEFINITIONS {
            if sys::stat(path).is_err() {
                continue;
            }
            match sys::spawn(SHELL, &["sh", "-c", command]) {
                Ok(loader) => {
                    if let Err(error) = wait_for(loader) {
                        eprintln!("init: lost the shell loading {path}: {error}");
                    }
                }
                Err(error) => eprintln!("init: cannot start {SHELL} to load {path}: {error}"),
            }
        }
    }

    /// Reaps children until the shell is among them: orphans that init adopted end here too.
    fn wait_for(shell: u64) -> Result<Ending, Error> {
        loop {
            if let Some(status) = sys::wait(ANY_CHILD, false)? {
                if status.pid == shell {
                    return Ok(Ending::of(&status));
                }
            }
        }
    }
}
