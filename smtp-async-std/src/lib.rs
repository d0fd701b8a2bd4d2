//! # smtp-async-std: the smtp-smol client on async-std's sockets
//!
//! **async-std is deprecated upstream** (its crates.io page says "Deprecated in favor of
//! `smol`"), so prefer [`smtp_smol`] for new code: it is the same client. This crate stays a thin
//! facade so that async-std users can keep their runtime, and so that it can be retired without
//! touching anything else. It holds no protocol logic and no I/O loop: the session runs in
//! `smtp-smol`'s pump; the only thing that is async-std's own here is the stream type —
//! [`async_std::net::TcpStream`] and [`async_std::os::unix::net::UnixStream`] — that carries
//! every byte once the socket is connected.
//!
//! Everything else (TLS, timeouts, cancellation, the [`Error`] type) is documented in
//! [`smtp_smol`]; smtplib's methods, call for call, in [`smtp_proto::session`](proto::session).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use std::io::{BufRead, BufReader, Write};
//! # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! # let port = listener.local_addr()?.port();
//! # let server = std::thread::spawn(move || -> std::io::Result<Vec<String>> {
//! #     let (stream, _) = listener.accept()?;
//! #     let mut out = stream.try_clone()?;
//! #     let mut seen = Vec::new();
//! #     out.write_all(b"220 mx.test ESMTP\r\n")?;
//! #     for line in BufReader::new(stream).lines() {
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
//! use std::time::Duration;
//! use smtp_async_std::SmtpClient;
//!
//! async_std::task::block_on(async {
//!     let mut smtp = SmtpClient::builder()
//!         .timeout(Duration::from_secs(10))
//!         .connect("127.0.0.1", port)
//!         .await?;
//!     let body: &[u8] = b"Subject: hi\r\n\r\nHello from async-std.\r\n";
//!     let refused = smtp.sendmail("alice@example.org", &["bob@example.net"], body).await?;
//!     assert!(refused.is_empty());
//!     smtp.quit().await
//! })?;
//! # assert!(server.join().expect("server")?.iter().any(|l| l == "Hello from async-std."));
//! # Ok(())
//! # }
//! ```
//!
//! ## Bring your own stream
//!
//! [`GenericBuilder::connect_stream`] (and [`GenericSmtpClient::connect_stream`]) runs the
//! session over a stream you connected yourself — here an async-std
//! [`TcpStream`](async_std::net::TcpStream) through an HTTP CONNECT tunnel; any other
//! `futures-io` stream works the same. STARTTLS and implicit TLS wrap that stream; the
//! certificate is verified against the `server_name` you pass; the peer counts as remote for
//! AUTH over plaintext. Details in [`smtp_smol`]'s "Bring your own stream".
//!
//! `smtp-smol`'s `examples/smol_http_proxy.rs` shows a tunnel opened by hand and a session run
//! over it; with async-std, open the tunnel on an [`async_std::net::TcpStream`] instead, the
//! rest is the same.
//!
//! ## Feature flags
//!
//! This crate has no optional features; it adds only `async-std` to what `smtp-smol` uses (see
//! `smtp-smol`'s feature notes).
#![forbid(unsafe_code)]

use std::io;

pub use smtp_smol::*;

/// async-std's sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
    fn tcp(stream: std::net::TcpStream) -> io::Result<Box<dyn AsyncIo>> {
        Ok(Box::new(async_std::net::TcpStream::from(stream)))
    }

    #[cfg(unix)]
    fn unix(stream: std::os::unix::net::UnixStream) -> io::Result<Box<dyn AsyncIo>> {
        Ok(Box::new(async_std::os::unix::net::UnixStream::from(stream)))
    }
}

/// The async SMTP/LMTP client on async-std's sockets (`smtp_smol::GenericSmtpClient`).
pub type SmtpClient = GenericSmtpClient<AsyncStd>;

/// Settings for a [`SmtpClient`].
pub type Builder = GenericBuilder<AsyncStd>;

/// A pool of connections on async-std's sockets.
pub type Pool = GenericPool<AsyncStd>;

/// Compiles the README's example.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
