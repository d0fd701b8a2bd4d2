//! Every state transition of the client, in one place.
//!
//! A request (what a mutator asked for) waits in `Client::requests` until the one before it is
//! done; then [`Client::start`] sends its first command(s) and it becomes the running [`Op`].
//! Each complete reply pops the head of the pending queue and goes to [`Client::on_reply`], which
//! hands the running op and the reply's meaning ([`Expect`]) to one `match`. A handler returns the
//! op when it still waits for replies, or `None` when it is done (its event emitted); then the
//! next request starts.

use std::collections::VecDeque;
use std::time::Instant;

use super::body::BodyMode;
use super::envelope::{Content, Envelope, Recipient};
use super::event::{Event, MailOutcome, MailReport, RecipientReport, RequestId, Stage};
use super::pipeline::{Expect, HelloVerb};
use super::{Client, Config, Hello, Phase, Security, TranscriptEntry};
use crate::command::{BodyType, Command, Domain, MailParams, MechanismName, ReversePath};
use crate::ehlo::{Capabilities, Extension};
use crate::error::{Error, UsageError};
use crate::reply::{Class, OwnedReply, Reply, ReplyCode};
use crate::sasl::{self, Mechanism, Secret};

/// What a mutator asked for, waiting its turn.
pub(crate) enum Request {
    Hello(Hello, Option<Domain>),
    StartTls,
    Auth(Vec<(MechanismName, Box<dyn Mechanism>)>),
    Mail(Box<Txn>),
    Data {
        bdat: bool,
    },
    /// An encoded command line whose reply is reported as it is.
    Single(Vec<u8>, Stage),
    Quit,
}

/// The running request and what it still waits for.
pub(crate) enum Op {
    /// Automatic set-up: greeting, hello, STARTTLS, hello again.
    Setup,
    /// Manual set-up: the greeting only.
    Greeting,
    Hello {
        id: RequestId,
        fallback: bool,
        /// A name other than `Config::hello_name`, for this greeting only.
        name: Option<Domain>,
    },
    /// Explicit STARTTLS; holds the `220` while the handshake runs.
    StartTls {
        id: RequestId,
        accepted: Option<OwnedReply>,
    },
    Auth(Box<AuthOp>),
    Mail(Box<Txn>),
    Data(DataOp),
    Single {
        id: RequestId,
    },
    /// QUIT sent; `error` is reported in `Closed` once it is answered (or the peer closes).
    Quit {
        error: Option<Error>,
    },
}

/// One AUTH request: the mechanisms still to try, and the exchange in progress.
pub(crate) struct AuthOp {
    id: RequestId,
    candidates: VecDeque<(MechanismName, Box<dyn Mechanism>)>,
    current: Option<Box<dyn Mechanism>>,
    /// An initial response too long for the AUTH line, sent after the first (empty) `334`.
    withheld: Option<Secret<Vec<u8>>>,
    rounds: u32,
    cancelled: bool,
}

/// Low-level `data()` / `bdat()`.
pub(crate) struct DataOp {
    id: RequestId,
    /// A refusal was already reported; the remaining replies are read and dropped.
    failed: bool,
    /// The replies to the end of data so far (LMTP: one per recipient).
    replies: Vec<OwnedReply>,
}

/// One sendmail-style transaction.
pub(crate) struct Txn {
    id: RequestId,
    from: ReversePath,
    params: MailParams,
    rcpts: Vec<Recipient>,
    reports: Vec<RecipientReport>,
    pipelined: bool,
    chunking: bool,
    binary: bool,
    mail_refused: Option<OwnedReply>,
    /// `MailDone` was emitted with a failure; remaining replies are read, then RSET.
    failed: bool,
    /// Bytes of recipient replies kept so far (see [`Txn::keep`]).
    kept: usize,
}

/// Most bytes of one recipient's reply (RCPT, or LMTP's per-recipient reply after the data)
/// that a report keeps: a server may legally answer each with 512 lines of 8 KB.
pub(crate) const KEEP_PER_RECIPIENT: usize = 1024;
/// Once a transaction's recipient replies have kept this many bytes, each further one keeps
/// only its first 64 (code, enhanced code, first words): the memory of a transaction's
/// reports is bounded by its number of recipients, not by what the server sends.
pub(crate) const KEEP_PER_TRANSACTION: usize = 256 * 1024;

