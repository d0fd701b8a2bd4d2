//! The sans-IO SMTP/LMTP client session.
//!
//! [`Client`] is the whole session as a deterministic state machine: it never touches a socket
//! and never reads the clock. Its methods come in four kinds (as in quinn-proto):
//!
//! - **getters** (`&self`): [`capabilities`](Client::capabilities), [`greeting`](Client::greeting),
//!   [`is_secure`](Client::is_secure), [`is_closed`](Client::is_closed), …
//! - **inputs** `handle_*`, each carrying `now`: bytes received, end of stream, bytes written, the
//!   TLS handshake done, a deadline passed.
//! - **mutators** (verbs): [`send_mail`](Client::send_mail), [`authenticate`](Client::authenticate),
//!   [`noop`](Client::noop), [`quit`](Client::quit), … Each returns a [`RequestId`] at once, or a
//!   [`UsageError`] with nothing changed.
//! - **outputs** `poll_*`: bytes to write, events, the next deadline, transcript lines.
//!
//! # Session flow
//!
//! | from | on | to |
//! | --- | --- | --- |
//! | start | — | greeting |
//! | greeting | `220` | hello (automatic set-up) or ready |
//! | greeting | `421`, any other code | closed (QUIT sent first when the server still listens) |
//! | hello | EHLO `5xx` | hello again, with HELO |
//! | hello | `250`, STARTTLS wanted and offered | STARTTLS |
//! | hello | `250` | ready |
//! | STARTTLS | `220` | waiting for TLS ([`Event::UpgradeTls`]) |
//! | waiting for TLS | [`handle_tls_established`](Client::handle_tls_established) | hello (capabilities forgotten) |
//! | ready | a mutator | its request runs (requests run one at a time, first in first out) |
//! | a request | its final reply | ready |
//! | ready | [`quit`](Client::quit), then `221` or end of stream | closed |
//!
//! Every reply is handled by one transition function, driven by one queue of pending commands:
//! each command encoded remembers where its bytes end in the outbound stream, and each complete
//! reply answers the oldest. Requests run one after another; within a mail transaction MAIL,
//! every RCPT and DATA go in one flight when the server offers PIPELINING.
//!
//! # Timeouts (RFC 5321 §4.5.3.2)
//!
//! The reply timer runs for the oldest unanswered command only, from the later of "its bytes were
//! written" and "the previous reply arrived", so a pipelined command cannot time out while the
//! server is slow on an earlier one. A second timer bounds write progress while unsent bytes wait
//! ([`Timeouts::data_block`] during a body): it starts again when the transport took everything
//! lent, or at least 64 KiB since it started, so a peer that takes a few bytes now and then
//! cannot hold a write open much beyond one timeout. [`Client::poll_timeout`] gives the earliest deadline;
//! [`Client::handle_timeout`] ends the session with [`Error::Timeout`] naming the stage.

mod batch;
mod body;
mod config;
mod envelope;
mod event;
mod flow;
mod pipeline;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use batch::SendQueue;
pub use body::{BodyWriter, MIN_LEND};
pub use config::{Config, Limits, Setup, Timeouts, TlsMode};
pub use envelope::{Content, Envelope, Recipient};
pub use event::{
    Event, MailOutcome, MailReport, RecipientReport, RequestId, Stage, TranscriptEntry,
};

use crate::body::BodyEncoder;
use crate::command::{
    Argument, Command, Domain, MailParams, Mailbox, MechanismName, RcptParams, ReversePath,
};
use crate::ehlo::{Capabilities, Extension};
use crate::error::{Error, UsageError};
use crate::reply::{OwnedReply, ReplyParser, Status};
use crate::sasl::{self, Mechanism};
use flow::{Draining, Op, Request};
use pipeline::{Expect, HelloVerb, Outbox, PendingQueue};

/// Which greeting command a [`Client::hello`] request sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hello {
    /// `EHLO` only (smtplib's `ehlo()`).
    Ehlo,
    /// `HELO` only (smtplib's `helo()`).
    Helo,
    /// `LHLO` (LMTP).
    Lhlo,
    /// `EHLO`, then `HELO` if EHLO gets a 5xx other than 421 (smtplib's `ehlo_or_helo_if_needed`).
    EhloOrHelo,
}

/// The body being written, if any: at most one at a time.
#[derive(Debug)]
struct BodyState {
    id: RequestId,
    encoder: BodyEncoder,
    /// BDAT: the chunk being built; `None` for DATA (bytes go straight to the outbox).
    chunk: Option<Vec<u8>>,
    /// Whether BDAT chunks may be sent back to back (PIPELINING).
    pipelined: bool,
    /// LMTP: the recipients (by index) that each get a reply after the end of data.
    deliveries: Vec<usize>,
    /// `finish()` was called; the last BDAT chunk may still wait for lock-step.
    finishing: bool,
    /// Body bytes taken from the caller.
    bytes_in: u64,
    /// Body bytes put on the wire so far (DATA: line ends normalised and dot-stuffed, without
    /// the terminating `.` line; BDAT: the sizes of the chunks sent): the transcript's
    /// `<N body bytes>`.
    bytes_out: u64,
}

