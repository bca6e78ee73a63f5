//! Console lines with a guest kernel message spliced into them, put back together before
//! expectations are checked.
//!
//! A guest's kernel prints whenever it likes: `[    4.302453] IPv6: ... link becomes ready`
//! can land in the middle of the shell echoing a typed command, which then reads
//! `guest# head -c 256 /dev/hw[    4.302453] IPv6: ...` and, on the next line, `rng | wc -c`.
//! Such a line becomes two: the kernel message, then the interrupted text joined with its
//! continuation (`guest# head -c 256 /dev/hwrng | wc -c`).

use crate::runner::Timed;
use std::collections::VecDeque;

/// Where a kernel message's timestamp (`[` spaces, digits, `.`, six digits, `]`) starts in
/// `line` after its first byte, if it does.
fn spliced_message_at(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    (1..bytes.len()).find(|&start| bytes[start] == b'[' && is_timestamp(&bytes[start..]))
}

/// Whether `text` starts with a kernel timestamp such as `[    4.302453]`.
fn is_timestamp(text: &[u8]) -> bool {
    let Some(rest) = text.strip_prefix(b"[") else { return false };
    let rest = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
    let seconds = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let Some(rest) = rest[seconds..].strip_prefix(b".") else { return false };
    let micros = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    seconds > 0 && micros == 6 && rest.get(6) == Some(&b']')
}

/// The lines with every spliced kernel message moved to a line of its own, before the
/// interrupted line, which is joined with the line after it.
pub fn unsplice(lines: Vec<Timed>) -> Vec<Timed> {
    let mut pending: VecDeque<Timed> = lines.into();
    let mut out = Vec::with_capacity(pending.len());
    while let Some(line) = pending.pop_front() {
        match (spliced_message_at(&line.text), pending.pop_front()) {
            (Some(at), Some(next)) => {
                let (fragment, message) = line.text.split_at(at);
                out.push(Timed { at: line.at, text: message.to_string() });
                // The joined line may hold another message: look at it again.
                pending.push_front(Timed { at: next.at, text: format!("{fragment}{}", next.text) });
            }
            (_, next) => {
                out.push(line);
                if let Some(next) = next {
                    pending.push_front(next);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn timed(lines: &[&str]) -> Vec<Timed> {
        lines
            .iter()
            .enumerate()
            .map(|(i, text)| Timed { at: Duration::from_millis(i as u64), text: text.to_string() })
            .collect()
    }

    fn texts(lines: &[Timed]) -> Vec<&str> {
        lines.iter().map(|line| line.text.as_str()).collect()
    }

    #[test]
    fn a_message_inside_an_echoed_command_gets_its_own_line() {
        let lines = timed(&[
            "128+0 records out",
            "guest# \x1b[6nhead -c 256 /dev/hw[    4.302453] IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready",
            "rng | wc -c",
            "256",
        ]);
        let fixed = unsplice(lines);
        assert_eq!(
            texts(&fixed),
            [
                "128+0 records out",
                "[    4.302453] IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready",
                "guest# \x1b[6nhead -c 256 /dev/hwrng | wc -c",
                "256",
            ]
        );
        assert_eq!(fixed[2].at, Duration::from_millis(2));
    }

    #[test]
    fn two_messages_in_one_line_are_both_taken_out() {
        let lines = timed(&["ping -c[    5.000001] one", "[    5.000002] two", " 3 10.0.3.1"]);
        assert_eq!(unsplice(lines).len(), 3);
        let lines = timed(&["ping -c[    5.000001] one", " 3 10.0[   15.000002] two", ".3.1"]);
        assert_eq!(texts(&unsplice(lines)), ["[    5.000001] one", "[   15.000002] two", "ping -c 3 10.0.3.1"]);
    }

    #[test]
    fn lines_that_start_with_a_message_or_have_none_stay() {
        let lines = timed(&[
            "[    0.000000] Booting Linux on physical CPU 0x0",
            "guest# \x1b[6ncat /proc/interrupts",
            "array[1.5] and [ 2.0] and [12.34567]",
        ]);
        assert_eq!(texts(&unsplice(lines.clone())), texts(&lines));
    }

    #[test]
    fn a_spliced_last_line_stays_as_it_is() {
        let lines = timed(&["guest# ec[    7.123456] late"]);
        assert_eq!(texts(&unsplice(lines)), ["guest# ec[    7.123456] late"]);
    }
}
