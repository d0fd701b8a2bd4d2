//! smtplib's calls as sans-IO values: each [`Operation`] knows what it queues on the
//! [`Client`], which events complete it, where its body comes from and what it returns.
//!
//! A [`Pump`](super::Pump) runs one operation to completion over a transport; the adapters'
//! methods are each one operation (see the table in the [`session`](super) docs), and a custom
//! event loop drives exactly the same values.
//!
//! ```
//! use smtp_proto::session::op::{Command, Operation, Request};
//! use smtp_proto::client::Setup;
//! use smtp_proto::{Client, Config, Domain};
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let mut config = Config::new(Domain::try_from("client.example")?);
//! config.setup = Setup::Manual; // no automatic EHLO: this example says only NOOP
//! let mut client = Client::new(config, now);
//! client.handle_input(b"220 mx.example ESMTP\r\n", now);
//! while client.poll_event().is_some() {}
//!
//! let mut noop = Command::new(Request::Noop);
//! noop.start(&mut client)?;
//! assert_eq!(client.transmit(now).as_deref(), Some(&b"NOOP\r\n"[..]));
//! client.handle_written(6, now);
//! client.handle_input(b"250 2.0.0 ok\r\n", now);
//! let mut result = None;
//! while let Some(event) = client.poll_event() {
//!     result = result.or(noop.event(&mut client, Some(event)));
//! }
//! assert_eq!(result.transpose()?.map(|r| r.code().get()), Some(250));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod memory;

pub use memory::{InMemory, MemoryBody};

use super::{envelope, sender_text, sendmail_result, Error, Refused, Result};
use crate::client::{Client, Envelope, Event, Hello, MailReport, RequestId, SendQueue};
use crate::command::{Argument, MailParams, Mailbox, RcptParams, ReversePath};
use crate::sasl::Mechanism;
use crate::{Domain, OwnedReply, ReplyCode, UsageError};

/// The body type of operations that send none: any reader type works (an empty slice reads
/// as `std::io::Read` and as `futures_io::AsyncRead`); it is never asked for.
pub type NoBody = &'static [u8];

/// One smtplib-level call, run by a [`Pump`](super::Pump) (or your own loop) to completion.
///
/// The loop calls [`start`](Self::start) once, then hands every event of the [`Client`] to
/// [`event`](Self::event) except [`Event::UpgradeTls`] and [`Event::Closed`] with an error
/// (the loop handles those), and `None` each time the event queue is empty. The first
/// `Some(result)` ends the call. A [`Event::Closed`] without error is handed over too; an
/// operation that does not complete on it ends with [`Error::NotConnected`].
pub trait Operation {
    /// What the call returns.
    type Output;
    /// The reader bodies are read from ([`NoBody`] for calls without one).
    type Body: ?Sized;

    /// Queues the call's first request(s). A refusal ([`UsageError`], invalid input) leaves
    /// the session as it was.
    fn start(&mut self, client: &mut Client) -> Result<()>;

    /// Sees an event (or `None`: the queue is empty); a result ends the call.
    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<Self::Output>>;

    /// The source of request `id`'s body, after [`Event::BodyWanted`]; `None` sends it empty.
    fn body(&mut self, _id: RequestId) -> Option<&mut Self::Body> {
        None
    }

    /// Request `id`'s body ended: its terminator is queued (the next request may follow).
    fn body_ended(&mut self, _client: &mut Client, _id: RequestId) {}

    /// Request `id`'s body when the operation holds it in memory, consumed from the front
    /// ([`MemoryBody::rest`]; nothing left: the body has ended). The pump then sends it itself,
    /// without a [`Step::Body`](super::Step::Body): what goes on the wire as it is is written
    /// from where it is ([`BodyWriter::lend`](crate::client::BodyWriter::lend)), the rest
    /// encoded, and none of it copied into a buffer of the adapter's first. `None` (the
    /// default): the body is read from [`body`](Self::body)'s source. See [`InMemory`].
    fn body_in_memory(&mut self, _id: RequestId) -> Option<&dyn MemoryBody> {
        None
    }

    /// `n` more bytes of request `id`'s body held in memory were consumed (written, or taken
    /// by the encoder): [`body_in_memory`](Self::body_in_memory) goes on behind them.
    fn body_advance(&mut self, _id: RequestId, _n: usize) {}
}

