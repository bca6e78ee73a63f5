//! One virtual machine: its configuration, memory, devices, vCPUs and state.

use super::memory::GuestRam;
use super::virtio::VirtioSlot;
use crate::arch::guest::VmHardware;
use crate::sched::wait::WaitQueue;
use crate::sync::IrqSpinlock;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use keel_abi::Error;
use keel_vmm::bus::{InterruptSink, MmioBus};
use keel_vmm::guest_error::GuestErrors;
use keel_vmm::layout::{RAM_BASE, UART_BASE, UART_SIZE};
use keel_vmm::pl011::Pl011;
use keel_vmm::vgic::Vgic;

/// What a VM is made from (checked at creation).
#[derive(Clone)]
pub struct VmConfig {
    pub name: String,
    pub kernel: String,
    pub initrd: Option<String>,
    pub cmdline: String,
    pub mem_bytes: u64,
    pub vcpus: usize,
    /// Guest disks on the host disk (vda, vdb, … in this order).
    pub disks: Vec<DiskConfig>,
    /// A virtio-net device on Keel's switch (`vm create --net`; on for `linux`).
    pub net: bool,
}

/// One guest disk of a VM.
#[derive(Clone)]
pub struct DiskConfig {
    /// The disk's name in the host disk's table.
    pub name: String,
    pub read_only: bool,
}

/// Guest console output kept while nobody reads it.
const CONSOLE_KEEP: usize = 64 * 1024;

/// The devices and interrupt controller of a running VM (under one lock).
pub struct Devices {
    pub vgic: Vgic,
    /// The guest console (kept apart from the bus: the VM drains and feeds it).
    pub uart: Pl011,
    /// Every other emulated device.
    pub bus: MmioBus,
}

/// A vCPU's power state (PSCI).
pub const VCPU_OFF: u32 = 0;
pub const VCPU_ON: u32 = 1;
pub const VCPU_PENDING: u32 = 2;

/// One vCPU as the VM tracks it.
pub struct VcpuSlot {
    pub power: AtomicU32,
    /// The CPU it is in guest mode on, or -1.
    pub in_guest_on: AtomicI64,
    /// Woken when an interrupt may be deliverable or the VM stops.
    pub wake: WaitQueue,
    /// CPU_ON entry point and context id, read by the vCPU thread when it starts.
    pub start: IrqSpinlock<(u64, u64)>,
    /// The vCPU's thread while it was last started (joined by `vm kill`).
    pub thread: IrqSpinlock<Option<Arc<crate::sched::thread::Thread>>>,
    /// Exits, injected exceptions and CPU time since the VM's last start.
    pub counters: super::stats::VcpuCounters,
}

/// A VM while it runs: memory, tables, devices.
pub struct Running {
    /// Guest RAM and its stage-2 tables (freed when the last reference goes).
    pub ram: GuestRam,
    pub hardware: VmHardware,
    pub devices: IrqSpinlock<Devices>,
    /// The virtio devices, each with its own lock and task (`vm/virtio`).
    pub virtio: Vec<Arc<VirtioSlot>>,
    pub started_ns: u64,
}

impl Running {
    /// The virtio slot holding `ipa`, and the offset in it.
    pub fn virtio_at(&self, ipa: u64) -> Option<(&Arc<VirtioSlot>, u64)> {
        super::virtio::slot_at(&self.virtio, ipa)
    }
}

pub struct Vm {
    pub config: VmConfig,
    pub vmid: u8,
    pub state: AtomicU32,
    /// Set to make every vCPU leave its loop.
    pub stopping: AtomicBool,
    /// A `vm start` is preparing memory (without holding `running`).
    pub starting: AtomicBool,
    /// Orders `registry::stop` against a reboot re-arming `stopping` (taken after `running`).
    pub stop_lock: IrqSpinlock<()>,
    /// The state the VM takes once its last vCPU has left and its memory is back.
    pub stop_reason: AtomicU32,
    pub running: IrqSpinlock<Option<Arc<Running>>>,
    pub vcpus: Vec<VcpuSlot>,
    pub console: IrqSpinlock<VecDeque<u8>>,
    /// The last console output of the latest run, kept for `vm tail` (reading `console`
    /// does not consume it): after a crash, the guest's last words.
    pub console_tail: IrqSpinlock<VecDeque<u8>>,
    /// Woken when console output is announced (for `vm console`) and when the VM has stopped.
    pub console_readers: WaitQueue,
    /// Guest output is in `console` that readers were not woken for yet (see
    /// [`Vm::console_output`]).
    console_unannounced: AtomicBool,
    /// Errors the guest provoked since the last start (`vmm::guest_error`).
    pub guest_errors: GuestErrors,
    /// vCPU threads still running.
    pub live_vcpus: AtomicU32,
    /// Device tasks still running, and where the last one says it has ended.
    pub device_tasks: AtomicU32,
    pub device_tasks_done: WaitQueue,
    /// Interrupt and device counters of the last run, kept when it stopped.
    pub last_run: IrqSpinlock<super::stats::LastRun>,
    /// Whether the next start gives the guest a NIC on the switch (from `config.net`;
    /// changed by `vm_net` while the VM is not running).
    pub net: AtomicBool,
}

