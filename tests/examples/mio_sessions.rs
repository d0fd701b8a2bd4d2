//! A custom event loop: one thread drives many SMTP sessions at once with `mio`.
//!
//! ```sh
//! cargo run -p smtp-tests --example mio_sessions
//! ```
//!
//! No adapter is involved: each connection is a non-blocking `mio` socket plus a
//! `smtp_proto::Client`, the sans-IO protocol core, and one readiness loop moves bytes between
//! them:
//!
//! - bytes read from a socket go to `handle_input` (end of stream: `handle_eof`);
//! - bytes the core lends with `poll_transmit` are written until the socket would block; the
//!   core keeps whatever the socket did not take (`handle_written` says how much it did), and
//!   the socket is registered for WRITABLE only while such bytes wait;
//! - the poll timeout is the earliest of the cores' deadlines (`poll_timeout`), and a core whose
//!   deadline has passed is told so with `handle_timeout`: no timers of our own, no busy loop;
//! - events (`poll_event`) tell when to queue the messages, when to hand over a body, and how
//!   each transaction ended (`MailDone` with a `MailReport`).
//!
//! The demo starts the in-process test server of the `smtp-tests` crate on 127.0.0.1, sends 100
//! messages over 10 concurrent connections (10 each), prints a summary, and checks that the
//! server received exactly those messages (sender, recipients, content). It exits with a
//! non-zero status otherwise.

use std::collections::HashMap;
use std::error::Error;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};
use smtp_proto::client::{Client, Config, Envelope, Event, MailReport, RequestId, Timeouts};
use smtp_proto::error::{InvalidInput, UsageError};
use smtp_proto::{Domain, Mailbox, ReversePath};
use smtp_tests::server::{Received, Server};

const CONNECTIONS: usize = 10;
const MESSAGES_PER_CONNECTION: usize = 10;
/// Size of the buffer each read fills (one buffer serves every socket: there is one thread).
const READ_BUF: usize = 16 * 1024;

fn main() -> Result<(), Box<dyn Error>> {
    let server = Server::start()?;
    let plan = plan(CONNECTIONS, MESSAGES_PER_CONNECTION);
    let summary = run(server.addr(), &demo_config()?, &plan)?;

    let accepted = summary.accepted();
    let secs = summary.elapsed.as_secs_f64();
    println!(
        "sent {accepted} messages over {} sessions in {:.1} ms ({:.0} messages/s); \
         {} polls, {} waits for a writable socket",
        summary.sessions,
        secs * 1000.0,
        accepted as f64 / secs.max(f64::EPSILON),
        summary.polls,
        summary.write_waits,
    );
    for (connection, error) in &summary.failures {
        println!("session {connection} failed: {error}");
    }

    server.wait_finished(summary.sessions, Duration::from_secs(5));
    verify(&plan, &summary, &server.messages())?;
    if accepted != CONNECTIONS * MESSAGES_PER_CONNECTION || !summary.failures.is_empty() {
        return Err(format!("only {accepted} messages were accepted").into());
    }
    println!("the server received exactly the {accepted} messages sent");
    Ok(())
}

/// The client settings of the demo: RFC 5321 behaviour, but no wait longer than 30 s.
fn demo_config() -> Result<Config, Box<dyn Error>> {
    let mut config = Config::new(Domain::try_from("client.example")?);
    config.timeouts = Timeouts::uniform(Duration::from_secs(30));
    Ok(config)
}

/// One message to send: envelope addresses and content.
#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) body: Vec<u8>,
}

impl Message {
    fn envelope(&self) -> Result<Envelope, InvalidInput> {
        let from = ReversePath::try_from(self.from.as_str())?;
        let mut to = Vec::new();
        for address in &self.to {
            to.push(Mailbox::try_from(address.as_str())?);
        }
        Ok(Envelope::new(from, to))
    }
}

/// `per_connection` messages for each of `connections`, each with its own recipient and
/// content: `plan[connection][message]`.
pub(crate) fn plan(connections: usize, per_connection: usize) -> Vec<Vec<Message>> {
    (0..connections)
        .map(|c| {
            (0..per_connection)
                .map(|m| Message {
                    from: "sender@example.org".into(),
                    to: vec![format!("rcpt-{c}-{m}@example.net")],
                    body: format!(
                        "Subject: message {m} of connection {c}\r\n\r\nHello number {m}.\r\n\
                         .This line starts with a dot.\r\n"
                    )
                    .into_bytes(),
                })
                .collect()
        })
        .collect()
}

