//! [`Pump`]: runs one [`Operation`] to completion; the I/O loop around it is the adapter's.
//!
//! Every rule of the run loop lives here, written once: events before I/O (so that a body
//! wanted at once leaves with its envelope), the body fed while the core has room, a look at
//! the input before each write while a body is going out (a reply that comes before the end
//! of data is heard then, not taken for the answer to it), the core's deadlines, the plaintext
//! behind a STARTTLS `220` handed to the core rather than to TLS, the last words of a server
//! that closed while being written to, which events end a call, what the core queued on its
//! own as a call ended (the RSET after a refused transaction) written before the call returns,
//! and when the session is over. The adapter asks [`Pump::next`] what to do and does exactly
//! that, reporting each outcome back:
//!
//! | [`Step`] | the adapter | then reports |
//! | --- | --- | --- |
//! | [`Step::Body`] | reads at most `max` bytes of [`Pump::body`]'s source (never asked for a body the operation holds in memory, [`Operation::body_in_memory`]: the pump feeds that itself) | [`Pump::body_read`] |
//! | [`Step::Write`] | when `look_first`, reads what has already arrived without waiting, and if there was anything reports it with [`Pump::read`] instead of writing; else writes [`Pump::outgoing`]'s bytes by `deadline` | [`Pump::wrote`] |
//! | [`Step::Read`] | reads by `deadline` | [`Pump::read`] |
//! | [`Step::Handshake`] | reads what has already arrived without waiting and hands it to [`Pump::before_handshake`]; when that says so, does the TLS handshake by `deadline` | [`Pump::handshake`] |
//! | [`Step::Done`] | returns the result, and closes the transport when `close` says so | — |
//!
//! A deadline that passes is reported as an error of kind [`io::ErrorKind::TimedOut`] (a
//! blocking `std` socket whose timeout ran out says `WouldBlock`: report it as `TimedOut`); an
//! error of kind `WouldBlock` means "not ready, nothing happened" (a non-blocking socket), and
//! `Interrupted` the same: ask [`Pump::next`] again, which repeats the step until it is done or
//! its deadline has passed. Asked again before an outcome was reported, `next` gives the same
//! step, so a readiness loop can drop a step on `WouldBlock` and ask for it again when the
//! socket is ready. Any failure of the adapter's own (a TLS error) goes to [`Pump::fail`],
//! which ends the call and the session.
//!
//! ```
//! use std::io::Read;
//! use std::time::Instant;
//! use smtp_proto::client::Setup;
//! use smtp_proto::session::op::{Command, Greeting, Operation, Request};
//! use smtp_proto::session::{Error, Pump, Step};
//! use smtp_proto::{Client, Config, Domain};
//!
//! /// Runs `op` over a scripted "server" that says `script`; what the client sends goes to
//! /// `sent`.
//! fn run<O: Operation>(client: &mut Client, mut script: &[u8], sent: &mut Vec<u8>, op: O)
//!     -> Result<O::Output, Error>
//! {
//!     let mut pump = Pump::new(op);
//!     let mut buf = [0u8; 64];
//!     loop {
//!         match pump.next(client, &mut None, Instant::now()) {
//!             Step::Write { .. } => {
//!                 let bytes = pump.outgoing(client);
//!                 sent.extend_from_slice(bytes);
//!                 let n = bytes.len();
//!                 pump.wrote(client, Ok(n), Instant::now());
//!             }
//!             Step::Read { .. } => {
//!                 let read = script.read(&mut buf).map(|n| &buf[..n]);
//!                 pump.read(client, read, Instant::now());
//!             }
//!             Step::Done { result, .. } => return result,
//!             Step::Body { .. } | Step::Handshake { .. } => unreachable!("no body, no TLS here"),
//!         }
//!     }
//! }
//!
//! let mut config = Config::new(Domain::try_from("client.example")?);
//! config.setup = Setup::Manual; // no automatic EHLO: this example says only NOOP
//! let mut client = Client::new(config, Instant::now());
//! let mut sent = Vec::new();
//! run(&mut client, b"220 mx.example ESMTP\r\n", &mut sent, Greeting)?;
//! let reply = run(&mut client, b"250 2.0.0 ok\r\n", &mut sent, Command::new(Request::Noop))?;
//! assert_eq!(reply.code().get(), 250);
//! assert_eq!(sent, b"NOOP\r\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

