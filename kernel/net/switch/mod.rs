//! The Keel L2 switch: MAC learning with aging, flooding, per-port counters, bounded queues.
//!
//! Pure logic, tested on the host. A port is the host's `br0` interface or a guest's NIC.
//! [`Switch::input`] takes a frame a port sent, learns its source MAC and queues it for the
//! port its destination was learned on, or for every other port (broadcast, multicast,
//! unknown unicast). Each port's queue is bounded in frames and bytes, the MAC table in
//! entries and the switch in ports, so a flooding guest costs drops, never host memory.
//! A port's own MAC (given when it is attached) is pinned to it: another port sending with
//! that source address is dropped, not learned.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::task::Waker;

/// An Ethernet address.
pub type Mac = [u8; 6];

/// Largest frame without FCS (1500 bytes of payload + the 14-byte header).
pub const MAX_FRAME: usize = 1514;
/// Smallest frame: an Ethernet header.
pub const MIN_FRAME: usize = 14;
/// Frames one port's queue holds, and bytes.
pub const QUEUE_FRAMES: usize = 256;
pub const QUEUE_BYTES: usize = 256 * 1024;
/// Most ports, and most learned addresses.
pub const MAX_PORTS: usize = 64;
pub const MAX_MACS: usize = 1024;
/// A learned address is forgotten after this long without a frame from it.
pub const MAC_AGING_NS: u64 = 300_000_000_000;

pub const BROADCAST: Mac = [0xff; 6];

/// A port, as long as it is attached (ids are never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub u32);

/// What went through a port. `rx`: frames the port sent into the switch; `tx`: frames the
/// switch delivered to the port's queue. Drops: `rx_drops` are frames from the port that
/// were refused (malformed, too big or small, a stolen source address); `tx_drops` frames
/// for the port that its full queue could not take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_drops: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_drops: u64,
}

/// A port as the status reports show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub id: PortId,
    pub name: String,
    pub mac: Option<Mac>,
    pub counters: PortCounters,
    pub queued: usize,
    /// Addresses learned on it.
    pub learned: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchError {
    /// [`MAX_PORTS`] ports are attached.
    Full,
    /// Another port has this name or pinned this MAC.
    InUse,
}

struct Port {
    name: String,
    mac: Option<Mac>,
    queue: VecDeque<Vec<u8>>,
    queued_bytes: usize,
    counters: PortCounters,
    waker: Option<Waker>,
}

#[derive(Clone, Copy)]
struct MacEntry {
    port: PortId,
    last_seen_ns: u64,
    /// A port's own address: never aged, moved or evicted.
    pinned: bool,
}

/// The switch.
pub struct Switch {
    ports: BTreeMap<PortId, Port>,
    macs: BTreeMap<Mac, MacEntry>,
    next_id: u32,
}

impl Default for Switch {
    fn default() -> Self {
        Self::new()
    }
}

fn is_multicast(mac: &Mac) -> bool {
    mac[0] & 1 != 0
}

impl Switch {
    pub const fn new() -> Self {
        Self { ports: BTreeMap::new(), macs: BTreeMap::new(), next_id: 1 }
    }

