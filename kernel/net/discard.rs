//! The discard service (RFC 863, TCP port 9): reads and drops whatever a client sends, and
//! logs at level info how many bytes came and how fast, from the first byte to the
//! client's close. It is the receiving end of `scripts/bench net` (guest → host). A few
//! connections at a time; one that sends nothing for [`IDLE_TIMEOUT_NS`] is aborted.

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{Socket, SocketBuffer, State};

pub const PORT: u16 = 9;
/// Connections served at once on one interface.
pub const CONNECTIONS: usize = 2;
pub const IDLE_TIMEOUT_NS: u64 = 10_000_000_000;
/// The receive window: large enough that the sender is not held back by it under TCG.
const RX_BUFFER: usize = 64 * 1024;

/// What one connection delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transfer {
    pub bytes: u64,
    first_ns: Option<u64>,
    last_ns: u64,
}

impl Transfer {
    /// `bytes` more arrived at `now_ns`.
    pub fn add(&mut self, bytes: usize, now_ns: u64) {
        if bytes == 0 {
            return;
        }
        self.first_ns.get_or_insert(now_ns);
        self.bytes += bytes as u64;
        self.last_ns = now_ns;
    }

    /// Nanoseconds from the first byte to the last.
    pub fn span_ns(&self) -> u64 {
        self.first_ns.map_or(0, |first| self.last_ns.saturating_sub(first))
    }

    /// The log line for a finished transfer: `discard: N bytes in T ms (R MB/s)` (R is
    /// left out for a span too short to measure).
    pub fn summary(&self) -> alloc::string::String {
        let span_ns = self.span_ns();
        let ms = span_ns / 1_000_000;
        if span_ns < 1_000_000 {
            return alloc::format!("discard: {} bytes in {ms} ms", self.bytes);
        }
        // MB/s with two decimals, in integers: bytes * 1000 / ns = MB/s.
        let centi = u128::from(self.bytes) * 100_000 / u128::from(span_ns);
        alloc::format!("discard: {} bytes in {ms} ms ({}.{:02} MB/s)", self.bytes, centi / 100, centi % 100)
    }
}

struct Connection {
    handle: SocketHandle,
    transfer: Transfer,
    /// When the connection last received (or was accepted).
    active_ns: Option<u64>,
}

/// The discard service of one interface.
pub struct DiscardServer {
    connections: alloc::vec::Vec<Connection>,
}

impl DiscardServer {
    /// Adds the listening sockets to `sockets`.
    pub fn new(sockets: &mut SocketSet<'static>) -> Self {
        let connections = (0..CONNECTIONS)
            .map(|_| {
                let mut socket = Socket::new(SocketBuffer::new(alloc::vec![0; RX_BUFFER]), SocketBuffer::new(alloc::vec![0; 64]));
                let _ = socket.listen(PORT);
                Connection { handle: sockets.add(socket), transfer: Transfer::default(), active_ns: None }
            })
            .collect();
        Self { connections }
    }

    /// Drains what the sockets have; returns whether anything happened.
    pub fn poll(&mut self, sockets: &mut SocketSet<'static>, now_ns: u64) -> bool {
        let mut progress = false;
        for connection in &mut self.connections {
            let socket = sockets.get_mut::<Socket>(connection.handle);
            match socket.state() {
                State::Listen | State::SynReceived => continue,
                State::Closed | State::TimeWait => {
                    socket.abort();
                    let _ = socket.listen(PORT);
                    connection.transfer = Transfer::default();
                    connection.active_ns = None;
                    progress = true;
                    continue;
                }
                _ => {}
            }
            let transfer = &mut connection.transfer;
            while socket.can_recv() {
                match socket.recv(|bytes| (bytes.len(), bytes.len())) {
                    Ok(0) | Err(_) => break,
                    Ok(taken) => {
                        transfer.add(taken, now_ns);
                        connection.active_ns = Some(now_ns);
                        progress = true;
                    }
                }
            }
            let active = *connection.active_ns.get_or_insert(now_ns);
            if !socket.may_recv() && socket.state() == State::CloseWait {
                match socket.remote_endpoint() {
                    Some(peer) => log::info!("{} from {peer}", transfer.summary()),
                    None => log::info!("{}", transfer.summary()),
                }
                socket.close();
                progress = true;
            } else if now_ns.saturating_sub(active) > IDLE_TIMEOUT_NS {
                log::debug!("discard: idle connection aborted after {} bytes", transfer.bytes);
                socket.abort();
                progress = true;
            }
        }
        progress
    }
}

#[cfg(test)]
mod tests {
    use super::Transfer;

    #[test]
    fn a_transfer_is_timed_from_its_first_byte_to_its_last() {
        let mut transfer = Transfer::default();
        transfer.add(0, 5);
        assert_eq!(transfer.span_ns(), 0);
        transfer.add(1000, 1_000_000_000);
        transfer.add(999_000, 1_500_000_000);
        assert_eq!(transfer.bytes, 1_000_000);
        assert_eq!(transfer.span_ns(), 500_000_000);
        assert_eq!(transfer.summary(), "discard: 1000000 bytes in 500 ms (2.00 MB/s)");
    }

    #[test]
    fn a_transfer_too_short_to_time_has_no_rate() {
        let mut transfer = Transfer::default();
        transfer.add(10, 7);
        assert_eq!(transfer.summary(), "discard: 10 bytes in 0 ms");
    }
}
