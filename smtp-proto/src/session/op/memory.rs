//! Bodies held in memory: [`InMemory`] runs an operation whose bodies are [`MemoryBody`]s and
//! lends them to the pump directly. No adapter reads them into a buffer of its own, and what
//! needs no encoding (for DATA, well-formed lines without a leading dot) is written to the
//! transport straight from where it is, without a copy in the outbox
//! ([`BodyWriter::lend`](crate::client::BodyWriter::lend)).

use super::{NoBody, Operation, Result};
use std::io::Cursor;

use crate::body::CheckedText;
use crate::client::{Client, Event, RequestId};

/// A body held in memory whole: what is left of it, consumed from the front.
///
/// What [`rest`](Self::rest) shows must change only through [`advance`](Self::advance): the
/// pump writes the bytes it was shown and the core checked, as they are.
///
/// ```
/// use smtp_proto::session::op::MemoryBody;
///
/// let mut body: &[u8] = b"Subject: hi\r\n\r\nhello\r\n";
/// body.advance(9);
/// assert_eq!(body.rest(), b"hi\r\n\r\nhello\r\n");
/// body.advance(100);
/// assert_eq!(body.rest(), b"");
/// ```
pub trait MemoryBody {
    /// The bytes not consumed yet (a contiguous piece of them: the rest of the first part of a
    /// body in parts). Empty when nothing is left.
    fn rest(&self) -> &[u8];

    /// Consumes the first `n` bytes of what is left (at most all of it).
    fn advance(&mut self, n: usize);

    /// When what is left is the end of a text checked once ([`CheckedText`]): that text, and
    /// where in it [`rest`](Self::rest) starts. Its bytes are then lent without another check.
    fn checked(&self) -> Option<(&CheckedText, usize)> {
        None
    }
}

/// A message checked once and sent as often as wanted: each copy is a cursor over the shared
/// text (`Cursor::new(text.clone())`).
impl MemoryBody for Cursor<CheckedText> {
    fn rest(&self) -> &[u8] {
        rest_from(self.get_ref().bytes(), self.position())
    }

    fn advance(&mut self, n: usize) {
        advance_cursor(self, n);
    }

    fn checked(&self) -> Option<(&CheckedText, usize)> {
        let at = usize::try_from(self.position()).ok()?;
        Some((self.get_ref(), at))
    }
}

impl MemoryBody for &[u8] {
    fn rest(&self) -> &[u8] {
        self
    }

    fn advance(&mut self, n: usize) {
        *self = self.get(n..).unwrap_or_default();
    }
}

/// Any owned or shared bytes (`Vec<u8>`, `Arc<[u8]>`, `String`, ...), from the cursor's
/// position on.
impl<B: AsRef<[u8]>> MemoryBody for Cursor<B> {
    fn rest(&self) -> &[u8] {
        rest_from(self.get_ref().as_ref(), self.position())
    }

    fn advance(&mut self, n: usize) {
        advance_cursor(self, n);
    }
}

/// What is left of `bytes` from a cursor's `position` on.
fn rest_from(bytes: &[u8], position: u64) -> &[u8] {
    let at = usize::try_from(position).unwrap_or(usize::MAX);
    bytes.get(at..).unwrap_or_default()
}

/// Moves a cursor on by `n` bytes, at most to the end of what it has.
fn advance_cursor<T>(cursor: &mut Cursor<T>, n: usize)
where
    Cursor<T>: MemoryBody,
{
    let n = n.min(cursor.rest().len());
    cursor.set_position(cursor.position().saturating_add(n as u64));
}

/// One body after the other (e.g. a rewritten header block, then the rest of the message).
impl<A: MemoryBody, B: MemoryBody> MemoryBody for std::io::Chain<A, B> {
    fn rest(&self) -> &[u8] {
        let (first, second) = self.get_ref();
        match first.rest() {
            [] => second.rest(),
            rest => rest,
        }
    }

    fn advance(&mut self, n: usize) {
        let (first, second) = self.get_mut();
        let from_first = n.min(first.rest().len());
        first.advance(from_first);
        second.advance(n - from_first);
    }