impl Txn {
    /// Checks `envelope` against the server's capabilities and completes its MAIL parameters.
    pub(crate) fn prepare(
        envelope: Envelope,
        caps: &Capabilities,
        config: &Config,
        secure: bool,
    ) -> Result<Self, UsageError> {
        let Envelope {
            from,
            to,
            mut params,
            size,
            content,
        } = envelope;
        if to.is_empty() {
            return Err(UsageError::NoRecipients);
        }
        let needs = |ext: Extension| {
            if caps.supports(ext) {
                Ok(())
            } else {
                Err(UsageError::Unsupported(ext))
            }
        };
        if params.requiretls {
            if !secure {
                return Err(UsageError::RequireTlsWithoutTls);
            }
            needs(Extension::RequireTls)?;
        }
        let utf8 = params.smtputf8
            || from.needs_smtputf8()
            || params.needs_smtputf8()
            || to
                .iter()
                .any(|r| r.mailbox.needs_smtputf8() || r.params.needs_smtputf8());
        if utf8 {
            needs(Extension::SmtpUtf8)?;
            params.smtputf8 = true;
        }
        match content {
            Content::SevenBit => {}
            Content::EightBit => {
                if params.body.is_none() {
                    params.body = Some(BodyType::EightBitMime);
                }
            }
            Content::Binary => params.body = Some(BodyType::BinaryMime),
        }
        let binary = params.body == Some(BodyType::BinaryMime);
        match params.body {
            None => {}
            Some(BodyType::SevenBit | BodyType::EightBitMime) => needs(Extension::EightBitMime)?,
            Some(BodyType::BinaryMime) => {
                needs(Extension::BinaryMime)?;
                needs(Extension::Chunking)?;
            }
        }
        let declared = size.or(params.size);
        if let (Some(size), Some(limit)) = (declared, caps.max_size()) {
            if size > limit {
                return Err(UsageError::TooLarge { size, limit });
            }
        }
        params.size = if caps.supports(Extension::Size) {
            declared
        } else {
            None
        };
        let dsn = params.ret.is_some()
            || params.envid.is_some()
            || to
                .iter()
                .any(|r| r.params.notify.is_some() || r.params.orcpt.is_some());
        if dsn {
            needs(Extension::Dsn)?;
        }
        if params.auth.is_some() {
            needs(Extension::Auth)?;
        }
        let reports = to
            .iter()
            .map(|r| RecipientReport {
                mailbox: r.mailbox.clone(),
                rcpt: None,
                delivery: None,
            })
            .collect();
        Ok(Self {
            id: RequestId(0),
            from,
            params,
            rcpts: to,
            reports,
            pipelined: config.pipelining && caps.supports(Extension::Pipelining),
            chunking: binary || (config.chunking && caps.supports(Extension::Chunking)),
            binary,
            mail_refused: None,
            failed: false,
            kept: 0,
        })
    }

    /// What a report keeps of a recipient's reply: at most [`KEEP_PER_RECIPIENT`] bytes, 64
    /// once [`KEEP_PER_TRANSACTION`] is spent.
    fn keep(&mut self, reply: OwnedReply) -> OwnedReply {
        let budget = if self.kept < KEEP_PER_TRANSACTION {
            KEEP_PER_RECIPIENT
        } else {
            0
        };
        let reply = reply.truncated(budget);
        self.kept = self.kept.saturating_add(reply.as_bytes().len());
        reply
    }

    fn accepted(&self) -> impl Iterator<Item = usize> + '_ {
        self.reports
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.rcpt
                    .as_ref()
                    .is_some_and(|r| r.code().is_positive_completion())
            })
            .map(|(i, _)| i)
    }

    fn report(&self, outcome: MailOutcome) -> MailReport {
        MailReport {
            id: self.id,
            outcome,
            recipients: self.reports.clone(),
        }
    }

    /// Why the envelope failed, if it did (sender refused, or no recipient accepted).
    fn envelope_failure(&self) -> Option<MailOutcome> {
        if let Some(reply) = &self.mail_refused {
            return Some(MailOutcome::SenderRefused(reply.clone()));
        }
        if self.accepted().next().is_none() {
            return Some(MailOutcome::RecipientsRefused);
        }
        None
    }
}

/// A transaction whose end of data is sent and whose final replies are still to come, while
/// the next transaction runs (see `Client::overlap_next`).
pub(crate) struct Draining {
    txn: Box<Txn>,
    /// Replies still owed to it: they are the first `left` entries of the pending queue.
    left: usize,
}

