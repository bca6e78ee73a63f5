//! The runner's decisions, free of I/O so they can be tested: when to press the power
//! button or give up (`Watch`), and the exit code of a run (`verdict`). Times are measured
//! from QEMU's start.

use crate::console::{Scan, CRASH_PREFIX, PROMPT, REFUSAL_PREFIX};
use std::process::ExitStatus;
use std::time::Duration;

/// How long QEMU gets to exit after the power button was pressed.
pub const POWERDOWN_GRACE: Duration = Duration::from_secs(30);
/// The same when Keel has already crashed or refused to boot: the exit code is settled and a
/// crashed Keel may well not answer.
pub const POWERDOWN_GRACE_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// How long a quiet console after the banner is given to show the shell's prompt before the
/// power button is pressed anyway (and the run fails).
pub const PROMPT_PATIENCE: Duration = Duration::from_secs(30);

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_REFUSED: u8 = 3;
pub const EXIT_CRASHED: u8 = 4;
pub const EXIT_TIMEOUT: u8 = 124;

/// Why the runner killed QEMU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kill {
    Timeout(Duration),
    NoExitAfterPowerdown(Duration),
    PowerButtonFailed(String),
}

/// What the runner should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Wait,
    PowerDown,
    Kill(Kill),
}

/// The runner's clock-driven decisions, kept free of I/O so they can be tested. Times are
/// measured from QEMU's start.
#[derive(Debug, Clone)]
pub struct Watch {
    quiet_after_eof: Duration,
    timeout: Option<Duration>,
    /// Last console output or input end, whichever came later.
    last_activity: Duration,
    input_ended: bool,
    /// Enter keys typed so far: the shell has caught up with the input once it has shown
    /// more prompts than this.
    enters: usize,
    powerdown_at: Option<Duration>,
}

impl Watch {
    pub fn new(quiet_after_eof: Duration, timeout: Option<Duration>) -> Self {
        Watch {
            quiet_after_eof,
            timeout,
            last_activity: Duration::ZERO,
            input_ended: false,
            enters: 0,
            powerdown_at: None,
        }
    }

    pub fn console_output(&mut self, at: Duration) {
        self.last_activity = self.last_activity.max(at);
    }

    pub fn typed_enters(&mut self, enters: usize) {
        self.enters += enters;
    }

    pub fn input_ended(&mut self, at: Duration) {
        self.input_ended = true;
        self.console_output(at);
    }

    pub fn powerdown_sent(&mut self, at: Duration) {
        self.powerdown_at = Some(at);
    }

    /// Once input has ended, the power button is pressed when the shell is back at its
    /// prompt after every line typed (it has shown more prompts than Enters were typed) — or
    /// Keel has stopped with a crash or refusal without powering off — and the console has
    /// been quiet for `quiet_after_eof`; or, after the banner, when the console has been
    /// quiet for `PROMPT_PATIENCE` (no prompt, or a program that never ends). QEMU then has
    /// `POWERDOWN_GRACE` to exit.
    pub fn poll(&self, now: Duration, scan: &Scan) -> Action {
        if let Some(timeout) = self.timeout {
            if now >= timeout {
                return Action::Kill(Kill::Timeout(timeout));
            }
        }
        if let Some(pressed) = self.powerdown_at {
            let grace = if scan.crash.is_some() || scan.refusal.is_some() {
                POWERDOWN_GRACE_AFTER_FAILURE
            } else {
                POWERDOWN_GRACE
            };
            if now >= pressed + grace {
                return Action::Kill(Kill::NoExitAfterPowerdown(grace));
            }
            return Action::Wait;
        }
        if !self.input_ended {
            return Action::Wait;
        }
        let settled = scan.prompts > self.enters || scan.crash.is_some() || scan.refusal.is_some();
        if settled && now >= self.last_activity + self.quiet_after_eof {
            return Action::PowerDown;
        }
        if scan.banner.is_some() && now >= self.last_activity + PROMPT_PATIENCE {
            return Action::PowerDown;
        }
        Action::Wait
    }
}

/// How QEMU ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QemuEnd {
    Exited(i32),
    Signalled,
    Killed(Kill),
}

impl QemuEnd {
    pub(super) fn from_status(status: ExitStatus) -> Self {
        status.code().map_or(QemuEnd::Signalled, QemuEnd::Exited)
    }
}

