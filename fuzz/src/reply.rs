//! `reply` target: one-shot reply parsing.
//!
//! Input: any bytes. They are parsed whole with the default limits; and, after their first two
//! bytes (which pick small [`ReplyLimits`], see [`limits_from`]), with those limits.
//!
//! Properties, for both:
//! - never a panic;
//! - `Complete((reply, n))`: `0 < n <= len`, `reply.as_bytes() == buf[..n]`, the reply has the
//!   RFC 5321 shape (one code on every line, `-` on all lines but the last, each line within
//!   `max_line` bytes with its line end, at most `max_lines` lines, CRLF when bare LF is off),
//!   `lines()` gives each line's text; every shorter prefix of `buf[..n]` is `Partial` (checked with
//!   one incremental parser for all prefixes and with fresh parsers for many); and parsing exactly
//!   `buf[..n]` gives the same reply, consuming `n`;
//! - `Err(e)`: the error is decided by a prefix: some prefix gives `Err(e)`, all shorter ones are
//!   `Partial`, and appending more bytes does not change it;
//! - `Partial`: every prefix is `Partial` too.

use smtp_proto::reply::ParseError;
use smtp_proto::{ReplyLimits, ReplyParser, Status};

use crate::util::{limits_from, show};

/// What a parse gave, owned, for comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `Complete`: the code, and the bytes of the reply (`n` is their length).
    Complete(u16, Vec<u8>),
    /// `Partial`.
    Partial,
    /// An error.
    Error(ParseError),
}

/// Parses `buf` with `parser` and owns the result.
pub fn outcome(parser: &mut ReplyParser, buf: &[u8]) -> Outcome {
    match parser.parse(buf) {
        Ok(Status::Complete((reply, n))) => {
            assert_eq!(
                reply.as_bytes().len(),
                n,
                "consumed count differs from the reply's length"
            );
            Outcome::Complete(reply.code().get(), reply.as_bytes().to_vec())
        }
        Ok(Status::Partial) => Outcome::Partial,
        Err(e) => Outcome::Error(e),
    }
}

/// Runs every property on `data`.
pub fn check(data: &[u8]) {
    check_with(data, ReplyLimits::default());
    if let [a, b, rest @ ..] = data {
        check_with(rest, limits_from(*a, *b));
    }
}

/// The properties for one buffer and one set of limits.
pub fn check_with(buf: &[u8], limits: ReplyLimits) {
    let whole = outcome(&mut ReplyParser::new(limits), buf);

    // One parser fed every prefix in turn: the first non-Partial answer must be the whole answer,
    // at the same place.
    let mut inc = ReplyParser::new(limits);
    let mut first = None;
    for k in 0..=buf.len() {
        match outcome(&mut inc, &buf[..k]) {
            Outcome::Partial => {}
            other => {
                first = Some((k, other));
                break;
            }
        }
    }

    match &whole {
        Outcome::Complete(code, raw) => {
            let n = raw.len();
            assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
            assert_eq!(
                &buf[..n],
                &raw[..],
                "reply bytes are not the buffer's prefix"
            );
            assert_eq!(
                first,
                Some((n, whole.clone())),
                "a shorter prefix was not Partial, or the incremental parse differs: {}",
                show(buf)
            );
            check_shape(*code, raw, limits);
            for k in fresh_prefixes(n) {
                assert_eq!(
                    outcome(&mut ReplyParser::new(limits), &buf[..k]),
                    Outcome::Partial,
                    "prefix of {k} bytes of a reply of {n} is not Partial: {}",
                    show(buf)
                );
            }
            let again = outcome(&mut ReplyParser::new(limits), &buf[..n]);
            assert_eq!(again, whole, "re-parsing exactly the reply differs");
        }
        Outcome::Error(e) => {
            let Some((k, Outcome::Error(found))) = &first else {
                panic!("error {e:?} of the whole not reached by prefixes: {first:?}");
            };
            assert_eq!(found, e, "prefix of {k} bytes gives another error");
            assert_eq!(
                outcome(&mut ReplyParser::new(limits), &buf[..*k]),
                whole,
                "a fresh parser on the deciding prefix differs"
            );
            let mut longer = buf.to_vec();
            longer.extend_from_slice(b"250 ok\r\n");
            assert_eq!(
                outcome(&mut ReplyParser::new(limits), &longer),
                whole,
                "appending bytes changed the error"
            );
        }
        Outcome::Partial => {
            assert_eq!(first, None, "a prefix decided what the whole did not");
        }
    }
}

/// The prefix lengths checked with a fresh parser each: all of them for short replies, else a
/// spread including both ends.
fn fresh_prefixes(n: usize) -> Vec<usize> {
    if n <= 300 {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..8).chain(n - 8..n).collect();
    let step = n / 64;
    v.extend((1..64).map(|i| i * step));
    v
}

/// Checks the RFC 5321 §4.2 shape of a complete reply, independently of the parser.
fn check_shape(code: u16, raw: &[u8], limits: ReplyLimits) {
    let digits = code.to_string();
    let d = digits.as_bytes();
    assert!(
        d.len() == 3
            && (b'2'..=b'5').contains(&d[0])
            && (b'0'..=b'5').contains(&d[1])
            && d[2].is_ascii_digit(),
        "invalid code {code}"
    );
    assert!(raw.ends_with(b"\n"), "reply does not end with a line end");
    let lines: Vec<&[u8]> = raw.split_inclusive(|&b| b == b'\n').collect();
    assert!(!lines.is_empty());
    assert!(
        lines.len() <= limits.max_lines,
        "{} lines, limit {}",
        lines.len(),
        limits.max_lines
    );
    let mut texts = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.len() <= limits.max_line,
            "line of {} bytes, limit {}",
            line.len(),
            limits.max_line
        );
        if !limits.bare_lf {
            assert!(line.ends_with(b"\r\n"), "bare LF accepted while off");
        }
        assert_eq!(&line[..3], d, "line {i} has another code");
        let body = &line[..line.len() - 1];
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let last = i + 1 == lines.len();
        match body.get(3) {
            Some(b'-') => assert!(!last, "last line continues"),
            Some(b' ') | None => assert!(last, "line {i} ends the reply too early"),
            Some(other) => panic!("separator {other:#04x} accepted"),
        }
        texts.push(body.get(4..).unwrap_or_default());
    }
    let reply = match ReplyParser::new(limits).parse(raw) {
        Ok(Status::Complete((reply, _))) => reply,
        other => panic!("re-parse failed: {other:?}"),
    };
    assert_eq!(reply.line_count(), lines.len());
    assert_eq!(reply.lines().collect::<Vec<_>>(), texts, "line texts");
}