    /// Attaches a port named `name`; `mac`, if given, is pinned to it.
    pub fn add_port(&mut self, name: &str, mac: Option<Mac>) -> Result<PortId, SwitchError> {
        if self.ports.len() >= MAX_PORTS {
            return Err(SwitchError::Full);
        }
        if self.ports.values().any(|port| port.name == name) {
            return Err(SwitchError::InUse);
        }
        if let Some(mac) = mac {
            if is_multicast(&mac) || self.macs.get(&mac).is_some_and(|entry| entry.pinned) {
                return Err(SwitchError::InUse);
            }
        }
        let id = PortId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1).max(1);
        if let Some(mac) = mac {
            if self.macs.len() >= MAX_MACS && !self.macs.contains_key(&mac) {
                self.evict_one(u64::MAX);
            }
            self.macs.insert(mac, MacEntry { port: id, last_seen_ns: 0, pinned: true });
        }
        let port = Port {
            name: String::from(name),
            mac,
            queue: VecDeque::new(),
            queued_bytes: 0,
            counters: PortCounters::default(),
            waker: None,
        };
        self.ports.insert(id, port);
        Ok(id)
    }

    /// Detaches a port: its queue and learned addresses go. Returns its last counters.
    pub fn remove_port(&mut self, id: PortId) -> Option<PortCounters> {
        let port = self.ports.remove(&id)?;
        self.macs.retain(|_, entry| entry.port != id);
        if let Some(waker) = port.waker {
            waker.wake();
        }
        Some(port.counters)
    }

    /// Whether `id` is attached.
    pub fn has_port(&self, id: PortId) -> bool {
        self.ports.contains_key(&id)
    }

    /// A frame sent by port `from` at `now_ns`. Wakers of ports that got a frame are
    /// pushed to `wake` (wake them once the switch's lock is released).
    pub fn input(&mut self, from: PortId, frame: &[u8], now_ns: u64, wake: &mut Vec<Waker>) {
        let Some(source) = self.ports.get_mut(&from) else { return };
        if !(MIN_FRAME..=MAX_FRAME).contains(&frame.len()) {
            source.counters.rx_drops += 1;
            return;
        }
        let mut destination = [0u8; 6];
        let mut src = [0u8; 6];
        destination.copy_from_slice(&frame[..6]);
        src.copy_from_slice(&frame[6..12]);
        if is_multicast(&src) || self.macs.get(&src).is_some_and(|entry| entry.pinned && entry.port != from) {
            source.counters.rx_drops += 1;
            return;
        }
        source.counters.rx_packets += 1;
        source.counters.rx_bytes += frame.len() as u64;
        self.learn(src, from, now_ns);
        let known = if is_multicast(&destination) {
            None
        } else {
            self.macs.get(&destination).filter(|entry| entry.pinned || !expired(entry, now_ns)).map(|entry| entry.port)
        };
        match known {
            Some(port) if port == from => {}
            Some(port) => self.deliver(port, frame, wake),
            None => {
                let others: Vec<PortId> = self.ports.keys().copied().filter(|&id| id != from).collect();
                for port in others {
                    self.deliver(port, frame, wake);
                }
            }
        }
    }

    fn learn(&mut self, mac: Mac, port: PortId, now_ns: u64) {
        if let Some(entry) = self.macs.get_mut(&mac) {
            if !entry.pinned {
                entry.port = port;
                entry.last_seen_ns = now_ns;
            }
            return;
        }
        if self.macs.len() >= MAX_MACS && !self.evict_one(now_ns) {
            return; // full of live addresses: this one is flooded to until room comes
        }
        self.macs.insert(mac, MacEntry { port, last_seen_ns: now_ns, pinned: false });
    }

    /// Forgets expired addresses, or else the oldest learned one; false if all are pinned.
    fn evict_one(&mut self, now_ns: u64) -> bool {
        let before = self.macs.len();
        self.macs.retain(|_, entry| entry.pinned || !expired(entry, now_ns));
        if self.macs.len() < before {
            return true;
        }
        let oldest = self.macs.iter().filter(|(_, e)| !e.pinned).min_by_key(|(_, e)| e.last_seen_ns).map(|(m, _)| *m);
        match oldest {
            Some(mac) => {
                self.macs.remove(&mac);
                true
            }
            None => false,
        }
    }

    fn deliver(&mut self, to: PortId, frame: &[u8], wake: &mut Vec<Waker>) {
        let Some(port) = self.ports.get_mut(&to) else { return };
        if port.queue.len() >= QUEUE_FRAMES || port.queued_bytes + frame.len() > QUEUE_BYTES {
            port.counters.tx_drops += 1;
            return;
        }
        port.queue.push_back(frame.to_vec());
        port.queued_bytes += frame.len();
        port.counters.tx_packets += 1;
        port.counters.tx_bytes += frame.len() as u64;
        if let Some(waker) = port.waker.take() {
            wake.push(waker);
        }
    }

    /// The next frame queued for `port`.
    pub fn pop(&mut self, port: PortId) -> Option<Vec<u8>> {
        let port = self.ports.get_mut(&port)?;
        let frame = port.queue.pop_front()?;
        port.queued_bytes -= frame.len();
        Some(frame)
    }

    /// Whether `port` has frames queued.
    pub fn has_frames(&self, port: PortId) -> bool {
        self.ports.get(&port).is_some_and(|port| !port.queue.is_empty())
    }

    /// `waker` is woken at the next frame queued for `port` (or when it is removed).
    pub fn set_waker(&mut self, port: PortId, waker: &Waker) {
        if let Some(port) = self.ports.get_mut(&port) {
            match &port.waker {
                Some(old) if old.will_wake(waker) => {}
                _ => port.waker = Some(waker.clone()),
            }
        }
    }

    /// The port an address was learned on (or is pinned to), if it is still fresh.
    pub fn lookup(&self, mac: &Mac, now_ns: u64) -> Option<PortId> {
        self.macs.get(mac).filter(|entry| entry.pinned || !expired(entry, now_ns)).map(|entry| entry.port)
    }

    /// Forgets the learned addresses not seen for [`MAC_AGING_NS`].
    pub fn age(&mut self, now_ns: u64) {
        self.macs.retain(|_, entry| entry.pinned || !expired(entry, now_ns));
    }

    pub fn learned(&self) -> usize {
        self.macs.len()
    }

    /// Every port, in the order they were attached.
    pub fn ports(&self) -> Vec<PortInfo> {
        self.ports
            .iter()
            .map(|(&id, port)| PortInfo {
                id,
                name: port.name.clone(),
                mac: port.mac,
                counters: port.counters,
                queued: port.queue.len(),
                learned: self.macs.values().filter(|entry| entry.port == id).count(),
            })
            .collect()
    }

    /// One port's counters.
    pub fn counters(&self, port: PortId) -> Option<PortCounters> {
        self.ports.get(&port).map(|port| port.counters)
    }
}

fn expired(entry: &MacEntry, now_ns: u64) -> bool {
    !entry.pinned && now_ns.saturating_sub(entry.last_seen_ns) >= MAC_AGING_NS
}

/// `52:54:00:12:34:56`.
pub fn format_mac(mac: &Mac) -> String {
    alloc::format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    )
}

/// A locally administered unicast MAC derived from a name (FNV-1a), stable across boots:
/// `52:54:xx:xx:xx:xx` is QEMU's prefix; Keel uses `02:4b` ("K") and four hash bytes.
pub fn mac_for_name(name: &str) -> Mac {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let bytes = hash.to_be_bytes();
    [0x02, 0x4b, bytes[0], bytes[1], bytes[2], bytes[3]]
}

#[cfg(test)]
mod tests;
