//! The async run loop of one session: the core's events, the body fed from an `AsyncRead`, and
//! one I/O step at a time — a write of what the core lends, else a read — raced against the
//! core's next deadline with an [`async_io::Timer`]. While a body is going out, each write is
//! preceded by a look at the input that does not wait: a reply that arrives before the end of
//! data is written reaches the core then (which takes it as out of step), not after the body.

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

use async_io::Timer;
use async_native_tls::{TlsConnector, TlsStream};
use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWriteExt};

use smtp_proto::client::{Client, Envelope, Event, MailReport, RequestId, SendQueue, Stage};

use crate::{AsyncIo, Error, Result, TranscriptSink};

/// Size of the buffer replies are read into.
const READ_BUF: usize = 16 * 1024;
/// Size of the buffer a body is read into from its source, at most.
const BODY_BUF: usize = 64 * 1024;
/// How long to wait for the server's last words after a write failed (often a `421` or `554`
/// sent just before it closed).
const DRAIN_AFTER_WRITE_FAILURE: Duration = Duration::from_secs(1);

/// The byte pipe: a runtime's stream, optionally wrapped in TLS.
pub(crate) enum Transport {
    Plain(Box<dyn AsyncIo>),
    Tls(Box<TlsStream<Box<dyn AsyncIo>>>),
    /// A TLS upgrade failed or was abandoned half-way: the stream is gone.
    Poisoned,
}

impl Transport {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf).await,
            Self::Tls(t) => t.read(buf).await,
            Self::Poisoned => Err(poisoned()),
        }
    }

    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf).await,
            Self::Tls(t) => t.write(buf).await,
            Self::Poisoned => Err(poisoned()),
        }
    }

    /// Wraps the plain stream in TLS for `server_name`; the handshake ends by `deadline`
    /// (`Ok(false)`: it did not, and the stream is gone).
    pub(crate) async fn upgrade(
        &mut self,
        connector: &TlsConnector,
        server_name: &str,
        deadline: Instant,
    ) -> Result<bool> {
        let Self::Plain(stream) = std::mem::replace(self, Self::Poisoned) else {
            return Err(Error::Io(io::Error::other(
                "TLS requested on a transport that is not plain",
            )));
        };
        let handshake = async { Some(connector.connect(server_name, stream).await) };
        let expired = async {
            Timer::at(deadline).await;
            None
        };
        match future::or(handshake, expired).await {
            Some(Ok(tls)) => {
                *self = Self::Tls(Box::new(tls));
                Ok(true)
            }
            Some(Err(e)) => Err(Error::tls(e)),
            None => Ok(false),
        }
    }
}

fn poisoned() -> io::Error {
    io::Error::new(ErrorKind::NotConnected, "the transport is closed")
}

/// What one I/O step did.
enum Step {
    Wrote(usize),
    Read(usize),
    Deadline,
    Failed(io::Error),
}

/// One live session: the core, its transport and the TLS server name.
pub(crate) struct Session {
    pub(crate) client: Client,
    pub(crate) io: Transport,
    pub(crate) server_name: String,
    read_buf: Box<[u8]>,
    /// A body has been going out and the core may still hold some of it (or its end of data)
    /// to write: input is looked at before each write.
    reading_ahead: bool,
}

/// What one run of the loop is for: which events complete it and where bodies come from.
pub(crate) trait Job<T> {
    /// The body sources' type.
    type Body: AsyncRead + Unpin + ?Sized;
    /// Sees every event except `UpgradeTls` and `Closed(Some(_))` (the loop handles them), and
    /// `None` whenever the event queue is empty; a result ends the run.
    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<T>>;
    /// The source of request `id`'s body (`None`: an empty body).
    fn body(&mut self, id: RequestId) -> Option<&mut Self::Body>;
    /// Request `id`'s body ended: its terminator is queued.
    fn finished(&mut self, _client: &mut Client, _id: RequestId) {}
}

/// One request: at most one body, and a closure that decides when it is complete.
pub(crate) struct Single<'a, B: ?Sized, F> {
    pub(crate) body: &'a mut B,
    pub(crate) until: F,
}

