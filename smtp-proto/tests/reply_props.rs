//! Property tests for the reply parser and the EHLO capabilities.

use proptest::prelude::*;
use smtp_proto::reply::ParseError;
use smtp_proto::{Capabilities, Reply, ReplyLimits, ReplyParser, Status};

/// `(code, raw bytes)` of each reply parsed from `parse` results.
type Parsed = Vec<(u16, Vec<u8>)>;

/// A valid reply code.
fn code() -> impl Strategy<Value = u16> {
    (2u16..=5, 0u16..=5, 0u16..=9).prop_map(|(a, b, c)| a * 100 + b * 10 + c)
}

/// Text of one line: any bytes but CR and LF.
fn text() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        any::<u8>().prop_filter("no line end", |b| *b != b'\r' && *b != b'\n'),
        0..30,
    )
}

/// One well-formed reply (CRLF or bare LF line ends, bare code lines included).
fn reply() -> impl Strategy<Value = Vec<u8>> {
    let line = (text(), any::<bool>(), any::<bool>());
    (code(), prop::collection::vec(line, 1..6)).prop_map(|(code, lines)| {
        let mut out = Vec::new();
        let count = lines.len();
        for (i, (text, crlf, bare)) in lines.into_iter().enumerate() {
            out.extend_from_slice(code.to_string().as_bytes());
            let last = i + 1 == count;
            if !(last && bare && text.is_empty()) {
                out.push(if last { b' ' } else { b'-' });
            }
            out.extend_from_slice(&text);
            out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        out
    })
}

/// Parses replies off the front of `data` as long as there are complete ones.
fn parse_all(data: &[u8]) -> (Parsed, Option<ParseError>) {
    let mut parser = ReplyParser::default();
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        match parser.parse(&data[at..]) {
            Ok(Status::Complete((reply, n))) => {
                out.push((reply.code().get(), reply.as_bytes().to_vec()));
                at += n;
            }
            Ok(Status::Partial) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// Feeds `data` to one parser through a growing window whose end moves by `steps`,
/// consuming `n` bytes on every `Complete`.
fn parse_chunked(
    data: &[u8],
    steps: &[usize],
    limits: ReplyLimits,
) -> (Parsed, Option<ParseError>) {
    let mut parser = ReplyParser::new(limits);
    let mut out = Vec::new();
    let (mut start, mut end) = (0, 0);
    let mut steps = steps.iter().cycle();
    loop {
        match parser.parse(&data[start..end]) {
            Ok(Status::Complete((reply, n))) => {
                assert!(n <= end - start);
                out.push((reply.code().get(), reply.as_bytes().to_vec()));
                start += n;
            }
            Ok(Status::Partial) if end == data.len() => return (out, None),
            Ok(Status::Partial) => end = (end + steps.next().copied().unwrap_or(1)).min(data.len()),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn whole(data: &[u8], limits: ReplyLimits) -> Result<Status<(Reply<'_>, usize)>, ParseError> {
    ReplyParser::new(limits).parse(data)
}

/// Bytes that are mostly reply-shaped, so that every rule gets exercised.
fn replyish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => prop::sample::select(vec!["250", "251", "199", "2500", "25", "550", "260"])
            .prop_map(|s| s.as_bytes().to_vec()),
        3 => prop::sample::select(vec![" ", "-", "\r\n", "\n", "\r", "\r\r\n"])
            .prop_map(|s| s.as_bytes().to_vec()),
        2 => prop::collection::vec(b' '..=b'~', 0..12),
        1 => prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

fn small_limits() -> impl Strategy<Value = ReplyLimits> {
    let max_line = prop_oneof![0usize..12, 12usize..100];
    (max_line, 0usize..6, any::<bool>()).prop_map(|(max_line, max_lines, bare_lf)| ReplyLimits {
        max_line,
        max_lines,
        bare_lf,
    })
}

proptest! {
    #[test]
    fn split_replies_parse_like_whole(
        replies in prop::collection::vec(reply(), 1..6),
        steps in prop::collection::vec(1usize..12, 1..8),
    ) {
        let data = replies.concat();
        let expected: Parsed = replies.iter().map(|r| {
            let code = std::str::from_utf8(&r[..3]).unwrap().parse().unwrap();
            (code, r.clone())
        }).collect();
        prop_assert_eq!(parse_all(&data), (expected.clone(), None));
        prop_assert_eq!(parse_chunked(&data, &steps, ReplyLimits::default()), (expected, None));
    }

    #[test]
    fn byte_by_byte_parses_like_whole(replies in prop::collection::vec(reply(), 1..4)) {
        let data = replies.concat();
        prop_assert_eq!(parse_chunked(&data, &[1], ReplyLimits::default()), parse_all(&data));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200), limits in small_limits()) {
        if let Ok(Status::Complete((reply, n))) = whole(&data, limits) {
            prop_assert!(n <= data.len());
            prop_assert_eq!(reply.as_bytes(), &data[..n]);
            let _ = (reply.text_lossy(), reply.enhanced_code(), Capabilities::from_ehlo(&reply));
        }
        let _ = parse_chunked(&data, &[1, 3, 7], limits);
    }

    /// Every check is decided by a prefix, so the first non-`Partial` answer of a growing buffer
    /// is the answer for the whole buffer, errors included.
    #[test]
    fn fragmentation_never_changes_the_answer(
        data in replyish(),
        limits in small_limits(),
        steps in prop::collection::vec(1usize..6, 1..5),
    ) {
        let expected = whole(&data, limits);
        for steps in [&[1][..], &steps] {
            let mut parser = ReplyParser::new(limits);
            let mut steps = steps.iter().cycle();
            let mut end = 0;
            let got = loop {
                match parser.parse(&data[..end]) {
                    Ok(Status::Partial) if end < data.len() => {
                        end = (end + steps.next().copied().unwrap_or(1)).min(data.len());
                    }
                    other => break other,
                }
            };
            prop_assert_eq!(got, expected);
        }
        // A line never needs more than `max_line` unterminated bytes to be judged.
        if let Ok(Status::Partial) = expected {
            let tail = data.iter().rposition(|&b| b == b'\n').map_or(data.len(), |lf| data.len() - lf - 1);
            prop_assert!(tail == 0 || tail < limits.max_line);
        }
    }

    #[test]
    fn every_advertised_keyword_is_found(
        domain in "[a-z0-9.-]{1,20}",
        lines in prop::collection::vec(("[A-Za-z0-9][A-Za-z0-9-]{0,15}", "( [ -~]{0,20})?"), 0..12),
    ) {
        let mut raw = format!("250{}{domain} greets you\r\n", if lines.is_empty() { ' ' } else { '-' });
        for (i, (keyword, params)) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            raw.push_str(&format!("250{sep}{keyword}{params}\r\n"));
        }
        let Ok(Status::Complete((reply, n))) = whole(raw.as_bytes(), ReplyLimits::default()) else {
            panic!("not a reply: {raw:?}");
        };
        prop_assert_eq!(n, raw.len());
        let caps = Capabilities::from_ehlo(&reply);
        prop_assert_eq!(caps.domain(), domain.as_str());
        for (keyword, _) in &lines {
            prop_assert!(caps.has_extn(keyword), "{} missing", keyword);
            prop_assert!(caps.has_extn(&keyword.to_ascii_uppercase()));
            prop_assert!(caps.has_extn(&keyword.to_ascii_lowercase()));
            if !keyword.eq_ignore_ascii_case("auth") {
                let last = lines.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(keyword));
                let expected = last.map(|(_, p)| p.trim());
                prop_assert_eq!(caps.params(keyword), expected);
            }
        }
        prop_assert_eq!(caps.unrecognized().count(), 0);
        prop_assert!(caps.iter().all(|(k, _)| k == k.to_ascii_lowercase()));
    }
}
