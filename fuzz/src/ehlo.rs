//! `ehlo` target: capabilities from well-formed `250` replies.
//!
//! Input: `[flags][text...]`. The text is split at LF into line texts (the first names the
//! domain); they are framed as a well-formed multi-line `250` reply (`250-` … `250 `), each line
//! ended with CRLF, or with a bare LF when the flag bit for that line (cycling over the flag byte)
//! is set.
//!
//! Properties:
//! - the framed reply parses (generous limits) as exactly one reply whose `lines()` are the texts;
//! - `Capabilities::from_ehlo` does not panic, names the first word of the first line as domain;
//! - every line after the first that matches `ehlo-keyword [SP params]` (keyword
//!   `(ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`) is found by `has_extn`, in any letter case, with
//!   `params` of its last occurrence (trimmed; AUTH merges); known keywords are `supports`ed;
//! - every mechanism of an `AUTH` or legacy `AUTH=` line is in `auth()`; SIZE gives `max_size`
//!   as RFC 1870 says (a non-zero decimal number, else none);
//! - lines of neither shape, and only those, are in `unrecognized()`.

use smtp_proto::ehlo::Extension;
use smtp_proto::{Capabilities, ReplyLimits, ReplyParser, Status};

use crate::util::{show, Reader};

/// Runs every property on `data`.
pub fn check(data: &[u8]) {
    let mut r = Reader::new(data);
    let flags = r.u8();
    let text = r.rest();
    let texts: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();

    let mut raw = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        raw.extend_from_slice(if i + 1 == texts.len() {
            b"250 "
        } else {
            b"250-"
        });
        raw.extend_from_slice(t);
        // A text ending in CR needs CRLF, or the CR would be taken as part of the line end.
        let bare_lf = flags >> (i % 8) & 1 == 1 && !t.ends_with(b"\r");
        raw.extend_from_slice(if bare_lf { b"\n" } else { b"\r\n" });
    }
    let limits = ReplyLimits {
        max_line: usize::MAX,
        max_lines: usize::MAX,
        bare_lf: true,
    };
    let reply = match ReplyParser::new(limits).parse(&raw) {
        Ok(Status::Complete((reply, n))) if n == raw.len() => reply,
        other => panic!(
            "well-formed reply not parsed as one: {other:?}: {}",
            show(&raw)
        ),
    };
    assert_eq!(reply.lines().collect::<Vec<_>>(), texts, "line texts");

    let caps = Capabilities::from_ehlo(&reply);
    let domain = texts[0]
        .split(|b| b.is_ascii_whitespace())
        .find(|w| !w.is_empty())
        .unwrap_or_default();
    assert_eq!(caps.domain(), String::from_utf8_lossy(domain), "domain");

    let mut unrecognized = Vec::new();
    // (keyword lower case, params of its last line), for keywords other than AUTH.
    let mut last_params: Vec<(String, String)> = Vec::new();
    let mut size: Option<Option<u64>> = None;
    for t in &texts[1..] {
        let line = String::from_utf8_lossy(t);
        if line.len() >= 5 && line.as_bytes()[..5].eq_ignore_ascii_case(b"AUTH=") {
            assert!(caps.has_extn("AUTH"), "legacy AUTH= line: {line:?}");
            for mech in line[5..].split_whitespace() {
                assert!(caps.auth().contains(mech), "AUTH= mechanism {mech:?}");
            }
            continue;
        }
        let Some((keyword, params)) = keyword_line(&line) else {
            unrecognized.push(line.into_owned());
            continue;
        };
        for name in [
            keyword.to_string(),
            keyword.to_ascii_lowercase(),
            keyword.to_ascii_uppercase(),
        ] {
            assert!(caps.has_extn(&name), "keyword {name:?} of line {line:?}");
            assert!(caps.params(&name).is_some());
        }
        if let Some(ext) = Extension::from_keyword(keyword) {
            assert!(caps.supports(ext), "{ext:?} not supported after {line:?}");
        }
        if keyword.eq_ignore_ascii_case("AUTH") {
            for mech in params.split_whitespace() {
                assert!(caps.auth().contains(mech), "AUTH mechanism {mech:?}");
            }
            continue;
        }
        if keyword.eq_ignore_ascii_case("SIZE") {
            size = Some(ref_size(params.trim()));
        }
        let lower = keyword.to_ascii_lowercase();
        match last_params.iter_mut().find(|(k, _)| *k == lower) {
            Some((_, p)) => *p = params.trim().to_string(),
            None => last_params.push((lower, params.trim().to_string())),
        }
    }
    for (keyword, params) in &last_params {
        assert_eq!(
            caps.params(keyword),
            Some(params.as_str()),
            "params of {keyword}"
        );
    }
    if let Some(size) = size {
        assert_eq!(caps.max_size(), size, "SIZE");
    } else {
        assert_eq!(caps.max_size(), None, "SIZE without a SIZE line");
    }
    assert_eq!(
        caps.unrecognized().collect::<Vec<_>>(),
        unrecognized,
        "unrecognized lines"
    );
}

/// `keyword [SP params]` per RFC 5321 `ehlo-line` (parameters unchecked).
fn keyword_line(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    if !b.first()?.is_ascii_alphanumeric() {
        return None;
    }
    let end = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'-'))
        .unwrap_or(b.len());
    match b.get(end) {
        None => Some((line, "")),
        Some(b' ') => Some((&line[..end], &line[end..])),
        Some(_) => None,
    }
}

/// RFC 1870: a non-zero decimal size is a fixed limit; anything else means none.
fn ref_size(params: &str) -> Option<u64> {
    if params.is_empty() || !params.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    params.parse::<u64>().ok().filter(|&n| n > 0)
}
