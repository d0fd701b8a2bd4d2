//! `client` target: a scripted session against [`Client`].
//!
//! # Input
//!
//! A [`Script`]: four settings bytes (see [`Settings::decode`]), then operations, each an op byte
//! (modulo [`OP_COUNT`]) followed by its arguments:
//!
//! | op | name | arguments | what it does |
//! | --- | --- | --- | --- |
//! | 0 | `Raw` | `len`, `len` bytes | queue server bytes as they are |
//! | 1 | `Smtpish` | `len`, `len` bytes | queue server bytes, each byte mapped to an SMTP token |
//! | 2 | `Respond` | `variant`, `mask` | queue a realistic reply to the oldest unanswered command the client transmitted |
//! | 3 | `Feed` | `n` | hand `n` queued bytes (0: all) to `handle_input` |
//! | 4 | `Eof` | | `handle_eof` |
//! | 5 | `Clock` | `step` | advance the virtual clock (10 ms steps up to 1.27 s, then 10 s steps up to 21 min) |
//! | 6 | `Timeout` | `mode` | odd: jump to `poll_timeout()`; then `handle_timeout` |
//! | 7 | `Transmit` | `n` (u16 LE) | one `transmit`, of which `n` bytes are written (a partial write; 0 too) |
//! | 8 | `Flush` | | write everything lent |
//! | 9 | `SendMail` | `rcpts`, `flags` | `send_mail` (see [`Harness::send_mail`]) |
//! | 10 | `BodyWrite` | `repeat`, `len`, `len` bytes | write the bytes, repeated, to the current body |
//! | 11 | `BodyFinish` | | finish the current body |
//! | 12 | `AuthPlain` | | `authenticate(PLAIN)` |
//! | 13 | `Login` | | `login(user, password)` |
//! | 14 | `StartTls` | | `starttls()` |
//! | 15 | `TlsEstablished` | | `handle_tls_established` (whether or not a TLS upgrade is pending) |
//! | 16 | `Noop` | | `noop(None)` |
//! | 17 | `Quit` | | `quit()` |
//! | 18 | `Rset` | | `rset()` |
//! | 19 | `Hello` | `kind` | `hello(kind)` |
//! | 20 | `Auto` | `variant`, `mask` | `Flush`, `Respond`, `Feed(0)` |
//! | 21 | `Mail` | `flags` | low-level `mail` (null sender, SIZE, BODY=8BITMIME, SMTPUTF8) |
//! | 22 | `Rcpt` | `n` | low-level `rcpt` |
//! | 23 | `Data` | `kind` | low-level `data()` (even) or `bdat()` (odd) |
//! | 24 | `Query` | `kind` | `verify`, `expn`, `help` or `raw` |
//! | 25 | `AuthOther` | `kind` | `authenticate` with LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER or EXTERNAL |
//! | 26 | `BodyLend` | `flags`, `repeat`, `len`, `len` bytes | lend the bytes, repeated, to the current body (`flags` odd: as a `CheckedText`); `Transmit` then writes them from the harness's copy |
//!
//! `Respond` keeps the session deep: the fuzzer picks good or bad answers, the EHLO capabilities
//! (`mask`: STARTTLS, AUTH, PIPELINING, CHUNKING, 8BITMIME/BINARYMIME, SIZE, SMTPUTF8/DSN/…,
//! legacy `AUTH=` and unknown keywords), multi-line and bare-LF forms.
//!
//! # Properties
//!
//! - no panic;
//! - what is transmitted is, outside message bodies, a sequence of CRLF-terminated lines without
//!   any other CR, LF or NUL (tracked as a server would read it: DATA bodies from the end of the
//!   `DATA` line to `CRLF . CRLF`, BDAT payloads by their announced size), and the lent bytes at
//!   the end of the script end at a line boundary or inside a body;
//! - a DATA body ends exactly where the caller finished it, and un-stuffs to the normalised bytes
//!   the caller wrote (plus CRLF when needed); BDAT payloads add up to the same normalised body
//!   with the same final CRLF (or the body itself for BINARYMIME), and every chunk stays within the chunk size;
//! - lent body bytes go out before anything else, and nothing else is shown or taken while they
//!   wait (`poll_transmit`, `room`);
//! - nothing is transmitted, no deadline is armed and no event appears after `Closed`; `Closed`
//!   comes at most once; `is_closed` agrees;
//! - nothing is transmitted between `UpgradeTls` and `handle_tls_established`, and any byte
//!   received in between ends the session;
//! - `buffered_output()` stays within the outbox limit (at least 16 KiB) after every body write,
//!   and within the limit plus the command bytes queued since it was last empty at all times;
//!   `buffered_input()` stays below `max_line * max_lines` while the session is open;
//! - EOF ends the session; a deadline from `poll_timeout` that has passed ends it in
//!   `handle_timeout`; a body write error ends it;
//! - a mutator that returns a `UsageError` changes nothing (no bytes, no events);
//! - transcript lines never show credentials.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use smtp_proto::body::DataDecoder;
use smtp_proto::client::{
    Client, Config, Content, Envelope, Event, Hello, Limits, RequestId, Setup, Timeouts, TlsMode,
    TranscriptEntry,
};
use smtp_proto::command::{Argument, BodyType, MailParams, RcptParams, Ret};
use smtp_proto::sasl::{CramMd5, External, Login, Mechanism, OAuthBearer, Plain, XOAuth2};
use smtp_proto::{
    BareLineEndings, Domain, Extension, Mailbox, ReplyLimits, ReversePath, UsageError,
};

use crate::util::{count, ref_data_content, show, Reader};

/// Number of op codes.
pub const OP_COUNT: u8 = 27;
/// Scripts are cut after this many operations.
const MAX_OPS: usize = 3000;
/// The most body bytes one `BodyWrite` offers.
const MAX_WRITE: usize = 64 * 1024;

