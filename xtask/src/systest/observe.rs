//! The observability case: a guest with a disk and a NIC does some work (its console, a
//! disk read, entropy, the network); `vm stats`, `top -n 1` and the status page fetched by
//! the guest itself show its counters in the right classes.

use super::expect::Expect;
use super::{Case, Typing};
use crate::typing::Step::{Type, TypeAfter, WaitFor};

const MARKER: &str = "keel-guest: up ";
const GUEST_PROMPT: &str = "guest# ";
const TIMEOUT: &str = "300";

/// Types `text` at the guest's prompt.
const fn at_guest_prompt(text: &'static str) -> crate::typing::Step {
    TypeAfter {
        wait_for: GUEST_PROMPT,
        text,
    }
}

/// What comes right before `vm stats obs` while the guest runs (the first `vm stats obs`
/// is before its start): each class and source it must have used is counted after it.
const STATS: &str = "[detached from obs]";

/// A counter row after `after` whose total is at least `at_least`.
const fn counter(after: &'static str, cell: &'static str, at_least: f64) -> Expect {
    Expect::Row {
        after,
        cell,
        with: &[],
        at_least: Some(at_least),
    }
}

pub const OBSERVE_CASES: &[Case] = &[Case {
    name: "vm-observe",
    args: &["--timeout", TIMEOUT],
    typing: Typing::Script(&[
        Type("vm create obs --net --disk obs:8M\n"),
        Type("vm stats obs\n"),
        Type("vm start obs\n"),
        Type("vm console obs\n"),
        WaitFor("keel-guest: eth0 10.0.3."),
        at_guest_prompt("cat /proc/interrupts\n"),
        at_guest_prompt("dd if=/dev/vda of=/dev/null bs=64k\n"),
        at_guest_prompt("head -c 256 /dev/hwrng | wc -c\n"),
        at_guest_prompt("wget -q -O - http://10.0.3.1/status.txt\n"),
        TypeAfter {
            wait_for: GUEST_PROMPT,
            text: "\x1d",
        },
        Type("vm stats obs\n"),
        Type("top -n 1\n"),
        Type("vm kill obs\n"),
        Type("vm stats obs\n"),
        Type("poweroff\n"),
    ]),
    expect: &[
        Expect::Exit(0),
        Expect::Sequence(&[
            // Never started: no counters yet.
            "keel> vm stats obs",
            "vm obs: created, up - s",
            "no devices yet",
            "[attached to obs; Ctrl-] detaches]",
            MARKER,
            "cat /proc/interrupts",
            "virtio",
            // The whole 8 MiB disk.
            "128+0 records out",
            "head -c 256 /dev/hwrng",
            "256",
            "wget -q -O - http://10.0.3.1/status.txt",
            "vm obs: running, up ",
            STATS,
            "keel> vm stats obs",
            "vm obs: running, up ",
            "DEVICE",
            "keel> top -n 1",
            "PID  TID  NAME",
            "keel> vm kill obs",
            "keel> vm stats obs",
            "vm obs: killed, up - s",
            "DEVICE",
        ]),
        // Exits by class, MMIO by device.
        counter(STATS, "all", 1000.0),
        counter(STATS, "mmio-gicd", 1.0),
        counter(STATS, "mmio-gicr", 1.0),
        counter(STATS, "mmio-uart", 100.0),
        counter(STATS, "mmio-hvc0", 1.0),
        counter(STATS, "mmio-hwrng", 1.0),
        counter(STATS, "mmio-vda", 1.0),
        counter(STATS, "mmio-eth0", 1.0),
        counter(STATS, "sysreg", 1.0),
        counter(STATS, "wfi", 1.0),
        counter(STATS, "hvc", 1.0),
        counter(STATS, "irq", 1.0),
        counter(STATS, "stage2", 1.0),
        counter(STATS, "cpu time (s)", 0.01),
        // Interrupts injected by source: the timer, the UART (typed input), each device.
        counter(STATS, "timer", 1.0),
        counter(STATS, "uart", 1.0),
        counter(STATS, "hwrng", 1.0),
        counter(STATS, "vda", 1.0),
        counter(STATS, "eth0", 1.0),
        // Nothing went wrong.
        Expect::Row {
            after: STATS,
            cell: "unhandled exits",
            with: &["0"],
            at_least: None,
        },
        Expect::Row {
            after: STATS,
            cell: "virtio guest errors",
            with: &["0"],
            at_least: None,
        },
        // The device table: the disk's requests and bytes.
        Expect::Row {
            after: "DEVICE  KIND",
            cell: "vda",
            with: &["block", "obs", "ok"],
            at_least: None,
        },
        // top lists the vCPU thread with its VM.
        Expect::Row {
            after: "keel> top -n 1",
            cell: "vm-obs/0",
            with: &["vcpu", "obs"],
            at_least: None,
        },
        // The status page, fetched by the guest, has the same counters.
        counter("wget -q -O - http://10.0.3.1/status.txt", "mmio-vda", 1.0),
        counter("wget -q -O - http://10.0.3.1/status.txt", "wfi", 1.0),
        counter("wget -q -O - http://10.0.3.1/status.txt", "timer", 1.0),
        // After the kill the last run's counters stay.
        counter("vm obs: killed", "mmio-vda", 1.0),
        counter("vm obs: killed", "vda", 1.0),
        Expect::NoLine("PANIC"),
        Expect::NoLine("): guest error"),
        Expect::NoLine("init: shell exited"),
    ],
}];

#[cfg(test)]
mod tests {
    use super::super::case_options;
    use super::*;

    #[test]
    fn the_case_parses() {
        for case in OBSERVE_CASES {
            assert!(case_options(case).is_ok(), "{}", case.name);
        }
    }
}
