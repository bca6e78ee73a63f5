//! The network task: both smoltcp interfaces (`wan` on the host NIC, configured by DHCP;
//! `br0` on the switch, 10.0.3.1/24) and every service on them, in one executor task.
//! Each round polls the interfaces and the services; after progress it yields and goes
//! again, else it parks until the NIC's interrupt, a frame for br0 or a request wakes it,
//! or until the earliest `poll_delay` (at most [`SERVICE_TICK_NS`], for service timeouts).

use super::bridge::{self, HostPort};
use super::control::{self, Ping, CONTROL, WAKE};
use super::dhcpd::{self, DhcpServer, Event};
use super::discard::DiscardServer;
use super::forward::splice::Splicer;
use super::http::request::Request;
use super::http::server::{HttpServer, Page};
use super::link::{FrameDevice, Link};
use super::ping::Pinger;
use super::status::{ForwardStatus, InterfaceStatus, Status, VmStatus};
use crate::virtio::net::Nic;
use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use keel_abi::Error;
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv4Cidr};

/// Longest park: service timeouts (HTTP heads, forward connects) are checked this often.
const SERVICE_TICK_NS: u64 = 500_000_000;
/// How often learned MACs are aged.
const AGING_TICK_NS: u64 = 10_000_000_000;

fn now_ns() -> u64 {
    crate::arch::timer::now_ns()
}

fn instant(ns: u64) -> Instant {
    Instant::from_micros((ns / 1000) as i64)
}

/// One interface with its sockets and the services every interface has.
struct Iface<L: Link> {
    name: &'static str,
    mac: [u8; 6],
    iface: Interface,
    device: FrameDevice<L>,
    sockets: SocketSet<'static>,
    http: HttpServer,
    discard: DiscardServer,
    pinger: Pinger,
}

impl<L: Link> Iface<L> {
    fn new(name: &'static str, mac: [u8; 6], link: L, seed: u64) -> Self {
        let mut device = FrameDevice::new(link);
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        config.random_seed = seed;
        let iface = Interface::new(config, &mut device, instant(now_ns()));
        let mut sockets = SocketSet::new(Vec::new());
        let http = HttpServer::new(&mut sockets);
        let discard = DiscardServer::new(&mut sockets);
        let pinger = Pinger::new(&mut sockets);
        Self { name, mac, iface, device, sockets, http, discard, pinger }
    }

    fn poll(&mut self, now: Instant) -> bool {
        self.iface.poll(now, &mut self.device, &mut self.sockets) == PollResult::SocketStateChanged
    }

    fn address(&self) -> Option<Ipv4Cidr> {
        // Only IPv4 is built in: the first address is the interface's.
        self.iface.ip_addrs().first().map(|IpCidr::Ipv4(cidr)| *cidr)
    }

    fn status(&self, how: &str, gateway: Option<Ipv4Address>) -> InterfaceStatus {
        InterfaceStatus {
            name: String::from(self.name),
            mac: self.mac,
            address: self.address(),
            gateway,
            how: String::from(how),
            counters: self.device.counters,
        }
    }
}

struct Wan {
    net: Iface<Nic>,
    dhcp: SocketHandle,
    gateway: Option<Ipv4Address>,
}

struct Net {
    wan: Option<Wan>,
    br0: Iface<HostPort>,
    dhcpd: DhcpServer,
    dhcpd_socket: SocketHandle,
    splicer: Splicer,
    next_seq: u16,
    /// Echo sequence numbers in flight and the request each answers (the last few).
    seq_ids: Vec<(u16, u64)>,
    aged_ns: u64,
}

