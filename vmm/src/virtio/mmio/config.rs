//! The device-specific configuration space from offset 0x100: any width, naturally aligned,
//! inside the backend's config; accesses past its end are counted, reads give all ones.

use super::VirtioMmio;
use crate::bus::{AccessWidth, MmioError};
use crate::virtio::device::VirtioDevice;
use crate::virtio::error::TransportError;

/// The config space starts at this offset of the register window.
pub const CONFIG: u64 = 0x100;

impl<D: VirtioDevice> VirtioMmio<D> {
    /// Config space: any width, naturally aligned, inside the backend's config.
    fn config_range(&mut self, offset: u64, width: AccessWidth) -> Result<Option<core::ops::Range<usize>>, MmioError> {
        if !offset.is_multiple_of(width.bytes()) {
            return Err(MmioError::BadRegister);
        }
        let start = usize::try_from(offset).map_err(|_| MmioError::BadRegister)?;
        let end = start.saturating_add(width.bytes() as usize);
        if end > self.device.config().len() {
            self.violation(TransportError::ConfigOutOfRange { offset: offset.saturating_add(CONFIG) });
            return Ok(None);
        }
        Ok(Some(start..end))
    }

    pub(super) fn read_config(&mut self, offset: u64, width: AccessWidth) -> Result<u64, MmioError> {
        let Some(range) = self.config_range(offset, width)? else {
            return Ok(width.mask()); // what reading nothing looks like on a bus
        };
        let bytes = self.device.config().get(range).unwrap_or(&[]);
        Ok(bytes.iter().rev().fold(0, |value, &byte| value << 8 | u64::from(byte)))
    }

    pub(super) fn write_config(&mut self, offset: u64, width: AccessWidth, value: u64) -> Result<(), MmioError> {
        let Some(range) = self.config_range(offset, width)? else {
            return Ok(());
        };
        let bytes = value.to_le_bytes();
        let data = bytes.get(..range.len()).unwrap_or(&[]);
        if !self.device.write_config(range.start, data) {
            self.violation(TransportError::ConfigWriteRefused { offset: offset.saturating_add(CONFIG) });
        }
        Ok(())
    }
}
