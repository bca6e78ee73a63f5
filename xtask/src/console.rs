//! Reading Keel's console: splitting the byte stream into lines, recognising the lines of
//! the console contract (banner, refusal, crash, panic, power off, self-test results), and
//! counting the shell's prompts.

pub const BANNER_PREFIX: &str = "keel: EL2 VHE (E2H=1 TGE=1) ";
pub const REFUSAL_PREFIX: &str = "keel: cannot boot: ";
pub const CRASH_PREFIX: &str = "keel: CRASH ";
/// Ends the first line of a crash report for a fault Keel provoked and caught on purpose
/// (`arch::exception::try_call`, used by the self-tests): shown, but not a crash of Keel.
pub const CONTAINED_SUFFIX: &str = " in a sacrificial context";
pub const PANIC_PREFIX: &str = "keel: PANIC ";
pub const POWER_OFF: &str = "keel: power off";
pub const REBOOT: &str = "keel: reboot";
pub const POWER_BUTTON: &str = "keel: power button";
pub const SELFTEST_PREFIX: &str = "selftest: ";
/// The shell's prompt. It ends no line: the shell waits after it for input.
pub const PROMPT: &str = "keel> ";

/// Lines longer than this are cut into pieces, so a console that never sends a newline
/// cannot make the runner hold an unbounded line.
const MAX_LINE: usize = 16 * 1024;

/// Splits console bytes into lines. `\n` ends a line; `\r` and NUL bytes around it are
/// dropped (the console sends `\r\n`). Invalid UTF-8 is replaced, never fatal.
#[derive(Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Feeds bytes; returns the lines they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                lines.push(Self::finish_line(&mut self.partial));
            } else {
                self.partial.push(byte);
                if self.partial.len() >= MAX_LINE {
                    lines.push(Self::finish_line(&mut self.partial));
                }
            }
        }
        lines
    }

    /// The unterminated last line, if any (call once the console has closed).
    pub fn finish(&mut self) -> Option<String> {
        if self.partial.iter().all(|&b| b == b'\r' || b == 0) {
            self.partial.clear();
            return None;
        }
        Some(Self::finish_line(&mut self.partial))
    }

    fn finish_line(partial: &mut Vec<u8>) -> String {
        let line = String::from_utf8_lossy(partial).trim_matches(['\r', '\0']).to_string();
        partial.clear();
        line
    }
}

/// Counts prompts in the console's bytes: a line that contains [`PROMPT`] counts once, as
/// soon as the prompt is complete. (A prompt usually starts its line, but follows the output
/// of a program that did not end its last line.)
#[derive(Default)]
pub struct PromptCounter {
    /// How many bytes of the prompt the current line ends with.
    matched: usize,
    /// The current line already counted.
    counted: bool,
}

impl PromptCounter {
    /// Feeds bytes; returns how many prompts they completed.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let prompt = PROMPT.as_bytes();
        let mut prompts = 0;
        for &byte in bytes {
            if byte == b'\n' {
                self.matched = 0;
                self.counted = false;
                continue;
            }
            // The prompt has no repeated prefix, so a mismatch can only restart the match.
            self.matched = if byte == prompt[self.matched] {
                self.matched + 1
            } else {
                usize::from(byte == prompt[0])
            };
            if self.matched == prompt.len() {
                self.matched = 0;
                if !self.counted {
                    self.counted = true;
                    prompts += 1;
                }
            }
        }
        prompts
    }
}

/// The line without the shell prompts in front of it: the kernel may print while the prompt
/// waits for input (`keel> keel: power button`).
pub fn after_prompts(mut line: &str) -> &str {
    while let Some(rest) = line.strip_prefix(PROMPT) {
        line = rest;
    }
    line
}

/// The banner's contents: `keel: EL2 VHE (E2H=1 TGE=1) <model> x<N>, <M> MiB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    pub model: String,
    pub cpus: u32,
    pub mib: u64,
}

