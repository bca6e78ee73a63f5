//! Links init with the user programs' linker script (userland/user.ld) for Keel.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let script = format!("{dir}/../userland/user.ld");
    println!("cargo:rerun-if-changed={script}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        for arg in [format!("-T{script}"), "--no-pie".into(), "-zmax-page-size=4096".into()] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}