/// What became of one message.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// Its connection: the first index in the plan.
    pub(crate) connection: usize,
    /// Its place among the connection's messages: `plan[connection][message]`.
    pub(crate) message: usize,
    /// The transaction's report, or why the core would not queue it.
    pub(crate) report: Result<MailReport, UsageError>,
}

/// How a run went.
#[derive(Debug)]
pub(crate) struct Summary {
    /// Connections made.
    pub(crate) sessions: usize,
    /// One entry per message of sessions that ran to the end, in the order they completed.
    pub(crate) deliveries: Vec<Delivery>,
    /// Sessions that ended with an error: connection number and error.
    pub(crate) failures: Vec<(usize, smtp_proto::Error)>,
    /// How many times the loop waited in `Poll::poll` (a busy loop would make this huge).
    pub(crate) polls: u64,
    /// How many times a socket took less than the core lent and was registered for WRITABLE.
    pub(crate) write_waits: u64,
    pub(crate) elapsed: Duration,
}

impl Summary {
    /// Messages the server took responsibility for.
    pub(crate) fn accepted(&self) -> usize {
        self.deliveries
            .iter()
            .filter(|d| d.report.as_ref().is_ok_and(MailReport::is_accepted))
            .count()
    }
}

/// Sends `plan[c]` over connection `c` to `addr`, all connections at once on this thread.
///
/// Returns when every session has ended. An invalid address in the plan, or an I/O error of the
/// loop itself (creating the poll, connecting, registering) is an `Err`; a session that fails
/// (timeout, refused connection, protocol error) is reported in [`Summary::failures`] while the
/// others carry on.
pub(crate) fn run(addr: SocketAddr, config: &Config, plan: &[Vec<Message>]) -> io::Result<Summary> {
    let started = Instant::now();
    let mut poll = Poll::new()?;
    let mut sessions = Vec::new();
    for (index, messages) in plan.iter().enumerate() {
        let envelopes = messages
            .iter()
            .map(Message::envelope)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
        let mut socket = TcpStream::connect(addr)?;
        socket.set_nodelay(true)?;
        // Nothing to send before the server's greeting: readable only.
        poll.registry()
            .register(&mut socket, Token(index), Interest::READABLE)?;
        let client = Client::new(config.clone(), Instant::now());
        sessions.push(Session::new(
            Token(index),
            socket,
            client,
            messages,
            envelopes,
        ));
    }

    let mut events = Events::with_capacity(64);
    let mut buf = vec![0; READ_BUF];
    let mut polls = 0;
    while sessions.iter().any(|s| !s.is_over()) {
        // Sleep until a socket is ready or the earliest core deadline passes. Every running
        // session has a deadline (a reply or a write is always awaited), so this never blocks
        // for ever.
        let deadline = earliest_deadline(&sessions)?;
        let timeout = deadline.saturating_duration_since(Instant::now());
        match poll.poll(&mut events, Some(timeout)) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            result => result?,
        }
        polls += 1;

        let now = Instant::now();
        for event in &events {
            let session = sessions.get_mut(event.token().0);
            let Some(session) = session.filter(|s| !s.is_over()) else {
                continue;
            };
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                session.read(&mut buf, now);
            }
            // Writable, or new input that produced bytes to send: let the core run.
            session.drive(poll.registry(), now)?;
        }
        for session in &mut sessions {
            if session.client.poll_timeout().is_some_and(|d| d <= now) {
                session.client.handle_timeout(now);
                session.drive(poll.registry(), now)?;
            }
        }
    }

    let mut summary = Summary {
        sessions: sessions.len(),
        deliveries: Vec::new(),
        failures: Vec::new(),
        polls,
        write_waits: 0,
        elapsed: started.elapsed(),
    };
    for (connection, session) in sessions.into_iter().enumerate() {
        for (message, report) in session.reports {
            summary.deliveries.push(Delivery {
                connection,
                message,
                report,
            });
        }
        summary.write_waits += session.write_waits;
        if let Some(Some(error)) = session.closed {
            summary.failures.push((connection, error));
        }
    }
    Ok(summary)
}

