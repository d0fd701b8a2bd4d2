//! [`GenericPool`]: several connections to one server, shared by any number of tasks. The
//! policy (which connection, when to open, retry or give up) is the core's
//! ([`smtp_proto::pool`]); this file opens connections and waits.

use std::future::Future;
#[cfg(unix)]
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::Timer;
use async_native_tls::TlsConnector;
use event_listener::Event;
use futures_lite::{future, AsyncRead};
use smtp_proto::client::{Envelope, TranscriptEntry};
use smtp_proto::pool::{Job, JobStep, Outcome, Policy, Report};
use smtp_proto::session::{Result, Settings, TranscriptSink};

use crate::{GenericBuilder, GenericSmtpClient, Runtime};

/// The longest a job waits for a connection before it looks again (a safety net: every
/// returned connection wakes the waiting jobs).
const RECHECK: Duration = Duration::from_secs(1);

/// A pool of connections to one server: messages sent from any number of tasks at once are
/// spread over at most [`PoolSettings::max_connections`](smtp_proto::pool::PoolSettings)
/// connections, each set up as a single client's (connect, greeting, STARTTLS as configured,
/// the pool's login), reused, renewed after its quota, checked after idling, retried on
/// another after a failure that left the message undelivered — never after one that may have
/// delivered it. Every message ends with one [`Outcome`]; see [`smtp_proto::pool`] for the
/// rules. Runtime-neutral: it spawns nothing; [`send_all`](Self::send_all) runs its workers
/// inside the one future. Say goodbye with [`close`](Self::close): dropping the pool closes
/// its connections without a QUIT (a drop cannot wait).
///
/// ```no_run
/// use smtp_smol::proto::pool::PoolSettings;
/// use smtp_smol::{envelope, SmtpClient};
///
/// # fn main() -> smtp_smol::Result<()> {
/// smol::block_on(async {
///     let mut pool_settings = PoolSettings::default();
///     pool_settings.max_connections = 8;
///     let pool = SmtpClient::builder()
///         .pool(pool_settings)
///         .into_pool("mx.example.org", 25);
///     let messages = (0..1000).map(|i| {
///         let to = format!("user{i}@example.org");
///         let message = format!("Subject: hello {i}\r\n\r\nHi!\r\n").into_bytes();
///         (envelope("me@example.org", [to.as_str()]).expect("addresses"), message)
///     });
///     let mut delivered = 0;
///     pool.send_all(messages, |report| delivered += usize::from(report.outcome.is_delivered()))
///         .await;
///     println!("{delivered} delivered");
///     pool.close().await;
///     Ok(())
/// })
/// # }
/// ```
pub struct GenericPool<R: Runtime> {
    settings: Settings,
    connector: Option<Arc<TlsConnector>>,
    sink: Option<Arc<Mutex<TranscriptSink>>>,
    target: Target,
    policy: Mutex<Policy<GenericSmtpClient<R>>>,
    returned: Event,
}

enum Target {
    Tcp(String, u16),
    #[cfg(unix)]
    Unix(PathBuf),
}

impl<R: Runtime> std::fmt::Debug for GenericPool<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenericPool")
            .field("settings", &self.settings)
            .field("connections", &self.lock().connections())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> GenericBuilder<R> {
    /// A [`GenericPool`] of connections to `host:port` (as [`connect`](Self::connect) takes
    /// them) with these settings and [`PoolSettings`](smtp_proto::pool::PoolSettings). Nothing
    /// is connected until the first message. The transcript sink, if any, gets every
    /// connection's lines.
    pub fn into_pool(self, host: &str, port: u16) -> GenericPool<R> {
        self.pool_to(Target::Tcp(host.to_owned(), port))
    }

    /// A [`GenericPool`] of connections to the Unix socket at `path` (LMTP, usually).
    #[cfg(unix)]
    pub fn into_pool_unix(self, path: impl Into<PathBuf>) -> GenericPool<R> {
        self.pool_to(Target::Unix(path.into()))
    }

    fn pool_to(self, target: Target) -> GenericPool<R> {
        let (settings, connector, sink) = self.into_parts();
        GenericPool {
            policy: Mutex::new(Policy::new(settings.pool.clone())),
            settings,
            connector,
            sink: sink.map(|sink| Arc::new(Mutex::new(sink))),
            target,
            returned: Event::new(),
        }
    }
}

