//! Minimal ELF64 reader: the kernel's loadable segments, flattened into a raw image, and the
//! layout check of the user programs that go into the initrd.

/// One PT_LOAD segment: where it lives in memory and its bytes in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub file_bytes: Vec<u8>,
    pub mem_size: u64,
    /// `PF_X` | `PF_W` | `PF_R`.
    pub flags: u32,
}

pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
const ET_EXEC: u16 = 2;
const EM_AARCH64: u16 = 183;
const PAGE_SIZE: u64 = 4096;

fn read_u16(data: &[u8], at: usize) -> Result<u16, String> {
    data.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| format!("ELF truncated at offset {at:#x}"))
}

fn read_u32(data: &[u8], at: usize) -> Result<u32, String> {
    data.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("ELF truncated at offset {at:#x}"))
}

fn read_u64(data: &[u8], at: usize) -> Result<u64, String> {
    data.get(at..at + 8)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .ok_or_else(|| format!("ELF truncated at offset {at:#x}"))
}

/// The PT_LOAD segments of a little-endian ELF64 file, in file order.
pub fn load_segments(data: &[u8]) -> Result<Vec<Segment>, String> {
    if data.get(0..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file".into());
    }
    if data.get(4) != Some(&2) || data.get(5) != Some(&1) {
        return Err("not a little-endian ELF64 file".into());
    }
    let phoff = read_u64(data, 0x20)? as usize;
    let phentsize = read_u16(data, 0x36)? as usize;
    let phnum = read_u16(data, 0x38)? as usize;
    let mut segments = Vec::new();
    for index in 0..phnum {
        let ph = phoff + index * phentsize;
        const PT_LOAD: u32 = 1;
        if read_u32(data, ph)? != PT_LOAD {
            continue;
        }
        let flags = read_u32(data, ph + 0x04)?;
        let offset = read_u64(data, ph + 0x08)? as usize;
        let vaddr = read_u64(data, ph + 0x10)?;
        let file_size = read_u64(data, ph + 0x20)? as usize;
        let mem_size = read_u64(data, ph + 0x28)?;
        let file_bytes = data
            .get(offset..offset + file_size)
            .ok_or_else(|| format!("segment {index} lies outside the file"))?
            .to_vec();
        segments.push(Segment {
            vaddr,
            file_bytes,
            mem_size,
            flags,
        });
    }
    Ok(segments)
}

/// Checks that a user program is laid out as Keel maps it (userland/user.ld): a static
/// aarch64 executable whose segments start on their own pages, are never both writable and
/// executable, and whose entry point is in an executable segment.
pub fn check_user_program(data: &[u8]) -> Result<(), String> {
    let segments = load_segments(data)?;
    if read_u16(data, 0x10)? != ET_EXEC {
        return Err("not a static executable (ELF type is not EXEC)".into());
    }
    if read_u16(data, 0x12)? != EM_AARCH64 {
        return Err("not an aarch64 program".into());
    }
    let mut previous_end = 0;
    for segment in &segments {
        let flags = segment.flags;
        if flags & PF_W != 0 && flags & PF_X != 0 {
            return Err(format!("segment at {:#x} is writable and executable", segment.vaddr));
        }
        if segment.vaddr % PAGE_SIZE != 0 || segment.vaddr < previous_end {
            return Err(format!(
                "segment at {:#x} does not start on a page of its own",
                segment.vaddr
            ));
        }
        previous_end = (segment.vaddr + segment.mem_size).next_multiple_of(PAGE_SIZE);
    }
    let entry = read_u64(data, 0x18)?;
    let in_code = segments
        .iter()
        .any(|s| s.flags & PF_X != 0 && (s.vaddr..s.vaddr + s.mem_size).contains(&entry));
    if !in_code {
        return Err(format!("entry point {entry:#x} is not in an executable segment"));
    }
    Ok(())
}

