//! GICv3 distributor (GICD): configuration and routing of shared peripheral interrupts.

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use super::encoding::irouter_value;
use super::{bit_position, wait_until_idle, GicError, Trigger, DEFAULT_PRIORITY, FIRST_SPI};

register_bitfields! {u32,
    /// GICD_CTLR in the single-Security-state view (DS = 1).
    GICD_CTLR [
        ENABLE_GRP0 OFFSET(0) NUMBITS(1) [],
        ENABLE_GRP1 OFFSET(1) NUMBITS(1) [],
        /// Affinity Routing Enable.
        ARE OFFSET(4) NUMBITS(1) [],
        /// Disable Security: RAO/WI on a GIC with a single Security state.
        DS OFFSET(6) NUMBITS(1) [],
        /// Register Write Pending: a write to CTLR or ICENABLER is still taking effect.
        RWP OFFSET(31) NUMBITS(1) [],
    ],
    GICD_TYPER [
        /// The distributor implements 32 * (N + 1) INTIDs (SGIs and PPIs included).
        IT_LINES_NUMBER OFFSET(0) NUMBITS(5) [],
    ]
}

register_structs! {
    /// The 64 KiB GICD register frame (GIC architecture spec, table 12-25).
    DistributorRegisters {
        (0x0000 => ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => typer: ReadOnly<u32, GICD_TYPER::Register>),
        (0x0008 => _reserved0),
        (0x0080 => igroupr: [ReadWrite<u32>; 32]),
        (0x0100 => isenabler: [ReadWrite<u32>; 32]),
        (0x0180 => icenabler: [WriteOnly<u32>; 32]),
        (0x0200 => _ispendr),
        (0x0280 => icpendr: [WriteOnly<u32>; 32]),
        (0x0300 => _isactiver),
        (0x0380 => icactiver: [WriteOnly<u32>; 32]),
        /// One byte per INTID, accessed as words of four.
        (0x0400 => ipriorityr: [ReadWrite<u32>; 255]),
        (0x07fc => _reserved1),
        /// Two bits per INTID; the upper bit set = edge-triggered.
        (0x0c00 => icfgr: [ReadWrite<u32>; 64]),
        (0x0d00 => igrpmodr: [ReadWrite<u32>; 32]),
        (0x0d80 => _reserved2),
        /// One routing register per INTID; entries 0..32 are reserved (private INTIDs).
        (0x6000 => irouter: [ReadWrite<u64>; 1020]),
        (0x7fe0 => _reserved3),
        (0x10000 => @END),
    }
}

/// Highest number of INTIDs a distributor covers: INTIDs from 1020 up are special.
const MAX_LINES: u32 = 1020;

/// The GICv3 distributor.
pub struct Distributor {
    regs: &'static DistributorRegisters,
}

// SAFETY: the distributor is reachable from every CPU, so the handle may move between CPUs.
// It is not `Sync`: the kernel serializes users (read-modify-write of ICFGR, init).
unsafe impl Send for Distributor {}

