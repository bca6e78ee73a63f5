//! A VM's virtio-mmio devices: console (slot 0), entropy (slot 1), disks (slots 2..=5) and
//! the NIC on Keel's switch (slot 6, `vm create --net`),
//! each under its own sleeping lock, reached from vCPU exits (register accesses only) and
//! served by one async task per device (`task.rs`).
//!
//! Locks: a device's lock, then the VM's `Devices` lock for the vGIC ([`VgicSink`]), never
//! the other way round; interrupt levels reach the vGIC in the order the device produced
//! them because they are set while the device's lock is held.

mod block;
pub mod task;

use super::machine::{Devices, Running, Vm, VmConfig};
use crate::disk::store::{self, Attachment};
use crate::exec::IrqWaker;
use crate::sched::mutex::Mutex;
use crate::sync::IrqSpinlock;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use keel_abi::Error;
use keel_vmm::bus::{AccessWidth, InterruptSink, MmioDevice, MmioError};
use keel_vmm::layout::VIRTIO_STRIDE;
use keel_vmm::virtio::block::DeferredBlock;
use keel_vmm::virtio::console::VirtioConsole;
use keel_vmm::virtio::error::GuestError;
use keel_vmm::virtio::memory::GuestMemory;
use keel_vmm::virtio::mmio::{self, VirtioCounters, VirtioMmio};
use keel_vmm::virtio::net::VirtioNet;
use keel_vmm::virtio::rng::VirtioRng;

/// Slots of the devices every VM has, and of its first disk.
pub const CONSOLE_SLOT: u32 = 0;
pub const RNG_SLOT: u32 = 1;
pub const FIRST_DISK_SLOT: u32 = 2;
/// Disks one VM may have (vda..vdd).
pub const MAX_DISKS: usize = 4;
/// The slot of the NIC, after the disks'.
pub const NET_SLOT: u32 = FIRST_DISK_SLOT + MAX_DISKS as u32;

/// Guest entropy from the host (`kernel/virtio/rng.rs`).
pub struct HostEntropy;

impl keel_vmm::virtio::rng::EntropySource for HostEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        crate::virtio::rng::fill(buf);
    }
}

/// The device behind a slot.
pub enum GuestDevice {
    Console(VirtioMmio<VirtioConsole>),
    Rng(VirtioMmio<VirtioRng<HostEntropy>>),
    Block(VirtioMmio<DeferredBlock>),
    Net(VirtioMmio<VirtioNet>),
}

/// Runs `$body` with `$d` bound to the transport, whatever the device type.
macro_rules! each_transport {
    ($device:expr, $d:ident => $body:expr) => {
        match $device {
            GuestDevice::Console($d) => $body,
            GuestDevice::Rng($d) => $body,
            GuestDevice::Block($d) => $body,
            GuestDevice::Net($d) => $body,
        }
    };
}

impl GuestDevice {
    pub fn needs_processing(&self) -> bool {
        each_transport!(self, d => d.needs_processing())
    }

    pub fn counters(&self) -> VirtioCounters {
        each_transport!(self, d => d.counters())
    }

    pub fn needs_reset(&self) -> bool {
        each_transport!(self, d => d.needs_reset())
    }

    pub fn take_error_report(&mut self) -> Option<GuestError> {
        each_transport!(self, d => d.take_error_report())
    }

    pub fn process(&mut self, mem: &mut dyn GuestMemory, irq: &mut dyn InterruptSink) -> bool {
        each_transport!(self, d => d.process(mem, irq))
    }
}

/// One virtio-mmio slot of a running VM.
pub struct VirtioSlot {
    pub slot: u32,
    pub base: u64,
    /// What the guest calls it: `hvc0`, `hwrng`, `vda`, …
    pub guest_name: &'static str,
    /// For disks: which one, and its extent.
    pub disk: Option<Attachment>,
    /// For the NIC: its port on Keel's switch (detached when the slot goes, with the VM).
    pub port: Option<crate::net::bridge::PortHandle>,
    pub device: Mutex<GuestDevice>,
    /// Fired when the device has work (a notification, host input) or the VM stops.
    pub wake: IrqWaker,
    /// Bytes moved (to the guest, from the guest) by the host side, for `vm stats`.
    pub bytes: IrqSpinlock<(u64, u64)>,
}

