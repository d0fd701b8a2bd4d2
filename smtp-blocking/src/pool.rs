//! [`Pool`]: several connections to one server, shared by any number of threads. The policy
//! (which connection, when to open, retry or give up) is the core's
//! ([`smtp_proto::pool`]); this file opens connections and waits.

use std::io::Read;
#[cfg(unix)]
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use native_tls::TlsConnector;
use smtp_proto::client::{Envelope, TranscriptEntry};
use smtp_proto::pool::{Job, JobStep, Outcome, Policy, Report};
use smtp_proto::session::{Result, Settings, TranscriptSink};

use crate::{Builder, SmtpClient};

/// The longest a job waits for a connection before it looks again (a safety net: every
/// returned connection wakes the waiting jobs).
const RECHECK: Duration = Duration::from_secs(1);

/// A pool of connections to one server: messages sent from any number of threads at once are
/// spread over at most [`PoolSettings::max_connections`](smtp_proto::pool::PoolSettings)
/// connections, each set up as a single client's (connect, greeting, STARTTLS as configured,
/// the pool's login), reused, renewed after its quota, checked after idling, retried on
/// another after a failure that left the message undelivered — never after one that may have
/// delivered it. Every message ends with one [`Outcome`]; see [`smtp_proto::pool`] for the
/// rules. Dropping the pool says QUIT on its idle connections (each wait bounded by the
/// session's timeouts), as [`close`](Self::close) does.
///
/// ```no_run
/// use smtp_blocking::proto::pool::{Outcome, PoolSettings};
/// use smtp_blocking::{envelope, SmtpClient};
///
/// # fn main() -> smtp_blocking::Result<()> {
/// let mut pool_settings = PoolSettings::default();
/// pool_settings.max_connections = 8;
/// let pool = SmtpClient::builder()
///     .pool(pool_settings)
///     .into_pool("mx.example.org", 25);
/// let messages = (0..1000).map(|i| {
///     let to = format!("user{i}@example.org");
///     let message = format!("Subject: hello {i}\r\n\r\nHi!\r\n").into_bytes();
///     (envelope("me@example.org", [to.as_str()]).expect("addresses"), message)
/// });
/// let mut delivered = 0;
/// pool.send_all(messages, |report| delivered += usize::from(report.outcome.is_delivered()));
/// println!("{delivered} delivered");
/// pool.close();
/// # Ok(())
/// # }
/// ```
pub struct Pool {
    settings: Settings,
    connector: Option<TlsConnector>,
    sink: Option<Arc<Mutex<TranscriptSink>>>,
    target: Target,
    policy: Mutex<Policy<SmtpClient>>,
    returned: Condvar,
}

enum Target {
    Tcp(String, u16),
    #[cfg(unix)]
    Unix(PathBuf),
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("settings", &self.settings)
            .field("connections", &self.lock().connections())
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A [`Pool`] of connections to `host:port` (as [`connect`](Self::connect) takes them)
    /// with these settings and [`PoolSettings`](smtp_proto::pool::PoolSettings). Nothing is
    /// connected until the first message. The transcript sink, if any, gets every
    /// connection's lines.
    pub fn into_pool(self, host: &str, port: u16) -> Pool {
        self.pool_to(Target::Tcp(host.to_owned(), port))
    }

    /// A [`Pool`] of connections to the Unix socket at `path` (LMTP, usually).
    #[cfg(unix)]
    pub fn into_pool_unix(self, path: impl Into<PathBuf>) -> Pool {
        self.pool_to(Target::Unix(path.into()))
    }

    fn pool_to(self, target: Target) -> Pool {
        let (settings, connector, sink) = self.into_parts();
        Pool {
            policy: Mutex::new(Policy::new(settings.pool.clone())),
            settings,
            connector,
            sink: sink.map(|sink| Arc::new(Mutex::new(sink))),
            target,
            returned: Condvar::new(),
        }
    }
}

impl Pool {
    /// Sends one message on one of the pool's connections (opening one if needed), and
    /// returns how it ended. Any number of threads may call it at once.
    pub fn send(&self, envelope: &Envelope, message: &[u8]) -> Outcome {
        self.send_with(envelope, || message)
    }