/// Builds the interfaces and spawns the task.
pub fn start(nic: Option<Nic>, seed: u64) {
    let br0_mac = super::switch::mac_for_name("keel-br0");
    let port = match HostPort::attach(br0_mac) {
        Ok(port) => port,
        Err(error) => {
            log::error!("net: br0 cannot join the switch: {error:?}");
            return;
        }
    };
    let mut br0 = Iface::new("br0", br0_mac, port, seed ^ 0xb0);
    br0.iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::Ipv4(Ipv4Cidr::new(super::BR0_ADDRESS, super::BR0_PREFIX)));
    });
    let mut socket = udp::Socket::new(
        udp::PacketBuffer::new(alloc::vec![udp::PacketMetadata::EMPTY; 8], alloc::vec![0; 8 * dhcpd::MAX_PACKET]),
        udp::PacketBuffer::new(alloc::vec![udp::PacketMetadata::EMPTY; 8], alloc::vec![0; 8 * dhcpd::MAX_PACKET]),
    );
    let _ = socket.bind(dhcpd::SERVER_PORT);
    let dhcpd_socket = br0.sockets.add(socket);
    let netmask = Ipv4Cidr::new(super::BR0_ADDRESS, super::BR0_PREFIX).netmask();
    let dhcpd = DhcpServer::new(super::BR0_ADDRESS, netmask, super::POOL_FIRST, super::POOL_LAST);

    let wan = nic.map(|nic| {
        if let Some(intid) = nic.intid {
            crate::virtio::irq::fire_on(intid, &WAKE);
        }
        let mac = nic.mac;
        let mut net = Iface::new("wan", mac, nic, seed);
        let dhcp = net.sockets.add(dhcpv4::Socket::new());
        Wan { net, dhcp, gateway: None }
    });
    let net = Net { wan, br0, dhcpd, dhcpd_socket, splicer: Splicer::new(), next_seq: 0, seq_ids: Vec::new(), aged_ns: 0 };
    crate::exec::spawn(run(net));
}

async fn run(mut net: Net) {
    loop {
        let now = now_ns();
        if net.round(now) {
            crate::exec::yield_now().await;
            continue;
        }
        let delay = net.delay(now);
        Park { event: WAKE.wait(), sleep: crate::exec::sleep(delay), br0: &net.br0.device.link }.await;
    }
}

impl Net {
    /// One round of everything; true if anything happened.
    fn round(&mut self, now_ns: u64) -> bool {
        let now = instant(now_ns);
        let mut progress = false;
        if let Some(wan) = &mut self.wan {
            wan.net.device.link.ack();
            progress |= wan.net.poll(now);
            progress |= wan_dhcp(wan);
        }
        progress |= self.br0.poll(now);
        progress |= self.serve_dhcp(now_ns);
        progress |= self.serve_http(now_ns);
        if let Some(wan) = &mut self.wan {
            progress |= wan.net.discard.poll(&mut wan.net.sockets, now_ns);
        }
        progress |= self.br0.discard.poll(&mut self.br0.sockets, now_ns);
        {
            let control = CONTROL.lock();
            if let Some(wan) = &mut self.wan {
                self.splicer.sync(&control.forwards, &mut wan.net.sockets, &mut self.br0.sockets);
            }
        }
        if let Some(wan) = &mut self.wan {
            progress |= self.splicer.poll(&mut wan.net.sockets, &mut self.br0.iface, &mut self.br0.sockets, now_ns);
        }
        progress |= self.pings(now_ns);
        self.answer_status(now_ns);
        if now_ns.saturating_sub(self.aged_ns) > AGING_TICK_NS {
            self.aged_ns = now_ns;
            bridge::age();
        }
        progress
    }

    /// How long nothing needs doing.
    fn delay(&mut self, now_ns: u64) -> u64 {
        let now = instant(now_ns);
        let mut delay = SERVICE_TICK_NS;
        let mut consider = |d: Option<smoltcp::time::Duration>| {
            if let Some(d) = d {
                delay = delay.min(d.total_micros().saturating_mul(1000));
            }
        };
        if let Some(wan) = &mut self.wan {
            consider(wan.net.iface.poll_delay(now, &wan.net.sockets));
        }
        consider(self.br0.iface.poll_delay(now, &self.br0.sockets));
        delay
    }

