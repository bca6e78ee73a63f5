//! The observability case: a guest with two vCPUs, a disk and a NIC does some work (its
//! console, a disk read, entropy, the network, a read of an empty device slot); `vm stats`,
//! `top -n 1` and the status page fetched by the guest itself show its counters in the
//! right classes.

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
    Expect::Row { after, cell, with: &[], at_least: Some(at_least) }
}

/// A row after `after` with these cells too.
const fn row(after: &'static str, cell: &'static str, with: &'static [&'static str]) -> Expect {
    Expect::Row { after, cell, with, at_least: None }
}

/// Where the status page's text starts in the console.
const STATUS_TXT: &str = "wget -q -O - http://10.0.3.1/status.txt";

pub const OBSERVE_CASES: &[Case] = &[Case {
    name: "vm-observe",
    args: &["--timeout", TIMEOUT],
    typing: Typing::Script(&[
        // `quiet`: a kernel message such as `eth0: link becomes ready` printed while the
        // shell echoes a typed command would split the line this case looks for.
        Type("vm create obs --vcpus 2 --net --disk obs:8M --cmdline \"console=ttyAMA0 iomem=relaxed quiet\"\n"),
        Type("vm stats obs\n"),
        Type("vm start obs\n"),
        Type("vm console obs\n"),
        WaitFor("keel-guest: eth0 10.0.3."),
        at_guest_prompt("cat /proc/interrupts\n"),
        at_guest_prompt("dd if=/dev/vda of=/dev/null bs=64k\n"),
        at_guest_prompt("head -c 256 /dev/hwrng | wc -c\n"),
        // An empty virtio slot (3): Keel injects an external abort, devmem dies of SIGBUS.
        at_guest_prompt("devmem 0x0a000600 32\n"),
        at_guest_prompt("wget -q -O - http://10.0.3.1/status.txt\n"),
        at_guest_prompt("echo html-tables=$(wget -q -O - http://10.0.3.1/ | grep -c '<h2>VM obs: ')\n"),
        TypeAfter { wait_for: GUEST_PROMPT, text: "\x1d" },
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
            "devmem 0x0a000600 32",
            "Bus error",
            STATUS_TXT,
            "vm obs: running, up ",
            // The HTML page has the VM's two tables.
            "html-tables=2",
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
        // Both vCPUs ran.
        row(STATS, "state", &["on", "on"]),
        counter(STATS, "cpu time (s)", 0.01),
        // Exits by class, MMIO by device.
        counter(STATS, "all", 1000.0),
        counter(STATS, "mmio-gicd", 1.0),
        counter(STATS, "mmio-gicr", 1.0),
        counter(STATS, "mmio-uart", 100.0),
        counter(STATS, "mmio-hvc0", 1.0),
        counter(STATS, "mmio-hwrng", 1.0),
        counter(STATS, "mmio-vda", 1.0),
        counter(STATS, "mmio-eth0", 1.0),
        counter(STATS, "mmio-other", 1.0),
        counter(STATS, "sysreg", 1.0),
        counter(STATS, "wfi", 1.0),
        counter(STATS, "hvc", 1.0),
        counter(STATS, "irq", 1.0),
        counter(STATS, "stage2", 1.0),
        // Interrupts injected by source: SGIs between the vCPUs, the timer, the UART (typed
        // input), each device.
        counter(STATS, "sgi", 1.0),
        counter(STATS, "timer", 1.0),
        counter(STATS, "uart", 1.0),
        counter(STATS, "hwrng", 1.0),
        counter(STATS, "vda", 1.0),
        counter(STATS, "eth0", 1.0),
        // The abort of the empty slot, and nothing else went wrong.
        counter(STATS, "aborts injected", 1.0),
        row(STATS, "unhandled exits", &["0"]),
        row(STATS, "virtio errors", &["0"]),
        // The device table: the disk's requests and bytes.
        row("DEVICE  KIND", "vda", &["block", "obs", "ok"]),
        // top lists the vCPU threads with their VM.
        row("keel> top -n 1", "vm-obs/0", &["vcpu", "obs"]),
        row("keel> top -n 1", "vm-obs/1", &["vcpu", "obs"]),
        // The status page, fetched by the guest, has the same counters.
        counter(STATUS_TXT, "mmio-vda", 1.0),
        counter(STATUS_TXT, "wfi", 1.0),
        counter(STATUS_TXT, "timer", 1.0),
        counter(STATUS_TXT, "aborts injected", 1.0),
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
