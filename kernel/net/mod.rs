//! The network: the host NIC and `wan` (DHCP from QEMU's user network), the guest switch
//! and `br0` (10.0.3.1/24), and the host services — DHCP for guests, the status page over
//! HTTP, port forwards, ping, and a discard sink for benchmarks. See `docs/network.md`.

pub mod dhcpd;
pub mod discard;
pub mod forward;
pub mod http;
pub mod link;
pub mod ping;
pub mod status;
pub mod switch;

#[cfg(target_os = "none")]
pub mod bridge;
#[cfg(target_os = "none")]
pub mod control;
#[cfg(target_os = "none")]
pub mod guest;
#[cfg(target_os = "none")]
mod stack;

use smoltcp::wire::Ipv4Address;

/// `br0`: Keel's address on the guest network, its prefix, and the DHCP pool's hosts.
pub const BR0_ADDRESS: Ipv4Address = Ipv4Address::new(10, 0, 3, 1);
pub const BR0_PREFIX: u8 = 24;
pub const POOL_FIRST: u8 = 100;
pub const POOL_LAST: u8 = 199;

#[cfg(target_os = "none")]
static WAN_NIC: crate::sync::IrqSpinlock<Option<crate::virtio::net::Nic>> = crate::sync::IrqSpinlock::new(None);

/// The virtio-net driver found the host NIC (before [`start`]).
#[cfg(target_os = "none")]
pub fn set_wan_nic(nic: crate::virtio::net::Nic) {
    *WAN_NIC.lock() = Some(nic);
}

/// A seed for smoltcp (TCP sequence numbers, ports, DHCP transaction ids): the loader's
/// `/chosen/rng-seed` (QEMU fills it from the machine's entropy), mixed with the counter.
pub fn seed(rng_seed: Option<&[u8]>, counter: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    };
    for &byte in rng_seed.unwrap_or_default() {
        mix(byte);
    }
    for byte in counter.to_le_bytes() {
        mix(byte);
    }
    hash
}

/// Starts the network task: br0 always, wan when a NIC was found.
#[cfg(target_os = "none")]
pub fn start(platform: &keel_drivers::platform::Platform<'_>) {
    if platform.rng_seed.is_none() {
        log::warn!("net: no /chosen/rng-seed; smoltcp is seeded from the counter only");
    }
    let seed = seed(platform.rng_seed, crate::arch::timer::counter());
    let nic = WAN_NIC.lock().take();
    if nic.is_none() {
        log::info!("net: no NIC; only br0");
    }
    stack::start(nic, seed);
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_depend_on_the_loader_bytes_and_the_counter() {
        let a = super::seed(Some(&[1, 2, 3]), 5);
        assert_ne!(a, super::seed(Some(&[1, 2, 4]), 5));
        assert_ne!(a, super::seed(Some(&[1, 2, 3]), 6));
        assert_eq!(a, super::seed(Some(&[1, 2, 3]), 5));
    }
}
