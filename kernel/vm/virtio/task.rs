//! The async task of one virtio device: woken by a guest notification or host input, it
//! processes the queues against guest memory, hands console output on, serves disk
//! requests, raises the device's interrupt and kicks vCPUs; it ends when the VM stops.

use super::block::serve_chain;
use super::{GuestDevice, VgicSink, VirtioSlot};
use crate::vm::machine::{Running, Vm};
use crate::vm::memory::DeviceMemory;
use alloc::sync::{Arc, Weak};
use alloc::task::Wake;
use core::sync::atomic::Ordering;
use core::task::Waker;

/// Fires a slot's waker from outside (a frame for the guest queued on its switch port);
/// weak, so a port left in the switch never keeps the VM's devices alive.
struct FireSlot(Weak<VirtioSlot>);

impl Wake for FireSlot {
    fn wake(self: Arc<Self>) {
        if let Some(slot) = self.0.upgrade() {
            slot.wake.fire();
        }
    }
}


/// Starts the tasks of every device of `running` (counted in `vm.device_tasks`).
pub fn spawn_all(vm: &Arc<Vm>, running: &Arc<Running>) {
    for slot in &running.virtio {
        vm.device_tasks.fetch_add(1, Ordering::AcqRel);
        crate::exec::spawn(serve(vm.clone(), running.clone(), slot.clone()));
    }
}

/// Fires every device's task (the VM is stopping: they see it and end).
pub fn wake_all(running: &Running) {
    for slot in &running.virtio {
        slot.wake.fire();
    }
}

async fn serve(vm: Arc<Vm>, running: Arc<Running>, slot: Arc<VirtioSlot>) {
    'wait: loop {
        slot.wake.wait().await;
        loop {
            if vm.stopping.load(Ordering::Acquire) {
                break 'wait;
            }
            let more = pass(&vm, &running, &slot).await;
            if !more {
                break;
            }
            crate::exec::yield_now().await;
        }
    }
    // Let go of the VM's memory before saying this task is done: the VM counts as stopped
    // only once its memory is back.
    drop(running);
    drop(slot);
    vm.device_tasks.fetch_sub(1, Ordering::AcqRel);
    vm.device_tasks_done.wake_all();
}

/// One round: process the queues, then the host side (console output, disk requests).
/// Returns whether work is left.
async fn pass(vm: &Vm, running: &Running, slot: &Arc<VirtioSlot>) -> bool {
    let mut sink = VgicSink::new(&running.devices);
    let (more, output, chains, epoch) = {
        let mut device = slot.device.lock();
        let mut memory = DeviceMemory(&running.ram);
        let mut more = device.process(&mut memory, &mut sink);
        let mut output = alloc::vec::Vec::new();
        let mut chains = alloc::vec::Vec::new();
        let mut epoch = 0;
        match &mut *device {
            GuestDevice::Console(console) => {
                output = console.device_mut().take_output();
                more |= console.needs_processing();
            }
            GuestDevice::Block(block) => {
                epoch = block.epoch();
                chains = block.device_mut().take_chains();
            }
            GuestDevice::Rng(_) => {}
            GuestDevice::Net(net) => {
                if let Some(port) = &slot.port {
                    // Frames both ways; delivered ones are host work for the receive queue.
                    if crate::net::guest::exchange(net.device_mut(), port) {
                        more |= net.needs_processing();
                        let c = net.device().counters();
                        *slot.bytes.lock() = (c.rx_bytes, c.tx_bytes);
                    }
                    // The switch forgets a waker once it fired: register, then look again,
                    // or a frame queued since the exchange would wait for the next one.
                    port.set_waker(&Waker::from(Arc::new(FireSlot(Arc::downgrade(slot)))));
                    more |= port.has_frames() && net.device().rx_room() > 0;
                }
            }
        }
        slot.report_errors(vm, &mut device);
        (more, output, chains, epoch)
    };
    super::super::vcpu::kick_mask(vm, sink.kicks);
    if !output.is_empty() {
        slot.bytes.lock().1 += output.len() as u64;
        vm.console_output(&output);
        vm.announce_console();
    }
    if let Some(disk) = &slot.disk {
        for chain in chains {
            serve_chain(vm, running, slot, disk, chain, epoch).await;
        }
    }
    more
}
