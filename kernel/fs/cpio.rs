//! Reader for the host initrd: a cpio archive in the "newc" format (magic 070701 or 070702).
//!
//! Each entry is a 110-byte header of ASCII fields (the magic, then 13 fields of 8 hex
//! digits), the name with its NUL (padded so header and name end on a multiple of 4), then
//! the data (padded to a multiple of 4). The entry named `TRAILER!!!` ends the archive.
//! The archive is borrowed: names and data are slices of it. Every field is checked;
//! damaged input gives an error carrying the offset of the entry's header.
#![forbid(unsafe_code)]

use core::fmt;
use core::iter::FusedIterator;

const HEADER_SIZE: usize = 110;
const MAGIC_NEWC: &[u8; 6] = b"070701";
/// "newc" with a checksum in the `check` field; the checksum is not verified.
const MAGIC_NEWC_CRC: &[u8; 6] = b"070702";
const TRAILER: &str = "TRAILER!!!";

const FIELD_MODE: usize = 1;
const FIELD_FILE_SIZE: usize = 6;
const FIELD_NAME_SIZE: usize = 11;
const FIELD_COUNT: usize = 13;
const FIELD_DIGITS: usize = 8;

const MODE_TYPE_MASK: u32 = 0o170_000;
const MODE_FILE: u32 = 0o100_000;
const MODE_DIR: u32 = 0o040_000;
const MODE_SYMLINK: u32 = 0o120_000;

/// One member of the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name as stored, e.g. `bin/sh`, `./bin/sh` or `.`.
    pub name: &'a str,
    /// Type and permission bits, as in `st_mode`.
    pub mode: u32,
    /// The contents (a symbolic link's target; empty for a directory).
    pub data: &'a [u8],
}

impl<'a> Entry<'a> {
    pub fn is_file(&self) -> bool {
        self.mode & MODE_TYPE_MASK == MODE_FILE
    }

    pub fn is_dir(&self) -> bool {
        self.mode & MODE_TYPE_MASK == MODE_DIR
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & MODE_TYPE_MASK == MODE_SYMLINK
    }

    /// The name normalised as `Archive::find` compares it: no leading `/` or `./`, no
    /// trailing `/`; the root (`.`) is the empty string.
    pub fn path(&self) -> &'a str {
        normalise(self.name)
    }
}

/// Why the archive could not be read; `offset` is where the damaged entry's header starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// No "070701" / "070702" magic where a header should start.
    BadMagic { offset: usize },
    /// The archive ends inside an entry, or before its trailer.
    Truncated { offset: usize },
    /// A header field is not 8 hexadecimal digits.
    BadHeaderField { offset: usize },
    /// The name is not valid UTF-8.
    NameNotUtf8 { offset: usize },
    /// The name is empty, lacks its terminating NUL, or holds a NUL inside.
    BadName { offset: usize },
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, offset) = match *self {
            Self::BadMagic { offset } => ("bad cpio magic", offset),
            Self::Truncated { offset } => ("cpio archive truncated", offset),
            Self::BadHeaderField { offset } => ("bad cpio header field", offset),
            Self::NameNotUtf8 { offset } => ("cpio name not UTF-8", offset),
            Self::BadName { offset } => ("bad cpio name", offset),
        };
        write!(f, "{what} (entry at offset {offset:#x})")
    }
}

/// A cpio "newc" archive in memory.
#[derive(Clone, Copy, Debug)]
pub struct Archive<'a> {
    bytes: &'a [u8],
}

impl<'a> Archive<'a> {
    /// Wraps the archive's bytes; nothing is read until the entries are.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The entries in archive order, up to (not including) the trailer. After an error the
    /// iterator yields that error once and ends.
    pub fn entries(&self) -> Entries<'a> {
        Entries { bytes: self.bytes, offset: 0, finished: false }
    }

    /// The first entry whose normalised name equals the normalised `path`: leading `/` and
    /// `./` are ignored, and so is a trailing `/`, so `/bin/sh` finds `bin/sh` or `./bin/sh`,
    /// and `/` finds `.`. `Ok(None)` when the whole archive was read without finding it.
    pub fn find(&self, path: &str) -> Result<Option<Entry<'a>>, CpioError> {
        let wanted = normalise(path);
        for entry in self.entries() {
            let entry = entry?;
            if entry.path() == wanted {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }
}

