//! A vCPU thread: enter the guest, handle each exit at EL2 in this thread, repeat.

use super::machine::{self, Running, Vm, VCPU_OFF, VCPU_ON};
use super::memory::Miss;
use super::stats::VcpuCounters;
use crate::arch::guest::{self, El1State, GuestRegs, InPlace, RawExit, VcpuContext, VgicCpuState, IRQ_FROM_GUEST, SYNC_FROM_GUEST};
use crate::arch::{cpu, timer};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use keel_vmm::bus::{HeldLevels, InterruptSink, MmioError};
use keel_vmm::exit::{self, Exit, MmioAccess, SysRegAccess};
use keel_vmm::guest_error::{Answer, GuestError};
use keel_vmm::inject::{self, PSTATE_EL1H_MASKED};
use keel_vmm::layout::VTIMER_INTID;
use keel_vmm::psci::{self, PsciOutcome, VcpuStates};

/// SCTLR_EL1 at reset: MMU and caches off, RES1 bits set.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;
/// CNTV_CTL bits.
const TIMER_ENABLE: u64 = 1;
const TIMER_IMASK: u64 = 1 << 1;
/// ICC_SGI1R_EL1: op0 3, op1 0, CRn 12, CRm 11, op2 5.
const ICC_SGI1R_EL1: u32 = keel_vmm::sysreg::encode(3, 0, 12, 11, 5);

/// How an exit was dealt with.
enum Next {
    /// Go on with the next instruction.
    Advance,
    /// Go on at the current PC (it was already moved, or an exception was injected).
    Stay,
    /// This vCPU is off (PSCI CPU_OFF) or the VM is stopping.
    Leave,
}

impl VcpuStates for Vm {
    fn vcpu_count(&self) -> usize {
        self.vcpus.len()
    }
    fn mpidr(&self, vcpu: usize) -> u64 {
        psci::vcpu_mpidr(vcpu)
    }
    fn is_on(&self, vcpu: usize) -> bool {
        self.vcpus.get(vcpu).is_some_and(|s| s.power.load(Ordering::Acquire) == VCPU_ON)
    }
    fn is_pending(&self, vcpu: usize) -> bool {
        self.vcpus.get(vcpu).is_some_and(|s| s.power.load(Ordering::Acquire) == machine::VCPU_PENDING)
    }
}

/// Whether the guest's virtual timer is asserting its interrupt.
fn timer_line(el1: &El1State, cntvoff: u64) -> bool {
    let virtual_now = timer::counter().wrapping_sub(cntvoff);
    el1.cntv_ctl & TIMER_ENABLE != 0 && el1.cntv_ctl & TIMER_IMASK == 0 && virtual_now >= el1.cntv_cval
}

/// When the guest's timer fires next, in host ns (None when it is off).
fn timer_deadline_ns(el1: &El1State, cntvoff: u64) -> Option<u64> {
    if el1.cntv_ctl & TIMER_ENABLE == 0 || el1.cntv_ctl & TIMER_IMASK != 0 {
        return None;
    }
    let physical = el1.cntv_cval.checked_add(cntvoff)?;
    Some((physical as u128 * 1_000_000_000 / timer::frequency() as u128).min(u64::MAX as u128) as u64)
}

