//! The system-test cases with Linux guests: the default guest of the host initrd created,
//! booted and used through `vm console`, SMP guests on two CPU models, the host shell while
//! a guest boots, and the `vm` command's errors. They need the guest images in the initrd
//! and the kernel's VM calls; `cargo xtask systest --no-guests` leaves them out.

use super::expect::{Expect, PsCheck};
use super::{Case, Typing};
use crate::typing::Step::{Type, TypeAfter, WaitFor};
use std::time::Duration;

/// The guest's marker line (images/guest/init) and its shell's prompt.
const MARKER: &str = "keel-guest: up ";
const GUEST_PROMPT: &str = "guest# ";
/// Under TCG a guest takes 10-60 s to boot inside Keel; a case has this long in all.
const GUEST_TIMEOUT: &str = "300";

/// Types `text` at the guest's prompt.
const fn at_guest_prompt(text: &'static str) -> crate::typing::Step {
    TypeAfter {
        wait_for: GUEST_PROMPT,
        text,
    }
}

/// A guest with two vCPUs on a Keel of two CPUs started with more `run` options: both
/// vCPUs come online, then the guest powers itself off.
macro_rules! smp2_poweroff_case {
    ($name:literal, [$($option:literal),*]) => {
        Case {
            name: $name,
            args: &[$($option,)* "--smp", "2", "--timeout", GUEST_TIMEOUT],
            typing: Typing::Script(&[
                Type("vm create smp --vcpus 2\n"),
                Type("vm start smp\n"),
                Type("vm console smp\n"),
                at_guest_prompt("cat /sys/devices/system/cpu/online\n"),
                at_guest_prompt("grep -c ^processor /proc/cpuinfo\n"),
                at_guest_prompt("poweroff\n"),
                Type("vm list\n"),
                Type("poweroff\n"),
            ]),
            expect: &[
                Expect::Exit(0),
                Expect::Sequence(&[
                    "[attached to smp; Ctrl-] detaches]",
                    MARKER,
                    "cat /sys/devices/system/cpu/online",
                    "0-1",
                    "grep -c ^processor /proc/cpuinfo",
                    "2",
                    "[smp stopped: stopped]",
                ]),
                Expect::Count { line: "0-1", times: 1 },
                Expect::Count { line: "2", times: 1 },
                Expect::LineStartingWith {
                    prefix: "smp    stopped      2  256M       -",
                    contains: "",
                },
                Expect::NoLine("init: shell exited"),
            ],
        }
    };
}

