//! The system-test cases: boots on each CPU model, self-tests, refusals, shell sessions.

use super::expect::{Expect, PsCheck};
use super::{Case, Typing};
use crate::console::{CONTAINED_SUFFIX, PROMPT};
use crate::runner;
use crate::typing::Step::{Pause, Type, TypeNow};
use std::time::Duration;

const BOOTS_CLEANLY: Expect = Expect::Exit(0);
const POWERS_OFF: Expect = Expect::Line("keel: power off");
/// The shell came up: a line starts with its prompt.
const SHELL_UP: Expect = Expect::LineStartingWith {
    prefix: PROMPT,
    contains: "",
};
/// init never had to start the shell again.
const SHELL_SURVIVED: Expect = Expect::NoLine("init: shell exited");

macro_rules! boot_case {
    ($name:literal, $cpu:literal, $smp:literal, $model:literal, $cpus:literal) => {
        Case {
            name: $name,
            args: &["--cpu", $cpu, "--smp", $smp],
            typing: Typing::AtOnce(""),
            expect: &[
                BOOTS_CLEANLY,
                Expect::Banner {
                    model: $model,
                    cpus: $cpus,
                },
                SHELL_UP,
                Expect::Sequence(&["keel: EL2 VHE", "keel: power button", "keel: power off"]),
            ],
        }
    };
}

/// The self-tests on `$cpus` cortex-a76 CPUs, with more `run` options.
macro_rules! selftest_case {
    ($name:literal, $cpus:literal, [$($option:literal),*]) => {
        Case {
            name: $name,
            args: &["--smp", stringify!($cpus), $($option,)* "--append", "keel.selftest"],
            typing: Typing::AtOnce(""),
            expect: &[
                BOOTS_CLEANLY,
                Expect::Banner {
                    model: "cortex-a76",
                    cpus: $cpus,
                },
                Expect::SelftestsPass { at_least: 4 },
                // The deliberate fault's crash report, caught in a sacrificial context.
                Expect::LineStartingWith {
                    prefix: "keel: CRASH ",
                    contains: CONTAINED_SUFFIX,
                },
                POWERS_OFF,
            ],
        }
    };
}

