//! [`GenericSmtpClient`]: the smtplib-parity async client, and its [`GenericBuilder`].

use std::fmt;
use std::io;
use std::marker::PhantomData;
#[cfg(unix)]
use std::path::Path;
use std::time::Instant;

use async_native_tls::TlsConnector;
use futures_lite::io::{AsyncReadExt as _, Empty};
use futures_lite::AsyncRead;
use smtp_proto::client::{
    Client, Content, Envelope, Event, Hello, MailReport, RequestId, TlsMode, TranscriptEntry,
};
use smtp_proto::command::{Argument, MailParams, Mailbox, RcptParams, ReversePath};
use smtp_proto::ehlo::Extension;
use smtp_proto::sasl::Mechanism;
use smtp_proto::{Domain, OwnedReply, ReplyCode, UsageError};

use crate::connect::{self, Opened};
use crate::driver::{Batch, Context, Job, Session, Single, Transport};
use smtp_proto::session::{
    default_hello_name, envelope, pem_certificates, sender_text, sendmail_result, Error, Peer,
    Refused, Result, Settings, TranscriptSink,
};

use crate::{fqdn, message, AsyncIo, Runtime};

/// Settings for a [`GenericSmtpClient`], then [`connect`](Self::connect) (or
/// [`build`](Self::build) an unconnected client, as smtplib's `SMTP()` without a host).
///
/// The same settings, with the same names and defaults, as `smtp_blocking::Builder`: SMTP, no
/// TLS unless asked, certificates verified when TLS is used, greeting only on connect, RFC 5321
/// timeouts, PIPELINING and CHUNKING when offered, bare CR/LF in bodies turned into CRLF.
pub struct GenericBuilder<R: Runtime> {
    settings: Settings,
    connector: Option<TlsConnector>,
    sink: Option<TranscriptSink>,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> fmt::Debug for GenericBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericBuilder")
            .field("runtime", &std::any::type_name::<R>())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Default for GenericBuilder<R> {
    fn default() -> Self {
        Self {
            settings: Settings::default(),
            connector: None,
            sink: None,
            runtime: PhantomData,
        }
    }
}

impl<R: Runtime> GenericBuilder<R> {
    smtp_proto::settings_setters!();

    /// The TLS connector for implicit TLS and STARTTLS (smtplib's `context`): an
    /// [`async_native_tls::TlsConnector`], or a `native_tls::TlsConnectorBuilder`. Default: the
    /// system's roots, with those of [`add_root_certificate_pem`](Self::add_root_certificate_pem)
    /// and the identity of [`client_identity_pem`](Self::client_identity_pem) (both ignored when
    /// a connector is given here), the certificate chain and the host name verified.
    pub fn tls_connector(self, connector: impl Into<TlsConnector>) -> Self {
        Self {
            connector: Some(connector.into()),
            ..self
        }
    }

    /// Where transcript lines go from the start (see
    /// [`GenericSmtpClient::set_transcript_sink`]).
    pub fn transcript_sink(self, sink: impl FnMut(&TranscriptEntry) + Send + 'static) -> Self {
        Self {
            sink: Some(Box::new(sink)),
            ..self
        }
    }

    /// Print the transcript to standard error from the start (smtplib's `set_debuglevel(1)`).
    pub fn transcript(self, on: bool) -> Self {
        Self {
            sink: on.then(stderr_sink),
            ..self
        }
    }

    /// An unconnected client; call [`GenericSmtpClient::connect`].
    pub fn build(mut self) -> GenericSmtpClient<R> {
        GenericSmtpClient {
            sink: self.sink.take(),
            opts: self,
            session: None,
            in_flight: false,
            body_buf: Vec::new(),
        }
    }

    /// Connects to `host:port` and reads the greeting (plus hello and STARTTLS as configured).
    /// Port 0 means the protocol's default port (25, 465 with implicit TLS, 2003 for LMTP).
    pub async fn connect(self, host: &str, port: u16) -> Result<GenericSmtpClient<R>> {
        let mut client = self.build();
        client.connect(host, port).await?;
        Ok(client)
    }

    /// Connects to a Unix socket (LMTP usually) and reads the greeting.
    #[cfg(unix)]
    pub async fn connect_unix(self, path: impl AsRef<Path>) -> Result<GenericSmtpClient<R>> {
        let mut client = self.build();
        client.connect_unix(path).await?;
        Ok(client)
    }

