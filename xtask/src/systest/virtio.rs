//! The system-test cases of guest virtio devices: entropy (`/dev/hwrng`), the virtio
//! console (`hvc0`) and a disk (`/dev/vda`) whose data outlives a guest reboot and a reboot
//! of Keel; and a hostile guest that breaks its own virtqueue while another guest goes on.

use super::expect::{Expect, PsCheck};
use super::{Case, Typing};
use crate::typing::Step::{Type, TypeAfter};

/// The guest's marker line (images/guest/init) and its shell's prompt.
const MARKER: &str = "keel-guest: up ";
const GUEST_PROMPT: &str = "guest# ";
/// A guest case has this long in all (several guest boots under TCG).
const TIMEOUT: &str = "420";

/// Types `text` at the guest's prompt.
const fn at_guest_prompt(text: &'static str) -> crate::typing::Step {
    TypeAfter {
        wait_for: GUEST_PROMPT,
        text,
    }
}

pub const VIRTIO_CASES: &[Case] = &[
    // Entropy, the virtio console and a disk; the disk's data survives the guest's reboot
    // and Keel's, and a new VM with the same disk reads it. Memory comes back and no
    // thread is left when the VM stops.
    Case {
        name: "vm-virtio-devices",
        args: &["--timeout", TIMEOUT],
        typing: Typing::Script(&[
            Type("mem\n"),
            Type("vm create g --disk data:16M --cmdline \"console=ttyAMA0 keel.ip=off\"\n"),
            Type("vm disks\n"),
            // Refusals change nothing.
            Type("vm create big --disk more:8M --disk huge:4G\n"),
            Type("vm create g2 --disk data:32M\n"),
            Type("vm create g3 --disk nosuch\n"),
            Type("vm list\n"),
            Type("vm disks\n"),
            Type("vm start g\n"),
            Type("vm console g\n"),
            at_guest_prompt("ls /dev/hwrng /dev/hvc0 /dev/vda\n"),
            at_guest_prompt("head -c 32 /dev/hwrng | od -An -tx1 | wc -w\n"),
            at_guest_prompt("echo hvc-says-$((40+2)) > /dev/hvc0\n"),
            at_guest_prompt("cat /sys/block/vda/size /sys/block/vda/serial\n"),
            at_guest_prompt("echo disk-data-$((6*7)) | dd of=/dev/vda conv=fsync 2>/dev/null; echo written-$((1+1))\n"),
            // 6 MiB of random data through the disk in large requests, read back past the
            // guest's page cache.
            at_guest_prompt("dd if=/dev/urandom of=/tmp/r bs=1M count=6 2>/dev/null; dd if=/tmp/r of=/dev/vda bs=1M seek=2 conv=fsync 2>/dev/null\n"),
            at_guest_prompt("sync; echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=1M skip=2 count=6 2>/dev/null | cmp - /tmp/r && echo same-$((2*3))\n"),
            // The guest reboots itself: the VM boots again, still attached.
            at_guest_prompt("reboot\n"),
            // A fresh prompt once the new boot's shell is up.
            TypeAfter { wait_for: MARKER, text: "\n" },
            at_guest_prompt("echo second-$((1+1)); head -n1 /dev/vda\n"),
            TypeAfter { wait_for: "disk-data-42", text: "\x1d" },
            Type("vm stats g\n"),
            Type("vm rmdisk data\n"),
            Type("vm kill g\n"),
            Type("ps\n"),
            Type("mem\n"),
            Type("reboot\n"),
            Type("vm disks\n"),
            Type("vm create h --disk data --cmdline \"console=ttyAMA0 keel.ip=off\"\n"),
            Type("vm start h\n"),
            Type("vm console h\n"),
            at_guest_prompt("echo third-$((1+1)); head -n1 /dev/vda\n"),
            at_guest_prompt("poweroff\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&[
                "keel> vm disks",
                "data   16M  -",
                "host disk: 2G, 2031M free (largest 2031M)",
                "vm: cannot create big: the disks do not fit on the host disk (4104M wanted, 2031M free, largest 2031M)",
                "vm: cannot create g2: disk data exists with another size (16M)",
                "vm: cannot create g3: no such disk: nosuch (give a size to make it: nosuch:SIZE)",
                "keel> vm disks",
                "host disk: 2G, 2031M free (largest 2031M)",
                "[attached to g; Ctrl-] detaches]",
                MARKER,
                "/dev/hvc0",
                "head -c 32 /dev/hwrng",
                "32",
                "hvc-says-42",
                "32768",
                "data",
                "written-2",
                "same-6",
                MARKER,
                "second-2",
                "disk-data-42",
                "[detached from g]",
                "keel> vm stats g",
                "DEVICE",
                "keel> vm rmdisk data",
                "vm: cannot delete data: a running VM uses it",
                "keel: reboot",
                "keel: EL2 VHE",
                "keel> vm disks",
                "data   16M  -",
                "[attached to h; Ctrl-] detaches]",
                "third-2",
                "disk-data-42",
                "[h stopped: stopped]",
            ]),
            Expect::LineStartingWith { prefix: "hwrng", contains: "ok" },
            Expect::LineStartingWith { prefix: "hvc0", contains: "ok" },
            Expect::LineStartingWith { prefix: "vda     block    data", contains: "ok" },
            Expect::MemoryBack { before: 0, after: 1, slack_mib: 1 },
            Expect::Ps { table: 0, check: PsCheck::Lacks(&["vm-g/0"]) },
            Expect::NoLine("guest error"),
            Expect::NoLine("big    created"),
            Expect::NoLine("more "),
            Expect::NoLine("init: shell exited"),
        ],
    },
    // With `console=hvc0` last on its command line the guest's console is the virtio
    // console: its shell runs there and typed input goes there.
    Case {
        name: "vm-virtio-console-input",
        args: &["--timeout", TIMEOUT],
        typing: Typing::Script(&[
            Type("vm create c --cmdline \"console=ttyAMA0 console=hvc0 keel.ip=off\"\n"),
            Type("vm start c\n"),
            Type("vm console c\n"),
            at_guest_prompt("tty; echo typed-$((5*5))\n"),
            at_guest_prompt("poweroff\n"),
            Type("vm stats c\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&["[attached to c; Ctrl-] detaches]", MARKER, "/dev/hvc0", "typed-25", "[c stopped: stopped]"]),
            Expect::NoLine("init: shell exited"),
        ],
    },
    // A guest breaks its entropy device's queue on purpose: that device alone goes to
    // NEEDS_RESET, the error is counted and logged once; the guest itself, the host and a
    // second guest go on (the second one reads entropy after it).
    Case {
        name: "vm-virtio-hostile",
        args: &["--timeout", TIMEOUT],
        typing: Typing::Script(&[
            Type("vm create bad --mem 192M --cmdline \"console=ttyAMA0 keel.ip=off iomem=relaxed\"\n"),
            Type("vm create good --mem 192M --cmdline \"console=ttyAMA0 keel.ip=off\"\n"),
            Type("vm start good\n"),
            Type("vm start bad\n"),
            Type("vm console bad\n"),
            at_guest_prompt("virtio-hostile 1\n"),
            at_guest_prompt("echo bad-alive-$((2+3))\n"),
            TypeAfter { wait_for: GUEST_PROMPT, text: "\x1d" },
            Type("vm stats bad\n"),
            Type("uptime\n"),
            Type("vm console good\n"),
            at_guest_prompt("head -c 16 /dev/hwrng | od -An -tx1 | wc -w\n"),
            at_guest_prompt("echo good-alive-$((3+4))\n"),
            TypeAfter { wait_for: GUEST_PROMPT, text: "\x1d" },
            Type("vm stats good\n"),
            Type("vm kill bad\n"),
            Type("vm kill good\n"),
            Type("vm list\n"),
            Type("poweroff\n"),
        ]),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&[
                "[attached to bad; Ctrl-] detaches]",
                "virtio-hostile 1",
                "virtio-hostile: slot 1 status 0x0000004F",
                "bad-alive-5",
                "keel> vm stats bad",
                "DEVICE",
                "keel> uptime",
                "[attached to good; Ctrl-] detaches]",
                "head -c 16 /dev/hwrng",
                "16",
                "good-alive-7",
                "keel> vm stats good",
            ]),
            Expect::LineStartingWith { prefix: "hwrng", contains: "needs-reset" },
            Expect::Line("vm bad: virtio hwrng (slot 1): guest error Queue"),
            Expect::NoLine("vm good: virtio"),
            Expect::LineStartingWith { prefix: "bad    killed", contains: "" },
            Expect::LineStartingWith { prefix: "good   killed", contains: "" },
            Expect::NoLine("init: shell exited"),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::super::case_options;
    use super::*;

    #[test]
    fn virtio_cases_parse_and_are_guest_cases() {
        for case in VIRTIO_CASES {
            let options = case_options(case).unwrap();
            assert!(options.mem.mib >= 1024, "{}: room for guests", case.name);
            assert!(case.name.starts_with("vm-"), "{}", case.name);
        }
    }
}
