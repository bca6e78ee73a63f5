//! A 9P2000.L client over any transport that carries one request and its reply: version
//! and attach, walks from the root, open, create, read, write, attributes, directories.
#![forbid(unsafe_code)]

use super::codec::{self, decode_reply, Attr, Reply, Request, IO_HEADER_SIZE, MAX_WALK_NAMES, NOFID, NOTAG};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use keel_abi::Error;

/// Carries one 9P message to the server and its reply back.
pub trait Transport: Send {
    /// Sends `request`, writes the reply into `reply` and returns its length.
    fn request(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error>;
}

/// The protocol version Keel speaks.
pub const VERSION: &str = "9P2000.L";
/// Smallest msize worth using.
const MIN_MSIZE: u32 = 4096;
/// The fid of the attached root.
const ROOT_FID: u32 = 0;
const TAG: u16 = 1;

/// Linux open flags, as 9P2000.L carries them.
pub const L_O_RDONLY: u32 = 0;
pub const L_O_WRONLY: u32 = 1;
pub const L_O_RDWR: u32 = 2;
pub const L_O_CREAT: u32 = 0o100;
pub const L_O_TRUNC: u32 = 0o1000;
pub const L_O_DIRECTORY: u32 = 0o200_000;

/// One entry of a directory as the server lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedEntry {
    pub name: String,
    /// `d_type` (4 directory, 8 file, 10 link), or from the qid when 0.
    pub kind: u8,
}

pub struct Client<T> {
    transport: T,
    msize: u32,
    out: Vec<u8>,
    reply: Vec<u8>,
    next_fid: u32,
    free_fids: Vec<u32>,
}

/// The errno of an Rlerror as a Keel error.
pub fn errno_to_error(errno: u32) -> Error {
    match errno {
        1 | 13 => Error::NotPermitted,
        2 => Error::NotFound,
        12 => Error::NoMemory,
        17 => Error::Exists,
        20 => Error::NotADirectory,
        21 => Error::IsADirectory,
        27 | 28 => Error::TooBig,
        30 => Error::ReadOnly,
        36 => Error::NameTooLong,
        _ => Error::IoError,
    }
}

fn protocol_error(error: codec::ProtoError) -> Error {
    log::warn!("9p: bad reply from the server: {error:?}");
    Error::IoError
}

impl<T: Transport> Client<T> {
    /// Agrees on the version and message size (at most `msize`) and attaches the server's
    /// root (`aname` = the export, empty for the default).
    pub fn connect(transport: T, msize: u32, aname: &str) -> Result<Self, Error> {
        let msize = msize.max(MIN_MSIZE);
        let mut client = Self {
            transport,
            msize,
            out: Vec::new(),
            reply: vec![0; msize as usize],
            next_fid: ROOT_FID + 1,
            free_fids: Vec::new(),
        };
        let agreed = match client.call(&Request::Version { msize, version: VERSION }, NOTAG)? {
            Reply::Version { msize: agreed, version } if version == VERSION => agreed,
            Reply::Version { version, .. } => {
                log::warn!("9p: the server speaks {version}, not {VERSION}");
                return Err(Error::IoError);
            }
            _ => return Err(Error::IoError),
        };
        if !(MIN_MSIZE..=msize).contains(&agreed) {
            log::warn!("9p: the server offers msize {agreed} (asked for {msize})");
            return Err(Error::IoError);
        }
        client.msize = agreed;
        client.reply.truncate(agreed as usize);
        let attach = Request::Attach { fid: ROOT_FID, afid: NOFID, uname: "root", aname, n_uname: 0 };
        match client.call(&attach, TAG)? {
            Reply::Attach(_) => Ok(client),
            _ => Err(Error::IoError),
        }
    }

    #[cfg(test)]
    pub fn into_transport(self) -> T {
        self.transport
    }

    pub fn msize(&self) -> u32 {
        self.msize
    }

    /// Most bytes of file data one message carries.
    pub fn max_io(&self) -> usize {
        self.msize as usize - IO_HEADER_SIZE
    }

