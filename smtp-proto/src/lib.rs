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
//! the bytes to send with the deadline of the write ([`Client::transmit`]) and is told how many
//! were written
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
//! - **D. outputs** `poll_*` (looks, no side effects) and [`transmit`](Client::transmit)
//!   (lends the bytes to write with their deadline; [`transmit_lent`](Client::transmit_lent)
//!   for body bytes the caller lent from its own memory): [`poll_transmit`](Client::poll_transmit),
//!   [`poll_event`](Client::poll_event), [`poll_timeout`](Client::poll_timeout),
//!   [`poll_transcript`](Client::poll_transcript).
//!
//! ## The run-loop contract
//!
//! [`session::Pump`] is the run loop's rules, written once: it runs one smtplib-level call (a
//! [`session::op`] value) and tells the loop each I/O step to do — write what the client lends,
//! read, read a piece of the body, do the TLS handshake — then takes each outcome back. The
//! adapters are that loop over their transports; yours can be too, over any transport, and
//! it then gets every rule the adapters follow (the body fed only while the client has
//! [room](client::BodyWriter::room), the deadlines, the input looked at before each body
//! write, the plaintext behind a STARTTLS `220` handed to the core rather than to TLS).
//!
//! Driving the [`Client`] by hand, the rules are: after any input or mutator, write what
//! [`transmit`](Client::transmit) lends (by its deadline) and report
//! [`handle_written`](Client::handle_written); handle every [`poll_event`](Client::poll_event)
//! (on [`Event::BodyWanted`], write the body through [`Client::body`] while its `room()` is not
//! 0 — when it is, the client needs the server's reply before it takes more: wait for input,
//! do not spin); then wait for input or the deadline of
//! [`poll_timeout`](Client::poll_timeout) and feed exactly one input. On
//! [`Event::UpgradeTls`], read what already arrived (it goes to the client, which ends the
//! session), then do the TLS handshake and call
//! [`handle_tls_established`](Client::handle_tls_established). On [`Event::Closed`], close the
//! transport.
//!
//! ## A complete loop over an in-memory transport
//!
//! A 1 MB message to a server that offers CHUNKING without PIPELINING: the client sends one
//! `BDAT` chunk at a time and waits for its reply before it takes more of the body.
//!
//! ```
//! use std::io::Read;
//! use std::time::Instant;
//! use smtp_proto::session::op::{Greeting, Operation, Quit, Sendmail};
//! use smtp_proto::session::{Error, Pump, Step, BODY_CHUNK};
//! use smtp_proto::{Client, Config, Domain};
//!
//! /// A pretend server offering CHUNKING only: it answers each command line, and takes each
//! /// BDAT chunk by its size before it answers it.
//! #[derive(Default)]
//! struct FakeServer { inbox: Vec<u8>, replies: Vec<u8>, chunk: Option<(usize, bool)>, body: usize }
//!
//! impl FakeServer {
//!     fn receive(&mut self, bytes: &[u8]) {
//!         self.inbox.extend_from_slice(bytes);
//!         loop {
//!             if let Some((left, last)) = self.chunk {
//!                 let n = left.min(self.inbox.len());
//!                 self.inbox.drain(..n);
//!                 self.body += n;
//!                 if n < left {
//!                     self.chunk = Some((left - n, last));
//!                     return;
//!                 }
//!                 self.chunk = None;
//!                 self.replies.extend_from_slice(if last { b"250 2.0.0 queued\r\n" } else { b"250 2.0.0 ok\r\n" });
//!                 continue;
//!             }
//!             let Some(end) = self.inbox.windows(2).position(|w| w == b"\r\n") else { return };
//!             let line = String::from_utf8_lossy(&self.inbox[..end]).into_owned();
//!             self.inbox.drain(..end + 2);
//!             let mut words = line.split(' ');
//!             let reply: &[u8] = match words.next() {
//!                 Some("EHLO") => b"250-mx.example\r\n250 CHUNKING\r\n",
//!                 Some("BDAT") => {
//!                     let size = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
//!                     self.chunk = Some((size, words.next() == Some("LAST")));
//!                     continue;
//!                 }
//!                 Some("QUIT") => b"221 2.0.0 bye\r\n",
//!                 _ => b"250 2.0.0 ok\r\n",
//!             };
//!             self.replies.extend_from_slice(reply);
//!         }
//!     }
//! }
//!
//! /// Runs `op` to completion: each step the pump asks for, done on the fake server.
//! fn run<O: Operation>(client: &mut Client, server: &mut FakeServer, op: O) -> Result<O::Output, Error>
//! where
//!     O::Body: Read,
//! {
//!     let mut pump = Pump::new(op);
//!     let mut buf = vec![0; BODY_CHUNK];
//!     loop {
//!         let now = Instant::now();
//!         match pump.next(client, &mut None, now) {
//!             Step::Body { id, max } => {
//!                 let read = match pump.body(id) {
//!                     Some(source) => source.read(&mut buf[..max]),
//!                     None => Ok(0),
//!                 };
//!                 pump.body_read(client, id, read.map(|n| &buf[..n]));
//!             }
//!             // (`look_first`: a socket loop reads what already arrived before writing.)
//!             Step::Write { .. } => {
//!                 let bytes = pump.outgoing(client);
//!                 let n = bytes.len();
//!                 server.receive(bytes);
//!                 pump.wrote(client, Ok(n), now);
//!             }
//!             // A socket loop waits here, by the step's deadline; no bytes is the end of stream.
//!             Step::Read { .. } => {
//!                 let input = std::mem::take(&mut server.replies);
//!                 pump.read(client, Ok(&input), now);
//!             }
//!             Step::Handshake { .. } => pump.fail(Error::InvalidSetting("no TLS here".into())),
//!             Step::Done { result, .. } => return result,
//!         }
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut server = FakeServer { replies: b"220 mx.example ESMTP\r\n".to_vec(), ..Default::default() };
//!     let mut client = Client::new(Config::new(Domain::try_from("client.example")?), Instant::now());
//!     let line = [&[b'x'; 76][..], b"\r\n"].concat();
//!     let message = line.repeat(13_000); // 1,014,000 bytes
//!     run(&mut client, &mut server, Greeting)?; // with the EHLO of the automatic set-up
//!     let refused = run(&mut client, &mut server, Sendmail::new("a@example.org", ["b@example.net"], &message[..])?)?;
//!     assert!(refused.is_empty());
//!     assert_eq!(server.body, message.len());
//!     assert_eq!(run(&mut client, &mut server, Quit)?.map(|r| r.code().get()), Some(221));
//!     Ok(())
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
pub mod pool;
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