impl VirtioSlot {
    /// Logs the device's first guest error (later ones are only counted).
    pub fn report_errors(&self, vm: &Vm, device: &mut GuestDevice) {
        if let Some(error) = device.take_error_report() {
            log::warn!(
                "vm {}: virtio {} (slot {}): guest error {error:?}{}; further errors are only counted",
                vm.config.name,
                self.guest_name,
                self.slot,
                if error.needs_reset() { ", device needs a reset" } else { "" }
            );
        }
    }
}

/// The vGIC behind the VM's `Devices` lock, as a device's interrupt sink; collects the
/// vCPUs to kick once every lock is released.
pub struct VgicSink<'a> {
    devices: &'a IrqSpinlock<Devices>,
    pub kicks: u64,
}

impl<'a> VgicSink<'a> {
    pub fn new(devices: &'a IrqSpinlock<Devices>) -> Self {
        Self { devices, kicks: 0 }
    }
}

impl InterruptSink for VgicSink<'_> {
    fn set_spi_level(&mut self, intid: u32, high: bool) {
        let mut devices = self.devices.lock();
        devices.vgic.set_spi_level(intid, high);
        self.kicks |= devices.vgic.take_kicks();
    }
}

const DISK_NAMES: [&str; MAX_DISKS] = ["vda", "vdb", "vdc", "vdd"];

/// The devices of a VM about to start: console, entropy, and its disks (attached now, so
/// a disk in use elsewhere or gone fails the start).
pub fn build(config: &VmConfig, net: bool) -> Result<Vec<Arc<VirtioSlot>>, Error> {
    let slot = |index: u32, guest_name: &'static str, disk: Option<Attachment>, device: GuestDevice| {
        Arc::new(VirtioSlot {
            slot: index,
            base: mmio::slot_base(index),
            guest_name,
            disk,
            port: None,
            device: Mutex::new(device),
            wake: IrqWaker::new(),
            bytes: IrqSpinlock::new((0, 0)),
        })
    };
    let mut slots = Vec::new();
    slots.push(slot(
        CONSOLE_SLOT,
        "hvc0",
        None,
        GuestDevice::Console(VirtioMmio::new(VirtioConsole::new(), mmio::slot_intid(CONSOLE_SLOT))),
    ));
    slots.push(slot(
        RNG_SLOT,
        "hwrng",
        None,
        GuestDevice::Rng(VirtioMmio::new(VirtioRng::new(HostEntropy), mmio::slot_intid(RNG_SLOT))),
    ));
    for (index, disk) in config.disks.iter().enumerate().take(MAX_DISKS) {
        let attachment = store::attach(&disk.name, disk.read_only).inspect_err(|error| {
            log::warn!("vm {}: disk {}: {error}", config.name, disk.name);
        })?;
        let number = FIRST_DISK_SLOT + index as u32;
        let backend = DeferredBlock::new(attachment.sectors, attachment.read_only, attachment.name.as_bytes());
        slots.push(slot(
            number,
            DISK_NAMES[index],
            Some(attachment),
            GuestDevice::Block(VirtioMmio::new(backend, mmio::slot_intid(number))),
        ));
    }
    if net {
        let mac = crate::net::switch::mac_for_name(&config.name);
        let port = crate::net::bridge::attach(&config.name, mac).map_err(|error| {
            log::warn!("vm {}: no port on the switch: {error:?}", config.name);
            Error::TooBig
        })?;
        let device = VirtioMmio::new(VirtioNet::new(mac), mmio::slot_intid(NET_SLOT));
        slots.push(Arc::new(VirtioSlot {
            slot: NET_SLOT,
            base: mmio::slot_base(NET_SLOT),
            guest_name: "eth0",
            disk: None,
            port: Some(port),
            device: Mutex::new(GuestDevice::Net(device)),
            wake: IrqWaker::new(),
            bytes: IrqSpinlock::new((0, 0)),
        }));
    }
    Ok(slots)
}

