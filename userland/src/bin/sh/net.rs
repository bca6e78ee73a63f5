//! `net` (interfaces, switch ports, forwards) and `ping`: the network through the kernel's
//! network calls. Errors name what was wrong and change nothing.

use super::netargs::{self, NetCommand};
use super::shell::Shell;
use alloc::format;
use alloc::string::String;
use core::time::Duration;
use keel_userland::abi::{self, Error};
use keel_userland::{eprintln, print, println, sys};

/// How long one echo waits for its reply, and the interval between requests.
const PING_WAIT: Duration = Duration::from_secs(1);

fn dotted(ip: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
}

fn no_calls(error: Error) -> String {
    match error {
        Error::NoSuchCall => format!("this kernel has no network ({error})"),
        _ => format!("{error}"),
    }
}

pub fn net(_shell: &mut Shell, args: &[String]) {
    let command = match netargs::parse_net(args) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("net: {error}");
            return;
        }
    };
    match command {
        NetCommand::Help => print!("{}", netargs::NET_USAGE),
        NetCommand::Show => show(abi::NET_SHOW_ALL),
        NetCommand::ForwardList => show(abi::NET_SHOW_FORWARDS),
        NetCommand::ForwardAdd { wan_port, guest, guest_port } => {
            let to = format!("{}:{guest_port}", dotted(guest));
            match sys::net_forward_add(wan_port, guest, guest_port) {
                Ok(()) => println!("net: wan port {wan_port} -> {to}"),
                Err(error) => {
                    let why = match error {
                        Error::Exists => format!("wan port {wan_port} is forwarded already"),
                        Error::NotPermitted => format!("wan port {wan_port} is Keel's own (the status page)"),
                        Error::InvalidArgument => {
                            format!("{} is not a guest address on br0 (10.0.3.2 to 10.0.3.254)", dotted(guest))
                        }
                        Error::TooBig => String::from("too many forwards"),
                        other => no_calls(other),
                    };
                    eprintln!("net: cannot forward {wan_port} to {to}: {why}");
                }
            }
        }
        NetCommand::ForwardDel { wan_port } => match sys::net_forward_del(wan_port) {
            Ok(()) => println!("net: wan port {wan_port} no longer forwarded"),
            Err(Error::NotFound) => eprintln!("net: no forward on wan port {wan_port}"),
            Err(error) => eprintln!("net: cannot remove the forward of {wan_port}: {}", no_calls(error)),
        },
    }
}

fn show(what: u64) {
    match sys::net_status(what) {
        Ok(text) => print!("{text}"),
        Err(error) => eprintln!("net: {}", no_calls(error)),
    }
}

pub fn ping(_shell: &mut Shell, args: &[String]) {
    let (ip, count) = match netargs::parse_ping(args) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("ping: {error}");
            return;
        }
    };
    let host = dotted(ip);
    println!("PING {host}: 56 data bytes");
    let mut rtts = alloc::vec::Vec::new();
    let mut sent = 0;
    for seq in 0..count {
        let started = sys::time();
        sent += 1;
        match sys::net_ping(ip, PING_WAIT) {
            Ok(Some(rtt)) => {
                let us = rtt.as_micros() as u64;
                println!("64 bytes from {host}: seq={seq} time={} ms", netargs::ms(us));
                rtts.push(us);
            }
            Ok(None) => println!("no reply from {host}: seq={seq}"),
            Err(Error::NotFound) => {
                eprintln!("ping: no route to {host} (wan has no address yet, or no interface reaches it)");
                return;
            }
            Err(error) => {
                eprintln!("ping: {}", no_calls(error));
                return;
            }
        }
        let spent = sys::time().saturating_sub(started);
        if seq + 1 < count && spent < PING_WAIT {
            sys::sleep(PING_WAIT - spent);
        }
    }
    print!("{}", netargs::ping_summary(&host, sent, &rtts));
}
