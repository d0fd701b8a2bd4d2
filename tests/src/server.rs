//! A scriptable in-process SMTP/LMTP server on loopback, for tests and demos.
//!
//! It speaks enough ESMTP to receive real mail — EHLO/HELO/LHLO, STARTTLS (with the test
//! certificate of `tests/fixtures/`), AUTH PLAIN/LOGIN/CRAM-MD5/XOAUTH2, MAIL, RCPT, DATA
//! (un-stuffed), BDAT, RSET, NOOP, VRFY, EXPN, HELP, QUIT, LMTP's per-recipient replies — and
//! records everything it receives. [`Rule`]s change its behaviour at any step: another reply
//! (any bytes, malformed ones included), a delay, a byte-by-byte trickle, a flood, silence, or a
//! disconnect.
//!
//! ```
//! use smtp_tests::server::{Action, Server, Trigger};
//!
//! let server = Server::builder()
//!     .on(Trigger::command("RCPT TO:<nobody@"), Action::reply("550 5.1.1 no such user"))
//!     .start()
//!     .expect("server");
//! println!("listening on {}", server.addr());
//! ```
//!
//! Each connection is served by its own thread; dropping the [`Server`] stops accepting.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use native_tls::{Certificate, Identity, TlsAcceptor, TlsConnector, TlsStream};
use smtp_proto::body::DataDecoder;
use smtp_proto::sasl::{self, CramMd5, Mechanism};

/// The test CA certificate (PEM), `tests/fixtures/ca.pem`.
pub const TEST_CA_PEM: &[u8] = include_bytes!("../fixtures/ca.pem");
/// The server certificate for `localhost`, `127.0.0.1` and `::1`, signed by the test CA.
pub const SERVER_CERT_PEM: &[u8] = include_bytes!("../fixtures/server.pem");
/// The server certificate's PKCS#8 key.
pub const SERVER_KEY_PEM: &[u8] = include_bytes!("../fixtures/server.key");
/// A certificate for `wrong.example` (not localhost), signed by the test CA.
pub const WRONG_HOST_CERT_PEM: &[u8] = include_bytes!("../fixtures/wrong-host.pem");
/// Its PKCS#8 key.
pub const WRONG_HOST_KEY_PEM: &[u8] = include_bytes!("../fixtures/wrong-host.key");

/// How long a server connection waits for the client before giving up.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// The longest command line the server reads.
const MAX_LINE: usize = 64 * 1024;

/// The test CA as a certificate to trust.
pub fn test_ca() -> Certificate {
    Certificate::from_pem(TEST_CA_PEM).expect("fixtures/ca.pem is a valid certificate")
}

/// A TLS connector that verifies certificates against the test CA only (host names checked).
pub fn trusting_connector() -> TlsConnector {
    TlsConnector::builder()
        .add_root_certificate(test_ca())
        .disable_built_in_roots(true)
        .build()
        .expect("TLS connector")
}

/// The `localhost` server identity.
pub fn localhost_acceptor() -> TlsAcceptor {
    acceptor(SERVER_CERT_PEM, SERVER_KEY_PEM)
}

/// The `wrong.example` server identity (host-name mismatch for clients that connect to
/// `localhost`).
pub fn wrong_host_acceptor() -> TlsAcceptor {
    acceptor(WRONG_HOST_CERT_PEM, WRONG_HOST_KEY_PEM)
}

fn acceptor(cert: &[u8], key: &[u8]) -> TlsAcceptor {
    let identity = Identity::from_pkcs8(cert, key).expect("fixture identity");
    TlsAcceptor::new(identity).expect("TLS acceptor")
}

/// When a [`Rule`] fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Instead of the greeting.
    Greeting,
    /// A command line that starts with this text (case-insensitive), e.g. `"EHLO"`,
    /// `"RCPT TO:<bad@"`.
    Command(String),
    /// The reply after the end of the data (`.` or `BDAT … LAST`); for LMTP, instead of every
    /// per-recipient reply.
    DataEnd,
    /// LMTP: the per-recipient reply after the data for a recipient whose address starts with
    /// this text (case-insensitive).
    Delivery(String),
}

impl Trigger {
    /// [`Trigger::Command`] for `prefix`.
    pub fn command(prefix: &str) -> Self {
        Self::Command(prefix.to_owned())
    }

    /// [`Trigger::Delivery`] for `prefix`.
    pub fn delivery(prefix: &str) -> Self {
        Self::Delivery(prefix.to_owned())
    }

