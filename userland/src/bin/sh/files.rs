//! The file commands: ls, cat, cp, stat, cd, pwd, sum — through the kernel's file calls.
//! Each error is one line naming the path: `cat: /nope: not found`.

use super::listing::{self, Crc32};
use super::shell::Shell;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use keel_userland::abi::{self, DirEntry, Error, Stat};
use keel_userland::{eprintln, print, println, sys};

/// Bytes moved per read or write (the user heap is 1 MiB).
const CHUNK: usize = 256 * 1024;

/// An open file, closed when dropped.
struct Fd(u64);

impl Fd {
    fn open(path: &str, flags: u64) -> Result<Self, Error> {
        sys::open(path, flags).map(Fd)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        let _ = sys::close(self.0);
    }
}

/// The entries of the directory `path`.
fn entries(path: &str) -> Result<Vec<DirEntry>, Error> {
    let dir = Fd::open(path, abi::O_READ)?;
    let mut all = Vec::new();
    let mut batch = vec![DirEntry::default(); 32];
    loop {
        let n = sys::readdir(dir.0, &mut batch)?;
        if n == 0 {
            return Ok(all);
        }
        all.extend_from_slice(&batch[..n]);
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        alloc::format!("{dir}{name}")
    } else {
        alloc::format!("{dir}/{name}")
    }
}

/// `ls [-l] [PATH...]`.
pub fn ls(_shell: &mut Shell, args: &[String]) {
    let long = args.iter().any(|arg| arg == "-l");
    if let Some(bad) = args.iter().find(|arg| arg.starts_with('-') && *arg != "-l") {
        eprintln!("ls: unknown option: {bad} (ls [-l] [PATH...])");
        return;
    }
    let mut paths: Vec<&str> = args.iter().map(String::as_str).filter(|arg| *arg != "-l").collect();
    if paths.is_empty() {
        paths.push(".");
    }
    let titled = paths.len() > 1;
    for path in paths {
        let stat = match sys::stat(path) {
            Ok(stat) => stat,
            Err(error) => {
                eprintln!("ls: {path}: {error}");
                continue;
            }
        };
        if stat.kind != abi::KIND_DIR {
            if long {
                println!("{}", listing::long_line(path, &stat, 1));
            } else {
                println!("{path}");
            }
            continue;
        }
        if titled {
            println!("{path}:");
        }
        match entries(path) {
            Ok(entries) if long => ls_long(path, &entries),
            Ok(entries) => {
                for entry in &entries {
                    println!("{}", listing::shown_name(entry.name(), entry.kind));
                }
            }
            Err(error) => eprintln!("ls: {path}: {error}"),
        }
    }
}

fn ls_long(dir: &str, entries: &[DirEntry]) {
    let stats: Vec<(&str, Stat)> = entries
        .iter()
        .map(|entry| {
            let stat = sys::stat(&join(dir, entry.name())).unwrap_or(Stat { kind: entry.kind, ..Stat::default() });
            (entry.name(), stat)
        })
        .collect();
    let width = stats.iter().map(|(_, stat)| stat.size.to_string().len()).max().unwrap_or(1);
    for (name, stat) in &stats {
        println!("{}", listing::long_line(name, stat, width));
    }
}

/// Opens `path` for reading, refusing a directory.
fn open_to_read(command: &str, path: &str) -> Option<Fd> {
    let fd = match Fd::open(path, abi::O_READ) {
        Ok(fd) => fd,
        Err(error) => {
            eprintln!("{command}: {path}: {error}");
            return None;
        }
    };
    match sys::fstat(fd.0) {
        Ok(stat) if stat.kind == abi::KIND_DIR => {
            eprintln!("{command}: {path}: {}", Error::IsADirectory);
            None
        }
        _ => Some(fd),
    }
}

