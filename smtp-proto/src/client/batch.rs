//! Many messages on one session, one message ahead.

use std::collections::VecDeque;

use super::{Client, Envelope, MailReport, RequestId};
use crate::error::UsageError;

/// Feeds a stream of messages to a [`Client`], one message ahead: the next
/// [`send_mail`](Client::send_mail) is queued as soon as the current message's body has ended,
/// so that with PIPELINING the core sends the next MAIL/RCPT/DATA right behind the end of data
/// (RFC 2920 §3.1) and a transaction costs one round trip. At most two transactions are queued
/// at a time, so memory stays flat for any number of messages.
///
/// It only queues and keeps each message's body (`B`: a reader, a buffer, whatever your loop
/// reads bodies from) until the core asks for it; your loop still moves the bytes. Call
///
/// - [`top_up`](Self::top_up) once at the start and after [`body_finished`](Self::body_finished);
/// - [`body_mut`](Self::body_mut) on [`Event::BodyWanted`](super::Event::BodyWanted), to find
///   the body to write with [`Client::body`];
/// - [`body_finished`](Self::body_finished) once that body has been written to its end;
/// - [`take_report`](Self::take_report) on [`Event::MailDone`](super::Event::MailDone).
///
/// The run is over when [`is_done`](Self::is_done); [`take_refusal`](Self::take_refusal) then
/// tells whether it stopped early because the core refused to queue a message.
///
/// # Example
///
/// ```
/// use std::time::Instant;
/// use smtp_proto::client::{Client, Config, Envelope, Event, SendQueue};
/// use smtp_proto::{Domain, Mailbox, ReversePath};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let now = Instant::now();
/// let mut client = Client::new(Config::new(Domain::try_from("client.example")?), now);
/// client.handle_input(b"220 mx ESMTP\r\n", now);
/// let ehlo = client.transmit(now).map_or(0, |t| t.len());
/// client.handle_written(ehlo, now);
/// client.handle_input(b"250-mx\r\n250 PIPELINING\r\n", now);
/// assert!(matches!(client.poll_event(), Some(Event::Ready)));
///
/// let from = ReversePath::try_from("a@example.org")?;
/// let to = Mailbox::try_from("b@example.net")?;
/// let mut messages = (0..3).map(|i| {
///     let envelope = Envelope::new(from.clone(), [to.clone()]);
///     (envelope, format!("Subject: {i}\r\n\r\nmessage {i}\r\n").into_bytes())
/// });
/// let mut queue = SendQueue::new();
/// queue.top_up(&mut client, &mut messages);
/// // Only the first message is queued: the second waits until its body has ended.
/// let out = client.transmit(now).map(|t| t.to_vec()).unwrap_or_default();
/// assert_eq!(out, b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SendQueue<B> {
    /// Transactions queued on the core and not done yet, oldest first, with their bodies
    /// (`None` once the body ended).
    queued: VecDeque<(RequestId, Option<B>)>,
    /// Whether the message source may have more.
    more: bool,
    /// Why the core refused to queue a message (the run stopped there).
    refused: Option<UsageError>,
}

impl<B> Default for SendQueue<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B> SendQueue<B> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            queued: VecDeque::with_capacity(2),
            more: true,
            refused: None,
        }
    }

    /// Queues the next message from `messages` unless one is still waiting to send its body,
    /// or the source is exhausted, or the core has refused one (then nothing more is taken).
    pub fn top_up<I>(&mut self, client: &mut Client, messages: &mut I)
    where
        I: Iterator<Item = (Envelope, B)> + ?Sized,
    {
        if !self.more || self.queued.iter().any(|(_, body)| body.is_some()) {
            return;
        }
        match messages.next() {
            None => self.more = false,
            Some((envelope, body)) => match client.send_mail(envelope) {
                Ok(id) => self.queued.push_back((id, Some(body))),
                Err(e) => {
                    self.more = false;
                    self.refused = Some(e);
                }
            },
        }
    }

    /// The body of queued transaction `id`, while it has not been finished.
    pub fn body_mut(&mut self, id: RequestId) -> Option<&mut B> {
        let (_, body) = self.queued.iter_mut().find(|(i, _)| *i == id)?;
        body.as_mut()
    }

    /// Marks transaction `id`'s body as written to its end (the body is dropped). Call
    /// [`top_up`](Self::top_up) next, so that the next message follows right behind.
    pub fn body_finished(&mut self, id: RequestId) {
        if let Some((_, body)) = self.queued.iter_mut().find(|(i, _)| *i == id) {
            *body = None;
        }
    }

    /// Takes note of a finished transaction: `true` when `report` is one of this queue's (it is
    /// no longer queued; a body never asked for, because the transaction was refused before
    /// DATA, is dropped). Call [`top_up`](Self::top_up) next.
    pub fn take_report(&mut self, report: &MailReport) -> bool {
        let Some(position) = self.queued.iter().position(|(id, _)| *id == report.id) else {
            return false;
        };
        self.queued.remove(position);
        true
    }

    /// Whether nothing is queued on the core and nothing more will be: the source is exhausted
    /// or a message was refused, and every queued transaction has reported.
    pub fn is_done(&self) -> bool {
        !self.more && self.queued.is_empty()
    }

    /// Transactions queued on the core and not reported yet.
    pub fn in_flight(&self) -> usize {
        self.queued.len()
    }

    /// Why the core refused to queue a message, if it did (taken once).
    pub fn take_refusal(&mut self) -> Option<UsageError> {
        self.refused.take()
    }
}
