//! `send_message`'s I/O half: reads a message's header block from a `Read` (bounded) and hands
//! it to the core's [`smtp_proto::message`], which takes the envelope from it and strips
//! `Bcc`/`Resent-Bcc`. Only the header block is held in memory; the body streams.

use std::io::{self, Read};

use smtp_proto::message::{parse_headers, HeaderBlock};

use smtp_proto::session::{Error, Result};

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
    let mut block = HeaderBlock::new();
    let mut chunk = [0u8; 8192];
    let (head, body_start) = loop {
        let n = match reader.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Io(e)),
        };
        if n == 0 {
            break (block.finish(), Vec::new());
        }
        let read = chunk.get(..n).unwrap_or_default();
        let split = block
            .push(read)
            .map_err(|e| Error::Message(e.to_string()))?;
        if let Some(split) = split {
            break (split.header, split.body_start);
        }
    };
    let headers = parse_headers(&head).map_err(|e| Error::Message(e.to_string()))?;
    Ok(Prepared {
        from: headers.from,
        to: headers.to,
        head: headers.head,
        body_start,
        eight_bit_head: headers.eight_bit_head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_block_is_read_across_one_byte_reads_and_the_body_start_kept() {
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
        let mut r = OneByte(b"To: a@b.org\r\nBcc: c@d.org\r\n\r\nbody");
        let p = prepare(&mut r).expect("prepare");
        assert_eq!(p.head, b"To: a@b.org\r\n\r\n");
        assert_eq!(p.to, ["a@b.org", "c@d.org"]);
        let mut rest = p.body_start;
        r.read_to_end(&mut rest).expect("read");
        assert_eq!(rest, b"body");
    }

    #[test]
    fn refusals_from_the_core_become_message_errors() {
        let two_resent = b"Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\nResent-Date: Tue, 2 Jan 2024 00:00:00 +0000\nTo: b@y.org\n\n";
        assert!(matches!(
            prepare(&mut &two_resent[..]),
            Err(Error::Message(_))
        ));
        let big = vec![b'X'; smtp_proto::message::MAX_HEADER_BLOCK + 10];
        assert!(matches!(prepare(&mut &big[..]), Err(Error::Message(_))));
    }
}
