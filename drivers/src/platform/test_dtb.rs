//! Test helpers: the QEMU-dumped DTBs in `testdata/`, and a tiny builder for synthetic DTBs.

/// DTBs dumped from QEMU 7.2 `virt` (see `testdata/README.md` for the command lines).
pub const VIRT_A76_SMP4: &[u8] = include_bytes!("../../testdata/virt-a76-smp4.dtb");
pub const VIRT_N1_2G: &[u8] = include_bytes!("../../testdata/virt-n1-2g.dtb");
pub const VIRT_A76_INITRD: &[u8] = include_bytes!("../../testdata/virt-a76-initrd.dtb");
pub const VIRT_GICV2_EL1: &[u8] = include_bytes!("../../testdata/virt-gicv2-el1.dtb");

pub const FDT_BEGIN_NODE: u32 = 1;
pub const FDT_END_NODE: u32 = 2;
pub const FDT_PROP: u32 = 3;
pub const FDT_NOP: u32 = 4;
pub const FDT_END: u32 = 9;

/// Writes a version-17 DTB: nodes and properties in order, strings deduplicated.
#[derive(Default)]
pub struct DtbBuilder {
    structure: Vec<u8>,
    strings: Vec<u8>,
    reservations: Vec<(u64, u64)>,
}

impl DtbBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn token(&mut self, token: u32) -> &mut Self {
        self.structure.extend_from_slice(&token.to_be_bytes());
        self
    }

    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.token(FDT_BEGIN_NODE);
        self.structure.extend_from_slice(name.as_bytes());
        self.structure.push(0);
        self.pad()
    }

    pub fn end(&mut self) -> &mut Self {
        self.token(FDT_END_NODE)
    }

    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let name_offset = self.string_offset(name);
        self.token(FDT_PROP);
        self.structure
            .extend_from_slice(&(value.len() as u32).to_be_bytes());
        self.structure.extend_from_slice(&name_offset.to_be_bytes());
        self.structure.extend_from_slice(value);
        self.pad()
    }

    pub fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let value: Vec<u8> = cells.iter().flat_map(|cell| cell.to_be_bytes()).collect();
        self.prop(name, &value)
    }

    pub fn string(&mut self, name: &str, text: &str) -> &mut Self {
        let mut value = text.as_bytes().to_vec();
        value.push(0);
        self.prop(name, &value)
    }

    pub fn reserve(&mut self, base: u64, size: u64) -> &mut Self {
        self.reservations.push((base, size));
        self
    }

    /// The blob: header, reservation block, structure block (+ FDT_END), strings.
    pub fn build(&mut self) -> Vec<u8> {
        let mut structure = self.structure.clone();
        structure.extend_from_slice(&FDT_END.to_be_bytes());
        let reservations_offset = 40u32;
        let struct_offset = reservations_offset + 16 * (self.reservations.len() as u32 + 1);
        let strings_offset = struct_offset + structure.len() as u32;
        let total_size = strings_offset + self.strings.len() as u32;
        let header = [
            0xd00d_feed,
            total_size,
            struct_offset,
            strings_offset,
            reservations_offset,
            17,
            16,
            0,
            self.strings.len() as u32,
            structure.len() as u32,
        ];
        let mut blob: Vec<u8> = header
            .iter()
            .flat_map(|field| field.to_be_bytes())
            .collect();
        for (base, size) in self.reservations.iter().chain([&(0, 0)]) {
            blob.extend_from_slice(&base.to_be_bytes());
            blob.extend_from_slice(&size.to_be_bytes());
        }
        blob.extend_from_slice(&structure);
        blob.extend_from_slice(&self.strings);
        blob
    }

    fn pad(&mut self) -> &mut Self {
        while !self.structure.len().is_multiple_of(4) {
            self.structure.push(0);
        }
        self
    }

    fn string_offset(&mut self, name: &str) -> u32 {
        let mut wanted = name.as_bytes().to_vec();
        wanted.push(0);
        if let Some(offset) = self
            .strings
            .windows(wanted.len())
            .position(|window| window == wanted)
        {
            return offset as u32;
        }
        let offset = self.strings.len() as u32;
        self.strings.extend_from_slice(&wanted);
        offset
    }
}

/// The big-endian u32 at `offset` of a blob.
pub fn be_u32(blob: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes(blob[offset..offset + 4].try_into().unwrap())
}

/// Overwrites the big-endian u32 at `offset` of a blob.
pub fn set_be_u32(blob: &mut [u8], offset: usize, value: u32) {
    blob[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
}
