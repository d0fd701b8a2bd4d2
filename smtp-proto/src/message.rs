//! The envelope of an RFC 5322 message, taken from its header block as smtplib's `send_message`
//! does (feature `message`, which adds the `mail-parser` dependency).
//!
//! Sans-IO like the rest of the crate: a [`HeaderBlock`] accumulates bytes from any source until
//! the empty line that ends the header block, within a bound; [`parse_headers`] then takes the
//! envelope from the block and re-emits it without `Bcc`/`Resent-Bcc`. The body is never held:
//! whatever followed the header block in the last chunk is handed back for streaming.
//!
//! smtplib's rules: when the message has one `Resent-*` block, the sender is the first
//! `Resent-Sender` or else `Resent-From`, the recipients are those of `Resent-To`,
//! `Resent-Bcc` and `Resent-Cc`; otherwise `Sender`/`From` and `To`/`Bcc`/`Cc`. More than one
//! `Resent-` block is an error.

use mail_parser::{Address, HeaderName, HeaderValue, MessageParser};

/// The largest header block accepted (1 MiB).
pub const MAX_HEADER_BLOCK: usize = 1024 * 1024;

/// Why a message's headers cannot give an envelope.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The header block has no end within [`MAX_HEADER_BLOCK`] bytes.
    #[error("the header block is longer than {MAX_HEADER_BLOCK} bytes")]
    HeaderBlockTooLong,
    /// More than one `Resent-` block: smtplib refuses to guess.
    #[error("the message has more than one Resent- header block")]
    MultipleResentBlocks,
}

/// What [`parse_headers`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageHeaders {
    /// The envelope sender (an addr-spec), if the headers name one.
    pub from: Option<String>,
    /// The envelope recipients (addr-specs), in smtplib's order.
    pub to: Vec<String>,
    /// The header block as it is to be sent: `Bcc`/`Resent-Bcc` fields removed, the empty line
    /// that ends it included.
    pub head: Vec<u8>,
    /// Whether `head` holds bytes above 0x7F.
    pub eight_bit_head: bool,
}

/// A complete header block and the bytes that followed it in the last chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMessage {
    /// The header block, the empty line that ends it included.
    pub header: Vec<u8>,
    /// What followed the header block: the start of the body.
    pub body_start: Vec<u8>,
}

/// Accumulates a message's first bytes until its header block is complete.
#[derive(Clone, Debug, Default)]
pub struct HeaderBlock {
    buf: Vec<u8>,
    scanned: usize,
}

impl HeaderBlock {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the message; `Ok(Some(_))` once the header block is complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Option<SplitMessage>, MessageError> {
        self.buf.extend_from_slice(bytes);
        if let Some(end) = header_block_end(&self.buf, self.scanned) {
            let mut header = std::mem::take(&mut self.buf);
            let body_start = header.split_off(end);
            return Ok(Some(SplitMessage { header, body_start }));
        }
        self.scanned = self.buf.len().saturating_sub(3);
        if self.buf.len() > MAX_HEADER_BLOCK {
            return Err(MessageError::HeaderBlockTooLong);
        }
        Ok(None)
    }

    /// The message ended: everything read is header (a message without a body).
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// [`push`](Self::push) then [`parse_headers`], for a loop that reads a message in chunks:
    /// `bytes` empty means the message ended. `Ok(Some(_))` once the header block is complete:
    /// its headers, and what was read past it (the body's first bytes).
    ///
    /// ```
    /// use smtp_proto::message::HeaderBlock;
    ///
    /// let mut block = HeaderBlock::new();
    /// assert!(block.feed(b"From: a@example.org\r\nBcc: b@exa")?.is_none());
    /// let (headers, rest) = block.feed(b"mple.net\r\n\r\nHi\r\n")?.expect("complete");
    /// assert_eq!(headers.to, ["b@example.net"]);
    /// assert_eq!((headers.head.as_slice(), rest.as_slice()), (&b"From: a@example.org\r\n\r\n"[..], &b"Hi\r\n"[..]));
    /// # Ok::<(), smtp_proto::message::MessageError>(())
    /// ```
    pub fn feed(
        &mut self,
        bytes: &[u8],
    ) -> Result<Option<(MessageHeaders, Vec<u8>)>, MessageError> {
        let split = if bytes.is_empty() {
            SplitMessage {
                header: std::mem::take(&mut self.buf),
                body_start: Vec::new(),
            }
        } else {
            match self.push(bytes)? {
                Some(split) => split,
                None => return Ok(None),
            }
        };
        Ok(Some((parse_headers(&split.header)?, split.body_start)))
    }
}

