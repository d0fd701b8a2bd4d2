//! [`SmtpClient`]: the smtplib-parity blocking client, and its [`Builder`]. smtplib's methods
//! are the core's ([`smtp_proto::smtplib_methods!`]); this file connects and pumps.

use std::io::{Read, Write};
#[cfg(unix)]
use std::path::Path;
use std::time::{Duration, Instant};

use native_tls::TlsConnector;
use smtp_proto::client::{TlsMode, TranscriptEntry};
use smtp_proto::session::op::Operation;
use smtp_proto::session::{
    host_and_port, is_loopback, stderr_transcript, Error, Peer, Pump, Result, Settings, Step,
    TranscriptSink, BODY_CHUNK, READ_CHUNK,
};
use smtp_proto::OwnedReply;

#[cfg(unix)]
use crate::connect::connect_unix;
use crate::connect::{connect_tcp, tls_connector};
use crate::fqdn;
use crate::transport::{Connection, HandshakeFailure, Stream, Transport};

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

    /// The TLS connector for implicit TLS and STARTTLS (smtplib's `context`). Default: one
    /// built from the settings, which verifies the certificate chain against the system's
    /// roots and those of [`add_root_certificate_pem`](Self::add_root_certificate_pem), and the
    /// host name against the host connected to, presenting the identity of
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
        Self {
            sink: on.then(stderr_transcript),
            ..self
        }
    }

    /// The connector given, else the one the settings describe (built once; bad material
    /// fails before anything is sent).
    /// The settings, the caller's TLS connector and the transcript sink, for a pool.
    pub(crate) fn into_parts(self) -> (Settings, Option<TlsConnector>, Option<TranscriptSink>) {
        (self.settings, self.connector, self.sink)
    }

    fn connector(&mut self) -> Result<TlsConnector> {
        if let Some(connector) = &self.connector {
            return Ok(connector.clone());
        }
        let connector = tls_connector(&self.settings)?;
        Ok(self.connector.insert(connector).clone())
    }

    /// An unconnected client; call [`SmtpClient::connect`] or [`SmtpClient::connect_unix`].
    pub fn build(mut self) -> SmtpClient {
        SmtpClient {
            sink: self.sink.take(),
            opts: self,
            session: None,
            read_buf: Vec::new(),
            body_buf: Vec::new(),
            end_of_data_unanswered: false,
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

/// One live session: the core, its transport and the TLS server name.
type Session = smtp_proto::session::Live<Transport>;

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
    read_buf: Vec<u8>,
    body_buf: Vec<u8>,
    /// What the last closed session left: an end of data written and never answered.
    end_of_data_unanswered: bool,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("opts", &self.opts)
            .field("connected", &self.session.is_some())
            .field("client", &self.session())
            .finish_non_exhaustive()
    }
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
        let builder = Self::builder().tls(TlsMode::Implicit);
        builder.tls_connector(connector).connect(host, port)
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
            return self.connect_unix(host);
        }
        self.close();
        self.opts.settings.check()?;
        if self.opts.settings.wants_tls() {
            self.opts.connector()?;
        }
        let (host, port) = host_and_port(host, port, self.opts.settings.default_port())?;
        let source = self.opts.settings.source_address;
        let tcp = connect_tcp(host, port, source, self.opts.settings.connect_timeout())?;
        tcp.set_nodelay(true)?;
        let peer = Peer {
            loopback: tcp.peer_addr().is_ok_and(|a| is_loopback(a.ip())),
            local_ip: tcp.local_addr().ok().map(|a| a.ip()),
        };
        self.start(Stream::new(tcp), host, peer)
    }

    /// Connects to the Unix socket at `path` and returns the greeting.
    #[cfg(unix)]
    pub fn connect_unix(&mut self, path: impl AsRef<Path>) -> Result<OwnedReply> {
        self.close();
        self.opts.settings.check()?;
        if self.opts.settings.wants_tls() {
            self.opts.connector()?;
        }
        let unix = connect_unix(path.as_ref())?;
        let peer = Peer {
            local_ip: None,
            loopback: true,
        };
        self.start(Stream::new(unix), "localhost", peer)
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
    /// - Set `TCP_NODELAY` on a TCP stream yourself ([`TcpStream::set_nodelay`](std::net::TcpStream::set_nodelay)), as `connect`
    ///   does: with Nagle's algorithm on, a small write behind unacknowledged data (the end of
    ///   a body, say) can wait for the peer's delayed ACK.
    pub fn connect_stream(
        &mut self,
        stream: impl Connection,
        server_name: &str,
    ) -> Result<OwnedReply> {
        self.close();
        self.opts.settings.check()?;
        if self.opts.settings.wants_tls() {
            self.opts.connector()?;
        }
        let peer = Peer {
            local_ip: None,
            loopback: false,
        };
        self.start(Stream::new(stream), server_name, peer)
    }

    /// Implicit TLS if configured, then the core, then the greeting (and set-up).
    fn start(&mut self, stream: Stream, server_name: &str, peer: Peer) -> Result<OwnedReply> {
        let mut io = Transport::Plain(stream);
        if self.opts.settings.tls == TlsMode::Implicit {
            let limit = self.opts.settings.connect_timeout();
            let upgraded = io.upgrade(&self.opts.connector()?, server_name, Instant::now() + limit);
            upgraded.map_err(|e| handshake_error(e, limit))?;
        }
        let transcript = self.sink.is_some();
        let config = self.opts.settings.session_config(peer, fqdn(), transcript);
        self.session = Some(Session::new(config, io, server_name, Instant::now()));
        self.run(smtp_proto::session::op::Greeting)
    }

    // ------------------------------------------------------------ getters

    /// Whether a session is open.
    pub fn is_connected(&self) -> bool {
        self.session.is_some()
    }

    smtp_proto::session_getters!(field session);

    // ------------------------------------------------------------ smtplib's methods

    smtp_proto::smtplib_methods! {
        read: [Read],
        ext: [std::io::Read],
        asyncness: [],
        await: [],
    }

    /// smtplib's `close()`: closes the connection without a word. Idempotent.
    pub fn close(&mut self) {
        if let Some(session) = self.session.take() {
            self.end_of_data_unanswered = session.client.end_of_data_unanswered();
            session.io.shutdown();
        }
    }

    /// After a send failed: whether its end of data had been written and its reply never
    /// came, so that the server may have taken the message although the call failed (RFC 5321
    /// §4.1.1.4; sending it again could deliver it twice). `false`: it was not delivered.
    /// Stays known after the session closed, until the next connect.
    pub fn end_of_data_unanswered(&self) -> bool {
        self.session
            .as_ref()
            .map_or(self.end_of_data_unanswered, |s| {
                s.client.end_of_data_unanswered()
            })
    }

    // ------------------------------------------------------------ the pump

    /// Runs `op` to completion over the session (see [`Pump`]); closes the session when the
    /// pump says it is over.
    fn run<O: Operation>(&mut self, op: O) -> Result<O::Output>
    where
        O::Body: Read,
    {
        let session = self.session.as_mut().ok_or(Error::NotConnected)?;
        self.read_buf.resize(READ_CHUNK, 0);
        self.body_buf.resize(BODY_CHUNK, 0);
        let mut pump = Pump::new(op);
        loop {
            let client = &mut session.client;
            match pump.next(client, &mut self.sink, Instant::now()) {
                Step::Body { id, max } => {
                    let buf = self.body_buf.get_mut(..max).unwrap_or_default();
                    let read = pump.body(id).map_or(Ok(0), |source| source.read(buf));
                    pump.body_read(client, id, read.map(|n| buf.get(..n).unwrap_or_default()));
                }
                Step::Write {
                    deadline,
                    look_first,
                } => {
                    if look_first {
                        if let Some(read) = session.io.read_pending(&mut self.read_buf) {
                            pump.read(client, read, Instant::now());
                            continue;
                        }
                    }
                    let written = session.io.set_deadline(deadline).and_then(|()| {
                        let bytes = pump.outgoing(client);
                        session.io.write(bytes)
                    });
                    pump.wrote(client, written, Instant::now());
                }
                Step::Read { deadline } => {
                    let buf = &mut self.read_buf;
                    let read = session
                        .io
                        .set_deadline(deadline)
                        .and_then(|()| session.io.read(buf));
                    pump.read(
                        client,
                        read.map(|n| buf.get(..n).unwrap_or_default()),
                        Instant::now(),
                    );
                }
                Step::Handshake { deadline } => {
                    let pending = session.io.read_pending(&mut self.read_buf);
                    if pump.before_handshake(client, pending, Instant::now()) {
                        let name = &session.server_name;
                        let outcome = self.opts.connector().and_then(|connector| {
                            match session.io.upgrade(&connector, name, deadline) {
                                Ok(()) => Ok(true),
                                Err(HandshakeFailure::Timeout) => Ok(false),
                                Err(e) => Err(handshake_error(e, Duration::ZERO)),
                            }
                        });
                        pump.handshake(client, outcome, Instant::now());
                    }
                }
                Step::Done { result, close } => {
                    if close {
                        self.close();
                    }
                    return result;
                }
            }
        }
    }
}

fn handshake_error(e: HandshakeFailure, after: Duration) -> Error {
    match e {
        HandshakeFailure::Tls(e) => Error::tls(e),
        HandshakeFailure::Timeout => Error::timeout(smtp_proto::client::Stage::TlsHandshake, after),
        HandshakeFailure::Io(e) => Error::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<SmtpClient>();
        assert_send::<Error>();
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