use super::op::Operation;
use super::{Error, Result, TranscriptSink};
use crate::client::{BodyWriter, Client, Event, RequestId};

/// The most body bytes a [`Step::Body`] asks for at once.
pub const BODY_CHUNK: usize = 64 * 1024;
/// The least room worth a [`Step::Body`] while bytes wait to be written.
const MIN_BODY_STEP: usize = BODY_CHUNK / 2;
/// A good size for the buffer replies are read into.
pub const READ_CHUNK: usize = 16 * 1024;
/// How long to wait for the server's last words after a write failed because it went away
/// (often a `421` or `554` sent just before it closed).
pub const DRAIN_AFTER_WRITE_FAILURE: Duration = Duration::from_secs(1);

/// What the adapter does next (see the [module docs](self)).
#[derive(Debug)]
#[must_use]
pub enum Step<T> {
    /// Read at most `max` bytes of request `id`'s body from [`Pump::body`].
    Body {
        /// The request whose body is wanted.
        id: RequestId,
        /// The most bytes the core has room for now.
        max: usize,
    },
    /// Write what [`Pump::outgoing`] shows (the pump has lent it with [`Client::transmit`]
    /// or [`Client::transmit_lent`]), by `deadline`.
    Write {
        /// When the write has waited too long.
        deadline: Instant,
        /// First look, without waiting, for input that already arrived: while a body is going
        /// out, and for the first writes of a call on a connection quiet for
        /// [`LOOK_AFTER_QUIET`].
        look_first: bool,
    },
    /// Read from the server, by `deadline`.
    Read {
        /// When the read has waited too long.
        deadline: Instant,
    },
    /// The server accepted STARTTLS: look for input that already arrived, then (when
    /// [`Pump::before_handshake`] says so) do the TLS handshake by `deadline`.
    Handshake {
        /// When the handshake has taken too long.
        deadline: Instant,
    },
    /// The call is over.
    Done {
        /// What the call returns.
        result: Result<T>,
        /// The session is over too: close the transport.
        close: bool,
    },
}

enum Phase<T> {
    /// The operation has not been started.
    Start,
    /// Running until the operation completes.
    Run,
    /// The operation completed; what the core queued on its own still goes out.
    Finish(Result<T>),
    /// [`Step::Done`] was returned.
    Over,
}

/// Runs one [`Operation`] over a transport that the adapter drives (see the
/// [module docs](self)).
pub struct Pump<O: Operation> {
    op: O,
    phase: Phase<O::Output>,
    /// The request whose body is being fed.
    feeding: Option<RequestId>,
    /// The request whose body bytes held in memory are lent to the core (being written).
    lending: Option<RequestId>,
    /// A body has been going out, and the core may still hold some of it: look at the input
    /// before each write.
    reading_ahead: bool,
    /// A write failed because the server went away: its last words are read until then.
    draining: Option<Instant>,
    /// The adapter failed: the call ends with this (unless it had already completed).
    failure: Option<Error>,
    /// A [`Step::Handshake`] was asked for and not reported yet: asked again, it is repeated.
    handshake: Option<Instant>,
}

impl<O: Operation> std::fmt::Debug for Pump<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pump")
            .field("feeding", &self.feeding)
            .field("reading_ahead", &self.reading_ahead)
            .field("draining", &self.draining)
            .finish_non_exhaustive()
    }
}

