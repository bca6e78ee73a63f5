//! Writes cpio "newc" archives, the initrd format Keel reads: a 110-byte ASCII header per
//! entry (magic `070701` and 13 eight-digit hex fields), the NUL-terminated name padded to
//! a multiple of 4, the data padded to a multiple of 4, and a `TRAILER!!!` entry at the end.

pub const MAGIC: &str = "070701";
pub const TRAILER: &str = "TRAILER!!!";
/// File type bits of `mode`.
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFDIR: u32 = 0o040_000;

/// An archive being written. Entries get inode numbers from 1 and modification time 0, so
/// the same files always give the same bytes.
pub struct Writer {
    bytes: Vec<u8>,
    next_inode: u32,
}

impl Default for Writer {
    fn default() -> Self {
        Writer {
            bytes: Vec::new(),
            next_inode: 1,
        }
    }
}

impl Writer {
    /// Adds a directory (`mode` = permission bits, e.g. 0o755).
    pub fn directory(&mut self, path: &str, mode: u32) -> Result<(), String> {
        let inode = self.take_inode();
        self.entry(path, inode, S_IFDIR | mode, 2, &[])
    }

    /// Adds a regular file (`mode` = permission bits, e.g. 0o755).
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<(), String> {
        let inode = self.take_inode();
        self.entry(path, inode, S_IFREG | mode, 1, data)
    }

    /// Ends the archive with its trailer and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        // The trailer's name is short and it has no data, so it cannot fail.
        let _ = self.entry(TRAILER, 0, 0, 1, &[]);
        self.bytes
    }

    fn take_inode(&mut self) -> u32 {
        let inode = self.next_inode;
        self.next_inode += 1;
        inode
    }

    fn entry(&mut self, name: &str, inode: u32, mode: u32, links: u32, data: &[u8]) -> Result<(), String> {
        if name.is_empty() || name.contains('\0') || (name == TRAILER && mode != 0) {
            return Err(format!("cpio: `{name}` cannot name an entry"));
        }
        let size = u32::try_from(data.len()).map_err(|_| format!("cpio: {name} is over 4 GiB"))?;
        let name_size = u32::try_from(name.len() + 1).map_err(|_| format!("cpio: name too long: {name}"))?;
        let fields = [inode, mode, 0, 0, links, 0, size, 0, 0, 0, 0, name_size, 0];
        self.bytes.extend_from_slice(MAGIC.as_bytes());
        for field in fields {
            self.bytes.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
        Ok(())
    }

    /// Zero bytes up to the next multiple of 4 (entries start 4-aligned, so the archive's
    /// length is the right measure).
    fn pad(&mut self) {
        let padded = self.bytes.len().next_multiple_of(4);
        self.bytes.resize(padded, 0);
    }
}

/// Length of a newc header.
const HEADER_LEN: usize = 110;

/// One entry of an archive, as [`read`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub links: u32,
    /// Where its data lies in the archive.
    pub data: std::ops::Range<usize>,
    /// Where its header starts.
    pub offset: usize,
}