pub(super) fn seconds(duration: Duration) -> String {
    let text = format!("{:.1}", duration.as_secs_f64());
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

/// The exit code of a piped run and, unless it is 0, why. A refusal (3) or crash (4) wins
/// over how QEMU ended; then a timeout (124); anything else short of a clean power off is 1,
/// including a power off by the button before the shell's prompt ever showed.
pub fn verdict(scan: &Scan, end: &QemuEnd) -> (u8, Option<String>) {
    let how_qemu_ended = match end {
        QemuEnd::Killed(Kill::Timeout(after)) => Some(format!(
            "timed out after {} s{}; killed QEMU",
            seconds(*after),
            if scan.banner.is_none() {
                " without seeing the banner"
            } else {
                ""
            }
        )),
        QemuEnd::Killed(Kill::NoExitAfterPowerdown(grace)) => Some(format!(
            "QEMU did not exit within {} s of the power button (QMP system_powerdown); killed it",
            seconds(*grace)
        )),
        QemuEnd::Killed(Kill::PowerButtonFailed(error)) => {
            Some(format!("could not press the power button ({error}); killed QEMU"))
        }
        QemuEnd::Signalled => Some("QEMU was killed by a signal".to_string()),
        QemuEnd::Exited(0) => None,
        QemuEnd::Exited(code) => Some(format!(
            "QEMU exited with status {code}{}",
            if scan.banner.is_none() && scan.refusal.is_none() && scan.crash.is_none() {
                " before Keel printed its banner (see QEMU's message)"
            } else {
                ""
            }
        )),
    };
    let with_also = |text: String| match &how_qemu_ended {
        Some(also) if !matches!(end, QemuEnd::Exited(_)) => format!("{text}; also: {also}"),
        _ => text,
    };
    if let Some(line) = &scan.refusal {
        let why = line.strip_prefix(REFUSAL_PREFIX).unwrap_or(line);
        return (EXIT_REFUSED, Some(with_also(format!("Keel refused to boot: {why}"))));
    }
    if let Some(line) = &scan.crash {
        let what = if line.starts_with(CRASH_PREFIX) {
            "crashed"
        } else {
            "panicked"
        };
        return (EXIT_CRASHED, Some(with_also(format!("Keel {what}: {line}"))));
    }
    if let QemuEnd::Killed(Kill::Timeout(_)) = end {
        return (EXIT_TIMEOUT, how_qemu_ended);
    }
    if how_qemu_ended.is_some() {
        return (EXIT_FAILED, how_qemu_ended);
    }
    if !scan.powered_off {
        let why = if scan.banner.is_none() {
            "QEMU exited before Keel printed its banner"
        } else {
            "QEMU exited without Keel printing `keel: power off`"
        };
        return (EXIT_FAILED, Some(why.to_string()));
    }
    if scan.power_button && scan.prompts == 0 {
        return (
            EXIT_FAILED,
            Some(format!(
                "Keel never showed the shell's prompt `{PROMPT}` (waited {} s after the banner); \
                 pressed the power button",
                seconds(PROMPT_PATIENCE)
            )),
        );
    }
    (EXIT_OK, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(seconds: f64) -> Duration {
        Duration::from_secs_f64(seconds)
    }

    fn scan(lines: &[&str]) -> Scan {
        let mut scan = Scan::default();
        for line in lines {
            scan.feed(line);
        }
        scan
    }

    const BANNER: &str = "keel: EL2 VHE (E2H=1 TGE=1) cortex-a76 x2, 2048 MiB";

    /// The banner and the shell's prompt.
    fn up() -> Scan {
        let mut scan = scan(&[BANNER]);
        scan.prompts = 1;
        scan
    }

    #[test]
    fn power_button_waits_for_input_end_prompt_and_quiet() {
        let booted = up();
        let mut watch = Watch::new(s(2.0), None);
        watch.console_output(s(1.0));
        assert_eq!(watch.poll(s(10.0), &booted), Action::Wait, "input has not ended");
        watch.input_ended(s(10.0));
        assert_eq!(watch.poll(s(10.5), &Scan::default()), Action::Wait, "no banner yet");
        assert_eq!(watch.poll(s(13.0), &scan(&[BANNER])), Action::Wait, "no prompt yet");
        assert_eq!(watch.poll(s(11.9), &booted), Action::Wait, "not quiet long enough");
        watch.console_output(s(11.0));
        assert_eq!(watch.poll(s(12.5), &booted), Action::Wait);
        assert_eq!(watch.poll(s(13.0), &booted), Action::PowerDown);
        watch.powerdown_sent(s(13.0));
        assert_eq!(watch.poll(s(20.0), &booted), Action::Wait);
        assert_eq!(
            watch.poll(s(43.0), &booted),
            Action::Kill(Kill::NoExitAfterPowerdown(s(30.0)))
        );
        let crashed = scan(&[BANNER, "keel: CRASH x"]);
        assert_eq!(watch.poll(s(17.9), &crashed), Action::Wait);
        assert_eq!(
            watch.poll(s(18.0), &crashed),
            Action::Kill(Kill::NoExitAfterPowerdown(s(5.0)))
        );
    }

    #[test]
    fn power_button_waits_for_the_shell_to_catch_up_with_the_input() {
        let mut watch = Watch::new(s(2.0), None);
        watch.typed_enters(3);
        watch.input_ended(s(1.0));
        let mut shell = up();
        shell.prompts = 3;
        assert_eq!(watch.poll(s(10.0), &shell), Action::Wait, "a line is still running");
        shell.prompts = 4;
        assert_eq!(watch.poll(s(10.0), &shell), Action::PowerDown);
        watch.console_output(s(5.0));
        shell.prompts = 3;
        assert_eq!(
            watch.poll(s(35.0), &shell),
            Action::PowerDown,
            "after PROMPT_PATIENCE anyway"
        );
    }

    #[test]
    fn power_button_without_a_prompt_after_a_long_quiet() {
        let mut watch = Watch::new(s(2.0), None);
        watch.input_ended(s(1.0));
        watch.console_output(s(3.0));
        let banner_only = scan(&[BANNER]);
        assert_eq!(watch.poll(s(32.9), &banner_only), Action::Wait);
        assert_eq!(watch.poll(s(33.0), &banner_only), Action::PowerDown);
        assert_eq!(
            watch.poll(s(33.0), &Scan::default()),
            Action::Wait,
            "no banner: only the timeout"
        );
    }

    #[test]
    fn power_button_after_a_crash_or_refusal_that_did_not_power_off() {
        let mut watch = Watch::new(s(0.0), None);
        watch.input_ended(s(0.1));
        assert_eq!(watch.poll(s(1.0), &scan(&["keel: CRASH x"])), Action::PowerDown);
        assert_eq!(watch.poll(s(1.0), &scan(&["keel: cannot boot: x"])), Action::PowerDown);
        assert_eq!(watch.poll(s(1.0), &scan(&["hello"])), Action::Wait);
    }

    #[test]
    fn timeout_wins() {
        let mut watch = Watch::new(s(2.0), Some(s(5.0)));
        assert_eq!(watch.poll(s(4.9), &Scan::default()), Action::Wait);
        assert_eq!(
            watch.poll(s(5.0), &Scan::default()),
            Action::Kill(Kill::Timeout(s(5.0)))
        );
        watch.powerdown_sent(s(1.0));
        assert_eq!(
            watch.poll(s(6.0), &Scan::default()),
            Action::Kill(Kill::Timeout(s(5.0)))
        );
    }

    #[test]
    fn verdicts() {
        let mut clean = scan(&[BANNER, "keel: power button", "keel: power off"]);
        clean.prompts = 1;
        assert_eq!(verdict(&clean, &QemuEnd::Exited(0)), (0, None));
        let no_shell = scan(&[BANNER, "keel: power button", "keel: power off"]);
        let (code, why) = verdict(&no_shell, &QemuEnd::Exited(0));
        assert_eq!(code, 1);
        assert!(why.unwrap().contains("never showed the shell's prompt"));
        // The self-tests power off by themselves, with no shell: fine.
        let selftests = scan(&[BANNER, "selftest: 4 passed, 0 failed", "keel: power off"]);
        assert_eq!(verdict(&selftests, &QemuEnd::Exited(0)), (0, None));
        let contained = scan(&[
            BANNER,
            "keel: CRASH on cpu 0: data abort (EC 0x25, synchronous, EL2) in a sacrificial context",
            "selftest: 1 passed, 0 failed",
            "keel: power off",
        ]);
        assert_eq!(verdict(&contained, &QemuEnd::Exited(0)), (0, None));

        let (code, why) = verdict(&scan(&[BANNER]), &QemuEnd::Exited(0));
        assert_eq!(code, 1);
        assert!(why.unwrap().contains("keel: power off"));

        let (code, why) = verdict(&Scan::default(), &QemuEnd::Exited(1));
        assert_eq!(code, 1);
        assert!(why.unwrap().contains("status 1"));

        let (code, why) = verdict(&clean, &QemuEnd::Exited(1));
        assert_eq!((code, why.unwrap()), (1, "QEMU exited with status 1".to_string()));

        let refused = scan(&["keel: cannot boot: this CPU has no VHE", "keel: power off"]);
        let (code, why) = verdict(&refused, &QemuEnd::Exited(0));
        assert_eq!(
            (code, why.unwrap()),
            (3, "Keel refused to boot: this CPU has no VHE".into())
        );

        let (code, why) = verdict(&scan(&[BANNER, "keel: CRASH data abort"]), &QemuEnd::Exited(0));
        assert_eq!((code, why.unwrap()), (4, "Keel crashed: keel: CRASH data abort".into()));

        let panicked = scan(&[BANNER, "keel: PANIC oops", "keel: power off"]);
        let (code, why) = verdict(&panicked, &QemuEnd::Killed(Kill::Timeout(s(3.0))));
        assert_eq!(code, 4);
        assert_eq!(
            why.unwrap(),
            "Keel panicked: keel: PANIC oops; also: timed out after 3 s; killed QEMU"
        );

        let (code, why) = verdict(&Scan::default(), &QemuEnd::Killed(Kill::Timeout(s(1.5))));
        assert_eq!(code, 124);
        assert_eq!(
            why.unwrap(),
            "timed out after 1.5 s without seeing the banner; killed QEMU"
        );

        let (code, why) = verdict(&clean, &QemuEnd::Killed(Kill::NoExitAfterPowerdown(s(30.0))));
        assert_eq!(code, 1);
        assert!(why.unwrap().contains("did not exit within 30 s"));

        assert_eq!(verdict(&clean, &QemuEnd::Signalled).0, 1);
        let (code, why) = verdict(&Scan::default(), &QemuEnd::Exited(0));
        assert_eq!(code, 1);
        assert!(why.unwrap().contains("before Keel printed its banner"));
    }
}