impl<O: Operation> Pump<O> {
    /// A pump for `op`, which it starts at the first [`next`](Self::next).
    pub fn new(op: O) -> Self {
        Self {
            op,
            phase: Phase::Start,
            feeding: None,
            lending: None,
            reading_ahead: false,
            draining: None,
            failure: None,
            handshake: None,
        }
    }

    /// The operation being run (e.g. to read what a batch has done so far).
    pub fn op_mut(&mut self) -> &mut O {
        &mut self.op
    }

    /// What to do next. Transcript lines go to `sink` (see [`Client::set_transcript`]).
    pub fn next(
        &mut self,
        client: &mut Client,
        sink: &mut Option<TranscriptSink>,
        now: Instant,
    ) -> Step<O::Output> {
        loop {
            flush_transcript(client, sink);
            if let Some(error) = self.failure.take() {
                // The transport is gone: the core ends the session too, so that what it
                // reports afterwards (closed, an end of data left unanswered) is true.
                client.handle_eof(now);
                flush_transcript(client, sink);
                while client.poll_event().is_some() {}
                let result = match std::mem::replace(&mut self.phase, Phase::Over) {
                    Phase::Finish(result) => result,
                    _ => Err(error),
                };
                return Step::Done {
                    result,
                    close: true,
                };
            }
            match &self.phase {
                Phase::Start => {
                    self.phase = Phase::Run;
                    // After a quiet spell the first writes of a call look first: a connection
                    // the server closed meanwhile (its FIN, or a 421, already arrived) is found
                    // before anything of the call is written — with CHUNKING and PIPELINING a
                    // whole message may go out in the first write, and a message lost after
                    // its end of data was written is one whose fate is unknown.
                    self.reading_ahead = client
                        .last_reply_at()
                        .is_some_and(|at| now.saturating_duration_since(at) >= LOOK_AFTER_QUIET);
                    if let Err(e) = self.op.start(client) {
                        self.phase = Phase::Over;
                        return Step::Done {
                            result: Err(e),
                            close: false,
                        };
                    }
                }
                Phase::Run if self.handshake.is_some() => {
                    let deadline = self.handshake.unwrap_or(now);
                    return Step::Handshake { deadline };
                }
                Phase::Run => {
                    if let Some(step) = self.run(client, sink, now) {
                        return step;
                    }
                }
                Phase::Finish(result) => {
                    let fatal = result.as_ref().is_err_and(Error::is_fatal);
                    let leftovers = client.wants_write() && !client.is_closed();
                    // Nothing more goes out on a session that failed.
                    if !fatal && (leftovers || self.draining.is_some()) {
                        if let Some(step) = self.io(client, now) {
                            return step;
                        }
                        continue;
                    }
                    let Phase::Finish(result) = std::mem::replace(&mut self.phase, Phase::Over)
                    else {
                        continue;
                    };
                    let close = fatal || client.is_closed();
                    return Step::Done { result, close };
                }
                Phase::Over => {
                    return Step::Done {
                        result: Err(Error::NotConnected),
                        close: false,
                    }
                }
            }
        }
    }

