//! How a process ended, in words: `exit 3`, `killed`, `fault`.

use crate::abi::{WaitStatus, EXITED, FAULTED, KILLED};
use core::fmt;

/// The end of a process, decoded from a [`WaitStatus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It called `exit` with this code.
    Exited(i64),
    /// Something killed it with `kill`.
    Killed,
    /// The kernel killed it for a fault or a bad system call (and printed why).
    Faulted,
    /// A `how` value this program does not know.
    Unknown(u64),
}

impl Ending {
    pub fn of(status: &WaitStatus) -> Self {
        match status.how {
            EXITED => Ending::Exited(status.code),
            KILLED => Ending::Killed,
            FAULTED => Ending::Faulted,
            other => Ending::Unknown(other),
        }
    }

    /// A whole sentence's end: `exited with code 3`, `killed`, `killed after a fault`.
    pub fn sentence(self) -> Sentence {
        Sentence(self)
    }
}

/// The short form: `exit 3`, `killed`, `fault`.
impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Exited(code) => write!(f, "exit {code}"),
            Ending::Killed => f.write_str("killed"),
            Ending::Faulted => f.write_str("fault"),
            Ending::Unknown(how) => write!(f, "ended ({how})"),
        }
    }
}

/// [`Ending::sentence`], for `sh: spin (pid 5) killed`.
pub struct Sentence(Ending);

impl fmt::Display for Sentence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ending::Exited(code) => write!(f, "exited with code {code}"),
            Ending::Killed => f.write_str("killed"),
            Ending::Faulted => f.write_str("killed after a fault"),
            Ending::Unknown(how) => write!(f, "ended in an unknown way ({how})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(how: u64, code: i64) -> WaitStatus {
        WaitStatus { pid: 7, how, code }
    }

    #[test]
    fn decodes_and_words() {
        assert_eq!(Ending::of(&status(EXITED, 3)), Ending::Exited(3));
        assert_eq!(Ending::of(&status(KILLED, -1)), Ending::Killed);
        assert_eq!(Ending::of(&status(FAULTED, -1)), Ending::Faulted);
        assert_eq!(Ending::of(&status(9, 0)), Ending::Unknown(9));
        assert_eq!(Ending::Exited(0).to_string(), "exit 0");
        assert_eq!(Ending::Faulted.to_string(), "fault");
        assert_eq!(Ending::Exited(-2).sentence().to_string(), "exited with code -2");
        assert_eq!(Ending::Faulted.sentence().to_string(), "killed after a fault");
        assert_eq!(Ending::Killed.sentence().to_string(), "killed");
        assert_eq!(Ending::Unknown(9).to_string(), "ended (9)");
    }
}
