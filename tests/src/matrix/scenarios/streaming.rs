//! Large bodies streamed through DATA and BDAT without being held in memory ([`Generated`]),
//! and 8-bit content that needs 8BITMIME.

use std::io::{self, Cursor, Read};

use smtp_blocking::{Content, Error, UsageError};
use smtp_proto::body::{normalize_line_endings, CheckedText};

use super::{connect, finished};
use crate::matrix::Adapter;
use crate::server::{fnv1a, Server};

// ------------------------------------------------------------------ streaming

/// A body generated on the fly: numbered lines, some starting with a dot, never in memory whole.
pub struct Generated {
    left: u64,
    line: u64,
    pending: Vec<u8>,
    /// FNV-1a of everything produced so far (what the server receives, un-stuffed).
    pub hash: u64,
}

impl Generated {
    /// A body of `bytes` bytes.
    pub fn new(bytes: u64) -> Self {
        Self {
            left: bytes,
            line: 0,
            pending: Vec::new(),
            hash: fnv1a(&[]),
        }
    }

    fn next_line(&mut self) -> Vec<u8> {
        self.line += 1;
        let mut line = if self.line.is_multiple_of(7) {
            format!(".dotted line {} {}\r\n", self.line, "x".repeat(60))
        } else {
            format!("line {} {}\r\n", self.line, "y".repeat(70))
        }
        .into_bytes();
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        if left < line.len() + 2 {
            // The last line takes all that is left (a 1-byte rest would get a CRLF added), and
            // stays CRLF-clean so that the server sees it byte for byte.
            line = match left {
                0 | 1 => b" ".repeat(left),
                n => [" ".repeat(n - 2).into_bytes(), b"\r\n".to_vec()].concat(),
            };
        }
        line
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() && self.left > 0 {
            let line = self.next_line();
            self.left -= line.len() as u64;
            self.hash = fnv_update(self.hash, &line);
            self.pending = line;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

fn fnv_update(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn stream_large_body<A: Adapter>(server: &Server, size: u64) -> u64 {
    let mut smtp = connect::<A>(server);
    let mut body = Generated::new(size);
    let mut envelope = smtp_blocking::envelope("a@x.org", ["b@y.org"]).expect("envelope");
    envelope.size = Some(size);
    let report = smtp.send_with_report(envelope, &mut body).expect("send");
    assert!(report.is_accepted(), "{report:?}");
    smtp.quit().expect("quit");
    body.hash
}

/// 24 MiB through DATA, generated as it goes.
pub fn a_large_body_streams_through_data<A: Adapter>() {
    let server = Server::builder().keep_data(0).start().expect("server");
    let size = 24 * 1024 * 1024 + 3;
    let hash = stream_large_body::<A>(&server, size);
    let m = &finished(&server, 1)[0].messages[0];
    assert!(!m.bdat);
    assert_eq!((m.size, m.hash), (size, hash));
}

/// 8 MiB through BDAT chunks.
pub fn a_large_body_streams_through_bdat<A: Adapter>() {
    let server = Server::builder()
        .keep_data(0)
        .extension("CHUNKING")
        .start()
        .expect("server");
    let size = 8 * 1024 * 1024 + 1;
    let hash = stream_large_body::<A>(&server, size);
    let m = &finished(&server, 1)[0].messages[0];
    assert!(m.bdat);
    assert_eq!((m.size, m.hash), (size, hash));
}

/// Messages held in memory (`send_all_in_memory`, checked once and lent to the transport
/// where they need no encoding) arrive exactly as the same messages read from readers, which
/// is the encoded text: line-leading dots stuffed and un-stuffed, bare line ends as CRLF.
pub fn bodies_in_memory_arrive_as_read_ones_do<A: Adapter>() {
    let run = b"x".repeat(200);
    let bodies: Vec<Vec<u8>> = vec![
        // Clean text across several lends, a dot-led line now and then.
        [
            &b"Subject: big\r\n\r\n"[..],
            &b"line of text\r\n.dot\r\n".repeat(150_000),
        ]
        .concat(),
        // A CR at the end of a run of the fast path, its LF beyond, a dot behind that.
        [&run[..127], b"\r\n.\r\n", &run[..], b"\r\n"].concat(),
        // Bare line ends and smuggling suspects among long lines.
        [
            &run[..],
            b"\n.\n",
            &run[..],
            b"\r.\r",
            &run[..],
            b"\r\n.\r\n",
            &run[..],
        ]
        .concat(),
        b".".to_vec(),
        Vec::new(),
    ];
    let envelope = || smtp_blocking::envelope("a@x.org", ["b@y.org"]).expect("envelope");
    let server = Server::builder()
        .keep_data(4 * 1024 * 1024)
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&server);
    let messages = bodies.iter().map(|b| (envelope(), b.as_slice())).collect();
    let read = smtp.send_all(messages).expect("send_all");
    let texts = bodies.iter().map(|b| CheckedText::new(b.clone()));
    let messages = texts.map(|t| (envelope(), Cursor::new(t))).collect();
    let lent = smtp
        .send_all_in_memory(messages)
        .expect("send_all_in_memory");
    smtp.quit().expect("quit");
    assert!(read.iter().chain(&lent).all(|r| r.is_accepted()));
    let received = &finished(&server, 1)[0].messages;
    assert_eq!(received.len(), 2 * bodies.len());
    let (by_reader, in_memory) = received.split_at(bodies.len());
    for ((body, a), b) in bodies.iter().zip(by_reader).zip(in_memory) {
        let mut expected = normalize_line_endings(body);
        if !expected.is_empty() && !expected.ends_with(b"\r\n") {
            expected.extend_from_slice(b"\r\n");
        }
        assert_eq!((a.size, a.hash), (expected.len() as u64, fnv1a(&expected)));
        assert_eq!((b.size, b.hash), (a.size, a.hash));
    }
}

/// `Content::EightBit` declares BODY=8BITMIME, and is refused without 8BITMIME.
pub fn eight_bit_content_needs_8bitmime<A: Adapter>() {
    let server = Server::start().expect("server");
    let mut smtp = connect::<A>(&server);
    let mut envelope = smtp_blocking::envelope("a@x.org", ["b@y.org"]).expect("envelope");
    envelope.content = Content::EightBit;
    smtp.sendmail_with(envelope.clone(), &mut "Grüße\r\n".as_bytes())
        .expect("8bit");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    let declared = "MAIL FROM:<a@x.org> BODY=8BITMIME";
    assert!(logs[0].commands.iter().any(|c| c == declared));

    let old = Server::builder()
        .extensions(&["PIPELINING"])
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&old);
    let result = smtp.sendmail_with(envelope, &mut "Grüße\r\n".as_bytes());
    assert!(
        matches!(result, Err(Error::Usage(UsageError::Unsupported(_)))),
        "{result:?}"
    );
}
