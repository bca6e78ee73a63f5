//! The hostile-guest case: the bare-metal hostile guest (every probe at EL1) and a Linux
//! guest running `hostile-linux` as root, while a third guest and the host shell go on.

use super::expect::{Expect, PsCheck};
use super::{Case, Typing};
use crate::typing::Step::{Type, TypeAfter};

/// The Linux guest's marker line (images/guest/init) and its shell's prompt.
const GUEST_PROMPT: &str = "guest# ";
/// The hostile guest's last line.
const HOSTILE_DONE: &str = "hostile: done";

/// Kinds of guest error the bare-metal guest provokes on every CPU model (`hidden-feature`
/// only where the CPU has the hidden feature, e.g. SVE on `max`).
const PROVOKED: &[&str] = &[
    "outside-memory",
    "device-refused",
    "no-syndrome",
    "fetch-outside-ram",
    "undefined-sysreg",
    "unknown-call",
    "psci-refused",
];

/// Kinds `hostile-linux` provokes from Linux user space.
const PROVOKED_FROM_LINUX: &[&str] = &["outside-memory", "device-refused"];

/// The `guest errors:` line that `vm stats h` printed counts every provoked kind.
fn counters_show_the_errors(lines: &[&str]) -> Result<(), String> {
    counts_after(lines, "keel> vm stats h", PROVOKED)
}

/// The same for `vm stats bad` and what hostile-linux provokes.
fn linux_counters_show_the_errors(lines: &[&str]) -> Result<(), String> {
    counts_after(lines, "keel> vm stats bad", PROVOKED_FROM_LINUX)
}

/// The first `guest errors:` line after the line ending in `command` has a count above 0
/// of each of `kinds`.
fn counts_after(lines: &[&str], command: &str, kinds: &[&str]) -> Result<(), String> {
    let after = lines
        .iter()
        .position(|line| line.ends_with(command))
        .ok_or_else(|| format!("`{command}` was not typed"))?;
    let line = lines[after..]
        .iter()
        .find(|line| line.starts_with("guest errors: "))
        .ok_or_else(|| format!("no `guest errors:` line after `{command}`"))?;
    for kind in kinds {
        let count = line
            .split(['(', ',', ')'])
            .find_map(|part| part.trim().strip_prefix(kind)?.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("`{line}` has no count of {kind}"))?;
        if count == 0 {
            return Err(format!("`{line}`: no {kind}"));
        }
    }
    Ok(())
}

/// Keel logged each kind of guest error at most once for the hostile guest.
fn one_log_line_per_kind(lines: &[&str]) -> Result<(), String> {
    for kind in PROVOKED {
        let needle = format!("vm h: guest error {kind}:");
        match lines.iter().filter(|line| line.contains(&needle)).count() {
            1 => {}
            seen => return Err(format!("{seen} log lines contain `{needle}`, expected 1")),
        }
    }
    Ok(())
}

