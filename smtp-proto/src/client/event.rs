//! What the client reports: events, stages, per-mail reports and transcript lines.

use std::fmt;

use crate::command::Mailbox;
use crate::error::Error;
use crate::reply::OwnedReply;
pub use crate::stage::Stage;

/// Identifies one request made through a mutator; the event that completes it carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The number, counting from 1 in the order requests were made on this client.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// One thing that happened. Events are owned: handling one may call mutators.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Set-up is done ([`Setup::Automatic`](crate::client::Setup::Automatic): greeting, hello and
    /// STARTTLS per the TLS mode; [`Setup::Manual`](crate::client::Setup::Manual): the greeting).
    /// Mutators that need the server's capabilities may be used from now on.
    Ready,
    /// The server accepted STARTTLS. Do the TLS handshake on this same transport now, then call
    /// [`Client::handle_tls_established`](crate::client::Client::handle_tls_established).
    /// Nothing is transmitted until then; any byte received before it ends the session.
    UpgradeTls,
    /// The server takes the body of the request carried now: write it through
    /// [`Client::body`](crate::client::Client::body), then `finish()` it.
    BodyWanted(RequestId),
    /// The final reply to a single-command request (hello, STARTTLS, RSET, NOOP, VRFY, EXPN, HELP,
    /// raw, low-level MAIL/RCPT; a low-level DATA/BDAT refused before its end of data). Any code:
    /// the caller judges it.
    Reply {
        /// The request.
        id: RequestId,
        /// The server's reply.
        reply: OwnedReply,
    },
    /// A low-level [`data`](crate::client::Client::data) or
    /// [`bdat`](crate::client::Client::bdat) ended after its body: the replies to the end of
    /// data, in order — one for SMTP, one per recipient accepted since the last `mail()` for
    /// LMTP (RFC 2033 §4.2). A refusal before the end of data (DATA not answered `354`, a
    /// refused BDAT chunk) ends the request with [`Event::Reply`] instead.
    DataDone {
        /// The request.
        id: RequestId,
        /// The replies, whatever their codes: the caller judges them.
        replies: Vec<OwnedReply>,
    },
    /// An AUTH request ended with `235`.
    Authenticated {
        /// The request.
        id: RequestId,
        /// The server's reply.
        reply: OwnedReply,
    },
    /// An AUTH request ended without success (the session stays usable).
    AuthFailed {
        /// The request.
        id: RequestId,
        /// The final reply (after every candidate mechanism was tried, the last one's).
        reply: OwnedReply,
    },
    /// A [`send_mail`](crate::client::Client::send_mail) transaction ended: success, partial
    /// success or refusal, with every reply attributed.
    MailDone(MailReport),
    /// The session ended. Emitted exactly once; `None` after a clean QUIT. Close the transport.
    Closed(Option<Error>),
}

/// How a mail transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailOutcome {
    /// The server took responsibility for the message (for LMTP: for at least one recipient).
    /// The final reply (LMTP: the first positive per-recipient reply).
    Accepted(OwnedReply),
    /// MAIL FROM was refused (smtplib's `SMTPSenderRefused`); RSET was sent.
    SenderRefused(OwnedReply),
    /// Every RCPT was refused (smtplib's `SMTPRecipientsRefused`); no body was sent; RSET was sent.
    RecipientsRefused,
    /// DATA, a BDAT chunk or the end of data was refused (smtplib's `SMTPDataError`); for LMTP,
    /// every recipient was refused after the body. RSET was sent.
    DataRefused(OwnedReply),
}

/// What happened to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientReport {
    /// The recipient, as given.
    pub mailbox: Mailbox,
    /// The reply to its RCPT (`None` if the transaction ended before it was read).
    pub rcpt: Option<OwnedReply>,
    /// LMTP only: its own reply after the body.
    pub delivery: Option<OwnedReply>,
}

impl RecipientReport {
    /// Whether the recipient was accepted (RCPT 2xx and, for LMTP, a 2xx delivery reply).
    pub fn accepted(&self) -> bool {
        let rcpt_ok = self
            .rcpt
            .as_ref()
            .is_some_and(|r| r.code().is_positive_completion());
        let delivery_ok = self
            .delivery
            .as_ref()
            .is_none_or(|r| r.code().is_positive_completion());
        rcpt_ok && delivery_ok
    }

    /// The reply that refused this recipient, if it was refused.
    pub fn refusal(&self) -> Option<&OwnedReply> {
        match (&self.rcpt, &self.delivery) {
            (Some(r), _) if !r.code().is_positive_completion() => Some(r),
            (_, Some(d)) if !d.code().is_positive_completion() => Some(d),
            _ => None,
        }
    }
}

/// The result of one [`send_mail`](crate::client::Client::send_mail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailReport {
    /// The request.
    pub id: RequestId,
    /// How it ended.
    pub outcome: MailOutcome,
    /// One entry per envelope recipient, in envelope order.
    pub recipients: Vec<RecipientReport>,
}

impl MailReport {
    /// Whether the message was accepted for at least one recipient.
    pub fn is_accepted(&self) -> bool {
        matches!(self.outcome, MailOutcome::Accepted(_))
    }

    /// The refused recipients with the refusing reply (smtplib's `sendmail` return value).
    pub fn refused(&self) -> impl Iterator<Item = (&Mailbox, &OwnedReply)> + '_ {
        self.recipients
            .iter()
            .filter_map(|r| r.refusal().map(|reply| (&r.mailbox, reply)))
    }
}

/// One transcript line (smtplib's debug output), AUTH payloads redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TranscriptEntry {
    /// A command line sent (without CRLF), or a summary such as `<1234 body bytes>`: the body bytes put on the wire (DATA: line ends normalised and dot-stuffed, the final `.` line shown on its own; BDAT: the sum of the chunk sizes announced).
    Sent(Vec<u8>),
    /// A reply line received (without its line end).
    Received(Vec<u8>),
    /// The TLS upgrade happened here.
    TlsEstablished,
}

impl fmt::Display for TranscriptEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sent(l) => write!(f, "C: {}", String::from_utf8_lossy(l)),
            Self::Received(l) => write!(f, "S: {}", String::from_utf8_lossy(l)),
            Self::TlsEstablished => f.write_str("-- TLS established --"),
        }
    }
}