/// Parses a banner line; None if the line is not one.
pub fn parse_banner(line: &str) -> Option<Banner> {
    let rest = line.strip_prefix(BANNER_PREFIX)?;
    let (model, rest) = rest.rsplit_once(" x")?;
    let (cpus, rest) = rest.split_once(", ")?;
    let mib = rest.strip_suffix(" MiB")?;
    if model.is_empty() || model.contains(char::is_whitespace) {
        return None;
    }
    Some(Banner {
        model: model.to_string(),
        cpus: cpus.parse().ok()?,
        mib: mib.parse().ok()?,
    })
}

/// One line of the console contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    Banner(Banner),
    Refusal,
    Crash,
    /// A crash report for a fault caught in a sacrificial context.
    ContainedCrash,
    Panic,
    PowerOff,
    Reboot,
    PowerButton,
    /// `selftest: <name> ... ok|FAILED`
    SelftestResult {
        name: String,
        ok: bool,
    },
    /// `selftest: N passed, N failed`
    SelftestSummary {
        passed: u32,
        failed: u32,
    },
}

/// Recognises a console line. The contract puts each marker at the start of its own line,
/// or right after the shell's prompt.
pub fn classify(line: &str) -> Option<Marker> {
    let line = after_prompts(line);
    if line.starts_with(BANNER_PREFIX) {
        return parse_banner(line).map(Marker::Banner);
    }
    if line.starts_with(REFUSAL_PREFIX) {
        return Some(Marker::Refusal);
    }
    if line.starts_with(CRASH_PREFIX) {
        if line.trim_end().ends_with(CONTAINED_SUFFIX) {
            return Some(Marker::ContainedCrash);
        }
        return Some(Marker::Crash);
    }
    if line.starts_with(PANIC_PREFIX) {
        return Some(Marker::Panic);
    }
    match line.trim_end() {
        POWER_OFF => return Some(Marker::PowerOff),
        REBOOT => return Some(Marker::Reboot),
        POWER_BUTTON => return Some(Marker::PowerButton),
        _ => {}
    }
    let rest = line.strip_prefix(SELFTEST_PREFIX)?.trim_end();
    if let Some((name, result)) = rest.split_once(" ... ") {
        // `ok` or `FAILED`, possibly followed by details: `ok (12 ms)`, `FAILED: why`.
        let word_is = |word: &str| {
            result
                .strip_prefix(word)
                .is_some_and(|after| after.chars().next().is_none_or(|c| !c.is_alphanumeric() && c != '_'))
        };
        let ok = if word_is("ok") {
            true
        } else if word_is("FAILED") {
            false
        } else {
            return None;
        };
        return Some(Marker::SelftestResult {
            name: name.to_string(),
            ok,
        });
    }
    let (passed, failed) = rest.split_once(" passed, ")?;
    let failed = failed.strip_suffix(" failed")?;
    Some(Marker::SelftestSummary {
        passed: passed.parse().ok()?,
        failed: failed.parse().ok()?,
    })
}

/// What the console has shown so far.
#[derive(Debug, Default, Clone)]
pub struct Scan {
    pub banner: Option<Banner>,
    /// The first `keel: cannot boot:` line.
    pub refusal: Option<String>,
    /// The first `keel: CRASH` or `keel: PANIC` line (contained faults excluded).
    pub crash: Option<String>,
    /// How many crash reports were for faults caught in a sacrificial context.
    pub contained_crashes: u32,
    pub powered_off: bool,
    pub rebooted: bool,
    pub power_button: bool,
    pub selftest_failures: Vec<String>,
    pub selftest_summary: Option<(u32, u32)>,
    /// Shell prompts shown (counted by [`PromptCounter`], recorded by the runner).
    pub prompts: usize,
}

