//! [`GenericSmtpClient`]: the smtplib-parity async client, and its [`GenericBuilder`]. smtplib's
//! methods are the core's ([`smtp_proto::smtplib_methods!`]); this file connects and pumps.

use std::fmt;
use std::io::{self, ErrorKind};
use std::marker::PhantomData;
#[cfg(unix)]
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use async_io::Timer;
use async_native_tls::TlsConnector;
use futures_lite::{future, AsyncRead, AsyncReadExt};
use smtp_proto::client::{TlsMode, TranscriptEntry};
use smtp_proto::session::op::{Greeting, Operation};
use smtp_proto::session::{
    host_and_port, stderr_transcript, Error, Peer, Pump, Result, Settings, Step, TranscriptSink,
    BODY_CHUNK, READ_CHUNK,
};
use smtp_proto::OwnedReply;

use crate::connect::{self, Opened};
use crate::transport::{tls_connector, Transport};
use crate::{fqdn, AsyncIo, Runtime};

/// Settings for a [`GenericSmtpClient`], then [`connect`](Self::connect) (or
/// [`build`](Self::build) an unconnected client, as smtplib's `SMTP()` without a host).
///
/// The same settings, with the same names and defaults, as `smtp_blocking::Builder`: SMTP, no
/// TLS unless asked, certificates verified when TLS is used, greeting only on connect, RFC 5321
/// timeouts, PIPELINING and CHUNKING when offered, bare CR/LF in bodies turned into CRLF.
pub struct GenericBuilder<R: Runtime> {
    settings: Settings,
    connector: Option<Arc<TlsConnector>>,
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
    /// [`async_native_tls::TlsConnector`], or a `native_tls::TlsConnectorBuilder`. Default: one
    /// built from the settings: the system's roots and those of
    /// [`add_root_certificate_pem`](Self::add_root_certificate_pem), the identity of
    /// [`client_identity_pem`](Self::client_identity_pem) (both ignored when a connector is given
    /// here), the certificate chain and the host name verified.
    pub fn tls_connector(self, connector: impl Into<TlsConnector>) -> Self {
        Self {
            connector: Some(Arc::new(connector.into())),
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
            sink: on.then(stderr_transcript),
            ..self
        }
    }

    /// The connector given, else the one the settings describe (built once; bad material
    /// fails before anything is sent).
    /// The settings, the caller's TLS connector and the transcript sink, for a pool.
    pub(crate) fn into_parts(
        self,
    ) -> (Settings, Option<Arc<TlsConnector>>, Option<TranscriptSink>) {
        (self.settings, self.connector, self.sink)
    }

    /// A connector shared with other clients (a pool's).
    pub(crate) fn shared_connector(self, connector: Arc<TlsConnector>) -> Self {
        Self {
            connector: Some(connector),
            ..self
        }
    }

    fn connector(&mut self) -> Result<&TlsConnector> {
        let connector = match self.connector.take() {
            Some(given) => given,
            None => Arc::new(tls_connector(&self.settings)?),
        };
        Ok(self.connector.insert(connector))
    }

