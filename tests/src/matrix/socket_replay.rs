//! Transcripts over real sockets: a fake server thread on loopback plays a transcript's `S:`
//! bytes, reads and compares its `C:` bytes and does the TLS handshake at `>> tls` with the
//! test identity, while an adapter performs the `>>` actions through its public API and each
//! result is summarised as the core's event would be (`=>` lines). [`replay`] runs one file;
//! [`left_out_of_socket_replay`] says which files cannot be expressed this way ([`SKIPPED`],
//! with reasons); [`REAL_TIME_TIMEOUT`] is one more transcript, in real time.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use smtp_blocking::Error;
use smtp_proto::body::BareLineEndings;
use smtp_proto::client::{Event, TlsMode};
use smtp_proto::{Domain, MailParams, OwnedReply, RcptParams};

use super::{Adapter, Session, Settings, Target};
use crate::sansio::{envelope_of, mechanism_of, summarize};
use crate::server::localhost_acceptor;
use crate::transcript::{escape, parse_args, Step, Transcript};

/// Requests queued before `connect` returned: an adapter's session starts with `connect`, which
/// returns only once the greeting (and set-up) completed.
const BEFORE_CONNECT: &str = "requests queued before connect completes";
/// Several requests queued at once: each adapter call runs one request to completion.
const QUEUED: &str = "several requests queued at once";
/// Low-level BDAT, and the core's `NotReady` for a send before any hello, are not part of the
/// smtplib-shaped API (smtplib has no `bdat()`; the adapters' sends say hello first if needed).
const CORE_ONLY: &str = "core-only request (low-level BDAT, send before hello)";
/// A server event with no request in flight: an adapter reads only while a call runs, so the
/// next call sees it instead (as with smtplib).
const IDLE: &str = "server event while idle";
/// The session ends in the same read that completes the call: the adapters close it at once,
/// so `connect` reports `NotConnected` instead of Ready followed by the error.
const SAME_READ: &str = "session error in the read that completes the call";
/// After a refused transaction the core queues RSET; the adapters write it before returning
/// the refusal, but its reply (here a 421 that ends the session) is read by the next call.
const CLEANUP_RSET: &str = "the cleanup RSET's reply is read by the next call";
/// The adapters always allow AUTH over plaintext to loopback (Go's net/smtp rule).
const LOOPBACK_AUTH: &str = "adapters allow plaintext AUTH to loopback";
/// Plaintext after the `220` (or EOF) racing the TLS handshake depends on packet timing over a
/// real socket; the unit runner covers these, and `scenarios::starttls_problems` covers
/// injection over sockets.
const RACY: &str = "timing-dependent over a socket";

/// Transcripts the socket replay leaves out, and why. (Files with `@` or `!stall` steps are left
/// out as a class: they move virtual time or freeze the transport, which real sockets cannot.)
pub const SKIPPED: &[(&str, &str)] = &[
    ("commands-before-ready.smtp", BEFORE_CONNECT),
    ("usage-errors.smtp", BEFORE_CONNECT),
    ("commands-queued-fifo.smtp", QUEUED),
    ("quit-twice-and-after-quit.smtp", QUEUED),
    ("lowlevel-bdat.smtp", CORE_ONLY),
    ("lowlevel-bdat-refused.smtp", CORE_ONLY),
    ("manual-setup.smtp", CORE_ONLY),
    ("manual-starttls-bdat.smtp", CORE_ONLY),
    ("starttls-explicit-after-ready.smtp", CORE_ONLY),
    ("rejected-421-unprompted.smtp", IDLE),
    ("eof-idle.smtp", IDLE),
    ("malformed-unsolicited-reply.smtp", IDLE),
    ("malformed-extra-reply-in-flight.smtp", SAME_READ),
    ("rejected-421-to-cleanup-rset.smtp", CLEANUP_RSET),
    ("auth-plaintext-refused.smtp", LOOPBACK_AUTH),
    ("starttls-injection-later-flight.smtp", RACY),
    ("starttls-eof-during-handshake.smtp", RACY),
];

/// A real-time transcript: timeouts of 300 ms, the server silent after the EHLO.
pub const REAL_TIME_TIMEOUT: &str = "\
# Real time, small timeouts: the reply to EHLO never comes; the session ends 300 ms after EHLO.
config timeout=300ms
S: 220 mx.test ESMTP
C: EHLO client.test
@ +600ms
=> Closed Timeout Hello 300ms
";

