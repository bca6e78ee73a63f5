//! Where a guest's kernel, DTB and initrd go in guest RAM (the kernel copies the bytes).
//!
//! Placement, from the bottom of RAM up, never overlapping:
//!
//! * **arm64 Image** (magic "ARM\x64" at 56): at `RAM_BASE + text_offset`, i.e. the 2 MiB
//!   aligned base is the start of RAM (Documentation/arm64/booting.rst: "placed text_offset
//!   bytes from a 2MB aligned base address anywhere in usable system RAM"; the lowest base
//!   wastes nothing, and pre-4.6 kernels cannot use memory below the Image). QEMU adds 2 MiB
//!   when text_offset < 4 KiB only because its boot stub sits at the bottom of RAM; Keel
//!   sets the vCPU's registers directly and has no stub. An image_size of 0 (before v3.17)
//!   means text_offset 0x80000 and an unknown size (see below). Entry = load address,
//!   x0 = DTB.
//! * **Raw binary** (no header): like QEMU's `-kernel` for aarch64 (hw/arm/boot.c,
//!   `load_aarch64_image`): at `RAM_BASE + 0x80000` (KERNEL64_LOAD_ADDR), entry at its first
//!   byte; QEMU also passes the DTB in x0 for these.
//! * When the kernel's size in memory is unknown (raw binary, image_size 0), its BSS may run
//!   past the file, so the kernel is taken to reach at least `RAM_BASE + min(RAM / 2,
//!   128 MiB)` — QEMU's floor for what it puts after the kernel.
//! * **DTB**: the next 2 MiB boundary after the kernel, in a 2 MiB block of its own (Linux
//!   maps it with one block of up to 2 MiB; at most 2 MiB, 8-byte aligned).
//! * **initrd**: the 2 MiB block after the DTB's (so 4 KiB aligned as well), ending within
//!   32 GiB of the 1 GiB-aligned base below the kernel (booting.rst: a 1 GB aligned window
//!   of up to 32 GB that covers the kernel Image too).

use crate::layout;

/// The arm64 Image header's length; the magic is its last word but one.
pub const IMAGE_HEADER_LEN: usize = 64;
/// Where QEMU puts a raw aarch64 binary: RAM base + 0x80000.
pub const RAW_LOAD_OFFSET: u64 = 0x8_0000;
/// text_offset of kernels whose header predates v3.17 (image_size 0).
pub const LEGACY_TEXT_OFFSET: u64 = 0x8_0000;
/// The largest DTB booting.rst allows, and the block it gets.
pub const DTB_MAX_BYTES: u64 = 2 << 20;

const MAGIC: &[u8; 4] = b"ARM\x64";
const MAGIC_OFFSET: usize = 56;
const BLOCK: u64 = 2 << 20;
const UNKNOWN_SIZE_FLOOR: u64 = 128 << 20;
const INITRD_WINDOW: u64 = 32 << 30;
const INITRD_WINDOW_ALIGN: u64 = 1 << 30;
const FLAG_BIG_ENDIAN: u64 = 1;

/// What a kernel file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFormat {
    /// An arm64 Linux Image. `image_size` is the header's (0: unknown, before v3.17 — then
    /// `text_offset` is [`LEGACY_TEXT_OFFSET`], as booting.rst says to assume).
    LinuxImage { text_offset: u64, image_size: u64, big_endian: bool },
    /// Anything else: loaded as is.
    RawBinary,
}

/// Reads the arm64 Image header, if there is one.
pub fn identify(kernel: &[u8]) -> KernelFormat {
    let Some(header) = kernel.get(..IMAGE_HEADER_LEN) else {
        return KernelFormat::RawBinary;
    };
    if &header[MAGIC_OFFSET..MAGIC_OFFSET + 4] != MAGIC {
        return KernelFormat::RawBinary;
    }
    let field = |offset: usize| {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&header[offset..offset + 8]);
        u64::from_le_bytes(bytes)
    };
    let image_size = field(16);
    let text_offset = if image_size == 0 { LEGACY_TEXT_OFFSET } else { field(8) };
    KernelFormat::LinuxImage { text_offset, image_size, big_endian: field(24) & FLAG_BIG_ENDIAN != 0 }
}

