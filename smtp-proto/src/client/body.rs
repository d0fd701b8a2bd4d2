//! Body streaming: [`BodyWriter`], the short-lived handle through which a message body is
//! streamed, and the client's side of it (starting a body, encoding what the writer takes,
//! framing BDAT chunks, ending it).

use super::pipeline::Expect;
use super::{BodyState, Client, Event, RequestId, TranscriptEntry};
use crate::body::{BodyEncoder, BodyError};
use crate::command::Command;
use crate::ehlo::Extension;
use crate::error::Error;

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

    /// Takes the leading bytes of `bytes` that go on the wire exactly as they are, for the
    /// caller to write from its own memory instead of having them copied into the outbox;
    /// returns how many (0: use [`write`](Self::write)).
    ///
    /// They are checked as `write` would encode them (every CR in a CRLF, no line-leading dot),
    /// in whole runs: a short tail, and the bytes from the first that needs encoding, are left
    /// to `write`; and only a piece worth a write of its own is lent, at least [`MIN_LEND`]
    /// bytes. Taken, they count as body bytes written, and they become the next bytes to
    /// write: [`Client::lent`] counts them down as [`Client::handle_written`] reports them
    /// written, and until then nothing else goes out and [`room`](Self::room) is 0. Only a DATA
    /// body lends, and only when nothing else waits to be written.
    pub fn lend(&mut self, bytes: &[u8]) -> usize {
        self.client.body_lend(bytes)
    }

    /// [`lend`](Self::lend) for the bytes of `text` from `at` on, at most `max` of them: a
    /// text checked once ([`CheckedText`](crate::body::CheckedText)) is lent without being
    /// checked again. `text.bytes()[at..]` must be what the body goes on with.
    pub fn lend_checked(
        &mut self,
        text: &crate::body::CheckedText,
        at: usize,
        max: usize,
    ) -> usize {
        self.client
            .body_lend_with(|encoder| encoder.pass_checked(text, at, max, MIN_LEND))
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

/// The fewest bytes lent at once: a piece worth a write of its own (fewer go through the
/// encoder, with what follows them).
pub const MIN_LEND: usize = 16 * 1024;

/// How the body is framed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyMode {
    Data,
    Bdat,
    Binary,
}

/// The client's side of a body: starting it, encoding what the writer takes, framing BDAT
/// chunks, and ending it.
impl Client {
    pub(super) fn start_body(&mut self, id: RequestId, mode: BodyMode, deliveries: Vec<usize>) {
        let policy = self.config.bare_line_endings;
        let encoder = match mode {
            BodyMode::Data => BodyEncoder::for_data(policy),
            BodyMode::Bdat => BodyEncoder::for_bdat(policy),
            BodyMode::Binary => BodyEncoder::binary(),
        };
        let pipelined = self.config.pipelining
            && self
                .caps
                .as_ref()
                .is_some_and(|c| c.supports(Extension::Pipelining));
        self.body = Some(BodyState {
            id,
            encoder,
            chunk: (mode != BodyMode::Data).then(Vec::new),
            pipelined,
            deliveries,
            finishing: false,
            bytes_in: 0,
            bytes_out: 0,
        });
        self.emit(Event::BodyWanted(id));
    }

    /// How many body bytes the caller may write now.
    pub(super) fn body_room(&self) -> usize {
        let Some(body) = &self.body else {
            return 0;
        };
        if body.finishing || self.outbox.lent() > 0 {
            return 0;
        }
        let mut cap = usize::MAX;
        if let Some(chunk) = &body.chunk {
            let lockstep_wait = !body.pipelined && !self.pending.is_empty();
            let size = self.bdat_chunk_size();
            if lockstep_wait || chunk.len() >= size {
                return 0;
            }
            // Never build more than about one chunk ahead: the chunk buffer stays near `size`.
            cap = size - chunk.len();
        }
        let used = self.buffered_output().saturating_add(super::BODY_HEADROOM);
        let free = self.outbox_limit().saturating_sub(used);
        (free.saturating_sub(2) / 2).min(cap)
    }

    /// Lends the leading bytes of `bytes` that encode to themselves (see [`BodyWriter::lend`]).
    pub(super) fn body_lend(&mut self, bytes: &[u8]) -> usize {
        self.body_lend_with(|encoder| encoder.pass(bytes, MIN_LEND))
    }

    /// Lends as many bytes as `pass` lets the encoder take as they are.
    fn body_lend_with(&mut self, pass: impl FnOnce(&mut BodyEncoder) -> usize) -> usize {
        let Some(body) = self.body.as_mut() else {
            return 0;
        };
        // Only DATA writes the body straight into the outbox, as lent bytes go out.
        if body.finishing || body.chunk.is_some() || !self.outbox.is_empty() {
            return 0;
        }
        let n = pass(&mut body.encoder);
        if n == 0 {
            return 0;
        }
        self.outbox.lend(n);
        body.bytes_in = body.bytes_in.saturating_add(n as u64);
        body.bytes_out = body.bytes_out.saturating_add(n as u64);
        self.body_until = self.outbox.end();
        n
    }

