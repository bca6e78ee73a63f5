//! The kernel command line (`/chosen/bootargs`): Keel's own `keel.*` options.

/// Options Keel reads from its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options<'a> {
    /// `keel.selftest`: run the in-kernel self-tests, print the result, power off.
    pub selftest: bool,
    /// `keel.log=LEVEL`: the log level (off, error, warn, info, debug, trace).
    pub log_level: Option<&'a str>,
    /// `keel.stage2=blocks|pages`: how guest RAM is mapped at stage 2 (default pages).
    pub stage2_leaves: Option<&'a str>,
}

impl<'a> Options<'a> {
    /// Reads the options out of a command line; unknown words are left for others.
    pub fn parse(cmdline: &'a str) -> Self {
        let mut options = Options { selftest: false, log_level: None, stage2_leaves: None };
        for word in cmdline.split_whitespace() {
            if word == "keel.selftest" || word == "keel.selftest=1" {
                options.selftest = true;
            } else if let Some(level) = word.strip_prefix("keel.log=") {
                options.log_level = Some(level);
            } else if let Some(leaves) = word.strip_prefix("keel.stage2=") {
                options.stage2_leaves = Some(leaves);
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
        let options = Options::parse("console=ttyAMA0 keel.selftest  keel.log=debug quiet keel.stage2=blocks");
        assert!(options.selftest);
        assert_eq!(options.log_level, Some("debug"));
        assert_eq!(options.stage2_leaves, Some("blocks"));
        let none = Options::parse("");
        assert_eq!(none, Options { selftest: false, log_level: None, stage2_leaves: None });
        assert!(!Options::parse("keel.selftests keel.selftest=0").selftest);
    }
}
