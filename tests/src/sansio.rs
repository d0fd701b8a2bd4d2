//! Runs a [`Transcript`] against the sans-IO core with virtual time: no sockets, no clock.
//!
//! Virtual time starts at one `Instant` and moves only on `@` lines, so runs are deterministic.
//! Each run feeds the server flights in one [`Feed`] mode; [`run_all_feeds`] runs every flight
//! whole, split at every point, and byte by byte (with one-byte writes too).

use std::time::{Duration, Instant};

use smtp_proto::body::BareLineEndings;
use smtp_proto::client::{
    Client, Config, Content, Envelope, Event, Hello, MailOutcome, Recipient, Setup, Timeouts,
    TlsMode,
};
use smtp_proto::command::{
    Argument, MailParams, Mailbox, Notify, RcptParams, Ret, ReversePath, XText,
};
use smtp_proto::error::Error;
use smtp_proto::sasl::{self, Mechanism};
use smtp_proto::{Domain, OwnedReply};

use crate::transcript::{escape, parse_args, Step, Transcript};

/// How server flights are cut before they reach `handle_input`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Each flight in one call.
    Whole,
    /// Flight number `flight` (0-based among flights) split in two at byte `at`; others whole.
    Split {
        /// Which flight.
        flight: usize,
        /// Where.
        at: usize,
    },
    /// Every flight one byte per call, and every write acknowledged one byte at a time.
    ByteByByte,
}

/// Builds the client configuration from a transcript's `config` line.
pub fn config_of(t: &Transcript) -> Result<Config, String> {
    let name = t.setting("helo").unwrap_or("client.test");
    let domain = Domain::try_from(name).map_err(|e| format!("helo name: {e}"))?;
    let mut c = Config::new(domain);
    let on = |k: &str, default: bool| match t.setting(k) {
        Some("on" | "yes" | "true") => true,
        Some("off" | "no" | "false") => false,
        _ => default,
    };
    c.pipelining = on("pipelining", true);
    c.chunking = on("chunking", true);
    c.lmtp = on("lmtp", false);
    c.allow_auth_without_tls = on("auth-plaintext", true);
    c.transcript = on("transcript", false);
    c.initial_response = on("initial-response", true);
    c.tls = match t.setting("tls").unwrap_or("disabled") {
        "disabled" | "none" => TlsMode::Disabled,
        "opportunistic" | "starttls" => TlsMode::Opportunistic,
        "required" | "starttls-required" => TlsMode::Required,
        "implicit" => TlsMode::Implicit,
        other => return Err(format!("unknown tls mode {other}")),
    };
    c.setup = match t.setting("setup").unwrap_or("auto") {
        "auto" => Setup::Automatic,
        "manual" => Setup::Manual,
        other => return Err(format!("unknown setup {other}")),
    };
    if on("strict-body", false) {
        c.bare_line_endings = BareLineEndings::Reject;
    }
    if let Some(d) = t.setting("timeout") {
        let d = crate::transcript::parse_duration(d).ok_or("bad timeout")?;
        c.timeouts = Timeouts::uniform(d);
    }
    if let Some(n) = t.setting("chunk") {
        c.limits.bdat_chunk = n.parse().map_err(|_| "bad chunk")?;
    }
    if let Some(n) = t.setting("auth-rounds") {
        c.limits.auth_rounds = n.parse().map_err(|_| "bad auth-rounds")?;
    }
    Ok(c)
}

/// The summary of [`Event::DataDone`]: its replies in order, separated by ` | `.
pub fn data_done(replies: &[OwnedReply]) -> String {
    let replies: Vec<String> = replies
        .iter()
        .map(|r| r.to_string().replace('\n', "\\n"))
        .collect();
    format!("DataDone {}", replies.join(" | "))
}

