//! The host initrd as a read-only file system: cpio entries, with directories implied by the
//! names of the files in them.
#![forbid(unsafe_code)]

use super::cpio::{Archive, Entry};
use super::vfs::{File, FileSystem};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use keel_abi::{DirEntry, Error, Stat, KIND_DIR, KIND_FILE, KIND_OTHER, KIND_SYMLINK, O_CREATE, O_TRUNCATE, O_WRITE};

const DIR_MODE: u32 = 0o040_755;

pub struct InitrdFs {
    archive: Archive<'static>,
}

impl InitrdFs {
    pub fn new(bytes: &'static [u8]) -> Self {
        Self { archive: Archive::new(bytes) }
    }

    /// The entry at `names`: `Ok(None)` for a directory only implied by the files in it.
    fn lookup(&self, names: &[String]) -> Result<Option<Entry<'static>>, Error> {
        if names.is_empty() {
            return Ok(None);
        }
        let wanted = names.join("/");
        let mut implied = false;
        for entry in self.archive.entries() {
            let entry = entry.map_err(|error| {
                log::warn!("fs: initrd unreadable: {error}");
                Error::IoError
            })?;
            let path = entry.path();
            if path == wanted {
                return Ok(Some(entry));
            }
            if let Some(rest) = wanted.strip_prefix(path) {
                if rest.starts_with('/') && !entry.is_dir() && !path.is_empty() {
                    return Err(Error::NotADirectory);
                }
            }
            implied |= path.strip_prefix(wanted.as_str()).is_some_and(|rest| rest.starts_with('/'));
        }
        if implied {
            Ok(None)
        } else {
            Err(Error::NotFound)
        }
    }
}

fn kind(entry: &Entry<'_>) -> u32 {
    if entry.is_file() {
        KIND_FILE
    } else if entry.is_dir() {
        KIND_DIR
    } else if entry.is_symlink() {
        KIND_SYMLINK
    } else {
        KIND_OTHER
    }
}

fn stat_of(entry: Option<&Entry<'_>>) -> Stat {
    match entry {
        Some(entry) => Stat {
            size: if entry.is_dir() { 0 } else { entry.data.len() as u64 },
            mode: entry.mode,
            kind: kind(entry),
            read_only: 1,
            ..Stat::default()
        },
        None => Stat { mode: DIR_MODE, kind: KIND_DIR, read_only: 1, ..Stat::default() },
    }
}

impl FileSystem for InitrdFs {
    fn stat(&self, names: &[String]) -> Result<Stat, Error> {
        Ok(stat_of(self.lookup(names)?.as_ref()))
    }

    fn open(&self, names: &[String], flags: u64) -> Result<Arc<dyn File>, Error> {
        if flags & (O_WRITE | O_CREATE | O_TRUNCATE) != 0 {
            return Err(Error::ReadOnly);
        }
        match self.lookup(names)? {
            Some(entry) if entry.is_file() => Ok(Arc::new(InitrdFile { data: entry.data, stat: stat_of(Some(&entry)) })),
            Some(entry) if !entry.is_dir() => Err(Error::InvalidArgument),
            _ => Err(Error::IsADirectory),
        }
    }

    fn read_dir(&self, names: &[String]) -> Result<Vec<DirEntry>, Error> {
        if let Some(entry) = self.lookup(names)? {
            if !entry.is_dir() {
                return Err(Error::NotADirectory);
            }
        }
        let prefix = if names.is_empty() { String::new() } else { names.join("/") + "/" };
        let mut children: BTreeMap<&str, u32> = BTreeMap::new();
        for entry in self.archive.entries() {
            let Ok(entry) = entry else { break };
            let Some(rest) = entry.path().strip_prefix(prefix.as_str()) else { continue };
            if rest.is_empty() {
                continue;
            }
            match rest.split_once('/') {
                Some((name, _)) => {
                    children.insert(name, KIND_DIR);
                }
                None => {
                    children.entry(rest).or_insert(kind(&entry));
                }
            }
        }
        Ok(children.into_iter().map(|(name, kind)| DirEntry::new(kind, name)).collect())
    }

    fn borrowed(&self, names: &[String]) -> Option<&'static [u8]> {
        match self.lookup(names) {
            Ok(Some(entry)) if entry.is_file() => Some(entry.data),
            _ => None,
        }
    }
}

/// An open file of the initrd: a slice of it.
struct InitrdFile {
    data: &'static [u8],
    stat: Stat,
}

impl File for InitrdFile {
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> Result<usize, Error> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.data.len());
        let n = buffer.len().min(self.data.len() - start);
        buffer[..n].copy_from_slice(&self.data[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, _offset: u64, _bytes: &[u8]) -> Result<usize, Error> {
        Err(Error::ReadOnly)
    }

    fn stat(&self) -> Result<Stat, Error> {
        Ok(self.stat)
    }
}

#[cfg(test)]
mod tests {
    use super::super::path::resolve;
    use super::super::vfs::{self, Opened, Vfs};
    use super::*;
    use alloc::boxed::Box;
    use alloc::format;
    use keel_abi::O_READ;

