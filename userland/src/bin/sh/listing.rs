//! The text of `ls`, `ls -l` and `stat`, where `cp` puts a file, and the CRC-32 that `sum`
//! prints: pure, so they are tested on the host.

use alloc::format;
use alloc::string::String;
use keel_userland::abi::{self, Stat};

/// `-rw-r--r--`, `drwxr-xr-x`, `lrwxrwxrwx` from `st_mode`.
pub fn mode_text(mode: u32, kind: u32) -> String {
    let kind_char = match kind {
        abi::KIND_DIR => 'd',
        abi::KIND_SYMLINK => 'l',
        abi::KIND_FILE => '-',
        _ => '?',
    };
    let mut text = String::from(kind_char);
    for shift in [6, 3, 0] {
        let bits = mode >> shift;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    text
}

/// A name as `ls` shows it: directories end in `/`.
pub fn shown_name(name: &str, kind: u32) -> String {
    if kind == abi::KIND_DIR {
        format!("{name}/")
    } else {
        String::from(name)
    }
}

/// One line of `ls -l`: mode, size (right-aligned to `width`), name.
pub fn long_line(name: &str, stat: &Stat, width: usize) -> String {
    format!("{}  {:>width$}  {}", mode_text(stat.mode, stat.kind), stat.size, shown_name(name, stat.kind))
}

/// The words of a file kind.
pub fn kind_text(kind: u32) -> &'static str {
    match kind {
        abi::KIND_FILE => "regular file",
        abi::KIND_DIR => "directory",
        abi::KIND_SYMLINK => "symbolic link",
        _ => "other",
    }
}

/// What `stat PATH` prints.
pub fn stat_text(path: &str, stat: &Stat) -> String {
    format!(
        "  file: {path}\n  type: {}\n  size: {} bytes\n  mode: {} ({:04o})\nmodify: {} (seconds since 1970)\n  from: {}\n",
        kind_text(stat.kind),
        stat.size,
        mode_text(stat.mode, stat.kind),
        stat.mode & 0o7777,
        stat.mtime,
        if stat.read_only != 0 { "a read-only file system" } else { "a writable file system" }
    )
}

/// Where `cp SRC DST` writes: DST, or DST/NAME-OF-SRC when DST is a directory.
pub fn copy_target(source: &str, destination: &str, destination_is_dir: bool) -> String {
    if !destination_is_dir {
        return String::from(destination);
    }
    let name = source.trim_end_matches('/').rsplit('/').next().unwrap_or(source);
    if destination.ends_with('/') {
        format!("{destination}{name}")
    } else {
        format!("{destination}/{name}")
    }
}

/// CRC-32 (IEEE 802.3, as `crc32` and zlib compute it), updated in slices of 8 bytes.
pub struct Crc32 {
    value: u32,
}

const POLY: u32 = 0xedb8_8320;

const fn tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ POLY } else { crc >> 1 };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut t = 1;
        while t < 8 {
            let previous = tables[t - 1][i];
            tables[t][i] = (previous >> 8) ^ tables[0][(previous & 0xff) as usize];
            t += 1;
        }
        i += 1;
    }
    tables
}

static TABLES: [[u32; 256]; 8] = tables();

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    pub fn new() -> Self {
        Self { value: !0 }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        let mut crc = self.value;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let low = crc ^ u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let high = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            crc = TABLES[7][(low & 0xff) as usize]
                ^ TABLES[6][(low >> 8 & 0xff) as usize]
                ^ TABLES[5][(low >> 16 & 0xff) as usize]
                ^ TABLES[4][(low >> 24) as usize]
                ^ TABLES[3][(high & 0xff) as usize]
                ^ TABLES[2][(high >> 8 & 0xff) as usize]
                ^ TABLES[1][(high >> 16 & 0xff) as usize]
                ^ TABLES[0][(high >> 24) as usize];
        }
        for &byte in chunks.remainder() {
            crc = (crc >> 8) ^ TABLES[0][((crc ^ u32::from(byte)) & 0xff) as usize];
        }
        self.value = crc;
    }

    pub fn finish(&self) -> u32 {
        !self.value
    }
}

/// `MB/s` (10^6 bytes per second) with one decimal; `-` when no time passed.
pub fn rate(bytes: u64, nanos: u64) -> String {
    if nanos == 0 {
        return String::from("-");
    }
    let tenths = u128::from(bytes) * 10_000 / u128::from(nanos);
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(kind: u32, mode: u32, size: u64) -> Stat {
        Stat { kind, mode, size, ..Stat::default() }
    }

    #[test]
    fn modes() {
        assert_eq!(mode_text(0o100_644, abi::KIND_FILE), "-rw-r--r--");
        assert_eq!(mode_text(0o040_755, abi::KIND_DIR), "drwxr-xr-x");
        assert_eq!(mode_text(0o120_777, abi::KIND_SYMLINK), "lrwxrwxrwx");
        assert_eq!(mode_text(0, 99), "?---------");
    }

    #[test]
    fn lines() {
        assert_eq!(long_line("hello.txt", &stat(abi::KIND_FILE, 0o644, 23), 5), "-rw-r--r--     23  hello.txt");
        assert_eq!(long_line("bin", &stat(abi::KIND_DIR, 0o755, 0), 3), "drwxr-xr-x    0  bin/");
        let text = stat_text("/init", &Stat { read_only: 1, ..stat(abi::KIND_FILE, 0o100_755, 9) });
        assert!(text.contains("  type: regular file\n"));
        assert!(text.contains("  mode: -rwxr-xr-x (0755)\n"));
        assert!(text.contains("read-only"));
    }

    #[test]
    fn copy_targets() {
        assert_eq!(copy_target("/host/a.txt", "/host/b.txt", false), "/host/b.txt");
        assert_eq!(copy_target("/host/a.txt", "/host/dir", true), "/host/dir/a.txt");
        assert_eq!(copy_target("a.txt", "/host/", true), "/host/a.txt");
        assert_eq!(copy_target("/init", "/host", true), "/host/init");
    }

    #[test]
    fn crc32_matches_the_standard() {
        let mut crc = Crc32::new();
        crc.update(b"123456789");
        assert_eq!(crc.finish(), 0xcbf4_3926);
        assert_eq!(Crc32::new().finish(), 0);
        // Split anywhere, same result.
        let data: alloc::vec::Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
        let mut whole = Crc32::new();
        whole.update(&data);
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let mut parts = Crc32::new();
            parts.update(&data[..split]);
            parts.update(&data[split..]);
            assert_eq!(parts.finish(), whole.finish(), "{split}");
        }
        let mut bitwise = !0u32;
        for &byte in &data {
            bitwise ^= u32::from(byte);
            for _ in 0..8 {
                bitwise = if bitwise & 1 != 0 { (bitwise >> 1) ^ POLY } else { bitwise >> 1 };
            }
        }
        assert_eq!(whole.finish(), !bitwise);
    }

    #[test]
    fn rates() {
        assert_eq!(rate(32 << 20, 500_000_000), "67.1");
        assert_eq!(rate(1, 0), "-");
    }
}
