//! `sysbench [CALLS]`: the cost of a system call round trip (user → kernel → user), measured
//! with `getpid` and `yield` (a call that also enters the scheduler), CALLS times each.
#![cfg_attr(target_os = "none", no_std, no_main)]

keel_userland::program!(sysbench::main);

#[cfg(target_os = "none")]
mod sysbench {
    use keel_userland::{eprintln, println, sys};

    const DEFAULT_CALLS: u64 = 100_000;

    pub fn main(args: &[&str]) -> i32 {
        let calls = match args.get(1) {
            None => DEFAULT_CALLS,
            Some(text) => match text.parse::<u64>() {
                Ok(calls) if calls > 0 => calls,
                _ => {
                    eprintln!("sysbench: not a positive number of calls: {text}");
                    return 2;
                }
            },
        };
        let getpid = measure(calls, || {
            let _ = sys::getpid();
        });
        let yields = measure(calls, sys::yield_now);
        println!("sysbench: getpid {getpid} ns per call ({calls} calls)");
        println!("sysbench: yield {yields} ns per call ({calls} calls)");
        0
    }

    /// Nanoseconds per call of `f`, over `calls` calls.
    fn measure(calls: u64, mut f: impl FnMut()) -> u64 {
        let start = sys::time();
        for _ in 0..calls {
            f();
        }
        let elapsed = sys::time().saturating_sub(start);
        (elapsed.as_nanos() / u128::from(calls)) as u64
    }
}