    fn matches_command(&self, line: &[u8]) -> bool {
        match self {
            Self::Command(prefix) => starts_with_ci(line, prefix.as_bytes()),
            _ => false,
        }
    }
}

/// What a [`Rule`] does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes instead of the normal reply (nothing else happens: a refused RCPT adds
    /// no recipient). Sent as given: add the CRLF yourself, or use [`Action::reply`].
    Reply(Vec<u8>),
    /// Send these bytes, then close the connection.
    ReplyAndClose(Vec<u8>),
    /// Close the connection without a word.
    Close,
    /// Wait, then behave normally.
    Delay(Duration),
    /// Send these bytes one at a time with a pause after each, instead of the normal reply.
    Trickle(Vec<u8>, Duration),
    /// Send these bytes over and over until the client goes away (at most 30 s).
    Flood(Vec<u8>),
    /// Say nothing: read and drop whatever comes until the client goes away (at most 60 s).
    Hang,
}

impl Action {
    /// [`Action::Reply`] with one reply line; CRLF is appended.
    pub fn reply(line: &str) -> Self {
        Self::Reply(format!("{line}\r\n").into_bytes())
    }

    /// [`Action::Reply`] with raw bytes.
    pub fn raw(bytes: &[u8]) -> Self {
        Self::Reply(bytes.to_vec())
    }
}

/// A change of behaviour: when `trigger` fires, do `action` (every time, or only the first
/// `times`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// When.
    pub trigger: Trigger,
    /// What.
    pub action: Action,
    /// How many times it may fire (`None`: always).
    pub times: Option<usize>,
}

/// One message as the server received it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// The `MAIL FROM:` argument as sent (path and parameters), e.g. `<a@x.org> SIZE=12`.
    pub mail_from: String,
    /// The `RCPT TO:` arguments of the accepted recipients, as sent.
    pub rcpt_to: Vec<String>,
    /// The content (DATA un-stuffed, BDAT chunks joined), at most the builder's
    /// [`keep_data`](ServerBuilder::keep_data) bytes.
    pub data: Vec<u8>,
    /// The content's full length.
    pub size: u64,
    /// FNV-1a 64 of the whole content (to check large bodies without keeping them).
    pub hash: u64,
    /// Whether it came by BDAT.
    pub bdat: bool,
    /// Whether the session was TLS.
    pub secure: bool,
}

impl Received {
    /// The sender's path without angle brackets or parameters.
    pub fn sender(&self) -> &str {
        path_of(&self.mail_from)
    }

    /// The recipients' paths without angle brackets or parameters.
    pub fn recipients(&self) -> Vec<&str> {
        self.rcpt_to.iter().map(|r| path_of(r)).collect()
    }
}

fn path_of(arg: &str) -> &str {
    let arg = arg.split(' ').next().unwrap_or_default();
    arg.trim_start_matches('<').trim_end_matches('>')
}

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_update(0xcbf2_9ce4_8422_2325, bytes)
}

fn fnv1a_update(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// What happened in one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionLog {
    /// Every command line received, without its line end (AUTH exchanges included; message
    /// content not).
    pub commands: Vec<String>,
    /// The messages accepted.
    pub messages: Vec<Received>,
    /// Whether TLS was established (implicit or STARTTLS).
    pub tls: bool,
    /// Whether a client authenticated, and as whom.
    pub authenticated: Option<String>,
    /// Whether the connection has ended.
    pub finished: bool,
}

/// Settings of a [`Server`].
#[derive(Clone)]
pub struct ServerBuilder {
    hostname: String,
    extensions: Vec<String>,
    lmtp: bool,
    starttls: Option<TlsAcceptor>,
    implicit: Option<TlsAcceptor>,
    users: Vec<(String, String)>,
    rules: Vec<Rule>,
    unix: Option<PathBuf>,
    keep_data: usize,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("hostname", &self.hostname)
            .field("extensions", &self.extensions)
            .field("lmtp", &self.lmtp)
            .field("starttls", &self.starttls.is_some())
            .field("implicit", &self.implicit.is_some())
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            hostname: "mx.test".into(),
            extensions: [
                "PIPELINING",
                "8BITMIME",
                "SMTPUTF8",
                "SIZE 52428800",
                "ENHANCEDSTATUSCODES",
                "DSN",
                "HELP",
                "AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2",
            ]
            .map(String::from)
            .to_vec(),
            lmtp: false,
            starttls: None,
            implicit: None,
            users: vec![("alice".into(), "correct horse".into())],
            rules: Vec::new(),
            unix: None,
            keep_data: 64 * 1024 * 1024,
        }
    }
}

