//! `send_message`'s header work: the header block read from an `AsyncRead` (bounded by
//! [`MAX_HEADER_BLOCK`]), the envelope taken from it as smtplib does, and the block re-emitted
//! without `Bcc` / `Resent-Bcc`. The body is never read here.

use futures_lite::{AsyncRead, AsyncReadExt};
use mail_parser::{Address, HeaderName, HeaderValue, MessageParser};

use crate::{Error, Result, MAX_HEADER_BLOCK};

/// A message split for sending.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The envelope sender (addr-spec) named by the headers.
    pub(crate) from: Option<String>,
    /// The envelope recipients (addr-specs), in smtplib's order.
    pub(crate) to: Vec<String>,
    /// The header block to send (no Bcc / Resent-Bcc), its empty line included.
    pub(crate) head: Vec<u8>,
    /// What was read past the header block: the start of the body.
    pub(crate) rest: Vec<u8>,
}

impl Prepared {
    /// Whether the header block to send has bytes above 0x7F.
    pub(crate) fn eight_bit_head(&self) -> bool {
        !self.head.is_ascii()
    }
}

/// Reads the header block of `reader` and takes the envelope from it.
pub(crate) async fn prepare<R>(reader: &mut R) -> Result<Prepared>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut block = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut scanned = 0;
    let rest = loop {
        if let Some(end) = header_end(&block, scanned) {
            break block.split_off(end);
        }
        if block.len() > MAX_HEADER_BLOCK {
            return Err(Error::Message(format!(
                "the header block is longer than {MAX_HEADER_BLOCK} bytes"
            )));
        }
        scanned = block.len();
        let n = match reader.read(&mut chunk).await {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => other?,
        };
        match chunk.get(..n) {
            Some(bytes) if n > 0 => block.extend_from_slice(bytes),
            _ => break Vec::new(),
        }
    };
    split_envelope(block, rest)
}

/// Where the header block ends (just past its empty line), looking again from about `from`.
/// A message that starts with an empty line has no headers.
fn header_end(buf: &[u8], from: usize) -> Option<usize> {
    for blank in [&b"\n"[..], b"\r\n"] {
        if buf.starts_with(blank) {
            return Some(blank.len());
        }
    }
    let start = from.saturating_sub(2);
    let window = buf.get(start..)?;
    let found = window
        .windows(3)
        .position(|w| matches!(w, [b'\n', b'\n', _] | [b'\n', b'\r', b'\n']));
    match found {
        Some(i) if window.get(i + 1) == Some(&b'\n') => Some(start + i + 2),
        Some(i) => Some(start + i + 3),
        None => buf.ends_with(b"\n\n").then_some(buf.len()),
    }
}

/// The envelope of a header block (smtplib's rules), and the block without blind copies.
fn split_envelope(block: Vec<u8>, rest: Vec<u8>) -> Result<Prepared> {
    let parsed = MessageParser::default().parse_headers(&block);
    let headers = parsed.as_ref().map(|m| m.headers()).unwrap_or_default();
    let resent = match headers
        .iter()
        .filter(|h| h.name == HeaderName::ResentDate)
        .count()
    {
        0 => false,
        1 => true,
        _ => {
            return Err(Error::Message(
                "the message has more than one Resent- header block".into(),
            ))
        }
    };
    // With one Resent- block, its fields name the envelope; else the original ones do.
    let [sender, author, to, cc, bcc] = if resent {
        [
            HeaderName::ResentSender,
            HeaderName::ResentFrom,
            HeaderName::ResentTo,
            HeaderName::ResentCc,
            HeaderName::ResentBcc,
        ]
    } else {
        [
            HeaderName::Sender,
            HeaderName::From,
            HeaderName::To,
            HeaderName::Cc,
            HeaderName::Bcc,
        ]
    };
    let field = |name: &HeaderName<'_>| headers.iter().find(|h| h.name == *name);
    let from = field(&sender)
        .or_else(|| field(&author))
        .and_then(|h| addr_specs(&h.value).into_iter().next());
    // smtplib's order: the first To, then the first Bcc, then the first Cc.
    let to = [to, bcc, cc]
        .iter()
        .filter_map(field)
        .flat_map(|h| addr_specs(&h.value))
        .collect();
    let mut head = Vec::with_capacity(block.len());
    let mut kept_from = 0;
    for blind in headers
        .iter()
        .filter(|h| matches!(h.name, HeaderName::Bcc | HeaderName::ResentBcc))
    {
        let (start, end) = (blind.offset_field as usize, blind.offset_end as usize);
        head.extend_from_slice(block.get(kept_from..start).unwrap_or_default());
        kept_from = end.max(start);
    }
    head.extend_from_slice(block.get(kept_from..).unwrap_or_default());
    Ok(Prepared {
        from,
        to,
        head,
        rest,
    })
}

