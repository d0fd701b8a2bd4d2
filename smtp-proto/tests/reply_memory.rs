//! What a transaction keeps of the server's replies is bounded whatever the server sends: 1,000
//! recipients, each refused with a 64 KB reply, leave a report of a few hundred kilobytes.
#![allow(clippy::disallowed_methods)] // tests take one Instant as virtual time origin

use std::time::Instant;

use smtp_proto::client::{Client, Config, Envelope, Event, MailOutcome};
use smtp_proto::{Domain, Mailbox, ReversePath};

const RECIPIENTS: usize = 1000;

/// A `550` of 8 lines of 8,000 bytes.
fn big_refusal(i: usize) -> Vec<u8> {
    let mut raw = Vec::new();
    for line in 0..8 {
        raw.extend_from_slice(if line == 7 { b"550 " } else { b"550-" });
        raw.extend_from_slice(format!("5.1.1 recipient {i} line {line} ").as_bytes());
        raw.resize(raw.len() + 7970, b'z');
        raw.extend_from_slice(b"\r\n");
    }
    raw
}

#[test]
fn a_thousand_maximal_refusals_keep_a_bounded_report() {
    let now = Instant::now();
    let mut client = Client::new(
        Config::new(Domain::try_from("client.example").expect("domain")),
        now,
    );
    let exchange = |client: &mut Client, reply: &[u8]| {
        client.handle_input(reply, now);
        let n = client.transmit(now).map_or(0, |t| t.len());
        client.handle_written(n, now);
    };
    exchange(&mut client, b"220 mx\r\n");
    exchange(&mut client, b"250 mx\r\n");
    let from = ReversePath::try_from("a@example.org").expect("from");
    let to = (0..RECIPIENTS).map(|i| Mailbox::try_from(format!("r{i}@example.org")).expect("to"));
    let id = client
        .send_mail(Envelope::new(from, to))
        .expect("send_mail");
    let n = client.transmit(now).map_or(0, |t| t.len());
    client.handle_written(n, now);
    exchange(&mut client, b"250 ok\r\n");
    let mut sent = 0usize;
    for i in 0..RECIPIENTS {
        let reply = if i + 1 == RECIPIENTS {
            b"250 ok\r\n".to_vec()
        } else {
            big_refusal(i)
        };
        sent += reply.len();
        exchange(&mut client, &reply);
    }
    exchange(&mut client, b"354 go\r\n");
    let mut report = None;
    while let Some(event) = client.poll_event() {
        match event {
            Event::BodyWanted(i) if i == id => {
                let mut body = client.body(id).expect("body");
                body.write(b"Subject: x\r\n\r\nhi\r\n").expect("write");
                body.finish().expect("finish");
                let n = client.transmit(now).map_or(0, |t| t.len());
                client.handle_written(n, now);
                client.handle_input(b"250 queued\r\n", now);
            }
            Event::MailDone(r) => report = Some(r),
            _ => {}
        }
    }
    let report = report.expect("a report");
    assert!(matches!(report.outcome, MailOutcome::Accepted(_)));
    let kept: usize = report
        .recipients
        .iter()
        .filter_map(|r| r.rcpt.as_ref())
        .map(|r| r.as_bytes().len())
        .sum();
    assert!(sent > 60 << 20, "{sent}");
    // 256 KiB at most 1 KiB each, then 64 bytes each.
    assert!(kept <= 256 * 1024 + 1024 + RECIPIENTS * 64, "{kept}");
    let refused: Vec<_> = report.refused().collect();
    assert_eq!(refused.len(), RECIPIENTS - 1);
    // Every refusal keeps its code, enhanced code and first words.
    for (i, (mailbox, reply)) in refused.iter().enumerate() {
        assert_eq!(mailbox.as_str(), format!("r{i}@example.org"));
        assert_eq!(reply.code().get(), 550);
        assert_eq!(
            reply.enhanced_code().map(|e| e.to_string()).as_deref(),
            Some("5.1.1")
        );
        let text = reply.text_lossy();
        assert!(
            text.starts_with(&format!("5.1.1 recipient {i} line 0")),
            "{text}"
        );
    }
    // The first ones keep a whole first line's worth (1 KiB), the last ones 64 bytes.
    assert_eq!(refused[0].1.as_bytes().len(), 1024);
    assert_eq!(refused[RECIPIENTS - 2].1.as_bytes().len(), 64);
}

/// The largest reply the parser takes (512 lines of 8,000 bytes), fed a byte at a time as a
/// dribbling server sends it: the client keeps its place (linear work), and gets it whole.
#[test]
fn the_largest_reply_fed_a_byte_at_a_time_costs_linear_work() {
    let now = Instant::now();
    let mut client = Client::new(
        Config::new(Domain::try_from("client.example").expect("domain")),
        now,
    );
    client.handle_input(b"220 mx\r\n", now);
    let n = client.transmit(now).map_or(0, |t| t.len());
    client.handle_written(n, now);
    let mut ehlo = b"250-mx\r\n".to_vec();
    for line in 1..512 {
        ehlo.extend_from_slice(if line == 511 { b"250 X" } else { b"250-X" });
        ehlo.resize(ehlo.len() + 7990, b'y');
        ehlo.extend_from_slice(b"\r\n");
    }
    for byte in &ehlo {
        client.handle_input(std::slice::from_ref(byte), now);
    }
    assert!(matches!(client.poll_event(), Some(Event::Ready)));
    assert_eq!(client.capabilities().map(|c| c.iter().count()), Some(1));
}
