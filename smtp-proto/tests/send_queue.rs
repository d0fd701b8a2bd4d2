//! `SendQueue`: many messages on one session, one message ahead, driven in memory.
#![allow(clippy::disallowed_methods)] // one Instant as the origin of virtual time

use std::time::Instant;

use smtp_proto::client::{Client, Config, Envelope, Event, MailReport, SendQueue};
use smtp_proto::error::UsageError;
use smtp_proto::{Domain, Mailbox, ReversePath};

fn ready_client(now: Instant, ehlo: &[u8]) -> Client {
    let mut client = Client::new(Config::new(Domain::try_from("client.test").unwrap()), now);
    client.handle_input(b"220 mx.test ESMTP\r\n", now);
    assert_eq!(flush(&mut client, now), b"EHLO client.test\r\n");
    client.handle_input(ehlo, now);
    assert!(matches!(client.poll_event(), Some(Event::Ready)));
    client
}

fn flush(client: &mut Client, now: Instant) -> Vec<u8> {
    let mut sent = Vec::new();
    while let Some(out) = client.transmit(now) {
        let n = out.len();
        sent.extend_from_slice(&out);
        client.handle_written(n, now);
    }
    sent
}

fn envelope(to: &str) -> Envelope {
    Envelope::new(
        ReversePath::try_from("a@example.org").unwrap(),
        [Mailbox::try_from(to).unwrap()],
    )
}

