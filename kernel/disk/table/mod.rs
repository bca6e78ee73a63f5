//! The host disk's table of named extents: each guest disk is a run of sectors named in a
//! small table kept twice at the start of the disk. Pure (encode, decode, allocate), so it
//! is tested on the host; `docs/virtio.md` describes the format.
//!
//! ```text
//! sector 0..8     the table (4 KiB)
//! sector 8..16    the same table again (the backup)
//! 1 MiB ...       extents, each 1 MiB-aligned and a whole number of MiB
//!
//! one copy of the table (little endian):
//!   0   8  magic "KEELDISK"
//!   8   4  version (1)
//!  12   4  entries in use (at most 62)
//!  16   8  the disk's size in sectors when the table was written
//!  24   8  generation (one more at every write; the valid copy with the larger wins)
//!  32   4  CRC-32 (IEEE) of the 4096 bytes with these four set to zero
//!  36  28  zero
//!  64      62 entries of 64 bytes: name (32, NUL-padded), first sector (8),
//!          sectors (8), flags (4, zero), zero (12)
//! ```

use alloc::string::String;
use alloc::vec::Vec;

pub const SECTOR_BYTES: u64 = 512;
/// Bytes of one copy of the table.
pub const TABLE_BYTES: usize = 4096;
pub const PRIMARY_SECTOR: u64 = 0;
pub const BACKUP_SECTOR: u64 = TABLE_BYTES as u64 / SECTOR_BYTES;
/// Extents start and end on this boundary.
pub const EXTENT_ALIGN: u64 = 1 << 20;
const ALIGN_SECTORS: u64 = EXTENT_ALIGN / SECTOR_BYTES;
/// The first sector an extent may use.
pub const DATA_START: u64 = ALIGN_SECTORS;
pub const MAX_ENTRIES: usize = 62;
/// Longest name (the field keeps a NUL).
pub const NAME_MAX: usize = 31;
const MAGIC: &[u8; 8] = b"KEELDISK";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 64;
const ENTRY_BYTES: usize = 64;
const CRC_AT: usize = 32;

/// What went wrong with the table or a change to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableError {
    /// No free run of that many bytes; the largest free run is `largest` bytes.
    NoSpace { wanted: u64, largest: u64 },
    Exists,
    NotFound,
    /// A name that is empty, too long, or not letters, digits, `-` and `_` after a letter.
    BadName,
    /// Zero bytes, or more than the disk could ever hold.
    BadSize,
    /// All [`MAX_ENTRIES`] are in use.
    Full,
    /// The disk cannot hold the table and one extent.
    DiskTooSmall,
    /// Neither copy of the table is valid, and the disk is not blank: nothing is touched.
    Corrupt(&'static str),
}

impl core::fmt::Display for TableError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TableError::NoSpace { wanted, largest } => {
                write!(f, "{} MiB do not fit (largest free space {} MiB)", wanted.div_ceil(1 << 20), largest >> 20)
            }
            TableError::Exists => f.write_str("a disk of that name exists"),
            TableError::NotFound => f.write_str("no such disk"),
            TableError::BadName => f.write_str("not a disk name"),
            TableError::BadSize => f.write_str("not a disk size"),
            TableError::Full => write!(f, "the table is full ({MAX_ENTRIES} disks)"),
            TableError::DiskTooSmall => f.write_str("the host disk is too small"),
            TableError::Corrupt(why) => write!(f, "the disk table is corrupt ({why})"),
        }
    }
}

/// A named run of sectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extent {
    pub name: String,
    pub start: u64,
    pub sectors: u64,
}

impl Extent {
    pub fn end(&self) -> u64 {
        self.start + self.sectors
    }

    pub fn bytes(&self) -> u64 {
        self.sectors * SECTOR_BYTES
    }
}

/// The table of a disk of `sectors` sectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    sectors: u64,
    generation: u64,
    /// Sorted by start.
    extents: Vec<Extent>,
}