impl<R: Runtime> GenericPool<R> {
    /// Sends one message on one of the pool's connections (opening one if needed), and
    /// returns how it ended. Any number of tasks may call it at once.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Outcome {
        self.send_with(envelope, || message).await
    }

    /// [`send`](Self::send) with the message read from `body()`, called once per try (each
    /// reader starts at the message's beginning). The message is never held whole by the
    /// pool.
    pub async fn send_with<B: AsyncRead + Unpin>(
        &self,
        envelope: &Envelope,
        body: impl Fn() -> B,
    ) -> Outcome {
        let mut job = Job::new();
        let mut input = None;
        loop {
            let (step, listener) = {
                let mut policy = self.lock();
                let step = job.next(&mut policy, input.take(), Instant::now());
                self.returned.notify(usize::MAX);
                // Listening before the lock is released: no return is missed.
                let listener = matches!(step, JobStep::Wait(_)).then(|| self.returned.listen());
                (step, listener)
            };
            match (step, listener) {
                (JobStep::Wait(until), Some(listener)) => {
                    let recheck = Instant::now() + RECHECK;
                    let until = until.map_or(recheck, |t| t.min(recheck));
                    future::or(listener, async {
                        Timer::at(until).await;
                    })
                    .await;
                }
                (JobStep::Done(outcome), _) => return outcome,
                (step, _) => input = self.perform(step, envelope, &body).await,
            }
        }
    }

    /// Sends every message of `messages` over the pool, as many at once as the pool has
    /// connections, and hands each one's [`Report`] to `on_report` as it ends (in the order
    /// they end; [`Report::index`] is the message's place in `messages`). Messages are taken
    /// from the iterator only as connections free up: memory stays flat for any count.
    pub async fn send_all<I, M>(&self, messages: I, on_report: impl FnMut(Report))
    where
        I: IntoIterator<Item = (Envelope, M)>,
        M: AsRef<[u8]>,
    {
        let send_one = async |e: &Envelope, m: &M| self.send(e, m.as_ref()).await;
        self.each(messages, send_one, on_report).await;
    }

    /// [`send_all`](Self::send_all) with each message read from its `body()`, called once per
    /// try (see [`send_with`](Self::send_with)).
    pub async fn send_all_with<I, F, B>(&self, messages: I, on_report: impl FnMut(Report))
    where
        I: IntoIterator<Item = (Envelope, F)>,
        F: Fn() -> B,
        B: AsyncRead + Unpin,
    {
        let send_one = async |e: &Envelope, body: &F| self.send_with(e, body).await;
        self.each(messages, send_one, on_report).await;
    }

    /// `send_one` for every message, as many at once as the pool has connections, all in
    /// this one future.
    async fn each<I, M>(
        &self,
        messages: I,
        send_one: impl AsyncFn(&Envelope, &M) -> Outcome,
        on_report: impl FnMut(Report),
    ) where
        I: IntoIterator<Item = (Envelope, M)>,
    {
        let messages = Mutex::new(messages.into_iter().enumerate());
        let on_report = Mutex::new(on_report);
        let worker = || async {
            loop {
                let next = lock(&messages).next();
                let Some((index, (envelope, message))) = next else {
                    break;
                };
                let outcome = send_one(&envelope, &message).await;
                (lock(&on_report))(Report {
                    index: index as u64,
                    outcome,
                });
            }
        };
        let workers = self.settings.pool.max_connections.max(1);
        JoinAll((0..workers).map(|_| Some(Box::pin(worker()))).collect()).await;
    }

    /// Closes every idle connection (QUIT), and each busy one as it comes back. The pool
    /// stays usable: a later message opens a new connection.
    pub async fn close(&self) {
        let idle = self.lock().close();
        for mut conn in idle {
            let _ = conn.quit().await;
            conn.close();
        }
    }

    /// Connections open (idle or working) or being opened.
    pub fn connections(&self) -> usize {
        self.lock().connections()
    }

    fn lock(&self) -> MutexGuard<'_, Policy<GenericSmtpClient<R>>> {
        lock(&self.policy)
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A new connection with the greeting read (and, as configured, hello and STARTTLS).
    async fn connect(&self) -> Result<GenericSmtpClient<R>> {
        let mut builder = GenericBuilder::<R>::default().settings(self.settings.clone());
        if let Some(connector) = &self.connector {
            builder = builder.shared_connector(Arc::clone(connector));
        }
        if let Some(sink) = &self.sink {
            let sink = Arc::clone(sink);
            builder = builder.transcript_sink(move |entry: &TranscriptEntry| (lock(&sink))(entry));
        }
        match &self.target {
            Target::Tcp(host, port) => builder.connect(host, *port).await,
            #[cfg(unix)]
            Target::Unix(path) => builder.connect_unix(path).await,
        }
    }

    smtp_proto::pool_steps! {
        client: GenericSmtpClient<R>,
        read: [futures_lite::AsyncRead + Unpin],
        asyncness: [async],
        await: [.await],
    }
}

/// Runs several futures to completion, concurrently, on the task that polls it.
struct JoinAll<F>(Vec<Option<Pin<Box<F>>>>);

impl<F: Future<Output = ()>> Future for JoinAll<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut pending = false;
        for slot in self.0.iter_mut() {
            if let Some(future) = slot {
                if future.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
