//! One connection served: the accept loop hands each connection to its own thread, where
//! [`Conn`] speaks the SMTP/LMTP dialogue (hello, STARTTLS, AUTH, the transaction, DATA and
//! BDAT), applies the [`Rule`](super::Rule)s and records what it receives into the
//! [`SessionLog`](super::SessionLog).

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use native_tls::TlsAcceptor;
use smtp_proto::body::DataDecoder;
use smtp_proto::sasl::{self, CramMd5, Mechanism};

use super::streams::{Plain, ServerStream};
use super::{
    fnv1a, fnv1a_update, path_of, starts_with_ci, Action, Listener, Received, ServerBuilder,
    SessionLog, Shared, Trigger,
};

/// How long a server connection waits for the client before giving up.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// The longest command line the server reads.
const MAX_LINE: usize = 64 * 1024;

/// Accepts connections until the server stops, each served on a thread of its own.
pub(super) fn accept_loop(listener: &Listener, config: &Arc<ServerBuilder>, shared: &Arc<Shared>) {
    loop {
        let stream = match listener {
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                // Replies leave at once, as from a real MTA (no Nagle wait on the client's ACK).
                let _ = s.set_nodelay(true);
                Plain::Tcp(s)
            }),
            #[cfg(unix)]
            Listener::Unix(l) => l.accept().map(|(s, _)| Plain::Unix(s)),
        };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let index = {
            let mut logs = shared.logs();
            logs.push(SessionLog::default());
            logs.len() - 1
        };
        let config = Arc::clone(config);
        let shared = Arc::clone(shared);
        thread::spawn(move || {
            let mut conn = Conn::new(stream, &config, &shared, index);
            let _ = conn.serve();
            conn.stream.shutdown();
            shared.update(index, |l| l.finished = true);
        });
    }
}

/// Why serving stopped early.
enum Stop {
    /// The connection is to be closed now.
    Close,
    /// The socket failed.
    Io,
}

impl From<io::Error> for Stop {
    fn from(_: io::Error) -> Self {
        Self::Io
    }
}

type Served = Result<(), Stop>;

/// The mail transaction in progress.
#[derive(Default)]
struct Txn {
    mail_from: Option<String>,
    rcpts: Vec<String>,
    /// BDAT content received so far.
    bdat: Option<Content>,
}

struct Content {
    kept: Vec<u8>,
    size: u64,
    hash: u64,
}

impl Content {
    fn new() -> Self {
        Self {
            kept: Vec::new(),
            size: 0,
            hash: fnv1a(&[]),
        }
    }

    fn push(&mut self, bytes: &[u8], keep: usize) {
        let room = keep.saturating_sub(self.kept.len());
        self.kept
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        self.size += bytes.len() as u64;
        self.hash = fnv1a_update(self.hash, bytes);
    }
}

struct Conn<'a> {
    stream: ServerStream,
    inbuf: Vec<u8>,
    config: &'a ServerBuilder,
    shared: &'a Shared,
    index: usize,
    secure: bool,
    hello: bool,
    txn: Txn,
}

impl<'a> Conn<'a> {
    fn new(stream: Plain, config: &'a ServerBuilder, shared: &'a Shared, index: usize) -> Self {
        let _ = stream.set_timeouts(IDLE_LIMIT);
        Self {
            stream: ServerStream::Plain(stream),
            inbuf: Vec::new(),
            config,
            shared,
            index,
            secure: false,
            hello: false,
            txn: Txn::default(),
        }
    }

    fn serve(&mut self) -> Served {
        if let Some(acceptor) = &self.config.implicit {
            self.tls_accept(acceptor)?;
        }
        let greeting = format!("220 {} ESMTP test server ready\r\n", self.config.hostname);
        let default = greeting.into_bytes();
        if let Some(action) = self.shared.fire(|t| *t == Trigger::Greeting) {
            if self.act(action, &default)? {
                return Ok(());
            }
        } else {
            self.send(&default)?;
        }
        loop {
            let Some(line) = self.read_line()? else {
                return Ok(());
            };
            let text = String::from_utf8_lossy(&line).into_owned();
            self.shared.update(self.index, |l| l.commands.push(text));
            let rule = self.shared.fire(|t| t.matches_command(&line));
            let handled = match rule {
                Some(Action::Delay(d)) => {
                    thread::sleep(d);
                    false
                }
                Some(action) => {
                    let data_354 = starts_with_ci(&line, b"DATA")
                        && matches!(&action, Action::Reply(r) if r.starts_with(b"354"));
                    if self.act(action, b"")? {
                        return Ok(());
                    }
                    if data_354 {
                        self.receive_data()?;
                    }
                    true
                }
                None => false,
            };
            if !handled {
                self.command(&line)?;
            }
        }
    }