/// A one-line summary of an event, as transcripts write it after `=>`.
pub fn summarize(event: &Event) -> String {
    match event {
        Event::Ready => "Ready".into(),
        Event::UpgradeTls => "UpgradeTls".into(),
        Event::BodyWanted(_) => "BodyWanted".into(),
        Event::Reply { reply, .. } => format!("Reply {}", reply.to_string().replace('\n', "\\n")),
        Event::DataDone { replies, .. } => data_done(replies),
        Event::Authenticated { reply, .. } => format!("Authenticated {}", reply.code()),
        Event::AuthFailed { reply, .. } => format!("AuthFailed {}", reply.code()),
        Event::MailDone(report) => {
            let mut s = match &report.outcome {
                MailOutcome::Accepted(r) => format!("MailDone Accepted {}", r.code()),
                MailOutcome::SenderRefused(r) => format!("MailDone SenderRefused {}", r.code()),
                MailOutcome::RecipientsRefused => "MailDone RecipientsRefused".into(),
                MailOutcome::DataRefused(r) => format!("MailDone DataRefused {}", r.code()),
                other => format!("MailDone {other:?}"),
            };
            let refused: Vec<String> = report
                .refused()
                .map(|(m, r)| format!("{}:{}", m.as_str(), r.code()))
                .collect();
            if !refused.is_empty() {
                s.push_str(" refused=");
                s.push_str(&refused.join(","));
            }
            s
        }
        Event::Closed(None) => "Closed".into(),
        Event::Closed(Some(e)) => format!("Closed {}", summarize_error(e)),
        other => format!("{other:?}"),
    }
}

fn summarize_error(e: &Error) -> String {
    match e {
        Error::Parse(p) => format!("Parse {p:?}"),
        Error::Timeout { stage, after } => format!("Timeout {stage:?} {after:?}"),
        Error::UnexpectedEof(stage) => format!("UnexpectedEof {stage:?}"),
        Error::Rejected { stage, reply } => format!("Rejected {stage:?} {}", reply.code()),
        Error::HelloRefused(r) => format!("HelloRefused {}", r.code()),
        Error::TlsUnavailable => "TlsUnavailable".into(),
        Error::StartTlsRefused(r) => format!("StartTlsRefused {}", r.code()),
        Error::StartTlsInjection => "StartTlsInjection".into(),
        Error::Sasl(s) => format!("Sasl {s:?}"),
        Error::AuthLoop(r) => format!("AuthLoop {}", r.code()),
        Error::Body(b) => format!("Body {b:?}"),
        Error::Unexpected { stage, reply } => format!("Unexpected {stage:?} {}", reply.code()),
        other => format!("{other:?}"),
    }
}

struct Runner {
    client: Client,
    now: Instant,
    feed: Feed,
    flight: usize,
    sent: Vec<u8>,
    expected: Vec<u8>,
    events: std::collections::VecDeque<String>,
    bodies: std::collections::HashMap<smtp_proto::client::RequestId, Vec<u8>>,
    /// The body being written: request, bytes, how far.
    writing: Option<(smtp_proto::client::RequestId, Vec<u8>, usize)>,
    /// The transport accepts no bytes (`!stall`).
    stalled: bool,
    name: String,
}

