//! The DHCP server's leases: a pool of addresses handed out by MAC, offered, bound,
//! renewed, released, declined and expired. Pure logic; time is passed in.

use alloc::collections::BTreeMap;
use smoltcp::wire::Ipv4Address;

pub type Mac = [u8; 6];

/// How long a bound lease lasts, and how long an offer is held for the client.
pub const LEASE_NS: u64 = 3600 * 1_000_000_000;
pub const OFFER_NS: u64 = 60 * 1_000_000_000;
/// How long an address a client declined (it found it in use) is not handed out.
pub const DECLINED_NS: u64 = 600 * 1_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseState {
    Offered,
    Bound,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    pub ip: Ipv4Address,
    pub state: LeaseState,
    pub expires_ns: u64,
}

/// Why a request is refused (answered with DHCPNAK).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The address asked for is not this client's (outside the pool, someone else's).
    NotYours,
}

/// The leases of one pool `prefix.first ..= prefix.last`.
pub struct Leases {
    prefix: [u8; 3],
    first: u8,
    last: u8,
    by_mac: BTreeMap<Mac, Lease>,
    /// Addresses declined, until when.
    declined: BTreeMap<Ipv4Address, u64>,
}

impl Leases {
    pub fn new(prefix: [u8; 3], first: u8, last: u8) -> Self {
        Self { prefix, first, last, by_mac: BTreeMap::new(), declined: BTreeMap::new() }
    }

    fn address(&self, host: u8) -> Ipv4Address {
        Ipv4Address::new(self.prefix[0], self.prefix[1], self.prefix[2], host)
    }

    fn in_pool(&self, ip: Ipv4Address) -> bool {
        let o = ip.octets();
        o[..3] == self.prefix && (self.first..=self.last).contains(&o[3])
    }

    /// Forgets leases and declines that ran out.
    pub fn expire(&mut self, now_ns: u64) {
        self.by_mac.retain(|_, lease| lease.expires_ns > now_ns);
        self.declined.retain(|_, until| *until > now_ns);
    }

    fn taken_by_other(&self, ip: Ipv4Address, mac: &Mac) -> bool {
        self.by_mac.iter().any(|(other, lease)| other != mac && lease.ip == ip) || self.declined.contains_key(&ip)
    }

    /// DHCPDISCOVER: the address to offer `mac` — its own lease, else the address it asked
    /// for if free, else the first free one; None when the pool is exhausted.
    pub fn offer(&mut self, mac: Mac, requested: Option<Ipv4Address>, now_ns: u64) -> Option<Ipv4Address> {
        self.expire(now_ns);
        if let Some(lease) = self.by_mac.get_mut(&mac) {
            if lease.state == LeaseState::Offered {
                lease.expires_ns = now_ns + OFFER_NS;
            }
            return Some(lease.ip);
        }
        let wanted = requested.filter(|&ip| self.in_pool(ip) && !self.taken_by_other(ip, &mac));
        let ip = match wanted {
            Some(ip) => ip,
            None => (self.first..=self.last).map(|host| self.address(host)).find(|&ip| !self.taken_by_other(ip, &mac))?,
        };
        self.by_mac.insert(mac, Lease { ip, state: LeaseState::Offered, expires_ns: now_ns + OFFER_NS });
        Some(ip)
    }

    /// DHCPREQUEST for `ip` (selecting, init-reboot, renewing or rebinding): binds or renews
    /// the lease, or refuses.
    pub fn request(&mut self, mac: Mac, ip: Ipv4Address, now_ns: u64) -> Result<Lease, Refusal> {
        self.expire(now_ns);
        if !self.in_pool(ip) || self.taken_by_other(ip, &mac) {
            return Err(Refusal::NotYours);
        }
        if self.by_mac.get(&mac).is_some_and(|lease| lease.ip != ip) {
            // A client that asks for another address than the one it holds (it moved, or
            // a stale cache) gets the one it asked for, if free: its old lease goes.
            self.by_mac.remove(&mac);
        }
        let lease = Lease { ip, state: LeaseState::Bound, expires_ns: now_ns + LEASE_NS };
        self.by_mac.insert(mac, lease);
        Ok(lease)
    }

    /// A DHCPREQUEST naming another server: the client took another offer; ours goes.
    pub fn chose_other_server(&mut self, mac: Mac) {
        if self.by_mac.get(&mac).is_some_and(|lease| lease.state == LeaseState::Offered) {
            self.by_mac.remove(&mac);
        }
    }

    /// DHCPRELEASE: the client gives its address back.
    pub fn release(&mut self, mac: Mac, ip: Ipv4Address) {
        if self.by_mac.get(&mac).is_some_and(|lease| lease.ip == ip) {
            self.by_mac.remove(&mac);
        }
    }

    /// DHCPDECLINE: the client found `ip` in use; it is not handed out for a while.
    pub fn decline(&mut self, mac: Mac, ip: Ipv4Address, now_ns: u64) {
        if self.by_mac.get(&mac).is_some_and(|lease| lease.ip == ip) {
            self.by_mac.remove(&mac);
            self.declined.insert(ip, now_ns + DECLINED_NS);
        }
    }

    /// The lease `mac` holds, if any.
    pub fn lease(&self, mac: &Mac) -> Option<Lease> {
        self.by_mac.get(mac).copied()
    }

    /// Bound leases, by MAC.
    pub fn bound(&self) -> impl Iterator<Item = (&Mac, &Lease)> {
        self.by_mac.iter().filter(|(_, lease)| lease.state == LeaseState::Bound)
    }
}
