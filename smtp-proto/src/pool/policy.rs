//! The connections of a pool: which one takes the next message, when to open one, when one
//! has done its quota or idled too long. The connections themselves are opaque values `C`
//! that the policy keeps while they are idle and lends while they work; it never does I/O.

use std::collections::VecDeque;
use std::time::Instant;

use super::PoolSettings;

/// The pool's bookkeeping, one per pool, shared by every message being sent (behind a lock in
/// a multi-threaded adapter). [`Job`](super::Job) is its only caller in the adapters; the
/// methods are public for event loops of their own.
#[derive(Debug)]
pub struct Policy<C> {
    settings: PoolSettings,
    /// Idle connections, the most recently returned last (reused first: the others age and
    /// close, so the pool shrinks to what the load needs).
    idle: Vec<Idle<C>>,
    /// Connections lent out or being opened.
    lent: usize,
    /// When the messages of the current rate window started.
    starts: VecDeque<Instant>,
    /// Opens that failed in a row, and when the next may be tried.
    open_failures: u32,
    no_open_before: Option<Instant>,
    /// Counts [`close`](Policy::close) calls: a connection lent before the last one is closed
    /// when it comes back.
    epoch: u64,
}

#[derive(Debug)]
struct Idle<C> {
    conn: C,
    since: Instant,
    sent: u32,
}

/// What [`Policy::checkout`] gives.
#[derive(Debug)]
pub enum Checkout<C> {
    /// Use this idle connection, which has sent `sent` messages; `check` it first (`RSET`)
    /// when it has been idle longer than [`PoolSettings::check_after`].
    Reuse {
        /// The connection.
        conn: C,
        /// Messages it has sent.
        sent: u32,
        /// Check it before use.
        check: bool,
    },
    /// Open a new connection: a place is reserved for it.
    Open,
    /// Nothing now: wait until the instant (a rate limit, a back-off after failed opens) or,
    /// with `None`, until a connection is returned.
    Wait(Option<Instant>),
}

impl<C> Policy<C> {
    /// An empty pool.
    pub fn new(settings: PoolSettings) -> Self {
        Self {
            settings,
            idle: Vec::new(),
            lent: 0,
            starts: VecDeque::new(),
            open_failures: 0,
            no_open_before: None,
            epoch: 0,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    /// Connections open or being opened.
    pub fn connections(&self) -> usize {
        self.idle.len() + self.lent
    }

    /// Idle connections.
    pub fn idle(&self) -> usize {
        self.idle.len()
    }

    /// A connection for the next message (a start within the rate limit is counted; give it
    /// back with [`unstart`](Self::unstart) when no message went out after all).
    pub fn checkout(&mut self, now: Instant) -> Checkout<C> {
        self.settle(now);
        if let Some(until) = self.rate_wait(now) {
            return Checkout::Wait(Some(until));
        }
        if let Some(idle) = self.idle.pop() {
            self.lent += 1;
            self.started(now);
            let check = now.saturating_duration_since(idle.since) > self.settings.check_after;
            return Checkout::Reuse {
                conn: idle.conn,
                sent: idle.sent,
                check,
            };
        }
        if self.connections() >= self.settings.max_connections.max(1) {
            return Checkout::Wait(None);
        }
        if let Some(until) = self.no_open_before.filter(|&t| now < t) {
            return Checkout::Wait(Some(until));
        }
        self.lent += 1;
        self.started(now);
        Checkout::Open
    }

    /// The start made at `started` (the `now` of its checkout) did not send a message (its
    /// connection could not be opened or failed its check): it does not count against the
    /// rate. A start that has left the window already counts for nothing.
    pub fn unstart(&mut self, started: Instant) {
        if let Some(i) = self.starts.iter().rposition(|&t| t == started) {
            self.starts.remove(i);
        }
    }

    /// A connection asked for by [`Checkout::Open`] is ready.
    pub fn opened(&mut self) {
        self.open_failures = 0;
        self.no_open_before = None;
    }

    /// A connection asked for by [`Checkout::Open`] could not be opened: the next open waits,
    /// longer after each failure in a row.
    pub fn open_failed(&mut self, now: Instant) {
        self.lent = self.lent.saturating_sub(1);
        self.open_failures = self.open_failures.saturating_add(1);
        let wait = self.settings.backoff_for(self.open_failures);
        self.no_open_before = now.checked_add(wait);
    }

    /// The current epoch: what a lent connection's [`checkin`](Self::checkin) gives back.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A connection lent at `epoch` comes back, having sent `sent` messages in all. `Some`:
    /// close it (QUIT) — it did its quota, or the pool was closed while it was lent.
    pub fn checkin(&mut self, conn: C, sent: u32, epoch: u64, now: Instant) -> Option<C> {
        self.lent = self.lent.saturating_sub(1);
        let quota_done = self.settings.max_messages.is_some_and(|max| sent >= max);
        if quota_done || epoch < self.epoch {
            return Some(conn);
        }
        self.idle.push(Idle {
            conn,
            since: now,
            sent,
        });
        None
    }

    /// A lent connection is gone (closed, failed, or to be closed by the caller).
    pub fn discard(&mut self) {
        self.lent = self.lent.saturating_sub(1);
    }

    /// An idle connection that has waited [`PoolSettings::idle_timeout`]: close it (QUIT).
    pub fn take_expired(&mut self, now: Instant) -> Option<C> {
        self.settle(now);
        let timeout = self.settings.idle_timeout;
        let i = self
            .idle
            .iter()
            .position(|idle| now.saturating_duration_since(idle.since) >= timeout)?;
        Some(self.idle.remove(i).conn)
    }

    /// Every idle connection, to close; those lent now are closed when they come back. The
    /// pool stays usable: later messages open new connections, kept as usual.
    pub fn close(&mut self) -> Vec<C> {
        self.epoch = self.epoch.wrapping_add(1);
        self.idle.drain(..).map(|idle| idle.conn).collect()
    }

    /// The next instant at which something changes by itself: an idle connection expires, the
    /// rate window moves, a back-off ends.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let expiries = self
            .idle
            .iter()
            .filter_map(|idle| idle.since.checked_add(self.settings.idle_timeout));
        let rate = self.rate_window_end();
        expiries.chain(rate).chain(self.no_open_before).min()
    }

    /// Forgets what has passed by `now` (an ended back-off — the count of failures stays, for
    /// the doubling — and starts out of the rate window), so that `poll_timeout` never reports
    /// the past.
    fn settle(&mut self, now: Instant) {
        if self.no_open_before.is_some_and(|t| t <= now) {
            self.no_open_before = None;
        }
        if let Some(rate) = self.settings.rate {
            while self
                .starts
                .front()
                .is_some_and(|&t| now.saturating_duration_since(t) >= rate.per)
            {
                self.starts.pop_front();
            }
        }
    }

    fn started(&mut self, now: Instant) {
        if self.settings.rate.is_some() {
            self.starts.push_back(now);
        }
    }

    /// When the rate limit lets the next message start, if it does not now.
    fn rate_wait(&mut self, now: Instant) -> Option<Instant> {
        let rate = self.settings.rate?;
        while self
            .starts
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= rate.per)
        {
            self.starts.pop_front();
        }
        if self.starts.len() < rate.messages.max(1) as usize {
            return None;
        }
        self.rate_window_end()
    }

    fn rate_window_end(&self) -> Option<Instant> {
        let rate = self.settings.rate?;
        if self.starts.len() < rate.messages.max(1) as usize {
            return None;
        }
        self.starts.front().and_then(|&t| t.checked_add(rate.per))
    }
}
