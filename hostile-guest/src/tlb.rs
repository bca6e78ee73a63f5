//! TLB maintenance: the guest turns its own stage 1 on, maps a page, reads through it,
//! maps another page at the same address and invalidates with one TLB instruction; the
//! next read must see the new page. An invalidation that is lost, or that reaches another
//! regime or VMID than the guest's (a trap configuration gone wrong), leaves the old
//! translation cached, and the read sees the old page.

use crate::report::Report;
use crate::trap::run;
use core::arch::asm;
use keel_hostile_guest::Expected::Returns;

/// A 4 KiB translation table or data page.
#[repr(C, align(4096))]
struct Page([u64; 512]);

static mut LEVEL1: Page = Page([0; 512]);
static mut LEVEL2: Page = Page([0; 512]);
static mut LEVEL3: Page = Page([0; 512]);
static mut OLD_PAGE: Page = Page([0; 512]);
static mut NEW_PAGE: Page = Page([0; 512]);

/// The remapped address: level-1 entry 256 of a 39-bit address space.
const TEST_VA: u64 = 0x40_0000_0000;
/// The ASID the guest's translations are tagged with (its page is not global).
const ASID: u64 = 5;
/// What the first words of the old and the new page hold.
const OLD_MARK: u64 = 0x01d0_01d0;
const NEW_MARK: u64 = 0x0e30_0e30;

/// Descriptor bits: valid; table (levels 1-2) or page (level 3); MAIR index 1 (normal
/// memory, index 0 is device); inner shareable; access flag; not global.
const VALID: u64 = 1;
const TABLE_OR_PAGE: u64 = 1 << 1;
const NORMAL: u64 = 1 << 2;
const INNER_SHAREABLE: u64 = 3 << 8;
const ACCESSED: u64 = 1 << 10;
const NOT_GLOBAL: u64 = 1 << 11;

/// MAIR_EL1: attribute 0 Device-nGnRnE, attribute 1 normal write-back.
const MAIR: u64 = 0xff << 8;
/// TCR_EL1: T0SZ 25 (39-bit VA), walks write-back inner shareable, 4 KiB granule, no
/// TTBR1 walks (EPD1), 40-bit physical addresses.
const TCR: u64 = 25 | (1 << 8) | (1 << 10) | (3 << 12) | (25 << 16) | (1 << 23) | (2 << 32);
/// SCTLR_EL1 M, C, I.
const SCTLR_MMU_CACHES: u64 = 1 | (1 << 2) | (1 << 12);

fn address(page: *mut Page) -> u64 {
    page as u64
}

/// Identity-maps the first 4 GiB (device memory below RAM, normal memory from 1 GiB) with
/// 1 GiB blocks, and [`TEST_VA`] through level 2 and 3 tables.
fn build_tables() {
    // SAFETY: one CPU, MMU off: these tables and pages are this module's alone and not in
    // use by any translation yet.
    unsafe {
        let level1 = &mut (*(&raw mut LEVEL1)).0;
        level1[0] = VALID | ACCESSED;
        for (gib, entry) in level1.iter_mut().enumerate().take(4).skip(1) {
            *entry = ((gib as u64) << 30) | VALID | NORMAL | INNER_SHAREABLE | ACCESSED;
        }
        level1[256] = address(&raw mut LEVEL2) | VALID | TABLE_OR_PAGE;
        (*(&raw mut LEVEL2)).0[0] = address(&raw mut LEVEL3) | VALID | TABLE_OR_PAGE;
        (*(&raw mut OLD_PAGE)).0[0] = OLD_MARK;
        (*(&raw mut NEW_PAGE)).0[0] = NEW_MARK;
    }
}

/// Points [`TEST_VA`] at `page` (no TLB maintenance).
fn map_test_page(page: *mut Page) {
    let descriptor = address(page) | VALID | TABLE_OR_PAGE | NORMAL | INNER_SHAREABLE | ACCESSED | NOT_GLOBAL;
    // SAFETY: the level-3 table is this module's; the barrier orders the store before any
    // later walk.
    unsafe {
        core::ptr::write_volatile(&raw mut (*(&raw mut LEVEL3)).0[0], descriptor);
        asm!("dsb ishst", options(nostack));
    }
}

fn read_test_va() -> u64 {
    // SAFETY: TEST_VA is mapped to one of this module's pages whenever this runs.
    unsafe { core::ptr::read_volatile(TEST_VA as *const u64) }
}

