//! GICv3 redistributor (GICR): one per CPU; wakes the CPU's interface and owns its SGIs and PPIs.

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use super::encoding::gicr_affinity;
use super::{bit_position, wait_until_idle, GicError, DEFAULT_PRIORITY, PRIVATE_INTID_COUNT};

register_bitfields! {u32,
    GICR_CTLR [
        /// Register Write Pending: a write to ICENABLER0 is still taking effect.
        RWP OFFSET(3) NUMBITS(1) [],
    ],
    GICR_WAKER [
        /// Software says the CPU is asleep; the GIC does not forward interrupts to it.
        PROCESSOR_SLEEP OFFSET(1) NUMBITS(1) [],
        /// The interface to the CPU is quiescent.
        CHILDREN_ASLEEP OFFSET(2) NUMBITS(1) [],
    ]
}

register_bitfields! {u64,
    GICR_TYPER [
        /// Virtual LPIs are supported: each redistributor has two more 64 KiB frames.
        VLPIS OFFSET(1) NUMBITS(1) [],
        /// This is the last redistributor of the region.
        LAST OFFSET(4) NUMBITS(1) [],
        /// Aff3:Aff2:Aff1:Aff0 of the CPU this redistributor serves.
        AFFINITY_VALUE OFFSET(32) NUMBITS(32) [],
    ]
}

register_structs! {
    /// RD_base: the redistributor's control frame (GIC architecture spec, table 12-27).
    ControlFrame {
        (0x0000 => ctlr: ReadWrite<u32, GICR_CTLR::Register>),
        (0x0004 => _iidr),
        (0x0008 => typer: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0010 => _statusr),
        (0x0014 => waker: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0018 => _reserved0),
        (0x10000 => @END),
    }
}

register_structs! {
    /// SGI_base: the frame right after RD_base, configuring the CPU's SGIs and PPIs
    /// (GIC architecture spec, table 12-29).
    PrivateInterruptFrame {
        (0x0000 => _reserved0),
        (0x0080 => igroupr0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => isenabler0: ReadWrite<u32>),
        (0x0104 => _reserved2),
        (0x0180 => icenabler0: WriteOnly<u32>),
        (0x0184 => _reserved3),
        (0x0280 => icpendr0: WriteOnly<u32>),
        (0x0284 => _reserved4),
        (0x0380 => icactiver0: WriteOnly<u32>),
        (0x0384 => _reserved5),
        (0x0400 => ipriorityr: [ReadWrite<u32>; 8]),
        (0x0420 => _reserved6),
        (0x0d00 => igrpmodr0: ReadWrite<u32>),
        (0x0d04 => _reserved7),
        (0x10000 => @END),
    }
}

/// Size of one redistributor: RD_base + SGI_base frames, 64 KiB each.
const FRAME_PAIR_SIZE: usize = 0x2_0000;
/// Extra size of a GICv4 redistributor (VLPI_base + a reserved frame).
const VLPI_FRAMES_SIZE: usize = 0x2_0000;

/// The redistributor of one CPU.
pub struct Redistributor {
    control: &'static ControlFrame,
    private: &'static PrivateInterruptFrame,
}

// SAFETY: a redistributor's frames are reachable from every CPU, so the handle may move
// between CPUs; it is not `Sync` (the owning CPU configures it).
unsafe impl Send for Redistributor {}

impl Redistributor {
    /// Finds the redistributor of the CPU with this MPIDR by walking the redistributor region
    /// frame by frame, comparing GICR_TYPER.Affinity_Value, until the frame marked Last or
    /// the end of the region. `None` if no frame serves that CPU.
    ///
    /// # Safety
    ///
    /// `region_base` must be the virtual address of the whole redistributor region,
    /// `region_size` bytes long, mapped as device memory for the rest of the kernel's life.
    pub unsafe fn for_cpu(region_base: usize, region_size: usize, mpidr: u64) -> Option<Self> {
        let wanted = gicr_affinity(mpidr);
        let mut offset: usize = 0;
        while offset.checked_add(FRAME_PAIR_SIZE)? <= region_size {
            let control_base = region_base.checked_add(offset)?;
            // SAFETY: the frame pair lies inside the region the caller guarantees is mapped
            // for 'static (checked just above); access is volatile only.
            let control = unsafe { &*(control_base as *const ControlFrame) };
            let typer = control.typer.extract();
            if typer.read(GICR_TYPER::AFFINITY_VALUE) == u64::from(wanted) {
                let private_base = control_base + FRAME_PAIR_SIZE / 2;
                // SAFETY: SGI_base is the second frame of the pair, inside the region too.
                let private = unsafe { &*(private_base as *const PrivateInterruptFrame) };
                return Some(Self { control, private });
            }
            if typer.is_set(GICR_TYPER::LAST) {
                return None;
            }
            offset += FRAME_PAIR_SIZE;
            if typer.is_set(GICR_TYPER::VLPIS) {
                offset += VLPI_FRAMES_SIZE;
            }
        }
        None
    }

    /// Affinity (Aff3:Aff2:Aff1:Aff0) of the CPU this redistributor serves.
    pub fn affinity(&self) -> u32 {
        // The field is 32 bits wide.
        self.control.typer.read(GICR_TYPER::AFFINITY_VALUE) as u32
    }