/// The body of a vCPU thread.
pub fn run_vcpu(vm: Arc<Vm>, running: Arc<Running>, index: usize) {
    let slot = &vm.vcpus[index];
    let (entry, context) = *slot.start.lock();
    let mut vcpu = VcpuContext {
        token: guest::new_context_token(),
        el1_dirty: true,
        loaded_on: None,
        regs: Default::default(),
        el1: El1State { sctlr: SCTLR_EL1_RESET, ..Default::default() },
        vgic: VgicCpuState::default(),
        vgic_loaded: VgicCpuState::default(),
        vmpidr: psci::vcpu_mpidr(index),
        vpidr: cpu::midr(),
    };
    vcpu.regs.pc = entry;
    vcpu.regs.x[0] = context;
    vcpu.regs.pstate = PSTATE_EL1H_MASKED;
    let thread = crate::sched::current();
    slot.counters.thread_started(thread.as_ref().map_or(0, |t| t.id));
    slot.power.store(VCPU_ON, Ordering::Release);
    let lr_count = guest::list_register_count();
    let cntvoff = running.hardware.cntvoff;
    while !vm.stopping.load(Ordering::Acquire) {
        let kicks = {
            let mut devices = running.devices.lock();
            devices.vgic.set_ppi_level(index, VTIMER_INTID, timer_line(&vcpu.el1, cntvoff));
            let leftover = devices.vgic.flush_list_registers(index, &mut vcpu.vgic.lrs[..lr_count]);
            vcpu.vgic.hcr = keel_vmm::vgic::ich_hcr(leftover);
            devices.vgic.take_kicks()
        };
        kick(&vm, kicks, index);
        // From here to the exit the thread stays on this CPU: the timer PPI set and the
        // CPU recorded for kicks are the ones the guest runs on (a kick sent meanwhile is
        // taken as the guest is entered, and pulls it out at once).
        let irqs = cpu::irq_save();
        // While the timer's interrupt is in flight, keep the physical line from pulling
        // the guest out again and again: the guest sees it through the list registers.
        crate::irq::set_private_enabled(VTIMER_INTID, !timer_line(&vcpu.el1, cntvoff));
        slot.in_guest_on.store(cpu::current().index as i64, Ordering::Release);
        let mut in_place = |raw: &RawExit, regs: &mut GuestRegs| complete_in_place(&vm, &running, &slot.counters, raw, regs);
        let raw = guest::run(&mut vcpu, &running.hardware, &mut in_place);
        slot.in_guest_on.store(-1, Ordering::Release);
        cpu::irq_restore(irqs);
        {
            let mut devices = running.devices.lock();
            devices.vgic.sync_list_registers(index, &mut vcpu.vgic.lrs[..lr_count]);
        }
        // An exit completed in place that moved an interrupt line: the loop's top passes
        // the change on.
        let Some(raw) = raw else { continue };
        match handle_exit(&vm, &running, index, &mut vcpu, raw) {
            Next::Advance => vcpu.regs.pc += exit::instruction_length(raw.esr),
            Next::Stay => {}
            Next::Leave => break,
        }
    }
    crate::irq::set_private_enabled(VTIMER_INTID, true);
    slot.counters.thread_ending(thread.map_or(0, |t| t.cpu_time_ns()));
    slot.power.store(VCPU_OFF, Ordering::Release);
    // Let go of the VM's memory before saying so: the last vCPU out frees it.
    drop(running);
    super::registry::vcpu_left(&vm);
}

/// Wakes (or pulls out of the guest) every vCPU in `mask` but `me`.
fn kick(vm: &Vm, mask: u64, me: usize) {
    for (index, slot) in vm.vcpus.iter().enumerate() {
        if index == me || index >= 64 || mask & (1 << index) == 0 {
            continue;
        }
        slot.wake.wake_all();
        let on = slot.in_guest_on.load(Ordering::Acquire);
        if on >= 0 {
            if let Some(other) = cpu::by_index(on as usize) {
                crate::irq::send_ipi(crate::sched::SGI_RESCHED, other.mpidr.load(Ordering::Relaxed));
            }
        }
    }
}

/// Pulls every vCPU of `vm` out of the guest and out of WFI (to stop it).
pub fn kick_all(vm: &Vm) {
    kick(vm, u64::MAX, usize::MAX);
}

/// Wakes the vCPUs in `mask` (from host context, e.g. after console input).
pub fn kick_mask(vm: &Vm, mask: u64) {
    kick(vm, mask, usize::MAX);
}