/// What a disk's first 16 sectors held.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    /// All zero: a new disk (make a table with [`Table::new`]).
    Blank,
    Table(Table),
}

/// Whether `name` may name a disk.
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= NAME_MAX
        && bytes[0].is_ascii_alphabetic()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn le64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

impl Table {
    /// An empty table for a disk of `sectors`.
    pub fn new(sectors: u64) -> Result<Self, TableError> {
        if sectors < DATA_START + ALIGN_SECTORS {
            return Err(TableError::DiskTooSmall);
        }
        Ok(Self { sectors, generation: 0, extents: Vec::new() })
    }

    /// Reads the two copies (each [`TABLE_BYTES`]) of a disk of `sectors`: the valid one
    /// with the larger generation; `Blank` if both are all zero.
    pub fn decode(primary: &[u8], backup: &[u8], sectors: u64) -> Result<Loaded, TableError> {
        let first = Self::decode_copy(primary, sectors);
        let second = Self::decode_copy(backup, sectors);
        match (first, second) {
            (Ok(a), Ok(b)) => Ok(Loaded::Table(if b.generation > a.generation { b } else { a })),
            (Ok(table), Err(_)) | (Err(_), Ok(table)) => Ok(Loaded::Table(table)),
            (Err(why), Err(_)) => {
                if primary.iter().chain(backup).all(|&b| b == 0) {
                    Ok(Loaded::Blank)
                } else {
                    Err(why)
                }
            }
        }
    }

    fn decode_copy(bytes: &[u8], sectors: u64) -> Result<Self, TableError> {
        if bytes.len() != TABLE_BYTES {
            return Err(TableError::Corrupt("short table"));
        }
        if &bytes[..8] != MAGIC {
            return Err(TableError::Corrupt("no KEELDISK magic"));
        }
        if le32(bytes, 8) != VERSION {
            return Err(TableError::Corrupt("unknown version"));
        }
        let mut copy = [0u8; TABLE_BYTES];
        copy.copy_from_slice(bytes);
        copy[CRC_AT..CRC_AT + 4].fill(0);
        if crc32(&copy) != le32(bytes, CRC_AT) {
            return Err(TableError::Corrupt("checksum mismatch"));
        }
        let count = le32(bytes, 12) as usize;
        if count > MAX_ENTRIES {
            return Err(TableError::Corrupt("too many entries"));
        }
        let mut table = Self::new(sectors)?;
        table.generation = le64(bytes, 24);
        for index in 0..count {
            let entry = &bytes[HEADER_BYTES + index * ENTRY_BYTES..][..ENTRY_BYTES];
            let len = entry[..32].iter().position(|&b| b == 0).unwrap_or(32);
            let name = core::str::from_utf8(&entry[..len]).map_err(|_| TableError::Corrupt("a name is not text"))?;
            if !valid_name(name) || entry[len..32].iter().any(|&b| b != 0) {
                return Err(TableError::Corrupt("a bad name"));
            }
            let extent = Extent { name: name.into(), start: le64(entry, 32), sectors: le64(entry, 40) };
            table.insert_checked(extent)?;
        }
        Ok(table)
    }

    /// Adds a decoded extent after checking it against the disk and the others.
    fn insert_checked(&mut self, extent: Extent) -> Result<(), TableError> {
        let aligned = extent.start.is_multiple_of(ALIGN_SECTORS) && extent.sectors.is_multiple_of(ALIGN_SECTORS);
        let end = extent.start.checked_add(extent.sectors).ok_or(TableError::Corrupt("an extent wraps"))?;
        if !aligned || extent.sectors == 0 || extent.start < DATA_START {
            return Err(TableError::Corrupt("a misplaced extent"));
        }
        if end > self.sectors {
            return Err(TableError::Corrupt("an extent past the end of the disk"));
        }
        if self.find(&extent.name).is_some() {
            return Err(TableError::Corrupt("a name twice"));
        }
        if self.extents.iter().any(|e| e.start < end && extent.start < e.end()) {
            return Err(TableError::Corrupt("overlapping extents"));
        }
        let at = self.extents.partition_point(|e| e.start < extent.start);
        self.extents.insert(at, extent);
        Ok(())
    }