/// The offset just past the empty line that ends the header block, searching from `from`
/// (CRLF or bare LF line ends). A message that starts with an empty line has no headers.
pub fn header_block_end(buf: &[u8], from: usize) -> Option<usize> {
    if buf.starts_with(b"\r\n") {
        return Some(2);
    }
    if buf.starts_with(b"\n") {
        return Some(1);
    }
    let mut i = from;
    while let Some(rel) = memchr::memchr(b'\n', buf.get(i..)?) {
        let lf = i + rel;
        let next = buf.get(lf + 1..)?;
        if next.starts_with(b"\n") {
            return Some(lf + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(lf + 3);
        }
        i = lf + 1;
    }
    None
}

/// Takes the envelope from a complete header block and removes `Bcc`/`Resent-Bcc` from it.
pub fn parse_headers(block: &[u8]) -> Result<MessageHeaders, MessageError> {
    let message = MessageParser::default().parse_headers(block);
    let headers = message.as_ref().map(|m| m.headers()).unwrap_or_default();

    let resent_blocks = headers
        .iter()
        .filter(|h| h.name == HeaderName::ResentDate)
        .count();
    if resent_blocks > 1 {
        return Err(MessageError::MultipleResentBlocks);
    }
    let (sender, from, to, cc, bcc) = if resent_blocks == 1 {
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
    Ok(MessageHeaders {
        from,
        to,
        eight_bit_head: !head.is_ascii(),
        head,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(msg: &[u8]) -> (MessageHeaders, Vec<u8>) {
        let mut block = HeaderBlock::new();
        match block.push(msg).expect("within bounds") {
            Some(split) => (
                parse_headers(&split.header).expect("parse"),
                split.body_start,
            ),
            None => (parse_headers(&block.finish()).expect("parse"), Vec::new()),
        }
    }

    #[test]
    fn envelope_from_from_to_cc_bcc_and_bcc_stripped() {
        let msg = b"From: Alice <alice@example.org>\r\nTo: bob@example.net, \"C\" <carol@example.net>\r\n\
Bcc: hidden@example.com,\r\n  also-hidden@example.com\r\nCc: dave@example.net\r\n\
Subject: hi\r\nBCC: second@example.com\r\n\r\nBody line\r\nBcc: not a header\r\n";
        let (p, rest) = prep(msg);
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
        assert_eq!(rest, b"Body line\r\nBcc: not a header\r\n");
        assert!(!p.eight_bit_head);
    }

    #[test]
    fn sender_wins_over_from() {
        let (p, _) = prep(b"From: a@x.org\nSender: s@x.org\nTo: b@y.org\n\nbody\n");
        assert_eq!(p.from.as_deref(), Some("s@x.org"));
        assert_eq!(p.to, ["b@y.org"]);
        assert_eq!(p.head, b"From: a@x.org\nSender: s@x.org\nTo: b@y.org\n\n");
    }

    #[test]
    fn resent_block_is_used_and_both_bccs_stripped() {
        let msg = b"Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nResent-From: r@x.org\r\n\
Resent-To: new@y.org\r\nResent-Bcc: secret@y.org\r\nFrom: a@x.org\r\nTo: old@y.org\r\n\
Bcc: oldsecret@y.org\r\n\r\nhi\r\n";
        let (p, _) = prep(msg);
        assert_eq!(p.from.as_deref(), Some("r@x.org"));
        assert_eq!(p.to, ["new@y.org", "secret@y.org"]);
        let head = String::from_utf8(p.head).expect("ascii");
        assert!(!head.to_ascii_lowercase().contains("bcc"), "{head}");
        assert!(head.contains("Resent-To: new@y.org\r\nFrom: a@x.org\r\nTo: old@y.org\r\n\r\n"));
    }

    #[test]
    fn two_resent_blocks_are_refused() {
        let msg = b"Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\nResent-Date: Tue, 2 Jan 2024 00:00:00 +0000\nFrom: a@x.org\nTo: b@y.org\n\n";
        assert_eq!(parse_headers(msg), Err(MessageError::MultipleResentBlocks));
    }

    #[test]
    fn groups_and_utf8_addresses() {
        let msg =
            "From: jö@exämple.org\nTo: undisclosed-recipients:;\nCc: Team: a@x.org, b@x.org;\n\nx"
                .as_bytes();
        let (p, _) = prep(msg);
        assert_eq!(p.from.as_deref(), Some("jö@exämple.org"));
        assert_eq!(p.to, ["a@x.org", "b@x.org"]);
        assert!(p.eight_bit_head);
    }

    #[test]
    fn header_block_end_is_found_one_byte_at_a_time() {
        let msg = b"To: a@b.org\r\nFrom: c@d.org\r\n\r\nbody";
        let mut block = HeaderBlock::new();
        let mut found = None;
        for (i, b) in msg.iter().enumerate() {
            if let Some(done) = block.push(std::slice::from_ref(b)).expect("bounded") {
                found = Some((i, done));
                break;
            }
        }
        let (i, split) = found.expect("end found");
        assert_eq!(i, 29);
        assert_eq!(split.header, b"To: a@b.org\r\nFrom: c@d.org\r\n\r\n");
        assert!(split.body_start.is_empty());
        // No blank line at all: everything is header.
        let (p, rest) = prep(b"To: a@b.org\r\nFrom: c@d.org\r\n");
        assert_eq!(p.to, ["a@b.org"]);
        assert!(rest.is_empty());
        // Headerless message.
        let (p, rest) = prep(b"\r\nonly body\r\n");
        assert_eq!(p.head, b"\r\n");
        assert_eq!(rest, b"only body\r\n");
        assert!(p.from.is_none() && p.to.is_empty());
    }

    #[test]
    fn oversized_header_block_is_refused() {
        let big = vec![b'X'; MAX_HEADER_BLOCK + 10];
        assert_eq!(
            HeaderBlock::new().push(&big),
            Err(MessageError::HeaderBlockTooLong)
        );
    }
}