    fn serve_dhcp(&mut self, now_ns: u64) -> bool {
        let socket = self.br0.sockets.get_mut::<udp::Socket>(self.dhcpd_socket);
        let mut any = false;
        while socket.can_recv() {
            let Ok((bytes, _meta)) = socket.recv() else { break };
            let (event, reply) = self.dhcpd.answer(bytes, now_ns);
            match event {
                Event::Bound(ip) => log::info!("dhcpd: {ip} bound"),
                Event::Ignored => {}
                other => log::debug!("dhcpd: {other:?}"),
            }
            if let Some(reply) = reply {
                let to = IpEndpoint::new(reply.to.into(), dhcpd::CLIENT_PORT);
                if socket.send_slice(&reply.bytes, to).is_err() {
                    log::debug!("dhcpd: reply dropped (no room)");
                }
            }
            any = true;
        }
        any
    }

    fn serve_http(&mut self, now_ns: u64) -> bool {
        let mut progress = false;
        // A snapshot is taken only when a request may be answered in this round.
        let wanted = self.wan.as_ref().is_some_and(|wan| wan.net.http.pending(&wan.net.sockets))
            || self.br0.http.pending(&self.br0.sockets);
        let status = if wanted { self.status(now_ns) } else { Status::default() };
        let mut page = |request: &Request| -> Page { page(request, &status) };
        if let Some(wan) = &mut self.wan {
            progress |= wan.net.http.poll(&mut wan.net.sockets, now_ns, &mut page);
        }
        progress |= self.br0.http.poll(&mut self.br0.sockets, now_ns, &mut page);
        progress
    }

    fn pings(&mut self, now_ns: u64) -> bool {
        let mut progress = false;
        let mut answered = false;
        let queued: Vec<(u64, Ipv4Address)> = CONTROL
            .lock()
            .pings
            .iter()
            .filter_map(|(&id, ping)| match ping {
                Ping::Queued(to) => Some((id, *to)),
                _ => None,
            })
            .collect();
        let mut sent_ids: Vec<(u64, Ping)> = Vec::new();
        for (id, to) in queued {
            progress = true;
            let local = self.br0.address().map(|c| c.address()) == Some(to)
                || self.wan.as_ref().and_then(|w| w.net.address()).map(|c| c.address()) == Some(to);
            if local {
                sent_ids.push((id, Ping::Done(Ok(0))));
                continue;
            }
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            let on_br0 = Ipv4Cidr::new(super::BR0_ADDRESS, super::BR0_PREFIX).contains_addr(&to);
            let sent = if on_br0 {
                self.br0.pinger.send(&mut self.br0.sockets, to, seq, now_ns)
            } else {
                match &mut self.wan {
                    Some(wan) if wan.net.address().is_some() => wan.net.pinger.send(&mut wan.net.sockets, to, seq, now_ns),
                    _ => {
                        sent_ids.push((id, Ping::Done(Err(Error::NotFound))));
                        continue;
                    }
                }
            };
            if sent {
                self.pending_seq(id, seq);
                sent_ids.push((id, Ping::Sent));
            } else {
                sent_ids.push((id, Ping::Done(Err(Error::TooBig))));
            }
        }
        let mut replies: Vec<(u16, u64)> = Vec::new();
        let mut collect = |seq: u16, _from: Ipv4Address, rtt: u64| replies.push((seq, rtt));
        if let Some(wan) = &mut self.wan {
            progress |= wan.net.pinger.poll(&mut wan.net.sockets, now_ns, &mut collect);
        }
        progress |= self.br0.pinger.poll(&mut self.br0.sockets, now_ns, &mut collect);
        if !sent_ids.is_empty() || !replies.is_empty() {
            let mut control = CONTROL.lock();
            for (id, state) in sent_ids {
                if let Some(ping) = control.pings.get_mut(&id) {
                    *ping = state;
                    answered |= matches!(state, Ping::Done(_));
                }
            }
            for (seq, rtt) in replies {
                if let Some(id) = self.seq_ids.iter().find(|(s, _)| *s == seq).map(|(_, id)| *id) {
                    if let Some(ping) = control.pings.get_mut(&id) {
                        *ping = Ping::Done(Ok(rtt));
                        answered = true;
                    }
                }
            }
        }
        if answered {
            control::answered();
        }
        progress
    }

    fn pending_seq(&mut self, id: u64, seq: u16) {
        self.seq_ids.retain(|(s, _)| *s != seq);
        self.seq_ids.push((seq, id));
        if self.seq_ids.len() > 64 {
            self.seq_ids.remove(0);
        }
    }

