//! Keel's host tool: `cargo xtask build|run|systest|bench`.

mod added;
mod bench;
mod bench_density;
mod bench_net;
mod console;
mod cpio;
mod cputime;
mod elf;
mod guest;
mod image;
mod options;
mod pstable;
mod qemu;
mod qmp;
mod runner;
mod session;
mod systest;
mod typing;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command> [options]

commands:
  build              build the kernel and the initrd: target/keel/Image and
                     target/keel/initrd.cpio (the user programs and, from
                     images/build-guest, the default Linux guest under /guest/linux;
                     KEEL_GUEST_IMAGES=auto|require|off, default auto: warn and leave
                     it out if it cannot be built)
  run [options]      build Keel and boot it under QEMU (see `cargo xtask run --help`)
  systest [options]  boot Keel under QEMU in the system-test cases and check its console
  bench [NAME...]    measure (banner: seconds from QEMU start to the banner; Image size)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match command.as_str() {
        "build" => image::build().map(|images| {
            println!("{}", images.kernel.display());
            println!("{}", images.initrd.display());
        }),
        "run" => return ExitCode::from(runner::command(rest)),
        "systest" => return ExitCode::from(systest::command(rest)),
        "bench" => return ExitCode::from(bench::command(rest)),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
