//! SMTP replies (RFC 5321 §4.2): reply codes, enhanced status codes (RFC 3463),
//! the borrowed [`Reply`] view and the owned [`OwnedReply`].
//!
//! Parsing lives in [`parse`](self::ReplyParser); see [`ReplyParser`].

mod parse;

use std::fmt;

use memchr::memchr;

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
        let first = code / 100;
        let second = code / 10 % 10;
        if first >= 2 && first <= 5 && second <= 5 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The numeric value, e.g. `250`.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The class given by the first digit.
    pub const fn class(self) -> Class {
        match self.0 / 100 {
            2 => Class::PositiveCompletion,
            3 => Class::PositiveIntermediate,
            4 => Class::TransientNegative,
            // `new` admits nothing else: only 5yz is left.
            _ => Class::PermanentNegative,
        }
    }

    /// `true` for 2xx.
    pub const fn is_positive_completion(self) -> bool {
        matches!(self.class(), Class::PositiveCompletion)
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
        Self {
            max_line: 8192,
            max_lines: 512,
            bare_lf: true,
        }
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

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl EnhancedCode {
    /// Parses `class.subject.detail` (RFC 3463: class 2, 4 or 5; subject and detail
    /// 1–3 digits each) at the start of `text`, when followed by SP or the end of `text`.
    pub fn parse_prefix(text: &[u8]) -> Option<Self> {
        let (&class, rest) = text.split_first()?;
        if !matches!(class, b'2' | b'4' | b'5') {
            return None;
        }
        let rest = rest.strip_prefix(b".")?;
        let (subject, rest) = number(rest)?;
        let rest = rest.strip_prefix(b".")?;
        let (detail, rest) = number(rest)?;
        match rest.first() {
            None | Some(b' ') => Some(Self {
                class: class - b'0',
                subject,
                detail,
            }),
            Some(_) => None,
        }
    }
}

/// One to three ASCII digits at the start of `s`, and what follows them.
fn number(s: &[u8]) -> Option<(u16, &[u8])> {
    let digits = s.iter().take(4).take_while(|b| b.is_ascii_digit()).count();
    if !(1..=3).contains(&digits) {
        return None;
    }
    let (num, rest) = s.split_at_checked(digits)?;
    let value = num
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    Some((value, rest))
}

/// Joins the text of `lines` with `\n`, lossily decoded.
fn join_lossy(lines: Lines<'_>) -> String {
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(line);
    }
    String::from_utf8_lossy(&out).into_owned()
}

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
    /// The number of lines (at least 1).
    pub fn line_count(&self) -> usize {
        self.lines().count()
    }
    /// The RFC 3463 code at the start of the first line's text, when it has the full
    /// `class.subject.detail` shape followed by SP or the line end.
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        EnhancedCode::parse_prefix(self.lines().next()?)
    }
    /// The lines' text joined with `\n`, decoded lossily as UTF-8.
    pub fn text_lossy(&self) -> String {
        join_lossy(self.lines())
    }
    /// An owned copy.
    pub fn into_owned(self) -> OwnedReply {
        OwnedReply {
            code: self.code,
            raw: self.raw.into(),
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match memchr(b'\n', self.rest) {
            Some(lf) => (self.rest.get(..lf)?, self.rest.get(lf + 1..)?),
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // `250`, `250-` and `250 ` all carry an empty text.
        Some(line.get(4..).unwrap_or_default())
    }
}

impl std::iter::FusedIterator for Lines<'_> {}

impl OwnedReply {
    /// The borrowed view of this reply.
    pub fn as_reply(&self) -> Reply<'_> {
        Reply {
            code: self.code,
            raw: &self.raw,
        }
    }
    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }
    /// Exactly the bytes the server sent, line ends included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
    /// Each line's text; see [`Reply::lines`].
    pub fn lines(&self) -> Lines<'_> {
        self.as_reply().lines()
    }
    /// The number of lines (at least 1).
    pub fn line_count(&self) -> usize {
        self.as_reply().line_count()
    }
    /// The RFC 3463 code of the first line; see [`Reply::enhanced_code`].
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        self.as_reply().enhanced_code()
    }
    /// The lines' text joined with `\n`, decoded lossily as UTF-8.
    pub fn text_lossy(&self) -> String {
        self.as_reply().text_lossy()
    }
    /// The reply cut to at most `max` bytes (and at least its first 64), at a line boundary
    /// when a whole line fits: the code, the enhanced code and the first words stay; the last
    /// line kept becomes the final one (`250 ` rather than `250-`). Unchanged when it fits.
    ///
    /// What the client keeps of replies it stores per recipient (a reply may legally be 512
    /// lines of 8 KB): see [`Client`](crate::client::Client)'s memory bounds.
    ///
    /// ```
    /// use smtp_proto::{OwnedReply, ReplyParser, Status};
    ///
    /// let raw = b"550-5.1.1 no such user here, and here is why:\r\n\
    ///             550-a second line of explanation\r\n550 and a third\r\n";
    /// let Ok(Status::Complete((reply, _))) = ReplyParser::default().parse(raw) else {
    ///     panic!("one reply")
    /// };
    /// let reply = OwnedReply::from(reply).truncated(64);
    /// assert_eq!(reply.as_bytes(), b"550 5.1.1 no such user here, and here is why:\r\n");
    /// assert_eq!(reply.code().get(), 550);
    /// ```
    #[must_use]
    pub fn truncated(self, max: usize) -> Self {
        let max = max.max(64);
        if self.raw.len() <= max {
            return self;
        }
        let mut kept = Vec::with_capacity(max);
        let mut rest: &[u8] = &self.raw;
        while let Some(lf) = memchr(b'\n', rest) {
            let Some((line, after)) = rest.split_at_checked(lf + 1) else {
                break;
            };
            if kept.len() + line.len() > max {
                break;
            }
            kept.extend_from_slice(line);
            rest = after;
        }
        if kept.is_empty() {
            // Not even the first line fits: its first bytes, ended as a line.
            let first = self.raw.get(..max - 2).unwrap_or_default();
            let first = first.strip_suffix(b"\r").unwrap_or(first);
            kept.extend_from_slice(first);
            kept.extend_from_slice(b"\r\n");
        }
        // The last line kept ends the reply: `ddd-` becomes `ddd `.
        let last_start = kept
            .len()
            .checked_sub(1)
            .and_then(|end| kept.get(..end))
            .and_then(|head| memchr::memrchr(b'\n', head))
            .map_or(0, |lf| lf + 1);
        if let Some(sep) = kept.get_mut(last_start + 3) {
            if *sep == b'-' {
                *sep = b' ';
            }
        }
        Self {
            code: self.code,
            raw: kept.into_boxed_slice(),
        }
    }
}

