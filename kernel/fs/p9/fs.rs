//! A 9P share as a mounted file system (read-write): each operation walks from the root.
#![forbid(unsafe_code)]

use super::client::{Client, Transport, L_O_CREAT, L_O_RDONLY, L_O_RDWR, L_O_TRUNC, L_O_WRONLY};
use crate::fs::vfs::{File, FileSystem};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use keel_abi::{DirEntry, Error, Stat, KIND_DIR, KIND_FILE, KIND_OTHER, KIND_SYMLINK, O_CREATE, O_READ, O_TRUNCATE, O_WRITE};

/// Mode of files Keel creates.
const NEW_FILE_MODE: u32 = 0o644;

pub struct P9Fs<T> {
    client: Arc<spin::Mutex<Client<T>>>,
}

impl<T: Transport> P9Fs<T> {
    pub fn new(client: Client<T>) -> Self {
        Self { client: Arc::new(spin::Mutex::new(client)) }
    }

    #[cfg(test)]
    pub fn into_client(self) -> Arc<spin::Mutex<Client<T>>> {
        self.client
    }
}

fn kind_of_mode(mode: u32) -> u32 {
    match mode & 0o170_000 {
        0o100_000 => KIND_FILE,
        0o040_000 => KIND_DIR,
        0o120_000 => KIND_SYMLINK,
        _ => KIND_OTHER,
    }
}

fn kind_of_dtype(dtype: u8) -> u32 {
    match dtype {
        4 => KIND_DIR,
        8 => KIND_FILE,
        10 => KIND_SYMLINK,
        _ => KIND_OTHER,
    }
}

/// Keel's `O_*` flags as Linux open flags.
fn linux_flags(flags: u64) -> u32 {
    let access = match (flags & O_READ != 0, flags & O_WRITE != 0) {
        (true, true) => L_O_RDWR,
        (false, true) => L_O_WRONLY,
        _ => L_O_RDONLY,
    };
    access | if flags & O_TRUNCATE != 0 { L_O_TRUNC } else { 0 }
}

fn stat_of(client: &mut Client<impl Transport>, fid: u32) -> Result<Stat, Error> {
    let attr = client.getattr(fid)?;
    let kind = kind_of_mode(attr.mode);
    Ok(Stat {
        size: if kind == KIND_DIR { 0 } else { attr.size },
        mtime: attr.mtime_sec,
        mode: attr.mode,
        kind,
        read_only: 0,
        reserved: 0,
    })
}

impl<T: Transport + 'static> FileSystem for P9Fs<T> {
    fn stat(&self, names: &[String]) -> Result<Stat, Error> {
        let mut client = self.client.lock();
        let fid = client.walk(names)?;
        let stat = stat_of(&mut client, fid);
        client.clunk(fid);
        stat
    }

    fn open(&self, names: &[String], flags: u64) -> Result<Arc<dyn File>, Error> {
        let mut client = self.client.lock();
        let fid = match client.walk(names) {
            Ok(fid) => {
                if let Err(error) = client.lopen(fid, linux_flags(flags)) {
                    client.clunk(fid);
                    return Err(error);
                }
                fid
            }
            Err(Error::NotFound) if flags & O_CREATE != 0 => {
                let (name, parent) = names.split_last().ok_or(Error::IsADirectory)?;
                let fid = client.walk(parent)?;
                if let Err(error) = client.lcreate(fid, name, linux_flags(flags) | L_O_CREAT, NEW_FILE_MODE) {
                    client.clunk(fid);
                    return Err(error);
                }
                fid
            }
            Err(error) => return Err(error),
        };
        Ok(Arc::new(P9File { client: self.client.clone(), fid }))
    }

    fn read_dir(&self, names: &[String]) -> Result<Vec<DirEntry>, Error> {
        let mut client = self.client.lock();
        let fid = client.walk(names)?;
        let listed = client.lopen(fid, L_O_RDONLY).and_then(|()| client.read_dir(fid));
        client.clunk(fid);
        Ok(listed?.iter().map(|entry| DirEntry::new(kind_of_dtype(entry.kind), &entry.name)).collect())
    }
}

/// An open file of the share: a fid, clunked when the file is dropped.
struct P9File<T: Transport> {
    client: Arc<spin::Mutex<Client<T>>>,
    fid: u32,
}

impl<T: Transport> File for P9File<T> {
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> Result<usize, Error> {
        self.client.lock().read(self.fid, offset, buffer)
    }

    fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<usize, Error> {
        self.client.lock().write(self.fid, offset, bytes)
    }

    fn stat(&self) -> Result<Stat, Error> {
        stat_of(&mut self.client.lock(), self.fid)
    }
}

impl<T: Transport> Drop for P9File<T> {
    fn drop(&mut self) {
        self.client.lock().clunk(self.fid);
    }
}