fn handle_exit(vm: &Arc<Vm>, running: &Arc<Running>, index: usize, vcpu: &mut VcpuContext, raw: RawExit) -> Next {
    let counters = &vm.vcpus[index].counters;
    match raw.kind {
        IRQ_FROM_GUEST => {
            counters.irq_exit();
            vm.announce_console();
            return Next::Stay;
        }
        SYNC_FROM_GUEST => {}
        _ => {
            counters.other_exit();
            return unhandled(vm, counters, vcpu, format!("exception vector {} (SError or AArch32) from the guest", raw.kind));
        }
    }
    // Guest RAM is mapped on first touch: a miss inside RAM is counted apart.
    if let Some(ipa) = keel_vmm::ram::stage2_miss(raw.esr, raw.far, raw.hpfar) {
        match running.ram.miss(ipa) {
            Miss::Retry => {
                counters.stage2_exit();
                return Next::Stay;
            }
            Miss::Failed(error) => return unhandled(vm, counters, vcpu, format!("guest RAM at IPA {ipa:#x} could not be mapped: {error:?}")),
            Miss::NotRam => {}
        }
    }
    let decoded = exit::decode(raw.esr, raw.far, raw.hpfar);
    let uart = matches!(&decoded, Exit::Mmio(access) if machine::uart_offset(access.ipa).is_some());
    if !uart {
        vm.announce_console();
    }
    counters.exit(exit_class(vm, running, &decoded));
    match decoded {
        Exit::Mmio(access) => mmio(vm, running, counters, vcpu, &access, raw.far),
        Exit::SysReg(access) => sysreg(vm, running, index, counters, vcpu, &access, raw.esr),
        Exit::Wfi => {
            wait_for_interrupt(vm, running, index, vcpu);
            Next::Advance
        }
        Exit::Wfe => {
            crate::sched::yield_now();
            Next::Advance
        }
        Exit::Hvc { imm } => psci_call(vm, running, index, vcpu, imm, false),
        Exit::Smc { imm } => psci_call(vm, running, index, vcpu, imm, true),
        Exit::AbortWithoutSyndrome { ipa, write, esr } => {
            let what = if write { "write" } else { "read" };
            refuse(vm, counters, vcpu, &decoded, raw.far, format_args!("{what} at IPA {ipa:#x} (ESR {esr:#x})"))
        }
        Exit::HiddenFeature { class, .. } => refuse(vm, counters, vcpu, &decoded, raw.far, format_args!("{}", class.name())),
        Exit::InstructionAbort { ipa, esr } => {
            refuse(vm, counters, vcpu, &decoded, raw.far, format_args!("IPA {ipa:#x} (ESR {esr:#x})"))
        }
        other => unhandled(vm, counters, vcpu, format!("unhandled exit {other:?} (ESR {:#x})", raw.esr)),
    }
}

/// The statistics class of an exit.
fn exit_class(vm: &Vm, running: &Running, decoded: &Exit) -> keel_vmm::exit::class::ExitClass {
    keel_vmm::exit::class::classify(decoded, vm.vcpus.len(), |slot| running.virtio.iter().any(|s| s.slot == slot))
}

/// Completes an exit without leaving the guest's context when it can (`guest::run`'s
/// in-place handler): an access to the UART, which a booting guest's console makes one
/// per byte written and per flag-register poll, most of its exits. Runs with IRQs masked
/// and the guest's HCR_EL2, so it only touches the UART model, the console buffers and the
/// counters. An access the UART refuses is left to the full path, which injects the abort
/// (a refused access changes nothing, so doing it again there is the same access).
fn complete_in_place(vm: &Vm, running: &Running, counters: &VcpuCounters, raw: &RawExit, regs: &mut GuestRegs) -> InPlace {
    let decoded = exit::decode(raw.esr, raw.far, raw.hpfar);
    let Exit::Mmio(access) = &decoded else { return InPlace::No };
    let Some(offset) = machine::uart_offset(access.ipa) else { return InPlace::No };
    let value = access.store_value(&regs.x);
    let mut held = HeldLevels::default();
    let (result, moved) = {
        let mut devices = running.devices.lock();
        let devices = &mut *devices;
        let result = uart_access(vm, &mut devices.uart, offset, access, value, &mut held);
        let moved = !held.is_empty();
        held.release(&mut devices.vgic);
        (result, moved)
    };
    let Ok(read) = result else { return InPlace::No };
    if !access.write {
        access.complete_load(&mut regs.x, read & access.width.mask());
    }
    regs.pc += exit::instruction_length(raw.esr);
    counters.exit(exit_class(vm, running, &decoded));
    if moved {
        InPlace::Completed
    } else {
        InPlace::Resume
    }
}

