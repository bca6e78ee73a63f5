//! The connections of the port forwards: a `wan` socket accepted on the forwarded port is
//! spliced to a `br0` socket connected to the guest. Both directions are copied through
//! the sockets' own bounded buffers (a slow side closes the other's window); a FIN on one
//! side is passed on as a close once its data is through; a refused or failed side aborts
//! the other; both sockets are dropped when both are closed.

use super::{Forward, ForwardTable};
use alloc::vec::Vec;
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{Socket, SocketBuffer, State};
use smoltcp::time::Duration;
use smoltcp::wire::IpEndpoint;

/// Listening sockets kept per forward, and connections carried at once.
const LISTENERS: usize = 2;
const MAX_ACTIVE: usize = 8;
const BUFFER: usize = 16 * 1024;
/// A guest that does not answer the connection within this long gets it aborted.
const CONNECT_TIMEOUT_NS: u64 = 10_000_000_000;
/// Data unacknowledged this long ends a connection (smoltcp's socket timeout).
const SOCKET_TIMEOUT: Duration = Duration::from_secs(60);
/// Local ports for the guest side.
const EPHEMERAL: core::ops::RangeInclusive<u16> = 49152..=65535;

fn socket() -> Socket<'static> {
    let mut socket = Socket::new(SocketBuffer::new(alloc::vec![0; BUFFER]), SocketBuffer::new(alloc::vec![0; BUFFER]));
    socket.set_timeout(Some(SOCKET_TIMEOUT));
    socket
}

struct Splice {
    wan: SocketHandle,
    guest: SocketHandle,
    started_ns: u64,
    connected: bool,
    wan_closed: bool,
    guest_closed: bool,
}

struct Active {
    forward: Forward,
    listeners: Vec<SocketHandle>,
    splices: Vec<Splice>,
    total: u64,
}

/// Every forward's sockets.
pub struct Splicer {
    version: Option<u64>,
    forwards: Vec<Active>,
    next_port: u16,
}

impl Default for Splicer {
    fn default() -> Self {
        Self::new()
    }
}

fn done(state: State) -> bool {
    matches!(state, State::Closed | State::TimeWait)
}

impl Splicer {
    pub const fn new() -> Self {
        Self { version: None, forwards: Vec::new(), next_port: *EPHEMERAL.start() }
    }

    /// Follows the table: listens for new forwards, drops removed ones (their
    /// connections are aborted).
    pub fn sync(&mut self, table: &ForwardTable, wan: &mut SocketSet<'static>, br0: &mut SocketSet<'static>) {
        if self.version == Some(table.version) {
            return;
        }
        self.version = Some(table.version);
        let wanted = table.list();
        let mut kept = Vec::new();
        for active in core::mem::take(&mut self.forwards) {
            if wanted.contains(&active.forward) {
                kept.push(active);
                continue;
            }
            for handle in active.listeners {
                wan.remove(handle);
            }
            for splice in active.splices {
                wan.get_mut::<Socket>(splice.wan).abort();
                br0.get_mut::<Socket>(splice.guest).abort();
                // Dropped at once: nothing more is sent for them (the RSTs went with abort
                // only if polled; the peers time out otherwise).
                wan.remove(splice.wan);
                br0.remove(splice.guest);
            }
        }
        for forward in wanted {
            if !kept.iter().any(|active| active.forward == forward) {
                kept.push(Active { forward, listeners: Vec::new(), splices: Vec::new(), total: 0 });
            }
        }
        self.forwards = kept;
        for active in &mut self.forwards {
            refill(active, wan);
        }
    }

    /// (forward, connections open, connections ever) for the status.
    pub fn stats(&self) -> Vec<(Forward, usize, u64)> {
        self.forwards.iter().map(|a| (a.forward, a.splices.len(), a.total)).collect()
    }

    fn ephemeral(&mut self) -> u16 {
        let port = self.next_port;
        self.next_port = if port >= *EPHEMERAL.end() { *EPHEMERAL.start() } else { port + 1 };
        port
    }