impl Distributor {
    /// Creates the driver for the distributor whose registers are mapped at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the virtual address of the 64 KiB GICD frame, mapped as device memory
    /// for the rest of the kernel's life, and no other code may program the distributor
    /// behind this driver's back.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` maps the GICD frame for 'static; the register
        // types only allow volatile access.
        let regs = unsafe { &*(base as *const DistributorRegisters) };
        Self { regs }
    }

    /// Number of INTIDs this distributor implements (SGIs and PPIs included): SPIs are
    /// `32..lines()`.
    pub fn lines(&self) -> u32 {
        let blocks = self.regs.typer.read(GICD_TYPER::IT_LINES_NUMBER) + 1;
        (blocks * 32).min(MAX_LINES)
    }

    /// Resets the distributor to Keel's configuration: affinity routing on, Group 1 enabled,
    /// every SPI Group 1 non-secure, priority [`DEFAULT_PRIORITY`], level-triggered, disabled,
    /// not pending and not active.
    pub fn init(&self) -> Result<(), GicError> {
        self.regs.ctlr.set(0);
        self.wait_for_register_write()?;

        let lines = self.lines();
        let spi_words = (FIRST_SPI / 32) as usize..(lines / 32) as usize;
        for index in spi_words {
            set_word(&self.regs.icenabler, index, u32::MAX);
            set_word(&self.regs.icpendr, index, u32::MAX);
            set_word(&self.regs.icactiver, index, u32::MAX);
            set_word(&self.regs.igroupr, index, u32::MAX);
            set_word(&self.regs.igrpmodr, index, 0);
        }
        let priority_word = u32::from_ne_bytes([DEFAULT_PRIORITY; 4]);
        for index in (FIRST_SPI / 4) as usize..(lines / 4) as usize {
            set_word(&self.regs.ipriorityr, index, priority_word);
        }
        for index in (FIRST_SPI / 16) as usize..(lines / 16) as usize {
            set_word(&self.regs.icfgr, index, 0);
        }
        self.wait_for_register_write()?;

        // ARE must be set while the group enables are still clear, then the groups enabled.
        self.regs
            .ctlr
            .write(GICD_CTLR::ARE::SET + GICD_CTLR::DS::SET);
        self.wait_for_register_write()?;
        self.regs.ctlr.modify(GICD_CTLR::ENABLE_GRP1::SET);
        self.wait_for_register_write()
    }

    /// Routes SPI `intid` to the CPU with this MPIDR and enables it.
    pub fn enable_spi(&self, intid: u32, target_mpidr: u64) -> Result<(), GicError> {
        self.check_spi(intid)?;
        let router = self
            .regs
            .irouter
            .get(intid as usize)
            .ok_or(GicError::NotSpi(intid))?;
        router.set(irouter_value(target_mpidr));
        let (index, bit) = bit_position(intid);
        set_word(&self.regs.isenabler, index, bit);
        Ok(())
    }

    /// Disables SPI `intid` and waits until the distributor has applied it.
    pub fn disable_spi(&self, intid: u32) -> Result<(), GicError> {
        self.check_spi(intid)?;
        let (index, bit) = bit_position(intid);
        set_word(&self.regs.icenabler, index, bit);
        self.wait_for_register_write()
    }

    /// Sets SPI `intid` to level- or edge-triggered. Change it only while the SPI is disabled.
    pub fn set_trigger(&self, intid: u32, trigger: Trigger) -> Result<(), GicError> {
        self.check_spi(intid)?;
        let config = self
            .regs
            .icfgr
            .get((intid / 16) as usize)
            .ok_or(GicError::NotSpi(intid))?;
        let edge_bit = 1 << ((intid % 16) * 2 + 1);
        let old = config.get();
        config.set(match trigger {
            Trigger::Edge => old | edge_bit,
            Trigger::Level => old & !edge_bit,
        });
        Ok(())
    }

    fn check_spi(&self, intid: u32) -> Result<(), GicError> {
        if (FIRST_SPI..self.lines()).contains(&intid) {
            Ok(())
        } else {
            Err(GicError::NotSpi(intid))
        }
    }

    fn wait_for_register_write(&self) -> Result<(), GicError> {
        wait_until_idle(|| self.regs.ctlr.is_set(GICD_CTLR::RWP))
    }
}

/// Writes `value` to register `index` of an array; indices come from INTIDs already checked
/// against `lines()`, which never exceeds the arrays.
fn set_word<R: Writeable<T = u32>>(registers: &[R], index: usize, value: u32) {
    if let Some(register) = registers.get(index) {
        register.set(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A distributor over ordinary memory: registers read back what was written last.
    fn fake_distributor(it_lines_number: u32) -> Distributor {
        let memory: &'static mut [u64] = Vec::leak(vec![0u64; 0x10000 / 8]);
        // GICD_TYPER is the upper half of the first 64-bit word (offset 0x4).
        memory[0] = u64::from(it_lines_number) << 32;
        // SAFETY: the leaked buffer is 64 KiB, 8-byte aligned and lives forever.
        unsafe { Distributor::new(memory.as_mut_ptr() as usize) }
    }

    #[test]
    fn lines_from_typer_capped_at_1020() {
        assert_eq!(fake_distributor(3).lines(), 128);
        assert_eq!(fake_distributor(31).lines(), 1020);
    }

    #[test]
    fn init_configures_spis_and_enables_group1_with_are() {
        let gicd = fake_distributor(3);
        assert_eq!(gicd.init(), Ok(()));
        assert_eq!(gicd.regs.ctlr.get(), 0b101_0010);
        assert_eq!(gicd.regs.igroupr[1].get(), u32::MAX);
        assert_eq!(
            gicd.regs.igroupr[0].get(),
            0,
            "private INTIDs belong to the redistributor"
        );
        assert_eq!(gicd.regs.ipriorityr[8].get(), 0xa0a0_a0a0);
        assert_eq!(gicd.regs.ipriorityr[7].get(), 0);
    }

    #[test]
    fn enable_spi_routes_and_sets_enable_bit() {
        let gicd = fake_distributor(3);
        assert_eq!(gicd.enable_spi(33, 0x8000_0102), Ok(()));
        assert_eq!(gicd.regs.irouter[33].get(), 0x0102);
        assert_eq!(gicd.regs.isenabler[1].get(), 1 << 1);
        assert_eq!(gicd.enable_spi(31, 0), Err(GicError::NotSpi(31)));
        assert_eq!(gicd.enable_spi(128, 0), Err(GicError::NotSpi(128)));
    }

    #[test]
    fn set_trigger_flips_only_the_config_bit() {
        let gicd = fake_distributor(3);
        assert_eq!(gicd.set_trigger(39, Trigger::Edge), Ok(()));
        assert_eq!(gicd.regs.icfgr[2].get(), 1 << 15);
        assert_eq!(gicd.set_trigger(39, Trigger::Level), Ok(()));
        assert_eq!(gicd.regs.icfgr[2].get(), 0);
    }
}