pub const HOSTILE_CASES: &[Case] = &[
    // The bare-metal hostile guest `h` runs every probe; then `bad`, a Linux guest, runs
    // hostile-linux as root; `good`, booted alongside, still answers at the end, and the
    // host shell answers throughout. Each probe must end in the error a guest should see,
    // the counters show the errors, Keel logs each kind once (with keel.log=info), and
    // no VM crashes.
    Case {
        name: "vm-hostile",
        args: &["--timeout", "480", "--append", "keel.log=info"],
        typing: Typing::Script(&[
            Type("vm create h --kernel /guest/hostile/hostile.bin --initrd '' --mem 32M\n"),
            Type("vm create bad --mem 192M --cmdline \"console=ttyAMA0 keel.ip=off iomem=relaxed\"\n"),
            Type("vm create good --mem 192M --cmdline \"console=ttyAMA0 keel.ip=off\"\n"),
            Type("vm start good\n"),
            Type("vm start h\n"),
            Type("vm start bad\n"),
            // While h runs its probes.
            Type("ps\n"),
            Type("vm console h\n"),
            TypeAfter {
                wait_for: HOSTILE_DONE,
                text: "\x1d",
            },
            Type("ps\n"),
            Type("vm stats h\n"),
            Type("vm console bad\n"),
            TypeAfter {
                wait_for: GUEST_PROMPT,
                text: "hostile-linux\n",
            },
            TypeAfter {
                wait_for: "hostile-linux: summary:",
                text: "echo bad-alive-$((2+3))\n",
            },
            TypeAfter {
                wait_for: "bad-alive-5",
                text: "\x1d",
            },
            Type("vm stats bad\n"),
            Type("vm console good\n"),
            TypeAfter {
                wait_for: GUEST_PROMPT,
                text: "head -c 16 /dev/hwrng | wc -c\n",
            },
            TypeAfter {
                wait_for: GUEST_PROMPT,
                text: "echo good-alive-$((3+4))\n",
            },
            TypeAfter {
                wait_for: "good-alive-7",
                text: "\x1d",
            },
            Type("vm list\n"),
            Type("vm kill h\n"),
            Type("vm kill bad\n"),
            Type("vm kill good\n"),
            Type("ps\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&[
                "[attached to h; Ctrl-] detaches]",
                "hostile: start (EL1, MMU off)",
                "hostile: sweep GIC distributor",
                "hostile: sweep virtio-mmio",
                "hostile: virtio-rng after the sweeps",
                "hostile: summary:",
                HOSTILE_DONE,
                "keel> ps",
                "vm-h/0",
                "keel> vm stats h",
                "guest errors: ",
                "[attached to bad; Ctrl-] detaches]",
                "hostile-linux: read 0x0c000000: SIGBUS: ok",
                "hostile-linux: summary:",
                "bad-alive-5",
                "keel> vm stats bad",
                "guest errors: ",
                "[attached to good; Ctrl-] detaches]",
                "head -c 16 /dev/hwrng | wc -c",
                "16",
                "good-alive-7",
                "keel> vm list",
            ]),
            Expect::LineStartingWith {
                prefix: "hostile: summary:",
                contains: ", 0 unexpected",
            },
            Expect::LineStartingWith {
                prefix: "hostile-linux: summary:",
                contains: ", 0 unexpected",
            },
            Expect::NoLine("UNEXPECTED"),
            Expect::NoLine("crashed"),
            Expect::NoLine("hostile: panic"),
            Expect::Custom {
                what: "vm stats h",
                check: counters_show_the_errors,
            },
            Expect::Custom {
                what: "vm stats bad",
                check: linux_counters_show_the_errors,
            },
            Expect::Custom {
                what: "the log",
                check: one_log_line_per_kind,
            },
            // No flood: at most one line per kind of guest error and per virtio device.
            Expect::AtMost {
                text: "vm h: guest error",
                times: 8,
            },
            Expect::AtMost {
                text: "vm bad: guest error",
                times: 8,
            },
            Expect::AtMost {
                text: "vm h: virtio",
                times: 2,
            },
            // A well-behaved Linux guest provokes no error at all.
            Expect::NoLine("vm good: guest error"),
            Expect::LineStartingWith {
                prefix: "h      running",
                contains: "",
            },
            Expect::LineStartingWith {
                prefix: "good   running",
                contains: "",
            },
            Expect::Ps {
                table: 0,
                check: PsCheck::Shows(&["vm-h/0", "vm-good/0", "vm-bad/0"]),
            },
            Expect::Ps {
                table: 1,
                check: PsCheck::Kind("vcpu"),
            },
            Expect::Ps {
                table: 2,
                check: PsCheck::Lacks(&["vm-h/0", "vm-bad/0", "vm-good/0"]),
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
    fn the_case_parses_and_has_room_for_three_guests() {
        for case in HOSTILE_CASES {
            let options = case_options(case).unwrap();
            assert!(options.mem.mib >= 1024, "{}", case.name);
            assert!(case.name.starts_with("vm-"), "{}", case.name);
        }
    }

    #[test]
    fn counters_and_log_checks_fail_on_what_they_guard() {
        let line = "guest errors: 9 (outside-memory 1, device-refused 1, no-syndrome 1, fetch-outside-ram 1, \
                    undefined-sysreg 1, hidden-feature 0, unknown-call 3, psci-refused 1)";
        assert_eq!(counters_show_the_errors(&["keel> vm stats h", line]), Ok(()));
        let zero = line.replace("no-syndrome 1", "no-syndrome 0");
        assert!(counters_show_the_errors(&["keel> vm stats h", &zero])
            .unwrap_err()
            .contains("no no-syndrome"));
        assert!(counters_show_the_errors(&[line]).is_err(), "not after the command");
        assert!(counters_show_the_errors(&["keel> vm stats h", "guest errors: 0"]).is_err());
        assert_eq!(linux_counters_show_the_errors(&["keel> vm stats bad", line]), Ok(()));
        assert!(linux_counters_show_the_errors(&["keel> vm stats h", line]).is_err());
        let logs: Vec<String> = PROVOKED
            .iter()
            .map(|kind| format!("[info] vm h: guest error {kind}: x"))
            .collect();
        let mut lines: Vec<&str> = logs.iter().map(String::as_str).collect();
        assert_eq!(one_log_line_per_kind(&lines), Ok(()));
        lines.push(logs[0].as_str());
        assert!(one_log_line_per_kind(&lines).unwrap_err().contains("2 log lines"));
        assert!(one_log_line_per_kind(&lines[1..2]).is_err(), "a kind not logged");
    }
}