impl<T, B, F> Job<T> for Single<'_, B, F>
where
    B: AsyncRead + Unpin + ?Sized,
    F: FnMut(&Client, Option<Event>) -> Option<Result<T>>,
{
    type Body = B;

    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<T>> {
        (self.until)(client, event)
    }

    fn body(&mut self, _id: RequestId) -> Option<&mut B> {
        Some(&mut *self.body)
    }
}

/// Several transactions on one connection, one message ahead: the core's
/// [`SendQueue`] decides when the next message is queued; this feeds it the messages and hands
/// each report to the caller.
pub(crate) struct Batch<I, R, F> {
    messages: I,
    queue: SendQueue<R>,
    /// Receives each transaction's report as it completes.
    on_report: F,
}

impl<I, R, F> Batch<I, R, F>
where
    I: Iterator<Item = (Envelope, R)>,
{
    pub(crate) fn new(messages: I, on_report: F) -> Self {
        Self {
            messages,
            queue: SendQueue::new(),
            on_report,
        }
    }

    /// Queues the next message unless one is already waiting to send its body.
    pub(crate) fn top_up(&mut self, client: &mut Client) {
        self.queue.top_up(client, &mut self.messages);
    }
}

impl<I, R, F> Job<()> for Batch<I, R, F>
where
    I: Iterator<Item = (Envelope, R)>,
    F: FnMut(MailReport),
    R: AsyncRead + Unpin,
{
    type Body = R;

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

    fn body(&mut self, id: RequestId) -> Option<&mut R> {
        self.queue.body_mut(id)
    }

    fn finished(&mut self, client: &mut Client, id: RequestId) {
        self.queue.body_finished(id);
        self.top_up(client);
    }
}

/// What the loop borrows from the client besides the session.
pub(crate) struct Context<'a> {
    pub(crate) connector: &'a TlsConnector,
    pub(crate) sink: &'a mut Option<TranscriptSink>,
    pub(crate) body_buf: &'a mut Vec<u8>,
}

impl Session {
    pub(crate) fn new(client: Client, io: Transport, server_name: String) -> Self {
        Self {
            client,
            io,
            server_name,
            read_buf: vec![0; READ_BUF].into_boxed_slice(),
            reading_ahead: false,
        }
    }

