//! Several Linux guests at once: four booted together on a 2-CPU and on a 4-CPU host (all
//! reach their shell, get addresses from Keel's DHCP and ping each other, while the host
//! shell answers and the status page lists them), and fair sharing (guests spinning at
//! 100% and a host spinner share one CPU evenly; a guest still boots beside them and the
//! shell still answers).

use super::expect::{Expect, PsCheck};
use super::net::NetCase;
use super::{Case, Typing};
use crate::typing::Step::{self, Type, TypeAfter, WaitFor};
use std::time::{Duration, Instant};

const GUEST_PROMPT: &str = "guest# ";
const MARKER: &str = "keel-guest: up ";
/// Four guests boot in 10-60 s under TCG (longer with two cases side by side).
const TIMEOUT: &str = "400";
/// How long the shell may take to answer while guests boot or spin: far more than it
/// needs, far less than a starved shell would take.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

pub const MANY_CASES: &[NetCase] = &[
    NetCase {
        name: "vm-four-smp2",
        guest: true,
        prepare: |ports| four_guests("vm-four-smp2", "2", ports),
        outside: four_on_status_page,
    },
    NetCase {
        name: "vm-four-smp4",
        guest: true,
        prepare: |ports| four_guests("vm-four-smp4", "4", ports),
        outside: four_on_status_page,
    },
];

/// Pings the four addresses Keel's DHCP hands out first (each guest pings itself too), one
/// line per address that answered, then `pinged-4` (written so that the typed command
/// line does not contain it). A guest that is still booting has no address yet (the first
/// one up may wait 10 s or more for the last), so each address gets 30 tries of 2 s.
const PING_ALL: &str = "for n in 100 101 102 103; do t=0; until ping -c 1 -W 2 10.0.3.$n >/dev/null; \
     do t=$((t+1)); [ $t -lt 30 ] || break; done; [ $t -lt 30 ] && echo reach-$n; done; echo pinged-$((2+2))\n";

/// The script of the four-guest cases: start them together, then visit each console (wait
/// for its lease, ping everyone, detach) with a `ps` after each visit, then kill them.
macro_rules! four_steps {
    ($($console:literal),*) => {
        &[
            Type("mem\n"),
            Type("vm create b --net --vcpus 2 --mem 192M\n"),
            Type("vm create c --net --mem 128M\n"),
            Type("vm create d --net --vcpus 2 --mem 128M\n"),
            Type("vm start linux\n"),
            Type("vm start b\n"),
            Type("vm start c\n"),
            Type("vm start d\n"),
            // While all four boot.
            Type("ps\n"),
            Type("uptime\n"),
            Type("vm list\n"),
            $(
                Type($console),
                WaitFor("keel-guest: eth0 10.0.3.1"),
                TypeAfter { wait_for: GUEST_PROMPT, text: PING_ALL },
                TypeAfter { wait_for: "pinged-4", text: "\x1d" },
                Type("ps\n"),
            )*
            Type("vm list\n"),
            Type("net\n"),
            Type("vm kill linux\n"),
            Type("vm kill b\n"),
            Type("vm kill c\n"),
            Type("vm kill d\n"),
            Type("mem\n"),
            // (Lines typed into guests leave the shell fewer prompts than Enters: the
            // runner would wait 30 s before pressing the power button.)
            Type("poweroff\n"),
        ]
    };
}

const FOUR_STEPS: &[Step] = four_steps!(
    "vm console linux\n",
    "vm console b\n",
    "vm console c\n",
    "vm console d\n"
);

/// Every guest printed its marker line (each console shows its boot when attached).
fn four_markers(lines: &[&str]) -> Result<(), String> {
    match lines.iter().filter(|line| line.contains(MARKER)).count() {
        4 => Ok(()),
        n => Err(format!("{n} marker lines, expected 4")),
    }
}

/// Four guests (1 and 2 vCPUs, 128-256 MiB, each with a NIC) started together on a host
/// with `smp` CPUs.
fn four_guests(name: &'static str, smp: &'static str, [port, _]: [u16; 2]) -> Case {
    let args: &'static [&'static str] = Box::leak(
        vec![
            "--smp",
            smp,
            "--timeout",
            TIMEOUT,
            "--http-port",
            Box::leak(port.to_string().into_boxed_str()),
        ]
        .into_boxed_slice(),
    );
    Case {
        name,
        args,
        typing: Typing::Script(FOUR_STEPS),
        expect: &[
            Expect::Exit(0),
            // The shell answered while they booted, and at every visit.
            Expect::Responds {
                to: "ps",
                starting: "PID",
                within: ANSWER_WITHIN,
            },
            Expect::Responds {
                to: "uptime",
                starting: "up ",
                within: ANSWER_WITHIN,
            },
            Expect::Ps {
                table: 0,
                check: PsCheck::Shows(&["vm-linux/0", "vm-b/0", "vm-c/0", "vm-d/0"]),
            },
            Expect::Row {
                after: "keel> vm list",
                cell: "linux",
                with: &["running", "1", "256M"],
                at_least: None,
            },
            Expect::Row {
                after: "keel> vm list",
                cell: "b",
                with: &["running", "2", "192M"],
                at_least: None,
            },
            Expect::Row {
                after: "keel> vm list",
                cell: "c",
                with: &["running", "1", "128M"],
                at_least: None,
            },
            Expect::Row {
                after: "keel> vm list",
                cell: "d",
                with: &["running", "2", "128M"],
                at_least: None,
            },
            // Each reached its shell and reached all four addresses.
            Expect::Sequence(&[
                "keel> vm console linux",
                "pinged-4",
                "keel> vm console b",
                "pinged-4",
                "keel> vm console c",
                "pinged-4",
                "keel> vm console d",
                "pinged-4",
                "keel> net",
            ]),
            Expect::Custom {
                what: "four markers",
                check: four_markers,
            },
            Expect::Count {
                line: "reach-100",
                times: 4,
            },
            Expect::Count {
                line: "reach-101",
                times: 4,
            },
            Expect::Count {
                line: "reach-102",
                times: 4,
            },
            Expect::Count {
                line: "reach-103",
                times: 4,
            },
            // Both vCPUs of the 2-vCPU guests came up.
            Expect::Ps {
                table: 4,
                check: PsCheck::Shows(&["vm-b/0", "vm-b/1", "vm-d/0", "vm-d/1"]),
            },
            Expect::MemoryBack {
                before: 0,
                after: 1,
                slack_mib: 1,
            },
            Expect::NoLine("crashed"),
            Expect::NoLine("PANIC"),
        ],
    }
}

