//! The write-progress (data block) timer with virtual time: a peer that takes a few bytes now
//! and then cannot hold a body write open much beyond one timeout, while a peer that keeps
//! taking 64 KiB per timeout never trips it.
#![allow(clippy::disallowed_methods)] // tests take one Instant as virtual time origin

use std::time::{Duration, Instant};

use smtp_proto::client::{Client, Config, Envelope, Event, Stage, Timeouts};
use smtp_proto::{Domain, Error, Mailbox, ReversePath};

const TIMEOUT: Duration = Duration::from_secs(3);

/// A client with a body of 1 MiB in flight after `354`, its outbox full; returns it and the
/// virtual time reached.
fn client_writing_a_body() -> (Client, Instant) {
    let mut now = Instant::now();
    let mut config = Config::new(Domain::try_from("client.example").expect("domain"));
    config.timeouts = Timeouts::uniform(TIMEOUT);
    let mut client = Client::new(config, now);
    let exchange = |client: &mut Client, reply: &[u8], now: Instant| {
        client.handle_input(reply, now);
        let n = client.transmit(now).map_or(0, |t| t.len());
        client.handle_written(n, now);
    };
    exchange(&mut client, b"220 mx\r\n", now);
    exchange(&mut client, b"250 mx\r\n", now);
    assert!(matches!(client.poll_event(), Some(Event::Ready)));
    let from = ReversePath::try_from("a@example.org").expect("from");
    let to = Mailbox::try_from("b@example.org").expect("to");
    let id = client
        .send_mail(Envelope::new(from, [to]))
        .expect("send_mail");
    let n = client.transmit(now).map_or(0, |t| t.len());
    client.handle_written(n, now);
    exchange(&mut client, b"250 ok\r\n", now);
    exchange(&mut client, b"250 ok\r\n", now);
    exchange(&mut client, b"354 go\r\n", now);
    while let Some(event) = client.poll_event() {
        if matches!(event, Event::BodyWanted(i) if i == id) {
            break;
        }
    }
    let mut left = 1 << 20;
    while left > 0 {
        let mut writer = client.body(id).expect("body writer");
        let room = writer.room().min(left);
        if room == 0 {
            break;
        }
        let took = writer.write(&vec![b'x'; room]).expect("write");
        left -= took;
    }
    now += Duration::from_millis(1);
    assert!(
        client.transmit(now).is_some(),
        "the body waits to be written"
    );
    (client, now)
}

/// Acknowledges `chunk` bytes every `every` until the session closes or `limit` passes;
/// returns when it closed, and with what.
fn trickle(chunk: usize, every: Duration, limit: Duration) -> Option<(Duration, Event)> {
    let (mut client, start) = client_writing_a_body();
    let mut now = start;
    while now - start < limit {
        now += every;
        if client.poll_timeout().is_some_and(|d| d <= now) {
            client.handle_timeout(now);
        }
        if let Some(bytes) = client.transmit(now) {
            let n = bytes.len().min(chunk);
            client.handle_written(n, now);
        }
        while let Some(event) = client.poll_event() {
            if matches!(event, Event::Closed(_)) {
                return Some((now - start, event));
            }
        }
    }
    None
}

#[test]
fn a_few_bytes_now_and_then_do_not_hold_a_write_open() {
    // 100 bytes every 500 ms: before, each one restarted the timer and the write never ended.
    let (after, event) = trickle(100, Duration::from_millis(500), Duration::from_secs(60))
        .expect("the data block timer fired");
    assert!(
        matches!(
            event,
            Event::Closed(Some(Error::Timeout {
                stage: Stage::DataBlock,
                ..
            }))
        ),
        "{event:?}"
    );
    assert!(after <= TIMEOUT + Duration::from_millis(500), "{after:?}");
}

#[test]
fn a_peer_that_keeps_taking_64_kib_per_timeout_is_progress() {
    // 64 KiB every 2.5 s (under the 3 s timeout) for a minute: never a timeout.
    assert_eq!(
        trickle(
            64 * 1024,
            Duration::from_millis(2500),
            Duration::from_secs(60)
        )
        .map(|(t, _)| t),
        None
    );
}

#[test]
fn less_than_64_kib_per_timeout_is_not_progress() {
    // 32 KiB every 2 s (16 KiB/s): the second acknowledgement reaches 64 KiB only at 4 s.
    let (after, _) = trickle(32 * 1024, Duration::from_secs(2), Duration::from_secs(60))
        .expect("the data block timer fired");
    assert!(after <= Duration::from_secs(4), "{after:?}");
}

#[test]
fn bytes_taken_only_after_the_deadline_do_not_restart_it() {
    // A blocking write that waited past the deadline, then returned 70 KiB.
    let (mut client, start) = client_writing_a_body();
    let late = start + TIMEOUT + Duration::from_millis(500);
    client.handle_written(70 * 1024, late);
    assert!(client.poll_timeout().is_some_and(|d| d <= late));
    client.handle_timeout(late);
    assert!(
        std::iter::from_fn(|| client.poll_event()).any(|e| matches!(
            e,
            Event::Closed(Some(Error::Timeout {
                stage: Stage::DataBlock,
                ..
            }))
        )),
        "no data block timeout"
    );
}

#[test]
fn a_late_write_that_empties_the_outbox_does_not_undo_the_timeout() {
    // An async write retried when its deadline fired: the peer's window had opened a little,
    // and everything queued went out at once — after the deadline.
    let (mut client, start) = client_writing_a_body();
    let late = start + TIMEOUT + Duration::from_millis(1);
    let queued = client.buffered_output();
    client.handle_written(queued, late);
    assert!(client.transmit(late).is_none(), "the outbox is empty");
    assert!(
        client.poll_timeout().is_some_and(|d| d <= late),
        "the expired timer stays armed"
    );
    client.handle_timeout(late);
    assert!(
        std::iter::from_fn(|| client.poll_event()).any(|e| matches!(
            e,
            Event::Closed(Some(Error::Timeout {
                stage: Stage::DataBlock,
                ..
            }))
        )),
        "no data block timeout"
    );
}
