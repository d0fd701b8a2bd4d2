//! A custom event loop: one thread drives many SMTP sessions at once with `mio`.
//!
//! ```sh
//! cargo run -p smtp-tests --example mio_sessions
//! ```
//!
//! No adapter is involved, and no SMTP logic is written here either. Each connection is a
//! non-blocking `mio` socket plus a `smtp_proto::Client` (the sans-IO protocol core), and a
//! session is a sequence of the core's operations (`smtp_proto::session::op`): `Greeting`,
//! one `SendMail` per message, `Quit`. Each runs in a `Pump`, as in the blocking and async
//! adapters: the pump says what to do next (a `Step`), the loop does it on the socket and
//! reports the outcome back. What is left to the loop is waiting:
//!
//! - a read or write that the socket is not ready for (`WouldBlock`) is kept, and tried again
//!   when `mio` says the socket is ready: `WouldBlock` is no timeout;
//! - `Poll::poll` sleeps until a socket is ready or the earliest deadline of the kept steps
//!   passes, and a step whose deadline has passed is reported to the pump as a timeout: no
//!   timers of our own, no busy loop.
//!
//! The demo starts the in-process test server of the `smtp-tests` crate on 127.0.0.1, sends 100
//! messages over 10 concurrent connections (10 each), prints a summary, and checks that the
//! server received exactly those messages (sender, recipients, content). It exits with a
//! non-zero status otherwise.

use std::error::Error;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use smtp_proto::client::{Client, Config, Envelope, Event, MailReport, Timeouts};
use smtp_proto::error::UsageError;
use smtp_proto::session::op::{Greeting, Operation, Quit, SendMail};
use smtp_proto::session::{envelope, Error as SessionError, Pump, Step, BODY_CHUNK};
use smtp_proto::Domain;
use smtp_tests::server::{Received, Server};

const CONNECTIONS: usize = 10;
const MESSAGES_PER_CONNECTION: usize = 10;

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
    /// How many times a socket would not take what the core lent, and its session waited for
    /// it to be writable.
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
    let mut summary = Summary {
        sessions: plan.len(),
        deliveries: Vec::new(),
        failures: Vec::new(),
        polls: 0,
        write_waits: 0,
        elapsed: Duration::ZERO,
    };
    let mut poll = Poll::new()?;
    // One buffer serves every socket (there is one thread), for replies and for body chunks.
    let mut buf = vec![0; BODY_CHUNK];
    let mut sessions = Vec::new();
    for (index, messages) in plan.iter().enumerate() {
        let mut mails = Vec::new();
        for message in messages {
            let envelope = envelope(&message.from, &message.to);
            let envelope = envelope.map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
            mails.push((envelope, message.body.as_slice()));
        }
        let mut socket = TcpStream::connect(addr)?;
        socket.set_nodelay(true)?;
        // `mio` is edge-triggered: an event only means "try again", so both interests can stay
        // registered for the whole session.
        let interest = Interest::READABLE | Interest::WRITABLE;
        poll.registry()
            .register(&mut socket, Token(index), interest)?;
        let conn = Conn {
            socket,
            client: Client::new(config.clone(), Instant::now()),
            waiting: None,
            write_waits: 0,
        };
        let mut session = Session {
            connection: index,
            conn,
            call: Call::Greeting(Pump::new(Greeting)),
            mails: mails.into_iter().enumerate(),
        };
        // Up to its first wait: for the greeting.
        session.resume(&mut buf, &mut summary, Instant::now());
        sessions.push(session);
    }

    let mut events = Events::with_capacity(64);
    // Every session that is not over waits for its socket, until a deadline.
    while let Some(deadline) = sessions.iter().filter_map(Session::deadline).min() {
        let timeout = deadline.saturating_duration_since(Instant::now());
        match poll.poll(&mut events, Some(timeout)) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            result => result?,
        }
        summary.polls += 1;
        let now = Instant::now();
        // A socket is ready: its session tries again (after a spurious event, the socket just
        // says `WouldBlock` again).
        for event in &events {
            if let Some(session) = sessions.get_mut(event.token().0) {
                session.resume(&mut buf, &mut summary, now);
            }
        }
        // A deadline has passed: trying again reports the timeout.
        for session in &mut sessions {
            if session.deadline().is_some_and(|d| d <= now) {
                session.resume(&mut buf, &mut summary, now);
            }
        }
    }

    summary.write_waits = sessions.iter().map(|s| s.conn.write_waits).sum();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The call a session is making: one of the core's operations, in its pump.