/// Iterator over an archive's entries (see `Archive::entries`).
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    bytes: &'a [u8],
    offset: usize,
    finished: bool,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match read_entry(self.bytes, self.offset) {
            Ok((entry, next)) if entry.name != TRAILER => {
                self.offset = next;
                Some(Ok(entry))
            }
            Ok(_) => {
                self.finished = true;
                None
            }
            Err(error) => {
                self.finished = true;
                Some(Err(error))
            }
        }
    }
}

impl FusedIterator for Entries<'_> {}

/// Strips leading `/` and `./`, and trailing `/`; `.` becomes the empty string.
fn normalise(path: &str) -> &str {
    let mut rest = path;
    loop {
        if let Some(after) = rest.strip_prefix('/') {
            rest = after;
        } else if let Some(after) = rest.strip_prefix("./") {
            rest = after;
        } else {
            break;
        }
    }
    let rest = rest.trim_end_matches('/');
    if rest == "." {
        ""
    } else {
        rest
    }
}

/// Reads 8 hexadecimal digits.
fn parse_hex_field(digits: &[u8]) -> Option<u32> {
    if digits.len() != FIELD_DIGITS {
        return None;
    }
    digits.iter().try_fold(0u32, |value, &digit| {
        let nibble = char::from(digit).to_digit(16)?;
        Some(value << 4 | nibble)
    })
}

fn align4(offset: usize) -> Option<usize> {
    offset.checked_next_multiple_of(4)
}

