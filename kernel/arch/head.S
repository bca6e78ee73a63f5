// Keel entry: the arm64 Image header, EL2/VHE checks, boot page tables, MMU on, jump high.
//
// Assembled through global_asm! in arch/boot.rs, which supplies the constants in braces.
// Register use on the primary path:
//   x19 = DTB physical address (x0 from the loader)
//   x20 = physical address the image was loaded at

.section .text.head, "ax"
.global _start
_start:
    b       keel_primary_entry          // code0
    .long   0                           // code1
    .quad   0                           // text_offset: anywhere 2 MiB aligned
    .quad   __image_size                // image_size, including bss
    .quad   0xa                         // flags: little endian, 4 KiB pages, any placement
    .quad   0                           // res2
    .quad   0                           // res3
    .quad   0                           // res4
    .ascii  "ARM\x64"                   // magic
    .long   0                           // res5

.section .text.boot, "ax"

.type keel_primary_entry, %function
keel_primary_entry:
    mov     x19, x0
    adrp    x20, __kernel_start
    adrp    x1, keel_boot_stack_top     // physical while the MMU is off
    add     x1, x1, :lo12:keel_boot_stack_top
    mov     sp, x1

    mrs     x1, CurrentEL
    ubfx    x1, x1, #2, #2
    cmp     x1, #2
    b.ne    .Lprimary_wrong_el
    mrs     x2, ID_AA64MMFR1_EL1
    ubfx    x2, x2, #8, #4              // VH
    cbz     x2, .Lprimary_no_vhe

    bl      keel_el2_vhe_setup
    bl      keel_build_boot_tables
    adrp    x0, keel_boot_idmap_l1
    adrp    x1, keel_boot_high_l1
    bl      keel_enable_mmu
    ldr     x1, =keel_primary_high
    br      x1

.Lprimary_wrong_el:
    mov     x2, x1                      // detail: the exception level we entered at
    mov     x1, #{REFUSE_NOT_EL2}
    b       .Lprimary_refuse
.Lprimary_no_vhe:
    mov     x2, #0
    mov     x1, #{REFUSE_NO_VHE}
.Lprimary_refuse:
    mov     x21, x1
    mov     x22, x2
    bl      keel_enable_fp_any_el      // Rust may touch FP/SIMD registers
    mov     x0, x19
    mov     x1, x21
    mov     x2, x22
    bl      keel_early_refuse           // prints the reason, powers off, never returns
1:  wfe
    b       1b
.size keel_primary_entry, . - keel_primary_entry

// Host configuration at EL2 with VHE: HCR_EL2, FP/SIMD, timers, then the MMU registers.
// Clobbers x0-x3.
.type keel_el2_vhe_setup, %function
keel_el2_vhe_setup:
    ldr     x0, ={HCR_HOST}
    msr     hcr_el2, x0
    isb
    mov     x0, #{CPTR_FPEN}            // CPTR_EL2 in its CPACR layout (E2H=1)
    msr     cptr_el2, x0
    mov     x0, #{CNTHCTL_HOST}
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    ldr     x0, ={MAIR}
    msr     mair_el2, x0
    // TCR_EL2 (TCR_EL1 layout with E2H=1): 39-bit halves, 4 KiB granule, IPS from PARange
    ldr     x0, ={TCR_BASE}
    mrs     x1, ID_AA64MMFR0_EL1
    ubfx    x2, x1, #0, #4              // PARange
    cmp     x2, #5
    mov     x3, #5
    csel    x2, x2, x3, ls              // at most 48 bits
    bfi     x0, x2, #32, #3             // IPS
    ubfx    x2, x1, #4, #4              // ASIDBits: 2 = 16 bits
    cmp     x2, #2
    cset    x2, eq
    bfi     x0, x2, #36, #1             // AS
    msr     tcr_el2, x0
    isb
    ret
.size keel_el2_vhe_setup, . - keel_el2_vhe_setup

// Builds the boot tables with the MMU off: an identity map of the low 512 GiB (TTBR0) and
// the high half (TTBR1): the linear map of the low 256 GiB plus the kernel image at
// KIMAGE_BASE, all in 1 GiB / 2 MiB blocks. The first GiB is device memory (QEMU virt's
// peripherals). Rust replaces TTBR1's tables with exact ones once it has parsed the DTB.
// In: x20 = image physical base. Clobbers x0-x7.
.type keel_build_boot_tables, %function
keel_build_boot_tables:
    adrp    x0, keel_boot_idmap_l1
    adrp    x1, keel_boot_high_l1
    ldr     x4, ={BLOCK_NORMAL_EXEC}
    ldr     x5, ={BLOCK_DEVICE}
    ldr     x6, ={BLOCK_NORMAL_NOEXEC}
    mov     x2, #0                      // index
