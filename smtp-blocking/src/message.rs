//! `send_message`'s header work: the envelope taken from an RFC 5322 header block (as smtplib's
//! `send_message`), and the block re-emitted without `Bcc`/`Resent-Bcc`. Only the header block is
//! held in memory; the body streams.

use std::io::{self, Read};

use mail_parser::{Address, HeaderName, HeaderValue, MessageParser};

use crate::error::{Error, Result};

/// The largest header block `send_message` reads (1 MiB): the body is streamed, the headers are
/// not.
pub const MAX_HEADER_BLOCK: usize = 1024 * 1024;

/// A message split for sending: the envelope, the rewritten header block and the body's start.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The envelope sender (addr-spec), `None` when the message names none.
    pub(crate) from: Option<String>,
    /// The envelope recipients (addr-specs), in header order.
    pub(crate) to: Vec<String>,
    /// The header block as it will be sent (Bcc/Resent-Bcc removed), blank line included.
    pub(crate) head: Vec<u8>,
    /// Bytes read past the header block: the start of the body.
    pub(crate) body_start: Vec<u8>,
    /// Whether the header block holds bytes above 0x7F.
    pub(crate) eight_bit_head: bool,
}

/// Reads the header block of `reader` (up to and including the first empty line, or all of it
/// when there is none) and takes the envelope from it.
pub(crate) fn prepare(reader: &mut dyn Read) -> Result<Prepared> {
    let (block, body_start) = read_header_block(reader)?;
    let message = MessageParser::default().parse_headers(&block);
    let headers = message.as_ref().map(|m| m.headers()).unwrap_or_default();

    let resent_blocks = headers
        .iter()
        .filter(|h| h.name == HeaderName::ResentDate)
        .count();
    if resent_blocks > 1 {
        return Err(Error::Message(
            "the message has more than one Resent- header block".into(),
        ));
    }
    let resent = resent_blocks == 1;
    let (sender, from, to, cc, bcc) = if resent {
        (
            HeaderName::ResentSender,
            HeaderName::ResentFrom,
            HeaderName::ResentTo,
            HeaderName::ResentCc,
            HeaderName::ResentBcc,
        )
    } else {
        (
            HeaderName::Sender,
            HeaderName::From,
            HeaderName::To,
            HeaderName::Cc,
            HeaderName::Bcc,
        )
    };
    let first = |name: &HeaderName<'_>| headers.iter().find(|h| &h.name == name);
    let from = first(&sender)
        .or_else(|| first(&from))
        .and_then(|h| addresses(&h.value).into_iter().next());
    // smtplib's order: the first To, then the first Bcc, then the first Cc.
    let to = [to, bcc, cc]
        .iter()
        .filter_map(first)
        .flat_map(|h| addresses(&h.value))
        .collect();

    let mut head = Vec::with_capacity(block.len());
    let mut at = 0usize;
    for h in headers {
        if matches!(h.name, HeaderName::Bcc | HeaderName::ResentBcc) {
            // `offset_end` is past the field's line end (continuation lines included).
            let start = h.offset_field as usize;
            let end = h.offset_end as usize;
            head.extend_from_slice(block.get(at..start).unwrap_or_default());
            at = end.max(start);
        }
    }
    head.extend_from_slice(block.get(at..).unwrap_or_default());
    Ok(Prepared {
        from,
        to,
        eight_bit_head: !head.is_ascii(),
        head,
        body_start,
    })
}

/// Every addr-spec of an address header (groups flattened, empty ones skipped).
fn addresses(value: &HeaderValue<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |address: Option<&str>| {
        if let Some(a) = address.map(str::trim).filter(|a| !a.is_empty()) {
            out.push(a.to_owned());
        }
    };
    if let HeaderValue::Address(address) = value {
        match address {
            Address::List(list) => list.iter().for_each(|a| push(a.address.as_deref())),
            Address::Group(groups) => groups
                .iter()
                .flat_map(|g| g.addresses.iter())
                .for_each(|a| push(a.address.as_deref())),
        }
    }
    out
}