impl Scan {
    /// Records one complete line; returns its marker, if it is one.
    pub fn feed(&mut self, line: &str) -> Option<Marker> {
        let marker = classify(line)?;
        match &marker {
            Marker::Banner(banner) => {
                self.banner.get_or_insert_with(|| banner.clone());
            }
            Marker::Refusal => {
                self.refusal.get_or_insert_with(|| after_prompts(line).to_string());
            }
            Marker::Crash | Marker::Panic => {
                self.crash.get_or_insert_with(|| after_prompts(line).to_string());
            }
            Marker::ContainedCrash => self.contained_crashes += 1,
            Marker::PowerOff => self.powered_off = true,
            Marker::Reboot => self.rebooted = true,
            Marker::PowerButton => self.power_button = true,
            Marker::SelftestResult { name, ok: false } => self.selftest_failures.push(name.clone()),
            Marker::SelftestResult { ok: true, .. } => {}
            Marker::SelftestSummary { passed, failed } => self.selftest_summary = Some((*passed, *failed)),
        }
        Some(marker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks() {
        let mut splitter = LineSplitter::default();
        assert_eq!(splitter.push(b"keel: EL2"), Vec::<String>::new());
        assert_eq!(
            splitter.push(b" VHE\r\nsecond\r\n\r\nthi"),
            vec!["keel: EL2 VHE", "second", ""]
        );
        assert_eq!(splitter.push(b"rd\xff\n"), vec!["third\u{fffd}"]);
        assert_eq!(splitter.push(b"tail\r"), Vec::<String>::new());
        assert_eq!(splitter.finish(), Some("tail".to_string()));
        assert_eq!(splitter.finish(), None);
        splitter.push(b"\r");
        assert_eq!(splitter.finish(), None);
    }

    #[test]
    fn cuts_overlong_lines() {
        let mut splitter = LineSplitter::default();
        let lines = splitter.push(&vec![b'a'; MAX_LINE * 2 + 3]);
        assert_eq!(lines.len(), 2);
        assert_eq!(splitter.finish().unwrap().len(), 3);
    }

    #[test]
    fn banners() {
        assert_eq!(
            parse_banner("keel: EL2 VHE (E2H=1 TGE=1) cortex-a76 x4, 2048 MiB"),
            Some(Banner {
                model: "cortex-a76".into(),
                cpus: 4,
                mib: 2048
            })
        );
        assert_eq!(
            parse_banner("keel: EL2 VHE (E2H=1 TGE=1) max x1, 512 MiB")
                .unwrap()
                .model,
            "max"
        );
        for bad in [
            "keel: EL2 VHE (E2H=1 TGE=1) cortex-a76 x4, 2048 GiB",
            "keel: EL2 VHE (E2H=1 TGE=1) cortex-a76 xfour, 2048 MiB",
            "keel: EL2 VHE (E2H=1 TGE=1)  x4, 2048 MiB",
            "keel: EL2 VHE cortex-a76 x4, 2048 MiB",
            " keel: EL2 VHE (E2H=1 TGE=1) cortex-a76 x4, 2048 MiB",
        ] {
            assert_eq!(parse_banner(bad), None, "{bad}");
        }
    }

    #[test]
    fn markers() {
        assert_eq!(
            classify("keel: cannot boot: this CPU has no VHE"),
            Some(Marker::Refusal)
        );
        assert_eq!(classify("keel: CRASH data abort on cpu 1"), Some(Marker::Crash));
        assert_eq!(classify("keel: PANIC at mm/frame.rs:10"), Some(Marker::Panic));
        assert_eq!(
            classify("keel: CRASH on cpu 0: data abort (EC 0x25, synchronous, EL2) in a sacrificial context"),
            Some(Marker::ContainedCrash)
        );
        assert_eq!(
            classify("keel: CRASH on cpu 1: data abort (EC 0x25, synchronous, EL2)"),
            Some(Marker::Crash)
        );
        assert_eq!(classify("keel: power off"), Some(Marker::PowerOff));
        assert_eq!(classify("keel: reboot"), Some(Marker::Reboot));
        assert_eq!(classify("keel: power button"), Some(Marker::PowerButton));
        assert_eq!(
            classify("selftest: frame allocator ... ok"),
            Some(Marker::SelftestResult {
                name: "frame allocator".into(),
                ok: true
            })
        );
        assert_eq!(
            classify("selftest: ipi ... FAILED"),
            Some(Marker::SelftestResult {
                name: "ipi".into(),
                ok: false
            })
        );
        assert_eq!(
            classify("selftest: timer ... ok (12 ms)"),
            Some(Marker::SelftestResult {
                name: "timer".into(),
                ok: true
            })
        );
        assert_eq!(
            classify("selftest: ipi ... FAILED: cpu 3 ... no answer"),
            Some(Marker::SelftestResult {
                name: "ipi".into(),
                ok: false
            })
        );
        assert_eq!(
            classify("selftest: 7 passed, 1 failed"),
            Some(Marker::SelftestSummary { passed: 7, failed: 1 })
        );
        for plain in [
            "keel: power offline",
            "keel: CRASHED",
            "say keel: CRASH here",
            "selftest: running",
            "selftest: x ... okay",
            "selftest: x ... FAILEDX",
            "selftest: x passed, 0 failed",
            "hello",
            "",
        ] {
            assert_eq!(classify(plain), None, "{plain}");
        }
    }

    #[test]
    fn prompts_are_counted_once_per_line_as_soon_as_complete() {
        let mut counter = PromptCounter::default();
        assert_eq!(counter.push(b"keel: EL2 VHE ...\r\n"), 0);
        assert_eq!(counter.push(b"kee"), 0);
        assert_eq!(counter.push(b"l> "), 1);
        assert_eq!(counter.push(b"ps\r\nPID  TID\r\n"), 0);
        // Typed-ahead echo may come in the same chunk; a redraw does not count again.
        assert_eq!(counter.push(b"keel> echo a\x1b[A\rkeel> echo a\x1b[K\r\n"), 1);
        assert_eq!(counter.push(b"\rkeel> \r\nkeel> keel> "), 2);
        assert_eq!(counter.push(b"\nkeel: pid 3 (fault) killed: x\n"), 0);
        // After output that did not end its line; `kkeel> ` still holds a prompt.
        assert_eq!(counter.push(b"no newlinekeel> "), 1);
        assert_eq!(counter.push(b"\nkkeel> \nkeel>\nkeel >\n"), 1);
    }

    #[test]
    fn markers_may_follow_a_prompt() {
        assert_eq!(after_prompts("keel> keel> x"), "x");
        assert_eq!(classify("keel> keel: power button"), Some(Marker::PowerButton));
        assert_eq!(classify("keel> keel: CRASH x"), Some(Marker::Crash));
        let mut scan = Scan::default();
        scan.feed("keel> keel: PANIC oops");
        assert_eq!(scan.crash.as_deref(), Some("keel: PANIC oops"));
    }

    #[test]
    fn scan_keeps_first_occurrences() {
        let mut scan = Scan::default();
        for line in [
            "booting",
            "keel: EL2 VHE (E2H=1 TGE=1) neoverse-n1 x4, 1024 MiB",
            "keel: EL2 VHE (E2H=1 TGE=1) max x1, 1024 MiB",
            "selftest: a ... ok",
            "selftest: b ... FAILED",
            "selftest: 1 passed, 1 failed",
            "keel: CRASH on cpu 0: undefined instruction in a sacrificial context",
            "keel: PANIC first",
            "keel: CRASH second",
            "keel: power off",
        ] {
            scan.feed(line);
        }
        assert_eq!(scan.banner.as_ref().unwrap().model, "neoverse-n1");
        assert_eq!(scan.crash.as_deref(), Some("keel: PANIC first"));
        assert_eq!(scan.selftest_failures, vec!["b"]);
        assert_eq!(scan.selftest_summary, Some((1, 1)));
        assert!(scan.powered_off);
        assert!(scan.refusal.is_none());
        assert_eq!(scan.contained_crashes, 1);
    }
}
