//! Streams a 100 MiB body through the client with a small outbound limit and checks that the
//! client's buffers never exceed it, for DATA and for pipelined BDAT, and that the server side
//! receives exactly the bytes that were written.
#![allow(clippy::disallowed_methods)] // tests take one Instant as virtual time origin

use std::time::Instant;

use smtp_proto::body::DataDecoder;
use smtp_proto::client::{Client, Config, Envelope, Event, Limits};
use smtp_proto::{Domain, Mailbox, ReversePath};

const BODY_LEN: u64 = 100 * 1024 * 1024;
const OUTBOX: usize = 64 * 1024;

/// Produces the body on the fly: 78-byte lines, every 7th starting with a dot.
struct Source {
    produced: u64,
    line: u64,
}

impl Source {
    fn next_chunk(&mut self, max: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(max);
        while out.len() + 80 <= max && self.produced < BODY_LEN {
            let mut line = vec![b'x'; 76];
            if self.line.is_multiple_of(7) {
                line[0] = b'.';
            }
            line.extend_from_slice(b"\r\n");
            let take = (BODY_LEN - self.produced).min(line.len() as u64) as usize;
            out.extend_from_slice(&line[..take]);
            self.produced += take as u64;
            self.line += 1;
        }
        out
    }
}

/// Minimal server: replies to commands, consumes DATA or BDAT payloads, counts body bytes.
struct Server {
    buf: Vec<u8>,
    to_client: Vec<u8>,
    data: Option<DataDecoder>,
    bdat_left: Option<(u64, bool)>,
    body_bytes: u64,
    dots: u64,
    chunking: bool,
}

impl Server {
    fn receive(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if let Some(decoder) = self.data.as_mut() {
                let mut out = Vec::new();
                let used = decoder.push(bytes, &mut out);
                self.dots += out.windows(2).filter(|w| w == b"\n.").count() as u64;
                self.body_bytes += out.len() as u64;
                match used {
                    Some(n) => {
                        self.data = None;
                        self.to_client.extend_from_slice(b"250 2.0.0 queued\r\n");
                        bytes = &bytes[n..];
                    }
                    None => return,
                }
                continue;
            }
            if let Some((left, last)) = self.bdat_left {
                let n = (left as usize).min(bytes.len());
                self.body_bytes += n as u64;
                bytes = &bytes[n..];
                let left = left - n as u64;
                if left == 0 {
                    self.bdat_left = None;
                    self.to_client.extend_from_slice(if last {
                        b"250 2.0.0 queued\r\n"
                    } else {
                        b"250 2.0.0 chunk\r\n"
                    });
                } else {
                    self.bdat_left = Some((left, last));
                }
                continue;
            }
            self.buf.extend_from_slice(bytes);
            bytes = &[];
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
                let reply: &[u8] = if text.starts_with("EHLO") {
                    if self.chunking {
                        b"250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n"
                    } else {
                        b"250-mx.test\r\n250 PIPELINING\r\n"
                    }
                } else if text == "DATA" {
                    self.data = Some(DataDecoder::new());
                    b"354 go\r\n"
                } else if let Some(rest) = text.strip_prefix("BDAT ") {
                    let mut words = rest.split(' ');
                    let n: u64 = words
                        .next()
                        .and_then(|w| w.parse().ok())
                        .expect("BDAT size");
                    let last = words.next() == Some("LAST");
                    if n == 0 {
                        self.to_client.extend_from_slice(b"250 2.0.0 queued\r\n");
                    } else {
                        self.bdat_left = Some((n, last));
                    }
                    // The chunk follows in the buffer: hand it back to the loop.
                    let rest = std::mem::take(&mut self.buf);
                    self.receive(&rest);
                    return;
                } else if text == "QUIT" {
                    b"221 bye\r\n"
                } else {
                    b"250 ok\r\n"
                };
                self.to_client.extend_from_slice(reply);
            }
        }
    }
}

fn stream(chunking: bool) -> Server {
    let now = Instant::now();
    let mut config = Config::new(Domain::try_from("client.test").unwrap());
    config.limits = Limits {
        outbox: OUTBOX,
        bdat_chunk: 16 * 1024,
        ..Limits::default()
    };
    let mut client = Client::new(config, now);
    let mut server = Server {
        buf: Vec::new(),
        to_client: b"220 mx.test\r\n".to_vec(),
        data: None,
        bdat_left: None,
        body_bytes: 0,
        dots: 0,
        chunking,
    };
    let mut source = Source {
        produced: 0,
        line: 0,
    };
    let mut pending_chunk: Vec<u8> = Vec::new();
    let mut body = None;
    let mut max_out = 0;
    let mut done = false;
    let mut rounds = 0u64;
    while !done {
        rounds += 1;
        assert!(rounds < 50_000_000, "no progress");
        if let Some(id) = body {
            if let Some(mut w) = client.body(id) {
                if pending_chunk.is_empty() {
                    pending_chunk = source.next_chunk(32 * 1024);
                }
                if pending_chunk.is_empty() {
                    w.finish().unwrap();
                    body = None;
                } else {
                    let n = w.write(&pending_chunk).unwrap();
                    pending_chunk.drain(..n);
                }
            } else {
                body = None;
            }
        }
        max_out = max_out.max(client.buffered_output());
        assert!(
            client.buffered_output() <= OUTBOX,
            "outbox {} over {OUTBOX}",
            client.buffered_output()
        );
        // Write at most 8 KiB per step, like a socket with a small send buffer.
        if let Some(out) = client.transmit(now) {
            let n = out.len().min(8 * 1024);
            let sent = out[..n].to_vec();
            client.handle_written(n, now);
            server.receive(&sent);
        }
        while let Some(event) = client.poll_event() {
            match event {
                Event::Ready => {
                    let env = Envelope::new(
                        ReversePath::try_from("a@test").unwrap(),
                        [Mailbox::try_from("b@test").unwrap()],
                    );
                    client.send_mail(env).unwrap();
                }
                Event::BodyWanted(id) => body = Some(id),
                Event::MailDone(report) => {
                    assert!(report.is_accepted(), "{report:?}");
                    client.quit();
                }
                Event::Closed(e) => {
                    assert!(e.is_none(), "{e:?}");
                    done = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if !server.to_client.is_empty() {
            let input = std::mem::take(&mut server.to_client);
            client.handle_input(&input, now);
        }
        assert!(client.buffered_input() <= 8192);
    }
    assert!(
        max_out > OUTBOX / 2,
        "the limit was never approached: {max_out}"
    );
    server
}

#[test]
fn hundred_mib_through_data_stays_bounded() {
    let server = stream(false);
    // The last line is partial: DATA adds the missing CRLF before the terminator.
    assert_ne!(BODY_LEN % 78, 0);
    assert_eq!(server.body_bytes, BODY_LEN + 2);
    assert!(server.dots > 0);
}

#[test]
fn hundred_mib_through_pipelined_bdat_stays_bounded() {
    let server = stream(true);
    // BDAT adds the missing final CRLF too (DATA and BDAT deliver the same message).
    assert_eq!(server.body_bytes, BODY_LEN + 2);
}
