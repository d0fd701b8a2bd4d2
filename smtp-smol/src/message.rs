//! `send_message`'s I/O half, async: the header block read from an `AsyncRead` into the core's
//! [`HeaderBlock`] (bounded by [`MAX_HEADER_BLOCK`](crate::MAX_HEADER_BLOCK)), then the core's
//! [`parse_headers`] takes the envelope from it. Only the header block is held in memory.

use futures_lite::{AsyncRead, AsyncReadExt};
use smtp_proto::message::{parse_headers, HeaderBlock, MessageHeaders, SplitMessage};

use crate::{Error, Result};

/// Reads the header block of `reader` (all of it when it has no empty line) and parses it.
/// Returns the headers and whatever was read past the block (the body's first bytes).
pub(crate) async fn read_headers<R>(reader: &mut R) -> Result<(MessageHeaders, Vec<u8>)>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let unusable = |e: smtp_proto::message::MessageError| Error::Message(e.to_string());
    let mut block = HeaderBlock::new();
    let mut chunk = [0u8; 8192];
    let split = loop {
        let n = match reader.read(&mut chunk).await {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => other?,
        };
        let Some(read) = chunk.get(..n).filter(|r| !r.is_empty()) else {
            let header = block.finish();
            break SplitMessage {
                header,
                body_start: Vec::new(),
            };
        };
        if let Some(split) = block.push(read).map_err(unusable)? {
            break split;
        }
    };
    let headers = parse_headers(&split.header).map_err(unusable)?;
    Ok((headers, split.body_start))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out one byte per read.
    struct Trickle<'a>(&'a [u8]);

    impl futures_lite::AsyncRead for Trickle<'_> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    1
                }
                _ => 0,
            };
            std::task::Poll::Ready(Ok(n))
        }
    }

    fn read(message: &[u8]) -> Result<(MessageHeaders, Vec<u8>)> {
        smol::block_on(read_headers(&mut Trickle(message)))
    }

    #[test]
    fn the_header_block_is_found_across_reads_and_the_body_start_kept() {
        let message = b"From: a@x.org\r\nTo: b@y.org\r\nBcc: c@z.org\r\n\r\nbody";
        let mut trickle = Trickle(message);
        let (headers, rest) = smol::block_on(read_headers(&mut trickle)).expect("headers");
        assert_eq!(headers.from.as_deref(), Some("a@x.org"));
        assert_eq!(headers.to, ["b@y.org", "c@z.org"]);
        assert_eq!(headers.head, b"From: a@x.org\r\nTo: b@y.org\r\n\r\n");
        assert_eq!((rest.as_slice(), trickle.0), (&b""[..], &b"body"[..]));
        let mut whole: &[u8] = message;
        let (_, rest) = smol::block_on(read_headers(&mut whole)).expect("headers");
        assert_eq!(rest, b"body", "read in one go: the body's start comes back");
        let (headers, rest) = read(b"To: b@y.org\r\n").expect("no empty line");
        assert_eq!((headers.to.len(), rest.len()), (1, 0));
    }

    #[test]
    fn unusable_headers_are_message_errors() {
        let big = vec![b'X'; crate::MAX_HEADER_BLOCK + 10];
        let mut reader = big.as_slice();
        let result = smol::block_on(read_headers(&mut reader));
        assert!(matches!(result, Err(Error::Message(_))));
        let two = b"Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\nResent-Date: Tue, 2 Jan 2024 \
00:00:00 +0000\nTo: b@y.org\n\n";
        assert!(matches!(read(two), Err(Error::Message(_))));
    }
}
