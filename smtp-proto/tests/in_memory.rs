//! Bodies held in memory: lent to the transport as they are where no encoding is needed
//! (`BodyWriter::lend`, `CheckedText`), fed by the pump itself (`InMemory`). Whatever the
//! body, the way it is held and how the transport takes the bytes, what goes on the wire is
//! exactly what the encoder makes of it read from a reader; and while lent bytes wait, nothing
//! else goes out.
#![allow(clippy::disallowed_methods)] // one Instant as the origin of virtual time

use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use smtp_proto::body::{BareLineEndings, BodyEncoder, BodyError, CheckedText};
use smtp_proto::client::{
    Client, Config, Envelope, Event, RequestId, Timeouts, TranscriptEntry, MIN_LEND,
};
use smtp_proto::session::op::{InMemory, MemoryBody, Operation, SendAll, SendMail};
use smtp_proto::session::{Pump, Step};
use smtp_proto::{Domain, Mailbox, ReversePath};

// ------------------------------------------------------------------ bodies

/// Long, mostly well-formed text with occasional bare CRs and LFs, line-leading dots and the
/// SMTP-smuggling suspects: the lending fast path runs, and stops where it must.
fn text_body() -> impl Strategy<Value = Vec<u8>> {
    let line = prop::collection::vec(prop_oneof![30 => Just(b'x'), 1 => Just(b'.')], 0..300)
        .prop_map(|mut line| {
            line.extend_from_slice(b"\r\n");
            line
        });
    let segment = prop_oneof![
        16 => line,
        1 => Just(b"\r".to_vec()),
        1 => Just(b"\n".to_vec()),
        1 => Just(b".".to_vec()),
        1 => Just(b"\n.\n".to_vec()),
        1 => Just(b"\r.\r".to_vec()),
        1 => Just(b"\r\n.\r\n".to_vec()),
        1 => Just(vec![0xC3, 0xA9]),
    ];
    prop::collection::vec(segment, 0..60).prop_map(|segments| segments.concat())
}

/// Short bodies dense in the bytes that matter.
fn dense_body() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => Just(b'\r'),
        3 => Just(b'\n'),
        3 => Just(b'.'),
        2 => Just(b'a'),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..400)
}

/// Either kind, sometimes repeated into a body larger than one lend (1 MiB).
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => text_body(),
        4 => dense_body(),
        1 => (text_body(), 1usize..400).prop_map(|(body, times)| body.repeat(times)),
    ]
}

/// What the encoder makes of `body`, pushed whole.
fn encoded(mut encoder: BodyEncoder, body: &[u8]) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    encoder.push(body, &mut out)?;
    encoder.finish(&mut out)?;
    Ok(out)
}

fn encoder(data: bool, policy: BareLineEndings) -> BodyEncoder {
    if data {
        BodyEncoder::for_data(policy)
    } else {
        BodyEncoder::for_bdat(policy)
    }
}

fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut rest = input;
    let mut chunks = Vec::new();
    for &cut in cuts {
        let (a, b) = rest.split_at(cut.min(rest.len()));
        chunks.push(a);
        rest = b;
    }
    chunks.push(rest);
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Bytes passed are bytes the encoder would have written unchanged: passing what it
    /// takes and pushing the rest, piece by piece, gives the output of one push, and the
    /// same error where there is one.
    #[test]
    fn passing_then_pushing_is_pushing(
        body in body(),
        cuts in prop::collection::vec(0usize..3000, 0..30),
        data in any::<bool>(),
        reject in any::<bool>(),
        checked in any::<bool>(),
        min in prop_oneof![Just(1usize), 1usize..600],
    ) {
        let policy = if reject { BareLineEndings::Reject } else { BareLineEndings::Normalize };
        let expected = encoded(encoder(data, policy), &body);
        let text = CheckedText::new(body.clone());
        let mut enc = encoder(data, policy);
        let mut out = Vec::new();
        let mut at = 0;
        let mut result = Ok(());
        for chunk in split(&body, &cuts) {
            let n = if checked {
                enc.pass_checked(&text, at, chunk.len(), min)
            } else {
                enc.pass(chunk, min)
            };
            prop_assert!(n <= chunk.len());
            prop_assert!(n == 0 || n >= min);
            out.extend_from_slice(&chunk[..n]);
            if let Err(e) = enc.push(&chunk[n..], &mut out) {
                result = Err(e);
                break;
            }
            at += chunk.len();
        }
        let got = result.and_then(|()| enc.finish(&mut out)).map(|()| out);
        match (&expected, &got) {
            (Ok(expected), Ok(got)) => prop_assert_eq!(expected, got),
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            _ => prop_assert!(false, "expected {expected:?}, got {got:?}"),
        }
        if expected.is_ok() {
            prop_assert_eq!(enc.bytes_in(), body.len() as u64);
        }
    }

    /// Through the pump, a body held in memory — a slice, a checked text, two parts — goes on
    /// the wire exactly as the same body read from a reader, however the transport takes
    /// the bytes.
    #[test]
    fn a_body_in_memory_goes_out_as_the_same_body_read(
        body in body(),
        writes in prop::collection::vec(1usize..300_000, 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let read = send(SendMail::new(envelope(), body.as_slice()), &writes);
        let lent = send(InMemory::new(SendMail::new(envelope(), body.as_slice())), &writes);
        let text = Cursor::new(CheckedText::new(body.clone()));
        let checked = send(InMemory::new(SendMail::new(envelope(), text)), &writes);
        let (head, tail) = body.split_at(cut.index(body.len() + 1));
        let parts = std::io::Read::chain(head, tail);
        let chained = send(InMemory::new(SendMail::new(envelope(), parts)), &writes);
        prop_assert!(read.accepted);
        prop_assert_eq!(&lent, &read);
        prop_assert_eq!(&checked, &read);
        prop_assert_eq!(&chained, &read);
    }
}

// ------------------------------------------------------------------ a scripted session

fn config() -> Config {
    let mut config = Config::new(Domain::try_from("client.test").expect("a name"));
    config.transcript = true;
    config.timeouts = Timeouts::uniform(Duration::from_secs(30));
    config
}

fn envelope() -> Envelope {
    Envelope::new(
        ReversePath::Mailbox(Mailbox::try_from("a@test").expect("an address")),
        vec![Mailbox::try_from("b@test").expect("an address")],
    )
}

/// A session past EHLO, which the server answered `ehlo`.
fn ready_client(now: Instant, ehlo: &[u8]) -> Client {
    let mut client = Client::new(config(), now);
    client.handle_input(b"220 mx.test ESMTP\r\n", now);
    let n = client.transmit(now).map_or(0, |t| t.len());
    client.handle_written(n, now);
    client.handle_input(ehlo, now);
    assert!(matches!(client.poll_event(), Some(Event::Ready)));
    client
}

/// What a session sent, and what became of it.
#[derive(Debug, PartialEq, Eq)]
struct Sent {
    /// Everything written after EHLO.
    wire: Vec<u8>,
    /// The transcript's count of body bytes.
    counted: Vec<String>,
    accepted: bool,
}

/// Runs `op` (one transaction, without PIPELINING) over a transport that takes at most
/// `writes[k]` bytes at its k-th write (cycling), the server accepting everything.
fn send<O>(op: O, writes: &[usize]) -> Sent
where
    O: Operation<Output = smtp_proto::client::MailReport>,
    O::Body: Read,
{
    let now = Instant::now();
    let mut client = ready_client(now, b"250 mx.test\r\n");
    while client.poll_transcript().is_some() {}
    let mut replies = [
        &b"250 ok\r\n"[..],
        b"250 ok\r\n",
        b"354 go\r\n",
        b"250 queued\r\n",
    ]
    .into_iter();
    let mut pump = Pump::new(op);
    let mut wire = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut sizes = writes.iter().cycle();
    let counted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let lines = counted.clone();
    let mut sink: Option<smtp_proto::session::TranscriptSink> = Some(Box::new(move |entry| {
        if matches!(entry, TranscriptEntry::Sent(line) if line.ends_with(b"body bytes>")) {
            lines.lock().expect("not poisoned").push(entry.to_string());
        }
    }));
    let accepted = loop {
        match pump.next(&mut client, &mut sink, now) {
            Step::Body { id, max } => {
                let read = pump
                    .body(id)
                    .map_or(Ok(0), |body| body.read(&mut buf[..max]));
                pump.body_read(&mut client, id, read.map(|n| &buf[..n]));
            }
            Step::Write { .. } => {
                let out = pump.outgoing(&client);
                let n = out.len().min(*sizes.next().unwrap_or(&1));
                wire.extend_from_slice(&out[..n]);
                pump.wrote(&mut client, Ok(n), now);
            }
            Step::Read { .. } => {
                let reply = replies.next().expect("a reply is due only after a command");
                pump.read(&mut client, Ok(reply), now);
            }
            Step::Done { result, .. } => break result.expect("the transaction").is_accepted(),
            Step::Handshake { .. } => panic!("no TLS here"),
        }
    };
    drop(sink);
    let counted = counted.lock().expect("not poisoned").clone();
    Sent {
        wire,
        counted,
        accepted,
    }
}

