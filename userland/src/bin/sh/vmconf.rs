//! VM definitions kept in a file (`/etc/vms.conf`): one `vm create` line per VM, and
//! `--autostart` for those to boot at once. Pure: it reads the text and says, with the line
//! number, what is wrong; `vm load` (`vmload`) carries the definitions out.
//!
//! ```text
//! # NAME [vm create options]... [--autostart]
//! linux --net
//! web --mem 128M --net --cmdline "console=ttyAMA0 quiet" --autostart
//! ```
//! Blank lines and lines starting with `#` are skipped; words are quoted as in the shell.

use super::vmargs::{self, CreateArgs, VmCommand};
use super::words;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The option that marks a VM to boot as soon as it is defined.
pub const AUTOSTART: &str = "--autostart";

/// One VM of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    /// Its line, from 1.
    pub line: usize,
    pub args: CreateArgs,
    pub autostart: bool,
}

/// A line that defines nothing, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// What a file holds: the good lines' VMs and the bad lines' errors, each in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub definitions: Vec<Definition>,
    pub errors: Vec<LineError>,
}

/// Reads a definitions file. A bad line is reported and skipped; the others still count.
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        match parse_line(raw) {
            Ok(None) => {}
            Ok(Some((args, autostart))) => {
                if let Some(first) = parsed.definitions.iter().find(|d| d.args.name == args.name) {
                    let message = format!("{} is defined on line {} already", args.name, first.line);
                    parsed.errors.push(LineError { line, message });
                } else {
                    parsed.definitions.push(Definition { line, args, autostart });
                }
            }
            Err(message) => parsed.errors.push(LineError { line, message }),
        }
    }
    parsed
}

/// One line: nothing (blank or comment), or a VM and whether it starts at once.
fn parse_line(raw: &str) -> Result<Option<(CreateArgs, bool)>, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let command = match words::parse(trimmed) {
        Ok(Some(command)) => command,
        Ok(None) => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    if command.background {
        return Err("& has no meaning in a definition".into());
    }
    let mut words = command.words;
    let before = words.len();
    words.retain(|word| word != AUTOSTART);
    let autostart = words.len() != before;
    if words.first().is_some_and(|word| word == "create") {
        return Err("a line starts with the VM's name, not `create`".into());
    }
    let mut create = Vec::with_capacity(words.len() + 1);
    create.push(String::from("create"));
    create.extend(words);
    match vmargs::parse(&create) {
        Ok(VmCommand::Create(args)) => Ok(Some((args, autostart))),
        Ok(_) => Err("not a VM definition".into()),
        Err(vmargs::VmArgError::Usage(_)) => Err("a definition needs a VM name".into()),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(parsed: &Parsed) -> Vec<(&str, bool, usize)> {
        parsed
            .definitions
            .iter()
            .map(|d| (d.args.name.as_str(), d.autostart, d.line))
            .collect()
    }

    #[test]
    fn definitions_comments_and_autostart() {
        let text = "\
# Keel's VMs
linux --net

web --mem 128M --net --cmdline \"console=ttyAMA0 quiet\" --autostart
  # indented comment
--autostart small --mem 64M --vcpus 2
";
        let parsed = parse(text);
        assert_eq!(parsed.errors, []);
        assert_eq!(
            names(&parsed),
            [("linux", false, 2), ("web", true, 4), ("small", true, 6)]
        );
        let web = &parsed.definitions[1].args;
        assert_eq!(web.mem_bytes, 128 << 20);
        assert!(web.net);
        assert_eq!(web.cmdline, "console=ttyAMA0 quiet");
        assert_eq!(web.kernel, vmargs::DEFAULT_KERNEL);
        let small = &parsed.definitions[2].args;
        assert_eq!((small.mem_bytes, small.vcpus, small.net), (64 << 20, 2, false));
        assert_eq!(parse(""), Parsed::default());
    }

    #[test]
    fn bad_lines_are_named_and_the_rest_still_counts() {
        let text = "\
good --mem 128M
bad --mem 12Q
--net
a b
quoted --cmdline \"console=ttyAMA0
create c
good --autostart
bg &
x --frob
";
        let parsed = parse(text);
        assert_eq!(names(&parsed), [("good", false, 1)]);
        let errors: Vec<(usize, &str)> = parsed.errors.iter().map(|e| (e.line, e.message.as_str())).collect();
        assert_eq!(
            errors,
            [
                (2, "--mem: not a size: 12Q"),
                (3, "a definition needs a VM name"),
                (4, "unexpected argument: b"),
                (5, "unclosed quote \""),
                (6, "a line starts with the VM's name, not `create`"),
                (7, "good is defined on line 1 already"),
                (8, "& has no meaning in a definition"),
                (9, "unknown option: --frob (try vm help)"),
            ]
        );
    }

    #[test]
    fn a_bad_name_is_refused() {
        let parsed = parse("no/slash\n");
        assert_eq!(parsed.definitions, []);
        assert_eq!(parsed.errors[0].line, 1);
        assert!(
            parsed.errors[0].message.starts_with("not a VM name: 'no/slash'"),
            "{:?}",
            parsed.errors
        );
    }
}
