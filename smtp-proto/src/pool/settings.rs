//! The pool's settings: how many connections, how long each lives, how failures are retried.

use std::time::Duration;

/// How a pool uses its connections. The defaults suit a relay or a submission server: a few
/// connections, renewed after 100 messages, closed after a minute idle (well before RFC 5321
/// §4.5.3.2.7's five-minute server timeout), checked with `RSET` before reuse after ten
/// seconds idle, three retries of a temporary failure starting one second apart.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolSettings {
    /// At most this many connections open at once (at least 1). Default 4.
    pub max_connections: usize,
    /// A connection sends at most this many messages, then says QUIT and a new one is opened
    /// (`None`: no limit). Default 100.
    pub max_messages: Option<u32>,
    /// A connection idle this long is closed (QUIT) at the pool's next use. Default 60 s.
    pub idle_timeout: Duration,
    /// A connection idle longer than this is checked with `RSET` before it takes a message; one
    /// that fails the check is dropped, and the message goes on another. Default 10 s.
    pub check_after: Duration,
    /// At most this many messages started per interval (`None`: no limit). Default none.
    pub rate: Option<Rate>,
    /// How many times a message that met a temporary failure (a 4xx reply, a connection that
    /// could not be opened or was lost before the end of data) is tried again. Default 3.
    pub retries: u32,
    /// The wait before the first retry; it doubles with each retry, up to
    /// [`max_backoff`](Self::max_backoff). Default 1 s.
    pub backoff: Duration,
    /// The longest wait between two tries. Default 60 s.
    pub max_backoff: Duration,
    /// Log in on every connection, right after it is set up. Default none.
    pub login: Option<Login>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 4,
            max_messages: Some(100),
            idle_timeout: Duration::from_secs(60),
            check_after: Duration::from_secs(10),
            rate: None,
            retries: 3,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            login: None,
        }
    }
}

impl PoolSettings {
    /// The wait before retry number `n` (1 for the first).
    pub fn backoff_for(&self, n: u32) -> Duration {
        let doublings = n.saturating_sub(1).min(20);
        self.backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

/// A rate limit: at most `messages` started in any window of `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Messages per window (at least 1).
    pub messages: u32,
    /// The window.
    pub per: Duration,
}

/// Credentials a pool logs in with on every connection: `login()`'s choice of mechanism, or the
/// one named (as `login_with`). Its `Debug` output never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The user name.
    pub user: String,
    /// The password (or token, for XOAUTH2/OAUTHBEARER).
    pub password: String,
    /// A SASL mechanism by name (`"PLAIN"`, `"SCRAM-SHA-256"`, …); `None`: the best offered.
    pub mechanism: Option<String>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("password", &format_args!("<redacted>"))
            .field("mechanism", &self.mechanism)
            .finish()
    }
}
