//! The hostile guest: a bare-metal program that Keel boots at EL1 as a raw binary and that
//! does, on purpose, what a broken or malicious guest kernel could — loads and stores
//! outside its RAM and devices, nonsense in every emulated device register, unknown HVC
//! and SMC calls, undefined PSCI calls, trapped and unimplemented system registers, TLB
//! maintenance that must take effect, floods and corrupts its virtqueues — and prints, one
//! line per probe, the outcome it saw and whether that is the error a guest should get.
//! See docs/vmm.md, "Hostile guests".
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod calls;
#[cfg(target_os = "none")]
mod memory;
#[cfg(target_os = "none")]
mod report;
#[cfg(target_os = "none")]
mod sweep;
#[cfg(target_os = "none")]
mod sysregs;
#[cfg(target_os = "none")]
mod tlb;
#[cfg(target_os = "none")]
mod trap;
#[cfg(target_os = "none")]
mod uart;
#[cfg(target_os = "none")]
mod virtq;

#[cfg(target_os = "none")]
core::arch::global_asm!(include_str!("start.S"));

/// Where the guest starts (from `start.S`, with the stack and vectors set): runs every
/// probe group, prints the summary, and returns to wait for ever.
#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn hostile_main(dtb: u64) {
    let mut report = report::Report::default();
    println!("hostile: start (EL1, MMU off)");
    let ram = memory::ram_from_dtb(dtb);
    match ram {
        Some((base, size)) => println!("hostile: RAM {base:#x}..{:#x}", base + size),
        None => println!("hostile: no /memory in the DTB at {dtb:#x}; assuming 0x40000000..0x44000000"),
    }
    let (base, size) = ram.unwrap_or((0x4000_0000, 0x400_0000));
    memory::probe(&mut report, base + size);
    calls::probe(&mut report);
    sysregs::probe(&mut report);
    tlb::probe(&mut report);
    virtq::probe(&mut report);
    sweep::probe(&mut report);
    // After all that, the rng device still serves a fresh driver.
    virtq::after_sweeps(&mut report);
    report.summary();
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("hostile: panic: {info}");
    loop {
        // SAFETY: WFI only waits; every exception is masked.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("keel-hostile-guest is a guest for Keel (aarch64-unknown-none, raw binary); it does not run on the host");
}
