//! Interrupt routing: the GICv3, a handler per INTID, IPIs.

use crate::arch::cpu;
use crate::sync::IrqSpinlock;
use keel_drivers::gicv3::{cpu_interface, Distributor, GicError, Redistributor, SgiTarget, Trigger};

/// INTIDs handled (SGIs, PPIs and SPIs up to 1019).
const MAX_INTID: usize = 1020;

type Handler = fn(u32);

static HANDLERS: IrqSpinlock<[Option<Handler>; MAX_INTID]> = IrqSpinlock::new([None; MAX_INTID]);

/// Where the GIC is (virtual addresses), set once at boot.
struct GicConfig {
    distributor: Distributor,
    redistributor_base: usize,
    redistributor_size: usize,
}

static GIC: IrqSpinlock<Option<GicConfig>> = IrqSpinlock::new(None);

/// Sets up the distributor and this (the boot) CPU's redistributor and CPU interface.
///
/// # Safety
/// The addresses must be the mapped (device memory) GICv3 distributor and redistributor
/// region, used by no other code.
pub unsafe fn init(distributor_base: usize, redistributor_base: usize, redistributor_size: usize) {
    // SAFETY: guaranteed by the caller.
    let distributor = unsafe { Distributor::new(distributor_base) };
    report(distributor.init());
    *GIC.lock() = Some(GicConfig { distributor, redistributor_base, redistributor_size });
    init_this_cpu();
}

/// Wakes this CPU's redistributor, enables its CPU interface and the private interrupts
/// that have handlers.
pub fn init_this_cpu() {
    let Some(redistributor) = this_redistributor() else { return };
    report(redistributor.wake());
    report(redistributor.init());
    let handlers = *HANDLERS.lock();
    for intid in 0..32u32 {
        if handlers[intid as usize].is_some() {
            report(redistributor.enable_private(intid));
        }
    }
    cpu_interface::init();
}

/// This CPU's redistributor, found by its MPIDR in the region `init` was given.
fn this_redistributor() -> Option<Redistributor> {
    let (base, size) = GIC.lock().as_ref().map(|gic| (gic.redistributor_base, gic.redistributor_size))?;
    // SAFETY: the region was handed to `init` as the mapped redistributor region, and a
    // CPU only ever programs its own redistributor frame.
    let redistributor = unsafe { Redistributor::for_cpu(base, size, cpu::mpidr()) };
    if redistributor.is_none() {
        crate::kprintln!("keel: cpu {} has no GIC redistributor", cpu::current().index);
    }
    redistributor
}

/// Logs a GIC programming error (an INTID out of range is a kernel bug, not fatal).
fn report(result: Result<(), GicError>) {
    if let Err(error) = result {
        log::error!("irq: GIC refused: {error:?}");
    }
}

/// Installs `handler` for a private interrupt (SGI/PPI, INTID < 32) on every CPU; CPUs
/// that are already up enable it when they next run `init_this_cpu`, so register these
/// before starting secondaries. Enables it on this CPU now.
pub fn register_private(intid: u32, handler: Handler) {
    if intid >= 32 {
        return;
    }
    HANDLERS.lock()[intid as usize] = Some(handler);
    if let Some(redistributor) = this_redistributor() {
        report(redistributor.enable_private(intid));
    }
}

/// Installs `handler` for a shared peripheral interrupt and routes it to this CPU.
pub fn register_shared(intid: u32, trigger: Trigger, handler: Handler) {
    if !(32..MAX_INTID as u32).contains(&intid) {
        return;
    }
    HANDLERS.lock()[intid as usize] = Some(handler);
    if let Some(gic) = GIC.lock().as_ref() {
        report(gic.distributor.set_trigger(intid, trigger));
        report(gic.distributor.enable_spi(intid, cpu::mpidr()));
    }
}

/// Handles every pending interrupt (called from the IRQ vector).
pub fn dispatch() {
    while let Some(intid) = cpu_interface::acknowledge() {
        let handler = HANDLERS.lock().get(intid as usize).copied().flatten();
        match handler {
            Some(handler) => handler(intid),
            None => log::warn!("irq: no handler for INTID {intid}"),
        }
        cpu_interface::end_of_interrupt(intid);
    }
}

/// Sends SGI `intid` to every other CPU.
pub fn send_ipi_all_others(intid: u32) {
    report(cpu_interface::send_sgi(intid, SgiTarget::AllOthers));
}

/// Sends SGI `intid` to the CPU with affinity `mpidr`.
pub fn send_ipi(intid: u32, mpidr: u64) {
    report(cpu_interface::send_sgi(intid, SgiTarget::Cpu { mpidr }));
}

/// The SGI handler shared by all IPIs: count it; the idle loop picks up cross-CPU work.
pub fn on_ipi(_intid: u32) {
    cpu::current().ipis.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
}

/// Enables or disables a private interrupt on this CPU only (e.g. the guest timer's PPI
/// while its virtual interrupt is in flight).
pub fn set_private_enabled(intid: u32, enabled: bool) {
    // The CPU's record and its redistributor must be the same CPU's: a thread moved to
    // another CPU between the two would leave the record wrong for good (the vCPU loop then
    // kept the guest timer's PPI enabled while its line was high: an interrupt at every
    // entry, and the guest never ran again).
    let irqs = cpu::irq_save();
    // Called on every guest entry: skip the redistributor when nothing changes.
    let cpu = cpu::current();
    let bit = 1u32 << (intid % 32);
    let disabled = cpu.private_disabled.load(core::sync::atomic::Ordering::Relaxed);
    if (disabled & bit == 0) != enabled {
        if let Some(redistributor) = this_redistributor() {
            report(if enabled { redistributor.enable_private(intid) } else { redistributor.disable_private(intid) });
            let updated = if enabled { disabled & !bit } else { disabled | bit };
            cpu.private_disabled.store(updated, core::sync::atomic::Ordering::Relaxed);
        }
    }
    cpu::irq_restore(irqs);
}

/// Guest interrupts (timer, GIC maintenance) only need to make the guest exit; by the time
/// the host takes them the vCPU has already seen to them.
pub fn on_guest_interrupt(_intid: u32) {}