impl Vm {
    pub fn new(config: VmConfig, vmid: u8) -> Self {
        let net = config.net;
        let vcpus = (0..config.vcpus)
            .map(|_| VcpuSlot {
                power: AtomicU32::new(VCPU_OFF),
                in_guest_on: AtomicI64::new(-1),
                wake: WaitQueue::new(),
                start: IrqSpinlock::new((0, 0)),
                thread: IrqSpinlock::new(None),
                counters: Default::default(),
            })
            .collect();
        Self {
            config,
            vmid,
            state: AtomicU32::new(keel_abi::VM_CREATED),
            stopping: AtomicBool::new(false),
            starting: AtomicBool::new(false),
            stop_lock: IrqSpinlock::new(()),
            stop_reason: AtomicU32::new(keel_abi::VM_STOPPED),
            running: IrqSpinlock::new(None),
            vcpus,
            console: IrqSpinlock::new(VecDeque::new()),
            console_tail: IrqSpinlock::new(VecDeque::new()),
            console_readers: WaitQueue::new(),
            console_unannounced: AtomicBool::new(false),
            guest_errors: GuestErrors::default(),
            live_vcpus: AtomicU32::new(0),
            net: AtomicBool::new(net),
            last_run: IrqSpinlock::new(Default::default()),
            device_tasks: AtomicU32::new(0),
            device_tasks_done: WaitQueue::new(),
        }
    }

    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    /// Adds guest console output (oldest bytes go when the buffer is full).
    ///
    /// Readers are woken per line, not per byte: a guest's UART writes one byte per exit,
    /// and waking the `vm console` reader for each cost more than the exit itself. Output
    /// without a newline is announced by the vCPU's next exit of another kind
    /// ([`Vm::announce_console`]): a guest that echoes a key then waits for the next one
    /// (WFI), and a busy guest takes timer interrupts, so no output waits long.
    pub fn console_output(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        {
            let mut console = self.console.lock();
            for &byte in bytes {
                if console.len() == CONSOLE_KEEP {
                    console.pop_front();
                }
                console.push_back(byte);
            }
        }
        {
            let mut tail = self.console_tail.lock();
            let keep = keel_abi::VM_CONSOLE_TAIL_BYTES;
            if bytes.len() >= keep {
                tail.clear();
                tail.extend(&bytes[bytes.len() - keep..]);
            } else {
                let over = (tail.len() + bytes.len()).saturating_sub(keep);
                tail.drain(..over);
                tail.extend(bytes);
            }
        }
        if bytes.contains(&b'\n') {
            self.console_unannounced.store(false, Ordering::Relaxed);
            self.console_readers.wake_all();
        } else {
            self.console_unannounced.store(true, Ordering::Release);
        }
    }

    /// Wakes the console readers if output arrived since they were last woken.
    pub fn announce_console(&self) {
        if self.console_unannounced.load(Ordering::Acquire) && self.console_unannounced.swap(false, Ordering::AcqRel) {
            self.console_readers.wake_all();
        }
    }