/// Server bytes that `Smtpish` maps input bytes onto.
const TOKENS: &[&[u8]] = &[
    b"220 ",
    b"250 ",
    b"250-",
    b"221 ",
    b"235 ",
    b"334 ",
    b"354 ",
    b"421 ",
    b"451 ",
    b"454 ",
    b"500 ",
    b"535 ",
    b"550 ",
    b"554 ",
    b"\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"-",
    b"2.0.0 ",
    b"5.7.1 ",
    b"OK",
    b"mx.example.org",
    b"PIPELINING",
    b"STARTTLS",
    b"AUTH PLAIN LOGIN CRAM-MD5",
    b"AUTH=LOGIN",
    b"CHUNKING",
    b"8BITMIME",
    b"BINARYMIME",
    b"SIZE 1000",
    b"SMTPUTF8",
    b"DSN",
    b"ENHANCEDSTATUSCODES",
    b"VXNlcm5hbWU6",
    b"UGFzc3dvcmQ6",
    b"PDEyMzRAZXhhbXBsZT4=",
    b"=",
    b"x",
    b"0",
    b"9",
    b"2",
    b"5",
];

/// The credentials the script uses, and what must never appear in a transcript.
const USER: &str = "user";
const PASSWORD: &str = "secret";
const SECRETS: &[&[u8]] = &[
    b"secret",
    b"c2VjcmV0",         // base64("secret")
    b"AHVzZXIAc2VjcmV0", // base64("\0user\0secret"), PLAIN
    b"dXNlcg==",         // base64("user"), LOGIN
    b"dXNlciA",          // base64("user "...), CRAM-MD5
];

/// Session settings from the first four input bytes.
#[derive(Clone, Debug)]
pub struct Settings {
    /// TLS policy.
    pub tls: TlsMode,
    /// `Setup::Manual`.
    pub manual: bool,
    /// `Config::pipelining`.
    pub pipelining: bool,
    /// `Config::chunking`.
    pub chunking: bool,
    /// LMTP.
    pub lmtp: bool,
    /// Transcript on.
    pub transcript: bool,
    /// `BareLineEndings::Reject`.
    pub reject: bool,
    /// `allow_auth_without_tls`.
    pub auth_in_plaintext: bool,
    /// `Limits::outbox`.
    pub outbox: usize,
    /// `Limits::bdat_chunk`.
    pub bdat_chunk: usize,
    /// `Limits::auth_rounds`.
    pub auth_rounds: u32,
    /// `Limits::reply`.
    pub reply: ReplyLimits,
    /// `Limits::transcript`.
    pub transcript_limit: usize,
    /// Uniform timeouts, or the defaults.
    pub timeout: Option<Duration>,
}

impl Settings {
    /// Decodes the four settings bytes.
    pub fn decode(r: &mut Reader<'_>) -> Self {
        let (b0, b1, b2, b3) = (r.u8(), r.u8(), r.u8(), r.u8());
        let pick = |table: &[usize], i: u8| table[usize::from(i) % table.len()];
        Self {
            tls: [
                TlsMode::Disabled,
                TlsMode::Opportunistic,
                TlsMode::Required,
                TlsMode::Implicit,
            ][usize::from(b0 & 3)],
            manual: b0 & 4 != 0,
            pipelining: b0 & 8 == 0,
            chunking: b0 & 16 == 0,
            lmtp: b0 & 32 != 0,
            transcript: b0 & 64 != 0,
            reject: b0 & 128 != 0,
            auth_in_plaintext: b1 & 1 == 0,
            outbox: pick(&[16 * 1024, 1000, 20_000, 64 * 1024], b1 >> 1 & 3),
            bdat_chunk: pick(
                &[4096, 1, 7, 512, 64 * 1024, 0, 100, 16 * 1024],
                b1 >> 3 & 7,
            ),
            auth_rounds: [5, 0, 1, 2][usize::from(b1 >> 6)],
            reply: ReplyLimits {
                max_line: pick(&[8192, 64, 128, 512, 16, 1024, 4, 256], b2 & 7),
                max_lines: pick(&[512, 1, 2, 4, 8, 32, 3, 100], b2 >> 3 & 7),
                bare_lf: b2 & 64 == 0,
            },
            transcript_limit: if b2 & 128 != 0 { 4 } else { 1024 },
            timeout: (b3 != 0).then(|| Duration::from_secs(u64::from(b3))),
        }
    }

    /// The client configuration.
    pub fn config(&self) -> Config {
        let name = Domain::try_from("client.example").expect("valid domain");
        let mut config = Config::new(name);
        config.tls = self.tls;
        config.setup = if self.manual {
            Setup::Manual
        } else {
            Setup::Automatic
        };
        config.lmtp = self.lmtp;
        config.pipelining = self.pipelining;
        config.chunking = self.chunking;
        config.transcript = self.transcript;
        config.allow_auth_without_tls = self.auth_in_plaintext;
        config.bare_line_endings = if self.reject {
            BareLineEndings::Reject
        } else {
            BareLineEndings::Normalize
        };
        if let Some(d) = self.timeout {
            config.timeouts = Timeouts::uniform(d);
        }
        config.limits = Limits {
            reply: self.reply,
            outbox: self.outbox,
            bdat_chunk: self.bdat_chunk,
            auth_rounds: self.auth_rounds,
            transcript: self.transcript_limit,
        };
        config
    }
}

