//! Property checks behind the cargo-fuzz targets of `smtp-proto`.
//!
//! Every module but this one uses only `std` and `smtp_proto`: the regression tests in
//! `smtp-proto/tests/fuzz_regressions.rs` compile the same files (`#[path]`) and replay saved
//! inputs through the same checks on stable Rust. See `README.md` for how to run the targets.

pub mod body;
pub mod client;
pub mod command;
pub mod ehlo;
pub mod reply;
pub mod reply_stream;
pub mod util;

/// The client script is structured input: `arbitrary` hands over the raw bytes and
/// [`client::Script::decode`] reads them with its documented layout (so seeds can be written by
/// hand and replayed without `arbitrary`).
impl<'a> arbitrary::Arbitrary<'a> for client::Script {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.len();
        Ok(Self::decode(u.bytes(len)?))
    }

    fn arbitrary_take_rest(u: arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self::decode(u.take_rest()))
    }
}

/// The origin of virtual time for the client target (taken once per process).
pub fn start() -> std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}
