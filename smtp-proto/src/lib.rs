//! # smtp-proto: a sans-IO SMTP/LMTP client
//!
//! This crate is the whole SMTP client protocol — replies, commands, capabilities, message
//! bodies, SASL, and the session state machine — with **no I/O**: no sockets, no threads, no
//! timers, no clock, no async runtime. Bytes go in, events come out; requests go in, bytes come
//! out. The adapters `smtp-blocking`, `smtp-smol` and `smtp-async-std` are this crate plus a
//! read/write loop; you can write your own loop just as well (an event loop of your own, a
//! simulator, a test double).
//!
//! ## What "sans-IO" means here
//!
//! The [`Client`] never reads the clock: time enters as `now: Instant` with every input, and
//! timeouts come out as deadlines ([`Client::poll_timeout`]). It never touches a socket: it lends
//! the bytes to send ([`Client::poll_transmit`]) and is told how many were written
//! ([`Client::handle_written`]) and what was read ([`Client::handle_input`]). TLS is an event
//! ([`Event::UpgradeTls`]) that the adapter answers by doing the handshake on its transport.
//! So the client is deterministic: the same inputs give the same outputs, which is what makes it
//! testable byte by byte with virtual time and fuzzable.
//!
//! ## The pieces, usable on their own
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`reply`] | incremental, zero-copy reply parser ([`ReplyParser`]), reply codes, enhanced status codes |
//! | [`command`] | validated domains, mailboxes and parameters; [`Command`] encoded to wire bytes |
//! | [`ehlo`] | [`Capabilities`] parsed from an EHLO reply |
//! | [`body`] | streaming body encoder: line-end normalisation, dot-stuffing, BDAT, binary |
//! | [`sasl`] | PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256, SCRAM-SHA-1, XOAUTH2, OAUTHBEARER, EXTERNAL behind one trait |
//! | [`client`] | the session state machine built from the above |
//! | [`session`] | what every adapter shares above one request: settings, the smtplib-shaped error, hello-name and port rules |
//! | [`error`] | every error type, and the map from smtplib's exceptions |
//!
//! ## Method kinds of [`Client`]
//!
//! - **A. getters** (`&self`): [`capabilities`](Client::capabilities),
//!   [`greeting`](Client::greeting), [`is_secure`](Client::is_secure), …
//! - **B. inputs** `handle_*(…, now)`: [`handle_input`](Client::handle_input),
//!   [`handle_eof`](Client::handle_eof), [`handle_written`](Client::handle_written),
//!   [`handle_tls_established`](Client::handle_tls_established),
//!   [`handle_timeout`](Client::handle_timeout). `now` must not go backwards.
//! - **C. mutators** (verbs): [`send_mail`](Client::send_mail),
//!   [`authenticate`](Client::authenticate), [`login`](Client::login), [`noop`](Client::noop),
//!   [`quit`](Client::quit), … They return a [`client::RequestId`] that the completing event
//!   carries, or a [`UsageError`] with nothing changed. Requests run in order, one at a time.
//! - **D. outputs** `poll_*`: [`poll_transmit`](Client::poll_transmit),
//!   [`poll_event`](Client::poll_event), [`poll_timeout`](Client::poll_timeout),
//!   [`poll_transcript`](Client::poll_transcript).
//!
//! ## The run-loop contract
//!
//! After any input or mutator, until nothing is left:
//!
//! 1. while [`poll_transmit`](Client::poll_transmit) lends bytes: write them, then
//!    [`handle_written`](Client::handle_written)`(n, now)` with however many the transport took;
//! 2. while [`poll_event`](Client::poll_event) yields: handle the event (which may call
//!    mutators, or write a body through [`Client::body`]: then go back to 1);
//! 3. wait for readable bytes *or* the deadline of [`poll_timeout`](Client::poll_timeout), then
//!    feed exactly one input: [`handle_input`](Client::handle_input),
//!    [`handle_eof`](Client::handle_eof) or [`handle_timeout`](Client::handle_timeout).
//!
//! On [`Event::UpgradeTls`], do the TLS handshake on the same transport before anything else,
//! then call [`handle_tls_established`](Client::handle_tls_established). On
//! [`Event::Closed`], close the transport: the session is over.
//!
//! ## A complete loop over an in-memory transport
//!
//! ```
//! use std::time::Instant;
//! use smtp_proto::client::{Client, Config, Envelope, Event, RequestId};
//! use smtp_proto::{Domain, Mailbox, ReversePath};
//!
//! /// A pretend server: answers each command line with a canned reply.
//! struct FakeServer { received: Vec<u8>, to_client: Vec<u8>, in_data: bool }
//!
//! impl FakeServer {
//!     fn receive(&mut self, bytes: &[u8]) {
//!         self.received.extend_from_slice(bytes);
//!         while let Some(end) = self.received.windows(2).position(|w| w == b"\r\n") {
//!             let line: Vec<u8> = self.received.drain(..end + 2).collect();
//!             let reply: &[u8] = match (self.in_data, line.as_slice()) {
//!                 (true, b".\r\n") => { self.in_data = false; b"250 2.0.0 queued\r\n" }
//!                 (true, _) => continue,
//!                 (false, l) if l.starts_with(b"EHLO") => b"250-mx.example\r\n250 PIPELINING\r\n",
//!                 (false, l) if l.starts_with(b"DATA") => { self.in_data = true; b"354 go on\r\n" }
//!                 (false, l) if l.starts_with(b"QUIT") => b"221 bye\r\n",
//!                 _ => b"250 ok\r\n",
//!             };
//!             self.to_client.extend_from_slice(reply);
//!         }
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut server = FakeServer {
//!         received: Vec::new(),
//!         to_client: b"220 mx.example ESMTP\r\n".to_vec(),
//!         in_data: false,
//!     };
//!     let now = Instant::now(); // a real loop takes Instant::now() at each step
//!     let mut client = Client::new(Config::new(Domain::try_from("client.example")?), now);
//!     let message: &[u8] = b"Subject: hello\r\n\r\nHi there.\r\n";
//!     let mut body: Option<(RequestId, &[u8])> = None;
//!
//!     loop {
//!         // Feed the body while the client has room for it.
//!         if let Some((id, rest)) = body.take() {
//!             if let Some(mut writer) = client.body(id) {
//!                 let n = writer.write(rest)?;
//!                 if n == rest.len() { writer.finish()?; } else { body = Some((id, &rest[n..])); }
//!             }
//!         }
//!         // 1. Transmit.
//!         while let Some(bytes) = client.poll_transmit(now) {
//!             let n = bytes.len();
//!             server.receive(bytes);
//!             client.handle_written(n, now);
//!         }
//!         // 2. Events.
//!         while let Some(event) = client.poll_event() {
//!             match event {
//!                 Event::Ready => {
//!                     let from = ReversePath::try_from("alice@example.org")?;
//!                     let to = Mailbox::try_from("bob@example.net")?;
//!                     client.send_mail(Envelope::new(from, [to]))?;
//!                 }
//!                 Event::BodyWanted(id) => body = Some((id, message)),
//!                 Event::MailDone(report) => {
//!                     assert!(report.is_accepted());
//!                     client.quit();
//!                 }
//!                 Event::Closed(error) => {
//!                     assert!(error.is_none(), "{error:?}");
//!                     return Ok(());
//!                 }
//!                 _ => {}
//!             }
//!         }
//!         if body.is_some() || client.poll_transmit(now).is_some() {
//!             continue;
//!         }
//!         // 3. Wait for input (here: whatever the fake server wrote) or the deadline.
//!         let input = std::mem::take(&mut server.to_client);
//!         if input.is_empty() {
//!             client.handle_eof(now);
//!         } else {
//!             client.handle_input(&input, now);
//!         }
//!     }
//! }
//! ```
//!
//! ## What the core never does
//!
//! - read the clock or sleep (a `clippy.toml` forbids `Instant::now` in this crate);
//! - open, read or write a socket or file;
//! - spawn a thread or a task, or need an async runtime;
//! - panic on anything a server sends: every reply passes through a bounded parser, and every
//!   buffer has a limit ([`client::Limits`]);
//! - put user text on the wire unchecked: CR, LF, NUL and other controls in addresses,
//!   parameters and names are refused when the value is built ([`command`]).
//!
//! What each defence is for, and the test that proves it, is on the [`security`] page.
//!
//! ## Feature flags
//!
//! | feature | default | what it adds | dependencies it pulls in |
//! | --- | --- | --- | --- |
//! | `cram-md5` | yes | the CRAM-MD5 mechanism (`sasl::CramMd5`), and CRAM-MD5 first in [`Client::login`]'s order after SCRAM, as smtplib | `md-5`, `hmac` |
//! | `scram` | yes | the SCRAM-SHA-256 and SCRAM-SHA-1 mechanisms (`sasl::Scram`), which also verify the server, first in [`Client::login`]'s order | `sha1`, `sha2`, `hmac`, `getrandom` |
//! | `message` | no | the `message` module: the envelope of an RFC 5322 message from its headers (smtplib's `send_message`: `Sender`/`From`, `To`/`Cc`/`Bcc`, `Resent-*`) | `mail-parser` |
//!
//! With no features the crate depends on `memchr`, `thiserror` and `base64` only. Every
//! combination builds, is tested and is linted in CI.
// The one exception: the call of the AVX2 build of the body encoder's fast path (in `body`),
// made only after the CPU was checked for AVX2.
#![deny(unsafe_code)]

pub mod body;
pub mod client;
pub mod command;
pub mod ehlo;
pub mod error;
#[cfg(feature = "message")]
pub mod message;
pub mod reply;
pub mod sasl;
pub mod session;
mod stage;
#[doc = include_str!("../docs/security.md")]
pub mod security {}

pub use body::{
    normalize_line_endings, BareLineEndings, BodyEncoder, DataDecoder, MessageShape, MessageSize,
};
pub use client::{Client, Config, Envelope, Event};
pub use command::{Command, Domain, MailParams, Mailbox, RcptParams, ReversePath};
pub use ehlo::{AuthMechanisms, Capabilities, Extension};
pub use error::{Error, UsageError};
pub use reply::{EnhancedCode, OwnedReply, Reply, ReplyCode, ReplyLimits, ReplyParser, Status};

/// The crate README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
