//! A VM's statistics: per-vCPU counters written by the vCPU's own thread without locks or
//! atomic read-modify-writes, summed when read, and the snapshots `vm_vcpu_stats`,
//! `vm_stats` and the status page take.

use super::machine::{Running, Vm};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use keel_abi::vmstats::{self, EXIT_CLASSES, IRQ_SOURCES, STATS_VIRTIO_SLOTS};
use keel_abi::{VmDeviceStats, VmVcpuStats};
use keel_vmm::exit::class::ExitClass;
use keel_vmm::layout::{UART_INTID, VIRTIO_FIRST_INTID, VTIMER_INTID};

/// Adds one to a counter only its vCPU's thread writes (readers may see it a little late).
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

fn zero<const N: usize>() -> [AtomicU64; N] {
    core::array::from_fn(|_| AtomicU64::new(0))
}

/// The counters of one vCPU since the VM's last start.
pub struct VcpuCounters {
    exits: [AtomicU64; EXIT_CLASSES],
    virtio_exits: [AtomicU64; STATS_VIRTIO_SLOTS],
    aborts_injected: AtomicU64,
    undefs_injected: AtomicU64,
    unhandled: AtomicU64,
    /// The thread that ran it last, and its CPU time when it ended (while it runs, the
    /// thread's own clock is read).
    tid: AtomicU64,
    final_cpu_time_ns: AtomicU64,
}

impl Default for VcpuCounters {
    fn default() -> Self {
        Self {
            exits: zero(),
            virtio_exits: zero(),
            aborts_injected: AtomicU64::new(0),
            undefs_injected: AtomicU64::new(0),
            unhandled: AtomicU64::new(0),
            tid: AtomicU64::new(0),
            final_cpu_time_ns: AtomicU64::new(0),
        }
    }
}

impl VcpuCounters {
    /// Counts one exit of `class`.
    pub fn exit(&self, class: ExitClass) {
        let index = match class {
            ExitClass::MmioGicDistributor => vmstats::EXIT_MMIO_GICD,
            ExitClass::MmioGicRedistributor => vmstats::EXIT_MMIO_GICR,
            ExitClass::MmioUart => vmstats::EXIT_MMIO_UART,
            ExitClass::MmioVirtio { slot } => {
                if let Some(counter) = self.virtio_exits.get(slot as usize) {
                    bump(counter);
                }
                vmstats::EXIT_MMIO_VIRTIO
            }
            ExitClass::MmioOther => vmstats::EXIT_MMIO_OTHER,
            ExitClass::SysReg => vmstats::EXIT_SYSREG,
            ExitClass::Wfi => vmstats::EXIT_WFI,
            ExitClass::Wfe => vmstats::EXIT_WFE,
            ExitClass::Hvc => vmstats::EXIT_HVC,
            ExitClass::Smc => vmstats::EXIT_SMC,
            ExitClass::Other => vmstats::EXIT_OTHER,
        };
        bump(&self.exits[index]);
    }

    /// Counts an exit for a host interrupt.
    pub fn irq_exit(&self) {
        bump(&self.exits[vmstats::EXIT_IRQ]);
    }

    /// Counts a first touch of a RAM block.
    pub fn stage2_exit(&self) {
        bump(&self.exits[vmstats::EXIT_STAGE2]);
    }

    /// Counts an exit of a kind the vectors do not know (SError, AArch32).
    pub fn other_exit(&self) {
        bump(&self.exits[vmstats::EXIT_OTHER]);
    }

    pub fn abort_injected(&self) {
        bump(&self.aborts_injected);
    }

    pub fn undef_injected(&self) {
        bump(&self.undefs_injected);
    }

    pub fn unhandled(&self) {
        bump(&self.unhandled);
    }

    /// The thread `tid` starts running this vCPU.
    pub fn thread_started(&self, tid: u64) {
        self.final_cpu_time_ns.store(0, Ordering::Relaxed);
        self.tid.store(tid, Ordering::Relaxed);
    }

    /// Its thread is about to end, having used `cpu_time_ns`.
    pub fn thread_ending(&self, cpu_time_ns: u64) {
        self.final_cpu_time_ns.store(cpu_time_ns, Ordering::Relaxed);
    }