    /// One pass of the running phase: the core's events, then the body, then one I/O step.
    /// `None`: call again (something changed).
    fn run(
        &mut self,
        client: &mut Client,
        sink: &mut Option<TranscriptSink>,
        now: Instant,
    ) -> Option<Step<O::Output>> {
        while let Some(event) = client.poll_event() {
            let done = match event {
                Event::UpgradeTls if client.is_closed() => None,
                Event::UpgradeTls => {
                    let command = client.config().timeouts.command;
                    let deadline = client.poll_timeout().unwrap_or(now + command);
                    self.handshake = Some(deadline);
                    return Some(Step::Handshake { deadline });
                }
                // Everything the call waited for may already have happened (the last
                // message's final reply came with the trouble that ended the session): then
                // its result stands, and the session is over for the next call.
                Event::Closed(Some(error)) => Some(
                    self.op
                        .event(client, None)
                        .unwrap_or(Err(Error::Smtp(error))),
                ),
                Event::Closed(None) => Some(
                    self.op
                        .event(client, Some(Event::Closed(None)))
                        .unwrap_or(Err(Error::NotConnected)),
                ),
                other => {
                    if let Event::BodyWanted(id) = other {
                        self.feeding = Some(id);
                    }
                    self.op.event(client, Some(other))
                }
            };
            if let Some(result) = done {
                self.complete(result);
                return None;
            }
            flush_transcript(client, sink);
        }
        if let Some(result) = self.op.event(client, None) {
            self.complete(result);
            return None;
        }
        if let Some(id) = self.feeding {
            match self.feed(client, id) {
                Feeding::Step(step) => return Some(step),
                Feeding::Again => return None,
                Feeding::Wait => {}
            }
        }
        self.io(client, now)
    }

    /// Feeds request `id`'s body while the core has room for it: from memory when the
    /// operation holds it there (lent as it is when nothing else waits to be written, else
    /// encoded), else through a [`Step::Body`].
    fn feed(&mut self, client: &mut Client, id: RequestId) -> Feeding<O::Output> {
        let waiting = client.wants_write();
        let Some(mut writer) = client.body(id) else {
            self.feeding = None;
            return Feeding::Wait;
        };
        let room = writer.room();
        if room == 0 {
            return Feeding::Wait;
        }
        if let Some(body) = self.op.body_in_memory(id) {
            // Written first, what waits leaves the outbox empty, so that the next bytes can be
            // lent rather than copied.
            if waiting {
                return Feeding::Wait;
            }
            let rest = body.rest();
            let lent = match body.checked() {
                Some((text, at)) => writer.lend_checked(text, at, MAX_LEND),
                None => writer.lend(rest.get(..MAX_LEND).unwrap_or(rest)),
            };
            if lent > 0 {
                self.lending = Some(id);
                return Feeding::Again;
            }
            let piece = rest.get(..room).unwrap_or(rest);
            let taken = piece.len();
            let fed = feed(writer, piece);
            if matches!(fed, Fed::More) {
                self.op.body_advance(id, taken);
            }
            self.fed(client, id, fed);
            return Feeding::Again;
        }
        // A sliver of room while bytes wait to be written: write first, so that the body is
        // read in pieces worth a step.
        if room >= MIN_BODY_STEP || !waiting {
            let max = room.min(BODY_CHUNK);
            return Feeding::Step(Step::Body { id, max });
        }
        Feeding::Wait
    }

    /// What a [`Step::Write`] writes: the body bytes lent from memory that are due, else what
    /// [`Client::poll_transmit`] shows.
    pub fn outgoing<'a>(&'a mut self, client: &'a Client) -> &'a [u8] {
        let lent = client.lent();
        if lent == 0 {
            return client.poll_transmit().unwrap_or_default();
        }
        // The operation keeps the lent bytes at the front of what is left of its body until
        // they are reported written. Should it have dropped them, nothing is written, and the
        // write fails (`WriteZero`) rather than send other bytes in their place.
        let rest = self
            .lending
            .and_then(|id| self.op.body_in_memory(id))
            .map_or(&[][..], |body| body.rest());
        rest.get(..lent).unwrap_or_default()
    }