#[test]
fn several_messages_in_memory_go_out_as_read_ones_do() {
    let bodies: Vec<Vec<u8>> = vec![
        b"Subject: one\r\n\r\n".repeat(20_000),
        b".\r\n..\r\nbare\nend".to_vec(),
        Vec::new(),
        b"x".repeat(3 * 1024 * 1024),
    ];
    let mut read_reports = Vec::new();
    let messages = bodies.iter().map(|b| (envelope(), b.as_slice()));
    let read = run_batch(SendAll::new(messages, |r| read_reports.push(r)));
    let mut lent_reports = Vec::new();
    let messages = bodies.iter().map(|b| (envelope(), b.as_slice()));
    let lent = run_batch(InMemory::new(SendAll::new(messages, |r| {
        lent_reports.push(r)
    })));
    for reports in [&read_reports, &lent_reports] {
        assert_eq!(reports.len(), bodies.len());
        assert!(reports.iter().all(|r| r.is_accepted()));
    }
    assert!(lent.len() > 3 * 1024 * 1024);
    assert!(lent == read, "the wires differ");
}

/// Runs a batch over a server with PIPELINING that answers every command written in full;
/// what was written.
fn run_batch<O>(op: O) -> Vec<u8>
where
    O: Operation<Output = ()>,
    O::Body: Read,
{
    let now = Instant::now();
    let mut client = ready_client(now, b"250-mx.test\r\n250 PIPELINING\r\n");
    let mut pump = Pump::new(op);
    let (mut wire, mut answered) = (Vec::new(), 0);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(ok) = step(&mut pump, &mut client, &mut wire, &mut answered, &mut buf) {
            assert!(ok, "the batch completes");
            return wire;
        }
    }
}

/// One step of a pump over a server that answers each command as it is written in full
/// (MAIL, RCPT: 250; DATA: 354; the end of data: 250).
fn step<O>(
    pump: &mut Pump<O>,
    client: &mut Client,
    wire: &mut Vec<u8>,
    answered: &mut usize,
    buf: &mut [u8],
) -> Option<bool>
where
    O: Operation<Output = ()>,
    O::Body: Read,
{
    let now = Instant::now();
    match pump.next(client, &mut None, now) {
        Step::Body { id, max } => {
            let read = pump
                .body(id)
                .map_or(Ok(0), |body| body.read(&mut buf[..max]));
            pump.body_read(client, id, read.map(|n| &buf[..n]));
        }
        Step::Write { .. } => {
            let out = pump.outgoing(client);
            // An odd size, so that writes end anywhere.
            let n = out.len().min(100_003);
            wire.extend_from_slice(&out[..n]);
            pump.wrote(client, Ok(n), now);
        }
        Step::Read { .. } => {
            let replies = replies_due(wire, answered);
            assert!(!replies.is_empty(), "read with nothing to answer");
            pump.read(client, Ok(&replies), now);
        }
        Step::Done { result, .. } => return Some(result.is_ok()),
        Step::Handshake { .. } => panic!("no TLS here"),
    }
    None
}

