//! A small in-memory 9P2000.L server for the tests: files and directories by path.

use super::client::Transport;
use super::codec::{self, kind, Qid, RawDirEntry, Reader, QT_DIR};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use keel_abi::Error;

pub struct FakeServer {
    /// Path ("" is the root, "a/b") to (is a directory, contents).
    pub files: BTreeMap<String, (bool, Vec<u8>)>,
    fids: BTreeMap<u32, String>,
    pub msize: u32,
    /// Requests served.
    pub requests: usize,
}

const ENOENT: u32 = 2;
const EEXIST: u32 = 17;
const ENOTDIR: u32 = 20;
const EBADF: u32 = 9;

impl FakeServer {
    pub fn new(msize: u32) -> Self {
        let mut files = BTreeMap::new();
        files.insert(String::new(), (true, Vec::new()));
        Self { files, fids: BTreeMap::new(), msize, requests: 0 }
    }

    pub fn add(&mut self, path: &str, data: Option<&[u8]>) {
        self.files.insert(String::from(path), (data.is_none(), data.unwrap_or_default().to_vec()));
    }

    /// Open fids (to check that everything was clunked).
    pub fn open_fids(&self) -> usize {
        self.fids.len()
    }

    fn qid(&self, path: &str) -> Qid {
        let dir = self.files.get(path).is_some_and(|(dir, _)| *dir);
        let id = self.files.keys().position(|p| p == path).unwrap_or(0) as u64;
        Qid { kind: if dir { QT_DIR } else { 0 }, version: 0, path: id }
    }

    fn child(parent: &str, name: &str) -> String {
        if parent.is_empty() {
            String::from(name)
        } else {
            alloc::format!("{parent}/{name}")
        }
    }