/// Why the socket replay leaves `t` out, or `None` if it runs it: a virtual-time (`@`) or stall
/// (`!stall`) step, or an entry of [`SKIPPED`].
pub fn left_out_of_socket_replay(t: &Transcript) -> Option<&'static str> {
    let timed = t
        .steps
        .iter()
        .any(|s| matches!(s, Step::Advance(_) | Step::Stall(_)));
    if timed {
        return Some("virtual time or a stalled transport");
    }
    SKIPPED
        .iter()
        .find(|(n, _)| *n == t.name)
        .map(|(_, reason)| *reason)
}

/// Replays [`REAL_TIME_TIMEOUT`] through adapter `A`.
pub fn replay_real_time_timeout<A: Adapter>() {
    let t = Transcript::parse("real-time-timeout", REAL_TIME_TIMEOUT).expect("transcript");
    let started = std::time::Instant::now();
    replay::<A>(&t).unwrap_or_else(|e| panic!("{}: {e}", A::NAME));
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Settings for a transcript's `config` line.
fn settings_of(t: &Transcript) -> Result<Settings, String> {
    let mut settings = Settings::default().trust_test_ca(true);
    let s = &mut settings.settings;
    let on = |k: &str, default: bool| match t.setting(k) {
        Some("on" | "yes" | "true") => true,
        Some("off" | "no" | "false") => false,
        _ => default,
    };
    let name = t.setting("helo").unwrap_or("client.test");
    s.local_hostname = Some(Domain::try_from(name).map_err(|e| e.to_string())?);
    s.pipelining = on("pipelining", true);
    s.chunking = on("chunking", true);
    s.lmtp = on("lmtp", false);
    s.initial_response_ok = on("initial-response", true);
    s.tls = match t.setting("tls").unwrap_or("disabled") {
        "disabled" | "none" => TlsMode::Disabled,
        "opportunistic" | "starttls" => TlsMode::Opportunistic,
        "required" | "starttls-required" => TlsMode::Required,
        "implicit" => TlsMode::Implicit,
        other => return Err(format!("unknown tls mode {other}")),
    };
    s.hello_on_connect = t.setting("setup").unwrap_or("auto") == "auto";
    if on("strict-body", false) {
        s.bare_line_endings = BareLineEndings::Reject;
    }
    if let Some(d) = t.setting("timeout") {
        s.timeout = Some(crate::transcript::parse_duration(d).ok_or("bad timeout")?);
    }
    if let Some(n) = t.setting("chunk") {
        s.limits.bdat_chunk = n.parse().map_err(|_| "bad chunk")?;
    }
    if let Some(n) = t.setting("auth-rounds") {
        s.limits.auth_rounds = n.parse().map_err(|_| "bad auth-rounds")?;
    }
    Ok(settings)
}

/// Replays one transcript through adapter `A` over a loopback socket.
pub fn replay<A: Adapter>(t: &Transcript) -> Result<(), String> {
    let settings = settings_of(t)?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let steps = t.steps.clone();
    let implicit = settings.settings.tls == TlsMode::Implicit;
    let server = thread::spawn(move || play_server(&listener, &steps, implicit));
    let client = play_client::<A>(t, &settings, port);
    let server = server
        .join()
        .unwrap_or_else(|_| Err("the fake server panicked".into()));
    let name = format!("{} [{}]", t.name, A::NAME);
    match (server, client) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), _) => Err(format!("{name}: server side: {e}")),
        (_, Err(e)) => Err(format!("{name}: client side: {e}")),
    }
}

