//! One connection served by the [`FaultServer`](super::FaultServer): the SMTP dialogue and
//! the faults.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::server::Shared;
use super::{Fault, FaultAction, Limit, Match, Point, Rng, Stage, Stored};

/// How long a server socket waits on a silent peer before giving up (and the write timeout).
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
/// How many command lines [`FaultServer::commands`](super::FaultServer::commands) keeps.
const MAX_LOG: usize = 100_000;
/// The longest line the server buffers before it drops the connection.
const MAX_LINE: usize = 1 << 20;
/// The name in the greeting and the EHLO reply.
const NAME: &str = "pool-server.test";

/// The session is over (the connection is closed or being dropped).
struct Stop;

enum ReadEnd {
    TimedOut,
    Closed,
}

/// The transaction in progress.
struct Tx {
    mail: u64,
    from: String,
    to: Vec<String>,
    seen: String,
}

pub(super) struct Session {
    shared: Arc<Shared>,
    stream: TcpStream,
    id: u64,
    buf: Vec<u8>,
    rng: Rng,
    messages: u32,
    tx: Option<Tx>,
}

impl Session {
    pub(super) fn new(shared: Arc<Shared>, stream: TcpStream, id: u64) -> Self {
        let seed = shared.config.random.map_or(0, |(seed, _)| seed);
        Self {
            shared,
            stream,
            id,
            buf: Vec::new(),
            rng: Rng::new(seed, id),
            messages: 0,
            tx: None,
        }
    }

