//! Every error type of the crate, in one place.
//!
//! Three tiers:
//! - [`Error`]: why the session ended. The server (or the network) did something that makes going
//!   on unsafe or impossible. Delivered once, in [`Event::Closed`](crate::client::Event::Closed).
//! - [`UsageError`]: the caller asked for something the session cannot do now. Returned at once by
//!   the mutator; nothing changed and nothing was sent.
//! - Per-command refusals are not errors: they are events carrying the server's reply
//!   ([`Event::Reply`](crate::client::Event::Reply), [`MailOutcome`](crate::client::MailOutcome)).
//!
//! Small local errors stay with their codecs: [`ParseError`] (replies), [`InvalidInput`]
//! (validated newtypes), [`BodyError`] (body encoding) and [`SaslError`] (mechanisms).
//!
//! # smtplib's exceptions, mapped
//!
//! | smtplib | here |
//! | --- | --- |
//! | `SMTPException` | any of the types below |
//! | `SMTPServerDisconnected` | [`Error::UnexpectedEof`], a transport error in the adapter, [`UsageError::Closed`] |
//! | `SMTPResponseException(500, "Line too long.")` | [`Error::Parse`] with [`ParseError::LineTooLong`] |
//! | `SMTPResponseException` (STARTTLS not 220) | [`Error::StartTlsRefused`] (or the `Event::Reply` of an explicit STARTTLS) |
//! | `SMTPConnectError` | [`Error::Rejected`] with [`Stage::Greeting`] |
//! | `SMTPHeloError` | [`Error::HelloRefused`] (or the `Event::Reply` of an explicit hello) |
//! | `SMTPAuthenticationError` | [`Event::AuthFailed`](crate::client::Event::AuthFailed) |
//! | `SMTPNotSupportedError` | [`UsageError::Unsupported`] |
//! | `SMTPSenderRefused` | [`MailOutcome::SenderRefused`](crate::client::MailOutcome::SenderRefused), or [`Error::Rejected`] with [`Stage::Mail`] for a 421 |
//! | `SMTPRecipientsRefused` | [`MailOutcome::RecipientsRefused`](crate::client::MailOutcome::RecipientsRefused), or [`Error::Rejected`] with [`Stage::Rcpt`] for a 421 |
//! | `SMTPDataError` | [`MailOutcome::DataRefused`](crate::client::MailOutcome::DataRefused) |
//! | `ValueError` (CR/LF in a command) | [`InvalidInput`] from the validating constructors |
//! | `binascii.Error` (bad challenge) | [`Error::Sasl`] with [`SaslError::InvalidBase64`] |
//! | "No suitable authentication method found." | [`UsageError::NoSuitableMechanism`] |
//! | "Server AUTH mechanism infinite loop" | [`Error::AuthLoop`] |

use std::time::Duration;

pub use crate::body::BodyError;
pub use crate::command::InvalidInput;
use crate::ehlo::Extension;
use crate::reply::OwnedReply;
pub use crate::reply::ParseError;
pub use crate::sasl::SaslError;
use crate::stage::Stage;

