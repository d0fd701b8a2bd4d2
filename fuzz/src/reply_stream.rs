//! `reply_stream` target: a stream of replies fed to one [`ReplyParser`] in arbitrary splits.
//!
//! Input: `[limits a][limits b][split style][split seed][stream...]` (see [`limits_from`] and
//! [`chunk_lengths`]); a first byte `a == 0xFF` keeps the default limits instead.
//!
//! Property: feeding the stream in any split (growing a buffer, consuming `n` on
//! `Complete((_, n))`, as documented on `ReplyParser::parse`) gives the same sequence of replies,
//! then the same error (or the same unconsumed tail), as parsing the whole stream at once. Checked
//! for the input's split, byte by byte, and with a parser that keeps consumed bytes in its buffer
//! (slicing instead of draining).

use smtp_proto::{ReplyLimits, ReplyParser};

use crate::reply::{outcome, Outcome};
use crate::util::{chunk_lengths, limits_from, show, split, Reader, Rng};

/// What a whole stream gave: the replies in order, then an error or the undecided tail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    /// Each complete reply: code and bytes.
    pub replies: Vec<(u16, Vec<u8>)>,
    /// The error that ended the stream, if any.
    pub error: Option<smtp_proto::reply::ParseError>,
    /// Bytes left over (an incomplete reply), when no error ended the stream.
    pub tail: Vec<u8>,
}

/// Runs the property on `data`.
pub fn check(data: &[u8]) {
    let mut r = Reader::new(data);
    let (a, b) = (r.u8(), r.u8());
    let limits = if a == 0xFF {
        ReplyLimits::default()
    } else {
        limits_from(a, b)
    };
    let style = r.u8();
    let seed = r.u8();
    let stream = r.rest();

    let whole = parse_whole(stream, limits);
    let mut rng = Rng::new(u64::from(seed) << 8 | u64::from(style));
    let lengths = chunk_lengths(stream.len(), style, &mut rng);
    let fed = parse_split(&split(stream, &lengths), limits, true);
    assert_eq!(fed, whole, "split {lengths:?} of {}", show(stream));
    if stream.len() <= 4096 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse_split(&bytes, limits, false), whole, "byte by byte");
    }
}

/// Parses the whole stream: reply after reply from one buffer.
pub fn parse_whole(stream: &[u8], limits: ReplyLimits) -> Transcript {
    let mut parser = ReplyParser::new(limits);
    let mut at = 0;
    let mut replies = Vec::new();
    loop {
        match outcome(&mut parser, &stream[at..]) {
            Outcome::Complete(code, raw) => {
                at += raw.len();
                replies.push((code, raw));
            }
            Outcome::Partial => {
                return Transcript {
                    replies,
                    error: None,
                    tail: stream[at..].to_vec(),
                }
            }
            Outcome::Error(e) => {
                return Transcript {
                    replies,
                    error: Some(e),
                    tail: Vec::new(),
                }
            }
        }
    }
}

/// Feeds `chunks` one after another into a growing buffer. With `drain`, consumed bytes are
/// removed from the buffer (as the client does); without, the buffer keeps them and is sliced.
pub fn parse_split(chunks: &[&[u8]], limits: ReplyLimits, drain: bool) -> Transcript {
    let mut parser = ReplyParser::new(limits);
    let mut buf = Vec::new();
    let mut start = 0;
    let mut replies = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match outcome(&mut parser, &buf[start..]) {
                Outcome::Complete(code, raw) => {
                    if drain {
                        buf.drain(..raw.len());
                    } else {
                        start += raw.len();
                    }
                    replies.push((code, raw));
                }
                Outcome::Partial => break,
                Outcome::Error(e) => {
                    return Transcript {
                        replies,
                        error: Some(e),
                        tail: Vec::new(),
                    }
                }
            }
        }
    }
    Transcript {
        replies,
        error: None,
        tail: buf[start..].to_vec(),
    }
}
