//! Running a guest vCPU at EL1 from the VHE host: load its context, enter, exit, save.

use super::boot::{CNTHCTL_HOST, HCR_HOST};
use aarch64_cpu::registers::{Readable, Writeable, ESR_EL2, FAR_EL2, HCR_EL2, HPFAR_EL2};
use core::arch::global_asm;
use keel_drivers::sysreg as sr;

global_asm!(
    include_str!("guest.S"),
    FRAME_SIZE = const core::mem::size_of::<super::exception::TrapFrame>(),
);

/// A guest's general-purpose and FP/SIMD state (layout shared with guest.S).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct GuestRegs {
    pub x: [u64; 31],
    pub pc: u64,
    pub pstate: u64,
    _pad: u64,
    pub fp: [u128; 32],
    pub fpcr: u64,
    pub fpsr: u64,
}

const _: () = assert!(core::mem::size_of::<GuestRegs>() == 800);

/// What keel_guest_enter keeps of the host across the guest's run.
#[repr(C)]
#[derive(Default)]
struct HostSave {
    x19_x30: [u64; 12],
    sp: u64,
    d8_d15: [u64; 8],
}

/// The guest's EL1 (and EL0) system registers, saved while it does not run.
#[derive(Clone, Copy, Default)]
pub struct El1State {
    pub sctlr: u64,
    pub cpacr: u64,
    pub ttbr0: u64,
    pub ttbr1: u64,
    pub tcr: u64,
    pub spsr: u64,
    pub elr: u64,
    pub afsr0: u64,
    pub afsr1: u64,
    pub esr: u64,
    pub far: u64,
    pub mair: u64,
    pub amair: u64,
    pub vbar: u64,
    pub contextidr: u64,
    pub cntkctl: u64,
    pub cntv_ctl: u64,
    pub cntv_cval: u64,
    pub sp_el1: u64,
    pub sp_el0: u64,
    pub tpidr_el1: u64,
    pub tpidr_el0: u64,
    pub tpidrro_el0: u64,
    pub par: u64,
    pub csselr: u64,
    /// The guest's MDSCR_EL1, in software only (its accesses trap: MDCR_EL2.TDA).
    pub mdscr: u64,
}

/// Per-VM hardware settings for entering any of its vCPUs.
#[derive(Clone, Copy)]
pub struct VmHardware {
    pub hcr: u64,
    pub vttbr: u64,
    pub vtcr: u64,
    /// Counter offset: the guest's virtual count = physical count - offset.
    pub cntvoff: u64,
}

/// The virtual GIC CPU interface state of one vCPU.
#[derive(Clone, Copy, Default)]
pub struct VgicCpuState {
    pub hcr: u64,
    pub vmcr: u64,
    pub ap1r0: u64,
    pub lrs: [u64; 4],
}

/// Why the guest stopped running, as raw hardware values (decoded by vmm::exit).
#[derive(Clone, Copy, Debug)]
pub struct RawExit {
    /// The vector: 8 synchronous, 9 IRQ, 10 FIQ, 11 SError (12..15: AArch32, refused).
    pub kind: u64,
    pub esr: u64,
    pub far: u64,
    pub hpfar: u64,
}

unsafe extern "C" {
    fn keel_guest_enter(guest: *mut GuestRegs, host: *mut HostSave) -> u64;
}

/// CNTHCTL_EL2.EL1PCTEN in the E2H=1 layout.
const CNTHCTL_EL1PCTEN: u64 = 1 << 10;

/// MDCR_EL2.TPMCR, TPM: guest accesses to PMCR_EL0 and every performance-monitor register
/// trap (guests have no PMU: ID_AA64DFR0_EL1.PMUVer reads 0).
const MDCR_TPMCR: u64 = 1 << 5;
const MDCR_TPM: u64 = 1 << 6;
/// MDCR_EL2.TDOSA, TDA, TDRA: guest accesses to the OS lock, the debug registers and the
/// debug ROM address trap. The debug hardware is the host's and not switched per guest, so
/// guests see it as registers that read as zero and ignore writes (their MDSCR_EL1 is kept
/// in software).
const MDCR_TDOSA: u64 = 1 << 10;
const MDCR_TDA: u64 = 1 << 9;
const MDCR_TDRA: u64 = 1 << 11;
/// MDCR_EL2.HPMN, bits [4:0].
const MDCR_HPMN_MASK: u64 = 0x1f;