/// Runs `t` once with `feed`.
pub fn run(t: &Transcript, feed: Feed) -> Result<(), String> {
    let config = config_of(t)?;
    let now = Instant::now();
    let mut r = Runner {
        client: Client::new(config, now),
        now,
        feed,
        flight: 0,
        sent: Vec::new(),
        expected: Vec::new(),
        events: Default::default(),
        bodies: Default::default(),
        writing: None,
        stalled: false,
        name: format!("{} ({feed:?})", t.name),
    };
    r.drain()?;
    for (i, step) in t.steps.iter().enumerate() {
        let at = format!("{} step {}", r.name, i + 1);
        match step {
            Step::Server(bytes) => {
                r.check_sent(&at)?;
                r.feed_flight(bytes)?;
            }
            Step::Client(bytes) => r.expected.extend_from_slice(bytes),
            Step::Expect(want) => {
                r.check_sent(&at)?;
                let got = r
                    .events
                    .pop_front()
                    .ok_or_else(|| format!("{at}: wanted event `{want}`, got none"))?;
                if &got != want {
                    return Err(format!("{at}: wanted event `{want}`, got `{got}`"));
                }
            }
            Step::MaybeExpect(want) => {
                r.check_sent(&at)?;
                if r.events.front() == Some(want) {
                    r.events.pop_front();
                }
            }
            Step::Action(verb, args) => {
                r.check_sent(&at)?;
                r.act(verb, args).map_err(|e| format!("{at}: {e}"))?;
                r.drain()?;
            }
            Step::Advance(d) => {
                r.check_sent(&at)?;
                r.now += *d;
                r.client.handle_timeout(r.now);
                r.drain()?;
            }
            Step::Eof => {
                r.check_sent(&at)?;
                r.client.handle_eof(r.now);
                r.drain()?;
            }
            Step::Stall(on) => {
                r.check_sent(&at)?;
                r.stalled = *on;
                r.drain()?;
            }
        }
    }
    let at = format!("{} at the end", r.name);
    r.check_sent(&at)?;
    if let Some(extra) = r.events.pop_front() {
        return Err(format!("{at}: unexpected event `{extra}`"));
    }
    Ok(())
}

/// Runs `t` whole, at every split point of every flight, and byte by byte.
pub fn run_all_feeds(t: &Transcript) -> Result<usize, String> {
    let mut runs = 0;
    run(t, Feed::Whole)?;
    run(t, Feed::ByteByByte)?;
    runs += 2;
    let flights: Vec<usize> = t
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Server(b) => Some(b.len()),
            _ => None,
        })
        .collect();
    for (flight, len) in flights.into_iter().enumerate() {
        for at in 1..len {
            run(t, Feed::Split { flight, at })?;
            runs += 1;
        }
    }
    Ok(runs)
}

impl Runner {
    fn check_sent(&self, at: &str) -> Result<(), String> {
        if self.sent != self.expected {
            return Err(format!(
                "{at}: client bytes differ\n--- expected:\n{}\n--- sent:\n{}",
                escape(&self.expected),
                escape(&self.sent)
            ));
        }
        Ok(())
    }

    fn feed_flight(&mut self, bytes: &[u8]) -> Result<(), String> {
        let this = self.flight;
        self.flight += 1;
        match self.feed {
            Feed::Whole => {
                self.client.handle_input(bytes, self.now);
                self.drain()?;
            }
            Feed::Split { flight, at } if flight == this => {
                let (a, b) = bytes.split_at(at.min(bytes.len()));
                self.client.handle_input(a, self.now);
                self.drain()?;
                self.client.handle_input(b, self.now);
                self.drain()?;
            }
            Feed::Split { .. } => {
                self.client.handle_input(bytes, self.now);
                self.drain()?;
            }
            Feed::ByteByByte => {
                for b in bytes {
                    self.client.handle_input(std::slice::from_ref(b), self.now);
                    self.drain()?;
                }
            }
        }
        Ok(())
    }

