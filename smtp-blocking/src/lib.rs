//! # smtp-blocking: the smtplib-parity SMTP/LMTP client on std sockets
//!
//! The [`smtp_proto`] sans-IO core plus a blocking read/write loop over
//! [`TcpStream`](std::net::TcpStream), [`UnixStream`](std::os::unix::net::UnixStream) or a stream
//! of your own ([`Connection`]), with TLS by [`native_tls`]. Every method of [`SmtpClient`]
//! queues one request on the core and drives the socket until that request completes; all
//! protocol decisions (pipelining, CHUNKING, timeouts, STARTTLS hygiene, reply parsing,
//! dot-stuffing, AUTH) are the core's.
//!
//! ```no_run
//! use std::time::Duration;
//! use smtp_blocking::{SmtpClient, TlsMode};
//!
//! # fn main() -> Result<(), smtp_blocking::Error> {
//! let mut smtp = SmtpClient::builder()
//!     .tls(TlsMode::Required)            // STARTTLS, certificate verified, or fail
//!     .timeout(Duration::from_secs(30))
//!     .connect("mail.example.org", 587)?;
//! smtp.login("alice", "secret")?;
//! let message = std::fs::File::open("message.eml")?; // streamed, never loaded whole
//! let refused = smtp.send_message(message)?;
//! for (rcpt, reply) in &refused {
//!     eprintln!("refused {}: {reply}", rcpt.as_str());
//! }
//! smtp.quit()?;
//! # Ok(())
//! # }
//! ```
//!
//! ## The loop
//!
//! Every method runs one of the core's [operations](smtp_proto::session::op) with a
//! [`Pump`](smtp_proto::session::Pump), which decides every step (the rules are written there,
//! once, for every adapter); this crate does each step on the socket. A wait is bounded by
//! the step's deadline, set on the socket as its read or write timeout (the time left, at
//! least 1 ms, re-armed under TLS for every record), so that every RFC 5321 timeout holds,
//! the Data Block timeout on a stalled write included. `TCP_NODELAY` is set.
//!
//! ## TLS
//!
//! Certificates and host names are verified by default (smtplib's default context does not):
//! the server name is the host passed to `connect` (`localhost` for a Unix socket, the name
//! given to `connect_stream`). Trust a private CA with [`Builder::add_root_certificate_pem`]
//! (verification stays on), present a client certificate with
//! [`Builder::client_identity_pem`], or pass a [`TlsConnector`](native_tls::TlsConnector) of
//! your own (then those two are ignored); opt out only explicitly with
//! [`Builder::danger_accept_invalid_certs`]. The
//! handshake is bounded by the timeout. AUTH over plaintext is refused unless the peer is a
//! loopback address or a Unix socket, or [`Builder::allow_plaintext_auth`] says so.
//!
//! ## Bring your own stream
//!
//! [`Builder::connect_stream`] runs the session over a stream you connected yourself: a SOCKS or
//! HTTP CONNECT tunnel once its handshake is done (a [`TcpStream`](std::net::TcpStream)), or
//! any type of your own that implements [`Connection`] (`Read + Write` plus the two socket
//! timeouts that bound every wait). Implicit TLS and STARTTLS work as usual, wrapping that
//! stream; the certificate is verified against the `server_name` you pass. Such a peer counts as
//! remote: AUTH needs TLS, or [`Builder::allow_plaintext_auth`].
//!
//! `examples/blocking_http_proxy.rs` is a complete program: it opens an HTTP CONNECT tunnel by hand
//! and sends a message over it with `connect_stream` (`cargo run -p smtp-blocking --example
//! blocking_http_proxy -- PROXY HOST:PORT SERVER_NAME`).
//!
//! A stream type of your own implements [`Connection`]; see its docs for what a stream that
//! cannot time out should do.
//!
//! ## smtplib, call for call
//!
//! Every smtplib method, the map of smtplib's exceptions to [`Error`], and the deliberate
//! differences from smtplib are documented once, where the methods are written: the
//! [`smtp_proto::session`] module. Each method of [`SmtpClient`] runs one of its
//! [operations](smtp_proto::session::op) over the socket.
//!
//! ## Feature flags
//!
//! This crate has no optional features. It enables `smtp-proto`'s `message` feature (the
//! envelope of a message from its headers, for [`SmtpClient::send_message`]) and, through
//! `smtp-proto`'s defaults, `cram-md5`. TLS is `native-tls` (OpenSSL on Linux, the platform's
//! own TLS on macOS and Windows); its features (e.g. `vendored`) can be enabled in your own
//! `Cargo.toml`, as Cargo unifies them.
#![forbid(unsafe_code)]

mod client;
mod connect;
mod local_name;
mod pool;
mod transport;

pub use client::{Builder, SmtpClient};
pub use local_name::fqdn;
pub use native_tls;
pub use pool::Pool;
pub use smtp_proto as proto;
pub use smtp_proto::session::prelude::*;
pub use transport::Connection;

/// Compiles the README's example.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