/// Guest physical addresses for one boot. The boot vCPU starts at `entry_ipa` with
/// x0 = `dtb_ipa` and x1..x3 = 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootPlan {
    pub kernel_ipa: u64,
    pub entry_ipa: u64,
    pub initrd_ipa: Option<u64>,
    pub dtb_ipa: u64,
    /// First address past guest RAM.
    pub ram_end: u64,
}

/// What a region is, in [`LoadError::DoesNotFit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    Kernel,
    Dtb,
    Initrd,
}

/// Why a boot could not be planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    EmptyKernel,
    /// The Image header's flags say big-endian; Keel's guests are little-endian.
    BigEndianKernel,
    /// A gzip or EFI zboot file: it needs decompressing first (Keel does not).
    CompressedKernel,
    EmptyInitrd,
    /// The DTB room asked for is 0 or more than [`DTB_MAX_BYTES`].
    DtbSizeInvalid(u64),
    /// `region` would end at `end`, past `ram_end` (or past the address space).
    DoesNotFit { region: Region, end: u64, ram_end: u64 },
    /// The initrd would end more than 32 GiB above the kernel's 1 GiB-aligned base.
    InitrdOutOfKernelWindow { end: u64 },
}

/// Plans where `kernel`, a DTB of up to `dtb_max` bytes and an initrd of `initrd_len` bytes
/// go in `ram_bytes` of RAM at [`layout::RAM_BASE`].
pub fn plan(kernel: &[u8], initrd_len: Option<u64>, dtb_max: u64, ram_bytes: u64) -> Result<BootPlan, LoadError> {
    if kernel.is_empty() {
        return Err(LoadError::EmptyKernel);
    }
    if dtb_max == 0 || dtb_max > DTB_MAX_BYTES {
        return Err(LoadError::DtbSizeInvalid(dtb_max));
    }
    if initrd_len == Some(0) {
        return Err(LoadError::EmptyInitrd);
    }
    let ram_end = layout::RAM_BASE.saturating_add(ram_bytes);
    let fit = |region, start: u64, len: u64| match start.checked_add(len) {
        Some(end) if end <= ram_end => Ok(end),
        end => Err(LoadError::DoesNotFit { region, end: end.unwrap_or(u64::MAX), ram_end }),
    };
    let file_len = kernel.len() as u64;
    let (kernel_ipa, size_in_memory) = match identify(kernel) {
        KernelFormat::LinuxImage { big_endian: true, .. } => return Err(LoadError::BigEndianKernel),
        KernelFormat::LinuxImage { text_offset, image_size, .. } => {
            let load = layout::RAM_BASE.saturating_add(text_offset);
            (load, (image_size != 0).then_some(image_size.max(file_len)))
        }
        KernelFormat::RawBinary if is_compressed(kernel) => return Err(LoadError::CompressedKernel),
        KernelFormat::RawBinary => (layout::RAM_BASE + RAW_LOAD_OFFSET, None),
    };
    let kernel_end = match size_in_memory {
        Some(size) => fit(Region::Kernel, kernel_ipa, size)?,
        None => {
            let floor = layout::RAM_BASE + (ram_bytes / 2).min(UNKNOWN_SIZE_FLOOR);
            fit(Region::Kernel, kernel_ipa, file_len)?.max(floor)
        }
    };
    let dtb_ipa = align_up(kernel_end, BLOCK).ok_or(LoadError::DoesNotFit {
        region: Region::Dtb,
        end: u64::MAX,
        ram_end,
    })?;
    fit(Region::Dtb, dtb_ipa, dtb_max)?;
    let initrd_ipa = match initrd_len {
        None => None,
        Some(len) => {
            let start = dtb_ipa.saturating_add(BLOCK);
            let end = fit(Region::Initrd, start, len)?;
            let window_base = kernel_ipa & !(INITRD_WINDOW_ALIGN - 1);
            if end - window_base > INITRD_WINDOW {
                return Err(LoadError::InitrdOutOfKernelWindow { end });
            }
            Some(start)
        }
    };
    Ok(BootPlan { kernel_ipa, entry_ipa: kernel_ipa, initrd_ipa, dtb_ipa, ram_end })
}

