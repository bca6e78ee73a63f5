//! Parsing and checking a user program's ELF file before it is loaded (the kernel maps it).
//!
//! Only what loading needs is read: the ELF header and the program headers. Every value is
//! treated as hostile: offsets and sizes are checked against the file with checked
//! arithmetic, segments must lie in user space, must not share a page, and must not be both
//! writable and executable, and the entry point must be in an executable segment. Dynamic
//! linking (`PT_INTERP`) is refused.
//!
//! `parse` takes only `ET_EXEC` files, whose addresses are final. A static
//! position-independent executable (`ET_DYN`) is taken only by `parse_relocatable`, which
//! sets `needs_relocation_base`: its addresses are offsets from a base the loader chooses
//! (see `UserImage::relocate`); applying its dynamic relocations is left to the program's
//! own start-up code.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

/// User addresses are `[USER_SPACE_START, USER_SPACE_END)`; page 0 stays unmapped.
pub const USER_SPACE_END: u64 = 1 << 39;
/// The lowest user address a segment may occupy.
pub const USER_SPACE_START: u64 = PAGE_SIZE;
/// The granule segments are mapped in.
pub const PAGE_SIZE: u64 = 4096;
/// The most loadable segments a program may have.
pub const MAX_LOAD_SEGMENTS: usize = 16;

const HEADER_SIZE: usize = 64;
const PROGRAM_HEADER_SIZE: usize = 56;

const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u8 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_AARCH64: u16 = 183;
/// `e_phnum` value meaning "the real count is elsewhere" (extended numbering; unsupported).
const PN_XNUM: u16 = 0xffff;

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;

const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;

/// One `PT_LOAD` segment: `mem_size` bytes at `vaddr`, of which the first `file_size` come
/// from the file at `file_offset` and the rest are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    pub readable: bool,
    pub writable: bool,
    pub executable: bool,
}

impl LoadSegment {
    /// The pages the segment touches: `vaddr` rounded down to `end` rounded up.
    /// (`parse` has checked that this does not overflow.)
    pub fn page_range(&self) -> Range<u64> {
        let start = self.vaddr & !(PAGE_SIZE - 1);
        let end = self
            .vaddr
            .checked_add(self.mem_size)
            .and_then(|end| end.checked_next_multiple_of(PAGE_SIZE))
            .unwrap_or(!(PAGE_SIZE - 1));
        start..end
    }

    /// The segment's bytes in `file` (the file it was parsed from), or `None` for another
    /// file that is too short.
    pub fn file_bytes<'a>(&self, file: &'a [u8]) -> Option<&'a [u8]> {
        let start = usize::try_from(self.file_offset).ok()?;
        let len = usize::try_from(self.file_size).ok()?;
        file.get(start..start.checked_add(len)?)
    }

    fn contains(&self, addr: u64) -> bool {
        addr >= self.vaddr && addr - self.vaddr < self.mem_size
    }
}

/// What the loader needs to know about a checked user program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserImage {
    pub entry: u64,
    /// The non-empty `PT_LOAD` segments, in program-header order.
    pub segments: Vec<LoadSegment>,
    /// `ET_DYN`: addresses are offsets from a base the loader picks (`relocate`).
    pub needs_relocation_base: bool,
}

impl UserImage {
    /// Moves a position-independent image to `base` (page-aligned): every address gets
    /// `base` added, and the result is checked against user space again. On error the image
    /// is unchanged.
    pub fn relocate(&mut self, base: u64) -> Result<(), ElfError> {
        if !self.needs_relocation_base || !base.is_multiple_of(PAGE_SIZE) {
            return Err(ElfError::BadRelocationBase);
        }
        let mut moved = self.segments.clone();
        for segment in &mut moved {
            segment.vaddr = segment.vaddr.checked_add(base).ok_or(ElfError::SegmentOutsideUserSpace)?;
            check_user_range(segment, USER_SPACE_START)?;
        }
        let entry = self.entry.checked_add(base).ok_or(ElfError::EntryNotExecutable)?;
        self.segments = moved;
        self.entry = entry;
        self.needs_relocation_base = false;
        Ok(())
    }
}

