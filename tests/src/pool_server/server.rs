//! [`FaultServer`]: its configuration, its records, and one connection served.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::session::Session;

/// What [`FaultServerBuilder::max_messages_per_connection`] does once the limit is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The next `MAIL FROM` is answered `452 4.5.3 too many messages`; the connection stays.
    Reply452,
    /// The next `MAIL FROM` is answered `421 4.7.0 too many messages`, then the connection is
    /// closed.
    Reply421,
}

/// A command (or the end of the data) whose reply a [`Fault`] replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The `MAIL FROM` command.
    Mail,
    /// Every `RCPT TO` command of the transaction.
    Rcpt,
    /// The `DATA` command (a `3xx` replacement still starts the data).
    Data,
    /// The end of the data (the final `.`): a `2xx` replacement commits the message, anything
    /// else discards it.
    DataEnd,
}

/// Where a [`Fault`] (or a random fault) drops the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// The `MAIL FROM` line was read; the connection is dropped before its reply.
    AfterMail,
    /// The `354` to `DATA` was written; the connection is dropped before the message is read.
    AfterData354,
    /// The whole message (up to the final `.`) was read and committed to the store, but the
    /// connection is dropped before the `250` is written: the client cannot know the outcome.
    /// The message is stored with `acknowledged: false`.
    BeforeDataEndReply,
    /// The message was committed and its `250` written; the connection is dropped right after.
    AfterDataEndReply,
}

/// Which transactions a [`Fault`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// Every transaction.
    Any,
    /// Transactions whose text so far contains this string (case-sensitive): the `MAIL FROM`
    /// and `RCPT TO` lines and, from [`Stage::DataEnd`] and [`Point::BeforeDataEndReply`] on,
    /// the (un-stuffed) message too. A marker only in the message (a header such as
    /// `X-Test-Id: 17`) therefore cannot trigger the faults before the data: put the marker in
    /// an address (`<id17@test>`) for those.
    Marker(String),
    /// The transaction of the n-th `MAIL FROM` command the server received (1-based, counted
    /// over all connections in arrival order, rejected ones included).
    NthMail(u64),
}

/// What a [`Fault`] does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer `at` with `line` (without CRLF) instead of the normal reply. After a `421` the
    /// server closes the connection.
    Reply {
        /// The command whose reply is replaced.
        at: Stage,
        /// The reply line, e.g. `"451 4.3.0 try later"`.
        line: String,
    },
    /// Drop the connection at `at`.
    Reset {
        /// Where.
        at: Point,
    },
}

/// A scripted misbehaviour: for the transactions it [`Match`]es, do its [`FaultAction`], at most
/// `times` times over the server's life (then behave normally, so that a retry succeeds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Which transactions.
    pub matches: Match,
    /// What to do.
    pub action: FaultAction,
    /// How many more times it fires.
    pub times: u32,
}

impl Fault {
    /// Answer `at` with `line` instead, for any transaction, once.
    pub fn reply(at: Stage, line: impl Into<String>) -> Self {
        Self {
            matches: Match::Any,
            action: FaultAction::Reply {
                at,
                line: line.into(),
            },
            times: 1,
        }
    }

    /// Drop the connection at `at`, for any transaction, once.
    pub fn reset(at: Point) -> Self {
        Self {
            matches: Match::Any,
            action: FaultAction::Reset { at },
            times: 1,
        }
    }

    /// Only for transactions holding `marker` (see [`Match::Marker`]).
    #[must_use]
    pub fn marker(mut self, marker: impl Into<String>) -> Self {
        self.matches = Match::Marker(marker.into());
        self
    }

    /// Only for the transaction of the n-th `MAIL FROM` (1-based; see [`Match::NthMail`]).
    #[must_use]
    pub fn nth_mail(mut self, n: u64) -> Self {
        self.matches = Match::NthMail(n);
        self
    }

    /// Fire `n` times (default 1).
    #[must_use]
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }
}