/// A guest access to its UART; what the guest wrote goes to its console.
fn uart_access(
    vm: &Vm,
    uart: &mut keel_vmm::pl011::Pl011,
    offset: u64,
    access: &MmioAccess,
    value: u64,
    sink: &mut dyn InterruptSink,
) -> Result<u64, MmioError> {
    use keel_vmm::bus::MmioDevice;
    if access.write {
        let result = uart.write(offset, access.width, value, sink).map(|()| 0);
        uart.drain_output(|bytes| vm.console_output(bytes));
        result
    } else {
        uart.read(offset, access.width, sink)
    }
}

/// An emulated MMIO access: the vGIC frames, the UART, then the bus.
fn mmio(vm: &Vm, running: &Running, counters: &VcpuCounters, vcpu: &mut VcpuContext, access: &MmioAccess, far: u64) -> Next {
    let value = access.store_value(&vcpu.regs.x);
    if let Some((slot, offset)) = running.virtio_at(access.ipa) {
        let write = access.write.then_some(value);
        let result = super::virtio::mmio_access(vm, running, slot, offset, access.width, write);
        return finish_mmio(vm, counters, vcpu, access, far, result);
    }
    let mut guard = running.devices.lock();
    let devices = &mut *guard;
    let result: Result<u64, MmioError> = if let Some((region, offset)) = devices.vgic.region_of(access.ipa) {
        if access.write {
            devices.vgic.mmio_write(region, offset, access.width, value).map(|()| 0)
        } else {
            devices.vgic.mmio_read(region, offset, access.width)
        }
    } else if let Some(offset) = machine::uart_offset(access.ipa) {
        uart_access(vm, &mut devices.uart, offset, access, value, &mut devices.vgic)
    } else if access.write {
        devices.bus.write(access.ipa, access.width, value, &mut devices.vgic).map(|()| 0)
    } else {
        devices.bus.read(access.ipa, access.width, &mut devices.vgic)
    };
    drop(guard);
    finish_mmio(vm, counters, vcpu, access, far, result)
}

/// Completes an emulated access: the loaded value, or an external abort at the guest's
/// virtual address `far`.
fn finish_mmio(
    vm: &Vm,
    counters: &VcpuCounters,
    vcpu: &mut VcpuContext,
    access: &MmioAccess,
    far: u64,
    result: Result<u64, MmioError>,
) -> Next {
    match result {
        Ok(read) => {
            if !access.write {
                access.complete_load(&mut vcpu.regs.x, read & access.width.mask());
            }
            Next::Advance
        }
        Err(error) => {
            let what = if access.write { "write" } else { "read" };
            let detail = format_args!("{what} of {} bytes at IPA {:#x}: {error:?}", access.width.bytes(), access.ipa);
            guest_error(vm, vcpu, GuestError::of_mmio(error), detail);
            inject_data_abort(counters, vcpu, far, access.write);
            Next::Stay
        }
    }
}

