//! Incremental reply framing and parsing.
//!
//! # When an error is reported
//!
//! Every check is decided by a prefix of the current line, so the parser reports an error as
//! soon as the bytes seen so far prove it, and feeding a reply in any fragmentation gives the
//! same result as feeding it whole:
//!
//! - a byte of the code that cannot be part of a valid code ([`ParseError::InvalidCode`]) as
//!   soon as that byte is present (`1`, `26`, `25\r`);
//! - a code that differs from the first line's ([`ParseError::MismatchedCode`]) as soon as its
//!   three digits are present;
//! - a fourth byte that is not SP, `-` or a line end ([`ParseError::InvalidSeparator`]) as soon
//!   as it is present (for a CR: as soon as the byte after it is present and is not LF);
//! - [`ParseError::LineTooLong`] as soon as the line holds `max_line` bytes without an LF
//!   (the LF would make it longer than the limit), so one line never costs more than
//!   `max_line` bytes of buffer;
//! - [`ParseError::BareLf`] when the LF arrives;
//! - [`ParseError::TooManyLines`] when a line completes and the reply would need more than
//!   `max_lines` lines (a continuation line `max_lines` is enough to know).
//!
//! Within a line the checks above apply in that order.

use memchr::memchr;

use super::{ParseError, Reply, ReplyCode, ReplyLimits, Status};

/// Incremental, zero-copy reply parser. Resets itself after each complete reply or error.
///
/// It remembers how far it has scanned, so a reply fed one byte at a time costs O(n) in all.
#[derive(Clone, Debug)]
pub struct ReplyParser {
    limits: ReplyLimits,
    /// Offset of the first byte of the current (incomplete) line; earlier lines are checked.
    line_start: usize,
    /// Offset up to which the current line has been searched for LF.
    scanned: usize,
    /// Number of complete lines so far.
    lines: usize,
    /// The code of the first line, once that line is complete.
    code: Option<ReplyCode>,
}

impl Default for ReplyParser {
    /// A parser with [`ReplyLimits::default`].
    fn default() -> Self {
        Self::new(ReplyLimits::default())
    }
}

impl ReplyParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: ReplyLimits) -> Self {
        Self {
            limits,
            line_start: 0,
            scanned: 0,
            lines: 0,
            code: None,
        }
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> ReplyLimits {
        self.limits
    }

    /// `Complete((reply, n))`: `reply` borrows `buf[..n]`; the caller consumes `n` bytes.
    /// After `Partial`, call again with a buffer that starts with the same bytes.
    ///
    /// A buffer shorter than the one of the previous `Partial` call starts a new reply.
    pub fn parse<'b>(&mut self, buf: &'b [u8]) -> Result<Status<(Reply<'b>, usize)>, ParseError> {
        if buf.len() < self.scanned {
            self.reset();
        }
        let result = self.resume(buf);
        if !matches!(result, Ok(Status::Partial)) {
            self.reset();
        }
        result
    }

    fn reset(&mut self) {
        *self = Self::new(self.limits);
    }

    /// Goes on from the remembered state until the reply is complete, an error, or the
    /// buffer ends.
    fn resume<'b>(&mut self, buf: &'b [u8]) -> Result<Status<(Reply<'b>, usize)>, ParseError> {
        loop {
            let line = self.lines.saturating_add(1);
            // A line may hold at most `max_line` bytes, its LF included: look no further.
            let window_end = self
                .line_start
                .saturating_add(self.limits.max_line)
                .min(buf.len());
            let from = self.scanned.max(self.line_start);
            let window = buf.get(from..window_end).unwrap_or_default();
            let lf = memchr(b'\n', window).map(|i| from + i);
            let end = lf.map_or(window_end, |lf| lf + 1);
            let seen = buf.get(self.line_start..end).unwrap_or_default();
            let head = check_head(seen, line, self.code)?;

            if lf.is_none() {
                let tail = buf.len().saturating_sub(self.line_start);
                if tail > 0 && tail >= self.limits.max_line {
                    return Err(ParseError::LineTooLong {
                        limit: self.limits.max_line,
                    });
                }
                self.scanned = window_end;
                return Ok(Status::Partial);
            }

            // A complete line always decides its head; `None` cannot happen here.
            let Some((code, more)) = head else {
                return Err(ParseError::InvalidSeparator { line });
            };
            if !self.limits.bare_lf && !seen.ends_with(b"\r\n") {
                return Err(ParseError::BareLf { line });
            }
            let needed = if more { line.saturating_add(1) } else { line };
            if needed > self.limits.max_lines {
                return Err(ParseError::TooManyLines {
                    limit: self.limits.max_lines,
                });
            }
            if !more {
                let raw = buf.get(..end).unwrap_or_default();
                return Ok(Status::Complete((Reply { code, raw }, end)));
            }
            self.lines = line;
            self.code = Some(code);
            self.line_start = end;
            self.scanned = end;
        }
    }
}