/// The addr-specs of an address field, groups flattened, empty ones left out.
fn addr_specs(value: &HeaderValue<'_>) -> Vec<String> {
    let HeaderValue::Address(address) = value else {
        return Vec::new();
    };
    let addrs: Box<dyn Iterator<Item = &mail_parser::Addr<'_>>> = match address {
        Address::List(list) => Box::new(list.iter()),
        Address::Group(groups) => Box::new(groups.iter().flat_map(|g| g.addresses.iter())),
    };
    addrs
        .filter_map(|a| a.address.as_deref().map(str::trim))
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(message: &[u8]) -> Result<Prepared> {
        let mut reader = message;
        smol::block_on(prepare(&mut reader))
    }

    #[test]
    fn envelope_from_headers_with_bcc_removed() {
        let p = prep(
            b"From: A <a@x.org>\r\nTo: b@y.org, \"C\" <c@y.org>\r\nBcc: h@z.org,\r\n  i@z.org\r\n\
Cc: d@y.org\r\nSubject: s\r\nBCC: j@z.org\r\n\r\nbody\r\nBcc: text\r\n",
        )
        .expect("prepare");
        assert_eq!(p.from.as_deref(), Some("a@x.org"));
        assert_eq!(
            p.to,
            ["b@y.org", "c@y.org", "h@z.org", "i@z.org", "d@y.org"]
        );
        assert_eq!(
            p.head,
            b"From: A <a@x.org>\r\nTo: b@y.org, \"C\" <c@y.org>\r\nCc: d@y.org\r\nSubject: s\r\n\r\n"
        );
        assert_eq!(p.rest, b"body\r\nBcc: text\r\n");
        assert!(!p.eight_bit_head());
    }

    #[test]
    fn sender_resent_blocks_groups_and_limits() {
        let p = prep(b"From: a@x.org\nSender: s@x.org\nTo: b@y.org\n\nbody\n").expect("prepare");
        assert_eq!((p.from.as_deref(), p.to.len()), (Some("s@x.org"), 1));
        let p = prep(
            b"Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\nResent-From: r@x.org\n\
Resent-To: n@y.org\nResent-Bcc: q@y.org\nFrom: a@x.org\nTo: o@y.org\nBcc: p@y.org\n\nhi\n",
        )
        .expect("resent");
        assert_eq!(p.from.as_deref(), Some("r@x.org"));
        assert_eq!(p.to, ["n@y.org", "q@y.org"]);
        assert!(!String::from_utf8_lossy(&p.head)
            .to_ascii_lowercase()
            .contains("bcc"));
        let two = b"Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\nResent-Date: Tue, 2 Jan 2024 \
00:00:00 +0000\nTo: b@y.org\n\n";
        assert!(matches!(prep(two), Err(Error::Message(_))));
        let p =
            prep("From: jö@exämple.org\nCc: T: a@x.org, b@x.org;\n\nx".as_bytes()).expect("group");
        assert_eq!(p.to, ["a@x.org", "b@x.org"]);
        assert!(p.eight_bit_head());
        let big = vec![b'X'; MAX_HEADER_BLOCK + 10];
        assert!(matches!(prep(&big), Err(Error::Message(_))));
    }

    #[test]
    fn header_end_in_every_shape() {
        assert_eq!(header_end(b"\r\nbody", 0), Some(2));
        assert_eq!(header_end(b"\nbody", 0), Some(1));
        assert_eq!(header_end(b"A: b\n\nbody", 0), Some(6));
        assert_eq!(header_end(b"A: b\r\n\r\nbody", 0), Some(8));
        assert_eq!(header_end(b"A: b\n\r\nbody", 0), Some(7));
        assert_eq!(header_end(b"A: b\n\n", 0), Some(6));
        assert_eq!(header_end(b"A: b\r\n\r", 0), None);
        assert_eq!(header_end(b"A: b\r\nC: d\r\n", 0), None);
        // Found again when the blank line straddles two reads.
        assert_eq!(header_end(b"A: b\r\n\r\n", 6), Some(8));
        let p = prep(b"To: a@b.org\r\nFrom: c@d.org\r\n").expect("no blank line");
        assert_eq!((p.to.len(), p.rest.len()), (1, 0));
    }
}
