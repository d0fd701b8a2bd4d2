//! One message through a pool: the steps an adapter performs for it, and what each outcome
//! means — delivered, refused, failed, or unknown — decided once, here.

use std::time::Instant;

use super::policy::{Checkout, Policy};
use crate::client::{MailOutcome, MailReport};
use crate::reply::{Class, OwnedReply};
use crate::session::Error;

/// How one message ended. Each message gets exactly one.
#[derive(Debug)]
pub enum Outcome {
    /// The server took the message (final `2xx`; for LMTP, for at least one recipient).
    /// Recipients refused one by one are in the report.
    Delivered(MailReport),
    /// The server refused it: a `5xx`, or a `4xx` still there after every retry. The report
    /// has each reply.
    Refused(MailReport),
    /// Not delivered, and known not to be: no connection could be set up, the connection was
    /// lost before the end of data more often than retries allow, or the message cannot be
    /// sent to this server (too large, needs an extension it lacks, …).
    Failed(Error),
    /// The end of data was written but its reply never came (the connection broke or timed
    /// out): the server may have taken the message. Never sent again, so never delivered twice
    /// (RFC 5321 §4.1.1.4; the duplicate problem of RFC 1047).
    Unknown(Error),
}

impl Outcome {
    /// Whether the message was delivered.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Delivered(_))
    }
}

/// What to do next for a [`Job`].
#[derive(Debug)]
pub enum JobStep<C> {
    /// Open a connection and set it up as a single client does (connect, greeting, hello,
    /// STARTTLS, the pool's login); answer with [`JobInput::Opened`].
    Open,
    /// Check this idle connection (`RSET`); answer with [`JobInput::Checked`].
    Check(C),
    /// Send the message on this connection; answer with [`JobInput::Sent`].
    Send(C),
    /// Close this connection politely (QUIT, its wait bounded by the session's timeouts); no
    /// answer, ask again.
    Close(C),
    /// Wait until the instant, or (`None`) until another job returns a connection; then ask
    /// again without an answer.
    Wait(Option<Instant>),
    /// The message is done.
    Done(Outcome),
}

/// What an adapter reports for a [`JobStep`].
#[derive(Debug)]
pub enum JobInput<C> {
    /// The result of [`JobStep::Open`].
    Opened(Result<C, Error>),
    /// The result of [`JobStep::Check`]: the connection if it answered `2xx`, `None` if it is
    /// gone (it was dropped).
    Checked(Option<C>),
    /// The result of [`JobStep::Send`].
    Sent {
        /// The connection, if still open.
        conn: Option<C>,
        /// The transaction's report, or what ended it.
        result: Result<MailReport, Error>,
        /// The session's `end_of_data_unanswered()` after the transaction.
        end_of_data_unanswered: bool,
    },
}

/// One message's way through a [`Policy`]: ask [`next`](Self::next) what to do, do it, hand
/// the result to the next call.
#[derive(Debug, Default)]
pub struct Job {
    /// Retries spent (temporary failures).
    retries: u32,
    /// Reused connections found dead before the message was sent: free retries, bounded.
    stale: u32,
    /// No new try before this.
    not_before: Option<Instant>,
    /// Messages sent on the connection lent to this job.
    sent: u32,
    /// When the current try started (counted against the rate).
    started: Option<Instant>,
    /// The policy's epoch when the connection was lent.
    epoch: u64,
    /// The outcome, held while a connection is closed first.
    outcome: Option<Outcome>,
}

impl Job {
    /// A message not yet tried.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next step, given what the last one gave (`None` after [`JobStep::Close`] and
    /// [`JobStep::Wait`], and for the first call).
    pub fn next<C>(
        &mut self,
        policy: &mut Policy<C>,
        input: Option<JobInput<C>>,
        now: Instant,
    ) -> JobStep<C> {
        if let Some(input) = input {
            if let Some(step) = self.take(policy, input, now) {
                return step;
            }
        }
        if let Some(outcome) = self.outcome.take() {
            return JobStep::Done(outcome);
        }
        if let Some(conn) = policy.take_expired(now) {
            return JobStep::Close(conn);
        }
        if let Some(until) = self.not_before.filter(|&t| now < t) {
            return JobStep::Wait(Some(until));
        }
        match policy.checkout(now) {
            Checkout::Reuse { conn, sent, check } => {
                self.sent = sent;
                self.started = Some(now);
                self.epoch = policy.epoch();
                if check {
                    JobStep::Check(conn)
                } else {
                    JobStep::Send(conn)
                }
            }
            Checkout::Open => {
                self.sent = 0;
                self.started = Some(now);
                self.epoch = policy.epoch();
                JobStep::Open
            }
            Checkout::Wait(until) => JobStep::Wait(until),
        }
    }

