//! Minimal ELF64 reader: the loadable segments of the kernel, flattened into a raw image.

/// One PT_LOAD segment: where it lives in memory and its bytes in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub file_bytes: Vec<u8>,
    pub mem_size: u64,
}

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
        let offset = read_u64(data, ph + 0x08)? as usize;
        let vaddr = read_u64(data, ph + 0x10)?;
        let file_size = read_u64(data, ph + 0x20)? as usize;
        let mem_size = read_u64(data, ph + 0x28)?;
        let file_bytes = data
            .get(offset..offset + file_size)
            .ok_or_else(|| format!("segment {index} lies outside the file"))?
            .to_vec();
        segments.push(Segment { vaddr, file_bytes, mem_size });
    }
    Ok(segments)
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

    fn segment(vaddr: u64, bytes: &[u8], mem_size: u64) -> Segment {
        Segment { vaddr, file_bytes: bytes.to_vec(), mem_size }
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
