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

const USAGE: &str = "\
usage: smtp-send --server HOST:PORT|/unix/socket --from ADDR --to ADDR [--to ADDR ...]
                 [--runtime blocking|async-std|smol] [--tls none|starttls|starttls-required|implicit]
                 [--insecure] [--ca FILE ...] [--cert FILE --key FILE] [--lmtp] [--helo NAME]
                 [--auth-user U --auth-pass P [--auth-mech PLAIN|LOGIN|CRAM-MD5|XOAUTH2|
                  SCRAM-SHA-256|SCRAM-SHA-1|OAUTHBEARER|EXTERNAL]]
                 [--allow-plaintext-auth] [--data FILE|-] [--timeout SECS] [--count N]
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
  --count         send the message N times on one connection (default 1)
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

/// A file up to this size is read into memory once, so that `--count` copies cost no file
/// system calls; a larger one streams from the file for each copy. Standard input up to this
/// size is kept in memory; a larger one is spooled to a temporary file.
const IN_MEMORY_MAX: u64 = 1024 * 1024;

/// The message: a large file or spooled standard input (rewound for each copy, never loaded
/// whole), or in memory: a small file, or small standard input.
enum Message {
    File(File),
    Spooled(Spool),
    Memory(Vec<u8>),
}

/// Standard input copied to a temporary file, as it cannot be rewound for `--count` copies.
///
/// The file is created new (never an existing path or link), readable by its owner only, in
/// `std::env::temp_dir()`. On Unix its name is removed at once (the open file lives on until
/// closed, even if the program is killed); elsewhere it is removed when the spool is dropped.
struct Spool {
    file: File,
    /// The name still to remove (not on Unix, where it is already gone).
    path: Option<std::path::PathBuf>,
}

impl Spool {
    /// A new, empty temporary file.
    fn create() -> io::Result<Self> {
        let dir = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut attempt = 0u32;
        loop {
            let name = format!("smtp-send-{}-{nanos}-{attempt}.spool", std::process::id());
            let path = dir.join(name);
            let mut options = std::fs::OpenOptions::new();
            options.read(true).write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(file) => {
                    #[cfg(unix)]
                    {
                        std::fs::remove_file(&path)?;
                        return Ok(Self { file, path: None });
                    }
                    #[cfg(not(unix))]
                    return Ok(Self {
                        file,
                        path: Some(path),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Message {
    /// The message and its shape.
    fn open(data: Option<&str>, stdin: &mut dyn Read) -> Result<(Self, MessageShape), String> {
        let mut buf = Vec::new();
        match data {
            Some(path) if path != "-" => {
                let mut file = File::open(path).map_err(|e| format!("--data {path:?}: {e}"))?;
                let (len, shape) = scan(&mut file).map_err(|e| format!("--data {path:?}: {e}"))?;
                if len > IN_MEMORY_MAX {
                    return Ok((Self::File(file), shape));
                }
                buf.reserve(usize::try_from(len).unwrap_or_default());
                file.seek(SeekFrom::Start(0))
                    .and_then(|_| file.read_to_end(&mut buf))
                    .map_err(|e| format!("--data {path:?}: {e}"))?;
            }
            _ => {
                // One byte more than the limit tells whether there is more.
                stdin
                    .take(IN_MEMORY_MAX + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| format!("reading standard input: {e}"))?;
                if buf.len() as u64 > IN_MEMORY_MAX {
                    let (spool, shape) =
                        spool(&buf, stdin).map_err(|e| format!("spooling standard input: {e}"))?;
                    return Ok((Self::Spooled(spool), shape));
                }
            }
        }
        let shape = MessageShape::of(&buf);
        Ok((Self::Memory(buf), shape))
    }

    /// One more copy to send. A file copy rewinds the shared file at its first read: bodies
    /// are read one at a time, each to its end, so copies never interleave.
    fn copy(&self) -> Copy<'_> {
        match self {
            Self::File(file) | Self::Spooled(Spool { file, .. }) => Copy::File {
                file,
                rewound: false,
            },
            Self::Memory(m) => Copy::Memory(m),
        }
    }
}

/// One copy of the message being read.
enum Copy<'a> {
    /// The file, rewound at the first read.
    File {
        file: &'a File,
        rewound: bool,
    },
    Memory(&'a [u8]),
}

impl Read for Copy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::File { file, rewound } => {
                if !*rewound {
                    file.seek(SeekFrom::Start(0))?;
                    *rewound = true;
                }
                file.read(buf)
            }
            Self::Memory(m) => m.read(buf),
        }
    }
}

/// `head` and the rest of `stdin` in a new [`Spool`], measured on the way, in constant memory.
fn spool(head: &[u8], stdin: &mut dyn Read) -> io::Result<(Spool, MessageShape)> {
    let mut spool = Spool::create()?;
    let mut shape = MessageShape::new();
    let mut out = io::BufWriter::with_capacity(64 * 1024, &mut spool.file);
    shape.push(head);
    out.write_all(head)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let piece = buf.get(..n).unwrap_or_default();
        shape.push(piece);
        out.write_all(piece)?;
    }
    out.flush()?;
    drop(out);
    Ok((spool, shape))
}

/// The file's length and shape, in one streaming pass.
fn scan(file: &mut File) -> io::Result<(u64, MessageShape)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    let mut shape = MessageShape::new();
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok((len, shape)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        len += n as u64;
        shape.push(buf.get(..n).unwrap_or_default());
    }
}

/// The session: connect, authenticate, send `count` times, quit.
fn send(
    opts: &Options,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &SharedWrite,
    summary: &mut Summary,
) -> i32 {
    let (message, shape) = match Message::open(opts.data.as_deref(), stdin) {
        Ok(m) => m,
        Err(e) => {
            summary.error = Some(e);
            return exit::USAGE;
        }
    };
    let connected = open(opts, stderr);
    let mut client = match connected {
        Ok(c) => c,
        Err(e) => return fail(summary, &e, Phase::Connect),
    };
    if let Some((user, pass, mech)) = &opts.auth {
        let result = match mech {
            None => client.login(user, pass),
            Some(m) => match mechanism(*m, user, pass) {
                Ok(m) => client.auth(m),
                Err(e) => {
                    summary.error = Some(e);
                    client.close();
                    return exit::USAGE;
                }
            },
        };
        if let Err(e) = result {
            let code = fail(summary, &e, Phase::Auth);
            let _ = client.quit();
            return code;
        }
    }
    let mut envelope = Envelope::new(opts.from.clone(), opts.to.iter().cloned());
    if opts.dsn.requested() {
        // A DSN is a request, not a need: without the extension the message goes without it.
        if client.offers(Extension::Dsn) {
            opts.dsn.apply(&mut envelope);
        } else {
            say(
                stderr,
                "smtp-send: warning: the server does not offer DSN; \
                 sending without --notify/--orcpt/--ret/--envid",
            );
        }
    }
    envelope.declare(&shape);
    // One connection, the copies pipelined back to back (the adapter keeps one message ahead).
    let mut copies = (0..opts.count).map(|_| (envelope.clone(), message.copy()));
    let start = Instant::now();
    let mut first_failure = None;
    let mut n = 0u64;
    // Each report is tallied as it arrives: memory stays flat whatever `--count` is.
    let mut tally = |report: MailReport| {
        n += 1;
        for (mailbox, reply) in report.refused() {
            summary
                .refused
                .insert(mailbox.as_str().to_owned(), reply_pair(reply));
        }
        let (code, reply) = match &report.outcome {
            MailOutcome::Accepted(r) => (exit::OK, Some(r)),
            MailOutcome::SenderRefused(r) => (exit::SENDER, Some(r)),
            MailOutcome::RecipientsRefused => (exit::RECIPIENTS, None),
            MailOutcome::DataRefused(r) => (exit::DATA, Some(r)),
            _ => (exit::SMTP, None),
        };
        if let Some(r) = reply {
            summary.last_reply = Some(reply_pair(r));
        }
        if !opts.json {
            let what = match reply {
                Some(r) => r.to_string(),
                None => "every recipient refused".to_owned(),
            };
            let _ = writeln!(stdout, "message {n}: {}", printable(&what));
        }
        if code == exit::OK {
            summary.sent += 1;
        } else if first_failure.is_none() {
            first_failure = Some(code);
            summary.error = Some(match reply {
                Some(r) => format!("message {n} refused: {r}"),
                None => format!("message {n}: every recipient refused"),
            });
        }
    };
    // Trouble after the last final reply cannot turn an outcome into an error: `send_all_with`
    // keeps its result when its work was complete (the adapters' run loops).
    if let Err(e) = client.send_all_with(&mut copies, &mut tally) {
        let code = fail(summary, &e, Phase::Mail);
        let _ = client.quit();
        return code;
    }
    summary.elapsed = Some(start.elapsed());
    if let Some(code) = first_failure {
        let _ = client.quit();
        return code;
    }
    // The messages are accepted: whatever happens to QUIT does not change that.
    let _ = client.quit();
    exit::OK
}

/// The calls the CLI makes, whichever adapter makes them.
trait Session {
    /// Whether the server's last EHLO/LHLO offered `extension`.
    fn offers(&self, extension: Extension) -> bool;
    fn login(&mut self, user: &str, pass: &str) -> Result<OwnedReply, Error>;
    fn auth(&mut self, mechanism: Box<dyn Mechanism>) -> Result<OwnedReply, Error>;
    fn send_all_with<'a>(
        &mut self,
        messages: &mut dyn Iterator<Item = (Envelope, Copy<'a>)>,
        on_report: &mut dyn FnMut(MailReport),
    ) -> Result<(), Error>;
    fn quit(&mut self) -> Result<(), Error>;
    fn close(&mut self);
}

impl Session for SmtpClient {
    fn offers(&self, extension: Extension) -> bool {
        self.capabilities().is_some_and(|c| c.supports(extension))
    }
    fn login(&mut self, user: &str, pass: &str) -> Result<OwnedReply, Error> {
        Self::login(self, user, pass)
    }
    fn auth(&mut self, mechanism: Box<dyn Mechanism>) -> Result<OwnedReply, Error> {
        Self::auth(self, mechanism)
    }
    fn send_all_with<'a>(
        &mut self,
        messages: &mut dyn Iterator<Item = (Envelope, Copy<'a>)>,
        on_report: &mut dyn FnMut(MailReport),
    ) -> Result<(), Error> {
        Self::send_all_with(self, messages, on_report)
    }
    fn quit(&mut self) -> Result<(), Error> {
        Self::quit(self)
    }
    fn close(&mut self) {
        Self::close(self);
    }
}

/// An async runtime, run to completion one call at a time (a CLI has one session to drive).
trait BlockOn: smtp_smol::Runtime {
    fn block_on<F: Future>(future: F) -> F::Output;
}

impl BlockOn for smtp_smol::Smol {
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
}

impl BlockOn for smtp_async_std::AsyncStd {
    fn block_on<F: Future>(future: F) -> F::Output {
        async_std::task::block_on(future)
    }
}

/// The message file (or standard input copy) as an `AsyncRead`: a local read in the session's
/// own task, which has nothing else to do meanwhile.
struct LocalRead<R>(R);

impl<R: Read + Unpin> futures_lite::AsyncRead for LocalRead<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.0.read(buf))
    }
}

impl<R: BlockOn> Session for GenericSmtpClient<R> {
    fn offers(&self, extension: Extension) -> bool {
        self.capabilities().is_some_and(|c| c.supports(extension))
    }
    fn login(&mut self, user: &str, pass: &str) -> Result<OwnedReply, Error> {
        R::block_on(Self::login(self, user, pass))
    }
    fn auth(&mut self, mechanism: Box<dyn Mechanism>) -> Result<OwnedReply, Error> {
        R::block_on(Self::auth(self, mechanism))
    }
    fn send_all_with<'a>(
        &mut self,
        messages: &mut dyn Iterator<Item = (Envelope, Copy<'a>)>,
        on_report: &mut dyn FnMut(MailReport),
    ) -> Result<(), Error> {
        let messages = messages.map(|(envelope, body)| (envelope, LocalRead(body)));
        R::block_on(Self::send_all_with(self, messages, on_report))
    }
    fn quit(&mut self) -> Result<(), Error> {
        R::block_on(Self::quit(self))
    }
    fn close(&mut self) {
        Self::close(self);
    }
}

/// The session settings the options ask for (every adapter takes them whole).
fn settings(opts: &Options) -> Settings {
    let mut s = Settings::default();
    s.hello_on_connect = true;
    s.tls = opts.tls;
    s.lmtp = opts.lmtp;
    s.danger_accept_invalid_certs = opts.insecure;
    s.allow_plaintext_auth = opts.allow_plaintext_auth;
    s.timeout = opts.timeout;
    s.local_hostname = opts.helo.clone();
    s.tls_roots = opts.ca.clone();
    s.tls_identity = opts.identity.clone();
    s
}

/// The builder of any adapter with the options set (`settings` and `transcript_sink` are
/// every builder's).
macro_rules! configured {
    ($builder:expr, $opts:expr, $stderr:expr) => {{
        let opts: &Options = $opts;
        let mut builder = $builder.settings(settings(opts));
        if opts.trace {
            let sink = Arc::clone($stderr);
            builder = builder.transcript_sink(move |entry| {
                if let Ok(mut err) = sink.lock() {
                    let _ = writeln!(err, "{}", printable(&entry.to_string()));
                }
            });
        }
        builder
    }};
}

/// Connects with the adapter of `--runtime`: the only place the runtimes differ.
fn open(opts: &Options, stderr: &SharedWrite) -> Result<Box<dyn Session>, Error> {
    match opts.runtime {
        Runtime::Blocking => {
            let builder = configured!(SmtpClient::builder(), opts, stderr);
            Ok(Box::new(match &opts.server {
                Server::Tcp(host, port) => builder.connect(host, *port)?,
                Server::Unix(path) => builder.connect_unix(path)?,
            }))
        }
        Runtime::Smol => open_async::<smtp_smol::Smol>(opts, stderr),
        Runtime::AsyncStd => open_async::<smtp_async_std::AsyncStd>(opts, stderr),
    }
}

fn open_async<R: BlockOn>(opts: &Options, stderr: &SharedWrite) -> Result<Box<dyn Session>, Error> {
    let builder = configured!(GenericSmtpClient::<R>::builder(), opts, stderr);
    let client = R::block_on(async {
        match &opts.server {
            Server::Tcp(host, port) => builder.connect(host, *port).await,
            Server::Unix(path) => builder.connect_unix(path).await,
        }
    })?;
    Ok(Box::new(client))
}

/// The `--auth-mech` mechanism: OAuth mechanisms take the password as the token, EXTERNAL
/// takes the user as its authorization identity and ignores the password.
fn mechanism(m: AuthMech, user: &str, pass: &str) -> Result<Box<dyn Mechanism>, String> {
    let e = |e: smtp_blocking::proto::sasl::SaslError| e.to_string();
    Ok(match m {
        AuthMech::Plain => Box::new(Plain::new(user, pass).map_err(e)?),
        AuthMech::Login => Box::new(Login::new(user, pass)),
        AuthMech::CramMd5 => Box::new(CramMd5::new(user, pass)),
        AuthMech::XOAuth2 => Box::new(XOAuth2::new(user, pass).map_err(e)?),
        AuthMech::ScramSha256 => Box::new(Scram::new(ScramHash::Sha256, user, pass).map_err(e)?),
        AuthMech::ScramSha1 => Box::new(Scram::new(ScramHash::Sha1, user, pass).map_err(e)?),
        AuthMech::OAuthBearer => Box::new(OAuthBearer::new(user, pass).map_err(e)?),
        AuthMech::External => Box::new(External::new().with_authzid(user).map_err(e)?),
    })
}

fn reply_pair(reply: &OwnedReply) -> (u16, String) {
    let text: Vec<String> = reply
        .lines()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    (reply.code().get(), text.join("\n"))
}

/// Where in the session an error happened (an I/O error means "could not connect" only while
/// connecting).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connect,
    Auth,
    Mail,
}

fn fail(summary: &mut Summary, error: &Error, phase: Phase) -> i32 {
    summary.error = Some(error.to_string());
    if let Some(reply) = error.reply() {
        summary.last_reply = Some(reply_pair(reply));
    }
    if let Error::RecipientsRefused(refused) | Error::DataRefused { refused, .. } = error {
        for (mailbox, reply) in refused {
            summary
                .refused
                .insert(mailbox.as_str().to_owned(), reply_pair(reply));
        }
    }
    exit_code(error, phase)
}

/// The contract's exit code for a library error.
fn exit_code(error: &Error, phase: Phase) -> i32 {
    if error.is_timeout() {
        return exit::TIMEOUT;
    }
    match error {
        Error::Io(_) if phase == Phase::Connect => exit::CONNECT,
        Error::Io(_) | Error::NotConnected => exit::CLOSED,
        Error::Tls(_) | Error::StartTlsRefused(_) => exit::TLS,
        Error::Smtp(e) => match e {
            ProtoError::UnexpectedEof(_) => exit::CLOSED,
            ProtoError::Rejected { stage, .. } => match stage {
                Stage::Greeting => exit::CONNECT,
                Stage::Hello => exit::HELLO,
                Stage::StartTls | Stage::TlsHandshake => exit::TLS,
                Stage::Auth => exit::AUTH,
                Stage::Mail => exit::SENDER,
                Stage::Rcpt => exit::RECIPIENTS,
                Stage::Data | Stage::DataBlock | Stage::DataEnd | Stage::Bdat => exit::DATA,
                _ => exit::SMTP,
            },
            ProtoError::HelloRefused(_) => exit::HELLO,
            ProtoError::TlsUnavailable => exit::UNSUPPORTED,
            ProtoError::StartTlsRefused(_) | ProtoError::StartTlsInjection => exit::TLS,
            ProtoError::Sasl(_) | ProtoError::AuthLoop(_) => exit::AUTH,
            _ => exit::SMTP,
        },
        Error::Usage(u) => match u {
            UsageError::Unsupported(_)
            | UsageError::MechanismNotOffered(_)
            | UsageError::NoSuitableMechanism
            | UsageError::AuthWithoutTls
            | UsageError::RequireTlsWithoutTls => exit::UNSUPPORTED,
            UsageError::TooLarge { .. } => exit::DATA,
            UsageError::NoRecipients | UsageError::InvalidMechanism(_) => exit::USAGE,
            _ => exit::SMTP,
        },
        Error::InvalidInput(_) | Error::InvalidSetting(_) | Error::Message(_) => exit::USAGE,
        Error::HeloRefused(_) => exit::HELLO,
        Error::AuthFailed(_) => exit::AUTH,
        Error::SenderRefused { .. } => exit::SENDER,
        Error::RecipientsRefused(_) => exit::RECIPIENTS,
        Error::DataRefused { .. } => exit::DATA,
        _ => exit::SMTP,
    }
}
