//! How a Linux guest tells Keel that its kernel panicked: words added to its command line.
//!
//! Debian's arm64 kernel has no pvpanic driver, but every Linux can report a panic through
//! PSCI: with `panic=-1` it restarts at once after a panic instead of spinning forever, and
//! with `reboot=panic_warm` that restart is a warm one, which Linux issues as PSCI
//! SYSTEM_RESET2 (Keel offers it) while an ordinary `reboot` stays SYSTEM_RESET. Keel adds
//! both words to every guest's command line unless the line already chooses (`panic=...`,
//! `reboot=...`), and takes a SYSTEM_RESET2 warm reset as the guest's crash
//! ([`crate::psci::PsciOutcome::SystemWarmReset`]).

use alloc::string::String;

/// The words Keel adds when the command line has no word of the same option.
const PANIC_WORDS: [(&str, &str); 2] = [("panic=", "panic=-1"), ("reboot=", "reboot=panic_warm")];

/// The command line a guest kernel gets: `cmdline` and, for each option it does not set,
/// the word that makes a panic reach Keel.
pub fn guest_cmdline(cmdline: &str) -> String {
    let mut line = String::from(cmdline.trim_end());
    for (option, word) in PANIC_WORDS {
        if !cmdline.split_whitespace().any(|given| given.starts_with(option)) {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_what_makes_a_panic_reach_keel() {
        assert_eq!(
            guest_cmdline("console=ttyAMA0 earlycon=pl011,0x09000000"),
            "console=ttyAMA0 earlycon=pl011,0x09000000 panic=-1 reboot=panic_warm"
        );
        assert_eq!(guest_cmdline(""), "panic=-1 reboot=panic_warm");
        assert_eq!(guest_cmdline("quiet  "), "quiet panic=-1 reboot=panic_warm");
    }

    #[test]
    fn the_guests_own_choice_stands() {
        assert_eq!(
            guest_cmdline("console=ttyAMA0 panic=0"),
            "console=ttyAMA0 panic=0 reboot=panic_warm"
        );
        assert_eq!(guest_cmdline("reboot=warm quiet"), "reboot=warm quiet panic=-1");
        assert_eq!(guest_cmdline("panic=5 reboot=cold"), "panic=5 reboot=cold");
        // A word that merely contains the option is not the option.
        assert_eq!(guest_cmdline("oops=panic"), "oops=panic panic=-1 reboot=panic_warm");
    }
}
