//! Transcript files: one SMTP conversation each, readable like an RFC appendix.
//!
//! ```text
//! # a comment
//! config pipelining=on chunking=off tls=disabled
//! S: 220 mx.test ESMTP            server line (CRLF appended); consecutive S: lines are one flight
//! S| 250 bare lf\n                server bytes, raw, with \r \n \t \\ \xHH escapes
//! C: EHLO client.test             expected client line (CRLF appended)
//! C| BDAT 4 LAST\r\nHi\r\n        expected client bytes, raw, with escapes
//! => Ready                        the next event, summarised (see `summarize`)
//! =>? UpgradeTls                  an event that may come next, depending on how input was split
//! >> send from=<a@test> to=<b@test>,<c@test> body="Hi\r\n"
//! @ +5m                           advance the virtual clock, then handle_timeout
//! !eof                            the server closes the connection
//! !stall / !unstall               the transport stops / resumes taking bytes (write timeouts)
//! ```
//!
//! `>>` actions: `send` (keys `from`, `to` (comma-separated), `body`, `size`, `content`
//! (7bit/8bit/binary), `notify`, `ret`, `envid`, `requiretls`), `auth MECH USER SECRET [NONCE]`
//! (see `sansio::mechanism_of`), `login USER PASS`, `hello ehlo|helo|lhlo|ehlo-or-helo`,
//! `starttls`, `tls` (the handshake is done), `mail FROM`, `rcpt TO`, `data body="…"`,
//! `bdat body="…"`, `rset`, `noop [ARG]`, `vrfy ARG`, `expn ARG`, `help [ARG]`, `raw LINE`,
//! `quit`.
//!
//! A mutator's `UsageError` shows up as the event `Usage <Debug of the error>`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One step of a transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Bytes the server sends (consecutive `S:` lines are merged into one flight).
    Server(Vec<u8>),
    /// Bytes the client must have sent.
    Client(Vec<u8>),
    /// The next event's summary.
    Expect(String),
    /// `=>? …`: an event that may or may not come next, depending on how the input was split.
    MaybeExpect(String),
    /// An action on the client: verb and the rest of the line.
    Action(String, String),
    /// Advance the clock.
    Advance(Duration),
    /// The server closes.
    Eof,
    /// `!stall` / `!unstall`: the transport stops / resumes accepting writes.
    Stall(bool),
}

/// A parsed transcript.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    /// The file name, for messages.
    pub name: String,
    /// `config` settings, in order.
    pub config: Vec<(String, String)>,
    /// The steps.
    pub steps: Vec<Step>,
}

impl Transcript {
    /// Parses the text of a transcript file.
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        let mut t = Self {
            name: name.to_owned(),
            ..Self::default()
        };
        for (n, line) in text.lines().enumerate() {
            let err = |msg: &str| format!("{name}:{}: {msg}: {line}", n + 1);
            let trimmed = line.trim_end();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix("config ") {
                for kv in rest.split_whitespace() {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| err("config wants key=value"))?;
                    t.config.push((k.to_owned(), v.to_owned()));
                }
            } else if let Some(rest) = line.strip_prefix("S: ") {
                t.push_server(format!("{rest}\r\n").into_bytes());
            } else if trimmed == "S:" {
                t.push_server(b"\r\n".to_vec());
            } else if let Some(rest) = line.strip_prefix("S| ") {
                t.push_server(unescape(rest).map_err(|e| err(&e))?);
            } else if let Some(rest) = line.strip_prefix("C: ") {
                t.push_client(format!("{rest}\r\n").into_bytes());
            } else if trimmed == "C:" {
                t.push_client(b"\r\n".to_vec());
            } else if let Some(rest) = line.strip_prefix("C| ") {
                t.push_client(unescape(rest).map_err(|e| err(&e))?);
            } else if let Some(rest) = trimmed.strip_prefix("=>? ") {
                t.steps.push(Step::MaybeExpect(rest.to_owned()));
            } else if let Some(rest) = trimmed.strip_prefix("=> ") {
                t.steps.push(Step::Expect(rest.to_owned()));
            } else if let Some(rest) = trimmed.strip_prefix(">> ") {
                let (verb, args) = rest.split_once(' ').unwrap_or((rest, ""));
                t.steps.push(Step::Action(verb.to_owned(), args.to_owned()));
            } else if let Some(rest) = trimmed.strip_prefix("@ +") {
                t.steps.push(Step::Advance(
                    parse_duration(rest).ok_or_else(|| err("bad duration"))?,
                ));
            } else if trimmed == "!eof" {
                t.steps.push(Step::Eof);
            } else if trimmed == "!stall" {
                t.steps.push(Step::Stall(true));
            } else if trimmed == "!unstall" {
                t.steps.push(Step::Stall(false));
            } else {
                return Err(err("unknown line"));
            }
        }
        Ok(t)
    }

    fn push_server(&mut self, bytes: Vec<u8>) {
        if let Some(Step::Server(prev)) = self.steps.last_mut() {
            prev.extend_from_slice(&bytes);
        } else {
            self.steps.push(Step::Server(bytes));
        }
    }

    fn push_client(&mut self, bytes: Vec<u8>) {
        if let Some(Step::Client(prev)) = self.steps.last_mut() {
            prev.extend_from_slice(&bytes);
        } else {
            self.steps.push(Step::Client(bytes));
        }
    }

    /// A config value, if set.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The `.smtp` files of `tests/transcripts/`, sorted by name.
pub fn files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("transcripts");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("transcripts directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "smtp"))
        .collect();
    paths.sort();
    paths
}

/// Reads and parses one transcript file, named in messages by its file name.
pub fn load(path: &Path) -> Result<Transcript, String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_owned();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: unreadable: {e}"))?;
    Transcript::parse(&name, &text)
}

/// `5m`, `30s`, `250ms`, `1h`, `4m59s`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(n), 2)
        } else if rest.starts_with('s') {
            (Duration::from_secs(n), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(n * 60), 1)
        } else if rest.starts_with('h') {
            (Duration::from_secs(n * 3600), 1)
        } else {
            return None;
        };
        total += unit;
        rest = rest.get(len..)?;
    }
    Some(total)
}

/// Undoes `\r \n \t \\ \" \xHH` escapes.
pub fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b'\\') => out.push(b'\\'),
            Some(b'"') => out.push(b'"'),
            Some(b'x') => {
                let hi = bytes.next().ok_or("short \\x escape")?;
                let lo = bytes.next().ok_or("short \\x escape")?;
                let hex = [hi, lo];
                let hex = std::str::from_utf8(&hex).map_err(|e| e.to_string())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
            }
            other => return Err(format!("unknown escape {other:?}")),
        }
    }
    Ok(out)
}

/// Shows bytes with escapes, for mismatch messages.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

/// Splits `key=value key="quoted value"` arguments.
pub fn parse_args(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("expected key=value in {rest:?}"))?;
        let key = rest.get(..eq).unwrap_or_default().to_owned();
        rest = rest.get(eq + 1..).unwrap_or_default();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut end = None;
            let mut escaped = false;
            for (i, c) in quoted.char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = Some(i);
                    break;
                }
            }
            let end = end.ok_or("unterminated quote")?;
            let raw = quoted.get(..end).unwrap_or_default();
            value = String::from_utf8(unescape(raw)?).map_err(|e| e.to_string())?;
            rest = quoted.get(end + 1..).unwrap_or_default();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            value = rest.get(..end).unwrap_or_default().to_owned();
            rest = rest.get(end..).unwrap_or_default();
        }
        out.push((key, value));
        rest = rest.trim_start();
    }
    Ok(out)
}
