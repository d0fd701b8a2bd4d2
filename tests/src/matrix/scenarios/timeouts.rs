//! Timeouts and disconnects: a silent server, a trickling reply, a slow end of data, EOF at
//! every stage, and malformed or endless replies ending the session in bounded memory.

use std::time::{Duration, Instant};

use smtp_blocking::Error;
use smtp_proto::client::Stage;
use smtp_proto::Error as ProtoError;

use super::{connect, open};
use crate::matrix::{Adapter, Settings};
use crate::server::{Action, Server, Trigger};

// ------------------------------------------------------------------ timeouts and disconnects

fn assert_timeout<T: std::fmt::Debug>(
    result: Result<T, Error>,
    stage: Stage,
    started: Instant,
    limit: Duration,
) {
    match result {
        Err(Error::Smtp(ProtoError::Timeout { stage: s, .. })) => assert_eq!(s, stage),
        other => panic!("expected a timeout at {stage:?}, got {other:?}"),
    }
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());
}

fn within(timeout: Duration) -> Settings {
    Settings::default().timeout(timeout)
}

/// A server that never greets.
pub fn a_silent_server_times_out_at_the_greeting<A: Adapter>() {
    let server = Server::builder()
        .on(Trigger::Greeting, Action::Hang)
        .start()
        .expect("server");
    let started = Instant::now();
    let result = open::<A>(&server, &within(Duration::from_millis(300)));
    assert_timeout(
        result.map(|_| ()),
        Stage::Greeting,
        started,
        Duration::from_secs(3),
    );
}

/// One byte every 50 ms: each read succeeds, but the whole reply takes too long.
pub fn a_trickling_reply_times_out_as_a_whole<A: Adapter>() {
    let server = Server::builder()
        .on(
            Trigger::command("EHLO"),
            Action::Trickle(
                b"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n".to_vec(),
                Duration::from_millis(50),
            ),
        )
        .start()
        .expect("server");
    let mut smtp = open::<A>(&server, &within(Duration::from_millis(400))).expect("connect");
    let started = Instant::now();
    let result = smtp.ehlo();
    assert_timeout(result, Stage::Hello, started, Duration::from_secs(3));
    assert!(!smtp.is_connected(), "a timeout ends the session");
}

/// A 100 ms delay is fine; a final reply that never comes is a `DataEnd` timeout.
pub fn a_slow_data_end_times_out_and_a_delay_within_the_timeout_does_not<A: Adapter>() {
    let server = Server::builder()
        .on_times(
            Trigger::command("NOOP"),
            Action::Delay(Duration::from_millis(100)),
            1,
        )
        .on(Trigger::DataEnd, Action::Hang)
        .start()
        .expect("server");
    let mut smtp = open::<A>(&server, &within(Duration::from_millis(500))).expect("connect");
    smtp.noop().expect("a 100 ms delay is fine");
    let started = Instant::now();
    let result = smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"x\r\n"[..]);
    assert_timeout(result, Stage::DataEnd, started, Duration::from_secs(3));
}

/// EOF mid-transaction, a final reply cut off, and an unanswered QUIT.
pub fn disconnects_are_unexpected_eof<A: Adapter>() {
    let server = Server::builder()
        .on(Trigger::command("MAIL"), Action::Close)
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&server);
    let result = smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"x\r\n"[..]);
    assert!(
        matches!(
            result,
            Err(Error::Smtp(ProtoError::UnexpectedEof(Stage::Mail)))
        ),
        "{result:?}"
    );
    assert!(!smtp.is_connected());

    let cut = Server::builder()
        .on(
            Trigger::DataEnd,
            Action::ReplyAndClose(b"250 queued".to_vec()),
        )
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&cut);
    let result = smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"x\r\n"[..]);
    assert!(
        matches!(
            result,
            Err(Error::Smtp(ProtoError::UnexpectedEof(Stage::DataEnd)))
        ),
        "{result:?}"
    );

    let rude = Server::builder()
        .on(Trigger::command("QUIT"), Action::Close)
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&rude);
    smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"x\r\n"[..])
        .expect("accepted");
    smtp.quit().expect("an unanswered QUIT is a clean end");
}

/// A bad code, an endless multi-line reply and an endless line: parse errors, bounded memory.
pub fn malformed_and_endless_replies_end_the_session_in_bounded_memory<A: Adapter>() {
    for (trigger, action) in [
        ("EHLO", Action::raw(b"25O not a code\r\n")),
        ("EHLO", Action::Flood(b"250-more\r\n".to_vec())),
        (
            "NOOP",
            Action::Flood(b"250 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".to_vec()),
        ),
    ] {
        let server = Server::builder()
            .on(Trigger::command(trigger), action)
            .start()
            .expect("server");
        let mut smtp = connect::<A>(&server);
        let result = match trigger {
            "EHLO" => smtp.ehlo(),
            _ => smtp.noop(),
        };
        assert!(
            matches!(result, Err(Error::Smtp(ProtoError::Parse(_)))),
            "{result:?}"
        );
    }
}