/// Records a reply after the end of data; the outcome once the last one is in (`last`).
fn final_outcome(
    txn: &mut Txn,
    expect: Expect,
    reply: OwnedReply,
    last: bool,
) -> Option<MailOutcome> {
    match expect {
        Expect::DataEnd if reply.code().is_positive_completion() => {
            Some(MailOutcome::Accepted(reply))
        }
        Expect::DataEnd => Some(MailOutcome::DataRefused(reply)),
        Expect::Delivery(i) => {
            let kept = txn.keep(reply.clone());
            if let Some(report) = txn.reports.get_mut(i) {
                report.delivery = Some(kept);
            }
            if !last {
                return None;
            }
            let delivered = txn.reports.iter().find_map(|r| {
                r.delivery
                    .as_ref()
                    .filter(|d| d.code().is_positive_completion())
            });
            Some(match delivered {
                Some(first) => MailOutcome::Accepted(first.clone()),
                None => MailOutcome::DataRefused(reply),
            })
        }
        _ => None,
    }
}

/// What [`Client::on_reply_in_place`] does with a reply it can handle without a copy.
enum InPlace {
    Nothing,
    FirstRcpt,
    FlushChunks,
    Body(RequestId, Vec<usize>),
}

/// The verdict on a hello reply.
enum HelloResult {
    Ok,
    /// EHLO got a 5xx: HELO may be tried.
    Fallback,
    Refused,
}

impl Client {
    /// Starts queued requests while nothing is running.
    pub(super) fn advance(&mut self) {
        while !self.is_closed() && !self.upgrading() {
            if self.op.is_some() && !self.overlap_next() {
                return;
            }
            let Some((id, request)) = self.requests.pop_front() else {
                return;
            };
            self.start(id, request);
        }
    }

    /// With PIPELINING, once a DATA transaction has sent its end of data and waits only for its
    /// final reply (LMTP: per-recipient replies), the next transaction's MAIL, RCPTs and DATA go
    /// right behind it: RFC 2920 §3.1 lets message content be the first "command" of a group.
    /// The finished transaction moves aside ([`Draining`]) and takes the replies still owed to
    /// it. Not for BDAT: after a refused chunk the server's transaction may still be open.
    fn overlap_next(&mut self) -> bool {
        if self.draining.is_some() || self.body.is_some() {
            return false;
        }
        if !matches!(self.requests.front(), Some((_, Request::Mail(_)))) {
            return false;
        }
        let Some(Op::Mail(txn)) = &self.op else {
            return false;
        };
        let only_finals = self
            .pending
            .iter()
            .all(|p| matches!(p.expect, Expect::DataEnd | Expect::Delivery(_)));
        if !txn.pipelined || txn.chunking || txn.failed || self.pending.is_empty() || !only_finals {
            return false;
        }
        let Some(Op::Mail(txn)) = self.op.take() else {
            return false;
        };
        self.draining = Some(Draining {
            txn,
            left: self.pending.len(),
        });
        true
    }

    /// A reply owed to the transaction that moved aside for the next one.
    fn on_draining(&mut self, mut draining: Draining, expect: Expect, reply: OwnedReply) {
        draining.left = draining.left.saturating_sub(1);
        let last = draining.left == 0;
        if !matches!(expect, Expect::DataEnd | Expect::Delivery(_)) {
            self.fail(Error::Unexpected {
                stage: expect.stage(),
                reply,
            });
            return;
        }
        // The end of data ended the transaction whatever the reply (RFC 5321 §4.1.1.4), and the
        // next one is already under way: no RSET.
        if let Some(outcome) = final_outcome(&mut draining.txn, expect, reply, last) {
            self.emit(Event::MailDone(draining.txn.report(outcome)));
        }
        if !last {
            self.draining = Some(draining);
        }
    }

