//! Driving the sans-IO core from tokio: a small run loop of your own instead of an adapter.
//!
//! ```sh
//! cargo run -p smtp-tests --example tokio_driver
//! ```
//!
//! `smtp_proto::Client` does no I/O and reads no clock, so any runtime can drive it. Here one
//! async function per connection does it with tokio's `TcpStream` on a current-thread runtime.
//! The session's calls are the core's operations (`smtp_proto::session::op`): `Greeting`, one
//! `SendMail` per message, `Quit`. Each runs in a `Pump`, which says what to do next (a
//! `Step`); `run_op` does it on the socket and reports the outcome back:
//!
//! - `Step::Body`: read the next chunk of the message (here, from memory);
//! - `Step::Write` / `Step::Read`: wait until the socket is ready (tokio's `async_io`) and write
//!   what the core lends / read what the server says, both bounded by the step's deadline
//!   (`tokio::time::timeout_at`); a deadline that passes is reported as a `TimedOut` error.
//!
//! The demo starts the in-process test server of the `smtp-tests` crate on 127.0.0.1 and sends
//! 5 messages over one connection while a second connection sends 3 more at the same time, then
//! checks that the server received exactly those messages (sender, recipients, content). It exits
//! with a non-zero status otherwise.

use std::error::Error;
use std::io::{self, ErrorKind, Read};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smtp_proto::client::{Client, Config, MailOutcome, MailReport, Timeouts};
use smtp_proto::session::op::{Greeting, Operation, Quit, SendMail};
use smtp_proto::session::{envelope, Error as SessionError, Pump, Step, BODY_CHUNK};
use smtp_proto::Domain;
use smtp_tests::server::{Received, Server};
use tokio::io::Interest;
use tokio::net::TcpStream;

fn main() -> Result<(), Box<dyn Error>> {
    let server = Server::start()?;
    let plan = vec![messages(0, 5), messages(1, 3)];
    let mut config = Config::new(Domain::try_from("client.example")?);
    config.timeouts = Timeouts::uniform(Duration::from_secs(30));

    let summary = run(server.addr(), &config, &plan)?;
    for (connection, reports) in summary.reports.iter().enumerate() {
        for (message, report) in reports {
            let outcome = match &report.outcome {
                MailOutcome::Accepted(reply) => reply.to_string(),
                refused => format!("{refused:?}"),
            };
            println!("connection {connection}, message {message}: {outcome}");
        }
    }
    println!(
        "{} messages accepted over {} connections in {:.1} ms",
        summary.accepted(),
        plan.len(),
        summary.elapsed.as_secs_f64() * 1000.0
    );

    server.wait_finished(plan.len(), Duration::from_secs(5));
    verify(&plan, &summary, &server.messages())?;
    println!("the server received exactly the messages sent");
    Ok(())
}

/// One message to send: envelope addresses and content.
#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) body: Vec<u8>,
}

/// `count` messages for connection `connection`, each with its own recipient and content.
pub(crate) fn messages(connection: usize, count: usize) -> Vec<Message> {
    (0..count)
        .map(|m| Message {
            from: "sender@example.org".into(),
            to: vec![format!("tokio-{connection}-{m}@example.net")],
            body: format!("Subject: tokio {connection}/{m}\r\n\r\nSent from a tokio task.\r\n")
                .into_bytes(),
        })
        .collect()
}

/// How a run went.
#[derive(Debug)]
pub(crate) struct Summary {
    /// Per connection, each message's index and report, in the order they completed.
    pub(crate) reports: Vec<Vec<(usize, MailReport)>>,
    pub(crate) elapsed: Duration,
}

impl Summary {
    /// Messages the server took responsibility for.
    pub(crate) fn accepted(&self) -> usize {
        self.reports
            .iter()
            .flatten()
            .filter(|(_, report)| report.is_accepted())
            .count()
    }
}

/// Sends `plan[c]` over connection `c` to `addr`, every connection at the same time, on a
/// current-thread tokio runtime. Fails if any session fails.
pub(crate) fn run(addr: SocketAddr, config: &Config, plan: &[Vec<Message>]) -> io::Result<Summary> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let started = Instant::now();
    let reports = runtime.block_on(async {
        // One task per connection; on this runtime they all run on this thread.
        let tasks: Vec<_> = plan
            .iter()
            .map(|messages| tokio::spawn(session(addr, config.clone(), messages.clone())))
            .collect();
        let mut reports = Vec::new();
        for task in tasks {
            reports.push(task.await.map_err(io::Error::other)??);
        }
        Ok::<_, io::Error>(reports)
    })?;
    Ok(Summary {
        reports,
        elapsed: started.elapsed(),
    })
}

