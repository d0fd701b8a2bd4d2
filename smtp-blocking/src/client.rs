//! [`SmtpClient`]: the smtplib-parity blocking client, and its [`Builder`].

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use native_tls::TlsConnector;
use smtp_proto::client::{
    Client, Content, Envelope, Event, Hello, MailReport, RequestId, SendQueue, Stage, Timeouts,
    TlsMode, TranscriptEntry,
};
use smtp_proto::command::{Argument, MailParams, Mailbox, RcptParams, ReversePath};
use smtp_proto::ehlo::Extension;
use smtp_proto::sasl::Mechanism;
use smtp_proto::{Domain, OwnedReply, UsageError};

use smtp_proto::session::{
    default_hello_name, envelope, is_loopback, pem_certificates, sender_text, sendmail_result,
    Error, Peer, Refused, Result, Settings, TranscriptSink,
};

use crate::fqdn;
use crate::message;
use crate::transport::{Connection, HandshakeFailure, Stream, Transport};

/// Size of the buffer replies are read into.
const READ_BUF: usize = 16 * 1024;
/// Size of the buffer a body is read into from its source, at most.
const BODY_BUF: usize = 64 * 1024;
/// How long to wait for the server's last words after a write failed (e.g. a `554` before
/// it closed).
const DRAIN_AFTER_WRITE_FAILURE: Duration = Duration::from_secs(1);

/// Settings for a [`SmtpClient`], then [`connect`](Self::connect) (or [`build`](Self::build) an
/// unconnected client, as smtplib's `SMTP()` without a host).
///
/// Defaults: SMTP, no TLS (see [`tls`](Self::tls)), certificates verified when TLS is used,
/// greeting only on connect (smtplib's behaviour: the first command that needs it says hello),
/// RFC 5321 timeouts, PIPELINING and CHUNKING used when offered, bare CR/LF in bodies turned
/// into CRLF.
#[derive(Default)]
pub struct Builder {
    settings: Settings,
    connector: Option<TlsConnector>,
    sink: Option<TranscriptSink>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Builder {
    smtp_proto::settings_setters!();

    /// The TLS connector for implicit TLS and STARTTLS (smtplib's `context`). Default: a
    /// [`TlsConnector::new`], which verifies the certificate chain against the system's roots
    /// and the host name against the host connected to, with the roots of
    /// [`add_root_certificate_pem`](Self::add_root_certificate_pem) and the identity of
    /// [`client_identity_pem`](Self::client_identity_pem) (both ignored when a connector is
    /// given here).
    pub fn tls_connector(mut self, connector: TlsConnector) -> Self {
        self.connector = Some(connector);
        self
    }

    /// Where transcript lines go from the start (see [`SmtpClient::set_transcript_sink`]).
    pub fn transcript_sink(mut self, sink: impl FnMut(&TranscriptEntry) + Send + 'static) -> Self {
        self.sink = Some(Box::new(sink));
        self
    }

    /// Print the transcript to standard error from the start (smtplib's `set_debuglevel(1)`).
    pub fn transcript(self, on: bool) -> Self {
        if on {
            self.transcript_sink(print_to_stderr)
        } else {
            Self { sink: None, ..self }
        }
    }

    /// An unconnected client; call [`SmtpClient::connect`] or [`SmtpClient::connect_unix`].
    pub fn build(self) -> SmtpClient {
        let sink = self.sink;
        SmtpClient {
            opts: Self { sink: None, ..self },
            session: None,
            sink,
            body_buf: Vec::new(),
        }
    }

    /// Connects to `host:port` and reads the greeting (plus hello and STARTTLS as configured).
    /// Port 0 means the default port of the protocol: 25, 465 with implicit TLS, 2003 for LMTP.
    pub fn connect(self, host: &str, port: u16) -> Result<SmtpClient> {
        let mut client = self.build();
        client.connect(host, port)?;
        Ok(client)
    }

    /// smtplib's `with SMTP(host, port) as smtp: …`: connects, runs `f`, then says QUIT
    /// whatever `f` returned and closes. QUIT's reply is waited for at most the command timeout
    /// ([`timeout`](Self::timeout)), and its failure is ignored, as smtplib's `__exit__` does;
    /// `f`'s result is returned.
    ///
    /// A closure rather than a QUIT on `Drop`: a destructor cannot report an error, and would
    /// block wherever the client happens to go out of scope.
    ///
    /// ```no_run
    /// use smtp_blocking::SmtpClient;
    ///
    /// let refused = SmtpClient::builder().session("localhost", 25, |smtp| {
    ///     smtp.sendmail("a@example.org", ["b@example.net"], &b"Subject: hi\r\n\r\nhi\r\n"[..])
    /// })?;
    /// # Ok::<(), smtp_blocking::Error>(())
    /// ```
    pub fn session<T>(
        self,
        host: &str,
        port: u16,
        f: impl FnOnce(&mut SmtpClient) -> Result<T>,
    ) -> Result<T> {
        let mut client = self.connect(host, port)?;
        let result = f(&mut client);
        if client.is_connected() {
            // Best effort, bounded by the command timeout.
            let _ = client.quit();
        }
        client.close();
        result
    }

    /// Connects to a Unix socket (LMTP usually) and reads the greeting.
    #[cfg(unix)]
    pub fn connect_unix(self, path: impl AsRef<Path>) -> Result<SmtpClient> {
        let mut client = self.build();
        client.connect_unix(path)?;
        Ok(client)
    }

    /// Runs the session over a stream you connected yourself (a SOCKS or HTTP CONNECT tunnel, a
    /// wrapper of your own, a test pipe) and reads the greeting (plus hello and STARTTLS as
    /// configured). See [`SmtpClient::connect_stream`].
    pub fn connect_stream(self, stream: impl Connection, server_name: &str) -> Result<SmtpClient> {
        let mut client = self.build();
        client.connect_stream(stream, server_name)?;
        Ok(client)
    }
}

fn print_to_stderr(entry: &TranscriptEntry) {
    eprintln!("{entry}");
}

/// One live session: the core, its transport and the TLS server name.
struct Session {
    client: Client,
    io: Transport,
    server_name: String,
    read_buf: Box<[u8]>,
}

/// A blocking SMTP/LMTP client with smtplib's repertoire.
///
/// Each method queues one request on the [`smtp_proto::Client`] core and drives the socket until
/// that request completes. Errors that end the session (I/O, TLS, a core [`smtp_proto::Error`])
/// close the socket; refusals ([`Error::SenderRefused`], …) leave the session usable.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use std::io::{BufRead, BufReader, Write};
/// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let port = listener.local_addr()?.port();
/// # let server = std::thread::spawn(move || -> std::io::Result<Vec<String>> {
/// #     let (stream, _) = listener.accept()?;
/// #     let mut out = stream.try_clone()?;
/// #     let mut lines = Vec::new();
/// #     out.write_all(b"220 mx.test ESMTP\r\n")?;
/// #     let mut reader = BufReader::new(stream);
/// #     let mut in_data = false;
/// #     loop {
/// #         let mut line = String::new();
/// #         if reader.read_line(&mut line)? == 0 { break; }
/// #         let line = line.trim_end().to_owned();
/// #         let reply: &[u8] = if in_data {
/// #             if line == "." { in_data = false; b"250 2.0.0 queued\r\n" } else { lines.push(line); continue; }
/// #         } else if line.starts_with("EHLO") {
/// #             b"250-mx.test\r\n250 PIPELINING\r\n"
/// #         } else if line == "DATA" {
/// #             in_data = true; b"354 go ahead\r\n"
/// #         } else if line == "QUIT" {
/// #             out.write_all(b"221 bye\r\n")?; break;
/// #         } else { b"250 ok\r\n" };
/// #         out.write_all(reply)?;
/// #     }
/// #     Ok(lines)
/// # });
/// use std::time::Duration;
/// use smtp_blocking::SmtpClient;
///
/// let mut smtp = SmtpClient::builder()
///     .timeout(Duration::from_secs(10))
///     .connect("127.0.0.1", port)?;
/// let message = "From: alice@example.org\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello Bob.\r\n";
/// let refused = smtp.sendmail("alice@example.org", &["bob@example.net"], message.as_bytes())?;
/// assert!(refused.is_empty());
/// smtp.quit()?;
/// # let received = server.join().expect("server thread")?;
/// # assert!(received.iter().any(|l| l == "Hello Bob."));
/// # Ok(())
/// # }
/// ```
pub struct SmtpClient {
    opts: Builder,
    session: Option<Session>,
    sink: Option<TranscriptSink>,
    body_buf: Vec<u8>,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("opts", &self.opts)
            .field("connected", &self.session.is_some())
            .field("client", &self.session.as_ref().map(|s| &s.client))
            .finish_non_exhaustive()
    }
}