enum Call<'a> {
    /// Waiting for the greeting, and the EHLO the core then sends on its own.
    Greeting(Pump<Greeting>),
    /// Sending one message (its index in the session's plan): MAIL, RCPT, DATA or BDAT, body.
    /// (Boxed: this pump is the largest.)
    Mail(usize, Box<Pump<SendMail<&'a [u8]>>>),
    /// QUIT, after the last message.
    Quit(Pump<Quit>),
    /// The session is over.
    Over,
}

/// A [`Step::Write`] or [`Step::Read`] that the socket was not ready for.
#[derive(Clone, Copy)]
enum Io {
    /// Write what the core lends by the deadline; with `look_first` (a body is going out),
    /// first read any input that has arrived.
    Write(Instant, bool),
    /// Read what the server says, by the deadline.
    Read(Instant),
}

/// One SMTP session: its connection, its current call, and the messages it has yet to send.
struct Session<'a> {
    /// Its index in the plan.
    connection: usize,
    conn: Conn,
    call: Call<'a>,
    /// The messages not sent yet, with their index in the plan.
    mails: std::iter::Enumerate<std::vec::IntoIter<(Envelope, &'a [u8])>>,
}

/// A connection: the socket, the protocol core, and the step the socket was not ready for.
struct Conn {
    socket: TcpStream,
    client: Client,
    /// What the pump asked for and the socket was not ready for: tried again when it is, or
    /// reported as a timeout once its deadline has passed. (The pump expects an outcome for
    /// each step it hands out, so the step is kept here rather than asked for again.)
    waiting: Option<Io>,
    /// How many times a write would block.
    write_waits: u64,
}

impl<'a> Session<'a> {
    /// When the session stops waiting for its socket (`None`: it waits for nothing, it is
    /// over).
    fn deadline(&self) -> Option<Instant> {
        self.conn.waiting.map(|io| match io {
            Io::Write(deadline, _) | Io::Read(deadline) => deadline,
        })
    }

    /// Makes the session's calls, one after the other, until the socket is not ready for what
    /// the current one asks, or the session is over. What becomes of each message, and of the
    /// session, goes to `summary`.
    fn resume(&mut self, buf: &mut [u8], summary: &mut Summary, now: Instant) {
        loop {
            // Run the current call. Once it is done: its error, and whether the session is over.
            let (error, close) = match &mut self.call {
                Call::Greeting(pump) => {
                    let Some((result, close)) = self.conn.pump(pump, buf, now) else {
                        return;
                    };
                    (result.err(), close)
                }
                Call::Mail(message, pump) => {
                    let message = *message;
                    let Some((result, close)) = self.conn.pump(pump, buf, now) else {
                        return;
                    };
                    let report = match result {
                        // Accepted or refused by the server: the report says which.
                        Ok(report) => Ok(report),
                        // The core would not queue it (say, it needs an extension the server
                        // lacks): the other messages still go.
                        Err(SessionError::Usage(e)) => Err(e),
                        Err(e) => return self.end(Some(e), summary, now),
                    };
                    summary.deliveries.push(Delivery {
                        connection: self.connection,
                        message,
                        report,
                    });
                    (None, close)
                }
                Call::Quit(pump) => {
                    let Some((result, _)) = self.conn.pump(pump, buf, now) else {
                        return;
                    };
                    (result.err(), true)
                }
                Call::Over => return,
            };
            if error.is_some() || close {
                return self.end(error, summary, now);
            }
            // The next message, else QUIT.
            self.call = match self.mails.next() {
                Some((index, (envelope, body))) => {
                    Call::Mail(index, Box::new(Pump::new(SendMail::new(envelope, body))))
                }
                None => Call::Quit(Pump::new(Quit)),
            };
        }
    }

