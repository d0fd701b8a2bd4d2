//! The pool's policy (`smtp_proto::pool`), sans-IO, on virtual time: one test per rule of
//! `Policy` and `Job`, driven step by step, then a small deterministic simulator — fake
//! connections, a fake server that refuses opens, resets connections at chosen points, closes
//! idle ones and answers 4xx/5xx on command, and a driver that runs many jobs round-robin on
//! one shared `Policy` — for the connection limit, the quota, and a chaos run whose every
//! message must end exactly once, as the server saw it.
#![allow(clippy::disallowed_methods)] // one Instant as the origin of virtual time

use std::collections::{HashMap, HashSet};
use std::io;
use std::ops::Range;
use std::time::{Duration, Instant};

use smtp_proto::client::{Client, Config, Envelope, Event, MailOutcome, MailReport, Stage};
use smtp_proto::pool::{Job, JobInput, JobStep, Outcome, Policy, PoolSettings, Rate};
use smtp_proto::reply::parse_reply;
use smtp_proto::session::Error;
use smtp_proto::{Domain, Mailbox, OwnedReply, ReversePath, Status, UsageError};

// ---------------------------------------------------------------------------------------------
// Helpers: fake connections, real reports, steps in a comparable form.

/// A connection, as the policy sees it: an opaque value.
#[derive(Debug, PartialEq, Eq)]
struct Conn(u32);

/// A step with its payload reduced to what the tests compare.
#[derive(Debug, PartialEq, Eq)]
enum S {
    Open,
    Check(u32),
    Send(u32),
    Close(u32),
    Wait(Option<Instant>),
    Delivered,
    /// The refusing reply's code.
    Refused(u16),
    /// The error's `Debug` text.
    Failed(String),
    /// The error's `Debug` text.
    Unknown(String),
}

fn s(step: JobStep<Conn>) -> S {
    match step {
        JobStep::Open => S::Open,
        JobStep::Check(c) => S::Check(c.0),
        JobStep::Send(c) => S::Send(c.0),
        JobStep::Close(c) => S::Close(c.0),
        JobStep::Wait(until) => S::Wait(until),
        JobStep::Done(Outcome::Delivered(_)) => S::Delivered,
        JobStep::Done(Outcome::Refused(report)) => S::Refused(refusal_code(&report)),
        JobStep::Done(Outcome::Failed(e)) => S::Failed(format!("{e:?}")),
        JobStep::Done(Outcome::Unknown(e)) => S::Unknown(format!("{e:?}")),
    }
}

fn refusal_code(report: &MailReport) -> u16 {
    match &report.outcome {
        MailOutcome::SenderRefused(r) | MailOutcome::DataRefused(r) => r.code().get(),
        MailOutcome::RecipientsRefused => {
            report.refused().next().expect("a refusal").1.code().get()
        }
        other => panic!("not a refusal: {other:?}"),
    }
}

