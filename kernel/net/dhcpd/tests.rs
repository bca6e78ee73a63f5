//! DHCP server tests: the lease logic and whole exchanges through the wire format.

use super::lease::*;
use super::*;

const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 3, 1);
const MASK: Ipv4Address = Ipv4Address::new(255, 255, 255, 0);
const A: Mac = [2, 0, 0, 0, 0, 0xa];
const B: Mac = [2, 0, 0, 0, 0, 0xb];
const S: u64 = 1_000_000_000;

fn ip(host: u8) -> Ipv4Address {
    Ipv4Address::new(10, 0, 3, host)
}

fn server() -> DhcpServer {
    DhcpServer::new(SERVER, MASK, 100, 199)
}

use DhcpMessageType::*;

fn discover(s: &mut DhcpServer, mac: Mac, requested: Option<Ipv4Address>, now: u64) -> (Event, Option<Reply>) {
    s.answer(&client_message(Discover, mac, 7, Ipv4Address::UNSPECIFIED, requested, None), now)
}

fn request(s: &mut DhcpServer, mac: Mac, ip: Ipv4Address, server: Option<Ipv4Address>, now: u64) -> (Event, Option<Reply>) {
    s.answer(&client_message(Request, mac, 8, Ipv4Address::UNSPECIFIED, Some(ip), server), now)
}

#[test]
fn discover_offer_request_ack() {
    let mut s = server();
    let (event, reply) = discover(&mut s, A, None, 0);
    assert_eq!(event, Event::Offered(ip(100)));
    let reply = reply.unwrap();
    assert_eq!(reply.to, Ipv4Address::BROADCAST);
    assert_eq!(describe(&reply.bytes), Some((Offer, ip(100), Some(SERVER))));
    let packet = DhcpPacket::new_checked(&reply.bytes[..]).unwrap();
    let repr = DhcpRepr::parse(&packet).unwrap();
    assert_eq!((repr.router, repr.subnet_mask, repr.lease_duration), (Some(SERVER), Some(MASK), Some(3600)));
    assert_eq!(repr.transaction_id, 7);
    assert_eq!(repr.client_hardware_address.0, A);

    let (event, reply) = request(&mut s, A, ip(100), Some(SERVER), S);
    assert_eq!(event, Event::Bound(ip(100)));
    assert_eq!(describe(&reply.unwrap().bytes), Some((Ack, ip(100), Some(SERVER))));
    assert_eq!(s.leases.lease(&A).map(|l| l.state), Some(LeaseState::Bound));
    // A second client gets the next address.
    assert_eq!(discover(&mut s, B, None, S).0, Event::Offered(ip(101)));
}

#[test]
fn the_same_client_keeps_its_address_and_renews() {
    let mut s = server();
    discover(&mut s, A, None, 0);
    request(&mut s, A, ip(100), Some(SERVER), 0);
    assert_eq!(discover(&mut s, A, None, 10 * S).0, Event::Offered(ip(100)));
    // Renewing: unicast from its address, no server id; answered directly.
    let renew = client_message(Request, A, 9, ip(100), None, None);
    let (event, reply) = s.answer(&renew, LEASE_NS - S);
    assert_eq!(event, Event::Bound(ip(100)));
    assert_eq!(reply.unwrap().to, ip(100));
    assert_eq!(s.leases.lease(&A).unwrap().expires_ns, 2 * LEASE_NS - S);
}

#[test]
fn a_requested_address_is_honoured_when_free() {
    let mut s = server();
    assert_eq!(discover(&mut s, A, Some(ip(150)), 0).0, Event::Offered(ip(150)));
    assert_eq!(discover(&mut s, B, Some(ip(150)), 0).0, Event::Offered(ip(100)), "taken: the first free one");
    assert_eq!(discover(&mut Server::fresh(), B, Some(ip(250)), 0).0, Event::Offered(ip(100)), "outside the pool");
}

struct Server;
impl Server {
    fn fresh() -> DhcpServer {
        server()
    }
}