/// One step of a script.
#[derive(Clone, Debug)]
pub enum Op {
    /// Queue server bytes.
    Raw(Vec<u8>),
    /// Queue server bytes made of SMTP tokens.
    Smtpish(Vec<u8>),
    /// Queue a realistic reply to the oldest unanswered transmitted command.
    Respond {
        /// Good/bad/alternative answer, multi-line, bare LF, 421.
        variant: u8,
        /// EHLO capabilities.
        mask: u8,
    },
    /// Hand queued bytes to the client (0: all).
    Feed(u8),
    /// End of stream.
    Eof,
    /// Time passes.
    Clock(u8),
    /// `handle_timeout`, after jumping to the deadline when odd.
    Timeout(u8),
    /// One partial write.
    Transmit(u16),
    /// Write everything.
    Flush,
    /// `send_mail`.
    SendMail {
        /// Recipients (modulo 5; 0 is refused).
        rcpts: u8,
        /// Null sender, content, SIZE, SMTPUTF8, REQUIRETLS, DSN.
        flags: u8,
    },
    /// Write `data` repeated `repeat + 1` times to the current body.
    BodyWrite {
        /// Extra repetitions.
        repeat: u8,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Finish the current body.
    BodyFinish,
    /// Lend `data` repeated `repeat + 1` times to the current body.
    BodyLend {
        /// As a `CheckedText`.
        checked: bool,
        /// Extra repetitions.
        repeat: u8,
        /// The bytes.
        data: Vec<u8>,
    },
    /// `authenticate(PLAIN)`.
    AuthPlain,
    /// `login`.
    Login,
    /// `starttls`.
    StartTls,
    /// `handle_tls_established`.
    TlsEstablished,
    /// `noop`.
    Noop,
    /// `quit`.
    Quit,
    /// `rset`.
    Rset,
    /// `hello`.
    Hello(u8),
    /// Flush, respond, feed.
    Auto {
        /// As for `Respond`.
        variant: u8,
        /// As for `Respond`.
        mask: u8,
    },
    /// Low-level `mail`.
    Mail(u8),
    /// Low-level `rcpt`.
    Rcpt(u8),
    /// Low-level `data` or `bdat`.
    Data(u8),
    /// `verify`, `expn`, `help`, `raw`.
    Query(u8),
    /// `authenticate` with another mechanism.
    AuthOther(u8),
}

/// A decoded fuzz input.
#[derive(Clone, Debug)]
pub struct Script {
    /// The session settings.
    pub settings: Settings,
    /// The steps.
    pub ops: Vec<Op>,
}

impl Script {
    /// Decodes any bytes into a script.
    pub fn decode(data: &[u8]) -> Self {
        let mut r = Reader::new(data);
        let settings = Settings::decode(&mut r);
        let mut ops = Vec::new();
        while !r.is_empty() && ops.len() < MAX_OPS {
            let op = match r.u8() % OP_COUNT {
                0 => {
                    let n = r.u8();
                    Op::Raw(r.bytes(n.into()).to_vec())
                }
                1 => {
                    let n = r.u8();
                    Op::Smtpish(r.bytes(n.into()).to_vec())
                }
                2 => Op::Respond {
                    variant: r.u8(),
                    mask: r.u8(),
                },
                3 => Op::Feed(r.u8()),
                4 => Op::Eof,
                5 => Op::Clock(r.u8()),
                6 => Op::Timeout(r.u8()),
                7 => Op::Transmit(r.u16()),
                8 => Op::Flush,
                9 => Op::SendMail {
                    rcpts: r.u8(),
                    flags: r.u8(),
                },
                10 => {
                    let repeat = r.u8();
                    let n = r.u8();
                    Op::BodyWrite {
                        repeat,
                        data: r.bytes(n.into()).to_vec(),
                    }
                }
                11 => Op::BodyFinish,
                12 => Op::AuthPlain,
                13 => Op::Login,
                14 => Op::StartTls,
                15 => Op::TlsEstablished,
                16 => Op::Noop,
                17 => Op::Quit,
                18 => Op::Rset,
                19 => Op::Hello(r.u8()),
                20 => Op::Auto {
                    variant: r.u8(),
                    mask: r.u8(),
                },
                21 => Op::Mail(r.u8()),
                22 => Op::Rcpt(r.u8()),
                23 => Op::Data(r.u8()),
                24 => Op::Query(r.u8()),
                25 => Op::AuthOther(r.u8()),
                _ => {
                    let flags = r.u8();
                    let repeat = r.u8();
                    let n = r.u8();
                    Op::BodyLend {
                        checked: flags & 1 == 1,
                        repeat,
                        data: r.bytes(n.into()).to_vec(),
                    }
                }
            };
            ops.push(op);
        }
        Self { settings, ops }
    }
}

/// Decodes `data` and runs the script; `start` is the origin of virtual time.
pub fn check(data: &[u8], start: Instant) {
    run(&Script::decode(data), start);
}

/// How far a script got (for tests that the harness is not vacuous).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Command lines transmitted and checked.
    pub lines: usize,
    /// DATA bodies transmitted whole and compared with what was written.
    pub data_bodies: usize,
    /// BDAT bodies transmitted whole and compared with what was written.
    pub bdat_bodies: usize,
    /// Whether the session ended.
    pub closed: bool,
}

/// Runs a script, checking every property after each step.
pub fn run(script: &Script, start: Instant) -> Stats {
    let mut h = Harness::new(&script.settings, start);
    for op in &script.ops {
        h.step(op);
    }
    h.finish();
    Stats {
        closed: h.closed,
        ..h.wire.stats
    }
}

/// What the server model thinks a transmitted line asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// The connection itself.
    Greeting,
    /// EHLO or LHLO.
    Ehlo,
    /// HELO.
    Helo,
    /// STARTTLS.
    StartTls,
    /// AUTH, with or without an initial response.
    Auth {
        /// Whether an initial response was sent.
        ir: bool,
    },
    /// A base64 (or empty) line in an AUTH exchange.
    AuthData,
    /// `*`.
    AuthCancel,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA.
    Data,
    /// A BDAT chunk, complete.
    Bdat,
    /// The end of the data (`.`).
    DataEnd,
    /// QUIT.
    Quit,
    /// RSET, NOOP, VRFY, EXPN, HELP.
    Other,
}

/// One body the client asked for.
#[derive(Clone, Debug)]
struct Body {
    id: RequestId,
    content: Content,
    /// Framed as BDAT chunks (else a DATA body); `None` if the request is unknown.
    bdat: Option<bool>,
    /// The bytes the client took.
    input: Vec<u8>,
    finished: bool,
}

/// How the transmitted stream is being read.
#[derive(Clone, Debug)]
enum WireMode {
    /// Command lines.
    Line,
    /// A DATA body, until `CRLF . CRLF`.
    Data {
        decoder: DataDecoder,
        content: Vec<u8>,
        body: usize,
    },
    /// A BDAT payload of `left` more bytes.
    Bdat { left: u64, size: u64, last: bool },
}

/// Reads the transmitted bytes as the server would, and checks them.
#[derive(Clone, Debug)]
struct Wire {
    /// Bytes read so far (= bytes the client reported written).
    offset: u64,
    mode: WireMode,
    line: Vec<u8>,
    /// Offset just after the last line, when that line was `DATA`.
    after_data_line: Option<u64>,
    /// Where each body's bytes may start in the stream: `(offset, index into bodies)`.
    marks: VecDeque<(u64, usize)>,
    /// The body the BDAT payloads belong to.
    bdat_body: Option<usize>,
    bdat_payload: Vec<u8>,
    /// The largest non-final BDAT chunk allowed.
    chunk_limit: u64,
    /// Transmitted commands the server model has not answered.
    unanswered: VecDeque<Cmd>,
    stats: Stats,
}

