//! The host's VMs by name, and their lifecycle: create, start, stop, kill, destroy.

use super::machine::{Running, Vm, VmConfig, VCPU_OFF, VCPU_PENDING};
use crate::sched::{self, runqueue::NICE_0_WEIGHT, thread::ThreadKind, ThreadSpec};
use crate::sync::IrqSpinlock;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use keel_abi::{Error, VM_KILLED, VM_RUNNING};

static VMS: IrqSpinlock<BTreeMap<String, Arc<Vm>>> = IrqSpinlock::new(BTreeMap::new());
/// VMIDs in use (0 is never handed out).
static VMIDS: IrqSpinlock<[bool; 256]> = IrqSpinlock::new([false; 256]);

pub fn get(name: &str) -> Option<Arc<Vm>> {
    VMS.lock().get(name).cloned()
}

pub fn all() -> Vec<Arc<Vm>> {
    VMS.lock().values().cloned().collect()
}

/// Wakes every VM's console readers (typed input came: see `console::feed_readers`).
pub fn wake_console_readers() {
    for vm in all() {
        vm.console_readers.wake_all();
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= keel_abi::NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Defines a VM with disks: `sizes[i]` is the size to make `config.disks[i]` with when it
/// is missing (0: it must exist). Disks made here are deleted again if the VM cannot be
/// defined, so an error changes nothing.
pub fn create_with_disks(config: VmConfig, sizes: &[u64]) -> Result<(), Error> {
    check(&config)?;
    if config.disks.len() != sizes.len() || config.disks.len() > super::virtio::MAX_DISKS {
        return Err(Error::InvalidArgument);
    }
    for (index, disk) in config.disks.iter().enumerate() {
        if config.disks[..index].iter().any(|other| other.name == disk.name) {
            return Err(Error::InvalidArgument);
        }
    }
    let mut made: Vec<&str> = Vec::new();
    let undo = |made: &[&str]| {
        for name in made {
            let _ = crate::disk::store::delete(name);
        }
    };
    for (disk, &size) in config.disks.iter().zip(sizes) {
        let result = if size == 0 {
            crate::disk::store::size_of(&disk.name).map(|_| false)
        } else {
            crate::disk::store::ensure(&disk.name, size)
        };
        match result {
            Ok(true) => made.push(&disk.name),
            Ok(false) => {}
            Err(error) => {
                undo(&made);
                return Err(error);
            }
        }
    }
    let made: Vec<String> = made.iter().map(|name| String::from(*name)).collect();
    create(config).inspect_err(|_| {
        for name in &made {
            let _ = crate::disk::store::delete(name);
        }
    })
}

/// The checks of a definition that need no lock.
fn check(config: &VmConfig) -> Result<(), Error> {
    if !valid_name(&config.name) {
        return Err(Error::InvalidArgument);
    }
    if config.vcpus == 0 || config.vcpus as u64 > keel_abi::VM_MAX_VCPUS {
        return Err(Error::InvalidArgument);
    }
    if !(keel_abi::VM_MIN_MEM..=keel_abi::VM_MAX_MEM).contains(&config.mem_bytes) || !config.mem_bytes.is_multiple_of(2 << 20) {
        return Err(Error::InvalidArgument);
    }
    // RAM the host could never give it; what is free is checked when it starts.
    if config.mem_bytes > crate::mm::kernel_space::usable_and_free_bytes().0 {
        return Err(Error::NoMemory);
    }
    crate::fs::check_file(&config.kernel)?;
    if let Some(initrd) = &config.initrd {
        crate::fs::check_file(initrd)?;
    }
    if VMS.lock().contains_key(&config.name) {
        return Err(Error::InvalidArgument);
    }
    Ok(())
}

/// Defines a VM; its files must exist now. Nothing runs until `start`.
pub fn create(config: VmConfig) -> Result<(), Error> {
    check(&config)?;
    let mut vms = VMS.lock();
    if vms.contains_key(&config.name) {
        return Err(Error::InvalidArgument);
    }
    let vmid = {
        let mut vmids = VMIDS.lock();
        let free = (1..256).find(|&id| !vmids[id]).ok_or(Error::TooBig)?;
        vmids[free] = true;
        free as u8
    };
    vms.insert(config.name.clone(), Arc::new(Vm::new(config, vmid)));
    Ok(())
}

/// Boots a VM that is not running: fresh memory, devices and vCPU 0.
pub fn start(name: &str) -> Result<(), Error> {
    start_with(name, Console::Fresh)
}

/// What a start does with the console output of the VM's previous run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Console {
    /// Forget it: a new boot.
    Fresh,
    /// Keep it: the guest rebooted itself, and its console goes on.
    Continued,
}

fn start_with(name: &str, console: Console) -> Result<(), Error> {
    let vm = get(name).ok_or(Error::NotFound)?;
    // Only one start at a time; the (slow) preparation runs without the running lock, which
    // masks interrupts.
    if vm.starting.swap(true, Ordering::AcqRel) {
        return Err(Error::NotPermitted);
    }
    let started = start_prepared(&vm, console);
    vm.starting.store(false, Ordering::Release);
    started
}

fn start_prepared(vm: &Arc<Vm>, console: Console) -> Result<(), Error> {
    let name = &vm.config.name;
    if vm.running.lock().is_some() || vm.live_vcpus.load(Ordering::Acquire) != 0 || vm.device_tasks.load(Ordering::Acquire) != 0 {
        return Err(Error::NotPermitted);
    }
    let prepared = Arc::new(vm.prepare()?);
    {
        let mut running = vm.running.lock();
        if running.is_some() || vm.live_vcpus.load(Ordering::Acquire) != 0 {
            return Err(Error::NotPermitted);
        }
        let _stopping = vm.stop_lock.lock();
        if console == Console::Continued && vm.stop_reason.load(Ordering::Acquire) != keel_abi::VM_RESET {
            // Stopped or killed from the host while it rebooted.
            return Err(Error::NotPermitted);
        }
        vm.stopping.store(false, Ordering::Release);
        vm.stop_reason.store(keel_abi::VM_STOPPED, Ordering::Release);
        vm.guest_errors.reset();
        for slot in &vm.vcpus {
            slot.counters.reset();
        }
        *vm.last_run.lock() = Default::default();
        if console == Console::Fresh {
            vm.console.lock().clear();
            vm.console_tail.lock().clear();
        }
        *running = Some(prepared);
    }
    vm.state.store(VM_RUNNING, Ordering::Release);
    let running = vm.running.lock().clone().ok_or(Error::NotFound)?;
    super::virtio::task::spawn_all(vm, &running);
    let (entry, context) = *vm.vcpus[0].start.lock();
    if let Err(code) = start_vcpu(vm, &running, 0, entry, context) {
        log::warn!("vm {name}: vCPU 0 did not start ({code:#x})");
        stop(vm, VM_KILLED);
        return Err(Error::NoMemory);
    }
    Ok(())
}

/// Starts vCPU `index` at `entry` with x0 = `context` (boot, or PSCI CPU_ON). Returns a
/// PSCI error code when it cannot.
pub fn start_vcpu(vm: &Arc<Vm>, running: &Arc<Running>, index: usize, entry: u64, context: u64) -> Result<(), u64> {
    const ALREADY_ON: i64 = -4;
    const INTERNAL_FAILURE: i64 = -6;
    let slot = vm.vcpus.get(index).ok_or(INTERNAL_FAILURE as u64)?;
    if slot.power.compare_exchange(VCPU_OFF, VCPU_PENDING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return Err(ALREADY_ON as u64);
    }
    *slot.start.lock() = (entry, context);
    vm.live_vcpus.fetch_add(1, Ordering::AcqRel);
    let name = alloc::format!("vm-{}/{index}", vm.config.name);
    let spec = ThreadSpec {
        name: &name,
        kind: ThreadKind::Vcpu { vm: u64::from(vm.vmid) },
        weight: NICE_0_WEIGHT,
        pinned: None,
        ttbr0: 0,
    };
    let (thread_vm, thread_running) = (vm.clone(), running.clone());
    let body = alloc::boxed::Box::new(move || super::vcpu::run_vcpu(thread_vm, thread_running, index));
    match sched::spawn(spec, body) {
        Some(thread) => *slot.thread.lock() = Some(thread),
        None => {
            slot.power.store(VCPU_OFF, Ordering::Release);
            vm.live_vcpus.fetch_sub(1, Ordering::AcqRel);
            return Err(INTERNAL_FAILURE as u64);
        }
    }
    Ok(())
}

/// Makes every vCPU leave, recording why; the last one to leave releases the memory and
/// only then sets the VM's state, so a stopped VM's memory is always back.
pub fn stop(vm: &Vm, state: u32) {
    // Under the stop lock, so that a reboot's restart (which re-arms `stopping` under the
    // same lock) either sees this stop or is stopped by it.
    let _stopping = vm.stop_lock.lock();
    if vm.stopping.swap(true, Ordering::AcqRel) {
        // Already stopping: a stop or kill from the host wins over the guest's own reset.
        if state != keel_abi::VM_RESET && vm.stop_reason.load(Ordering::Acquire) == keel_abi::VM_RESET {
            vm.stop_reason.store(state, Ordering::Release);
        }
        return;
    }
    vm.stop_reason.store(state, Ordering::Release);
    super::vcpu::kick_all(vm);
    let running = vm.running.lock().clone();
    if let Some(running) = running {
        super::virtio::task::wake_all(&running);
    }
}

/// How long the last vCPU waits for the device tasks to end.
const DEVICE_TASKS_WAIT_NS: u64 = 5_000_000_000;

/// A vCPU thread is done. When it was the last, the VM's memory goes back to the host.
pub fn vcpu_left(vm: &Vm) {
    if vm.live_vcpus.fetch_sub(1, Ordering::AcqRel) != 1 {
        return;
    }
    if !vm.stopping.swap(true, Ordering::AcqRel) {
        // Every vCPU turned itself off (PSCI CPU_OFF): the guest is off.
        vm.stop_reason.store(keel_abi::VM_STOPPED, Ordering::Release);
    }
    let final_state = vm.stop_reason.load(Ordering::Acquire);
    // The device tasks hold the VM's memory and disks: they end first.
    let running = vm.running.lock().clone();
    if let Some(running) = running {
        super::virtio::task::wake_all(&running);
    }
    let deadline = crate::arch::timer::now_ns() + DEVICE_TASKS_WAIT_NS;
    let ended = vm
        .device_tasks_done
        .wait_until(Some(deadline), || (vm.device_tasks.load(Ordering::Acquire) == 0).then_some(()));
    if ended.is_err() {
        log::warn!("vm {}: device tasks still running after {} s", vm.config.name, DEVICE_TASKS_WAIT_NS / 1_000_000_000);
    }
    let running = vm.running.lock().clone();
    if let Some(running) = running {
        super::stats::keep_last_run(vm, &running);
    }
    let running = vm.running.lock().take();
    if let Some(running) = running {
        let seconds = crate::arch::timer::now_ns().saturating_sub(running.started_ns) / 1_000_000;
        let mut report = alloc::format!(
            "vm {}: {} after {}.{:03} s, {} exits:",
            vm.config.name,
            keel_abi::vm_state_name(final_state),
            seconds / 1000,
            seconds % 1000,
            super::stats::total_exits(vm)
        );
        for (class, count) in super::stats::exits_by_class(vm) {
            report.push_str(&alloc::format!(" {class} {count}"));
        }
        let errors = vm.guest_errors.total();
        if errors > 0 {
            report.push_str(&alloc::format!("; {errors} guest errors"));
        }
        report.push_str(&alloc::format!(
            "; RAM touched {} of {} MiB",
            running.ram.ready_blocks() as u64 * (keel_vmm::ram::BLOCK_SIZE >> 20),
            running.ram.size() >> 20
        ));
        log::info!("{report}");
        crate::arch::guest::invalidate_vm_tlb(running.hardware.vttbr);
        drop(running);
    }
    if final_state == keel_abi::VM_RESET {
        // The guest rebooted (PSCI SYSTEM_RESET): boot it again with fresh memory, from
        // this (the last vCPU's) thread, which may block while the memory is prepared. Its
        // state stays `running` meanwhile, so an attached console stays attached.
        log::info!("vm {}: rebooting", vm.config.name);
        match start_with(&vm.config.name, Console::Continued) {
            Ok(()) => return,
            Err(Error::NotPermitted) => {}
            Err(error) => {
                log::warn!("vm {}: reboot failed: {error:?}", vm.config.name);
                let line = alloc::format!("keel: vm {} could not reboot: {}\n", vm.config.name, error.message());
                vm.console_output(line.as_bytes());
            }
        }
    }
    vm.state.store(vm.stop_reason.load(Ordering::Acquire), Ordering::Release);
    vm.console_readers.wake_all();
}

/// How long a guest gets to power off after `vm stop` before it is killed.
const STOP_GRACE_NS: u64 = 20_000_000_000;

/// Asks the guest to power off: a serial BREAK followed by the magic SysRq keys s (sync),
/// u (remount read-only) and o (power off) on its console, a second apart, so Linux ends
/// with PSCI SYSTEM_OFF. A guest that has not stopped after the grace time is killed.
pub fn request_stop(name: &str) -> Result<(), Error> {
    let vm = get(name).ok_or(Error::NotFound)?;
    if vm.state() != VM_RUNNING {
        return Err(Error::NotPermitted);
    }
    crate::exec::spawn(async move {
        for key in [b's', b'u', b'o'] {
            if super::machine::type_into_console(&vm, true, &[key]).is_none() {
                break;
            }
            crate::exec::sleep(1_000_000_000).await;
        }
        let deadline = crate::arch::timer::now_ns() + STOP_GRACE_NS;
        while vm.state() == VM_RUNNING && crate::arch::timer::now_ns() < deadline {
            crate::exec::sleep(100_000_000).await;
        }
        if vm.state() == VM_RUNNING {
            stop(&vm, VM_KILLED);
            // Said once it is so: its vCPUs gone and its memory back.
            let deadline = crate::arch::timer::now_ns() + KILL_WAIT_NS;
            while vm.state() == VM_RUNNING && crate::arch::timer::now_ns() < deadline {
                crate::exec::sleep(10_000_000).await;
            }
            log::warn!("vm {}: did not power off within {} s; killed", vm.config.name, STOP_GRACE_NS / 1_000_000_000);
        }
    });
    Ok(())
}

/// How long `kill` waits for the vCPU threads to leave.
const KILL_WAIT_NS: u64 = 5_000_000_000;

/// Stops the VM at once and returns when its vCPUs are gone and its memory is back.
pub fn kill(name: &str) -> Result<(), Error> {
    let vm = get(name).ok_or(Error::NotFound)?;
    if vm.state() != VM_RUNNING {
        return Err(Error::NotPermitted);
    }
    stop(&vm, VM_KILLED);
    let deadline = crate::arch::timer::now_ns() + KILL_WAIT_NS;
    let stopped = vm.console_readers.wait_until(Some(deadline), || (vm.state() != VM_RUNNING).then_some(()));
    // And until the vCPU threads are gone, so that `ps` no longer shows them.
    let joined = vm.vcpus.iter().all(|slot| {
        let thread = slot.thread.lock().take();
        thread.is_none_or(|thread| thread.join(Some(deadline)).is_ok())
    });
    if stopped.is_err() || !joined {
        log::warn!("vm {name}: vCPUs still leaving after {} s", KILL_WAIT_NS / 1_000_000_000);
    }
    Ok(())
}

/// Forgets a VM that is not running.
pub fn destroy(name: &str) -> Result<(), Error> {
    let mut vms = VMS.lock();
    let vm = vms.get(name).ok_or(Error::NotFound)?;
    if vm.state() == VM_RUNNING || vm.starting.load(Ordering::Acquire) || vm.live_vcpus.load(Ordering::Acquire) != 0 {
        return Err(Error::NotPermitted);
    }
    let vmid = vm.vmid;
    vms.remove(name);
    VMIDS.lock()[usize::from(vmid)] = false;
    Ok(())
}

/// The VM's uptime in ns (0 when not running).
pub fn uptime_ns(vm: &Vm) -> u64 {
    match vm.running.lock().as_ref() {
        Some(running) if vm.state() == VM_RUNNING => crate::arch::timer::now_ns().saturating_sub(running.started_ns),
        _ => 0,
    }
}
