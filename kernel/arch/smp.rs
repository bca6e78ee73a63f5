//! Secondary CPU bring-up through PSCI CPU_ON, and running work on every CPU.

use super::boot::{image_phys, keel_secondary_entry, REFUSE_NOT_EL2, REFUSE_NO_VHE};
use super::{cpu, timer};
use core::sync::atomic::{AtomicU64, Ordering};
use keel_drivers::psci::Psci;

/// Handed to a starting CPU in x0 (physical address); read by head.S with the MMU off.
#[repr(C, align(64))]
pub struct SecondaryBoot {
    /// 0 while starting; a refusal reason written by head.S if the CPU cannot run Keel.
    pub status: AtomicU64,
    /// The kernel's TTBR1_EL2 table.
    pub ttbr1: AtomicU64,
    /// Top of the CPU's kernel stack (virtual).
    pub stack_top: AtomicU64,
    /// The CPU's index.
    pub cpu_index: AtomicU64,
}

static SECONDARY_BOOT: SecondaryBoot = SecondaryBoot {
    status: AtomicU64::new(0),
    ttbr1: AtomicU64::new(0),
    stack_top: AtomicU64::new(0),
    cpu_index: AtomicU64::new(0),
};

/// Kernel stack of each secondary CPU.
const STACK_FRAMES: usize = 16;

/// Cleans (or invalidates) the cache line holding SECONDARY_BOOT to the point of coherency,
/// so a CPU running with its caches off sees what we wrote and we see what it wrote.
fn sync_boot_block() {
    let address = &SECONDARY_BOOT as *const SecondaryBoot as u64;
    // SAFETY: cache maintenance by VA on a mapped static; no memory is changed.
    unsafe { core::arch::asm!("dc civac, {}", "dsb sy", in(reg) address, options(nostack)) };
}

/// Why a CPU did not come online.
pub enum StartError {
    NoMemory,
    Psci(keel_drivers::psci::PsciError),
    Refused(&'static str),
    Timeout,
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoMemory => write!(f, "no memory for its stack"),
            Self::Psci(error) => write!(f, "PSCI CPU_ON failed: {error:?}"),
            Self::Refused(why) => write!(f, "{why}"),
            Self::Timeout => write!(f, "it did not come online within a second"),
        }
    }
}

/// Starts CPU `index` (MPIDR `mpidr`) and waits until it is online.
pub fn start_cpu(psci: &Psci, index: usize, mpidr: u64, ttbr1: u64, phys_base: u64) -> Result<(), StartError> {
    let stack = crate::mm::kernel_space::alloc_frames(STACK_FRAMES, 1).ok_or(StartError::NoMemory)?;
    let stack_top = crate::mm::layout::phys_to_virt(stack).ok_or(StartError::NoMemory)?
        + (STACK_FRAMES as u64) * crate::mm::frames::FRAME_SIZE;
    SECONDARY_BOOT.status.store(0, Ordering::Relaxed);
    SECONDARY_BOOT.ttbr1.store(ttbr1, Ordering::Relaxed);
    SECONDARY_BOOT.stack_top.store(stack_top, Ordering::Relaxed);
    SECONDARY_BOOT.cpu_index.store(index as u64, Ordering::Relaxed);
    sync_boot_block();
    let block_pa = image_phys(&SECONDARY_BOOT as *const SecondaryBoot as u64, phys_base);
    let entry_pa = image_phys(keel_secondary_entry as *const () as u64, phys_base);
    // SAFETY: keel_secondary_entry is head.S code written for a CPU fresh out of reset
    // with the MMU off; the block it is handed (and the stack it names) belong to this CPU
    // alone: we start one CPU at a time and wait for it before reusing the block.
    unsafe { psci.cpu_on(mpidr, entry_pa, block_pa) }.map_err(StartError::Psci)?;
    let deadline = timer::counter() + timer::frequency();
    let target = cpu::by_index(index).ok_or(StartError::Timeout)?;
    while timer::counter() < deadline {
        if target.online.load(Ordering::Acquire) {
            return Ok(());
        }
        sync_boot_block();
        match SECONDARY_BOOT.status.load(Ordering::Acquire) {
            REFUSE_NOT_EL2 => return Err(StartError::Refused("it did not enter at EL2")),
            REFUSE_NO_VHE => return Err(StartError::Refused("it has no VHE")),
            _ => cpu::relax(),
        }
    }
    // The stack stays allocated: the CPU may still be using it.
    Err(StartError::Timeout)
}

/// Rust entry of a secondary CPU, on its own stack with the kernel's tables.
#[unsafe(no_mangle)]
extern "C" fn keel_secondary_main(boot: &SecondaryBoot) -> ! {
    let index = boot.cpu_index.load(Ordering::Relaxed) as usize;
    cpu::set_current(index);
    crate::mm::kernel_space::finish_cpu_boot();
    crate::irq::init_this_cpu();
    super::guest::init_this_cpu();
    crate::sched::init_this_cpu();
    timer::arm_next_tick();
    cpu::current().online.store(true, Ordering::Release);
    cpu::irq_enable();
    idle_loop()
}

/// Cross-CPU work: a generation counter and the function every CPU runs once per generation.
static WORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static WORK: spin::Mutex<Option<fn(usize)>> = spin::Mutex::new(None);
/// Only one `run_on_all` at a time.
static WORK_OWNER: spin::Mutex<()> = spin::Mutex::new(());

/// The SGI that asks a CPU to look for cross-CPU work.
pub const SGI_WORK: u32 = 1;

/// Whether cross-CPU work waits for this CPU.
fn work_pending() -> bool {
    cpu::current().work_done.load(Ordering::Relaxed) < WORK_GENERATION.load(Ordering::Acquire)
}

/// Does pending cross-CPU work on this CPU, if any.
pub fn poll_work() {
    let cpu = cpu::current();
    let generation = WORK_GENERATION.load(Ordering::Acquire);
    if cpu.work_done.load(Ordering::Relaxed) >= generation {
        return;
    }
    let work = *WORK.lock();
    if let Some(work) = work {
        timer::restart_tick();
        work(cpu.index);
    }
    cpu.work_done.store(generation, Ordering::Release);
}

/// Runs `work(cpu_index)` on every online CPU at the same time (this one included) and
/// waits until all have finished.
pub fn run_on_all(work: fn(usize)) {
    let _owner = WORK_OWNER.lock();
    *WORK.lock() = Some(work);
    let generation = WORK_GENERATION.fetch_add(1, Ordering::AcqRel) + 1;
    crate::irq::send_ipi_all_others(SGI_WORK);
    poll_work();
    for other in cpu::online() {
        while other.work_done.load(Ordering::Acquire) < generation && other.online.load(Ordering::Acquire) {
            cpu::relax();
        }
    }
    *WORK.lock() = None;
}

/// What a CPU with nothing to do runs: cross-CPU work, a waiting thread taken from a busier
/// CPU, else a wait for interrupts (its tick stops if the wait lasts: `timer::on_tick`).
pub fn idle_loop() -> ! {
    let this = cpu::current();
    loop {
        poll_work();
        crate::sched::balance_idle();
        crate::sched::preempt_if_needed();
        // Masked from the check to the wait, so that a wakeup in between is not missed: WFI
        // ends on a pending interrupt whatever the mask, and it is taken once unmasked.
        let irqs = cpu::irq_save();
        if !work_pending() && crate::sched::idle_may_wait() {
            this.idle_waiting.store(true, Ordering::Relaxed);
            cpu::wait_for_interrupt();
        }
        cpu::irq_restore(irqs);
        this.idle_waiting.store(false, Ordering::Relaxed);
    }
}
