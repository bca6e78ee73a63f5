//! Register sweeps: nonsense written to, then read from, every 32-bit register of every
//! emulated device — the GIC distributor and redistributor, the PL011 and every
//! virtio-mmio slot — and then a look that each device still answers sanely.

use crate::report::Report;
use crate::trap::{self, run};
use crate::uart::{self, UART_BASE};
use crate::virtq::{NEEDS_RESET, VIRTIO_BASE, VIRTIO_SLOTS, VIRTIO_STRIDE};
use keel_hostile_guest::{nonsense, Outcome, Sweep};

const GICD_BASE: u64 = 0x0800_0000;
const GICD_SIZE: u64 = 0x1_0000;
const GICD_CTLR: u64 = 0x0000;
const GICD_TYPER: u64 = 0x0004;
const GICD_ICENABLER: u64 = 0x0180;
const GICD_ICPENDR: u64 = 0x0280;
const GICR_BASE: u64 = 0x080a_0000;
/// vCPU 0's redistributor: RD_base and SGI_base frames.
const GICR_SIZE: u64 = 0x2_0000;
const GICR_TYPER: u64 = 0x0008;
const GICR_SGI_ICENABLER0: u64 = 0x1_0180;
const GICR_SGI_ICPENDR0: u64 = 0x1_0280;
const UART_SIZE: u64 = 0x1000;
const VIRTIO_MAGIC: u64 = 0x74726976;
const VIRTIO_STATUS: u64 = 0x070;

/// Writes nonsense to every 32-bit register in `base..base + size` (but those `skip`
/// names), then reads each; counts the accesses and the aborts.
fn sweep(base: u64, size: u64, skip: impl Fn(u64) -> bool) -> Sweep {
    let mut sweep = Sweep::default();
    for pass in 0..2 {
        for offset in (0..size).step_by(4) {
            if pass == 0 && skip(offset) {
                continue;
            }
            let write = pass == 0;
            let outcome = if write {
                run(|| trap::write32(base + offset, nonsense(offset, pass)))
            } else {
                run(|| trap::read32(base + offset))
            };
            sweep.count(write, matches!(outcome, Outcome::Exception { .. }));
        }
    }
    sweep
}

fn read(address: u64) -> Outcome {
    run(|| trap::read32(address))
}

fn same(before: Outcome, after: Outcome, what: &'static str) -> Result<(), &'static str> {
    match (before, after) {
        (Outcome::Completed(a), Outcome::Completed(b)) if a == b => Ok(()),
        _ => Err(what),
    }
}

/// Quiets the GIC again: distributor off, every interrupt disabled and not pending (the
/// sweep set some pending and enabled; the guest then waits in WFI for ever).
fn quiet_gic() {
    trap::write32(GICD_BASE + GICD_CTLR, 0);
    for bank in 0..32 {
        trap::write32(GICD_BASE + GICD_ICENABLER + bank * 4, u32::MAX);
        trap::write32(GICD_BASE + GICD_ICPENDR + bank * 4, u32::MAX);
    }
    trap::write32(GICR_BASE + GICR_SGI_ICENABLER0, u32::MAX);
    trap::write32(GICR_BASE + GICR_SGI_ICPENDR0, u32::MAX);
}

pub fn probe(report: &mut Report) {
    let typer = read(GICD_BASE + GICD_TYPER);
    let result = sweep(GICD_BASE, GICD_SIZE, |_| false);
    quiet_gic();
    report.sweep(
        "GIC distributor",
        &result,
        same(typer, read(GICD_BASE + GICD_TYPER), "GICD_TYPER changed"),
    );

    let typer = run(|| trap::read64(GICR_BASE + GICR_TYPER));
    // vCPU 0's frames and the first page of the next vCPU's, which this VM does not have.
    let result = sweep(GICR_BASE, GICR_SIZE + 0x1000, |_| false);
    quiet_gic();
    let after = run(|| trap::read64(GICR_BASE + GICR_TYPER));
    report.sweep("GIC redistributor", &result, same(typer, after, "GICR_TYPER changed"));

    // The data register is skipped: a write there is console output, not nonsense.
    let result = sweep(UART_BASE, UART_SIZE, |offset| offset == 0);
    uart::restore();
    report.sweep("PL011", &result, Ok(()));

    let present: [bool; VIRTIO_SLOTS as usize] = core::array::from_fn(|slot| {
        read(VIRTIO_BASE + slot as u64 * VIRTIO_STRIDE) == Outcome::Completed(VIRTIO_MAGIC)
    });
    let result = sweep(VIRTIO_BASE, VIRTIO_SLOTS * VIRTIO_STRIDE, |_| false);
    let mut healthy = Ok(());
    for (slot, _) in present.iter().enumerate().filter(|(_, &present)| present) {
        let base = VIRTIO_BASE + slot as u64 * VIRTIO_STRIDE;
        trap::write32(base + VIRTIO_STATUS, 0);
        if read(base) != Outcome::Completed(VIRTIO_MAGIC) {
            healthy = Err("a device lost its magic value");
        } else if !matches!(read(base + VIRTIO_STATUS), Outcome::Completed(status) if status & !NEEDS_RESET == 0 && status & NEEDS_RESET == 0)
        {
            healthy = Err("a device's status is not 0 after a reset");
        }
    }
    let devices = present.iter().filter(|&&p| p).count();
    crate::println!("hostile: virtio-mmio: {devices} devices in {VIRTIO_SLOTS} slots");
    report.sweep("virtio-mmio", &result, healthy);
}
