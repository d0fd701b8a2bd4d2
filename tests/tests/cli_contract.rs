//! Black-box tests of the `smtp-send` binary against its contract (flags, exit codes, behaviour).
//!
//! The real executable (`cargo build --example smtp-send`, built once per test run) runs as a
//! subprocess under every `--runtime`, against scripted servers: the test server of
//! [`smtp_tests::server`], or a byte-level script ([`smtp_tests::cli::raw`]) for hostile
//! replies. Every case checks the exit code, the `--json` summary (its last line is valid JSON,
//! `ok` is true exactly when the exit code is 0, `refused` maps addresses to `[code, "text"]`)
//! and, where the contract says so, what the server saw. The process harness is
//! [`smtp_tests::cli`]; the cases are grouped by topic in the modules below
//! (`tests/tests/cli_contract/`).

/// Exit 2 (usage), 3 (connect, greeting) and 4 (hello).
#[path = "cli_contract/session_start.rs"]
mod session_start;

/// Exit 5 and 13: AUTH.
#[path = "cli_contract/auth.rs"]
mod auth;

/// Exit 6, 7, 8 (refusals) and 9 (closed).
#[path = "cli_contract/refusals.rs"]
mod refusals;

/// Exit 10 (malformed), tolerated replies, `--json`.
#[path = "cli_contract/replies.rs"]
mod replies;

/// TLS: exit 11 and 13.
#[path = "cli_contract/tls.rs"]
mod tls;

/// Exit 12: `--timeout`.
#[path = "cli_contract/timeouts.rs"]
mod timeouts;

/// The message, and LMTP.
#[path = "cli_contract/message.rs"]
mod message;

/// The other flags.
#[path = "cli_contract/flags.rs"]
mod flags;
