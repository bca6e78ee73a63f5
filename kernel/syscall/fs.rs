//! The file system calls: open, close, read, write, seek, stat, fstat, readdir, chdir,
//! getcwd. Paths are resolved against the process's current directory; every user pointer
//! is checked through its address space like those of every other call.

use super::{with_space, write_array};
use crate::fs::fd::{Node, OpenFile};
use crate::fs::path::{self, Resolved};
use crate::proc::Process;
use alloc::sync::Arc;
use alloc::vec::Vec;
use keel_abi::{Error, Stat, KIND_DIR, O_CREATE, O_READ, O_TRUNCATE, O_WRITE, PATH_MAX};

/// Largest read or write of one call (a longer one transfers this much).
const MAX_FILE_IO: usize = 4 << 20;
/// Most entries one `readdir` returns.
const MAX_ENTRIES: usize = 256;

/// The path at (ptr, len), resolved against the current directory.
fn user_path(process: &Process, ptr: u64, len: u64) -> Result<Resolved, Error> {
    if len > PATH_MAX as u64 {
        return Err(Error::NameTooLong);
    }
    let text = with_space(process, |space| space.read_str(ptr, len, PATH_MAX))?;
    let cwd = process.files.lock().cwd.clone();
    path::resolve(&cwd, &text)
}

fn open_file(process: &Process, fd: u64) -> Result<Arc<OpenFile>, Error> {
    process.files.lock().get(fd)
}

pub fn open(process: &Process, ptr: u64, len: u64, flags: u64) -> Result<u64, Error> {
    if flags & !(O_READ | O_WRITE | O_CREATE | O_TRUNCATE) != 0 {
        return Err(Error::InvalidArgument);
    }
    let flags = if flags & (O_READ | O_WRITE) == 0 { flags | O_READ } else { flags };
    let path = user_path(process, ptr, len)?;
    let opened = crate::fs::open(&path, flags)?;
    process.files.lock().insert(OpenFile::new(opened, flags))
}

pub fn close(process: &Process, fd: u64) -> Result<u64, Error> {
    let file = process.files.lock().remove(fd)?;
    drop(file);
    Ok(0)
}

pub fn read(process: &Process, fd: u64, ptr: u64, len: u64) -> Result<u64, Error> {
    let file = open_file(process, fd)?;
    let Node::File(node) = &file.node else { return Err(Error::IsADirectory) };
    if file.flags & O_READ == 0 {
        return Err(Error::BadFd);
    }
    let len = usize::try_from(len).map_err(|_| Error::TooBig)?.min(MAX_FILE_IO);
    with_space(process, |space| space.check_writable(ptr, len))?;
    let mut buffer = alloc::vec![0; len];
    let offset = *file.offset.lock();
    let n = node.read_at(offset, &mut buffer)?.min(len);
    with_space(process, |space| space.write(ptr, &buffer[..n]))?;
    *file.offset.lock() = offset + n as u64;
    Ok(n as u64)
}

pub fn write(process: &Process, fd: u64, ptr: u64, len: u64) -> Result<u64, Error> {
    let file = open_file(process, fd)?;
    let Node::File(node) = &file.node else { return Err(Error::IsADirectory) };
    if file.flags & O_WRITE == 0 {
        return Err(Error::BadFd);
    }
    let len = usize::try_from(len).map_err(|_| Error::TooBig)?.min(MAX_FILE_IO);
    let mut bytes = alloc::vec![0; len];
    with_space(process, |space| space.read(ptr, &mut bytes))?;
    let offset = *file.offset.lock();
    let n = node.write_at(offset, &bytes)?.min(len);
    *file.offset.lock() = offset + n as u64;
    Ok(n as u64)
}

pub fn seek(process: &Process, fd: u64, offset: u64, whence: u64) -> Result<u64, Error> {
    let file = open_file(process, fd)?;
    let Node::File(node) = &file.node else { return Err(Error::IsADirectory) };
    file.seek(offset as i64, whence, || node.stat().map(|stat| stat.size))
}

pub fn stat(process: &Process, ptr: u64, len: u64, stat_ptr: u64) -> Result<u64, Error> {
    with_space(process, |space| space.check_writable(stat_ptr, core::mem::size_of::<Stat>()))?;
    let path = user_path(process, ptr, len)?;
    let stat = crate::fs::stat(&path)?;
    with_space(process, |space| space.write_value(stat_ptr, &stat))?;
    Ok(0)
}

pub fn fstat(process: &Process, fd: u64, stat_ptr: u64) -> Result<u64, Error> {
    let file = open_file(process, fd)?;
    let stat = match &file.node {
        Node::File(node) => node.stat()?,
        Node::Directory(_) => Stat { mode: 0o040_755, kind: KIND_DIR, ..Stat::default() },
    };
    with_space(process, |space| space.write_value(stat_ptr, &stat))?;
    Ok(0)
}

pub fn readdir(process: &Process, fd: u64, ptr: u64, max: u64) -> Result<u64, Error> {
    let file = open_file(process, fd)?;
    let max = usize::try_from(max).unwrap_or(usize::MAX).min(MAX_ENTRIES);
    let size = core::mem::size_of::<keel_abi::DirEntry>();
    with_space(process, |space| space.check_writable(ptr, max.saturating_mul(size)))?;
    let entries: Vec<_> = file.next_entries(max)?;
    write_array(process, ptr, max as u64, &entries)
}

pub fn chdir(process: &Process, ptr: u64, len: u64) -> Result<u64, Error> {
    let path = user_path(process, ptr, len)?;
    if crate::fs::stat(&path)?.kind != KIND_DIR {
        return Err(Error::NotADirectory);
    }
    process.files.lock().cwd = path.text();
    Ok(0)
}

pub fn getcwd(process: &Process, ptr: u64, len: u64) -> Result<u64, Error> {
    let len = usize::try_from(len).unwrap_or(usize::MAX).min(PATH_MAX);
    // The whole buffer must be the caller's, however short the answer.
    with_space(process, |space| space.check_writable(ptr, len))?;
    let cwd = process.files.lock().cwd.clone();
    let n = cwd.len().min(len);
    with_space(process, |space| space.write(ptr, &cwd.as_bytes()[..n]))?;
    Ok(cwd.len() as u64)
}

/// A path of a VM's configuration, resolved against the caller's current directory.
pub fn absolute(process: &Process, text: &str) -> Result<alloc::string::String, Error> {
    let cwd = process.files.lock().cwd.clone();
    Ok(path::resolve(&cwd, text)?.text())
}
