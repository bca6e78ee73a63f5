//! The guest-errors line of `vm stats`: what a VM's guest provoked since its last start
//! (left out when it provoked nothing).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use keel_userland::abi::{VmGuestErrors, GUEST_ERROR_NAMES};

/// `guest errors: TOTAL (KIND COUNT, ...)` with every kind; nothing when there were none.
pub fn errors_line(errors: &VmGuestErrors) -> String {
    let total: u64 = errors.counts.iter().sum();
    if total == 0 {
        return String::new();
    }
    let kinds: Vec<String> = GUEST_ERROR_NAMES
        .iter()
        .zip(errors.counts)
        .map(|(name, count)| format!("{name} {count}"))
        .collect();
    format!("guest errors: {total} ({})\n", kinds.join(", "))
}

/// Prints the line for VM `name` (nothing when it cannot be had: `vm stats` has said why).
#[cfg(target_os = "none")]
pub fn print(name: &str) {
    if let Ok(errors) = keel_userland::vmdev::vm_guest_errors(name) {
        keel_userland::print!("{}", errors_line(&errors));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_every_kind_with_its_count() {
        assert_eq!(errors_line(&VmGuestErrors::default()), "");
        let errors = VmGuestErrors {
            counts: [3, 0, 1, 0, 0, 0, 2, 0],
        };
        assert_eq!(
            errors_line(&errors),
            "guest errors: 6 (outside-memory 3, device-refused 0, no-syndrome 1, fetch-outside-ram 0, \
             undefined-sysreg 0, hidden-feature 0, unknown-call 2, psci-refused 0)\n"
        );
    }
}