/// The replies to the commands of `wire` after the first `answered` lines, which it counts on.
fn replies_due(wire: &[u8], answered: &mut usize) -> Vec<u8> {
    let mut replies = Vec::new();
    let mut in_body = false;
    for (i, line) in wire.split_inclusive(|&b| b == b'\n').enumerate() {
        if !line.ends_with(b"\n") {
            break;
        }
        let reply: Option<&[u8]> = match (in_body, line) {
            (true, b".\r\n") => {
                in_body = false;
                Some(b"250 queued\r\n")
            }
            (true, _) => None,
            (false, line) if line.starts_with(b"DATA") => {
                in_body = true;
                Some(b"354 go\r\n")
            }
            (false, _) => Some(b"250 ok\r\n"),
        };
        if i >= *answered {
            *answered = i + 1;
            replies.extend_from_slice(reply.unwrap_or_default());
        }
    }
    replies
}

// ------------------------------------------------------------------ the client's side of lending

/// A session (no PIPELINING) in the body of one transaction: its id.
fn in_body(client: &mut Client, now: Instant) -> RequestId {
    let id = client.send_mail(envelope()).expect("queued");
    for reply in [&b"250 ok\r\n"[..], b"250 ok\r\n", b"354 go\r\n"] {
        let n = client.transmit(now).map_or(0, |t| t.len());
        client.handle_written(n, now);
        client.handle_input(reply, now);
    }
    let events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::BodyWanted(got) if *got == id)));
    id
}

#[test]
fn lent_bytes_go_first_and_alone_until_written() {
    let now = Instant::now();
    let mut client = ready_client(now, b"250 mx.test\r\n");
    let id = in_body(&mut client, now);
    let text = b"Subject: lent\r\n\r\n".repeat(2000);
    let mut writer = client.body(id).expect("a body");
    assert_eq!(writer.lend(&text[..MIN_LEND - 1]), 0, "not worth a write");
    let lent = writer.lend(&text);
    assert!(
        lent >= MIN_LEND && lent < text.len(),
        "whole runs, not the tail: {lent}"
    );
    // Nothing else is taken or shown while they wait.
    assert_eq!(writer.room(), 0);
    assert_eq!(writer.lend(&text[lent..]), 0);
    assert_eq!(client.lent(), lent);
    assert!(client.wants_write());
    assert_eq!(client.poll_transmit(), None);
    assert!(client.transmit(now).is_none());
    let write = client.transmit_lent(now).expect("lent bytes to write");
    assert_eq!(write.len, lent);
    assert_eq!(write.deadline, now + Duration::from_secs(30));
    // Written in two pieces.
    client.handle_written(100, now);
    assert_eq!(client.lent(), lent - 100);
    client.handle_written(lent - 100, now);
    assert_eq!(client.lent(), 0);
    assert!(client.transmit_lent(now).is_none());
    let mut writer = client.body(id).expect("a body");
    assert!(writer.room() > 0);
    assert_eq!(writer.write(&text[lent..]), Ok(text.len() - lent));
    writer.finish().expect("ended");
    let tail = client.transmit(now).expect("the tail").to_vec();
    assert_eq!(tail, [&text[lent..], b".\r\n"].concat());
}

#[test]
fn only_what_needs_no_encoding_is_lent() {
    let now = Instant::now();
    let mut client = ready_client(now, b"250 mx.test\r\n");
    let id = in_body(&mut client, now);
    let clean = b"x".repeat(2 * MIN_LEND);
    let mut writer = client.body(id).expect("a body");
    // A dot at the start of the body (a line), or a bare LF, is the encoder's to handle.
    assert_eq!(writer.lend(&[b".", &clean[..]].concat()), 0);
    assert_eq!(writer.lend(&[b"\n", &clean[..]].concat()), 0);
    assert_eq!(writer.lend(&clean[..MIN_LEND - 1]), 0, "not worth a write");
    // Something queued goes out first.
    writer.write(b"a").expect("written");
    assert_eq!(writer.lend(&clean), 0);
    assert!(client.transmit(now).is_some());
    // A session with CHUNKING frames its body in BDAT chunks: nothing is lent.
    let mut client = ready_client(now, b"250-mx.test\r\n250 CHUNKING\r\n");
    let id = client.send_mail(envelope()).expect("queued");
    for reply in [&b"250 ok\r\n"[..], b"250 ok\r\n"] {
        let n = client.transmit(now).map_or(0, |t| t.len());
        client.handle_written(n, now);
        client.handle_input(reply, now);
    }
    while client.poll_event().is_some() {}
    let mut writer = client.body(id).expect("a body");
    assert_eq!(writer.lend(&clean), 0);
    let text = CheckedText::new(clean.clone());
    assert_eq!(writer.lend_checked(&text, 0, usize::MAX), 0);
}

