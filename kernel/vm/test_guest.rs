//! A tiny bare-metal guest that exercises the world switch: it writes a line to its UART
//! (an MMIO exit per byte), reads the UART's flag register, and powers off through PSCI.

use super::memory::GuestRam;
use crate::arch::guest::{self, El1State, VcpuContext, VgicCpuState, VmHardware};
use alloc::vec::Vec;
use core::arch::global_asm;
use keel_vmm::exit::{self, Exit};
use keel_vmm::layout::{RAM_BASE, UART_BASE};
use aarch64_cpu::registers::Readable;

global_asm!(
    r#"
.section .rodata.keel_test_guest, "a"
.balign 4
.global keel_test_guest_start
keel_test_guest_start:
    movz    x1, #0x0900, lsl #16        // the UART at 0x0900_0000
    adr     x2, 2f
1:  ldrb    w3, [x2], #1
    cbz     w3, 3f
    str     w3, [x1]                    // DR: one MMIO exit per byte
    b       1b
3:  movz    x5, #50000
5:  ldr     w4, [x1, #0x18]             // FR: an MMIO read, 50,000 times
    subs    x5, x5, #1
    b.ne    5b
    movz    x0, #0x8400, lsl #16
    movk    x0, #0x0008                 // PSCI SYSTEM_OFF
    hvc     #0
4:  b       4b
2:  .asciz  "hello from EL1\n"
.balign 4
.global keel_test_guest_end
keel_test_guest_end:
"#
);

unsafe extern "C" {
    static keel_test_guest_start: u8;
    static keel_test_guest_end: u8;
}

/// PSTATE for a guest starting at EL1h with every interrupt masked.
const PSTATE_EL1H_MASKED: u64 = 0x3c5;
/// SCTLR_EL1 with the MMU and caches off (RES1 bits set).
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
/// The UART's flag register, which the guest reads 50,000 times.
const UART_FR: u64 = UART_BASE + 0x18;

/// What the test guest did.
pub struct TestGuestRun {
    pub output: Vec<u8>,
    pub exits: usize,
    pub powered_off: bool,
    pub ns_per_exit: u64,
}

/// Runs the test guest on this CPU until it powers off (or misbehaves). With `in_place`,
/// its flag-register reads are completed in place (`guest::run`'s fast path, as the VMM
/// does for UART accesses); without, every exit goes through the whole world switch.
pub fn run(in_place: bool) -> Result<TestGuestRun, &'static str> {
    let (start, end) = (&raw const keel_test_guest_start as usize, &raw const keel_test_guest_end as usize);
    // SAFETY: both symbols label the same rodata blob defined above: [start, end) is the
    // assembled guest code, immutable for the kernel's lifetime.
    let code = unsafe { core::slice::from_raw_parts(start as *const u8, end - start) };
    let ram = GuestRam::new(2 << 20).map_err(|_| "no memory for guest RAM")?;
    ram.write(0, code).map_err(|_| "guest code does not fit")?;
    let outcome = (|| {
        let pa_bits = keel_vmm::stage2::pa_range_bits(aarch64_cpu::registers::ID_AA64MMFR0_EL1.get()).unwrap_or(40);
        let hardware = VmHardware {
            hcr: keel_vmm::sysreg::guest_hcr_el2(),
            vttbr: ram.vttbr(1),
            vtcr: keel_vmm::stage2::vtcr_el2(pa_bits).ok_or("no stage-2 configuration for this CPU")?,
            cntvoff: 0,
        };
        let mut vcpu = VcpuContext {
            token: guest::new_context_token(),
            el1_dirty: true,
            loaded_on: None,
            regs: Default::default(),
            el1: El1State { sctlr: SCTLR_EL1_RESET, ..Default::default() },
            vgic: VgicCpuState::default(),
            vgic_loaded: VgicCpuState::default(),
            vmpidr: 1 << 31,
            vpidr: crate::arch::cpu::midr(),
        };
        vcpu.regs.pc = RAM_BASE;
        vcpu.regs.pstate = PSTATE_EL1H_MASKED;
        let mut result = TestGuestRun { output: Vec::new(), exits: 0, powered_off: false, ns_per_exit: 0 };
        let started = crate::arch::timer::now_ns();
        while result.exits < 60_000 {
            let mut completed = 0;
            let mut flag_reads = |raw: &guest::RawExit, regs: &mut guest::GuestRegs| match exit::decode(raw.esr, raw.far, raw.hpfar) {
                Exit::Mmio(access) if in_place && access.ipa == UART_FR && !access.write => {
                    access.complete_load(&mut regs.x, 0);
                    regs.pc += exit::instruction_length(raw.esr);
                    completed += 1;
                    guest::InPlace::Resume
                }
                _ => guest::InPlace::No,
            };
            let raw = guest::run(&mut vcpu, &hardware, &mut flag_reads);
            result.exits += completed;
            let Some(raw) = raw else { continue };
            result.exits += 1;
            if raw.kind != guest::SYNC_FROM_GUEST {
                continue; // an interrupt: taken by the host, then the guest goes on
            }
            match exit::decode(raw.esr, raw.far, raw.hpfar) {
                Exit::Mmio(access) if access.ipa == UART_BASE && access.write => {
                    result.output.push(access.store_value(&vcpu.regs.x) as u8);
                }
                Exit::Mmio(access) if access.ipa == UART_FR && !access.write => {
                    access.complete_load(&mut vcpu.regs.x, 0);
                }
                Exit::Hvc { .. } if vcpu.regs.x[0] == PSCI_SYSTEM_OFF => {
                    result.powered_off = true;
                    result.ns_per_exit = (crate::arch::timer::now_ns() - started) / result.exits as u64;
                    return Ok(result);
                }
                _ => return Err("the test guest exited for an unexpected reason"),
            }
            // HVC leaves ELR at the next instruction; aborts point at the faulting one.
            vcpu.regs.pc += exit::instruction_length(raw.esr);
        }
        Err("the test guest did not power off within 60,000 exits")
    })();
    drop(ram);
    outcome
}