/// The earliest deadline among the sessions still running.
fn earliest_deadline(sessions: &[Session<'_>]) -> io::Result<Instant> {
    let mut earliest: Option<Instant> = None;
    for session in sessions.iter().filter(|s| !s.is_over()) {
        let Some(deadline) = session.client.poll_timeout() else {
            return Err(io::Error::other("a running session waits for nothing"));
        };
        earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
    }
    earliest.ok_or_else(|| io::Error::other("no session is running"))
}

/// The body being handed to the core.
struct BodyFeed {
    id: RequestId,
    /// Which message of the session.
    message: usize,
    /// Bytes the core has taken so far.
    taken: usize,
}

/// One connection: its socket, its protocol core, and what it sends.
struct Session<'a> {
    token: Token,
    socket: TcpStream,
    client: Client,
    messages: &'a [Message],
    /// The messages' envelopes, until the session is ready for them.
    envelopes: Vec<Envelope>,
    /// The message each queued transaction sends.
    queued: HashMap<RequestId, usize>,
    body: Option<BodyFeed>,
    /// The last write would have blocked: the core still holds bytes for the socket.
    write_blocked: bool,
    /// Whether the socket is registered for WRITABLE (as well as READABLE).
    writable_registered: bool,
    /// How many times it was registered for WRITABLE.
    write_waits: u64,
    /// Every message's outcome: its index and its report (or why it was not queued).
    reports: Vec<(usize, Result<MailReport, UsageError>)>,
    /// `Event::Closed` arrived, with its error if the session failed.
    closed: Option<Option<smtp_proto::Error>>,
}

impl<'a> Session<'a> {
    fn new(
        token: Token,
        socket: TcpStream,
        client: Client,
        messages: &'a [Message],
        envelopes: Vec<Envelope>,
    ) -> Self {
        Self {
            token,
            socket,
            client,
            messages,
            envelopes,
            queued: HashMap::new(),
            body: None,
            write_blocked: false,
            writable_registered: false,
            write_waits: 0,
            reports: Vec::new(),
            closed: None,
        }
    }

    fn is_over(&self) -> bool {
        self.closed.is_some()
    }

    /// Reads until the socket would block, giving every byte to the core.
    fn read(&mut self, buf: &mut [u8], now: Instant) {
        while !self.client.is_closed() {
            match self.socket.read(buf) {
                Ok(0) => self.client.handle_eof(now),
                Ok(n) => self.client.handle_input(&buf[..n], now),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Reset or refused: the stream is over (the core says what it was waiting for).
                Err(_) => self.client.handle_eof(now),
            }
        }
    }

    /// Lets the core run until it waits for the network: handle its events, feed it the body,
    /// write what it lends. Then register the socket for what the session waits for.
    fn drive(&mut self, registry: &Registry, now: Instant) -> io::Result<()> {
        loop {
            self.handle_events();
            let fed = self.feed_body();
            let wrote = self.write(now);
            if !fed && !wrote {
                break;
            }
        }
        self.update_interest(registry)
    }

