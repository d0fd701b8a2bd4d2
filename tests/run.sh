#!/usr/bin/env bash
# The whole test suite with its own set-up: the README's test command, and what CI runs.
#
#   bash tests/run.sh [ARGS...]     ARGS go to `cargo test --workspace` (e.g. -- --test-threads 1)
#
# 1. The real-server tests need Postfix (smtp-sink, master, smtpd) and Python's aiosmtpd. When
#    one is missing, this installs them with .ci/install-test-servers.sh (root: apt-get and pip);
#    where it cannot (not root), it stops at once, naming what is missing and the command that
#    installs it. SMTP_SKIP_REAL_SERVERS=1 skips the set-up and those tests (local runs only;
#    refused when CI is set); everything else still runs.
# 2. It builds every target first, so that no test's time limit ever covers a build.
# 3. It runs `cargo test --workspace`.
set -euo pipefail
cd "$(dirname "$0")/.."

# One message: the first line names this script, the others follow as they are.
fail() {
    printf 'tests/run.sh: %s\n' "$1" >&2
    shift
    printf '%s\n' "$@" >&2
    exit 1
}

if [ "${SMTP_SKIP_REAL_SERVERS:-}" = 1 ]; then
    [ -z "${CI:-}" ] || fail "SMTP_SKIP_REAL_SERVERS=1 is a local opt-out: CI runs every test"
    echo "== SMTP_SKIP_REAL_SERVERS=1: no test servers installed, real-server tests not run"
else
    if ! missing="$(bash .ci/install-test-servers.sh --check)"; then
        if [ "$(id -u)" -ne 0 ]; then
            fail "the real-server tests need, and this machine lacks:" \
                "$(printf '%s\n' "$missing" | sed 's/^/    /')" \
                "install them as root with:  sudo env \"PATH=\$PATH\" bash .ci/install-test-servers.sh" \
                "or run only the hermetic tests:  SMTP_SKIP_REAL_SERVERS=1 bash tests/run.sh"
        fi
        echo "== installing the test servers (Postfix from Debian, aiosmtpd from PyPI)"
        bash .ci/install-test-servers.sh ||
            fail "installing the test servers failed (are Debian's and PyPI's registries reachable?);" \
                "retry with:  bash .ci/install-test-servers.sh" \
                "or run only the hermetic tests:  SMTP_SKIP_REAL_SERVERS=1 bash tests/run.sh"
    fi
    # Postfix's master daemon (the CHUNKING test's private instance) starts only as root.
    [ "$(id -u)" -eq 0 ] ||
        fail "the real-server tests start Postfix's master daemon, which needs root:" \
            "run as root, or only the hermetic tests:  SMTP_SKIP_REAL_SERVERS=1 bash tests/run.sh"
fi

echo "== set-up done after ${SECONDS}s; building every target (no test's clock may cover a build)"
cargo test --workspace --no-run

echo "== built after ${SECONDS}s; cargo test --workspace $*"
cargo test --workspace "$@"
echo "== tests passed after ${SECONDS}s"

