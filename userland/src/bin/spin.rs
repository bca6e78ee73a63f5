//! `spin [SECONDS]`: keeps a CPU busy, for ever or for SECONDS of wall time; prints nothing.
#![cfg_attr(target_os = "none", no_std, no_main)]

keel_userland::program!(spin::main);

#[cfg(target_os = "none")]
mod spin {
    use core::hint::black_box;
    use core::time::Duration;
    use keel_userland::{eprintln, sys};

    /// Busy-loop iterations between two looks at the clock.
    const ROUND: u64 = 1 << 16;

    pub fn main(args: &[&str]) -> i32 {
        let limit = match args.get(1..) {
            None | Some([]) => None,
            Some([seconds]) => match parse_seconds(seconds) {
                Some(limit) => Some(limit),
                None => {
                    eprintln!("spin: not a number of seconds: {seconds}");
                    return 2;
                }
            },
            Some(_) => {
                eprintln!("spin: usage: spin [SECONDS]");
                return 2;
            }
        };
        let deadline = limit.map(|limit| sys::time().saturating_add(limit));
        loop {
            burn(ROUND);
            if deadline.is_some_and(|deadline| sys::time() >= deadline) {
                return 0;
            }
        }
    }

    /// A non-negative, finite number of seconds (decimals allowed).
    fn parse_seconds(text: &str) -> Option<Duration> {
        let seconds: f64 = text.parse().ok()?;
        Duration::try_from_secs_f64(seconds).ok()
    }

    /// Work the compiler cannot remove.
    fn burn(iterations: u64) {
        let mut counter = 0u64;
        for _ in 0..iterations {
            counter = black_box(counter.wrapping_add(1));
        }
    }
}