    fn answer_status(&mut self, now_ns: u64) {
        let wanted = CONTROL.lock().status_wanted;
        let done = CONTROL.lock().status.as_ref().map_or(0, |(answered, _)| *answered);
        if wanted > done {
            let status = self.status(now_ns);
            CONTROL.lock().status = Some((wanted, status));
            control::answered();
        }
    }

    fn status(&self, now_ns: u64) -> Status {
        let mut interfaces = Vec::new();
        if let Some(wan) = &self.wan {
            let how = if wan.net.address().is_some() { "dhcp" } else { "waiting for DHCP" };
            interfaces.push(wan.net.status(how, wan.gateway));
        }
        interfaces.push(self.br0.status("static", None));
        let forwards = self
            .splicer
            .stats()
            .into_iter()
            .map(|(f, active, total)| ForwardStatus { wan_port: f.wan_port, guest: f.guest, guest_port: f.guest_port, active, total })
            .collect();
        let vms = crate::vm::registry::all()
            .iter()
            .map(|vm| {
                // A VM never started has no counters to show.
                let started = vm.state() != keel_abi::VM_CREATED;
                VmStatus {
                    name: vm.config.name.clone(),
                    state: keel_abi::vm_state_name(vm.state()),
                    vcpus: vm.config.vcpus,
                    mem_bytes: vm.config.mem_bytes,
                    uptime_ns: crate::vm::registry::uptime_ns(vm),
                    vcpu_stats: if started { crate::vm::stats::vcpu_stats(vm) } else { Vec::new() },
                    devices: if started { crate::vm::stats::device_stats(vm) } else { Vec::new() },
                }
            })
            .collect();
        Status {
            uptime_ns: now_ns,
            interfaces,
            ports: bridge::ports(),
            forwards,
            leases: self.dhcpd.leases.bound().map(|(mac, lease)| (*mac, lease.ip)).collect(),
            vms,
        }
    }
}

/// Applies what the wan DHCP client learned.
fn wan_dhcp(wan: &mut Wan) -> bool {
    let event = wan.net.sockets.get_mut::<dhcpv4::Socket>(wan.dhcp).poll();
    match event {
        None => false,
        Some(dhcpv4::Event::Configured(config)) => {
            let address = config.address;
            wan.net.iface.update_ip_addrs(|addrs| {
                addrs.clear();
                let _ = addrs.push(IpCidr::Ipv4(address));
            });
            wan.gateway = config.router;
            match config.router {
                Some(router) => {
                    let _ = wan.net.iface.routes_mut().add_default_ipv4_route(router);
                }
                None => {
                    let _ = wan.net.iface.routes_mut().remove_default_ipv4_route();
                }
            }
            log::info!("net: wan is {address} (gateway {:?})", config.router);
            true
        }
        Some(dhcpv4::Event::Deconfigured) => {
            wan.net.iface.update_ip_addrs(|addrs| addrs.clear());
            let _ = wan.net.iface.routes_mut().remove_default_ipv4_route();
            wan.gateway = None;
            log::info!("net: wan lost its address");
            true
        }
    }
}

/// The status page: `/` (HTML) and `/status.txt` (the text `net` prints, then the VMs with
/// their counters).
fn page(request: &Request, status: &Status) -> Page {
    match request.path.as_str() {
        "/" | "/index.html" => (200, "text/html; charset=utf-8", super::status::render_html(status).into_bytes()),
        "/status.txt" => (200, "text/plain; charset=utf-8", super::status::render_status_text(status).into_bytes()),
        _ => (404, "text/plain; charset=utf-8", alloc::vec::Vec::from(&b"404 Not Found\n"[..])),
    }
}


/// Parks the task until its waker fires, the timer runs out, or br0 has a frame.
struct Park<'a> {
    event: crate::exec::IrqEvent<'static>,
    sleep: crate::exec::Sleep,
    br0: &'a HostPort,
}

impl Future for Park<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        self.br0.set_waker(context.waker());
        if self.br0.has_frames() {
            return Poll::Ready(());
        }
        if Pin::new(&mut self.event).poll(context).is_ready() || Pin::new(&mut self.sleep).poll(context).is_ready() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