    fn start(&mut self, id: RequestId, request: Request) {
        let op = match request {
            Request::Hello(kind, name) => {
                let verb = self.hello_verb(kind);
                self.send_hello(verb, name.as_ref());
                Op::Hello {
                    id,
                    fallback: kind == Hello::EhloOrHelo && verb == HelloVerb::Ehlo,
                    name,
                }
            }
            Request::StartTls => {
                self.send(Command::StartTls, Expect::StartTls);
                Op::StartTls { id, accepted: None }
            }
            Request::Auth(candidates) => {
                let auth = AuthOp {
                    id,
                    candidates: candidates.into(),
                    current: None,
                    withheld: None,
                    rounds: 0,
                    cancelled: false,
                };
                match self.next_mechanism(Box::new(auth)) {
                    Some(op) => op,
                    None => return,
                }
            }
            Request::Mail(mut txn) => {
                txn.id = id;
                self.send(
                    Command::Mail {
                        from: &txn.from,
                        params: &txn.params,
                    },
                    Expect::Mail,
                );
                if txn.pipelined {
                    for (i, r) in txn.rcpts.iter().enumerate() {
                        self.send(
                            Command::Rcpt {
                                to: &r.mailbox,
                                params: &r.params,
                            },
                            Expect::Rcpt(i),
                        );
                    }
                    if !txn.chunking {
                        self.send(Command::Data, Expect::Data);
                    }
                }
                Op::Mail(txn)
            }
            Request::Data { bdat: false } => {
                self.send(Command::Data, Expect::Data);
                Op::Data(DataOp {
                    id,
                    failed: false,
                    replies: Vec::new(),
                })
            }
            Request::Data { bdat: true } => {
                let deliveries = self.low_level_deliveries();
                self.start_body(id, BodyMode::Bdat, deliveries);
                Op::Data(DataOp {
                    id,
                    failed: false,
                    replies: Vec::new(),
                })
            }
            Request::Single(line, stage) => {
                self.send_bytes(&line, Expect::Single(stage));
                Op::Single { id }
            }
            Request::Quit => {
                self.send(Command::Quit, Expect::Quit);
                Op::Quit { error: None }
            }
        };
        self.op = Some(op);
    }