    /// Marks the CPU awake (clears GICR_WAKER.ProcessorSleep) and waits until the GIC's
    /// interface to it is awake too (ChildrenAsleep = 0).
    pub fn wake(&self) -> Result<(), GicError> {
        self.control
            .waker
            .modify(GICR_WAKER::PROCESSOR_SLEEP::CLEAR);
        wait_until_idle(|| self.control.waker.is_set(GICR_WAKER::CHILDREN_ASLEEP))
    }

    /// Resets the CPU's SGIs and PPIs: all disabled, not pending, not active, Group 1
    /// non-secure, priority [`DEFAULT_PRIORITY`]. Enable the ones in use with
    /// [`Self::enable_private`].
    pub fn init(&self) -> Result<(), GicError> {
        self.private.icenabler0.set(u32::MAX);
        self.wait_for_register_write()?;
        self.private.icpendr0.set(u32::MAX);
        self.private.icactiver0.set(u32::MAX);
        self.private.igroupr0.set(u32::MAX);
        self.private.igrpmodr0.set(0);
        let priority_word = u32::from_ne_bytes([DEFAULT_PRIORITY; 4]);
        for priorities in &self.private.ipriorityr {
            priorities.set(priority_word);
        }
        Ok(())
    }

    /// Enables SGI or PPI `intid` (0..32) on this CPU.
    pub fn enable_private(&self, intid: u32) -> Result<(), GicError> {
        let bit = private_bit(intid)?;
        self.private.isenabler0.set(bit);
        Ok(())
    }

    /// Disables SGI or PPI `intid` (0..32) on this CPU and waits until that has taken effect.
    pub fn disable_private(&self, intid: u32) -> Result<(), GicError> {
        let bit = private_bit(intid)?;
        self.private.icenabler0.set(bit);
        self.wait_for_register_write()
    }

    fn wait_for_register_write(&self) -> Result<(), GicError> {
        wait_until_idle(|| self.control.ctlr.is_set(GICR_CTLR::RWP))
    }
}

/// The ISENABLER0/ICENABLER0 bit of SGI or PPI `intid`.
fn private_bit(intid: u32) -> Result<u32, GicError> {
    if intid < PRIVATE_INTID_COUNT {
        Ok(bit_position(intid).1)
    } else {
        Err(GicError::NotPrivate(intid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A redistributor region over ordinary memory with one frame pair per affinity given;
    /// the last one is marked Last. Returns (base, size).
    fn fake_region(affinities: &[u32], extra_frames: usize) -> (usize, usize) {
        let size = (affinities.len() + extra_frames) * FRAME_PAIR_SIZE;
        let memory: &'static mut [u64] = Vec::leak(vec![0u64; size / 8]);
        for (index, affinity) in affinities.iter().enumerate() {
            let last = if index + 1 == affinities.len() {
                1 << 4
            } else {
                0
            };
            memory[index * FRAME_PAIR_SIZE / 8 + 1] = (u64::from(*affinity) << 32) | last;
        }
        (memory.as_mut_ptr() as usize, size)
    }

    #[test]
    fn finds_the_frame_of_each_cpu() {
        let (base, size) = fake_region(&[0, 1, 2, 0x0100], 0);
        for (index, mpidr) in [0x8000_0000u64, 1, 2, 0x100].into_iter().enumerate() {
            // SAFETY: the fake region is leaked memory of `size` bytes.
            let gicr = unsafe { Redistributor::for_cpu(base, size, mpidr) }.expect("frame");
            assert_eq!(
                gicr.control as *const _ as usize,
                base + index * FRAME_PAIR_SIZE
            );
            assert_eq!(
                gicr.private as *const _ as usize - base,
                index * FRAME_PAIR_SIZE + 0x10000
            );
        }
    }

    #[test]
    fn stops_at_last_and_at_region_end() {
        let (base, size) = fake_region(&[0, 1], 2);
        // SAFETY: the fake region is leaked memory of `size` bytes.
        assert!(unsafe { Redistributor::for_cpu(base, size, 3) }.is_none());
        // SAFETY: as above; a smaller size only shortens the walk.
        assert!(unsafe { Redistributor::for_cpu(base, FRAME_PAIR_SIZE, 1) }.is_none());
        // SAFETY: a zero-sized region reads nothing.
        assert!(unsafe { Redistributor::for_cpu(base, 0, 0) }.is_none());
    }

    #[test]
    fn wake_init_and_private_enables() {
        let (base, size) = fake_region(&[0], 0);
        // SAFETY: the fake region is leaked memory of `size` bytes.
        let gicr = unsafe { Redistributor::for_cpu(base, size, 0) }.expect("frame");
        gicr.control.waker.set(0b110);
        assert_eq!(
            gicr.wake(),
            Err(GicError::Timeout),
            "fake ChildrenAsleep never clears"
        );
        gicr.control.waker.set(0b010);
        assert_eq!(gicr.wake(), Ok(()));
        assert_eq!(gicr.control.waker.get(), 0);
        assert_eq!(gicr.init(), Ok(()));
        assert_eq!(gicr.private.igroupr0.get(), u32::MAX);
        assert_eq!(gicr.private.ipriorityr[7].get(), 0xa0a0_a0a0);
        assert_eq!(gicr.enable_private(27), Ok(()));
        assert_eq!(gicr.private.isenabler0.get(), 1 << 27);
        assert_eq!(gicr.enable_private(32), Err(GicError::NotPrivate(32)));
    }
}