    /// Ends the session, and notes why in `summary`, in the core's terms: the pump's `error` is
    /// one of the core's, or the socket's own (a refused connection, say), which for the core
    /// is the end of the stream while it waits for something. With no `error`, a call may
    /// still have succeeded just as the session ended (its reply came with the trouble): the
    /// cause is among the core's events.
    fn end(&mut self, error: Option<SessionError>, summary: &mut Summary, now: Instant) {
        let failure = match error {
            Some(SessionError::Smtp(error)) => Some(error),
            _ => {
                // Nothing happens if the core has closed already.
                self.conn.client.handle_eof(now);
                let mut events = std::iter::from_fn(|| self.conn.client.poll_event());
                events.find_map(|event| match event {
                    Event::Closed(error) => error,
                    _ => None,
                })
            }
        };
        summary
            .failures
            .extend(failure.map(|error| (self.connection, error)));
        // Close the connection now (an error just means the socket is gone already).
        let _ = self.conn.socket.shutdown(Shutdown::Both);
        self.call = Call::Over;
    }
}

impl Conn {
    /// Runs `pump` until its call is done (`Some`: the result, and whether the session is over
    /// too), or until the socket is not ready for what it asks (`None`; `waiting` says what).
    fn pump<O>(
        &mut self,
        pump: &mut Pump<O>,
        buf: &mut [u8],
        now: Instant,
    ) -> Option<(Result<O::Output, SessionError>, bool)>
    where
        O: Operation,
        O::Body: Read,
    {
        loop {
            // The step still waiting for the socket, else the pump's next one.
            let io = match self.waiting.take() {
                Some(io) => io,
                None => match pump.next(&mut self.client, &mut None, now) {
                    Step::Body { id, max } => {
                        let buf = &mut buf[..max.min(BODY_CHUNK)];
                        let read = pump.body(id).map_or(Ok(0), |body| body.read(buf));
                        pump.body_read(&mut self.client, id, read.map(|n| &buf[..n]));
                        continue;
                    }
                    Step::Write {
                        deadline,
                        look_first,
                    } => Io::Write(deadline, look_first),
                    Step::Read { deadline } => Io::Read(deadline),
                    // Only after STARTTLS, which the demo's settings never send.
                    Step::Handshake { .. } => {
                        pump.fail(io::Error::other("no TLS in this demo").into());
                        continue;
                    }
                    Step::Done { result, close } => return Some((result, close)),
                },
            };
            // Do it, and report the outcome. `WouldBlock` means: wait until the socket is ready,
            // unless the deadline has passed; then it goes to the pump, which takes it for the
            // timeout (as `std` sockets report one).
            match io {
                Io::Write(deadline, look_first) => {
                    // While a body goes out, a reply that comes before its end (a refusal) is
                    // heard now, not taken later for the answer to the end of the data.
                    if look_first {
                        match self.socket.read(buf) {
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                            read => {
                                pump.read(&mut self.client, read.map(|n| &buf[..n]), now);
                                continue;
                            }
                        }
                    }
                    // A partial write is normal: the core keeps the rest for the next step.
                    let bytes = pump.outgoing(&self.client);
                    match self.socket.write(bytes) {
                        Err(e) if e.kind() == ErrorKind::WouldBlock && now < deadline => {
                            self.write_waits += 1;
                        }
                        written => {
                            pump.wrote(&mut self.client, written, now);
                            continue;
                        }
                    }
                }
                Io::Read(deadline) => match self.socket.read(buf) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock && now < deadline => {}
                    read => {
                        pump.read(&mut self.client, read.map(|n| &buf[..n]), now);
                        continue;
                    }
                },
            }
            self.waiting = Some(io);
            return None;
        }
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
