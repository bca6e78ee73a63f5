//! A guest's virtio-net device on the switch: the step the VM's device task runs to move
//! frames between the device model and the guest's switch port.

use super::bridge::PortHandle;
use keel_vmm::virtio::net::VirtioNet;

/// Frames moved per call in each direction, so one busy guest cannot hold its task.
const BURST: usize = 64;

/// Moves frames between a guest's device and its port: what the guest sent goes into the
/// switch, frames queued for the guest go into the device while it has room (the rest wait
/// in the port's bounded queue). Returns whether anything moved; the caller then checks
/// the transport's `needs_processing` (delivered frames are host work for the receive
/// queue, drained frames may resume transmission) and processes the device again.
///
/// The device task calls it after each `process`, and registers its waker with
/// [`PortHandle::set_waker`] before it parks, so a frame for the guest wakes it.
pub fn exchange(net: &mut VirtioNet, port: &PortHandle) -> bool {
    let mut moved = false;
    for _ in 0..BURST {
        let Some(frame) = net.take_frame() else { break };
        port.send(&frame);
        moved = true;
    }
    for _ in 0..BURST {
        if net.rx_room() == 0 {
            break;
        }
        let Some(frame) = port.try_recv() else { break };
        net.push_frame(&frame);
        moved = true;
    }
    moved
}
