//! Incremental reply framing and parsing.

use super::{ParseError, Reply, ReplyLimits, Status};

/// Incremental, zero-copy reply parser. Resets itself after each complete reply.
#[derive(Clone, Debug)]
pub struct ReplyParser {
    limits: ReplyLimits,
}

impl ReplyParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: ReplyLimits) -> Self {
        Self { limits }
    }

    /// `Complete((reply, n))`: `reply` borrows `buf[..n]`; the caller consumes `n` bytes.
    /// After `Partial`, call again with a buffer that starts with the same bytes.
    pub fn parse<'b>(&mut self, buf: &'b [u8]) -> Result<Status<(Reply<'b>, usize)>, ParseError> {
        let _ = (buf, self.limits);
        todo!()
    }
}

/// One-shot parse with default limits.
pub fn parse_reply(buf: &[u8]) -> Result<Status<(Reply<'_>, usize)>, ParseError> {
    ReplyParser::new(ReplyLimits::default()).parse(buf)
}
