//! The status page over HTTP on port 80 of `wan` and `br0`: request parsing and the
//! connection handling over smoltcp sockets.

pub mod request;
pub mod server;