    /// Encodes up to [`body_room`](Self::body_room) bytes of `bytes`.
    pub(super) fn body_write(&mut self, bytes: &[u8]) -> Result<usize, BodyError> {
        let n = bytes.len().min(self.body_room());
        let input = bytes.get(..n).unwrap_or_default();
        let Some(body) = self.body.as_mut() else {
            return Err(BodyError::Finished);
        };
        if input.is_empty() {
            return Ok(0);
        }
        let result = match &mut body.chunk {
            Some(chunk) => body.encoder.push(input, chunk),
            None => {
                let out = self.outbox.buf_mut();
                let before = out.len();
                let result = body.encoder.push(input, out);
                let added = out.len().saturating_sub(before);
                body.bytes_out = body.bytes_out.saturating_add(added as u64);
                result
            }
        };
        if let Err(e) = result {
            self.fail(Error::Body(e));
            return Err(e);
        }
        body.bytes_in = body.bytes_in.saturating_add(n as u64);
        if body.chunk.is_none() {
            self.body_until = self.outbox.end();
        }
        self.flush_chunks();
        Ok(n)
    }

    /// Ends the body: the DATA terminator, or the last BDAT chunk (deferred, without
    /// PIPELINING, until the previous chunk is answered).
    pub(super) fn body_finish(&mut self) -> Result<(), BodyError> {
        let Some(body) = self.body.as_mut() else {
            return Err(BodyError::Finished);
        };
        if body.finishing {
            return Err(BodyError::Finished);
        }
        let result = match &mut body.chunk {
            Some(chunk) => body.encoder.finish(chunk),
            None => {
                let out = self.outbox.buf_mut();
                let before = out.len();
                let result = body.encoder.finish(out);
                // What finish adds: a CRLF ending an unterminated last line, then `.` CRLF,
                // which the transcript shows as a line of its own.
                let added = out.len().saturating_sub(before).saturating_sub(3);
                body.bytes_out = body.bytes_out.saturating_add(added as u64);
                result
            }
        };
        if let Err(e) = result {
            self.fail(Error::Body(e));
            return Err(e);
        }
        body.finishing = true;
        let bytes_out = body.bytes_out;
        if body.chunk.is_none() {
            self.body_until = self.outbox.end();
            let deliveries = std::mem::take(&mut body.deliveries);
            self.body = None;
            if self.config.transcript {
                self.trace(TranscriptEntry::Sent(
                    format!("<{bytes_out} body bytes>").into_bytes(),
                ));
                self.trace(TranscriptEntry::Sent(b".".to_vec()));
            }
            self.push_final(&deliveries);
            // A queued transaction may now go right behind this one.
            self.advance();
        } else {
            self.flush_chunks();
        }
        Ok(())
    }

    /// The pending entries for the reply (SMTP) or replies (LMTP) after the end of data.
    pub(super) fn push_final(&mut self, deliveries: &[usize]) {
        let end = self.outbox.end();
        if deliveries.is_empty() {
            self.pending.push(Expect::DataEnd, end);
        }
        for &i in deliveries {
            self.pending.push(Expect::Delivery(i), end);
        }
    }

    /// Sends full BDAT chunks (and the last one once finishing), as far as lock-step allows.
    pub(super) fn flush_chunks(&mut self) {
        let size = self.bdat_chunk_size();
        loop {
            let Some(body) = self.body.as_mut() else {
                return;
            };
            let Some(chunk) = body.chunk.as_mut() else {
                return;
            };
            if !body.pipelined && !self.pending.is_empty() {
                return;
            }
            // Every chunk but the last is exactly `size` bytes, however the body was written.
            let full = chunk.len() > size || (chunk.len() == size && !body.finishing);
            if full {
                let rest = chunk.split_off(size);
                let data = std::mem::replace(chunk, rest);
                body.bytes_out = body.bytes_out.saturating_add(data.len() as u64);
                self.send_chunk(&data, false);
                self.pending.push(Expect::Bdat, self.outbox.end());
                continue;
            }
            if !body.finishing {
                return;
            }
            let data = std::mem::take(chunk);
            let deliveries = std::mem::take(&mut body.deliveries);
            let bytes_out = body.bytes_out.saturating_add(data.len() as u64);
            self.body = None;
            self.send_chunk(&data, true);
            if self.config.transcript {
                // The sum of the chunk sizes announced, the last chunk's included.
                let summary = format!("<{bytes_out} body bytes>");
                self.trace(TranscriptEntry::Sent(summary.into_bytes()));
            }
            self.push_final(&deliveries);
            return;
        }
    }

    /// `BDAT n [LAST]` and its bytes; the caller pushes the pending entries.
    pub(super) fn send_chunk(&mut self, data: &[u8], last: bool) {
        let command = Command::Bdat {
            size: data.len() as u64,
            last,
        };
        let buf = self.outbox.buf_mut();
        let start = buf.len();
        command.encode(buf);
        let line = buf
            .get(start..buf.len().saturating_sub(2))
            .unwrap_or_default()
            .to_vec();
        buf.extend_from_slice(data);
        self.body_until = self.outbox.end();
        self.trace(TranscriptEntry::Sent(line));
    }
}