    /// [`send`](Self::send) with the message read from `body()`, called once per try (each
    /// reader starts at the message's beginning): a file opened or rewound, a positional
    /// reader, a cursor over shared bytes. The message is never held whole by the pool.
    pub fn send_with<B: Read>(&self, envelope: &Envelope, body: impl Fn() -> B) -> Outcome {
        let mut job = Job::new();
        let mut input = None;
        loop {
            let step = {
                let mut policy = self.lock();
                let step = job.next(&mut policy, input.take(), Instant::now());
                self.returned.notify_all();
                match step {
                    JobStep::Wait(until) => {
                        let wait = until.map_or(RECHECK, |t| {
                            t.saturating_duration_since(Instant::now()).min(RECHECK)
                        });
                        let _unlocked = self
                            .returned
                            .wait_timeout(policy, wait)
                            .unwrap_or_else(PoisonError::into_inner);
                        continue;
                    }
                    JobStep::Done(outcome) => return outcome,
                    step => step,
                }
            };
            input = self.perform(step, envelope, &body);
        }
    }

    /// Sends every message of `messages` over the pool, as many at once as the pool has
    /// connections, and hands each one's [`Report`] to `on_report`, on the calling thread, as
    /// it ends (in the order they end; [`Report::index`] is the message's place in
    /// `messages`). Messages are taken from the iterator only as connections free up: memory
    /// stays flat for any count.
    pub fn send_all<I, M>(&self, messages: I, on_report: impl FnMut(Report))
    where
        I: IntoIterator<Item = (Envelope, M)>,
        I::IntoIter: Send,
        M: AsRef<[u8]>,
    {
        self.each(messages, |e, m: &M| self.send(e, m.as_ref()), on_report);
    }

    /// [`send_all`](Self::send_all) with each message read from its `body()`, called once per
    /// try (see [`send_with`](Self::send_with)).
    pub fn send_all_with<I, F, B>(&self, messages: I, on_report: impl FnMut(Report))
    where
        I: IntoIterator<Item = (Envelope, F)>,
        I::IntoIter: Send,
        F: Fn() -> B,
        B: Read,
    {
        self.each(messages, |e, body: &F| self.send_with(e, body), on_report);
    }

    /// `send_one` for every message, on as many threads as the pool has connections; the
    /// reports are handed to `on_report` on the calling thread.
    fn each<I, M>(
        &self,
        messages: I,
        send_one: impl Fn(&Envelope, &M) -> Outcome + Sync,
        mut on_report: impl FnMut(Report),
    ) where
        I: IntoIterator<Item = (Envelope, M)>,
        I::IntoIter: Send,
    {
        let messages = Mutex::new(messages.into_iter().enumerate());
        let workers = self.settings.pool.max_connections.max(1);
        std::thread::scope(|scope| {
            let (reports, received) = std::sync::mpsc::channel();
            for _ in 0..workers {
                let reports = reports.clone();
                let (messages, send_one) = (&messages, &send_one);
                scope.spawn(move || loop {
                    let next = lock(messages).next();
                    let Some((index, (envelope, message))) = next else {
                        break;
                    };
                    let outcome = send_one(&envelope, &message);
                    let report = Report {
                        index: index as u64,
                        outcome,
                    };
                    if reports.send(report).is_err() {
                        break;
                    }
                });
            }
            drop(reports);
            // Ends when every worker has finished (and dropped its sender).
            for report in received {
                on_report(report);
            }
        });
    }

    /// Closes every idle connection (QUIT), and each busy one as it comes back. The pool
    /// stays usable: a later message opens a new connection.
    pub fn close(&self) {
        let idle = self.lock().close();
        for mut conn in idle {
            let _ = conn.quit();
            conn.close();
        }
    }

    /// Connections open (idle or working) or being opened.
    pub fn connections(&self) -> usize {
        self.lock().connections()
    }

    fn lock(&self) -> MutexGuard<'_, Policy<SmtpClient>> {
        lock(&self.policy)
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A new connection with the greeting read (and, as configured, hello and STARTTLS).
    fn connect(&self) -> Result<SmtpClient> {
        let mut builder = Builder::default().settings(self.settings.clone());
        if let Some(connector) = &self.connector {
            builder = builder.tls_connector(connector.clone());
        }
        if let Some(sink) = &self.sink {
            let sink = Arc::clone(sink);
            builder = builder.transcript_sink(move |entry: &TranscriptEntry| (lock(&sink))(entry));
        }
        match &self.target {
            Target::Tcp(host, port) => builder.connect(host, *port),
            #[cfg(unix)]
            Target::Unix(path) => builder.connect_unix(path),
        }
    }

    smtp_proto::pool_steps! {
        client: SmtpClient,
        read: [std::io::Read],
        asyncness: [],
        await: [],
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.close();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
