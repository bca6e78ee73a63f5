//! The refusal path: runs with the MMU off when Keel cannot run here, says why, powers off.
//!
//! This code runs at the physical load address before any memory management, possibly at
//! EL1. It may only use PC-relative references (string literals, code), the stack and
//! volatile byte-wide reads of the DTB (with the MMU off every access is Device memory, so
//! unaligned or merged accesses would fault); no formatting machinery, no statics holding
//! pointers, no panics.

use super::boot::{REFUSE_NOT_EL2, REFUSE_NO_VHE};
use core::ptr;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

/// What the refusal path needs from the device tree.
struct EarlyPlatform {
    uart: Option<usize>,
    psci_smc: Option<bool>,
}

/// A byte-wise, bounds-checked view of the DTB in physical memory.
struct Blob {
    base: usize,
    len: usize,
}

impl Blob {
    fn byte(&self, at: usize) -> Option<u8> {
        if at >= self.len {
            return None;
        }
        // SAFETY: `at` is inside the blob whose length the header declared (capped at
        // 2 MiB); the loader placed it in RAM; byte-wide volatile reads are valid with the
        // MMU off.
        Some(unsafe { ptr::read_volatile((self.base + at) as *const u8) })
    }

    fn be32(&self, at: usize) -> Option<u32> {
        let mut value = 0u32;
        for i in 0..4 {
            value = (value << 8) | u32::from(self.byte(at + i)?);
        }
        Some(value)
    }

    /// True when the NUL-terminated string at `at` equals `text`.
    fn str_eq(&self, at: usize, text: &[u8]) -> bool {
        for (i, &expected) in text.iter().enumerate() {
            if self.byte(at + i) != Some(expected) {
                return false;
            }
        }
        self.byte(at + text.len()) == Some(0)
    }

    /// True when the string list (NUL-separated) of `len` bytes at `at` holds `text`.
    fn list_contains(&self, at: usize, len: usize, text: &[u8]) -> bool {
        let mut start = 0;
        while start < len {
            if self.str_eq(at + start, text) {
                return true;
            }
            while start < len && self.byte(at + start) != Some(0) {
                start += 1;
            }
            start += 1;
        }
        false
    }

    fn str_len(&self, at: usize) -> usize {
        let mut n = 0;
        while matches!(self.byte(at + n), Some(b) if b != 0) {
            n += 1;
        }
        n
    }
}