/// A one-line command of smtplib's, answered by one reply.
#[derive(Debug)]
#[non_exhaustive]
pub enum Request {
    /// `HELO`/`EHLO`/`LHLO`, or EHLO then HELO, optionally with a name of its own.
    Hello(Hello, Option<Domain>),
    /// `VRFY`.
    Verify(Argument),
    /// `EXPN`.
    Expand(Argument),
    /// `HELP [topic]`.
    Help(Option<Argument>),
    /// `NOOP`.
    Noop,
    /// `RSET`.
    Rset,
    /// A raw command line (smtplib's `docmd`).
    Raw(Argument),
    /// `MAIL FROM`.
    Mail(ReversePath, MailParams),
    /// `RCPT TO`.
    Rcpt(Mailbox, RcptParams),
    /// `STARTTLS` (the handshake follows a `220`).
    StartTls,
}

impl Request {
    fn queue(self, client: &mut Client) -> std::result::Result<RequestId, UsageError> {
        match self {
            Self::Hello(kind, None) => client.hello(kind),
            Self::Hello(kind, Some(name)) => client.hello_as(kind, name),
            Self::Verify(arg) => client.verify(&arg),
            Self::Expand(arg) => client.expn(&arg),
            Self::Help(arg) => client.help(arg.as_ref()),
            Self::Noop => client.noop(None),
            Self::Rset => client.rset(),
            Self::Raw(line) => client.raw(&line),
            Self::Mail(from, params) => client.mail(from, params),
            Self::Rcpt(to, params) => client.rcpt(to, params),
            Self::StartTls => client.starttls(),
        }
    }
}

/// A [`Request`] and its reply, whatever its code (smtplib's `docmd`-style calls).
#[derive(Debug)]
pub struct Command {
    request: Option<Request>,
    id: Option<RequestId>,
}

impl Command {
    /// The call that sends `request`.
    pub fn new(request: Request) -> Self {
        Self {
            request: Some(request),
            id: None,
        }
    }

    /// smtplib's `verify(address)`.
    pub fn verify(address: &str) -> Result<Self> {
        Ok(Self::new(Request::Verify(Argument::try_from(address)?)))
    }

    /// smtplib's `expn(list)`.
    pub fn expn(list: &str) -> Result<Self> {
        Ok(Self::new(Request::Expand(Argument::try_from(list)?)))
    }

    /// smtplib's `help(topic)`.
    pub fn help(topic: Option<&str>) -> Result<Self> {
        let topic = topic.map(Argument::try_from).transpose()?;
        Ok(Self::new(Request::Help(topic)))
    }

    /// smtplib's `docmd(line)`: one raw line, validated (no CR, LF or other control).
    pub fn raw(line: &str) -> Result<Self> {
        Ok(Self::new(Request::Raw(Argument::try_from(line)?)))
    }

    /// smtplib's `mail(from, options)`.
    pub fn mail(from: &str, params: MailParams) -> Result<Self> {
        Ok(Self::new(Request::Mail(
            ReversePath::try_from(from)?,
            params,
        )))
    }

    /// smtplib's `rcpt(to, options)`.
    pub fn rcpt(to: &str, params: RcptParams) -> Result<Self> {
        Ok(Self::new(Request::Rcpt(Mailbox::try_from(to)?, params)))
    }
}

impl Operation for Command {
    type Output = OwnedReply;
    type Body = NoBody;

    fn start(&mut self, client: &mut Client) -> Result<()> {
        if let Some(request) = self.request.take() {
            self.id = Some(request.queue(client)?);
        }
        Ok(())
    }

    fn event(&mut self, _: &mut Client, event: Option<Event>) -> Option<Result<OwnedReply>> {
        match event? {
            Event::Reply { id, reply } if Some(id) == self.id => Some(Ok(reply)),
            _ => None,
        }
    }
}

/// Waits for the greeting (and the set-up the settings ask for): the call that opens a session.
#[derive(Debug, Default)]
pub struct Greeting;

impl Operation for Greeting {
    type Output = OwnedReply;
    type Body = NoBody;

    fn start(&mut self, _: &mut Client) -> Result<()> {
        Ok(())
    }

    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<OwnedReply>> {
        match event? {
            Event::Ready => Some(client.greeting().cloned().ok_or(Error::NotConnected)),
            _ => None,
        }
    }
}

/// smtplib's `starttls()`: `STARTTLS`, then the handshake on `220` (the loop does it on
/// [`Event::UpgradeTls`]); any other reply is [`Error::StartTlsRefused`].
#[derive(Debug)]
pub struct StartTls(Command);

