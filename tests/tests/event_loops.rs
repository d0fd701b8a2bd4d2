//! The custom event-loop examples, run as tests: `examples/mio_sessions.rs` (one thread, many
//! sessions, a `mio` readiness loop) and `examples/tokio_driver.rs` (the core driven from tokio
//! tasks) deliver every message to the test server byte-exact, stream bodies larger than the
//! socket buffers through partial writes, report refusals per message, and sleep on the core's
//! deadlines instead of spinning.

use std::time::Duration;

use smtp_proto::client::{Config, MailOutcome, Stage, Timeouts};
use smtp_proto::{Domain, Error};
use smtp_tests::server::{Action, Server, Trigger};

#[allow(dead_code)]
#[path = "../examples/mio_sessions.rs"]
mod mio_sessions;

#[allow(dead_code)]
#[path = "../examples/tokio_driver.rs"]
mod tokio_driver;

/// Waits for the server's side of `sessions` connections to end.
const SETTLE: Duration = Duration::from_secs(5);

fn config(timeout: Duration) -> Config {
    let mut config = Config::new(Domain::try_from("client.example").expect("domain"));
    config.timeouts = Timeouts::uniform(timeout);
    config
}

#[test]
fn mio_loop_delivers_100_messages_over_10_concurrent_sessions() {
    let server = Server::start().expect("server");
    let plan = mio_sessions::plan(10, 10);
    let summary = mio_sessions::run(server.addr(), &config(Duration::from_secs(10)), &plan)
        .expect("the loop runs");

    assert_eq!(summary.sessions, 10);
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(summary.deliveries.len(), 100);
    assert_eq!(summary.accepted(), 100);
    let sessions = server.wait_finished(10, SETTLE);
    assert_eq!(sessions.len(), 10, "one server connection per session");
    assert!(sessions.iter().all(|s| s.messages.len() == 10));
    let received = server.messages();
    assert_eq!(received.len(), 100);
    mio_sessions::verify(&plan, &summary, &received).expect("every message arrived intact");
}

/// Bodies far larger than the sockets' buffers, sent while the server stops reading for a while
/// (it pauses before the first BDAT chunks): writes are partial or would block, the core keeps
/// the unsent bytes, the socket waits for WRITABLE, and every byte still arrives.
#[test]
fn mio_loop_streams_large_bodies_through_partial_writes() {
    let server = Server::builder()
        .extension("CHUNKING")
        .on_times(
            Trigger::command("BDAT"),
            Action::Delay(Duration::from_millis(300)),
            2,
        )
        .start()
        .expect("server");
    // Loopback sockets here absorb about 4 MB that nobody reads: send twice as much.
    let mut plan = mio_sessions::plan(2, 1);
    for (i, message) in plan.iter_mut().flatten().enumerate() {
        message.body = large_body(i, 8 * 1024 * 1024);
    }
    let summary = mio_sessions::run(server.addr(), &config(Duration::from_secs(30)), &plan)
        .expect("the loop runs");

    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(summary.accepted(), 2);
    assert!(summary.write_waits > 0, "no write ever blocked");
    server.wait_finished(2, SETTLE);
    let received = server.messages();
    assert!(received.iter().all(|r| r.bdat));
    mio_sessions::verify(&plan, &summary, &received).expect("delivered byte-exact");
}

/// About `size` bytes of CRLF text, every fifth line starting with a dot, distinct per `seed`.
fn large_body(seed: usize, size: usize) -> Vec<u8> {
    let mut body = format!("Subject: large {seed}\r\n\r\n").into_bytes();
    let mut line: u32 = 0;
    while body.len() < size {
        let dot = if line.is_multiple_of(5) { "." } else { "" };
        body.extend_from_slice(
            format!("{dot}{seed} line {line} {}\r\n", "x".repeat(60)).as_bytes(),
        );
        line += 1;
    }
    body
}

/// The server answers every MAIL after a pause: the loop sleeps in `poll` until a reply
/// arrives (its timeout comes from the cores' reply deadlines, seconds away), so the number of
/// wake-ups stays small however long the wait.
#[test]
fn mio_loop_sleeps_while_a_slow_server_thinks() {
    const DELAY: Duration = Duration::from_millis(150);
    let server = Server::builder()
        .on(Trigger::command("MAIL FROM"), Action::Delay(DELAY))
        .start()
        .expect("server");
    let plan = mio_sessions::plan(3, 3);
    let summary = mio_sessions::run(server.addr(), &config(Duration::from_secs(10)), &plan)
        .expect("the loop runs");

    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(summary.accepted(), 9);
    // Each session waits for three delayed MAIL replies, one after the other.
    assert!(summary.elapsed >= DELAY * 3, "{:?}", summary.elapsed);
    // About 15-25 wake-ups in practice, one per burst of replies; a loop that polled with a
    // zero timeout would wake many thousands of times in 450 ms, and one with a 1 ms tick 450.
    assert!(summary.polls <= 100, "{} polls", summary.polls);
    server.wait_finished(3, SETTLE);
    mio_sessions::verify(&plan, &summary, &server.messages()).expect("delivered");
}