fn parse(dtb: usize) -> EarlyPlatform {
    let mut found = EarlyPlatform { uart: None, psci_smc: None };
    let header = Blob { base: dtb, len: 40 };
    if dtb == 0 || header.be32(0) != Some(FDT_MAGIC) {
        return found;
    }
    let total = header.be32(4).unwrap_or(0) as usize;
    let blob = Blob { base: dtb, len: total.min(2 << 20) };
    let (Some(structs), Some(strings)) = (blob.be32(8), blob.be32(12)) else {
        return found;
    };
    let (structs, strings) = (structs as usize, strings as usize);
    let mut at = structs;
    let mut depth = 0usize;
    let mut address_cells = 2usize;
    let mut in_psci = false;
    let mut is_pl011 = false;
    let mut reg: Option<usize> = None;
    while let Some(token) = blob.be32(at) {
        at += 4;
        match token {
            FDT_BEGIN_NODE => {
                depth += 1;
                in_psci = depth == 2 && blob.str_eq(at, b"psci");
                is_pl011 = false;
                reg = None;
                at += (blob.str_len(at) + 1 + 3) & !3;
            }
            FDT_END_NODE => {
                if is_pl011 && found.uart.is_none() {
                    found.uart = reg;
                }
                is_pl011 = false;
                in_psci = false;
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            FDT_PROP => {
                let (Some(len), Some(name)) = (blob.be32(at), blob.be32(at + 4)) else {
                    break;
                };
                let (len, name) = (len as usize, strings + name as usize);
                let value = at + 8;
                if depth == 1 && blob.str_eq(name, b"#address-cells") {
                    address_cells = blob.be32(value).unwrap_or(2) as usize;
                } else if blob.str_eq(name, b"compatible") && blob.list_contains(value, len, b"arm,pl011") {
                    is_pl011 = true;
                } else if depth == 2 && blob.str_eq(name, b"reg") {
                    let mut address = 0usize;
                    for cell in 0..address_cells.min(2) {
                        address = (address << 32) | blob.be32(value + cell * 4).unwrap_or(0) as usize;
                    }
                    reg = Some(address);
                } else if in_psci && blob.str_eq(name, b"method") {
                    found.psci_smc = Some(blob.str_eq(value, b"smc"));
                }
                at = value + ((len + 3) & !3);
            }
            FDT_NOP => {}
            _ => break,
        }
    }
    found
}

struct EarlyUart(Option<usize>);

impl EarlyUart {
    fn put(&self, byte: u8) {
        let Some(base) = self.0 else { return };
        const FR: usize = 0x18;
        const FR_TXFF: u8 = 1 << 5;
        for _ in 0..100_000 {
            // SAFETY: `base` is the PL011 the DTB names; with the MMU off the access is a
            // Device access to its flag register.
            if unsafe { ptr::read_volatile((base + FR) as *const u8) } & FR_TXFF == 0 {
                break;
            }
        }
        // SAFETY: as above, the data register at offset 0.
        unsafe { ptr::write_volatile(base as *mut u8, byte) };
    }

    #[inline(never)]
    fn puts(&self, text: &[u8]) {
        for &byte in text {
            if byte == b'\n' {
                self.put(b'\r');
            }
            self.put(byte);
        }
    }

    fn put_hex(&self, value: u64) {
        self.puts(b"0x");
        for shift in (0..16).rev() {
            let nibble = ((value >> (shift * 4)) & 0xf) as u8;
            self.put(if nibble < 10 { b'0' + nibble } else { b'a' + nibble - 10 });
        }
    }
}

/// Names the common cores without VHE, else prints the MIDR. Each name is its own call so
/// that only PC-relative references to the literals are generated.
fn put_model(uart: &EarlyUart, midr: u64) {
    let arm = (midr >> 24) & 0xff == 0x41;
    let part = (midr >> 4) & 0xfff;
    if arm && part == 0xd08 {
        uart.puts(b"cortex-a72");
    } else if arm && part == 0xd07 {
        uart.puts(b"cortex-a57");
    } else if arm && part == 0xd03 {
        uart.puts(b"cortex-a53");
    } else if arm && part == 0xd04 {
        uart.puts(b"cortex-a35");
    } else {
        uart.puts(b"MIDR ");
        uart.put_hex(midr);
    }
}

fn read_midr() -> u64 {
    let midr: u64;
    // SAFETY: reading MIDR_EL1 has no side effects and is allowed at EL1 and EL2.
    unsafe { core::arch::asm!("mrs {}, midr_el1", out(reg) midr, options(nomem, nostack)) };
    midr
}

/// Prints why Keel cannot run on this machine and powers it off.
#[unsafe(no_mangle)]
extern "C" fn keel_early_refuse(dtb: usize, reason: u64, detail: u64) -> ! {
    let platform = parse(dtb);
    let uart = EarlyUart(platform.uart);
    uart.puts(b"\nkeel: cannot boot: ");
    if reason == REFUSE_NOT_EL2 {
        uart.puts(b"entered at EL");
        uart.put(b'0' + (detail & 3) as u8);
        uart.puts(b", not EL2; QEMU needs -M virt,virtualization=on\n");
    } else if reason == REFUSE_NO_VHE {
        uart.puts(b"this CPU (");
        put_model(&uart, read_midr());
        uart.puts(b") has no VHE (ID_AA64MMFR1_EL1.VH = 0); use -cpu cortex-a76, neoverse-n1 or max\n");
    } else {
        uart.puts(b"unknown early failure\n");
    }
    uart.puts(b"keel: halted\n");
    let function = PSCI_SYSTEM_OFF;
    match platform.psci_smc {
        // SAFETY: PSCI SYSTEM_OFF through the conduit the DTB names; it does not return
        // on success, and on failure only x0 changes.
        Some(true) => unsafe { core::arch::asm!("smc #0", inout("x0") function => _, options(nostack)) },
        // SAFETY: as above, through HVC.
        Some(false) => unsafe { core::arch::asm!("hvc #0", inout("x0") function => _, options(nostack)) },
        None => {}
    }
    loop {
        // SAFETY: waiting for an event has no effect on memory.
        unsafe { core::arch::asm!("wfe", options(nomem, nostack)) };
    }
}
