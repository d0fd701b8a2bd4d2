//! The integration scenarios every adapter must pass against the scriptable test server, each
//! written once against [`Adapter`] and [`Session`]. A scenario panics on failure.
//!
//! This module holds the helpers the scenarios share; the scenarios are grouped by topic in
//! private submodules (`tests/src/matrix/scenarios/`) and all re-exported here, so that each is
//! `scenarios::NAME`, as [`conformance_tests!`](crate::conformance_tests) calls them: `methods`
//! (the smtplib-shaped methods, AUTH, the transcript switch), `tls`, `timeouts` (and
//! disconnects, malformed replies), `streaming` (large and 8-bit bodies), `lmtp`, and
//! `smtplib_audit` (parity with Python's smtplib).

mod lmtp;
mod methods;
mod smtplib_audit;
mod streaming;
mod timeouts;
mod tls;

pub use lmtp::*;
pub use methods::*;
pub use smtplib_audit::*;
pub use streaming::*;
pub use timeouts::*;
pub use tls::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use smtp_blocking::Error;

use super::{Adapter, Session, Settings, Target};
use crate::server::{Server, SessionLog};

const T: Duration = Duration::from_secs(10);

fn open<A: Adapter>(server: &Server, settings: &Settings) -> Result<Box<dyn Session>, Error> {
    A::connect(settings, &Target::loopback(server.port()))
}

fn connect<A: Adapter>(server: &Server) -> Box<dyn Session> {
    open::<A>(server, &Settings::default()).expect("connect")
}

/// Settings that trust the test CA, for a server on `localhost`.
fn trusting() -> Settings {
    Settings::default().trust_test_ca(true)
}

fn localhost(port: u16) -> Target {
    Target::Tcp("localhost".into(), port)
}

fn finished(server: &Server, n: usize) -> Vec<SessionLog> {
    let logs = server.wait_finished(n, T);
    assert!(
        logs.len() >= n && logs.iter().all(|l| l.finished),
        "{logs:?}"
    );
    logs
}

fn code(reply: Result<smtp_proto::OwnedReply, Error>) -> u16 {
    reply.expect("a reply").code().get()
}

/// A unique Unix socket path.
pub fn unique_socket_path(tag: &str) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("smtp-rs-{tag}-{}-{n}.sock", std::process::id()))
}