/// One connection: sends `messages`, then QUIT. Returns each message's index and report.
async fn session(
    addr: SocketAddr,
    config: Config,
    messages: Vec<Message>,
) -> io::Result<Vec<(usize, MailReport)>> {
    let mut mails = Vec::new();
    for message in &messages {
        let envelope = envelope(&message.from, &message.to);
        let envelope = envelope.map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
        mails.push(SendMail::new(envelope, message.body.as_slice()));
    }
    // The core's first deadline (the greeting's) bounds the connect as well.
    let connect = TcpStream::connect(addr);
    let socket = tokio::time::timeout(config.timeouts.greeting, connect).await??;
    socket.set_nodelay(true)?;
    let mut client = Client::new(config, Instant::now());

    run_op(&mut client, &socket, Greeting).await?;
    let mut reports = Vec::new();
    for (index, mail) in mails.into_iter().enumerate() {
        // Accepted or refused by the server: the report says which.
        reports.push((index, run_op(&mut client, &socket, mail).await?));
    }
    run_op(&mut client, &socket, Quit).await?;
    Ok(reports)
}

/// Runs the call `op` to completion on `socket`: the pump says what to do, this does it.
async fn run_op<O>(client: &mut Client, socket: &TcpStream, op: O) -> io::Result<O::Output>
where
    O: Operation,
    O::Body: Read,
{
    let mut pump = Pump::new(op);
    let mut buf = vec![0; BODY_CHUNK];
    loop {
        match pump.next(client, &mut None, Instant::now()) {
            Step::Body { id, max } => {
                let buf = &mut buf[..max.min(BODY_CHUNK)];
                let read = pump.body(id).map_or(Ok(0), |body| body.read(buf));
                pump.body_read(client, id, read.map(|n| &buf[..n]));
            }
            Step::Write {
                deadline,
                look_first,
            } => {
                // While a body goes out, a reply that has already come (a refusal) is heard
                // first, not taken later for the answer to the end of the data.
                if look_first {
                    match socket.try_read(&mut buf) {
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        read => {
                            pump.read(client, read.map(|n| &buf[..n]), Instant::now());
                            continue;
                        }
                    }
                }
                // A partial write is normal: the core keeps the rest for the next step.
                let bytes = pump.outgoing(client);
                let write = socket.async_io(Interest::WRITABLE, || socket.try_write(bytes));
                let written = by(deadline, write).await;
                pump.wrote(client, written, Instant::now());
            }
            Step::Read { deadline } => {
                let read = socket.async_io(Interest::READABLE, || socket.try_read(&mut buf));
                let read = by(deadline, read).await;
                pump.read(client, read.map(|n| &buf[..n]), Instant::now());
            }
            // Only after STARTTLS, which the demo's settings never send.
            Step::Handshake { .. } => pump.fail(io::Error::other("no TLS in this demo").into()),
            // The socket is closed when the session ends (`session` returns).
            Step::Done { result, .. } => {
                return result.map_err(|e| match e {
                    SessionError::Io(e) => e,
                    // The core's own error (a timeout, say), to be downcast by the caller.
                    SessionError::Smtp(e) => io::Error::other(e),
                    e => io::Error::other(e),
                });
            }
        }
    }
}

/// `io`, or an error of kind `TimedOut` once `deadline` has passed: how the pump is told.
async fn by(
    deadline: Instant,
    io: impl std::future::Future<Output = io::Result<usize>>,
) -> io::Result<usize> {
    let result = tokio::time::timeout_at(deadline.into(), io).await;
    result.unwrap_or_else(|_| Err(ErrorKind::TimedOut.into()))
}

/// Checks the server's side against the plan and the reports: every message has a report, and
/// the server holds exactly the accepted messages, each once, with its sender, its accepted
/// recipients and its content.
pub(crate) fn verify(
    plan: &[Vec<Message>],
    summary: &Summary,
    received: &[Received],
) -> Result<(), String> {
    for (connection, messages) in plan.iter().enumerate() {
        let reported = summary.reports.get(connection).map_or(0, Vec::len);
        if reported != messages.len() {
            return Err(format!(
                "connection {connection}: {} messages, {reported} reports",
                messages.len()
            ));
        }
    }
    if received.len() != summary.accepted() {
        return Err(format!(
            "{} messages accepted, the server received {}",
            summary.accepted(),
            received.len()
        ));
    }
    for (connection, reports) in summary.reports.iter().enumerate() {
        for (message, report) in reports.iter().filter(|(_, r)| r.is_accepted()) {
            let sent = &plan[connection][*message];
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
    }
    Ok(())
}