/// Reads `fd` to its end, giving each chunk to `each`; the bytes and nanoseconds spent
/// in `read`.
fn read_all(fd: &Fd, mut each: impl FnMut(&[u8]) -> Result<(), Error>) -> Result<(u64, u64), Error> {
    let mut buffer = vec![0u8; CHUNK];
    let (mut total, mut nanos) = (0u64, 0u64);
    loop {
        let started = sys::time();
        let n = sys::read(fd.0, &mut buffer, None)?;
        nanos += (sys::time() - started).as_nanos() as u64;
        if n == 0 {
            return Ok((total, nanos));
        }
        each(&buffer[..n])?;
        total += n as u64;
    }
}

/// `cat FILE...`.
pub fn cat(_shell: &mut Shell, args: &[String]) {
    if args.is_empty() {
        eprintln!("cat: usage: cat FILE...");
    }
    for path in args {
        let Some(fd) = open_to_read("cat", path) else { continue };
        if let Err(error) = read_all(&fd, |bytes| sys::write_all(sys::STDOUT, bytes)) {
            eprintln!("cat: {path}: {error}");
        }
    }
}

/// `cp SRC DST`: DST may be a directory.
pub fn cp(_shell: &mut Shell, args: &[String]) {
    let [source, destination] = args else {
        eprintln!("cp: usage: cp SRC DST");
        return;
    };
    let Some(input) = open_to_read("cp", source) else { return };
    let into_dir = sys::stat(destination).is_ok_and(|stat| stat.kind == abi::KIND_DIR);
    let target = listing::copy_target(source, destination, into_dir);
    let output = match Fd::open(&target, abi::O_WRITE | abi::O_CREATE | abi::O_TRUNCATE) {
        Ok(fd) => fd,
        Err(error) => {
            eprintln!("cp: {target}: {error}");
            return;
        }
    };
    let copied = read_all(&input, |mut bytes| {
        while !bytes.is_empty() {
            let n = sys::write(output.0, bytes)?;
            if n == 0 {
                return Err(Error::IoError);
            }
            bytes = &bytes[n.min(bytes.len())..];
        }
        Ok(())
    });
    if let Err(error) = copied {
        eprintln!("cp: {source} to {target}: {error}");
    }
}

/// `stat PATH...`.
pub fn stat(_shell: &mut Shell, args: &[String]) {
    if args.is_empty() {
        eprintln!("stat: usage: stat PATH...");
    }
    for path in args {
        match sys::stat(path) {
            Ok(stat) => print!("{}", listing::stat_text(path, &stat)),
            Err(error) => eprintln!("stat: {path}: {error}"),
        }
    }
}

/// `cd [DIR]`: `/` without one.
pub fn cd(_shell: &mut Shell, args: &[String]) {
    let path = match args {
        [] => "/",
        [dir] => dir.as_str(),
        _ => {
            eprintln!("cd: usage: cd [DIR]");
            return;
        }
    };
    if let Err(error) = sys::chdir(path) {
        eprintln!("cd: {path}: {error}");
    }
}

/// `pwd`.
pub fn pwd(_shell: &mut Shell, args: &[String]) {
    if let Some(extra) = args.first() {
        eprintln!("pwd: unexpected argument: {extra}");
        return;
    }
    match sys::getcwd() {
        Ok(cwd) => println!("{cwd}"),
        Err(error) => eprintln!("pwd: {error}"),
    }
}

/// `sum FILE...`: `CRC32  SIZE  FILE  (read S s, R MB/s)`.
pub fn sum(_shell: &mut Shell, args: &[String]) {
    if args.is_empty() {
        eprintln!("sum: usage: sum FILE...");
    }
    for path in args {
        let Some(fd) = open_to_read("sum", path) else { continue };
        let mut crc = Crc32::new();
        match read_all(&fd, |bytes| {
            crc.update(bytes);
            Ok(())
        }) {
            Ok((bytes, nanos)) => println!(
                "{:08x}  {bytes}  {path}  (read {}.{:02} s, {} MB/s)",
                crc.finish(),
                nanos / 1_000_000_000,
                nanos % 1_000_000_000 / 10_000_000,
                listing::rate(bytes, nanos)
            ),
            Err(error) => eprintln!("sum: {path}: {error}"),
        }
    }
}