    fn handle_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            match event {
                Event::Ready => self.queue_messages(),
                Event::BodyWanted(id) => {
                    if let Some(&message) = self.queued.get(&id) {
                        self.body = Some(BodyFeed {
                            id,
                            message,
                            taken: 0,
                        });
                    }
                }
                Event::MailDone(report) => {
                    if let Some(message) = self.queued.remove(&report.id) {
                        self.reports.push((message, Ok(report)));
                    }
                }
                Event::Closed(error) => self.closed = Some(error),
                // No TLS, AUTH or single commands in this demo.
                _ => {}
            }
        }
    }

    /// Queues every message at once, then QUIT: the core runs them in order, pipelined when the
    /// server offers PIPELINING, and sends QUIT after the last.
    fn queue_messages(&mut self) {
        for (index, envelope) in std::mem::take(&mut self.envelopes).into_iter().enumerate() {
            match self.client.send_mail(envelope) {
                Ok(id) => {
                    self.queued.insert(id, index);
                }
                Err(e) => self.reports.push((index, Err(e))),
            }
        }
        self.client.quit();
    }

    /// Gives the core as much of the current body as it has room for, and ends the body once
    /// all of it is taken. Returns whether anything changed.
    fn feed_body(&mut self) -> bool {
        let Some(feed) = &mut self.body else {
            return false;
        };
        let Some(mut writer) = self.client.body(feed.id) else {
            // The transaction ended early (the server refused it): nothing more to feed.
            self.body = None;
            return true;
        };
        let rest = &self.messages[feed.message].body[feed.taken..];
        match writer.write(rest) {
            // No room: the queued bytes must go out first.
            Ok(0) if !rest.is_empty() => return false,
            Ok(n) => feed.taken += n,
            // The core ends the session; `Event::Closed` reports it.
            Err(_) => {
                self.body = None;
                return true;
            }
        }
        if feed.taken == self.messages[feed.message].body.len() {
            // All taken: end the body now, so that the terminator (and, with PIPELINING, the
            // next transaction) leaves in the same write as the last bytes. An error ends the
            // session, and `Event::Closed` reports it.
            let _ = writer.finish();
            self.body = None;
        }
        true
    }

    /// Writes what the core lends until it has nothing more or the socket would block.
    /// Returns whether anything changed.
    fn write(&mut self, now: Instant) -> bool {
        self.write_blocked = false;
        let mut progressed = false;
        while let Some(bytes) = self.client.poll_transmit(now) {
            match self.socket.write(bytes) {
                Ok(0) => {
                    self.client.handle_eof(now);
                    return true;
                }
                Ok(n) => {
                    // Partial writes are normal: the core keeps the rest for the next round.
                    self.client.handle_written(n, now);
                    progressed = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // The peer went away. (An adapter would first read its last words, often a
                // 421 saying why.)
                Err(_) => {
                    self.client.handle_eof(now);
                    return true;
                }
            }
        }
        progressed
    }

    /// READABLE always; WRITABLE only while the core holds bytes the socket would not take.
    /// A session that is over leaves the poll (the loop sends it no more events).
    fn update_interest(&mut self, registry: &Registry) -> io::Result<()> {
        if self.is_over() {
            return registry.deregister(&mut self.socket);
        }
        if self.write_blocked == self.writable_registered {
            return Ok(());
        }
        let interest = if self.write_blocked {
            self.write_waits += 1;
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        registry.reregister(&mut self.socket, self.token, interest)?;
        self.writable_registered = self.write_blocked;
        Ok(())
    }
}

/// Checks the server's side against the plan and the reports: every message has a report, and
/// the server holds exactly the accepted messages, each once, with its sender, its accepted
/// recipients and its content.
pub(crate) fn verify(
    plan: &[Vec<Message>],
    summary: &Summary,
    received: &[Received],
) -> Result<(), String> {
    let planned: usize = plan.iter().map(Vec::len).sum();
    let failed: usize = summary.failures.iter().map(|(c, _)| plan[*c].len()).sum();
    if summary.deliveries.len() + failed != planned {
        return Err(format!(
            "{planned} messages planned, {} reported",
            summary.deliveries.len()
        ));
    }
    if received.len() != summary.accepted() {
        return Err(format!(
            "{} messages accepted, the server received {}",
            summary.accepted(),
            received.len()
        ));
    }
    for delivery in &summary.deliveries {
        let Ok(report) = &delivery.report else {
            continue;
        };
        if !report.is_accepted() {
            continue;
        }
        let sent = &plan[delivery.connection][delivery.message];
        let recipients: Vec<&str> = report
            .recipients
            .iter()
            .filter(|r| r.accepted())
            .map(|r| r.mailbox.as_str())
            .collect();
        let copies: Vec<&Received> = received
            .iter()
            .filter(|r| r.recipients() == recipients)
            .collect();
        let [got] = copies.as_slice() else {
            return Err(format!(
                "{} copies of the message to {recipients:?} arrived",
                copies.len()
            ));
        };
        if got.sender() != sent.from || got.data != sent.body {
            return Err(format!(
                "the message to {recipients:?} arrived altered: {got:?}"
            ));
        }
    }
    Ok(())
}