impl Wire {
    fn new(chunk_limit: u64) -> Self {
        Self {
            offset: 0,
            mode: WireMode::Line,
            line: Vec::new(),
            after_data_line: None,
            marks: VecDeque::new(),
            bdat_body: None,
            bdat_payload: Vec::new(),
            chunk_limit,
            unanswered: VecDeque::from([Cmd::Greeting]),
            stats: Stats::default(),
        }
    }

    fn feed(&mut self, mut bytes: &[u8], bodies: &[Body]) {
        while !bytes.is_empty() {
            match &mut self.mode {
                WireMode::Line => {
                    if self.line.is_empty() && self.at_line_start(bodies) {
                        continue;
                    }
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    self.offset += 1;
                    self.line.push(b);
                    if b == b'\n' {
                        self.end_line(bodies);
                    }
                }
                WireMode::Data {
                    decoder,
                    content,
                    body,
                } => {
                    let Some(n) = decoder.push(bytes, content) else {
                        self.offset += bytes.len() as u64;
                        return;
                    };
                    bytes = &bytes[n..];
                    self.offset += n as u64;
                    let b = &bodies[*body];
                    assert!(
                        b.finished,
                        "end of data transmitted before the body was finished; body so far: {}",
                        show(&b.input)
                    );
                    assert_eq!(
                        *content,
                        ref_data_content(&b.input),
                        "DATA body on the wire differs from what was written: {}",
                        show(&b.input)
                    );
                    self.mode = WireMode::Line;
                    self.unanswered.push_back(Cmd::DataEnd);
                    self.stats.data_bodies += 1;
                }
                WireMode::Bdat { left, size, last } => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    self.bdat_payload.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    self.offset += n as u64;
                    *left -= n as u64;
                    if *left == 0 {
                        let (size, last) = (*size, *last);
                        self.chunk_done(size, last, bodies);
                    }
                }
            }
        }
    }

    /// At a line boundary: takes note of bodies starting here. Returns whether the mode changed.
    fn at_line_start(&mut self, bodies: &[Body]) -> bool {
        while let Some(&(at, body)) = self.marks.front() {
            if at > self.offset {
                break;
            }
            self.marks.pop_front();
            self.bdat_body = None;
            self.bdat_payload.clear();
            match bodies[body].bdat {
                Some(true) => self.bdat_body = Some(body),
                None => {}
                Some(false) => {
                    // The 354 is only taken once DATA was written, and DATA is the last command
                    // of its flight: the body must follow the DATA line directly.
                    assert!(
                        at == self.offset && self.after_data_line == Some(at),
                        "a DATA body does not start right after the DATA line \
                         (body at {at}, stream at {}, DATA line ended at {:?})",
                        self.offset,
                        self.after_data_line
                    );
                }
            }
            if bodies[body].bdat == Some(false) {
                self.after_data_line = None;
                self.mode = WireMode::Data {
                    decoder: DataDecoder::new(),
                    content: Vec::new(),
                    body,
                };
                return true;
            }
        }
        false
    }

    fn end_line(&mut self, bodies: &[Body]) {
        let line = std::mem::take(&mut self.line);
        let Some(text) = line.strip_suffix(b"\r\n") else {
            panic!("command line ends with a bare LF: {}", show(&line));
        };
        if let Some(bad) = text.iter().find(|&&b| matches!(b, b'\r' | b'\n' | 0)) {
            panic!("command line holds {bad:#04x}: {}", show(&line));
        }
        self.after_data_line = None;
        self.stats.lines += 1;
        let upper = text.to_ascii_uppercase();
        let verb = upper.split(|&b| b == b' ').next().unwrap_or_default();
        let cmd = match verb {
            b"EHLO" | b"LHLO" => Cmd::Ehlo,
            b"HELO" => Cmd::Helo,
            b"STARTTLS" => Cmd::StartTls,
            b"AUTH" => Cmd::Auth {
                ir: count(text, b" ") >= 2,
            },
            b"*" => Cmd::AuthCancel,
            b"MAIL" => Cmd::Mail,
            b"RCPT" => Cmd::Rcpt,
            b"DATA" => {
                self.after_data_line = Some(self.offset);
                Cmd::Data
            }
            b"." => Cmd::DataEnd,
            b"QUIT" => Cmd::Quit,
            b"RSET" | b"NOOP" | b"VRFY" | b"EXPN" | b"HELP" => Cmd::Other,
            b"BDAT" => {
                let (size, last) = parse_bdat(text);
                self.mode = WireMode::Bdat {
                    left: size,
                    size,
                    last,
                };
                if size == 0 {
                    self.chunk_done(0, last, bodies);
                }
                return;
            }
            _ => Cmd::AuthData,
        };
        self.unanswered.push_back(cmd);
    }

    fn chunk_done(&mut self, size: u64, last: bool, bodies: &[Body]) {
        self.mode = WireMode::Line;
        self.unanswered.push_back(Cmd::Bdat);
        assert!(
            size <= self.chunk_limit,
            "BDAT chunk of {size} bytes, chunk size {}",
            self.chunk_limit
        );
        if last {
            self.check_bdat_body(bodies);
        }
    }

    fn check_bdat_body(&mut self, bodies: &[Body]) {
        if let Some(b) = self.bdat_body.take().map(|i| &bodies[i]) {
            assert!(b.finished, "BDAT LAST before the body was finished");
            let expected = if b.content == Content::Binary {
                b.input.clone()
            } else {
                ref_data_content(&b.input)
            };
            assert_eq!(
                self.bdat_payload,
                expected,
                "BDAT payloads differ from the body written: {}",
                show(&b.input)
            );
            self.stats.bdat_bodies += 1;
        }
        self.bdat_payload.clear();
    }

    /// Whether the stream so far ends at a line boundary or inside a body.
    fn assert_boundary(&self) {
        if matches!(self.mode, WireMode::Line) {
            assert!(
                self.line.is_empty(),
                "transmitted bytes end inside a command line: {}",
                show(&self.line)
            );
        }
    }
}

