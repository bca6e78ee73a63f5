//! Cuts a command line into words: blanks separate words, quotes ('…', "…") and backslash
//! keep blanks and special characters in a word, and a trailing `&` asks for the background.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// At least one word.
    pub words: Vec<String>,
    /// Ended with `&`.
    pub background: bool,
}

/// Why a line could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A quote (this character) was not closed.
    UnclosedQuote(char),
    /// `&` somewhere but at the end of the line.
    AmpersandNotAtEnd,
    /// `&` with nothing before it.
    NothingToRun,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnclosedQuote(quote) => write!(f, "unclosed quote {quote}"),
            ParseError::AmpersandNotAtEnd => f.write_str("& may only end a line"),
            ParseError::NothingToRun => f.write_str("nothing to run before &"),
        }
    }
}

/// Parses a line; `Ok(None)` for a blank one.
pub fn parse(line: &str) -> Result<Option<Command>, ParseError> {
    let mut words = Vec::new();
    let mut background = false;
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else { break };
        if background {
            return Err(ParseError::AmpersandNotAtEnd);
        }
        if first == '&' {
            chars.next();
            background = true;
            continue;
        }
        let mut word = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '&') {
            match c {
                '\'' | '"' => loop {
                    match chars.next() {
                        None => return Err(ParseError::UnclosedQuote(c)),
                        Some(end) if end == c => break,
                        Some('\\') if c == '"' => match chars.next() {
                            Some(escaped @ ('"' | '\\')) => word.push(escaped),
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err(ParseError::UnclosedQuote(c)),
                        },
                        Some(inner) => word.push(inner),
                    }
                },
                '\\' => word.push(chars.next().unwrap_or('\\')),
                _ => word.push(c),
            }
        }
        words.push(word);
    }
    match (words.is_empty(), background) {
        (true, true) => Err(ParseError::NothingToRun),
        (true, false) => Ok(None),
        (false, _) => Ok(Some(Command { words, background })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> (Vec<String>, bool) {
        let command = parse(line).unwrap().unwrap();
        (command.words, command.background)
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn blanks_separate_words() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("  \t ").unwrap(), None);
        assert_eq!(words("ps"), (strings(&["ps"]), false));
        assert_eq!(words("  echo  a\tb  "), (strings(&["echo", "a", "b"]), false));
    }

    #[test]
    fn trailing_ampersand_means_background() {
        assert_eq!(words("spin &"), (strings(&["spin"]), true));
        assert_eq!(words("spin 5&"), (strings(&["spin", "5"]), true));
        assert_eq!(words("spin&  "), (strings(&["spin"]), true));
        assert_eq!(parse("spin & ps"), Err(ParseError::AmpersandNotAtEnd));
        assert_eq!(parse("spin && x"), Err(ParseError::AmpersandNotAtEnd));
        assert_eq!(parse("spin &&"), Err(ParseError::AmpersandNotAtEnd));
        assert_eq!(parse(" & "), Err(ParseError::NothingToRun));
    }

    #[test]
    fn quotes_and_backslashes() {
        assert_eq!(words("echo 'a  b' \"c d\""), (strings(&["echo", "a  b", "c d"]), false));
        assert_eq!(words("echo x'y z'w"), (strings(&["echo", "xy zw"]), false));
        assert_eq!(words("echo '' \"\""), (strings(&["echo", "", ""]), false));
        assert_eq!(
            words(r#"echo "say \"hi\" \\ \n""#),
            (strings(&["echo", r#"say "hi" \ \n"#]), false)
        );
        assert_eq!(words(r"echo 'it\'s"), (strings(&["echo", r"it\s"]), false));
        assert_eq!(words(r"echo a\ b \& \\"), (strings(&["echo", "a b", "&", "\\"]), false));
        assert_eq!(words("echo '&' &"), (strings(&["echo", "&"]), true));
        assert_eq!(words(r"echo end\"), (strings(&["echo", "end\\"]), false));
        assert_eq!(parse("echo 'open"), Err(ParseError::UnclosedQuote('\'')));
        assert_eq!(parse("echo \"open\\\""), Err(ParseError::UnclosedQuote('"')));
        assert_eq!(parse("echo \"x\\"), Err(ParseError::UnclosedQuote('"')));
    }

    #[test]
    fn messages() {
        assert_eq!(ParseError::UnclosedQuote('"').to_string(), "unclosed quote \"");
        assert_eq!(ParseError::AmpersandNotAtEnd.to_string(), "& may only end a line");
    }
}