/// A trapped system register: SGIs, ID registers, debug registers; anything else is
/// UNDEFINED.
fn sysreg(
    vm: &Vm,
    running: &Running,
    index: usize,
    counters: &VcpuCounters,
    vcpu: &mut VcpuContext,
    access: &SysRegAccess,
    esr: u64,
) -> Next {
    let encoding = access.encoding();
    let register = access.register as usize;
    if access.write && encoding == ICC_SGI1R_EL1 {
        let value = if register < 31 { vcpu.regs.x[register] } else { 0 };
        running.devices.lock().vgic.write_sgi1r(index, value);
        return Next::Advance;
    }
    if keel_vmm::sysreg::is_debug_register(encoding) {
        let value = if register < 31 { vcpu.regs.x[register] } else { 0 };
        let read = keel_vmm::sysreg::access_debug_register(encoding, access.write, value, &mut vcpu.el1.mdscr);
        if let (Some(read), true) = (read, register < 31) {
            vcpu.regs.x[register] = read;
        }
        return Next::Advance;
    }
    if !access.write && keel_vmm::sysreg::is_id_register(encoding) {
        let host = crate::arch::guest::read_id_register(encoding);
        let value = keel_vmm::sysreg::sanitise_id_register(encoding, host).unwrap_or(0);
        if register < 31 {
            vcpu.regs.x[register] = value;
        }
        return Next::Advance;
    }
    let (op0, op1, crn, crm, op2) = (access.op0, access.op1, access.crn, access.crm, access.op2);
    let name = access.name().unwrap_or("unnamed");
    let detail = format_args!("{name} (S{op0}_{op1}_C{crn}_C{crm}_{op2}, ESR {esr:#x})");
    guest_error(vm, vcpu, GuestError::UndefinedSysReg, detail);
    inject_undefined(counters, vcpu);
    Next::Stay
}

/// WFI: sleep until an interrupt is deliverable, the guest's timer fires, or the VM stops.
fn wait_for_interrupt(vm: &Vm, running: &Running, index: usize, vcpu: &VcpuContext) {
    let cntvoff = running.hardware.cntvoff;
    let deadline = timer_deadline_ns(&vcpu.el1, cntvoff);
    let _ = vm.vcpus[index].wake.wait_until(deadline, || {
        let ready = vm.stopping.load(Ordering::Acquire)
            || timer_line(&vcpu.el1, cntvoff)
            || running.devices.lock().vgic.has_deliverable(index);
        ready.then_some(())
    });
}

/// An HVC or SMC with immediate `imm`: PSCI and SMCCC calls (immediate 0) as `vmm::psci`
/// decides; any other immediate is not a call Keel knows and returns NOT_SUPPORTED.
fn psci_call(vm: &Arc<Vm>, running: &Arc<Running>, index: usize, vcpu: &mut VcpuContext, imm: u16, smc: bool) -> Next {
    let function = vcpu.regs.x[0];
    let args = [vcpu.regs.x[1], vcpu.regs.x[2], vcpu.regs.x[3]];
    let next = if smc { Next::Advance } else { Next::Stay };
    let outcome = if imm == 0 {
        psci::handle(function, args, index, vm.as_ref())
    } else {
        PsciOutcome::Return(psci::NOT_SUPPORTED as i64 as u64)
    };
    match outcome {
        PsciOutcome::Return(value) => {
            if let Some(kind) = GuestError::of_call(imm, function, value) {
                let call = if smc { "SMC" } else { "HVC" };
                let detail = format_args!("{call} #{imm:#x} function {function:#x} returned {}", value as i64);
                guest_error(vm, vcpu, kind, detail);
            }
            vcpu.regs.x[0] = value;
            next
        }
        PsciOutcome::CpuOn { target_vcpu, entry, context } => {
            vcpu.regs.x[0] = match super::registry::start_vcpu(vm, running, target_vcpu, entry, context) {
                Ok(()) => 0,
                Err(code) => code,
            };
            next
        }
        PsciOutcome::Suspend => {
            wait_for_interrupt(vm, running, index, vcpu);
            vcpu.regs.x[0] = 0;
            next
        }
        PsciOutcome::CpuOff => Next::Leave,
        PsciOutcome::SystemOff => {
            super::registry::stop(vm, keel_abi::VM_STOPPED);
            Next::Leave
        }
        PsciOutcome::SystemReset => {
            super::registry::stop(vm, keel_abi::VM_RESET);
            Next::Leave
        }
        // Linux's restart after a panic (keel_vmm::crash).
        PsciOutcome::SystemWarmReset => crash(vm, vcpu, String::from("its kernel panicked (PSCI SYSTEM_RESET2)")),
    }
}

