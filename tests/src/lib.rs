//! Shared integration-test support for the smtp workspace: the transcript format and the runner
//! that replays transcripts against the sans-IO core.
#![forbid(unsafe_code)]

pub mod sansio;
pub mod server;
pub mod transcript;
