//! Table tests: round trips, allocation, full disks, names, and every kind of corruption.

use super::*;

const MIB: u64 = 1 << 20;
/// A 64 MiB disk.
const SECTORS: u64 = 64 * MIB / SECTOR_BYTES;

fn saved(table: &mut Table) -> [u8; TABLE_BYTES] {
    let bytes = table.encode();
    table.written();
    bytes
}

fn load(primary: &[u8], backup: &[u8]) -> Result<Table, TableError> {
    match Table::decode(primary, backup, SECTORS)? {
        Loaded::Table(table) => Ok(table),
        Loaded::Blank => panic!("blank"),
    }
}

#[test]
fn crc32_is_the_standard_one() {
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn a_blank_disk_is_blank_and_a_new_table_round_trips() {
    let zero = [0u8; TABLE_BYTES];
    assert_eq!(Table::decode(&zero, &zero, SECTORS), Ok(Loaded::Blank));
    let mut table = Table::new(SECTORS).unwrap();
    let a = table.create("data", 3 * MIB).unwrap();
    assert_eq!((a.start, a.bytes()), (DATA_START, 3 * MIB));
    let b = table.create("b-2_x", 1).unwrap();
    assert_eq!(b.start, a.end());
    assert_eq!(b.bytes(), MIB, "rounded up to a MiB");
    let bytes = saved(&mut table);
    let loaded = load(&bytes, &bytes).unwrap();
    assert_eq!(loaded, table);
    assert_eq!(loaded.generation(), 1);
    assert_eq!(loaded.find("data"), Some(&a));
}

#[test]
fn the_newer_valid_copy_wins_and_one_good_copy_is_enough() {
    let mut table = Table::new(SECTORS).unwrap();
    table.create("old", MIB).unwrap();
    let old = saved(&mut table);
    table.create("new", MIB).unwrap();
    let new = saved(&mut table);
    assert!(load(&old, &new).unwrap().find("new").is_some());
    assert!(load(&new, &old).unwrap().find("new").is_some());
    let mut torn = new;
    torn[100] ^= 1;
    assert_eq!(load(&torn, &old).unwrap().find("new"), None, "the torn newer copy loses");
    assert!(load(&old, &torn).unwrap().find("old").is_some());
}

#[test]
fn corruption_is_refused_and_named() {
    let mut table = Table::new(SECTORS).unwrap();
    table.create("a", MIB).unwrap();
    table.create("b", MIB).unwrap();
    let good = table.encode();
    // Re-sign a copy after changing it, so only the semantic checks can catch it.
    let resign = |change: &dyn Fn(&mut [u8; TABLE_BYTES])| {
        let mut bytes = good;
        change(&mut bytes);
        bytes[CRC_AT..CRC_AT + 4].fill(0);
        let crc = crc32(&bytes);
        bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        bytes
    };
    let entry = |index: usize, at: usize| HEADER_BYTES + index * ENTRY_BYTES + at;
    let cases: [(&str, [u8; TABLE_BYTES]); 9] = [
        ("checksum", {
            let mut b = good;
            b[entry(0, 40)] ^= 1;
            b
        }),
        ("magic", resign(&|b| b[0] = b'X')),
        ("version", resign(&|b| b[8] = 9)),
        ("too many", resign(&|b| b[12] = 63)),
        ("overlap", resign(&|b| b[entry(1, 32)..entry(1, 40)].copy_from_slice(&DATA_START.to_le_bytes()))),
        ("past the end", resign(&|b| b[entry(1, 40)..entry(1, 48)].copy_from_slice(&SECTORS.to_le_bytes()))),
        ("misplaced", resign(&|b| b[entry(0, 32)] = 1)),
        ("twice", resign(&|b| b[entry(1, 0)] = b'a')),
        ("bad name", resign(&|b| b[entry(0, 0)] = b'-')),
    ];
    let zero = [0u8; TABLE_BYTES];
    for (what, bytes) in cases {
        let error = Table::decode(&bytes, &zero, SECTORS).unwrap_err();
        assert!(matches!(error, TableError::Corrupt(_)), "{what}: {error:?}");
    }
    // A wrapping extent.
    let wraps = resign(&|b| b[entry(1, 32)..entry(1, 40)].copy_from_slice(&(u64::MAX - 2047).to_le_bytes()));
    assert!(Table::decode(&wraps, &zero, SECTORS).is_err());
    // Garbage that is not zero is corrupt, never blank.
    let mut garbage = zero;
    garbage[4000] = 1;
    assert_eq!(Table::decode(&garbage, &zero, SECTORS), Err(TableError::Corrupt("no KEELDISK magic")));
    assert!(Table::decode(&good[..100], &zero, SECTORS).is_err());
    // A disk that shrank below its extents.
    assert!(Table::decode(&good, &good, 2 * MIB / SECTOR_BYTES).is_err());
}

#[test]
fn a_full_disk_refuses_and_changes_nothing() {
    let mut table = Table::new(SECTORS).unwrap();
    let (free, largest) = table.free_bytes();
    assert_eq!((free, largest), (63 * MIB, 63 * MIB), "the first MiB holds the tables");
    table.create("big", 60 * MIB).unwrap();
    let before = table.clone();
    assert_eq!(table.create("more", 4 * MIB), Err(TableError::NoSpace { wanted: 4 * MIB, largest: 3 * MIB }));
    assert_eq!(table, before);
    table.create("fits", 3 * MIB).unwrap();
    assert_eq!(table.free_bytes(), (0, 0));
    assert_eq!(table.create("x", 1), Err(TableError::NoSpace { wanted: MIB, largest: 0 }));
}

#[test]
fn freed_space_is_reused_first_fit() {
    let mut table = Table::new(SECTORS).unwrap();
    for name in ["a", "b", "c"] {
        table.create(name, 10 * MIB).unwrap();
    }
    let b = table.remove("b").unwrap();
    assert_eq!(table.remove("b"), Err(TableError::NotFound));
    assert_eq!(table.create("small", 4 * MIB).unwrap().start, b.start);
    assert_eq!(table.create("gap", 6 * MIB).unwrap().start, b.start + 4 * MIB / SECTOR_BYTES);
    assert_eq!(table.create("end", 7 * MIB).unwrap().start, DATA_START + 30 * MIB / SECTOR_BYTES);
    let bytes = saved(&mut table);
    assert_eq!(load(&bytes, &[0; TABLE_BYTES]).unwrap().extents().len(), 5);
}

#[test]
fn names_sizes_and_limits() {
    let mut table = Table::new(SECTORS).unwrap();
    for bad in ["", "-x", "1disk", "a b", "ä", &"x".repeat(NAME_MAX + 1)] {
        assert_eq!(table.create(bad, MIB), Err(TableError::BadName), "{bad:?}");
    }
    assert!(valid_name(&"x".repeat(NAME_MAX)));
    assert_eq!(table.create("zero", 0), Err(TableError::BadSize));
    assert_eq!(table.create("huge", u64::MAX), Err(TableError::BadSize));
    table.create("dup", MIB).unwrap();
    assert_eq!(table.create("dup", MIB), Err(TableError::Exists));
    let mut big = Table::new(1 << 40).unwrap();
    for index in 0..MAX_ENTRIES {
        big.create(&alloc::format!("d{index}"), MIB).unwrap();
    }
    assert_eq!(big.create("one-more", MIB), Err(TableError::Full));
    let bytes = big.encode();
    assert!(matches!(Table::decode(&bytes, &bytes, 1 << 40), Ok(Loaded::Table(t)) if t.extents().len() == MAX_ENTRIES));
    assert_eq!(Table::new(DATA_START), Err(TableError::DiskTooSmall));
    assert_eq!(alloc::format!("{}", TableError::NoSpace { wanted: 5 * MIB, largest: 2 * MIB }), "5 MiB do not fit (largest free space 2 MiB)");
}