/// Bytes to write, lent by [`Client::transmit`] with the deadline of the write (it derefs to
/// the bytes).
#[derive(Debug)]
pub struct Transmit<'a> {
    /// What to write (all of it, or as much as the transport takes).
    pub bytes: &'a [u8],
    /// When the write has waited too long: call [`Client::handle_timeout`].
    pub deadline: Instant,
}

/// Body bytes lent with [`BodyWriter::lend`] still to be written, as
/// [`Client::transmit_lent`] reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lent {
    /// How many: the next bytes of the lent body not written yet.
    pub len: usize,
    /// When the write has waited too long: call [`Client::handle_timeout`].
    pub deadline: Instant,
}

impl std::ops::Deref for Transmit<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

/// The SMTP/LMTP client session. See the [module docs](self) and the crate docs for the run loop.
pub struct Client {
    config: Config,
    parser: ReplyParser,
    /// Received bytes not yet consumed as replies; `inbox_start` is the read offset.
    inbox: Vec<u8>,
    inbox_start: usize,
    outbox: Outbox,
    pending: PendingQueue,
    /// The request being worked on, and those waiting behind it.
    op: Option<Op>,
    /// A finished DATA transaction still owed its final reply while the next one runs.
    draining: Option<Draining>,
    requests: VecDeque<(RequestId, Request)>,
    body: Option<BodyState>,
    events: VecDeque<Event>,
    transcript: VecDeque<TranscriptEntry>,
    next_id: u64,

    caps: Option<Capabilities>,
    greeting: Option<OwnedReply>,
    ehlo_reply: Option<OwnedReply>,
    helo_reply: Option<OwnedReply>,
    /// The last hello was a successful EHLO/LHLO.
    esmtp: bool,
    phase: Phase,
    security: Security,
    /// Hello/STARTTLS requests queued or running: capabilities may change.
    caps_changing: usize,
    /// RCPTs accepted since the last low-level MAIL (LMTP `data()` needs the count).
    low_level_rcpts: usize,
    last_reply_at: Option<Instant>,
    /// Offset in the outbound stream just past the last body byte queued: while fewer bytes
    /// than this have been written, a stalled write is a Data Block timeout.
    body_until: u64,
    last_now: Option<Instant>,
    /// Set when the session closed: an end of data was written and its reply never read.
    end_of_data_unanswered: bool,
    quit_reply: Option<OwnedReply>,
}

/// Where the session is. It only moves forward: `Opening` → `Ready` → `Quitting` → `Closed`,
/// skipping steps when set-up fails or the connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Greeting, and with [`Setup::Automatic`] hello and STARTTLS, under way.
    Opening,
    /// [`Event::Ready`] was emitted: requests that need the capabilities are accepted.
    Ready,
    /// QUIT is queued or sent (by the caller, or to end a failed session politely); no new
    /// request is accepted.
    Quitting,
    /// [`Event::Closed`] was emitted; every input is ignored.
    Closed,
}

/// The security of the transport, apart from the session's phase (a QUIT may wait behind a
/// TLS handshake).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Security {
    /// Plaintext.
    Plain,
    /// STARTTLS got `220`: nothing is sent, and any byte received is an attack, until the
    /// adapter reports the handshake; `since` is when the `220` arrived.
    Upgrading { since: Instant },
    /// TLS (implicit, or after STARTTLS).
    Secure,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("phase", &self.phase)
            .field("security", &self.security)
            .field("pending", &self.pending.len())
            .field("outbox", &self.outbox.unsent_len())
            .finish_non_exhaustive()
    }
}

/// Headroom kept free in the outbox for a BDAT header and a body terminator.
const BODY_HEADROOM: usize = 64;
/// The smallest outbox the client works with.
const MIN_OUTBOX: usize = 16 * 1024;
/// RFC 4954 §4: the AUTH command stays within SMTP's command line limit (RFC 5321 §4.5.3.1.4,
/// 512 octets with CRLF); an initial response that would exceed it is sent after an empty `334`.
const MAX_AUTH_LINE: usize = 512;

impl Client {
    /// A new session; `now` starts the greeting timer. With [`TlsMode::Implicit`] the session is
    /// secure from the start.
    pub fn new(config: Config, now: Instant) -> Self {
        let parser = ReplyParser::new(config.limits.reply);
        let security = if config.tls == TlsMode::Implicit {
            Security::Secure
        } else {
            Security::Plain
        };
        let mut pending = PendingQueue::default();
        pending.push_sent(Expect::Greeting, now);
        let op = Some(match config.setup {
            Setup::Automatic => Op::Setup,
            Setup::Manual => Op::Greeting,
        });
        Self {
            config,
            parser,
            inbox: Vec::new(),
            inbox_start: 0,
            outbox: Outbox::default(),
            pending,
            op,
            draining: None,
            requests: VecDeque::new(),
            body: None,
            events: VecDeque::new(),
            transcript: VecDeque::new(),
            next_id: 0,
            caps: None,
            greeting: None,
            ehlo_reply: None,
            helo_reply: None,
            esmtp: false,
            phase: Phase::Opening,
            security,
            caps_changing: 0,
            low_level_rcpts: 0,
            last_reply_at: None,
            body_until: 0,
            last_now: Some(now),
            end_of_data_unanswered: false,
            quit_reply: None,
        }
    }