/// Sets this CPU's traps for guests that do not change per VM (MDCR_EL2: PMU and debug).
/// HPMN keeps every event counter (PMCR_EL0.N) with the host.
pub fn init_this_cpu() {
    use aarch64_cpu::registers::{ID_AA64DFR0_EL1, MDCR_EL2};
    let pmu_version = (ID_AA64DFR0_EL1.get() >> 8) & 0xf;
    let counters = if pmu_version != 0 && pmu_version != 0xf { (sr::read_pmcr_el0() >> 11) & MDCR_HPMN_MASK } else { 0 };
    MDCR_EL2.set(counters | MDCR_TPMCR | MDCR_TPM | MDCR_TDOSA | MDCR_TDA | MDCR_TDRA);
}

/// How many list registers Keel uses (QEMU's GICv3 has 4).
pub fn list_register_count() -> usize {
    let vtr = aarch64_cpu::registers::ICH_VTR_EL2.get();
    ((vtr & 0x1f) as usize + 1).min(4)
}

fn load_el1(state: &El1State) {
    sr::write_sctlr_el12(state.sctlr);
    sr::write_cpacr_el12(state.cpacr);
    sr::write_ttbr0_el12(state.ttbr0);
    sr::write_ttbr1_el12(state.ttbr1);
    sr::write_tcr_el12(state.tcr);
    sr::write_spsr_el12(state.spsr);
    sr::write_elr_el12(state.elr);
    sr::write_afsr0_el12(state.afsr0);
    sr::write_afsr1_el12(state.afsr1);
    sr::write_esr_el12(state.esr);
    sr::write_far_el12(state.far);
    sr::write_mair_el12(state.mair);
    sr::write_amair_el12(state.amair);
    sr::write_vbar_el12(state.vbar);
    sr::write_contextidr_el12(state.contextidr);
    sr::write_cntkctl_el12(state.cntkctl);
    sr::write_cntv_cval_el02(state.cntv_cval);
    sr::write_cntv_ctl_el02(state.cntv_ctl);
    sr::write_sp_el1(state.sp_el1);
    sr::write_tpidr_el1(state.tpidr_el1);
    sr::write_par_el1(state.par);
    sr::write_csselr_el1(state.csselr);
    load_el1_volatile(state);
}

/// The part of a guest's context the host changes between two entries, reloaded on every
/// entry: its timer (switched off by `save_el1` so it does not fire into the host) and the
/// EL0 registers, which host user processes share.
fn load_el1_volatile(state: &El1State) {
    sr::write_cntv_cval_el02(state.cntv_cval);
    sr::write_cntv_ctl_el02(state.cntv_ctl);
    sr::write_tpidrro_el0(state.tpidrro_el0);
    aarch64_cpu::registers::SP_EL0.set(state.sp_el0);
    aarch64_cpu::registers::TPIDR_EL0.set(state.tpidr_el0);
}

