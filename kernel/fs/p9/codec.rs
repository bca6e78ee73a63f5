//! 9P2000.L messages: T-messages encoded into bytes, R-messages decoded from the server's
//! bytes with every length checked (a hostile or truncated reply is an error, never a panic).
//!
//! Every message is `size[4] type[1] tag[2]` and a body; integers are little-endian, a
//! string is `len[2]` and UTF-8 bytes, a qid is `type[1] version[4] path[8]`.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

pub const HEADER_SIZE: usize = 7;
pub const QID_SIZE: usize = 13;
/// The tag of Tversion.
pub const NOTAG: u16 = 0xffff;
pub const NOFID: u32 = 0xffff_ffff;
/// Most names one Twalk may carry.
pub const MAX_WALK_NAMES: usize = 16;
/// Bytes of a Tread/Twrite/Rread header (size, type, tag, fid, offset, count): the data
/// of one message is at most msize minus this.
pub const IO_HEADER_SIZE: usize = 24;

/// Message types (T = request, R = its reply: T + 1).
pub mod kind {
    pub const RLERROR: u8 = 7;
    pub const TLOPEN: u8 = 12;
    pub const TLCREATE: u8 = 14;
    pub const TGETATTR: u8 = 24;
    pub const TREADDIR: u8 = 40;
    pub const TMKDIR: u8 = 72;
    pub const TUNLINKAT: u8 = 76;
    pub const TVERSION: u8 = 100;
    pub const TATTACH: u8 = 104;
    pub const TWALK: u8 = 110;
    pub const TREAD: u8 = 116;
    pub const TWRITE: u8 = 118;
    pub const TCLUNK: u8 = 120;
}

/// `Tgetattr` mask: mode, nlink, uid, gid, rdev, atime, mtime, ctime, ino, size, blocks.
pub const GETATTR_BASIC: u64 = 0x7ff;

/// Why a message could not be built or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoError {
    /// The reply ends before a field it needs.
    Truncated,
    /// The size field disagrees with the bytes received, or is below a header.
    BadSize,
    /// The reply's type is neither the expected R-message nor Rlerror.
    UnexpectedType(u8),
    /// The reply's tag is not the request's.
    BadTag,
    /// A string is not UTF-8.
    NotUtf8,
    /// A string or message too long to encode.
    TooLong,
}

/// A server's unique id of a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Qid {
    pub kind: u8,
    pub version: u32,
    pub path: u64,
}

/// qid type bits.
pub const QT_DIR: u8 = 0x80;
pub const QT_SYMLINK: u8 = 0x02;

