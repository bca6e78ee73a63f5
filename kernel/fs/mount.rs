//! The mount table: which file system serves which part of the namespace.
//!
//! A mount point is an absolute list of names (the root is the empty list). A path belongs
//! to the mount with the longest point that is a prefix of it, and that file system sees
//! the rest of the path. Mount points also appear as directories in the listing of the
//! directory that holds them, whether or not the file system below has such a directory.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;
use keel_abi::Error;

pub struct MountTable<T> {
    mounts: Vec<(Vec<String>, T)>,
}

impl<T> Default for MountTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> MountTable<T> {
    pub const fn new() -> Self {
        Self { mounts: Vec::new() }
    }

    /// Mounts `fs` at `point`; a point in use is refused.
    pub fn mount(&mut self, point: &[String], fs: T) -> Result<(), Error> {
        if self.mounts.iter().any(|(existing, _)| existing.as_slice() == point) {
            return Err(Error::Exists);
        }
        self.mounts.push((point.to_vec(), fs));
        Ok(())
    }

    /// The file system that serves `names`, and the names it sees.
    pub fn find<'p>(&self, names: &'p [String]) -> Option<(&T, &'p [String])> {
        self.mounts
            .iter()
            .filter(|(point, _)| names.starts_with(point))
            .max_by_key(|(point, _)| point.len())
            .map(|(point, fs)| (fs, &names[point.len()..]))
    }

    /// Whether `names` is itself a mount point.
    pub fn is_mount_point(&self, names: &[String]) -> bool {
        self.mounts.iter().any(|(point, _)| point.as_slice() == names)
    }

    /// The names of mount points directly inside the directory `names`.
    pub fn points_in(&self, names: &[String]) -> Vec<&str> {
        self.mounts
            .iter()
            .filter(|(point, _)| point.len() == names.len() + 1 && point.starts_with(names))
            .filter_map(|(point, _)| point.last().map(String::as_str))
            .collect()
    }

    /// Every mount point with its file system.
    pub fn iter(&self) -> impl Iterator<Item = (&[String], &T)> {
        self.mounts.iter().map(|(point, fs)| (point.as_slice(), fs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(path: &str) -> Vec<String> {
        path.split('/').filter(|n| !n.is_empty()).map(String::from).collect()
    }

    fn table() -> MountTable<&'static str> {
        let mut table = MountTable::new();
        table.mount(&names("/"), "initrd").unwrap();
        table.mount(&names("/host"), "9p").unwrap();
        table.mount(&names("/host/disk"), "disk").unwrap();
        table
    }

    #[test]
    fn longest_prefix_wins() {
        let table = table();
        let path = names("/host/a/b");
        let (fs, rest) = table.find(&path).unwrap();
        assert_eq!((*fs, rest), ("9p", &names("a/b")[..]));
        let path = names("/host/disk/x");
        assert_eq!(table.find(&path).map(|(fs, rest)| (*fs, rest.len())), Some(("disk", 1)));
        let path = names("/hostile/x");
        assert_eq!(table.find(&path).map(|(fs, rest)| (*fs, rest.len())), Some(("initrd", 2)));
        let root = names("/");
        assert_eq!(table.find(&root).map(|(fs, rest)| (*fs, rest.len())), Some(("initrd", 0)));
        let point = names("/host");
        assert_eq!(table.find(&point).map(|(fs, rest)| (*fs, rest.len())), Some(("9p", 0)));
    }

    #[test]
    fn an_empty_table_serves_nothing() {
        let table: MountTable<u8> = MountTable::new();
        assert!(table.find(&names("/x")).is_none());
        let mut table = MountTable::new();
        table.mount(&names("/host"), 1).unwrap();
        assert!(table.find(&names("/bin")).is_none());
    }

    #[test]
    fn points_are_listed_in_their_directory() {
        let table = table();
        assert_eq!(table.points_in(&names("/")), ["host"]);
        assert_eq!(table.points_in(&names("/host")), ["disk"]);
        assert!(table.points_in(&names("/bin")).is_empty());
        assert!(table.is_mount_point(&names("/host")));
        assert!(!table.is_mount_point(&names("/bin")));
        assert_eq!(table.iter().count(), 3);
    }

    #[test]
    fn a_point_is_mounted_once() {
        let mut table = table();
        assert_eq!(table.mount(&names("/host"), "again"), Err(Error::Exists));
    }
}