pub const GUEST_CASES: &[Case] = &[
    // Issue 4's first acceptance: the default guest `linux` (defined at boot) boots to its
    // shell, `uname -a` and `/proc/interrupts` work, `poweroff` stops it and its memory comes
    // back.
    Case {
        name: "vm-linux-console",
        args: &["--timeout", GUEST_TIMEOUT],
        typing: Typing::Script(&[
            Type("vm list\n"),
            Type("mem\n"),
            Type("vm start linux\n"),
            Type("vm console linux\n"),
            at_guest_prompt("uname -a\n"),
            at_guest_prompt("cat /proc/interrupts\n"),
            at_guest_prompt("poweroff\n"),
            Type("vm list\n"),
            // A VM shows as stopped only once its memory is back: `mem` right away.
            Type("mem\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&[
                "keel> vm list",
                "linux  created      1  256M       -      0",
                "keel> vm start linux",
                "vm: linux started",
                "keel> vm console linux",
                "[attached to linux; Ctrl-] detaches]",
                MARKER,
                "uname -a",
                "Linux guest 6.",
                "cat /proc/interrupts",
                "arch_timer",
                "poweroff",
                "[linux stopped: stopped]",
                "keel> vm list",
                "keel> mem",
            ]),
            Expect::LineStartingWith {
                prefix: "Linux guest 6.",
                contains: " aarch64 ",
            },
            Expect::LineStartingWith {
                prefix: "linux  stopped      1  256M       -",
                contains: "",
            },
            Expect::MemoryBack {
                before: 0,
                after: 1,
                slack_mib: 1,
            },
            Expect::NoLine("init: shell exited"),
        ],
    },
    // While a guest boots, the host shell still answers; the escape key detaches, and what
    // follows it on the same line is the shell's; `vm stop` powers the guest off.
    Case {
        name: "vm-linux-host-responds",
        args: &["--timeout", GUEST_TIMEOUT],
        typing: Typing::Script(&[
            Type("vm start linux\n"),
            Type("ps\n"),
            Type("uptime\n"),
            Type("vm list\n"),
            Type("vm console linux\n"),
            TypeAfter {
                wait_for: MARKER,
                text: "\x1decho kept after the escape\n",
            },
            // Two prompts follow: after the detach, and after `echo`.
            WaitFor("echo kept after the escape"),
            Type("vm stop linux\n"),
            Type("vm console linux\n"),
            Type("vm list\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Responds {
                to: "ps",
                starting: "PID",
                within: Duration::from_secs(2),
            },
            Expect::Responds {
                to: "uptime",
                starting: "up ",
                within: Duration::from_secs(2),
            },
            Expect::Ps {
                table: 0,
                check: PsCheck::Kind("vcpu"),
            },
            Expect::LineStartingWith {
                prefix: "linux  running",
                contains: "256M",
            },
            // ps came before the guest's user space was shown to be up.
            Expect::Sequence(&["keel> ps", "keel> vm console linux", MARKER]),
            Expect::Sequence(&[MARKER, "[detached from linux]", "kept after the escape"]),
            Expect::Count {
                line: "kept after the escape",
                times: 1,
            },
            Expect::Sequence(&["keel> vm stop linux", "vm: asked linux to power off", "[linux stopped: stopped]"]),
            Expect::LineStartingWith {
                prefix: "linux  stopped",
                contains: "",
            },
            Expect::NoLine("init: shell exited"),
        ],
    },
    // The guest reboots itself: the VM boots again with fresh memory and stays attached;
    // then a kill from the host stops the busy guest at once.
    Case {
        name: "vm-linux-reboot-kill",
        args: &["--timeout", GUEST_TIMEOUT],
        typing: Typing::Script(&[
            Type("mem\n"),
            Type("vm start linux\n"),
            Type("vm console linux\n"),
            at_guest_prompt("echo first-boot; reboot\n"),
            // A fresh prompt once the new boot's shell is up.
            TypeAfter { wait_for: MARKER, text: "\n" },
            at_guest_prompt("echo second-boot\n"),
            TypeAfter {
                wait_for: "second-boot",
                text: "\x1d\n",
            },
            Type("vm list\n"),
            Type("vm kill linux\n"),
            Type("vm list\n"),
            Type("mem\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&["first-boot", MARKER, "second-boot", "[detached from linux]"]),
            Expect::Count {
                line: "[attached to linux; Ctrl-] detaches]",
                times: 1,
            },
            Expect::LineStartingWith {
                prefix: "linux  running",
                contains: "256M",
            },
            Expect::LineStartingWith {
                prefix: "linux  killed",
                contains: "",
            },
            Expect::MemoryBack {
                before: 0,
                after: 1,
                slack_mib: 1,
            },
        ],
    },
    // Two vCPUs on cortex-a76, with a quoted command line; killed from the host.
    Case {
        name: "vm-linux-smp2-cortex-a76",
        args: &["--cpu", "cortex-a76", "--smp", "2", "--timeout", GUEST_TIMEOUT],
        typing: Typing::Script(&[
            Type("vm create smp --vcpus 2 --mem 192M --cmdline \"console=ttyAMA0 earlycon=pl011,0x09000000 keel.ip=off\"\n"),
            Type("vm start smp\n"),
            Type("vm console smp\n"),
            at_guest_prompt("cat /sys/devices/system/cpu/online\n"),
            at_guest_prompt("grep -c ^processor /proc/cpuinfo\n"),
            at_guest_prompt("cat /proc/cmdline\n"),
            TypeAfter {
                wait_for: GUEST_PROMPT,
                text: "\x1d",
            },
            Type("vm list\n"),
            Type("vm kill smp\n"),
            Type("vm list\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&[
                "[attached to smp; Ctrl-] detaches]",
                MARKER,
                "cat /sys/devices/system/cpu/online",
                "0-1",
                "grep -c ^processor /proc/cpuinfo",
                "2",
                "console=ttyAMA0 earlycon=pl011,0x09000000 keel.ip=off",
                "[detached from smp]",
            ]),
            Expect::Count { line: "0-1", times: 1 },
            Expect::Count { line: "2", times: 1 },
            Expect::LineStartingWith {
                prefix: "smp    running      2  192M",
                contains: "",
            },
            Expect::LineStartingWith {
                prefix: "smp    killed       2  192M       -",
                contains: "",
            },
            Expect::NoLine("init: shell exited"),
        ],
    },
    // Two vCPUs on max (features Keel does not switch are hidden); the guest powers off.
    smp2_poweroff_case!("vm-linux-smp2-max", ["--cpu", "max"]),
    // The same with QEMU running Keel's two CPUs on one host thread in turn (`--tcg
    // single`): the vCPUs' kicks, IPIs and spinning must make progress without a host
    // thread per CPU.
    smp2_poweroff_case!("vm-linux-smp2-tcg-single", ["--tcg", "single"]),
    // Mistakes are named and change nothing.
    Case {
        name: "vm-errors",
        args: &[],
        typing: Typing::Script(&[
            Type("vm start nosuch\n"),
            Type("vm console nosuch\n"),
            Type("vm create x --mem 1Q\n"),
            Type("vm create y --kernel /nope\n"),
            Type("vm create z --initrd /nope.cpio.gz\n"),
            Type("vm create linux\n"),
            Type("vm list\n"),
            Type("vm console linux\n"),
            Type("vm kill linux\n"),
            Type("vm destroy linux\n"),
            Type("vm destroy linux\n"),
            Type("vm list\n"),
            Type("vm create linux --mem 129M\n"),
            Type("vm create linux --vcpus 9\n"),
            Type("vm frob\n"),
            Type("vm\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Count {
                line: "vm: no such VM: nosuch",
                times: 2,
            },
            Expect::Line("vm: --mem: not a size: 1Q"),
            Expect::Line("vm: cannot create y: /nope: not found"),
            Expect::Line("vm: cannot create z: /nope.cpio.gz: not found"),
            Expect::Line("vm: cannot create linux: a VM of that name exists"),
            // Only the default guest, untouched by the failed attempts.
            Expect::Sequence(&["keel> vm list", "NAME", "linux  created      1  256M       -      0", "keel> "]),
            Expect::NoLine("y      created"),
            Expect::NoLine("z      created"),
            Expect::Line("[linux is not running: created; vm start linux boots it]"),
            Expect::Line("vm: cannot kill linux: not permitted (it is not running: created)"),
            Expect::Sequence(&["keel> vm destroy linux", "keel> vm destroy linux", "vm: no such VM: linux"]),
            Expect::Line("no VMs (vm create NAME defines one)"),
            Expect::Line("vm: --mem: not a multiple of 2M: 129M"),
            Expect::Line("vm: --vcpus: not a number from 1 to 8: 9"),
            Expect::Line("vm: unknown command: frob (try vm help)"),
            Expect::LineStartingWith {
                prefix: "usage: vm create NAME",
                contains: "--cmdline STR",
            },
            Expect::NoLine("init: shell exited"),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::super::case_options;
    use super::*;

    #[test]
    fn guest_cases_parse_and_have_room() {
        for case in GUEST_CASES {
            let options = case_options(case).unwrap();
            assert!(options.mem.mib >= 1024, "{}: room for a guest", case.name);
            assert!(case.name.starts_with("vm-"), "{}", case.name);
        }
        let max = GUEST_CASES.iter().find(|c| c.name == "vm-linux-smp2-max").unwrap();
        assert_eq!(case_options(max).unwrap().cpu, "max");
    }
}