    /// Accepts, connects, copies and closes. Returns whether anything happened.
    pub fn poll(&mut self, wan: &mut SocketSet<'static>, br0_iface: &mut Interface, br0: &mut SocketSet<'static>, now_ns: u64) -> bool {
        let mut progress = false;
        for index in 0..self.forwards.len() {
            // Accepted connections: listeners that left the listening state.
            let mut accepted = Vec::new();
            self.forwards[index].listeners.retain(|&handle| {
                let state = wan.get::<Socket>(handle).state();
                if matches!(state, State::Listen | State::SynReceived) {
                    true
                } else {
                    accepted.push(handle);
                    false
                }
            });
            for handle in accepted {
                progress = true;
                let forward = self.forwards[index].forward;
                let mut guest = socket();
                let remote = IpEndpoint::new(forward.guest.into(), forward.guest_port);
                let local = self.ephemeral();
                if let Err(error) = guest.connect(br0_iface.context(), remote, local) {
                    log::warn!("forward {}: cannot connect to {remote}: {error}", forward.wan_port);
                    wan.get_mut::<Socket>(handle).abort();
                    wan.remove(handle);
                    continue;
                }
                log::info!("forward {}: connection to {remote}", forward.wan_port);
                let active = &mut self.forwards[index];
                active.total += 1;
                active.splices.push(Splice {
                    wan: handle,
                    guest: br0.add(guest),
                    started_ns: now_ns,
                    connected: false,
                    wan_closed: false,
                    guest_closed: false,
                });
            }
            let active = &mut self.forwards[index];
            active.splices.retain_mut(|splice| {
                let (keep, moved) = step(splice, wan, br0, now_ns);
                progress |= moved || !keep;
                if !keep {
                    wan.remove(splice.wan);
                    br0.remove(splice.guest);
                }
                keep
            });
            progress |= refill(active, wan);
        }
        progress
    }
}

/// Keeps `LISTENERS` sockets listening while fewer than `MAX_ACTIVE` connections are open.
fn refill(active: &mut Active, wan: &mut SocketSet<'static>) -> bool {
    let mut added = false;
    while active.listeners.len() < LISTENERS && active.listeners.len() + active.splices.len() < MAX_ACTIVE {
        let mut listener = socket();
        if let Err(error) = listener.listen(active.forward.wan_port) {
            log::warn!("forward {}: cannot listen: {error}", active.forward.wan_port);
            break;
        }
        active.listeners.push(wan.add(listener));
        added = true;
    }
    added
}

/// Moves what can move through one splice; returns (keep it, something happened).
fn step(splice: &mut Splice, wan: &mut SocketSet<'static>, br0: &mut SocketSet<'static>, now_ns: u64) -> (bool, bool) {
    let outside = wan.get_mut::<Socket>(splice.wan);
    let inside = br0.get_mut::<Socket>(splice.guest);
    let mut moved = false;
    if !splice.connected {
        if inside.may_send() {
            splice.connected = true;
            moved = true;
        } else if inside.state() == State::Closed || now_ns.saturating_sub(splice.started_ns) > CONNECT_TIMEOUT_NS {
            // Refused (RST), unreachable or silent: the outside connection is reset.
            inside.abort();
            outside.abort();
            return (false, true);
        } else if outside.state() == State::Closed {
            inside.abort();
            return (false, true);
        }
    }
    if splice.connected {
        moved |= copy(outside, inside);
        moved |= copy(inside, outside);
    }
    // A side whose peer closed and whose data is through: close the other side.
    if !splice.wan_closed && !outside.may_recv() && outside.recv_queue() == 0 && splice.connected {
        inside.close();
        splice.wan_closed = true;
        moved = true;
    }
    if !splice.guest_closed && splice.connected && !inside.may_recv() && inside.recv_queue() == 0 {
        outside.close();
        splice.guest_closed = true;
        moved = true;
    }
    // A reset on one side resets the other.
    if splice.connected && outside.state() == State::Closed && !done(inside.state()) && !splice.wan_closed {
        inside.abort();
    }
    if splice.connected && inside.state() == State::Closed && !done(outside.state()) && !splice.guest_closed {
        outside.abort();
    }
    let finished = done(outside.state()) && done(inside.state());
    (!finished, moved)
}

/// Copies what `from` received into `to`'s send buffer, as far as it has room.
fn copy(from: &mut Socket<'static>, to: &mut Socket<'static>) -> bool {
    if !from.can_recv() || !to.can_send() {
        return false;
    }
    from.recv(|bytes| {
        let sent = to.send_slice(bytes).unwrap_or(0);
        (sent, sent > 0)
    })
    .unwrap_or(false)
}