impl ServerBuilder {
    /// The name in the greeting and the EHLO reply (default `mx.test`).
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = name.into();
        self
    }

    /// The EHLO keywords (replacing the default list: PIPELINING, 8BITMIME, SMTPUTF8,
    /// SIZE 52428800, ENHANCEDSTATUSCODES, DSN, HELP, AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2).
    /// STARTTLS is added by [`starttls`](Self::starttls).
    pub fn extensions(mut self, keywords: &[&str]) -> Self {
        self.extensions = keywords.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    /// One more EHLO keyword (e.g. `"CHUNKING"`).
    pub fn extension(mut self, keyword: &str) -> Self {
        self.extensions.push(keyword.into());
        self
    }

    /// Speak LMTP: LHLO instead of EHLO/HELO, one reply per recipient after the data.
    pub fn lmtp(mut self) -> Self {
        self.lmtp = true;
        self
    }

    /// Offer STARTTLS with this identity (e.g. [`localhost_acceptor`]).
    pub fn starttls(mut self, acceptor: TlsAcceptor) -> Self {
        self.starttls = Some(acceptor);
        self
    }

    /// Speak TLS from the first byte (SMTPS) with this identity.
    pub fn implicit_tls(mut self, acceptor: TlsAcceptor) -> Self {
        self.implicit = Some(acceptor);
        self
    }

    /// The accounts AUTH accepts (replacing the default `alice` / `correct horse`). For
    /// XOAUTH2 the password is the token.
    pub fn users(mut self, users: &[(&str, &str)]) -> Self {
        self.users = users
            .iter()
            .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
            .collect();
        self
    }

    /// Adds a rule that fires every time.
    pub fn on(mut self, trigger: Trigger, action: Action) -> Self {
        self.rules.push(Rule {
            trigger,
            action,
            times: None,
        });
        self
    }

    /// Adds a rule that fires the first `times` times only (across all connections).
    pub fn on_times(mut self, trigger: Trigger, action: Action, times: usize) -> Self {
        self.rules.push(Rule {
            trigger,
            action,
            times: Some(times),
        });
        self
    }

    /// Listen on a Unix socket at `path` instead of TCP (removed first if it exists).
    pub fn unix(mut self, path: impl AsRef<Path>) -> Self {
        self.unix = Some(path.as_ref().to_path_buf());
        self
    }

    /// How many bytes of each message to keep in [`Received::data`] (default 64 MiB); the size
    /// and hash always cover everything.
    pub fn keep_data(mut self, bytes: usize) -> Self {
        self.keep_data = bytes;
        self
    }

    /// Starts listening (TCP on `127.0.0.1`, port chosen by the system, or the Unix socket).
    pub fn start(self) -> io::Result<Server> {
        let shared = Arc::new(Shared {
            logs: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            rules: Mutex::new(self.rules.clone()),
        });
        let (listener, addr) = match &self.unix {
            #[cfg(unix)]
            Some(path) => {
                let _ = std::fs::remove_file(path);
                (Listener::Unix(UnixListener::bind(path)?), None)
            }
            #[cfg(not(unix))]
            Some(_) => return Err(io::Error::other("Unix sockets need a Unix")),
            None => {
                let tcp = TcpListener::bind("127.0.0.1:0")?;
                let addr = tcp.local_addr()?;
                (Listener::Tcp(tcp), Some(addr))
            }
        };
        let config = Arc::new(self);
        let accept_shared = Arc::clone(&shared);
        let accept_config = Arc::clone(&config);
        let thread = thread::spawn(move || accept_loop(&listener, &accept_config, &accept_shared));
        Ok(Server {
            addr,
            unix: config.unix.clone(),
            shared,
            thread: Some(thread),
        })
    }
}

enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(UnixListener),
}

struct Shared {
    logs: Mutex<Vec<SessionLog>>,
    changed: Condvar,
    stop: AtomicBool,
    rules: Mutex<Vec<Rule>>,
}

impl Shared {
    fn logs(&self) -> MutexGuard<'_, Vec<SessionLog>> {
        self.logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut SessionLog)) {
        let mut logs = self.logs();
        if let Some(log) = logs.get_mut(index) {
            f(log);
        }
        drop(logs);
        self.changed.notify_all();
    }

    /// The action of the first live rule whose trigger satisfies `matches`, counting it.
    fn fire(&self, matches: impl Fn(&Trigger) -> bool) -> Option<Action> {
        let mut rules = self
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rule = rules
            .iter_mut()
            .find(|r| r.times != Some(0) && matches(&r.trigger))?;
        if let Some(t) = rule.times.as_mut() {
            *t -= 1;
        }
        Some(rule.action.clone())
    }
}