    /// One I/O step: a write of what the core lends, else a read, bounded by the core's
    /// deadline. `None`: a deadline passed (and was handed to the core) or the session has
    /// nothing to wait for; call again.
    fn io(&mut self, client: &mut Client, now: Instant) -> Option<Step<O::Output>> {
        if let Some(until) = self.draining {
            if client.is_closed() || now >= until {
                self.draining = None;
                client.handle_eof(now);
                return None;
            }
            return Some(Step::Read { deadline: until });
        }
        let deadline = client.poll_timeout();
        if deadline.is_some_and(|d| d <= now) {
            // Trust the clock, not the timer.
            client.handle_timeout(now);
            return None;
        }
        // Lent with its deadline: the write-progress timer runs from here.
        let write_by = match client.transmit(now) {
            Some(transmit) => Some(transmit.deadline),
            None => client.transmit_lent(now).map(|lent| lent.deadline),
        };
        let writing = write_by.is_some();
        let body_open = self.feeding.is_some();
        self.reading_ahead = writing && (self.reading_ahead || body_open);
        if !writing && deadline.is_none() && !client.is_busy() && !body_open {
            self.fail(Error::Io(io::Error::other(
                "internal: the session has nothing to wait for",
            )));
            return None;
        }
        Some(match write_by {
            Some(deadline) => Step::Write {
                deadline,
                look_first: self.reading_ahead,
            },
            None => Step::Read {
                deadline: deadline.unwrap_or(now + client.config().timeouts.command),
            },
        })
    }

    fn complete(&mut self, result: Result<O::Output>) {
        self.feeding = None;
        self.phase = Phase::Finish(result);
    }

    /// The source of request `id`'s body, for a [`Step::Body`] (`None`: the body is empty).
    pub fn body(&mut self, id: RequestId) -> Option<&mut O::Body> {
        self.op.body(id)
    }

    /// What a read of the body's source for a [`Step::Body`] gave: bytes, the end of the body
    /// (no bytes), or an error (which ends the call and the session).
    pub fn body_read(&mut self, client: &mut Client, id: RequestId, read: io::Result<&[u8]>) {
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::Interrupted => return,
            Err(e) => return self.fail(Error::Io(e)),
        };
        let Some(writer) = client.body(id) else {
            self.feeding = None;
            return;
        };
        let fed = feed(writer, bytes);
        self.fed(client, id, fed);
    }

    /// What handing body bytes to the core did.
    fn fed(&mut self, client: &mut Client, id: RequestId, fed: Fed) {
        match fed {
            Fed::More => {}
            Fed::Ended => {
                self.feeding = None;
                // The next request may go out right behind the end of data.
                self.op.body_ended(client, id);
            }
            // An encoding error ends the session: `Closed` reports it.
            Fed::Stopped => self.feeding = None,
            Fed::Short => self.fail(Error::Io(io::Error::other(
                "internal: the body writer took less than its room",
            ))),
        }
    }

    /// What a write for a [`Step::Write`] gave: how many bytes went out, or an error (a
    /// deadline that passed is one of kind `TimedOut` or `WouldBlock`).
    pub fn wrote(&mut self, client: &mut Client, written: io::Result<usize>, now: Instant) {
        match written {
            Ok(0) => self.fail(Error::Io(ErrorKind::WriteZero.into())),
            Ok(n) => {
                // Lent body bytes go first: what of them was written is consumed.
                let lent = client.lent().min(n);
                if let (Some(id), true) = (self.lending, lent > 0) {
                    self.op.body_advance(id, lent);
                }
                client.handle_written(n, now);
                if client.lent() == 0 {
                    self.lending = None;
                }
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => client.handle_timeout(now),
            // Not ready, nothing happened: the next step says what to do (the same write, or
            // the deadline's end once it has passed).
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
            // The server went away: what it said last (often the reason) is read briefly.
            Err(e) if is_disconnect(&e) => self.draining = Some(now + DRAIN_AFTER_WRITE_FAILURE),
            Err(e) => self.fail(Error::Io(e)),
        }
    }

    /// What a read gave: bytes, the end of the stream (no bytes), or an error (a deadline that
    /// passed is one of kind `TimedOut` or `WouldBlock`).
    pub fn read(&mut self, client: &mut Client, read: io::Result<&[u8]>, now: Instant) {
        if self.draining.is_some() {
            match read {
                Ok(bytes) if !bytes.is_empty() => client.handle_input(bytes, now),
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
                _ => {
                    self.draining = None;
                    client.handle_eof(now);
                }
            }
            return;
        }
        match read {
            Ok([]) => client.handle_eof(now),
            Ok(bytes) => client.handle_input(bytes, now),
            Err(e) if e.kind() == ErrorKind::TimedOut => client.handle_timeout(now),
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
            Err(e) if is_disconnect(&e) => client.handle_eof(now),
            Err(e) => self.fail(Error::Io(e)),
        }
    }

    /// Before a STARTTLS handshake: what a read that does not wait found (`None`: nothing).
    /// Plaintext that arrived behind the `220` belongs to the core, which ends the session,
    /// never to the TLS layer: then `false`, no handshake. An end of stream or an error is left
    /// to the handshake, which then fails — whether the close arrived before this look or
    /// during the handshake, one outcome.
    pub fn before_handshake(
        &mut self,
        client: &mut Client,
        pending: Option<io::Result<&[u8]>>,
        now: Instant,
    ) -> bool {
        match pending {
            Some(Ok(bytes)) if !bytes.is_empty() => {
                self.handshake = None;
                client.handle_input(bytes, now);
                false
            }
            _ => true,
        }
    }

    /// How a [`Step::Handshake`] ended: `Ok(true)` established, `Ok(false)` the deadline
    /// passed, `Err` the TLS layer's error.
    pub fn handshake(&mut self, client: &mut Client, outcome: Result<bool>, now: Instant) {
        self.handshake = None;
        match outcome {
            Ok(true) => client.handle_tls_established(now),
            Ok(false) => {
                // The core armed this deadline: it reports the timeout.
                client.handle_timeout(now);
                if !client.is_closed() {
                    let after = client.config().timeouts.command;
                    self.fail(Error::timeout(crate::client::Stage::TlsHandshake, after));
                }
            }
            Err(e) => self.fail(e),
        }
    }

    /// The adapter failed (an error of its own, e.g. while connecting TLS): the call ends with
    /// `error` and the session is over.
    pub fn fail(&mut self, error: Error) {
        self.failure.get_or_insert(error);
    }
}

