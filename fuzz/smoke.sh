#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time; fails on any crash.
#
#   bash fuzz/smoke.sh [SECONDS_PER_TARGET]      (default 30)
#
# Works from a clean clone as root with only crates.io reachable: installs cargo-fuzz when
# missing, uses stable Rust with `-s none` (no sanitizer), falling back to nightly only if that
# fails and nightly is installed. Each target starts from a scratch copy of fuzz/seeds/<target>,
# so runs never modify the repository (crash inputs land in fuzz/artifacts/, which git ignores).
set -euo pipefail

secs="${1:-30}"
cd "$(dirname "$0")/.."
root="$(pwd)"
targets=(reply reply_stream ehlo body command client)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

toolchain=()
echo "== building fuzz targets (stable, -s none)"
if ! cargo fuzz build -s none; then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        echo "== stable build failed; retrying with nightly"
        toolchain=(+nightly)
        cargo "${toolchain[@]}" fuzz build -s none
    else
        echo "stable build failed and no nightly toolchain is installed" >&2
        exit 1
    fi
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${targets[@]}"; do
    corpus="$scratch/$t"
    mkdir -p "$corpus"
    cp -r "fuzz/seeds/$t/." "$corpus/"
    log="$scratch/$t.log"
    echo "== fuzzing $t for ${secs}s"
    # -s none again: a plain `cargo fuzz run` would rebuild with ASan, which needs nightly.
    if cargo "${toolchain[@]}" fuzz run -s none "$t" "$corpus" -- \
        -max_total_time="$secs" -dict="$root/fuzz/smtp.dict" -print_final_stats=1 \
        >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)' "$log" || true
        grep -E '^#[0-9]+' "$log" | tail -n 1 || true
    else
        status=1
        echo "!! $t FAILED; last lines of its log:" >&2
        tail -n 60 "$log" >&2
        ls -l "fuzz/artifacts/$t/" >&2 || true
    fi
done

if [ "$status" -ne 0 ]; then
    echo "== fuzz smoke run FAILED (crash inputs in fuzz/artifacts/)" >&2
else
    echo "== fuzz smoke run passed: ${#targets[@]} targets, ${secs}s each"
fi
exit "$status"
