//! Every transcript of `tests/transcripts/` as its own test, once per runner (a `harness = false`
//! target on `libtest-mimic`, so that the tests are listed from the directory at run time):
//!
//! - `core::FILE.smtp`: against the sans-IO core, each server flight fed whole, split at every
//!   point, and byte by byte, with virtual time (`smtp_tests::sansio::run_all_feeds`);
//! - `blocking::FILE.smtp`, `smol::FILE.smtp`, `async_std::FILE.smtp`: over a loopback socket
//!   through each adapter's public API (`smtp_tests::matrix::replay`), for every file the socket
//!   replay can express (`smtp_tests::matrix::left_out_of_socket_replay` says which it cannot,
//!   and why).
//!
//! Selecting tests takes the usual libtest arguments. A filter matches any part of a name, so a
//! file's stem selects that file on every runner, along with any longer name that contains it
//! (`auth-login` also matches `auth-login-all-mechanisms-fail.smtp`); `::STEM.smtp` selects
//! exactly that file, and `--exact RUNNER::STEM.smtp` one test:
//!
//! ```text
//! cargo test -p smtp-tests rcpt-one-refused-pipelined        # that file, on all four runners
//! cargo test -p smtp-tests --test transcripts ::auth-login.smtp    # auth-login.smtp only
//! cargo test -p smtp-tests --test transcripts -- --exact core::auth-login.smtp
//! cargo test -p smtp-tests --test transcripts -- core:: --skip starttls
//! cargo test -p smtp-tests --test transcripts -- --list
//! ```
//!
//! Besides one filter, several may be given (a test runs if it matches any), as with libtest.
//! `--nocapture` and `--show-output` are accepted; nothing is captured (the tests print nothing
//! on success, and a failure's message, which names the file, step and runner, is shown at the
//! end).

use std::path::Path;

use libtest_mimic::{Arguments, Failed, Trial};
use smtp_tests::matrix::{left_out_of_socket_replay, replay, AsyncStd, Blocking, Smol};
use smtp_tests::sansio::run_all_feeds;
use smtp_tests::transcript::{self, Transcript};

/// A socket runner: its name in test names, and the replay through its adapter.
type SocketRunner = (&'static str, fn(&Transcript) -> Result<(), String>);

/// The adapters the socket replay runs through.
const SOCKET_RUNNERS: [SocketRunner; 3] = [
    ("blocking", replay::<Blocking>),
    ("smol", replay::<Smol>),
    ("async_std", replay::<AsyncStd>),
];

fn main() {
    let (args, filters) = arguments();
    let trials = filtered(trials(), &args, &filters);
    libtest_mimic::run(&args, trials).exit();
}

/// Every test: per file, the core's, and one per adapter when the socket replay runs the file.
fn trials() -> Vec<Trial> {
    let files = transcript::files();
    assert!(
        !files.is_empty(),
        "expected the transcript suite in tests/transcripts, found none"
    );
    let mut core = Vec::new();
    let mut sockets: Vec<Vec<Trial>> = SOCKET_RUNNERS.iter().map(|_| Vec::new()).collect();
    for path in &files {
        let file = file_name(path);
        let loaded = transcript::load(path);
        let runs_over_sockets = match &loaded {
            Ok(t) => left_out_of_socket_replay(t).is_none(),
            // Not parsed, so not known to be left out: every runner reports the error.
            Err(_) => true,
        };
        let t = loaded.clone();
        core.push(Trial::test(format!("core::{file}"), move || {
            run_all_feeds(&t?).map(drop).map_err(Failed::from)
        }));
        if runs_over_sockets {
            for ((runner, play), list) in SOCKET_RUNNERS.iter().zip(&mut sockets) {
                let (play, t) = (*play, loaded.clone());
                list.push(Trial::test(format!("{runner}::{file}"), move || {
                    play(&t?).map_err(Failed::from)
                }));
            }
        }
    }
    let replayed = sockets[0].len();
    assert!(
        replayed > 100,
        "expected over 100 transcripts the socket replay runs, found {replayed} of {}",
        files.len()
    );
    core.into_iter()
        .chain(sockets.into_iter().flatten())
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_owned()
}

/// libtest's arguments, and the filters: `libtest-mimic` takes one, libtest any number.
fn arguments() -> (Arguments, Vec<String>) {
    /// The options that take a value as the next argument.
    const TAKES_VALUE: &[&str] = &[
        "--test-threads",
        "--logfile",
        "--skip",
        "--color",
        "--format",
        "-Z",
    ];
    let mut argv = std::env::args();
    let mut options: Vec<String> = argv.next().into_iter().collect();
    let mut filters = Vec::new();
    let mut value_next = false;
    for arg in argv {
        if value_next || arg.starts_with('-') {
            value_next = !value_next && TAKES_VALUE.contains(&arg.as_str());
            options.push(arg);
        } else {
            filters.push(arg);
        }
    }
    let mut args = Arguments::from_iter(options);
    if filters.len() == 1 {
        args.filter = filters.pop();
    }
    (args, filters)
}

/// With several filters, keeps the trials any of them selects (as libtest does); with one or
/// none, `libtest_mimic::run` filters.
fn filtered(trials: Vec<Trial>, args: &Arguments, filters: &[String]) -> Vec<Trial> {
    if filters.is_empty() {
        return trials;
    }
    let with = |filter: &String| Arguments {
        filter: Some(filter.clone()),
        ..args.clone()
    };
    let each: Vec<Arguments> = filters.iter().map(with).collect();
    trials
        .into_iter()
        .filter(|t| each.iter().any(|a| !a.is_filtered_out(t)))
        .collect()
}