/// Where to connect.
enum Target<'a> {
    Tcp(&'a str, u16),
    #[cfg(unix)]
    Unix(&'a Path),
    /// Already connected by the caller, with the TLS server name.
    Connected(Stream, &'a str),
}

impl SmtpClient {
    // ------------------------------------------------------------ construction

    /// Settings for a new client.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// smtplib's `SMTP(host, port)`: connects and reads the greeting. Port 0 means 25.
    pub fn new(host: &str, port: u16) -> Result<Self> {
        Self::builder().connect(host, port)
    }

    /// smtplib's `SMTP_SSL(host, port, context=…)`: implicit TLS (port 0 means 465), the
    /// certificate verified by `connector` against `host`.
    pub fn new_tls(host: &str, port: u16, connector: TlsConnector) -> Result<Self> {
        Self::builder()
            .tls(TlsMode::Implicit)
            .tls_connector(connector)
            .connect(host, port)
    }

    /// smtplib's `LMTP(host, port)`: LMTP over TCP (port 0 means 2003), or over a Unix socket
    /// when `host` starts with `/`.
    pub fn lmtp(host: &str, port: u16) -> Result<Self> {
        Self::builder().lmtp(true).connect(host, port)
    }

    /// LMTP over the Unix socket at `path`.
    #[cfg(unix)]
    pub fn lmtp_unix(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder().lmtp(true).connect_unix(path)
    }

    /// smtplib's `connect(host, port)`: (re)connects, closing any current session first, and
    /// returns the greeting. Port 0 means the protocol's default port, or a `:port` suffix of
    /// `host` (`"mx.example:2525"`, `"[::1]:2525"`). The TLS server name is `host`.
    pub fn connect(&mut self, host: &str, port: u16) -> Result<OwnedReply> {
        #[cfg(unix)]
        if self.opts.settings.lmtp && host.starts_with('/') {
            return self.open(Target::Unix(Path::new(host)));
        }
        let (host, port) = split_host_port(host, port, self.default_port())?;
        self.open(Target::Tcp(host, port))
    }

    /// Connects to the Unix socket at `path` and returns the greeting.
    #[cfg(unix)]
    pub fn connect_unix(&mut self, path: impl AsRef<Path>) -> Result<OwnedReply> {
        self.open(Target::Unix(path.as_ref()))
    }

    /// Runs a new session over `stream`, which you connected yourself, closing any current
    /// session first, and returns the greeting. Everything else is as with
    /// [`connect`](Self::connect): implicit TLS or STARTTLS as configured (wrapping `stream`),
    /// the same timeouts, the same loop.
    ///
    /// - `server_name` is the name the server's certificate is verified against (the host you
    ///   asked the tunnel to reach, not the proxy).
    /// - Every wait is bounded through the stream's [`Connection::set_read_timeout`] and
    ///   [`Connection::set_write_timeout`] (see [`Connection`] for streams that cannot time
    ///   out). The connect timeout bounds the implicit TLS handshake; the stream's own set-up
    ///   (the tunnel's handshake) is yours to bound.
    /// - The peer counts as remote for the AUTH-over-plaintext rule, even when the stream is a
    ///   socket to a loopback address: that address is a proxy's, not the server's. Use
    ///   [`Builder::allow_plaintext_auth`] when the path is trusted.
    /// - The default hello name is this host's [`fqdn`](crate::fqdn), else `localhost` (the
    ///   stream's local address says nothing about the server's view of this client).
    /// - Set `TCP_NODELAY` on a TCP stream yourself ([`TcpStream::set_nodelay`]), as `connect`
    ///   does: with Nagle's algorithm on, a small write behind unacknowledged data (the end of
    ///   a body, say) can wait for the peer's delayed ACK.
    pub fn connect_stream(
        &mut self,
        stream: impl Connection,
        server_name: &str,
    ) -> Result<OwnedReply> {
        self.open(Target::Connected(Stream::new(stream), server_name))
    }

    fn default_port(&self) -> u16 {
        self.opts.settings.default_port()
    }

    fn timeouts(&self) -> Timeouts {
        self.opts.settings.effective_timeouts()
    }

    fn connector(&mut self) -> Result<TlsConnector> {
        if let Some(c) = &self.opts.connector {
            return Ok(c.clone());
        }
        let connector = tls_builder(&self.opts.settings)?
            .build()
            .map_err(Error::tls)?;
        self.opts.connector = Some(connector.clone());
        Ok(connector)
    }

    fn open(&mut self, target: Target<'_>) -> Result<OwnedReply> {
        self.close();
        self.opts.settings.check()?;
        if has_tls_material(&self.opts.settings) {
            self.connector()?;
        }
        let connect_timeout = self.opts.settings.connect_timeout();
        let (stream, server_name, local_ip, loopback) = match target {
            Target::Tcp(host, port) => {
                let tcp = connect_tcp(
                    host,
                    port,
                    self.opts.settings.source_address,
                    connect_timeout,
                )?;
                tcp.set_nodelay(true)?;
                let loopback = tcp.peer_addr().is_ok_and(|a| is_loopback(a.ip()));
                let local_ip = tcp.local_addr().ok().map(|a| a.ip());
                (Stream::new(tcp), host.to_owned(), local_ip, loopback)
            }
            #[cfg(unix)]
            Target::Unix(path) => {
                let unix = connect_unix(path)?;
                (Stream::new(unix), "localhost".to_owned(), None, true)
            }
            Target::Connected(stream, server_name) => (stream, server_name.to_owned(), None, false),
        };
        let mut io = Transport::Plain(stream);
        if self.opts.settings.tls == TlsMode::Implicit {
            let connector = self.connector()?;
            io.upgrade(&connector, &server_name, Instant::now() + connect_timeout)
                .map_err(|e| handshake_error(e, connect_timeout))?;
        }
        let hello_name = default_hello_name(fqdn(), local_ip);
        let peer = Peer { local_ip, loopback };
        let config = self
            .opts
            .settings
            .config(hello_name, peer, self.sink.is_some());
        self.session = Some(Session {
            client: Client::new(config, Instant::now()),
            io,
            server_name,
            read_buf: vec![0; READ_BUF].into_boxed_slice(),
        });
        self.drive(None, |_, event| match event {
            Some(Event::Ready) => Some(Ok(())),
            _ => None,
        })?;
        self.greeting().cloned().ok_or(Error::NotConnected)
    }

    // ------------------------------------------------------------ getters

    /// Whether a session is open.
    pub fn is_connected(&self) -> bool {
        self.session.is_some()
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
        self.sink = on.then(|| Box::new(print_to_stderr) as TranscriptSink);
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
    pub fn helo(&mut self) -> Result<OwnedReply> {
        self.single(|c| c.hello(Hello::Helo))
    }

    /// smtplib's `ehlo()`: `EHLO` (`LHLO` for LMTP), returns the reply whatever its code; a `250`
    /// sets the capabilities.
    pub fn ehlo(&mut self) -> Result<OwnedReply> {
        self.single(|c| c.hello(Hello::Ehlo))
    }

    /// smtplib's `helo(name)`: [`helo`](Self::helo) with `name` instead of the session's
    /// [`local_hostname`](Self::local_hostname), for this greeting only.
    pub fn helo_as(&mut self, name: Domain) -> Result<OwnedReply> {
        self.single(|c| c.hello_as(Hello::Helo, name))
    }

    /// smtplib's `ehlo(name)`: [`ehlo`](Self::ehlo) with `name` instead of the session's
    /// [`local_hostname`](Self::local_hostname), for this greeting only.
    pub fn ehlo_as(&mut self, name: Domain) -> Result<OwnedReply> {
        self.single(|c| c.hello_as(Hello::Ehlo, name))
    }

    /// smtplib's `ehlo_or_helo_if_needed()`: unless a hello succeeded already, EHLO then HELO;
    /// both refused is [`Error::HeloRefused`] with HELO's reply.
    pub fn ehlo_or_helo_if_needed(&mut self) -> Result<()> {
        let session = self.session.as_ref().ok_or(Error::NotConnected)?;
        if session.client.said_hello() {
            return Ok(());
        }
        let reply = self.single(|c| c.hello(Hello::EhloOrHelo))?;
        if reply.code().is_positive_completion() {
            Ok(())
        } else {
            Err(Error::HeloRefused(reply))
        }
    }

    /// smtplib's `verify()`: `VRFY address`.
    pub fn verify(&mut self, address: &str) -> Result<OwnedReply> {
        let arg = Argument::try_from(address)?;
        self.single(|c| c.verify(&arg))
    }

    /// smtplib's `expn()`: `EXPN list`.
    pub fn expn(&mut self, list: &str) -> Result<OwnedReply> {
        let arg = Argument::try_from(list)?;
        self.single(|c| c.expn(&arg))
    }

    /// smtplib's `help()`: `HELP [topic]`.
    pub fn help(&mut self, topic: Option<&str>) -> Result<OwnedReply> {
        let arg = topic.map(Argument::try_from).transpose()?;
        self.single(|c| c.help(arg.as_ref()))
    }

    /// smtplib's `noop()`.
    pub fn noop(&mut self) -> Result<OwnedReply> {
        self.single(|c| c.noop(None))
    }

    /// smtplib's `rset()`.
    pub fn rset(&mut self) -> Result<OwnedReply> {
        self.single(Client::rset)
    }

    /// smtplib's `docmd()`: sends one raw command line (validated: no CR, LF or other control)
    /// and returns the reply. The session does not interpret it.
    pub fn docmd(&mut self, line: &str) -> Result<OwnedReply> {
        let arg = Argument::try_from(line)?;
        self.single(|c| c.raw(&arg))
    }

    /// smtplib's `mail()`: `MAIL FROM:<from> [params]`, returns the reply whatever its code.
    /// `""` or `"<>"` is the null reverse-path. SMTPUTF8 is added when `from` needs it (and
    /// refused with [`UsageError::Unsupported`] when the server lacks it).
    pub fn mail(&mut self, from: &str, params: MailParams) -> Result<OwnedReply> {
        let from = ReversePath::try_from(from)?;
        self.single(|c| c.mail(from, params))
    }

    /// smtplib's `rcpt()`: `RCPT TO:<to> [params]`, returns the reply whatever its code.
    pub fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<OwnedReply> {
        let to = Mailbox::try_from(to)?;
        self.single(|c| c.rcpt(to, params))
    }

    /// smtplib's `data()`: `DATA`, then the message read from `message` and streamed (line ends
    /// normalised to CRLF, dots stuffed, a final CRLF added when missing), then the end-of-data
    /// reply, returned whatever its code. `DATA` not answered `354` is
    /// [`Error::DataRefused`]. For LMTP the last per-recipient reply is returned; see
    /// [`data_per_recipient`](Self::data_per_recipient).
    pub fn data(&mut self, message: impl Read) -> Result<OwnedReply> {
        let mut replies = self.data_per_recipient(message)?;
        replies.pop().ok_or(Error::NotConnected)
    }

    /// [`data`](Self::data) returning every reply after the body: one for SMTP, one per
    /// recipient accepted since [`mail`](Self::mail) for LMTP (RFC 2033 §4.2).
    pub fn data_per_recipient(&mut self, mut message: impl Read) -> Result<Vec<OwnedReply>> {
        let id = self.enqueue(Client::data)?;
        let mut replies = Vec::new();
        let mut body_started = false;
        self.drive(Some(&mut message), |client, event| match event {
            Some(Event::BodyWanted(i)) if i == id => {
                body_started = true;
                None
            }
            Some(Event::Reply { id: i, reply }) if i == id => {
                if !body_started {
                    return Some(Err(Error::DataRefused {
                        reply,
                        refused: Vec::new(),
                    }));
                }
                replies.push(reply);
                None
            }
            None if !replies.is_empty() && !client.is_busy() => Some(Ok(())),
            _ => None,
        })?;
        Ok(replies)
    }

    /// smtplib's `login(user, password)`: says hello if needed, then tries SCRAM-SHA-256,
    /// SCRAM-SHA-1 (with `smtp-proto`'s default `scram` feature), CRAM-MD5, PLAIN and LOGIN in
    /// that order among those offered, until one succeeds. Refused credentials are
    /// [`Error::AuthFailed`]; no usable mechanism is
    /// [`UsageError::NoSuitableMechanism`]; AUTH not offered is [`UsageError::Unsupported`].
    pub fn login(&mut self, user: &str, password: &str) -> Result<OwnedReply> {
        self.ehlo_or_helo_if_needed()?;
        let id = self.enqueue(|c| c.login(user, password))?;
        self.wait_auth(id)
    }

    /// smtplib's `auth(mechanism, authobject)`: AUTH with any SASL mechanism (see
    /// [`smtp_proto::sasl`]: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256, SCRAM-SHA-1, XOAUTH2,
    /// OAUTHBEARER, EXTERNAL, or your own). The mechanism must be offered; it is never silently
    /// replaced by another.
    pub fn auth(&mut self, mechanism: Box<dyn Mechanism>) -> Result<OwnedReply> {
        self.ehlo_or_helo_if_needed()?;
        let id = self.enqueue(|c| c.authenticate(mechanism))?;
        self.wait_auth(id)
    }

    fn wait_auth(&mut self, id: RequestId) -> Result<OwnedReply> {
        self.drive(None, |_, event| match event {
            Some(Event::Authenticated { id: i, reply }) if i == id => Some(Ok(reply)),
            Some(Event::AuthFailed { id: i, reply }) if i == id => {
                Some(Err(Error::AuthFailed(reply)))
            }
            _ => None,
        })
    }

    /// smtplib's `starttls()`: says hello if needed, sends STARTTLS and, on `220`, does the TLS
    /// handshake (certificate and host name verified unless configured otherwise). The
    /// capabilities are forgotten afterwards: the next command that needs them says EHLO again.
    /// Any reply but `220` is [`Error::StartTlsRefused`]; STARTTLS not offered is
    /// [`UsageError::Unsupported`].
    pub fn starttls(&mut self) -> Result<OwnedReply> {
        self.ehlo_or_helo_if_needed()?;
        let reply = self.single(Client::starttls)?;
        if reply.code() == smtp_proto::ReplyCode::READY {
            Ok(reply)
        } else {
            Err(Error::StartTlsRefused(reply))
        }
    }

    /// A whole mail transaction: MAIL, every RCPT, DATA or BDAT with the body streamed from
    /// `message` in constant memory, and every reply attributed. Refusals are not errors here:
    /// they are in the [`MailReport`]. Says hello first if needed.
    pub fn send_mail(&mut self, envelope: Envelope, mut message: impl Read) -> Result<MailReport> {
        self.ehlo_or_helo_if_needed()?;
        let id = self.enqueue(|c| c.send_mail(envelope))?;
        self.drive(Some(&mut message), |_, event| match event {
            Some(Event::MailDone(report)) if report.id == id => Some(Ok(report)),
            _ => None,
        })
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
    pub fn send_all<R: Read>(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, R)>,
    ) -> Result<Vec<MailReport>> {
        let mut reports = Vec::new();
        self.send_all_with(messages, |report| reports.push(report))?;
        Ok(reports)
    }

    /// [`send_all`](Self::send_all), handing each [`MailReport`] to `on_report` as its
    /// transaction completes instead of collecting them: memory stays constant however many
    /// messages the iterator yields.
    pub fn send_all_with<R: Read>(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, R)>,
        on_report: impl FnMut(MailReport),
    ) -> Result<()> {
        self.ehlo_or_helo_if_needed()?;
        let mut batch = Batch::new(messages.into_iter(), on_report);
        let session = self.session.as_mut().ok_or(Error::NotConnected)?;
        batch.top_up(&mut session.client);
        self.drive_job(&mut batch)
    }

    /// smtplib's `sendmail(from_addr, to_addrs, msg)`: sends `message` (streamed) to every
    /// recipient and returns those refused, with their replies. Sender refused, every recipient
    /// refused and data refused are errors, as in smtplib; SMTPUTF8 is used when an address
    /// needs it. The message is declared 7-bit: use [`sendmail_with`](Self::sendmail_with) with
    /// [`Content::EightBit`] for 8-bit bodies.
    pub fn sendmail(
        &mut self,
        from: &str,
        to: impl IntoIterator<Item = impl AsRef<str>>,
        message: impl Read,
    ) -> Result<Refused> {
        let envelope = envelope(from, to)?;
        self.sendmail_as(envelope, message, from.to_owned())
    }

    /// [`sendmail`](Self::sendmail) with a full [`Envelope`] (MAIL/RCPT parameters, declared
    /// size and content). [`Error::SenderRefused`] names the sender without angle brackets
    /// (`<>` for the null path).
    pub fn sendmail_with(&mut self, envelope: Envelope, message: impl Read) -> Result<Refused> {
        let sender = sender_text(&envelope.from);
        self.sendmail_as(envelope, message, sender)
    }

    /// `sendmail` with the sender as [`Error::SenderRefused`] is to name it.
    fn sendmail_as(
        &mut self,
        envelope: Envelope,
        message: impl Read,
        sender: String,
    ) -> Result<Refused> {
        let report = self.send_mail(envelope, message)?;
        sendmail_result(report, sender)
    }

    /// smtplib's `send_message(msg)`: the envelope is taken from the message's headers — the
    /// `Resent-` block when there is exactly one (`Resent-Date`), else `Sender` or `From` for
    /// the sender and `To`, `Bcc`, `Cc` for the recipients — and the message is sent without
    /// its `Bcc` and `Resent-Bcc` fields. SMTPUTF8 (with `BODY=8BITMIME`) is used when an
    /// address needs it; 8-bit header bytes declare `BODY=8BITMIME` too. Only the header block
    /// is held in memory ([`MAX_HEADER_BLOCK`](crate::MAX_HEADER_BLOCK)); the body streams.
    pub fn send_message(&mut self, message: impl Read) -> Result<Refused> {
        self.send_message_with(message, None, None)
    }

    /// [`send_message`](Self::send_message) with an explicit sender and/or recipients (smtplib's
    /// `from_addr`, `to_addrs`), which override the headers'.
    pub fn send_message_with(
        &mut self,
        mut message: impl Read,
        from: Option<&str>,
        to: Option<&[&str]>,
    ) -> Result<Refused> {
        self.ehlo_or_helo_if_needed()?;
        let prepared = message::prepare(&mut message)?;
        let from = match from {
            Some(f) => f.to_owned(),
            None => prepared.from.clone().ok_or_else(|| {
                Error::Message("no Sender or From header to take the sender from".into())
            })?,
        };
        let mut envelope = match to {
            Some(to) => envelope(&from, to.iter())?,
            None if prepared.to.is_empty() => {
                return Err(Error::Message(
                    "no To, Bcc or Cc header to take the recipients from".into(),
                ))
            }
            None => envelope(&from, &prepared.to)?,
        };
        let eight_bit_mime = self
            .capabilities()
            .is_some_and(|c| c.supports(Extension::EightBitMime));
        if prepared.eight_bit_head || (envelope.needs_smtputf8() && eight_bit_mime) {
            envelope.content = Content::EightBit;
        }
        let body = prepared
            .head
            .as_slice()
            .chain(prepared.body_start.as_slice())
            .chain(message);
        self.sendmail_as(envelope, body, from)
    }

    /// smtplib's `quit()`: QUIT after anything queued, then closes the connection. A server that
    /// closes without answering QUIT is fine. See [`quit_with_reply`](Self::quit_with_reply) for
    /// the server's answer.
    pub fn quit(&mut self) -> Result<()> {
        self.quit_with_reply().map(drop)
    }

    /// [`quit`](Self::quit) returning the server's reply to QUIT whatever its code, as smtplib's
    /// `quit()` does; `None` when the server closed without answering.
    pub fn quit_with_reply(&mut self) -> Result<Option<OwnedReply>> {
        let session = self.session.as_mut().ok_or(Error::NotConnected)?;
        session.client.quit();
        let result = self.drive(None, |client, event| match event {
            Some(Event::Closed(None)) => Some(Ok(client.quit_reply().cloned())),
            _ => None,
        });
        self.close();
        result
    }

    /// smtplib's `close()`: closes the connection without a word. Idempotent.
    pub fn close(&mut self) {
        if let Some(session) = self.session.take() {
            session.io.shutdown();
        }
    }

    // ------------------------------------------------------------ the loop

    fn enqueue(
        &mut self,
        mutator: impl FnOnce(&mut Client) -> std::result::Result<RequestId, UsageError>,
    ) -> Result<RequestId> {
        let session = self.session.as_mut().ok_or(Error::NotConnected)?;
        Ok(mutator(&mut session.client)?)
    }

    /// A request completed by one `Event::Reply`.
    fn single(
        &mut self,
        mutator: impl FnOnce(&mut Client) -> std::result::Result<RequestId, UsageError>,
    ) -> Result<OwnedReply> {
        let id = self.enqueue(mutator)?;
        self.drive(None, |_, event| match event {
            Some(Event::Reply { id: i, reply }) if i == id => Some(Ok(reply)),
            _ => None,
        })
    }

    /// Runs the session until `until` returns a result. `until` sees every event except
    /// `UpgradeTls`, `BodyWanted` and `Closed(Some(_))` (handled here), and `None` each time the
    /// event queue is empty. Errors that end the session close it.
    fn drive<T>(
        &mut self,
        body: Option<&mut dyn Read>,
        until: impl FnMut(&Client, Option<Event>) -> Option<Result<T>>,
    ) -> Result<T> {
        self.drive_job(&mut Single { body, until })
    }

    /// Runs the session until `job` returns a result; errors that end the session close it.
    fn drive_job<T>(&mut self, job: &mut dyn Job<T>) -> Result<T> {
        let result = self.run(job);
        if !result.as_ref().is_err_and(Error::is_fatal) {
            self.send_leftovers();
        }
        let ended = self.session.as_ref().is_some_and(|s| s.client.is_closed());
        if ended || result.as_ref().is_err_and(Error::is_fatal) {
            self.close();
        }
        result
    }

    fn run<T>(&mut self, job: &mut dyn Job<T>) -> Result<T> {
        let mut open_body: Option<RequestId> = None;
        loop {
            // Events first, so that a body wanted at once leaves with its envelope.
            loop {
                self.flush_transcript();
                let session = self.session.as_mut().ok_or(Error::NotConnected)?;
                let Some(event) = session.client.poll_event() else {
                    break;
                };
                match event {
                    Event::UpgradeTls => self.upgrade()?,
                    Event::BodyWanted(id) => {
                        open_body = Some(id);
                        if let Some(done) = job.event(&mut session.client, Some(event)) {
                            return done;
                        }
                    }
                    Event::Closed(Some(error)) => {
                        // Everything the call waited for already happened (the last message's
                        // final reply came with the trouble that ended the session): its
                        // result stands, and the session is over for the next call.
                        if let Some(done) = job.event(&mut session.client, None) {
                            return done;
                        }
                        return Err(Error::Smtp(error));
                    }
                    Event::Closed(None) => {
                        return job
                            .event(&mut session.client, Some(Event::Closed(None)))
                            .unwrap_or(Err(Error::NotConnected));
                    }
                    other => {
                        if let Some(done) = job.event(&mut session.client, Some(other)) {
                            return done;
                        }
                    }
                }
            }
            let session = self.session.as_mut().ok_or(Error::NotConnected)?;
            if let Some(done) = job.event(&mut session.client, None) {
                return done;
            }
            // Feed the body while the client has room for it, so that it leaves in as few
            // writes as the outbox allows (a small body together with its terminator).
            let mut fed = false;
            while let Some(id) = open_body {
                let Some(mut writer) = session.client.body(id) else {
                    open_body = None;
                    break;
                };
                let room = writer.room();
                if room == 0 {
                    break;
                }
                if self.body_buf.len() < BODY_BUF {
                    self.body_buf.resize(BODY_BUF, 0);
                }
                let buf = self.body_buf.get_mut(..room.min(BODY_BUF));
                let buf = buf.unwrap_or_default();
                let n = match job.body(id) {
                    Some(source) => read_retrying(source, buf)?,
                    None => 0,
                };
                fed = true;
                // An encoding error ends the session; `Closed` reports it.
                match buf.get(..n) {
                    Some(bytes) if n > 0 => match writer.write(bytes) {
                        Ok(took) if took < n => {
                            // `room()` promised space for all of it.
                            return Err(Error::Io(io::Error::other(
                                "internal: the body writer took less than its room",
                            )));
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    },
                    _ => {
                        open_body = None;
                        if writer.finish().is_ok() {
                            // The next request may go out right behind the end of data.
                            job.finished(&mut session.client, id);
                        }
                    }
                }
            }
            self.transmit()?;
            let session = self.session.as_mut().ok_or(Error::NotConnected)?;
            if fed && open_body.is_some() && !session.client.is_closed() {
                // More body to come: a reply that arrived meanwhile must reach the core now
                // (one to the end of data before it was written is out of step, and ends the
                // session), not after the whole body, where it would pass for the real one.
                feed_pending(session)?;
            }
            if fed || session.client.is_closed() {
                continue;
            }
            self.receive(open_body.is_some())?;
        }
    }

    /// What the core queued on its own as the request ended (the RSET after a refused
    /// transaction) leaves now, as smtplib's `sendmail` sends it, not with the next call; its
    /// reply is read by the next call. A write that fails here closes the session.
    fn send_leftovers(&mut self) {
        if self.transmit().is_err() {
            self.close();
        }
        self.flush_transcript();
    }

    /// Writes whatever the client lends, as few writes as the socket allows.
    fn transmit(&mut self) -> Result<()> {
        let session = self.session.as_mut().ok_or(Error::NotConnected)?;
        let default_wait = session.client.config().timeouts.command;
        loop {
            let now = Instant::now();
            if session.client.poll_transmit(now).is_none() {
                return Ok(());
            }
            let deadline = match session.client.poll_timeout() {
                Some(deadline) if deadline <= now => {
                    session.client.handle_timeout(now);
                    continue;
                }
                Some(deadline) => deadline,
                None => now + default_wait,
            };
            session.io.set_deadline(deadline)?;
            let Some(bytes) = session.client.poll_transmit(now) else {
                return Ok(());
            };
            match session.io.write(bytes) {
                Ok(0) => return Err(Error::Io(ErrorKind::WriteZero.into())),
                Ok(n) => session.client.handle_written(n, Instant::now()),
                Err(e) if is_timeout(&e) => session.client.handle_timeout(Instant::now()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_disconnect(&e) => {
                    drain_after_write_failure(session);
                    return Ok(());
                }
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }

    /// Waits for bytes or the next deadline, then feeds exactly one input.
    fn receive(&mut self, body_open: bool) -> Result<()> {
        let session = self.session.as_mut().ok_or(Error::NotConnected)?;
        let now = Instant::now();
        let deadline = match session.client.poll_timeout() {
            Some(deadline) if deadline <= now => {
                session.client.handle_timeout(now);
                return Ok(());
            }
            Some(deadline) => deadline,
            None if session.client.is_busy() || body_open => {
                now + session.client.config().timeouts.command
            }
            None => {
                return Err(Error::Io(io::Error::other(
                    "internal: the session has nothing to wait for",
                )))
            }
        };
        session.io.set_deadline(deadline)?;
        match session.io.read(&mut session.read_buf) {
            Ok(0) => session.client.handle_eof(Instant::now()),
            Ok(n) => {
                let bytes = session.read_buf.get(..n).unwrap_or_default();
                session.client.handle_input(bytes, Instant::now());
            }
            Err(e) if is_timeout(&e) => session.client.handle_timeout(Instant::now()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_disconnect(&e) => session.client.handle_eof(Instant::now()),
            Err(e) => return Err(Error::Io(e)),
        }
        Ok(())
    }

    /// The server accepted STARTTLS: handshake on the same socket, bounded by the deadline.
    fn upgrade(&mut self) -> Result<()> {
        let connector = self.connector()?;
        let command = self.timeouts().command;
        let session = self.session.as_mut().ok_or(Error::NotConnected)?;
        // The core may have ended the session in the same input that accepted STARTTLS
        // (plaintext right behind the `220`): then `Closed` follows and there is nothing to do.
        if session.client.is_closed() {
            return Ok(());
        }
        // Plaintext that already arrived behind the `220` must reach the core (which ends the
        // session), never the TLS layer. An end of stream is left to the handshake, which then
        // fails as a TLS error: whether the close arrived before this check or during the
        // handshake, one outcome.
        if let Ok(Some(n)) = session.io.read_pending(&mut session.read_buf) {
            if n > 0 {
                let bytes = session.read_buf.get(..n).unwrap_or_default();
                session.client.handle_input(bytes, Instant::now());
                return Ok(());
            }
        }
        let deadline = session
            .client
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + command);
        session
            .io
            .upgrade(&connector, &session.server_name, deadline)
            .map_err(|e| handshake_error(e, command))?;
        session.client.handle_tls_established(Instant::now());
        Ok(())
    }

    fn flush_transcript(&mut self) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        while let Some(entry) = session.client.poll_transcript() {
            if let Some(sink) = self.sink.as_mut() {
                sink(&entry);
            }
        }
    }
}

/// What one run of the loop is for: which events complete it and where bodies come from.
trait Job<T> {
    /// Sees every event except `UpgradeTls` and `Closed(Some(_))` (the loop handles them), and
    /// `None` each time the event queue is empty; a result ends the run.
    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<T>>;
    /// The source of request `id`'s body (`None`: an empty body).
    fn body(&mut self, id: RequestId) -> Option<&mut dyn Read>;
    /// Request `id`'s body ended: its terminator is queued.
    fn finished(&mut self, _client: &mut Client, _id: RequestId) {}
}

/// One request: at most one body, and a closure that decides when it is complete.
struct Single<'a, F> {
    body: Option<&'a mut dyn Read>,
    until: F,
}

impl<T, F> Job<T> for Single<'_, F>
where
    F: FnMut(&Client, Option<Event>) -> Option<Result<T>>,
{
    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<T>> {
        (self.until)(client, event)
    }

    fn body(&mut self, _id: RequestId) -> Option<&mut dyn Read> {
        match &mut self.body {
            Some(body) => Some(&mut **body),
            None => None,
        }
    }
}

/// Several transactions on one connection, one message ahead: the core's
/// [`SendQueue`] decides when the next message is queued; this feeds it the messages and hands
/// each report to the caller.
struct Batch<I, R, F> {
    messages: I,
    queue: SendQueue<R>,
    /// Receives each transaction's report as it completes.
    on_report: F,
}

impl<I, R, F> Batch<I, R, F>
where
    I: Iterator<Item = (Envelope, R)>,
{
    fn new(messages: I, on_report: F) -> Self {
        Self {
            messages,
            queue: SendQueue::new(),
            on_report,
        }
    }

    /// Queues the next message unless one is already waiting to send its body.
    fn top_up(&mut self, client: &mut Client) {
        self.queue.top_up(client, &mut self.messages);
    }
}

impl<I, R, F> Job<()> for Batch<I, R, F>
where
    I: Iterator<Item = (Envelope, R)>,
    F: FnMut(MailReport),
    R: Read,
{
    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<()>> {
        match event {
            Some(Event::MailDone(report)) => {
                if self.queue.take_report(&report) {
                    (self.on_report)(report);
                    self.top_up(client);
                }
                None
            }
            None if self.queue.is_done() => {
                Some(self.queue.take_refusal().map_or(Ok(()), |e| Err(e.into())))
            }
            _ => None,
        }
    }

    fn body(&mut self, id: RequestId) -> Option<&mut dyn Read> {
        self.queue.body_mut(id).map(|b| b as &mut dyn Read)
    }

    fn finished(&mut self, client: &mut Client, id: RequestId) {
        self.queue.body_finished(id);
        self.top_up(client);
    }
}

fn read_retrying(source: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    loop {
        match source.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            other => return Ok(other?),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::BrokenPipe
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof
    )
}

/// The write failed because the peer went away: read what it said last (often the reason, as a
/// `421` or `554`), briefly, then report the end of stream.
fn drain_after_write_failure(session: &mut Session) {
    let until = Instant::now() + DRAIN_AFTER_WRITE_FAILURE;
    while !session.client.is_closed() {
        if Instant::now() >= until || session.io.set_deadline(until).is_err() {
            break;
        }
        match session.io.read(&mut session.read_buf) {
            Ok(0) => break,
            Ok(n) => {
                let bytes = session.read_buf.get(..n).unwrap_or_default();
                session.client.handle_input(bytes, Instant::now());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    session.client.handle_eof(Instant::now());
}

/// Feeds the core whatever input has already arrived, without waiting; whether there was any
/// (or the end of the stream).
fn feed_pending(session: &mut Session) -> Result<bool> {
    match session.io.read_pending(&mut session.read_buf) {
        Ok(None) => Ok(false),
        Ok(Some(0)) => {
            session.client.handle_eof(Instant::now());
            Ok(true)
        }
        Ok(Some(n)) => {
            let bytes = session.read_buf.get(..n).unwrap_or_default();
            session.client.handle_input(bytes, Instant::now());
            Ok(true)
        }
        Err(e) if is_disconnect(&e) => {
            session.client.handle_eof(Instant::now());
            Ok(true)
        }
        Err(e) => Err(Error::Io(e)),
    }
}

fn handshake_error(e: HandshakeFailure, after: Duration) -> Error {
    match e {
        HandshakeFailure::Tls(e) => Error::tls(e),
        HandshakeFailure::Timeout => Error::timeout(Stage::TlsHandshake, after),
        HandshakeFailure::Io(e) => Error::Io(e),
    }
}

/// `host` and `port`, taking a `:port` suffix of `host` when `port` is 0.
fn split_host_port(host: &str, port: u16, default: u16) -> Result<(&str, u16)> {
    let host = host.trim();
    if host.is_empty() {
        return Err(Error::InvalidSetting("empty host".into()));
    }
    if port != 0 {
        return Ok((strip_brackets(host), port));
    }
    let split = match host.rsplit_once(':') {
        // `[v6]:port` or `name:port`; a bare IPv6 address has more than one colon.
        Some((h, p)) if h.ends_with(']') || !h.contains(':') => Some((h, p)),
        _ => None,
    };
    match split {
        Some((h, p)) => {
            let port = p
                .parse()
                .map_err(|_| Error::InvalidSetting(format!("nonnumeric port {p:?}")))?;
            Ok((strip_brackets(h), port))
        }
        None => Ok((strip_brackets(host), default)),
    }
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Connects to the first address of `host` that answers, the whole connect (every address
/// tried) bounded by `timeout`.
fn connect_tcp(
    host: &str,
    port: u16,
    source: Option<SocketAddr>,
    timeout: Duration,
) -> Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    let addrs = (host, port).to_socket_addrs()?;
    connect_addrs(host, addrs, source, deadline)
}

/// Tries `addrs` in order until one answers, each attempt given what is left until `deadline`.
fn connect_addrs(
    host: &str,
    addrs: impl IntoIterator<Item = SocketAddr>,
    source: Option<SocketAddr>,
    deadline: Instant,
) -> Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        if source.is_some_and(|s| s.is_ipv4() != addr.is_ipv4()) {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            last = Some(io::Error::new(
                ErrorKind::TimedOut,
                format!("{host}: connect timed out"),
            ));
            break;
        }
        let attempt = match source {
            None => TcpStream::connect_timeout(&addr, left),
            Some(source) => connect_from(source, addr, left),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Io(last.unwrap_or_else(|| {
        io::Error::new(
            ErrorKind::NotFound,
            format!("{host}: no usable address found"),
        )
    })))
}

/// Connects to the Unix socket at `path` without waiting, so that the connect is bounded
/// whatever the listener does: one whose backlog is full fails at once (`EAGAIN` on Linux), as
/// with the async adapters, rather than block until it accepts. (Local connects complete or
/// fail at once; there is no handshake to wait for.)
#[cfg(unix)]
fn connect_unix(path: &Path) -> io::Result<UnixStream> {
    use socket2::{Domain as SockDomain, SockAddr, Socket, Type};
    let socket = Socket::new(SockDomain::UNIX, Type::STREAM, None)?;
    let addr = SockAddr::unix(path)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr) {
        // Linux: the listener's backlog is full. Not a timeout (nothing was waited for): the
        // server is not taking connections, as the async adapters report it too.
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            return Err(io::Error::new(
                ErrorKind::ConnectionRefused,
                format!("{}: the listener's backlog is full ({e})", path.display()),
            ))
        }
        other => other?,
    }
    socket.set_nonblocking(false)?;
    Ok(UnixStream::from(std::os::fd::OwnedFd::from(socket)))
}

fn connect_from(source: SocketAddr, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    use socket2::{Domain as SockDomain, Protocol, Socket, Type};
    let socket = Socket::new(
        SockDomain::for_address(addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.bind(&source.into())?;
    socket.connect_timeout(&addr.into(), timeout)?;
    Ok(socket.into())
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

/// Whether the settings carry TLS material to parse (built before connecting, so that bad
/// material fails before anything is sent).
fn has_tls_material(settings: &Settings) -> bool {
    !settings.tls_roots.is_empty() || settings.tls_identity.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback listener that takes no more connections: its accept queue is full, so the
    /// kernel drops further SYNs and a connect to it waits (`None`: could not fill it).
    fn full_listener() -> Option<(socket2::Socket, SocketAddr, Vec<TcpStream>)> {
        use socket2::{Domain as SockDomain, Socket, Type};
        let socket = Socket::new(SockDomain::IPV4, Type::STREAM, None).ok()?;
        let any: SocketAddr = "127.0.0.1:0".parse().ok()?;
        socket.bind(&any.into()).ok()?;
        socket.listen(0).ok()?;
        let addr = socket.local_addr().ok()?.as_socket()?;
        let mut queued = Vec::new();
        for _ in 0..64 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => queued.push(s),
                Err(_) => return Some((socket, addr, queued)),
            }
        }
        None
    }
    use crate::transport::rearm;

    #[test]
    fn the_client_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<SmtpClient>();
        assert_send::<Error>();
    }

    #[test]
    fn host_port_splitting() {
        assert_eq!(split_host_port("mx", 0, 25).ok(), Some(("mx", 25)));
        assert_eq!(split_host_port("mx:2525", 0, 25).ok(), Some(("mx", 2525)));
        assert_eq!(
            split_host_port("mx:2525", 26, 25).ok(),
            Some(("mx:2525", 26))
        );
        assert_eq!(
            split_host_port("[::1]:2525", 0, 25).ok(),
            Some(("::1", 2525))
        );
        assert_eq!(split_host_port("::1", 0, 25).ok(), Some(("::1", 25)));
        assert_eq!(split_host_port("[::1]", 7, 25).ok(), Some(("::1", 7)));
        assert!(matches!(
            split_host_port("mx:abc", 0, 25),
            Err(Error::InvalidSetting(_))
        ));
        assert!(matches!(
            split_host_port(" ", 0, 25),
            Err(Error::InvalidSetting(_))
        ));
    }

    #[test]
    fn socket_timeouts_are_rearmed_only_when_they_move() {
        let secs = Duration::from_secs;
        let ms = Duration::from_millis;
        assert!(rearm(None, secs(300)));
        // 300 s: 50 ms of slack either way.
        assert!(!rearm(Some(secs(300)), secs(300) - ms(50)));
        assert!(rearm(Some(secs(300)), secs(300) - ms(51)));
        assert!(rearm(Some(secs(300)), secs(300) + ms(51)));
        // A wait of 640 ms: 10 ms.
        assert!(!rearm(Some(ms(650)), ms(640)));
        assert!(!rearm(Some(ms(630)), ms(640)));
        assert!(rearm(Some(ms(651)), ms(640)));
        // A much shorter wait (a near deadline) is always armed.
        assert!(rearm(Some(secs(300)), ms(10)));
    }

    #[test]
    fn the_connect_timeout_bounds_every_address_together() {
        let mut listeners = Vec::new();
        for _ in 0..6 {
            let Some(full) = full_listener() else {
                eprintln!("could not fill a listen backlog on this host: skipped");
                return;
            };
            listeners.push(full);
        }
        let addrs: Vec<SocketAddr> = listeners.iter().map(|(_, addr, _)| *addr).collect();
        let timeout = Duration::from_secs(1);
        let start = Instant::now();
        let result = connect_addrs("stalled.test", addrs, None, start + timeout);
        let took = start.elapsed();
        assert!(result.as_ref().is_err_and(Error::is_timeout), "{result:?}");
        // Each of the six addresses given the whole second would take six.
        assert!(took < timeout * 3, "the connect took {took:?}");
    }

    #[test]
    fn zero_timeout_is_refused_before_connecting() {
        let mut client = SmtpClient::builder().timeout(Duration::ZERO).build();
        assert!(matches!(
            client.connect("127.0.0.1", 1),
            Err(Error::InvalidSetting(_))
        ));
    }

    #[test]
    fn sendmail_takes_any_collection_of_recipients() {
        let mut client = SmtpClient::builder().build();
        let owned: Vec<String> = vec!["b@example.net".into()];
        for result in [
            client.sendmail("a@example.org", &owned, &b""[..]),
            client.sendmail("a@example.org", ["b@example.net"], &b""[..]),
            client.sendmail("a@example.org", &["b@example.net"][..], &b""[..]),
        ] {
            assert!(matches!(result, Err(Error::NotConnected)), "{result:?}");
        }
        // Checked before anything else: CR/LF in a recipient never reaches a session.
        let bad = client.sendmail("a@example.org", ["b@x\r\nRSET"], &b""[..]);
        assert!(matches!(bad, Err(Error::InvalidInput(_))), "{bad:?}");
    }

    #[test]
    fn commands_without_a_session_are_not_connected() {
        let mut client = SmtpClient::builder().build();
        assert!(matches!(client.noop(), Err(Error::NotConnected)));
        assert!(matches!(client.quit(), Err(Error::NotConnected)));
        client.close();
        assert!(!client.is_connected());
    }
}