1:  lsl     x3, x2, #30                 // output address: index GiB
    cmp     x2, #0
    csel    x7, x5, x4, eq
    orr     x7, x7, x3
    str     x7, [x0, x2, lsl #3]        // identity
    cmp     x2, #256
    b.hs    2f
    cmp     x2, #0
    csel    x7, x5, x6, eq
    orr     x7, x7, x3
    str     x7, [x1, x2, lsl #3]        // linear map
2:  add     x2, x2, #1
    cmp     x2, #512
    b.lo    1b

    // Kernel image: L1[511] -> L2 table of 2 MiB blocks from the load address.
    adrp    x2, keel_boot_image_l2
    orr     x3, x2, #3                  // table descriptor
    str     x3, [x1, #511 * 8]
    ldr     x3, =__image_size
    add     x3, x3, #0x1ff, lsl #12     // round up to 2 MiB: + 0x1fffff
    add     x3, x3, #0xfff
    lsr     x3, x3, #21                 // number of 2 MiB blocks
    mov     x7, #0
3:  lsl     x0, x7, #21
    add     x0, x0, x20
    orr     x0, x0, x4
    str     x0, [x2, x7, lsl #3]
    add     x7, x7, #1
    cmp     x7, x3
    b.lo    3b

    // The tables were written with the caches off: drop any stale lines before the walk.
    adrp    x0, keel_boot_idmap_l1
    add     x1, x0, #3 * 4096
4:  dc      ivac, x0
    add     x0, x0, #64
    cmp     x0, x1
    b.lo    4b
    dsb     sy
    ret
.size keel_build_boot_tables, . - keel_build_boot_tables

// In: x0 = TTBR0 table (physical), x1 = TTBR1 table (physical). Clobbers x0-x1.
.type keel_enable_mmu, %function
keel_enable_mmu:
    msr     ttbr0_el2, x0
    msr     s3_4_c2_c0_1, x1           // TTBR1_EL2
    isb
    tlbi    alle2
    dsb     nsh
    isb
    ldr     x0, ={SCTLR_MMU_ON}
    msr     sctlr_el2, x0
    isb
    ic      iallu
    dsb     nsh
    isb
    ret
.size keel_enable_mmu, . - keel_enable_mmu

// Enables FP/SIMD at whatever EL we are in, so that Rust refusal code can run. Clobbers x0-x1.
.type keel_enable_fp_any_el, %function
keel_enable_fp_any_el:
    mrs     x0, CurrentEL
    ubfx    x0, x0, #2, #2
    cmp     x0, #2
    b.eq    1f
    mov     x1, #{CPTR_FPEN}
    msr     cpacr_el1, x1
    isb
    ret
1:  mov     x1, #{CPTR_EL2_NVHE_NOTRAP}
    msr     cptr_el2, x1
    isb
    ret
.size keel_enable_fp_any_el, . - keel_enable_fp_any_el

// Secondary CPUs enter here from PSCI CPU_ON with the MMU off.
// In: x0 = physical address of the SecondaryBoot block (see arch/smp.rs).
.global keel_secondary_entry
.type keel_secondary_entry, %function
keel_secondary_entry:
    mov     x19, x0
    mrs     x1, CurrentEL
    ubfx    x1, x1, #2, #2
    cmp     x1, #2
    b.ne    .Lsecondary_wrong_el
    mrs     x2, ID_AA64MMFR1_EL1
    ubfx    x2, x2, #8, #4
    cbz     x2, .Lsecondary_no_vhe

    bl      keel_el2_vhe_setup
    adrp    x0, keel_boot_idmap_l1
    ldr     x1, [x19, #{SECONDARY_TTBR1}]
    bl      keel_enable_mmu
    ldr     x1, =keel_secondary_high
    br      x1

.Lsecondary_wrong_el:
    mov     x1, #{REFUSE_NOT_EL2}
    b       .Lsecondary_report
.Lsecondary_no_vhe:
    mov     x1, #{REFUSE_NO_VHE}
.Lsecondary_report:
    // Tell the boot CPU (it invalidates the line before reading), then park forever.
    str     x1, [x19, #{SECONDARY_STATUS}]
    dc      civac, x19
    dsb     sy
    sev
2:  wfe
    b       2b
.size keel_secondary_entry, . - keel_secondary_entry

// ---- From here on we run at the kernel's linked (high) addresses. ----

.section .text, "ax"

.type keel_primary_high, %function
keel_primary_high:
    ldr     x1, =keel_boot_stack_top
    mov     sp, x1
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:  ldr     x1, =keel_exception_vectors
    msr     vbar_el2, x1
    isb
    mov     x0, x19
    mov     x1, x20
    bl      keel_primary_main           // never returns
3:  wfe
    b       3b
.size keel_primary_high, . - keel_primary_high

.type keel_secondary_high, %function
keel_secondary_high:
    ldr     x1, ={LINEAR_BASE}
    add     x19, x19, x1                // the SecondaryBoot block, now through the linear map
    ldr     x1, [x19, #{SECONDARY_STACK}]
    mov     sp, x1
    ldr     x1, =keel_exception_vectors
    msr     vbar_el2, x1
    isb
    mov     x0, x19
    bl      keel_secondary_main         // never returns
1:  wfe
    b       1b
.size keel_secondary_high, . - keel_secondary_high

// Boot page tables live in .data: they are written before .bss is cleared.
.section .data.boot_tables, "aw"
.balign 4096
.global keel_boot_idmap_l1
keel_boot_idmap_l1:
    .space 4096
.global keel_boot_high_l1
keel_boot_high_l1:
    .space 4096
keel_boot_image_l2:
    .space 4096

.section .bss.keel_boot_stack, "aw", %nobits
.balign 16
keel_boot_stack:
    .space {BOOT_STACK_SIZE}
.global keel_boot_stack_top
keel_boot_stack_top:
