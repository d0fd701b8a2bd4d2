//! `smtp-send`: send one message (or the same one N times) from the command line.
//!
//! Its contract (flags, exit codes, behaviour) is fixed: `--help` prints the flags and the exit
//! codes (the `exit` module lists them), and `tests/tests/cli_contract.rs` and
//! `tests/tests/cli_hostile.rs` check every rule against the binary. Everything protocol-related is the library's: this file parses flags, reads
//! the message, calls the adapter chosen by `--runtime` (`smtp-blocking`, `smtp-smol`,
//! `smtp-async-std`: the same API and the same `Error` type) and maps its outcomes to exit codes.
//! The runtime choice is one dispatch in [`open`]; everything after it is shared.
//!
//! The integration tests include this file as a module (`#[path]`) and call [`run`] in-process,
//! with their own standard streams.
//!
//! The parts: this file parses the flags and writes the summary; `message` reads the message
//! once (a file, or standard input spooled beyond 1 MiB) and hands out copies; `session` sends
//! every copy over one connection; `pooled` spreads them over `--connections N`; `outcome`
//! maps the library's errors to exit codes.

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use smtp_blocking::proto::body::MessageShape;
use smtp_blocking::proto::client::{MailOutcome, MailReport, Stage};
use smtp_blocking::proto::command::{Mailbox, Notify, Orcpt, Ret, ReversePath, XText};
use smtp_blocking::proto::sasl::{
    CramMd5, External, Login, Mechanism, OAuthBearer, Plain, Scram, ScramHash, XOAuth2,
};
use smtp_blocking::proto::session::Settings;
use smtp_blocking::proto::{Domain, Error as ProtoError, Extension, OwnedReply};
use smtp_blocking::{Envelope, Error, SmtpClient, TlsIdentity, TlsMode, UsageError};
use smtp_smol::GenericSmtpClient;

#[path = "message.rs"]
mod message;
#[path = "outcome.rs"]
mod outcome;
#[path = "session.rs"]
#[macro_use]
mod session;
#[path = "pooled.rs"]
mod pooled;

use message::{Message, Reader};
use outcome::record;
use outcome::{exit_code, fail, Phase};
use session::{mechanism, send};

const USAGE: &str = "\
usage: smtp-send --server HOST:PORT|/unix/socket --from ADDR --to ADDR [--to ADDR ...]
                 [--runtime blocking|async-std|smol] [--tls none|starttls|starttls-required|implicit]
                 [--insecure] [--ca FILE ...] [--cert FILE --key FILE] [--lmtp] [--helo NAME]
                 [--auth-user U --auth-pass P [--auth-mech PLAIN|LOGIN|CRAM-MD5|XOAUTH2|
                  SCRAM-SHA-256|SCRAM-SHA-1|OAUTHBEARER|EXTERNAL]]
                 [--allow-plaintext-auth] [--data FILE|-] [--timeout SECS] [--count N]
                 [--connections N]
                 [--notify NEVER|SUCCESS,FAILURE,DELAY] [--orcpt ADDR] [--ret FULL|HDRS]
                 [--envid ID] [--json] [--trace]

  --server        HOST:PORT, or a Unix socket path starting with '/'
  --runtime       which adapter drives the session (default blocking)
  --tls           none (default), starttls (opportunistic), starttls-required, implicit (SMTPS)
  --insecure      accept any certificate (tests only); default: verify
  --ca            PEM file of CA certificates trusted besides the system's (repeatable)
  --cert, --key   client certificate chain and its PKCS#8 key, PEM files (both or neither)
  --lmtp          speak LMTP (LHLO, one reply per recipient after the data)
  --helo          EHLO/HELO/LHLO name (default: this host's FQDN)
  --from          envelope sender; \"\" is the null reverse-path <>
  --to            envelope recipient, one or more
  --auth-*        authenticate (default: the first offered of SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN)
  --allow-plaintext-auth   permit AUTH without TLS to a non-loopback server
  --data          the message (headers + body); '-' or absent: standard input
  --timeout       seconds bounding the connect, the TLS handshake and each complete reply
                  (default: the RFC 5321 timeouts, 2 to 10 minutes)
  --count         send the message N times (default 1)
  --connections   spread the messages over N parallel connections (default 1: one
                  connection, the messages pipelined); a connection lost before a message's
                  end of data is replaced and the message sent again, one lost after it
                  counts the message as unknown (never sent twice)
  --notify        DSN (RFC 3461): NOTIFY= on each RCPT: NEVER, or any of SUCCESS,FAILURE,DELAY
  --orcpt         DSN: ORCPT=rfc822;ADDR on each RCPT
  --ret           DSN: RET= on MAIL: FULL (the whole message) or HDRS (the headers)
  --envid         DSN: ENVID= on MAIL (printable ASCII, sent xtext-encoded)
                  Without DSN offered the message goes without these, with a warning.
  --json          last line of stdout: a JSON summary
  --trace         the SMTP transcript on standard error (AUTH redacted)

exit codes: 0 accepted, 2 usage, 3 connect/greeting, 4 hello refused, 5 auth failed,
6 sender refused, 7 all recipients refused, 8 data refused, 9 connection closed,
10 other SMTP error, 11 TLS error, 12 timeout, 13 extension not offered";

/// Exit codes of the contract.
mod exit {
    pub(crate) const OK: i32 = 0;
    pub(crate) const USAGE: i32 = 2;
    pub(crate) const CONNECT: i32 = 3;
    pub(crate) const HELLO: i32 = 4;
    pub(crate) const AUTH: i32 = 5;
    pub(crate) const SENDER: i32 = 6;
    pub(crate) const RECIPIENTS: i32 = 7;
    pub(crate) const DATA: i32 = 8;
    pub(crate) const CLOSED: i32 = 9;
    pub(crate) const SMTP: i32 = 10;
    pub(crate) const TLS: i32 = 11;
    pub(crate) const TIMEOUT: i32 = 12;
    pub(crate) const UNSUPPORTED: i32 = 13;
}

/// Standard error, shared with the transcript sink (which must be `'static`).
pub(crate) type SharedWrite = Arc<Mutex<dyn Write + Send>>;

fn main() {
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect::<Result<_, _>>()
    {
        Ok(args) => args,
        Err(bad) => {
            eprintln!("smtp-send: argument is not valid UTF-8: {bad:?}");
            std::process::exit(exit::USAGE);
        }
    };
    let stderr: SharedWrite = Arc::new(Mutex::new(io::stderr()));
    let code = run(
        &args,
        &mut io::stdin().lock(),
        &mut io::stdout().lock(),
        stderr,
    );
    std::process::exit(code);
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Server {
    Tcp(String, u16),
    Unix(String),
}

/// Which adapter drives the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    Blocking,
    Smol,
    AsyncStd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthMech {
    Plain,
    Login,
    CramMd5,
    XOAuth2,
    ScramSha256,
    ScramSha1,
    OAuthBearer,
    External,
}

impl AuthMech {
    /// The SASL name.
    fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
            Self::CramMd5 => "CRAM-MD5",
            Self::XOAuth2 => "XOAUTH2",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::OAuthBearer => "OAUTHBEARER",
            Self::External => "EXTERNAL",
        }
    }
}

/// The parsed command line.
#[derive(Debug)]
struct Options {
    runtime: Runtime,
    server: Server,
    tls: TlsMode,
    insecure: bool,
    /// The `--ca` files' contents (PEM).
    ca: Vec<Vec<u8>>,
    /// `--cert` and `--key`, read.
    identity: Option<TlsIdentity>,
    lmtp: bool,
    helo: Option<Domain>,
    from: ReversePath,
    to: Vec<Mailbox>,
    auth: Option<(String, String, Option<AuthMech>)>,
    allow_plaintext_auth: bool,
    data: Option<String>,
    timeout: Option<Duration>,
    count: u64,
    connections: usize,
    dsn: Dsn,
    json: bool,
    trace: bool,
}

/// The DSN requests (RFC 3461) of the command line, validated.
#[derive(Debug, Default)]
struct Dsn {
    notify: Option<Notify>,
    orcpt: Option<Orcpt>,
    ret: Option<Ret>,
    envid: Option<XText>,
}

impl Dsn {
    /// Whether any DSN parameter was asked for.
    fn requested(&self) -> bool {
        self.notify.is_some() || self.orcpt.is_some() || self.ret.is_some() || self.envid.is_some()
    }

    /// Puts the parameters on the envelope: RET and ENVID on MAIL, NOTIFY and ORCPT on each RCPT.
    fn apply(&self, envelope: &mut Envelope) {
        envelope.params.ret = self.ret;
        envelope.params.envid.clone_from(&self.envid);
        for rcpt in &mut envelope.to {
            rcpt.params.notify = self.notify;
            rcpt.params.orcpt.clone_from(&self.orcpt);
        }
    }
}

/// `--notify`: `NEVER` alone, or a set of `SUCCESS`, `FAILURE`, `DELAY` (case-insensitive,
/// each at most once).
fn parse_notify(v: &str) -> Result<Notify, String> {
    let upper = v.to_ascii_uppercase();
    if upper == "NEVER" {
        return Ok(Notify::Never);
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for word in upper.split(',') {
        let flag = match word {
            "SUCCESS" => &mut success,
            "FAILURE" => &mut failure,
            "DELAY" => &mut delay,
            "NEVER" => return Err(format!("--notify {v:?}: NEVER cannot be combined")),
            _ => {
                return Err(format!(
                    "--notify {v:?}: expected NEVER, or SUCCESS, FAILURE, DELAY separated by commas"
                ))
            }
        };
        if std::mem::replace(flag, true) {
            return Err(format!("--notify {v:?}: {word} given twice"));
        }
    }
    Ok(Notify::On {
        success,
        failure,
        delay,
    })
}

/// What happened, for the summary.
#[derive(Default)]
struct Summary {
    sent: u64,
    /// Messages not delivered, known not to be (nothing was accepted).
    failed: u64,
    /// Messages whose end of data was written but whose final reply never came.
    unknown: u64,
    refused: BTreeMap<String, (u16, String)>,
    error: Option<String>,
    last_reply: Option<(u16, String)>,
    /// How long the messages took, from the first MAIL queued to the last final reply.
    elapsed: Option<Duration>,
}

/// Runs the program; returns the exit code.
pub(crate) fn run(
    args: &[String],
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: SharedWrite,
) -> i32 {
    let json = args.iter().any(|a| a == "--json");
    let mut summary = Summary::default();
    let code = match parse(args) {
        Ok(Parsed::Help) => {
            let _ = writeln!(stdout, "{USAGE}");
            return exit::OK;
        }
        Ok(Parsed::Run(opts)) => send(&opts, stdin, stdout, &stderr, &mut summary),
        Err(message) => {
            summary.error = Some(message);
            exit::USAGE
        }
    };
    if let Some(error) = &summary.error {
        say(&stderr, &format!("smtp-send: {error}"));
        if code == exit::USAGE && !json {
            say(&stderr, "try 'smtp-send --help'");
        }
    }
    if json {
        let refused: serde_json::Map<String, serde_json::Value> = summary
            .refused
            .iter()
            .map(|(addr, (code, text))| (addr.clone(), serde_json::json!([code, text])))
            .collect();
        let line = serde_json::json!({
            "ok": code == exit::OK,
            "exit": code,
            "sent": summary.sent,
            "failed": summary.failed,
            "unknown": summary.unknown,
            "refused": refused,
            "error": summary.error,
            "reply": summary.last_reply.as_ref().map(|(c, t)| serde_json::json!([c, t])),
            "msgs_per_sec": summary.elapsed.map(|e| rate(summary.sent, e)),
        });
        let _ = writeln!(stdout, "{}", json_ascii_safe(&line.to_string()));
    }
    let _ = stdout.flush();
    code
}

/// Messages per second, rounded to 0.1.
fn rate(messages: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64().max(1e-9);
    (messages as f64 / secs * 10.0).round() / 10.0
}

fn say(stderr: &SharedWrite, line: &str) {
    if let Ok(mut err) = stderr.lock() {
        let _ = writeln!(err, "{}", printable(line));
    }
}

/// Whether `c` must not reach a terminal as it is: control characters (C0 other than LF and
/// tab, DEL, C1 such as U+009B, a one-character CSI) and the bidirectional formatting characters
/// that reorder what is shown (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C).
fn terminal_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` safe for a terminal: what [`terminal_unsafe`] names is shown escaped, as `\u{1b}`.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(terminal_unsafe) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if terminal_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// A serialised JSON value with DEL, C1 and bidirectional controls written as `\uXXXX`
/// (serde_json escapes only the characters below U+0020): the same value, safe on a terminal.
/// Such characters can only occur inside JSON strings, where the escape means the same.
fn json_ascii_safe(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains(terminal_unsafe) {
        return line.into();
    }
    let mut out = String::with_capacity(line.len() + 16);
    for c in line.chars() {
        if terminal_unsafe(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out.into()
}

enum Parsed {
    Help,
    Run(Box<Options>),
}

fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut server = None;
    let mut runtime = "blocking".to_owned();
    let mut tls = TlsMode::Disabled;
    let mut insecure = false;
    let mut ca = Vec::new();
    let mut cert = None;
    let mut key = None;
    let mut lmtp = false;
    let mut helo = None;
    let mut from = None;
    let mut to = Vec::new();
    let mut user = None;
    let mut pass = None;
    let mut mech = None;
    let mut allow_plaintext_auth = false;
    let mut data = None;
    let mut timeout = None;
    let mut count = 1u64;
    let mut connections = 1usize;
    let mut dsn = Dsn::default();
    let mut json = false;
    let mut trace = false;

    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().cloned().ok_or(format!("{name} needs a value")),
            }
        };
        match flag {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--server" => server = Some(value(flag)?),
            "--runtime" => runtime = value(flag)?,
            "--tls" => {
                tls = match value(flag)?.as_str() {
                    "none" => TlsMode::Disabled,
                    "starttls" => TlsMode::Opportunistic,
                    "starttls-required" => TlsMode::Required,
                    "implicit" => TlsMode::Implicit,
                    other => return Err(format!("unknown --tls mode {other:?}")),
                }
            }
            "--insecure" => insecure = true,
            "--ca" => ca.push(read_file(flag, &value(flag)?)?),
            "--cert" => cert = Some(read_file(flag, &value(flag)?)?),
            "--key" => key = Some(read_file(flag, &value(flag)?)?),
            "--lmtp" => lmtp = true,
            "--helo" => {
                let name = value(flag)?;
                helo = Some(
                    Domain::try_from(name.as_str()).map_err(|e| format!("--helo {name:?}: {e}"))?,
                );
            }
            "--from" => from = Some(value(flag)?),
            "--to" => to.push(value(flag)?),
            "--auth-user" => user = Some(value(flag)?),
            "--auth-pass" => pass = Some(value(flag)?),
            "--auth-mech" => {
                mech = Some(match value(flag)?.to_ascii_uppercase().as_str() {
                    "PLAIN" => AuthMech::Plain,
                    "LOGIN" => AuthMech::Login,
                    "CRAM-MD5" => AuthMech::CramMd5,
                    "XOAUTH2" => AuthMech::XOAuth2,
                    "SCRAM-SHA-256" => AuthMech::ScramSha256,
                    "SCRAM-SHA-1" => AuthMech::ScramSha1,
                    "OAUTHBEARER" => AuthMech::OAuthBearer,
                    "EXTERNAL" => AuthMech::External,
                    other => return Err(format!("unknown --auth-mech {other:?}")),
                })
            }
            "--allow-plaintext-auth" => allow_plaintext_auth = true,
            "--data" => data = Some(value(flag)?),
            "--timeout" => {
                let v = value(flag)?;
                let secs: f64 = v
                    .parse()
                    .map_err(|_| format!("--timeout {v:?} is not a number"))?;
                if !(secs > 0.0 && secs.is_finite() && secs < 1e9) {
                    return Err(format!(
                        "--timeout {v:?} must be a positive number of seconds"
                    ));
                }
                timeout = Some(Duration::from_secs_f64(secs));
            }
            "--count" => {
                let v = value(flag)?;
                count = v
                    .parse()
                    .map_err(|_| format!("--count {v:?} is not a number"))?;
                if count == 0 {
                    return Err("--count must be at least 1".into());
                }
            }
            "--connections" => {
                let v = value(flag)?;
                connections = v
                    .parse()
                    .map_err(|_| format!("--connections {v:?} is not a number"))?;
                if !(1..=1000).contains(&connections) {
                    return Err("--connections must be from 1 to 1000".into());
                }
            }
            "--notify" | "--orcpt" | "--ret" | "--envid" => {
                let v = value(flag)?;
                if v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                    return Err(format!("{flag} contains CR, LF or NUL"));
                }
                match flag {
                    "--notify" => dsn.notify = Some(parse_notify(&v)?),
                    "--orcpt" => {
                        // An address as `--to` takes it (`<>` around it allowed), sent bare.
                        let orcpt = Mailbox::try_from(v.as_str())
                            .map_err(|e| e.to_string())
                            .and_then(|m| Orcpt::rfc822(m.as_str()).map_err(|e| e.to_string()))
                            .map_err(|e| format!("--orcpt {v:?}: {e}"))?;
                        dsn.orcpt = Some(orcpt);
                    }
                    "--ret" => {
                        dsn.ret = Some(match v.to_ascii_uppercase().as_str() {
                            "FULL" => Ret::Full,
                            "HDRS" => Ret::Hdrs,
                            _ => return Err(format!("--ret {v:?}: expected FULL or HDRS")),
                        })
                    }
                    _ => {
                        dsn.envid = Some(
                            XText::try_from(v.as_str())
                                .map_err(|e| format!("--envid {v:?}: {e}"))?,
                        )
                    }
                }
            }
            "--json" => json = true,
            "--trace" => trace = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let runtime = match runtime.as_str() {
        "blocking" => Runtime::Blocking,
        "smol" => Runtime::Smol,
        "async-std" => Runtime::AsyncStd,
        other => return Err(format!("unknown --runtime {other:?}")),
    };
    let server = parse_server(&server.ok_or("--server is required")?, tls, lmtp)?;
    let from = from.ok_or("--from is required")?;
    let from = ReversePath::try_from(from.as_str()).map_err(|e| format!("--from {from:?}: {e}"))?;
    if to.is_empty() {
        return Err("at least one --to is required".into());
    }
    let to = to
        .iter()
        .map(|t| Mailbox::try_from(t.as_str()).map_err(|e| format!("--to {t:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let auth = match (user, pass) {
        (Some(u), Some(p)) => {
            for (what, v) in [("--auth-user", &u), ("--auth-pass", &p)] {
                if v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                    return Err(format!("{what} contains CR, LF or NUL"));
                }
            }
            // What the mechanism refuses (XOAUTH2's \x01) is a usage error too, found now.
            if let Some(m) = mech {
                mechanism(m, &u, &p).map_err(|e| format!("--auth-mech {m:?}: {e}"))?;
            }
            Some((u, p, mech))
        }
        (None, None) if mech.is_none() => None,
        (None, None) => return Err("--auth-mech needs --auth-user and --auth-pass".into()),
        (Some(_), None) => return Err("--auth-user needs --auth-pass".into()),
        (None, Some(_)) => return Err("--auth-pass needs --auth-user".into()),
    };
    let identity = match (cert, key) {
        (Some(cert_chain_pem), Some(key_pem)) => Some(TlsIdentity {
            cert_chain_pem,
            key_pem,
        }),
        (None, None) => None,
        (Some(_), None) => return Err("--cert needs --key".into()),
        (None, Some(_)) => return Err("--key needs --cert".into()),
    };
    Ok(Parsed::Run(Box::new(Options {
        runtime,
        server,
        tls,
        insecure,
        ca,
        identity,
        lmtp,
        helo,
        from,
        to,
        auth,
        allow_plaintext_auth,
        data,
        timeout,
        count,
        connections,
        dsn,
        json,
        trace,
    })))
}

/// The contents of the file a flag names (a usage error when it cannot be read).
fn read_file(flag: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{flag} {path:?}: {e}"))
}

fn parse_server(s: &str, tls: TlsMode, lmtp: bool) -> Result<Server, String> {
    if s.starts_with('/') {
        return Ok(Server::Unix(s.to_owned()));
    }
    let default = match (lmtp, tls) {
        (true, _) => smtp_blocking::LMTP_PORT,
        (false, TlsMode::Implicit) => smtp_blocking::SMTPS_PORT,
        (false, _) => smtp_blocking::SMTP_PORT,
    };
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if h.ends_with(']') || !h.contains(':') => {
            let port: u16 = p
                .parse()
                .map_err(|_| format!("--server {s:?}: bad port {p:?}"))?;
            (h, port)
        }
        _ => (s, default),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!("--server {s:?}: bad host"));
    }
    Ok(Server::Tcp(host.to_owned(), port))
}