/// The slot holding `ipa`, and the offset in it.
pub fn slot_at(slots: &[Arc<VirtioSlot>], ipa: u64) -> Option<(&Arc<VirtioSlot>, u64)> {
    slots.iter().find(|s| (s.base..s.base + VIRTIO_STRIDE).contains(&ipa)).map(|s| (s, ipa - s.base))
}

/// A vCPU's access to a virtio register: done at once; only a QueueNotify (or DRIVER_OK)
/// wakes the device's task, which does the work.
pub fn mmio_access(
    vm: &Vm,
    running: &Running,
    slot: &VirtioSlot,
    offset: u64,
    width: AccessWidth,
    write: Option<u64>,
) -> Result<u64, MmioError> {
    let mut sink = VgicSink::new(&running.devices);
    let (result, wake) = {
        let mut device = slot.device.lock();
        let result = each_transport!(&mut *device, d => match write {
            Some(value) => MmioDevice::write(d, offset, width, value, &mut sink).map(|()| 0),
            None => MmioDevice::read(d, offset, width, &mut sink),
        });
        if write.is_some() {
            slot.report_errors(vm, &mut device);
        }
        (result, device.needs_processing())
    };
    super::vcpu::kick_mask(vm, sink.kicks);
    if wake {
        slot.wake.fire();
    }
    result
}

/// Types into the guest's virtio console; None when it has no running one.
pub fn type_into(running: &Running, bytes: &[u8]) -> Option<usize> {
    let slot = running.virtio.iter().find(|s| s.slot == CONSOLE_SLOT)?;
    let (taken, wake) = {
        let mut device = slot.device.lock();
        let GuestDevice::Console(console) = &mut *device else { return None };
        if console.status() & mmio::STATUS_DRIVER_OK == 0 {
            return None;
        }
        let taken = console.device_mut().push_input(bytes);
        (taken, console.needs_processing())
    };
    if wake {
        slot.wake.fire();
    }
    Some(taken)
}

/// Whether typed input goes to `hvc0`: when the guest's command line makes it the console
/// (the last `console=` wins in Linux, as it does here).
pub fn input_to_hvc(cmdline: &str) -> bool {
    cmdline
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("console="))
        .next_back()
        .is_some_and(|console| console.starts_with("hvc"))
}

/// One device's statistics, for `vm stats`.
pub struct DeviceStats {
    pub slot: u32,
    pub kind: &'static str,
    pub guest_name: &'static str,
    /// The disk's name for a disk.
    pub detail: String,
    pub counters: VirtioCounters,
    pub needs_reset: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub requests: u64,
}

/// Statistics of every device of a running VM.
pub fn stats(running: &Running) -> Vec<DeviceStats> {
    running
        .virtio
        .iter()
        .map(|slot| {
            let device = slot.device.lock();
            let (mut bytes_in, bytes_out) = *slot.bytes.lock();
            let (kind, requests) = match &*device {
                GuestDevice::Console(_) => ("console", 0),
                GuestDevice::Rng(rng) => {
                    bytes_in = rng.device().bytes_given();
                    ("rng", rng.counters().chains)
                }
                GuestDevice::Block(block) => {
                    let c = block.device().counters();
                    ("block", c.reads + c.writes + c.flushes)
                }
                GuestDevice::Net(net) => {
                    let c = net.device().counters();
                    bytes_in = c.rx_bytes;
                    ("net", c.rx_frames + c.tx_frames)
                }
            };
            let detail = match (&slot.disk, &slot.port) {
                (Some(disk), _) => format!("{}{}", disk.name, if disk.read_only { " (ro)" } else { "" }),
                (None, Some(port)) => crate::net::switch::format_mac(&port.mac()),
                (None, None) => String::new(),
            };
            DeviceStats {
                slot: slot.slot,
                kind,
                guest_name: slot.guest_name,
                detail,
                counters: device.counters(),
                needs_reset: device.needs_reset(),
                bytes_in,
                bytes_out,
                requests,
            }
        })
        .collect()
}

