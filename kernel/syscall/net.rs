//! The network system calls: the `net` report, port forwards, ping.

use super::with_space;
use crate::net::control;
use crate::net::forward::Forward;
use crate::net::status;
use crate::proc::Process;
use keel_abi::Error;
use smoltcp::wire::Ipv4Address;

/// Longest a ping may wait.
const MAX_PING_WAIT_NS: u64 = 10_000_000_000;

pub fn status(process: &Process, ptr: u64, len: u64, what: u64) -> Result<u64, Error> {
    let snapshot = control::status()?;
    let text = match what {
        keel_abi::NET_SHOW_ALL => status::render_text(&snapshot),
        keel_abi::NET_SHOW_FORWARDS => {
            let mut out = alloc::string::String::new();
            status::forwards_text(&snapshot, &mut out);
            out
        }
        _ => return Err(Error::InvalidArgument),
    };
    let bytes = text.as_bytes();
    let count = bytes.len().min(usize::try_from(len).unwrap_or(usize::MAX));
    with_space(process, |space| space.write(ptr, &bytes[..count]))?;
    Ok(bytes.len() as u64)
}

fn port(value: u64) -> Result<u16, Error> {
    u16::try_from(value).map_err(|_| Error::InvalidArgument)
}

fn address(value: u64) -> Result<Ipv4Address, Error> {
    let ip = u32::try_from(value).map_err(|_| Error::InvalidArgument)?;
    Ok(Ipv4Address::from_bits(ip))
}

pub fn forward_add(wan_port: u64, guest: u64, guest_port: u64) -> Result<u64, Error> {
    let forward = Forward { wan_port: port(wan_port)?, guest: address(guest)?, guest_port: port(guest_port)? };
    control::add_forward(forward).map(|()| 0)
}

pub fn forward_del(wan_port: u64) -> Result<u64, Error> {
    control::remove_forward(port(wan_port)?).map(|()| 0)
}

pub fn ping(ip: u64, timeout_ns: u64) -> Result<u64, Error> {
    let rtt = control::ping(address(ip)?, timeout_ns.min(MAX_PING_WAIT_NS))?;
    Ok(rtt.unwrap_or(keel_abi::NET_NO_REPLY))
}

/// `vm_net`: the VM gets (or loses) its NIC at its next start.
pub fn vm_net(process: &Process, ptr: u64, len: u64, on: u64) -> Result<u64, Error> {
    let name = with_space(process, |space| space.read_str(ptr, len, keel_abi::NAME_LEN))?;
    let vm = crate::vm::registry::get(&name).ok_or(Error::NotFound)?;
    if vm.state() == keel_abi::VM_RUNNING || vm.starting.load(core::sync::atomic::Ordering::Acquire) {
        return Err(Error::NotPermitted);
    }
    vm.net.store(on != 0, core::sync::atomic::Ordering::Release);
    Ok(0)
}