/// Reads the entries of a newc archive, the trailer included; stops at the trailer or the
/// end of the bytes. Damage is an error naming the offset.
pub fn read(archive: &[u8]) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut at = 0;
    while at < archive.len() {
        let bad = |what: &str| format!("cpio: {what} in the entry at offset {at:#x}");
        let header = archive
            .get(at..at + HEADER_LEN)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .ok_or_else(|| bad("truncated or non-ASCII header"))?;
        if &header[..6] != MAGIC {
            return Err(bad("bad magic"));
        }
        let field = |index: usize| {
            header
                .get(6 + index * 8..14 + index * 8)
                .and_then(|digits| u32::from_str_radix(digits, 16).ok())
                .ok_or_else(|| bad("bad header field"))
        };
        let (mode, links, size, name_size) = (field(1)?, field(4)?, field(6)? as usize, field(11)? as usize);
        let name_start = at + HEADER_LEN;
        let name = name_size
            .checked_sub(1)
            .and_then(|len| archive.get(name_start..name_start + len))
            .filter(|_| archive.get(name_start + name_size - 1) == Some(&0))
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .ok_or_else(|| bad("bad name"))?
            .to_string();
        let data_start = (name_start + name_size).next_multiple_of(4);
        if data_start + size > archive.len() {
            return Err(bad("truncated data"));
        }
        let trailer = name == TRAILER;
        entries.push(Entry {
            name,
            mode,
            links,
            data: data_start..data_start + size,
            offset: at,
        });
        if trailer {
            break;
        }
        at = (data_start + size).next_multiple_of(4);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, mode, links, data, header offset) of every entry.
    fn read(archive: &[u8]) -> Vec<(String, u32, u32, Vec<u8>, usize)> {
        super::read(archive)
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.mode, e.links, archive[e.data].to_vec(), e.offset))
            .collect()
    }

    #[test]
    fn damage_is_reported_not_panicked_on() {
        let mut writer = Writer::default();
        writer.file("bin/sh", 0o755, b"shell").unwrap();
        let bytes = writer.finish();
        for cut in 0..bytes.len() {
            let _ = super::read(&bytes[..cut]);
        }
        let mut bad_magic = bytes.clone();
        bad_magic[0] = b'1';
        assert!(super::read(&bad_magic).unwrap_err().contains("bad magic"));
        let mut bad_size = bytes.clone();
        bad_size[54..62].copy_from_slice(b"FFFFFFFF");
        assert!(super::read(&bad_size).unwrap_err().contains("truncated data"));
    }

    #[test]
    fn header_fields_are_exact() {
        let mut writer = Writer::default();
        writer.file("init", 0o755, b"ELF!x").unwrap();
        let bytes = writer.finish();
        let header = std::str::from_utf8(&bytes[..HEADER_LEN]).unwrap();
        assert_eq!(
            header,
            "070701\
             00000001000081ED000000000000000000000001\
             0000000000000005000000000000000000000000\
             000000000000000500000000"
        );
        // "init\0" after the 110-byte header ends at 115: padded to 116, then the data.
        assert_eq!(&bytes[HEADER_LEN..116], b"init\0\0");
        assert_eq!(&bytes[116..121], b"ELF!x");
        assert_eq!(&bytes[121..124], &[0, 0, 0]);
    }

    #[test]
    fn padding_keeps_every_header_and_data_aligned() {
        for name_len in 1..=8 {
            for data_len in 0..=8 {
                let mut writer = Writer::default();
                let name = "n".repeat(name_len);
                let data = vec![0xaa; data_len];
                writer.file(&name, 0o644, &data).unwrap();
                writer.directory("d", 0o755).unwrap();
                let bytes = writer.finish();
                assert_eq!(bytes.len() % 4, 0);
                let entries = read(&bytes);
                assert_eq!(entries.len(), 3);
                assert_eq!(entries[0].0, name);
                assert_eq!(entries[0].3, data);
                for entry in &entries {
                    assert_eq!(entry.4 % 4, 0, "header of {} at {}", entry.0, entry.4);
                }
            }
        }
    }

    #[test]
    fn directories_files_and_trailer() {
        let mut writer = Writer::default();
        writer.directory("bin", 0o755).unwrap();
        writer.file("bin/sh", 0o755, b"shell").unwrap();
        let entries = read(&writer.finish());
        let summary: Vec<_> = entries.iter().map(|e| (e.0.as_str(), e.1, e.2)).collect();
        assert_eq!(
            summary,
            [
                ("bin", S_IFDIR | 0o755, 2),
                ("bin/sh", S_IFREG | 0o755, 1),
                (TRAILER, 0, 1)
            ]
        );
        assert!(entries[2].3.is_empty());
    }

    #[test]
    fn inodes_count_up_and_output_is_reproducible() {
        let build = || {
            let mut writer = Writer::default();
            writer.file("a", 0o644, b"1").unwrap();
            writer.file("b", 0o644, b"2").unwrap();
            writer.finish()
        };
        let bytes = build();
        assert_eq!(bytes, build());
        assert_eq!(&bytes[6..14], b"00000001");
        let second = read(&bytes)[1].4;
        assert_eq!(&bytes[second + 6..second + 14], b"00000002");
    }

    #[test]
    fn bad_names_are_refused() {
        let mut writer = Writer::default();
        assert!(writer.file("", 0o644, b"").is_err());
        assert!(writer.file("a\0b", 0o644, b"").is_err());
        assert!(writer.file(TRAILER, 0o644, b"").is_err());
    }
}
