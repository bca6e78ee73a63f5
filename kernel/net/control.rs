//! What system calls ask of the network task — forwards, pings, status snapshots — and how
//! they wait for its answers. The task owns every interface and socket; callers only
//! leave requests here, fire its waker, and sleep until it has answered.

use super::forward::{Forward, ForwardError, ForwardTable};
use super::status::Status;
use crate::exec::IrqWaker;
use crate::sched::wait::WaitQueue;
use crate::sync::IrqSpinlock;
use alloc::collections::BTreeMap;
use keel_abi::Error;
use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

/// Wakes the network task: the NIC's interrupt, frames for br0, requests from here.
pub static WAKE: IrqWaker = IrqWaker::new();
/// Woken when the task has answered a request.
static ANSWERS: WaitQueue = WaitQueue::new();

/// One `ping` request's life.
#[derive(Clone, Copy, Debug)]
pub enum Ping {
    Queued(Ipv4Address),
    Sent,
    /// The round trip in ns, or why it could not be sent.
    Done(Result<u64, Error>),
}

pub struct Control {
    pub forwards: ForwardTable,
    pub pings: BTreeMap<u64, Ping>,
    next_ping: u64,
    /// A snapshot is wanted (a counter the task answers with `status`).
    pub status_wanted: u64,
    pub status: Option<(u64, Status)>,
}

pub static CONTROL: IrqSpinlock<Control> = IrqSpinlock::new(Control {
    forwards: ForwardTable::new(Ipv4Cidr::new(super::BR0_ADDRESS, super::BR0_PREFIX)),
    pings: BTreeMap::new(),
    next_ping: 1,
    status_wanted: 0,
    status: None,
});

/// The task answered something: wake whoever waits.
pub fn answered() {
    ANSWERS.wake_all();
}

fn forward_error(error: ForwardError) -> Error {
    match error {
        ForwardError::BadPort => Error::InvalidArgument,
        ForwardError::Reserved => Error::NotPermitted,
        ForwardError::InUse => Error::Exists,
        ForwardError::NotGuest => Error::InvalidArgument,
        ForwardError::Full => Error::TooBig,
        ForwardError::NotFound => Error::NotFound,
    }
}

pub fn add_forward(forward: Forward) -> Result<(), Error> {
    CONTROL.lock().forwards.add(forward).map_err(forward_error)?;
    log::info!("net: forward wan:{} -> {}:{}", forward.wan_port, forward.guest, forward.guest_port);
    WAKE.fire();
    Ok(())
}

pub fn remove_forward(wan_port: u16) -> Result<(), Error> {
    CONTROL.lock().forwards.remove(wan_port).map_err(forward_error)?;
    WAKE.fire();
    Ok(())
}

/// One echo request to `to`: the round trip in ns, or None without a reply in time.
pub fn ping(to: Ipv4Address, timeout_ns: u64) -> Result<Option<u64>, Error> {
    let id = {
        let mut control = CONTROL.lock();
        let id = control.next_ping;
        control.next_ping += 1;
        control.pings.insert(id, Ping::Queued(to));
        id
    };
    WAKE.fire();
    let deadline = crate::arch::timer::now_ns().saturating_add(timeout_ns);
    let result = ANSWERS.wait_until(Some(deadline), || match CONTROL.lock().pings.get(&id) {
        Some(Ping::Done(result)) => Some(*result),
        _ => None,
    });
    CONTROL.lock().pings.remove(&id);
    match result {
        Ok(result) => result.map(Some),
        Err(_) => Ok(None),
    }
}

/// How long a status snapshot may take before the caller gives up.
const STATUS_WAIT_NS: u64 = 2_000_000_000;

/// A snapshot of the network, taken by the task.
pub fn status() -> Result<Status, Error> {
    let wanted = {
        let mut control = CONTROL.lock();
        control.status_wanted += 1;
        control.status_wanted
    };
    WAKE.fire();
    let deadline = crate::arch::timer::now_ns() + STATUS_WAIT_NS;
    ANSWERS
        .wait_until(Some(deadline), || match &CONTROL.lock().status {
            Some((answered, status)) if *answered >= wanted => Some(status.clone()),
            _ => None,
        })
        .map_err(|_| Error::IoError)
}