impl From<Reply<'_>> for OwnedReply {
    fn from(reply: Reply<'_>) -> Self {
        reply.into_owned()
    }
}

/// `250 2.0.0 ok` (lines joined with `\n`); a reply without text shows only its code.
impl fmt::Display for OwnedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.text_lossy();
        if text.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{} {}", self.code, text)
        }
    }
}

/// `OwnedReply(250, "2.0.0 ok")`.
impl fmt::Debug for OwnedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedReply")
            .field(&self.code.get())
            .field(&self.text_lossy())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(raw: &[u8]) -> Reply<'_> {
        match parse_reply(raw) {
            Ok(Status::Complete((reply, n))) if n == raw.len() => reply,
            other => panic!("{raw:?} is not one reply: {other:?}"),
        }
    }

    fn enhanced(text: &[u8]) -> Option<String> {
        EnhancedCode::parse_prefix(text).map(|e| e.to_string())
    }

    #[test]
    fn reply_code_ranges() {
        for bad in [
            0,
            99,
            199,
            200 - 1,
            260,
            299,
            360,
            600,
            999,
            1000,
            2500,
            u16::MAX,
        ] {
            assert_eq!(ReplyCode::new(bad), None, "{bad}");
        }
        for good in [200, 211, 250, 259, 354, 421, 559] {
            assert_eq!(ReplyCode::new(good).map(ReplyCode::get), Some(good));
        }
        const OK: Option<ReplyCode> = ReplyCode::new(250);
        assert_eq!(OK, Some(ReplyCode::OK));
    }

    #[test]
    fn reply_code_class() {
        let class = |c: ReplyCode| (c.class(), c.is_positive_completion());
        assert_eq!(class(ReplyCode::OK), (Class::PositiveCompletion, true));
        assert_eq!(class(ReplyCode::READY), (Class::PositiveCompletion, true));
        assert_eq!(
            class(ReplyCode::START_MAIL_INPUT),
            (Class::PositiveIntermediate, false)
        );
        assert_eq!(
            class(ReplyCode::AUTH_CONTINUE),
            (Class::PositiveIntermediate, false)
        );
        assert_eq!(
            class(ReplyCode::SERVICE_UNAVAILABLE),
            (Class::TransientNegative, false)
        );
        assert_eq!(
            class(ReplyCode::TRANSACTION_FAILED),
            (Class::PermanentNegative, false)
        );
    }

    #[test]
    fn named_codes_are_valid() {
        let named = [
            ReplyCode::SYSTEM_STATUS,
            ReplyCode::HELP,
            ReplyCode::CLOSING,
            ReplyCode::AUTH_OK,
            ReplyCode::WILL_FORWARD,
            ReplyCode::CANNOT_VERIFY,
            ReplyCode::TLS_UNAVAILABLE,
            ReplyCode::SYNTAX_ERROR,
            ReplyCode::NOT_IMPLEMENTED,
            ReplyCode::BAD_SEQUENCE,
            ReplyCode::AUTH_FAILED,
        ];
        for code in named {
            assert_eq!(ReplyCode::new(code.get()), Some(code));
        }
    }

    #[test]
    fn displays() {
        assert_eq!(ReplyCode::OK.to_string(), "250");
        let e = EnhancedCode {
            class: 5,
            subject: 7,
            detail: 1,
        };
        assert_eq!(e.to_string(), "5.7.1");
        let e = EnhancedCode {
            class: 4,
            subject: 100,
            detail: 999,
        };
        assert_eq!(e.to_string(), "4.100.999");
    }

    #[test]
    fn enhanced_code_shape() {
        assert_eq!(enhanced(b"2.1.0 ok").as_deref(), Some("2.1.0"));
        assert_eq!(enhanced(b"2.1.0").as_deref(), Some("2.1.0"));
        assert_eq!(
            enhanced(b"5.7.1 <x@y>: Relay access denied").as_deref(),
            Some("5.7.1")
        );
        assert_eq!(enhanced(b"4.999.999 later").as_deref(), Some("4.999.999"));
        assert_eq!(enhanced(b"5.01.001 x").as_deref(), Some("5.1.1"));
        for bad in [
            &b"2address.org"[..],
            b"100.address.org",
            b"3.1.0 x",
            b"1.1.1",
            b"6.0.0",
            b"2.1",
            b"2.1.",
            b"2..0",
            b".1.0",
            b"2.1000.0",
            b"2.1.1000",
            b"2.1.0.5",
            b"2.1.0ok",
            b"2.1.0\tok",
            b" 2.1.0",
            b"2,1,0",
            b"",
        ] {
            assert_eq!(enhanced(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn enhanced_code_only_on_the_first_line() {
        let r = reply(b"250 2.1.0 ok\r\n");
        assert_eq!(
            r.enhanced_code(),
            Some(EnhancedCode {
                class: 2,
                subject: 1,
                detail: 0
            })
        );
        assert_eq!(
            reply(b"250 2.1.0\r\n").enhanced_code().map(|e| e.detail),
            Some(0)
        );
        assert_eq!(reply(b"250 2address.org\r\n").enhanced_code(), None);
        assert_eq!(reply(b"250 100.address.org\r\n").enhanced_code(), None);
        assert_eq!(
            reply(b"250-mx.example\r\n250 2.0.0 ok\r\n").enhanced_code(),
            None
        );
        let r = reply(b"550-5.1.1 no such user\r\n550 5.1.1 really\r\n");
        assert_eq!(
            r.enhanced_code().map(|e| e.to_string()).as_deref(),
            Some("5.1.1")
        );
        assert_eq!(reply(b"250\r\n").enhanced_code(), None);
    }

    #[test]
    fn lines_and_text() {
        let r = reply(b"250-first line\r\n250-\r\n250-  spaced \n250 last\r\n");
        let lines: Vec<&[u8]> = r.lines().collect();
        assert_eq!(lines, [&b"first line"[..], b"", b"  spaced ", b"last"]);
        assert_eq!(r.line_count(), 4);
        assert_eq!(r.text_lossy(), "first line\n\n  spaced \nlast");
        let mut it = r.lines();
        it.by_ref().for_each(drop);
        assert_eq!(it.next(), None);

        let r = reply(b"250\r\n");
        assert_eq!(r.lines().collect::<Vec<_>>(), [b""]);
        assert_eq!(r.text_lossy(), "");
        assert_eq!(
            reply(b"554 caf\xc3\xa9 \xff\r\n").text_lossy(),
            "caf\u{e9} \u{fffd}"
        );
    }

    #[test]
    fn lines_never_panic_on_odd_raw_bytes() {
        // `Reply` is only built by the parser, but `Lines` must not rely on it.
        fn lines(raw: &[u8]) -> Vec<&[u8]> {
            Lines { rest: raw }.collect()
        }
        assert_eq!(lines(b""), Vec::<&[u8]>::new());
        assert_eq!(lines(b"25"), [b""]);
        assert_eq!(lines(b"\n\r\n"), [b"", b""]);
        assert_eq!(lines(b"250 unterminated"), [b"unterminated"]);
    }

    #[test]
    fn truncated_replies_keep_whole_lines_and_end_properly() {
        let long = |n: usize| vec![b'x'; n];
        // Three lines of 40 bytes: 100 keeps two, the second becoming the last line.
        let raw = [
            b"550-".as_slice(),
            &long(34),
            b"\r\n550-",
            &long(34),
            b"\r\n550 ",
            &long(34),
            b"\r\n",
        ]
        .concat();
        let owned = reply(&raw).into_owned();
        let cut = owned.clone().truncated(100);
        assert_eq!(cut.as_bytes().len(), 80);
        assert_eq!(cut.line_count(), 2);
        assert_eq!(cut.as_bytes().get(40..44), Some(&b"550 "[..]));
        assert_eq!(cut.code(), ReplyCode::new(550).expect("code"));
        // It fits: unchanged.
        assert_eq!(owned.clone().truncated(raw.len()), owned);
        // Below 64, 64 is kept: here one whole line.
        assert_eq!(owned.clone().truncated(0).line_count(), 1);
        // A first line longer than the budget: its first bytes, ended as a final line.
        let raw = [b"550-5.1.1 ".as_slice(), &long(5000), b"\r\n550 end\r\n"].concat();
        let cut = reply(&raw).into_owned().truncated(1024);
        assert_eq!(cut.as_bytes().len(), 1024);
        assert!(cut.as_bytes().starts_with(b"550 5.1.1 xxx"));
        assert!(cut.as_bytes().ends_with(b"x\r\n"));
        assert_eq!(cut.line_count(), 1);
        assert_eq!(
            cut.enhanced_code().map(|e| e.to_string()).as_deref(),
            Some("5.1.1")
        );
        // Bare LF line ends are kept as they are.
        let raw = [b"250-".as_slice(), &long(70), b"\n250 ok\n"].concat();
        let cut = reply(&raw).into_owned().truncated(80);
        assert_eq!(
            cut.as_bytes(),
            [b"250 ".as_slice(), &long(70), b"\n"].concat()
        );
    }

    #[test]
    fn owned_reply() {
        let owned = reply(b"250-2.0.0 ok\r\n250 queued\r\n").into_owned();
        assert_eq!(owned.code(), ReplyCode::OK);
        assert_eq!(owned.as_bytes(), b"250-2.0.0 ok\r\n250 queued\r\n");
        assert_eq!(
            owned.lines().collect::<Vec<_>>(),
            [&b"2.0.0 ok"[..], b"queued"]
        );
        assert_eq!(owned.line_count(), 2);
        assert_eq!(owned.text_lossy(), "2.0.0 ok\nqueued");
        assert_eq!(
            owned.enhanced_code().map(|e| e.to_string()).as_deref(),
            Some("2.0.0")
        );
        assert_eq!(owned.as_reply(), reply(b"250-2.0.0 ok\r\n250 queued\r\n"));
        assert_eq!(OwnedReply::from(owned.as_reply()), owned);
        assert_eq!(owned.to_string(), "250 2.0.0 ok\nqueued");
        assert_eq!(
            format!("{owned:?}"),
            r#"OwnedReply(250, "2.0.0 ok\nqueued")"#
        );

        let bare = reply(b"250\r\n").into_owned();
        assert_eq!(bare.to_string(), "250");
        assert_eq!(format!("{bare:?}"), r#"OwnedReply(250, "")"#);
        let one = reply(b"221 2.0.0 Bye\r\n").into_owned();
        assert_eq!(one.to_string(), "221 2.0.0 Bye");
        assert_eq!(format!("{one:?}"), r#"OwnedReply(221, "2.0.0 Bye")"#);
    }
}