    /// Builds memory, tables and devices and loads the guest's kernel, initrd and DTB.
    pub fn prepare(&self) -> Result<Running, Error> {
        let config = &self.config;
        let kernel_file = crate::fs::read_file(&config.kernel)?;
        let kernel = &kernel_file[..];
        let initrd_file = match &config.initrd {
            Some(path) => Some(crate::fs::read_file(path)?),
            None => None,
        };
        let initrd = initrd_file.as_deref();
        let plan = keel_vmm::loader::plan(kernel, initrd.map(|i| i.len() as u64), 2 << 20, config.mem_bytes)
            .map_err(|error| {
                log::warn!("vm {}: {error:?}", config.name);
                Error::InvalidArgument
            })?;
        let virtio = super::virtio::build(config, self.net.load(Ordering::Acquire))?;
        let slots: Vec<u32> = virtio.iter().map(|slot| slot.slot).collect();
        let mpidrs: Vec<u64> = (0..config.vcpus).map(keel_vmm::psci::vcpu_mpidr).collect();
        let cmdline = keel_vmm::crash::guest_cmdline(&config.cmdline);
        let seeds = boot_seeds();
        let dtb = keel_vmm::fdt::build(&keel_vmm::fdt::GuestDtbConfig {
            ram_bytes: config.mem_bytes,
            vcpu_mpidrs: &mpidrs,
            bootargs: &cmdline,
            initrd: match (plan.initrd_ipa, initrd) {
                (Some(start), Some(bytes)) => Some((start, start + bytes.len() as u64)),
                _ => None,
            },
            virtio_slots: &slots,
            psci_method: keel_vmm::fdt::PsciMethod::Hvc,
            seeds: seeds.as_ref(),
        })
        .map_err(|error| {
            log::warn!("vm {}: device tree: {error:?}", config.name);
            Error::InvalidArgument
        })?;
        let ram = GuestRam::new(config.mem_bytes).map_err(|error| {
            log::warn!("vm {}: guest RAM: {error:?}", config.name);
            Error::NoMemory
        })?;
        ram.write(plan.kernel_ipa - RAM_BASE, kernel).map_err(|_| Error::TooBig)?;
        if let (Some(ipa), Some(bytes)) = (plan.initrd_ipa, initrd) {
            ram.write(ipa - RAM_BASE, bytes).map_err(|_| Error::TooBig)?;
        }
        ram.write(plan.dtb_ipa - RAM_BASE, &dtb).map_err(|_| Error::TooBig)?;
        use aarch64_cpu::registers::Readable;
        let pa_bits = keel_vmm::stage2::pa_range_bits(aarch64_cpu::registers::ID_AA64MMFR0_EL1.get()).unwrap_or(40);
        let vtcr = keel_vmm::stage2::vtcr_el2(pa_bits).ok_or(Error::InvalidArgument)?;
        let hardware = VmHardware {
            hcr: keel_vmm::sysreg::guest_hcr_el2(),
            vttbr: ram.vttbr(self.vmid),
            vtcr,
            cntvoff: crate::arch::timer::counter(),
        };
        let devices = Devices { vgic: Vgic::new(&mpidrs, 64), uart: Pl011::new(), bus: MmioBus::new() };
        {
            let mut boot = self.vcpus[0].start.lock();
            *boot = (plan.entry_ipa, plan.dtb_ipa);
        }
        Ok(Running {
            ram,
            hardware,
            devices: IrqSpinlock::new(devices),
            virtio,
            started_ns: crate::arch::timer::now_ns(),
        })
    }
}

/// Fresh random bytes for a guest's `/chosen` (KASLR and early entropy), from the machine's
/// virtio-rng; none without it (the stand-in generator is not fit for them): the guest
/// then boots without KASLR.
fn boot_seeds() -> Option<keel_vmm::fdt::BootSeeds> {
    if !crate::virtio::rng::from_device() {
        return None;
    }
    let mut bytes = [0u8; 8 + keel_vmm::fdt::RNG_SEED_BYTES];
    crate::virtio::rng::fill(&mut bytes);
    let (kaslr, rng) = bytes.split_at(8);
    Some(keel_vmm::fdt::BootSeeds {
        kaslr: u64::from_le_bytes(kaslr.try_into().ok()?),
        rng: rng.try_into().ok()?,
    })
}

/// Types bytes into a running VM's console (after a serial BREAK when `with_break`) and
/// wakes the vCPUs the interrupt is for. Returns how many bytes it took, or None when the
/// VM is not running.
///
/// Input goes to the guest's virtio console (`hvc0`) when its command line makes that the
/// console and its driver is up; otherwise, and always with a BREAK, to the PL011.
pub fn type_into_console(vm: &Vm, with_break: bool, bytes: &[u8]) -> Option<usize> {
    let running = vm.running.lock().clone()?;
    if !with_break && super::virtio::input_to_hvc(&vm.config.cmdline) {
        if let Some(taken) = super::virtio::type_into(&running, bytes) {
            return Some(taken);
        }
    }
    let (taken, kicks) = {
        let mut devices = running.devices.lock();
        let devices = &mut *devices;
        if with_break {
            devices.uart.push_break();
        }
        let taken = devices.uart.push_input(bytes);
        devices.uart.update_irq(&mut devices.vgic as &mut dyn InterruptSink);
        (taken, devices.vgic.take_kicks())
    };
    super::vcpu::kick_mask(vm, kicks);
    Some(taken)
}

/// Whether `ipa` is the guest UART's, and the offset in it.
pub fn uart_offset(ipa: u64) -> Option<u64> {
    (UART_BASE..UART_BASE + UART_SIZE).contains(&ipa).then(|| ipa - UART_BASE)
}
