//! The kernel's namespace: the mounts made at boot, and whole-file reads for the VMM and
//! the program loader.

use super::path::{self, Resolved};
use super::vfs::{self, FileSystem, Opened, Vfs};
use crate::mm::frame_buffer::FrameBuffer;
use alloc::string::String;
use alloc::sync::Arc;
use keel_abi::{Error, Stat, O_READ};

static INITRD: spin::Once<&'static [u8]> = spin::Once::new();
static VFS: spin::RwLock<Vfs> = spin::RwLock::new(Vfs::new());

/// Records the initrd the loader placed in RAM (its frames are reserved) and mounts it at `/`.
pub fn set_initrd(bytes: &'static [u8]) {
    INITRD.call_once(|| bytes);
    if let Err(error) = mount("/", Arc::new(super::initrd::InitrdFs::new(bytes))) {
        log::warn!("fs: the initrd could not be mounted: {error}");
    }
}

/// Mounts `fs` at the absolute path `point`.
pub fn mount(point: &str, fs: Arc<dyn FileSystem>) -> Result<(), Error> {
    let point = path::resolve("/", point)?;
    VFS.write().mount(&point, fs)?;
    log::info!("fs: mounted {}", point.text());
    Ok(())
}

/// The bytes of a regular file in the initrd.
pub fn initrd_file(path: &str) -> Result<&'static [u8], Error> {
    let bytes = INITRD.get().ok_or(Error::NotFound)?;
    match super::cpio::Archive::new(bytes).find(path) {
        Ok(Some(entry)) if entry.is_file() => Ok(entry.data),
        Ok(_) => Err(Error::NotFound),
        Err(error) => {
            log::warn!("fs: initrd unreadable: {error:?}");
            Err(Error::NotFound)
        }
    }
}

/// The file system of `path` and the names it sees there.
fn locate(path: &Resolved) -> Result<(Arc<dyn FileSystem>, alloc::vec::Vec<String>), Error> {
    VFS.read().locate(path)
}

/// Attributes of the resolved `path`.
pub fn stat(path: &Resolved) -> Result<Stat, Error> {
    let (fs, names) = locate(path)?;
    vfs::stat(&*fs, path, &names)
}

/// Opens the resolved `path` with `O_*` flags.
pub fn open(path: &Resolved, flags: u64) -> Result<Opened, Error> {
    let (fs, names) = locate(path)?;
    let points = VFS.read().mount_points_in(path);
    vfs::open(&*fs, path, &names, flags, &points)
}

/// A whole file: borrowed from the initrd, or read into frames of its own.
pub enum FileBytes {
    Borrowed(&'static [u8]),
    Frames(FrameBuffer),
}

impl core::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Self::Borrowed(bytes) => bytes,
            Self::Frames(buffer) => buffer.as_slice(),
        }
    }
}

/// Largest file read whole (a guest kernel or initramfs).
const MAX_WHOLE_FILE: u64 = 1 << 30;

/// Checks that the absolute `path` names a readable regular file.
pub fn check_file(path: &str) -> Result<Stat, Error> {
    let resolved = path::resolve("/", path)?;
    let stat = stat(&resolved)?;
    if stat.kind == keel_abi::KIND_DIR {
        return Err(Error::IsADirectory);
    }
    if !vfs::is_file(&stat) {
        return Err(Error::InvalidArgument);
    }
    Ok(stat)
}

/// The whole regular file at the absolute `path` (for `vm start`).
pub fn read_file(path: &str) -> Result<FileBytes, Error> {
    let resolved = path::resolve("/", path)?;
    let (fs, names) = locate(&resolved)?;
    if let Some(bytes) = fs.borrowed(&names) {
        return Ok(FileBytes::Borrowed(bytes));
    }
    let started = crate::arch::timer::now_ns();
    let file = match vfs::open(&*fs, &resolved, &names, O_READ, &[])? {
        Opened::File(file) => file,
        Opened::Directory(_) => return Err(Error::IsADirectory),
    };
    let size = file.stat()?.size;
    if size > MAX_WHOLE_FILE {
        return Err(Error::TooBig);
    }
    let mut buffer = FrameBuffer::new(size as usize).ok_or(Error::NoMemory)?;
    let read = vfs::read_into(&*file, buffer.as_mut_slice())?;
    buffer.truncate(read);
    let ms = (crate::arch::timer::now_ns().saturating_sub(started) / 1_000_000).max(1);
    log::info!("fs: read {path} ({} KiB) in {ms} ms, {} MB/s", read >> 10, read as u64 / 1000 / ms);
    Ok(FileBytes::Frames(buffer))
}