/// Reads until the end of the header block (an empty line) or EOF; returns the block (its empty
/// line included) and whatever was read past it.
fn read_header_block(reader: &mut dyn Read) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut scanned = 0usize;
    loop {
        if let Some(end) = header_end(&buf, scanned) {
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        scanned = buf.len().saturating_sub(3);
        if buf.len() > MAX_HEADER_BLOCK {
            return Err(Error::Message(format!(
                "the header block is longer than {MAX_HEADER_BLOCK} bytes"
            )));
        }
        let n = match reader.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Io(e)),
        };
        if n == 0 {
            return Ok((buf, Vec::new()));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// The offset just past the empty line that ends the header block, searching from `from`.
/// A message that starts with an empty line has no headers.
fn header_end(buf: &[u8], from: usize) -> Option<usize> {
    if buf.starts_with(b"\r\n") {
        return Some(2);
    }
    if buf.starts_with(b"\n") {
        return Some(1);
    }
    let mut i = from;
    while let Some(rel) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let lf = i + rel;
        let next = buf.get(lf + 1..)?;
        if next.starts_with(b"\n") {
            return Some(lf + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(lf + 3);
        }
        if next.is_empty() || (next == b"\r") {
            return None;
        }
        i = lf + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(msg: &[u8]) -> Prepared {
        let mut r = msg;
        prepare(&mut r).expect("prepare")
    }

    #[test]
    fn envelope_from_from_to_cc_bcc_and_bcc_stripped() {
        let msg = b"From: Alice <alice@example.org>\r\nTo: bob@example.net, \"C\" <carol@example.net>\r\n\
Bcc: hidden@example.com,\r\n  also-hidden@example.com\r\nCc: dave@example.net\r\n\
Subject: hi\r\nBCC: second@example.com\r\n\r\nBody line\r\nBcc: not a header\r\n";
        let p = prep(msg);
        assert_eq!(p.from.as_deref(), Some("alice@example.org"));
        assert_eq!(
            p.to,
            [
                "bob@example.net",
                "carol@example.net",
                "hidden@example.com",
                "also-hidden@example.com",
                "dave@example.net"
            ]
        );
        assert_eq!(
            p.head,
            b"From: Alice <alice@example.org>\r\nTo: bob@example.net, \"C\" <carol@example.net>\r\n\
Cc: dave@example.net\r\nSubject: hi\r\n\r\n"
        );
        assert_eq!(p.body_start, b"Body line\r\nBcc: not a header\r\n");
        assert!(!p.eight_bit_head);
    }

    #[test]
    fn sender_wins_over_from() {
        let p = prep(b"From: a@x.org\nSender: s@x.org\nTo: b@y.org\n\nbody\n");
        assert_eq!(p.from.as_deref(), Some("s@x.org"));
        assert_eq!(p.to, ["b@y.org"]);
        assert_eq!(p.head, b"From: a@x.org\nSender: s@x.org\nTo: b@y.org\n\n");
    }

    #[test]
    fn resent_block_is_used_and_both_bccs_stripped() {
        let msg = b"Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nResent-From: r@x.org\r\n\
Resent-To: new@y.org\r\nResent-Bcc: secret@y.org\r\nFrom: a@x.org\r\nTo: old@y.org\r\n\
Bcc: oldsecret@y.org\r\n\r\nhi\r\n";
        let p = prep(msg);
        assert_eq!(p.from.as_deref(), Some("r@x.org"));
        assert_eq!(p.to, ["new@y.org", "secret@y.org"]);
        let head = String::from_utf8(p.head).expect("ascii");
        assert!(!head.to_ascii_lowercase().contains("bcc"), "{head}");
        assert!(head.contains("Resent-To: new@y.org\r\nFrom: a@x.org\r\nTo: old@y.org\r\n\r\n"));
    }

    #[test]
    fn two_resent_blocks_are_refused() {
        let msg = b"Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\nResent-Date: Tue, 2 Jan 2024 00:00:00 +0000\nFrom: a@x.org\nTo: b@y.org\n\n";
        let mut r: &[u8] = msg;
        assert!(matches!(prepare(&mut r), Err(Error::Message(_))));
    }

    #[test]
    fn groups_and_utf8_addresses() {
        let msg =
            "From: jö@exämple.org\nTo: undisclosed-recipients:;\nCc: Team: a@x.org, b@x.org;\n\nx"
                .as_bytes();
        let p = prep(msg);
        assert_eq!(p.from.as_deref(), Some("jö@exämple.org"));
        assert_eq!(p.to, ["a@x.org", "b@x.org"]);
        assert!(p.eight_bit_head);
    }

    #[test]
    fn header_block_end_is_found_across_reads() {
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match (self.0.split_first(), buf.first_mut()) {
                    (Some((b, rest)), Some(slot)) => {
                        *slot = *b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let mut r = OneByte(b"To: a@b.org\r\nFrom: c@d.org\r\n\r\nbody");
        let p = prepare(&mut r).expect("prepare");
        assert_eq!(p.head, b"To: a@b.org\r\nFrom: c@d.org\r\n\r\n");
        let mut rest = p.body_start;
        r.read_to_end(&mut rest).expect("read");
        assert_eq!(rest, b"body");
        // No blank line at all: everything is header.
        let p = prep(b"To: a@b.org\r\nFrom: c@d.org\r\n");
        assert_eq!(p.to, ["a@b.org"]);
        assert!(p.body_start.is_empty());
        // Headerless message.
        let p = prep(b"\r\nonly body\r\n");
        assert_eq!(p.head, b"\r\n");
        assert!(p.from.is_none() && p.to.is_empty());
    }

    #[test]
    fn oversized_header_block_is_refused() {
        let big = vec![b'X'; MAX_HEADER_BLOCK + 10];
        let mut r: &[u8] = &big;
        assert!(matches!(prepare(&mut r), Err(Error::Message(_))));
    }
}
