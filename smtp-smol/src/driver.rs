//! The async run loop of one session (architecture §6.2): the core's events, the body fed from an
//! `AsyncRead`, and one I/O step at a time — a write of what the core lends, else a read — raced
//! against the core's next deadline with an [`async_io::Timer`].

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

use async_io::Timer;
use async_native_tls::{TlsConnector, TlsStream};
use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWriteExt};
use smtp_proto::client::{Client, Event, RequestId, Stage};

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
            Some(Err(e)) => Err(Error::Tls(e)),
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
}

/// Decides when a request is complete: sees every event except `UpgradeTls` and
/// `Closed(Some(_))` (which the loop handles), and `None` whenever the queue is empty.
pub(crate) type Until<'a, T> =
    &'a mut (dyn FnMut(&Client, Option<Event>) -> Option<Result<T>> + Send);

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
        }
    }

    /// Runs the session until `until` returns a result.
    pub(crate) async fn run<B, T>(
        &mut self,
        cx: &mut Context<'_>,
        mut body: Option<&mut B>,
        until: Until<'_, T>,
    ) -> Result<T>
    where
        B: AsyncRead + Unpin + ?Sized,
    {
        let mut feeding: Option<RequestId> = None;
        loop {
            // Events first, so that a body wanted at once leaves with its envelope.
            while let Some(event) = self.next_event(cx) {
                match event {
                    Event::UpgradeTls => self.upgrade(cx.connector).await?,
                    Event::Closed(Some(error)) => return Err(Error::Smtp(error)),
                    Event::Closed(None) => {
                        return until(&self.client, Some(Event::Closed(None)))
                            .unwrap_or(Err(Error::NotConnected));
                    }
                    other => {
                        if let Event::BodyWanted(id) = other {
                            feeding = Some(id);
                        }
                        if let Some(done) = until(&self.client, Some(other)) {
                            return done;
                        }
                    }
                }
            }
            if let Some(done) = until(&self.client, None) {
                return done;
            }
            if let Some(id) = feeding {
                let fed;
                (feeding, fed) = self.feed(id, body.as_deref_mut(), cx.body_buf).await?;
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
    async fn feed<B>(
        &mut self,
        id: RequestId,
        source: Option<&mut B>,
        buf: &mut Vec<u8>,
    ) -> Result<(Option<RequestId>, bool)>
    where
        B: AsyncRead + Unpin + ?Sized,
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
        let n = match source {
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
                let _ = writer.finish();
                Ok((None, true))
            }
        }
    }

    /// One I/O step: write what the core lends, else read; whichever ends first of that and the
    /// core's deadline is fed back as exactly one input.
    async fn step(&mut self, body_open: bool) -> Result<()> {
        let now = Instant::now();
        let deadline = self.client.poll_timeout();
        if deadline.is_some_and(|d| d <= now) {
            // Trust the clock, not the timer.
            self.client.handle_timeout(now);
            return Ok(());
        }
        let writing = self.client.poll_transmit(now).is_some();
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
        let step = future::or(work, expired).await;
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
        // session), never to the TLS layer.
        let pending = future::poll_once(self.io.read(&mut self.read_buf)).await;
        let now = Instant::now();
        match pending {
            Some(Ok(0)) => {
                self.client.handle_eof(now);
                return Ok(());
            }
            Some(Ok(n)) => {
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