/// `BDAT <size>[ LAST]`, exactly.
fn parse_bdat(text: &[u8]) -> (u64, bool) {
    let s = std::str::from_utf8(text).unwrap_or_default();
    let mut words = s.split(' ');
    let (Some("BDAT"), Some(size), last, None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        panic!("malformed BDAT line: {}", show(text));
    };
    let size: u64 = match size.parse() {
        Ok(n) if size.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => panic!("malformed BDAT size: {}", show(text)),
    };
    match last {
        None => (size, false),
        Some("LAST") => (size, true),
        Some(_) => panic!("malformed BDAT line: {}", show(text)),
    }
}

/// A realistic reply to `cmd`; `variant` picks the answer and its form, `mask` the EHLO
/// capabilities; `deliveries` is the number of LMTP replies after the data.
pub fn reply_to(cmd: Cmd, variant: u8, mask: u8, deliveries: usize) -> Vec<u8> {
    let choice = variant & 3; // 0, 1: good; 2: alternative; 3: bad
    let good = choice < 2;
    let alt = choice == 2;
    let (code, mut lines): (u16, Vec<&str>) = if variant >= 0xF8 {
        (421, vec!["4.3.2 Service shutting down"])
    } else {
        match cmd {
            Cmd::Greeting if good || alt => (220, vec!["mx.example.org ESMTP ready"]),
            Cmd::Greeting => (554, vec!["5.3.2 no service for you"]),
            Cmd::Ehlo if good || alt => (250, ehlo_lines(mask)),
            Cmd::Ehlo => (if variant & 16 != 0 { 502 } else { 550 }, vec!["5.5.1 no"]),
            Cmd::Helo if good || alt => (250, vec!["mx.example.org"]),
            Cmd::Helo => (550, vec!["5.5.1 no"]),
            Cmd::StartTls if good || alt => (220, vec!["2.0.0 Ready to start TLS"]),
            Cmd::StartTls => (454, vec!["4.7.0 TLS not available"]),
            Cmd::Auth { ir: true } if good => (235, vec!["2.7.0 Authentication successful"]),
            Cmd::Auth { ir: false } if good => (334, vec![challenge(variant)]),
            Cmd::Auth { .. } | Cmd::AuthData if alt => (334, vec![challenge(variant)]),
            Cmd::AuthData if good => (235, vec!["2.7.0 Authentication successful"]),
            Cmd::Auth { .. } | Cmd::AuthData => (535, vec!["5.7.8 credentials invalid"]),
            Cmd::AuthCancel => (501, vec!["5.7.0 cancelled"]),
            Cmd::Mail if good || alt => (250, vec!["2.1.0 Ok"]),
            Cmd::Mail => (
                if variant & 16 != 0 { 452 } else { 550 },
                vec!["sender refused"],
            ),
            Cmd::Rcpt if good => (250, vec!["2.1.5 Ok"]),
            Cmd::Rcpt if alt => (251, vec!["2.1.5 will forward"]),
            Cmd::Rcpt => (
                if variant & 16 != 0 { 452 } else { 550 },
                vec!["no such user"],
            ),
            Cmd::Data if good || alt => (354, vec!["End data with <CR><LF>.<CR><LF>"]),
            Cmd::Data => (554, vec!["5.5.1 no valid recipients"]),
            Cmd::Bdat if good || alt => (250, vec!["2.0.0 chunk ok"]),
            Cmd::Bdat => (554, vec!["5.6.0 chunk refused"]),
            Cmd::DataEnd if good || alt => (250, vec!["2.0.0 Ok: queued as 4F1"]),
            Cmd::DataEnd => (if variant & 16 != 0 { 452 } else { 554 }, vec!["refused"]),
            Cmd::Quit if good || alt => (221, vec!["2.0.0 Bye"]),
            Cmd::Quit => (500, vec!["5.5.2 what?"]),
            Cmd::Other if good || alt => (250, vec!["2.0.0 Ok"]),
            Cmd::Other => (502, vec!["5.5.1 not implemented"]),
        }
    };
    if variant & 4 != 0 && lines.len() == 1 {
        lines.insert(0, "first of two lines");
    }
    let eol: &[u8] = if variant & 0x18 == 0x18 {
        b"\n"
    } else {
        b"\r\n"
    };
    let mut one = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        one.extend_from_slice(code.to_string().as_bytes());
        one.push(if i + 1 == lines.len() { b' ' } else { b'-' });
        one.extend_from_slice(line.as_bytes());
        one.extend_from_slice(eol);
    }
    let copies = if cmd == Cmd::DataEnd {
        deliveries.max(1)
    } else {
        1
    };
    one.repeat(copies)
}

fn challenge(variant: u8) -> &'static str {
    match variant >> 5 & 3 {
        0 => "",
        1 => "VXNlcm5hbWU6",                 // "Username:"
        2 => "PDEyMzQ1QGV4YW1wbGUub3JnPg==", // CRAM-MD5 "<12345@example.org>"
        _ => "not base64!",
    }
}

fn ehlo_lines(mask: u8) -> Vec<&'static str> {
    let mut v = vec!["mx.example.org greets client.example"];
    let table: [&[&str]; 8] = [
        &["STARTTLS"],
        &["AUTH PLAIN LOGIN CRAM-MD5"],
        &["PIPELINING"],
        &["CHUNKING"],
        &["8BITMIME", "BINARYMIME"],
        &["SIZE 1000000"],
        &["SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES", "REQUIRETLS"],
        &["AUTH=LOGIN", "X-EXPS GSSAPI NTLM"],
    ];
    for (bit, lines) in table.iter().enumerate() {
        if mask >> bit & 1 == 1 {
            v.extend_from_slice(lines);
        }
    }
    v.push("HELP");
    v
}

