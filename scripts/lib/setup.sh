# shellcheck shell=bash
# Sourced by scripts/run, scripts/test and scripts/bench. Makes a fresh Debian 12 machine
# ready for Keel and says clearly what it could not do:
#   - QEMU (qemu-system-aarch64, from the package qemu-system-arm),
#   - a C linker (cc; cargo links the host tools with it),
#   - rustup, the toolchain pinned by rust-toolchain.toml and its aarch64-unknown-none target.
# Silent when everything is there. Installing needs root (or sudo); Rust itself is not
# installed for you: setup tells you how.
# Leaves the shell in the repository's root directory.

KEEL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$KEEL_ROOT"

setup_say() { echo "setup: $*" >&2; }
setup_fail() {
    echo "setup: $*" >&2
    exit 1
}

# Runs a command as root: directly when we are root, else through sudo.
setup_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        setup_say "need root (or sudo) to run: $*"
        return 1
    fi
}

setup_apt_updated=
# Installs Debian packages (apt-get update first, once).
setup_apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        setup_say "apt-get is not available (is this Debian?)"
        return 1
    fi
    if [ -z "$setup_apt_updated" ]; then
        setup_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || return 1
        setup_apt_updated=1
    fi
    setup_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@"
}

setup_qemu() {
    local qemu="${KEEL_QEMU:-qemu-system-aarch64}"
    command -v "$qemu" >/dev/null 2>&1 && return 0
    if [ -n "${KEEL_QEMU:-}" ]; then
        setup_fail "KEEL_QEMU=$KEEL_QEMU is not an executable QEMU"
    fi
    setup_say "qemu-system-aarch64 is missing; installing qemu-system-arm with apt-get"
    setup_apt_install qemu-system-arm ||
        setup_fail "could not install QEMU; as root run: apt-get update && apt-get install -y --no-install-recommends qemu-system-arm"
    command -v qemu-system-aarch64 >/dev/null 2>&1 ||
        setup_fail "qemu-system-arm is installed but qemu-system-aarch64 is still not on PATH"
}

setup_linker() {
    command -v cc >/dev/null 2>&1 && return 0
    setup_say "no C linker (cc), which cargo needs for the host tools; installing gcc with apt-get"
    setup_apt_install gcc libc6-dev ||
        setup_fail "could not install a C linker; as root run: apt-get install -y --no-install-recommends gcc libc6-dev"
}

setup_rust() {
    # A rustup installed just now is not on PATH until the shell reads ~/.cargo/env.
    if ! command -v rustup >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/rustup" ]; then
        export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    fi
    if ! command -v rustup >/dev/null 2>&1 || ! command -v cargo >/dev/null 2>&1; then
        if command -v cargo >/dev/null 2>&1; then
            setup_say "cargo is installed but rustup is not; Keel needs rustup for its pinned"
            setup_say "toolchain (rust-toolchain.toml) and the aarch64-unknown-none target."
        else
            setup_say "Rust is not installed (no cargo/rustup on PATH)."
        fi
        setup_say "Install rustup, then run this again:"
        setup_say "  apt-get install -y curl ca-certificates"
        setup_say "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal"
        setup_say "  . \"\$HOME/.cargo/env\""
        exit 1
    fi
    # The toolchain named by rust-toolchain.toml (rustup usually installs it on first use;
    # doing it here explicitly works with every rustup version and shows progress).
    local channel
    channel="$(sed -n 's/^channel *= *"\(.*\)".*/\1/p' rust-toolchain.toml)"
    local toolchains
    toolchains="$(rustup toolchain list)" || setup_fail "rustup toolchain list failed"
    if [ -n "$channel" ] && ! grep -q "^$channel-" <<<"$toolchains"; then
        setup_say "installing the Rust $channel toolchain (from rust-toolchain.toml)"
        rustup toolchain install "$channel" --profile minimal \
            --component rustfmt --component clippy --target aarch64-unknown-none ||
            setup_fail "could not install Rust $channel with rustup (is the network reachable?)"
    fi
    # Run in the repository, rustup answers for the pinned toolchain.
    local installed
    installed="$(rustup target list --installed)" ||
        setup_fail "rustup target list failed; is the toolchain of rust-toolchain.toml installed?"
    if ! grep -qx 'aarch64-unknown-none' <<<"$installed"; then
        setup_say "adding the Rust target aarch64-unknown-none"
        rustup target add aarch64-unknown-none ||
            setup_fail "could not add the Rust target aarch64-unknown-none (rustup target add aarch64-unknown-none)"
    fi
}

setup_qemu
setup_linker
setup_rust
