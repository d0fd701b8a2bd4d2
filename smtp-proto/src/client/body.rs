//! [`BodyWriter`]: the short-lived handle through which a message body is streamed.

use super::{Client, RequestId};
use crate::body::BodyError;

/// Writes the body of one request into the client's outbound buffer, encoding as it goes
/// (DATA: line ends normalised and dot-stuffed; BDAT: normalised and framed in chunks; binary:
/// untouched). Obtained from [`Client::body`] after [`Event::BodyWanted`](super::Event::BodyWanted).
///
/// The writer takes only what fits ([`room`](Self::room)), so a body of any size streams through
/// a bounded buffer: write, flush with `transmit`/`handle_written`, write again.
#[derive(Debug)]
pub struct BodyWriter<'a> {
    client: &'a mut Client,
}

impl<'a> BodyWriter<'a> {
    pub(super) fn new(client: &'a mut Client) -> Self {
        Self { client }
    }

    /// The request this body belongs to.
    pub fn id(&self) -> RequestId {
        self.client.body.as_ref().map_or(RequestId(0), |b| b.id)
    }

    /// How many input bytes [`write`](Self::write) will take now. Zero means: transmit what is
    /// queued first (or, without PIPELINING, wait for the previous BDAT chunk's reply).
    pub fn room(&self) -> usize {
        self.client.body_room()
    }

    /// Encodes and queues up to [`room`](Self::room) bytes of `bytes`; returns how many it took.
    ///
    /// An error ([`BodyError::BareLineEnding`] under
    /// [`BareLineEndings::Reject`](crate::body::BareLineEndings::Reject)) ends the session with
    /// [`Error::Body`](crate::error::Error::Body), so that no truncated message is delivered.
    pub fn write(&mut self, bytes: &[u8]) -> Result<usize, BodyError> {
        self.client.body_write(bytes)
    }

    /// Body bytes taken so far.
    pub fn bytes_written(&self) -> u64 {
        self.client.body.as_ref().map_or(0, |b| b.bytes_in)
    }

    /// Ends the body: queues the DATA terminator (`.`), or the last `BDAT n LAST` chunk.
    pub fn finish(self) -> Result<(), BodyError> {
        self.client.body_finish()
    }
}
