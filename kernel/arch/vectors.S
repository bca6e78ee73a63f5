// EL2 exception vectors (VBAR_EL2): every entry saves a TrapFrame and calls Rust.
//
// TrapFrame layout (arch/exception.rs): x0..x30 at 0..240, the interrupted sp at 248,
// ELR_EL2 at 256, SPSR_EL2 at 264, SP_EL0 at 272, q0..q31 at 288..800, FPCR and FPSR at
// 800 and 808; FRAME_SIZE bytes in all. The FP/SIMD registers are saved on every entry:
// they hold user state, and kernel code interrupted by an IRQ may be using them.

.macro KEEL_VECTOR kind
    .balign 0x80
    sub     sp, sp, #{FRAME_SIZE}
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       keel_exception_common
.endm

// Lower-EL vectors: with TGE clear the exception comes from a guest (arch/guest.S).
.macro KEEL_LOWER_VECTOR kind
    .balign 0x80
    sub     sp, sp, #{FRAME_SIZE}
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    mrs     x1, hcr_el2
    tbnz    x1, #27, 1f
    b       keel_guest_exit
1:  b       keel_exception_common
.endm

.section .text, "ax"
.balign 0x800
.global keel_exception_vectors
keel_exception_vectors:
    KEEL_VECTOR 0       // current EL, SP_EL0: synchronous
    KEEL_VECTOR 1       //                     IRQ
    KEEL_VECTOR 2       //                     FIQ
    KEEL_VECTOR 3       //                     SError
    KEEL_VECTOR 4       // current EL, SP_ELx: synchronous
    KEEL_VECTOR 5       //                     IRQ
    KEEL_VECTOR 6       //                     FIQ
    KEEL_VECTOR 7       //                     SError
    KEEL_LOWER_VECTOR 8  // lower EL, AArch64:  synchronous
    KEEL_LOWER_VECTOR 9  //                     IRQ
    KEEL_LOWER_VECTOR 10 //                     FIQ
    KEEL_LOWER_VECTOR 11 //                     SError
    KEEL_LOWER_VECTOR 12 // lower EL, AArch32:  synchronous
    KEEL_LOWER_VECTOR 13 //                     IRQ
    KEEL_LOWER_VECTOR 14 //                     FIQ
    KEEL_LOWER_VECTOR 15 //                     SError

.type keel_exception_common, %function
keel_exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    add     x2, sp, #{FRAME_SIZE}
    stp     x30, x2, [sp, #240]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [sp, #256]
    mrs     x2, sp_el0
    str     x2, [sp, #272]
    add     x2, sp, #288
    stp     q0, q1, [x2, #0]
    stp     q2, q3, [x2, #32]
    stp     q4, q5, [x2, #64]
    stp     q6, q7, [x2, #96]
    stp     q8, q9, [x2, #128]
    stp     q10, q11, [x2, #160]
    stp     q12, q13, [x2, #192]
    stp     q14, q15, [x2, #224]
    stp     q16, q17, [x2, #256]
    stp     q18, q19, [x2, #288]
    stp     q20, q21, [x2, #320]
    stp     q22, q23, [x2, #352]
    stp     q24, q25, [x2, #384]
    stp     q26, q27, [x2, #416]
    stp     q28, q29, [x2, #448]
    stp     q30, q31, [x2, #480]
    mrs     x3, fpcr
    mrs     x4, fpsr
    str     x3, [sp, #800]
    str     x4, [sp, #808]

    mov     x1, x0
    mov     x0, sp
    bl      keel_handle_exception
    // fall through
.size keel_exception_common, . - keel_exception_common

// Restores the TrapFrame at sp and returns from the exception. Also the way a new user
// thread first enters EL0 (arch/context.rs builds a frame and jumps here).
.global keel_exception_return
.type keel_exception_return, %function
keel_exception_return:
    ldr     x3, [sp, #800]
    ldr     x4, [sp, #808]
    msr     fpcr, x3
    msr     fpsr, x4
    add     x2, sp, #288
    ldp     q0, q1, [x2, #0]
    ldp     q2, q3, [x2, #32]
    ldp     q4, q5, [x2, #64]
    ldp     q6, q7, [x2, #96]
    ldp     q8, q9, [x2, #128]
    ldp     q10, q11, [x2, #160]
    ldp     q12, q13, [x2, #192]
    ldp     q14, q15, [x2, #224]
    ldp     q16, q17, [x2, #256]
    ldp     q18, q19, [x2, #288]
    ldp     q20, q21, [x2, #320]
    ldp     q22, q23, [x2, #352]
    ldp     q24, q25, [x2, #384]
    ldp     q26, q27, [x2, #416]
    ldp     q28, q29, [x2, #448]
    ldp     q30, q31, [x2, #480]
    ldr     x2, [sp, #272]
    msr     sp_el0, x2
    ldp     x2, x3, [sp, #256]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    add     sp, sp, #{FRAME_SIZE}
    eret
.size keel_exception_return, . - keel_exception_return

// A call that survives a synchronous exception in its callee: the "sacrificial context"
// used by self-tests (and later by user-memory copies).
//   TryOutcome keel_try_call(u64 (*f)(u64), u64 arg, RecoveryPoint *point)
// Returns (value, 0) normally, (0, 1) when the exception handler sent us to the landing.
.global keel_try_call
.type keel_try_call, %function
keel_try_call:
    stp     x19, x20, [x2, #0]
    stp     x21, x22, [x2, #16]
    stp     x23, x24, [x2, #32]
    stp     x25, x26, [x2, #48]
    stp     x27, x28, [x2, #64]
    stp     x29, x30, [x2, #80]
    mov     x3, sp
    str     x3, [x2, #96]
    mov     x19, x2
    mov     x9, x0
    mov     x0, x1
    blr     x9
    mov     x2, x19
    ldp     x19, x20, [x2, #0]
    ldp     x29, x30, [x2, #80]
    mov     x1, #0
    ret
.size keel_try_call, . - keel_try_call

// In: x0 = the RecoveryPoint. Restores the caller of keel_try_call and returns (0, 1).
.global keel_try_landing
.type keel_try_landing, %function
keel_try_landing:
    ldp     x19, x20, [x0, #0]
    ldp     x21, x22, [x0, #16]
    ldp     x23, x24, [x0, #32]
    ldp     x25, x26, [x0, #48]
    ldp     x27, x28, [x0, #64]
    ldp     x29, x30, [x0, #80]
    ldr     x1, [x0, #96]
    mov     sp, x1
    mov     x0, #0
    mov     x1, #1
    ret
.size keel_try_landing, . - keel_try_landing
