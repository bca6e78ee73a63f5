//! The lifecycle cases: every way a guest's run ends has its outcome — a kernel panic leaves
//! the VM `crashed` with its last lines kept, a reboot boots it again with fresh memory,
//! thirty start/kill cycles leave memory, threads and VMIDs where they were, a VM too big
//! for the host is refused without harm, and the VM definition files define and autostart
//! VMs at boot (a malformed line named, the boot going on).

use super::expect::Expect;
use super::files::ShareCase;
use super::{Case, Typing};
use crate::typing::Step::{self, Pause, Type, TypeAfter, TypeNow, WaitFor};
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

/// The guest's marker line (images/guest/init) and its shell's prompt.
const MARKER: &str = "keel-guest: up ";
const GUEST_PROMPT: &str = "guest# ";
/// Ctrl-]: `vm console`'s escape.
const ESCAPE: &str = "\x1d";

const fn at_guest_prompt(text: &'static str) -> Step {
    TypeAfter {
        wait_for: GUEST_PROMPT,
        text,
    }
}

/// The cases without a shared directory.
pub fn cases() -> impl Iterator<Item = &'static Case> {
    LIFECYCLE_CASES.iter().chain(std::iter::once(&*CYCLES))
}

const LIFECYCLE_CASES: &[Case] = &[
    // A guest kernel panic (SysRq c): Linux restarts warm through PSCI SYSTEM_RESET2, which
    // Keel takes as a crash; the VM is `crashed`, its memory is back, `vm tail` shows its
    // last words even though `vm console` already read them, and it boots again.
    Case {
        name: "vm-lifecycle-panic",
        args: &["--timeout", "400"],
        typing: Typing::Script(&[
            Type("mem\n"),
            Type("vm start linux\n"),
            Type("vm console linux\n"),
            at_guest_prompt("cat /proc/cmdline\n"),
            at_guest_prompt("echo c > /proc/sysrq-trigger\n"),
            WaitFor("[linux stopped: crashed]"),
            Type("vm list\n"),
            Type("mem\n"),
            Type("vm tail linux\n"),
            Type("vm start linux\n"),
            Type("vm console linux\n"),
            at_guest_prompt("echo booted-after-the-crash\n"),
            TypeAfter {
                wait_for: "booted-after-the-crash",
                text: ESCAPE,
            },
            Type("vm kill linux\n"),
            Type("vm tail linux\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Line("panic=-1 reboot=panic_warm"),
            Expect::Sequence(&[
                "echo c > /proc/sysrq-trigger",
                "Kernel panic - not syncing: sysrq triggered crash",
                "keel: vm linux crashed: its kernel panicked (PSCI SYSTEM_RESET2)",
                "[linux stopped: crashed]",
                "keel> vm list",
                "linux  crashed",
                "keel> mem",
                "keel> vm tail linux",
                "Kernel panic - not syncing: sysrq triggered crash",
                "keel: vm linux crashed: its kernel panicked",
                "[linux: crashed]",
                "keel> vm start linux",
                "booted-after-the-crash",
                "keel> vm kill linux",
                "keel> vm tail linux",
                "[linux: killed]",
            ]),
            // The host's own log says so too.
            Expect::LineStartingWith {
                prefix: "[warn] ",
                contains: "vm linux crashed: its kernel panicked",
            },
            Expect::MemoryBack {
                before: 0,
                after: 1,
                slack_mib: 1,
            },
            Expect::NoLine("init: shell exited"),
        ],
    },
    // A panic on an SMP guest, from its second vCPU: the same outcome, and no vCPU thread
    // is left behind.
    Case {
        name: "vm-lifecycle-panic-smp",
        args: &["--smp", "2", "--timeout", "400"],
        typing: Typing::Script(&[
            Type("vm create smp --vcpus 2 --cmdline \"console=ttyAMA0 earlycon=pl011,0x09000000 keel.ip=off\"\n"),
            Type("vm start smp\n"),
            Type("vm console smp\n"),
            at_guest_prompt("cat /sys/devices/system/cpu/online\n"),
            at_guest_prompt("taskset 2 sh -c 'echo c > /proc/sysrq-trigger'\n"),
            WaitFor("[smp stopped: crashed]"),
            Type("vm list\n"),
            Type("ps\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&[
                "0-1",
                "Kernel panic - not syncing: sysrq triggered crash",
                "CPU: 1 PID:",
                "keel: vm smp crashed: its kernel panicked (PSCI SYSTEM_RESET2)",
                "[smp stopped: crashed]",
                "keel> vm list",
                "smp    crashed      2",
            ]),
            Expect::Ps {
                table: 0,
                check: super::expect::PsCheck::Lacks(&["vm-smp/0", "vm-smp/1"]),
            },
            Expect::NoLine("init: shell exited"),
        ],
    },
    // `vm stop` of a guest that ignores it (its SysRq keys are off): killed after the
    // 20 s grace, said on Keel's console, memory back.
    Case {
        name: "vm-lifecycle-stop-ignored",
        args: &["--timeout", "400"],
        typing: Typing::Script(&[
            Type("mem\n"),
            Type("vm start linux\n"),
            Type("vm console linux\n"),
            at_guest_prompt("echo 0 > /proc/sys/kernel/sysrq\n"),
            TypeAfter {
                wait_for: GUEST_PROMPT,
                text: ESCAPE,
            },
            Type("vm stop linux\n"),
            // The note comes after the shell's prompt: type at once.
            TypeAfter {
                wait_for: "did not power off within 20 s; killed",
                text: "vm list\n",
            },
            Type("mem\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&[
                "keel> vm stop linux",
                "vm: asked linux to power off",
                "vm linux: did not power off within 20 s; killed",
                "linux  killed",
            ]),
            Expect::MemoryBack {
                before: 0,
                after: 1,
                slack_mib: 1,
            },
            Expect::NoLine("init: shell exited"),
        ],
    },
    // The guest reboots itself: the VM boots again, and its RAM is fresh. The guest keeps
    // the top 64 MiB out of its own use (mem=192M of 256M) and writes a marker there through
    // /dev/mem; after the reboot the same address reads zero.
    Case {
        name: "vm-lifecycle-reboot-fresh",
        args: &["--timeout", "400"],
        typing: Typing::Script(&[
            Type("vm create fresh --cmdline \"console=ttyAMA0 earlycon=pl011,0x09000000 mem=192M keel.ip=off\"\n"),
            Type("vm start fresh\n"),
            Type("vm console fresh\n"),
            at_guest_prompt("devmem 0x4e000000 32 0x6b65656c; devmem 0x4e000000 32\n"),
            at_guest_prompt("reboot\n"),
            TypeAfter {
                wait_for: MARKER,
                text: "\n",
            },
            at_guest_prompt("devmem 0x4e000000 32\n"),
            at_guest_prompt("poweroff\n"),
            Type("vm list\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&[
                "devmem 0x4e000000 32 0x6b65656c",
                "0x6B65656C",
                "reboot",
                MARKER,
                "devmem 0x4e000000 32",
                "0x00000000",
                "[fresh stopped: stopped]",
            ]),
            Expect::Count {
                line: "0x6B65656C",
                times: 1,
            },
            Expect::Count {
                line: "[attached to fresh; Ctrl-] detaches]",
                times: 1,
            },
            Expect::NoLine("init: shell exited"),
        ],
    },
    // A VM bigger than the host's RAM is refused at `vm create`; one that fits the host but
    // not its free memory is refused at `vm start`. Both say how much is needed and what
    // the host has, and change nothing: once memory is free again, the second one starts.
    Case {
        name: "vm-lifecycle-too-big",
        args: &["--mem", "1G", "--timeout", "300"],
        typing: Typing::Script(&[
            Type("mem\n"),
            Type("vm create huge --mem 2G\n"),
            Type("vm create big --mem 700M\n"),
            Type("vm start linux\n"),
            Type("vm start big\n"),
            Type("vm list\n"),
            Type("ps\n"),
            Type("vm console linux\n"),
            TypeAfter {
                wait_for: MARKER,
                text: ESCAPE,
            },
            Type("vm kill linux\n"),
            Type("vm start big\n"),
            Type("vm kill big\n"),
            Type("vm destroy big\n"),
            Type("vm list\n"),
            Type("mem\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::LineStartingWith {
                prefix: "vm: cannot create huge: out of memory: it needs 2048 MiB of RAM, the host has ",
                contains: " MiB at most",
            },
            Expect::LineStartingWith {
                prefix: "vm: cannot start big: out of memory: it needs 700 MiB of RAM, the host has ",
                contains: " MiB free",
            },
            Expect::Sequence(&[
                "keel> vm list",
                "big    created      1  700M       -      0",
                "linux  running",
                "keel> vm console linux",
                MARKER,
                "[detached from linux]",
                "keel> vm start big",
                "vm: big started",
                "keel> vm kill big",
            ]),
            Expect::NoLine("huge   "),
            Expect::Ps {
                table: 0,
                check: super::expect::PsCheck::Lacks(&["vm-big/0"]),
            },
            Expect::MemoryBack {
                before: 0,
                after: 1,
                slack_mib: 1,
            },
            Expect::NoLine("init: shell exited"),
        ],
    },
];

/// How many start/kill cycles, and which of them boot the guest and keep it busy first.
const CYCLES_COUNT: usize = 30;
const BUSY_CYCLES: [usize; 3] = [1, 15, 30];

/// Thirty cycles of define, start, kill, destroy: most kill the guest right after it
/// started, three only once it has booted and spins in a shell loop. Free memory, the
/// threads in `ps` and the VMIDs end where they began; the VMID is handed out again.
static CYCLES: LazyLock<Case> = LazyLock::new(|| {
    let mut steps = vec![Type("mem\n"), Type("ps\n"), Type("vm list\n")];
    for cycle in 1..=CYCLES_COUNT {
        steps.push(Type(
            "vm create cyc --mem 128M --cmdline \"console=ttyAMA0 keel.ip=off\"\n",
        ));
        steps.push(Type("vm start cyc\n"));
        if BUSY_CYCLES.contains(&cycle) {
            steps.push(Type("vm console cyc\n"));
            // A busy guest: its shell spins for a while before the kill.
            steps.push(at_guest_prompt("while :; do :; done\n"));
            steps.push(WaitFor("while :; do :; done"));
            steps.push(Pause(Duration::from_secs(2)));
            steps.push(TypeNow(ESCAPE));
        }
        steps.push(Type("vm kill cyc\n"));
        if cycle == 1 || cycle == CYCLES_COUNT {
            steps.push(Type("vm list\n"));
        }
        steps.push(Type("vm destroy cyc\n"));
    }
    steps.extend([Type("vm list\n"), Type("mem\n"), Type("ps\n"), Type("poweroff\n")]);
    Case {
        name: "vm-lifecycle-cycles",
        args: &["--timeout", "900"],
        typing: Typing::Script(Box::leak(steps.into_boxed_slice())),
        expect: CYCLES_EXPECT,
    }
});

const CYCLES_EXPECT: &[Expect] = &[
    Expect::Exit(0),
    Expect::Count {
        line: "[detached from cyc]",
        times: BUSY_CYCLES.len(),
    },
    Expect::Count {
        line: "vm: cyc started; `vm console cyc` attaches to it (Ctrl-] detaches)",
        times: CYCLES_COUNT,
    },
    Expect::NoLine("vm: cannot"),
    Expect::VmId {
        table: 0,
        name: "linux",
        vmid: 1,
    },
    Expect::VmId {
        table: 1,
        name: "cyc",
        vmid: 2,
    },
    Expect::VmId {
        table: 2,
        name: "cyc",
        vmid: 2,
    },
    Expect::VmId {
        table: 3,
        name: "linux",
        vmid: 1,
    },
    Expect::MemoryBack {
        before: 0,
        after: 1,
        slack_mib: 1,
    },
    // Guest console buffers and VM records live on the heap: all of it goes with the VM.
    Expect::HeapBack {
        before: 0,
        after: 1,
        slack_kib: 8,
    },
    Expect::SameThreads { before: 0, after: 1 },
    Expect::NoLine("init: shell exited"),
];

/// The cases with a directory shared at `/host`.
pub const SHARE_CASES: &[ShareCase] = &[ShareCase {
    name: "vm-lifecycle-autostart",
    guest: true,
    prepare: prepare_autostart,
    check: |_| Ok(()),
}];

/// `/host/vms.conf`: one VM to autostart, one plain, and malformed lines.
const DEFINITIONS: &str = "\
# VMs for the autostart test
auto --mem 128M --cmdline \"console=ttyAMA0 earlycon=pl011,0x09000000 keel.ip=off\" --autostart
broken --mem 12Q
plain --mem 64M
auto --mem 64M
nokernel --kernel /nope --autostart
";

/// Keel boots with `/host/vms.conf`: the good lines define (and autostart) their VMs
/// besides the image's own `linux`, each bad one is named with its line, and the shell
/// comes up as always.
fn prepare_autostart(dir: &Path) -> Result<Case, String> {
    let path = dir.join("vms.conf");
    std::fs::write(&path, DEFINITIONS).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let share: &'static str = Box::leak(dir.display().to_string().into_boxed_str());
    let args: &'static [&'static str] = Box::leak(vec!["--share", share, "--timeout", "300"].into_boxed_slice());
    Ok(Case {
        name: "vm-lifecycle-autostart",
        args,
        typing: Typing::Script(&[
            Type("vm list\n"),
            Type("vm console auto\n"),
            TypeAfter {
                wait_for: MARKER,
                text: ESCAPE,
            },
            Type("vm kill auto\n"),
            Type("vm load /host/vms.conf\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&[
                "vm: auto started (/host/vms.conf:2 --autostart)",
                "vm: /host/vms.conf:3: --mem: not a size: 12Q",
                "vm: /host/vms.conf:5: auto is defined on line 2 already",
                "vm: /host/vms.conf:6: cannot create nokernel: /nope: not found",
                "keel> vm list",
                "auto   running",
                "linux  created",
                "plain  created      1   64M",
                "keel> vm console auto",
                MARKER,
                "[detached from auto]",
                "keel> vm load /host/vms.conf",
                "vm: /host/vms.conf:2: cannot create auto: a VM of that name exists",
            ]),
            Expect::NoLine("nokernel  "),
            Expect::NoLine("broken  "),
            Expect::NoLine("init: shell exited"),
        ],
    })
}