/// A running test server. Dropping it stops accepting connections (connections in progress
/// finish on their own).
pub struct Server {
    addr: Option<SocketAddr>,
    unix: Option<PathBuf>,
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("unix", &self.unix)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Settings for a new server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// A default ESMTP server on loopback.
    pub fn start() -> io::Result<Self> {
        Self::builder().start()
    }

    /// The TCP address (`127.0.0.1:port`).
    ///
    /// # Panics
    /// For a server on a Unix socket.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("a TCP server")
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// The Unix socket path, if the server listens on one.
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix.as_deref()
    }

    /// A snapshot of every connection so far.
    pub fn sessions(&self) -> Vec<SessionLog> {
        self.shared.logs().clone()
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        self.shared
            .logs()
            .iter()
            .flat_map(|l| l.messages.iter().cloned())
            .collect()
    }

    /// Waits until at least `n` connections were made and all of them ended, then returns them.
    /// Gives up after `timeout` and returns what there is.
    pub fn wait_finished(&self, n: usize, timeout: Duration) -> Vec<SessionLog> {
        let deadline = Instant::now() + timeout;
        let mut logs = self.shared.logs();
        loop {
            if logs.len() >= n && logs.iter().all(|l| l.finished) {
                return logs.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                return logs.clone();
            }
            logs = self
                .shared
                .changed
                .wait_timeout(logs, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        if let Some(addr) = self.addr {
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
        #[cfg(unix)]
        if let Some(path) = &self.unix {
            let _ = UnixStream::connect(path);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(path) = &self.unix {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn accept_loop(listener: &Listener, config: &Arc<ServerBuilder>, shared: &Arc<Shared>) {
    loop {
        let stream = match listener {
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                // Replies leave at once, as from a real MTA (no Nagle wait on the client's ACK).
                let _ = s.set_nodelay(true);
                Plain::Tcp(s)
            }),
            #[cfg(unix)]
            Listener::Unix(l) => l.accept().map(|(s, _)| Plain::Unix(s)),
        };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let index = {
            let mut logs = shared.logs();
            logs.push(SessionLog::default());
            logs.len() - 1
        };
        let config = Arc::clone(config);
        let shared = Arc::clone(shared);
        thread::spawn(move || {
            let mut conn = Conn::new(stream, &config, &shared, index);
            let _ = conn.serve();
            conn.stream.shutdown();
            shared.update(index, |l| l.finished = true);
        });
    }
}

/// The server side of a socket.
#[derive(Debug)]
enum Plain {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Plain {
    fn set_timeouts(&self, d: Duration) -> io::Result<()> {
        match self {
            Self::Tcp(s) => {
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            }
            #[cfg(unix)]
            Self::Unix(s) => {
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            }
        }
    }

    fn shutdown(&self) {
        let _ = match self {
            Self::Tcp(s) => s.shutdown(Shutdown::Both),
            #[cfg(unix)]
            Self::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Plain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Plain {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Self::Unix(s) => s.flush(),
        }
    }
}

enum ServerStream {
    Plain(Plain),
    Tls(Box<TlsStream<Plain>>),
    Gone,
}

impl ServerStream {
    fn shutdown(&mut self) {
        match self {
            Self::Plain(p) => p.shutdown(),
            Self::Tls(t) => {
                let _ = t.shutdown();
                t.get_ref().shutdown();
            }
            Self::Gone => {}
        }
    }
}

impl Read for ServerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(p) => p.read(buf),
            Self::Tls(t) => t.read(buf),
            Self::Gone => Ok(0),
        }
    }
}

impl Write for ServerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(p) => p.write(buf),
            Self::Tls(t) => t.write(buf),
            Self::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(p) => p.flush(),
            Self::Tls(t) => t.flush(),
            Self::Gone => Ok(()),
        }
    }
}

/// Why serving stopped early.
enum Stop {
    /// The connection is to be closed now.
    Close,
    /// The socket failed.
    Io,
}

impl From<io::Error> for Stop {
    fn from(_: io::Error) -> Self {
        Self::Io
    }
}

type Served = Result<(), Stop>;

/// The mail transaction in progress.
#[derive(Default)]
struct Txn {
    mail_from: Option<String>,
    rcpts: Vec<String>,
    /// BDAT content received so far.
    bdat: Option<Content>,
}