    /// Transmits everything, answers `BodyWanted` with the queued body, collects other events.
    fn drain(&mut self) -> Result<(), String> {
        loop {
            let mut progressed = self.feed_body()?;
            if self.stalled {
                // The transport takes nothing: the bytes are lent (which starts the write
                // timer) but never acknowledged.
                let _ = self.client.transmit(self.now);
            }
            while let Some(out) = self.client.transmit(self.now).filter(|_| !self.stalled) {
                let n = if self.feed == Feed::ByteByByte {
                    1
                } else {
                    out.len()
                };
                self.sent.extend_from_slice(&out[..n]);
                self.client.handle_written(n, self.now);
                progressed = true;
            }
            while let Some(event) = self.client.poll_event() {
                progressed = true;
                if let Event::BodyWanted(id) = event {
                    let body = self
                        .bodies
                        .remove(&id)
                        .ok_or("BodyWanted with no body queued")?;
                    self.writing = Some((id, body, 0));
                } else {
                    self.events.push_back(summarize(&event));
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Writes as much of the current body as the client takes; finishes it at the end.
    fn feed_body(&mut self) -> Result<bool, String> {
        let Some((id, body, pos)) = self.writing.take() else {
            return Ok(false);
        };
        let Some(mut w) = self.client.body(id) else {
            return Ok(true); // the transaction ended early
        };
        let rest = &body[pos..];
        if rest.is_empty() {
            let _ = w.finish();
            return Ok(true);
        }
        let step = if self.feed == Feed::ByteByByte {
            1
        } else {
            rest.len()
        };
        let Ok(n) = w.write(&rest[..step.min(rest.len())]) else {
            return Ok(true);
        };
        self.writing = Some((id, body, pos + n));
        Ok(n > 0)
    }
}

fn mailbox(s: &str) -> Result<Mailbox, String> {
    Mailbox::try_from(s).map_err(|e| format!("mailbox {s:?}: {e}"))
}

fn argument(s: &str) -> Result<Argument, String> {
    Argument::try_from(s).map_err(|e| format!("argument {s:?}: {e}"))
}

/// Builds the envelope and body of a `>> send` line.
pub fn envelope_of(args: &str) -> Result<(Envelope, Vec<u8>), String> {
    let args = parse_args(args)?;
    let get = |k: &str| {
        args.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let from =
        ReversePath::try_from(get("from").unwrap_or("")).map_err(|e| format!("from: {e}"))?;
    let notify = match get("notify") {
        None => None,
        Some("never") => Some(Notify::Never),
        Some(list) => Some(Notify::On {
            success: list.contains("success"),
            failure: list.contains("failure"),
            delay: list.contains("delay"),
        }),
    };
    let mut to = Vec::new();
    for addr in get("to").unwrap_or("").split(',').filter(|a| !a.is_empty()) {
        let params = RcptParams {
            notify,
            ..RcptParams::default()
        };
        to.push(Recipient {
            mailbox: mailbox(addr)?,
            params,
        });
    }
    let envid = match get("envid") {
        Some(envid) => Some(XText::try_from(envid).map_err(|e| e.to_string())?),
        None => None,
    };
    let params = MailParams {
        ret: match get("ret") {
            Some("full") => Some(Ret::Full),
            Some("hdrs") => Some(Ret::Hdrs),
            _ => None,
        },
        envid,
        requiretls: get("requiretls") == Some("yes"),
        ..MailParams::default()
    };
    let content = match get("content").unwrap_or("7bit") {
        "7bit" => Content::SevenBit,
        "8bit" => Content::EightBit,
        "binary" => Content::Binary,
        other => return Err(format!("unknown content {other}")),
    };
    let body = get("body").unwrap_or("").as_bytes().to_vec();
    let size = match get("size") {
        Some("auto") => Some(body.len() as u64),
        Some(n) => Some(n.parse().map_err(|_| "bad size")?),
        None => None,
    };
    let envelope = Envelope {
        from,
        to,
        params,
        size,
        content,
    };
    Ok((envelope, body))
}

/// The mechanism named in a `>> auth MECH USER SECRET [NONCE]` line.
///
/// SCRAM-SHA-256 and SCRAM-SHA-1 take the client nonce from `NONCE` (random without it);
/// EXTERNAL takes `USER` as its authorization identity (`-`: none) and ignores `SECRET`.
pub fn mechanism_of(
    name: &str,
    user: &str,
    secret: &str,
    nonce: Option<&str>,
) -> Result<Box<dyn Mechanism>, String> {
    let err = |e: sasl::SaslError| e.to_string();
    let scram = |hash| match nonce {
        Some(nonce) => sasl::Scram::with_nonce(hash, user, secret, nonce),
        None => sasl::Scram::new(hash, user, secret),
    };
    Ok(match name.to_ascii_uppercase().as_str() {
        "SCRAM-SHA-256" => Box::new(scram(sasl::ScramHash::Sha256).map_err(err)?),
        "SCRAM-SHA-1" => Box::new(scram(sasl::ScramHash::Sha1).map_err(err)?),
        "EXTERNAL" if user == "-" => Box::new(sasl::External::new()),
        "EXTERNAL" => Box::new(sasl::External::new().with_authzid(user).map_err(err)?),
        "PLAIN" => Box::new(sasl::Plain::new(user, secret).map_err(err)?),
        "LOGIN" => Box::new(sasl::Login::new(user, secret)),
        "CRAM-MD5" => Box::new(sasl::CramMd5::new(user, secret)),
        "XOAUTH2" => Box::new(sasl::XOAuth2::new(user, secret).map_err(err)?),
        "OAUTHBEARER" => Box::new(sasl::OAuthBearer::new(user, secret).map_err(err)?),
        other => return Err(format!("unknown mechanism {other}")),
    })
}

impl Runner {
    fn act(&mut self, verb: &str, args: &str) -> Result<(), String> {
        let words: Vec<&str> = args.split_whitespace().collect();
        let word = |i: usize| {
            words
                .get(i)
                .copied()
                .ok_or_else(|| format!("{verb}: missing argument"))
        };
        let c = &mut self.client;
        let result = match verb {
            "send" => {
                let (envelope, body) = envelope_of(args)?;
                let r = c.send_mail(envelope);
                if let Ok(id) = &r {
                    self.bodies.insert(*id, body);
                }
                r.map(drop)
            }
            "auth" => c
                .authenticate(mechanism_of(
                    word(0)?,
                    word(1)?,
                    word(2)?,
                    words.get(3).copied(),
                )?)
                .map(drop),
            "login" => c.login(word(0)?, word(1)?).map(drop),
            "hello" => {
                let kind = match word(0)? {
                    "ehlo" => Hello::Ehlo,
                    "helo" => Hello::Helo,
                    "lhlo" => Hello::Lhlo,
                    "ehlo-or-helo" => Hello::EhloOrHelo,
                    other => return Err(format!("unknown hello {other}")),
                };
                c.hello(kind).map(drop)
            }
            "starttls" => c.starttls().map(drop),
            "tls" => {
                c.handle_tls_established(self.now);
                Ok(())
            }
            "mail" => {
                let from = ReversePath::try_from(word(0)?).map_err(|e| e.to_string())?;
                c.mail(from, MailParams::default()).map(drop)
            }
            "rcpt" => c.rcpt(mailbox(word(0)?)?, RcptParams::default()).map(drop),
            "data" | "bdat" => {
                let parsed = parse_args(args)?;
                let body = parsed
                    .iter()
                    .find(|(k, _)| k == "body")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let r = if verb == "data" { c.data() } else { c.bdat() };
                if let Ok(id) = &r {
                    self.bodies.insert(*id, body.into_bytes());
                }
                r.map(drop)
            }
            "rset" => c.rset().map(drop),
            "noop" => {
                let arg = if args.trim().is_empty() {
                    None
                } else {
                    Some(argument(args.trim())?)
                };
                c.noop(arg.as_ref()).map(drop)
            }
            "vrfy" => c.verify(&argument(args.trim())?).map(drop),
            "expn" => c.expn(&argument(args.trim())?).map(drop),
            "help" => {
                let arg = if args.trim().is_empty() {
                    None
                } else {
                    Some(argument(args.trim())?)
                };
                c.help(arg.as_ref()).map(drop)
            }
            "raw" => c.raw(&argument(args.trim())?).map(drop),
            "quit" => {
                c.quit();
                Ok(())
            }
            other => return Err(format!("unknown action {other}")),
        };
        if let Err(e) = result {
            self.events.push_back(format!("Usage {e:?}"));
        }
        Ok(())
    }
}

/// Keeps `Duration` in the public signature set used by other runners.
pub type VirtualDuration = Duration;
