// The hostile guest's entry and EL1 exception vectors.
//
// Every synchronous exception a probe causes is recorded (ESR_EL1, FAR_EL1, a count) in
// hostile_trap and the probe resumes: after the faulting instruction, or — for an
// instruction abort, which a probe causes with `blr` — at the return address in x30.

.section .text.entry, "ax"
.global _start
_start:
    msr     daifset, #0xf
    adrp    x1, __hostile_stack_top
    add     x1, x1, :lo12:__hostile_stack_top
    mov     sp, x1
    adrp    x1, hostile_vectors
    add     x1, x1, :lo12:hostile_vectors
    msr     vbar_el1, x1
    // CPACR_EL1: FP/SIMD on for Rust code (FPEN); SVE and SME not trapped at EL1 (ZEN,
    // SMEN) as a guest that wants them would set it, so that their instructions reach
    // Keel's traps (RES0 on a CPU without them).
    mov     x1, #((3 << 24) | (3 << 20) | (3 << 16))
    msr     cpacr_el1, x1
    isb
    bl      hostile_main                    // x0 = the DTB
1:  wfi
    b       1b

.section .text.hostile_vectors, "ax"
.balign 2048
hostile_vectors:
.rept 16
    b       hostile_exception
.balign 128
.endr

hostile_exception:
    stp     x0, x1, [sp, #-16]!
    adrp    x0, hostile_trap
    add     x0, x0, :lo12:hostile_trap
    mrs     x1, esr_el1
    str     x1, [x0]
    mrs     x1, far_el1
    str     x1, [x0, #8]
    ldr     x1, [x0, #16]
    add     x1, x1, #1
    str     x1, [x0, #16]
    mrs     x1, esr_el1
    lsr     x1, x1, #26
    cmp     x1, #0x21                       // instruction abort: back to the caller
    b.eq    2f
    mrs     x1, elr_el1
    add     x1, x1, #4
    msr     elr_el1, x1
    b       3f
2:  msr     elr_el1, x30
3:  ldp     x0, x1, [sp], #16
    eret
