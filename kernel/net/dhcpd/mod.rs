//! The DHCP server on `br0`: guests get an address from the pool (10.0.3.100–199), the
//! subnet mask and the router (Keel). Packets are read and written with smoltcp's DHCP
//! wire format; the lease logic is in `lease`.

pub mod lease;

use alloc::vec::Vec;
use lease::{Leases, Refusal, LEASE_NS};
use smoltcp::wire::{DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress, Ipv4Address};

/// The UDP ports of DHCP.
pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;
/// Largest packet handled (a DHCP message is at most 576 bytes unless both sides agree).
pub const MAX_PACKET: usize = 1024;

/// A reply and where it goes (the limited broadcast unless the client has an address).
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub to: Ipv4Address,
    pub bytes: Vec<u8>,
}

/// What happened, for the log and the tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Offered(Ipv4Address),
    Bound(Ipv4Address),
    Refused(Ipv4Address),
    Released(Ipv4Address),
    Declined(Ipv4Address),
    /// The client chose another server's offer.
    ChoseOther,
    /// Nothing to answer: not a packet for a server, no address left, a message ignored.
    Ignored,
}

pub struct DhcpServer {
    pub leases: Leases,
    server: Ipv4Address,
    netmask: Ipv4Address,
}

impl DhcpServer {
    /// A server at `server` (also the guests' router) handing out `prefix.first..=last`.
    pub fn new(server: Ipv4Address, netmask: Ipv4Address, first: u8, last: u8) -> Self {
        let o = server.octets();
        Self { leases: Leases::new([o[0], o[1], o[2]], first, last), server, netmask }
    }

    /// Answers one packet that came to port 67 at `now_ns`.
    pub fn answer(&mut self, packet: &[u8], now_ns: u64) -> (Event, Option<Reply>) {
        let Ok(packet) = DhcpPacket::new_checked(packet) else { return (Event::Ignored, None) };
        let Ok(request) = DhcpRepr::parse(&packet) else { return (Event::Ignored, None) };
        let mac = request.client_hardware_address.0;
        let client_ip = (request.client_ip != Ipv4Address::UNSPECIFIED).then_some(request.client_ip);
        match request.message_type {
            DhcpMessageType::Discover => match self.leases.offer(mac, request.requested_ip, now_ns) {
                Some(ip) => (Event::Offered(ip), Some(self.reply(&request, DhcpMessageType::Offer, ip))),
                None => (Event::Ignored, None),
            },
            DhcpMessageType::Request => {
                if request.server_identifier.is_some_and(|server| server != self.server) {
                    self.leases.chose_other_server(mac);
                    return (Event::ChoseOther, None);
                }
                let Some(ip) = request.requested_ip.or(client_ip) else { return (Event::Ignored, None) };
                match self.leases.request(mac, ip, now_ns) {
                    Ok(lease) => (Event::Bound(lease.ip), Some(self.reply(&request, DhcpMessageType::Ack, lease.ip))),
                    Err(Refusal::NotYours) => {
                        (Event::Refused(ip), Some(self.reply(&request, DhcpMessageType::Nak, Ipv4Address::UNSPECIFIED)))
                    }
                }
            }
            DhcpMessageType::Decline => match request.requested_ip {
                Some(ip) => {
                    self.leases.decline(mac, ip, now_ns);
                    (Event::Declined(ip), None)
                }
                None => (Event::Ignored, None),
            },
            DhcpMessageType::Release => match client_ip {
                Some(ip) => {
                    self.leases.release(mac, ip);
                    (Event::Released(ip), None)
                }
                None => (Event::Ignored, None),
            },
            _ => (Event::Ignored, None),
        }
    }

    fn reply(&self, request: &DhcpRepr<'_>, kind: DhcpMessageType, ip: Ipv4Address) -> Reply {
        let nak = kind == DhcpMessageType::Nak;
        let repr = DhcpRepr {
            message_type: kind,
            transaction_id: request.transaction_id,
            secs: 0,
            client_hardware_address: request.client_hardware_address,
            client_ip: if kind == DhcpMessageType::Ack { request.client_ip } else { Ipv4Address::UNSPECIFIED },
            your_ip: ip,
            server_ip: Ipv4Address::UNSPECIFIED,
            router: (!nak).then_some(self.server),
            subnet_mask: (!nak).then_some(self.netmask),
            relay_agent_ip: Ipv4Address::UNSPECIFIED,
            broadcast: request.broadcast,
            requested_ip: None,
            client_identifier: None,
            server_identifier: Some(self.server),
            parameter_request_list: None,
            dns_servers: None,
            max_size: None,
            lease_duration: (!nak).then_some((LEASE_NS / 1_000_000_000) as u32),
            renew_duration: None,
            rebind_duration: None,
            additional_options: &[],
        };
        let mut bytes = alloc::vec![0u8; repr.buffer_len()];
        let mut packet = DhcpPacket::new_unchecked(&mut bytes[..]);
        // The buffer has the length the representation asked for: emitting cannot fail.
        let _ = repr.emit(&mut packet);
        // A renewing client (it has its address) is answered directly; others broadcast.
        let to = if !nak && request.client_ip != Ipv4Address::UNSPECIFIED && !request.broadcast {
            request.client_ip
        } else {
            Ipv4Address::BROADCAST
        };
        Reply { to, bytes }
    }
}

/// Parses a reply (for tests and logs): message type, address given, server.
pub fn describe(bytes: &[u8]) -> Option<(DhcpMessageType, Ipv4Address, Option<Ipv4Address>)> {
    let packet = DhcpPacket::new_checked(bytes).ok()?;
    let repr = DhcpRepr::parse(&packet).ok()?;
    Some((repr.message_type, repr.your_ip, repr.server_identifier))
}

/// A client's message, for tests: `kind` from `mac`, asking for `requested`.
pub fn client_message(
    kind: DhcpMessageType,
    mac: [u8; 6],
    xid: u32,
    client_ip: Ipv4Address,
    requested: Option<Ipv4Address>,
    server: Option<Ipv4Address>,
) -> Vec<u8> {
    let repr = DhcpRepr {
        message_type: kind,
        transaction_id: xid,
        secs: 0,
        client_hardware_address: EthernetAddress(mac),
        client_ip,
        your_ip: Ipv4Address::UNSPECIFIED,
        server_ip: Ipv4Address::UNSPECIFIED,
        router: None,
        subnet_mask: None,
        relay_agent_ip: Ipv4Address::UNSPECIFIED,
        broadcast: false,
        requested_ip: requested,
        client_identifier: Some(EthernetAddress(mac)),
        server_identifier: server,
        parameter_request_list: Some(&[1, 3, 6]),
        dns_servers: None,
        max_size: Some(1500),
        lease_duration: None,
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[],
    };
    let mut bytes = alloc::vec![0u8; repr.buffer_len()];
    let _ = repr.emit(&mut DhcpPacket::new_unchecked(&mut bytes[..]));
    bytes
}

#[cfg(test)]
mod tests;
