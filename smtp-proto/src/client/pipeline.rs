//! The outbound buffer and the pending-reply queue.
//!
//! Every command the client encodes goes into one [`Outbox`] and pushes one [`Pending`] entry that
//! remembers where its bytes end in the outbound stream. Every complete reply pops the head entry.
//! That single FIFO is the whole pipelining implementation: replies come in command order (RFC 2920
//! §3.1), so the head always names the command a reply answers.

use std::collections::VecDeque;
use std::time::Instant;

use super::event::Stage;

/// What a reply answers, and so what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    Greeting,
    Hello(HelloVerb),
    StartTls,
    Auth,
    Mail,
    Rcpt(usize),
    Data,
    /// A non-final BDAT chunk.
    Bdat,
    /// The end of data (`.` or `BDAT n LAST`); SMTP only.
    DataEnd,
    /// LMTP: the reply after the data for the n-th recipient of the transaction.
    Delivery(usize),
    /// RSET sent by the client itself after a failed transaction; its reply is not reported.
    CleanupRset,
    /// A single command whose reply is reported as it is.
    Single(Stage),
    Quit,
}

/// The three greeting verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum HelloVerb {
    Ehlo,
    Helo,
    Lhlo,
}

impl Expect {
    pub(crate) fn stage(self) -> Stage {
        match self {
            Self::Greeting => Stage::Greeting,
            Self::Hello(_) => Stage::Hello,
            Self::StartTls => Stage::StartTls,
            Self::Auth => Stage::Auth,
            Self::Mail => Stage::Mail,
            Self::Rcpt(_) => Stage::Rcpt,
            Self::Data => Stage::Data,
            Self::Bdat => Stage::Bdat,
            Self::DataEnd | Self::Delivery(_) => Stage::DataEnd,
            Self::CleanupRset => Stage::Rset,
            Self::Single(stage) => stage,
            Self::Quit => Stage::Quit,
        }
    }
}

/// A command on (or on its way to) the wire, waiting for its reply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub(crate) expect: Expect,
    /// Offset in the outbound stream just past this command's bytes.
    pub(crate) ends_at: u64,
    /// When its last byte was acknowledged by `handle_written`.
    pub(crate) sent_at: Option<Instant>,
}

/// Bytes waiting for the transport, plus the bookkeeping that tells which commands have left.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    /// First unsent byte in `buf`.
    start: usize,
    /// Body bytes lent by the caller (`BodyWriter::lend`), which it writes from its own memory:
    /// the next bytes of the stream, before `buf`'s unsent ones.
    lent: usize,
    /// Bytes acknowledged since the session began.
    written: u64,
    /// Since when the unsent bytes have waited for progress (set when first handed out).
    pub(crate) waiting_since: Option<Instant>,
    /// `written` when `waiting_since` was last set: progress is counted from here.
    progress_from: u64,
}

/// How many bytes the transport must take for the write-progress timer to start again (unless
/// it takes everything unsent, which always counts). A peer that takes a few bytes now and then
/// cannot hold a write open much beyond one timeout: the least rate it must keep up is this many
/// bytes per [`Timeouts::data_block`](crate::client::Timeouts::data_block) (364 bytes/s with the
/// RFC's 3 minutes).
pub(crate) const PROGRESS_WINDOW: u64 = 64 * 1024;

impl Outbox {
    pub(crate) fn unsent(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    pub(crate) fn unsent_len(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// Lent bytes not written yet (they come before [`unsent`](Self::unsent)).
    pub(crate) fn lent(&self) -> usize {
        self.lent
    }

    /// Whether anything (lent or buffered) waits to be written.
    pub(crate) fn is_empty(&self) -> bool {
        self.lent == 0 && self.unsent_len() == 0
    }

    /// `n` bytes lent by the caller become the next bytes to write. Only when nothing else
    /// waits ([`is_empty`](Self::is_empty)), which the caller checks first.
    pub(crate) fn lend(&mut self, n: usize) {
        debug_assert!(self.is_empty(), "lent behind queued bytes");
        self.lent = n;
    }

    /// Offset in the outbound stream just past the last queued byte.
    pub(crate) fn end(&self) -> u64 {
        let queued = self.lent.saturating_add(self.unsent_len());
        self.written.saturating_add(queued as u64)
    }

    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// The buffer to append encoded bytes to.
    pub(crate) fn buf_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Starts the write-progress timer at `now` unless it runs already.
    pub(crate) fn start_waiting(&mut self, now: Instant) {
        if self.waiting_since.is_none() {
            self.waiting_since = Some(now);
            self.progress_from = self.written;
        }
    }

    /// Records that the transport took `n` bytes; returns how many were really unsent. The
    /// write-progress timer stops when nothing is left (if it had not expired), and starts
    /// again only after
    /// [`PROGRESS_WINDOW`] bytes.
    /// `in_time`: whether the timer had not yet expired when the bytes were taken.
    pub(crate) fn ack(&mut self, n: usize, now: Instant, in_time: bool) -> usize {
        let n = n.min(self.lent.saturating_add(self.unsent_len()));
        let from_lent = n.min(self.lent);
        self.lent -= from_lent;
        self.start += n - from_lent;
        self.written = self.written.saturating_add(n as u64);
        if self.lent == 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            // Bytes taken only after the deadline do not undo the timeout: the timer stays
            // expired, and the next look at the deadline ends the session.
            if in_time {
                self.waiting_since = None;
            }
        } else {
            if in_time && self.written.saturating_sub(self.progress_from) >= PROGRESS_WINDOW {
                self.waiting_since = Some(now);
                self.progress_from = self.written;
            }
            if self.start >= 64 * 1024 && self.start * 2 >= self.buf.len() {
                self.buf.drain(..self.start);
                self.start = 0;
            }
        }
        n
    }

    /// Drops everything unsent (the session ended).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.lent = 0;
        self.waiting_since = None;
    }
}

/// The FIFO of commands waiting for replies.
#[derive(Debug, Default)]
pub(crate) struct PendingQueue {
    queue: VecDeque<Pending>,
}

impl PendingQueue {
    pub(crate) fn push(&mut self, expect: Expect, ends_at: u64) {
        self.queue.push_back(Pending {
            expect,
            ends_at,
            sent_at: None,
        });
    }

    /// The greeting is "sent" when the session starts.
    pub(crate) fn push_sent(&mut self, expect: Expect, now: Instant) {
        self.queue.push_back(Pending {
            expect,
            ends_at: 0,
            sent_at: Some(now),
        });
    }

    pub(crate) fn pop(&mut self) -> Option<Pending> {
        self.queue.pop_front()
    }

    pub(crate) fn head(&self) -> Option<&Pending> {
        self.queue.front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Pending> + '_ {
        self.queue.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Marks every command whose bytes have all been written as sent at `now`.
    pub(crate) fn mark_written(&mut self, written: u64, now: Instant) {
        for p in self.queue.iter_mut() {
            if p.ends_at > written {
                break;
            }
            if p.sent_at.is_none() {
                p.sent_at = Some(now);
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }
}
