//! Session configuration: TLS policy, timeouts (RFC 5321 §4.5.3.2) and buffer limits.

use std::time::Duration;

use crate::body::BareLineEndings;
use crate::command::Domain;
use crate::reply::ReplyLimits;

/// How the session uses TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// Never send STARTTLS (plaintext session, or a transport secured outside SMTP).
    #[default]
    Disabled,
    /// Upgrade with STARTTLS when the server offers it, else carry on in plaintext.
    Opportunistic,
    /// Upgrade with STARTTLS; a server that does not offer it, or refuses it, ends the session
    /// ([`Error::TlsUnavailable`](crate::error::Error::TlsUnavailable) /
    /// [`Error::StartTlsRefused`](crate::error::Error::StartTlsRefused)). Never plaintext.
    Required,
    /// The transport is already TLS (SMTPS, port 465, RFC 8314): the session starts secure.
    Implicit,
}

/// How far the client goes on its own after the greeting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Setup {
    /// Greeting, EHLO (HELO fallback; LHLO for LMTP), STARTTLS per [`TlsMode`], EHLO again, then
    /// [`Event::Ready`](crate::client::Event::Ready). Failures end the session.
    #[default]
    Automatic,
    /// Only the greeting: [`Event::Ready`](crate::client::Event::Ready) follows the `220`, and the
    /// caller says hello itself ([`Client::hello`](crate::client::Client::hello)), as with
    /// smtplib's `SMTP()` followed by explicit `ehlo()`/`starttls()`.
    Manual,
}

/// Reply timeouts, RFC 5321 §4.5.3.2. Each bounds the wait for one complete reply (or, for
/// [`data_block`](Self::data_block), for progress in writing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// The `220` greeting: §4.5.3.2.1 "Initial 220 Message", 5 minutes.
    pub greeting: Duration,
    /// Reply to MAIL: §4.5.3.2.2, 5 minutes.
    pub mail: Duration,
    /// Reply to each RCPT: §4.5.3.2.3, 5 minutes.
    pub rcpt: Duration,
    /// `354` after DATA: §4.5.3.2.4 "DATA Initiation", 2 minutes.
    pub data_init: Duration,
    /// Progress writing the body: §4.5.3.2.5 "Data Block", 3 minutes. Progress is the
    /// transport taking everything lent or at least 64 KiB: a few bytes now and then do not
    /// restart it (the least rate a peer must keep is 64 KiB per this duration).
    pub data_block: Duration,
    /// Reply after the final `.` or `BDAT … LAST`: §4.5.3.2.6 "DATA Termination", 10 minutes.
    pub data_term: Duration,
    /// Everything else (EHLO/HELO, STARTTLS and the TLS handshake, AUTH rounds, RSET, NOOP,
    /// VRFY, EXPN, HELP, raw commands, QUIT, non-final BDAT, writing command bytes): not listed
    /// by the RFC; 5 minutes, the RFC's server-side value (§4.5.3.2.7).
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MIN: u64 = 60;
        Self {
            greeting: Duration::from_secs(5 * MIN),
            mail: Duration::from_secs(5 * MIN),
            rcpt: Duration::from_secs(5 * MIN),
            data_init: Duration::from_secs(2 * MIN),
            data_block: Duration::from_secs(3 * MIN),
            data_term: Duration::from_secs(10 * MIN),
            command: Duration::from_secs(5 * MIN),
        }
    }
}

impl Timeouts {
    /// Every timeout set to `d` (what `smtp-send --timeout` and smtplib's `timeout=` mean).
    pub fn uniform(d: Duration) -> Self {
        Self {
            greeting: d,
            mail: d,
            rcpt: d,
            data_init: d,
            data_block: d,
            data_term: d,
            command: d,
        }
    }
}

/// Memory bounds. Whatever the server sends and however large the body, the client's buffers
/// stay within these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Reply line/line-count limits (default: 8192-byte lines as smtplib, 512 lines).
    pub reply: ReplyLimits,
    /// Most unsent bytes held for the transport (commands, body, BDAT chunk being built);
    /// body writes take only what fits. Default 256 KiB; at least 16 KiB is used.
    pub outbox: usize,
    /// Size of each `BDAT` chunk (RFC 3030). Default 64 KiB; kept below `outbox`.
    pub bdat_chunk: usize,
    /// Most `334` rounds in one AUTH exchange before the client gives up (smtplib: 5).
    pub auth_rounds: u32,
    /// Most transcript entries kept until [`Client::poll_transcript`](crate::client::Client::poll_transcript)
    /// drains them; older ones are dropped. Default 1024.
    pub transcript: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            reply: ReplyLimits::default(),
            outbox: 256 * 1024,
            bdat_chunk: 64 * 1024,
            auth_rounds: 5,
            transcript: 1024,
        }
    }
}

/// Everything a [`Client`](crate::client::Client) needs to know before it starts.
#[derive(Clone, Debug)]
pub struct Config {
    /// The name sent with EHLO/HELO/LHLO (an FQDN or an address literal).
    pub hello_name: Domain,
    /// Speak LMTP (RFC 2033): LHLO, and one reply per accepted recipient after the body.
    pub lmtp: bool,
    /// TLS policy.
    pub tls: TlsMode,
    /// Automatic session set-up, or greeting only.
    pub setup: Setup,
    /// Permit AUTH on a plaintext session (adapters set it for loopback and Unix-socket peers).
    pub allow_auth_without_tls: bool,
    /// Use PIPELINING (RFC 2920) when offered. Default on.
    pub pipelining: bool,
    /// Use CHUNKING/BDAT (RFC 3030) when offered. Default on.
    pub chunking: bool,
    /// What to do with bare CR/LF in bodies.
    pub bare_line_endings: BareLineEndings,
    /// Keep a transcript of lines sent and received (smtplib's `set_debuglevel`), AUTH redacted.
    pub transcript: bool,
    /// Reply timeouts.
    pub timeouts: Timeouts,
    /// Memory bounds.
    pub limits: Limits,
    /// Put a mechanism's initial response on the AUTH line (RFC 4954 SASL-IR) when it fits.
    /// Off: `AUTH <mechanism>` alone, the response after the server's empty `334` (smtplib's
    /// `initial_response_ok=False`, for servers that mishandle SASL-IR). Default on.
    pub initial_response: bool,
}

impl Config {
    /// Defaults for a session that says hello as `hello_name`: SMTP, no TLS, automatic set-up,
    /// PIPELINING and CHUNKING used when offered, RFC 5321 timeouts.
    pub fn new(hello_name: Domain) -> Self {
        Self {
            hello_name,
            lmtp: false,
            tls: TlsMode::Disabled,
            setup: Setup::Automatic,
            allow_auth_without_tls: false,
            pipelining: true,
            chunking: true,
            bare_line_endings: BareLineEndings::Normalize,
            transcript: false,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            initial_response: true,
        }
    }
}