/// Handles every pending event the way an adapter's loop does: bodies written whole, reports
/// collected, the queue topped up. Returns what went on the wire meanwhile.
fn pump<I>(
    client: &mut Client,
    queue: &mut SendQueue<Vec<u8>>,
    messages: &mut I,
    reports: &mut Vec<MailReport>,
    now: Instant,
) -> Vec<u8>
where
    I: Iterator<Item = (Envelope, Vec<u8>)>,
{
    let mut wire = Vec::new();
    loop {
        wire.extend(flush(client, now));
        let Some(event) = client.poll_event() else {
            return wire;
        };
        match event {
            Event::BodyWanted(id) => {
                let body = queue
                    .body_mut(id)
                    .expect("a body for every wanted id")
                    .clone();
                let mut writer = client.body(id).expect("body writer");
                assert_eq!(writer.write(&body).unwrap(), body.len());
                writer.finish().unwrap();
                queue.body_finished(id);
                queue.top_up(client, messages);
            }
            Event::MailDone(report) => {
                assert!(queue.take_report(&report), "a report of ours");
                reports.push(report);
                queue.top_up(client, messages);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn the_next_transaction_follows_the_end_of_data_in_the_same_flight() {
    let now = Instant::now();
    let mut client = ready_client(now, b"250-mx.test\r\n250 PIPELINING\r\n");
    let mut messages =
        (1..=3).map(|i| (envelope("b@example.net"), format!("m{i}\r\n").into_bytes()));
    let mut queue = SendQueue::new();
    let mut reports = Vec::new();

    queue.top_up(&mut client, &mut messages);
    assert_eq!(queue.in_flight(), 1);
    let first = pump(&mut client, &mut queue, &mut messages, &mut reports, now);
    assert_eq!(
        first,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    );

    client.handle_input(b"250 ok\r\n250 ok\r\n354 go\r\n", now);
    let second = pump(&mut client, &mut queue, &mut messages, &mut reports, now);
    // Message 1's body and end of data, then message 2's envelope, in one flight.
    assert_eq!(
        second,
        b"m1\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    );
    assert_eq!(queue.in_flight(), 2, "one message ahead, never more");

    client.handle_input(b"250 queued 1\r\n250 ok\r\n250 ok\r\n354 go\r\n", now);
    let third = pump(&mut client, &mut queue, &mut messages, &mut reports, now);
    assert_eq!(
        third,
        b"m2\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    );
    client.handle_input(b"250 queued 2\r\n250 ok\r\n250 ok\r\n354 go\r\n", now);
    assert_eq!(
        pump(&mut client, &mut queue, &mut messages, &mut reports, now),
        b"m3\r\n.\r\n"
    );
    assert!(!queue.is_done(), "message 3 has not reported yet");
    client.handle_input(b"250 queued 3\r\n", now);
    assert!(pump(&mut client, &mut queue, &mut messages, &mut reports, now).is_empty());

    assert!(queue.is_done());
    assert_eq!(queue.in_flight(), 0);
    assert!(queue.take_refusal().is_none());
    let finals: Vec<String> = reports
        .iter()
        .map(|r| {
            assert!(r.is_accepted());
            format!("{:?}", r.outcome)
        })
        .collect();
    assert_eq!(finals.len(), 3);
    for (i, text) in finals.iter().enumerate() {
        assert!(text.contains(&format!("queued {}", i + 1)), "{text}");
    }
}

#[test]
fn a_refused_message_stops_the_run_and_is_reported() {
    let now = Instant::now();
    // No SMTPUTF8: a non-ASCII mailbox cannot be queued.
    let mut client = ready_client(now, b"250-mx.test\r\n250 PIPELINING\r\n");
    let mut messages = vec![
        (envelope("b@example.net"), b"m1\r\n".to_vec()),
        (envelope("björn@example.net"), b"m2\r\n".to_vec()),
        (envelope("c@example.net"), b"m3\r\n".to_vec()),
    ]
    .into_iter();
    let mut queue = SendQueue::new();
    let mut reports = Vec::new();
    queue.top_up(&mut client, &mut messages);
    pump(&mut client, &mut queue, &mut messages, &mut reports, now);
    client.handle_input(b"250 ok\r\n250 ok\r\n354 go\r\n", now);
    // The body ends, message 2 is tried and refused by the core: nothing more is queued.
    let wire = pump(&mut client, &mut queue, &mut messages, &mut reports, now);
    assert_eq!(wire, b"m1\r\n.\r\n");
    assert!(!queue.is_done(), "message 1 is still in flight");
    client.handle_input(b"250 queued\r\n", now);
    pump(&mut client, &mut queue, &mut messages, &mut reports, now);
    assert!(queue.is_done());
    assert_eq!(reports.len(), 1);
    assert!(matches!(
        queue.take_refusal(),
        Some(UsageError::Unsupported(_))
    ));
    assert!(queue.take_refusal().is_none(), "taken once");
    assert_eq!(
        messages.next().map(|(_, b)| b),
        Some(b"m3\r\n".to_vec()),
        "not consumed"
    );
}

#[test]
fn a_transaction_refused_before_data_drops_its_body() {
    let now = Instant::now();
    let mut client = ready_client(now, b"250-mx.test\r\n250 PIPELINING\r\n");
    let mut messages = vec![(envelope("b@example.net"), b"m1\r\n".to_vec())].into_iter();
    let mut queue = SendQueue::new();
    let mut reports = Vec::new();
    queue.top_up(&mut client, &mut messages);
    pump(&mut client, &mut queue, &mut messages, &mut reports, now);
    let id = reports.first().map(|r| r.id);
    assert!(id.is_none());
    client.handle_input(
        b"250 ok\r\n550 no such user\r\n554 no valid recipients\r\n",
        now,
    );
    let wire = pump(&mut client, &mut queue, &mut messages, &mut reports, now);
    if wire == b"RSET\r\n" {
        client.handle_input(b"250 reset\r\n", now);
        pump(&mut client, &mut queue, &mut messages, &mut reports, now);
    }
    assert_eq!(reports.len(), 1);
    assert!(!reports[0].is_accepted());
    assert!(
        queue.body_mut(reports[0].id).is_none(),
        "the unused body is gone"
    );
    assert!(queue.is_done());
}

#[test]
fn reports_of_other_requests_are_not_taken() {
    let now = Instant::now();
    let mut client = ready_client(now, b"250-mx.test\r\n250 PIPELINING\r\n");
    let mut queue: SendQueue<Vec<u8>> = SendQueue::new();
    // A transaction queued directly on the client, not through the queue.
    let id = client.send_mail(envelope("b@example.net")).unwrap();
    flush(&mut client, now);
    client.handle_input(b"550 sender refused\r\n503 no MAIL\r\n503 no MAIL\r\n", now);
    if flush(&mut client, now) == b"RSET\r\n" {
        client.handle_input(b"250 reset\r\n", now);
    }
    let report = std::iter::from_fn(|| client.poll_event())
        .find_map(|e| match e {
            Event::MailDone(r) => Some(r),
            _ => None,
        })
        .expect("report");
    assert_eq!(report.id, id);
    assert!(!queue.take_report(&report));
    assert!(
        !queue.is_done(),
        "never topped up: the source may have more"
    );
    let mut none = std::iter::empty();
    queue.top_up(&mut client, &mut none);
    assert!(queue.is_done());
}
