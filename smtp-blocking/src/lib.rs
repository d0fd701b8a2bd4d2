//! Blocking SMTP/LMTP client on std sockets, driving the smtp-proto core.
//!
//! Placeholder: the adapter is built in a later issue. It re-exports the core so that the
//! workspace layout is fixed from the start.
#![forbid(unsafe_code)]

pub use smtp_proto as proto;
