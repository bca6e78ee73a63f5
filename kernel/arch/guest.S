// Entering a guest and coming back: the world switch of a VHE host.
//
// The host has no EL1 state of its own (it lives at EL2), so only what a function call
// must preserve is saved here; arch/guest.rs loads the guest's EL1 system registers
// (through the *_EL12 aliases) and HCR_EL2 around the call.
//
// GuestRegs (arch/guest.rs): x0..x30 at 0..240, pc 248, pstate 256, q0..q31 at 272..784,
// FPCR 784, FPSR 792. HostSave: x19..x30 at 0..88, sp 96, d8..d15 at 104..160.

.section .text, "ax"

//   u64 keel_guest_enter(GuestRegs *guest, HostSave *host)
// Runs the guest until it exits; returns the vector kind it exited through (8..15).
// IRQs must be masked; HCR_EL2 must already hold the guest's value (TGE clear).
.global keel_guest_enter
.type keel_guest_enter, %function
keel_guest_enter:
    stp     x19, x20, [x1, #0]
    stp     x21, x22, [x1, #16]
    stp     x23, x24, [x1, #32]
    stp     x25, x26, [x1, #48]
    stp     x27, x28, [x1, #64]
    stp     x29, x30, [x1, #80]
    mov     x2, sp
    str     x2, [x1, #96]
    stp     d8, d9, [x1, #104]
    stp     d10, d11, [x1, #120]
    stp     d12, d13, [x1, #136]
    stp     d14, d15, [x1, #152]

    add     x2, x0, #272
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
    ldr     x3, [x0, #784]
    msr     fpcr, x3
    ldr     x3, [x0, #792]
    msr     fpsr, x3
    ldr     x3, [x0, #248]
    msr     elr_el2, x3
    ldr     x3, [x0, #256]
    msr     spsr_el2, x3

    // The exit vector finds both pointers just above the frame it pushes.
    sub     sp, sp, #16
    stp     x0, x1, [sp]

    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0, #0]
    eret
.size keel_guest_enter, . - keel_guest_enter

// Reached from a lower-EL vector with TGE clear: x0 = vector kind, the guest's x0/x1 at
// [sp], the GuestRegs and HostSave pointers at [sp + FRAME_SIZE].
.global keel_guest_exit
.type keel_guest_exit, %function
keel_guest_exit:
    str     x0, [sp, #16]
    ldr     x0, [sp, #{FRAME_SIZE}]
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    stp     x18, x19, [x0, #144]
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
    str     x30, [x0, #240]
    ldp     x2, x3, [sp, #0]
    stp     x2, x3, [x0, #0]
    mrs     x2, elr_el2
    str     x2, [x0, #248]
    mrs     x2, spsr_el2
    str     x2, [x0, #256]
    add     x2, x0, #272
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
    str     x3, [x0, #784]
    mrs     x3, fpsr
    str     x3, [x0, #792]

    ldr     x4, [sp, #16]
    add     x1, sp, #{FRAME_SIZE}
    ldr     x1, [x1, #8]
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
    mov     x0, x4
    ret
.size keel_guest_exit, . - keel_guest_exit