/// An exit Keel cannot handle: counted as unhandled, and the VM ends as `crashed`.
fn unhandled(vm: &Arc<Vm>, counters: &VcpuCounters, vcpu: &VcpuContext, what: String) -> Next {
    counters.unhandled();
    crash(vm, vcpu, what)
}

/// Ends the VM as `crashed`: its kernel reported a panic, or it did something Keel cannot
/// emulate. Says what, with the PC, in its console and Keel's log.
fn crash(vm: &Arc<Vm>, vcpu: &VcpuContext, what: String) -> Next {
    let report = format!("vm {} crashed: {what}, guest pc {:#x}", vm.config.name, vcpu.regs.pc);
    log::warn!("{report}");
    vm.console_output(format!("keel: {report}\n").as_bytes());
    super::registry::stop(vm, keel_abi::VM_CRASHED);
    Next::Leave
}

/// An exit no guest access can be served by (`vmm::guest_error::unservable`): counts it
/// and gives the guest the exception decided there, at its virtual address `far`.
fn refuse(
    vm: &Arc<Vm>,
    counters: &VcpuCounters,
    vcpu: &mut VcpuContext,
    exit: &Exit,
    far: u64,
    detail: core::fmt::Arguments<'_>,
) -> Next {
    let Some((kind, answer)) = keel_vmm::guest_error::unservable(exit) else {
        return unhandled(vm, counters, vcpu, format!("unhandled exit {exit:?}"));
    };
    guest_error(vm, vcpu, kind, detail);
    match answer {
        Answer::DataAbort { write } => inject_data_abort(counters, vcpu, far, write),
        Answer::FetchAbort => {
            counters.abort_injected();
            inject_exception(vcpu, inject::external_instruction_abort(vcpu.regs.pstate), Some(far))
        }
        Answer::Undefined => inject_undefined(counters, vcpu),
    }
    Next::Stay
}

/// Counts a guest error and logs the first of its kind in this run of the VM (info level):
/// a guest repeating it cannot flood the log.
fn guest_error(vm: &Vm, vcpu: &VcpuContext, kind: GuestError, detail: core::fmt::Arguments<'_>) {
    if vm.guest_errors.record(kind) {
        log::info!(
            "vm {}: guest error {}: {detail} at pc {:#x}; the guest sees {} (further ones are counted, not logged)",
            vm.config.name,
            kind.name(),
            vcpu.regs.pc,
            kind.outcome()
        );
    }
}

/// Takes the guest to its EL1 exception vector as the architecture would.
fn inject_exception(vcpu: &mut VcpuContext, esr: u64, far: Option<u64>) {
    let offset = inject::sync_vector_offset(vcpu.regs.pstate);
    vcpu.el1.elr = vcpu.regs.pc;
    vcpu.el1.spsr = vcpu.regs.pstate;
    vcpu.el1.esr = esr;
    if let Some(far) = far {
        vcpu.el1.far = far;
    }
    vcpu.regs.pc = vcpu.el1.vbar + offset;
    vcpu.regs.pstate = PSTATE_EL1H_MASKED;
    vcpu.el1_dirty = true;
}

/// A synchronous external abort on a data access at the guest's virtual address `far`
/// (what a bus error looks like).
fn inject_data_abort(counters: &VcpuCounters, vcpu: &mut VcpuContext, far: u64, write: bool) {
    counters.abort_injected();
    inject_exception(vcpu, inject::external_data_abort(vcpu.regs.pstate, write), Some(far));
}

/// An UNDEFINED instruction exception.
fn inject_undefined(counters: &VcpuCounters, vcpu: &mut VcpuContext) {
    counters.undef_injected();
    inject_exception(vcpu, inject::undefined(), None);
}
