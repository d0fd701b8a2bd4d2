#!/usr/bin/env bash
# Installs the third-party servers that tests/tests/real_servers.rs runs:
#   - Postfix from Debian (package `postfix`): /usr/sbin/smtp-sink, and the master/smtpd/cleanup/
#     qmgr/lmtp daemons that the CHUNKING test runs as a private instance on a loopback port;
#   - aiosmtpd from PyPI, pinned, for the `python3` found first on PATH (the tests use that one,
#     or $SMTP_TEST_PYTHON).
# Idempotent (a second run installs nothing), non-interactive, meant to run as root. Any failure
# ends the script with a non-zero status: CI must not go on to skip these tests silently.
#
# `--check` installs nothing: it prints what is missing, one item per line, and exits 1 when
# anything is (0 when everything is there). tests/run.sh uses it to decide whether to install.
#
# No system mail daemon is left running: Postfix is installed with the debconf answer
# "No configuration" (its postinst then neither writes /etc/postfix/main.cf nor starts
# anything), and the tests never touch port 25 anyway: every server they start listens on a free
# loopback port chosen at run time.
set -euo pipefail

AIOSMTPD_VERSION="1.4.6"
PYTHON="${SMTP_TEST_PYTHON:-python3}"

log() { printf '== install-test-servers: %s\n' "$*"; }
die() { printf 'install-test-servers: FAILED: %s\n' "$*" >&2; exit 1; }

POSTFIX_TOOLS="/usr/sbin/smtp-sink /usr/sbin/postconf /usr/lib/postfix/sbin/master /usr/lib/postfix/sbin/smtpd"

installed_version() {
    "$PYTHON" -c 'import aiosmtpd; print(aiosmtpd.__version__)' 2>/dev/null || true
}

if [ "${1:-}" = "--check" ]; then
    missing=0
    for tool in $POSTFIX_TOOLS; do
        [ -x "$tool" ] || { echo "$tool (Debian package postfix)"; missing=1; }
    done
    getent passwd postfix >/dev/null || { echo "user postfix (Debian package postfix)"; missing=1; }
    getent group postdrop >/dev/null || { echo "group postdrop (Debian package postfix)"; missing=1; }
    if ! command -v "$PYTHON" >/dev/null; then
        echo "$PYTHON (set SMTP_TEST_PYTHON to another interpreter)"; missing=1
    elif [ "$(installed_version)" != "$AIOSMTPD_VERSION" ]; then
        echo "aiosmtpd==$AIOSMTPD_VERSION for $PYTHON (PyPI)"; missing=1
    fi
    exit "$missing"
fi

if [ "$(id -u)" -ne 0 ]; then
    die "must run as root (apt-get install)"
fi

# ---------------------------------------------------------------- Postfix (Debian package)
if dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q '^install ok installed$'; then
    log "postfix already installed ($(dpkg-query -W -f='${Version}' postfix))"
else
    log "installing postfix from Debian"
    export DEBIAN_FRONTEND=noninteractive
    # Configure nothing, start nothing: the tests bring their own configuration.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq || die "apt-get update"
    apt-get install -y -qq --no-install-recommends postfix || die "apt-get install postfix"
    # Belt and braces: should a postinst have started the system instance anyway, stop it.
    if /usr/sbin/postfix status >/dev/null 2>&1; then
        log "stopping the system Postfix that the package started"
        /usr/sbin/postfix stop || die "postfix stop"
    fi
fi
for tool in $POSTFIX_TOOLS; do
    [ -x "$tool" ] || die "$tool is missing after installing postfix"
done
getent passwd postfix >/dev/null || die "the postfix user is missing"
getent group postdrop >/dev/null || die "the postdrop group is missing"

# ---------------------------------------------------------------- aiosmtpd (PyPI, pinned)
command -v "$PYTHON" >/dev/null || die "$PYTHON not found on PATH"
if [ "$(installed_version)" = "$AIOSMTPD_VERSION" ]; then
    log "aiosmtpd $AIOSMTPD_VERSION already installed for $("$PYTHON" --version 2>&1)"
else
    log "installing aiosmtpd==$AIOSMTPD_VERSION for $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-input \
        --root-user-action=ignore "aiosmtpd==$AIOSMTPD_VERSION" ||
        die "pip install aiosmtpd==$AIOSMTPD_VERSION"
    [ "$(installed_version)" = "$AIOSMTPD_VERSION" ] ||
        die "aiosmtpd $AIOSMTPD_VERSION not importable by $PYTHON after pip install"
fi

log "ready: $(/usr/sbin/postconf -d -h mail_version 2>/dev/null | sed 's/^/postfix /'), aiosmtpd $(installed_version)"
