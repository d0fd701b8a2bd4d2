//! Driving the sans-IO core from tokio: a small run loop of your own instead of an adapter.
//!
//! ```sh
//! cargo run -p smtp-tests --example tokio_driver
//! ```
//!
//! `smtp_proto::Client` does no I/O and reads no clock, so any runtime can drive it. Here one
//! async function per connection does it with tokio's `TcpStream` on a current-thread runtime:
//!
//! 1. handle the core's events (`poll_event`): queue the messages once it is ready, note which
//!    body it wants, collect each transaction's `MailReport`;
//! 2. hand it as much of the wanted body as it has room for;
//! 3. `tokio::select!` between the socket becoming writable (only while the core has bytes to
//!    send: `wants_write`), the socket becoming readable, and the core's own deadline
//!    (`poll_timeout`, slept on with `tokio::time::sleep_until`), and feed back what happened:
//!    `handle_written`, `handle_input` / `handle_eof`, or `handle_timeout`.
//!
//! The demo starts the in-process test server of the `smtp-tests` crate on 127.0.0.1 and sends
//! 5 messages over one connection while a second connection sends 3 more at the same time, then
//! checks that the server received exactly those messages (sender, recipients, content). It exits
//! with a non-zero status otherwise.

use std::collections::HashMap;
use std::error::Error;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smtp_proto::client::{
    Client, Config, Envelope, Event, MailOutcome, MailReport, RequestId, Timeouts,
};
use smtp_proto::error::InvalidInput;
use smtp_proto::{Domain, Mailbox, ReversePath};
use smtp_tests::server::{Received, Server};
use tokio::net::TcpStream;

/// Size of the buffer each read fills.
const READ_BUF: usize = 16 * 1024;

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
    let mut envelopes = Vec::new();
    for message in &messages {
        let envelope = message.envelope();
        envelopes.push(envelope.map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?);
    }
    // The core's first deadline (the greeting's) bounds the connect as well.
    let connect = TcpStream::connect(addr);
    let socket = tokio::time::timeout(config.timeouts.greeting, connect).await??;
    socket.set_nodelay(true)?;
    let mut client = Client::new(config, Instant::now());

    let mut buf = vec![0; READ_BUF];
    let mut queued: HashMap<RequestId, usize> = HashMap::new();
    // The body the core wants: its request, its message, and how many bytes it took so far.
    let mut body: Option<(RequestId, usize, usize)> = None;
    let mut reports = Vec::new();
    loop {
        // 1. Events.
        while let Some(event) = client.poll_event() {
            match event {
                Event::Ready => {
                    // Queue everything, then QUIT: the core runs them in order, pipelined when
                    // the server offers PIPELINING.
                    for (index, envelope) in std::mem::take(&mut envelopes).into_iter().enumerate()
                    {
                        let id = client.send_mail(envelope).map_err(io::Error::other)?;
                        queued.insert(id, index);
                    }
                    client.quit();
                }
                Event::BodyWanted(id) => body = queued.get(&id).map(|&m| (id, m, 0)),
                Event::MailDone(report) => {
                    if let Some(message) = queued.remove(&report.id) {
                        reports.push((message, report));
                    }
                }
                Event::Closed(None) => return Ok(reports),
                Event::Closed(Some(error)) => return Err(io::Error::other(error)),
                // No TLS, AUTH or single commands in this demo.
                _ => {}
            }
        }

        // 2. The body: as much as the core has room for; the end once all of it is taken.
        if let Some((id, message, taken)) = &mut body {
            let bytes = &messages[*message].body;
            match client.body(*id) {
                // The transaction ended early (the server refused it).
                None => body = None,
                Some(mut writer) => match writer.write(&bytes[*taken..]) {
                    Ok(n) => {
                        *taken += n;
                        if *taken == bytes.len() {
                            // An error ends the session, and `Event::Closed` reports it.
                            let _ = writer.finish();
                            body = None;
                        }
                    }
                    // The core ended the session: `Event::Closed` reports it.
                    Err(_) => body = None,
                },
            }
        }

        // 3. Wait for the socket or the core's deadline, and tell the core what happened.
        // Asking starts no timer: `poll_transmit` does, when the bytes are taken.
        let sending = client.wants_write();
        // While bytes wait to be written the write-progress timer starts only when they are
        // handed out, so there may be no deadline yet; otherwise a running session has one.
        let deadline = client.poll_timeout();
        if deadline.is_none() && !sending {
            return Err(io::Error::other("the session waits for nothing"));
        }
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            ready = socket.writable(), if sending => {
                ready?;
                let bytes = client.poll_transmit(Instant::now()).unwrap_or_default();
                match socket.try_write(bytes) {
                    // Partial writes are normal: the core keeps the rest for the next round.
                    Ok(n) => client.handle_written(n, Instant::now()),
                    Err(e) if is_retry(&e) => {}
                    Err(_) => client.handle_eof(Instant::now()),
                }
            }
            ready = socket.readable() => {
                ready?;
                match socket.try_read(&mut buf) {
                    Ok(0) => client.handle_eof(Instant::now()),
                    Ok(n) => client.handle_input(&buf[..n], Instant::now()),
                    Err(e) if is_retry(&e) => {}
                    Err(_) => client.handle_eof(Instant::now()),
                }
            }
            () = tokio::time::sleep_until(deadline.unwrap_or(far).into()), if deadline.is_some() => {
                client.handle_timeout(Instant::now());
            }
        }
    }
}

/// Readiness was spurious, or a signal interrupted the call: wait again.
fn is_retry(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
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
