//! Guest disks on the host disk: the table loaded at boot (a blank disk gets an empty
//! one), disks created and deleted through it, and attachments that give a running VM its
//! extent (one writer, or any number of read-only users).

use super::table::{Extent, Loaded, Table, TableError, BACKUP_SECTOR, PRIMARY_SECTOR, SECTOR_BYTES, TABLE_BYTES};
use crate::sync::IrqSpinlock;
use crate::virtio::blk::{self, HostDisk, Op};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use keel_abi::Error;

/// The table and who uses which disk.
struct State {
    disk: Arc<HostDisk>,
    table: Table,
    /// Disk name → (writers, read-only users).
    users: BTreeMap<String, (u32, u32)>,
}

/// None until loaded; `Err` when the host disk is missing or its table is unusable (why).
static STATE: IrqSpinlock<Option<Result<State, &'static str>>> = IrqSpinlock::new(None);

fn read_sectors(disk: &HostDisk, sector: u64, bytes: usize) -> Result<Vec<u8>, Error> {
    let (result, buffer) = disk.submit(Op::Read, sector, vec![0; bytes]).wait();
    result.map(|()| buffer)
}

fn write_table(disk: &HostDisk, bytes: &[u8; TABLE_BYTES]) -> Result<(), Error> {
    // The primary, then the backup, each made durable: a torn write leaves the other copy.
    for sector in [PRIMARY_SECTOR, BACKUP_SECTOR] {
        disk.submit(Op::Write, sector, bytes.to_vec()).wait().0?;
        disk.submit(Op::Flush, 0, Vec::new()).wait().0?;
    }
    Ok(())
}

fn load() -> Result<State, &'static str> {
    let disk = blk::disk().ok_or("no host disk (scripts/run attaches one)")?;
    let copies = read_sectors(&disk, PRIMARY_SECTOR, 2 * TABLE_BYTES).map_err(|_| "its table could not be read")?;
    let (primary, backup) = copies.split_at(TABLE_BYTES);
    let table = match Table::decode(primary, backup, disk.sectors()) {
        Ok(Loaded::Table(table)) => table,
        Ok(Loaded::Blank) => {
            let mut table = Table::new(disk.sectors()).map_err(|_| "it is too small")?;
            if disk.read_only() {
                return Err("it is blank and read-only");
            }
            write_table(&disk, &table.encode()).map_err(|_| "its new table could not be written")?;
            table.written();
            log::info!("disk: new table on a blank host disk of {} MiB", (disk.sectors() * SECTOR_BYTES) >> 20);
            table
        }
        Err(TableError::Corrupt(why)) => {
            log::error!("disk: the host disk's table is corrupt ({why}); it is left untouched and not used");
            return Err("its table is corrupt (see the log)");
        }
        Err(_) => return Err("its table could not be read"),
    };
    log::info!("disk: {} guest disk(s), generation {}", table.extents().len(), table.generation());
    Ok(State { disk, table, users: BTreeMap::new() })
}

/// Runs `f` on the loaded state (loading it on first use, in thread context).
fn with_state<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
    let loaded = STATE.lock().is_some();
    if !loaded {
        let state = load();
        let mut slot = STATE.lock();
        if slot.is_none() {
            *slot = Some(state);
        }
    }
    let mut slot = STATE.lock();
    match slot.as_mut() {
        Some(Ok(state)) => f(state),
        Some(Err(why)) => {
            log::info!("disk: {why}");
            Err(Error::NotFound)
        }
        None => Err(Error::NotFound),
    }
}

/// Why the host disk cannot be used, or None when it can.
pub fn unusable() -> Option<&'static str> {
    let _ = with_state(|_| Ok(()));
    match STATE.lock().as_ref() {
        Some(Err(why)) => Some(why),
        _ => None,
    }
}

/// A guest disk as listed.
pub struct DiskEntry {
    pub name: String,
    pub bytes: u64,
    pub writers: u32,
    pub readers: u32,
}

/// The host disk's bytes: total, free, and the largest free run.
pub type Space = (u64, u64, u64);

/// Every guest disk, and the host disk's space.
pub fn list() -> Result<(Vec<DiskEntry>, Space), Error> {
    with_state(|state| {
        let entries = state
            .table
            .extents()
            .iter()
            .map(|extent| {
                let (writers, readers) = state.users.get(&extent.name).copied().unwrap_or((0, 0));
                DiskEntry { name: extent.name.clone(), bytes: extent.bytes(), writers, readers }
            })
            .collect();
        let (free, largest) = state.table.free_bytes();
        Ok((entries, (state.table.sectors() * SECTOR_BYTES, free, largest)))
    })
}