    /// One complete reply arrived.
    /// One complete reply arrived, borrowed from the input buffer. Replies that only move the
    /// session along (a 250 to MAIL, a 354, a 250 to a BDAT chunk, the cleanup RSET's) are handled
    /// in place; only a reply that reaches an event or a report is copied.
    pub(super) fn on_reply(&mut self, reply: Reply<'_>, now: Instant) {
        self.last_reply_at = Some(now);
        if self.config.transcript {
            let raw = reply.as_bytes();
            for line in raw.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                self.trace(TranscriptEntry::Received(line.to_vec()));
            }
        }
        let Some(pending) = self.pending.pop() else {
            // Nothing was asked: only a 421 (RFC 5321 §3.8) may come unprompted.
            let error = if reply.code() == ReplyCode::SERVICE_UNAVAILABLE {
                Error::Rejected {
                    stage: Stage::Idle,
                    reply: reply.into_owned(),
                }
            } else {
                Error::Unexpected {
                    stage: Stage::Idle,
                    reply: reply.into_owned(),
                }
            };
            self.fail(error);
            return;
        };
        let expect = pending.expect;
        if pending.ends_at > self.outbox.written() {
            // A reply to a command that has not been (fully) written yet: the server is out of
            // step, or someone is injecting replies. Never act on it.
            self.fail(Error::Unexpected {
                stage: expect.stage(),
                reply: reply.into_owned(),
            });
            return;
        }
        if reply.code() == ReplyCode::SERVICE_UNAVAILABLE && expect != Expect::Quit {
            self.fail(Error::Rejected {
                stage: expect.stage(),
                reply: reply.into_owned(),
            });
            return;
        }
        // A greeting of any class other than 220 refuses the session (handled with the
        // greeting), not a reply out of step.
        let intermediate_ok = matches!(
            expect,
            Expect::Data | Expect::Auth | Expect::Single(Stage::Raw) | Expect::Greeting
        );
        if reply.code().class() == Class::PositiveIntermediate && !intermediate_ok {
            self.fail(Error::Unexpected {
                stage: expect.stage(),
                reply: reply.into_owned(),
            });
            return;
        }
        if self.draining.is_none() && self.on_reply_in_place(expect, &reply) {
            if self.op.is_none() {
                self.advance();
            }
            return;
        }
        let reply = reply.into_owned();
        if let Some(draining) = self.draining.take() {
            self.on_draining(draining, expect, reply);
            return;
        }
        let Some(op) = self.op.take() else {
            self.fail(Error::Unexpected {
                stage: expect.stage(),
                reply,
            });
            return;
        };
        let next = match op {
            Op::Setup => self.on_setup(expect, reply, now),
            Op::Greeting => self.on_greeting(expect, reply),
            Op::Hello { id, fallback, name } => self.on_hello(id, fallback, name, expect, reply),
            Op::StartTls { id, .. } => self.on_starttls(id, expect, reply, now),
            Op::Auth(auth) => self.on_auth(auth, expect, reply),
            Op::Mail(txn) => self.on_mail(txn, expect, reply),
            Op::Data(data) => self.on_data(data, expect, reply),
            Op::Single { id } => self.on_single(id, expect, reply),
            Op::Quit { error } => {
                self.quit_reply = Some(reply);
                self.close(error);
                None
            }
        };
        if self.is_closed() {
            return;
        }
        if let Some(op) = next {
            if self.op.is_none() {
                self.op = Some(op);
            }
        }
        if self.op.is_none() {
            self.advance();
        }
    }

    /// The replies of a running transaction that need no copy: `true` when handled.
    fn on_reply_in_place(&mut self, expect: Expect, reply: &Reply<'_>) -> bool {
        let Some(Op::Mail(txn)) = &self.op else {
            return false;
        };
        let positive = reply.code().is_positive_completion();
        let step = match expect {
            _ if txn.failed => return false,
            Expect::Mail if positive && txn.pipelined => InPlace::Nothing,
            Expect::Mail if positive => InPlace::FirstRcpt,
            Expect::Bdat if positive => InPlace::FlushChunks,
            Expect::Data
                if reply.code() == ReplyCode::START_MAIL_INPUT
                    && txn.envelope_failure().is_none() =>
            {
                InPlace::Body(txn.id, self.txn_deliveries(txn))
            }
            _ => return false,
        };
        match step {
            InPlace::Nothing => {}
            InPlace::FirstRcpt => {
                if let Some(Op::Mail(txn)) = self.op.take() {
                    self.send_rcpt(&txn, 0);
                    self.op = Some(Op::Mail(txn));
                }
            }
            InPlace::FlushChunks => self.flush_chunks(),
            InPlace::Body(id, deliveries) => self.start_body(id, BodyMode::Data, deliveries),
        }
        true
    }

    /// The adapter finished the TLS handshake.
    pub(super) fn on_tls_established(&mut self) {
        match self.op.take() {
            Some(Op::Setup) => {
                let verb = self.hello_verb(Hello::EhloOrHelo);
                self.send_hello(verb, None);
                self.op = Some(Op::Setup);
            }
            Some(Op::StartTls {
                id,
                accepted: Some(reply),
            }) => {
                self.caps_changing = self.caps_changing.saturating_sub(1);
                self.emit(Event::Reply { id, reply });
                self.advance();
            }
            other => self.op = other,
        }
    }

    fn unexpected(&mut self, expect: Expect, reply: OwnedReply) -> Option<Op> {
        self.fail(Error::Unexpected {
            stage: expect.stage(),
            reply,
        });
        None
    }

    // ------------------------------------------------------------ set-up

    fn on_setup(&mut self, expect: Expect, reply: OwnedReply, now: Instant) -> Option<Op> {
        match expect {
            Expect::Greeting => {
                if !self.accept_greeting(reply) {
                    return None;
                }
                let verb = self.hello_verb(Hello::EhloOrHelo);
                self.send_hello(verb, None);
                Some(Op::Setup)
            }
            Expect::Hello(verb) => match self.hello_result(verb, &reply) {
                HelloResult::Ok => self.after_setup_hello(),
                HelloResult::Fallback => {
                    self.send_hello(HelloVerb::Helo, None);
                    Some(Op::Setup)
                }
                HelloResult::Refused => {
                    self.quit_with(Error::HelloRefused(reply));
                    None
                }
            },
            Expect::StartTls => {
                if reply.code() == ReplyCode::READY {
                    self.security = Security::Upgrading { since: now };
                    self.emit(Event::UpgradeTls);
                    return Some(Op::Setup);
                }
                if self.config.tls == super::TlsMode::Required {
                    self.quit_with(Error::StartTlsRefused(reply));
                    return None;
                }
                self.set_ready();
                None
            }
            _ => self.unexpected(expect, reply),
        }
    }

    fn after_setup_hello(&mut self) -> Option<Op> {
        use super::TlsMode;
        let wants_tls = !self.is_secure()
            && matches!(self.config.tls, TlsMode::Opportunistic | TlsMode::Required);
        if wants_tls {
            if self
                .caps
                .as_ref()
                .is_some_and(|c| c.supports(Extension::StartTls))
            {
                self.send(Command::StartTls, Expect::StartTls);
                return Some(Op::Setup);
            }
            if self.config.tls == TlsMode::Required {
                self.quit_with(Error::TlsUnavailable);
                return None;
            }
        }
        self.set_ready();
        None
    }

    fn set_ready(&mut self) {
        if self.phase == Phase::Opening {
            self.phase = Phase::Ready;
        }
        self.emit(Event::Ready);
    }

    fn on_greeting(&mut self, expect: Expect, reply: OwnedReply) -> Option<Op> {
        if expect != Expect::Greeting {
            return self.unexpected(expect, reply);
        }
        if self.accept_greeting(reply) {
            self.set_ready();
        }
        None
    }

    /// Keeps the greeting; anything but `220` ends the session politely (QUIT, then `Closed`).
    fn accept_greeting(&mut self, reply: OwnedReply) -> bool {
        self.greeting = Some(reply.clone());
        if reply.code() == ReplyCode::READY {
            return true;
        }
        self.quit_with(Error::Rejected {
            stage: Stage::Greeting,
            reply,
        });
        false
    }

    /// Records a hello reply (capabilities, `ehlo_resp`/`helo_resp`) and judges it.
    fn hello_result(&mut self, verb: HelloVerb, reply: &OwnedReply) -> HelloResult {
        let ok = reply.code().is_positive_completion();
        match verb {
            HelloVerb::Ehlo | HelloVerb::Lhlo => {
                self.ehlo_reply = Some(reply.clone());
                self.esmtp = ok;
                self.caps = ok.then(|| Capabilities::from_ehlo(&reply.as_reply()));
            }
            HelloVerb::Helo => {
                self.helo_reply = Some(reply.clone());
                if ok {
                    self.esmtp = false;
                    self.caps = Some(Capabilities::default());
                }
            }
        }
        if ok {
            HelloResult::Ok
        } else if verb == HelloVerb::Ehlo && reply.code().class() == Class::PermanentNegative {
            HelloResult::Fallback
        } else {
            HelloResult::Refused
        }
    }

    fn on_hello(
        &mut self,
        id: RequestId,
        fallback: bool,
        name: Option<Domain>,
        expect: Expect,
        reply: OwnedReply,
    ) -> Option<Op> {
        let Expect::Hello(verb) = expect else {
            return self.unexpected(expect, reply);
        };
        if let HelloResult::Fallback = self.hello_result(verb, &reply) {
            if fallback {
                self.send_hello(HelloVerb::Helo, name.as_ref());
                return Some(Op::Hello {
                    id,
                    fallback: false,
                    name,
                });
            }
        }
        self.caps_changing = self.caps_changing.saturating_sub(1);
        self.emit(Event::Reply { id, reply });
        None
    }

    fn on_starttls(
        &mut self,
        id: RequestId,
        expect: Expect,
        reply: OwnedReply,
        now: Instant,
    ) -> Option<Op> {
        if expect != Expect::StartTls {
            return self.unexpected(expect, reply);
        }
        if reply.code() == ReplyCode::READY {
            self.security = Security::Upgrading { since: now };
            self.emit(Event::UpgradeTls);
            return Some(Op::StartTls {
                id,
                accepted: Some(reply),
            });
        }
        self.caps_changing = self.caps_changing.saturating_sub(1);
        self.emit(Event::Reply { id, reply });
        None
    }

    // ------------------------------------------------------------ AUTH

    /// Starts the next candidate mechanism, or reports failure when none is left.
    fn next_mechanism(&mut self, mut auth: Box<AuthOp>) -> Option<Op> {
        let (name, mut mechanism) = auth.candidates.pop_front()?;
        auth.rounds = 0;
        auth.cancelled = false;
        auth.withheld = None;
        let initial = mechanism.initial_response();
        match initial {
            Some(ir)
                if self.config.initial_response
                    && super::initial_response_fits(&name, ir.expose().len()) =>
            {
                let command = Command::Auth {
                    mechanism: &name,
                    initial_response: Some(ir.expose()),
                };
                self.send(command, Expect::Auth);
            }
            other => {
                auth.withheld = other;
                self.send(
                    Command::Auth {
                        mechanism: &name,
                        initial_response: None,
                    },
                    Expect::Auth,
                );
            }
        }
        auth.current = Some(mechanism);
        Some(Op::Auth(auth))
    }

    fn on_auth(&mut self, mut auth: Box<AuthOp>, expect: Expect, reply: OwnedReply) -> Option<Op> {
        if expect != Expect::Auth {
            return self.unexpected(expect, reply);
        }
        let id = auth.id;
        match reply.code().class() {
            // RFC 4954 §6: 235 is success; any other 2xx is not a completed authentication.
            Class::PositiveCompletion if reply.code() == ReplyCode::AUTH_OK => {
                // A mechanism that authenticates the server (SCRAM) refuses a success the
                // server has not proved; the server now takes the session as authenticated,
                // so the session ends.
                if let Some(Err(e)) = auth.current.as_mut().map(|m| m.finish()) {
                    self.fail(Error::Sasl(e));
                    return None;
                }
                self.emit(Event::Authenticated { id, reply });
                None
            }
            Class::PositiveIntermediate => {
                auth.rounds += 1;
                if auth.cancelled {
                    self.fail(Error::AuthLoop(reply));
                    return None;
                }
                if auth.rounds > self.config.limits.auth_rounds {
                    self.send(Command::AuthCancel, Expect::Auth);
                    auth.cancelled = true;
                    return Some(Op::Auth(auth));
                }
                if let Some(ir) = auth.withheld.take() {
                    self.send(Command::AuthResponse(ir.expose()), Expect::Auth);
                    return Some(Op::Auth(auth));
                }
                let text = reply.as_reply().lines().next().unwrap_or_default();
                let challenge = match sasl::decode_challenge(text.trim_ascii()) {
                    Ok(challenge) => challenge,
                    Err(e) => {
                        self.fail(Error::Sasl(e));
                        return None;
                    }
                };
                let answer = auth.current.as_mut().map(|m| m.respond(&challenge));
                match answer {
                    Some(Ok(response)) => {
                        self.send(Command::AuthResponse(response.expose()), Expect::Auth);
                    }
                    // The server failed to prove that it knows the password: it is not the
                    // server the credentials are for, so no other mechanism is tried on it.
                    Some(Err(e @ sasl::SaslError::ServerSignatureMismatch)) => {
                        self.fail(Error::Sasl(e));
                        return None;
                    }
                    _ => {
                        self.send(Command::AuthCancel, Expect::Auth);
                        auth.cancelled = true;
                    }
                }
                Some(Op::Auth(auth))
            }
            Class::PositiveCompletion | Class::TransientNegative | Class::PermanentNegative => {
                if auth.candidates.is_empty() {
                    self.emit(Event::AuthFailed { id, reply });
                    return None;
                }
                self.next_mechanism(auth)
            }
        }
    }

    // ------------------------------------------------------------ mail transactions

    fn on_mail(&mut self, mut txn: Box<Txn>, expect: Expect, reply: OwnedReply) -> Option<Op> {
        if expect == Expect::CleanupRset {
            return None;
        }
        if txn.failed {
            // Read and drop what is left of a failed transaction, then RSET.
            return self.cleanup_when_drained(txn);
        }
        let positive = reply.code().is_positive_completion();
        match expect {
            Expect::Mail => {
                if !positive {
                    txn.mail_refused = Some(reply);
                    if !txn.pipelined {
                        return self.mail_failed(txn, None);
                    }
                } else if !txn.pipelined {
                    self.send_rcpt(&txn, 0);
                }
                Some(Op::Mail(txn))
            }
            Expect::Rcpt(i) => {
                let kept = txn.keep(reply);
                if let Some(report) = txn.reports.get_mut(i) {
                    report.rcpt = Some(kept);
                }
                let last = i + 1 >= txn.rcpts.len();
                if !txn.pipelined && !last {
                    self.send_rcpt(&txn, i + 1);
                    return Some(Op::Mail(txn));
                }
                if last && (!txn.pipelined || txn.chunking) {
                    return self.envelope_done(txn);
                }
                Some(Op::Mail(txn))
            }
            Expect::Data => {
                let failure = txn.envelope_failure();
                if reply.code() == ReplyCode::START_MAIL_INPUT {
                    if let Some(outcome) = failure {
                        // A pipelined DATA got 354 although nobody will take the mail: end
                        // the data at once with a lone ".", never send the body.
                        self.send_bytes(b".\r\n", Expect::DataEnd);
                        return self.mail_failed(txn, Some(outcome));
                    }
                    let deliveries = self.txn_deliveries(&txn);
                    self.start_body(txn.id, BodyMode::Data, deliveries);
                    return Some(Op::Mail(txn));
                }
                let outcome = failure.unwrap_or(MailOutcome::DataRefused(reply));
                self.mail_failed(txn, Some(outcome))
            }
            Expect::Bdat => {
                if positive {
                    self.flush_chunks();
                    return Some(Op::Mail(txn));
                }
                self.body = None;
                self.mail_failed(txn, Some(MailOutcome::DataRefused(reply)))
            }
            Expect::DataEnd | Expect::Delivery(_) => {
                let last = self.pending.is_empty();
                match final_outcome(&mut txn, expect, reply, last) {
                    None => Some(Op::Mail(txn)),
                    Some(outcome @ MailOutcome::Accepted(_)) => {
                        self.emit(Event::MailDone(txn.report(outcome)));
                        None
                    }
                    Some(outcome) => {
                        self.body = None;
                        self.mail_failed(txn, Some(outcome))
                    }
                }
            }
            _ => self.unexpected(expect, reply),
        }
    }

    fn send_rcpt(&mut self, txn: &Txn, i: usize) {
        if let Some(r) = txn.rcpts.get(i) {
            self.send(
                Command::Rcpt {
                    to: &r.mailbox,
                    params: &r.params,
                },
                Expect::Rcpt(i),
            );
        }
    }

    /// Every envelope reply is in and no DATA is in flight.
    fn envelope_done(&mut self, txn: Box<Txn>) -> Option<Op> {
        if let Some(outcome) = txn.envelope_failure() {
            return self.mail_failed(txn, Some(outcome));
        }
        if txn.chunking {
            let deliveries = self.txn_deliveries(&txn);
            let mode = if txn.binary {
                BodyMode::Binary
            } else {
                BodyMode::Bdat
            };
            self.start_body(txn.id, mode, deliveries);
        } else {
            self.send(Command::Data, Expect::Data);
        }
        Some(Op::Mail(txn))
    }

    /// Reports the failure (MAIL refused when `outcome` is `None`), then RSETs once every
    /// outstanding reply of the transaction has been read.
    fn mail_failed(&mut self, mut txn: Box<Txn>, outcome: Option<MailOutcome>) -> Option<Op> {
        let outcome = outcome
            .or_else(|| txn.mail_refused.clone().map(MailOutcome::SenderRefused))
            .unwrap_or(MailOutcome::RecipientsRefused);
        let report = txn.report(outcome);
        self.emit(Event::MailDone(report));
        txn.failed = true;
        self.cleanup_when_drained(txn)
    }

    fn cleanup_when_drained(&mut self, txn: Box<Txn>) -> Option<Op> {
        if self.pending.is_empty() {
            self.body = None;
            self.send(Command::Rset, Expect::CleanupRset);
        }
        Some(Op::Mail(txn))
    }

    /// LMTP: the recipients that will each get a reply after the data.
    fn txn_deliveries(&self, txn: &Txn) -> Vec<usize> {
        if self.config.lmtp {
            txn.accepted().collect()
        } else {
            Vec::new()
        }
    }

    fn low_level_deliveries(&self) -> Vec<usize> {
        if self.config.lmtp {
            (0..self.low_level_rcpts).collect()
        } else {
            Vec::new()
        }
    }

    // ------------------------------------------------------------ low-level data, single commands

    fn on_data(&mut self, mut data: DataOp, expect: Expect, reply: OwnedReply) -> Option<Op> {
        let id = data.id;
        let positive = reply.code().is_positive_completion();
        match expect {
            Expect::Data => {
                if reply.code() == ReplyCode::START_MAIL_INPUT {
                    let deliveries = self.low_level_deliveries();
                    self.start_body(id, BodyMode::Data, deliveries);
                    return Some(Op::Data(data));
                }
                self.emit(Event::Reply { id, reply });
                None
            }
            Expect::Bdat => {
                if positive {
                    self.flush_chunks();
                } else if !data.failed {
                    // A refused chunk ends the request; the replies to the chunks already
                    // pipelined behind it are read and dropped.
                    self.emit(Event::Reply { id, reply });
                    data.failed = true;
                    self.body = None;
                }
                self.data_continues(data)
            }
            Expect::DataEnd | Expect::Delivery(_) => {
                if !data.failed {
                    data.replies.push(reply);
                }
                self.data_continues(data)
            }
            _ => self.unexpected(expect, reply),
        }
    }

    /// After a reply of a low-level DATA/BDAT: the request goes on until every reply is read,
    /// then ends with the replies to the end of data (unless a refusal already ended it).
    fn data_continues(&mut self, mut data: DataOp) -> Option<Op> {
        if !(self.pending.is_empty() && self.body.is_none()) {
            return Some(Op::Data(data));
        }
        self.low_level_rcpts = 0;
        if !data.failed {
            let replies = std::mem::take(&mut data.replies);
            self.emit(Event::DataDone {
                id: data.id,
                replies,
            });
        }
        None
    }

    fn on_single(&mut self, id: RequestId, expect: Expect, reply: OwnedReply) -> Option<Op> {
        let Expect::Single(stage) = expect else {
            return self.unexpected(expect, reply);
        };
        if reply.code().is_positive_completion() {
            match stage {
                Stage::Mail | Stage::Rset => self.low_level_rcpts = 0,
                Stage::Rcpt => self.low_level_rcpts += 1,
                _ => {}
            }
        }
        self.emit(Event::Reply { id, reply });
        None
    }
}
