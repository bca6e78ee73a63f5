//! Links the guest with guest.ld (at 0x4008_0000, where Keel and QEMU load a raw binary).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    println!("cargo:rerun-if-changed=guest.ld");
    println!("cargo:rerun-if-changed=src/start.S");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/guest.ld");
    }
}
