//! The client's getters, transcript, deadlines and usage errors, and what a lost session may have
//! delivered (`end_of_data_unanswered`), through the public API.
#![allow(clippy::disallowed_methods)] // one Instant as the origin of virtual time

use std::time::{Duration, Instant};

use smtp_proto::client::{
    Client, Config, Envelope, Event, Hello, RequestId, Setup, TranscriptEntry,
};
use smtp_proto::error::{Error, UsageError};
use smtp_proto::sasl::Plain;
use smtp_proto::{Domain, Mailbox, ReversePath};

fn config() -> Config {
    let mut c = Config::new(Domain::try_from("client.test").unwrap());
    c.transcript = true;
    c.allow_auth_without_tls = true;
    c
}

/// Writes everything the client has to send and returns it.
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

fn ready_client(now: Instant, ehlo: &[u8]) -> Client {
    let mut client = Client::new(config(), now);
    client.handle_input(b"220 mx.test ESMTP\r\n", now);
    assert_eq!(flush(&mut client, now), b"EHLO client.test\r\n");
    client.handle_input(ehlo, now);
    assert!(matches!(events(&mut client).as_slice(), [Event::Ready]));
    client
}

#[test]
fn greeting_timer_is_armed_from_the_start_and_spurious_timeouts_are_ignored() {
    let t0 = Instant::now();
    let mut client = Client::new(config(), t0);
    assert_eq!(client.poll_timeout(), Some(t0 + Duration::from_secs(300)));
    client.handle_timeout(t0 + Duration::from_secs(299));
    assert!(!client.is_closed());
    assert!(client.poll_event().is_none());
    client.handle_timeout(t0 + Duration::from_secs(300));
    match events(&mut client).as_slice() {
        [Event::Closed(Some(Error::Timeout { after, .. }))] => {
            assert_eq!(*after, Duration::from_secs(300))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn getters_reflect_greeting_and_ehlo() {
    let now = Instant::now();
    let client = ready_client(
        now,
        b"250-mx.test hi\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
    );
    assert_eq!(client.greeting().unwrap().code().get(), 220);
    assert_eq!(client.ehlo_response().unwrap().code().get(), 250);
    assert!(client.does_esmtp());
    assert!(client.has_extn("pipelining"));
    assert!(client.has_extn("SIZE"));
    assert!(!client.has_extn("CHUNKING"));
    assert_eq!(client.capabilities().unwrap().max_size(), Some(1000));
    assert!(client.is_ready() && !client.is_secure() && !client.is_closed());
}

#[test]
fn helo_fallback_is_not_esmtp() {
    let now = Instant::now();
    let mut client = Client::new(config(), now);
    client.handle_input(b"220 mx.test\r\n", now);
    flush(&mut client, now);
    client.handle_input(b"502 no EHLO here\r\n", now);
    assert_eq!(flush(&mut client, now), b"HELO client.test\r\n");
    client.handle_input(b"250 mx.test\r\n", now);
    assert!(matches!(events(&mut client).as_slice(), [Event::Ready]));
    assert!(!client.does_esmtp());
    assert_eq!(client.helo_response().unwrap().code().get(), 250);
    assert_eq!(client.ehlo_response().unwrap().code().get(), 502);
}

#[test]
fn usage_errors_change_nothing() {
    let now = Instant::now();
    let mut client = ready_client(now, b"250-mx.test\r\n250 SIZE 100\r\n");
    let from = ReversePath::try_from("a@test").unwrap();
    let none: [Mailbox; 0] = [];
    assert_eq!(
        client.send_mail(Envelope::new(from.clone(), none)),
        Err(UsageError::NoRecipients)
    );
    let mut big = Envelope::new(from.clone(), [Mailbox::try_from("b@test").unwrap()]);
    big.size = Some(101);
    assert_eq!(
        client.send_mail(big),
        Err(UsageError::TooLarge {
            size: 101,
            limit: 100
        })
    );
    let utf8 = Envelope::new(from, [Mailbox::try_from("jörg@test").unwrap()]);
    assert!(matches!(
        client.send_mail(utf8),
        Err(UsageError::Unsupported(_))
    ));
    assert!(client
        .authenticate(Box::new(Plain::new("u", "p").unwrap()))
        .is_err());
    assert!(client.transmit(now).is_none());
    assert!(client.poll_event().is_none());
    assert!(!client.is_busy());
}

#[test]
fn transcript_redacts_auth_and_never_shows_the_secret() {
    let now = Instant::now();
    let mut client = ready_client(now, b"250-mx.test\r\n250 AUTH PLAIN LOGIN\r\n");
    client
        .authenticate(Box::new(Plain::new("user", "hunter2-secret").unwrap()))
        .unwrap();
    let wire = flush(&mut client, now);
    assert!(wire.starts_with(b"AUTH PLAIN "), "{wire:?}");
    client.handle_input(b"235 2.7.0 ok\r\n", now);
    assert!(matches!(
        events(&mut client).as_slice(),
        [Event::Authenticated { .. }]
    ));
    let lines: Vec<TranscriptEntry> = std::iter::from_fn(|| client.poll_transcript()).collect();
    let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
    assert!(
        text.contains(&"C: AUTH PLAIN <redacted>".to_owned()),
        "{text:?}"
    );
    assert!(text.contains(&"S: 235 2.7.0 ok".to_owned()), "{text:?}");
    let base64_of_payload = "AHVzZXIAaHVudGVyMi1zZWNyZXQ=";
    for line in &text {
        assert!(
            !line.contains("hunter2") && !line.contains(base64_of_payload),
            "{line}"
        );
    }
}

#[test]
fn after_close_inputs_are_ignored_and_mutators_refused() {
    let now = Instant::now();
    let mut client = ready_client(now, b"250 mx.test\r\n");
    client.handle_input(b"garbage\r\n", now);
    match events(&mut client).as_slice() {
        [Event::Closed(Some(Error::Parse(_)))] => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(client.buffered_input(), 0, "nothing is kept once closed");
    client.handle_input(b"250 ok\r\n", now);
    assert_eq!(client.buffered_input(), 0);
    client.handle_eof(now);
    client.handle_timeout(now + Duration::from_secs(3600));
    assert!(client.poll_event().is_none(), "Closed is delivered once");
    assert_eq!(client.noop(None), Err(UsageError::Closed));
    assert_eq!(client.hello(Hello::Ehlo), Err(UsageError::Closed));
    assert!(client.transmit(now).is_none());
}

#[test]
fn manual_setup_waits_for_an_explicit_hello() {
    let now = Instant::now();
    let mut config = config();
    config.setup = Setup::Manual;
    let mut client = Client::new(config, now);
    client.handle_input(b"220 mx.test\r\n", now);
    assert!(matches!(events(&mut client).as_slice(), [Event::Ready]));
    assert!(flush(&mut client, now).is_empty());
    let env = Envelope::new(ReversePath::Null, [Mailbox::try_from("b@test").unwrap()]);
    assert_eq!(client.send_mail(env), Err(UsageError::NotReady));
    let id = client.hello(Hello::EhloOrHelo).unwrap();
    assert_eq!(flush(&mut client, now), b"EHLO client.test\r\n");
    client.handle_input(b"250 mx.test\r\n", now);
    match events(&mut client).as_slice() {
        [Event::Reply { id: got, reply }] => {
            assert_eq!(*got, id);
            assert_eq!(reply.code().get(), 250);
        }
        other => panic!("{other:?}"),
    }
    assert!(client.said_hello());
}

#[test]
fn quit_reply_is_kept_and_transcript_can_be_switched() {
    let now = Instant::now();
    let mut client = ready_client(now, b"250 mx.test\r\n");
    client.set_transcript(false);
    while client.poll_transcript().is_some() {}
    client.quit();
    assert_eq!(flush(&mut client, now), b"QUIT\r\n");
    assert!(client.poll_transcript().is_none(), "transcript is off");
    client.set_transcript(true);
    client.handle_input(b"221 2.0.0 bye\r\n", now);
    assert!(matches!(
        events(&mut client).as_slice(),
        [Event::Closed(None)]
    ));
    assert_eq!(client.quit_reply().map(|r| r.code().get()), Some(221));
    assert_eq!(
        client.poll_transcript(),
        Some(TranscriptEntry::Received(b"221 2.0.0 bye".to_vec()))
    );
}

#[test]
fn hello_as_uses_its_own_name_for_the_helo_fallback_too() {
    let now = Instant::now();
    let mut config = config();
    config.setup = Setup::Manual;
    let mut client = Client::new(config, now);
    client.handle_input(b"220 mx.test\r\n", now);
    events(&mut client);
    let name = Domain::try_from("other.test").unwrap();
    client.hello_as(Hello::EhloOrHelo, name).unwrap();
    assert_eq!(flush(&mut client, now), b"EHLO other.test\r\n");
    client.handle_input(b"500 what\r\n", now);
    assert_eq!(flush(&mut client, now), b"HELO other.test\r\n");
}

#[test]
fn wants_write_tells_without_starting_the_write_timer() {
    let t0 = Instant::now();
    let mut client = Client::new(config(), t0);
    assert!(!client.wants_write(), "nothing before the greeting");
    client.handle_input(b"220 mx.test ESMTP\r\n", t0);
    assert!(client.wants_write(), "EHLO is queued");
    let before = client.poll_timeout();
    let later = t0 + Duration::from_secs(10);
    assert!(client.wants_write());
    assert_eq!(client.poll_timeout(), before, "asking starts no timer");
    let n = client.transmit(later).map_or(0, |t| t.len());
    assert!(n > 0);
    client.handle_written(n - 1, later);
    assert!(client.wants_write(), "one byte left");
    client.handle_written(1, later);
    assert!(!client.wants_write());
    client.handle_eof(later);
    assert!(!client.wants_write(), "closed");
}

/// Sends one message with `body` (written in one piece) and returns what went on the wire
/// for the body and the transcript's `Sent` lines of the transaction.
fn send_body(ehlo: &[u8], body: &[u8]) -> (Vec<u8>, Vec<String>) {
    let now = Instant::now();
    let mut client = ready_client(now, ehlo);
    while client.poll_transcript().is_some() {}
    let env = Envelope::new(ReversePath::Null, [Mailbox::try_from("b@test").unwrap()]);
    let id = client.send_mail(env).unwrap();
    let mut wire = flush(&mut client, now);
    client.handle_input(b"250 ok\r\n", now);
    wire.extend(flush(&mut client, now));
    client.handle_input(b"250 ok\r\n", now);
    wire.extend(flush(&mut client, now));
    if wire.ends_with(b"DATA\r\n") {
        client.handle_input(b"354 go\r\n", now);
    }
    assert!(
        events(&mut client)
            .iter()
            .any(|e| matches!(e, Event::BodyWanted(got) if *got == id)),
        "no body wanted after {:?}",
        String::from_utf8_lossy(&wire)
    );
    let mut writer = client.body(id).unwrap();
    assert_eq!(writer.write(body).unwrap(), body.len());
    writer.finish().unwrap();
    let start = wire.len();
    wire.extend(flush(&mut client, now));
    let sent = std::iter::from_fn(|| client.poll_transcript())
        .filter(|e| matches!(e, TranscriptEntry::Sent(_)))
        .map(|e| e.to_string())
        .collect();
    (wire.split_off(start), sent)
}

#[test]
fn transcript_counts_data_body_bytes_as_sent() {
    // Bare LFs become CRLF, a leading dot is doubled, the last line gets its CRLF.
    let (wire, sent) = send_body(b"250 mx.test\r\n", b"a\n.b\nc");
    assert_eq!(wire, b"a\r\n..b\r\nc\r\n.\r\n");
    let n = wire.len() - b".\r\n".len();
    assert_eq!(n, 11);
    assert_eq!(
        sent,
        [
            "C: MAIL FROM:<>",
            "C: RCPT TO:<b@test>",
            "C: DATA",
            "C: <11 body bytes>",
            "C: ."
        ]
    );
}

#[test]
fn transcript_counts_bdat_body_bytes_as_announced() {
    let (wire, sent) = send_body(b"250-mx.test\r\n250 CHUNKING\r\n", b"a\n.b\nc");
    assert_eq!(wire, b"BDAT 10 LAST\r\na\r\n.b\r\nc\r\n");
    assert_eq!(
        sent,
        [
            "C: MAIL FROM:<>",
            "C: RCPT TO:<b@test>",
            "C: BDAT 10 LAST",
            "C: <10 body bytes>"
        ]
    );
}

#[test]
fn no_bytes_of_input_is_the_end_of_the_stream() {
    let t0 = Instant::now();
    let mut client = ready_client(t0, b"250 mx.test\r\n");
    client.noop(None).unwrap();
    assert_eq!(flush(&mut client, t0), b"NOOP\r\n");
    // What a read returns at the end of the stream, handed over as it is.
    client.handle_input(&[], t0);
    assert!(client.is_closed());
    match events(&mut client).as_slice() {
        [Event::Closed(Some(Error::UnexpectedEof(_)))] => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn poll_transmit_only_looks_and_transmit_lends_with_the_deadline() {
    let t0 = Instant::now();
    let mut client = ready_client(t0, b"250 mx.test\r\n");
    client.noop(None).unwrap();
    let t1 = t0 + Duration::from_secs(1);
    // A look: the same bytes each time, no timer started.
    assert_eq!(client.poll_transmit(), Some(&b"NOOP\r\n"[..]));
    assert_eq!(client.poll_transmit(), Some(&b"NOOP\r\n"[..]));
    assert_eq!(client.poll_timeout(), None);
    // Lent: the write-progress timer runs from now, and its deadline comes with the bytes.
    let lent = client.transmit(t1).expect("bytes to write");
    assert_eq!(
        (&*lent, lent.deadline),
        (&b"NOOP\r\n"[..], t1 + Duration::from_secs(300))
    );
    assert_eq!(client.poll_timeout(), Some(t1 + Duration::from_secs(300)));
}

// ------------------------------------------------ whether a lost session may have delivered

/// A session past EHLO (PIPELINING) with one transaction whose body is written and finished;
/// with `flushed`, everything (the end of data too) has been written.
fn body_sent(now: Instant, flushed: bool) -> Client {
    let mut client = ready_client(now, b"250-mx.test\r\n250 PIPELINING\r\n");
    let envelope = Envelope::new(
        ReversePath::Mailbox(Mailbox::try_from("a@test").unwrap()),
        vec![Mailbox::try_from("b@test").unwrap()],
    );
    let id: RequestId = client.send_mail(envelope).unwrap();
    flush(&mut client, now);
    client.handle_input(b"250 ok\r\n250 ok\r\n354 go\r\n", now);
    assert!(matches!(events(&mut client).as_slice(), [Event::BodyWanted(got)] if *got == id));
    let mut body = client.body(id).unwrap();
    body.write(b"Subject: x\r\n\r\nhi\r\n").unwrap();
    body.finish().unwrap();
    if flushed {
        assert!(flush(&mut client, now).ends_with(b"\r\n.\r\n"));
    }
    client
}

#[test]
fn lost_before_the_end_of_data_was_written_is_not_delivered() {
    let now = Instant::now();
    let mut client = body_sent(now, false);
    // The end of data is queued, not written, when the connection goes.
    assert!(!client.end_of_data_unanswered());
    client.handle_input(b"", now);
    assert!(client.is_closed());
    assert!(!client.end_of_data_unanswered());
}

#[test]
fn lost_after_the_end_of_data_was_written_may_be_delivered() {
    let now = Instant::now();
    let mut client = body_sent(now, true);
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
    let mut client = body_sent(now, true);
    let deadline = client.poll_timeout().unwrap();
    client.handle_timeout(deadline);
    assert!(client.is_closed() && client.end_of_data_unanswered());
}

#[test]
fn answered_end_of_data_is_settled() {
    let now = Instant::now();
    let mut client = body_sent(now, true);
    client.handle_input(b"250 queued\r\n", now);
    assert!(matches!(events(&mut client).as_slice(), [Event::MailDone(r)] if r.is_accepted()));
    assert!(!client.end_of_data_unanswered());
    client.handle_input(b"", now);
    assert!(client.is_closed() && !client.end_of_data_unanswered());
}
