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
//!
//! The parts: this module holds the rules, the records, the builder and the [`Server`] handle;
//! `tls` the test PKI of `tests/fixtures/` ([`localhost_acceptor`], [`test_ca`], …), `session`
//! one connection served (the SMTP/LMTP dialogue), and `streams` the server's sockets plus
//! misbehaving ones for tests ([`Dribble`], [`FullUnixListener`]).

mod session;
mod streams;
mod tls;

#[cfg(unix)]
pub use streams::FullUnixListener;
pub use streams::{micros, Dribble};
pub use tls::{
    localhost_acceptor, test_ca, trusting_connector, wrong_host_acceptor, SERVER_CERT_PEM,
    SERVER_KEY_PEM, TEST_CA_PEM, WRONG_HOST_CERT_PEM, WRONG_HOST_KEY_PEM,
};

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use native_tls::TlsAcceptor;

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
        let thread =
            thread::spawn(move || session::accept_loop(&listener, &accept_config, &accept_shared));
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

fn starts_with_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}