    /// Runs the session until `until` returns a result.
    pub(crate) async fn run<J, T>(&mut self, cx: &mut Context<'_>, job: &mut J) -> Result<T>
    where
        J: Job<T> + ?Sized,
    {
        let mut feeding: Option<RequestId> = None;
        loop {
            // Events first, so that a body wanted at once leaves with its envelope.
            while let Some(event) = self.next_event(cx) {
                match event {
                    Event::UpgradeTls => self.upgrade(cx.connector).await?,
                    Event::Closed(Some(error)) => {
                        // Everything the call waited for already happened (the last message's
                        // final reply came with the trouble that ended the session): its
                        // result stands, and the session is over for the next call.
                        if let Some(done) = job.event(&mut self.client, None) {
                            return done;
                        }
                        return Err(Error::Smtp(error));
                    }
                    Event::Closed(None) => {
                        return job
                            .event(&mut self.client, Some(Event::Closed(None)))
                            .unwrap_or(Err(Error::NotConnected));
                    }
                    other => {
                        if let Event::BodyWanted(id) = other {
                            feeding = Some(id);
                        }
                        if let Some(done) = job.event(&mut self.client, Some(other)) {
                            return done;
                        }
                    }
                }
            }
            if let Some(done) = job.event(&mut self.client, None) {
                return done;
            }
            if let Some(id) = feeding {
                let fed;
                (feeding, fed) = self.feed(id, job, cx.body_buf).await?;
                if fed {
                    // Fill the core's room before writing: a small body leaves with its end.
                    continue;
                }
            }
            self.step(feeding.is_some()).await?;
        }
    }

    fn next_event(&mut self, cx: &mut Context<'_>) -> Option<Event> {
        while let Some(entry) = self.client.poll_transcript() {
            if let Some(sink) = cx.sink.as_mut() {
                sink(&entry);
            }
        }
        self.client.poll_event()
    }

    /// Gives the core as much of the body as it has room for, in one read of the source.
    /// Returns the request while it still takes a body, and whether anything was fed.
    async fn feed<J, T>(
        &mut self,
        id: RequestId,
        job: &mut J,
        buf: &mut Vec<u8>,
    ) -> Result<(Option<RequestId>, bool)>
    where
        J: Job<T> + ?Sized,
    {
        let room = match self.client.body(id) {
            None => return Ok((None, false)),
            Some(writer) => writer.room().min(BODY_BUF),
        };
        if room == 0 {
            return Ok((Some(id), false));
        }
        if buf.len() < room {
            buf.resize(room, 0);
        }
        let chunk = buf.get_mut(..room).unwrap_or_default();
        let n = match job.body(id) {
            Some(source) => read_retrying(source, chunk).await?,
            None => 0,
        };
        let Some(mut writer) = self.client.body(id) else {
            return Ok((None, false));
        };
        match chunk.get(..n) {
            Some(bytes) if n > 0 => match writer.write(bytes) {
                Ok(took) if took < n => Err(Error::Io(io::Error::other(
                    "internal: the body writer took less than its room",
                ))),
                Ok(_) => Ok((Some(id), true)),
                // An encoding error ends the session: `Closed` reports it.
                Err(_) => Ok((None, true)),
            },
            _ => {
                if writer.finish().is_ok() {
                    // The next request may go out right behind the end of data.
                    job.finished(&mut self.client, id);
                }
                Ok((None, true))
            }
        }
    }

    /// One I/O step: write what the core lends, else read; whichever ends first of that and the
    /// core's deadline is fed back as exactly one input. While a body is going out, input that
    /// has already arrived is fed instead of the write (see [`read_ahead`](Self::read_ahead)).
    async fn step(&mut self, body_open: bool) -> Result<()> {
        let now = Instant::now();
        let deadline = self.client.poll_timeout();
        if deadline.is_some_and(|d| d <= now) {
            // Trust the clock, not the timer.
            self.client.handle_timeout(now);
            return Ok(());
        }
        let writing = self.client.poll_transmit(now).is_some();
        self.reading_ahead = writing && (self.reading_ahead || body_open);
        if self.reading_ahead && self.read_ahead().await? {
            return Ok(());
        }
        if !writing && deadline.is_none() && !self.client.is_busy() && !body_open {
            return Err(Error::Io(io::Error::other(
                "internal: the session has nothing to wait for",
            )));
        }
        let fallback = self.client.config().timeouts.command;
        let timer = deadline.map_or_else(|| Timer::after(fallback), Timer::at);
        let Self {
            client,
            io,
            read_buf,
            ..
        } = self;
        let work = async {
            let done = match client.poll_transmit(now) {
                Some(bytes) => io.write(bytes).await.map(Step::Wrote),
                None => io.read(read_buf).await.map(Step::Read),
            };
            done.unwrap_or_else(Step::Failed)
        };
        let expired = async {
            timer.await;
            Step::Deadline
        };
        // The deadline first: when it has passed and the socket is ready too, the wait is over
        // (a write let through at the deadline would count as progress made in time).
        let step = future::or(expired, work).await;
        let now = Instant::now();
        match step {
            Step::Wrote(0) => return Err(Error::Io(ErrorKind::WriteZero.into())),
            Step::Wrote(n) => self.client.handle_written(n, now),
            Step::Read(0) => self.client.handle_eof(now),
            Step::Read(n) => {
                let bytes = self.read_buf.get(..n).unwrap_or_default();
                self.client.handle_input(bytes, now);
            }
            Step::Deadline => self.client.handle_timeout(now),
            Step::Failed(e) if e.kind() == ErrorKind::Interrupted => {}
            Step::Failed(e) if is_disconnect(&e) && writing => self.drain().await,
            Step::Failed(e) if is_disconnect(&e) => self.client.handle_eof(now),
            Step::Failed(e) => return Err(Error::Io(e)),
        }
        Ok(())
    }

    /// Feeds the core what has already arrived, without waiting: `true` when the read was ready
    /// (input, end of stream, a disconnect, an interruption), which ends the step.
    ///
    /// Called before each write of a body: a server that answers before the end of data has
    /// been written (a premature final reply, a `554` as it gives up reading) is heard then.
    /// The core refuses such a reply as out of step; waiting until the whole body was written
    /// would have taken it as the answer to the end of data.
    async fn read_ahead(&mut self) -> Result<bool> {
        let Some(read) = future::poll_once(self.io.read(&mut self.read_buf)).await else {
            return Ok(false);
        };
        let now = Instant::now();
        match read {
            Ok(0) => self.client.handle_eof(now),
            Ok(n) => {
                let bytes = self.read_buf.get(..n).unwrap_or_default();
                self.client.handle_input(bytes, now);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_disconnect(&e) => self.client.handle_eof(now),
            Err(e) => return Err(Error::Io(e)),
        }
        Ok(true)
    }

    /// Writes what the core still lends (and nothing else), each write bounded by the core's
    /// deadline.
    pub(crate) async fn send_leftovers(&mut self) -> Result<()> {
        while self.client.wants_write() && !self.client.is_closed() {
            self.step(false).await?;
        }
        Ok(())
    }

    /// A write failed because the peer went away: read what it said last (often the reason),
    /// briefly, then report the end of stream.
    async fn drain(&mut self) {
        let until = Instant::now() + DRAIN_AFTER_WRITE_FAILURE;
        while !self.client.is_closed() {
            let read = async { Some(self.io.read(&mut self.read_buf).await) };
            let expired = async {
                Timer::at(until).await;
                None
            };
            match future::or(read, expired).await {
                Some(Ok(n)) if n > 0 => {
                    let bytes = self.read_buf.get(..n).unwrap_or_default();
                    self.client.handle_input(bytes, Instant::now());
                }
                Some(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        self.client.handle_eof(Instant::now());
    }

    /// The server accepted STARTTLS: handshake on the same stream, by the core's deadline.
    async fn upgrade(&mut self, connector: &TlsConnector) -> Result<()> {
        // The core may have ended the session in the same input that accepted STARTTLS
        // (plaintext right behind the `220`): `Closed` follows.
        if self.client.is_closed() {
            return Ok(());
        }
        // Bytes that already arrived behind the `220` belong to the core (which ends the
        // session), never to the TLS layer. This looks without waiting, as `smtp-blocking`
        // does: an end of stream is not reported here but left to the handshake, which then
        // fails (`Error::Tls`). Whether the end of stream is already visible at this instant
        // is a matter of timing, and one cause must give one outcome.
        let pending = future::poll_once(self.io.read(&mut self.read_buf)).await;
        let now = Instant::now();
        match pending {
            Some(Ok(n)) if n > 0 => {
                let bytes = self.read_buf.get(..n).unwrap_or_default();
                self.client.handle_input(bytes, now);
                return Ok(());
            }
            Some(Err(e)) if e.kind() != ErrorKind::Interrupted => return Err(Error::Io(e)),
            _ => {}
        }
        let command = self.client.config().timeouts.command;
        let deadline = self.client.poll_timeout().unwrap_or(now + command);
        if self
            .io
            .upgrade(connector, &self.server_name, deadline)
            .await?
        {
            self.client.handle_tls_established(Instant::now());
        } else {
            // The core armed this deadline: it reports the handshake timeout.
            self.client.handle_timeout(Instant::now());
            if !self.client.is_closed() {
                return Err(Error::Smtp(smtp_proto::Error::Timeout {
                    stage: Stage::TlsHandshake,
                    after: command,
                }));
            }
        }
        Ok(())
    }
}

async fn read_retrying<B>(source: &mut B, buf: &mut [u8]) -> Result<usize>
where
    B: AsyncRead + Unpin + ?Sized,
{
    loop {
        match source.read(buf).await {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            other => return Ok(other?),
        }
    }
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
