//! Thread contexts: the callee-saved state a switch keeps, and how new threads start.

use super::exception::TrapFrame;
use core::arch::global_asm;

global_asm!(include_str!("context.S"));

/// What a thread that is not running keeps of its registers (see context.S).
#[repr(C)]
#[derive(Default)]
pub struct Context {
    x19_x30: [u64; 12],
    sp: u64,
    d8_d15: [u64; 8],
    tpidr_el0: u64,
}

const _: () = assert!(core::mem::size_of::<Context>() == 176);

unsafe extern "C" {
    fn keel_context_switch(prev: *mut Context, next: *const Context);
    fn keel_thread_trampoline();
    fn keel_enter_user(frame: *const TrapFrame) -> !;
}

impl Context {
    /// The context of a thread that has not run yet: its first switch-in "returns" into
    /// the trampoline, which calls `keel_thread_start(arg)`. The top of the stack is kept
    /// free for the TrapFrame of a user thread (exceptions from EL0 save it there).
    pub fn new_thread(stack_top: u64, arg: u64) -> Self {
        let mut context = Context::default();
        context.x19_x30[0] = arg;
        context.x19_x30[11] = keel_thread_trampoline as *const () as u64;
        context.sp = user_frame_address(stack_top);
        context
    }
}

/// Where the EL0 TrapFrame of a thread with this kernel stack lives: right at the top,
/// where the vectors put it when EL0 traps (SP_EL2 is the stack top while at EL0).
pub fn user_frame_address(stack_top: u64) -> u64 {
    (stack_top - core::mem::size_of::<TrapFrame>() as u64) & !0xf
}

/// Saves the current CPU state into `prev` and resumes `next`.
///
/// # Safety
/// `prev` must be the context of the thread running now and `next` a context saved by an
/// earlier switch (or built by `new_thread`) whose stack is still allocated; no other CPU
/// may be running on `next`'s stack. Interrupts must be masked.
pub unsafe fn switch(prev: *mut Context, next: *const Context) {
    // SAFETY: the caller guarantees both contexts are valid as documented above.
    unsafe { keel_context_switch(prev, next) }
}

/// Enters EL0 with the register state `frame` describes (placed at the top of this
/// thread's kernel stack, which then becomes the stack exceptions from EL0 use).
///
/// # Safety
/// `frame` must lie at the top of the current thread's kernel stack, with SPSR naming
/// EL0t, and this thread's process address space must be loaded in TTBR0_EL2.
pub unsafe fn enter_user(frame: *const TrapFrame) -> ! {
    // SAFETY: guaranteed by the caller.
    unsafe { keel_enter_user(frame) }
}