    /// Takes an answer; `Some` when it decides the next step itself.
    fn take<C>(
        &mut self,
        policy: &mut Policy<C>,
        input: JobInput<C>,
        now: Instant,
    ) -> Option<JobStep<C>> {
        match input {
            JobInput::Opened(Ok(conn)) => {
                policy.opened();
                Some(JobStep::Send(conn))
            }
            JobInput::Opened(Err(error)) => {
                policy.open_failed(now);
                if let Some(started) = self.started.take() {
                    policy.unstart(started);
                }
                if is_temporary(&error) {
                    self.retry(policy, now, || Outcome::Failed(error));
                } else {
                    self.outcome = Some(Outcome::Failed(error));
                }
                None
            }
            JobInput::Checked(Some(conn)) => Some(JobStep::Send(conn)),
            JobInput::Checked(None) => {
                policy.discard();
                if let Some(started) = self.started.take() {
                    policy.unstart(started);
                }
                None
            }
            JobInput::Sent {
                conn,
                result,
                end_of_data_unanswered,
            } => self.sent_on(policy, conn, result, end_of_data_unanswered, now),
        }
    }

    fn sent_on<C>(
        &mut self,
        policy: &mut Policy<C>,
        conn: Option<C>,
        result: Result<MailReport, Error>,
        end_of_data_unanswered: bool,
        now: Instant,
    ) -> Option<JobStep<C>> {
        self.sent = self.sent.saturating_add(1);
        let reused = self.sent > 1;
        // Whether the connection is worth keeping after this message.
        let keep = match &result {
            Ok(report) => !report_is_temporary(report),
            // The session is still open: the message could not be sent (a usage error).
            Err(_) => conn.is_some(),
        };
        match result {
            Ok(report) if report.is_accepted() => self.outcome = Some(Outcome::Delivered(report)),
            Ok(report) if report_is_temporary(&report) => {
                self.retry(policy, now, || Outcome::Refused(report));
            }
            Ok(report) => self.outcome = Some(Outcome::Refused(report)),
            Err(error) if end_of_data_unanswered => self.outcome = Some(Outcome::Unknown(error)),
            Err(error) if conn.is_some() || !is_temporary(&error) => {
                self.outcome = Some(Outcome::Failed(error));
            }
            Err(error) => {
                // Lost before the end of data: the server cannot have taken the message. A
                // connection that had idled may have been closed by the server meanwhile;
                // that costs no retry (once per connection the pool may hold).
                let bound = policy.settings().max_connections.max(1) as u32;
                if reused && self.stale < bound {
                    self.stale += 1;
                } else {
                    self.retry(policy, now, || Outcome::Failed(error));
                }
            }
        }
        match conn {
            Some(conn) if keep => policy
                .checkin(conn, self.sent, self.epoch, now)
                .map(JobStep::Close),
            Some(conn) => {
                policy.discard();
                Some(JobStep::Close(conn))
            }
            None => {
                policy.discard();
                None
            }
        }
    }

    /// A temporary failure: try again after the back-off, or end with `last` when the retries
    /// are spent.
    fn retry<C>(&mut self, policy: &Policy<C>, now: Instant, last: impl FnOnce() -> Outcome) {
        let settings = policy.settings();
        if self.retries >= settings.retries {
            self.outcome = Some(last());
            return;
        }
        self.retries += 1;
        self.not_before = now.checked_add(settings.backoff_for(self.retries));
    }
}

/// Whether a failure may pass by itself: a `4xx` reply, or a connection that broke, timed out
/// or was refused. A `5xx` reply, a TLS or authentication failure and a usage error are for
/// good.
pub fn is_temporary(error: &Error) -> bool {
    if let Some(reply) = error.reply() {
        return is_temporary_reply(reply);
    }
    match error {
        Error::Io(_) | Error::NotConnected => true,
        Error::Smtp(e) => matches!(
            e,
            crate::Error::Timeout { .. } | crate::Error::UnexpectedEof(_)
        ),
        _ => false,
    }
}

fn is_temporary_reply(reply: &OwnedReply) -> bool {
    reply.code().class() == Class::TransientNegative
}

/// Whether a refused transaction may succeed later: the refusal was `4xx` (for refused
/// recipients: every one of them).
fn report_is_temporary(report: &MailReport) -> bool {
    match &report.outcome {
        MailOutcome::Accepted(_) => false,
        MailOutcome::SenderRefused(reply) | MailOutcome::DataRefused(reply) => {
            is_temporary_reply(reply)
        }
        MailOutcome::RecipientsRefused => {
            let mut refusals = report.refused().map(|(_, reply)| reply).peekable();
            refusals.peek().is_some() && refusals.all(is_temporary_reply)
        }
    }
}
