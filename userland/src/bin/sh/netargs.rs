//! Arguments of `net` and `ping`: parsed and checked before anything is asked of the kernel.

use alloc::format;
use alloc::string::String;

#[cfg_attr(test, allow(dead_code, reason = "used by the shell, not by the argument tests"))]
pub const NET_USAGE: &str = "\
usage: net                                     interfaces, switch ports, forwards, leases
       net forward add WANPORT GUESTIP:PORT    forward wan port WANPORT to a guest
       net forward del WANPORT                 remove that forward
       net forward list                        the forwards
";

pub const PING_USAGE: &str = "usage: ping HOST [COUNT]   (HOST: an IPv4 address; COUNT 1..=100, default 4)";

/// Most echo requests one `ping` sends.
pub const MAX_COUNT: u32 = 100;

#[derive(Debug, PartialEq, Eq)]
pub enum NetCommand {
    Show,
    Help,
    ForwardList,
    ForwardAdd { wan_port: u16, guest: [u8; 4], guest_port: u16 },
    ForwardDel { wan_port: u16 },
}

/// An IPv4 address in dotted decimal.
pub fn parse_ipv4(text: &str) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then_some(octets)
}

/// A TCP port, 1..=65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port != 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(format!("`{text}` is not a port (1 to 65535)")),
    }
}

pub fn parse_net(args: &[String]) -> Result<NetCommand, String> {
    let words: alloc::vec::Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] => Ok(NetCommand::Show),
        ["help"] | ["-h"] | ["--help"] => Ok(NetCommand::Help),
        ["forward"] | ["forward", "list"] => Ok(NetCommand::ForwardList),
        ["forward", "add", wan, to] => {
            let wan_port = parse_port(wan)?;
            let (ip, port) = to.rsplit_once(':').ok_or_else(|| format!("`{to}` is not GUESTIP:PORT"))?;
            let guest = parse_ipv4(ip).ok_or_else(|| format!("`{ip}` is not an IPv4 address"))?;
            Ok(NetCommand::ForwardAdd { wan_port, guest, guest_port: parse_port(port)? })
        }
        ["forward", "add", ..] => Err(String::from("usage: net forward add WANPORT GUESTIP:PORT")),
        ["forward", "del", wan] => Ok(NetCommand::ForwardDel { wan_port: parse_port(wan)? }),
        ["forward", "del", ..] => Err(String::from("usage: net forward del WANPORT")),
        ["forward", other, ..] => Err(format!("unknown forward command `{other}` (add, del, list)")),
        [other, ..] => Err(format!("unknown command `{other}` (net help)")),
    }
}

/// `ping HOST [COUNT]`: the address and the count.
pub fn parse_ping(args: &[String]) -> Result<([u8; 4], u32), String> {
    let (host, count) = match args {
        [host] => (host, 4),
        [host, count] => match count.parse::<u32>() {
            Ok(n) if (1..=MAX_COUNT).contains(&n) => (host, n),
            _ => return Err(format!("`{count}` is not a count (1 to {MAX_COUNT})")),
        },
        _ => return Err(String::from(PING_USAGE)),
    };
    let ip = parse_ipv4(host).ok_or_else(|| format!("`{host}` is not an IPv4 address (no names: Keel has no DNS)"))?;
    Ok((ip, count))
}

/// The summary `ping` ends with.
pub fn ping_summary(host: &str, sent: u32, rtts_us: &[u64]) -> String {
    let received = rtts_us.len() as u32;
    let loss = ((sent - received) * 100).checked_div(sent).unwrap_or(0);
    let mut out = format!(
        "--- {host} ping statistics ---\n{sent} packets transmitted, {received} received, {loss}% packet loss\n"
    );
    if let (Some(min), Some(max)) = (rtts_us.iter().min(), rtts_us.iter().max()) {
        let avg = rtts_us.iter().sum::<u64>() / u64::from(received.max(1));
        out.push_str(&format!("round-trip min/avg/max = {}/{}/{} ms\n", ms(*min), ms(avg), ms(*max)));
    }
    out
}

/// Microseconds as milliseconds with three decimals.
pub fn ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn net_commands() {
        assert_eq!(parse_net(&words("")), Ok(NetCommand::Show));
        assert_eq!(parse_net(&words("forward list")), Ok(NetCommand::ForwardList));
        assert_eq!(
            parse_net(&words("forward add 8081 10.0.3.100:80")),
            Ok(NetCommand::ForwardAdd { wan_port: 8081, guest: [10, 0, 3, 100], guest_port: 80 })
        );
        assert_eq!(parse_net(&words("forward del 8081")), Ok(NetCommand::ForwardDel { wan_port: 8081 }));
        for (text, needle) in [
            ("forward add 0 10.0.3.100:80", "not a port"),
            ("forward add 8081 10.0.3.100", "not GUESTIP:PORT"),
            ("forward add 8081 10.0.3.300:80", "not an IPv4"),
            ("forward add 8081 10.0.3.100:99999", "not a port"),
            ("forward add 8081", "usage"),
            ("forward del x", "not a port"),
            ("forward move", "unknown forward command"),
            ("frobnicate", "unknown command"),
        ] {
            let error = parse_net(&words(text)).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_ipv4("10.0.2.2"), Some([10, 0, 2, 2]));
        for bad in ["10.0.2", "10.0.2.2.1", "256.0.0.1", "a.b.c.d", "10..2.2", "+1.0.0.1", "1.0.0.0001", ""] {
            assert_eq!(parse_ipv4(bad), None, "{bad}");
        }
    }

    #[test]
    fn ping_arguments_and_summary() {
        assert_eq!(parse_ping(&words("10.0.2.2")), Ok(([10, 0, 2, 2], 4)));
        assert_eq!(parse_ping(&words("10.0.2.2 3")), Ok(([10, 0, 2, 2], 3)));
        assert!(parse_ping(&words("10.0.2.2 0")).unwrap_err().contains("not a count"));
        assert!(parse_ping(&words("example.com")).unwrap_err().contains("no DNS"));
        assert!(parse_ping(&words("")).unwrap_err().contains("usage"));
        let summary = ping_summary("10.0.2.2", 3, &[1500, 500, 1000]);
        assert!(summary.contains("3 packets transmitted, 3 received, 0% packet loss"), "{summary}");
        assert!(summary.contains("round-trip min/avg/max = 0.500/1.000/1.500 ms"), "{summary}");
        assert!(ping_summary("x", 4, &[]).contains("4 packets transmitted, 0 received, 100% packet loss"));
    }
}