/// Checks the start of a line. `seen` is the line so far; once complete it ends with its LF.
///
/// `Ok(None)`: the bytes decide nothing yet. `Ok(Some((code, more)))`: the code, and whether
/// the line is a continuation (`-`). `first` is the first line's code (for later lines).
fn check_head(
    seen: &[u8],
    line: usize,
    first: Option<ReplyCode>,
) -> Result<Option<(ReplyCode, bool)>, ParseError> {
    let ranges = [b'2'..=b'5', b'0'..=b'5', b'0'..=b'9'];
    if seen.iter().zip(ranges).any(|(b, range)| !range.contains(b)) {
        return Err(ParseError::InvalidCode { line });
    }
    let [a, b, c, rest @ ..] = seen else {
        return Ok(None);
    };
    let value = [a, b, c]
        .iter()
        .fold(0u16, |acc, &&d| acc * 10 + u16::from(d - b'0'));
    let code = ReplyCode::new(value).ok_or(ParseError::InvalidCode { line })?;
    if let Some(first) = first {
        if first != code {
            return Err(ParseError::MismatchedCode {
                line,
                first: first.get(),
                found: value,
            });
        }
    }
    let more = match rest {
        [] | [b'\r'] => return Ok(None),
        [b'-', ..] => true,
        [b' ', ..] | [b'\n'] | [b'\r', b'\n'] => false,
        _ => return Err(ParseError::InvalidSeparator { line }),
    };
    Ok(Some((code, more)))
}