/// Reads the entry whose header starts at `offset`; returns it and where the next starts.
fn read_entry(bytes: &[u8], offset: usize) -> Result<(Entry<'_>, usize), CpioError> {
    let truncated = CpioError::Truncated { offset };
    let rest = bytes.get(offset..).ok_or(truncated)?;
    if let Some(magic) = rest.get(..MAGIC_NEWC.len()) {
        if magic != MAGIC_NEWC && magic != MAGIC_NEWC_CRC {
            return Err(CpioError::BadMagic { offset });
        }
    }
    let header = rest.get(..HEADER_SIZE).ok_or(truncated)?;

    let mut fields = [0u32; FIELD_COUNT];
    for (index, field) in fields.iter_mut().enumerate() {
        let start = MAGIC_NEWC.len() + index * FIELD_DIGITS;
        let digits = header.get(start..start + FIELD_DIGITS).ok_or(truncated)?;
        *field = parse_hex_field(digits).ok_or(CpioError::BadHeaderField { offset })?;
    }
    let to_usize = |value: u32| usize::try_from(value).map_err(|_| truncated);
    let name_size = to_usize(fields[FIELD_NAME_SIZE])?;
    let file_size = to_usize(fields[FIELD_FILE_SIZE])?;

    let bad_name = CpioError::BadName { offset };
    let name_start = offset.checked_add(HEADER_SIZE).ok_or(truncated)?;
    let name_end = name_start.checked_add(name_size).ok_or(truncated)?;
    let name_with_nul = bytes.get(name_start..name_end).ok_or(truncated)?;
    let Some((&0, name)) = name_with_nul.split_last() else { return Err(bad_name) };
    if name.is_empty() || name.contains(&0) {
        return Err(bad_name);
    }
    let name = core::str::from_utf8(name).map_err(|_| CpioError::NameNotUtf8 { offset })?;

    let data_start = align4(name_end).ok_or(truncated)?;
    let data_end = data_start.checked_add(file_size).ok_or(truncated)?;
    // An empty entry (a directory, the trailer) may lack the padding after its name.
    let data = if file_size == 0 { &[][..] } else { bytes.get(data_start..data_end).ok_or(truncated)? };
    let next = align4(data_end).ok_or(truncated)?;
    Ok((Entry { name, mode: fields[FIELD_MODE], data }, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;

    /// Builds "newc" archives the way GNU cpio and the kernel's gen_init_cpio do.
    struct Writer {
        bytes: Vec<u8>,
        magic: &'static [u8; 6],
        inode: u32,
    }

    impl Writer {
        fn new() -> Self {
            Self { bytes: Vec::new(), magic: MAGIC_NEWC, inode: 1 }
        }

        fn pad(&mut self) {
            while !self.bytes.len().is_multiple_of(4) {
                self.bytes.push(0);
            }
        }

        /// Appends an entry with `name_size` written as given (the real size when `None`).
        fn raw(&mut self, name: &[u8], mode: u32, data: &[u8], name_size: Option<usize>) -> &mut Self {
            let name_size = name_size.unwrap_or(name.len() + 1);
            let fields = [self.inode, mode, 0, 0, 1, 0x6500_0000, data.len() as u32, 0, 0, 0, 0, name_size as u32, 0];
            self.inode += 1;
            self.bytes.extend_from_slice(self.magic);
            for field in fields {
                self.bytes.extend_from_slice(format!("{field:08X}").as_bytes());
            }
            self.bytes.extend_from_slice(name);
            self.bytes.push(0);
            self.pad();
            self.bytes.extend_from_slice(data);
            self.pad();
            self
        }

        fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
            self.raw(name.as_bytes(), MODE_FILE | 0o644, data, None)
        }

        fn dir(&mut self, name: &str) -> &mut Self {
            self.raw(name.as_bytes(), MODE_DIR | 0o755, &[], None)
        }

        fn trailer(&mut self) -> Vec<u8> {
            self.raw(TRAILER.as_bytes(), 0, &[], None);
            while !self.bytes.len().is_multiple_of(512) {
                self.bytes.push(0);
            }
            self.bytes.clone()
        }
    }

    fn sample() -> Vec<u8> {
        Writer::new()
            .dir(".")
            .dir("bin")
            .file("bin/sh", b"#!shell")
            .raw(b"bin/ls", MODE_SYMLINK | 0o777, b"sh", None)
            .dir("etc")
            .file("etc/motd", b"welcome to keel\n")
            .file("empty", b"")
            .trailer()
    }

    fn names(bytes: &[u8]) -> Vec<String> {
        Archive::new(bytes).entries().map(|entry| String::from(entry.unwrap().name)).collect()
    }

    #[test]
    fn lists_files_directories_and_links() {
        let bytes = sample();
        let entries: Vec<_> = Archive::new(&bytes).entries().collect::<Result<_, _>>().unwrap();
        let listed: Vec<_> = entries.iter().map(|entry| entry.name).collect();
        assert_eq!(listed, [".", "bin", "bin/sh", "bin/ls", "etc", "etc/motd", "empty"]);
        assert!(entries[0].is_dir() && !entries[0].is_file());
        assert!(entries[2].is_file() && !entries[2].is_dir());
        assert_eq!(entries[2].data, b"#!shell");
        assert_eq!(entries[2].mode, MODE_FILE | 0o644);
        assert!(entries[3].is_symlink() && !entries[3].is_file());
        assert_eq!(entries[3].data, b"sh");
        assert_eq!(entries[5].data, b"welcome to keel\n");
        assert_eq!(entries[6].data, b"");
        assert_eq!(entries[0].path(), "");
    }

    #[test]
    fn padding_is_right_for_every_name_and_data_length() {
        for name_len in 1..=9 {
            for data_len in 0..=9 {
                let name: String = (0..name_len).map(|i| char::from(b'a' + i as u8)).collect();
                let data: Vec<u8> = (0..data_len).map(|i| 0xa0 + i as u8).collect();
                let bytes = Writer::new().file(&name, &data).file("z", b"after").trailer();
                let entries: Vec<_> = Archive::new(&bytes).entries().collect::<Result<_, _>>().unwrap();
                assert_eq!(entries.len(), 2);
                assert_eq!((entries[0].name, entries[0].data), (name.as_str(), &data[..]));
                assert_eq!((entries[1].name, entries[1].data), ("z", &b"after"[..]));
            }
        }
    }

    #[test]
    fn find_normalises_paths() {
        let plain = sample();
        let dotted = Writer::new().dir(".").dir("./bin").file("./bin/sh", b"dotted").trailer();
        for bytes in [&plain, &dotted] {
            let archive = Archive::new(bytes);
            for path in ["/bin/sh", "bin/sh", "./bin/sh", "//bin/sh", "/./bin/sh", "././bin/sh"] {
                let entry = archive.find(path).unwrap().unwrap_or_else(|| panic!("{path}"));
                assert!(entry.is_file() && entry.path() == "bin/sh");
            }
            assert!(archive.find("/bin/").unwrap().unwrap().is_dir());
            assert_eq!(archive.find("/").unwrap().unwrap().name, ".");
            assert_eq!(archive.find(".").unwrap().unwrap().name, ".");
            assert_eq!(archive.find("/bin/sh2").unwrap(), None);
            assert_eq!(archive.find("bin/s").unwrap(), None);
            assert_eq!(archive.find("/BIN/SH").unwrap(), None);
            assert_eq!(archive.find("TRAILER!!!").unwrap(), None);
        }
        assert_eq!(Archive::new(&dotted).find("/bin/sh").unwrap().unwrap().data, b"dotted");
    }

    #[test]
    fn stops_at_the_trailer() {
        let mut bytes = Writer::new().file("a", b"1").trailer();
        bytes.extend_from_slice(&Writer::new().file("after-trailer", b"2").trailer());
        assert_eq!(names(&bytes), ["a"]);
        assert_eq!(Archive::new(&bytes).find("after-trailer"), Ok(None));
        // A trailer whose padding was cut off still ends the archive.
        let mut writer = Writer::new();
        writer.file("a", b"1");
        let end = writer.bytes.len() + HEADER_SIZE + TRAILER.len() + 1;
        let bytes = writer.trailer();
        assert_eq!(names(&bytes[..end]), ["a"]);
        // An empty archive holding only a trailer.
        assert_eq!(names(&Writer::new().trailer()), Vec::<String>::new());
    }

    #[test]
    fn accepts_the_crc_variant() {
        let mut writer = Writer::new();
        writer.magic = MAGIC_NEWC_CRC;
        let bytes = writer.file("init", b"ELF").trailer();
        assert_eq!(Archive::new(&bytes).find("/init").unwrap().unwrap().data, b"ELF");
    }

    #[test]
    fn damaged_archives_give_errors() {
        let good = sample();
        // The first entry "." ends at 112; "bin" at 228; "bin/sh" starts there.
        let first_len = 112;
        let check = |bytes: &[u8], error: CpioError| {
            let results: Vec<_> = Archive::new(bytes).entries().collect();
            assert_eq!(results.last(), Some(&Err(error)));
            assert_eq!(results.iter().filter(|result| result.is_err()).count(), 1);
        };
        check(&[], CpioError::Truncated { offset: 0 });
        check(b"0707", CpioError::Truncated { offset: 0 });
        check(b"070707", CpioError::BadMagic { offset: 0 });
        check(&good[..50], CpioError::Truncated { offset: 0 });
        check(&good[..first_len + 5], CpioError::Truncated { offset: first_len });
        check(&good[..first_len + HEADER_SIZE + 1], CpioError::Truncated { offset: first_len });
        // No trailer at all.
        let mut writer = Writer::new();
        writer.file("a", b"abc");
        let no_trailer = writer.bytes.clone();
        check(&no_trailer, CpioError::Truncated { offset: no_trailer.len() });
        // The data runs past the end.
        check(&no_trailer[..no_trailer.len() - 2], CpioError::Truncated { offset: 0 });
        // Garbage after an entry.
        let mut garbage = no_trailer.clone();
        garbage.extend_from_slice(b"hello, world, this is not cpio");
        check(&garbage, CpioError::BadMagic { offset: no_trailer.len() });

        let mutate = |at: usize, byte: u8| {
            let mut bytes = good.clone();
            bytes[at] = byte;
            bytes
        };
        check(&mutate(first_len, b'X'), CpioError::BadMagic { offset: first_len });
        check(&mutate(first_len + 20, b'g'), CpioError::BadHeaderField { offset: first_len });
        check(&mutate(first_len + 20, b' '), CpioError::BadHeaderField { offset: first_len });
        check(&mutate(first_len + 20, b'+'), CpioError::BadHeaderField { offset: first_len });
        // The name's NUL replaced, a NUL inside the name, a name that is not UTF-8.
        check(&mutate(first_len + HEADER_SIZE + 3, b'x'), CpioError::BadName { offset: first_len });
        check(&mutate(first_len + HEADER_SIZE + 1, 0), CpioError::BadName { offset: first_len });
        check(&mutate(first_len + HEADER_SIZE, 0xff), CpioError::NameNotUtf8 { offset: first_len });
        // Name sizes of zero, one (an empty name) and far too large.
        for name_size in [0, 1, 0xffff_ffff] {
            let mut writer = Writer::new();
            let bytes = writer.raw(b"x", MODE_FILE, b"", Some(name_size)).trailer();
            let error = Archive::new(&bytes).entries().next().unwrap().unwrap_err();
            assert!(
                matches!(error, CpioError::BadName { offset: 0 } | CpioError::Truncated { offset: 0 }),
                "{error:?}"
            );
        }
        // A file size far past the end.
        let mut writer = Writer::new();
        let mut bytes = writer.file("big", b"").trailer();
        bytes[6 + 6 * 8..6 + 7 * 8].copy_from_slice(b"FFFFFFFF");
        check(&bytes, CpioError::Truncated { offset: 0 });
        // find reports damage met before the name is found.
        assert_eq!(
            Archive::new(&mutate(first_len, b'X')).find("etc/motd"),
            Err(CpioError::BadMagic { offset: first_len })
        );
        assert!(Archive::new(&mutate(first_len + 20, b'g')).find("/").unwrap().is_some());
    }

    #[test]
    fn errors_have_messages() {
        let message = format!("{}", CpioError::BadMagic { offset: 0x74 });
        assert_eq!(message, "bad cpio magic (entry at offset 0x74)");
    }

    #[test]
    fn mutated_archives_never_panic() {
        let good = sample();
        let mut state: u64 = 0x0dd_ba11_cafe_f00d;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        let digits = b"0123456789abcdefABCDEF\0/.x\xff";
        for round in 0..20_000 {
            let mut bytes = good.clone();
            for _ in 0..1 + next() % 4 {
                let at = next() % bytes.len();
                bytes[at] = if next() % 2 == 0 { digits[next() % digits.len()] } else { next() as u8 };
            }
            if round % 5 == 0 {
                bytes.truncate(next() % (bytes.len() + 1));
            }
            let archive = Archive::new(&bytes);
            let mut count = 0;
            for entry in archive.entries() {
                count += 1;
                assert!(count <= bytes.len() / HEADER_SIZE + 1, "the iterator must end");
                if let Ok(entry) = entry {
                    assert!(!entry.name.is_empty() && !entry.name.contains('\0'));
                    assert!(entry.data.len() <= bytes.len());
                }
            }
            let _ = archive.find("/etc/motd");
        }
        for len in 0..good.len() {
            let _ = Archive::new(&good[..len]).entries().count();
        }
    }
}