impl Default for StartTls {
    fn default() -> Self {
        Self(Command::new(Request::StartTls))
    }
}

impl Operation for StartTls {
    type Output = OwnedReply;
    type Body = NoBody;

    fn start(&mut self, client: &mut Client) -> Result<()> {
        self.0.start(client)
    }

    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<OwnedReply>> {
        Some(self.0.event(client, event)?.and_then(|reply| {
            if reply.code() == ReplyCode::READY {
                Ok(reply)
            } else {
                Err(Error::StartTlsRefused(reply))
            }
        }))
    }
}

/// Says hello first unless a hello succeeded already (smtplib's `ehlo_or_helo_if_needed`:
/// EHLO, then HELO; both refused is [`Error::HeloRefused`]), then runs `O`. login, auth,
/// starttls and the sending calls are wrapped in it.
#[derive(Debug)]
pub struct AfterHello<O> {
    inner: O,
    hello: Option<RequestId>,
}

impl<O: Operation> AfterHello<O> {
    /// `inner`, after a hello if one is needed.
    pub fn new(inner: O) -> Self {
        Self { inner, hello: None }
    }
}

impl<O: Operation> Operation for AfterHello<O> {
    type Output = O::Output;
    type Body = O::Body;

    fn start(&mut self, client: &mut Client) -> Result<()> {
        if client.said_hello() {
            return self.inner.start(client);
        }
        self.hello = Some(client.hello(Hello::EhloOrHelo)?);
        Ok(())
    }

    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<O::Output>> {
        let Some(hello) = self.hello else {
            return self.inner.event(client, event);
        };
        match event? {
            Event::Reply { id, reply } if id == hello => {
                if !reply.code().is_positive_completion() {
                    return Some(Err(Error::HeloRefused(reply)));
                }
                self.hello = None;
                self.inner.start(client).err().map(Err)
            }
            _ => None,
        }
    }

    fn body(&mut self, id: RequestId) -> Option<&mut O::Body> {
        self.inner.body(id)
    }

    fn body_ended(&mut self, client: &mut Client, id: RequestId) {
        self.inner.body_ended(client, id);
    }

    fn body_in_memory(&mut self, id: RequestId) -> Option<&dyn MemoryBody> {
        self.inner.body_in_memory(id)
    }

    fn body_advance(&mut self, id: RequestId, n: usize) {
        self.inner.body_advance(id, n);
    }
}

/// Nothing: completes at once. `AfterHello<Nothing>` is smtplib's `ehlo_or_helo_if_needed()`.
#[derive(Debug, Default)]
pub struct Nothing;

impl Operation for Nothing {
    type Output = ();
    type Body = NoBody;

    fn start(&mut self, _: &mut Client) -> Result<()> {
        Ok(())
    }

    fn event(&mut self, _: &mut Client, _: Option<Event>) -> Option<Result<()>> {
        Some(Ok(()))
    }
}

/// smtplib's `ehlo_or_helo_if_needed()`.
pub fn hello_if_needed() -> AfterHello<Nothing> {
    AfterHello::new(Nothing)
}

/// How [`Authenticate`] proves who the client is.
enum Credentials {
    /// smtplib's `login`: the best mechanism offered for a user name and password.
    Login { user: String, password: String },
    /// smtplib's `auth`: exactly this mechanism.
    Mechanism(Box<dyn Mechanism>),
}

/// smtplib's `login()` and `auth()`: AUTH until the server says yes (the reply) or no
/// ([`Error::AuthFailed`]).
pub struct Authenticate {
    credentials: Option<Credentials>,
    id: Option<RequestId>,
}