/// One-shot parse with default limits.
pub fn parse_reply(buf: &[u8]) -> Result<Status<(Reply<'_>, usize)>, ParseError> {
    ReplyParser::new(ReplyLimits::default()).parse(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRAILERS: [&[u8]; 3] = [b"250 next\r\n", b"x", b"\r\n\r\n"];

    fn limits(max_line: usize, max_lines: usize, bare_lf: bool) -> ReplyLimits {
        ReplyLimits {
            max_line,
            max_lines,
            bare_lf,
        }
    }

    /// `input` is exactly one reply: checks it whole, grown one byte at a time (`Partial` until
    /// the last byte) and with trailing bytes (same consumed count), and returns its lines.
    #[track_caller]
    fn ok_with(input: &[u8], limits: ReplyLimits, code: u16, lines: &[&[u8]]) {
        let mut parser = ReplyParser::new(limits);
        let check = |status: Status<(Reply<'_>, usize)>| {
            let Status::Complete((reply, n)) = status else {
                panic!("Partial for {input:?}")
            };
            assert_eq!(n, input.len(), "consumed");
            assert_eq!(reply.as_bytes(), input);
            assert_eq!(reply.code().get(), code);
            assert_eq!(reply.lines().collect::<Vec<_>>(), lines);
            assert_eq!(reply.line_count(), lines.len());
        };
        check(parser.parse(input).unwrap());
        assert_fresh(&parser);
        for len in 0..input.len() {
            assert_eq!(
                parser.parse(&input[..len]),
                Ok(Status::Partial),
                "prefix {len}"
            );
        }
        check(parser.parse(input).unwrap());
        for trailer in TRAILERS {
            let long = [input, trailer].concat();
            check(parser.parse(&long).unwrap());
        }
    }

    #[track_caller]
    fn ok(input: &[u8], code: u16, lines: &[&[u8]]) {
        ok_with(input, ReplyLimits::default(), code, lines);
    }

    /// `input` is invalid and the error shows once `at` bytes are present: checks it whole,
    /// grown one byte at a time, and with trailing bytes; afterwards the parser has reset.
    #[track_caller]
    fn err_with(input: &[u8], limits: ReplyLimits, err: ParseError, at: usize) {
        assert!(at <= input.len());
        let mut parser = ReplyParser::new(limits);
        assert_eq!(parser.parse(input), Err(err), "whole");
        for len in 0..at {
            assert_eq!(
                parser.parse(&input[..len]),
                Ok(Status::Partial),
                "prefix {len}"
            );
        }
        assert_eq!(parser.parse(&input[..at]), Err(err), "prefix {at}");
        for trailer in TRAILERS {
            assert_eq!(
                parser.parse(&[input, trailer].concat()),
                Err(err),
                "trailer"
            );
        }
        assert_fresh(&parser);
    }

    #[track_caller]
    fn assert_fresh(parser: &ReplyParser) {
        let ReplyParser {
            limits: _,
            line_start,
            scanned,
            lines,
            code,
        } = *parser;
        assert_eq!(
            (line_start, scanned, lines, code),
            (0, 0, 0, None),
            "not reset"
        );
    }

    #[track_caller]
    fn err(input: &[u8], err: ParseError, at: usize) {
        err_with(input, ReplyLimits::default(), err, at);
    }

    fn invalid_code(line: usize) -> ParseError {
        ParseError::InvalidCode { line }
    }

    fn invalid_sep(line: usize) -> ParseError {
        ParseError::InvalidSeparator { line }
    }

    #[test]
    fn one_line() {
        ok(b"250 OK\r\n", 250, &[b"OK"]);
        ok(
            b"250 2.0.0 Ok: queued as 4F1\r\n",
            250,
            &[b"2.0.0 Ok: queued as 4F1"],
        );
        ok(b"334 \r\n", 334, &[b""]);
    }

    #[test]
    fn multi_line_ehlo() {
        ok(
            b"250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n",
            250,
            &[
                b"mx.example.com",
                b"PIPELINING",
                b"SIZE 10240000",
                b"8BITMIME",
            ],
        );
    }

    #[test]
    fn bare_code_lines() {
        ok(b"250\r\n", 250, &[b""]);
        ok(b"250-\r\n250 x\r\n", 250, &[b"", b"x"]);
        ok(b"250-a\r\n250\r\n", 250, &[b"a", b""]);
        ok(b"250-a\r\n250-\r\n250\n", 250, &[b"a", b"", b""]);
    }

    #[test]
    fn bare_lf_accepted_by_default() {
        ok(b"250 ok\n", 250, &[b"ok"]);
        ok(b"250\n", 250, &[b""]);
        ok(b"250-a\n250-b\r\n250 c\n", 250, &[b"a", b"b", b"c"]);
    }

    #[test]
    fn bare_lf_rejected_when_off() {
        let strict = limits(8192, 512, false);
        ok_with(b"250-a\r\n250 b\r\n", strict, 250, &[b"a", b"b"]);
        err_with(b"250 ok\n", strict, ParseError::BareLf { line: 1 }, 7);
        err_with(b"250\n", strict, ParseError::BareLf { line: 1 }, 4);
        err_with(
            b"250-a\r\n250-b\n250 c\r\n",
            strict,
            ParseError::BareLf { line: 2 },
            13,
        );
    }

    #[test]
    fn lone_cr_does_not_end_a_line() {
        ok(b"250 a\rb\r\n", 250, &[b"a\rb"]);
        ok(b"250 a\r\r\n", 250, &[b"a\r"]);
        // `250\r` needs one more byte: CR then anything but LF is not a separator.
        err(b"250\rx\r\n", invalid_sep(1), 5);
        err(b"250\r\r\n", invalid_sep(1), 5);
    }

    #[test]
    fn invalid_codes_are_reported_at_the_first_bad_byte() {
        err(b"199 x\r\n", invalid_code(1), 1);
        err(b"600 x\r\n", invalid_code(1), 1);
        err(b"260 x\r\n", invalid_code(1), 2);
        err(b"25x x\r\n", invalid_code(1), 3);
        err(b"x\r\n", invalid_code(1), 1);
        err(b" 250 x\r\n", invalid_code(1), 1);
        err(b"\r\n", invalid_code(1), 1);
        err(b"\n", invalid_code(1), 1);
        // Shorter than three characters before the line end.
        err(b"25\r\n", invalid_code(1), 3);
        err(b"25\n", invalid_code(1), 3);
        err(b"250-a\r\n2x0 b\r\n", invalid_code(2), 9);
        err(b"250-a\r\n\r\n", invalid_code(2), 8);
    }

    #[test]
    fn invalid_separators() {
        err(b"250Ok\r\n", invalid_sep(1), 4);
        err(b"2500 x\r\n", invalid_sep(1), 4);
        err(b"250\tx\r\n", invalid_sep(1), 4);
        err(b"250-a\r\n250_b\r\n", invalid_sep(2), 11);
    }

    #[test]
    fn mismatched_codes() {
        let e = ParseError::MismatchedCode {
            line: 2,
            first: 250,
            found: 251,
        };
        err(b"250-a\r\n251 b\r\n", e, 10);
        let e = ParseError::MismatchedCode {
            line: 3,
            first: 250,
            found: 550,
        };
        err(b"250-a\r\n250-b\r\n550 c\r\n", e, 17);
        // An invalid code is reported as such, not as a mismatch.
        err(b"250-a\r\n199 b\r\n", invalid_code(2), 8);
    }

    #[test]
    fn line_length_limit_counts_the_terminator() {
        let too_long = ParseError::LineTooLong { limit: 8192 };
        // Exactly 8192 bytes with CRLF (or LF): accepted.
        let text = vec![b'x'; 8192 - 6];
        let line = [b"250 ", &text[..], b"\r\n"].concat();
        assert_eq!(line.len(), 8192);
        ok(&line, 250, &[&text]);
        let text = vec![b'x'; 8192 - 5];
        let line = [b"250 ", &text[..], b"\n"].concat();
        ok(&line, 250, &[&text]);
        // 8193: rejected as soon as 8192 bytes without LF are present.
        let line = [b"250 ", &[b'x'; 8192 - 5][..], b"\r\n"].concat();
        assert_eq!(line.len(), 8193);
        err(&line, too_long, 8192);
        // Unterminated: never more than max_line bytes are needed to know.
        let line = [b"250 ", &[b'x'; 9000][..]].concat();
        err(&line, too_long, 8192);
        let mut parser = ReplyParser::default();
        assert_eq!(parser.parse(&line[..8191]), Ok(Status::Partial));
    }

    #[test]
    fn line_length_limit_applies_per_line() {
        let small = limits(10, 512, true);
        let too_long = ParseError::LineTooLong { limit: 10 };
        ok_with(
            b"250-abcd\r\n250-abcde\n250 abc\r\n",
            small,
            250,
            &[b"abcd", b"abcde", b"abc"],
        );
        err_with(b"250-abcd\r\n250 abcdef\r\n", small, too_long, 20);
        err_with(b"250-abcdefghijk", small, too_long, 10);
        // A CR as the 10th byte still needs its LF as the 11th.
        err_with(b"250 abcde\r\n", small, too_long, 10);
        // A bad code is proven before the length.
        err_with(b"199 abcdefghijk", small, invalid_code(1), 1);
    }

    #[test]
    fn degenerate_limits_do_not_panic() {
        let zero = limits(0, 0, true);
        assert_eq!(ReplyParser::new(zero).parse(b""), Ok(Status::Partial));
        err_with(b"250 x\r\n", zero, ParseError::LineTooLong { limit: 0 }, 1);
        let no_lines = limits(8192, 0, true);
        err_with(
            b"250 x\r\n",
            no_lines,
            ParseError::TooManyLines { limit: 0 },
            7,
        );
        let huge = limits(usize::MAX, usize::MAX, true);
        ok_with(b"250-a\r\n250 b\r\n", huge, 250, &[b"a", b"b"]);
    }

    #[test]
    fn too_many_lines() {
        let three = limits(8192, 3, true);
        let too_many = ParseError::TooManyLines { limit: 3 };
        ok_with(
            b"250-a\r\n250-b\r\n250 c\r\n",
            three,
            250,
            &[b"a", b"b", b"c"],
        );
        // The third line continues: a fourth is needed, which is one too many.
        err_with(b"250-a\r\n250-b\r\n250-c\r\n250 d\r\n", three, too_many, 21);
        // Default limit 512.
        let mut many = b"250-x\r\n".repeat(512);
        many.extend_from_slice(b"250 x\r\n");
        assert_eq!(
            parse_reply(&many),
            Err(ParseError::TooManyLines { limit: 512 })
        );
        let mut fits = b"250-x\r\n".repeat(511);
        fits.extend_from_slice(b"250 x\r\n");
        assert!(matches!(
            parse_reply(&fits),
            Ok(Status::Complete((_, 3584)))
        ));
    }

    #[test]
    fn enhanced_codes_through_the_parser() {
        let Status::Complete((reply, _)) = parse_reply(b"250 2.1.0 ok\r\n").unwrap() else {
            panic!("partial")
        };
        let expected = crate::reply::EnhancedCode {
            class: 2,
            subject: 1,
            detail: 0,
        };
        assert_eq!(reply.enhanced_code(), Some(expected));
        let Status::Complete((reply, _)) = parse_reply(b"250 2address.org\r\n").unwrap() else {
            panic!("partial")
        };
        assert_eq!(reply.enhanced_code(), None);
    }

    #[test]
    fn hundred_line_ehlo_byte_by_byte_keeps_its_place() {
        let mut input = b"250-mx.example.org greets you\r\n".to_vec();
        let mut starts = vec![0];
        for i in 1..99 {
            starts.push(input.len());
            input.extend_from_slice(format!("250-X-EXTENSION-{i} some params\r\n").as_bytes());
        }
        starts.push(input.len());
        input.extend_from_slice(b"250 HELP\r\n");
        let mut parser = ReplyParser::default();
        for len in 0..input.len() {
            assert_eq!(parser.parse(&input[..len]), Ok(Status::Partial));
            // The parser neither rescans finished lines nor the current line's old bytes.
            let line = starts.iter().rposition(|&s| s <= len).unwrap();
            assert_eq!(parser.line_start, starts[line]);
            assert_eq!(parser.lines, line);
            assert_eq!(parser.scanned, len);
        }
        let Status::Complete((reply, n)) = parser.parse(&input).unwrap() else {
            panic!()
        };
        assert_eq!(n, input.len());
        assert_eq!(reply.line_count(), 100);
        assert_eq!(
            reply.lines().nth(42),
            Some(&b"X-EXTENSION-42 some params"[..])
        );
        assert_eq!(parser.line_start, 0, "reset after Complete");
    }

    #[test]
    fn parser_resets_after_complete_and_error() {
        let mut parser = ReplyParser::default();
        assert_eq!(parser.parse(b"250-a\r\n25"), Ok(Status::Partial));
        assert_eq!(
            parser.parse(b"250-a\r\n251 b\r\n").map(|_| ()),
            Err(ParseError::MismatchedCode {
                line: 2,
                first: 250,
                found: 251
            })
        );
        assert_fresh(&parser);
        // The next reply is parsed from scratch, with a new first code.
        let Status::Complete((reply, n)) = parser.parse(b"251 b\r\n").unwrap() else {
            panic!()
        };
        assert_eq!((reply.code().get(), n), (251, 7));
        assert_fresh(&parser);
        assert_eq!(parser.parse(b"220-x\r\n"), Ok(Status::Partial));
        let Status::Complete((reply, _)) = parser.parse(b"220-x\r\n220 y\r\n").unwrap() else {
            panic!()
        };
        assert_eq!(reply.lines().collect::<Vec<_>>(), [b"x", b"y"]);
    }

    #[test]
    fn shorter_buffer_starts_afresh() {
        let mut parser = ReplyParser::default();
        assert_eq!(parser.parse(b"250-first\r\n250-sec"), Ok(Status::Partial));
        // The caller dropped those bytes and hands over a different, shorter reply.
        let Status::Complete((reply, n)) = parser.parse(b"421 bye\r\n").unwrap() else {
            panic!()
        };
        assert_eq!((reply.code().get(), n), (421, 9));
        assert_eq!(parser.parse(b""), Ok(Status::Partial));
    }

    #[test]
    fn several_replies_in_one_buffer() {
        let buf = b"250 a\r\n251 b\r\n354 go\r\n";
        let mut parser = ReplyParser::default();
        let mut at = 0;
        let mut codes = vec![];
        while let Ok(Status::Complete((reply, n))) = parser.parse(&buf[at..]) {
            codes.push(reply.code().get());
            at += n;
        }
        assert_eq!(codes, [250, 251, 354]);
        assert_eq!(at, buf.len());
    }

    #[test]
    fn defaults_and_limits() {
        let parser = ReplyParser::default();
        assert_eq!(
            parser.limits(),
            ReplyLimits {
                max_line: 8192,
                max_lines: 512,
                bare_lf: true
            }
        );
        let custom = limits(100, 5, false);
        assert_eq!(ReplyParser::new(custom).limits(), custom);
    }

    /// RFC 5321 Appendix D: the server's replies of the example scenarios.
    #[test]
    fn rfc5321_appendix_d() {
        ok(
            b"220 foo.com Simple Mail Transfer Service Ready\r\n",
            220,
            &[b"foo.com Simple Mail Transfer Service Ready"],
        );
        ok(
            b"250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n",
            250,
            &[
                b"foo.com greets bar.com",
                b"8BITMIME",
                b"SIZE",
                b"DSN",
                b"HELP",
            ],
        );
        ok(b"250 OK\r\n", 250, &[b"OK"]);
        ok(b"550 No such user here\r\n", 550, &[b"No such user here"]);
        ok(
            b"354 Start mail input; end with <CRLF>.<CRLF>\r\n",
            354,
            &[b"Start mail input; end with <CRLF>.<CRLF>"],
        );
        ok(
            b"221 foo.com Service closing transmission channel\r\n",
            221,
            &[b"foo.com Service closing transmission channel"],
        );
        ok(b"250 foo.com\r\n", 250, &[b"foo.com"]);
        ok(b"553 User ambiguous\r\n", 553, &[b"User ambiguous"]);
        ok(
            b"251 User not local; will forward to <Jones@XYZ.COM>\r\n",
            251,
            &[b"User not local; will forward to <Jones@XYZ.COM>"],
        );
        ok(
            b"551 User not local; please try <Mark@XYZ.COM>\r\n",
            551,
            &[b"User not local; please try <Mark@XYZ.COM>"],
        );
        ok(
            b"553-Ambiguous; Possibilities are\r\n553-Joe Smith <jsmith@foo.com>\r\n\
              553-Harry Smith <hsmith@foo.com>\r\n553 Melvin Smith <dweep@foo.com>\r\n",
            553,
            &[
                b"Ambiguous; Possibilities are",
                b"Joe Smith <jsmith@foo.com>",
                b"Harry Smith <hsmith@foo.com>",
                b"Melvin Smith <dweep@foo.com>",
            ],
        );
    }
}