/// Why a file is not a loadable user program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// No ELF magic.
    NotElf,
    Not64BitLittleEndian,
    /// `EI_VERSION` or `e_version` is not 1.
    UnsupportedVersion,
    NotAarch64,
    /// Neither `ET_EXEC` nor `ET_DYN` (e.g. a relocatable object or core file).
    NotExecutable,
    /// `ET_DYN` given to `parse`: a position-independent executable needs a load base
    /// (`parse_relocatable`).
    PositionIndependent,
    /// The file ends inside the ELF header or the program-header table.
    Truncated,
    /// `e_ehsize` is not the size of an ELF64 header.
    BadHeader,
    /// Wrong `e_phentsize`, or extended program-header numbering.
    BadProgramHeaders,
    /// A `PT_INTERP` segment: the program needs a dynamic linker.
    NeedsInterpreter,
    /// A segment's file bytes run past the end of the file.
    SegmentOutsideFile,
    /// A segment has more file bytes than memory bytes.
    FileSizeExceedsMemSize,
    /// `p_align` is not a power of two, or `p_vaddr` and `p_offset` disagree modulo it.
    BadAlignment,
    /// A segment's pages leave `[USER_SPACE_START, USER_SPACE_END)`.
    SegmentOutsideUserSpace,
    /// Two segments share a page.
    SegmentsOverlap,
    WritableAndExecutable,
    /// The entry point is not inside an executable segment.
    EntryNotExecutable,
    /// The entry point is not 4-byte aligned.
    EntryMisaligned,
    /// More than `MAX_LOAD_SEGMENTS` `PT_LOAD` segments.
    TooManySegments,
    /// No non-empty `PT_LOAD` segment.
    NoSegments,
    /// `UserImage::relocate` got a base that is not page-aligned, or an image that is not
    /// position-independent (or was already moved).
    BadRelocationBase,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotElf => "not an ELF file",
            Self::Not64BitLittleEndian => "not a 64-bit little-endian ELF file",
            Self::UnsupportedVersion => "unsupported ELF version",
            Self::NotAarch64 => "not an AArch64 program",
            Self::NotExecutable => "not an executable",
            Self::PositionIndependent => "position-independent executable (needs a load base)",
            Self::Truncated => "file truncated",
            Self::BadHeader => "bad ELF header size",
            Self::BadProgramHeaders => "bad program header table",
            Self::NeedsInterpreter => "dynamically linked (needs an interpreter)",
            Self::SegmentOutsideFile => "segment outside the file",
            Self::FileSizeExceedsMemSize => "segment file size exceeds its memory size",
            Self::BadAlignment => "bad segment alignment",
            Self::SegmentOutsideUserSpace => "segment outside user space",
            Self::SegmentsOverlap => "segments overlap",
            Self::WritableAndExecutable => "segment both writable and executable",
            Self::EntryNotExecutable => "entry point not in an executable segment",
            Self::EntryMisaligned => "entry point not 4-byte aligned",
            Self::TooManySegments => "too many loadable segments",
            Self::NoSegments => "no loadable segments",
            Self::BadRelocationBase => "bad relocation base or image not relocatable",
        })
    }
}