    /// Every exit counted.
    pub fn total_exits(&self) -> u64 {
        self.exits.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Zero (the VM starts; no vCPU thread runs).
    pub fn reset(&self) {
        let all = self.exits.iter().chain(&self.virtio_exits);
        for counter in all.chain([
            &self.aborts_injected,
            &self.undefs_injected,
            &self.unhandled,
            &self.tid,
            &self.final_cpu_time_ns,
        ]) {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// Every exit of the VM since its last start.
pub fn total_exits(vm: &Vm) -> u64 {
    vm.vcpus.iter().map(|slot| slot.counters.total_exits()).sum()
}

/// The exits of every vCPU by class, summed: (class name, count), for the log line of a
/// VM that stopped.
pub fn exits_by_class(vm: &Vm) -> Vec<(&'static str, u64)> {
    vmstats::EXIT_CLASS_NAMES
        .iter()
        .enumerate()
        .map(|(class, name)| {
            (
                *name,
                vm.vcpus
                    .iter()
                    .map(|s| s.counters.exits[class].load(Ordering::Relaxed))
                    .sum(),
            )
        })
        .collect()
}

/// Interrupts injected into one vCPU, by source, from the vGIC's counts by INTID.
fn irqs_by_source(by_intid: &[u64], stats: &mut VmVcpuStats) {
    for (intid, &count) in by_intid.iter().enumerate() {
        let intid = intid as u32;
        let source = match intid {
            0..=15 => vmstats::IRQ_SGI,
            VTIMER_INTID => vmstats::IRQ_TIMER,
            16..=31 => vmstats::IRQ_PPI,
            UART_INTID => vmstats::IRQ_UART,
            _ => match intid.checked_sub(VIRTIO_FIRST_INTID).map(|slot| slot as usize) {
                Some(slot) if slot < STATS_VIRTIO_SLOTS => {
                    stats.virtio_irqs[slot] += count;
                    vmstats::IRQ_VIRTIO
                }
                _ => vmstats::IRQ_SPI,
            },
        };
        if source < IRQ_SOURCES {
            stats.irqs[source] += count;
        }
    }
}

/// What is kept of a VM's last run once it has stopped (its vGIC and devices are gone).
#[derive(Default)]
pub struct LastRun {
    /// Interrupts injected, per vCPU by INTID.
    pub injections: Vec<Vec<u64>>,
    pub devices: Vec<VmDeviceStats>,
}

/// Keeps the interrupt and device counters of a VM whose last vCPU has left, before its
/// devices go.
pub fn keep_last_run(vm: &Vm, running: &Running) {
    let devices = devices_of(running);
    let injections = {
        let devices = running.devices.lock();
        (0..vm.vcpus.len())
            .map(|index| devices.vgic.injections(index).to_vec())
            .collect()
    };
    *vm.last_run.lock() = LastRun { injections, devices };
}

/// Every vCPU's counters and CPU time; interrupts from the vGIC while the VM runs, else
/// those of its last run.
pub fn vcpu_stats(vm: &Vm) -> Vec<VmVcpuStats> {
    let running = vm.running.lock().clone();
    let mut all: Vec<VmVcpuStats> = vm
        .vcpus
        .iter()
        .enumerate()
        .map(|(index, slot)| {
            let c = &slot.counters;
            let tid = c.tid.load(Ordering::Relaxed);
            let thread = slot.thread.lock().clone().filter(|thread| thread.id == tid);
            let cpu_time_ns = match thread {
                Some(thread) if thread.state() != crate::sched::thread::EXITED => thread.cpu_time_ns(),
                _ => c.final_cpu_time_ns.load(Ordering::Relaxed),
            };
            let mut stats = VmVcpuStats {
                index: index as u32,
                power: slot.power.load(Ordering::Acquire),
                tid,
                cpu_time_ns,
                aborts_injected: c.aborts_injected.load(Ordering::Relaxed),
                undefs_injected: c.undefs_injected.load(Ordering::Relaxed),
                unhandled: c.unhandled.load(Ordering::Relaxed),
                ..VmVcpuStats::default()
            };
            for (value, counter) in stats.exits.iter_mut().zip(&c.exits) {
                *value = counter.load(Ordering::Relaxed);
            }
            for (value, counter) in stats.virtio_exits.iter_mut().zip(&c.virtio_exits) {
                *value = counter.load(Ordering::Relaxed);
            }
            stats
        })
        .collect();
    match running {
        Some(running) => {
            let devices = running.devices.lock();
            for stats in &mut all {
                irqs_by_source(devices.vgic.injections(stats.index as usize), stats);
            }
        }
        None => {
            let last = vm.last_run.lock();
            for (stats, injections) in all.iter_mut().zip(&last.injections) {
                irqs_by_source(injections, stats);
            }
        }
    }
    all
}

/// The virtio devices of a VM, as `vm_stats` reports them: live while it runs, else as
/// its last run left them.
pub fn device_stats(vm: &Vm) -> Vec<VmDeviceStats> {
    let running: Option<alloc::sync::Arc<Running>> = vm.running.lock().clone();
    match running {
        Some(running) => devices_of(&running),
        None => vm.last_run.lock().devices.clone(),
    }
}

fn devices_of(running: &Running) -> Vec<VmDeviceStats> {
    super::virtio::stats(running)
        .iter()
        .map(|device| VmDeviceStats {
            slot: device.slot,
            needs_reset: u32::from(device.needs_reset),
            kind: keel_abi::small_field(device.kind),
            guest_name: keel_abi::small_field(device.guest_name),
            detail: keel_abi::name_field(&device.detail),
            notifications: device.counters.notifications,
            chains: device.counters.chains,
            interrupts: device.counters.interrupts,
            guest_errors: device.counters.guest_errors,
            resets: device.counters.resets,
            requests: device.requests,
            bytes_in: device.bytes_in,
            bytes_out: device.bytes_out,
        })
        .collect()
}
