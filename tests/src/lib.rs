//! Shared integration-test support for the smtp workspace.
#![forbid(unsafe_code)]
