//! Port forwards from a `wan` TCP port to a guest address and port: the table the shell
//! edits (checked here, pure) and the splices that carry the connections (`splice`).

pub mod splice;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

/// Most forwards at once.
pub const MAX_FORWARDS: usize = 16;
/// Ports `wan` keeps for itself: the status page.
pub const RESERVED_PORTS: [u16; 1] = [super::http::server::PORT];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub wan_port: u16,
    pub guest: Ipv4Address,
    pub guest_port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardError {
    /// Port 0.
    BadPort,
    /// A port Keel serves itself (80).
    Reserved,
    /// The wan port is forwarded already.
    InUse,
    /// The address is not a guest's on `br0` (not in its subnet, or Keel's own).
    NotGuest,
    /// [`MAX_FORWARDS`] forwards exist.
    Full,
    /// No forward on that port.
    NotFound,
}

impl ForwardError {
    pub fn message(self) -> &'static str {
        match self {
            ForwardError::BadPort => "port 0 cannot be forwarded",
            ForwardError::Reserved => "the port is Keel's own (the status page)",
            ForwardError::InUse => "the port is forwarded already",
            ForwardError::NotGuest => "not a guest address on br0",
            ForwardError::Full => "too many forwards",
            ForwardError::NotFound => "no forward on that port",
        }
    }
}

/// The forwards, by wan port.
pub struct ForwardTable {
    guests: Ipv4Cidr,
    entries: BTreeMap<u16, Forward>,
    /// Bumped by every change, so the network task knows to look.
    pub version: u64,
}

impl ForwardTable {
    /// Forwards to guests in `guests` (br0's subnet; its own address is refused).
    pub const fn new(guests: Ipv4Cidr) -> Self {
        Self { guests, entries: BTreeMap::new(), version: 0 }
    }

    pub fn add(&mut self, forward: Forward) -> Result<(), ForwardError> {
        if forward.wan_port == 0 || forward.guest_port == 0 {
            return Err(ForwardError::BadPort);
        }
        if RESERVED_PORTS.contains(&forward.wan_port) {
            return Err(ForwardError::Reserved);
        }
        let network = self.guests.network();
        let broadcast = self.guests.broadcast();
        if !network.contains_addr(&forward.guest)
            || forward.guest == self.guests.address()
            || forward.guest == network.address()
            || Some(forward.guest) == broadcast
        {
            return Err(ForwardError::NotGuest);
        }
        if self.entries.contains_key(&forward.wan_port) {
            return Err(ForwardError::InUse);
        }
        if self.entries.len() >= MAX_FORWARDS {
            return Err(ForwardError::Full);
        }
        self.entries.insert(forward.wan_port, forward);
        self.version += 1;
        Ok(())
    }

    pub fn remove(&mut self, wan_port: u16) -> Result<Forward, ForwardError> {
        let forward = self.entries.remove(&wan_port).ok_or(ForwardError::NotFound)?;
        self.version += 1;
        Ok(forward)
    }

    pub fn list(&self) -> Vec<Forward> {
        self.entries.values().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ForwardTable {
        ForwardTable::new(Ipv4Cidr::new(Ipv4Address::new(10, 0, 3, 1), 24))
    }

    fn fwd(wan_port: u16, host: u8, guest_port: u16) -> Forward {
        Forward { wan_port, guest: Ipv4Address::new(10, 0, 3, host), guest_port }
    }

    #[test]
    fn add_list_remove() {
        let mut t = table();
        assert_eq!(t.add(fwd(8081, 100, 80)), Ok(()));
        assert_eq!(t.add(fwd(2222, 101, 22)), Ok(()));
        assert_eq!(t.list(), [fwd(2222, 101, 22), fwd(8081, 100, 80)]);
        assert_eq!(t.version, 2);
        assert_eq!(t.remove(8081), Ok(fwd(8081, 100, 80)));
        assert_eq!(t.remove(8081), Err(ForwardError::NotFound));
        assert_eq!(t.version, 3, "a failed change changes nothing");
    }

    #[test]
    fn refusals_change_nothing() {
        let mut t = table();
        t.add(fwd(8081, 100, 80)).unwrap();
        let version = t.version;
        assert_eq!(t.add(fwd(8081, 102, 80)), Err(ForwardError::InUse));
        assert_eq!(t.add(fwd(80, 100, 80)), Err(ForwardError::Reserved));
        assert_eq!(t.add(fwd(0, 100, 80)), Err(ForwardError::BadPort));
        assert_eq!(t.add(fwd(81, 100, 0)), Err(ForwardError::BadPort));
        assert_eq!(t.add(fwd(81, 1, 80)), Err(ForwardError::NotGuest), "Keel itself");
        assert_eq!(t.add(fwd(81, 0, 80)), Err(ForwardError::NotGuest));
        assert_eq!(t.add(fwd(81, 255, 80)), Err(ForwardError::NotGuest));
        let outside = Forward { wan_port: 81, guest: Ipv4Address::new(10, 0, 2, 2), guest_port: 80 };
        assert_eq!(t.add(outside), Err(ForwardError::NotGuest));
        assert_eq!(t.version, version);
        assert_eq!(t.list().len(), 1);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = table();
        for port in 0..MAX_FORWARDS as u16 {
            t.add(fwd(9000 + port, 100, 80)).unwrap();
        }
        assert_eq!(t.add(fwd(1, 100, 80)), Err(ForwardError::Full));
    }
}