/// Maps the old page, reads it (its translation is now cached), maps the new one, runs
/// `invalidate` and reads again: the new page's mark when the invalidation worked.
fn remap(invalidate: impl FnOnce()) -> u64 {
    map_test_page(&raw mut OLD_PAGE);
    // SAFETY: TLB maintenance of this guest's own regime and barriers.
    unsafe { asm!("tlbi vmalle1", "dsb ish", "isb", options(nostack)) };
    let first = read_test_va();
    if first != OLD_MARK {
        return first;
    }
    map_test_page(&raw mut NEW_PAGE);
    invalidate();
    // SAFETY: barriers only.
    unsafe { asm!("dsb ish", "isb", options(nostack)) };
    read_test_va()
}

/// A remap probe whose invalidation is this one instruction (`{x}` is the operand, if any).
macro_rules! tlbi {
    ($instruction:literal $(, $operand:expr)?) => {
        || {
            remap(|| {
                // SAFETY: TLB invalidation of this guest's own EL1&0 regime.
                unsafe { asm!($instruction $(, x = in(reg) $operand)?, options(nostack)) }
            })
        }
    };
}

pub fn probe(report: &mut Report) {
    build_tables();
    let mut saved = [0u64; 4];
    // SAFETY: the guest's own EL1 translation registers: saved, set to the tables above
    // (which identity-map this program, its stack and its devices), restored at the end.
    unsafe {
        asm!(
            "mrs {s}, sctlr_el1", "mrs {t}, tcr_el1", "mrs {m}, mair_el1", "mrs {b}, ttbr0_el1",
            s = out(reg) saved[0], t = out(reg) saved[1], m = out(reg) saved[2], b = out(reg) saved[3],
            options(nomem, nostack)
        );
        asm!(
            "msr mair_el1, {m}", "msr tcr_el1, {t}", "msr ttbr0_el1, {b}", "isb",
            "tlbi vmalle1", "dsb ish", "isb",
            "msr sctlr_el1, {s}", "isb",
            m = in(reg) MAIR, t = in(reg) TCR, b = in(reg) address(&raw mut LEVEL1) | (ASID << 48),
            s = in(reg) saved[0] | SCTLR_MMU_CACHES,
            options(nostack)
        );
    }
    let page = TEST_VA >> 12;
    let asid = ASID << 48;
    report.probe(format_args!("TLBI VAE1IS after a remap"), Returns(NEW_MARK), run(tlbi!("tlbi vae1is, {x}", asid | page)));
    report.probe(format_args!("TLBI VALE1IS after a remap"), Returns(NEW_MARK), run(tlbi!("tlbi vale1is, {x}", asid | page)));
    report.probe(format_args!("TLBI VAAE1IS after a remap"), Returns(NEW_MARK), run(tlbi!("tlbi vaae1is, {x}", page)));
    report.probe(format_args!("TLBI VAALE1IS after a remap"), Returns(NEW_MARK), run(tlbi!("tlbi vaale1is, {x}", page)));
    report.probe(format_args!("TLBI ASIDE1IS after a remap"), Returns(NEW_MARK), run(tlbi!("tlbi aside1is, {x}", asid)));
    report.probe(format_args!("TLBI VAE1 after a remap"), Returns(NEW_MARK), run(tlbi!("tlbi vae1, {x}", asid | page)));
    report.probe(format_args!("TLBI VMALLE1IS after a remap"), Returns(NEW_MARK), run(tlbi!("tlbi vmalle1is")));
    let isar0: u64;
    // SAFETY: an ID register read.
    unsafe { asm!("mrs {}, id_aa64isar0_el1", out(reg) isar0, options(nomem, nostack)) };
    let tlb = (isar0 >> 56) & 0xf;
    if tlb >= 1 {
        // FEAT_TLBIOS: TLBI VAE1OS, written as SYS.
        report.probe(format_args!("TLBI VAE1OS after a remap"), Returns(NEW_MARK), run(tlbi!("sys #0, c8, c1, #1, {x}", asid | page)));
    }
    if tlb >= 2 {
        // FEAT_TLBIRANGE: TLBI RVAE1IS over two 4 KiB pages (TG 1, SCALE 0, NUM 0).
        let range = asid | (1 << 46) | page;
        report.probe(format_args!("TLBI RVAE1IS after a remap"), Returns(NEW_MARK), run(tlbi!("sys #0, c8, c2, #1, {x}", range)));
    }
    // SAFETY: the guest's own translation registers back as they were (MMU off first).
    unsafe {
        asm!(
            "msr sctlr_el1, {s}", "isb",
            "msr mair_el1, {m}", "msr tcr_el1, {t}", "msr ttbr0_el1, {b}", "isb",
            "tlbi vmalle1", "dsb ish", "isb",
            s = in(reg) saved[0], t = in(reg) saved[1], m = in(reg) saved[2], b = in(reg) saved[3],
            options(nostack)
        );
    }
}