    fn checked(&self) -> Option<(&CheckedText, usize)> {
        let (first, second) = self.get_ref();
        if first.rest().is_empty() {
            second.checked()
        } else {
            first.checked()
        }
    }
}

impl<M: MemoryBody + ?Sized> MemoryBody for &mut M {
    fn rest(&self) -> &[u8] {
        (**self).rest()
    }

    fn advance(&mut self, n: usize) {
        (**self).advance(n);
    }

    fn checked(&self) -> Option<(&CheckedText, usize)> {
        (**self).checked()
    }
}

/// Runs `O`, whose bodies are held in memory ([`MemoryBody`]), lending them to the pump
/// through [`Operation::body_in_memory`]: the pump feeds the core from them without a
/// [`Step::Body`](crate::session::Step::Body), so the adapter never reads them (its body type
/// is [`NoBody`]). Everything else is `O`'s.
///
/// ```
/// use smtp_proto::client::{Client, Config, Envelope, Event};
/// use smtp_proto::session::op::{InMemory, SendMail};
/// use smtp_proto::session::{Pump, Step};
/// use smtp_proto::{Domain, Mailbox, ReversePath};
/// use std::time::Instant;
///
/// let now = Instant::now();
/// let mut client = Client::new(Config::new(Domain::try_from("client.example")?), now);
/// client.handle_input(b"220 mx ESMTP\r\n", now);
/// let ehlo = client.transmit(now).map_or(0, |t| t.len());
/// client.handle_written(ehlo, now);
/// client.handle_input(b"250 mx\r\n", now);
/// assert!(matches!(client.poll_event(), Some(Event::Ready)));
///
/// let from = ReversePath::try_from("a@example.org")?;
/// let envelope = Envelope::new(from, [Mailbox::try_from("b@example.net")?]);
/// let message: &[u8] = b"Subject: hi\r\n\r\n.hello\r\n";
/// let mut pump = Pump::new(InMemory::new(SendMail::new(envelope, message)));
/// let mut replies: &[&[u8]] = &[b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n", b"250 queued\r\n"];
/// let mut sent = Vec::new();
/// let report = loop {
///     match pump.next(&mut client, &mut None, Instant::now()) {
///         Step::Write { .. } => {
///             let bytes = pump.outgoing(&client).to_vec();
///             sent.extend_from_slice(&bytes);
///             pump.wrote(&mut client, Ok(bytes.len()), Instant::now());
///         }
///         Step::Read { .. } => {
///             let (reply, rest) = replies.split_first().expect("a reply is scripted");
///             replies = rest;
///             pump.read(&mut client, Ok(reply), Instant::now());
///         }
///         Step::Done { result, .. } => break result?,
///         Step::Body { .. } | Step::Handshake { .. } => unreachable!("the body is in memory"),
///     }
/// };
/// assert!(report.is_accepted());
/// assert!(sent.ends_with(b"\r\n..hello\r\n.\r\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct InMemory<O>(O);

impl<O> InMemory<O> {
    /// `op`, its bodies lent from memory.
    pub fn new(op: O) -> Self {
        Self(op)
    }

    /// The operation run.
    pub fn get_mut(&mut self) -> &mut O {
        &mut self.0
    }
}

impl<O> Operation for InMemory<O>
where
    O: Operation,
    O::Body: MemoryBody + Sized,
{
    type Output = O::Output;
    type Body = NoBody;

    fn start(&mut self, client: &mut Client) -> Result<()> {
        self.0.start(client)
    }

    fn event(&mut self, client: &mut Client, event: Option<Event>) -> Option<Result<O::Output>> {
        self.0.event(client, event)
    }

    fn body_ended(&mut self, client: &mut Client, id: RequestId) {
        self.0.body_ended(client, id);
    }

    fn body_in_memory(&mut self, id: RequestId) -> Option<&dyn MemoryBody> {
        // No body to lend sends it empty, as `body` returning `None` does.
        Some(match self.0.body(id) {
            Some(body) => &*body,
            None => &EMPTY,
        })
    }

    fn body_advance(&mut self, id: RequestId, n: usize) {
        if let Some(body) = self.0.body(id) {
            MemoryBody::advance(body, n);
        }
    }
}

/// The body of a request that has none.
const EMPTY: &[u8] = &[];
