//! Fuzz regressions, on stable Rust in the normal test suite.
//!
//! The property checks of the cargo-fuzz targets live in `fuzz/src/*.rs` and use only `std` and
//! `smtp_proto`, so this file compiles the very same modules (`#[path]`) and replays through them:
//!
//! - every input kept under `tests/fuzz-regressions/<target>/` (a crash or property failure the
//!   fuzzer once found, file name saying what it was), and any listed in [`KNOWN`];
//! - every committed seed under `fuzz/seeds/<target>/`, so a change that breaks a property on a
//!   realistic input fails here before anyone runs the fuzzer.
//!
//! To keep a new crash: copy `fuzz/artifacts/<target>/crash-…` to
//! `tests/fuzz-regressions/<target>/<short-name>` (or add a byte literal below) once it is fixed.
//!
//! Kept so far (no crate bug found yet; these once tripped the harness and pin the paths they
//! take): `client/data-refused-then-low-level-bdat` (a refused DATA followed at once by a
//! low-level BDAT body) and `client/finish-queues-next-transaction` (finishing an LMTP body
//! starts the next queued transaction's commands).
#![allow(clippy::disallowed_methods)] // the client harness takes one Instant as virtual time origin

use std::path::{Path, PathBuf};
use std::time::Instant;

#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/util.rs"]
mod util;

#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/reply.rs"]
mod reply;

#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/reply_stream.rs"]
mod reply_stream;

#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/ehlo.rs"]
mod ehlo;

#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/body.rs"]
mod body;

#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/command.rs"]
mod command;

#[allow(dead_code, unreachable_pub)]
#[path = "../../fuzz/src/client.rs"]
mod client;

/// Inputs kept as byte literals: `(target, what it found, input)`.
const KNOWN: &[(&str, &str, &[u8])] = &[];

/// The files of `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Replays every kept input and seed of `target` through `check`; returns how many ran.
fn replay(target: &str, check: impl Fn(&[u8])) -> usize {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut ran = 0;
    for &(t, what, input) in KNOWN {
        if t == target {
            eprintln!("replaying {target} regression: {what}");
            check(input);
            ran += 1;
        }
    }
    let dirs = [
        here.join("tests/fuzz-regressions").join(target),
        here.join("../fuzz/seeds").join(target),
    ];
    for dir in dirs {
        for path in files(&dir) {
            let input = std::fs::read(&path).expect("readable input");
            // Shown only when the check panics.
            eprintln!("replaying {}", path.display());
            check(&input);
            ran += 1;
        }
    }
    ran
}

#[test]
fn reply_inputs_keep_their_properties() {
    assert!(replay("reply", reply::check) > 0);
}

#[test]
fn reply_stream_inputs_keep_their_properties() {
    assert!(replay("reply_stream", reply_stream::check) > 0);
}

#[test]
fn ehlo_inputs_keep_their_properties() {
    assert!(replay("ehlo", ehlo::check) > 0);
}

#[test]
fn body_inputs_keep_their_properties() {
    assert!(replay("body", body::check) > 0);
}

#[test]
fn command_inputs_keep_their_properties() {
    assert!(replay("command", command::check) > 0);
}

#[test]
fn client_scripts_keep_their_properties() {
    let start = Instant::now();
    assert!(replay("client", |data| client::check(data, start)) > 0);
}

/// The client harness is not vacuous: the hand-written seeds reach the body checks.
#[test]
fn client_seeds_reach_the_body_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/client");
    let read = |name: &str| std::fs::read(dir.join(name)).expect("seed");
    let start = Instant::now();
    // script-00: pipelined DATA; script-01: BDAT in 7-byte chunks (see fuzz/gen_seeds.py).
    let data = client::run(&client::Script::decode(&read("script-00")), start);
    assert_eq!((data.data_bodies, data.closed), (1, true), "{data:?}");
    let bdat = client::run(&client::Script::decode(&read("script-01")), start);
    assert_eq!((bdat.bdat_bodies, bdat.closed), (1, true), "{bdat:?}");
    assert!(bdat.lines > 5, "{bdat:?}");
    // script-09: the low-level API, a DATA body and then a BDAT body.
    let low = client::run(&client::Script::decode(&read("script-09")), start);
    assert_eq!(
        (low.data_bodies, low.bdat_bodies, low.closed),
        (1, 1, true),
        "{low:?}"
    );
}