/// The adapter's side: connect, then each `>>` action, each result checked against `=>`.
fn play_client<A: Adapter>(t: &Transcript, settings: &Settings, port: u16) -> Result<(), String> {
    let mut events = VecDeque::new();
    let mut session = match A::connect(settings, &Target::loopback(port)) {
        Ok(s) => {
            events.push_back("Ready".to_owned());
            Some(s)
        }
        Err(e) => {
            events.push_back(summarize_error(e));
            None
        }
    };
    // `>> send` actions in a row, with no result expected in between, are queued at once in
    // the transcript: they go to `send_all` together, so that the next transaction can follow
    // the previous end of data as the core would send it.
    let mut batched = 0;
    for (i, step) in t.steps.iter().enumerate() {
        if batched > 0 && matches!(step, Step::Action(verb, _) if verb == "send") {
            batched -= 1;
            continue;
        }
        match step {
            Step::Action(verb, _) if verb == "send" && send_run(&t.steps[i..]).len() > 1 => {
                let run = send_run(&t.steps[i..]);
                batched = run.len() - 1;
                let messages = run
                    .iter()
                    .map(|args| envelope_of(args))
                    .collect::<Result<Vec<_>, String>>()?;
                match session.as_deref_mut() {
                    Some(s) => {
                        let messages = messages
                            .iter()
                            .map(|(envelope, body)| (envelope.clone(), body.as_slice()))
                            .collect();
                        match s.send_all(messages) {
                            Ok(reports) => events.extend(
                                reports.into_iter().map(|r| summarize(&Event::MailDone(r))),
                            ),
                            Err(e) => events.push_back(summarize_error(e)),
                        }
                    }
                    None => events.push_back("Usage Closed".into()),
                }
            }
            // The adapters do the handshake themselves.
            Step::Expect(want) | Step::MaybeExpect(want) if want == "UpgradeTls" => {}
            Step::Expect(want) => match events.pop_front() {
                Some(got) if got == *want => {}
                got => return Err(format!("step {}: wanted `{want}`, got {got:?}", i + 1)),
            },
            Step::MaybeExpect(want) if events.front() == Some(want) => drop(events.pop_front()),
            Step::Action(verb, _) if verb == "tls" => {}
            Step::Action(verb, args) => match session.as_deref_mut() {
                Some(s) => events.extend(act(s, verb, args)?),
                None => events.push_back("Usage Closed".into()),
            },
            _ => {}
        }
    }
    drop(session);
    match events.pop_front() {
        Some(extra) => Err(format!("unexpected event at the end: `{extra}`")),
        None => Ok(()),
    }
}

/// The arguments of the `>> send` actions that start `steps`, up to the first expected result
/// or other action.
fn send_run(steps: &[Step]) -> Vec<&str> {
    let mut run = Vec::new();
    for step in steps {
        match step {
            Step::Action(verb, args) if verb == "send" => run.push(args.as_str()),
            Step::Action(..) | Step::Expect(_) | Step::MaybeExpect(_) => break,
            _ => {}
        }
    }
    run
}

fn reply_summary(reply: &OwnedReply) -> String {
    format!("Reply {}", reply.to_string().replace('\n', "\\n"))
}

/// The `=>` line the core's event would have given for an adapter error.
fn summarize_error(e: Error) -> String {
    match e {
        Error::Smtp(e) => summarize(&Event::Closed(Some(e))),
        Error::Usage(u) => format!("Usage {u:?}"),
        Error::NotConnected => "Usage Closed".into(),
        Error::AuthFailed(r) => format!("AuthFailed {}", r.code()),
        Error::HeloRefused(r) | Error::StartTlsRefused(r) | Error::DataRefused { reply: r, .. } => {
            reply_summary(&r)
        }
        other => format!("adapter error: {other}"),
    }
}

