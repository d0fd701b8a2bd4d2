//! # smtp-smol: the smtplib-parity SMTP/LMTP client, async, on smol
//!
//! The [`smtp_proto`] sans-IO core plus one async read/write loop, written once over any
//! [`futures_io::AsyncRead`] + [`futures_io::AsyncWrite`] stream, with [`async_io::Timer`] for
//! the core's deadlines and TLS by [`async_native_tls`]. The API is `smtp_blocking`'s, call for
//! call, with `async fn`: both expand the core's one table of smtplib's methods, documented
//! (with the map of smtplib's exceptions and the deliberate differences) in
//! [`smtp_proto::session`]. Errors are the same [`Error`] type, so code that handles them
//! works with either adapter.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use std::io::{BufRead, BufReader, Write};
//! # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! # let port = listener.local_addr()?.port();
//! # let server = std::thread::spawn(move || -> std::io::Result<Vec<String>> {
//! #     let (stream, _) = listener.accept()?;
//! #     let mut out = stream.try_clone()?;
//! #     let mut body = Vec::new();
//! #     out.write_all(b"220 mx.test ESMTP\r\n")?;
//! #     let mut reader = BufReader::new(stream);
//! #     let mut in_data = false;
//! #     loop {
//! #         let mut line = String::new();
//! #         if reader.read_line(&mut line)? == 0 { break; }
//! #         let line = line.trim_end().to_owned();
//! #         let reply: &[u8] = if in_data {
//! #             if line == "." { in_data = false; b"250 2.0.0 queued\r\n" } else { body.push(line); continue; }
//! #         } else if line.starts_with("EHLO") {
//! #             b"250-mx.test\r\n250 PIPELINING\r\n"
//! #         } else if line == "DATA" {
//! #             in_data = true; b"354 go ahead\r\n"
//! #         } else if line == "QUIT" {
//! #             out.write_all(b"221 bye\r\n")?; break;
//! #         } else { b"250 ok\r\n" };
//! #         out.write_all(reply)?;
//! #     }
//! #     Ok(body)
//! # });
//! use std::time::Duration;
//! use smtp_smol::SmtpClient;
//!
//! smol::block_on(async {
//!     let mut smtp = SmtpClient::builder()
//!         .timeout(Duration::from_secs(10))
//!         .connect("127.0.0.1", port)
//!         .await?;
//!     // Any `AsyncRead` (a file, a socket, a pipe): streamed in constant memory.
//!     let message = futures_lite::io::Cursor::new(
//!         "From: alice@example.org\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello Bob.\r\n",
//!     );
//!     let refused = smtp.send_message(message).await?;
//!     assert!(refused.is_empty());
//!     smtp.quit().await
//! })?;
//! # let received = server.join().expect("server thread")?;
//! # assert!(received.iter().any(|l| l == "Hello Bob."));
//! # Ok(())
//! # }
//! ```
//!
//! ## The loop
//!
//! Every method runs one of the core's [operations](smtp_proto::session::op) with a
//! [`Pump`](smtp_proto::session::Pump), which decides every step (the rules are written there,
//! once, for every adapter); this crate does each step on the stream: a write of what the core
//! lends or a read, raced against [`Timer::at`](async_io::Timer::at) of the step's deadline
//! (the deadline first: a write let through at the deadline would count as progress made in
//! time), a look at the input that does not wait, the TLS handshake. Nothing is spawned: the
//! caller's task drives the session, on any executor.
//!
//! ## Runtimes
//!
//! The client is [`GenericSmtpClient<R>`]: `R` is a [`Runtime`], which only says which stream
//! type carries the bytes once a socket is connected. [`SmtpClient`] and [`Builder`] are the
//! aliases for [`Smol`] (`smol::net` streams); `smtp-async-std` is the same client with
//! async-std's streams. Any other `futures-io` stream works through
//! [`GenericBuilder::connect_stream`].
//!
//! ## TLS
//!
//! Certificates and host names are verified by default: the server name is the host passed to
//! `connect` (`localhost` for a Unix socket, the name given to `connect_stream`). Trust a
//! private CA with [`GenericBuilder::add_root_certificate_pem`] (verification stays on),
//! present a client certificate with [`GenericBuilder::client_identity_pem`], or give a
//! connector of your own with [`GenericBuilder::tls_connector`] (then those two are ignored);
//! opt out only explicitly with
//! [`GenericBuilder::danger_accept_invalid_certs`]. The handshake is bounded by the timeout.
//! AUTH over plaintext is refused unless the peer is a loopback address or a Unix socket, or
//! [`GenericBuilder::allow_plaintext_auth`] says so.
//!
//! ## Bring your own stream
//!
//! [`GenericBuilder::connect_stream`] (and [`GenericSmtpClient::connect_stream`]) runs the
//! session over a stream you connected yourself: a SOCKS or HTTP CONNECT tunnel once its
//! handshake is done, a wrapper of your own, an in-memory pipe — any [`AsyncIo`] stream. The
//! core's deadlines are the driver's timers, so the stream needs no timeouts of its own.
//! Implicit TLS and STARTTLS work as usual, wrapping that stream; the certificate is verified
//! against the `server_name` you pass. Such a peer counts as remote: AUTH needs TLS, or
//! [`GenericBuilder::allow_plaintext_auth`].
//!
//! `examples/smol_http_proxy.rs` is a complete program: it opens an HTTP CONNECT tunnel by hand on
//! smol's sockets and sends a message over it with `connect_stream` (`cargo run -p smtp-smol
//! --example smol_http_proxy -- PROXY HOST:PORT SERVER_NAME`).
//!
//! ## Cancellation
//!
//! Futures may be dropped at any point. One dropped while its request is on the wire leaves the
//! session in an undefined state, so it is never reused: see
//! [`GenericSmtpClient`'s docs](GenericSmtpClient#cancellation).
//!
//! ## Feature flags
//!
//! This crate has no optional features. It enables `smtp-proto`'s `message` feature (for
//! `send_message`) and, through `smtp-proto`'s defaults, `cram-md5`. TLS is `async-native-tls`
//! over `native-tls`, whose features (e.g. `vendored`) you can enable in your own `Cargo.toml`.
#![forbid(unsafe_code)]