    /// A newc archive of (name, mode, data) entries.
    fn archive(entries: &[(&str, u32, &[u8])]) -> &'static [u8] {
        let mut bytes = Vec::new();
        let mut push = |name: &str, mode: u32, data: &[u8]| {
            let fields = [1, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
            bytes.extend_from_slice(b"070701");
            for field in fields {
                bytes.extend_from_slice(format!("{field:08X}").as_bytes());
            }
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0);
            while bytes.len() % 4 != 0 {
                bytes.push(0);
            }
            bytes.extend_from_slice(data);
            while bytes.len() % 4 != 0 {
                bytes.push(0);
            }
        };
        for (name, mode, data) in entries {
            push(name, *mode, data);
        }
        push("TRAILER!!!", 0, b"");
        Box::leak(bytes.into_boxed_slice())
    }

    fn sample() -> Vfs {
        let bytes = archive(&[
            ("init", 0o100_755, b"ELF init"),
            ("bin", 0o040_755, b""),
            ("bin/sh", 0o100_755, b"ELF sh"),
            ("guest/linux/Image", 0o100_644, b"kernel"),
        ]);
        let mut vfs = Vfs::new();
        vfs.mount(&resolve("/", "/").unwrap(), Arc::new(InitrdFs::new(bytes))).unwrap();
        vfs
    }

    fn stat(vfs: &Vfs, path: &str) -> Result<Stat, Error> {
        let path = resolve("/", path)?;
        let (fs, names) = vfs.locate(&path)?;
        vfs::stat(&*fs, &path, &names)
    }

    fn list(vfs: &Vfs, path: &str) -> Result<Vec<String>, Error> {
        let path = resolve("/", path)?;
        let (fs, names) = vfs.locate(&path)?;
        match vfs::open(&*fs, &path, &names, O_READ, &vfs.mount_points_in(&path))? {
            Opened::Directory(entries) => Ok(entries.iter().map(|e| format!("{}:{}", e.name(), e.kind)).collect()),
            Opened::File(_) => Err(Error::NotADirectory),
        }
    }

    #[test]
    fn files_and_directories() {
        let vfs = sample();
        let init = stat(&vfs, "/init").unwrap();
        assert_eq!((init.kind, init.size, init.mode, init.read_only), (KIND_FILE, 8, 0o100_755, 1));
        assert_eq!(stat(&vfs, "/bin").unwrap().kind, KIND_DIR);
        assert_eq!(stat(&vfs, "/guest").unwrap().kind, KIND_DIR, "implied by its files");
        assert_eq!(stat(&vfs, "/guest/linux/").unwrap().kind, KIND_DIR);
        assert_eq!(stat(&vfs, "/").unwrap().kind, KIND_DIR);
        assert_eq!(stat(&vfs, "/nope"), Err(Error::NotFound));
        assert_eq!(stat(&vfs, "/gues"), Err(Error::NotFound));
        assert_eq!(stat(&vfs, "/init/"), Err(Error::NotADirectory));
        assert_eq!(stat(&vfs, "/init/x"), Err(Error::NotADirectory));
    }

    #[test]
    fn listings_merge_mount_points() {
        let mut vfs = sample();
        assert_eq!(list(&vfs, "/").unwrap(), ["bin:2", "guest:2", "init:1"]);
        assert_eq!(list(&vfs, "/guest").unwrap(), ["linux:2"]);
        assert_eq!(list(&vfs, "/bin/").unwrap(), ["sh:1"]);
        let empty = archive(&[]);
        vfs.mount(&resolve("/", "/host").unwrap(), Arc::new(InitrdFs::new(empty))).unwrap();
        assert_eq!(list(&vfs, "/").unwrap(), ["bin:2", "guest:2", "host:2", "init:1"]);
        assert_eq!(list(&vfs, "/host").unwrap(), Vec::<String>::new());
        assert_eq!(list(&vfs, "/init"), Err(Error::NotADirectory));
    }

    #[test]
    fn reads_and_refuses_writes() {
        let vfs = sample();
        let path = resolve("/", "/bin/sh").unwrap();
        let (fs, names) = vfs.locate(&path).unwrap();
        let Ok(Opened::File(file)) = vfs::open(&*fs, &path, &names, O_READ, &[]) else { panic!("not opened") };
        let mut buffer = [0u8; 4];
        assert_eq!(file.read_at(2, &mut buffer), Ok(4));
        assert_eq!(&buffer, b"F sh");
        assert_eq!(file.read_at(5, &mut buffer), Ok(1));
        assert_eq!(file.read_at(99, &mut buffer), Ok(0));
        assert_eq!(file.write_at(0, b"x"), Err(Error::ReadOnly));
        let mut whole = [0u8; 6];
        assert_eq!(vfs::read_into(&*file, &mut whole), Ok(6));
        assert_eq!(fs.borrowed(&names), Some(&b"ELF sh"[..]));
        for flags in [O_WRITE, O_CREATE | O_WRITE, O_TRUNCATE | O_WRITE] {
            assert!(matches!(vfs::open(&*fs, &path, &names, flags, &[]), Err(Error::ReadOnly)));
        }
        let new = resolve("/", "/new").unwrap();
        let (fs, names) = vfs.locate(&new).unwrap();
        assert!(matches!(vfs::open(&*fs, &new, &names, O_CREATE | O_WRITE, &[]), Err(Error::ReadOnly)));
        assert!(matches!(vfs::open(&*fs, &new, &names, O_READ, &[]), Err(Error::NotFound)));
        let dir = resolve("/", "/bin").unwrap();
        let (fs, names) = vfs.locate(&dir).unwrap();
        assert!(matches!(vfs::open(&*fs, &dir, &names, O_WRITE, &[]), Err(Error::IsADirectory)));
    }

    #[test]
    fn a_damaged_archive_is_an_io_error() {
        let fs = InitrdFs::new(b"070701garbage");
        assert_eq!(fs.stat(&[String::from("x")]), Err(Error::IoError));
    }
}