/// Lays the segments out from the lowest address, zero-filling gaps; trailing
/// zero-initialised memory (bss) is left out, as the kernel clears it itself.
pub fn flatten(segments: &[Segment]) -> Result<Vec<u8>, String> {
    let base = segments
        .iter()
        .filter(|s| !s.file_bytes.is_empty())
        .map(|s| s.vaddr)
        .min()
        .ok_or("the ELF file has no loadable bytes")?;
    let mut image = Vec::new();
    for segment in segments.iter().filter(|s| !s.file_bytes.is_empty()) {
        let start = (segment.vaddr - base) as usize;
        let end = start + segment.file_bytes.len();
        if end > 64 << 20 {
            return Err(format!("segment at {:#x} makes the image over 64 MiB", segment.vaddr));
        }
        if image.len() < end {
            image.resize(end, 0);
        }
        image[start..end].copy_from_slice(&segment.file_bytes);
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PF_R: u32 = 4;

    fn segment(vaddr: u64, bytes: &[u8], mem_size: u64) -> Segment {
        Segment {
            vaddr,
            file_bytes: bytes.to_vec(),
            mem_size,
            flags: PF_R,
        }
    }

    /// A minimal ELF64 file: header and program headers (type, flags, vaddr, size), no data.
    fn elf(kind: u16, machine: u16, entry: u64, segments: &[(u32, u64, u64)]) -> Vec<u8> {
        let mut file = vec![0u8; 64];
        file[..6].copy_from_slice(b"\x7fELF\x02\x01");
        file[0x10..0x12].copy_from_slice(&kind.to_le_bytes());
        file[0x12..0x14].copy_from_slice(&machine.to_le_bytes());
        file[0x18..0x20].copy_from_slice(&entry.to_le_bytes());
        file[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        file[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        file[0x38..0x3a].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for &(flags, vaddr, size) in segments {
            let mut header = vec![0u8; 56];
            header[..4].copy_from_slice(&1u32.to_le_bytes());
            header[4..8].copy_from_slice(&flags.to_le_bytes());
            header[0x10..0x18].copy_from_slice(&vaddr.to_le_bytes());
            header[0x28..0x30].copy_from_slice(&size.to_le_bytes());
            file.extend(header);
        }
        file
    }

    #[test]
    fn user_program_layout() {
        let text = (PF_R | PF_X, 0x40_0000, 0x4a30);
        let rodata = (PF_R, 0x40_5000, 0x3780);
        let data = (PF_R | PF_W, 0x40_9000, 0x10_0060);
        assert_eq!(
            check_user_program(&elf(ET_EXEC, EM_AARCH64, 0x40_0000, &[text, rodata, data])),
            Ok(())
        );
        let check = |file: Vec<u8>| check_user_program(&file).unwrap_err();
        assert!(check(elf(3, EM_AARCH64, 0x40_0000, &[text])).contains("not a static executable"));
        assert!(check(elf(ET_EXEC, 62, 0x40_0000, &[text])).contains("aarch64"));
        let wx = (PF_R | PF_W | PF_X, 0x40_0000, 0x100);
        assert!(check(elf(ET_EXEC, EM_AARCH64, 0x40_0000, &[wx])).contains("writable and executable"));
        let sharing = (PF_R, 0x40_4000, 0x100);
        assert!(check(elf(ET_EXEC, EM_AARCH64, 0x40_0000, &[text, sharing])).contains("page of its own"));
        let unaligned = (PF_R, 0x40_5010, 0x100);
        assert!(check(elf(ET_EXEC, EM_AARCH64, 0x40_0000, &[text, unaligned])).contains("page of its own"));
        assert!(check(elf(ET_EXEC, EM_AARCH64, 0x40_5000, &[text, rodata])).contains("entry point 0x405000"));
    }

    #[test]
    fn flatten_fills_gaps_and_drops_bss() {
        let image = flatten(&[
            segment(0x1000, &[1, 2], 2),
            segment(0x1004, &[3], 1),
            segment(0x2000, &[], 0x100),
        ])
        .unwrap();
        assert_eq!(image, vec![1, 2, 0, 0, 3]);
    }

    #[test]
    fn rejects_non_elf() {
        assert!(load_segments(b"MZ\0\0").is_err());
        assert!(flatten(&[]).is_err());
    }
}