/// What feeding a body did (see [`Pump::feed`]).
enum Feeding<T> {
    /// The adapter reads the body.
    Step(Step<T>),
    /// Something changed: look again.
    Again,
    /// Nothing to feed now: go on with I/O.
    Wait,
}

/// The most body bytes held in memory lent to the core at once: what one write may take
/// (a look at the input comes before each write while a body is going out).
const MAX_LEND: usize = 1024 * 1024;

/// What handing body bytes to the core did (see [`feed`]).
enum Fed {
    /// They were taken: more may follow.
    More,
    /// None were given: the body ended, its terminator is queued.
    Ended,
    /// The body cannot go on (an encoding error, which ends the session, or it had ended).
    Stopped,
    /// Fewer were taken than given: more than the writer's room was given.
    Short,
}

/// Hands `bytes` of a body to the core (none: the body ended).
fn feed(mut writer: BodyWriter<'_>, bytes: &[u8]) -> Fed {
    if bytes.is_empty() {
        return match writer.finish() {
            Ok(()) => Fed::Ended,
            Err(_) => Fed::Stopped,
        };
    }
    match writer.write(bytes) {
        Ok(took) if took < bytes.len() => Fed::Short,
        Ok(_) => Fed::More,
        Err(_) => Fed::Stopped,
    }
}

fn flush_transcript(client: &mut Client, sink: &mut Option<TranscriptSink>) {
    while let Some(entry) = client.poll_transcript() {
        if let Some(sink) = sink.as_mut() {
            sink(&entry);
        }
    }
}

/// How long a connection must have been quiet before a call looks at its input before writing.
pub const LOOK_AFTER_QUIET: Duration = Duration::from_secs(1);

/// The peer went away.
fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::BrokenPipe
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof
    )
}