/// A gzip stream or an EFI zboot image ("MZ", then "zimg" at 4).
fn is_compressed(kernel: &[u8]) -> bool {
    kernel.starts_with(&[0x1f, 0x8b]) || (kernel.starts_with(b"MZ") && kernel.get(4..8) == Some(b"zimg"))
}

fn align_up(value: u64, align: u64) -> Option<u64> {
    Some(value.checked_add(align - 1)? & !(align - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    /// Debian's linux-image-6.1.0-56-arm64: file size and header values.
    const DEBIAN_FILE_LEN: usize = 32_956_352;
    const DEBIAN_IMAGE_SIZE: u64 = 0x201_0000;
    const DEBIAN_FLAGS: u64 = 0xa; // little-endian, 4 KiB pages, anywhere in RAM

    /// An arm64 Image of `len` bytes with a real header.
    fn image(text_offset: u64, image_size: u64, flags: u64, len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len.max(IMAGE_HEADER_LEN)];
        bytes[0..4].copy_from_slice(&0xfa40_5a4du32.to_le_bytes()); // "MZ" + ccmp, as Linux
        bytes[4..8].copy_from_slice(&0x1459_a356u32.to_le_bytes()); // b stext
        bytes[8..16].copy_from_slice(&text_offset.to_le_bytes());
        bytes[16..24].copy_from_slice(&image_size.to_le_bytes());
        bytes[24..32].copy_from_slice(&flags.to_le_bytes());
        bytes[56..60].copy_from_slice(b"ARM\x64");
        bytes
    }

    fn debian() -> Vec<u8> {
        image(0, DEBIAN_IMAGE_SIZE, DEBIAN_FLAGS, DEBIAN_FILE_LEN)
    }

    #[test]
    fn identify_reads_the_header() {
        assert_eq!(
            identify(&debian()),
            KernelFormat::LinuxImage { text_offset: 0, image_size: DEBIAN_IMAGE_SIZE, big_endian: false }
        );
        let old = image(0x8_0000, 0x100_0000, 0, 4096);
        assert_eq!(
            identify(&old),
            KernelFormat::LinuxImage { text_offset: 0x8_0000, image_size: 0x100_0000, big_endian: false }
        );
        // Before v3.17: image_size 0, text_offset of unspecified endianness → 0x80000.
        let legacy = image(0x0000_0800_0000_0000, 0, 0, 4096);
        assert_eq!(
            identify(&legacy),
            KernelFormat::LinuxImage { text_offset: LEGACY_TEXT_OFFSET, image_size: 0, big_endian: false }
        );
        let big = image(0, 0x100_0000, 1, 4096);
        let expected = KernelFormat::LinuxImage { text_offset: 0, image_size: 0x100_0000, big_endian: true };
        assert_eq!(identify(&big), expected);
        assert_eq!(identify(&[0xd5, 0x03, 0x20, 0x1f]), KernelFormat::RawBinary);
        assert_eq!(identify(&image(0, 1, 0, 64)[..63]), KernelFormat::RawBinary, "a cut header");
        let mut no_magic = debian();
        no_magic[59] = 0x65;
        assert_eq!(identify(&no_magic), KernelFormat::RawBinary);
        assert_eq!(identify(&[]), KernelFormat::RawBinary);
    }

    #[test]
    fn debian_kernel_layout() {
        let plan = plan(&debian(), Some(10 * MIB), DTB_MAX_BYTES, 512 * MIB).unwrap();
        assert_eq!(
            plan,
            BootPlan {
                kernel_ipa: 0x4000_0000,
                entry_ipa: 0x4000_0000,
                dtb_ipa: 0x4220_0000, // the kernel's 0x201_0000 bytes end at 0x4201_0000
                initrd_ipa: Some(0x4240_0000),
                ram_end: 0x6000_0000,
            }
        );
        let without_initrd = super::plan(&debian(), None, 64 * 1024, 512 * MIB).unwrap();
        assert_eq!((without_initrd.dtb_ipa, without_initrd.initrd_ipa), (0x4220_0000, None));
    }

    #[test]
    fn small_ram() {
        // 32 MiB kernel + 2 MiB DTB block + 10 MiB initrd end at 0x42e0_0000: fits 64 MiB.
        let fits = plan(&debian(), Some(10 * MIB), DTB_MAX_BYTES, 64 * MIB).unwrap();
        assert_eq!(fits.initrd_ipa, Some(0x4240_0000));
        let initrd_end = 0x4240_0000 + 30 * MIB;
        assert_eq!(
            plan(&debian(), Some(30 * MIB), DTB_MAX_BYTES, 64 * MIB),
            Err(LoadError::DoesNotFit { region: Region::Initrd, end: initrd_end, ram_end: 0x4400_0000 })
        );
        assert_eq!(
            plan(&debian(), None, DTB_MAX_BYTES, 32 * MIB),
            Err(LoadError::DoesNotFit { region: Region::Kernel, end: 0x4201_0000, ram_end: 0x4200_0000 })
        );
        assert_eq!(
            plan(&debian(), None, DTB_MAX_BYTES, 34 * MIB),
            Err(LoadError::DoesNotFit { region: Region::Dtb, end: 0x4240_0000, ram_end: 0x4220_0000 })
        );
        assert!(plan(&debian(), None, DTB_MAX_BYTES, 36 * MIB).is_ok());
        assert!(plan(&debian(), Some(1), DTB_MAX_BYTES, 36 * MIB).is_err());
    }

    #[test]
    fn text_offset_is_respected() {
        let kernel = image(0x8_0000, 0x150_0000, 0, 0x100_0000);
        let plan = plan(&kernel, Some(MIB), DTB_MAX_BYTES, 256 * MIB).unwrap();
        assert_eq!((plan.kernel_ipa, plan.entry_ipa), (0x4008_0000, 0x4008_0000));
        assert_eq!(plan.dtb_ipa, 0x4160_0000); // 0x4158_0000 rounded up to 2 MiB
        assert_eq!(plan.initrd_ipa, Some(0x4180_0000));
        // A header claiming less than the file holds: the file's length wins.
        let short = image(0, 0x1000, 0, 0x30_0000);
        assert_eq!(super::plan(&short, None, 4096, 64 * MIB).unwrap().dtb_ipa, 0x4040_0000);
    }

    #[test]
    fn unknown_sizes_keep_qemus_room_after_the_kernel() {
        // Legacy header: loaded at 0x80000; the DTB goes where QEMU would put it.
        let legacy = image(0, 0, 0, 0x80_0000);
        let plan = plan(&legacy, None, DTB_MAX_BYTES, 512 * MIB).unwrap();
        assert_eq!((plan.kernel_ipa, plan.dtb_ipa), (0x4008_0000, 0x4800_0000));
        // Raw binaries: QEMU's -kernel address, 0x4008_0000, entry at the first byte.
        let raw = [0x1f, 0x20, 0x03, 0xd5].repeat(1024); // nops
        let plan = super::plan(&raw, None, DTB_MAX_BYTES, 512 * MIB).unwrap();
        assert_eq!((plan.kernel_ipa, plan.entry_ipa, plan.dtb_ipa), (0x4008_0000, 0x4008_0000, 0x4800_0000));
        let plan = super::plan(&raw, Some(MIB), DTB_MAX_BYTES, 64 * MIB).unwrap();
        assert_eq!((plan.dtb_ipa, plan.initrd_ipa), (0x4200_0000, Some(0x4220_0000)), "RAM / 2 below 256 MiB");
        // A raw file larger than the floor: the DTB follows the file.
        let big = vec![0u8; 100 * MIB as usize];
        let plan = super::plan(&big, None, DTB_MAX_BYTES, 128 * MIB).unwrap();
        assert_eq!(plan.dtb_ipa, 0x4660_0000); // 0x4008_0000 + 100 MiB = 0x4648_0000
        assert_eq!(
            super::plan(&big, None, DTB_MAX_BYTES, 100 * MIB),
            Err(LoadError::DoesNotFit { region: Region::Kernel, end: 0x4648_0000, ram_end: 0x4640_0000 })
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(plan(&[], None, DTB_MAX_BYTES, 512 * MIB), Err(LoadError::EmptyKernel));
        let big_endian = image(0, 0x100_0000, 1, 4096);
        assert_eq!(plan(&big_endian, None, DTB_MAX_BYTES, 512 * MIB), Err(LoadError::BigEndianKernel));
        let gzip = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0];
        assert_eq!(plan(&gzip, None, DTB_MAX_BYTES, 512 * MIB), Err(LoadError::CompressedKernel));
        let zboot = *b"MZ\0\0zimg\0\0\0\0";
        assert_eq!(plan(&zboot, None, DTB_MAX_BYTES, 512 * MIB), Err(LoadError::CompressedKernel));
        assert_eq!(plan(&debian(), Some(0), DTB_MAX_BYTES, 512 * MIB), Err(LoadError::EmptyInitrd));
        assert_eq!(plan(&debian(), None, 0, 512 * MIB), Err(LoadError::DtbSizeInvalid(0)));
        let too_big = DTB_MAX_BYTES + 1;
        assert_eq!(plan(&debian(), None, too_big, 512 * MIB), Err(LoadError::DtbSizeInvalid(too_big)));
        let far = image(u64::MAX - 10, 0x1000, 0, 4096);
        assert!(matches!(plan(&far, None, 4096, 512 * MIB), Err(LoadError::DoesNotFit { region: Region::Kernel, .. })));
        let huge = image(0, u64::MAX, 0, 4096);
        assert!(matches!(plan(&huge, None, 4096, u64::MAX), Err(LoadError::DoesNotFit { region: Region::Kernel, .. })));
        let initrd = 33 << 30;
        assert_eq!(
            plan(&debian(), Some(initrd), DTB_MAX_BYTES, 40 << 30),
            Err(LoadError::InitrdOutOfKernelWindow { end: 0x4240_0000 + initrd })
        );
        assert_eq!(
            plan(&debian(), Some(initrd), DTB_MAX_BYTES, u64::MAX),
            Err(LoadError::InitrdOutOfKernelWindow { end: 0x4240_0000 + initrd })
        );
    }

    #[test]
    fn regions_never_overlap_and_stay_in_ram() {
        let kernels = [debian(), image(0x8_0000, 0x300_0000, 0, 0x10_0000), image(0, 0, 0, 0x1000), vec![0xaa; 12_345]];
        for kernel in &kernels {
            for ram in [16 * MIB, 48 * MIB, 64 * MIB, 300 * MIB, 4096 * MIB] {
                for initrd in [None, Some(1), Some(3 * MIB + 5), Some(200 * MIB)] {
                    for dtb_max in [8, 0x1_0000, DTB_MAX_BYTES] {
                        let Ok(plan) = plan(kernel, initrd, dtb_max, ram) else { continue };
                        let file_end = plan.kernel_ipa + kernel.len() as u64;
                        let size = match identify(kernel) {
                            KernelFormat::LinuxImage { image_size, .. } => image_size,
                            KernelFormat::RawBinary => 0,
                        };
                        assert!(plan.kernel_ipa >= layout::RAM_BASE);
                        assert!(file_end.max(plan.kernel_ipa + size) <= plan.dtb_ipa);
                        assert_eq!(plan.dtb_ipa % BLOCK, 0);
                        assert!(plan.dtb_ipa + dtb_max <= plan.ram_end);
                        if let (Some(start), Some(len)) = (plan.initrd_ipa, initrd) {
                            assert!(plan.dtb_ipa + BLOCK <= start);
                            assert_eq!(start % 4096, 0);
                            assert!(start + len <= plan.ram_end);
                        }
                        assert_eq!(plan.ram_end, layout::RAM_BASE + ram);
                    }
                }
            }
        }
    }

    #[test]
    fn arbitrary_files_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..300usize {
            let mut bytes = vec![0u8; len];
            for byte in &mut bytes {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = seed as u8;
            }
            if len >= IMAGE_HEADER_LEN && seed & 1 == 0 {
                bytes[56..60].copy_from_slice(b"ARM\x64");
            }
            let _ = identify(&bytes);
            let _ = plan(&bytes, Some(seed >> 40), (seed >> 43) % (3 * MIB), seed >> (seed % 64));
        }
    }
}
