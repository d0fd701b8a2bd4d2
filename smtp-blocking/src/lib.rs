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
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use std::io::{BufRead, BufReader};
//! # // A fake proxy that is also the mail server: it answers CONNECT, then speaks SMTP.
//! # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! # let proxy = listener.local_addr()?.to_string();
//! # let server = std::thread::spawn(move || -> std::io::Result<Vec<String>> {
//! #     let (stream, _) = listener.accept()?;
//! #     let mut out = stream.try_clone()?;
//! #     let mut reader = BufReader::new(stream);
//! #     let mut line = String::new();
//! #     while reader.read_line(&mut line)? > 2 { line.clear(); }
//! #     out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n220 mx.test ESMTP\r\n")?;
//! #     let mut seen = Vec::new();
//! #     for line in reader.lines() {
//! #         let line = line?;
//! #         let reply: &[u8] = match line.as_str() {
//! #             "DATA" => b"354 go ahead\r\n",
//! #             "QUIT" => { out.write_all(b"221 bye\r\n")?; break; }
//! #             l if l.starts_with("EHLO") => b"250-mx.test\r\n250 PIPELINING\r\n",
//! #             l if l.starts_with("MAIL") || l.starts_with("RCPT") || l == "." => b"250 ok\r\n",
//! #             _ => { seen.push(line); continue; }
//! #         };
//! #         out.write_all(reply)?;
//! #     }
//! #     Ok(seen)
//! # });
//! use std::io::{self, Read, Write};
//! use std::net::TcpStream;
//! use std::time::Duration;
//! use smtp_blocking::SmtpClient;
//!
//! /// A tunnel to `target` through an HTTP proxy (`CONNECT`, RFC 9110 §9.3.6).
//! fn http_connect(proxy: &str, target: &str) -> io::Result<TcpStream> {
//!     let mut tcp = TcpStream::connect(proxy)?;
//!     tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
//!     write!(tcp, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")?;
//!     // The proxy's reply head, byte by byte: the bytes after it are the mail server's.
//!     let mut head = Vec::new();
//!     let mut byte = [0u8];
//!     while !head.ends_with(b"\r\n\r\n") {
//!         if head.len() > 8192 || tcp.read(&mut byte)? == 0 {
//!             return Err(io::Error::other("no reply from the proxy"));
//!         }
//!         head.extend_from_slice(&byte);
//!     }
//!     if !head.starts_with(b"HTTP/1.1 200") && !head.starts_with(b"HTTP/1.0 200") {
//!         return Err(io::Error::other("the proxy refused the tunnel"));
//!     }
//!     tcp.set_nodelay(true)?;
//!     Ok(tcp)
//! }
//!
//! let tunnel = http_connect(&proxy, "mail.example.org:25")?;
//! let mut smtp = SmtpClient::builder()
//!     .timeout(Duration::from_secs(30)) // set on the stream before every read and write
//!     // .tls(TlsMode::Required) would STARTTLS over the tunnel, verified for the name below
//!     .connect_stream(tunnel, "mail.example.org")?;
//! let body: &[u8] = b"Subject: hi\r\n\r\nSent through a proxy.\r\n";
//! let refused = smtp.sendmail("alice@example.org", &["bob@example.net"], body)?;
//! assert!(refused.is_empty());
//! smtp.quit()?;
//! # assert!(server.join().expect("server")?.iter().any(|l| l == "Sent through a proxy."));
//! # Ok(())
//! # }
//! ```
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
mod transport;

pub use client::{Builder, SmtpClient};
pub use local_name::fqdn;
pub use native_tls;
pub use smtp_proto as proto;
pub use smtp_proto::session::prelude::*;
pub use transport::Connection;

/// Compiles the README's example.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
