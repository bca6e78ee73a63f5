//! The client and the mounted share against the fake server, and against hostile ones.

use super::client::{Client, Transport};
use super::fake::FakeServer;
use super::fs::P9Fs;
use crate::fs::path::resolve;
use crate::fs::vfs::{self, FileSystem, Opened, Vfs};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use keel_abi::{Error, KIND_DIR, KIND_FILE, O_CREATE, O_READ, O_TRUNCATE, O_WRITE};

fn names(path: &str) -> Vec<String> {
    path.split('/').filter(|n| !n.is_empty()).map(String::from).collect()
}

fn server() -> FakeServer {
    let mut server = FakeServer::new(4096);
    server.add("hello.txt", Some(b"hello from the machine\n"));
    server.add("dir", None);
    server.add("dir/big.bin", Some(&(0..20_000u32).map(|i| (i * 7) as u8).collect::<Vec<u8>>()));
    let mut deep = String::new();
    for level in 0..20 {
        deep.push_str(if level == 0 { "d0" } else { "/d" });
        server.add(&deep, None);
    }
    server.add(&(deep + "/leaf"), Some(b"deep"));
    server
}

#[test]
fn connect_negotiates_the_smaller_msize() {
    let client = Client::connect(server(), 1 << 20, "").unwrap();
    assert_eq!(client.msize(), 4096);
    assert_eq!(client.max_io(), 4096 - 24);
}

#[test]
fn stat_read_and_list() {
    let fs = P9Fs::new(Client::connect(server(), 1 << 20, "").unwrap());
    let stat = fs.stat(&names("hello.txt")).unwrap();
    assert_eq!((stat.kind, stat.size, stat.mode, stat.read_only), (KIND_FILE, 23, 0o100_644, 0));
    assert_eq!(fs.stat(&names("dir")).unwrap().kind, KIND_DIR);
    assert_eq!(fs.stat(&[]).unwrap().kind, KIND_DIR);
    assert_eq!(fs.stat(&names("nope")), Err(Error::NotFound));
    assert_eq!(fs.stat(&names("dir/nope")), Err(Error::NotFound));
    assert_eq!(fs.stat(&names("hello.txt/x")), Err(Error::NotADirectory));
    // More than 16 names: walked in two messages.
    let deep = "d0/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/leaf";
    assert_eq!(fs.stat(&names(deep)).unwrap().size, 4);
    assert_eq!(fs.stat(&names(&deep.replace("leaf", "none"))), Err(Error::NotFound));

    let file = fs.open(&names("dir/big.bin"), O_READ).unwrap();
    let mut whole = vec![0u8; 20_000];
    assert_eq!(vfs::read_into(&*file, &mut whole), Ok(20_000));
    assert!(whole.iter().enumerate().all(|(i, b)| *b == (i as u32 * 7) as u8));
    let mut tail = [0u8; 100];
    assert_eq!(file.read_at(19_950, &mut tail), Ok(50));
    drop(file);

    let listed: Vec<_> = fs.read_dir(&[]).unwrap().iter().map(|e| (String::from(e.name()), e.kind)).collect();
    assert_eq!(listed, [(String::from("d0"), KIND_DIR), (String::from("dir"), KIND_DIR), (String::from("hello.txt"), KIND_FILE)]);
    assert_eq!(fs.read_dir(&names("nope")), Err(Error::NotFound));
}

#[test]
fn create_write_truncate() {
    let fs = P9Fs::new(Client::connect(server(), 1 << 20, "").unwrap());
    let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let file = fs.open(&names("dir/new.bin"), O_WRITE | O_CREATE | O_TRUNCATE).unwrap();
    assert_eq!(file.write_at(0, &data), Ok(10_000));
    drop(file);
    assert_eq!(fs.stat(&names("dir/new.bin")).unwrap().size, 10_000);
    let file = fs.open(&names("dir/new.bin"), O_WRITE | O_CREATE | O_TRUNCATE).unwrap();
    assert_eq!(file.stat().unwrap().size, 0);
    assert_eq!(file.write_at(0, b"short"), Ok(5));
    drop(file);
    assert_eq!(fs.stat(&names("dir/new.bin")).unwrap().size, 5);
    assert_eq!(fs.open(&names("missing/x"), O_WRITE | O_CREATE).err(), Some(Error::NotFound));
    assert_eq!(fs.open(&names("absent"), O_READ).err(), Some(Error::NotFound));
}