    /// Runs the session over a stream you connected yourself (any `futures-io` stream: a SOCKS
    /// or HTTP CONNECT tunnel, a wrapper of your own, an in-memory pipe) and reads the greeting
    /// (plus hello and STARTTLS as configured). See [`GenericSmtpClient::connect_stream`].
    pub async fn connect_stream(
        self,
        stream: impl AsyncIo + 'static,
        server_name: &str,
    ) -> Result<GenericSmtpClient<R>> {
        let mut client = self.build();
        client.connect_stream(stream, server_name).await?;
        Ok(client)
    }
}

fn stderr_sink() -> TranscriptSink {
    Box::new(|entry: &TranscriptEntry| eprintln!("{entry}"))
}

/// An async SMTP/LMTP client with smtplib's repertoire, on the sockets of runtime `R`: use the
/// alias [`SmtpClient`](crate::SmtpClient) (smol), or `smtp_async_std::SmtpClient`.
///
/// Every method queues one request on the [`smtp_proto::Client`] core and drives the stream
/// until that request completes. Errors that end the session close it; refusals
/// ([`Error::SenderRefused`], …) leave it usable.
///
/// # Cancellation
///
/// Every future may be dropped (a `select!`, a timeout of your own, a cancelled task). If it is
/// dropped while its request is on the wire — between the first byte written and the last
/// reply read — the session is in an undefined state (a reply may be half read, a body half
/// sent), so it is never reused: the next call closes it and fails with [`Error::Io`] of kind
/// [`ConnectionAborted`](io::ErrorKind::ConnectionAborted), later calls with
/// [`Error::NotConnected`], and [`is_connected`](Self::is_connected) is `false` from the moment
/// of the drop. Reconnect with [`connect`](Self::connect). Dropping `send_message` while it
/// still reads the header block (nothing sent yet) leaves the session intact.
pub struct GenericSmtpClient<R: Runtime> {
    opts: GenericBuilder<R>,
    session: Option<Session>,
    sink: Option<TranscriptSink>,
    /// A request is being driven; still set after the call returned means its future was
    /// dropped mid-command.
    in_flight: bool,
    body_buf: Vec<u8>,
}

impl<R: Runtime> fmt::Debug for GenericSmtpClient<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericSmtpClient")
            .field("opts", &self.opts)
            .field("connected", &self.is_connected())
            .field("client", &self.session.as_ref().map(|s| &s.client))
            .finish_non_exhaustive()
    }
}