/// Why the session ended. Delivered once, in `Event::Closed(Some(_))`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server sent something that is not an SMTP reply.
    #[error("malformed reply: {0}")]
    Parse(#[from] ParseError),
    /// No complete reply (or no write progress) in time.
    #[error("timed out waiting for {stage} after {after:?}")]
    Timeout {
        /// What the client was waiting for.
        stage: Stage,
        /// The timeout that expired.
        after: Duration,
    },
    /// The connection closed while a reply was expected (a reply cut off by EOF included).
    #[error("connection closed unexpectedly while waiting for {0}")]
    UnexpectedEof(Stage),
    /// The server refused service: a `421` at any point, or a greeting other than `220`.
    #[error("server refused service at {stage}: {reply}")]
    Rejected {
        /// Where it happened.
        stage: Stage,
        /// The server's reply.
        reply: OwnedReply,
    },
    /// Automatic set-up: EHLO and HELO (or LHLO) were both refused.
    #[error("hello refused: {0}")]
    HelloRefused(OwnedReply),
    /// [`TlsMode::Required`](crate::client::TlsMode::Required) but STARTTLS was not offered.
    #[error("STARTTLS required but not offered")]
    TlsUnavailable,
    /// [`TlsMode::Required`](crate::client::TlsMode::Required) and STARTTLS was refused.
    #[error("STARTTLS refused: {0}")]
    StartTlsRefused(OwnedReply),
    /// Bytes arrived after STARTTLS's `220` and before the TLS handshake completed: they would
    /// otherwise be taken as if they had come over TLS (STARTTLS response injection).
    #[error("plaintext received after STARTTLS was accepted")]
    StartTlsInjection,
    /// A `334` challenge that could not be decoded; it was not answered.
    #[error("AUTH failed: {0}")]
    Sasl(#[from] SaslError),
    /// The server kept sending `334` challenges past the limit, or after `*`.
    #[error("server AUTH exchange does not end (last reply: {0})")]
    AuthLoop(OwnedReply),
    /// The body could not be encoded (a bare line ending under
    /// [`BareLineEndings::Reject`](crate::body::BareLineEndings::Reject)). The session was
    /// abandoned mid-data so that no truncated message is delivered.
    #[error("message body not sent: {0}")]
    Body(BodyError),
    /// A reply that makes no sense where it came (e.g. `354` to RCPT, `334` outside AUTH).
    #[error("unexpected reply to {stage}: {reply}")]
    Unexpected {
        /// The command it answered.
        stage: Stage,
        /// The reply.
        reply: OwnedReply,
    },
}

impl Error {
    /// The stage the error happened at, where one is known.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Self::Timeout { stage, .. }
            | Self::UnexpectedEof(stage)
            | Self::Rejected { stage, .. }
            | Self::Unexpected { stage, .. } => Some(*stage),
            Self::HelloRefused(_) => Some(Stage::Hello),
            Self::TlsUnavailable | Self::StartTlsRefused(_) | Self::StartTlsInjection => {
                Some(Stage::StartTls)
            }
            Self::Sasl(_) | Self::AuthLoop(_) => Some(Stage::Auth),
            Self::Body(_) => Some(Stage::DataBlock),
            Self::Parse(_) => None,
        }
    }
}

/// The caller asked for something the session cannot do now. Nothing changed, nothing was sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The session has ended; connect again.
    #[error("the session is closed")]
    Closed,
    /// The session is not ready for this yet: wait for `Event::Ready`, say hello first
    /// (manual set-up), or let a pending hello/STARTTLS finish.
    #[error("the session is not ready for this request yet")]
    NotReady,
    /// The server did not advertise an extension this request needs.
    #[error("the server does not support {}", .0.keyword())]
    Unsupported(Extension),
    /// The envelope has no recipients.
    #[error("no recipients")]
    NoRecipients,
    /// The declared size exceeds the server's SIZE limit.
    #[error("message of {size} bytes exceeds the server's limit of {limit} bytes")]
    TooLarge {
        /// The declared size.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// AUTH on a plaintext session; use TLS or set `Config::allow_auth_without_tls`.
    #[error("refusing to authenticate without TLS")]
    AuthWithoutTls,
    /// REQUIRETLS (RFC 8689) asked for on a plaintext session.
    #[error("REQUIRETLS needs a TLS session")]
    RequireTlsWithoutTls,
    /// The mechanism's name is not a valid SASL name.
    #[error("invalid SASL mechanism name {0:?}")]
    InvalidMechanism(String),
    /// The server did not offer the requested mechanism.
    #[error("the server does not offer SASL mechanism {0}")]
    MechanismNotOffered(String),
    /// None of the preferred mechanisms is offered.
    #[error("no suitable authentication method found")]
    NoSuitableMechanism,
    /// STARTTLS on a session that is already secure.
    #[error("the session is already secure")]
    AlreadySecure,
}
