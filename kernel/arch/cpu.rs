//! Per-CPU state (found through TPIDR_EL2), interrupt masking and CPU identification.

use aarch64_cpu::registers::{Readable, Writeable, DAIF, MIDR_EL1, MPIDR_EL1, TPIDR_EL2};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// The most CPUs Keel brings up.
pub const MAX_CPUS: usize = 64;

/// A saved kernel context to resume when a synchronous exception hits a `try_call`.
#[repr(C)]
#[derive(Default)]
pub struct RecoveryPoint {
    /// x19..x30 and sp of the caller of `keel_try_call`.
    saved: [u64; 13],
}

/// State owned by one CPU. Other CPUs only read it (counters, online flag).
pub struct PerCpu {
    pub index: usize,
    pub mpidr: AtomicU64,
    pub online: AtomicBool,
    /// Periodic host ticks taken (timer interrupts for sleepers are not counted).
    pub ticks: AtomicU64,
    /// When this CPU's next periodic tick is due (ns).
    pub next_tick_ns: AtomicU64,
    /// When this CPU's timer is set to fire (ns): the next tick or an earlier deadline;
    /// `u64::MAX` while it is off.
    pub timer_armed_ns: AtomicU64,
    /// Set while this CPU idles without its periodic tick (see `timer::on_tick`).
    pub tick_stopped: AtomicBool,
    /// Set while the idle loop waits for an interrupt, until the interrupts that end the
    /// wait have been handled (and, when one of them switched to a thread, until the idle
    /// thread runs again: `timer::on_tick` also checks that it is the one running).
    pub idle_waiting: AtomicBool,
    /// IPIs taken.
    pub ipis: AtomicU64,
    /// Cross-CPU work generation this CPU has completed (see arch::smp::run_on_all).
    pub work_done: AtomicU64,
    /// Set while a `try_call` on this CPU may fault.
    pub recovery: AtomicPtr<RecoveryPoint>,
    /// Exceptions reported by the crash reporter on this CPU.
    pub crashes: AtomicUsize,
    /// The last crash's ESR and FAR (for self-tests and post-mortems).
    pub last_crash_esr: AtomicU64,
    pub last_crash_far: AtomicU64,
    /// The guest context whose EL1 registers, VTTBR and VTCR this CPU holds (0: none).
    pub loaded_guest: AtomicU64,
    /// Private interrupts (bit n = INTID n) switched off on this CPU by `set_private_enabled`.
    pub private_disabled: core::sync::atomic::AtomicU32,
}

impl PerCpu {
    const fn new(index: usize) -> Self {
        Self {
            index,
            mpidr: AtomicU64::new(0),
            online: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
            next_tick_ns: AtomicU64::new(0),
            timer_armed_ns: AtomicU64::new(0),
            tick_stopped: AtomicBool::new(false),
            idle_waiting: AtomicBool::new(false),
            ipis: AtomicU64::new(0),
            work_done: AtomicU64::new(0),
            recovery: AtomicPtr::new(core::ptr::null_mut()),
            crashes: AtomicUsize::new(0),
            last_crash_esr: AtomicU64::new(0),
            last_crash_far: AtomicU64::new(0),
            loaded_guest: AtomicU64::new(0),
            private_disabled: core::sync::atomic::AtomicU32::new(0),
        }
    }
}

static CPUS: [PerCpu; MAX_CPUS] = {
    let mut cpus = [const { PerCpu::new(0) }; MAX_CPUS];
    let mut i = 0;
    while i < MAX_CPUS {
        cpus[i] = PerCpu::new(i);
        i += 1;
    }
    cpus
};

/// Makes `index` this CPU's identity. Called once per CPU at boot.
pub fn set_current(index: usize) {
    let cpu = &CPUS[index % MAX_CPUS];
    cpu.mpidr.store(mpidr(), Ordering::Relaxed);
    TPIDR_EL2.set(cpu as *const PerCpu as u64);
}

/// This CPU's state.
pub fn current() -> &'static PerCpu {
    let pointer = TPIDR_EL2.get() as *const PerCpu;
    if pointer.is_null() {
        // Before set_current (only the boot CPU's earliest moments): CPU 0.
        return &CPUS[0];
    }
    // SAFETY: TPIDR_EL2 is only ever written by set_current with a reference into the
    // static CPUS array, which lives for the whole program.
    unsafe { &*pointer }
}

/// State of CPU `index`.
pub fn by_index(index: usize) -> Option<&'static PerCpu> {
    CPUS.get(index)
}

/// CPUs that have come online.
pub fn online() -> impl Iterator<Item = &'static PerCpu> {
    CPUS.iter().filter(|cpu| cpu.online.load(Ordering::Acquire))
}

pub fn online_count() -> usize {
    online().count()
}

/// This CPU's MPIDR affinity fields (Aff3..Aff0), without the flag bits.
pub fn mpidr() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

pub fn midr() -> u64 {
    MIDR_EL1.get()
}

/// Masks IRQs on this CPU and returns whether they were unmasked before.
pub fn irq_save() -> bool {
    let was_enabled = !DAIF.is_set(DAIF::I);
    DAIF.write(DAIF::D::Masked + DAIF::A::Masked + DAIF::I::Masked + DAIF::F::Masked);
    was_enabled
}

/// Restores the state `irq_save` returned.
pub fn irq_restore(was_enabled: bool) {
    if was_enabled {
        irq_enable();
    }
}

/// Unmasks IRQs (and SError) on this CPU.
pub fn irq_enable() {
    DAIF.write(DAIF::D::Masked + DAIF::A::Unmasked + DAIF::I::Unmasked + DAIF::F::Masked);
}

/// Says this CPU is spinning until another makes progress (a YIELD hint, as Linux's
/// `cpu_relax`). Hardware may give the core's resources to a sibling thread, or do nothing;
/// QEMU running its CPUs on one host thread in turn (`--tcg single`) moves on to the next
/// CPU at once, so the one being waited for runs instead of the spinner's whole time slice.
#[inline(always)]
pub fn relax() {
    // SAFETY: YIELD is a hint: it changes no register and no memory.
    unsafe { core::arch::asm!("yield", options(nomem, nostack, preserves_flags)) };
}

/// Waits for an interrupt.
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

/// Stops this CPU for good: interrupts masked, waiting for events forever.
pub fn halt() -> ! {
    irq_save();
    loop {
        aarch64_cpu::asm::wfe();
    }
}
