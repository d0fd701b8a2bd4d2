#!/usr/bin/env bash
# Checks the workspace with its declared minimum supported Rust version (`rust-version` in the
# root Cargo.toml), with the committed lockfile. If that toolchain cannot be installed here, the
# check is skipped with a notice; clippy's `incompatible_msrv` lint (on in the clippy step) still
# flags std APIs newer than the declared version.
set -euo pipefail
cd "$(dirname "$0")/.."

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
if [ -z "$msrv" ]; then
    echo "no rust-version in Cargo.toml" >&2
    exit 1
fi
if timeout 300 rustup toolchain install "$msrv" --profile minimal >/dev/null 2>&1; then
    echo "checking with Rust $msrv"
    cargo "+$msrv" check --workspace --all-targets --all-features --locked
else
    echo "NOTICE: Rust $msrv cannot be installed on this machine: MSRV check skipped."
fi