fn save_el1(state: &mut El1State) {
    state.sctlr = sr::read_sctlr_el12();
    state.cpacr = sr::read_cpacr_el12();
    state.ttbr0 = sr::read_ttbr0_el12();
    state.ttbr1 = sr::read_ttbr1_el12();
    state.tcr = sr::read_tcr_el12();
    state.spsr = sr::read_spsr_el12();
    state.elr = sr::read_elr_el12();
    state.afsr0 = sr::read_afsr0_el12();
    state.afsr1 = sr::read_afsr1_el12();
    state.esr = sr::read_esr_el12();
    state.far = sr::read_far_el12();
    state.mair = sr::read_mair_el12();
    state.amair = sr::read_amair_el12();
    state.vbar = sr::read_vbar_el12();
    state.contextidr = sr::read_contextidr_el12();
    state.cntkctl = sr::read_cntkctl_el12();
    state.cntv_ctl = sr::read_cntv_ctl_el02();
    state.cntv_cval = sr::read_cntv_cval_el02();
    state.sp_el1 = sr::read_sp_el1();
    state.tpidr_el1 = sr::read_tpidr_el1();
    state.tpidrro_el0 = sr::read_tpidrro_el0();
    state.par = sr::read_par_el1();
    state.csselr = sr::read_csselr_el1();
    state.sp_el0 = aarch64_cpu::registers::SP_EL0.get();
    state.tpidr_el0 = aarch64_cpu::registers::TPIDR_EL0.get();
    // The guest's timer must not fire into the host: the VMM tracks it in software.
    sr::write_cntv_ctl_el02(0);
}

/// Loads the virtual CPU interface. `hardware` is what the CPU holds; when this CPU still
/// holds the vCPU's interface (`held`), only registers whose value changed are written (each
/// access to the interface is costly under an emulator).
fn load_vgic(state: &VgicCpuState, hardware: &mut VgicCpuState, count: usize, held: bool) {
    if !held || hardware.vmcr != state.vmcr {
        sr::write_ich_vmcr_el2(state.vmcr);
    }
    if !held || hardware.ap1r0 != state.ap1r0 {
        sr::write_ich_ap1r0_el2(state.ap1r0);
    }
    let writers = [sr::write_ich_lr0_el2, sr::write_ich_lr1_el2, sr::write_ich_lr2_el2, sr::write_ich_lr3_el2];
    for ((write, value), old) in writers.iter().zip(state.lrs.iter()).zip(hardware.lrs.iter()).take(count) {
        if !held || value != old {
            write(*value);
        }
    }
    if !held || hardware.hcr != state.hcr {
        sr::write_ich_hcr_el2(state.hcr);
    }
    *hardware = *state;
}

/// Saves the virtual CPU interface after an exit: the priority state, and the list
/// registers the guest could have changed. Disables the interface for the host only when
/// it could otherwise raise maintenance interrupts there.
fn save_vgic(state: &mut VgicCpuState, hardware: &mut VgicCpuState, count: usize) {
    state.vmcr = sr::read_ich_vmcr_el2();
    state.ap1r0 = sr::read_ich_ap1r0_el2();
    let readers = [sr::read_ich_lr0_el2, sr::read_ich_lr1_el2, sr::read_ich_lr2_el2, sr::read_ich_lr3_el2];
    for (read, value) in readers.iter().zip(state.lrs.iter_mut()).take(count) {
        if keel_vmm::vgic::lr_in_flight(*value) {
            *value = read();
        }
    }
    *hardware = *state;
    if keel_vmm::vgic::must_disable_for_host(hardware.hcr, &hardware.lrs[..count]) {
        sr::write_ich_hcr_el2(0);
        hardware.hcr = 0;
    }
}

/// Gives every vCPU context its own token (for the per-CPU "loaded guest" record).
static NEXT_TOKEN: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

/// A token no other vCPU context has.
pub fn new_context_token() -> u64 {
    NEXT_TOKEN.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
}

/// Everything one vCPU needs to run.
pub struct VcpuContext {
    /// Identifies this context in `PerCpu::loaded_guest` (from `new_context_token`).
    pub token: u64,
    /// Set when the host changed `el1` (e.g. injected an exception): it must be loaded
    /// even if this CPU holds the context.
    pub el1_dirty: bool,
    /// The CPU this context was last loaded on (a CPU's copy is stale once the vCPU has
    /// run elsewhere).
    pub loaded_on: Option<usize>,
    pub regs: GuestRegs,
    pub el1: El1State,
    pub vgic: VgicCpuState,
    /// The virtual CPU interface registers as the CPU in `loaded_on` holds them.
    pub vgic_loaded: VgicCpuState,
    /// The MPIDR the guest reads.
    pub vmpidr: u64,
    /// The MIDR the guest reads.
    pub vpidr: u64,
}