/// A message the server committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The serial number of the connection it came on (1-based, see
    /// [`FaultServer::connections`]).
    pub connection: u64,
    /// The number of its `MAIL FROM` over the server (see [`Match::NthMail`]).
    pub mail: u64,
    /// The reverse path, without angle brackets.
    pub from: String,
    /// The accepted forward paths, without angle brackets.
    pub to: Vec<String>,
    /// The message, un-stuffed, line endings as received, without the final `.` line.
    pub data: Vec<u8>,
    /// Whether the `250` (or `2xx`) after the data was written to the socket.
    pub acknowledged: bool,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Config {
    pub(super) extensions: Vec<String>,
    pub(super) idle: Option<(Duration, bool)>,
    pub(super) limit: Option<(u32, Limit)>,
    refuse_until: Option<Instant>,
    pub(super) random: Option<(u64, u32)>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) faults: Vec<Fault>,
    pub(super) store: Vec<Stored>,
    pub(super) commands: VecDeque<(u64, String)>,
    connections: u64,
    refused: u64,
    pub(super) mails: u64,
    pub(super) fired: u64,
    open: HashMap<u64, TcpStream>,
    max_open: usize,
}

/// What the server's threads share.
pub(super) struct Shared {
    pub(super) config: Config,
    stop: AtomicBool,
    state: Mutex<State>,
    pub(super) changed: Condvar,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits (up to `timeout`) until `done` holds; returns whether it does.
    fn wait(&self, timeout: Duration, mut done: impl FnMut(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if done(&state) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Configures a [`FaultServer`]; see its methods for the defaults.
#[derive(Debug)]
pub struct FaultServerBuilder {
    config: Config,
    faults: Vec<Fault>,
}

impl FaultServerBuilder {
    /// The EHLO keywords (default `PIPELINING`, `8BITMIME`, `ENHANCEDSTATUSCODES`). They are
    /// only advertised; the server behaves the same whatever they are.
    #[must_use]
    pub fn extensions(mut self, keywords: &[&str]) -> Self {
        self.config.extensions = keywords.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    /// Close a connection that sent no complete command line for `after`, first writing
    /// `421 4.4.2 idle timeout` if `with_421`. (Without it, silent connections are dropped
    /// after 30 s.)
    #[must_use]
    pub fn idle_close(mut self, after: Duration, with_421: bool) -> Self {
        self.config.idle = Some((after, with_421));
        self
    }

    /// After `n` messages committed on one connection, answer its next `MAIL FROM` per `limit`.
    #[must_use]
    pub fn max_messages_per_connection(mut self, n: u32, limit: Limit) -> Self {
        self.config.limit = Some((n, limit));
        self
    }

    /// Close connections accepted before `until` at once, without a greeting (they count in
    /// [`FaultServer::connections`] and [`FaultServer::refused_connections`], never as open).
    #[must_use]
    pub fn refuse_connections_until(mut self, until: Instant) -> Self {
        self.config.refuse_until = Some(until);
        self
    }

    /// Adds a scripted fault; the first applicable one (in the order added) fires.
    #[must_use]
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// At every [`Point`] a connection reaches, drop it with probability `per_mille / 1000`;
    /// deterministic for a given `seed` and connection serial number.
    #[must_use]
    pub fn random_faults(mut self, seed: u64, per_mille: u32) -> Self {
        self.config.random = Some((seed, per_mille));
        self
    }

    /// Binds `127.0.0.1:0` and starts accepting.
    pub fn start(self) -> io::Result<FaultServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config: self.config,
            stop: AtomicBool::new(false),
            state: Mutex::new(State {
                faults: self.faults,
                ..State::default()
            }),
            changed: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("pool-server-accept".into())
            .spawn(move || accept_loop(&listener, &for_thread))?;
        Ok(FaultServer {
            addr,
            shared,
            accept: Some(accept),
        })
    }
}

/// A running fault-injecting SMTP server on `127.0.0.1`. Dropping it stops accepting and
/// closes every open connection.
pub struct FaultServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FaultServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FaultServer {
    /// A builder; everything is optional.
    pub fn builder() -> FaultServerBuilder {
        FaultServerBuilder {
            config: Config {
                extensions: ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"]
                    .map(String::from)
                    .to_vec(),
                ..Config::default()
            },
            faults: Vec::new(),
        }
    }

    /// A well-behaved server with the defaults.
    pub fn start() -> io::Result<Self> {
        Self::builder().start()
    }

    /// The address, `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message committed so far, in commit order.
    pub fn store(&self) -> Vec<Stored> {
        self.shared.lock().store.clone()
    }

    /// Waits up to `timeout` until at least `n` messages are committed; returns the store.
    pub fn wait_stored(&self, n: usize, timeout: Duration) -> Vec<Stored> {
        self.shared.wait(timeout, |s| s.store.len() >= n);
        self.store()
    }

    /// How many connections were accepted so far (refused ones included); connection serial
    /// numbers run from 1 to this.
    pub fn connections(&self) -> u64 {
        self.shared.lock().connections
    }

    /// How many connections were closed before the greeting by
    /// [`FaultServerBuilder::refuse_connections_until`].
    pub fn refused_connections(&self) -> u64 {
        self.shared.lock().refused
    }

    /// How many connections are open now (greeted and not yet closed by either side). A
    /// connection counts from its accept until the server's thread has noticed its end.
    pub fn open_connections(&self) -> usize {
        self.shared.lock().open.len()
    }

    /// The most connections that were open at the same time.
    pub fn max_open_connections(&self) -> usize {
        self.shared.lock().max_open
    }

    /// Waits up to `timeout` until at most `n` connections are open; returns whether that
    /// happened.
    pub fn wait_open_at_most(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait(timeout, |s| s.open.len() <= n)
    }

    /// The command lines received (not the message lines), without CRLF, with their
    /// connection's serial number; the newest 100 000.
    pub fn commands(&self) -> Vec<(u64, String)> {
        self.shared.lock().commands.iter().cloned().collect()
    }

    /// How many times a scripted or random fault fired.
    pub fn faults_fired(&self) -> u64 {
        self.shared.lock().fired
    }

    /// Drops every open connection at once (a server restart, as the clients see it).
    pub fn kill_connections(&self) {
        for stream in self.shared.lock().open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop; if that fails, leave the thread rather than hang.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        if let Some(t) = self.accept.take() {
            if woke {
                let _ = t.join();
            }
        }
        self.kill_connections();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = incoming else {
            thread::sleep(Duration::from_millis(5));
            continue;
        };
        // Replies go out at once, as a real server's do (no Nagle delay behind a pipelined
        // client's writes).
        let _ = stream.set_nodelay(true);
        let refuse = shared
            .config
            .refuse_until
            .is_some_and(|until| Instant::now() < until);
        let clone = if refuse {
            None
        } else {
            stream.try_clone().ok()
        };
        let (id, serve) = {
            let mut state = shared.lock();
            state.connections += 1;
            let id = state.connections;
            state.refused += u64::from(refuse);
            let serve = clone.is_some();
            if let Some(clone) = clone {
                state.open.insert(id, clone);
                state.max_open = state.max_open.max(state.open.len());
            }
            (id, serve)
        };
        shared.changed.notify_all();
        if !serve {
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let guard = OpenGuard {
            shared: Arc::clone(shared),
            id,
        };
        let session = Session::new(Arc::clone(shared), stream, id);
        // On a spawn failure the closure (session and guard) is dropped: the connection closes.
        let _ = thread::Builder::new()
            .name(format!("pool-server-{id}"))
            .spawn(move || {
                let _guard = guard;
                session.run();
            });
    }
}

/// Unregisters a connection when its thread ends (however it ends).
struct OpenGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.shared.lock().open.remove(&self.id);
        self.shared.changed.notify_all();
    }
}