/// Where to connect.
enum Target<'a> {
    Tcp(&'a str, u16),
    #[cfg(unix)]
    Unix(&'a Path),
}

impl<R: Runtime> GenericSmtpClient<R> {
    // ------------------------------------------------------------ construction

    /// Settings for a new client.
    pub fn builder() -> GenericBuilder<R> {
        GenericBuilder::default()
    }

    /// smtplib's `SMTP(host, port)`: connects and reads the greeting. Port 0 means 25.
    pub async fn new(host: &str, port: u16) -> Result<Self> {
        Self::builder().connect(host, port).await
    }

    /// smtplib's `SMTP_SSL(host, port, context=…)`: implicit TLS (port 0 means 465), the
    /// certificate verified by `connector` against `host`.
    pub async fn new_tls(
        host: &str,
        port: u16,
        connector: impl Into<TlsConnector>,
    ) -> Result<Self> {
        let builder = Self::builder().tls(TlsMode::Implicit);
        builder.tls_connector(connector).connect(host, port).await
    }

    /// smtplib's `LMTP(host, port)`: LMTP over TCP (port 0 means 2003), or over a Unix socket
    /// when `host` starts with `/`.
    pub async fn lmtp(host: &str, port: u16) -> Result<Self> {
        Self::builder().lmtp(true).connect(host, port).await
    }

    /// LMTP over the Unix socket at `path`.
    #[cfg(unix)]
    pub async fn lmtp_unix(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder().lmtp(true).connect_unix(path).await
    }

    /// smtplib's `connect(host, port)`: (re)connects, closing any current session first, and
    /// returns the greeting. Port 0 means the protocol's default port, or a `:port` suffix of
    /// `host` (`"mx.example:2525"`, `"[::1]:2525"`). The TLS server name is `host`.
    pub async fn connect(&mut self, host: &str, port: u16) -> Result<OwnedReply> {
        #[cfg(unix)]
        if self.opts.settings.lmtp && host.starts_with('/') {
            return self.open(Target::Unix(Path::new(host))).await;
        }
        let (host, port) = smtp_proto::session::host_and_port(host, port, self.default_port())?;
        self.open(Target::Tcp(host, port)).await
    }

    /// Connects to the Unix socket at `path` and returns the greeting.
    #[cfg(unix)]
    pub async fn connect_unix(&mut self, path: impl AsRef<Path>) -> Result<OwnedReply> {
        self.open(Target::Unix(path.as_ref())).await
    }

    /// Runs a new session over `stream`, which you connected yourself, closing any current
    /// session first, and returns the greeting. Everything else is as with
    /// [`connect`](Self::connect): implicit TLS or STARTTLS as configured (wrapping `stream`),
    /// the same timeouts, the same loop.
    ///
    /// - `stream` is any `futures-io` stream ([`AsyncIo`]): the deadlines are the driver's
    ///   timers, so the stream needs no timeouts of its own.
    /// - `server_name` is the name the server's certificate is verified against (the host you
    ///   asked the tunnel to reach, not the proxy).
    /// - The connect timeout bounds the implicit TLS handshake; the stream's own set-up (the
    ///   tunnel's handshake) is yours to bound.
    /// - The peer counts as remote for the AUTH-over-plaintext rule, even when the stream is a
    ///   socket to a loopback address: that address is a proxy's, not the server's. Use
    ///   [`GenericBuilder::allow_plaintext_auth`] when the path is trusted.
    /// - The default hello name is this host's [`fqdn`](crate::fqdn), else `localhost`.
    /// - Set `TCP_NODELAY` on a TCP stream yourself, as `connect` does: with Nagle's algorithm
    ///   on, a small write behind unacknowledged data (the end of a body, say) can wait for the
    ///   peer's delayed ACK.
    pub async fn connect_stream(
        &mut self,
        stream: impl AsyncIo + 'static,
        server_name: &str,
    ) -> Result<OwnedReply> {
        self.start(connect::stream(Box::new(stream)), server_name.to_owned())
            .await
    }

    fn default_port(&self) -> u16 {
        self.opts.settings.default_port()
    }

    async fn open(&mut self, target: Target<'_>) -> Result<OwnedReply> {
        self.close();
        self.opts.settings.check()?;
        // Bad TLS material fails before connecting.
        self.connector()?;
        let limit = self.opts.settings.connect_timeout();
        let (opened, server_name) = match target {
            Target::Tcp(host, port) => {
                let source = self.opts.settings.source_address;
                (connect::tcp::<R>(host, port, source, limit).await?, host)
            }
            #[cfg(unix)]
            Target::Unix(path) => (connect::unix::<R>(path, limit).await?, "localhost"),
        };
        self.start(opened, server_name.to_owned()).await
    }

    /// Implicit TLS if configured, then the core, then the greeting (and set-up).
    async fn start(&mut self, opened: Opened, server_name: String) -> Result<OwnedReply> {
        self.close();
        self.opts.settings.check()?;
        self.connector()?;
        let limit = self.opts.settings.connect_timeout();
        let mut io = Transport::Plain(opened.io);
        if self.opts.settings.tls == TlsMode::Implicit {
            let connector = self.connector()?;
            let deadline = Instant::now() + limit;
            if !io.upgrade(connector, &server_name, deadline).await? {
                return Err(Error::Smtp(smtp_proto::Error::Timeout {
                    stage: smtp_proto::client::Stage::TlsHandshake,
                    after: limit,
                }));
            }
        }
        let peer = Peer {
            local_ip: opened.local,
            loopback: opened.loopback,
        };
        let hello_name = default_hello_name(fqdn(), opened.local);
        let config = self
            .opts
            .settings
            .config(hello_name, peer, self.sink.is_some());
        let client = Client::new(config, Instant::now());
        self.session = Some(Session::new(client, io, server_name));
        self.drive(|_, event| matches!(event, Some(Event::Ready)).then_some(Ok(())))
            .await?;
        self.greeting().cloned().ok_or(Error::NotConnected)
    }

    fn connector(&mut self) -> Result<&TlsConnector> {
        let connector = match self.opts.connector.take() {
            Some(given) => given,
            None => TlsConnector::from(tls_builder(&self.opts.settings)?),
        };
        Ok(self.opts.connector.insert(connector))
    }

    // ------------------------------------------------------------ getters

    /// Whether a session is open (`false` once a request's future was dropped mid-command).
    pub fn is_connected(&self) -> bool {
        self.session.is_some() && !self.in_flight
    }

    /// The core session, for everything the getters below do not cover.
    pub fn session(&self) -> Option<&Client> {
        self.session.as_ref().map(|s| &s.client)
    }

    smtp_proto::session_getters!();

    /// The TLS server name: the host connected to (`localhost` for a Unix socket), or the name
    /// given to [`connect_stream`](Self::connect_stream).
    pub fn server_name(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.server_name.as_str())
    }

    // ------------------------------------------------------------ transcript

    /// smtplib's `set_debuglevel`: print the transcript (`C: …` / `S: …`, AUTH payloads
    /// redacted) to standard error, or stop.
    pub fn set_transcript(&mut self, on: bool) {
        self.sink = on.then(stderr_sink);
        self.sync_transcript();
    }

    /// Hands every transcript line to `sink` from now on.
    pub fn set_transcript_sink(&mut self, sink: impl FnMut(&TranscriptEntry) + Send + 'static) {
        self.sink = Some(Box::new(sink));
        self.sync_transcript();
    }

    /// The core records the transcript exactly while there is a sink.
    fn sync_transcript(&mut self) {
        let on = self.sink.is_some();
        if let Some(session) = self.session.as_mut() {
            session.client.set_transcript(on);
        }
    }

    // ------------------------------------------------------------ commands

    /// smtplib's `helo()`: `HELO`, returns the reply whatever its code.
    pub async fn helo(&mut self) -> Result<OwnedReply> {
        self.single(|c| c.hello(Hello::Helo)).await
    }

    /// smtplib's `ehlo()`: `EHLO` (`LHLO` for LMTP), returns the reply whatever its code; a `250`
    /// sets the capabilities.
    pub async fn ehlo(&mut self) -> Result<OwnedReply> {
        self.single(|c| c.hello(Hello::Ehlo)).await
    }

    /// smtplib's `helo(name)`: [`helo`](Self::helo) with `name` instead of the session's
    /// [`local_hostname`](Self::local_hostname), for this greeting only.
    pub async fn helo_as(&mut self, name: Domain) -> Result<OwnedReply> {
        self.single(|c| c.hello_as(Hello::Helo, name)).await
    }

    /// smtplib's `ehlo(name)`: [`ehlo`](Self::ehlo) with `name` instead of the session's
    /// [`local_hostname`](Self::local_hostname), for this greeting only.
    pub async fn ehlo_as(&mut self, name: Domain) -> Result<OwnedReply> {
        self.single(|c| c.hello_as(Hello::Ehlo, name)).await
    }

    /// smtplib's `ehlo_or_helo_if_needed()`: unless a hello succeeded already, EHLO then HELO;
    /// both refused is [`Error::HeloRefused`] with HELO's reply.
    pub async fn ehlo_or_helo_if_needed(&mut self) -> Result<()> {
        if self.live()?.client.said_hello() {
            return Ok(());
        }
        let reply = self.single(|c| c.hello(Hello::EhloOrHelo)).await?;
        match reply.code().is_positive_completion() {
            true => Ok(()),
            false => Err(Error::HeloRefused(reply)),
        }
    }

    /// smtplib's `verify()`: `VRFY address`.
    pub async fn verify(&mut self, address: &str) -> Result<OwnedReply> {
        let arg = Argument::try_from(address)?;
        self.single(|c| c.verify(&arg)).await
    }

    /// smtplib's `expn()`: `EXPN list`.
    pub async fn expn(&mut self, list: &str) -> Result<OwnedReply> {
        let arg = Argument::try_from(list)?;
        self.single(|c| c.expn(&arg)).await
    }

    /// smtplib's `help()`: `HELP [topic]`.
    pub async fn help(&mut self, topic: Option<&str>) -> Result<OwnedReply> {
        let arg = topic.map(Argument::try_from).transpose()?;
        self.single(|c| c.help(arg.as_ref())).await
    }

    /// smtplib's `noop()`.
    pub async fn noop(&mut self) -> Result<OwnedReply> {
        self.single(|c| c.noop(None)).await
    }

    /// smtplib's `rset()`.
    pub async fn rset(&mut self) -> Result<OwnedReply> {
        self.single(Client::rset).await
    }

    /// smtplib's `docmd()`: sends one raw command line (validated: no CR, LF or other control)
    /// and returns the reply. The session does not interpret it.
    pub async fn docmd(&mut self, line: &str) -> Result<OwnedReply> {
        let arg = Argument::try_from(line)?;
        self.single(|c| c.raw(&arg)).await
    }

    /// smtplib's `mail()`: `MAIL FROM:<from> [params]`, returns the reply whatever its code.
    /// `""` or `"<>"` is the null reverse-path; SMTPUTF8 is added when `from` needs it.
    pub async fn mail(&mut self, from: &str, params: MailParams) -> Result<OwnedReply> {
        let from = ReversePath::try_from(from)?;
        self.single(|c| c.mail(from, params)).await
    }

    /// smtplib's `rcpt()`: `RCPT TO:<to> [params]`, returns the reply whatever its code.
    pub async fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<OwnedReply> {
        let to = Mailbox::try_from(to)?;
        self.single(|c| c.rcpt(to, params)).await
    }

    /// smtplib's `data()`: `DATA`, the message streamed from `message` (line ends normalised,
    /// dots stuffed, a final CRLF added when missing), then the end-of-data reply, whatever its
    /// code. `DATA` not answered `354` is [`Error::DataRefused`]. For LMTP the last
    /// per-recipient reply is returned; see [`data_per_recipient`](Self::data_per_recipient).
    pub async fn data(&mut self, message: impl AsyncRead + Unpin) -> Result<OwnedReply> {
        let mut replies = self.data_per_recipient(message).await?;
        replies.pop().ok_or(Error::NotConnected)
    }

    /// [`data`](Self::data) returning every reply after the body: one for SMTP, one per
    /// recipient accepted since [`mail`](Self::mail) for LMTP (RFC 2033 §4.2).
    pub async fn data_per_recipient(
        &mut self,
        mut message: impl AsyncRead + Unpin,
    ) -> Result<Vec<OwnedReply>> {
        let id = self.enqueue(Client::data)?;
        let mut replies = Vec::new();
        let mut streaming = false;
        self.drive_body(&mut message, |client, event| match event {
            Some(Event::BodyWanted(i)) => {
                streaming |= i == id;
                None
            }
            Some(Event::Reply { id: i, reply }) if i == id && !streaming => {
                Some(Err(Error::DataRefused {
                    reply,
                    refused: Vec::new(),
                }))
            }
            Some(Event::Reply { id: i, reply }) if i == id => {
                replies.push(reply);
                None
            }
            None => (!replies.is_empty() && !client.is_busy()).then_some(Ok(())),
            _ => None,
        })
        .await?;
        Ok(replies)
    }

    /// smtplib's `login(user, password)`: says hello if needed, then tries SCRAM-SHA-256,
    /// SCRAM-SHA-1 (with `smtp-proto`'s default `scram` feature), CRAM-MD5, PLAIN and LOGIN in
    /// that order among those offered until one succeeds. Refused credentials are
    /// [`Error::AuthFailed`]; no usable mechanism is [`UsageError::NoSuitableMechanism`].
    pub async fn login(&mut self, user: &str, password: &str) -> Result<OwnedReply> {
        self.ehlo_or_helo_if_needed().await?;
        let id = self.enqueue(|c| c.login(user, password))?;
        self.authenticated(id).await
    }

    /// smtplib's `auth(mechanism, authobject)`: AUTH with any SASL mechanism of
    /// [`smtp_proto::sasl`] or your own. It must be offered; it is never replaced by another.
    pub async fn auth(&mut self, mechanism: Box<dyn Mechanism>) -> Result<OwnedReply> {
        self.ehlo_or_helo_if_needed().await?;
        let id = self.enqueue(|c| c.authenticate(mechanism))?;
        self.authenticated(id).await
    }

    async fn authenticated(&mut self, id: RequestId) -> Result<OwnedReply> {
        self.drive(|_, event| match event? {
            Event::Authenticated { id: i, reply } if i == id => Some(Ok(reply)),
            Event::AuthFailed { id: i, reply } if i == id => Some(Err(Error::AuthFailed(reply))),
            _ => None,
        })
        .await
    }

    /// smtplib's `starttls()`: says hello if needed, sends STARTTLS and, on `220`, does the TLS
    /// handshake (certificate and host name verified unless configured otherwise). The
    /// capabilities are forgotten afterwards. Any other reply is [`Error::StartTlsRefused`].
    pub async fn starttls(&mut self) -> Result<OwnedReply> {
        self.ehlo_or_helo_if_needed().await?;
        let reply = self.single(Client::starttls).await?;
        match reply.code() {
            ReplyCode::READY => Ok(reply),
            _ => Err(Error::StartTlsRefused(reply)),
        }
    }

    /// A whole mail transaction: MAIL, every RCPT, DATA or BDAT with the body streamed from
    /// `message` in constant memory, every reply attributed. Refusals are in the
    /// [`MailReport`], not errors. Says hello first if needed.
    pub async fn send_with_report(
        &mut self,
        envelope: Envelope,
        mut message: impl AsyncRead + Unpin,
    ) -> Result<MailReport> {
        self.ehlo_or_helo_if_needed().await?;
        let id = self.enqueue(|c| c.send_mail(envelope))?;
        self.drive_body(&mut message, |_, event| match event? {
            Event::MailDone(report) if report.id == id => Some(Ok(report)),
            _ => None,
        })
        .await
    }

    /// Sends several messages on this connection, in order, and returns one [`MailReport`] per
    /// message sent, in the same order. Says hello first if needed.
    ///
    /// Keeps one message ahead: message k+1's transaction is queued as soon as message k's body
    /// has ended, so that with PIPELINING it leaves right behind k's end of data (RFC 2920
    /// §3.1) and a transaction costs no extra round trip. Bodies are read one at a time, each
    /// streamed in constant memory; the iterator is pulled lazily, at most one message ahead.
    /// Refusals are in the reports, not errors. If the core refuses to queue a message (a
    /// [`UsageError`], e.g. SMTPUTF8 not offered), the batch stops there: the messages before
    /// it complete, then the error is returned.
    pub async fn send_all<I, B>(&mut self, messages: I) -> Result<Vec<MailReport>>
    where
        I: IntoIterator<Item = (Envelope, B)>,
        B: AsyncRead + Unpin,
    {
        let mut reports = Vec::new();
        self.send_all_with(messages, |report| reports.push(report))
            .await?;
        Ok(reports)
    }

    /// [`send_all`](Self::send_all), handing each [`MailReport`] to `on_report` as its
    /// transaction completes instead of collecting them: memory stays constant however many
    /// messages the iterator yields.
    pub async fn send_all_with<I, B>(
        &mut self,
        messages: I,
        on_report: impl FnMut(MailReport),
    ) -> Result<()>
    where
        I: IntoIterator<Item = (Envelope, B)>,
        B: AsyncRead + Unpin,
    {
        self.ehlo_or_helo_if_needed().await?;
        let mut batch = Batch::new(messages.into_iter(), on_report);
        batch.top_up(&mut self.live()?.client);
        self.drive_job(&mut batch).await
    }

    /// smtplib's `sendmail(from_addr, to_addrs, msg)`: sends `message` (streamed) and returns
    /// the refused recipients with their replies. Sender refused, every recipient refused and
    /// data refused are errors, as in smtplib. The message is declared 7-bit: use
    /// [`sendmail_with`](Self::sendmail_with) and [`Content::EightBit`] for 8-bit bodies.
    pub async fn sendmail(
        &mut self,
        from: &str,
        to: impl IntoIterator<Item = impl AsRef<str>>,
        message: impl AsyncRead + Unpin,
    ) -> Result<Refused> {
        let envelope = envelope(from, to)?;
        self.sendmail_as(envelope, message, from.to_owned()).await
    }

    /// [`sendmail`](Self::sendmail) with a full [`Envelope`] (parameters, size, content).
    /// [`Error::SenderRefused`] names the sender without angle brackets (`<>` for the null path).
    pub async fn sendmail_with(
        &mut self,
        envelope: Envelope,
        message: impl AsyncRead + Unpin,
    ) -> Result<Refused> {
        let sender = sender_text(&envelope.from);
        self.sendmail_as(envelope, message, sender).await
    }

    /// `sendmail` with the sender as [`Error::SenderRefused`] is to name it.
    async fn sendmail_as(
        &mut self,
        envelope: Envelope,
        message: impl AsyncRead + Unpin,
        sender: String,
    ) -> Result<Refused> {
        let report = self.send_with_report(envelope, message).await?;
        sendmail_result(report, sender)
    }

    /// smtplib's `send_message(msg)`: the envelope from the headers (the `Resent-` block when
    /// there is exactly one, else `Sender`/`From` and `To`, `Bcc`, `Cc`), the message sent
    /// without `Bcc` / `Resent-Bcc`. Only the header block is held in memory
    /// ([`MAX_HEADER_BLOCK`](crate::MAX_HEADER_BLOCK)); the body streams.
    pub async fn send_message(&mut self, message: impl AsyncRead + Unpin) -> Result<Refused> {
        self.send_message_with(message, None, None).await
    }

    /// [`send_message`](Self::send_message) with an explicit sender and/or recipients, which
    /// override the headers'.
    pub async fn send_message_with(
        &mut self,
        mut message: impl AsyncRead + Unpin,
        from: Option<&str>,
        to: Option<&[&str]>,
    ) -> Result<Refused> {
        self.ehlo_or_helo_if_needed().await?;
        let (headers, body_start) = message::read_headers(&mut message).await?;
        let Some(from) = from.map(str::to_owned).or(headers.from) else {
            return Err(Error::Message(
                "no Sender or From header to take the sender from".into(),
            ));
        };
        let mut envelope = match to {
            Some(to) => envelope(&from, to.iter())?,
            None if headers.to.is_empty() => {
                return Err(Error::Message(
                    "no To, Bcc or Cc header to take the recipients from".into(),
                ))
            }
            None => envelope(&from, headers.to.iter().map(String::as_str))?,
        };
        let eight_bit_mime = self
            .capabilities()
            .is_some_and(|c| c.supports(Extension::EightBitMime));
        if headers.eight_bit_head || (envelope.needs_smtputf8() && eight_bit_mime) {
            envelope.content = Content::EightBit;
        }
        let head = futures_lite::io::Cursor::new(headers.head);
        let rest = futures_lite::io::Cursor::new(body_start);
        self.sendmail_as(envelope, head.chain(rest).chain(message), from)
            .await
    }

    /// smtplib's `quit()`: QUIT after anything queued, then closes the connection. A server
    /// that closes without answering QUIT is fine. See [`quit_with_reply`](Self::quit_with_reply)
    /// for the server's answer.
    pub async fn quit(&mut self) -> Result<()> {
        self.quit_with_reply().await.map(drop)
    }

    /// [`quit`](Self::quit) returning the server's reply to QUIT whatever its code, as smtplib's
    /// `quit()` does; `None` when the server closed without answering.
    pub async fn quit_with_reply(&mut self) -> Result<Option<OwnedReply>> {
        self.live()?.client.quit();
        let result = self
            .drive(|client, event| match event {
                Some(Event::Closed(None)) => Some(Ok(client.quit_reply().cloned())),
                _ => None,
            })
            .await;
        self.close();
        result
    }

    /// smtplib's `close()`: closes the connection without a word. Idempotent.
    pub fn close(&mut self) {
        self.session = None;
        self.in_flight = false;
    }

    // ------------------------------------------------------------ the loop

    /// The open session; a session abandoned mid-command (a dropped future) is closed here.
    fn live(&mut self) -> Result<&mut Session> {
        if self.in_flight {
            self.close();
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "a previous request was cancelled mid-command (its future was dropped): \
                 the session was closed; reconnect",
            )));
        }
        self.session.as_mut().ok_or(Error::NotConnected)
    }

    fn enqueue(
        &mut self,
        mutator: impl FnOnce(&mut Client) -> std::result::Result<RequestId, UsageError>,
    ) -> Result<RequestId> {
        Ok(mutator(&mut self.live()?.client)?)
    }

    /// A request completed by its `Event::Reply`.
    async fn single(
        &mut self,
        mutator: impl FnOnce(&mut Client) -> std::result::Result<RequestId, UsageError>,
    ) -> Result<OwnedReply> {
        let id = self.enqueue(mutator)?;
        self.drive(|_, event| match event? {
            Event::Reply { id: i, reply } if i == id => Some(Ok(reply)),
            _ => None,
        })
        .await
    }

    async fn drive<T>(
        &mut self,
        until: impl FnMut(&Client, Option<Event>) -> Option<Result<T>> + Send,
    ) -> Result<T> {
        self.drive_body(&mut futures_lite::io::empty() as &mut Empty, until)
            .await
    }

    /// Runs the session until `until` returns a result, feeding any body from `body`. Errors
    /// that end the session close it; a drop before the end leaves `in_flight` set.
    async fn drive_body<B, T>(
        &mut self,
        body: &mut B,
        until: impl FnMut(&Client, Option<Event>) -> Option<Result<T>> + Send,
    ) -> Result<T>
    where
        B: AsyncRead + Unpin + ?Sized,
    {
        self.drive_job(&mut Single { body, until }).await
    }

    /// Runs the session until `job` returns a result. Errors that end the session close it; a
    /// drop before the end leaves `in_flight` set.
    async fn drive_job<J, T>(&mut self, job: &mut J) -> Result<T>
    where
        J: Job<T>,
    {
        self.live()?;
        self.connector()?;
        let (Some(session), Some(connector)) =
            (self.session.as_mut(), self.opts.connector.as_ref())
        else {
            return Err(Error::NotConnected);
        };
        self.in_flight = true;
        let mut cx = Context {
            connector,
            sink: &mut self.sink,
            body_buf: &mut self.body_buf,
        };
        let result = session.run(&mut cx, job).await;
        // What the core queued on its own as the request ended (the RSET after a refused
        // transaction) leaves now, as smtplib's `sendmail` sends it, not with the next call;
        // its reply is read by the next call. A write that fails here closes the session.
        let fatal = result.as_ref().is_err_and(Error::is_fatal);
        let broken = !fatal && session.send_leftovers().await.is_err();
        self.in_flight = false;
        let ended = session.client.is_closed();
        if ended || fatal || broken {
            self.close();
        }
        result
    }
}

