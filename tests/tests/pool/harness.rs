//! One synchronous view of every adapter's pool, and the checks every scenario makes.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::time::Duration;

use smtp_proto::client::{Envelope, MailOutcome};
use smtp_proto::pool::{Outcome, PoolSettings, Report};
use smtp_proto::session::Settings;
use smtp_tests::matrix::AsyncRuntime;
use smtp_tests::pool_server::Stored;

/// A pool of one adapter, driven synchronously.
pub trait UnderTest: Sync {
    /// A pool of connections to `127.0.0.1:port`.
    fn new(settings: Settings, port: u16) -> Self;
    /// One message.
    fn send(&self, envelope: &Envelope, message: &[u8]) -> Outcome;
    /// Many messages; the reports, in the order they came.
    fn send_all(&self, messages: Vec<(Envelope, Vec<u8>)>) -> Vec<Report>;
    /// Connections open or opening.
    fn connections(&self) -> usize;
    /// Closes the idle connections.
    fn close(&self);
}

/// `smtp_blocking::Pool`.
pub struct BlockingPool(smtp_blocking::Pool);

impl UnderTest for BlockingPool {
    fn new(settings: Settings, port: u16) -> Self {
        Self(
            smtp_blocking::SmtpClient::builder()
                .settings(settings)
                .into_pool("127.0.0.1", port),
        )
    }
    fn send(&self, envelope: &Envelope, message: &[u8]) -> Outcome {
        self.0.send(envelope, message)
    }
    fn send_all(&self, messages: Vec<(Envelope, Vec<u8>)>) -> Vec<Report> {
        let mut reports = Vec::new();
        self.0.send_all(messages, |r| reports.push(r));
        reports
    }
    fn connections(&self) -> usize {
        self.0.connections()
    }
    fn close(&self) {
        self.0.close();
    }
}

/// `smtp_smol::GenericPool` on runtime `R`.
pub struct AsyncPool<R: smtp_smol::Runtime>(smtp_smol::GenericPool<R>, PhantomData<R>);

impl<R: AsyncRuntime> UnderTest for AsyncPool<R> {
    fn new(settings: Settings, port: u16) -> Self {
        let pool = smtp_smol::GenericSmtpClient::<R>::builder()
            .settings(settings)
            .into_pool("127.0.0.1", port);
        Self(pool, PhantomData)
    }
    fn send(&self, envelope: &Envelope, message: &[u8]) -> Outcome {
        R::block_on(self.0.send(envelope, message))
    }
    fn send_all(&self, messages: Vec<(Envelope, Vec<u8>)>) -> Vec<Report> {
        let mut reports = Vec::new();
        R::block_on(self.0.send_all(messages, |r| reports.push(r)));
        reports
    }
    fn connections(&self) -> usize {
        self.0.connections()
    }
    fn close(&self) {
        R::block_on(self.0.close());
    }
}

/// Settings for the scenarios: short back-offs, bounded waits.
pub fn settings(pool: impl FnOnce(&mut PoolSettings)) -> Settings {
    let mut p = PoolSettings::default();
    p.backoff = Duration::from_millis(20);
    p.max_backoff = Duration::from_millis(200);
    pool(&mut p);
    let mut s = Settings::default();
    s.timeout = Some(Duration::from_secs(10));
    s.pool = p;
    s
}

/// Message number `i`: its sender names it (`m{i}@test`, for the server's faults by marker)
/// and its body carries the number.
pub fn message(i: usize) -> (Envelope, Vec<u8>) {
    let from = format!("m{i}@test");
    let envelope = smtp_blocking::envelope(&from, ["rcpt@test"]).expect("addresses");
    let body = format!("Subject: message {i}\r\nX-Test-Id: <{i}>\r\n\r\nHello {i}.\r\n");
    (envelope, body.into_bytes())
}

/// `n` messages.
pub fn messages(n: usize) -> Vec<(Envelope, Vec<u8>)> {
    (0..n).map(message).collect()
}

/// What the reports say, counted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Delivered.
    pub delivered: usize,
    /// Refused.
    pub refused: usize,
    /// Failed.
    pub failed: usize,
    /// Unknown.
    pub unknown: usize,
}

/// Checks that `reports` cover messages `0..n` exactly once each, that every delivered
/// message is in `store` exactly once and acknowledged, that no failed or refused message is
/// there, and that only unknown ones are stored unacknowledged; returns the tally.
pub fn account(n: usize, reports: &[Report], store: &[Stored]) -> Tally {
    let mut seen = vec![false; n];
    let mut stored: HashMap<String, Vec<&Stored>> = HashMap::new();
    for s in store {
        stored.entry(s.from.clone()).or_default().push(s);
    }
    let mut tally = Tally::default();
    for report in reports {
        let i = usize::try_from(report.index).expect("index");
        assert!(i < n, "report for message {i} of {n}");
        assert!(!seen[i], "message {i} reported twice");
        seen[i] = true;
        let copies = stored.remove(&format!("m{i}@test")).unwrap_or_default();
        match &report.outcome {
            Outcome::Delivered(r) => {
                assert!(matches!(r.outcome, MailOutcome::Accepted(_)), "{r:?}");
                assert_eq!(
                    copies.len(),
                    1,
                    "delivered message {i} stored {} times",
                    copies.len()
                );
                assert!(
                    copies[0].acknowledged,
                    "message {i} reported delivered, never acknowledged"
                );
                assert!(
                    String::from_utf8_lossy(&copies[0].data).contains(&format!("Hello {i}.")),
                    "message {i} stored with another body"
                );
                tally.delivered += 1;
            }
            Outcome::Refused(_) => {
                assert!(copies.is_empty(), "refused message {i} stored");
                tally.refused += 1;
            }
            Outcome::Failed(e) => {
                assert!(copies.is_empty(), "failed message {i} stored ({e})");
                tally.failed += 1;
            }
            Outcome::Unknown(_) => {
                assert!(
                    copies.len() <= 1,
                    "unknown message {i} stored {} times",
                    copies.len()
                );
                assert!(
                    copies.iter().all(|c| !c.acknowledged),
                    "message {i} acknowledged yet unknown"
                );
                tally.unknown += 1;
            }
        }
    }
    let missing: Vec<usize> = (0..n).filter(|&i| !seen[i]).collect();
    assert!(missing.is_empty(), "messages never reported: {missing:?}");
    assert!(
        stored.is_empty(),
        "stored but never sent: {:?}",
        stored.keys()
    );
    tally
}

/// The MAIL commands the server saw for message `i`.
pub fn mails_for(commands: &[(u64, String)], i: usize) -> usize {
    let needle = format!("MAIL FROM:<m{i}@test>");
    commands
        .iter()
        .filter(|(_, c)| c.starts_with(&needle))
        .count()
}