#[test]
fn a_transport_that_stops_taking_lent_bytes_times_out_and_nothing_was_delivered() {
    let now = Instant::now();
    let mut client = ready_client(now, b"250 mx.test\r\n");
    let id = in_body(&mut client, now);
    let text = CheckedText::new(b"line of text\r\n".repeat(5000));
    let mut writer = client.body(id).expect("a body");
    let lent = writer.lend_checked(&text, 0, usize::MAX);
    assert!(lent > 0);
    let deadline = client.transmit_lent(now).expect("lent").deadline;
    client.handle_written(10, now + Duration::from_secs(1));
    client.handle_timeout(deadline);
    assert!(client.is_closed());
    assert_eq!(
        client.lent(),
        0,
        "nothing is left to write on a closed session"
    );
    assert!(!client.end_of_data_unanswered());
}

#[test]
fn the_transcript_counts_lent_bytes_as_sent() {
    let body = b"Subject: counted\r\n\r\n".repeat(5000);
    let sent = send(
        InMemory::new(SendMail::new(envelope(), body.as_slice())),
        &[4096],
    );
    let read = send(SendMail::new(envelope(), body.as_slice()), &[4096]);
    assert_eq!(sent.counted, [format!("C: <{} body bytes>", body.len())]);
    assert_eq!(sent, read);
}

#[test]
fn memory_bodies_report_what_is_left() {
    let mut chain = std::io::Read::chain(&b"head"[..], Cursor::new(b"-tail".to_vec()));
    assert_eq!(chain.rest(), b"head");
    chain.advance(3);
    assert_eq!(chain.rest(), b"d");
    chain.advance(3);
    assert_eq!(chain.rest(), b"ail");
    chain.advance(10);
    assert_eq!(chain.rest(), b"");
    let mut checked = Cursor::new(CheckedText::new(b"abc".to_vec()));
    checked.advance(1);
    assert_eq!(checked.rest(), b"bc");
    assert!(matches!(checked.checked(), Some((_, 1))));
    assert!(b"plain".as_slice().checked().is_none());
}

#[test]
fn a_reply_while_lent_bytes_go_out_ends_the_call_and_nothing_more_is_written() {
    let now = Instant::now();
    let mut client = ready_client(now, b"250 mx.test\r\n");
    let body = b"Subject: long\r\n\r\n".repeat(200_000);
    let mut pump = Pump::new(InMemory::new(SendMail::new(envelope(), body.as_slice())));
    let mut replies = [&b"250 ok\r\n"[..], b"250 ok\r\n", b"354 go\r\n"].into_iter();
    let mut body_writes = 0;
    let mut written_after_reply = 0;
    let mut replied = false;
    let result = loop {
        match pump.next(&mut client, &mut None, now) {
            Step::Write { look_first, .. } => {
                let lent = client.lent();
                if lent > 0 {
                    body_writes += 1;
                    assert!(
                        look_first,
                        "lent body bytes are written after a look at the input"
                    );
                }
                if body_writes == 3 && !replied {
                    // The server gives up in the middle of the body: the look finds its reply.
                    replied = true;
                    pump.read(&mut client, Ok(b"554 5.3.4 too much\r\n"), now);
                    continue;
                }
                if replied {
                    written_after_reply += 1;
                }
                let n = pump.outgoing(&client).len().min(50_000);
                pump.wrote(&mut client, Ok(n), now);
            }
            Step::Read { .. } => {
                let reply = replies.next().expect("a reply is due");
                pump.read(&mut client, Ok(reply), now);
            }
            Step::Done { result, close } => {
                assert!(close, "the session is over");
                break result;
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(result.is_err(), "{result:?}");
    assert_eq!(written_after_reply, 0);
    assert_eq!(client.lent(), 0);
    assert!(client.is_closed() && !client.end_of_data_unanswered());
}