impl std::fmt::Debug for Authenticate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticate")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Authenticate {
    /// smtplib's `login(user, password)`: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN,
    /// the first of those the server offers.
    pub fn login(user: &str, password: &str) -> Self {
        Self::with(Credentials::Login {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }

    /// smtplib's `auth(mechanism, authobject)`: exactly `mechanism`, which must be offered.
    pub fn mechanism(mechanism: Box<dyn Mechanism>) -> Self {
        Self::with(Credentials::Mechanism(mechanism))
    }

    /// smtplib's `auth("PLAIN", …)`: the mechanism named `name` (case-insensitive: `PLAIN`,
    /// `LOGIN`, `CRAM-MD5`, `SCRAM-SHA-256`, `SCRAM-SHA-1`, as this build has them; `XOAUTH2`,
    /// `OAUTHBEARER` with a token for password; `EXTERNAL`) for a user name and password (see
    /// [`named_mechanism`](crate::sasl::named_mechanism)). An unknown name is [`UsageError::NoSuitableMechanism`].
    pub fn by_name(name: &str, user: &str, password: &str) -> Result<Self> {
        crate::sasl::named_mechanism(name, user, password)
            .map(Self::mechanism)
            .ok_or(Error::Usage(UsageError::NoSuitableMechanism))
    }

    fn with(credentials: Credentials) -> Self {
        Self {
            credentials: Some(credentials),
            id: None,
        }
    }
}

impl Operation for Authenticate {
    type Output = OwnedReply;
    type Body = NoBody;

    fn start(&mut self, client: &mut Client) -> Result<()> {
        let id = match self.credentials.take() {
            Some(Credentials::Login { user, password }) => client.login(&user, &password)?,
            Some(Credentials::Mechanism(mechanism)) => client.authenticate(mechanism)?,
            None => return Ok(()),
        };
        self.id = Some(id);
        Ok(())
    }

    fn event(&mut self, _: &mut Client, event: Option<Event>) -> Option<Result<OwnedReply>> {
        match event? {
            Event::Authenticated { id, reply } if Some(id) == self.id => Some(Ok(reply)),
            Event::AuthFailed { id, reply } if Some(id) == self.id => {
                Some(Err(Error::AuthFailed(reply)))
            }
            _ => None,
        }
    }
}

/// smtplib's `data(msg)`: `DATA`, the body streamed from `S`, then every reply to the end of
/// data (one for SMTP, one per accepted recipient for LMTP). `DATA` not answered `354` is
/// [`Error::DataRefused`].
#[derive(Debug)]
pub struct Data<S> {
    body: S,
    id: Option<RequestId>,
}

impl<S> Data<S> {
    /// `DATA` with the message read from `body`.
    pub fn new(body: S) -> Self {
        Self { body, id: None }
    }
}

impl<S> Operation for Data<S> {
    type Output = Vec<OwnedReply>;
    type Body = S;

    fn start(&mut self, client: &mut Client) -> Result<()> {
        self.id = Some(client.data()?);
        Ok(())
    }

    fn event(&mut self, _: &mut Client, event: Option<Event>) -> Option<Result<Vec<OwnedReply>>> {
        match event? {
            Event::Reply { id, reply } if Some(id) == self.id => Some(Err(Error::DataRefused {
                reply,
                refused: Vec::new(),
            })),
            Event::DataDone { id, replies } if Some(id) == self.id => Some(Ok(replies)),
            _ => None,
        }
    }

    fn body(&mut self, id: RequestId) -> Option<&mut S> {
        (Some(id) == self.id).then_some(&mut self.body)
    }
}

/// A whole mail transaction (MAIL, every RCPT, DATA or BDAT, the body from `S`), every reply
/// in the [`MailReport`]: refusals are not errors here.
#[derive(Debug)]
pub struct SendMail<S> {
    envelope: Option<Envelope>,
    body: S,
    id: Option<RequestId>,
}

impl<S> SendMail<S> {
    /// The transaction for `envelope`, the message read from `body`.
    pub fn new(envelope: Envelope, body: S) -> Self {
        Self {
            envelope: Some(envelope),
            body,
            id: None,
        }
    }
}

impl<S> Operation for SendMail<S> {
    type Output = MailReport;
    type Body = S;

    fn start(&mut self, client: &mut Client) -> Result<()> {
        if let Some(envelope) = self.envelope.take() {
            self.id = Some(client.send_mail(envelope)?);
        }
        Ok(())
    }

    fn event(&mut self, _: &mut Client, event: Option<Event>) -> Option<Result<MailReport>> {
        match event? {
            Event::MailDone(report) if Some(report.id) == self.id => Some(Ok(report)),
            _ => None,
        }
    }

    fn body(&mut self, id: RequestId) -> Option<&mut S> {
        (Some(id) == self.id).then_some(&mut self.body)
    }
}

/// smtplib's `sendmail()`: a [`SendMail`] whose report becomes smtplib's result — the
/// refused recipients, or [`Error::SenderRefused`], [`Error::RecipientsRefused`],
/// [`Error::DataRefused`].
#[derive(Debug)]
pub struct Sendmail<S> {
    mail: SendMail<S>,
    sender: String,
}

impl<S> Sendmail<S> {
    /// `message` from `from` to every recipient of `to`.
    pub fn new(
        from: &str,
        to: impl IntoIterator<Item = impl AsRef<str>>,
        message: S,
    ) -> Result<Self> {
        Ok(Self::named(envelope(from, to)?, message, from.to_owned()))
    }

    /// With a full [`Envelope`] (parameters, content, size): the sender is named without angle
    /// brackets in [`Error::SenderRefused`], `<>` for the null path.
    pub fn with_envelope(envelope: Envelope, message: S) -> Self {
        let sender = sender_text(&envelope.from);
        Self::named(envelope, message, sender)
    }

    fn named(envelope: Envelope, message: S, sender: String) -> Self {
        Self {
            mail: SendMail::new(envelope, message),
            sender,
        }
    }
}

impl<'m> Sendmail<&'m [u8]> {
    /// A message in memory: scanned (one pass at memchr speed) and declared — `SIZE=` when the
    /// server offers SIZE, `BODY=8BITMIME` for 8-bit bytes — so that what the server cannot
    /// take is refused before anything is sent (see [`Envelope::declare`]).
    pub fn bytes(
        from: &str,
        to: impl IntoIterator<Item = impl AsRef<str>>,
        message: &'m [u8],
    ) -> Result<Self> {
        let mut envelope = envelope(from, to)?;
        envelope.declare(&crate::body::MessageShape::of(message));
        Ok(Self::named(envelope, message, from.to_owned()))
    }
}

impl<S> Operation for Sendmail<S> {
    type Output = Refused;
    type Body = S;

    fn start(&mut self, client: &mut Client) -> Result<()> {
        self.mail.start(client)
    }

    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<Refused>> {
        let report = self.mail.event(client, event)?;
        Some(report.and_then(|r| sendmail_result(r, std::mem::take(&mut self.sender))))
    }

    fn body(&mut self, id: RequestId) -> Option<&mut S> {
        self.mail.body(id)
    }
}

/// smtplib's `send_message()`: the envelope taken from the message's header block (read by
/// the caller with [`HeaderBlock::feed`](crate::message::HeaderBlock::feed)), the body (header
/// block rewritten, then the rest) from `S`. SMTPUTF8 (with `BODY=8BITMIME` when offered) is
/// used when an address needs it; 8-bit header bytes declare `BODY=8BITMIME` too. The result is
/// the envelope it derived and the transaction's report ([`SentMessage::into_refused`] turns it
/// into smtplib's result).
#[cfg(feature = "message")]
#[derive(Debug)]
pub struct SendMessage<S> {
    from: String,
    to: Vec<String>,
    eight_bit_head: bool,
    shape: Option<crate::body::MessageShape>,
    body: Option<S>,
    sent: Option<(Envelope, SendMail<S>)>,
}

/// What `SendMessage` did (feature `message`): the envelope taken from the headers, and the
/// report of the transaction.
#[derive(Clone, Debug)]
pub struct SentMessage {
    /// The envelope the message went with.
    pub envelope: Envelope,
    /// Every reply of the transaction; refusals are here, not errors.
    pub report: MailReport,
    /// The sender as given (override or header), as smtplib's error names it.
    sender: String,
}

impl SentMessage {
    /// smtplib's `send_message` result: the refused recipients when the message was
    /// accepted, else [`Error::SenderRefused`], [`Error::RecipientsRefused`] or
    /// [`Error::DataRefused`].
    pub fn into_refused(self) -> Result<Refused> {
        sendmail_result(self.report, self.sender)
    }
}

#[cfg(feature = "message")]
impl<S> SendMessage<S> {
    /// The message whose header block said `headers`, its whole text (rewritten header block
    /// first) read from `body`. `from` and `to` override the headers' sender and recipients.
    pub fn new(
        headers: &crate::message::MessageHeaders,
        from: Option<&str>,
        to: Option<Vec<String>>,
        body: S,
    ) -> Result<Self> {
        let Some(from) = from.map(str::to_owned).or_else(|| headers.from.clone()) else {
            return Err(Error::Message(
                "no Sender or From header to take the sender from".into(),
            ));
        };
        let to = match to {
            Some(to) => to,
            None if headers.to.is_empty() => {
                return Err(Error::Message(
                    "no To, Bcc or Cc header to take the recipients from".into(),
                ))
            }
            None => headers.to.clone(),
        };
        Ok(Self {
            from,
            to,
            eight_bit_head: headers.eight_bit_head,
            shape: None,
            body: Some(body),
            sent: None,
        })
    }

    /// Declares the shape of the whole text `S` gives (rewritten header block included), as
    /// [`Envelope::declare`] does: for a message in memory, scanned before it is sent.
    pub fn declare(mut self, shape: crate::body::MessageShape) -> Self {
        self.shape = Some(shape);
        self
    }
}

#[cfg(feature = "message")]
impl<S> Operation for SendMessage<S> {
    type Output = SentMessage;
    type Body = S;

    fn start(&mut self, client: &mut Client) -> Result<()> {
        let Some(body) = self.body.take() else {
            return Ok(());
        };
        let mut envelope = envelope(&self.from, &self.to)?;
        let eight_bit_mime = client
            .capabilities()
            .is_some_and(|c| c.supports(crate::ehlo::Extension::EightBitMime));
        if self.eight_bit_head || (envelope.needs_smtputf8() && eight_bit_mime) {
            envelope.content = crate::client::Content::EightBit;
        }
        if let Some(shape) = &self.shape {
            envelope.declare(shape);
        }
        let (_, send) = self
            .sent
            .insert((envelope.clone(), SendMail::new(envelope, body)));
        send.start(client)
    }

    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<SentMessage>> {
        let (envelope, send) = self.sent.as_mut()?;
        let report = send.event(client, event)?;
        Some(report.map(|report| SentMessage {
            envelope: envelope.clone(),
            report,
            sender: self.from.clone(),
        }))
    }

    fn body(&mut self, id: RequestId) -> Option<&mut S> {
        self.sent.as_mut()?.1.body(id)
    }
}

/// Several transactions on one connection, one message ahead: the core's [`SendQueue`]
/// decides when the next message is queued (right behind the previous end of data, so that
/// with PIPELINING a transaction costs no extra round trip); each report goes to `F` as its
/// transaction completes. A message the core refuses to queue (a [`UsageError`]) ends the
/// batch once those before it have completed, with that error.
pub struct SendAll<I, R, F> {
    messages: I,
    queue: SendQueue<R>,
    on_report: F,
}

impl<I, R, F> std::fmt::Debug for SendAll<I, R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendAll")
            .field("in_flight", &self.queue.in_flight())
            .finish_non_exhaustive()
    }
}

