//! IPA probes: loads, stores and fetches where the guest has neither RAM nor a device.

use crate::report::Report;
use crate::trap::{self, run};
use keel_hostile_guest::Expected::{DataAbort, ExternalAbort, FetchAbort};

/// Guest RAM (base, size) from the DTB's /memory node.
pub fn ram_from_dtb(dtb: u64) -> Option<(u64, u64)> {
    // SAFETY: Keel passes the DTB's address in x0; `from_ptr` checks its header (magic,
    // size) before reading further, and the DTB lies in this guest's RAM.
    let fdt = unsafe { fdt::Fdt::from_ptr(dtb as *const u8) }.ok()?;
    let region = fdt.memory().regions().next()?;
    Some((region.starting_address as u64, region.size? as u64))
}

/// Addresses of QEMU virt's map that Keel gives guests nothing at.
const HOLES: &[(u64, &str)] = &[
    (0x0000_0000, "flash"),
    (0x0800_0000 + 0x1_0000, "past the GIC distributor"),
    (0x0900_1000, "the RTC of QEMU virt"),
    (0x0c00_0000, "platform bus"),
    (0x1000_0000, "PCIe window"),
    (0x3fff_f000, "just below RAM"),
];

pub fn probe(report: &mut Report, ram_end: u64) {
    for &(address, what) in HOLES {
        report.probe(
            format_args!("read {address:#x} ({what})"),
            ExternalAbort,
            run(|| trap::read32(address)),
        );
        report.probe(
            format_args!("write {address:#x} ({what})"),
            ExternalAbort,
            run(|| trap::write32(address, 0xdead_beef)),
        );
    }
    for (address, what) in [
        (ram_end, "the end of RAM"),
        (ram_end + (1 << 30), "1 GiB past RAM"),
        (0xff_ffff_f000, "the last page of the 40-bit IPA space"),
    ] {
        report.probe(
            format_args!("read {address:#x} ({what})"),
            ExternalAbort,
            run(|| trap::read64(address)),
        );
        report.probe(
            format_args!("write {address:#x} ({what})"),
            ExternalAbort,
            run(|| trap::write64(address, u64::MAX)),
        );
    }
    // Past the IPA space: the guest's own stage 1 (MMU off) or Keel's stage 2 refuses it.
    let beyond = 1 << 44;
    report.probe(
        format_args!("read {beyond:#x} (past the IPA space)"),
        DataAbort,
        run(|| trap::read64(beyond)),
    );
    // Accesses Keel cannot emulate (no instruction syndrome): an abort, not a dead VM.
    report.probe(
        format_args!("load pair at 0x1000_0000"),
        ExternalAbort,
        run(|| trap::load_pair(0x1000_0000)),
    );
    report.probe(
        format_args!("store with writeback at {ram_end:#x}"),
        ExternalAbort,
        run(|| trap::store_post_index(ram_end, 1)),
    );
    report.probe(
        format_args!("load pair in the GIC distributor"),
        ExternalAbort,
        run(|| trap::load_pair(0x0800_0000)),
    );
    // Instruction fetches outside RAM.
    for (address, what) in [
        (0x1000_0000, "PCIe window"),
        (ram_end, "the end of RAM"),
        (0x0900_0000, "the PL011"),
    ] {
        report.probe(
            format_args!("fetch from {address:#x} ({what})"),
            FetchAbort,
            run(|| trap::fetch(address)),
        );
    }
}
