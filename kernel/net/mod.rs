//! The network: the host NIC and `wan`, the guest switch and `br0`, and the host services.

pub mod switch;
pub mod dhcpd;
pub mod link;
pub mod http;
pub mod status;
pub mod forward;
