//! Files a person adds to the host initrd with `cargo xtask run --add DIR`: every regular
//! file under DIR goes into the initrd at its path relative to DIR, so
//! `DIR/guest/mine/Image` becomes `/guest/mine/Image` (e.g. a guest kernel of one's own for
//! `vm create mine --kernel /guest/mine/Image`).

use std::path::{Path, PathBuf};

/// A file to add: its path in the initrd (no leading `/`), permission bits, bytes.
pub type Added = (String, u32, Vec<u8>);

/// The files under each directory, in path order. Executable files keep mode 0755, others
/// get 0644. Refuses a path that is not valid UTF-8 or that two directories both give.
pub fn collect(directories: &[PathBuf]) -> Result<Vec<Added>, String> {
    let mut files: Vec<Added> = Vec::new();
    for directory in directories {
        if !directory.is_dir() {
            return Err(format!("--add {}: not a directory", directory.display()));
        }
        let mut found = Vec::new();
        walk(directory, directory, &mut found)?;
        found.sort();
        for (path, file) in found {
            if files.iter().any(|(taken, _, _)| *taken == path) {
                return Err(format!(
                    "--add: /{path} is given twice (again in {})",
                    directory.display()
                ));
            }
            let bytes = std::fs::read(&file).map_err(|e| format!("--add: cannot read {}: {e}", file.display()))?;
            files.push((path, mode_of(&file), bytes));
        }
    }
    Ok(files)
}

/// Refuses added files that would shadow the initrd's own (`taken`: its paths).
pub fn check_clashes(added: &[Added], taken: &[&str]) -> Result<(), String> {
    for (path, _, _) in added {
        if taken.contains(&path.as_str()) {
            return Err(format!("--add: /{path} would replace the initrd's own /{path}"));
        }
        if let Some(file) = taken.iter().find(|file| file.starts_with(&format!("{path}/"))) {
            return Err(format!(
                "--add: /{path} is a directory in the initrd (it holds /{file})"
            ));
        }
        let parents = path.match_indices('/').map(|(at, _)| &path[..at]);
        if let Some(parent) = parents.into_iter().find(|parent| taken.contains(parent)) {
            return Err(format!(
                "--add: /{parent} is a file in the initrd, not a directory for /{path}"
            ));
        }
    }
    Ok(())
}

fn walk(root: &Path, directory: &Path, found: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(directory).map_err(|e| format!("--add: cannot list {}: {e}", directory.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("--add: cannot list {}: {e}", directory.display()))?;
        let path = entry.path();
        // Follows symbolic links, as `cp -L` would.
        let metadata = std::fs::metadata(&path).map_err(|e| format!("--add: {}: {e}", path.display()))?;
        if metadata.is_dir() {
            walk(root, &path, found)?;
        } else if metadata.is_file() {
            let relative = path
                .strip_prefix(root)
                .map_err(|_| format!("--add: {} is outside {}", path.display(), root.display()))?;
            let name = relative
                .to_str()
                .ok_or_else(|| format!("--add: {} is not a UTF-8 path", path.display()))?;
            found.push((name.to_string(), path.clone()));
        }
    }
    Ok(())
}

fn mode_of(file: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(file) {
        Ok(metadata) if metadata.permissions().mode() & 0o111 != 0 => 0o755,
        _ => 0o644,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("keel-added-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn files_keep_their_relative_paths() {
        let dir = scratch("paths");
        std::fs::create_dir_all(dir.join("guest/mine")).unwrap();
        std::fs::write(dir.join("guest/mine/Image"), b"kernel").unwrap();
        std::fs::write(dir.join("guest/mine/initrd.gz"), b"initrd").unwrap();
        std::fs::write(dir.join("notes"), b"n").unwrap();
        let files = collect(std::slice::from_ref(&dir)).unwrap();
        let names: Vec<(&str, u32)> = files.iter().map(|(path, mode, _)| (path.as_str(), *mode)).collect();
        assert_eq!(
            names,
            [
                ("guest/mine/Image", 0o644),
                ("guest/mine/initrd.gz", 0o644),
                ("notes", 0o644)
            ]
        );
        assert_eq!(files[0].2, b"kernel");
        assert!(collect(&[dir.clone(), dir.clone()])
            .unwrap_err()
            .contains("given twice"));
        assert!(collect(&[dir.join("notes")]).unwrap_err().contains("not a directory"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_initrds_own_files_are_not_replaced() {
        let added = |path: &str| vec![(path.to_string(), 0o644, Vec::new())];
        let taken = ["init", "bin/sh", "guest/linux/Image"];
        assert_eq!(check_clashes(&added("guest/mine/Image"), &taken), Ok(()));
        assert_eq!(
            check_clashes(&added("bin/sh"), &taken).unwrap_err(),
            "--add: /bin/sh would replace the initrd's own /bin/sh"
        );
        assert!(check_clashes(&added("bin"), &taken)
            .unwrap_err()
            .contains("is a directory"));
        assert_eq!(
            check_clashes(&added("init/x"), &taken).unwrap_err(),
            "--add: /init is a file in the initrd, not a directory for /init/x"
        );
    }
}
