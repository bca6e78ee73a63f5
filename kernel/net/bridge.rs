//! The switch as the kernel runs it: one instance under a lock, the host's `br0` port as a
//! `Link`, and guest ports ([`attach`] → [`PortHandle`]).

use super::link::Link;
use super::switch::{Mac, PortCounters, PortId, PortInfo, Switch, SwitchError};
use crate::sync::IrqSpinlock;
use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

static SWITCH: IrqSpinlock<Switch> = IrqSpinlock::new(Switch::new());

fn now_ns() -> u64 {
    crate::arch::timer::now_ns()
}

/// Port `from` sends `frame` into the switch; the ports that got it are woken.
fn input(from: PortId, frame: &[u8]) {
    let mut wake = Vec::new();
    SWITCH.lock().input(from, frame, now_ns(), &mut wake);
    for waker in wake {
        waker.wake();
    }
}

/// Every port with its counters.
pub fn ports() -> Vec<PortInfo> {
    SWITCH.lock().ports()
}

/// Forgets learned addresses that aged out (called now and then by the network task).
pub fn age() {
    SWITCH.lock().age(now_ns());
}

/// The host's port: what `br0` sends and receives.
pub struct HostPort {
    id: PortId,
}

impl HostPort {
    pub fn attach(mac: Mac) -> Result<Self, SwitchError> {
        Ok(Self { id: SWITCH.lock().add_port("br0", Some(mac))? })
    }

    /// `waker` runs at the next frame for the host.
    pub fn set_waker(&self, waker: &Waker) {
        SWITCH.lock().set_waker(self.id, waker);
    }

    pub fn has_frames(&self) -> bool {
        SWITCH.lock().has_frames(self.id)
    }
}

impl Link for HostPort {
    fn recv(&mut self) -> Option<Vec<u8>> {
        SWITCH.lock().pop(self.id)
    }

    fn can_send(&mut self) -> bool {
        true
    }

    fn send(&mut self, buffer: Vec<u8>) {
        input(self.id, &buffer);
    }
}

/// A guest's port on the switch, attached while its VM runs; dropping it detaches it.
///
/// The VM's virtio-net glue moves frames between the device and the port: what the guest
/// transmits goes to [`PortHandle::send`]; frames for the guest come from
/// [`PortHandle::try_recv`] (or the [`PortHandle::recv`] future), and
/// [`PortHandle::set_waker`] wakes the device's task when one is queued.
pub struct PortHandle {
    id: PortId,
    name: String,
    mac: Mac,
}

/// Attaches a guest's NIC with address `mac` as port `vm-NAME`.
/// A port of that name left from the VM's previous life (a reboot builds the devices anew
/// before the old ones are gone) is replaced; its old handle then does nothing.
pub fn attach(vm_name: &str, mac: Mac) -> Result<PortHandle, SwitchError> {
    let name = alloc::format!("vm-{vm_name}");
    let id = {
        let mut switch = SWITCH.lock();
        let old = switch.ports().into_iter().find(|port| port.name == name).map(|port| port.id);
        if let Some(old) = old {
            switch.remove_port(old);
        }
        switch.add_port(&name, Some(mac))?
    };
    log::info!("switch: {name} attached ({})", super::switch::format_mac(&mac));
    Ok(PortHandle { id, name, mac })
}

impl PortHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// A frame the guest sent.
    pub fn send(&self, frame: &[u8]) {
        input(self.id, frame);
    }

    /// The next frame for the guest, if one is queued.
    pub fn try_recv(&self) -> Option<Vec<u8>> {
        SWITCH.lock().pop(self.id)
    }

    /// Whether frames are queued for the guest.
    pub fn has_frames(&self) -> bool {
        SWITCH.lock().has_frames(self.id)
    }

    /// `waker` runs at the next frame queued for the guest.
    pub fn set_waker(&self, waker: &Waker) {
        SWITCH.lock().set_waker(self.id, waker);
    }

    /// The next frame for the guest, waiting for one.
    pub fn recv(&self) -> Recv<'_> {
        Recv { port: self }
    }

    pub fn counters(&self) -> Option<PortCounters> {
        SWITCH.lock().counters(self.id)
    }
}

impl Drop for PortHandle {
    fn drop(&mut self) {
        SWITCH.lock().remove_port(self.id);
        log::info!("switch: {} detached", self.name);
    }
}

pub struct Recv<'a> {
    port: &'a PortHandle,
}

impl Future for Recv<'_> {
    type Output = Vec<u8>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Vec<u8>> {
        let mut switch = SWITCH.lock();
        match switch.pop(self.port.id) {
            Some(frame) => Poll::Ready(frame),
            None => {
                switch.set_waker(self.port.id, context.waker());
                Poll::Pending
            }
        }
    }
}