fn read_bytes<const N: usize>(file: &[u8], at: usize) -> Option<[u8; N]> {
    file.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn read_u16(file: &[u8], at: usize) -> Option<u16> {
    read_bytes(file, at).map(u16::from_le_bytes)
}

fn read_u32(file: &[u8], at: usize) -> Option<u32> {
    read_bytes(file, at).map(u32::from_le_bytes)
}

fn read_u64(file: &[u8], at: usize) -> Option<u64> {
    read_bytes(file, at).map(u64::from_le_bytes)
}

/// Checks the segment's pages lie in `[lowest, USER_SPACE_END)`.
fn check_user_range(segment: &LoadSegment, lowest: u64) -> Result<(), ElfError> {
    let end = segment
        .vaddr
        .checked_add(segment.mem_size)
        .and_then(|end| end.checked_next_multiple_of(PAGE_SIZE))
        .ok_or(ElfError::SegmentOutsideUserSpace)?;
    let start = segment.vaddr & !(PAGE_SIZE - 1);
    if start < lowest || end > USER_SPACE_END {
        return Err(ElfError::SegmentOutsideUserSpace);
    }
    Ok(())
}

/// One program header's fields, as read from the file.
struct ProgramHeader {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    file_size: u64,
    mem_size: u64,
    align: u64,
}

impl ProgramHeader {
    fn read(file: &[u8], at: usize) -> Option<Self> {
        Some(Self {
            kind: read_u32(file, at)?,
            flags: read_u32(file, at.checked_add(4)?)?,
            offset: read_u64(file, at.checked_add(8)?)?,
            vaddr: read_u64(file, at.checked_add(16)?)?,
            file_size: read_u64(file, at.checked_add(32)?)?,
            mem_size: read_u64(file, at.checked_add(40)?)?,
            align: read_u64(file, at.checked_add(48)?)?,
        })
    }

    /// Checks a `PT_LOAD` header; `Ok(None)` for an empty one, which loads nothing.
    fn to_segment(&self, file_len: u64, lowest: u64) -> Result<Option<LoadSegment>, ElfError> {
        let file_end = self.offset.checked_add(self.file_size).ok_or(ElfError::SegmentOutsideFile)?;
        if file_end > file_len {
            return Err(ElfError::SegmentOutsideFile);
        }
        if self.file_size > self.mem_size {
            return Err(ElfError::FileSizeExceedsMemSize);
        }
        if self.align > 1 && (!self.align.is_power_of_two() || self.vaddr % self.align != self.offset % self.align) {
            return Err(ElfError::BadAlignment);
        }
        if self.mem_size == 0 {
            return Ok(None);
        }
        let segment = LoadSegment {
            vaddr: self.vaddr,
            mem_size: self.mem_size,
            file_offset: self.offset,
            file_size: self.file_size,
            readable: self.flags & PF_R != 0,
            writable: self.flags & PF_W != 0,
            executable: self.flags & PF_X != 0,
        };
        if segment.writable && segment.executable {
            return Err(ElfError::WritableAndExecutable);
        }
        check_user_range(&segment, lowest)?;
        Ok(Some(segment))
    }
}

/// Reads and checks the ELF header; returns `(is_dyn, entry, phoff, phnum)`.
fn parse_header(file: &[u8]) -> Result<(bool, u64, usize, usize), ElfError> {
    let magic_len = file.len().min(ELF_MAGIC.len());
    if file.get(..magic_len) != ELF_MAGIC.get(..magic_len) || magic_len == 0 {
        return Err(ElfError::NotElf);
    }
    let ident: [u8; 16] = read_bytes(file, 0).ok_or(ElfError::Truncated)?;
    if ident[4] != ELFCLASS64 || ident[5] != ELFDATA2LSB {
        return Err(ElfError::Not64BitLittleEndian);
    }
    if ident[6] != EV_CURRENT {
        return Err(ElfError::UnsupportedVersion);
    }
    if file.len() < HEADER_SIZE {
        return Err(ElfError::Truncated);
    }
    let field = |at| read_u16(file, at).ok_or(ElfError::Truncated);
    let is_dyn = match field(16)? {
        ET_EXEC => false,
        ET_DYN => true,
        _ => return Err(ElfError::NotExecutable),
    };
    if field(18)? != EM_AARCH64 {
        return Err(ElfError::NotAarch64);
    }
    if read_u32(file, 20) != Some(u32::from(EV_CURRENT)) {
        return Err(ElfError::UnsupportedVersion);
    }
    let entry = read_u64(file, 24).ok_or(ElfError::Truncated)?;
    let phoff = read_u64(file, 32).ok_or(ElfError::Truncated)?;
    if usize::from(field(52)?) != HEADER_SIZE {
        return Err(ElfError::BadHeader);
    }
    let phentsize = field(54)?;
    let phnum = field(56)?;
    if phnum == 0 {
        return Err(ElfError::NoSegments);
    }
    if usize::from(phentsize) != PROGRAM_HEADER_SIZE || phnum == PN_XNUM {
        return Err(ElfError::BadProgramHeaders);
    }
    let phoff = usize::try_from(phoff).map_err(|_| ElfError::Truncated)?;
    let table_end = usize::from(phnum)
        .checked_mul(PROGRAM_HEADER_SIZE)
        .and_then(|size| size.checked_add(phoff))
        .ok_or(ElfError::Truncated)?;
    if table_end > file.len() {
        return Err(ElfError::Truncated);
    }
    Ok((is_dyn, entry, phoff, usize::from(phnum)))
}

/// Checks `file` as a static AArch64 user program (`ET_EXEC`) and describes how to load it.
/// The image's addresses are final: `needs_relocation_base` is always false.
pub fn parse(file: &[u8]) -> Result<UserImage, ElfError> {
    let image = parse_relocatable(file)?;
    if image.needs_relocation_base {
        return Err(ElfError::PositionIndependent);
    }
    Ok(image)
}

/// Like `parse`, but also takes a static position-independent executable (`ET_DYN`): its
/// image comes back with `needs_relocation_base` set and addresses relative to 0, to be
/// moved with `UserImage::relocate` before loading.
pub fn parse_relocatable(file: &[u8]) -> Result<UserImage, ElfError> {
    let (is_dyn, entry, phoff, phnum) = parse_header(file)?;
    // A position-independent image is checked as if loaded at 0 with its base still to be
    // added: it may start at page 0, and must leave room for a base of at least one page.
    let lowest = if is_dyn { 0 } else { USER_SPACE_START };
    let file_len = u64::try_from(file.len()).map_err(|_| ElfError::Truncated)?;

    let mut segments: Vec<LoadSegment> = Vec::new();
    let mut load_headers = 0usize;
    for index in 0..phnum {
        let at = index
            .checked_mul(PROGRAM_HEADER_SIZE)
            .and_then(|offset| offset.checked_add(phoff))
            .ok_or(ElfError::Truncated)?;
        let header = ProgramHeader::read(file, at).ok_or(ElfError::Truncated)?;
        match header.kind {
            PT_INTERP => return Err(ElfError::NeedsInterpreter),
            PT_LOAD => {}
            _ => continue,
        }
        load_headers += 1;
        if load_headers > MAX_LOAD_SEGMENTS {
            return Err(ElfError::TooManySegments);
        }
        let Some(segment) = header.to_segment(file_len, lowest)? else { continue };
        let pages = segment.page_range();
        if segments.iter().any(|other| {
            let other = other.page_range();
            pages.start < other.end && other.start < pages.end
        }) {
            return Err(ElfError::SegmentsOverlap);
        }
        segments.push(segment);
    }
    if segments.is_empty() {
        return Err(ElfError::NoSegments);
    }
    if is_dyn {
        // Keep room for the smallest base the loader may pick.
        for segment in &segments {
            if segment.page_range().end > USER_SPACE_END - USER_SPACE_START {
                return Err(ElfError::SegmentOutsideUserSpace);
            }
        }
    }
    if !segments.iter().any(|segment| segment.executable && segment.contains(entry)) {
        return Err(ElfError::EntryNotExecutable);
    }
    if !entry.is_multiple_of(4) {
        return Err(ElfError::EntryMisaligned);
    }
    Ok(UserImage { entry, segments, needs_relocation_base: is_dyn })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One program header for the test builder.
    #[derive(Clone, Copy)]
    struct Phdr {
        kind: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        file_size: u64,
        mem_size: u64,
        align: u64,
    }

    fn load(flags: u32, offset: u64, vaddr: u64, file_size: u64, mem_size: u64) -> Phdr {
        Phdr { kind: PT_LOAD, flags, offset, vaddr, file_size, mem_size, align: PAGE_SIZE }
    }

    fn put(file: &mut [u8], at: usize, bytes: &[u8]) {
        file[at..at + bytes.len()].copy_from_slice(bytes);
    }

    /// A minimal ELF64 AArch64 executable: header, program headers right after it, then
    /// zeros (with a recognisable pattern) up to `total_len`.
    fn build(entry: u64, phdrs: &[Phdr], total_len: usize) -> Vec<u8> {
        let table_end = HEADER_SIZE + phdrs.len() * PROGRAM_HEADER_SIZE;
        let mut file: Vec<u8> = (0..total_len.max(table_end)).map(|i| (i % 251) as u8).collect();
        put(&mut file, 0, &ELF_MAGIC);
        put(&mut file, 4, &[ELFCLASS64, ELFDATA2LSB, EV_CURRENT, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        put(&mut file, 16, &ET_EXEC.to_le_bytes());
        put(&mut file, 18, &EM_AARCH64.to_le_bytes());
        put(&mut file, 20, &1u32.to_le_bytes());
        put(&mut file, 24, &entry.to_le_bytes());
        put(&mut file, 32, &(HEADER_SIZE as u64).to_le_bytes());
        put(&mut file, 40, &0u64.to_le_bytes());
        put(&mut file, 48, &0u32.to_le_bytes());
        put(&mut file, 52, &(HEADER_SIZE as u16).to_le_bytes());
        put(&mut file, 54, &(PROGRAM_HEADER_SIZE as u16).to_le_bytes());
        put(&mut file, 56, &(phdrs.len() as u16).to_le_bytes());
        put(&mut file, 58, &[0; 6]);
        for (index, phdr) in phdrs.iter().enumerate() {
            let at = HEADER_SIZE + index * PROGRAM_HEADER_SIZE;
            put(&mut file, at, &phdr.kind.to_le_bytes());
            put(&mut file, at + 4, &phdr.flags.to_le_bytes());
            put(&mut file, at + 8, &phdr.offset.to_le_bytes());
            put(&mut file, at + 16, &phdr.vaddr.to_le_bytes());
            put(&mut file, at + 24, &phdr.vaddr.to_le_bytes());
            put(&mut file, at + 32, &phdr.file_size.to_le_bytes());
            put(&mut file, at + 40, &phdr.mem_size.to_le_bytes());
            put(&mut file, at + 48, &phdr.align.to_le_bytes());
        }
        file
    }

    const TEXT: u64 = 0x40_0000;
    const ENTRY: u64 = TEXT + 0x10;

    /// Text (R-X), read-only data (R--), data with bss (RW-).
    fn three_segments() -> [Phdr; 3] {
        [
            load(PF_R | PF_X, 0x1000, TEXT, 0x800, 0x800),
            load(PF_R, 0x2000, TEXT + 0x1000, 0x300, 0x300),
            load(PF_R | PF_W, 0x3100, TEXT + 0x2100, 0x100, 0x3000),
        ]
    }

    fn valid_image() -> Vec<u8> {
        build(ENTRY, &three_segments(), 0x3200)
    }

    fn parse_with(entry: u64, phdrs: &[Phdr]) -> Result<UserImage, ElfError> {
        parse(&build(entry, phdrs, 0x4000))
    }

    #[test]
    fn parses_a_valid_three_segment_image() {
        let file = valid_image();
        let image = parse(&file).unwrap();
        assert_eq!(image.entry, ENTRY);
        assert!(!image.needs_relocation_base);
        let expected = [
            LoadSegment {
                vaddr: TEXT,
                mem_size: 0x800,
                file_offset: 0x1000,
                file_size: 0x800,
                readable: true,
                writable: false,
                executable: true,
            },
            LoadSegment {
                vaddr: TEXT + 0x1000,
                mem_size: 0x300,
                file_offset: 0x2000,
                file_size: 0x300,
                readable: true,
                writable: false,
                executable: false,
            },
            LoadSegment {
                vaddr: TEXT + 0x2100,
                mem_size: 0x3000,
                file_offset: 0x3100,
                file_size: 0x100,
                readable: true,
                writable: true,
                executable: false,
            },
        ];
        assert_eq!(image.segments, expected);
        assert_eq!(image.segments[2].page_range(), TEXT + 0x2000..TEXT + 0x6000);
        assert_eq!(image.segments[2].file_bytes(&file), Some(&file[0x3100..0x3200]));
        assert_eq!(image.segments[2].file_bytes(&file[..0x3000]), None);
    }

    #[test]
    fn ignores_other_segment_kinds_and_empty_loads() {
        let mut phdrs = three_segments().to_vec();
        phdrs.push(Phdr {
            kind: 0x6474_e551,
            flags: PF_R | PF_W | PF_X,
            offset: 0,
            vaddr: 0,
            file_size: 0,
            mem_size: 0,
            align: 16,
        }); // PT_GNU_STACK
        phdrs.push(Phdr {
            kind: 7,
            flags: PF_R,
            offset: 0x3100,
            vaddr: TEXT + 0x2100,
            file_size: 0x10,
            mem_size: 0x10,
            align: 8,
        }); // PT_TLS
        phdrs.push(load(PF_R, 0, 0, 0, 0));
        let image = parse_with(ENTRY, &phdrs).unwrap();
        assert_eq!(image.segments.len(), 3);
    }

    #[test]
    fn refuses_files_that_are_not_aarch64_executables() {
        assert_eq!(parse(&[]), Err(ElfError::NotElf));
        assert_eq!(parse(b"\x7fEL"), Err(ElfError::Truncated));
        assert_eq!(parse(b"#!/bin/sh\n"), Err(ElfError::NotElf));
        let good = valid_image();
        assert_eq!(parse(&good[..40]), Err(ElfError::Truncated));
        assert_eq!(parse(&good[..63]), Err(ElfError::Truncated));

        let mutate = |at: usize, bytes: &[u8]| {
            let mut file = good.clone();
            put(&mut file, at, bytes);
            parse(&file)
        };
        assert_eq!(mutate(4, &[1]), Err(ElfError::Not64BitLittleEndian));
        assert_eq!(mutate(5, &[2]), Err(ElfError::Not64BitLittleEndian));
        assert_eq!(mutate(6, &[0]), Err(ElfError::UnsupportedVersion));
        assert_eq!(mutate(20, &[2]), Err(ElfError::UnsupportedVersion));
        assert_eq!(mutate(16, &1u16.to_le_bytes()), Err(ElfError::NotExecutable));
        assert_eq!(mutate(16, &4u16.to_le_bytes()), Err(ElfError::NotExecutable));
        assert_eq!(mutate(18, &62u16.to_le_bytes()), Err(ElfError::NotAarch64));
        assert_eq!(mutate(52, &52u16.to_le_bytes()), Err(ElfError::BadHeader));
        assert_eq!(mutate(54, &32u16.to_le_bytes()), Err(ElfError::BadProgramHeaders));
        assert_eq!(mutate(56, &0xffffu16.to_le_bytes()), Err(ElfError::BadProgramHeaders));
        assert_eq!(mutate(56, &0u16.to_le_bytes()), Err(ElfError::NoSegments));
        assert_eq!(mutate(56, &1000u16.to_le_bytes()), Err(ElfError::Truncated));
        assert_eq!(mutate(32, &(u64::MAX - 8).to_le_bytes()), Err(ElfError::Truncated));
        assert_eq!(mutate(32, &0x3190u64.to_le_bytes()), Err(ElfError::Truncated));
    }

    #[test]
    fn refuses_interpreters_and_bad_segments() {
        let [text, rodata, data] = three_segments();
        let interp =
            Phdr { kind: PT_INTERP, flags: PF_R, offset: 0x200, vaddr: 0, file_size: 0x1c, mem_size: 0x1c, align: 1 };
        assert_eq!(parse_with(ENTRY, &[interp, text]), Err(ElfError::NeedsInterpreter));

        let past_end = Phdr { file_size: 0x3001, ..data };
        assert_eq!(parse_with(ENTRY, &[text, past_end]), Err(ElfError::SegmentOutsideFile));
        let wraps = Phdr { offset: u64::MAX - 4, file_size: 0x10, mem_size: 0x10, align: 0, ..rodata };
        assert_eq!(parse_with(ENTRY, &[text, wraps]), Err(ElfError::SegmentOutsideFile));

        let bigger_file = Phdr { file_size: 0x400, ..rodata };
        assert_eq!(parse_with(ENTRY, &[text, bigger_file]), Err(ElfError::FileSizeExceedsMemSize));

        assert_eq!(parse_with(ENTRY, &[text, Phdr { align: 0x1800, ..rodata }]), Err(ElfError::BadAlignment));
        assert_eq!(parse_with(ENTRY, &[text, Phdr { offset: 0x2008, ..rodata }]), Err(ElfError::BadAlignment));
        // Alignment 0 and 1 mean "none"; a large power of two must still agree.
        assert!(parse_with(ENTRY, &[text, Phdr { align: 0, offset: 0x2008, ..rodata }]).is_ok());
        assert!(parse_with(ENTRY, &[text, Phdr { align: 1, offset: 0x2008, ..rodata }]).is_ok());
        assert_eq!(parse_with(ENTRY, &[Phdr { align: 0x10000, ..text }]), Err(ElfError::BadAlignment));
    }

    #[test]
    fn refuses_segments_outside_user_space() {
        let [text, rodata, _] = three_segments();
        let at =
            |vaddr: u64, mem_size: u64| Phdr { vaddr, offset: vaddr % PAGE_SIZE, file_size: 0, mem_size, ..rodata };
        let outside = Err(ElfError::SegmentOutsideUserSpace);
        assert_eq!(parse_with(ENTRY, &[text, at(0, 0x10)]), outside);
        assert_eq!(parse_with(ENTRY, &[text, at(0xfff, 0x10)]), outside);
        assert_eq!(parse_with(ENTRY, &[text, at(USER_SPACE_END - 0x1000, 0x1001)]), outside);
        assert_eq!(parse_with(ENTRY, &[text, at(USER_SPACE_END, 1)]), outside);
        assert_eq!(parse_with(ENTRY, &[text, at(u64::MAX - 0x10, 0x8)]), outside);
        assert_eq!(parse_with(ENTRY, &[text, at(0x1000, u64::MAX)]), outside);
        // The edges themselves are fine.
        assert!(parse_with(ENTRY, &[text, at(0x1000, 0x10)]).is_ok());
        assert!(parse_with(ENTRY, &[text, at(USER_SPACE_END - 0x1000, 0x1000)]).is_ok());
    }

    #[test]
    fn refuses_segments_sharing_a_page() {
        let [text, rodata, data] = three_segments();
        // rodata ends at TEXT+0x1300; data starting in that page overlaps after rounding.
        let same_page = Phdr { vaddr: TEXT + 0x1400, offset: 0x3400, file_size: 0, ..data };
        assert_eq!(parse_with(ENTRY, &[text, rodata, same_page]), Err(ElfError::SegmentsOverlap));
        let inside = Phdr { vaddr: TEXT, offset: 0x2000, ..rodata };
        assert_eq!(parse_with(ENTRY, &[text, inside]), Err(ElfError::SegmentsOverlap));
        let covering = Phdr { vaddr: TEXT - 0x1000, offset: 0x2000, file_size: 0, mem_size: 0x10_0000, ..rodata };
        assert_eq!(parse_with(ENTRY, &[text, covering]), Err(ElfError::SegmentsOverlap));
        // Adjacent pages do not overlap.
        let adjacent = Phdr { vaddr: TEXT + 0x1000, offset: 0x2000, ..rodata };
        assert!(parse_with(ENTRY, &[text, adjacent]).is_ok());
    }

    #[test]
    fn refuses_writable_executable_segments_and_bad_entries() {
        let [text, rodata, data] = three_segments();
        let wx = Phdr { flags: PF_R | PF_W | PF_X, ..text };
        assert_eq!(parse_with(ENTRY, &[wx]), Err(ElfError::WritableAndExecutable));
        assert_eq!(parse_with(TEXT + 0x1000, &[text, rodata, data]), Err(ElfError::EntryNotExecutable));
        assert_eq!(parse_with(TEXT + 0x2100, &[text, rodata, data]), Err(ElfError::EntryNotExecutable));
        assert_eq!(parse_with(TEXT + 0x800, &[text, rodata, data]), Err(ElfError::EntryNotExecutable));
        assert_eq!(parse_with(TEXT - 4, &[text, rodata, data]), Err(ElfError::EntryNotExecutable));
        assert_eq!(parse_with(0, &[text, rodata, data]), Err(ElfError::EntryNotExecutable));
        assert_eq!(parse_with(u64::MAX, &[text, rodata, data]), Err(ElfError::EntryNotExecutable));
        assert_eq!(parse_with(TEXT + 2, &[text, rodata, data]), Err(ElfError::EntryMisaligned));
        assert_eq!(parse_with(TEXT + 0x7fc, &[text, rodata, data]).map(|image| image.entry), Ok(TEXT + 0x7fc));
    }

    #[test]
    fn counts_load_segments() {
        let [text, ..] = three_segments();
        assert_eq!(parse_with(ENTRY, &[Phdr { kind: 4, ..text }]), Err(ElfError::NoSegments));
        assert_eq!(parse_with(ENTRY, &[Phdr { mem_size: 0, file_size: 0, ..text }]), Err(ElfError::NoSegments));
        let page = |index: u64| Phdr {
            vaddr: TEXT + 0x1000 * index,
            offset: 0,
            file_size: 0,
            mem_size: 0x10,
            flags: PF_R,
            ..text
        };
        let mut phdrs: Vec<Phdr> = (1..MAX_LOAD_SEGMENTS as u64).map(page).collect();
        phdrs.push(text);
        assert_eq!(parse_with(ENTRY, &phdrs).map(|image| image.segments.len()), Ok(MAX_LOAD_SEGMENTS));
        phdrs.push(page(100));
        assert_eq!(parse_with(ENTRY, &phdrs), Err(ElfError::TooManySegments));
    }

    #[test]
    fn static_pie_needs_a_base() {
        let text = load(PF_R | PF_X, 0, 0, 0x800, 0x800);
        let data = load(PF_R | PF_W, 0x800, 0x1800, 0x100, 0x2000);
        let mut file = build(0x40, &[text, data], 0x1000);
        put(&mut file, 16, &ET_DYN.to_le_bytes());
        assert_eq!(parse(&file), Err(ElfError::PositionIndependent));
        let mut image = parse_relocatable(&file).unwrap();
        assert!(image.needs_relocation_base);
        assert_eq!(image.segments[0].vaddr, 0);
        assert_eq!(image.relocate(0x1234), Err(ElfError::BadRelocationBase));
        assert_eq!(image.relocate(USER_SPACE_END - 0x2000), Err(ElfError::SegmentOutsideUserSpace));
        assert_eq!(image.relocate(!0xfff), Err(ElfError::SegmentOutsideUserSpace));
        assert!(image.needs_relocation_base);
        assert_eq!(image.segments[0].vaddr, 0);
        image.relocate(0x10_0000).unwrap();
        assert!(!image.needs_relocation_base);
        assert_eq!(image.entry, 0x10_0040);
        assert_eq!(image.segments[1].vaddr, 0x10_1800);
        assert_eq!(image.relocate(0x10_0000), Err(ElfError::BadRelocationBase));
        // An ET_EXEC image is the same through either entry point, and cannot be moved.
        let mut fixed = parse_relocatable(&valid_image()).unwrap();
        assert_eq!(Ok(&fixed), parse(&valid_image()).as_ref());
        assert_eq!(fixed.relocate(0x1000), Err(ElfError::BadRelocationBase));

        // A PIE that fills all of user space leaves no room for a base.
        let huge = load(PF_R | PF_X, 0, 0, 0x800, USER_SPACE_END - 0x1000 + 1);
        let mut file = build(0x40, &[huge], 0x1000);
        put(&mut file, 16, &ET_DYN.to_le_bytes());
        assert_eq!(parse_relocatable(&file), Err(ElfError::SegmentOutsideUserSpace));
    }

    #[test]
    fn errors_have_messages() {
        assert_eq!(alloc::format!("{}", ElfError::SegmentsOverlap), "segments overlap");
        assert_eq!(alloc::format!("{}", ElfError::NotAarch64), "not an AArch64 program");
    }

    /// Whatever `parse` accepts must satisfy everything the loader relies on.
    fn check_invariants(file: &[u8], image: &UserImage) {
        assert!(!image.segments.is_empty() && image.segments.len() <= MAX_LOAD_SEGMENTS);
        let lowest = if image.needs_relocation_base { 0 } else { USER_SPACE_START };
        for (index, segment) in image.segments.iter().enumerate() {
            assert!(segment.file_bytes(file).is_some());
            assert!(segment.file_size <= segment.mem_size && segment.mem_size > 0);
            assert!(!(segment.writable && segment.executable));
            let pages = segment.page_range();
            assert!(pages.start >= lowest && pages.end <= USER_SPACE_END && pages.start < pages.end);
            for other in &image.segments[..index] {
                let other = other.page_range();
                assert!(pages.end <= other.start || other.end <= pages.start);
            }
        }
        assert!(image.segments.iter().any(|segment| segment.executable && segment.contains(image.entry)));
    }

    #[test]
    fn mutated_images_never_panic() {
        let good = valid_image();
        let structure_len = HEADER_SIZE + 3 * PROGRAM_HEADER_SIZE;
        let mut state: u64 = 0x1234_5678_9abc_def0;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut file = good.clone();
            for _ in 0..1 + next() % 6 {
                let at = if next() % 4 == 0 { next() as usize % file.len() } else { next() as usize % structure_len };
                file[at] = match next() % 4 {
                    0 => 0,
                    1 => 0xff,
                    2 => file[at] ^ (1 << (next() % 8)),
                    _ => next() as u8,
                };
            }
            if next() % 8 == 0 {
                file.truncate(next() as usize % (file.len() + 1));
            }
            if let Ok(image) = parse(&file) {
                accepted += 1;
                check_invariants(&file, &image);
            }
            if let Ok(mut image) = parse_relocatable(&file) {
                check_invariants(&file, &image);
                if image.relocate(0x10_0000).is_ok() {
                    check_invariants(&file, &image);
                }
            }
        }
        // Some mutations land on bytes that do not matter; the loop should see both outcomes.
        assert!(accepted > 0 && accepted < 20_000);
        // Every prefix of a valid image, too.
        for len in 0..good.len() {
            let _ = parse(&good[..len]);
        }
    }
}
