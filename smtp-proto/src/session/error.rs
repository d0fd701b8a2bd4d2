//! The adapters' error type: transport failures, the core's errors, and smtplib-like outcomes.

use std::io;

use crate::client::Stage;
use crate::command::{InvalidInput, Mailbox};
use crate::{OwnedReply, UsageError};

/// The TLS library's error, as the adapter's TLS backend reports it (`native_tls::Error` for
/// the adapters of this workspace: downcast to read it).
pub type TlsError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Recipients refused by the server, with the refusing reply, in envelope order (smtplib's
/// `sendmail` return value and the payload of `SMTPRecipientsRefused`).
///
/// For SMTP these are refusals at `RCPT`; for LMTP also the per-recipient replies after the data.
pub type Refused = Vec<(Mailbox, OwnedReply)>;

/// Everything that can go wrong in an adapter's session. See the [module docs](super) for the
/// map from smtplib's exceptions.
///
/// Variants from [`Io`](Self::Io) to [`Smtp`](Self::Smtp) end the session (the socket is
/// closed); the smtplib-like outcomes ([`HeloRefused`](Self::HeloRefused) to
/// [`DataRefused`](Self::DataRefused)) and [`Usage`](Self::Usage) /
/// [`InvalidInput`](Self::InvalidInput) leave it usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket error: the connection could not be made, or failed (the session is over).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The TLS handshake failed: certificate or host name not trusted, protocol error.
    #[error("TLS error: {}", TlsMessage(&**.0))]
    Tls(#[source] TlsError),
    /// The session ended: what the core reported (timeout, malformed reply, unexpected EOF,
    /// `421`, STARTTLS injection, …).
    #[error(transparent)]
    Smtp(#[from] crate::Error),
    /// The session cannot do this now (nothing was sent): not connected, extension not offered,
    /// AUTH without TLS, …
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// An address, name or argument was refused before it could reach the wire (CR, LF, NUL, …;
    /// smtplib's `ValueError`).
    #[error("invalid input: {0}")]
    InvalidInput(#[from] InvalidInput),
    /// A setting that cannot work (a zero timeout, an empty host, a port that is not a number).
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    /// The message given to `send_message` cannot be used (its headers cannot be read, more than
    /// one `Resent-` block, no sender or no recipient found).
    #[error("unusable message: {0}")]
    Message(String),
    /// No session: never connected, or closed (smtplib's "please run connect() first").
    #[error("not connected")]
    NotConnected,
    /// EHLO and HELO (or LHLO) were refused (smtplib's `SMTPHeloError`).
    #[error("hello refused: {0}")]
    HeloRefused(OwnedReply),
    /// STARTTLS was answered with something other than `220` (smtplib raises
    /// `SMTPResponseException`); the session is still plaintext.
    #[error("STARTTLS refused: {0}")]
    StartTlsRefused(OwnedReply),
    /// Authentication failed (smtplib's `SMTPAuthenticationError`).
    #[error("authentication failed: {0}")]
    AuthFailed(OwnedReply),
    /// `MAIL FROM` was refused (smtplib's `SMTPSenderRefused`).
    #[error("sender {sender} refused: {reply}")]
    SenderRefused {
        /// The sender as given to `sendmail` (smtplib's `sender`); for `sendmail_with` the
        /// address without angle brackets (`<>` for the null path), for `send_message` the
        /// address taken from the headers (or given).
        sender: String,
        /// The server's reply.
        reply: OwnedReply,
    },
    /// Every recipient was refused (smtplib's `SMTPRecipientsRefused`); no body was sent.
    #[error("all recipients refused")]
    RecipientsRefused(Refused),
    /// `DATA`, a `BDAT` chunk or the end of data was refused (smtplib's `SMTPDataError`).
    #[error("message data refused: {reply}")]
    DataRefused {
        /// The refusing reply (LMTP: the last per-recipient reply).
        reply: OwnedReply,
        /// LMTP: the recipients refused after the data (empty for SMTP).
        refused: Refused,
    },
}

/// The TLS library's text for a TLS error (native-tls's, in the adapters here), without the certificate verification result that its
/// OpenSSL backend appends in parentheses, unless the handshake failed on that verification.
///
/// OpenSSL records a verification result even when certificate checks are off; a handshake
/// that then fails for another reason (an alert from the server, say) would end with a stale
/// `(self-signed certificate)`. The result is shown only with OpenSSL's "certificate verify
/// failed", the one failure it explains; other backends' texts are shown as they are.
struct TlsMessage<'a>(&'a (dyn std::error::Error + Send + Sync + 'static));

impl std::fmt::Display for TlsMessage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let full = self.0.to_string();
        // The OpenSSL backend writes `{source} ({verify result})`.
        if let Some(source) = self.0.source().map(ToString::to_string) {
            let suffix = full.strip_prefix(source.as_str()).unwrap_or_default();
            if suffix.starts_with(" (")
                && suffix.ends_with(')')
                && !source.contains("certificate verify failed")
            {
                return f.write_str(&source);
            }
        }
        f.write_str(&full)
    }
}

/// A shorthand for results of the adapters.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether this is a timeout: a reply, a write, the TLS handshake or the connect took too
    /// long.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Smtp(crate::Error::Timeout { .. }) => true,
            Self::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }

    /// Whether the session is over after this error (reconnect to go on).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Io(_) | Self::Tls(_) | Self::Smtp(_) | Self::NotConnected
        )
    }

    /// The server reply carried by the error, if any.
    pub fn reply(&self) -> Option<&OwnedReply> {
        match self {
            Self::HeloRefused(r)
            | Self::StartTlsRefused(r)
            | Self::AuthFailed(r)
            | Self::SenderRefused { reply: r, .. }
            | Self::DataRefused { reply: r, .. } => Some(r),
            Self::Smtp(crate::Error::Rejected { reply, .. })
            | Self::Smtp(crate::Error::Unexpected { reply, .. })
            | Self::Smtp(crate::Error::HelloRefused(reply))
            | Self::Smtp(crate::Error::StartTlsRefused(reply))
            | Self::Smtp(crate::Error::AuthLoop(reply)) => Some(reply),
            _ => None,
        }
    }

    /// A timeout at `stage` after `after` (what an adapter reports when a wait of its own, a
    /// connect or a TLS handshake, ran out).
    pub fn timeout(stage: Stage, after: std::time::Duration) -> Self {
        Self::Smtp(crate::Error::Timeout { stage, after })
    }

    /// A TLS failure from the adapter's TLS library.
    pub fn tls(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Tls(Box::new(error))
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(io) => io,
            other => {
                let kind = if other.is_timeout() {
                    io::ErrorKind::TimedOut
                } else {
                    io::ErrorKind::Other
                };
                Self::new(kind, other)
            }
        }
    }
}
