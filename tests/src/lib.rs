//! Shared integration-test support for the smtp workspace: the transcript format, the runner
//! that replays transcripts against the sans-IO core, the scriptable test server, and the
//! conformance matrix that runs the same scenarios through every adapter.
#![forbid(unsafe_code)]

pub mod cli;
pub mod matrix;
pub mod pool_server;
pub mod sansio;
pub mod server;
pub mod transcript;

/// The workspace README's example, compiled and run as a doc test (here rather than in
/// `smtp-proto`, whose published package does not hold the workspace README).
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct WorkspaceReadmeDoctests;
