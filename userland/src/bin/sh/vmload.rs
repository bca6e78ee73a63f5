//! `vm load FILE`: defines the VMs of a definitions file (`vmconf`) and starts those marked
//! `--autostart`. `init` runs it for `/etc/vms.conf` at boot. A bad line or a VM that cannot
//! be defined is reported with the file and line, and the others still go ahead.

use super::vm;
use super::vmconf;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use keel_userland::abi::{self, Error};
use keel_userland::{eprintln, println, sys};

/// Largest definitions file read.
const MAX_FILE: usize = 64 * 1024;

/// An open file, closed when dropped.
struct Fd(u64);

impl Drop for Fd {
    fn drop(&mut self) {
        let _ = sys::close(self.0);
    }
}

/// The file's text (at most [`MAX_FILE`] bytes, UTF-8).
fn read_text(path: &str) -> Result<String, Error> {
    let fd = Fd(sys::open(path, abi::O_READ)?);
    if sys::fstat(fd.0)?.kind == abi::KIND_DIR {
        return Err(Error::IsADirectory);
    }
    let mut bytes: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 4096];
    loop {
        let n = sys::read(fd.0, &mut chunk, None)?;
        if n == 0 {
            break;
        }
        if bytes.len() + n > MAX_FILE {
            return Err(Error::TooBig);
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(bytes).map_err(|_| Error::InvalidArgument)
}

/// Runs `vm load PATH`.
pub fn load(path: &str) {
    let text = match read_text(path) {
        Ok(text) => text,
        Err(Error::InvalidArgument) => return eprintln!("vm: {path}: not UTF-8 text"),
        Err(error) => return eprintln!("vm: {path}: {error}"),
    };
    let parsed = vmconf::parse(&text);
    // File order: a bad line's message comes where the line is.
    let mut errors = parsed.errors.iter().peekable();
    for definition in &parsed.definitions {
        while let Some(error) = errors.next_if(|error| error.line < definition.line) {
            eprintln!("vm: {path}:{}: {}", error.line, error.message);
        }
        let name = &definition.args.name;
        if let Err(why) = vm::create(&definition.args) {
            eprintln!("vm: {path}:{}: {why}", definition.line);
            continue;
        }
        if definition.autostart {
            match sys::vm_start(name) {
                Ok(()) => println!("vm: {name} started ({path}:{} --autostart)", definition.line),
                Err(error) => eprintln!("vm: {path}:{}: cannot start {name}: {error}", definition.line),
            }
        }
    }
    for error in errors {
        eprintln!("vm: {path}:{}: {}", error.line, error.message);
    }
}
