//! Files: for now the host initrd (cpio newc, read-only), from which programs are loaded.

pub mod cpio;

#[cfg(target_os = "none")]
static INITRD: spin::Once<&'static [u8]> = spin::Once::new();

/// Records the initrd the loader placed in RAM (its frames are reserved).
#[cfg(target_os = "none")]
pub fn set_initrd(bytes: &'static [u8]) {
    INITRD.call_once(|| bytes);
}

/// The bytes of a regular file in the initrd.
#[cfg(target_os = "none")]
pub fn initrd_file(path: &str) -> Result<&'static [u8], keel_abi::Error> {
    let bytes = INITRD.get().ok_or(keel_abi::Error::NotFound)?;
    match cpio::Archive::new(bytes).find(path) {
        Ok(Some(entry)) if entry.is_file() => Ok(entry.data),
        Ok(_) => Err(keel_abi::Error::NotFound),
        Err(error) => {
            log::warn!("fs: initrd unreadable: {error:?}");
            Err(keel_abi::Error::NotFound)
        }
    }
}
