//! One line per probe (what it saw, and whether that is what a guest should see) and the
//! summary at the end.

use crate::println;
use core::fmt;
use keel_hostile_guest::{Expected, Outcome, Sweep, Tally};

#[derive(Default)]
pub struct Report {
    tally: Tally,
}

impl Report {
    /// Judges and prints one probe.
    pub fn probe(&mut self, what: fmt::Arguments<'_>, expected: Expected, outcome: Outcome) {
        if self.tally.check(expected, outcome) {
            println!("hostile: {what}: {outcome}: ok");
        } else {
            println!("hostile: {what}: {outcome}: UNEXPECTED (should be {expected})");
        }
    }

    /// Prints a register sweep over a device; it is as expected when the guest is still
    /// here to say so and `healthy` (the device works after a reset) holds.
    pub fn sweep(&mut self, device: &str, sweep: &Sweep, healthy: Result<(), &str>) {
        let outcome = Outcome::Completed(u64::from(healthy.is_err()));
        self.tally.check(Expected::Returns(0), outcome);
        match healthy {
            Ok(()) => println!("hostile: sweep {device}: {sweep}: ok"),
            Err(why) => println!("hostile: sweep {device}: {sweep}: UNEXPECTED ({why})"),
        }
    }

    pub fn summary(&self) {
        let Tally { probes, as_expected } = self.tally;
        println!(
            "hostile: summary: {probes} probes, {as_expected} as expected, {} unexpected",
            probes - as_expected
        );
        println!("hostile: done");
    }
}