impl<I, R, F> SendAll<I, R, F>
where
    I: Iterator<Item = (Envelope, R)>,
    F: FnMut(MailReport),
{
    /// The batch of `messages`, each report handed to `on_report`.
    pub fn new(messages: impl IntoIterator<IntoIter = I>, on_report: F) -> Self {
        Self {
            messages: messages.into_iter(),
            queue: SendQueue::new(),
            on_report,
        }
    }
}

impl<I, R, F> Operation for SendAll<I, R, F>
where
    I: Iterator<Item = (Envelope, R)>,
    F: FnMut(MailReport),
{
    type Output = ();
    type Body = R;

    fn start(&mut self, client: &mut Client) -> Result<()> {
        self.queue.top_up(client, &mut self.messages);
        Ok(())
    }

    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<()>> {
        match event {
            Some(Event::MailDone(report)) => {
                if self.queue.take_report(&report) {
                    (self.on_report)(report);
                    self.queue.top_up(client, &mut self.messages);
                }
                None
            }
            None if self.queue.is_done() => {
                Some(self.queue.take_refusal().map_or(Ok(()), |e| Err(e.into())))
            }
            _ => None,
        }
    }

    fn body(&mut self, id: RequestId) -> Option<&mut R> {
        self.queue.body_mut(id)
    }

    fn body_ended(&mut self, client: &mut Client, id: RequestId) {
        self.queue.body_finished(id);
        self.queue.top_up(client, &mut self.messages);
    }
}

/// smtplib's `quit()`: QUIT behind anything queued; completes when the session has closed,
/// with the reply to QUIT (`None`: the server closed without one).
#[derive(Debug, Default)]
pub struct Quit;

impl Operation for Quit {
    type Output = Option<OwnedReply>;
    type Body = NoBody;

    fn start(&mut self, client: &mut Client) -> Result<()> {
        client.quit();
        Ok(())
    }

    fn event(
        &mut self,
        client: &mut Client,
        event: Option<Event>,
    ) -> Option<Result<Option<OwnedReply>>> {
        match event? {
            Event::Closed(None) => Some(Ok(client.quit_reply().cloned())),
            _ => None,
        }
    }
}