/// The vector kinds (`RawExit::kind`) of a synchronous exception and of an IRQ from the
/// guest.
pub const SYNC_FROM_GUEST: u64 = 8;
pub const IRQ_FROM_GUEST: u64 = 9;

/// What an in-place handler made of a synchronous exit (see [`run`]).
pub enum InPlace {
    /// Not an exit it completes: `run` returns it.
    No,
    /// Completed (the guest's registers and PC updated): the guest goes on at once.
    Resume,
    /// Completed, but the host must look at the VM before the guest goes on (the access
    /// moved an interrupt line): `run` returns `None`.
    Completed,
}

/// Runs the vCPU until an exit that needs the host. Interrupts are masked for the
/// duration and come back afterwards, so a host interrupt that caused the exit is taken
/// right after.
///
/// Each synchronous exit is first offered to `in_place`, right where the guest left and
/// before anything of the host is restored (HCR_EL2 still has TGE clear, the guest's EL1
/// registers, timer and virtual CPU interface are still loaded). An exit it completes
/// costs only the register save and restore of `keel_guest_enter`: under an emulator,
/// every system-register access of the full switch is a call into it, and a booting
/// guest's console makes most of its exits. `in_place` therefore runs with IRQs masked and
/// TGE clear: it may take spinlocks, touch device models and buffers and wake threads, but
/// must not block and must not do TLB maintenance (with TGE clear, EL1 TLB instructions
/// reach the guest's regime, not the host's). Returns `None` when `in_place` said
/// [`InPlace::Completed`].
pub fn run(vcpu: &mut VcpuContext, vm: &VmHardware, in_place: &mut dyn FnMut(&RawExit, &mut GuestRegs) -> InPlace) -> Option<RawExit> {
    let irqs = super::cpu::irq_save();
    let lrs = list_register_count();
    let this_cpu = super::cpu::current();
    // The host never uses the EL1 registers (it lives at EL2), so a CPU that last ran this
    // vCPU still holds its EL1 state: reloading it would be wasted work (and makes
    // emulators flush their TLBs).
    let held = vcpu.loaded_on == Some(this_cpu.index)
        && this_cpu.loaded_guest.load(core::sync::atomic::Ordering::Relaxed) == vcpu.token;
    if !held || vcpu.el1_dirty {
        sr::write_vttbr_el2(vm.vttbr);
        sr::write_vtcr_el2(vm.vtcr);
        sr::write_vmpidr_el2(vcpu.vmpidr);
        sr::write_vpidr_el2(vcpu.vpidr);
        // The host's EL2&0 counter ignores CNTVOFF (E2H and TGE set), so the offset can stay.
        aarch64_cpu::registers::CNTVOFF_EL2.set(vm.cntvoff);
        load_el1(&vcpu.el1);
        this_cpu.loaded_guest.store(vcpu.token, core::sync::atomic::Ordering::Relaxed);
        vcpu.loaded_on = Some(this_cpu.index);
        vcpu.el1_dirty = false;
    } else {
        load_el1_volatile(&vcpu.el1);
    }
    // The guest's EL1 may read the physical counter (EL1PCTEN); its physical-timer
    // accesses trap (EL1PTEN clear): guests use their virtual timer.
    aarch64_cpu::registers::CNTHCTL_EL2.set(CNTHCTL_HOST | CNTHCTL_EL1PCTEN);
    load_vgic(&vcpu.vgic, &mut vcpu.vgic_loaded, lrs, held);
    HCR_EL2.set(vm.hcr);
    // SAFETY: a barrier only: the guest's context must be in place before the eret.
    unsafe { core::arch::asm!("isb", options(nostack)) };
    let mut host = HostSave::default();
    let exit = loop {
        // SAFETY: keel_guest_enter saves the host's callee-saved state in `host` and
        // returns here on the guest's next exception (guest.S restores it). IRQs are masked
        // and HCR_EL2 has TGE clear, so every exception from the guest's ELs comes back
        // through keel_guest_exit; the guest can only reach memory its stage-2 table
        // (VTTBR) maps.
        let kind = unsafe { keel_guest_enter(&mut vcpu.regs, &mut host) };
        let exit = RawExit { kind, esr: ESR_EL2.get(), far: FAR_EL2.get(), hpfar: HPFAR_EL2.get() };
        if kind != SYNC_FROM_GUEST {
            break Some(exit);
        }
        match in_place(&exit, &mut vcpu.regs) {
            InPlace::Resume => continue,
            InPlace::Completed => break None,
            InPlace::No => break Some(exit),
        }
    };
    HCR_EL2.set(HCR_HOST);
    aarch64_cpu::registers::CNTHCTL_EL2.set(CNTHCTL_HOST);
    // SAFETY: a barrier only: the host configuration applies from here on.
    unsafe { core::arch::asm!("isb", options(nostack)) };
    save_vgic(&mut vcpu.vgic, &mut vcpu.vgic_loaded, lrs);
    save_el1(&mut vcpu.el1);
    super::cpu::irq_restore(irqs);
    exit
}