    /// Sends `request` and decodes its reply; an Rlerror becomes the matching error.
    fn call(&mut self, request: &Request<'_>, tag: u16) -> Result<Reply<'_>, Error> {
        request.encode(tag, &mut self.out).map_err(|_| Error::NameTooLong)?;
        if self.out.len() > self.msize as usize {
            return Err(Error::TooBig);
        }
        let len = self.transport.request(&self.out, &mut self.reply)?;
        let bytes = self.reply.get(..len).ok_or(Error::IoError)?;
        match decode_reply(bytes, request.kind(), tag).map_err(protocol_error)? {
            Reply::Error(errno) => Err(errno_to_error(errno)),
            reply => Ok(reply),
        }
    }

    fn new_fid(&mut self) -> u32 {
        self.free_fids.pop().unwrap_or_else(|| {
            let fid = self.next_fid;
            self.next_fid = self.next_fid.wrapping_add(1).max(ROOT_FID + 1);
            fid
        })
    }

    /// A new fid for the file at `names` (from the root); `NotFound` when a name is missing.
    pub fn walk(&mut self, names: &[String]) -> Result<u32, Error> {
        let fid = self.new_fid();
        let mut from = ROOT_FID;
        let mut chunks = names.chunks(MAX_WALK_NAMES);
        let first: &[String] = chunks.next().unwrap_or(&[]);
        let result = self.walk_step(from, fid, first);
        if let Err(error) = result {
            self.free_fids.push(fid);
            return Err(error);
        }
        from = fid;
        for chunk in chunks {
            if let Err(error) = self.walk_step(from, fid, chunk) {
                self.clunk(fid);
                return Err(error);
            }
        }
        Ok(fid)
    }

    fn walk_step(&mut self, from: u32, fid: u32, names: &[String]) -> Result<(), Error> {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        match self.call(&Request::Walk { fid: from, newfid: fid, names: &names }, TAG)? {
            Reply::Walk(qids) if qids.len() == names.len() => Ok(()),
            Reply::Walk(_) => Err(Error::NotFound),
            _ => Err(Error::IoError),
        }
    }

    /// Lets go of `fid` (errors are logged: the fid is gone either way).
    pub fn clunk(&mut self, fid: u32) {
        match self.call(&Request::Clunk { fid }, TAG) {
            Ok(_) => self.free_fids.push(fid),
            Err(error) => log::warn!("9p: clunk of fid {fid}: {error}"),
        }
    }

    pub fn getattr(&mut self, fid: u32) -> Result<Attr, Error> {
        match self.call(&Request::Getattr { fid, mask: codec::GETATTR_BASIC }, TAG)? {
            Reply::Getattr(attr) => Ok(attr),
            _ => Err(Error::IoError),
        }
    }

    /// Opens the file `fid` names with Linux `flags`.
    pub fn lopen(&mut self, fid: u32, flags: u32) -> Result<(), Error> {
        match self.call(&Request::Lopen { fid, flags }, TAG)? {
            Reply::Lopen { .. } => Ok(()),
            _ => Err(Error::IoError),
        }
    }

    /// Creates `name` in the directory `fid`, which then stands for the new open file.
    pub fn lcreate(&mut self, fid: u32, name: &str, flags: u32, mode: u32) -> Result<(), Error> {
        match self.call(&Request::Lcreate { fid, name, flags, mode, gid: 0 }, TAG)? {
            Reply::Lcreate { .. } => Ok(()),
            _ => Err(Error::IoError),
        }
    }

    /// Reads into `buffer` from `offset` until it is full or the file ends.
    pub fn read(&mut self, fid: u32, offset: u64, buffer: &mut [u8]) -> Result<usize, Error> {
        let mut done = 0;
        while done < buffer.len() {
            let count = (buffer.len() - done).min(self.max_io()) as u32;
            let at = offset.checked_add(done as u64).ok_or(Error::InvalidArgument)?;
            let data = match self.call(&Request::Read { fid, offset: at, count }, TAG)? {
                Reply::Read(data) if data.len() <= count as usize => data,
                _ => return Err(Error::IoError),
            };
            let n = data.len();
            buffer[done..done + n].copy_from_slice(data);
            done += n;
            if n < count as usize {
                break;
            }
        }
        Ok(done)
    }

    /// Writes all of `bytes` at `offset` (in as many messages as it takes).
    pub fn write(&mut self, fid: u32, offset: u64, bytes: &[u8]) -> Result<usize, Error> {
        let mut done = 0;
        while done < bytes.len() {
            let end = done + (bytes.len() - done).min(self.max_io());
            let at = offset.checked_add(done as u64).ok_or(Error::InvalidArgument)?;
            let written = match self.call(&Request::Write { fid, offset: at, data: &bytes[done..end] }, TAG)? {
                Reply::Write(n) if n as usize <= end - done => n as usize,
                _ => return Err(Error::IoError),
            };
            if written == 0 {
                break;
            }
            done += written;
        }
        Ok(done)
    }

    /// Every entry of the open directory `fid`, without `.` and `..`.
    pub fn read_dir(&mut self, fid: u32) -> Result<Vec<ListedEntry>, Error> {
        let mut entries = Vec::new();
        let mut offset = 0;
        // A server that never says "end" must not keep us here for ever.
        for _ in 0..100_000 {
            let count = self.max_io() as u32;
            let raw = match self.call(&Request::Readdir { fid, offset, count }, TAG)? {
                Reply::Readdir(raw) => raw,
                _ => return Err(Error::IoError),
            };
            if raw.is_empty() {
                return Ok(entries);
            }
            let mut progressed = false;
            for entry in codec::dir_entries(raw) {
                let entry = entry.map_err(protocol_error)?;
                progressed |= entry.offset != offset;
                offset = entry.offset;
                if entry.name != "." && entry.name != ".." {
                    let kind = match entry.kind {
                        0 if entry.qid.kind & codec::QT_DIR != 0 => 4,
                        0 if entry.qid.kind & codec::QT_SYMLINK != 0 => 10,
                        kind => kind,
                    };
                    entries.push(ListedEntry { name: String::from(entry.name), kind });
                }
            }
            if !progressed {
                return Ok(entries);
            }
        }
        Err(Error::IoError)
    }

    /// Makes the directory `name` in the directory `fid`.
    pub fn mkdir(&mut self, fid: u32, name: &str, mode: u32) -> Result<(), Error> {
        match self.call(&Request::Mkdir { dfid: fid, name, mode, gid: 0 }, TAG)? {
            Reply::Mkdir(_) => Ok(()),
            _ => Err(Error::IoError),
        }
    }

    /// Removes `name` from the directory `fid` (`AT_REMOVEDIR` = 0x200 for a directory).
    pub fn unlinkat(&mut self, fid: u32, name: &str, flags: u32) -> Result<(), Error> {
        match self.call(&Request::Unlinkat { dirfid: fid, name, flags }, TAG)? {
            Reply::Unlinkat => Ok(()),
            _ => Err(Error::IoError),
        }
    }
}