    /// One copy of the table as it goes to disk, for the next generation (see
    /// [`Table::written`]).
    pub fn encode(&self) -> [u8; TABLE_BYTES] {
        let mut bytes = [0u8; TABLE_BYTES];
        bytes[..8].copy_from_slice(MAGIC);
        bytes[8..12].copy_from_slice(&VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&(self.extents.len() as u32).to_le_bytes());
        bytes[16..24].copy_from_slice(&self.sectors.to_le_bytes());
        bytes[24..32].copy_from_slice(&(self.generation + 1).to_le_bytes());
        for (index, extent) in self.extents.iter().enumerate().take(MAX_ENTRIES) {
            let entry = &mut bytes[HEADER_BYTES + index * ENTRY_BYTES..][..ENTRY_BYTES];
            entry[..extent.name.len()].copy_from_slice(extent.name.as_bytes());
            entry[32..40].copy_from_slice(&extent.start.to_le_bytes());
            entry[40..48].copy_from_slice(&extent.sectors.to_le_bytes());
        }
        let crc = crc32(&bytes);
        bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// The encoded table reached the disk: its generation is now current.
    pub fn written(&mut self) {
        self.generation += 1;
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    pub fn extents(&self) -> &[Extent] {
        &self.extents
    }

    pub fn find(&self, name: &str) -> Option<&Extent> {
        self.extents.iter().find(|e| e.name == name)
    }

    /// Free runs (start, sectors) between the extents, in order.
    fn gaps(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let usable_end = self.sectors - self.sectors % ALIGN_SECTORS;
        let starts = core::iter::once(DATA_START).chain(self.extents.iter().map(Extent::end));
        let ends = self.extents.iter().map(|e| e.start).chain(core::iter::once(usable_end));
        starts.zip(ends).filter(|(start, end)| end > start).map(|(start, end)| (start, end - start))
    }

    /// Bytes not in any extent, and the largest free run.
    pub fn free_bytes(&self) -> (u64, u64) {
        self.gaps().fold((0, 0), |(total, largest), (_, sectors)| {
            (total + sectors * SECTOR_BYTES, largest.max(sectors * SECTOR_BYTES))
        })
    }

    /// Makes an extent `name` of `bytes` (rounded up to whole MiB) in the first free run
    /// that holds it. Changes nothing on error.
    pub fn create(&mut self, name: &str, bytes: u64) -> Result<Extent, TableError> {
        if !valid_name(name) {
            return Err(TableError::BadName);
        }
        if self.find(name).is_some() {
            return Err(TableError::Exists);
        }
        if self.extents.len() >= MAX_ENTRIES {
            return Err(TableError::Full);
        }
        let rounded = bytes.checked_next_multiple_of(EXTENT_ALIGN).filter(|&b| b > 0).ok_or(TableError::BadSize)?;
        let sectors = rounded / SECTOR_BYTES;
        let (_, largest) = self.free_bytes();
        let (start, _) = self
            .gaps()
            .find(|&(_, free)| free >= sectors)
            .ok_or(TableError::NoSpace { wanted: rounded, largest })?;
        let extent = Extent { name: name.into(), start, sectors };
        let at = self.extents.partition_point(|e| e.start < start);
        self.extents.insert(at, extent.clone());
        Ok(extent)
    }

    /// Takes `name` out of the table (its sectors are free again, not erased).
    pub fn remove(&mut self, name: &str) -> Result<Extent, TableError> {
        let at = self.extents.iter().position(|e| e.name == name).ok_or(TableError::NotFound)?;
        Ok(self.extents.remove(at))
    }
}

#[cfg(test)]
mod tests;