/// The host's value of the ID register with this encoding (for a guest's sanitised view);
/// 0 for encodings Keel does not read.
pub fn read_id_register(encoding: u32) -> u64 {
    use aarch64_cpu::registers::*;
    let (op0, op1, crn, crm, op2) = keel_vmm::sysreg::decode(encoding);
    if (op0, op1, crn) != (3, 0, 0) {
        return 0;
    }
    match (crm, op2) {
        (4, 0) => ID_AA64PFR0_EL1.get(),
        (4, 1) => ID_AA64PFR1_EL1.get(),
        (4, 2) => sr::read_id_aa64pfr2_el1(),
        (4, 4) => sr::read_id_aa64zfr0_el1(),
        (4, 5) => sr::read_id_aa64smfr0_el1(),
        (5, 0) => ID_AA64DFR0_EL1.get(),
        (5, 1) => ID_AA64DFR1_EL1.get(),
        (5, 4) => ID_AA64AFR0_EL1.get(),
        (5, 5) => ID_AA64AFR1_EL1.get(),
        (6, 0) => ID_AA64ISAR0_EL1.get(),
        (6, 1) => ID_AA64ISAR1_EL1.get(),
        (6, 2) => sr::read_id_aa64isar2_el1(),
        (7, 0) => ID_AA64MMFR0_EL1.get(),
        (7, 1) => ID_AA64MMFR1_EL1.get(),
        (7, 2) => ID_AA64MMFR2_EL1.get(),
        (7, 3) => sr::read_id_aa64mmfr3_el1(),
        _ => 0,
    }
}

/// Drops every stage-1 and stage-2 TLB entry of the VM whose VTTBR is `vttbr`, on all
/// CPUs (before its memory and VMID are reused). The VMID must be current and TGE clear
/// for the EL1 invalidation to reach the guest's regime.
pub fn invalidate_vm_tlb(vttbr: u64) {
    let irqs = super::cpu::irq_save();
    // VTTBR changes below: this CPU no longer holds any vCPU's full context.
    super::cpu::current().loaded_guest.store(0, core::sync::atomic::Ordering::Relaxed);
    sr::write_vttbr_el2(vttbr);
    HCR_EL2.set(HCR_HOST & !(1 << 27));
    // SAFETY: TLB maintenance for the guest regime only, with interrupts masked so no host
    // code runs with TGE clear; the host configuration is restored right after.
    unsafe { core::arch::asm!("isb", "tlbi vmalls12e1is", "dsb ish", "isb", options(nostack)) };
    HCR_EL2.set(HCR_HOST);
    // SAFETY: a barrier only.
    unsafe { core::arch::asm!("isb", options(nostack)) };
    super::cpu::irq_restore(irqs);
}
