//! Exception entry from vectors.S: IRQ dispatch, fault recovery and the crash report.

use super::cpu::{self, RecoveryPoint};
use aarch64_cpu::registers::{Readable, ESR_EL2, FAR_EL2};
use core::sync::atomic::Ordering;
use keel_vmm::esr::{ExceptionClass, FaultStatus};

/// The registers vectors.S saves on every exception; laid out as the assembly expects.
#[repr(C)]
pub struct TrapFrame {
    pub x: [u64; 31],
    /// The stack pointer at the exception (EL2's for kernel code).
    pub sp: u64,
    pub elr: u64,
    pub spsr: u64,
    /// EL0's stack pointer.
    pub sp_el0: u64,
    _pad: u64,
    /// q0..q31, then FPCR and FPSR.
    pub fp: [u128; 32],
    pub fpcr: u64,
    pub fpsr: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 816);
const _: () = assert!(core::mem::size_of::<RecoveryPoint>() == 104);

/// The vector an exception came through (the `kind` vectors.S passes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vector {
    CurrentSync,
    CurrentIrq,
    CurrentFiq,
    CurrentSError,
    LowerSync,
    LowerIrq,
    LowerFiq,
    LowerSError,
    Other(u64),
}

impl Vector {
    fn from_kind(kind: u64) -> Self {
        match kind {
            4 => Self::CurrentSync,
            5 => Self::CurrentIrq,
            6 => Self::CurrentFiq,
            7 => Self::CurrentSError,
            8 => Self::LowerSync,
            9 => Self::LowerIrq,
            10 => Self::LowerFiq,
            11 => Self::LowerSError,
            other => Self::Other(other),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::CurrentSync => "synchronous, EL2",
            Self::CurrentIrq => "IRQ, EL2",
            Self::CurrentFiq => "FIQ, EL2",
            Self::CurrentSError => "SError, EL2",
            Self::LowerSync => "synchronous, lower EL",
            Self::LowerIrq => "IRQ, lower EL",
            Self::LowerFiq => "FIQ, lower EL",
            Self::LowerSError => "SError, lower EL",
            Self::Other(_) => "exception taken with SP_EL0 or from AArch32",
        }
    }
}

/// Called by vectors.S with the saved frame.
#[unsafe(no_mangle)]
extern "C" fn keel_handle_exception(frame: &mut TrapFrame, kind: u64) {
    match Vector::from_kind(kind) {
        Vector::CurrentIrq => {
            crate::irq::dispatch();
            crate::sched::preempt_if_needed();
        }
        Vector::LowerIrq => {
            crate::irq::dispatch();
            crate::sched::preempt_if_needed();
            crate::proc::exit_if_killed();
        }
        Vector::LowerSync => {
            handle_user_sync(frame);
            crate::sched::preempt_if_needed();
            crate::proc::exit_if_killed();
        }
        Vector::CurrentSync => {
            let cpu = cpu::current();
            let recovery = cpu.recovery.swap(core::ptr::null_mut(), Ordering::AcqRel);
            report_crash(frame, Vector::CurrentSync, !recovery.is_null());
            if recovery.is_null() {
                stop_cpu();
            }
            // Resume at the landing pad, which restores the caller of keel_try_call.
            frame.elr = keel_try_landing as *const () as u64;
            frame.x[0] = recovery as u64;
        }
        vector => {
            report_crash(frame, vector, false);
            stop_cpu();
        }
    }
}

/// A synchronous exception from EL0: a system call, or a fault that ends the process.
fn handle_user_sync(frame: &mut TrapFrame) {
    let esr = ESR_EL2.get();
    let class = ExceptionClass::from_esr(esr);
    match class {
        ExceptionClass::Svc64 => crate::syscall::dispatch(frame),
        ExceptionClass::DataAbortLower | ExceptionClass::InstructionAbortLower => {
            let access = if class == ExceptionClass::InstructionAbortLower {
                "execute"
            } else if keel_vmm::esr::abort_is_write(esr) {
                "write"
            } else {
                "read"
            };
            crate::proc::kill_for_fault(format_args!(
                "{} at {:#x}: {}, pc {:#x}",
                access,
                FAR_EL2.get(),
                FaultStatus::from_esr(esr),
                frame.elr
            ))
        }
        _ => crate::proc::kill_for_fault(format_args!(
            "{} (EC {:#04x}), pc {:#x}",
            class.name(),
            ExceptionClass::code(esr),
            frame.elr
        )),
    }
}

