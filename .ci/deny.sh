#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (configuration: deny.toml at the workspace root).
#
# bans, licenses and sources need nothing but the lockfile and the registry. The advisories
# check needs the RustSec advisory database, which is a git repository on github.com: CI
# machines reach only the package registries, so there it is skipped with a notice (the
# accepted advisories are listed, with their reasons, in deny.toml). Anywhere the database can
# be fetched, it runs and must pass.
set -euo pipefail
cd "$(dirname "$0")/.."

DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -q "$DENY_VERSION"; then
    echo "installing cargo-deny $DENY_VERSION from crates.io"
    cargo install cargo-deny --locked --version "$DENY_VERSION" --quiet
fi

cargo deny --log-level error check bans licenses sources

if timeout 120 cargo deny --log-level error fetch db >/dev/null 2>&1; then
    cargo deny --log-level error check advisories
else
    echo "NOTICE: the RustSec advisory database (github.com) is unreachable from this machine:"
    echo "        'cargo deny check advisories' skipped; accepted advisories are listed in deny.toml."
fi