pub const CASES: &[Case] = &[
    boot_case!("boot-cortex-a76-x1", "cortex-a76", "1", "cortex-a76", 1),
    boot_case!("boot-cortex-a76-x4", "cortex-a76", "4", "cortex-a76", 4),
    boot_case!("boot-neoverse-n1-x1", "neoverse-n1", "1", "neoverse-n1", 1),
    boot_case!("boot-neoverse-n1-x4", "neoverse-n1", "4", "neoverse-n1", 4),
    boot_case!("boot-max-x1", "max", "1", "max", 1),
    boot_case!("boot-max-x4", "max", "4", "max", 4),
    selftest_case!("selftest-x4", 4, []),
    // The self-tests with QEMU running the 4 CPUs on one host thread in turn (`--tcg
    // single`): cross-CPU waits (IPIs, run-on-all, locks) must still make progress.
    selftest_case!("selftest-x4-tcg-single", 4, ["--tcg", "single"]),
    selftest_case!("selftest-x1", 1, []),
    Case {
        name: "refuse-no-vhe-cortex-a72",
        args: &["--cpu", "cortex-a72"],
        typing: Typing::AtOnce(""),
        expect: &[
            Expect::Exit(runner::EXIT_REFUSED),
            Expect::LineStartingWith {
                prefix: "keel: cannot boot: ",
                contains: "VHE",
            },
            Expect::NoLine("keel: EL2 VHE"),
        ],
    },
    Case {
        name: "refuse-no-virtualization",
        args: &["--no-virtualization"],
        typing: Typing::AtOnce(""),
        expect: &[
            Expect::Exit(runner::EXIT_REFUSED),
            Expect::LineStartingWith {
                prefix: "keel: cannot boot: ",
                contains: "virtualization=on",
            },
            Expect::NoLine("keel: EL2 VHE"),
        ],
    },
    // Issue 3's first acceptance: `printf 'ps\nmem\nuptime\npoweroff\n' | scripts/run`,
    // typed before the shell is up, as a pipe does.
    Case {
        name: "shell-ps-mem-uptime",
        args: &[],
        typing: Typing::AtOnce("ps\nmem\nuptime\npoweroff\n"),
        expect: &[
            BOOTS_CLEANLY,
            Expect::Ps {
                table: 0,
                check: PsCheck::Shows(&["init", "sh"]),
            },
            Expect::Ps {
                table: 0,
                check: PsCheck::KernelThreads,
            },
            Expect::LineStartingWith {
                prefix: "memory: ",
                contains: " free",
            },
            Expect::LineStartingWith {
                prefix: "up ",
                contains: ", 2 CPUs",
            },
            Expect::Sequence(&[
                "keel> ps",
                "keel> mem",
                "keel> uptime",
                "keel> poweroff",
                "keel: power off",
            ]),
            // `poweroff` ended the run, not the runner's power button.
            Expect::NoLine("keel: power button"),
            SHELL_SURVIVED,
        ],
    },
    // Four CPU-bound processes on two CPUs: the shell stays responsive and they share fairly.
    Case {
        name: "shell-spinners",
        args: &[],
        typing: Typing::Script(&[
            Type("spin &\n"),
            Type("spin &\n"),
            Type("spin &\n"),
            Type("spin &\n"),
            Type("uptime\n"),
            Pause(Duration::from_secs(4)),
            Type("ps\n"),
            Type("kill %1 %2 %3 %4\n"),
            Pause(Duration::from_secs(1)),
            Type("jobs\n"),
            Type("ps\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            BOOTS_CLEANLY,
            Expect::Sequence(&[
                "keel> spin &",
                "[1] ",
                "keel> spin &",
                "[2] ",
                "keel> spin &",
                "[3] ",
                "keel> spin &",
                "[4] ",
            ]),
            Expect::Responds {
                to: "uptime",
                starting: "up ",
                within: Duration::from_secs(2),
            },
            Expect::Ps {
                table: 0,
                check: PsCheck::Fair {
                    name: "spin",
                    count: 4,
                    percent: 25,
                },
            },
            Expect::Line("[1] killed  spin"),
            Expect::Line("[2] killed  spin"),
            Expect::Line("[3] killed  spin"),
            Expect::Line("[4] killed  spin"),
            Expect::Ps {
                table: 1,
                check: PsCheck::Lacks(&["spin"]),
            },
            SHELL_SURVIVED,
        ],
    },
    // Programs that fault, and one that passes bad pointers: each ends with a reason, the
    // shell goes on, and nothing of them is left.
    Case {
        name: "shell-faults",
        args: &[],
        typing: Typing::Script(&[
            Type("fault null\n"),
            Type("fault write-text\n"),
            Type("fault undefined\n"),
            Type("fault align\n"),
            Type("fault jump\n"),
            Type("badptr\n"),
            Type("ps\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            BOOTS_CLEANLY,
            Expect::Sequence(&[
                "keel> fault null",
                "(fault) killed: ",
                "sh: fault (pid ",
                "keel> fault write-text",
                "(fault) killed: ",
                "sh: fault (pid ",
                "keel> fault undefined",
                "(fault) killed: ",
                "sh: fault (pid ",
                "keel> fault align",
                "(fault) killed: ",
                "sh: fault (pid ",
                "keel> fault jump",
                "(fault) killed: ",
                "sh: fault (pid ",
                "keel> badptr",
                "keel> ps",
            ]),
            Expect::NoLine("still alive"),
            Expect::LineStartingWith {
                prefix: "badptr: ",
                contains: " calls refused, 0 accepted",
            },
            Expect::NoLine("sh: badptr"),
            Expect::Ps {
                table: 0,
                check: PsCheck::Shows(&["init", "sh"]),
            },
            Expect::Ps {
                table: 0,
                check: PsCheck::Lacks(&["fault", "badptr", "spin"]),
            },
            SHELL_SURVIVED,
        ],
    },
    // Mistakes get a message that names them, and change nothing.
    Case {
        name: "shell-errors",
        args: &[],
        typing: Typing::Script(&[
            Type("foo\n"),
            Type("kill x\n"),
            Type("kill 99\n"),
            Type("/bin/foo\n"),
            Type("kill\n"),
            Type("kill 1\n"),
            Type("kill %3\n"),
            Type("ps -x\n"),
            Type("echo 'unclosed\n"),
            Type("spin x\n"),
            Type("echo hello   'big  world'\n"),
            Type("help\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            BOOTS_CLEANLY,
            Expect::Line("sh: unknown command: foo (try help)"),
            Expect::Line("kill: not a process id: x"),
            Expect::Line("kill: no such process: 99"),
            Expect::Line("sh: /bin/foo: not found"),
            Expect::Line("kill: usage: kill PID|%JOB..."),
            Expect::Line("kill: cannot kill 1: not permitted"),
            Expect::Line("kill: no such job: %3"),
            Expect::Line("ps: unexpected argument: -x"),
            Expect::Line("sh: unclosed quote '"),
            Expect::Sequence(&["spin: not a number of seconds: x", "sh: spin (pid "]),
            Expect::Line(") exited with code 2"),
            Expect::Count {
                line: "hello big  world",
                times: 1,
            },
            Expect::LineStartingWith {
                prefix: "kill PID|%JOB...",
                contains: "end processes",
            },
            SHELL_SURVIVED,
        ],
    },
    // Line editing and history over the serial console, Ctrl-C, and Ctrl-D (init restarts
    // the shell).
    Case {
        name: "shell-editing",
        args: &[],
        typing: Typing::Script(&[
            Type("echo abc\x1b[D\x1b[DX\r"),
            Type("\x1b[A\r"),
            Type("echo nope\x03"),
            Type("ecxo\x7f\x7fho ok\r"),
            Type("spin\n"),
            Pause(Duration::from_secs(1)),
            TypeNow("\x03"),
            Type("\x04"),
            Type("echo back\n"),
            Type("ps\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            BOOTS_CLEANLY,
            Expect::Count { line: "aXbc", times: 2 },
            Expect::LineStartingWith {
                prefix: "keel> echo nope",
                contains: "^C",
            },
            Expect::Count { line: "nope", times: 0 },
            Expect::Count { line: "ok", times: 1 },
            Expect::Sequence(&["keel> spin", "^C", "init: shell exited (exit 0); restarting", "back"]),
            Expect::NoLine("sh: spin"),
            Expect::Ps {
                table: 0,
                check: PsCheck::Shows(&["init", "sh"]),
            },
            Expect::Ps {
                table: 0,
                check: PsCheck::Lacks(&["spin"]),
            },
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::super::{case_options, expect::judge, expect::Session};
    use super::*;

    fn case(name: &str) -> &'static Case {
        CASES.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn every_case_parses_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for case in CASES {
            let options = case_options(case).unwrap();
            assert!(options.timeout.is_some());
            assert!(names.insert(case.name), "duplicate {}", case.name);
            assert!(!case.expect.is_empty());
        }
        assert_eq!(
            case_options(case("selftest-x4")).unwrap().append.as_deref(),
            Some("keel.selftest")
        );
        assert!(!case_options(case("refuse-no-virtualization")).unwrap().virtualization);
    }

    #[test]
    fn boot_expectations() {
        let case = case("boot-max-x4");
        let mut good = Session::of_text(
            "hello\nkeel: EL2 VHE (E2H=1 TGE=1) max x4, 2048 MiB\nkeel> keel: power button\nkeel: power off",
        );
        assert_eq!(judge(case.expect, &good), None);
        good.code = 1;
        assert!(judge(case.expect, &good).unwrap().contains("exit code 1, expected 0"));
        let wrong = Session::of_text("keel: EL2 VHE (E2H=1 TGE=1) cortex-a76 x1, 2048 MiB\nkeel> \nkeel: power off");
        assert!(judge(case.expect, &wrong)
            .unwrap()
            .contains("banner shows cortex-a76 x1, expected max x4"));
        let no_shell =
            Session::of_text("keel: EL2 VHE (E2H=1 TGE=1) max x4, 2048 MiB\nkeel: power button\nkeel: power off");
        assert!(judge(case.expect, &no_shell)
            .unwrap()
            .contains("no line starts with `keel> `"));
    }

    #[test]
    fn refusal_expectations() {
        let case = case("refuse-no-vhe-cortex-a72");
        let refused = |text| Session {
            code: 3,
            ..Session::of_text(text)
        };
        let good = refused("keel: cannot boot: this CPU has no VHE (ID_AA64MMFR1_EL1.VH = 0); use -cpu max");
        assert_eq!(judge(case.expect, &good), None);
        assert!(judge(case.expect, &refused("keel: cannot boot: no"))
            .unwrap()
            .contains("does not mention `VHE`"));
        assert!(judge(case.expect, &refused("nothing"))
            .unwrap()
            .contains("no line starts with"));
        let booted = refused("keel: EL2 VHE (E2H=1 TGE=1) cortex-a72 x2, 2048 MiB\nkeel: cannot boot: VHE");
        assert!(judge(case.expect, &booted).unwrap().contains("unexpected line"));
    }
}