fn table_error(error: TableError) -> Error {
    match error {
        TableError::NoSpace { .. } | TableError::Full => Error::TooBig,
        TableError::Exists => Error::Exists,
        TableError::NotFound => Error::NotFound,
        TableError::BadName | TableError::BadSize => Error::InvalidArgument,
        TableError::DiskTooSmall | TableError::Corrupt(_) => Error::IoError,
    }
}

/// Makes disk `name` of `bytes` unless it exists with that size; a disk that exists with
/// another size is refused (`Exists`). Changes nothing on error.
pub fn ensure(name: &str, bytes: u64) -> Result<bool, Error> {
    let (encoded, disk) = {
        let result = with_state(|state| {
            if let Some(extent) = state.table.find(name) {
                let rounded = bytes.next_multiple_of(super::table::EXTENT_ALIGN);
                return if extent.bytes() == rounded { Ok(None) } else { Err(Error::Exists) };
            }
            if state.disk.read_only() {
                return Err(Error::ReadOnly);
            }
            state.table.create(name, bytes).map_err(table_error)?;
            let encoded = state.table.encode();
            state.table.written();
            Ok(Some((encoded, state.disk.clone())))
        })?;
        match result {
            None => return Ok(false),
            Some(pair) => pair,
        }
    };
    if let Err(error) = write_table(&disk, &encoded) {
        log::warn!("disk: the table could not be written ({error}); {name} is not created");
        let _ = with_state(|state| state.table.remove(name).map_err(table_error));
        return Err(Error::IoError);
    }
    log::info!("disk: created {name} ({} MiB)", bytes.div_ceil(1 << 20));
    Ok(true)
}

/// Deletes disk `name` (not while a VM uses it). Its sectors are not erased.
pub fn delete(name: &str) -> Result<(), Error> {
    let (encoded, disk, extent) = with_state(|state| {
        if state.users.get(name).is_some_and(|&(w, r)| w + r > 0) {
            return Err(Error::NotPermitted);
        }
        if state.disk.read_only() {
            return Err(Error::ReadOnly);
        }
        let extent = state.table.remove(name).map_err(table_error)?;
        let encoded = state.table.encode();
        state.table.written();
        Ok((encoded, state.disk.clone(), extent))
    })?;
    if let Err(error) = write_table(&disk, &encoded) {
        log::warn!("disk: the table could not be written ({error}); {name} is kept");
        let _ = with_state(|state| {
            let _ = state.table.create(&extent.name, extent.bytes());
            Ok(())
        });
        return Err(Error::IoError);
    }
    Ok(())
}

/// Whether disk `name` exists, and its size.
pub fn size_of(name: &str) -> Result<u64, Error> {
    with_state(|state| state.table.find(name).map(Extent::bytes).ok_or(Error::NotFound))
}

/// A running VM's use of one disk: its extent on the host disk; released on drop.
pub struct Attachment {
    pub name: String,
    pub disk: Arc<HostDisk>,
    pub start: u64,
    pub sectors: u64,
    pub read_only: bool,
}

/// Takes disk `name` for a VM: `NotPermitted` while another VM writes it, or (for a
/// writer) while any other VM uses it.
pub fn attach(name: &str, read_only: bool) -> Result<Attachment, Error> {
    with_state(|state| {
        let extent = state.table.find(name).cloned().ok_or(Error::NotFound)?;
        let read_only = read_only || state.disk.read_only();
        let users = state.users.entry(name.into()).or_insert((0, 0));
        let busy = if read_only { users.0 > 0 } else { users.0 + users.1 > 0 };
        if busy {
            return Err(Error::NotPermitted);
        }
        if read_only {
            users.1 += 1;
        } else {
            users.0 += 1;
        }
        Ok(Attachment { name: name.into(), disk: state.disk.clone(), start: extent.start, sectors: extent.sectors, read_only })
    })
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let _ = with_state(|state| {
            if let Some(users) = state.users.get_mut(&self.name) {
                if self.read_only {
                    users.1 = users.1.saturating_sub(1);
                } else {
                    users.0 = users.0.saturating_sub(1);
                }
            }
            Ok(())
        });
    }
}