    // ---------------------------------------------------------------- A. getters

    /// The configuration the session was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The capabilities from the last successful EHLO/LHLO (empty after HELO); `None` before any
    /// hello and after STARTTLS (RFC 3207 §4.2). smtplib's `esmtp_features`.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.caps.as_ref()
    }

    /// smtplib's `has_extn`: whether the last EHLO advertised `name` (case-insensitive).
    pub fn has_extn(&self, name: &str) -> bool {
        self.caps.as_ref().is_some_and(|c| c.has_extn(name))
    }

    /// The greeting reply, once received.
    pub fn greeting(&self) -> Option<&OwnedReply> {
        self.greeting.as_ref()
    }

    /// The last EHLO/LHLO reply (smtplib's `ehlo_resp`).
    pub fn ehlo_response(&self) -> Option<&OwnedReply> {
        self.ehlo_reply.as_ref()
    }

    /// The last HELO reply (smtplib's `helo_resp`).
    pub fn helo_response(&self) -> Option<&OwnedReply> {
        self.helo_reply.as_ref()
    }

    /// Whether the last hello was a successful EHLO/LHLO (smtplib's `does_esmtp`).
    pub fn does_esmtp(&self) -> bool {
        self.esmtp
    }

    /// The server's reply to QUIT, once received (smtplib's `quit()` return value).
    pub fn quit_reply(&self) -> Option<&OwnedReply> {
        self.quit_reply.as_ref()
    }

    /// Whether a hello succeeded since the session (or TLS) began.
    pub fn said_hello(&self) -> bool {
        self.caps.is_some()
    }

    /// Whether the transport is TLS (implicit, or after STARTTLS).
    pub fn is_secure(&self) -> bool {
        self.security == Security::Secure
    }

    /// Whether the session is ready for requests: [`Event::Ready`] was emitted, and the session
    /// is neither quitting nor closed.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Whether the session has ended ([`Event::Closed`] was emitted).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// When the last complete reply arrived (`None` before the greeting): how long the
    /// connection has been quiet.
    pub fn last_reply_at(&self) -> Option<Instant> {
        self.last_reply_at
    }

    /// Whether the end of data of a mail transaction was written and its reply is still
    /// awaited — or, once the session is closed, was never read. Then the server may have
    /// taken the message although the client cannot know (RFC 5321 §4.1.1.4, the duplicate
    /// problem of RFC 1047): sending it again could deliver it twice. A failed transaction
    /// for which this is `false` was not accepted, and may be sent again safely.
    pub fn end_of_data_unanswered(&self) -> bool {
        if self.is_closed() {
            self.end_of_data_unanswered
        } else {
            self.awaits_reply_to_end_of_data()
        }
    }

    fn awaits_reply_to_end_of_data(&self) -> bool {
        self.pending.iter().any(|p| {
            p.sent_at.is_some() && matches!(p.expect, Expect::DataEnd | Expect::Delivery(_))
        })
    }

    /// Whether a TLS handshake is awaited ([`Event::UpgradeTls`] was emitted and
    /// [`handle_tls_established`](Self::handle_tls_established) not yet called).
    fn upgrading(&self) -> bool {
        matches!(self.security, Security::Upgrading { .. })
    }

    /// Whether a request is running or queued (the caller should keep driving the loop).
    pub fn is_busy(&self) -> bool {
        self.op.is_some()
            || self.draining.is_some()
            || !self.requests.is_empty()
            || !self.pending.is_empty()
    }

    /// Bytes received but not yet consumed (at most one incomplete reply).
    pub fn buffered_input(&self) -> usize {
        self.inbox.len().saturating_sub(self.inbox_start)
    }

    /// Bytes waiting for the transport, including a BDAT chunk being built.
    pub fn buffered_output(&self) -> usize {
        let chunk = self
            .body
            .as_ref()
            .and_then(|b| b.chunk.as_ref())
            .map_or(0, Vec::len);
        self.outbox.unsent_len() + chunk
    }

    // ---------------------------------------------------------------- B. inputs

    /// Bytes read from the transport. No bytes is what a read returns at the end of the
    /// stream, and is taken as such: `handle_input(&[], now)` is
    /// [`handle_eof`](Self::handle_eof), so that a loop can hand over what `read` gave without
    /// a case of its own for 0.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.is_closed() {
            return;
        }
        self.last_now = Some(now);
        if bytes.is_empty() {
            return self.handle_eof(now);
        }
        if self.upgrading() {
            self.fail(Error::StartTlsInjection);
            return;
        }
        self.inbox.extend_from_slice(bytes);
        // The replies borrow the input buffer while the session handles them.
        let mut inbox = std::mem::take(&mut self.inbox);
        let mut start = self.inbox_start;
        loop {
            let buf = inbox.get(start..).unwrap_or_default();
            match self.parser.parse(buf) {
                Ok(Status::Complete((reply, used))) => {
                    start += used;
                    self.on_reply(reply, now);
                }
                Ok(Status::Partial) => break,
                Err(e) => {
                    self.fail(Error::Parse(e));
                    return;
                }
            }
            if self.is_closed() {
                return;
            }
            if self.upgrading() && start < inbox.len() {
                // The upgrade must not be attempted on a session that is already over.
                self.events.retain(|e| !matches!(e, Event::UpgradeTls));
                self.fail(Error::StartTlsInjection);
                return;
            }
        }
        if start == inbox.len() {
            inbox.clear();
        } else if start > 0 {
            inbox.drain(..start);
        }
        self.inbox = inbox;
        self.inbox_start = 0;
    }

    /// The transport reached end of stream.
    pub fn handle_eof(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        self.last_now = Some(now);
        if let Some(Op::Quit { error }) = &mut self.op {
            let error = error.take();
            self.close(error);
            return;
        }
        let stage = match self.pending.head() {
            Some(head) => head.expect.stage(),
            None if self.upgrading() => Stage::TlsHandshake,
            None => Stage::Idle,
        };
        self.fail(Error::UnexpectedEof(stage));
    }

    /// The transport accepted `n` bytes of what [`transmit`](Self::transmit) lent.
    pub fn handle_written(&mut self, n: usize, now: Instant) {
        if self.is_closed() {
            return;
        }
        self.last_now = Some(now);
        // Bytes that went out only after the write-progress deadline (a blocking write that
        // waited the whole timeout, then returned what trickled through) do not restart it.
        let in_time = self
            .write_timer()
            .and_then(|(since, _, after)| since.checked_add(after))
            .is_none_or(|deadline| now < deadline);
        self.outbox.ack(n, now, in_time);
        self.pending.mark_written(self.outbox.written(), now);
    }

    /// The adapter finished the TLS handshake asked for by [`Event::UpgradeTls`]. The client
    /// forgets the capabilities and says hello again (RFC 3207 §4.2).
    pub fn handle_tls_established(&mut self, now: Instant) {
        if self.is_closed() || !self.upgrading() {
            return;
        }
        self.last_now = Some(now);
        self.security = Security::Secure;
        self.caps = None;
        self.ehlo_reply = None;
        self.helo_reply = None;
        self.esmtp = false;
        self.trace(TranscriptEntry::TlsEstablished);
        self.on_tls_established();
    }

    /// A deadline from [`poll_timeout`](Self::poll_timeout) may have passed. Spurious calls are
    /// no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        self.last_now = Some(now);
        if let Some((deadline, stage, after)) = self.next_deadline() {
            if now >= deadline {
                self.fail(Error::Timeout { stage, after });
            }
        }
    }

    // ---------------------------------------------------------------- C. mutators

    /// Says hello (smtplib's `ehlo()`, `helo()`, `ehlo_or_helo_if_needed()`; LHLO for LMTP) with
    /// [`Config::hello_name`]. Completes with [`Event::Reply`]; a 250 to EHLO/LHLO sets the
    /// capabilities.
    pub fn hello(&mut self, kind: Hello) -> Result<RequestId, UsageError> {
        self.check_open()?;
        self.caps_changing += 1;
        Ok(self.request(Request::Hello(kind, None)))
    }

    /// [`hello`](Self::hello) with another name for this one greeting (smtplib's
    /// `ehlo(name)` / `helo(name)`).
    pub fn hello_as(&mut self, kind: Hello, name: Domain) -> Result<RequestId, UsageError> {
        self.check_open()?;
        self.caps_changing += 1;
        Ok(self.request(Request::Hello(kind, Some(name))))
    }

    /// Turns the transcript on or off from now on (smtplib's `set_debuglevel`); lines not yet
    /// drained stay available.
    pub fn set_transcript(&mut self, on: bool) {
        self.config.transcript = on;
    }

    /// STARTTLS (smtplib's `starttls()`). Needs a prior EHLO that offered it. On `220` the client
    /// emits [`Event::UpgradeTls`]; after [`handle_tls_established`](Self::handle_tls_established)
    /// the request completes with [`Event::Reply`] carrying the `220`, and the capabilities are
    /// forgotten: say hello again. Any other reply completes it at once (still plaintext).
    pub fn starttls(&mut self) -> Result<RequestId, UsageError> {
        self.check_open()?;
        if self.is_secure() {
            return Err(UsageError::AlreadySecure);
        }
        let caps = self.stable_caps()?;
        if !caps.supports(Extension::StartTls) {
            return Err(UsageError::Unsupported(Extension::StartTls));
        }
        self.caps_changing += 1;
        Ok(self.request(Request::StartTls))
    }

    /// AUTH with `mechanism` (RFC 4954). Completes with [`Event::Authenticated`] or
    /// [`Event::AuthFailed`].
    pub fn authenticate(&mut self, mechanism: Box<dyn Mechanism>) -> Result<RequestId, UsageError> {
        self.check_auth()?;
        let name = MechanismName::try_from(mechanism.name())
            .map_err(|_| UsageError::InvalidMechanism(mechanism.name().to_owned()))?;
        let offered = self
            .caps
            .as_ref()
            .is_some_and(|c| c.auth().contains(name.as_str()));
        if !offered {
            return Err(UsageError::MechanismNotOffered(name.as_str().to_owned()));
        }
        Ok(self.request(Request::Auth(vec![(name, mechanism)])))
    }

    /// smtplib's `login(user, password)`: tries each offered mechanism of
    /// [`sasl::DEFAULT_PREFERENCE`] (SCRAM-SHA-256, SCRAM-SHA-1 with the `scram` feature, then
    /// CRAM-MD5, PLAIN, LOGIN) in turn until one succeeds.
    ///
    /// A server that fails SCRAM's check of the server (a wrong `v=`, or a `235` without one)
    /// ends the session with [`Error::Sasl`]: no other mechanism is tried on
    /// it.
    pub fn login(&mut self, user: &str, password: &str) -> Result<RequestId, UsageError> {
        self.check_auth()?;
        let offered = self.caps.as_ref().map(Capabilities::auth);
        let mut candidates = Vec::new();
        for name in sasl::DEFAULT_PREFERENCE {
            if !offered.is_some_and(|o| o.contains(name)) {
                continue;
            }
            if let (Some(mech), Ok(valid)) = (
                sasl::password_mechanism(name, user, password),
                MechanismName::try_from(*name),
            ) {
                candidates.push((valid, mech));
            }
        }
        if candidates.is_empty() {
            return Err(UsageError::NoSuitableMechanism);
        }
        Ok(self.request(Request::Auth(candidates)))
    }

    /// A whole mail transaction with sendmail semantics: MAIL, every RCPT, DATA or BDAT, the
    /// body (after [`Event::BodyWanted`]), and every reply attributed, ending in
    /// [`Event::MailDone`]. Checked before anything is sent: recipients, SIZE, SMTPUTF8,
    /// 8BITMIME/BINARYMIME, REQUIRETLS and DSN against the server's capabilities.
    pub fn send_mail(&mut self, envelope: Envelope) -> Result<RequestId, UsageError> {
        self.check_open()?;
        let caps = self.stable_caps()?;
        let txn = flow::Txn::prepare(envelope, caps, &self.config, self.is_secure())?;
        Ok(self.request(Request::Mail(Box::new(txn))))
    }

    /// Low-level `MAIL FROM` (smtplib's `mail()`); completes with [`Event::Reply`].
    pub fn mail(
        &mut self,
        from: ReversePath,
        mut params: MailParams,
    ) -> Result<RequestId, UsageError> {
        self.check_open()?;
        if params.smtputf8 || from.needs_smtputf8() || params.needs_smtputf8() {
            self.require_smtputf8()?;
            // RFC 6531 §3.4: a transaction with an internationalised address declares it.
            params.smtputf8 = true;
        }
        let mut line = Vec::new();
        Command::Mail {
            from: &from,
            params: &params,
        }
        .encode(&mut line);
        Ok(self.request(Request::Single(line, Stage::Mail)))
    }

    /// Low-level `RCPT TO` (smtplib's `rcpt()`); completes with [`Event::Reply`].
    pub fn rcpt(&mut self, to: Mailbox, params: RcptParams) -> Result<RequestId, UsageError> {
        self.check_open()?;
        if to.needs_smtputf8() || params.needs_smtputf8() {
            // The SMTPUTF8 parameter belongs to MAIL; the server must offer the extension.
            self.require_smtputf8()?;
        }
        let mut line = Vec::new();
        Command::Rcpt {
            to: &to,
            params: &params,
        }
        .encode(&mut line);
        Ok(self.request(Request::Single(line, Stage::Rcpt)))
    }

    /// Low-level `DATA` (smtplib's `data()`): on `354`, [`Event::BodyWanted`]; the replies after
    /// the body complete it with [`Event::DataDone`] (for LMTP, one reply per recipient
    /// accepted since the last `mail()`), a refusal of DATA with [`Event::Reply`].
    pub fn data(&mut self) -> Result<RequestId, UsageError> {
        self.check_open()?;
        Ok(self.request(Request::Data { bdat: false }))
    }

    /// Low-level body as `BDAT` chunks (RFC 3030): [`Event::BodyWanted`] at once; the replies
    /// to `BDAT … LAST` complete it with [`Event::DataDone`], the first refused chunk with
    /// [`Event::Reply`].
    pub fn bdat(&mut self) -> Result<RequestId, UsageError> {
        self.check_open()?;
        let caps = self.stable_caps()?;
        if !caps.supports(Extension::Chunking) {
            return Err(UsageError::Unsupported(Extension::Chunking));
        }
        Ok(self.request(Request::Data { bdat: true }))
    }

    /// `RSET`; completes with [`Event::Reply`].
    pub fn rset(&mut self) -> Result<RequestId, UsageError> {
        self.single(Command::Rset, Stage::Rset)
    }

    /// `NOOP [arg]`; completes with [`Event::Reply`].
    pub fn noop(&mut self, arg: Option<&Argument>) -> Result<RequestId, UsageError> {
        self.single(Command::Noop(arg), Stage::Noop)
    }

    /// `VRFY arg` (smtplib's `verify()`); completes with [`Event::Reply`].
    pub fn verify(&mut self, arg: &Argument) -> Result<RequestId, UsageError> {
        self.single(Command::Vrfy(arg), Stage::Verify)
    }

    /// `EXPN arg`; completes with [`Event::Reply`].
    pub fn expn(&mut self, arg: &Argument) -> Result<RequestId, UsageError> {
        self.single(Command::Expn(arg), Stage::Expand)
    }

    /// `HELP [arg]`; completes with [`Event::Reply`].
    pub fn help(&mut self, arg: Option<&Argument>) -> Result<RequestId, UsageError> {
        self.single(Command::Help(arg), Stage::Help)
    }

    /// A raw command line (smtplib's `docmd()`), validated: no CR, LF or other controls.
    /// Completes with [`Event::Reply`]. The client does not interpret it: a raw command that
    /// changes the session's state (STARTTLS, AUTH, DATA, BDAT) leaves the client out of step.
    pub fn raw(&mut self, line: &Argument) -> Result<RequestId, UsageError> {
        self.single(Command::Raw(line), Stage::Raw)
    }

    /// `QUIT` after every queued request; [`Event::Closed`]`(None)` follows its reply (or EOF).
    /// Further mutators return [`UsageError::Closed`]. Calling it twice is harmless.
    pub fn quit(&mut self) {
        if matches!(self.phase, Phase::Quitting | Phase::Closed) {
            return;
        }
        self.phase = Phase::Quitting;
        let _id = self.request(Request::Quit);
    }

    /// The body of request `id`, while it can take one (after [`Event::BodyWanted`] and until
    /// `finish()` or the transaction's end); `None` otherwise.
    pub fn body(&mut self, id: RequestId) -> Option<BodyWriter<'_>> {
        if self.is_closed() || self.body.as_ref().is_none_or(|b| b.id != id) {
            return None;
        }
        Some(BodyWriter::new(self))
    }

    // ---------------------------------------------------------------- D. outputs

    /// The bytes waiting to be written, if any (`None` while a TLS upgrade is pending, after
    /// the session closed, and while body bytes lent with [`BodyWriter::lend`] are still to be
    /// written: see [`lent`](Self::lent)). Only a look: [`transmit`](Self::transmit) lends them
    /// for writing.
    pub fn poll_transmit(&self) -> Option<&[u8]> {
        if self.is_closed()
            || self.upgrading()
            || self.outbox.lent() > 0
            || self.outbox.unsent_len() == 0
        {
            return None;
        }
        Some(self.outbox.unsent())
    }

    /// How many body bytes lent with [`BodyWriter::lend`] are still to be written: the next
    /// bytes of the stream, written by the caller from the memory it lent them from (the first
    /// `lent()` bytes of what it has not written yet), and reported with
    /// [`handle_written`](Self::handle_written) as any write is. Nothing else goes out until
    /// they have been: [`poll_transmit`](Self::poll_transmit) shows nothing meanwhile.
    pub fn lent(&self) -> usize {
        if self.is_closed() {
            return 0;
        }
        self.outbox.lent()
    }

    /// [`transmit`](Self::transmit) for lent body bytes: how many are still to be written
    /// ([`lent`](Self::lent)), with the deadline of the write (the write-progress timer starts
    /// at `now` unless it is running). `None` when none are.
    pub fn transmit_lent(&mut self, now: Instant) -> Option<Lent> {
        let len = self.lent();
        if len == 0 {
            return None;
        }
        self.outbox.start_waiting(now);
        let deadline = self.poll_timeout().unwrap_or(now);
        Some(Lent { len, deadline })
    }

    /// The bytes to write now, lent with the deadline of the write: the transport must take
    /// some by then (the write-progress timer starts at `now` unless it is running; RFC 5321's
    /// Data Block timeout during a body), and no other deadline of the session may pass while
    /// it waits. Report how many were taken with [`handle_written`](Self::handle_written), a
    /// deadline that passed with [`handle_timeout`](Self::handle_timeout).
    pub fn transmit(&mut self, now: Instant) -> Option<Transmit<'_>> {
        self.poll_transmit()?;
        self.outbox.start_waiting(now);
        let deadline = self.poll_timeout().unwrap_or(now);
        Some(Transmit {
            bytes: self.outbox.unsent(),
            deadline,
        })
    }

    /// Whether there are bytes to write now ([`poll_transmit`](Self::poll_transmit)'s, or
    /// [`lent`](Self::lent) ones): what a readiness loop asks before registering interest in
    /// writability.
    pub fn wants_write(&self) -> bool {
        !self.is_closed() && !self.upgrading() && !self.outbox.is_empty()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline, if any: call [`handle_timeout`](Self::handle_timeout) when it
    /// passes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline().map(|(deadline, _, _)| deadline)
    }

    /// The next transcript line, when [`Config::transcript`] is on.
    ///
    /// The transcript is one queue of its own, apart from the events: a `Sent` line is added
    /// when a command is queued for writing, a `Received` line when a reply line is parsed,
    /// `TlsEstablished` at [`handle_tls_established`](Self::handle_tls_established), all in the
    /// order they happen on the wire. Nothing depends on draining it: drain it whenever
    /// convenient (the [`Pump`](crate::session::Pump) drains it before each step). It holds at
    /// most [`Limits::transcript`](crate::client::Limits::transcript) lines; beyond that the oldest
    /// are dropped.
    pub fn poll_transcript(&mut self) -> Option<TranscriptEntry> {
        self.transcript.pop_front()
    }

    // ---------------------------------------------------------------- internals

    /// An internationalised address needs SMTPUTF8 (RFC 6531), offered in the last EHLO.
    fn require_smtputf8(&self) -> Result<(), UsageError> {
        match &self.caps {
            Some(caps) if caps.supports(Extension::SmtpUtf8) => Ok(()),
            _ => Err(UsageError::Unsupported(Extension::SmtpUtf8)),
        }
    }

    fn check_open(&self) -> Result<(), UsageError> {
        if matches!(self.phase, Phase::Quitting | Phase::Closed) {
            Err(UsageError::Closed)
        } else {
            Ok(())
        }
    }

    /// The capabilities, if known and not about to change.
    fn stable_caps(&self) -> Result<&Capabilities, UsageError> {
        if self.caps_changing > 0 || self.upgrading() {
            return Err(UsageError::NotReady);
        }
        if self.config.setup == Setup::Automatic && self.phase == Phase::Opening {
            return Err(UsageError::NotReady);
        }
        self.caps.as_ref().ok_or(UsageError::NotReady)
    }

    fn check_auth(&self) -> Result<(), UsageError> {
        self.check_open()?;
        let caps = self.stable_caps()?;
        if !caps.supports(Extension::Auth) {
            return Err(UsageError::Unsupported(Extension::Auth));
        }
        if !self.is_secure() && !self.config.allow_auth_without_tls {
            return Err(UsageError::AuthWithoutTls);
        }
        Ok(())
    }

    fn single(&mut self, command: Command<'_>, stage: Stage) -> Result<RequestId, UsageError> {
        self.check_open()?;
        let mut line = Vec::new();
        command.encode(&mut line);
        Ok(self.request(Request::Single(line, stage)))
    }

    fn request(&mut self, request: Request) -> RequestId {
        self.next_id += 1;
        let id = RequestId(self.next_id);
        self.requests.push_back((id, request));
        self.advance();
        id
    }

    /// Queues an encoded command and the reply it expects.
    fn send(&mut self, command: Command<'_>, expect: Expect) {
        let buf = self.outbox.buf_mut();
        let start = buf.len();
        command.encode(buf);
        if self.config.transcript {
            let line = if command.is_auth_payload() {
                match command {
                    Command::Auth { mechanism, .. } => {
                        format!("AUTH {} <redacted>", mechanism.as_str()).into_bytes()
                    }
                    _ => b"<redacted>".to_vec(),
                }
            } else {
                let end = self.outbox.buf_mut().len().saturating_sub(2);
                self.outbox
                    .buf_mut()
                    .get(start..end)
                    .unwrap_or_default()
                    .to_vec()
            };
            self.trace(TranscriptEntry::Sent(line));
        }
        self.pending.push(expect, self.outbox.end());
    }

    /// Queues bytes encoded elsewhere (a raw command line, a lone `.`), with the reply expected.
    fn send_bytes(&mut self, bytes: &[u8], expect: Expect) {
        self.outbox.buf_mut().extend_from_slice(bytes);
        if self.config.transcript {
            let line = bytes.strip_suffix(b"\r\n").unwrap_or(bytes).to_vec();
            self.trace(TranscriptEntry::Sent(line));
        }
        self.pending.push(expect, self.outbox.end());
    }

    fn hello_verb(&self, kind: Hello) -> HelloVerb {
        match kind {
            Hello::Helo => HelloVerb::Helo,
            Hello::Lhlo => HelloVerb::Lhlo,
            Hello::Ehlo | Hello::EhloOrHelo if self.config.lmtp => HelloVerb::Lhlo,
            Hello::Ehlo | Hello::EhloOrHelo => HelloVerb::Ehlo,
        }
    }

    fn send_hello(&mut self, verb: HelloVerb, name: Option<&Domain>) {
        let name: Domain = name.unwrap_or(&self.config.hello_name).clone();
        let command = match verb {
            HelloVerb::Ehlo => Command::Ehlo(&name),
            HelloVerb::Helo => Command::Helo(&name),
            HelloVerb::Lhlo => Command::Lhlo(&name),
        };
        self.send(command, Expect::Hello(verb));
    }

    fn trace(&mut self, entry: TranscriptEntry) {
        if !self.config.transcript {
            return;
        }
        if self.transcript.len() >= self.config.limits.transcript.max(1) {
            self.transcript.pop_front();
        }
        self.transcript.push_back(entry);
    }

    fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// Ends the session at once: nothing more is sent. A session already ending politely on an
    /// error (QUIT sent after a refused greeting, say) keeps that error, whatever goes wrong
    /// with its QUIT (a timeout, a malformed reply).
    fn fail(&mut self, error: Error) {
        let error = match self.op.as_mut() {
            Some(Op::Quit { error: reason }) => reason.take().unwrap_or(error),
            _ => error,
        };
        self.close(Some(error));
    }

    fn close(&mut self, error: Option<Error>) {
        if self.is_closed() {
            return;
        }
        self.phase = Phase::Closed;
        self.end_of_data_unanswered = self.awaits_reply_to_end_of_data();
        self.inbox.clear();
        self.inbox_start = 0;
        self.outbox.clear();
        self.pending.clear();
        self.requests.clear();
        self.op = None;
        self.draining = None;
        self.body = None;
        if self.upgrading() {
            self.security = Security::Plain;
        }
        self.emit(Event::Closed(error));
    }

    /// Ends the session politely: QUIT, then [`Event::Closed`] with `error`.
    fn quit_with(&mut self, error: Error) {
        self.requests.clear();
        self.body = None;
        self.phase = Phase::Quitting;
        self.op = Some(Op::Quit { error: Some(error) });
        self.send(Command::Quit, Expect::Quit);
    }

    fn outbox_limit(&self) -> usize {
        self.config.limits.outbox.max(MIN_OUTBOX)
    }

    fn bdat_chunk_size(&self) -> usize {
        self.config
            .limits
            .bdat_chunk
            .clamp(1, self.outbox_limit() / 2)
    }

    /// The write-progress timer, when unsent bytes wait: since when, for which stage, how long.
    fn write_timer(&self) -> Option<(Instant, Stage, Duration)> {
        let since = self.outbox.waiting_since?;
        let t = &self.config.timeouts;
        Some(
            if self.body.is_some() || self.outbox.written() < self.body_until {
                (since, Stage::DataBlock, t.data_block)
            } else {
                (since, Stage::Write, t.command)
            },
        )
    }

    /// The earliest armed deadline, with the stage it belongs to and its duration.
    fn next_deadline(&self) -> Option<(Instant, Stage, Duration)> {
        if self.is_closed() {
            return None;
        }
        let t = &self.config.timeouts;
        let mut best: Option<(Instant, Stage, Duration)> = None;
        let mut consider = |start: Instant, stage: Stage, after: Duration| {
            if let Some(deadline) = start.checked_add(after) {
                if best.is_none_or(|(b, _, _)| deadline < b) {
                    best = Some((deadline, stage, after));
                }
            }
        };
        if let Some(head) = self.pending.head() {
            if let Some(sent) = head.sent_at {
                let start = self.last_reply_at.map_or(sent, |r| r.max(sent));
                let stage = head.expect.stage();
                consider(start, stage, timeout_for(t, head.expect));
            }
        }
        if let Some((since, stage, after)) = self.write_timer() {
            consider(since, stage, after);
        }
        if let Security::Upgrading { since } = self.security {
            consider(since, Stage::TlsHandshake, t.command);
        }
        best
    }
}

/// The RFC 5321 §4.5.3.2 timeout that bounds the wait for a reply to `expect`.
fn timeout_for(t: &Timeouts, expect: Expect) -> Duration {
    match expect.stage() {
        Stage::Greeting => t.greeting,
        Stage::Mail => t.mail,
        Stage::Rcpt => t.rcpt,
        Stage::Data => t.data_init,
        Stage::DataEnd => t.data_term,
        Stage::DataBlock => t.data_block,
        _ => t.command,
    }
}

/// Base64 length of `n` bytes with padding.
fn base64_len(n: usize) -> usize {
    n.div_ceil(3).saturating_mul(4)
}

/// Whether `AUTH <name> <base64 of ir_len bytes>` fits in [`MAX_AUTH_LINE`].
fn initial_response_fits(name: &MechanismName, ir_len: usize) -> bool {
    let line = "AUTH ".len() + name.as_str().len() + 1 + base64_len(ir_len).max(1) + 2;
    line <= MAX_AUTH_LINE
}