mod client;
mod connect;
mod pool;
mod transport;

/// This host's FQDN, if one can be found without DNS: the host name when it has a dot, else the
/// first dotted alias of that name in `/etc/hosts`. `None` when there is none; the client then
/// uses an address literal, as smtplib does. The rule is [`smtp_proto::session::fqdn_from`].
pub fn fqdn() -> Option<smtp_proto::Domain> {
    let name = hostname::get().ok()?;
    let hosts = std::fs::read_to_string("/etc/hosts").ok();
    smtp_proto::session::fqdn_from(&name.to_string_lossy(), hosts.as_deref())
}

use std::io;

pub use async_native_tls;
pub use client::{GenericBuilder, GenericSmtpClient};
pub use pool::GenericPool;
pub use smtp_proto as proto;
pub use smtp_proto::session::prelude::*;

/// Any byte stream the client can run a session over.
pub trait AsyncIo: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send {}

impl<T: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send> AsyncIo for T {}

/// An async runtime's sockets: which stream type carries a session once its socket is
/// connected. The connect itself (name resolution, source address, the timeout) is this
/// crate's, with `async-io`.
pub trait Runtime: Send + Sync + 'static {
    /// Takes over a connected, non-blocking TCP socket.
    fn tcp(stream: std::net::TcpStream) -> io::Result<Box<dyn AsyncIo>>;

    /// Takes over a connected, non-blocking Unix socket.
    #[cfg(unix)]
    fn unix(stream: std::os::unix::net::UnixStream) -> io::Result<Box<dyn AsyncIo>>;
}

/// smol's sockets (`smol::net`): the recommended runtime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Smol;

impl Runtime for Smol {
    fn tcp(stream: std::net::TcpStream) -> io::Result<Box<dyn AsyncIo>> {
        Ok(Box::new(smol::net::TcpStream::try_from(stream)?))
    }

    #[cfg(unix)]
    fn unix(stream: std::os::unix::net::UnixStream) -> io::Result<Box<dyn AsyncIo>> {
        Ok(Box::new(smol::net::unix::UnixStream::try_from(stream)?))
    }
}

/// The async SMTP/LMTP client on smol's sockets.
pub type SmtpClient = GenericSmtpClient<Smol>;

/// Settings for a [`SmtpClient`].
pub type Builder = GenericBuilder<Smol>;

/// A pool of connections on smol's sockets.
pub type Pool = GenericPool<Smol>;

/// Compiles and runs the README's example.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
