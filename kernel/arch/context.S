// Thread context switch and the first instructions of a new thread.
//
// Context layout (arch/context.rs): x19..x30 at 0..88, sp at 96, d8..d15 at 104..160,
// TPIDR_EL0 at 168.

.section .text, "ax"

//   void keel_context_switch(Context *prev, const Context *next)
// Saves the callee-saved state of the caller into prev and resumes next.
.global keel_context_switch
.type keel_context_switch, %function
keel_context_switch:
    stp     x19, x20, [x0, #0]
    stp     x21, x22, [x0, #16]
    stp     x23, x24, [x0, #32]
    stp     x25, x26, [x0, #48]
    stp     x27, x28, [x0, #64]
    stp     x29, x30, [x0, #80]
    mov     x2, sp
    str     x2, [x0, #96]
    stp     d8, d9, [x0, #104]
    stp     d10, d11, [x0, #120]
    stp     d12, d13, [x0, #136]
    stp     d14, d15, [x0, #152]
    mrs     x2, tpidr_el0
    str     x2, [x0, #168]

    ldp     x19, x20, [x1, #0]
    ldp     x21, x22, [x1, #16]
    ldp     x23, x24, [x1, #32]
    ldp     x25, x26, [x1, #48]
    ldp     x27, x28, [x1, #64]
    ldp     x29, x30, [x1, #80]
    ldr     x2, [x1, #96]
    mov     sp, x2
    ldp     d8, d9, [x1, #104]
    ldp     d10, d11, [x1, #120]
    ldp     d12, d13, [x1, #136]
    ldp     d14, d15, [x1, #152]
    ldr     x2, [x1, #168]
    msr     tpidr_el0, x2
    ret
.size keel_context_switch, . - keel_context_switch

// A new thread's first return lands here (x30 of its initial context), with x19 = its
// entry argument. Calls keel_thread_start(x19), which never returns.
.global keel_thread_trampoline
.type keel_thread_trampoline, %function
keel_thread_trampoline:
    mov     x0, x19
    bl      keel_thread_start
1:  wfe
    b       1b
.size keel_thread_trampoline, . - keel_thread_trampoline

// Enters EL0 for the first time: x0 = the TrapFrame (on the thread's kernel stack) that
// describes the user state. Never returns.
.global keel_enter_user
.type keel_enter_user, %function
keel_enter_user:
    mov     sp, x0
    b       keel_exception_return
.size keel_enter_user, . - keel_enter_user