struct Content {
    kept: Vec<u8>,
    size: u64,
    hash: u64,
}

impl Content {
    fn new() -> Self {
        Self {
            kept: Vec::new(),
            size: 0,
            hash: fnv1a(&[]),
        }
    }

    fn push(&mut self, bytes: &[u8], keep: usize) {
        let room = keep.saturating_sub(self.kept.len());
        self.kept
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        self.size += bytes.len() as u64;
        self.hash = fnv1a_update(self.hash, bytes);
    }
}

struct Conn<'a> {
    stream: ServerStream,
    inbuf: Vec<u8>,
    config: &'a ServerBuilder,
    shared: &'a Shared,
    index: usize,
    secure: bool,
    hello: bool,
    txn: Txn,
}

impl<'a> Conn<'a> {
    fn new(stream: Plain, config: &'a ServerBuilder, shared: &'a Shared, index: usize) -> Self {
        let _ = stream.set_timeouts(IDLE_LIMIT);
        Self {
            stream: ServerStream::Plain(stream),
            inbuf: Vec::new(),
            config,
            shared,
            index,
            secure: false,
            hello: false,
            txn: Txn::default(),
        }
    }

    fn serve(&mut self) -> Served {
        if let Some(acceptor) = &self.config.implicit {
            self.tls_accept(acceptor)?;
        }
        let greeting = format!("220 {} ESMTP test server ready\r\n", self.config.hostname);
        let default = greeting.into_bytes();
        if let Some(action) = self.shared.fire(|t| *t == Trigger::Greeting) {
            if self.act(action, &default)? {
                return Ok(());
            }
        } else {
            self.send(&default)?;
        }
        loop {
            let Some(line) = self.read_line()? else {
                return Ok(());
            };
            let text = String::from_utf8_lossy(&line).into_owned();
            self.shared.update(self.index, |l| l.commands.push(text));
            let rule = self.shared.fire(|t| t.matches_command(&line));
            let handled = match rule {
                Some(Action::Delay(d)) => {
                    thread::sleep(d);
                    false
                }
                Some(action) => {
                    let data_354 = starts_with_ci(&line, b"DATA")
                        && matches!(&action, Action::Reply(r) if r.starts_with(b"354"));
                    if self.act(action, b"")? {
                        return Ok(());
                    }
                    if data_354 {
                        self.receive_data()?;
                    }
                    true
                }
                None => false,
            };
            if !handled {
                self.command(&line)?;
            }
        }
    }