/// A request.
#[derive(Clone, Copy, Debug)]
pub enum Request<'a> {
    Version { msize: u32, version: &'a str },
    Attach { fid: u32, afid: u32, uname: &'a str, aname: &'a str, n_uname: u32 },
    Walk { fid: u32, newfid: u32, names: &'a [&'a str] },
    Lopen { fid: u32, flags: u32 },
    Lcreate { fid: u32, name: &'a str, flags: u32, mode: u32, gid: u32 },
    Read { fid: u32, offset: u64, count: u32 },
    Write { fid: u32, offset: u64, data: &'a [u8] },
    Clunk { fid: u32 },
    Getattr { fid: u32, mask: u64 },
    Readdir { fid: u32, offset: u64, count: u32 },
    Mkdir { dfid: u32, name: &'a str, mode: u32, gid: u32 },
    Unlinkat { dirfid: u32, name: &'a str, flags: u32 },
}

impl Request<'_> {
    pub fn kind(&self) -> u8 {
        match self {
            Self::Version { .. } => kind::TVERSION,
            Self::Attach { .. } => kind::TATTACH,
            Self::Walk { .. } => kind::TWALK,
            Self::Lopen { .. } => kind::TLOPEN,
            Self::Lcreate { .. } => kind::TLCREATE,
            Self::Read { .. } => kind::TREAD,
            Self::Write { .. } => kind::TWRITE,
            Self::Clunk { .. } => kind::TCLUNK,
            Self::Getattr { .. } => kind::TGETATTR,
            Self::Readdir { .. } => kind::TREADDIR,
            Self::Mkdir { .. } => kind::TMKDIR,
            Self::Unlinkat { .. } => kind::TUNLINKAT,
        }
    }

    /// Encodes the request with `tag` into `out` (cleared first).
    pub fn encode(&self, tag: u16, out: &mut Vec<u8>) -> Result<(), ProtoError> {
        out.clear();
        out.extend_from_slice(&[0, 0, 0, 0, self.kind()]);
        out.extend_from_slice(&tag.to_le_bytes());
        let mut w = Writer { out };
        match *self {
            Self::Version { msize, version } => {
                w.u32(msize);
                w.str(version)?;
            }
            Self::Attach { fid, afid, uname, aname, n_uname } => {
                w.u32(fid);
                w.u32(afid);
                w.str(uname)?;
                w.str(aname)?;
                w.u32(n_uname);
            }
            Self::Walk { fid, newfid, names } => {
                if names.len() > MAX_WALK_NAMES {
                    return Err(ProtoError::TooLong);
                }
                w.u32(fid);
                w.u32(newfid);
                w.u16(names.len() as u16);
                for name in names {
                    w.str(name)?;
                }
            }
            Self::Lopen { fid, flags } => {
                w.u32(fid);
                w.u32(flags);
            }
            Self::Lcreate { fid, name, flags, mode, gid } => {
                w.u32(fid);
                w.str(name)?;
                w.u32(flags);
                w.u32(mode);
                w.u32(gid);
            }
            Self::Read { fid, offset, count } | Self::Readdir { fid, offset, count } => {
                w.u32(fid);
                w.u64(offset);
                w.u32(count);
            }
            Self::Write { fid, offset, data } => {
                w.u32(fid);
                w.u64(offset);
                w.u32(u32::try_from(data.len()).map_err(|_| ProtoError::TooLong)?);
                w.out.extend_from_slice(data);
            }
            Self::Clunk { fid } => w.u32(fid),
            Self::Getattr { fid, mask } => {
                w.u32(fid);
                w.u64(mask);
            }
            Self::Mkdir { dfid, name, mode, gid } => {
                w.u32(dfid);
                w.str(name)?;
                w.u32(mode);
                w.u32(gid);
            }
            Self::Unlinkat { dirfid, name, flags } => {
                w.u32(dirfid);
                w.str(name)?;
                w.u32(flags);
            }
        }
        let size = u32::try_from(out.len()).map_err(|_| ProtoError::TooLong)?;
        out[..4].copy_from_slice(&size.to_le_bytes());
        Ok(())
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn u16(&mut self, value: u16) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    fn u32(&mut self, value: u32) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    fn str(&mut self, text: &str) -> Result<(), ProtoError> {
        self.u16(u16::try_from(text.len()).map_err(|_| ProtoError::TooLong)?);
        self.out.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// Bounds-checked reading of a message body.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if n > self.bytes.len() {
            return Err(ProtoError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtoError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    pub fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16, ProtoError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, ProtoError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, ProtoError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn str(&mut self) -> Result<&'a str, ProtoError> {
        let len = usize::from(self.u16()?);
        core::str::from_utf8(self.take(len)?).map_err(|_| ProtoError::NotUtf8)
    }
    pub fn qid(&mut self) -> Result<Qid, ProtoError> {
        Ok(Qid { kind: self.u8()?, version: self.u32()?, path: self.u64()? })
    }
}

/// File attributes from Rgetattr (the fields Keel uses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attr {
    pub qid: Qid,
    pub mode: u32,
    pub size: u64,
    pub mtime_sec: u64,
}

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// Rlerror: a Linux errno.
    Error(u32),
    Version { msize: u32, version: &'a str },
    Attach(Qid),
    Walk(Vec<Qid>),
    Lopen { qid: Qid, iounit: u32 },
    Lcreate { qid: Qid, iounit: u32 },
    Read(&'a [u8]),
    Write(u32),
    Clunk,
    Getattr(Attr),
    /// Rreaddir: the raw entries (see [`dir_entries`]).
    Readdir(&'a [u8]),
    Mkdir(Qid),
    Unlinkat,
}

/// Decodes `bytes` (exactly what the server wrote) as the reply to a request of type
/// `request` with `tag`.
pub fn decode_reply(bytes: &[u8], request: u8, tag: u16) -> Result<Reply<'_>, ProtoError> {
    let mut r = Reader::new(bytes);
    let size = r.u32()?;
    if size as usize != bytes.len() || bytes.len() < HEADER_SIZE {
        return Err(ProtoError::BadSize);
    }
    let kind = r.u8()?;
    if r.u16()? != tag {
        return Err(ProtoError::BadTag);
    }
    if kind == kind::RLERROR {
        return Ok(Reply::Error(r.u32()?));
    }
    if kind != request.wrapping_add(1) {
        return Err(ProtoError::UnexpectedType(kind));
    }
    Ok(match request {
        kind::TVERSION => Reply::Version { msize: r.u32()?, version: r.str()? },
        kind::TATTACH => Reply::Attach(r.qid()?),
        kind::TWALK => {
            let count = usize::from(r.u16()?);
            if count > MAX_WALK_NAMES {
                return Err(ProtoError::BadSize);
            }
            let mut qids = Vec::with_capacity(count);
            for _ in 0..count {
                qids.push(r.qid()?);
            }
            Reply::Walk(qids)
        }
        kind::TLOPEN => Reply::Lopen { qid: r.qid()?, iounit: r.u32()? },
        kind::TLCREATE => Reply::Lcreate { qid: r.qid()?, iounit: r.u32()? },
        kind::TREAD => {
            let count = r.u32()? as usize;
            Reply::Read(r.take(count)?)
        }
        kind::TWRITE => Reply::Write(r.u32()?),
        kind::TCLUNK => Reply::Clunk,
        kind::TGETATTR => {
            let _valid = r.u64()?;
            let qid = r.qid()?;
            let mode = r.u32()?;
            let _uid_gid_nlink_rdev = r.take(4 + 4 + 8 + 8)?;
            let size = r.u64()?;
            let _blksize_blocks_atime = r.take(8 + 8 + 16)?;
            let mtime_sec = r.u64()?;
            let _rest = r.take(8 + 16 + 16 + 8 + 8)?;
            Reply::Getattr(Attr { qid, mode, size, mtime_sec })
        }
        kind::TREADDIR => {
            let count = r.u32()? as usize;
            Reply::Readdir(r.take(count)?)
        }
        kind::TMKDIR => Reply::Mkdir(r.qid()?),
        kind::TUNLINKAT => Reply::Unlinkat,
        other => return Err(ProtoError::UnexpectedType(other)),
    })
}

/// One entry of Rreaddir.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawDirEntry<'a> {
    pub qid: Qid,
    /// Where the next Treaddir continues after this entry.
    pub offset: u64,
    /// `d_type` (DT_DIR 4, DT_REG 8, DT_LNK 10).
    pub kind: u8,
    pub name: &'a str,
}

/// The entries of an Rreaddir body; stops at the first damaged one (as an error).
pub fn dir_entries(bytes: &[u8]) -> impl Iterator<Item = Result<RawDirEntry<'_>, ProtoError>> {
    let mut r = Reader::new(bytes);
    let mut failed = false;
    core::iter::from_fn(move || {
        if failed || r.is_empty() {
            return None;
        }
        let entry = (|| Ok(RawDirEntry { qid: r.qid()?, offset: r.u64()?, kind: r.u8()?, name: r.str()? }))();
        failed = entry.is_err();
        Some(entry)
    })
}

/// Encodes one Rreaddir entry (for tests and fake servers).
pub fn encode_dir_entry(entry: &RawDirEntry<'_>, out: &mut Vec<u8>) {
    out.push(entry.qid.kind);
    out.extend_from_slice(&entry.qid.version.to_le_bytes());
    out.extend_from_slice(&entry.qid.path.to_le_bytes());
    out.extend_from_slice(&entry.offset.to_le_bytes());
    out.push(entry.kind);
    out.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
    out.extend_from_slice(entry.name.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A reply of `kind` with `tag` and `body`.
    fn reply(kind: u8, tag: u16, body: &[u8]) -> Vec<u8> {
        let mut bytes = ((HEADER_SIZE + body.len()) as u32).to_le_bytes().to_vec();
        bytes.push(kind);
        bytes.extend_from_slice(&tag.to_le_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    fn qid_bytes(kind: u8, path: u64) -> Vec<u8> {
        let mut bytes = vec![kind, 1, 0, 0, 0];
        bytes.extend_from_slice(&path.to_le_bytes());
        bytes
    }

    #[test]
    fn requests_encode_as_the_protocol_says() {
        let mut out = Vec::new();
        Request::Version { msize: 8192, version: "9P2000.L" }.encode(NOTAG, &mut out).unwrap();
        assert_eq!(out, b"\x15\0\0\0\x64\xff\xff\x00\x20\0\0\x08\09P2000.L");
        Request::Walk { fid: 1, newfid: 2, names: &["a", "bc"] }.encode(3, &mut out).unwrap();
        assert_eq!(out, b"\x18\0\0\0\x6e\x03\0\x01\0\0\0\x02\0\0\0\x02\0\x01\0a\x02\0bc");
        Request::Write { fid: 5, offset: 0x1_0000_0000, data: b"hi" }.encode(1, &mut out).unwrap();
        assert_eq!(out.len(), IO_HEADER_SIZE - 1 + 2);
        assert_eq!(&out[..7], b"\x19\0\0\0\x76\x01\0");
        assert_eq!(&out[11..19], &0x1_0000_0000u64.to_le_bytes());
        Request::Clunk { fid: 9 }.encode(1, &mut out).unwrap();
        assert_eq!(out, b"\x0b\0\0\0\x78\x01\0\x09\0\0\0");
        Request::Lcreate { fid: 1, name: "f", flags: 0o1101, mode: 0o644, gid: 0 }.encode(1, &mut out).unwrap();
        assert_eq!(out.len(), 7 + 4 + 3 + 12);
    }

    #[test]
    fn requests_that_cannot_be_encoded() {
        let mut out = Vec::new();
        let names = ["x"; MAX_WALK_NAMES + 1];
        assert_eq!(Request::Walk { fid: 0, newfid: 1, names: &names }.encode(1, &mut out), Err(ProtoError::TooLong));
        let long = "n".repeat(70_000);
        assert_eq!(
            Request::Lcreate { fid: 0, name: &long, flags: 0, mode: 0, gid: 0 }.encode(1, &mut out),
            Err(ProtoError::TooLong)
        );
    }

    #[test]
    fn replies_decode() {
        let version = reply(101, NOTAG, b"\x00\x00\x10\x00\x08\x009P2000.L");
        assert_eq!(decode_reply(&version, kind::TVERSION, NOTAG), Ok(Reply::Version { msize: 0x10_0000, version: "9P2000.L" }));
        let mut walk = vec![2, 0];
        walk.extend(qid_bytes(QT_DIR, 1));
        walk.extend(qid_bytes(0, 2));
        let walk = reply(111, 4, &walk);
        let walked = decode_reply(&walk, kind::TWALK, 4).unwrap();
        assert_eq!(walked, Reply::Walk(vec![Qid { kind: QT_DIR, version: 1, path: 1 }, Qid { kind: 0, version: 1, path: 2 }]));
        let read = reply(117, 1, b"\x03\0\0\0abc");
        assert_eq!(decode_reply(&read, kind::TREAD, 1), Ok(Reply::Read(b"abc")));
        assert_eq!(decode_reply(&reply(7, 1, &2u32.to_le_bytes()), kind::TREAD, 1), Ok(Reply::Error(2)));
        assert_eq!(decode_reply(&reply(121, 1, b""), kind::TCLUNK, 1), Ok(Reply::Clunk));
        let mut attr = vec![0xff; 8];
        attr.extend(qid_bytes(0, 7));
        attr.extend_from_slice(&0o100_644u32.to_le_bytes());
        attr.extend_from_slice(&[0; 24]);
        attr.extend_from_slice(&1234u64.to_le_bytes());
        attr.extend_from_slice(&[0; 32]);
        attr.extend_from_slice(&99u64.to_le_bytes());
        attr.extend_from_slice(&[0; 56]);
        let getattr = reply(25, 1, &attr);
        let Ok(Reply::Getattr(decoded)) = decode_reply(&getattr, kind::TGETATTR, 1) else { panic!() };
        assert_eq!((decoded.mode, decoded.size, decoded.mtime_sec, decoded.qid.path), (0o100_644, 1234, 99, 7));
        // One byte short of a whole Rgetattr.
        let short = reply(25, 1, &attr[..attr.len() - 1]);
        assert_eq!(decode_reply(&short, kind::TGETATTR, 1), Err(ProtoError::Truncated));
    }

    #[test]
    fn hostile_replies_are_errors() {
        let good = reply(117, 1, b"\x03\0\0\0abc");
        assert_eq!(decode_reply(&good[..good.len() - 1], kind::TREAD, 1), Err(ProtoError::BadSize));
        assert_eq!(decode_reply(&good, kind::TREAD, 2), Err(ProtoError::BadTag));
        assert_eq!(decode_reply(&good, kind::TWRITE, 1), Err(ProtoError::UnexpectedType(117)));
        assert_eq!(decode_reply(&[], kind::TREAD, 1), Err(ProtoError::Truncated));
        assert_eq!(decode_reply(&[4, 0, 0, 0], kind::TREAD, 1), Err(ProtoError::BadSize));
        // A count that claims more data than the reply holds.
        let lying = reply(117, 1, b"\xff\xff\xff\x7fabc");
        assert_eq!(decode_reply(&lying, kind::TREAD, 1), Err(ProtoError::Truncated));
        let too_many_qids = reply(111, 1, &[17, 0]);
        assert_eq!(decode_reply(&too_many_qids, kind::TWALK, 1), Err(ProtoError::BadSize));
        let bad_utf8 = reply(101, NOTAG, b"\0\0\x01\0\x02\0\xff\xfe");
        assert_eq!(decode_reply(&bad_utf8, kind::TVERSION, NOTAG), Err(ProtoError::NotUtf8));
        // A reply that matches no request Keel makes.
        assert_eq!(decode_reply(&reply(3, 1, b""), 2, 1), Err(ProtoError::UnexpectedType(2)));
    }

    #[test]
    fn directory_entries() {
        let mut body = Vec::new();
        let a = RawDirEntry { qid: Qid { kind: QT_DIR, version: 0, path: 1 }, offset: 10, kind: 4, name: "dir" };
        let b = RawDirEntry { qid: Qid::default(), offset: 20, kind: 8, name: "file.txt" };
        encode_dir_entry(&a, &mut body);
        encode_dir_entry(&b, &mut body);
        let entries: Vec<_> = dir_entries(&body).collect();
        assert_eq!(entries, [Ok(a.clone()), Ok(b)]);
        let cut: Vec<_> = dir_entries(&body[..body.len() - 3]).collect();
        assert_eq!(cut.len(), 2);
        assert_eq!(cut[1], Err(ProtoError::Truncated));
    }

    #[test]
    fn random_replies_never_panic() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let kinds = [
            kind::TVERSION,
            kind::TATTACH,
            kind::TWALK,
            kind::TLOPEN,
            kind::TLCREATE,
            kind::TREAD,
            kind::TWRITE,
            kind::TCLUNK,
            kind::TGETATTR,
            kind::TREADDIR,
            kind::TMKDIR,
            kind::TUNLINKAT,
        ];
        for round in 0..50_000 {
            let request = kinds[round % kinds.len()];
            let len = (next() % 200) as usize;
            let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 3 == 0 && body.len() >= 4 {
                body[..4].copy_from_slice(&((next() % 300) as u32).to_le_bytes());
            }
            let kind = if round % 2 == 0 { request + 1 } else { next() as u8 };
            let bytes = reply(kind, 1, &body);
            if let Ok(Reply::Readdir(raw)) = decode_reply(&bytes, request, 1) {
                for entry in dir_entries(raw) {
                    let _ = entry;
                }
            }
            let _ = decode_reply(&bytes[..(next() as usize) % (bytes.len() + 1)], request, 1);
            let _ = dir_entries(&body).count();
        }
    }
}