    pub(super) fn run(mut self) {
        let _ = self.stream.set_write_timeout(Some(SOCKET_TIMEOUT));
        let _ = self.serve();
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    fn serve(&mut self) -> Result<(), Stop> {
        self.reply(&format!("220 {NAME} ESMTP pool test server"))?;
        let idle = self.shared.config.idle;
        loop {
            let line = match self.read_line(idle.map_or(SOCKET_TIMEOUT, |(d, _)| d)) {
                Ok(line) => line,
                Err(ReadEnd::TimedOut) if idle.is_some_and(|(_, with_421)| with_421) => {
                    self.reply("421 4.4.2 idle timeout")?;
                    return self.close();
                }
                Err(_) => return self.reset(),
            };
            self.command(&line)?;
        }
    }

    fn command(&mut self, line: &[u8]) -> Result<(), Stop> {
        let text = String::from_utf8_lossy(strip_eol(line)).into_owned();
        {
            let mut state = self.shared.lock();
            if state.commands.len() >= MAX_LOG {
                state.commands.pop_front();
            }
            state.commands.push_back((self.id, text.clone()));
        }
        // Same byte layout as `text`: ASCII prefixes index both.
        let upper = text.to_ascii_uppercase();
        if upper.starts_with("MAIL FROM:") {
            return self.mail(&text, &text["MAIL FROM:".len()..]);
        }
        if upper.starts_with("RCPT TO:") {
            return self.rcpt(&text, &text["RCPT TO:".len()..]);
        }
        match upper.split(' ').next().unwrap_or_default() {
            "EHLO" => {
                self.tx = None;
                let mut lines = vec![format!("{NAME} hello")];
                lines.extend(self.shared.config.extensions.iter().cloned());
                let last = lines.len() - 1;
                let reply: String = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
                    .collect();
                self.write(reply.as_bytes())
            }
            "HELO" => {
                self.tx = None;
                self.reply(&format!("250 {NAME} hello"))
            }
            "RSET" => {
                self.tx = None;
                self.reply("250 2.0.0 ok")
            }
            "NOOP" => self.reply("250 2.0.0 ok"),
            "QUIT" => {
                self.reply("221 2.0.0 bye")?;
                self.close()
            }
            "DATA" if upper.trim_end() == "DATA" => self.data(),
            _ => self.reply("500 5.5.2 command not recognized"),
        }
    }

    fn mail(&mut self, text: &str, arg: &str) -> Result<(), Stop> {
        if self.tx.is_some() {
            return self.reply("503 5.5.1 nested MAIL command");
        }
        let Some(from) = parse_path(arg) else {
            return self.reply("501 5.5.4 syntax: MAIL FROM:<address>");
        };
        let mail = {
            let mut state = self.shared.lock();
            state.mails += 1;
            state.mails
        };
        if let Some((n, limit)) = self.shared.config.limit {
            if self.messages >= n {
                return match limit {
                    Limit::Reply452 => self.reply("452 4.5.3 too many messages"),
                    Limit::Reply421 => {
                        self.reply("421 4.7.0 too many messages")?;
                        self.close()
                    }
                };
            }
        }
        self.tx = Some(Tx {
            mail,
            from,
            to: Vec::new(),
            seen: format!("{text}\n"),
        });
        if let Some(line) = self.fault_reply(Stage::Mail) {
            if !positive(&line) {
                self.tx = None;
            }
            return self.fault_line(&line);
        }
        self.reset_point(Point::AfterMail)?;
        self.reply("250 2.1.0 sender ok")
    }

    fn rcpt(&mut self, text: &str, arg: &str) -> Result<(), Stop> {
        let Some(tx) = self.tx.as_mut() else {
            return self.reply("503 5.5.1 need MAIL first");
        };
        let Some(to) = parse_path(arg) else {
            return self.reply("501 5.5.4 syntax: RCPT TO:<address>");
        };
        tx.seen.push_str(text);
        tx.seen.push('\n');
        let reply = self.fault_reply(Stage::Rcpt);
        if reply.as_deref().is_none_or(positive) {
            if let Some(tx) = self.tx.as_mut() {
                tx.to.push(to);
            }
        }
        match reply {
            Some(line) => self.fault_line(&line),
            None => self.reply("250 2.1.5 recipient ok"),
        }
    }

    fn data(&mut self) -> Result<(), Stop> {
        match &self.tx {
            None => return self.reply("503 5.5.1 need MAIL first"),
            Some(tx) if tx.to.is_empty() => return self.reply("554 5.5.1 no valid recipients"),
            Some(_) => {}
        }
        if let Some(line) = self.fault_reply(Stage::Data) {
            if !line.starts_with('3') {
                self.tx = None;
                return self.fault_line(&line);
            }
            self.fault_line(&line)?;
        } else {
            self.reply("354 end data with <CR><LF>.<CR><LF>")?;
        }
        self.reset_point(Point::AfterData354)?;
        let body = self.read_body()?;
        if let Some(tx) = self.tx.as_mut() {
            tx.seen.push_str(&String::from_utf8_lossy(&body));
        }
        if let Some(line) = self.fault_reply(Stage::DataEnd) {
            if line.starts_with('2') {
                let index = self.commit(body);
                self.tx = None;
                return self.acknowledge(index, &line);
            }
            self.tx = None;
            return self.fault_line(&line);
        }
        let index = self.commit(body);
        self.reset_point(Point::BeforeDataEndReply)?;
        self.acknowledge(index, "250 2.0.0 queued")?;
        self.reset_point(Point::AfterDataEndReply)?;
        self.tx = None;
        Ok(())
    }

    /// Stores the transaction's message, unacknowledged; returns its index in the store. (The
    /// transaction stays, for the faults after the commit.)
    fn commit(&mut self, data: Vec<u8>) -> usize {
        self.messages += 1;
        let mut state = self.shared.lock();
        let tx = self.tx.as_ref();
        state.store.push(Stored {
            connection: self.id,
            mail: tx.map_or(0, |tx| tx.mail),
            from: tx.map(|tx| tx.from.clone()).unwrap_or_default(),
            to: tx.map(|tx| tx.to.clone()).unwrap_or_default(),
            data,
            acknowledged: false,
        });
        self.shared.changed.notify_all();
        state.store.len() - 1
    }

    /// Writes the reply to the data, marking the message acknowledged (first, so that a client
    /// which has read the reply sees it so).
    fn acknowledge(&mut self, index: usize, line: &str) -> Result<(), Stop> {
        self.set_acknowledged(index, true);
        if self.reply(line).is_err() {
            self.set_acknowledged(index, false);
            return Err(Stop);
        }
        if closes(line) {
            return self.close();
        }
        Ok(())
    }

    fn set_acknowledged(&self, index: usize, acknowledged: bool) {
        if let Some(m) = self.shared.lock().store.get_mut(index) {
            m.acknowledged = acknowledged;
        }
    }

    /// The replacement reply of the first applicable scripted fault at `stage`, if any.
    fn fault_reply(&self, stage: Stage) -> Option<String> {
        let tx = self.tx.as_ref()?;
        let mut state = self.shared.lock();
        let fault = state.faults.iter_mut().find(|f| {
            matches!(f.action, FaultAction::Reply { at, .. } if at == stage) && applies(f, tx)
        })?;
        fault.times -= 1;
        let FaultAction::Reply { line, .. } = &fault.action else {
            return None;
        };
        let line = line.clone();
        state.fired += 1;
        Some(line)
    }

    /// Drops the connection if a scripted or random fault says so at `point`.
    fn reset_point(&mut self, point: Point) -> Result<(), Stop> {
        let scripted = self.tx.as_ref().is_some_and(|tx| {
            let mut state = self.shared.lock();
            let fault = state.faults.iter_mut().find(|f| {
                matches!(f.action, FaultAction::Reset { at } if at == point) && applies(f, tx)
            });
            fault.map(|f| f.times -= 1).is_some()
        });
        let random = match self.shared.config.random {
            Some((_, per_mille)) => self.rng.chance(per_mille),
            None => false,
        };
        if !(scripted || random) {
            return Ok(());
        }
        self.shared.lock().fired += 1;
        self.reset()
    }

    /// Writes a scripted reply; closes the connection after a `421`.
    fn fault_line(&mut self, line: &str) -> Result<(), Stop> {
        self.reply(line)?;
        if closes(line) {
            return self.close();
        }
        Ok(())
    }

    fn reply(&mut self, line: &str) -> Result<(), Stop> {
        self.write(format!("{line}\r\n").as_bytes())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.stream.write_all(bytes).map_err(|_| Stop)
    }

    /// Closes after a final reply: our side first, then whatever the client had already sent
    /// is read and discarded (so that the close is less likely to become a reset).
    fn close(&mut self) -> Result<(), Stop> {
        let _ = self.stream.shutdown(Shutdown::Write);
        if self.stream.set_nonblocking(true).is_ok() {
            let mut chunk = [0; 8192];
            for _ in 0..64 {
                if !matches!(self.stream.read(&mut chunk), Ok(n) if n > 0) {
                    break;
                }
            }
        }
        Err(Stop)
    }

    /// Drops the connection abruptly.
    fn reset(&mut self) -> Result<(), Stop> {
        let _ = self.stream.shutdown(Shutdown::Both);
        Err(Stop)
    }

    /// Reads the message up to the `.` line, un-stuffed.
    fn read_body(&mut self) -> Result<Vec<u8>, Stop> {
        let mut body = Vec::new();
        loop {
            let Ok(line) = self.read_line(SOCKET_TIMEOUT) else {
                return self.reset().map(|()| Vec::new());
            };
            match strip_eol(&line) {
                b"." => return Ok(body),
                _ if line.starts_with(b".") => body.extend_from_slice(&line[1..]),
                _ => body.extend_from_slice(&line),
            }
        }
    }

    /// One line, LF included; fails when no complete line came within `limit`.
    fn read_line(&mut self, limit: Duration) -> Result<Vec<u8>, ReadEnd> {
        let deadline = Instant::now() + limit;
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                return Ok(self.buf.drain(..=scanned + pos).collect());
            }
            scanned = self.buf.len();
            if scanned > MAX_LINE {
                return Err(ReadEnd::Closed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ReadEnd::TimedOut);
            }
            let _ = self.stream.set_read_timeout(Some(deadline - now));
            let mut chunk = [0; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ReadEnd::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(ReadEnd::Closed),
            }
        }
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `<address> [params]` (or a bare address) → the address; `<>` is the null path.
fn parse_path(arg: &str) -> Option<String> {
    let arg = arg.trim_start();
    if let Some(rest) = arg.strip_prefix('<') {
        return rest.find('>').map(|end| rest[..end].to_owned());
    }
    let addr = arg.split(' ').next().unwrap_or_default();
    (!addr.is_empty()).then(|| addr.to_owned())
}

fn positive(line: &str) -> bool {
    line.starts_with('2') || line.starts_with('3')
}

fn closes(line: &str) -> bool {
    line.starts_with("421")
}

/// Whether `fault` fires for `tx` (it has times left and matches).
fn applies(fault: &Fault, tx: &Tx) -> bool {
    fault.times > 0
        && match &fault.matches {
            Match::Any => true,
            Match::Marker(m) => tx.seen.contains(m.as_str()),
            Match::NthMail(n) => tx.mail == *n,
        }
}