    /// Carries out `action` in place of sending `default`; `true` when the connection is to end.
    fn act(&mut self, action: Action, default: &[u8]) -> Result<bool, Stop> {
        match action {
            Action::Reply(bytes) => self.send(&bytes)?,
            Action::ReplyAndClose(bytes) => {
                self.send(&bytes)?;
                return Ok(true);
            }
            Action::Close => return Ok(true),
            Action::Delay(d) => {
                thread::sleep(d);
                self.send(default)?;
            }
            Action::Trickle(bytes, pause) => {
                for b in bytes {
                    self.send(&[b])?;
                    thread::sleep(pause);
                }
            }
            Action::Flood(bytes) => {
                let until = Instant::now() + Duration::from_secs(30);
                while Instant::now() < until {
                    if self.send(&bytes).is_err() {
                        return Ok(true);
                    }
                }
                return Ok(true);
            }
            Action::Hang => {
                let until = Instant::now() + IDLE_LIMIT;
                let mut sink = [0u8; 4096];
                while Instant::now() < until {
                    match self.stream.read(&mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    fn reply(&mut self, line: &str) -> Served {
        self.send(format!("{line}\r\n").as_bytes())?;
        Ok(())
    }

    /// One line without its line end; `None` at EOF.
    fn read_line(&mut self) -> Result<Option<Vec<u8>>, Stop> {
        loop {
            if let Some(lf) = self.inbuf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.inbuf.drain(..=lf).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if self.inbuf.len() > MAX_LINE {
                self.reply("500 5.5.2 line too long")?;
                return Err(Stop::Close);
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Reads more bytes into the buffer; `false` at EOF.
    fn fill(&mut self) -> Result<bool, Stop> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.inbuf
                        .extend_from_slice(buf.get(..n).unwrap_or_default());
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn tls_accept(&mut self, acceptor: &TlsAcceptor) -> Served {
        let ServerStream::Plain(plain) = std::mem::replace(&mut self.stream, ServerStream::Gone)
        else {
            return Err(Stop::Close);
        };
        match acceptor.accept(plain) {
            Ok(tls) => {
                self.stream = ServerStream::Tls(Box::new(tls));
                self.secure = true;
                self.shared.update(self.index, |l| l.tls = true);
                Ok(())
            }
            Err(_) => Err(Stop::Close),
        }
    }

    fn command(&mut self, line: &[u8]) -> Served {
        let text = String::from_utf8_lossy(line).into_owned();
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_owned()),
            None => (text.to_ascii_uppercase(), String::new()),
        };
        let lmtp = self.config.lmtp;
        match verb.as_str() {
            "EHLO" if !lmtp => self.ehlo(),
            "LHLO" if lmtp => self.ehlo(),
            "HELO" if !lmtp => {
                self.hello = true;
                self.txn = Txn::default();
                let host = self.config.hostname.clone();
                self.reply(&format!("250 {host}"))
            }
            "STARTTLS" => self.starttls(),
            "AUTH" => self.auth(&arg),
            "MAIL" => {
                let Some(from) = strip_prefix_ci(&arg, "FROM:") else {
                    return self.reply("501 5.5.4 syntax: MAIL FROM:<address>");
                };
                self.txn = Txn {
                    mail_from: Some(from.trim().to_owned()),
                    ..Txn::default()
                };
                self.reply("250 2.1.0 sender ok")
            }
            "RCPT" => {
                let Some(to) = strip_prefix_ci(&arg, "TO:") else {
                    return self.reply("501 5.5.4 syntax: RCPT TO:<address>");
                };
                if self.txn.mail_from.is_none() {
                    return self.reply("503 5.5.1 need MAIL first");
                }
                self.txn.rcpts.push(to.trim().to_owned());
                self.reply("250 2.1.5 recipient ok")
            }
            "DATA" => {
                if self.txn.rcpts.is_empty() {
                    return self.reply("503 5.5.1 no valid recipients");
                }
                self.reply("354 end data with <CR><LF>.<CR><LF>")?;
                self.receive_data()
            }
            "BDAT" => self.bdat(&arg),
            "RSET" => {
                self.txn = Txn::default();
                self.reply("250 2.0.0 reset")
            }
            "NOOP" => self.reply("250 2.0.0 ok"),
            "VRFY" => self.reply(&format!("252 2.5.2 cannot verify {arg}")),
            "EXPN" => self.reply(&format!("250 2.1.5 members of {arg}")),
            "HELP" => {
                self.reply("214 2.0.0 commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT")
            }
            "QUIT" => {
                self.reply("221 2.0.0 bye")?;
                Err(Stop::Close)
            }
            _ => self.reply("500 5.5.2 command not recognized"),
        }
    }

    fn ehlo(&mut self) -> Served {
        self.hello = true;
        self.txn = Txn::default();
        let mut lines = vec![self.config.hostname.clone()];
        if self.config.starttls.is_some() && !self.secure {
            lines.push("STARTTLS".into());
        }
        lines.extend(self.config.extensions.iter().cloned());
        let mut out = String::new();
        let last = lines.len().saturating_sub(1);
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.push_str(&format!("250{sep}{l}\r\n"));
        }
        self.send(out.as_bytes())?;
        Ok(())
    }

    fn starttls(&mut self) -> Served {
        let Some(acceptor) = self.config.starttls.clone() else {
            return self.reply("502 5.5.1 STARTTLS not offered");
        };
        if self.secure {
            return self.reply("503 5.5.1 already under TLS");
        }
        self.reply("220 2.0.0 ready to start TLS")?;
        // Whatever the client pipelined after STARTTLS is dropped, as RFC 3207 demands.
        self.inbuf.clear();
        self.tls_accept(&acceptor)?;
        self.hello = false;
        self.txn = Txn::default();
        Ok(())
    }

    fn auth(&mut self, arg: &str) -> Served {
        let mut parts = arg.split_whitespace();
        let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
        let initial = parts.next().map(str::to_owned);
        let user = match mechanism.as_str() {
            "PLAIN" => {
                let Some(response) = self.sasl_response(initial, "")? else {
                    return Ok(());
                };
                let mut fields = response.split(|&b| b == 0);
                let _authzid = fields.next();
                let user = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
                let pass = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
                self.check(&user, &pass).then_some(user)
            }
            "LOGIN" => {
                let Some(user) = self.sasl_response(initial, "VXNlcm5hbWU6")? else {
                    return Ok(());
                };
                let Some(pass) = self.sasl_response(None, "UGFzc3dvcmQ6")? else {
                    return Ok(());
                };
                let user = String::from_utf8_lossy(&user).into_owned();
                let pass = String::from_utf8_lossy(&pass).into_owned();
                self.check(&user, &pass).then_some(user)
            }
            "CRAM-MD5" => {
                let challenge = format!(
                    "<{}.{}@{}>",
                    std::process::id(),
                    self.index,
                    self.config.hostname
                );
                let mut encoded = Vec::new();
                sasl::encode_response(challenge.as_bytes(), &mut encoded);
                let encoded = String::from_utf8_lossy(&encoded).into_owned();
                let Some(response) = self.sasl_response(None, &encoded)? else {
                    return Ok(());
                };
                let response = String::from_utf8_lossy(&response).into_owned();
                let user = response.split(' ').next().unwrap_or_default().to_owned();
                let expected = self
                    .config
                    .users
                    .iter()
                    .find(|(u, _)| *u == user)
                    .and_then(|(u, p)| {
                        CramMd5::new(u.clone(), p.clone())
                            .respond(challenge.as_bytes())
                            .ok()
                    })
                    .map(|s| s.expose().clone());
                (expected.as_deref() == Some(response.as_bytes())).then_some(user)
            }
            "XOAUTH2" => {
                let Some(response) = self.sasl_response(initial, "")? else {
                    return Ok(());
                };
                let text = String::from_utf8_lossy(&response).into_owned();
                let mut user = String::new();
                let mut token = String::new();
                for field in text.split('\x01') {
                    if let Some(u) = field.strip_prefix("user=") {
                        user = u.to_owned();
                    } else if let Some(t) = field.strip_prefix("auth=Bearer ") {
                        token = t.to_owned();
                    }
                }
                if self.check(&user, &token) {
                    Some(user)
                } else {
                    // RFC 7628 style: an error challenge, answered by an empty line.
                    self.reply("334 eyJzdGF0dXMiOiI0MDEifQ==")?;
                    let _ = self.read_line()?;
                    None
                }
            }
            _ => return self.reply("504 5.5.4 mechanism not supported"),
        };
        match user {
            Some(user) => {
                self.shared
                    .update(self.index, |l| l.authenticated = Some(user));
                self.reply("235 2.7.0 authentication successful")
            }
            None => self.reply("535 5.7.8 authentication credentials invalid"),
        }
    }

    fn check(&self, user: &str, pass: &str) -> bool {
        self.config
            .users
            .iter()
            .any(|(u, p)| u == user && p == pass)
    }

    /// The decoded initial response, or the answer to a `334 challenge`; `None` after the
    /// client cancelled (`*`) or sent bad base64 (already answered).
    fn sasl_response(
        &mut self,
        initial: Option<String>,
        challenge: &str,
    ) -> Result<Option<Vec<u8>>, Stop> {
        let text = match initial {
            Some(ir) if ir == "=" => return Ok(Some(Vec::new())),
            Some(ir) => ir,
            None => {
                self.reply(format!("334 {challenge}").trim_end())?;
                let Some(line) = self.read_line()? else {
                    return Err(Stop::Close);
                };
                let line = String::from_utf8_lossy(&line).into_owned();
                self.shared
                    .update(self.index, |l| l.commands.push(line.clone()));
                line
            }
        };
        if text == "*" {
            self.reply("501 5.0.0 authentication cancelled")?;
            return Ok(None);
        }
        match sasl::decode_challenge(text.trim().as_bytes()) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(_) => {
                self.reply("501 5.5.2 cannot decode response")?;
                Ok(None)
            }
        }
    }

    /// DATA content after the `354`, then the reply (or replies, for LMTP).
    fn receive_data(&mut self) -> Served {
        let mut decoder = DataDecoder::new();
        let mut content = Content::new();
        let mut out = Vec::new();
        loop {
            if !self.inbuf.is_empty() {
                out.clear();
                let done = decoder.push(&self.inbuf, &mut out);
                content.push(&out, self.config.keep_data);
                match done {
                    Some(used) => {
                        self.inbuf.drain(..used.min(self.inbuf.len()));
                        break;
                    }
                    None => self.inbuf.clear(),
                }
            }
            if !self.fill()? {
                return Err(Stop::Close);
            }
        }
        self.deliver(content, false)
    }

    fn bdat(&mut self, arg: &str) -> Served {
        let mut parts = arg.split_whitespace();
        let Some(size) = parts.next().and_then(|s| s.parse::<u64>().ok()) else {
            return self.reply("501 5.5.4 syntax: BDAT size [LAST]");
        };
        let last = parts.next().is_some_and(|p| p.eq_ignore_ascii_case("LAST"));
        let mut content = self.txn.bdat.take().unwrap_or_else(Content::new);
        let mut left = size;
        while left > 0 {
            if self.inbuf.is_empty() && !self.fill()? {
                return Err(Stop::Close);
            }
            let take = self
                .inbuf
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let chunk: Vec<u8> = self.inbuf.drain(..take).collect();
            content.push(&chunk, self.config.keep_data);
            left -= take as u64;
        }
        if self.txn.rcpts.is_empty() {
            return self.reply("503 5.5.1 no valid recipients");
        }
        if !last {
            self.txn.bdat = Some(content);
            return self.reply(&format!("250 2.0.0 {size} octets received"));
        }
        self.deliver(content, true)
    }

    /// Records the message and answers the end of data.
    fn deliver(&mut self, content: Content, bdat: bool) -> Served {
        let txn = std::mem::take(&mut self.txn);
        let received = Received {
            mail_from: txn.mail_from.unwrap_or_default(),
            rcpt_to: txn.rcpts.clone(),
            data: content.kept,
            size: content.size,
            hash: content.hash,
            bdat,
            secure: self.secure,
        };
        if let Some(action) = self.shared.fire(|t| *t == Trigger::DataEnd) {
            if self.act(action, b"250 2.0.0 queued\r\n")? {
                return Err(Stop::Close);
            }
            self.shared
                .update(self.index, |l| l.messages.push(received));
            return Ok(());
        }
        if !self.config.lmtp {
            self.shared
                .update(self.index, |l| l.messages.push(received));
            return self.reply("250 2.0.0 queued");
        }
        let mut delivered = Vec::new();
        for rcpt in &txn.rcpts {
            let path = path_of(rcpt).to_owned();
            let default = format!("250 2.1.5 <{path}> delivered\r\n");
            let rule = self
                .shared
                .fire(|t| matches!(t, Trigger::Delivery(p) if starts_with_ci(path.as_bytes(), p.as_bytes())));
            match rule {
                Some(action) => {
                    if self.act(action, default.as_bytes())? {
                        return Err(Stop::Close);
                    }
                }
                None => {
                    self.send(default.as_bytes())?;
                    delivered.push(rcpt.clone());
                }
            }
        }
        let received = Received {
            rcpt_to: delivered,
            ..received
        };
        self.shared
            .update(self.index, |l| l.messages.push(received));
        Ok(())
    }
}

fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}
