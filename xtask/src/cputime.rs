//! CPU time a process used, sampled over time: how much work QEMU did, which a shared,
//! noisy machine disturbs far less than wall-clock time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the sampler reads the process's CPU time.
const PERIOD: Duration = Duration::from_millis(10);

/// (time since `start`, CPU seconds so far) pairs, oldest first.
#[derive(Clone, Debug, Default)]
pub struct CpuSamples(pub Vec<(Duration, f64)>);

impl CpuSamples {
    /// CPU seconds used by `at` (interpolated between the samples around it).
    pub fn at(&self, at: Duration) -> Option<f64> {
        let after = self.0.iter().position(|&(t, _)| t >= at)?;
        let (t1, c1) = self.0[after];
        let Some(&(t0, c0)) = after.checked_sub(1).and_then(|i| self.0.get(i)) else { return Some(c1) };
        let span = (t1 - t0).as_secs_f64();
        if span <= 0.0 {
            return Some(c1);
        }
        Some(c0 + (c1 - c0) * (at - t0).as_secs_f64() / span)
    }
}

/// Samples the CPU time of process `pid` until dropped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<CpuSamples>>,
}

impl Sampler {
    pub fn start(pid: u32, start: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(CpuSamples::default()));
        let (stop_flag, shared) = (stop.clone(), samples.clone());
        std::thread::spawn(move || {
            let ticks = clock_ticks_per_second();
            while !stop_flag.load(Ordering::Relaxed) {
                let Some(used) = cpu_ticks(pid) else { break };
                if let Ok(mut samples) = shared.lock() {
                    samples.0.push((start.elapsed(), used as f64 / ticks));
                }
                std::thread::sleep(PERIOD);
            }
        });
        Self { stop, samples }
    }

    /// The samples so far.
    pub fn samples(&self) -> CpuSamples {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// utime + stime of `pid` in clock ticks (fields 14 and 15 of /proc/PID/stat).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The kernel's USER_HZ (100 on Linux; `getconf CLK_TCK` can say otherwise).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|&t| t > 0.0)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_from_a_stat_line() {
        let line = "1234 (qemu system) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0";
        assert_eq!(parse_stat(line), Some(280));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn interpolates_between_samples() {
        let samples = CpuSamples(vec![
            (Duration::from_millis(0), 0.0),
            (Duration::from_millis(100), 0.1),
            (Duration::from_millis(200), 0.3),
        ]);
        assert_eq!(samples.at(Duration::from_millis(150)), Some(0.2));
        assert_eq!(samples.at(Duration::from_millis(0)), Some(0.0));
        assert_eq!(samples.at(Duration::from_millis(300)), None, "after the last sample");
    }

    #[test]
    fn samples_this_process() {
        let sampler = Sampler::start(std::process::id(), Instant::now());
        let until = Instant::now() + Duration::from_millis(60);
        let mut spin = 0u64;
        while Instant::now() < until {
            spin = spin.wrapping_add(1);
        }
        std::thread::sleep(Duration::from_millis(30));
        assert!(spin > 0);
        assert!(!sampler.samples().0.is_empty());
    }
}
