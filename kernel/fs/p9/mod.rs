//! The 9P2000.L client: message codec, protocol client and the mounted file system, all
//! independent of the transport (virtio-9p in the kernel, a fake server in the tests).

pub mod client;
pub mod codec;
pub mod fs;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
