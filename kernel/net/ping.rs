//! ICMP echo from the host stack: one ICMP socket per interface, requests sent for the
//! shell's `ping` and replies matched by identifier and sequence number.

use alloc::collections::BTreeMap;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::icmp::{Endpoint, PacketBuffer, PacketMetadata, Socket};
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, Ipv4Address};

/// The identifier of Keel's echo requests.
pub const IDENT: u16 = 0x4b45;
/// Payload of each request (as `ping` sends 56 bytes).
const PAYLOAD: [u8; 56] = *b"keel ping ......................................... keel";

/// Echo requests of one interface, by sequence number: when each was sent.
pub struct Pinger {
    handle: SocketHandle,
    sent: BTreeMap<u16, u64>,
}

impl Pinger {
    pub fn new(sockets: &mut SocketSet<'static>) -> Self {
        let buffer = || PacketBuffer::new(alloc::vec![PacketMetadata::EMPTY; 8], alloc::vec![0; 1024]);
        let mut socket = Socket::new(buffer(), buffer());
        let _ = socket.bind(Endpoint::Ident(IDENT));
        Self { handle: sockets.add(socket), sent: BTreeMap::new() }
    }

    /// Sends echo request `seq` to `to`; false if the socket has no room.
    pub fn send(&mut self, sockets: &mut SocketSet<'static>, to: Ipv4Address, seq: u16, now_ns: u64) -> bool {
        let socket = sockets.get_mut::<Socket>(self.handle);
        let repr = Icmpv4Repr::EchoRequest { ident: IDENT, seq_no: seq, data: &PAYLOAD };
        let Ok(buffer) = socket.send(repr.buffer_len(), IpAddress::Ipv4(to)) else { return false };
        repr.emit(&mut Icmpv4Packet::new_unchecked(buffer), &ChecksumCapabilities::default());
        self.sent.insert(seq, now_ns);
        // Forget requests no one waits for any more.
        while self.sent.len() > 64 {
            self.sent.pop_first();
        }
        true
    }

    /// Replies received: (sequence number, from, round trip in ns), passed to `reply`.
    pub fn poll(&mut self, sockets: &mut SocketSet<'static>, now_ns: u64, reply: &mut dyn FnMut(u16, Ipv4Address, u64)) -> bool {
        let socket = sockets.get_mut::<Socket>(self.handle);
        let mut any = false;
        while let Ok((bytes, from)) = socket.recv() {
            let IpAddress::Ipv4(from) = from;
            let Ok(packet) = Icmpv4Packet::new_checked(bytes) else { continue };
            let Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) = Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default())
            else {
                continue;
            };
            if ident != IDENT {
                continue;
            }
            if let Some(sent) = self.sent.remove(&seq_no) {
                reply(seq_no, from, now_ns.saturating_sub(sent));
                any = true;
            }
        }
        any
    }
}