    fn serve(&mut self, request: &[u8]) -> Result<(u8, Vec<u8>), u32> {
        let mut r = Reader::new(request);
        let _size = r.u32().map_err(|_| EBADF)?;
        let kind = r.u8().map_err(|_| EBADF)?;
        let _tag = r.u16().map_err(|_| EBADF)?;
        let mut body = Vec::new();
        let qid_bytes = |qid: Qid, out: &mut Vec<u8>| {
            out.push(qid.kind);
            out.extend_from_slice(&qid.version.to_le_bytes());
            out.extend_from_slice(&qid.path.to_le_bytes());
        };
        let bad = |_| EBADF;
        match kind {
            kind::TVERSION => {
                let msize = r.u32().map_err(bad)?.min(self.msize);
                body.extend_from_slice(&msize.to_le_bytes());
                body.extend_from_slice(&8u16.to_le_bytes());
                body.extend_from_slice(b"9P2000.L");
            }
            kind::TATTACH => {
                let fid = r.u32().map_err(bad)?;
                self.fids.insert(fid, String::new());
                qid_bytes(self.qid(""), &mut body);
            }
            kind::TWALK => {
                let fid = r.u32().map_err(bad)?;
                let newfid = r.u32().map_err(bad)?;
                let count = r.u16().map_err(bad)?;
                let mut path = self.fids.get(&fid).cloned().ok_or(EBADF)?;
                let mut qids = Vec::new();
                for _ in 0..count {
                    let name = r.str().map_err(bad)?;
                    match self.files.get(&path) {
                        Some((true, _)) => {}
                        Some((false, _)) => return Err(ENOTDIR),
                        None => return Err(ENOENT),
                    }
                    let next = Self::child(&path, name);
                    if !self.files.contains_key(&next) {
                        if qids.is_empty() {
                            return Err(ENOENT);
                        }
                        break;
                    }
                    path = next;
                    qids.push(self.qid(&path));
                }
                if qids.len() == usize::from(count) {
                    self.fids.insert(newfid, path);
                }
                body.extend_from_slice(&(qids.len() as u16).to_le_bytes());
                for qid in qids {
                    qid_bytes(qid, &mut body);
                }
            }
            kind::TLOPEN => {
                let fid = r.u32().map_err(bad)?;
                let flags = r.u32().map_err(bad)?;
                let path = self.fids.get(&fid).cloned().ok_or(EBADF)?;
                if flags & super::client::L_O_TRUNC != 0 {
                    if let Some((_, data)) = self.files.get_mut(&path) {
                        data.clear();
                    }
                }
                qid_bytes(self.qid(&path), &mut body);
                body.extend_from_slice(&0u32.to_le_bytes());
            }
            kind::TLCREATE => {
                let fid = r.u32().map_err(bad)?;
                let name = r.str().map_err(bad)?;
                let dir = self.fids.get(&fid).cloned().ok_or(EBADF)?;
                let path = Self::child(&dir, name);
                if self.files.contains_key(&path) {
                    return Err(EEXIST);
                }
                self.files.insert(path.clone(), (false, Vec::new()));
                qid_bytes(self.qid(&path), &mut body);
                body.extend_from_slice(&0u32.to_le_bytes());
                self.fids.insert(fid, path);
            }
            kind::TREAD => {
                let fid = r.u32().map_err(bad)?;
                let offset = r.u64().map_err(bad)? as usize;
                let count = r.u32().map_err(bad)? as usize;
                let path = self.fids.get(&fid).ok_or(EBADF)?;
                let data = &self.files.get(path).ok_or(ENOENT)?.1;
                let start = offset.min(data.len());
                let end = (start + count).min(data.len());
                body.extend_from_slice(&((end - start) as u32).to_le_bytes());
                body.extend_from_slice(&data[start..end]);
            }
            kind::TWRITE => {
                let fid = r.u32().map_err(bad)?;
                let offset = r.u64().map_err(bad)? as usize;
                let count = r.u32().map_err(bad)? as usize;
                let bytes = r.take(count).map_err(bad)?;
                let path = self.fids.get(&fid).cloned().ok_or(EBADF)?;
                let data = &mut self.files.get_mut(&path).ok_or(ENOENT)?.1;
                if data.len() < offset + count {
                    data.resize(offset + count, 0);
                }
                data[offset..offset + count].copy_from_slice(bytes);
                body.extend_from_slice(&(count as u32).to_le_bytes());
            }
            kind::TCLUNK => {
                let fid = r.u32().map_err(bad)?;
                self.fids.remove(&fid).ok_or(EBADF)?;
            }
            kind::TGETATTR => {
                let fid = r.u32().map_err(bad)?;
                let path = self.fids.get(&fid).ok_or(EBADF)?;
                let (dir, data) = self.files.get(path).ok_or(ENOENT)?;
                body.extend_from_slice(&codec::GETATTR_BASIC.to_le_bytes());
                qid_bytes(self.qid(path), &mut body);
                let mode: u32 = if *dir { 0o040_755 } else { 0o100_644 };
                body.extend_from_slice(&mode.to_le_bytes());
                body.extend_from_slice(&[0; 24]);
                body.extend_from_slice(&(data.len() as u64).to_le_bytes());
                body.extend_from_slice(&[0; 32]);
                body.extend_from_slice(&1_700_000_000u64.to_le_bytes());
                body.extend_from_slice(&[0; 56]);
            }
            kind::TREADDIR => {
                let fid = r.u32().map_err(bad)?;
                let offset = r.u64().map_err(bad)? as usize;
                let count = r.u32().map_err(bad)? as usize;
                let dir = self.fids.get(&fid).cloned().ok_or(EBADF)?;
                let prefix = if dir.is_empty() { String::new() } else { alloc::format!("{dir}/") };
                let children: Vec<(String, bool)> = self
                    .files
                    .iter()
                    .filter_map(|(path, (is_dir, _))| {
                        let rest = path.strip_prefix(&prefix)?;
                        (!rest.is_empty() && !rest.contains('/')).then(|| (String::from(rest), *is_dir))
                    })
                    .collect();
                let mut entries = Vec::new();
                let names = [(String::from("."), true), (String::from(".."), true)].into_iter().chain(children);
                for (index, (name, is_dir)) in names.enumerate().skip(offset) {
                    let mut one = Vec::new();
                    let qid = Qid { kind: if is_dir { QT_DIR } else { 0 }, version: 0, path: index as u64 };
                    let entry = RawDirEntry { qid, offset: index as u64 + 1, kind: if is_dir { 4 } else { 8 }, name: &name };
                    codec::encode_dir_entry(&entry, &mut one);
                    if entries.len() + one.len() > count {
                        break;
                    }
                    entries.extend(one);
                }
                body.extend_from_slice(&(entries.len() as u32).to_le_bytes());
                body.extend(entries);
            }
            _ => return Err(EBADF),
        }
        Ok((kind + 1, body))
    }
}

impl Transport for FakeServer {
    fn request(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        self.requests += 1;
        let tag = request.get(5..7).ok_or(Error::IoError)?;
        let tag = [tag[0], tag[1]];
        let (kind, body) = match self.serve(request) {
            Ok(answer) => answer,
            Err(errno) => (kind::RLERROR, errno.to_le_bytes().to_vec()),
        };
        let size = 7 + body.len();
        let out = reply.get_mut(..size).ok_or(Error::IoError)?;
        out[..4].copy_from_slice(&(size as u32).to_le_bytes());
        out[4] = kind;
        out[5..7].copy_from_slice(&tag);
        out[7..].copy_from_slice(&body);
        Ok(size)
    }
}