/// From the machine, while the case runs: the status page lists the four VMs running at
/// once (retried until they are, or 300 s).
fn four_on_status_page([port, _]: [u16; 2]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let wanted = ["vm linux: running", "vm b: running", "vm c: running", "vm d: running"];
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(page) = super::net::exchange(port, b"GET /status.txt HTTP/1.0\r\n\r\n") {
            if wanted.iter().all(|line| page.contains(line)) {
                return Ok(());
            }
            last = page;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!(
        "the status page never listed the four VMs running; last page: {last:?}"
    ))
}

/// Fair sharing on one CPU: a guest spinning at 100% does not keep a second guest from
/// booting, nor the shell from answering; then two spinning guests and a host spinner
/// each get about a third of the CPU (`top` over 4 s).
pub const FAIR_CASES: &[Case] = &[Case {
    name: "vm-fair-one-cpu",
    args: &["--smp", "1", "--timeout", TIMEOUT],
    typing: Typing::Script(&[
        Type("vm create s1 --mem 128M --cmdline \"console=ttyAMA0 keel.ip=off\"\n"),
        Type("vm create s2 --mem 128M --cmdline \"console=ttyAMA0 keel.ip=off\"\n"),
        Type("vm start s1\n"),
        Type("vm console s1\n"),
        TypeAfter {
            wait_for: GUEST_PROMPT,
            text: SPIN_IN_GUEST,
        },
        TypeAfter {
            wait_for: "spinning-1",
            text: "\x1d",
        },
        Type("vm start s2\n"),
        Type("uptime\n"),
        Type("vm console s2\n"),
        TypeAfter {
            wait_for: GUEST_PROMPT,
            text: SPIN_IN_GUEST,
        },
        TypeAfter {
            wait_for: "spinning-1",
            text: "\x1d",
        },
        Type("spin 30 &\n"),
        Type("top -n 1 -d 4\n"),
        Type("kill %1\n"),
        Type("vm kill s1\n"),
        Type("vm kill s2\n"),
        Type("poweroff\n"),
    ]),
    expect: &[
        Expect::Exit(0),
        // s2 booted while s1 spun.
        Expect::Sequence(&[
            "keel> vm console s1",
            "spinning-1",
            "keel> vm start s2",
            "keel> vm console s2",
            MARKER,
            "spinning-1",
        ]),
        Expect::Responds {
            to: "uptime",
            starting: "up ",
            within: ANSWER_WITHIN,
        },
        Expect::Custom {
            what: "thirds of the CPU",
            check: thirds,
        },
        Expect::NoLine("crashed"),
        Expect::NoLine("PANIC"),
    ],
}];

/// A busy loop in the guest's background (`spinning-1` printed once it runs).
const SPIN_IN_GUEST: &str = "(while :; do :; done) & echo spinning-$((0+1))\n";

/// In `top`'s table, the two spinning guests' vCPUs and the host spinner each used
/// 20-47% of the one CPU (a third each is fair).
fn thirds(lines: &[&str]) -> Result<(), String> {
    let start = lines
        .iter()
        .position(|line| line.contains("keel> top -n 1"))
        .ok_or("top never ran")?;
    let share = |name: &str| -> Result<f64, String> {
        lines[start..]
            .iter()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .find(|cells| cells.len() == 9 && cells[2] == name)
            .ok_or(format!("top shows no `{name}`"))
            .and_then(|cells| {
                cells[6]
                    .parse::<f64>()
                    .map_err(|_| format!("`{name}`: CPU% `{}`", cells[6]))
            })
    };
    let shares = [
        ("vm-s1/0", share("vm-s1/0")?),
        ("vm-s2/0", share("vm-s2/0")?),
        ("spin", share("spin")?),
    ];
    match shares.iter().find(|(_, percent)| !(20.0..=47.0).contains(percent)) {
        Some((name, percent)) => Err(format!(
            "{name} got {percent}% of the CPU (shares: {shares:?}); a third each is fair"
        )),
        None => Ok(()),
    }
}
