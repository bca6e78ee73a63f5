//! Links the programs with user.ld (static, at 0x40_0000, W^X segments) for Keel.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    println!("cargo:rerun-if-changed=user.ld");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        for arg in [
            format!("-T{dir}/user.ld"),
            "--no-pie".into(),
            "-zmax-page-size=4096".into(),
        ] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}
