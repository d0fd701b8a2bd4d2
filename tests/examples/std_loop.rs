//! A complete blocking loop over `std::net::TcpStream`, written from the crate docs of
//! `smtp-proto` alone: the core's operations run by a `Pump`, each step done on the socket. This is
//! what `smtp-blocking` does (plus TLS and the smtplib API); a program that wants nothing but std
//! can start here.
//!
//! `cargo run -p smtp-tests --example std_loop -- 127.0.0.1:2525 from@example.org to@example.net`
//! sends a short message (start a server first, e.g. `python3 -m aiosmtpd -n -l 127.0.0.1:2525`).
//!
//! How each step maps onto a std socket:
//!
//! - a step's deadline becomes the socket's read or write timeout, the time left and at least
//!   1 ms (std refuses a zero timeout); a read or write that times out fails with `WouldBlock`
//!   or `TimedOut`, reported to the pump as `TimedOut`: the deadline passed;
//! - "look first" (before each write of a body) is a read in non-blocking mode: `WouldBlock`
//!   means nothing has arrived;
//! - no TLS here: a STARTTLS `220` ends the call with an error.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use smtp_proto::client::Config;
use smtp_proto::session::op::{AfterHello, Greeting, Operation, Quit, Sendmail};
use smtp_proto::session::{Error, Pump, Refused, Step, BODY_CHUNK, READ_CHUNK};
use smtp_proto::Client;

/// One session over a TCP socket.
pub struct Session {
    client: Client,
    socket: TcpStream,
    read_buf: Vec<u8>,
    body_buf: Vec<u8>,
}

impl Session {
    /// Connects (bounded by `connect_timeout`) and reads the greeting (and the set-up `config`
    /// asks for).
    pub fn connect(
        addr: SocketAddr,
        config: Config,
        connect_timeout: Duration,
    ) -> Result<Self, Error> {
        let socket = TcpStream::connect_timeout(&addr, connect_timeout)?;
        socket.set_nodelay(true)?;
        let mut session = Self {
            client: Client::new(config, Instant::now()),
            socket,
            read_buf: vec![0; READ_CHUNK],
            body_buf: vec![0; BODY_CHUNK],
        };
        session.run(Greeting)?;
        Ok(session)
    }

    /// smtplib's `sendmail`: `message` to every recipient of `to`; the refused recipients.
    pub fn sendmail(&mut self, from: &str, to: &[&str], message: &[u8]) -> Result<Refused, Error> {
        self.run(AfterHello::new(Sendmail::new(from, to, message)?))
    }

    /// QUIT, then the socket is closed (by drop).
    pub fn quit(mut self) -> Result<(), Error> {
        self.run(Quit).map(drop)
    }

    /// Runs `op` to completion: the whole loop.
    pub fn run<O: Operation>(&mut self, op: O) -> Result<O::Output, Error>
    where
        O::Body: Read,
    {
        let Self {
            client,
            socket,
            read_buf,
            body_buf,
        } = self;
        let mut pump = Pump::new(op);
        loop {
            match pump.next(client, &mut None, Instant::now()) {
                Step::Body { id, max } => {
                    let buf = body_buf.get_mut(..max).unwrap_or_default();
                    let read = pump.body(id).map_or(Ok(0), |source| source.read(buf));
                    pump.body_read(client, id, read.map(|n| buf.get(..n).unwrap_or_default()));
                }
                Step::Write {
                    deadline,
                    look_first,
                } => {
                    if look_first {
                        if let Some(read) = read_now(socket, read_buf) {
                            let read = read.map(|n| read_buf.get(..n).unwrap_or_default());
                            pump.read(client, read, Instant::now());
                            continue;
                        }
                    }
                    let written = wait_until(deadline, |t| socket.set_write_timeout(t))
                        .and_then(|()| socket.write(pump.outgoing(client)));
                    pump.wrote(client, written, Instant::now());
                }
                Step::Read { deadline } => {
                    let read = wait_until(deadline, |t| socket.set_read_timeout(t))
                        .and_then(|()| socket.read(read_buf))
                        .map_err(expired);
                    let read = read.map(|n| read_buf.get(..n).unwrap_or_default());
                    pump.read(client, read, Instant::now());
                }
                Step::Handshake { .. } => pump.fail(Error::InvalidSetting(
                    "this loop has no TLS: do not ask for STARTTLS".into(),
                )),
                Step::Done { result, close } => {
                    if close {
                        let _ = socket.shutdown(std::net::Shutdown::Both);
                    }
                    return result;
                }
            }
        }
    }
}

/// Sets a socket timeout to what is left until `deadline` (at least 1 ms: std refuses zero);
/// a deadline already passed is `TimedOut` at once.
fn wait_until(
    deadline: Instant,
    set: impl FnOnce(Option<Duration>) -> io::Result<()>,
) -> io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ErrorKind::TimedOut.into());
    }
    set(Some(left.max(Duration::from_millis(1))))
}

/// A socket timeout that ran out says `WouldBlock` (or `TimedOut`): to the pump, the deadline
/// passed (`WouldBlock` would mean "not ready, ask again").
fn expired(e: io::Error) -> io::Error {
    if e.kind() == ErrorKind::WouldBlock {
        ErrorKind::TimedOut.into()
    } else {
        e
    }
}

/// A read that does not wait: `None` when nothing has arrived.
fn read_now(socket: &mut TcpStream, buf: &mut [u8]) -> Option<io::Result<usize>> {
    if let Err(e) = socket.set_nonblocking(true) {
        return Some(Err(e));
    }
    let read = socket.read(buf);
    if let Err(e) = socket.set_nonblocking(false) {
        return Some(Err(e));
    }
    match read {
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        other => Some(other),
    }
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, from, to] = args.as_slice() else {
        return Err("usage: std_loop ADDR FROM TO".into());
    };
    let config = Config::new(smtp_proto::Domain::try_from("localhost")?);
    let mut session = Session::connect(addr.parse()?, config, Duration::from_secs(30))?;
    let message =
        format!("From: {from}\r\nTo: {to}\r\nSubject: std_loop\r\n\r\nSent by std_loop.\r\n");
    let refused = session.sendmail(from, &[to.as_str()], message.as_bytes())?;
    println!("sent; refused: {refused:?}");
    session.quit()?;
    Ok(())
}