/// A TLS connector builder from the settings: certificate checks as
/// `danger_accept_invalid_certs` says, the extra roots trusted, the client identity presented.
/// Material that cannot be parsed is an [`Error::InvalidSetting`].
fn tls_builder(settings: &Settings) -> Result<native_tls::TlsConnectorBuilder> {
    let insecure = settings.danger_accept_invalid_certs;
    let mut builder = native_tls::TlsConnector::builder();
    builder
        .danger_accept_invalid_certs(insecure)
        .danger_accept_invalid_hostnames(insecure);
    for (n, pem) in settings.tls_roots.iter().enumerate() {
        for cert in pem_certificates(pem) {
            let cert = native_tls::Certificate::from_pem(cert).map_err(|e| {
                Error::InvalidSetting(format!(
                    "root certificate {} is not a PEM certificate: {e}",
                    n + 1
                ))
            })?;
            builder.add_root_certificate(cert);
        }
    }
    if let Some(id) = &settings.tls_identity {
        let identity = native_tls::Identity::from_pkcs8(&id.cert_chain_pem, &id.key_pem)
            .map_err(|e| {
                Error::InvalidSetting(format!(
                    "the client identity is not a PEM certificate chain with its PKCS#8 PEM key: {e}"
                ))
            })?;
        builder.identity(identity);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SmtpClient;

    #[test]
    fn clients_and_their_futures_can_move_between_threads() {
        fn assert_send<T: Send>(_: &T) {}
        let mut client = SmtpClient::builder().build();
        assert_send(&client);
        assert_send(&client.noop());
        assert_send(&client.send_with_report(
            envelope("a@x.org", ["b@y.org"]).expect("envelope"),
            futures_lite::io::empty(),
        ));
        let batch = vec![(
            envelope("a@x.org", ["b@y.org"]).expect("envelope"),
            futures_lite::io::empty(),
        )];
        assert_send(&client.send_all(batch));
    }

    #[test]
    fn zero_timeout_and_no_session() {
        smol::block_on(async {
            let mut client = SmtpClient::builder()
                .timeout(std::time::Duration::ZERO)
                .build();
            assert!(matches!(
                client.connect("127.0.0.1", 1).await,
                Err(Error::InvalidSetting(_))
            ));
            assert!(matches!(client.noop().await, Err(Error::NotConnected)));
            assert!(matches!(client.quit().await, Err(Error::NotConnected)));
            client.close();
            assert!(!client.is_connected());
        });
    }
}