/// Performs one `>>` action; returns the summaries of what it produced.
fn act(s: &mut dyn Session, verb: &str, args: &str) -> Result<Vec<String>, String> {
    let word = |i: usize| {
        args.split_whitespace()
            .nth(i)
            .ok_or_else(|| format!("{verb}: missing argument"))
    };
    let arg = args.trim();
    let reply =
        |r: Result<OwnedReply, Error>| vec![r.map_or_else(summarize_error, |r| reply_summary(&r))];
    let authenticated = |r: Result<OwnedReply, Error>| {
        vec![r.map_or_else(summarize_error, |r| format!("Authenticated {}", r.code()))]
    };
    Ok(match verb {
        "send" => {
            let (envelope, body) = envelope_of(args)?;
            let report = s.send_with_report(envelope, &mut body.as_slice());
            vec![report.map_or_else(summarize_error, |r| summarize(&Event::MailDone(r)))]
        }
        "auth" => authenticated(s.auth(mechanism_of(
            word(0)?,
            word(1)?,
            word(2)?,
            args.split_whitespace().nth(3),
        )?)),
        "login" => authenticated(s.login(word(0)?, word(1)?)),
        "hello" => match word(0)? {
            "ehlo" | "lhlo" => reply(s.ehlo()),
            "helo" => reply(s.helo()),
            "ehlo-or-helo" => vec![match s.ehlo_or_helo_if_needed() {
                Ok(()) => {
                    let last = match s.does_esmtp() {
                        true => s.ehlo_response(),
                        false => s.helo_response(),
                    };
                    last.map_or_else(|| "no hello reply".into(), |r| reply_summary(&r))
                }
                Err(e) => summarize_error(e),
            }],
            other => return Err(format!("unknown hello {other}")),
        },
        "starttls" => reply(s.starttls()),
        "mail" => reply(s.mail(word(0)?, MailParams::default())),
        "rcpt" => reply(s.rcpt(word(0)?, RcptParams::default())),
        "data" => {
            let parsed = parse_args(args)?;
            let body = parsed
                .iter()
                .find(|(k, _)| k == "body")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            match s.data_per_recipient(&mut body.as_bytes()) {
                Ok(replies) => vec![crate::sansio::data_done(&replies)],
                Err(e) => vec![summarize_error(e)],
            }
        }
        "rset" => reply(s.rset()),
        "noop" if arg.is_empty() => reply(s.noop()),
        "noop" => reply(s.docmd(&format!("NOOP {arg}"))),
        "vrfy" => reply(s.verify(arg)),
        "expn" => reply(s.expn(arg)),
        "help" => reply(s.help((!arg.is_empty()).then_some(arg))),
        "raw" => reply(s.docmd(arg)),
        "quit" => vec![s.quit().map_or_else(summarize_error, |()| "Closed".into())],
        other => return Err(format!("action `{other}` has no adapter equivalent")),
    })
}

/// The fake server: plays the `S:` bytes, checks the `C:` bytes, does TLS at `>> tls`.
fn play_server(listener: &TcpListener, steps: &[Step], implicit: bool) -> Result<(), String> {
    let (tcp, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let limit = Some(Duration::from_secs(5));
    tcp.set_read_timeout(limit).map_err(|e| e.to_string())?;
    tcp.set_write_timeout(limit).map_err(|e| e.to_string())?;
    let raw = tcp.try_clone().map_err(|e| e.to_string())?;
    let mut stream = Wire::Plain(tcp);
    if implicit {
        stream = stream.into_tls();
    }
    for (i, step) in steps.iter().enumerate() {
        let at = format!("step {}", i + 1);
        match step {
            // A client that already went away makes later `C:` steps fail, which is the check.
            Step::Server(bytes) => drop(stream.write_all(bytes).and_then(|()| stream.flush())),
            Step::Client(want) => {
                let mut got = vec![0; want.len()];
                if let Err(e) = stream.read_exact(&mut got) {
                    return Err(format!("{at}: expected {:?}: {e}", escape(want)));
                }
                if got != *want {
                    return Err(format!(
                        "{at}: client bytes differ\n--- expected:\n{}\n--- sent:\n{}",
                        escape(want),
                        escape(&got)
                    ));
                }
            }
            // A client that refused to go on (injection) leaves nothing to do TLS with: only a
            // later `C:` step makes that an error.
            Step::Action(verb, _) if verb == "tls" => stream = stream.into_tls(),
            Step::Advance(d) => thread::sleep(*d),
            Step::Eof => drop(raw.shutdown(Shutdown::Write)),
            _ => {}
        }
    }
    // Nothing more may come before the client closes.
    let mut extra = Vec::new();
    match stream.read_to_end(&mut extra) {
        Ok(_) if !extra.is_empty() => Err(format!("unexpected client bytes: {}", escape(&extra))),
        _ => Ok(()),
    }
}

/// The fake server's side of the socket.
enum Wire {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
    /// The TLS handshake failed: why.
    Failed(io::Error),
}

impl Wire {
    fn into_tls(self) -> Self {
        match self {
            Self::Plain(tcp) => match localhost_acceptor().accept(tcp) {
                Ok(tls) => Self::Tls(Box::new(tls)),
                Err(e) => Self::Failed(io::Error::other(format!("TLS accept failed: {e}"))),
            },
            other => other,
        }
    }

    fn io(&mut self) -> Result<&mut dyn ReadWrite, io::Error> {
        match self {
            Self::Plain(t) => Ok(t),
            Self::Tls(t) => Ok(&mut **t),
            Self::Failed(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io()?.write_all(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io()?.flush()
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.io()?.read_exact(buf)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.io()?.read_to_end(buf)
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
