//! Many connections to one server, sans-IO: which connection takes the next message, when to
//! open one, when one has sent its quota or idled too long, when to check one before reuse,
//! when to back off, and what may be retried.
//!
//! Two values hold it all:
//!
//! - [`Policy<C>`]: the pool's connections. It keeps idle connections (opaque values `C`: an
//!   adapter's client) and lends them, counts them against [`PoolSettings::max_connections`],
//!   and applies the rate limit, the per-connection quota, the idle timeout and the back-off
//!   after failed opens. One per pool, shared by every message in flight.
//! - [`Job`]: one message's way through the policy. [`Job::next`] says what to do —
//!   [`JobStep::Open`], [`Check`](JobStep::Check), [`Send`](JobStep::Send),
//!   [`Close`](JobStep::Close), [`Wait`](JobStep::Wait) — and, at the end,
//!   [`Done`](JobStep::Done) with the message's one [`Outcome`].
//!
//! An adapter only opens sockets and runs the session's operations; it holds the policy behind
//! a lock and wakes waiting jobs whenever one hands in a result.
//!
//! # Delivery semantics
//!
//! Each message ends exactly once, as one of:
//!
//! | outcome | when | retried? |
//! | --- | --- | --- |
//! | [`Outcome::Delivered`] | final `2xx` (LMTP: for at least one recipient) | — |
//! | [`Outcome::Refused`] | a `5xx`; or a `4xx` (also `421`) until the retries are spent | `4xx`: yes, after the back-off, on a fresh connection |
//! | [`Outcome::Failed`] | no connection could be set up; or the connection was lost **before the end of data was written**, beyond the retries; or the message cannot go to this server | lost before the end of data: yes, on another connection |
//! | [`Outcome::Unknown`] | the end of data was written, its reply never came | **never**: the server may have the message |
//!
//! A connection reused after idling and found dead before the message went out costs no
//! retry. A connection that got a `4xx` is closed rather than reused (the server may be
//! limiting messages per connection: `452`/`421`). A connection is checked with `RSET` before
//! reuse when it has idled longer than [`PoolSettings::check_after`], and closed when it has
//! idled [`PoolSettings::idle_timeout`].
//!
//! # Driving a job
//!
//! ```
//! use std::time::{Duration, Instant};
//! use smtp_proto::pool::{Job, JobInput, JobStep, Policy, PoolSettings};
//! use smtp_proto::session::Error;
//!
//! # #[allow(clippy::disallowed_methods)]
//! let now = Instant::now();
//! let mut policy: Policy<&str> = Policy::new(PoolSettings::default());
//! let mut job = Job::new();
//! // First the pool has no connection: open one.
//! assert!(matches!(job.next(&mut policy, None, now), JobStep::Open));
//! // It could not be opened (connection refused): the job waits for its back-off.
//! let refused = Error::Io(std::io::ErrorKind::ConnectionRefused.into());
//! let step = job.next(&mut policy, Some(JobInput::Opened(Err(refused))), now);
//! assert!(matches!(step, JobStep::Wait(Some(t)) if t == now + Duration::from_secs(1)));
//! // Later it opens, and the message is sent on the new connection.
//! let later = now + Duration::from_secs(1);
//! assert!(matches!(job.next(&mut policy, None, later), JobStep::Open));
//! let step = job.next(&mut policy, Some(JobInput::Opened(Ok("connection 1"))), later);
//! assert!(matches!(step, JobStep::Send("connection 1")));
//! ```

mod job;
mod policy;
mod settings;
mod steps;

pub use job::{is_temporary, Job, JobInput, JobStep, Outcome};
pub use policy::{Checkout, Policy};
pub use settings::{Login, PoolSettings, Rate};

/// One message's outcome in a bulk send, with the message's place in the input (counting from
/// 0). Reports come in the order messages end, which is not the input order when several
/// connections work.
#[derive(Debug)]
pub struct Report {
    /// The message's index in the input.
    pub index: u64,
    /// How it ended.
    pub outcome: Outcome,
}