/// The client under test and everything the checks need to know.
struct Harness {
    client: Client,
    now: Instant,
    /// Server bytes not yet handed to the client.
    server: Vec<u8>,
    wire: Wire,
    bodies: Vec<Body>,
    /// The body the script writes to.
    current: Option<usize>,
    /// Each request that may want a body: its content and whether it is framed as BDAT.
    requests: Vec<(RequestId, Content, bool)>,
    /// `Config::chunking`.
    chunking: bool,
    closed: bool,
    /// `UpgradeTls` seen, `handle_tls_established` not yet called.
    tls_wait: bool,
    /// Bytes reported written.
    acked: u64,
    /// Body bytes lent to the client and not written yet: written from here.
    lent: VecDeque<u8>,
    /// `written + buffered_output()` at the last check.
    last_total: u64,
    /// Bytes queued by anything but body writes since the outbox was last empty.
    command_bytes: u64,
    outbox_limit: u64,
    input_limit: usize,
    /// LMTP: recipients the server model accepted in this transaction.
    accepted_rcpts: usize,
    lmtp: bool,
    /// Requests whose completion event was seen: each request completes at most once.
    completed: std::collections::HashSet<RequestId>,
}

impl Harness {
    fn new(settings: &Settings, start: Instant) -> Self {
        let config = settings.config();
        let outbox_limit = settings.outbox.max(16 * 1024);
        let chunk_limit = settings.bdat_chunk.clamp(1, outbox_limit / 2);
        let reply = settings.reply;
        Self {
            client: Client::new(config, start),
            now: start,
            server: Vec::new(),
            wire: Wire::new(chunk_limit as u64),
            bodies: Vec::new(),
            current: None,
            requests: Vec::new(),
            chunking: settings.chunking,
            closed: false,
            tls_wait: false,
            acked: 0,
            lent: VecDeque::new(),
            last_total: 0,
            command_bytes: 0,
            outbox_limit: outbox_limit as u64,
            input_limit: reply.max_line.saturating_mul(reply.max_lines),
            accepted_rcpts: 0,
            lmtp: settings.lmtp,
            completed: std::collections::HashSet::new(),
        }
    }

    fn step(&mut self, op: &Op) {
        let mut body_op = false;
        let mut body_took = false;
        match op {
            Op::Raw(bytes) => self.server.extend_from_slice(bytes),
            Op::Smtpish(bytes) => {
                for &b in bytes {
                    self.server
                        .extend_from_slice(TOKENS[usize::from(b) % TOKENS.len()]);
                }
            }
            Op::Respond { variant, mask } => self.respond(*variant, *mask),
            Op::Feed(n) => self.feed(usize::from(*n)),
            Op::Eof => {
                self.client.handle_eof(self.now);
                self.drain_events();
                assert!(self.closed, "EOF did not end the session");
            }
            Op::Clock(step) => {
                let d = if *step < 128 {
                    Duration::from_millis(u64::from(*step) * 10)
                } else {
                    Duration::from_secs(u64::from(*step - 127) * 10)
                };
                self.now += d;
            }
            Op::Timeout(mode) => {
                let deadline = self.client.poll_timeout();
                if mode & 1 == 1 {
                    if let Some(d) = deadline {
                        self.now = self.now.max(d);
                    }
                }
                self.client.handle_timeout(self.now);
                self.drain_events();
                if deadline.is_some_and(|d| d <= self.now) {
                    assert!(self.closed, "a passed deadline did not end the session");
                }
            }
            Op::Transmit(n) => {
                self.transmit(usize::from(*n));
            }
            Op::Flush => self.flush(),
            Op::SendMail { rcpts, flags } => self.send_mail(*rcpts, *flags),
            Op::BodyWrite { repeat, data } => {
                body_op = true;
                body_took = self.body_write(*repeat, data);
            }
            Op::BodyLend {
                checked,
                repeat,
                data,
            } => {
                body_op = true;
                body_took = self.body_lend(*checked, *repeat, data);
            }
            Op::BodyFinish => {
                // Not a body op for the buffer accounting: finishing queues the terminator or
                // the last BDAT header, and may start the next queued request's commands.
                self.body_finish();
            }
            Op::AuthPlain => {
                let plain = Plain::new(USER, PASSWORD).expect("valid PLAIN credentials");
                self.mutate(|c| c.authenticate(Box::new(plain)).map(drop));
            }
            Op::Login => self.mutate(|c| c.login(USER, PASSWORD).map(drop)),
            Op::StartTls => self.mutate(|c| c.starttls().map(drop)),
            Op::TlsEstablished => {
                let secure = self.client.is_secure();
                self.client.handle_tls_established(self.now);
                if self.tls_wait {
                    assert!(self.client.is_secure(), "not secure after the handshake");
                } else {
                    assert_eq!(self.client.is_secure(), secure, "spurious handshake report");
                }
                self.tls_wait = false;
            }
            Op::Noop => self.mutate(|c| c.noop(None).map(drop)),
            Op::Quit => {
                self.client.quit();
            }
            Op::Rset => self.mutate(|c| c.rset().map(drop)),
            Op::Hello(kind) => {
                let kind = [Hello::Ehlo, Hello::Helo, Hello::Lhlo, Hello::EhloOrHelo]
                    [usize::from(*kind % 4)];
                self.mutate(|c| c.hello(kind).map(drop));
            }
            Op::Auto { variant, mask } => {
                self.flush();
                self.respond(*variant, *mask);
                self.feed(0);
            }
            Op::Mail(flags) => {
                let from = if flags & 1 != 0 {
                    ReversePath::Null
                } else {
                    ReversePath::try_from("alice@example.org").expect("valid path")
                };
                let params = MailParams {
                    size: (flags & 2 != 0).then_some(1000),
                    body: (flags & 4 != 0).then_some(BodyType::EightBitMime),
                    smtputf8: flags & 8 != 0,
                    ..MailParams::default()
                };
                self.mutate(|c| c.mail(from, params).map(drop));
            }
            Op::Rcpt(n) => {
                let to = Mailbox::try_from(format!("low{}@example.net", n % 4)).expect("valid");
                self.mutate(|c| c.rcpt(to, RcptParams::default()).map(drop));
            }
            Op::Data(kind) => {
                let bdat = kind & 1 == 1;
                let mut id = None;
                self.mutate(|c| {
                    id = Some(if bdat { c.bdat()? } else { c.data()? });
                    Ok(())
                });
                if let Some(id) = id {
                    self.requests.push((id, Content::SevenBit, bdat));
                }
            }
            Op::Query(kind) => {
                let arg = Argument::try_from("postmaster").expect("valid argument");
                let raw = Argument::try_from("NOOP raw line").expect("valid argument");
                match kind % 5 {
                    0 => self.mutate(|c| c.verify(&arg).map(drop)),
                    1 => self.mutate(|c| c.expn(&arg).map(drop)),
                    2 => self.mutate(|c| c.help(None).map(drop)),
                    3 => self.mutate(|c| c.help(Some(&arg)).map(drop)),
                    _ => self.mutate(|c| c.raw(&raw).map(drop)),
                }
            }
            Op::AuthOther(kind) => {
                let mechanism: Box<dyn Mechanism> = match kind % 5 {
                    0 => Box::new(Login::new(USER, PASSWORD)),
                    1 => Box::new(CramMd5::new(USER, PASSWORD)),
                    2 => Box::new(XOAuth2::new(USER, PASSWORD).expect("valid token")),
                    3 => Box::new(OAuthBearer::new(USER, PASSWORD).expect("valid token")),
                    _ => Box::new(External::new()),
                };
                self.mutate(|c| c.authenticate(mechanism).map(drop));
            }
        }
        self.after_step(body_op, body_took);
    }