/// A server that never greets: the only thing that can wake the loop is the cores' greeting
/// deadline, and each session then ends with a timeout error naming the greeting.
#[test]
fn mio_loop_wakes_at_the_cores_deadline_and_reports_the_timeout() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let server = Server::builder()
        .on(Trigger::Greeting, Action::Hang)
        .start()
        .expect("server");
    let plan = mio_sessions::plan(2, 1);
    let summary = mio_sessions::run(server.addr(), &config(TIMEOUT), &plan).expect("the loop runs");

    assert_eq!(summary.failures.len(), 2, "{:?}", summary.failures);
    for (_, error) in &summary.failures {
        assert!(
            matches!(error, Error::Timeout { stage: Stage::Greeting, after } if *after == TIMEOUT),
            "{error:?}"
        );
    }
    assert!(summary.deliveries.is_empty());
    assert!(summary.elapsed >= TIMEOUT, "{:?}", summary.elapsed);
    assert!(summary.elapsed < TIMEOUT * 5, "{:?}", summary.elapsed);
    assert!(summary.polls <= 5, "{} polls", summary.polls);
    assert!(server.messages().is_empty());
}

/// One message has a refused recipient besides an accepted one, another has only the refused
/// one: their reports say so, and every other message still arrives.
#[test]
fn mio_loop_reports_a_refused_recipient_and_delivers_the_rest() {
    let server = Server::builder()
        .on(
            Trigger::command("RCPT TO:<refused@"),
            Action::reply("550 5.1.1 no such user"),
        )
        .start()
        .expect("server");
    let mut plan = mio_sessions::plan(2, 3);
    plan[0][1].to.push("refused@example.net".into());
    plan[1][2].to = vec!["refused@example.net".into()];
    let summary = mio_sessions::run(server.addr(), &config(Duration::from_secs(10)), &plan)
        .expect("the loop runs");

    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(summary.deliveries.len(), 6);
    let report = |connection: usize, message: usize| {
        let delivery = summary
            .deliveries
            .iter()
            .find(|d| d.connection == connection && d.message == message)
            .expect("a report for every message");
        delivery.report.as_ref().expect("queued")
    };

    let partial = report(0, 1);
    assert!(partial.is_accepted(), "{partial:?}");
    let refused: Vec<(&str, u16)> = partial
        .refused()
        .map(|(mailbox, reply)| (mailbox.as_str(), reply.code().get()))
        .collect();
    assert_eq!(refused, [("refused@example.net", 550)]);

    let whole = report(1, 2);
    assert_eq!(whole.outcome, MailOutcome::RecipientsRefused);
    assert_eq!(whole.refused().count(), 1);

    assert_eq!(summary.accepted(), 5);
    server.wait_finished(2, SETTLE);
    let received = server.messages();
    assert_eq!(received.len(), 5);
    let partial_copy = received
        .iter()
        .find(|r| r.recipients() == ["rcpt-0-1@example.net"])
        .expect("the partly refused message arrived for its accepted recipient");
    assert_eq!(partial_copy.data, plan[0][1].body);
    mio_sessions::verify(&plan, &summary, &received).expect("the others arrived intact");
}

#[test]
fn tokio_driver_delivers_over_two_concurrent_connections() {
    let server = Server::start().expect("server");
    let plan = vec![tokio_driver::messages(0, 5), tokio_driver::messages(1, 3)];
    let summary = tokio_driver::run(server.addr(), &config(Duration::from_secs(10)), &plan)
        .expect("both sessions succeed");

    assert_eq!(summary.reports.len(), 2);
    assert_eq!(summary.reports[0].len(), 5);
    assert_eq!(summary.reports[1].len(), 3);
    assert_eq!(summary.accepted(), 8);
    let sessions = server.wait_finished(2, SETTLE);
    assert_eq!(sessions.len(), 2);
    let received = server.messages();
    assert_eq!(received.len(), 8);
    tokio_driver::verify(&plan, &summary, &received).expect("every message arrived intact");
}

/// The `sleep_until` branch: a server that never greets is given up on at the core's deadline.
#[test]
fn tokio_driver_gives_up_at_the_cores_deadline() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let server = Server::builder()
        .on(Trigger::Greeting, Action::Hang)
        .start()
        .expect("server");
    let plan = vec![tokio_driver::messages(0, 1)];
    let started = std::time::Instant::now();
    let error = tokio_driver::run(server.addr(), &config(TIMEOUT), &plan)
        .expect_err("the greeting never comes");

    let elapsed = started.elapsed();
    assert!(elapsed >= TIMEOUT && elapsed < TIMEOUT * 5, "{elapsed:?}");
    let inner = error.get_ref().expect("the core's error");
    assert!(
        matches!(
            inner.downcast_ref::<Error>(),
            Some(Error::Timeout {
                stage: Stage::Greeting,
                ..
            })
        ),
        "{error:?}"
    );
}