#[test]
fn requests_for_someone_elses_or_foreign_addresses_are_refused() {
    let mut s = server();
    discover(&mut s, A, None, 0);
    request(&mut s, A, ip(100), Some(SERVER), 0);
    let (event, reply) = request(&mut s, B, ip(100), None, 0);
    assert_eq!(event, Event::Refused(ip(100)));
    let reply = reply.unwrap();
    assert_eq!(reply.to, Ipv4Address::BROADCAST);
    assert_eq!(describe(&reply.bytes), Some((Nak, Ipv4Address::UNSPECIFIED, Some(SERVER))));
    // INIT-REBOOT with an address of another network.
    assert_eq!(request(&mut s, B, Ipv4Address::new(192, 168, 1, 5), None, 0).0, Event::Refused(Ipv4Address::new(192, 168, 1, 5)));
}

#[test]
fn a_request_naming_another_server_drops_our_offer() {
    let mut s = server();
    discover(&mut s, A, None, 0);
    let (event, reply) = request(&mut s, A, ip(100), Some(Ipv4Address::new(10, 0, 3, 254)), 0);
    assert_eq!((event, reply), (Event::ChoseOther, None));
    assert_eq!(s.leases.lease(&A), None);
    assert_eq!(discover(&mut s, B, None, 0).0, Event::Offered(ip(100)), "the address is free again");
}

#[test]
fn release_and_decline() {
    let mut s = server();
    discover(&mut s, A, None, 0);
    request(&mut s, A, ip(100), Some(SERVER), 0);
    let release = client_message(Release, A, 1, ip(100), None, Some(SERVER));
    assert_eq!(s.answer(&release, S), (Event::Released(ip(100)), None));
    assert_eq!(s.leases.lease(&A), None);

    discover(&mut s, A, None, 2 * S);
    let decline = client_message(Decline, A, 2, Ipv4Address::UNSPECIFIED, Some(ip(100)), Some(SERVER));
    assert_eq!(s.answer(&decline, 3 * S), (Event::Declined(ip(100)), None));
    assert_eq!(discover(&mut s, A, None, 4 * S).0, Event::Offered(ip(101)), "the declined address is skipped");
    assert_eq!(discover(&mut s, B, Some(ip(100)), 4 * S).0, Event::Offered(ip(102)));
    // After a while it comes back.
    let mut later = server();
    later.answer(&client_message(Discover, A, 1, Ipv4Address::UNSPECIFIED, None, None), 0);
    later.answer(&client_message(Decline, A, 2, Ipv4Address::UNSPECIFIED, Some(ip(100)), None), 0);
    assert_eq!(discover(&mut later, B, None, DECLINED_NS + 1).0, Event::Offered(ip(100)));
}

#[test]
fn offers_and_leases_expire_and_the_pool_runs_out() {
    let mut leases = Leases::new([10, 0, 3], 100, 101);
    assert_eq!(leases.offer(A, None, 0), Some(ip(100)));
    assert_eq!(leases.offer(B, None, 0), Some(ip(101)));
    assert_eq!(leases.offer([2, 0, 0, 0, 0, 0xc], None, 0), None, "exhausted");
    assert_eq!(leases.offer([2, 0, 0, 0, 0, 0xc], None, OFFER_NS), Some(ip(100)), "offers lapse");
    leases.request(B, ip(101), 0).unwrap();
    assert_eq!(leases.offer([2, 0, 0, 0, 0, 0xd], None, LEASE_NS - 1), Some(ip(100)));
    assert_eq!(leases.offer([2, 0, 0, 0, 0, 0xe], None, LEASE_NS - 1), None, "B's lease holds");
    assert_eq!(leases.offer([2, 0, 0, 0, 0, 0xe], None, LEASE_NS), Some(ip(101)), "leases lapse");
    assert_eq!(leases.bound().count(), 0);
}

#[test]
fn garbage_is_ignored() {
    let mut s = server();
    assert_eq!(s.answer(&[], 0), (Event::Ignored, None));
    assert_eq!(s.answer(&[0xff; 300], 0), (Event::Ignored, None));
    // A server's message (an offer) sent to the server.
    let mut offer = client_message(Discover, A, 1, Ipv4Address::UNSPECIFIED, None, None);
    offer[0] = 2;
    assert_eq!(s.answer(&offer, 0).0, Event::Ignored);
    let mut seed = 0x1234_5678_u32;
    for len in 0..600 {
        let mut bytes = client_message(Request, A, 1, Ipv4Address::UNSPECIFIED, Some(ip(100)), None);
        bytes.truncate(len % (bytes.len() + 1));
        for byte in bytes.iter_mut().skip(236) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            if seed.is_multiple_of(7) {
                *byte = seed as u8;
            }
        }
        let _ = s.answer(&bytes, 0);
    }
}