/// `job.next`, summarised.
fn next(job: &mut Job, p: &mut Policy<Conn>, input: Option<JobInput<Conn>>, now: Instant) -> S {
    s(job.next(p, input, now))
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A policy with the default settings, edited.
fn pool(edit: impl FnOnce(&mut PoolSettings)) -> Policy<Conn> {
    let mut settings = PoolSettings::default();
    edit(&mut settings);
    Policy::new(settings)
}

fn reply(text: &[u8]) -> OwnedReply {
    match parse_reply(text).expect("a reply") {
        Status::Complete((reply, _)) => reply.into_owned(),
        Status::Partial => panic!("incomplete reply {text:?}"),
    }
}

fn reset() -> Error {
    Error::Io(io::ErrorKind::ConnectionReset.into())
}

fn refused() -> Error {
    Error::Io(io::ErrorKind::ConnectionRefused.into())
}

fn rejected_421() -> Error {
    Error::Smtp(smtp_proto::Error::Rejected {
        stage: Stage::Mail,
        reply: reply(b"421 4.3.2 service shutting down\r\n"),
    })
}

const RESET: &str = "Io(Kind(ConnectionReset))";
const REFUSED: &str = "Io(Kind(ConnectionRefused))";

fn flush(client: &mut Client, now: Instant) {
    while let Some(out) = client.transmit(now) {
        let n = out.len();
        client.handle_written(n, now);
    }
}

/// A real report: one `send_mail` to `recipients` recipients on a real client (no
/// PIPELINING: one command at a time), answered with `replies` in order — MAIL, each RCPT,
/// DATA, the end of data, as far as the transaction goes.
fn report_to(recipients: usize, replies: &[&[u8]]) -> MailReport {
    let now = Instant::now();
    let mut client = Client::new(Config::new(Domain::try_from("client.test").unwrap()), now);
    client.handle_input(b"220 mx.test ESMTP\r\n", now);
    flush(&mut client, now);
    client.handle_input(b"250 mx.test\r\n", now);
    assert!(matches!(client.poll_event(), Some(Event::Ready)));
    let to = (0..recipients).map(|i| Mailbox::try_from(format!("rcpt{i}@example.org")).unwrap());
    let envelope = Envelope::new(ReversePath::try_from("a@example.org").unwrap(), to);
    client.send_mail(envelope).unwrap();
    let mut replies = replies.iter();
    loop {
        flush(&mut client, now);
        match client.poll_event() {
            Some(Event::BodyWanted(id)) => {
                let mut body = client.body(id).unwrap();
                body.write(b"Subject: pool\r\n\r\nhello\r\n").unwrap();
                body.finish().unwrap();
            }
            Some(Event::MailDone(report)) => return report,
            Some(other) => panic!("unexpected {other:?}"),
            None => {
                let reply = replies.next().expect("the transaction wants another reply");
                client.handle_input(reply, now);
            }
        }
    }
}

fn report(replies: &[&[u8]]) -> MailReport {
    report_to(1, replies)
}

/// Accepted.
fn ok() -> MailReport {
    report(&[
        b"250 ok\r\n",
        b"250 ok\r\n",
        b"354 go\r\n",
        b"250 2.0.0 queued\r\n",
    ])
}

/// MAIL refused with `code` (`451`, `452`, `550`, …).
fn mail_refused(code: u16) -> MailReport {
    report(&[format!("{code} refused\r\n").as_bytes()])
}

fn opened(id: u32) -> Option<JobInput<Conn>> {
    Some(JobInput::Opened(Ok(Conn(id))))
}

fn open_failed(error: Error) -> Option<JobInput<Conn>> {
    Some(JobInput::Opened(Err(error)))
}

/// The transaction ended with `report`, the connection still open.
fn sent(id: u32, report: MailReport) -> Option<JobInput<Conn>> {
    Some(JobInput::Sent {
        conn: Some(Conn(id)),
        result: Ok(report),
        end_of_data_unanswered: false,
    })
}

/// The connection was lost (reset) during the transaction, before or after the end of data
/// was written.
fn lost(end_of_data_written: bool) -> Option<JobInput<Conn>> {
    Some(JobInput::Sent {
        conn: None,
        result: Err(reset()),
        end_of_data_unanswered: end_of_data_written,
    })
}

/// One message on a connection opened for it (`id`), which then idles in the pool.
fn deliver_on_new(p: &mut Policy<Conn>, id: u32, now: Instant) {
    let mut job = Job::new();
    assert_eq!(next(&mut job, p, None, now), S::Open);
    assert_eq!(next(&mut job, p, opened(id), now), S::Send(id));
    assert_eq!(next(&mut job, p, sent(id, ok()), now), S::Delivered);
}

/// One message on the idle connection `id`, reused without a check.
fn deliver_on_idle(p: &mut Policy<Conn>, id: u32, now: Instant) {
    let mut job = Job::new();
    assert_eq!(next(&mut job, p, None, now), S::Send(id));
    assert_eq!(next(&mut job, p, sent(id, ok()), now), S::Delivered);
}

/// The connections `ids`, opened at once (one message each), all idle after, the last one
/// returned last.
fn idle_pool(p: &mut Policy<Conn>, ids: &[u32], now: Instant) {
    let mut jobs: Vec<Job> = ids.iter().map(|_| Job::new()).collect();
    for job in &mut jobs {
        assert_eq!(next(job, p, None, now), S::Open);
    }
    for (job, &id) in jobs.iter_mut().zip(ids) {
        assert_eq!(next(job, p, opened(id), now), S::Send(id));
    }
    for (job, &id) in jobs.iter_mut().zip(ids) {
        assert_eq!(next(job, p, sent(id, ok()), now), S::Delivered);
    }
}

#[test]
fn real_reports_say_what_the_server_said() {
    assert!(ok().is_accepted());
    assert_eq!(refusal_code(&mail_refused(451)), 451);
    let rcpt = report(&[b"250 ok\r\n", b"452 4.5.3 too many\r\n"]);
    assert!(matches!(rcpt.outcome, MailOutcome::RecipientsRefused));
    let data = report(&[b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n", b"554 no\r\n"]);
    assert!(matches!(data.outcome, MailOutcome::DataRefused(ref r) if r.code().get() == 554));
}

#[path = "pool/rules.rs"]
mod rules;
#[path = "pool/sim.rs"]
mod sim;
