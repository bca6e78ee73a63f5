//! Path resolution: a user's path and the current directory become an absolute list of names.
//!
//! Resolution is lexical: `.` is dropped, `..` removes the name before it (at the root it
//! stays at the root), repeated `/` count as one, and a trailing `/` (or a final `.`/`..`)
//! says the path must name a directory. No name is longer than [`FILE_NAME_MAX`] bytes, no
//! path than [`PATH_MAX`]; an empty path names nothing.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;
use keel_abi::{Error, FILE_NAME_MAX, PATH_MAX};

/// An absolute path, as names from the root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    pub names: Vec<String>,
    /// The path ended in `/`, `.` or `..`: it must be a directory.
    pub wants_dir: bool,
}

impl Resolved {
    /// The root directory.
    pub fn root() -> Self {
        Self::default()
    }

    /// `/a/b` (`/` for the root).
    pub fn text(&self) -> String {
        if self.names.is_empty() {
            return String::from("/");
        }
        let mut text = String::new();
        for name in &self.names {
            text.push('/');
            text.push_str(name);
        }
        text
    }

    /// The parent directory and the last name; `None` for the root.
    pub fn split_last(&self) -> Option<(&[String], &str)> {
        let (last, parent) = self.names.split_last()?;
        Some((parent, last.as_str()))
    }
}

/// Resolves `path` against the absolute directory `cwd` (used when `path` is relative).
pub fn resolve(cwd: &str, path: &str) -> Result<Resolved, Error> {
    if path.is_empty() {
        return Err(Error::NotFound);
    }
    if path.len() > PATH_MAX || cwd.len() > PATH_MAX {
        return Err(Error::NameTooLong);
    }
    let mut resolved = Resolved::root();
    if !path.starts_with('/') {
        push_names(&mut resolved, cwd)?;
    }
    push_names(&mut resolved, path)?;
    if resolved.text().len() > PATH_MAX {
        return Err(Error::NameTooLong);
    }
    Ok(resolved)
}

/// Applies the names of `path` to `resolved`; sets `wants_dir` from its ending.
fn push_names(resolved: &mut Resolved, path: &str) -> Result<(), Error> {
    let mut wants_dir = path.ends_with('/');
    for name in path.split('/').filter(|name| !name.is_empty()) {
        wants_dir = matches!(name, "." | "..");
        match name {
            "." => {}
            ".." => {
                resolved.names.pop();
            }
            _ if name.len() > FILE_NAME_MAX => return Err(Error::NameTooLong),
            _ if name.contains('\0') => return Err(Error::InvalidArgument),
            _ => resolved.names.push(String::from(name)),
        }
    }
    wants_dir |= path.ends_with('/');
    resolved.wants_dir = wants_dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(cwd: &str, path: &str) -> String {
        resolve(cwd, path).unwrap().text()
    }

    #[test]
    fn absolute_and_relative_paths() {
        assert_eq!(text("/", "/bin/sh"), "/bin/sh");
        assert_eq!(text("/host", "x"), "/host/x");
        assert_eq!(text("/host/a", "b/c"), "/host/a/b/c");
        assert_eq!(text("/host", "/init"), "/init");
        assert_eq!(text("/", "/"), "/");
    }

    #[test]
    fn dots_and_repeated_slashes() {
        assert_eq!(text("/", "//bin///sh"), "/bin/sh");
        assert_eq!(text("/host/a", "."), "/host/a");
        assert_eq!(text("/host/a", ".."), "/host");
        assert_eq!(text("/host/a", "../b/./c/.."), "/host/b");
        assert_eq!(text("/", ".."), "/");
        assert_eq!(text("/", "/../../x"), "/x");
        assert_eq!(text("/a", "./"), "/a");
        assert_eq!(text("/a", "..."), "/a/...");
    }

    #[test]
    fn trailing_slash_and_dots_want_a_directory() {
        assert!(resolve("/", "/bin/").unwrap().wants_dir);
        assert!(resolve("/", "/bin//").unwrap().wants_dir);
        assert!(resolve("/", "/bin/.").unwrap().wants_dir);
        assert!(resolve("/", "/bin/..").unwrap().wants_dir);
        assert!(resolve("/", "/").unwrap().wants_dir);
        assert!(!resolve("/", "/bin/sh").unwrap().wants_dir);
        assert!(!resolve("/x/", "sh").unwrap().wants_dir);
        assert_eq!(resolve("/", "/bin/").unwrap().names, ["bin"]);
    }

    #[test]
    fn limits() {
        assert_eq!(resolve("/", ""), Err(Error::NotFound));
        let long_name = "n".repeat(FILE_NAME_MAX + 1);
        assert_eq!(resolve("/", &long_name), Err(Error::NameTooLong));
        assert!(resolve("/", &"n".repeat(FILE_NAME_MAX)).is_ok());
        let long_path = "/a".repeat(PATH_MAX / 2 + 1);
        assert_eq!(resolve("/", &long_path), Err(Error::NameTooLong));
        // Each short, together too long once joined to the current directory.
        let cwd = format!("/{}", "d".repeat(200)).repeat(5);
        assert_eq!(resolve(&cwd, &"e".repeat(200)), Err(Error::NameTooLong));
        assert_eq!(resolve("/", "a\0b"), Err(Error::InvalidArgument));
    }

    #[test]
    fn split_last() {
        let resolved = resolve("/", "/host/dir/file").unwrap();
        let (parent, name) = resolved.split_last().unwrap();
        assert_eq!((parent.len(), name), (2, "file"));
        assert_eq!(Resolved::root().split_last(), None);
    }
}
