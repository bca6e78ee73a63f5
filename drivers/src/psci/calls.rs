//! The PSCI calls themselves: `smc #0` / `hvc #0` with x0..x3 in and x0 out (aarch64 only).

use core::arch::asm;

use super::{decode_affinity_state, decode_result, decode_version, function, AffinityState};
use super::{Conduit, Psci, PsciError};

impl Psci {
    /// PSCI_VERSION: the firmware's PSCI version as (major, minor).
    pub fn version(&self) -> (u16, u16) {
        let x0 = self.call(function::PSCI_VERSION, 0, 0, 0);
        // An SMC32 result lives in w0.
        decode_version(x0 as u32)
    }

    /// PSCI_FEATURES: whether the firmware implements `function_id`; `Ok` carries the
    /// function's feature flags.
    pub fn features(&self, function_id: u32) -> Result<u32, PsciError> {
        let x0 = self.call(function::PSCI_FEATURES, u64::from(function_id), 0, 0);
        // The flags are a 32-bit result.
        decode_result(function::PSCI_FEATURES, x0).map(|flags| flags as u32)
    }

    /// CPU_ON: starts the CPU with this MPIDR at physical address `entry_pa` with the MMU off,
    /// at the exception level the firmware boots CPUs at (EL2 on QEMU `virt` with
    /// `virtualization=on`), and `context` in x0.
    ///
    /// # Safety
    ///
    /// `entry_pa` must be the physical address of code that is correct to run on a freshly
    /// reset CPU with the MMU off, and everything that code reaches through `context` (stack,
    /// per-CPU data) must be set aside for that CPU alone, as the new CPU starts using it
    /// concurrently with this one.
    pub unsafe fn cpu_on(&self, mpidr: u64, entry_pa: u64, context: u64) -> Result<(), PsciError> {
        let x0 = self.call(function::CPU_ON, mpidr, entry_pa, context);
        decode_result(function::CPU_ON, x0).map(|_| ())
    }

    /// AFFINITY_INFO: whether the CPU with this MPIDR is on, off or on its way.
    pub fn affinity_info(&self, mpidr: u64) -> Result<AffinityState, PsciError> {
        // Lowest affinity level 0: the state of that one CPU.
        let x0 = self.call(function::AFFINITY_INFO, mpidr, 0, 0);
        decode_result(function::AFFINITY_INFO, x0).and_then(decode_affinity_state)
    }

    /// CPU_OFF: powers down the calling CPU. Returns only if the firmware refuses.
    pub fn cpu_off(&self) -> PsciError {
        let x0 = self.call(function::CPU_OFF, 0, 0, 0);
        decode_result(function::CPU_OFF, x0)
            .err()
            .unwrap_or(PsciError::Unknown(0))
    }

    /// SYSTEM_OFF: powers the machine off. If the firmware returns, the CPU waits forever.
    pub fn system_off(&self) -> ! {
        self.call(function::SYSTEM_OFF, 0, 0, 0);
        wait_forever()
    }

    /// SYSTEM_RESET: resets the machine. If the firmware returns, the CPU waits forever.
    pub fn system_reset(&self) -> ! {
        self.call(function::SYSTEM_RESET, 0, 0, 0);
        wait_forever()
    }

    /// One SMCCC call: function ID in w0, arguments in x1..x3, result in x0. SMCCC 1.0 lets
    /// firmware change x0..x17, so all of them are declared clobbered.
    fn call(&self, function_id: u32, arg1: u64, arg2: u64, arg3: u64) -> u64 {
        let mut x0 = u64::from(function_id);
        match self.conduit {
            // SAFETY: an SMC to PSCI firmware returns to the next instruction, changes no
            // memory the kernel owns for the functions wrapped here (CPU_ON's effect is covered
            // by its own `unsafe` contract) and may change only x0..x17, all declared clobbered.
            Conduit::Smc => unsafe {
                asm!(
                    "smc #0",
                    inout("x0") x0, inout("x1") arg1 => _, inout("x2") arg2 => _,
                    inout("x3") arg3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                    out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                    out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                    options(nostack),
                )
            },
            // SAFETY: as for SMC; an HVC taken by a hypervisor (or by Keel's own EL2 vectors
            // when issued at EL2) returns the same way with the same register contract.
            Conduit::Hvc => unsafe {
                asm!(
                    "hvc #0",
                    inout("x0") x0, inout("x1") arg1 => _, inout("x2") arg2 => _,
                    inout("x3") arg3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                    out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                    out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                    options(nostack),
                )
            },
        }
        x0
    }
}

fn wait_forever() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
}