    /// Carries out `action` in place of sending `default`; `true` when the connection is to end.
    fn act(&mut self, action: Action, default: &[u8]) -> Result<bool, Stop> {
        match action {
            Action::Reply(bytes) => self.send(&bytes)?,
            Action::ReplyAndClose(bytes) => {
                self.send(&bytes)?;
                return Ok(true);
            }
            Action::Close => return Ok(true),
            Action::Delay(d) => {
                thread::sleep(d);
                self.send(default)?;
            }
            Action::Trickle(bytes, pause) => {
                for b in bytes {
                    self.send(&[b])?;
                    thread::sleep(pause);
                }
            }
            Action::Flood(bytes) => {
                let until = Instant::now() + Duration::from_secs(30);
                while Instant::now() < until {
                    if self.send(&bytes).is_err() {
                        return Ok(true);
                    }
                }
                return Ok(true);
            }
            Action::Hang => {
                let until = Instant::now() + IDLE_LIMIT;
                let mut sink = [0u8; 4096];
                while Instant::now() < until {
                    match self.stream.read(&mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    fn reply(&mut self, line: &str) -> Served {
        self.send(format!("{line}\r\n").as_bytes())?;
        Ok(())
    }

    /// One line without its line end; `None` at EOF.
    fn read_line(&mut self) -> Result<Option<Vec<u8>>, Stop> {
        loop {
            if let Some(lf) = self.inbuf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.inbuf.drain(..=lf).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if self.inbuf.len() > MAX_LINE {
                self.reply("500 5.5.2 line too long")?;
                return Err(Stop::Close);
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Reads more bytes into the buffer; `false` at EOF.
    fn fill(&mut self) -> Result<bool, Stop> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.inbuf
                        .extend_from_slice(buf.get(..n).unwrap_or_default());
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn tls_accept(&mut self, acceptor: &TlsAcceptor) -> Served {
        let ServerStream::Plain(plain) = std::mem::replace(&mut self.stream, ServerStream::Gone)
        else {
            return Err(Stop::Close);
        };
        match acceptor.accept(plain) {
            Ok(tls) => {
                self.stream = ServerStream::Tls(Box::new(tls));
                self.secure = true;
                self.shared.update(self.index, |l| l.tls = true);
                Ok(())
            }
            Err(_) => Err(Stop::Close),
        }
    }

    fn command(&mut self, line: &[u8]) -> Served {
        let text = String::from_utf8_lossy(line).into_owned();
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_owned()),
            None => (text.to_ascii_uppercase(), String::new()),
        };
        let lmtp = self.config.lmtp;
        match verb.as_str() {
            "EHLO" if !lmtp => self.ehlo(),
            "LHLO" if lmtp => self.ehlo(),
            "HELO" if !lmtp => {
                self.hello = true;
                self.txn = Txn::default();
                let host = self.config.hostname.clone();
                self.reply(&format!("250 {host}"))
            }
            "STARTTLS" => self.starttls(),
            "AUTH" => self.auth(&arg),
            "MAIL" => {
                let Some(from) = strip_prefix_ci(&arg, "FROM:") else {
                    return self.reply("501 5.5.4 syntax: MAIL FROM:<address>");
                };
                self.txn = Txn {
                    mail_from: Some(from.trim().to_owned()),
                    ..Txn::default()
                };
                self.reply("250 2.1.0 sender ok")
            }
            "RCPT" => {
                let Some(to) = strip_prefix_ci(&arg, "TO:") else {
                    return self.reply("501 5.5.4 syntax: RCPT TO:<address>");
                };
                if self.txn.mail_from.is_none() {
                    return self.reply("503 5.5.1 need MAIL first");
                }
                self.txn.rcpts.push(to.trim().to_owned());
                self.reply("250 2.1.5 recipient ok")
            }
            "DATA" => {
                if self.txn.rcpts.is_empty() {
                    return self.reply("503 5.5.1 no valid recipients");
                }
                self.reply("354 end data with <CR><LF>.<CR><LF>")?;
                self.receive_data()
            }
            "BDAT" => self.bdat(&arg),
            "RSET" => {
                self.txn = Txn::default();
                self.reply("250 2.0.0 reset")
            }
            "NOOP" => self.reply("250 2.0.0 ok"),
            "VRFY" => self.reply(&format!("252 2.5.2 cannot verify {arg}")),
            "EXPN" => self.reply(&format!("250 2.1.5 members of {arg}")),
            "HELP" => {
                self.reply("214 2.0.0 commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT")
            }
            "QUIT" => {
                self.reply("221 2.0.0 bye")?;
                Err(Stop::Close)
            }
            _ => self.reply("500 5.5.2 command not recognized"),
        }
    }

    fn ehlo(&mut self) -> Served {
        self.hello = true;
        self.txn = Txn::default();
        let mut lines = vec![self.config.hostname.clone()];
        if self.config.starttls.is_some() && !self.secure {
            lines.push("STARTTLS".into());
        }
        lines.extend(self.config.extensions.iter().cloned());
        let mut out = String::new();
        let last = lines.len().saturating_sub(1);
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.push_str(&format!("250{sep}{l}\r\n"));
        }
        self.send(out.as_bytes())?;
        Ok(())
    }

    fn starttls(&mut self) -> Served {
        let Some(acceptor) = self.config.starttls.clone() else {
            return self.reply("502 5.5.1 STARTTLS not offered");
        };
        if self.secure {
            return self.reply("503 5.5.1 already under TLS");
        }
        self.reply("220 2.0.0 ready to start TLS")?;
        // Whatever the client pipelined after STARTTLS is dropped, as RFC 3207 demands.
        self.inbuf.clear();
        self.tls_accept(&acceptor)?;
        self.hello = false;
        self.txn = Txn::default();
        Ok(())
    }

    fn auth(&mut self, arg: &str) -> Served {
        let mut parts = arg.split_whitespace();
        let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
        let initial = parts.next().map(str::to_owned);
        let user = match mechanism.as_str() {
            "PLAIN" => {
                let Some(response) = self.sasl_response(initial, "")? else {
                    return Ok(());
                };
                let mut fields = response.split(|&b| b == 0);
                let _authzid = fields.next();
                let user = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
                let pass = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
                self.check(&user, &pass).then_some(user)
            }
            "LOGIN" => {
                let Some(user) = self.sasl_response(initial, "VXNlcm5hbWU6")? else {
                    return Ok(());
                };
                let Some(pass) = self.sasl_response(None, "UGFzc3dvcmQ6")? else {
                    return Ok(());
                };
                let user = String::from_utf8_lossy(&user).into_owned();
                let pass = String::from_utf8_lossy(&pass).into_owned();
                self.check(&user, &pass).then_some(user)
            }
            "CRAM-MD5" => {
                let challenge = format!(
                    "<{}.{}@{}>",
                    std::process::id(),
                    self.index,
                    self.config.hostname
                );
                let mut encoded = Vec::new();
                sasl::encode_response(challenge.as_bytes(), &mut encoded);
                let encoded = String::from_utf8_lossy(&encoded).into_owned();
                let Some(response) = self.sasl_response(None, &encoded)? else {
                    return Ok(());
                };
                let response = String::from_utf8_lossy(&response).into_owned();
                let user = response.split(' ').next().unwrap_or_default().to_owned();
                let expected = self
                    .config
                    .users
                    .iter()
                    .find(|(u, _)| *u == user)
                    .and_then(|(u, p)| {
                        CramMd5::new(u.clone(), p.clone())
                            .respond(challenge.as_bytes())
                            .ok()
                    })
                    .map(|s| s.expose().clone());
                (expected.as_deref() == Some(response.as_bytes())).then_some(user)
            }
            "XOAUTH2" => {
                let Some(response) = self.sasl_response(initial, "")? else {
                    return Ok(());
                };
                let text = String::from_utf8_lossy(&response).into_owned();
                let mut user = String::new();
                let mut token = String::new();
                for field in text.split('\x01') {
                    if let Some(u) = field.strip_prefix("user=") {
                        user = u.to_owned();
                    } else if let Some(t) = field.strip_prefix("auth=Bearer ") {
                        token = t.to_owned();
                    }
                }
                if self.check(&user, &token) {
                    Some(user)
                } else {
                    // RFC 7628 style: an error challenge, answered by an empty line.
                    self.reply("334 eyJzdGF0dXMiOiI0MDEifQ==")?;
                    let _ = self.read_line()?;
                    None
                }
            }
            _ => return self.reply("504 5.5.4 mechanism not supported"),
        };
        match user {
            Some(user) => {
                self.shared
                    .update(self.index, |l| l.authenticated = Some(user));
                self.reply("235 2.7.0 authentication successful")
            }
            None => self.reply("535 5.7.8 authentication credentials invalid"),
        }
    }

    fn check(&self, user: &str, pass: &str) -> bool {
        self.config
            .users
            .iter()
            .any(|(u, p)| u == user && p == pass)
    }

    /// The decoded initial response, or the answer to a `334 challenge`; `None` after the
    /// client cancelled (`*`) or sent bad base64 (already answered).
    fn sasl_response(
        &mut self,
        initial: Option<String>,
        challenge: &str,
    ) -> Result<Option<Vec<u8>>, Stop> {
        let text = match initial {
            Some(ir) if ir == "=" => return Ok(Some(Vec::new())),
            Some(ir) => ir,
            None => {
                self.reply(format!("334 {challenge}").trim_end())?;
                let Some(line) = self.read_line()? else {
                    return Err(Stop::Close);
                };
                let line = String::from_utf8_lossy(&line).into_owned();
                self.shared
                    .update(self.index, |l| l.commands.push(line.clone()));
                line
            }
        };
        if text == "*" {
            self.reply("501 5.0.0 authentication cancelled")?;
            return Ok(None);
        }
        match sasl::decode_challenge(text.trim().as_bytes()) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(_) => {
                self.reply("501 5.5.2 cannot decode response")?;
                Ok(None)
            }
        }
    }

    /// DATA content after the `354`, then the reply (or replies, for LMTP).
    fn receive_data(&mut self) -> Served {
        let mut decoder = DataDecoder::new();
        let mut content = Content::new();
        let mut out = Vec::new();
        loop {
            if !self.inbuf.is_empty() {
                out.clear();
                let done = decoder.push(&self.inbuf, &mut out);
                content.push(&out, self.config.keep_data);
                match done {
                    Some(used) => {
                        self.inbuf.drain(..used.min(self.inbuf.len()));
                        break;
                    }
                    None => self.inbuf.clear(),
                }
            }
            if !self.fill()? {
                return Err(Stop::Close);
            }
        }
        self.deliver(content, false)
    }

    fn bdat(&mut self, arg: &str) -> Served {
        let mut parts = arg.split_whitespace();
        let Some(size) = parts.next().and_then(|s| s.parse::<u64>().ok()) else {
            return self.reply("501 5.5.4 syntax: BDAT size [LAST]");
        };
        let last = parts.next().is_some_and(|p| p.eq_ignore_ascii_case("LAST"));
        let mut content = self.txn.bdat.take().unwrap_or_else(Content::new);
        let mut left = size;
        while left > 0 {
            if self.inbuf.is_empty() && !self.fill()? {
                return Err(Stop::Close);
            }
            let take = self
                .inbuf
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let chunk: Vec<u8> = self.inbuf.drain(..take).collect();
            content.push(&chunk, self.config.keep_data);
            left -= take as u64;
        }
        if self.txn.rcpts.is_empty() {
            return self.reply("503 5.5.1 no valid recipients");
        }
        if !last {
            self.txn.bdat = Some(content);
            return self.reply(&format!("250 2.0.0 {size} octets received"));
        }
        self.deliver(content, true)
    }

    /// Records the message and answers the end of data.
    fn deliver(&mut self, content: Content, bdat: bool) -> Served {
        let txn = std::mem::take(&mut self.txn);
        let received = Received {
            mail_from: txn.mail_from.unwrap_or_default(),
            rcpt_to: txn.rcpts.clone(),
            data: content.kept,
            size: content.size,
            hash: content.hash,
            bdat,
            secure: self.secure,
        };
        if let Some(action) = self.shared.fire(|t| *t == Trigger::DataEnd) {
            if self.act(action, b"250 2.0.0 queued\r\n")? {
                return Err(Stop::Close);
            }
            self.shared
                .update(self.index, |l| l.messages.push(received));
            return Ok(());
        }
        if !self.config.lmtp {
            self.shared
                .update(self.index, |l| l.messages.push(received));
            return self.reply("250 2.0.0 queued");
        }
        let mut delivered = Vec::new();
        for rcpt in &txn.rcpts {
            let path = path_of(rcpt).to_owned();
            let default = format!("250 2.1.5 <{path}> delivered\r\n");
            let rule = self
                .shared
                .fire(|t| matches!(t, Trigger::Delivery(p) if starts_with_ci(path.as_bytes(), p.as_bytes())));
            match rule {
                Some(action) => {
                    if self.act(action, default.as_bytes())? {
                        return Err(Stop::Close);
                    }
                }
                None => {
                    self.send(default.as_bytes())?;
                    delivered.push(rcpt.clone());
                }
            }
        }
        let received = Received {
            rcpt_to: delivered,
            ..received
        };
        self.shared
            .update(self.index, |l| l.messages.push(received));
        Ok(())
    }
}

fn starts_with_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// A socket that writes one byte per call, after a pause (none while the pause is zero): a
/// server that dribbles, under TLS or not.
pub struct Dribble {
    tcp: TcpStream,
    /// The pause before each byte, in microseconds.
    pause_us: Arc<AtomicU64>,
}

impl Dribble {
    /// Wraps `tcp`; returns the pause as a handle that changes it while the stream is in use.
    pub fn new(tcp: TcpStream, pause: Duration) -> (Self, Arc<AtomicU64>) {
        let pause_us = Arc::new(AtomicU64::new(micros(pause)));
        let dribble = Self {
            tcp,
            pause_us: Arc::clone(&pause_us),
        };
        (dribble, pause_us)
    }
}

/// `d` in microseconds, as [`Dribble`] takes its pause.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Read for Dribble {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for Dribble {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let pause = Duration::from_micros(self.pause_us.load(Ordering::Relaxed));
        if pause.is_zero() {
            return self.tcp.write(buf);
        }
        thread::sleep(pause);
        self.tcp.write(buf.get(..1).unwrap_or_default())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A Unix listener that never accepts, its backlog filled with non-blocking connections, so
/// that the next connect cannot complete: drop it to free the path.
#[cfg(unix)]
pub struct FullUnixListener {
    /// The socket's path.
    pub path: PathBuf,
    _listener: UnixListener,
    _queued: Vec<mio::net::UnixStream>,
}

#[cfg(unix)]
impl FullUnixListener {
    /// Binds `path` and connects until the backlog refuses (4,097 on a default Linux).
    pub fn bind(path: PathBuf) -> io::Result<Self> {
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        let mut queued = Vec::new();
        loop {
            if queued.len() > 20_000 {
                return Err(io::Error::other("the backlog never filled"));
            }
            match mio::net::UnixStream::connect(&path) {
                Ok(s) => queued.push(s),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(Self {
            path,
            _listener: listener,
            _queued: queued,
        })
    }
}

#[cfg(unix)]
impl Drop for FullUnixListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
