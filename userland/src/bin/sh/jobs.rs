//! The shell's background jobs: numbered from 1, forgotten when reaped.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub number: usize,
    pub pid: u64,
    /// The command line, for reports.
    pub command: String,
}

#[derive(Debug, Default)]
pub struct Jobs {
    jobs: Vec<Job>,
}

impl Jobs {
    /// Records a job; its number is one more than the highest in use (1 when none are).
    pub fn add(&mut self, pid: u64, command: String) -> usize {
        let number = self.jobs.iter().map(|job| job.number).max().unwrap_or(0) + 1;
        self.jobs.push(Job { number, pid, command });
        number
    }

    /// Forgets the job of `pid` (it was reaped) and returns it.
    pub fn remove(&mut self, pid: u64) -> Option<Job> {
        let index = self.jobs.iter().position(|job| job.pid == pid)?;
        Some(self.jobs.remove(index))
    }

    /// The job numbered `number`.
    pub fn get(&self, number: usize) -> Option<&Job> {
        self.jobs.iter().find(|job| job.number == number)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Job> {
        self.jobs.iter()
    }

    /// The pid that `kill` names with `text`: a pid, or `%N` for job N.
    pub fn target(&self, text: &str) -> Result<u64, BadTarget> {
        match text.strip_prefix('%') {
            Some(number) => number
                .parse()
                .ok()
                .and_then(|number| self.get(number))
                .map(|job| job.pid)
                .ok_or_else(|| BadTarget::NoSuchJob(text.into())),
            None => text.parse().map_err(|_| BadTarget::NotAProcessId(text.into())),
        }
    }
}

/// Why a `kill` argument names no process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadTarget {
    NotAProcessId(String),
    NoSuchJob(String),
}

impl fmt::Display for BadTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadTarget::NotAProcessId(text) => write!(f, "not a process id: {text}"),
            BadTarget::NoSuchJob(text) => write!(f, "no such job: {text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_removal() {
        let mut jobs = Jobs::default();
        assert_eq!(jobs.add(10, "spin".into()), 1);
        assert_eq!(jobs.add(11, "spin 5".into()), 2);
        assert_eq!(jobs.add(12, "spin".into()), 3);
        assert_eq!(jobs.get(2).map(|job| job.pid), Some(11));
        assert_eq!(jobs.remove(11).map(|job| job.number), Some(2));
        assert_eq!(jobs.remove(11), None);
        assert_eq!(jobs.get(2), None);
        assert_eq!(jobs.add(13, "x".into()), 4);
        jobs.remove(12);
        jobs.remove(13);
        assert_eq!(jobs.add(14, "y".into()), 2);
        jobs.remove(10);
        jobs.remove(14);
        assert_eq!(jobs.iter().count(), 0);
        assert_eq!(jobs.add(15, "z".into()), 1);
    }

    #[test]
    fn kill_targets() {
        let mut jobs = Jobs::default();
        jobs.add(42, "spin".into());
        assert_eq!(jobs.target("7"), Ok(7));
        assert_eq!(jobs.target("%1"), Ok(42));
        assert_eq!(jobs.target("x"), Err(BadTarget::NotAProcessId("x".into())));
        assert_eq!(jobs.target("-1"), Err(BadTarget::NotAProcessId("-1".into())));
        assert_eq!(jobs.target(""), Err(BadTarget::NotAProcessId("".into())));
        assert_eq!(jobs.target("%2"), Err(BadTarget::NoSuchJob("%2".into())));
        assert_eq!(jobs.target("%x"), Err(BadTarget::NoSuchJob("%x".into())));
        assert_eq!(jobs.target("x").unwrap_err().to_string(), "not a process id: x");
        assert_eq!(jobs.target("%2").unwrap_err().to_string(), "no such job: %2");
    }
}
