//! The kernel command line (`/chosen/bootargs`): Keel's own `keel.*` options.

/// Options Keel reads from its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options<'a> {
    /// `keel.selftest`: run the in-kernel self-tests, print the result, power off.
    pub selftest: bool,
    /// `keel.log=LEVEL`: the log level (off, error, warn, info, debug, trace).
    pub log_level: Option<&'a str>,
}

impl<'a> Options<'a> {
    /// Reads the options out of a command line; unknown words are left for others.
    pub fn parse(cmdline: &'a str) -> Self {
        let mut options = Options { selftest: false, log_level: None };
        for word in cmdline.split_whitespace() {
            if word == "keel.selftest" || word == "keel.selftest=1" {
                options.selftest = true;
            } else if let Some(level) = word.strip_prefix("keel.log=") {
                options.log_level = Some(level);
            }
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keel_options_and_ignores_the_rest() {
        let options = Options::parse("console=ttyAMA0 keel.selftest  keel.log=debug quiet");
        assert!(options.selftest);
        assert_eq!(options.log_level, Some("debug"));
        let none = Options::parse("");
        assert_eq!(none, Options { selftest: false, log_level: None });
        assert!(!Options::parse("keel.selftests keel.selftest=0").selftest);
    }
}