    /// An unconnected client; call [`GenericSmtpClient::connect`].
    pub fn build(mut self) -> GenericSmtpClient<R> {
        GenericSmtpClient {
            sink: self.sink.take(),
            opts: self,
            session: None,
            in_flight: false,
            read_buf: Vec::new(),
            body_buf: Vec::new(),
            end_of_data_unanswered: false,
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

/// One live session: the core, its transport and the TLS server name.
type Session = smtp_proto::session::Live<Transport>;

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
    read_buf: Vec<u8>,
    body_buf: Vec<u8>,
    /// What the last closed session left: an end of data written and never answered.
    end_of_data_unanswered: bool,
}

impl<R: Runtime> fmt::Debug for GenericSmtpClient<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericSmtpClient")
            .field("opts", &self.opts)
            .field("connected", &self.is_connected())
            .field("client", &self.session())
            .finish_non_exhaustive()
    }
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
            return self.connect_unix(host).await;
        }
        self.prepare()?;
        let (host, port) = host_and_port(host, port, self.opts.settings.default_port())?;
        let (source, limit) = (
            self.opts.settings.source_address,
            self.opts.settings.connect_timeout(),
        );
        let opened = connect::tcp::<R>(host, port, source, limit).await?;
        self.start(opened, host).await
    }

    /// Connects to the Unix socket at `path` and returns the greeting.
    #[cfg(unix)]
    pub async fn connect_unix(&mut self, path: impl AsRef<Path>) -> Result<OwnedReply> {
        self.prepare()?;
        let limit = self.opts.settings.connect_timeout();
        let opened = connect::unix::<R>(path.as_ref(), limit).await?;
        self.start(opened, "localhost").await
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
        self.prepare()?;
        self.start(connect::stream(Box::new(stream)), server_name)
            .await
    }

    /// Closes any current session and refuses settings that cannot work (bad TLS material
    /// among them) before anything is connected.
    fn prepare(&mut self) -> Result<()> {
        self.close();
        self.opts.settings.check()?;
        if self.opts.settings.wants_tls() {
            self.opts.connector()?;
        }
        Ok(())
    }

    /// Implicit TLS if configured, then the core, then the greeting (and set-up).
    async fn start(&mut self, opened: Opened, server_name: &str) -> Result<OwnedReply> {
        let mut io = Transport::Plain(opened.io);
        if self.opts.settings.tls == TlsMode::Implicit {
            let limit = self.opts.settings.connect_timeout();
            let connector = self.opts.connector()?;
            if !io
                .upgrade(connector, server_name, Instant::now() + limit)
                .await?
            {
                let stage = smtp_proto::client::Stage::TlsHandshake;
                return Err(Error::timeout(stage, limit));
            }
        }
        let peer = Peer {
            local_ip: opened.local,
            loopback: opened.loopback,
        };
        let transcript = self.sink.is_some();
        let config = self.opts.settings.session_config(peer, fqdn(), transcript);
        self.session = Some(Session::new(config, io, server_name, Instant::now()));
        self.run(Greeting).await
    }

    // ------------------------------------------------------------ getters

    /// Whether a session is open (`false` once a request's future was dropped mid-command).
    pub fn is_connected(&self) -> bool {
        self.session.is_some() && !self.in_flight
    }

    smtp_proto::session_getters!(field session);

    // ------------------------------------------------------------ smtplib's methods

    smtp_proto::smtplib_methods! {
        read: [AsyncRead + Unpin],
        ext: [futures_lite::AsyncReadExt],
        asyncness: [async],
        await: [.await],
    }

    /// smtplib's `close()`: closes the connection without a word. Idempotent.
    pub fn close(&mut self) {
        if let Some(session) = self.session.take() {
            self.end_of_data_unanswered = session.client.end_of_data_unanswered();
        }
        self.in_flight = false;
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

    /// Runs `op` to completion over the session (see [`Pump`]): each step raced against the
    /// core's deadline with an [`async_io::Timer`]. Closes the session when the pump says it is
    /// over; a drop before the end leaves `in_flight` set.
    async fn run<O: Operation>(&mut self, op: O) -> Result<O::Output>
    where
        O::Body: AsyncRead + Unpin,
    {
        if self.in_flight {
            self.close();
            return Err(Error::Io(io::Error::new(
                ErrorKind::ConnectionAborted,
                "a previous request was cancelled mid-command (its future was dropped): \
                 the session was closed; reconnect",
            )));
        }
        let session = self.session.as_mut().ok_or(Error::NotConnected)?;
        self.read_buf.resize(READ_CHUNK, 0);
        self.body_buf.resize(BODY_CHUNK, 0);
        self.in_flight = true;
        let mut pump = Pump::new(op);
        loop {
            let client = &mut session.client;
            let io = &mut session.io;
            match pump.next(client, &mut self.sink, Instant::now()) {
                Step::Body { id, max } => {
                    let buf = self.body_buf.get_mut(..max).unwrap_or_default();
                    let read = match pump.body(id) {
                        Some(source) => source.read(buf).await,
                        None => Ok(0),
                    };
                    pump.body_read(client, id, read.map(|n| buf.get(..n).unwrap_or_default()));
                }
                Step::Write {
                    deadline,
                    look_first,
                } => {
                    let buf = &mut self.read_buf;
                    if look_first {
                        if let Some(read) = future::poll_once(io.read(buf)).await {
                            let read = read.map(|n| buf.get(..n).unwrap_or_default());
                            pump.read(client, read, Instant::now());
                            continue;
                        }
                    }
                    let bytes = pump.outgoing(client);
                    let written = by(deadline, io.write(bytes)).await;
                    pump.wrote(client, written, Instant::now());
                }
                Step::Read { deadline } => {
                    let buf = &mut self.read_buf;
                    let read = by(deadline, io.read(buf)).await;
                    pump.read(
                        client,
                        read.map(|n| buf.get(..n).unwrap_or_default()),
                        Instant::now(),
                    );
                }
                Step::Handshake { deadline } => {
                    let buf = &mut self.read_buf;
                    let pending = future::poll_once(io.read(buf)).await;
                    let pending = pending.map(|r| r.map(|n| buf.get(..n).unwrap_or_default()));
                    if pump.before_handshake(client, pending, Instant::now()) {
                        let outcome = match self.opts.connector() {
                            Ok(connector) => {
                                io.upgrade(connector, &session.server_name, deadline).await
                            }
                            Err(e) => Err(e),
                        };
                        pump.handshake(client, outcome, Instant::now());
                    }
                }
                Step::Done { result, close } => {
                    self.in_flight = false;
                    if close {
                        self.close();
                    }
                    return result;
                }
            }
        }
    }
}

/// `work`, or an error of kind `TimedOut` once `deadline` has passed. The work is polled first:
/// a socket that is ready costs no timer (no reactor wake-up per write); progress made only
/// after the deadline does not count (the core takes bytes written late as no progress).
async fn by(
    deadline: Instant,
    work: impl std::future::Future<Output = io::Result<usize>>,
) -> io::Result<usize> {
    let expired = async {
        Timer::at(deadline).await;
        Err(ErrorKind::TimedOut.into())
    };
    future::or(work, expired).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{envelope, SmtpClient};

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