fn stop_cpu() -> ! {
    let cpu = cpu::current();
    crate::console::force_print(format_args!("keel: cpu {} stopped\n", cpu.index));
    cpu.online.store(false, Ordering::Release);
    cpu::halt();
}

/// Prints the crash report: what happened, the syndrome, and the registers.
fn report_crash(frame: &TrapFrame, vector: Vector, recovered: bool) {
    let cpu = cpu::current();
    let esr = ESR_EL2.get();
    let far = FAR_EL2.get();
    cpu.crashes.fetch_add(1, Ordering::Relaxed);
    cpu.last_crash_esr.store(esr, Ordering::Relaxed);
    cpu.last_crash_far.store(far, Ordering::Relaxed);
    crate::console::with_exclusive(|out| {
        let class = ExceptionClass::from_esr(esr);
        let _ = writeln!(
            out,
            "keel: CRASH on cpu {}: {} (EC {:#04x}, {}){}",
            cpu.index,
            class.name(),
            ExceptionClass::code(esr),
            vector.describe(),
            if recovered { " in a sacrificial context" } else { "" }
        );
        if matches!(
            class,
            ExceptionClass::DataAbortSame
                | ExceptionClass::DataAbortLower
                | ExceptionClass::InstructionAbortSame
                | ExceptionClass::InstructionAbortLower
        ) {
            let access = if keel_vmm::esr::abort_is_write(esr) { "write" } else { "read" };
            let _ = writeln!(out, "  {} at {:#018x}: {}", access, far, FaultStatus::from_esr(esr));
        }
        let _ = writeln!(
            out,
            "  ESR {:#010x}  FAR {:#018x}  ELR {:#018x}  SPSR {:#010x}",
            esr, far, frame.elr, frame.spsr
        );
        for row in 0..8 {
            let _ = write!(out, " ");
            for col in 0..4 {
                let n = row * 4 + col;
                if n < 31 {
                    let _ = write!(out, " x{:<2} {:#018x}", n, frame.x[n]);
                } else {
                    let _ = write!(out, " sp  {:#018x}", frame.sp);
                }
            }
            let _ = writeln!(out);
        }
    });
}

/// How a `try_call` ended.
#[repr(C)]
struct TryOutcome {
    value: u64,
    faulted: u64,
}

unsafe extern "C" {
    fn keel_try_call(f: extern "C" fn(u64) -> u64, arg: u64, point: *mut RecoveryPoint) -> TryOutcome;
    fn keel_try_landing();
}

/// A `try_call` whose function took a synchronous exception (already reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faulted;

/// Runs `f(arg)` so that a synchronous exception inside it produces a crash report and an
/// `Err` instead of stopping the CPU. Interrupts stay as they are; `f` must not rely on
/// destructors running (a fault skips them).
pub fn try_call(f: extern "C" fn(u64) -> u64, arg: u64) -> Result<u64, Faulted> {
    let mut point = RecoveryPoint::default();
    let cpu = cpu::current();
    let was_enabled = cpu::irq_save();
    cpu.recovery.store(&mut point, Ordering::Release);
    // SAFETY: keel_try_call saves the callee-saved registers and sp into `point`, which
    // outlives the call; the exception handler only resumes at keel_try_landing while
    // `recovery` points at it, and clears it first. Interrupts are masked so that no
    // other code runs on this CPU with the recovery point armed.
    let outcome = unsafe { keel_try_call(f, arg, &mut point) };
    cpu.recovery.store(core::ptr::null_mut(), Ordering::Release);
    cpu::irq_restore(was_enabled);
    if outcome.faulted != 0 {
        Err(Faulted)
    } else {
        Ok(outcome.value)
    }
}