    /// Calls a mutator; an error must leave everything as it was.
    fn mutate(&mut self, f: impl FnOnce(&mut Client) -> Result<(), UsageError>) {
        let before = self.client.buffered_output();
        if let Err(e) = f(&mut self.client) {
            assert_eq!(self.client.buffered_output(), before, "{e:?} queued bytes");
            if let Some(ev) = self.client.poll_event() {
                panic!("{e:?} came with an event: {ev:?}");
            }
            if self.closed {
                assert_eq!(e, UsageError::Closed, "mutator after Closed");
            }
        } else {
            assert!(!self.closed, "a mutator succeeded after Closed");
        }
    }

    fn respond(&mut self, variant: u8, mask: u8) {
        let Some(cmd) = self.wire.unanswered.pop_front() else {
            return;
        };
        let good = variant & 3 < 2 && variant < 0xF8;
        match cmd {
            Cmd::Mail => self.accepted_rcpts = 0,
            Cmd::Rcpt if good || variant & 3 == 2 => self.accepted_rcpts += 1,
            _ => {}
        }
        let deliveries = if self.lmtp { self.accepted_rcpts } else { 1 };
        let reply = reply_to(cmd, variant, mask, deliveries);
        self.server.extend_from_slice(&reply);
    }

    fn feed(&mut self, n: usize) {
        let n = if n == 0 {
            self.server.len()
        } else {
            n.min(self.server.len())
        };
        let bytes: Vec<u8> = self.server.drain(..n).collect();
        let tls_wait = self.tls_wait;
        // Nothing queued is nothing arrived: no bytes handed over would be the end of stream.
        if !bytes.is_empty() {
            self.client.handle_input(&bytes, self.now);
        }
        self.drain_events();
        if tls_wait && !bytes.is_empty() {
            assert!(
                self.closed,
                "bytes during the TLS upgrade did not end the session"
            );
        }
    }

    fn transmit(&mut self, max: usize) -> bool {
        if self.closed || self.tls_wait {
            assert!(
                self.client.transmit(self.now).is_none(),
                "transmitting after Closed or during the TLS upgrade"
            );
            return false;
        }
        if self.client.lent() > 0 {
            return self.transmit_lent(max);
        }
        // Lent bytes are dropped only with the session.
        assert!(self.lent.is_empty() || self.closed, "lent bytes forgotten");
        self.lent.clear();
        let Some(lent) = self.client.transmit(self.now) else {
            return false;
        };
        assert!(!lent.is_empty(), "empty transmit");
        let n = max.min(lent.len());
        let sent = lent[..n].to_vec();
        self.client.handle_written(n, self.now);
        self.acked += n as u64;
        self.wire.feed(&sent, &self.bodies);
        n > 0
    }

    /// Writes at most `max` of the lent body bytes, from the harness's copy of them.
    fn transmit_lent(&mut self, max: usize) -> bool {
        assert!(
            self.client.poll_transmit().is_none(),
            "bytes shown while lent ones wait"
        );
        let Some(lent) = self.client.transmit_lent(self.now) else {
            return false;
        };
        assert_eq!(lent.len, self.client.lent());
        assert!(
            lent.len <= self.lent.len(),
            "more lent than the harness lent"
        );
        let n = max.min(lent.len);
        let sent: Vec<u8> = self.lent.drain(..n).collect();
        self.client.handle_written(n, self.now);
        self.acked += n as u64;
        self.wire.feed(&sent, &self.bodies);
        n > 0
    }

    fn flush(&mut self) {
        for _ in 0..10_000 {
            if !self.transmit(usize::MAX) {
                return;
            }
        }
        panic!("the client never stops lending bytes");
    }

    fn send_mail(&mut self, rcpts: u8, flags: u8) {
        let from = if flags & 1 != 0 {
            ReversePath::Null
        } else {
            ReversePath::try_from("alice@example.org").expect("valid path")
        };
        let to = (0..rcpts % 5)
            .map(|i| Mailbox::try_from(format!("rcpt{i}@example.net")).expect("valid mailbox"));
        let mut envelope = Envelope::new(from, to);
        envelope.content = match flags >> 1 & 3 {
            1 => Content::EightBit,
            2 => Content::Binary,
            _ => Content::SevenBit,
        };
        if flags & 8 != 0 {
            envelope.size = Some(u64::from(rcpts) * 1000);
        }
        envelope.params.smtputf8 = flags & 16 != 0;
        envelope.params.requiretls = flags & 32 != 0;
        if flags & 64 != 0 {
            envelope.params.ret = Some(Ret::Hdrs);
        }
        let content = envelope.content;
        // RFC 3030 framing: BINARYMIME always, else when CHUNKING is offered and not turned off.
        let bdat = content == Content::Binary
            || (self.chunking
                && self
                    .client
                    .capabilities()
                    .is_some_and(|c| c.supports(Extension::Chunking)));
        let mut id = None;
        self.mutate(|c| {
            id = Some(c.send_mail(envelope)?);
            Ok(())
        });
        if let Some(id) = id {
            self.requests.push((id, content, bdat));
        }
    }

