//! The shell's history: the lines entered, browsed with Up and Down.

use alloc::collections::VecDeque;
use alloc::string::String;

/// How many lines are kept.
pub const CAPACITY: usize = 100;

#[derive(Debug, Default)]
pub struct History {
    lines: VecDeque<String>,
    /// While browsing: the index of the line shown, and the line being typed before.
    browsing: Option<(usize, String)>,
}

impl History {
    /// Remembers an entered line (not blank ones, nor a repeat of the last) and stops browsing.
    pub fn add(&mut self, line: &str) {
        self.browsing = None;
        if line.trim().is_empty() || self.lines.back().is_some_and(|last| last == line) {
            return;
        }
        if self.lines.len() == CAPACITY {
            self.lines.pop_front();
        }
        self.lines.push_back(line.into());
    }

    /// Stops browsing (the line was abandoned).
    pub fn reset(&mut self) {
        self.browsing = None;
    }

    /// Up: the line before the one shown; `current` is what is being typed now. `None` at
    /// the oldest line.
    pub fn older(&mut self, current: &str) -> Option<&str> {
        let index = match &self.browsing {
            None => {
                let newest = self.lines.len().checked_sub(1)?;
                self.browsing = Some((newest, current.into()));
                newest
            }
            Some((0, _)) => return None,
            Some((index, draft)) => {
                let older = index - 1;
                self.browsing = Some((older, draft.clone()));
                older
            }
        };
        self.lines.get(index).map(String::as_str)
    }

    /// Down: the line after the one shown, and after the newest, the line that was being
    /// typed. `None` when not browsing.
    pub fn newer(&mut self) -> Option<String> {
        let (index, draft) = self.browsing.take()?;
        match self.lines.get(index + 1) {
            Some(line) => {
                let line = line.clone();
                self.browsing = Some((index + 1, draft));
                Some(line)
            }
            None => Some(draft),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browses_back_and_forth_and_keeps_the_draft() {
        let mut history = History::default();
        assert_eq!(history.older("x"), None);
        assert_eq!(history.newer(), None);
        history.add("one");
        history.add("two");
        assert_eq!(history.older("dra"), Some("two"));
        assert_eq!(history.older("ignored"), Some("one"));
        assert_eq!(history.older("ignored"), None);
        assert_eq!(history.newer().as_deref(), Some("two"));
        assert_eq!(history.newer().as_deref(), Some("dra"));
        assert_eq!(history.newer(), None);
        assert_eq!(history.older(""), Some("two"));
        history.reset();
        assert_eq!(history.newer(), None);
    }

    #[test]
    fn skips_blanks_and_repeats_and_stays_bounded() {
        let mut history = History::default();
        history.add("");
        history.add("   ");
        history.add("ps");
        history.add("ps");
        assert_eq!(history.older(""), Some("ps"));
        assert_eq!(history.older(""), None);
        for n in 0..CAPACITY + 10 {
            history.add(&n.to_string());
        }
        assert_eq!(history.lines.len(), CAPACITY);
        assert_eq!(history.lines.front().map(String::as_str), Some("10"));
    }
}
