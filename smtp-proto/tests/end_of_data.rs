//! Whether a lost session may have delivered its message: `Client::end_of_data_unanswered`.
#![allow(clippy::disallowed_methods)] // one Instant as the origin of virtual time

use std::time::Instant;

use smtp_proto::client::{Client, Config, Envelope, Event, RequestId};
use smtp_proto::{Domain, Mailbox, ReversePath};

fn flush(client: &mut Client, now: Instant) -> Vec<u8> {
    let mut sent = Vec::new();
    while let Some(out) = client.transmit(now) {
        let n = out.len();
        sent.extend_from_slice(&out);
        client.handle_written(n, now);
    }
    sent
}

fn events(client: &mut Client) -> Vec<Event> {
    std::iter::from_fn(|| client.poll_event()).collect()
}

/// A session past EHLO (PIPELINING) with one transaction whose body is wanted.
fn sending(now: Instant) -> (Client, RequestId) {
    let config = Config::new(Domain::try_from("client.test").unwrap());
    let mut client = Client::new(config, now);
    client.handle_input(b"220 mx.test ESMTP\r\n", now);
    flush(&mut client, now);
    client.handle_input(b"250-mx.test\r\n250 PIPELINING\r\n", now);
    assert!(matches!(events(&mut client).as_slice(), [Event::Ready]));
    let envelope = Envelope::new(
        ReversePath::Mailbox(Mailbox::try_from("a@test").unwrap()),
        vec![Mailbox::try_from("b@test").unwrap()],
    );
    let id = client.send_mail(envelope).unwrap();
    flush(&mut client, now);
    client.handle_input(b"250 ok\r\n250 ok\r\n354 go\r\n", now);
    assert!(matches!(events(&mut client).as_slice(), [Event::BodyWanted(got)] if *got == id));
    (client, id)
}

#[test]
fn lost_before_the_end_of_data_was_written_is_not_delivered() {
    let now = Instant::now();
    let (mut client, id) = sending(now);
    let mut body = client.body(id).unwrap();
    body.write(b"Subject: x\r\n\r\nhi\r\n").unwrap();
    body.finish().unwrap();
    // The end of data is queued, not written, when the connection goes.
    assert!(!client.end_of_data_unanswered());
    client.handle_input(b"", now);
    assert!(client.is_closed());
    assert!(!client.end_of_data_unanswered());
}

#[test]
fn lost_after_the_end_of_data_was_written_may_be_delivered() {
    let now = Instant::now();
    let (mut client, id) = sending(now);
    let mut body = client.body(id).unwrap();
    body.write(b"Subject: x\r\n\r\nhi\r\n").unwrap();
    body.finish().unwrap();
    assert!(flush(&mut client, now).ends_with(b"\r\n.\r\n"));
    assert!(client.end_of_data_unanswered());
    client.handle_input(b"", now);
    assert!(client.is_closed());
    assert!(
        client.end_of_data_unanswered(),
        "still known after the close"
    );
}

#[test]
fn a_timeout_after_the_end_of_data_may_be_delivered_too() {
    let now = Instant::now();
    let (mut client, id) = sending(now);
    let mut body = client.body(id).unwrap();
    body.write(b"hi\r\n").unwrap();
    body.finish().unwrap();
    flush(&mut client, now);
    let deadline = client.poll_timeout().unwrap();
    client.handle_timeout(deadline);
    assert!(client.is_closed() && client.end_of_data_unanswered());
}

#[test]
fn answered_end_of_data_is_settled() {
    let now = Instant::now();
    let (mut client, id) = sending(now);
    let mut body = client.body(id).unwrap();
    body.write(b"hi\r\n").unwrap();
    body.finish().unwrap();
    flush(&mut client, now);
    client.handle_input(b"250 queued\r\n", now);
    assert!(matches!(events(&mut client).as_slice(), [Event::MailDone(r)] if r.is_accepted()));
    assert!(!client.end_of_data_unanswered());
    client.handle_input(b"", now);
    assert!(client.is_closed() && !client.end_of_data_unanswered());
}
