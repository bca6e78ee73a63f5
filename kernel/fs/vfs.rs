//! The virtual file system: one namespace over the mounted file systems, and the traits a
//! file system implements to be mounted (the initrd, the 9P share, later the disk).
#![forbid(unsafe_code)]

use super::mount::MountTable;
use super::path::Resolved;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use keel_abi::{DirEntry, Error, Stat, KIND_DIR, KIND_FILE, O_CREATE, O_TRUNCATE, O_WRITE};

/// A mounted file system. Paths are the names below its mount point (empty: its root).
pub trait FileSystem: Send + Sync {
    /// Attributes of the file or directory at `names`.
    fn stat(&self, names: &[String]) -> Result<Stat, Error>;
    /// Opens the regular file at `names` with `O_*` flags; `O_CREATE` makes a missing one.
    fn open(&self, names: &[String], flags: u64) -> Result<Arc<dyn File>, Error>;
    /// The entries of the directory at `names` (without `.` and `..`).
    fn read_dir(&self, names: &[String]) -> Result<Vec<DirEntry>, Error>;
    /// The whole file in memory, when the file system holds it there (the initrd).
    fn borrowed(&self, _names: &[String]) -> Option<&'static [u8]> {
        None
    }
}

/// An open regular file. Closed when the last reference goes.
pub trait File: Send + Sync {
    /// Reads at `offset`; 0 at the end of the file.
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> Result<usize, Error>;
    /// Writes at `offset`; returns how many bytes were taken.
    fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<usize, Error>;
    fn stat(&self) -> Result<Stat, Error>;
}

/// What `Vfs::open` opened.
pub enum Opened {
    File(Arc<dyn File>),
    /// A directory: its entries, read when it was opened.
    Directory(Vec<DirEntry>),
}

/// The namespace: file systems mounted at absolute paths.
#[derive(Default)]
pub struct Vfs {
    mounts: MountTable<Arc<dyn FileSystem>>,
}

impl Vfs {
    pub const fn new() -> Self {
        Self { mounts: MountTable::new() }
    }

    pub fn mount(&mut self, point: &Resolved, fs: Arc<dyn FileSystem>) -> Result<(), Error> {
        self.mounts.mount(&point.names, fs)
    }

    /// The file system serving `path` and the names it sees (cloned, so that no lock on the
    /// namespace is held during I/O).
    pub fn locate(&self, path: &Resolved) -> Result<(Arc<dyn FileSystem>, Vec<String>), Error> {
        let (fs, rest) = self.mounts.find(&path.names).ok_or(Error::NotFound)?;
        Ok((fs.clone(), rest.to_vec()))
    }

    /// Mount points directly inside the directory `path`.
    pub fn mount_points_in(&self, path: &Resolved) -> Vec<String> {
        self.mounts.points_in(&path.names).into_iter().map(String::from).collect()
    }
}

/// Attributes of `path` (a trailing `/` demands a directory).
pub fn stat(fs: &dyn FileSystem, path: &Resolved, names: &[String]) -> Result<Stat, Error> {
    let stat = fs.stat(names)?;
    if path.wants_dir && stat.kind != KIND_DIR {
        return Err(Error::NotADirectory);
    }
    Ok(stat)
}

/// Opens `path` with `O_*` flags: a file, or a directory for reading its entries (merged
/// with the mount points inside it, `mount_points`).
pub fn open(
    fs: &dyn FileSystem,
    path: &Resolved,
    names: &[String],
    flags: u64,
    mount_points: &[String],
) -> Result<Opened, Error> {
    let writes = flags & (O_WRITE | O_CREATE | O_TRUNCATE) != 0;
    match stat(fs, path, names) {
        Ok(stat) if stat.kind == KIND_DIR => {
            if writes {
                return Err(Error::IsADirectory);
            }
            Ok(Opened::Directory(read_dir(fs, names, mount_points)?))
        }
        Ok(_) => fs.open(names, flags).map(Opened::File),
        Err(Error::NotFound) if flags & O_CREATE != 0 && !path.wants_dir && !names.is_empty() => {
            fs.open(names, flags).map(Opened::File)
        }
        Err(Error::NotFound) if path.wants_dir && flags & O_CREATE != 0 => Err(Error::IsADirectory),
        Err(error) => Err(error),
    }
}

/// The directory's entries and the mount points in it, sorted by name (a mount point hides
/// an entry of the same name).
pub fn read_dir(fs: &dyn FileSystem, names: &[String], mount_points: &[String]) -> Result<Vec<DirEntry>, Error> {
    let mut sorted = BTreeMap::new();
    for entry in fs.read_dir(names)? {
        sorted.insert(String::from(entry.name()), entry);
    }
    for point in mount_points {
        sorted.insert(point.clone(), DirEntry::new(KIND_DIR, point));
    }
    Ok(sorted.into_values().collect())
}

/// Reads the whole of `file` into `buffer` (which has room for its size); returns the
/// bytes read (fewer when the file shrank).
pub fn read_into(file: &dyn File, buffer: &mut [u8]) -> Result<usize, Error> {
    let mut done = 0;
    while done < buffer.len() {
        let n = file.read_at(done as u64, &mut buffer[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// Whether `stat` is a regular file (the only kind `vm create` and programs accept).
pub fn is_file(stat: &Stat) -> bool {
    stat.kind == KIND_FILE
}