    /// Writes to the current body; whether any byte was taken.
    fn body_write(&mut self, repeat: u8, data: &[u8]) -> bool {
        let Some(index) = self.current else {
            return false;
        };
        let id = self.bodies[index].id;
        let Some(mut writer) = self.client.body(id) else {
            return false;
        };
        assert_eq!(writer.id(), id);
        let times = (usize::from(repeat) + 1)
            .min(MAX_WRITE / data.len().max(1))
            .max(1);
        let bytes = data.repeat(times);
        let room = writer.room();
        let before = writer.bytes_written();
        match writer.write(&bytes) {
            Ok(n) => {
                assert_eq!(
                    n,
                    room.min(bytes.len()),
                    "write took other than min(room, len)"
                );
                assert_eq!(writer.bytes_written(), before + n as u64);
                self.bodies[index].input.extend_from_slice(&bytes[..n]);
                n > 0
            }
            Err(e) => {
                self.drain_events();
                assert!(self.closed, "body error {e:?} did not end the session");
                false
            }
        }
    }

    /// Lends to the current body; whether any byte was taken.
    fn body_lend(&mut self, checked: bool, repeat: u8, data: &[u8]) -> bool {
        let Some(index) = self.current else {
            return false;
        };
        let id = self.bodies[index].id;
        let waiting = self.client.wants_write();
        let Some(mut writer) = self.client.body(id) else {
            return false;
        };
        let times = (usize::from(repeat) + 1)
            .min(MAX_WRITE / data.len().max(1))
            .max(1);
        let bytes = data.repeat(times);
        let before = writer.bytes_written();
        let n = if checked {
            let text = smtp_proto::body::CheckedText::new(bytes.clone());
            writer.lend_checked(&text, 0, usize::MAX)
        } else {
            writer.lend(&bytes)
        };
        assert!(n <= bytes.len(), "lent more than offered");
        assert_eq!(writer.bytes_written(), before + n as u64);
        if n == 0 {
            return false;
        }
        assert!(!waiting, "lent while other bytes waited");
        assert_eq!(writer.room(), 0, "room while lent bytes wait");
        assert_eq!(self.client.lent(), n);
        assert!(self.client.poll_transmit().is_none());
        self.lent.extend(&bytes[..n]);
        self.bodies[index].input.extend_from_slice(&bytes[..n]);
        true
    }

    fn body_finish(&mut self) {
        let Some(index) = self.current else {
            return;
        };
        let id = self.bodies[index].id;
        let Some(writer) = self.client.body(id) else {
            return;
        };
        let finished = self.bodies[index].finished;
        match writer.finish() {
            Ok(()) => {
                assert!(!finished, "finished twice");
                self.bodies[index].finished = true;
            }
            Err(smtp_proto::body::BodyError::Finished) => {
                assert!(finished, "Finished error for an unfinished body")
            }
            Err(e) => {
                self.drain_events();
                assert!(self.closed, "body error {e:?} did not end the session");
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            assert!(!self.closed, "event after Closed: {event:?}");
            match event {
                Event::Closed(_) => {
                    self.closed = true;
                    self.tls_wait = false;
                }
                Event::UpgradeTls => {
                    assert!(!self.tls_wait, "UpgradeTls twice");
                    self.tls_wait = true;
                }
                Event::BodyWanted(id) => {
                    let request = self.requests.iter().find(|(r, _, _)| *r == id);
                    let content = request.map_or(Content::SevenBit, |&(_, c, _)| c);
                    let bdat = request.map(|&(_, _, b)| b);
                    let queued = self.client.lent() + self.client.buffered_output();
                    let mark = self.acked + queued as u64;
                    self.current = Some(self.bodies.len());
                    self.wire.marks.push_back((mark, self.bodies.len()));
                    self.bodies.push(Body {
                        id,
                        content,
                        bdat,
                        input: Vec::new(),
                        finished: false,
                    });
                }
                Event::Reply { id, .. }
                | Event::DataDone { id, .. }
                | Event::Authenticated { id, .. }
                | Event::AuthFailed { id, .. } => self.complete(id),
                Event::MailDone(report) => self.complete(report.id),
                _ => {}
            }
        }
        assert_eq!(self.client.is_closed(), self.closed, "is_closed disagrees");
    }

    fn complete(&mut self, id: RequestId) {
        assert!(self.completed.insert(id), "request {id:?} completed twice");
    }

    fn after_step(&mut self, body_op: bool, body_took: bool) {
        self.drain_events();
        if self.closed {
            assert!(
                self.client.transmit(self.now).is_none(),
                "bytes after Closed"
            );
            assert_eq!(self.client.poll_timeout(), None, "deadline after Closed");
        }
        if self.tls_wait {
            assert!(
                self.client.transmit(self.now).is_none(),
                "bytes during the TLS upgrade"
            );
        }

        let out = self.client.buffered_output() as u64;
        // Lent bytes count as queued from the lend on.
        let total = self.acked + self.client.lent() as u64 + out;
        if !body_op {
            self.command_bytes += total.saturating_sub(self.last_total);
        }
        self.last_total = total;
        if out == 0 {
            self.command_bytes = 0;
        }
        if body_took {
            assert!(
                out <= self.outbox_limit,
                "{out} bytes buffered after a body write, limit {}",
                self.outbox_limit
            );
        }
        assert!(
            out <= self.outbox_limit + self.command_bytes + 64,
            "{out} bytes buffered, limit {} plus {} command bytes",
            self.outbox_limit,
            self.command_bytes
        );
        if !self.closed {
            let input = self.client.buffered_input();
            assert!(
                input <= self.input_limit,
                "{input} bytes of input buffered, reply limits allow {}",
                self.input_limit
            );
        }

        while let Some(entry) = self.client.poll_transcript() {
            if let TranscriptEntry::Sent(line) = entry {
                for secret in SECRETS {
                    assert_eq!(
                        count(&line, secret),
                        0,
                        "transcript shows a credential: {}",
                        show(&line)
                    );
                }
            }
        }
    }

    fn finish(&mut self) {
        if self.closed || self.tls_wait {
            return;
        }
        let lent = self.client.transmit(self.now).map(|t| t.to_vec());
        let mut wire = self.wire.clone();
        if let Some(lent) = lent {
            wire.feed(&lent, &self.bodies);
        }
        wire.assert_boundary();
    }
}
