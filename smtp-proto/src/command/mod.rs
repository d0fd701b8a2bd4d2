//! SMTP commands (RFC 5321 §4.1) encoded to wire bytes: upper-case verbs, CRLF.
//!
//! Every argument is a validated newtype, so encoding cannot fail and cannot inject a second line.

mod param;
mod path;

pub use param::{BodyType, MailParams, Notify, Orcpt, Param, RcptParams, Ret, XText};
pub use path::{Domain, Mailbox, ReversePath};

/// Why user text was refused before it could reach the wire.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// A control byte (CR, LF, NUL, other C0, DEL) at `at`.
    #[error("control byte {byte:#04x} at position {at}")]
    ControlByte {
        /// The byte.
        byte: u8,
        /// Its 0-based position.
        at: usize,
    },
    /// A byte that is not allowed in this kind of value (e.g. `<` in a path, SP in a keyword).
    #[error("byte {byte:#04x} not allowed at position {at}")]
    ForbiddenByte {
        /// The byte.
        byte: u8,
        /// Its 0-based position.
        at: usize,
    },
    /// Longer than the RFC allows.
    #[error("{what} is {len} bytes long, the limit is {limit}")]
    TooLong {
        /// What was measured ("path", "local part", "domain", …).
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Empty where a value is required.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// Well-formed bytes, wrong shape.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// A SASL mechanism name (RFC 4422 §3.1: 1–20 of `A-Z 0-9 - _`, case-insensitive; kept upper case).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MechanismName(Box<str>);

/// Free text after a verb (VRFY, EXPN, HELP, NOOP) or a whole raw command line (`docmd`):
/// any bytes but controls (HT allowed), non-empty, at most 1000 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Argument(Box<str>);

/// A command, borrowing its validated parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `EHLO domain`
    Ehlo(&'a Domain),
    /// `HELO domain`
    Helo(&'a Domain),
    /// `LHLO domain` (RFC 2033)
    Lhlo(&'a Domain),
    /// `STARTTLS`
    StartTls,
    /// `AUTH mech [initial-response]`: the response is raw; the encoder base64s it, empty → `=`.
    Auth {
        /// The mechanism.
        mechanism: &'a MechanismName,
        /// SASL-IR (RFC 4954 §4), raw bytes.
        initial_response: Option<&'a [u8]>,
    },
    /// A response to a `334` challenge, raw; the encoder base64s it (empty → empty line).
    AuthResponse(&'a [u8]),
    /// `*`: cancel the exchange.
    AuthCancel,
    /// `MAIL FROM:<path> [params]`
    Mail {
        /// The reverse-path.
        from: &'a ReversePath,
        /// ESMTP parameters.
        params: &'a MailParams,
    },
    /// `RCPT TO:<path> [params]`
    Rcpt {
        /// The forward-path.
        to: &'a Mailbox,
        /// ESMTP parameters.
        params: &'a RcptParams,
    },
    /// `DATA`
    Data,
    /// `BDAT size [LAST]` (RFC 3030); the chunk follows separately.
    Bdat {
        /// Chunk size in bytes.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`
    Rset,
    /// `NOOP [arg]`
    Noop(Option<&'a Argument>),
    /// `QUIT`
    Quit,
    /// `VRFY arg`
    Vrfy(&'a Argument),
    /// `EXPN arg`
    Expn(&'a Argument),
    /// `HELP [arg]`
    Help(Option<&'a Argument>),
    /// A raw line (smtplib `docmd`), sent as is plus CRLF.
    Raw(&'a Argument),
}

impl Command<'_> {
    /// Appends the command line and its CRLF. Infallible: every part was validated when built.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let _ = out;
        todo!()
    }
}
