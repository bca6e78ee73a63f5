//! Stage-2 descriptor bits, walk levels and the memory kinds a guest page can have.

/// Size of a page (the 4 KiB granule).
pub const PAGE_SIZE: u64 = 4096;
/// Entries in one 4 KiB table.
pub const ENTRIES: usize = 512;
/// Guest-physical (IPA) address bits: VTCR_EL2.T0SZ = 64 - 40 = 24.
pub const IPA_BITS: u32 = 40;
/// Guest-physical addresses must be below this.
pub const IPA_LIMIT: u64 = 1 << IPA_BITS;
/// Host-physical (output) addresses must be below this: 48-bit output addresses, the most
/// the 4 KiB granule describes without FEAT_LPA2.
pub const PA_LIMIT: u64 = 1 << 48;

/// Bit 0: the descriptor is valid.
pub const DESC_VALID: u64 = 1 << 0;
/// Bit 1: table (levels 1-2) or page (level 3); clear for a block.
pub const DESC_TABLE_OR_PAGE: u64 = 1 << 1;
/// MemAttr[5:2] = 0b1111: Normal, outer and inner write-back cacheable.
pub const MEMATTR_NORMAL_WB: u64 = 0b1111 << 2;
/// MemAttr[5:2] = 0b0001: Device-nGnRE.
pub const MEMATTR_DEVICE_NGNRE: u64 = 0b0001 << 2;
/// MemAttr field mask.
pub const MEMATTR_MASK: u64 = 0b1111 << 2;
/// S2AP[6]: the guest may read.
pub const S2AP_READ: u64 = 1 << 6;
/// S2AP[7]: the guest may write.
pub const S2AP_WRITE: u64 = 1 << 7;
/// SH[9:8] = 0b11: inner shareable.
pub const SH_INNER: u64 = 0b11 << 8;
/// AF[10]: access flag (set up front: Keel does not track guest accesses).
pub const AF: u64 = 1 << 10;
/// XN[54] (XN[1] of FEAT_XNX): execute-never at EL1 and EL0.
pub const XN: u64 = 1 << 54;
/// Output address bits [47:12].
pub const OA_MASK: u64 = (PA_LIMIT - 1) & !(PAGE_SIZE - 1);
/// Every attribute bit of a block or page descriptor (lower [11:2], upper [63:52]).
const LEAF_ATTR_MASK: u64 = 0xfff0_0000_0000_0ffc;

/// A level of the stage-2 walk. The walk starts at level 1 (two concatenated tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// 1 GiB per entry; the root, 1024 entries over two concatenated tables.
    L1,
    /// 2 MiB per entry.
    L2,
    /// 4 KiB per entry (pages only).
    L3,
}

impl Level {
    /// Bit position of this level's index in an IPA.
    pub const fn shift(self) -> u32 {
        match self {
            Self::L1 => 30,
            Self::L2 => 21,
            Self::L3 => 12,
        }
    }

    /// Bytes one entry maps.
    pub const fn size(self) -> u64 {
        1 << self.shift()
    }

    pub const fn next(self) -> Option<Self> {
        match self {
            Self::L1 => Some(Self::L2),
            Self::L2 => Some(Self::L3),
            Self::L3 => None,
        }
    }

    /// Entries of a table at this level: the root concatenates two tables.
    pub const fn entries(self) -> usize {
        match self {
            Self::L1 => 2 * ENTRIES,
            _ => ENTRIES,
        }
    }

    /// The entry that translates `ipa` in a table of this level.
    pub const fn index(self, ipa: u64) -> usize {
        ((ipa >> self.shift()) % self.entries() as u64) as usize
    }

    /// The type bits [1:0] of a block (levels 1-2) or page (level 3).
    pub const fn leaf_type(self) -> u64 {
        match self {
            Self::L3 => DESC_VALID | DESC_TABLE_OR_PAGE,
            _ => DESC_VALID,
        }
    }

    /// True if `desc` at this level points to a next-level table.
    pub const fn is_table(self, desc: u64) -> bool {
        !matches!(self, Self::L3) && desc & 0b11 == DESC_VALID | DESC_TABLE_OR_PAGE
    }

    /// True if `desc` at this level maps memory (a block, or a page at level 3).
    pub const fn is_leaf(self, desc: u64) -> bool {
        desc & 0b11 == self.leaf_type()
    }
}

/// What a stage-2 mapping is to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Normal write-back memory, inner shareable, readable, writable and executable.
    Ram,
    /// Device-nGnRE, readable and writable, never executable (for pass-through only:
    /// emulated devices stay unmapped so that every access traps).
    Device,
}

impl MemoryKind {
    /// The attribute bits of a block or page of this kind (without type bits or address).
    pub const fn leaf_attributes(self) -> u64 {
        match self {
            Self::Ram => MEMATTR_NORMAL_WB | S2AP_READ | S2AP_WRITE | SH_INNER | AF,
            Self::Device => MEMATTR_DEVICE_NGNRE | S2AP_READ | S2AP_WRITE | AF | XN,
        }
    }
}

/// A block or page descriptor at `level` mapping `pa` with `attributes`.
pub const fn leaf(level: Level, pa: u64, attributes: u64) -> u64 {
    (pa & OA_MASK) | (attributes & LEAF_ATTR_MASK) | level.leaf_type()
}

/// A table descriptor pointing to the table at `pa`.
pub const fn table(pa: u64) -> u64 {
    (pa & OA_MASK) | DESC_VALID | DESC_TABLE_OR_PAGE
}

/// The attribute bits of a block or page descriptor.
pub const fn attributes(desc: u64) -> u64 {
    desc & LEAF_ATTR_MASK
}
