//! A process's open files (file descriptors from 3 on; 0-2 are the console) and its
//! current directory.
#![forbid(unsafe_code)]

use super::vfs::{File, Opened};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use keel_abi::{DirEntry, Error, SEEK_CUR, SEEK_END, SEEK_SET};

/// The first descriptor handed out; below are the console's.
pub const FIRST_FD: u64 = 3;
/// Most files a process has open at once.
pub const MAX_OPEN: usize = 64;

/// One open file or directory, with its offset (for a directory, the next entry).
pub struct OpenFile {
    pub node: Node,
    pub flags: u64,
    pub offset: spin::Mutex<u64>,
}

pub enum Node {
    File(Arc<dyn File>),
    Directory(Vec<DirEntry>),
}

impl OpenFile {
    pub fn new(opened: Opened, flags: u64) -> Self {
        let node = match opened {
            Opened::File(file) => Node::File(file),
            Opened::Directory(entries) => Node::Directory(entries),
        };
        Self { node, flags, offset: spin::Mutex::new(0) }
    }

    /// The next `max` entries of a directory; advances past them.
    pub fn next_entries(&self, max: usize) -> Result<Vec<DirEntry>, Error> {
        let Node::Directory(entries) = &self.node else { return Err(Error::NotADirectory) };
        let mut offset = self.offset.lock();
        let start = usize::try_from(*offset).unwrap_or(usize::MAX).min(entries.len());
        let end = start.saturating_add(max).min(entries.len());
        *offset = end as u64;
        Ok(entries[start..end].to_vec())
    }

    /// `seek`: the new offset from `whence` and `delta`; `size` is the file's size for
    /// `SEEK_END`. A result below 0 or past i64 is refused.
    pub fn seek(&self, delta: i64, whence: u64, size: impl FnOnce() -> Result<u64, Error>) -> Result<u64, Error> {
        let mut offset = self.offset.lock();
        let base = match whence {
            SEEK_SET => 0,
            SEEK_CUR => *offset,
            SEEK_END => size()?,
            _ => return Err(Error::InvalidArgument),
        };
        let base = i64::try_from(base).map_err(|_| Error::InvalidArgument)?;
        let target = base.checked_add(delta).filter(|target| *target >= 0).ok_or(Error::InvalidArgument)?;
        *offset = target as u64;
        Ok(*offset)
    }
}

/// The descriptors of one process.
pub struct FdTable {
    files: BTreeMap<u64, Arc<OpenFile>>,
    /// The current directory, absolute and resolved (`/host/a`).
    pub cwd: String,
}

impl Default for FdTable {
    fn default() -> Self {
        Self::new(String::from("/"))
    }
}

impl FdTable {
    pub fn new(cwd: String) -> Self {
        Self { files: BTreeMap::new(), cwd }
    }

    /// Adds `file` under the lowest free descriptor.
    pub fn insert(&mut self, file: OpenFile) -> Result<u64, Error> {
        if self.files.len() >= MAX_OPEN {
            return Err(Error::TooBig);
        }
        let fd = (FIRST_FD..).find(|fd| !self.files.contains_key(fd)).ok_or(Error::TooBig)?;
        self.files.insert(fd, Arc::new(file));
        Ok(fd)
    }

    pub fn get(&self, fd: u64) -> Result<Arc<OpenFile>, Error> {
        self.files.get(&fd).cloned().ok_or(Error::BadFd)
    }

    /// Takes `fd` out; the file closes when the caller drops it (outside any lock).
    pub fn remove(&mut self, fd: u64) -> Result<Arc<OpenFile>, Error> {
        self.files.remove(&fd).ok_or(Error::BadFd)
    }

    /// Takes every open file out (the process ended).
    pub fn take_all(&mut self) -> Vec<Arc<OpenFile>> {
        core::mem::take(&mut self.files).into_values().collect()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_abi::KIND_FILE;

    fn dir(names: &[&str]) -> OpenFile {
        let entries = names.iter().map(|name| DirEntry::new(KIND_FILE, name)).collect();
        OpenFile::new(Opened::Directory(entries), 0)
    }

    #[test]
    fn descriptors_start_at_three_and_are_reused() {
        let mut table = FdTable::default();
        assert_eq!(table.insert(dir(&[])), Ok(3));
        assert_eq!(table.insert(dir(&[])), Ok(4));
        assert!(table.remove(3).is_ok());
        assert_eq!(table.remove(3).err(), Some(Error::BadFd));
        assert_eq!(table.get(0).err(), Some(Error::BadFd));
        assert_eq!(table.insert(dir(&[])), Ok(3));
        assert_eq!(table.take_all().len(), 2);
        assert!(table.is_empty());
        for _ in 0..MAX_OPEN {
            table.insert(dir(&[])).unwrap();
        }
        assert_eq!(table.insert(dir(&[])), Err(Error::TooBig));
    }

    #[test]
    fn directory_entries_come_in_batches() {
        let open = dir(&["a", "b", "c"]);
        let names = |entries: Vec<DirEntry>| entries.iter().map(|e| String::from(e.name())).collect::<Vec<_>>();
        assert_eq!(names(open.next_entries(2).unwrap()), ["a", "b"]);
        assert_eq!(names(open.next_entries(2).unwrap()), ["c"]);
        assert!(open.next_entries(2).unwrap().is_empty());
    }

    #[test]
    fn seeking() {
        let open = dir(&[]);
        assert_eq!(open.seek(10, SEEK_SET, || Ok(0)), Ok(10));
        assert_eq!(open.seek(-4, SEEK_CUR, || Ok(0)), Ok(6));
        assert_eq!(open.seek(-1, SEEK_END, || Ok(100)), Ok(99));
        assert_eq!(open.seek(-200, SEEK_END, || Ok(100)), Err(Error::InvalidArgument));
        assert_eq!(open.seek(0, 7, || Ok(0)), Err(Error::InvalidArgument));
        assert_eq!(open.seek(i64::MAX, SEEK_CUR, || Ok(0)), Err(Error::InvalidArgument));
        assert_eq!(open.seek(0, SEEK_END, || Err(Error::IoError)), Err(Error::IoError));
    }
}
