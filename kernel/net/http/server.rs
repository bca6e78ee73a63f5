//! The status page's connections: a fixed set of listening smoltcp sockets per interface
//! (the concurrency limit), each read into a bounded head buffer, answered once and
//! closed. A connection whose head has not arrived within [`HEAD_TIMEOUT_NS`], or that is
//! still open after [`LIFETIME_NS`], is aborted, so slow clients cannot hold the slots.

use super::request::{self, Method, Parsed, Request, MAX_HEAD};
use alloc::vec::Vec;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{Socket, SocketBuffer, State};

pub const PORT: u16 = 80;
/// Connections served at once on one interface.
pub const CONNECTIONS: usize = 4;
pub const HEAD_TIMEOUT_NS: u64 = 5_000_000_000;
pub const LIFETIME_NS: u64 = 30_000_000_000;
const RX_BUFFER: usize = 2048;
const TX_BUFFER: usize = 16 * 1024;

/// What a page handler returns: status code, content type, body.
pub type Page = (u16, &'static str, Vec<u8>);

struct Connection {
    handle: SocketHandle,
    opened_ns: Option<u64>,
    head: Vec<u8>,
    reply: Option<Vec<u8>>,
    sent: usize,
    closing: bool,
}

impl Connection {
    fn clear(&mut self) {
        self.opened_ns = None;
        self.head.clear();
        self.reply = None;
        self.sent = 0;
        self.closing = false;
    }
}

/// The HTTP server of one interface.
pub struct HttpServer {
    connections: Vec<Connection>,
    /// Requests answered, and connections aborted (timeouts).
    pub served: u64,
    pub aborted: u64,
}

impl HttpServer {
    /// Adds the listening sockets to `sockets`.
    pub fn new(sockets: &mut SocketSet<'static>) -> Self {
        let connections = (0..CONNECTIONS)
            .map(|_| {
                let mut socket = Socket::new(
                    SocketBuffer::new(alloc::vec![0; RX_BUFFER]),
                    SocketBuffer::new(alloc::vec![0; TX_BUFFER]),
                );
                let _ = socket.listen(PORT);
                Connection {
                    handle: sockets.add(socket),
                    opened_ns: None,
                    head: Vec::new(),
                    reply: None,
                    sent: 0,
                    closing: false,
                }
            })
            .collect();
        Self { connections, served: 0, aborted: 0 }
    }

    /// Whether a connection has bytes of a request to read (a page may be needed).
    pub fn pending(&self, sockets: &SocketSet<'static>) -> bool {
        self.connections.iter().any(|c| c.reply.is_none() && sockets.get::<Socket>(c.handle).can_recv())
    }

    /// Serves what the sockets have; `page` answers a parsed request. Returns whether
    /// anything happened.
    pub fn poll(&mut self, sockets: &mut SocketSet<'static>, now_ns: u64, page: &mut dyn FnMut(&Request) -> Page) -> bool {
        let mut progress = false;
        for connection in &mut self.connections {
            let socket = sockets.get_mut::<Socket>(connection.handle);
            match socket.state() {
                State::Listen | State::SynReceived => continue,
                State::Closed | State::TimeWait => {
                    socket.abort();
                    let _ = socket.listen(PORT);
                    connection.clear();
                    progress = true;
                    continue;
                }
                _ => {}
            }
            let opened = *connection.opened_ns.get_or_insert(now_ns);
            let age = now_ns.saturating_sub(opened);
            if age > LIFETIME_NS || (connection.reply.is_none() && age > HEAD_TIMEOUT_NS) {
                log::debug!("http: connection aborted after {} ms", age / 1_000_000);
                socket.abort();
                self.aborted += 1;
                progress = true;
                continue;
            }
            if connection.reply.is_none() && socket.can_recv() {
                let head = &mut connection.head;
                let _ = socket.recv(|bytes| {
                    let take = bytes.len().min(MAX_HEAD - head.len().min(MAX_HEAD));
                    head.extend_from_slice(&bytes[..take]);
                    (take, ())
                });
                progress = true;
                let reply = match request::parse(&connection.head) {
                    Parsed::Incomplete if connection.head.len() >= MAX_HEAD => Some(error(431)),
                    Parsed::Incomplete => None,
                    Parsed::Done(request) => {
                        let (code, content_type, body) = page(&request);
                        log::info!("http: {code} {:?} {}", request.method, request.path);
                        Some(request::response(code, content_type, &body, request.method == Method::Head))
                    }
                    Parsed::Refused(code) => {
                        log::info!("http: {code} refused");
                        Some(error(code))
                    }
                };
                if reply.is_some() {
                    self.served += 1;
                }
                connection.reply = reply;
            }
            if connection.reply.is_none() && !socket.may_recv() {
                // The client closed without a whole request.
                socket.close();
                connection.reply = Some(Vec::new());
            }
            if let Some(reply) = &connection.reply {
                if connection.sent < reply.len() && socket.can_send() {
                    if let Ok(sent) = socket.send_slice(&reply[connection.sent..]) {
                        connection.sent += sent;
                        progress |= sent > 0;
                    }
                }
                if connection.sent == reply.len() && !connection.closing {
                    socket.close();
                    connection.closing = true;
                    progress = true;
                }
            }
        }
        progress
    }
}

fn error(code: u16) -> Vec<u8> {
    let body = alloc::format!("{code} {}\n", request::reason(code));
    request::response(code, "text/plain; charset=utf-8", body.as_bytes(), false)
}
