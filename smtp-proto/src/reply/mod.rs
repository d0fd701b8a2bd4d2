//! SMTP replies (RFC 5321 §4.2): reply codes, enhanced status codes (RFC 3463),
//! the borrowed [`Reply`] view and the owned [`OwnedReply`].
//!
//! Parsing lives in [`parse`](self::ReplyParser); see [`ReplyParser`].

mod parse;

pub use parse::{parse_reply, ReplyParser};

/// A three-digit SMTP reply code (RFC 5321 §4.2): first digit 2–5, second 0–5, third 0–9.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// `211` System status.
    pub const SYSTEM_STATUS: Self = Self(211);
    /// `214` Help message.
    pub const HELP: Self = Self(214);
    /// `220` Service ready (greeting, STARTTLS go-ahead).
    pub const READY: Self = Self(220);
    /// `221` Service closing transmission channel (reply to QUIT).
    pub const CLOSING: Self = Self(221);
    /// `235` Authentication succeeded (RFC 4954).
    pub const AUTH_OK: Self = Self(235);
    /// `250` Requested mail action okay, completed.
    pub const OK: Self = Self(250);
    /// `251` User not local; will forward.
    pub const WILL_FORWARD: Self = Self(251);
    /// `252` Cannot VRFY user, but will accept message and attempt delivery.
    pub const CANNOT_VERIFY: Self = Self(252);
    /// `334` Server challenge (RFC 4954).
    pub const AUTH_CONTINUE: Self = Self(334);
    /// `354` Start mail input.
    pub const START_MAIL_INPUT: Self = Self(354);
    /// `421` Service not available, closing transmission channel.
    pub const SERVICE_UNAVAILABLE: Self = Self(421);
    /// `454` TLS not available / temporary authentication failure.
    pub const TLS_UNAVAILABLE: Self = Self(454);
    /// `500` Syntax error, command unrecognized.
    pub const SYNTAX_ERROR: Self = Self(500);
    /// `502` Command not implemented.
    pub const NOT_IMPLEMENTED: Self = Self(502);
    /// `503` Bad sequence of commands.
    pub const BAD_SEQUENCE: Self = Self(503);
    /// `535` Authentication credentials invalid (RFC 4954).
    pub const AUTH_FAILED: Self = Self(535);
    /// `554` Transaction failed / no SMTP service here (greeting).
    pub const TRANSACTION_FAILED: Self = Self(554);

    /// Returns the code if it is valid per RFC 5321 §4.2 (first digit 2–5, second 0–5).
    pub const fn new(code: u16) -> Option<Self> {
        todo!()
    }

    /// The numeric value, e.g. `250`.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The class given by the first digit.
    pub const fn class(self) -> Class {
        todo!()
    }

    /// `true` for 2xx.
    pub const fn is_positive_completion(self) -> bool {
        todo!()
    }
}

/// The class of a reply: its first digit (RFC 5321 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// 2yz: the command succeeded.
    PositiveCompletion,
    /// 3yz: send more (354 for DATA, 334 for AUTH).
    PositiveIntermediate,
    /// 4yz: temporary failure; try again later.
    TransientNegative,
    /// 5yz: permanent failure.
    PermanentNegative,
}

/// "Need more bytes" is a success value, not an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// A complete value.
    Complete(T),
    /// The input ends before the value does: call again with more bytes.
    Partial,
}

/// An RFC 3463 enhanced status code `class.subject.detail`, e.g. `5.1.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// 2, 4 or 5.
    pub class: u8,
    /// 0–999.
    pub subject: u16,
    /// 0–999.
    pub detail: u16,
}

/// Limits that bound what one reply may cost, whatever the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Longest accepted line, terminator included (default 8192, as smtplib's `_MAXLINE`).
    pub max_line: usize,
    /// Most lines in one reply (default 512).
    pub max_lines: usize,
    /// Accept a bare LF as a line end (default `true`); `false` makes it [`ParseError::BareLf`].
    pub bare_lf: bool,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        Self { max_line: 8192, max_lines: 512, bare_lf: true }
    }
}

/// A complete reply, borrowed from the input buffer. All lines share [`Reply::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    code: ReplyCode,
    raw: &'a [u8],
}

/// Iterator over the text of each line of a reply (without the code, separator and line end).
#[derive(Clone, Debug)]
pub struct Lines<'a> {
    rest: &'a [u8],
}

/// An owned reply: code plus the raw bytes the server sent.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OwnedReply {
    code: ReplyCode,
    raw: Box<[u8]>,
}

/// The server sent something that is not an SMTP reply. Cheap, `Copy`, positioned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The line does not start with a valid three-digit code.
    #[error("line {line}: no valid reply code")]
    InvalidCode {
        /// 1-based line number within the reply.
        line: usize,
    },
    /// A multi-line reply changed its code.
    #[error("line {line}: reply code changed from {first} to {found}")]
    MismatchedCode {
        /// 1-based line number within the reply.
        line: usize,
        /// The code of the first line.
        first: u16,
        /// The code of this line.
        found: u16,
    },
    /// The code is not followed by SP, `-` or the line end.
    #[error("line {line}: expected ' ' or '-' after the code")]
    InvalidSeparator {
        /// 1-based line number within the reply.
        line: usize,
    },
    /// A line exceeded [`ReplyLimits::max_line`].
    #[error("reply line longer than {limit} bytes")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// The reply exceeded [`ReplyLimits::max_lines`].
    #[error("reply longer than {limit} lines")]
    TooManyLines {
        /// The limit in force.
        limit: usize,
    },
    /// A line ended with LF alone while [`ReplyLimits::bare_lf`] is off.
    #[error("line {line} ended with a bare LF")]
    BareLf {
        /// 1-based line number within the reply.
        line: usize,
    },
}

// ---- API contract (implementations pending) ----

impl<'a> Reply<'a> {
    /// The reply code shared by all lines.
    pub fn code(&self) -> ReplyCode {
        self.code
    }
    /// Exactly the bytes the server sent for this reply, line ends included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
    /// Each line's text, without the code, the separator and the line end.
    pub fn lines(&self) -> Lines<'a> {
        Lines { rest: self.raw }
    }
    /// The RFC 3463 code at the start of the first line's text, when it has the full
    /// `class.subject.detail` shape followed by SP or the line end.
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        todo!()
    }
    /// The lines' text joined with `\n`, decoded lossily as UTF-8.
    pub fn text_lossy(&self) -> String {
        todo!()
    }
    /// An owned copy.
    pub fn into_owned(self) -> OwnedReply {
        OwnedReply { code: self.code, raw: self.raw.into() }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let _ = &self.rest;
        todo!()
    }
}

impl OwnedReply {
    /// The borrowed view of this reply.
    pub fn as_reply(&self) -> Reply<'_> {
        Reply { code: self.code, raw: &self.raw }
    }
    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }
}