#[test]
fn every_fid_is_clunked() {
    let fs = P9Fs::new(Client::connect(server(), 1 << 20, "").unwrap());
    let _ = fs.stat(&names("hello.txt"));
    let _ = fs.stat(&names("dir/nope"));
    let _ = fs.read_dir(&names("dir"));
    drop(fs.open(&names("hello.txt"), O_READ));
    drop(fs.open(&names("hello.txt/x"), O_READ));
    drop(fs.open(&names("n"), O_CREATE | O_WRITE));
    let client = Arc::try_unwrap(fs.into_client()).ok().unwrap().into_inner();
    assert_eq!(client.into_transport().open_fids(), 1, "only the root");
}

#[test]
fn mounted_at_host() {
    let mut vfs = Vfs::new();
    let share: Arc<dyn FileSystem> = Arc::new(P9Fs::new(Client::connect(server(), 1 << 20, "").unwrap()));
    vfs.mount(&resolve("/", "/host").unwrap(), share).unwrap();
    let path = resolve("/host", "dir/../hello.txt").unwrap();
    let (fs, rest) = vfs.locate(&path).unwrap();
    assert_eq!(rest, names("hello.txt"));
    let Ok(Opened::File(file)) = vfs::open(&*fs, &path, &rest, O_READ, &[]) else { panic!("not a file") };
    let mut text = [0u8; 5];
    assert_eq!(file.read_at(0, &mut text), Ok(5));
    assert_eq!(&text, b"hello");
    let dir = resolve("/", "/host/dir/").unwrap();
    let (fs, rest) = vfs.locate(&dir).unwrap();
    assert!(matches!(vfs::open(&*fs, &dir, &rest, O_WRITE, &[]), Err(Error::IsADirectory)));
    let not_dir = resolve("/", "/host/hello.txt/").unwrap();
    let (fs, rest) = vfs.locate(&not_dir).unwrap();
    assert_eq!(vfs::stat(&*fs, &not_dir, &rest), Err(Error::NotADirectory));
}

/// A server that answers every request with the same bytes.
struct Parrot(Vec<u8>);

impl Transport for Parrot {
    fn request(&mut self, _request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        let n = self.0.len().min(reply.len());
        reply[..n].copy_from_slice(&self.0[..n]);
        Ok(self.0.len())
    }
}

#[test]
fn hostile_servers_are_refused() {
    // A reply longer than the buffer, a short one, garbage, a wrong version, a huge msize.
    let version = |msize: u32, text: &str| {
        let mut bytes = ((13 + text.len()) as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&[101, 0xff, 0xff]);
        bytes.extend_from_slice(&msize.to_le_bytes());
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes
    };
    for answer in [vec![0xff; 9000], vec![1, 2, 3], vec![], version(8192, "9P2000"), version(1 << 30, "9P2000.L"), version(100, "9P2000.L")] {
        assert!(Client::connect(Parrot(answer), 8192, "").is_err());
    }
}

#[test]
fn a_server_that_breaks_mid_session() {
    // Accepts version and attach, then returns random bytes.
    struct Breaking {
        inner: FakeServer,
        after: usize,
        state: u64,
    }
    impl Transport for Breaking {
        fn request(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
            if self.inner.requests < self.after {
                return self.inner.request(request, reply);
            }
            self.inner.requests += 1;
            self.state = self.state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let len = (self.state >> 40) as usize % 64;
            for (i, byte) in reply.iter_mut().take(len).enumerate() {
                *byte = (self.state >> (i % 8 * 8)) as u8;
            }
            if len >= 7 && self.state.is_multiple_of(2) {
                reply[..4].copy_from_slice(&(len as u32).to_le_bytes());
                reply[4] = request[4] + 1;
                reply[5..7].copy_from_slice(&request[5..7]);
            }
            Ok(if self.state.is_multiple_of(5) { reply.len() + 10 } else { len })
        }
    }
    for seed in 0..300 {
        let breaking = Breaking { inner: server(), after: 2, state: seed };
        let fs = P9Fs::new(Client::connect(breaking, 4096, "").unwrap());
        let _ = fs.stat(&names("hello.txt"));
        let _ = fs.read_dir(&names("dir"));
        if let Ok(file) = fs.open(&names("dir/big.bin"), O_READ) {
            let mut buffer = vec![0; 9000];
            let _ = file.read_at(0, &mut buffer);
        }
    }
}
