//! The byte pipe under a session: a [`Connection`] (TCP, a Unix socket or the caller's own
//! stream), optionally wrapped in TLS.

use std::cell::Cell;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use native_tls::{HandshakeError, TlsConnector, TlsStream};

/// A connected byte stream a session can run over: what
/// [`Builder::connect_stream`](crate::Builder::connect_stream) takes, implemented for
/// [`TcpStream`] and [`UnixStream`](std::os::unix::net::UnixStream).
///
/// Implement it for a stream you connect yourself when it is not one of those: a proxy client's
/// stream type, a wrapper that counts bytes, a test pipe. A stream that ends in a socket (a SOCKS
/// or HTTP CONNECT tunnel, once its handshake is done, is just a [`TcpStream`]) passes the
/// calls on to the socket.
///
/// # Deadlines
///
/// Every wait of a blocking session is bounded by the core's deadlines
/// ([`poll_timeout`](smtp_proto::Client::poll_timeout)): before each read and write of the
/// stream (under TLS: each of the many inside one handshake or record) the client sets the
/// stream's read or write timeout to the time left (at least 1 ms), and a read or write
/// that times out must fail with [`ErrorKind::WouldBlock`] or [`ErrorKind::TimedOut`] (what
/// std's sockets do). A stream that cannot time out must return an error from
/// [`set_read_timeout`](Self::set_read_timeout) / [`set_write_timeout`](Self::set_write_timeout):
/// the session then fails with [`Error::Io`](crate::Error::Io) rather than wait without a bound.
/// Returning `Ok(())` without enforcing the timeout makes every wait on a stalled peer unbounded:
/// do that only for a stream that cannot stall (an in-memory pipe whose other end you drive).
///
/// # Example
///
/// A socket that counts the bytes it carries (run it with
/// [`Builder::connect_stream`](crate::Builder::connect_stream)):
///
/// ```
/// use std::io::{self, Read, Write};
/// use std::net::TcpStream;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use smtp_blocking::Connection;
///
/// struct Counted {
///     tcp: TcpStream,
///     bytes: Arc<AtomicU64>,
/// }
///
/// impl Read for Counted {
///     fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
///         let n = self.tcp.read(buf)?;
///         self.bytes.fetch_add(n as u64, Ordering::Relaxed);
///         Ok(n)
///     }
/// }
///
/// impl Write for Counted {
///     fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
///         let n = self.tcp.write(buf)?;
///         self.bytes.fetch_add(n as u64, Ordering::Relaxed);
///         Ok(n)
///     }
///
///     fn flush(&mut self) -> io::Result<()> {
///         self.tcp.flush()
///     }
/// }
///
/// impl Connection for Counted {
///     fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
///         self.tcp.set_read_timeout(timeout)
///     }
///
///     fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
///         self.tcp.set_write_timeout(timeout)
///     }
///
///     // Optional: lets the client read what has arrived without waiting.
///     fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
///         self.tcp.set_nonblocking(nonblocking)
///     }
/// }
/// ```
pub trait Connection: Read + Write + Send + 'static {
    /// Bounds each following read (`None`: no bound; the client always passes `Some`), as
    /// [`TcpStream::set_read_timeout`].
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Bounds each following write (`None`: no bound; the client always passes `Some`), as
    /// [`TcpStream::set_write_timeout`].
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Switches non-blocking mode, as [`TcpStream::set_nonblocking`]. Optional: the client uses
    /// it to read what has already arrived without waiting, and switches back right after:
    /// once per STARTTLS, right before the handshake, to catch plaintext the server sent behind
    /// its `220` (a sign of STARTTLS command injection, reported as
    /// [`StartTlsInjection`](smtp_proto::Error::StartTlsInjection)); and between the writes of
    /// a message body, to catch a reply that comes before the end of data was sent (the
    /// session then fails rather than take it for the reply to the whole message). The default
    /// returns [`ErrorKind::Unsupported`]: the checks are then skipped; such plaintext makes the
    /// TLS handshake fail instead, and an early reply is read after the whole body, as the
    /// reply to it.
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let _ = nonblocking;
        Err(ErrorKind::Unsupported.into())
    }

    /// Closes both directions, as [`TcpStream::shutdown`]`(`[`Shutdown::Both`]`)`, when the
    /// client closes the session (the stream is dropped right after). The default does
    /// nothing: dropping the stream closes it.
    fn shutdown(&self) -> io::Result<()> {
        Ok(())
    }
}

/// std's sockets: each call passes straight on to the socket's own method.
macro_rules! socket_connection {
    ($($(#[$cfg:meta])* $socket:ty),*) => {$(
        $(#[$cfg])*
        impl Connection for $socket {
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                Self::set_read_timeout(self, timeout)
            }

            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                Self::set_write_timeout(self, timeout)
            }

            fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
                Self::set_nonblocking(self, nonblocking)
            }

            fn shutdown(&self) -> io::Result<()> {
                Self::shutdown(self, Shutdown::Both)
            }
        }
    )*};
}

socket_connection!(
    TcpStream,
    #[cfg(unix)]
    UnixStream
);

/// A boxed connection is one (to choose the stream at run time: direct or through a proxy).
impl<C: Connection + ?Sized> Connection for Box<C> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        (**self).set_nonblocking(nonblocking)
    }

    fn shutdown(&self) -> io::Result<()> {
        (**self).shutdown()
    }
}

/// A connected stream, before any TLS, that bounds every read and write by one deadline.
///
/// TLS makes many reads and writes of the stream inside one handshake or one record; a socket
/// timeout set once per wait would bound each of them, not the wait, and a peer dribbling its
/// bytes could stretch a wait without end. So the deadline lives here, under the TLS layer:
/// each read and write re-arms the connection's timeout to what is left of it, and fails with
/// [`ErrorKind::TimedOut`] once it has passed.
pub(crate) struct Stream {
    connection: Box<dyn Connection>,
    /// When the current wait ends (`None`: no bound from here; the connection's own timeouts,
    /// if any, apply).
    deadline: Cell<Option<Instant>>,
    /// The connection's read and write timeouts as last set (`None`: unknown), so that a read
    /// or write that follows another closely costs no `setsockopt` (see [`rearm`]).
    read_armed: Cell<Option<Duration>>,
    write_armed: Cell<Option<Duration>>,
    /// Whether the connection is in non-blocking mode ([`Transport::read_pending`]): reads and
    /// writes then pass straight through.
    nonblocking: Cell<bool>,
}

impl Stream {
    pub(crate) fn new(connection: impl Connection) -> Self {
        Self {
            connection: Box::new(connection),
            deadline: Cell::new(None),
            read_armed: Cell::new(None),
            write_armed: Cell::new(None),
            nonblocking: Cell::new(false),
        }
    }

    /// Bounds every following read and write by `deadline`, until the next call.
    pub(crate) fn set_deadline(&self, deadline: Instant) {
        self.deadline.set(Some(deadline));
    }

    /// Sets the timeout of one direction to what is left of the deadline (`Ok(false)`: no
    /// deadline set), or fails with [`ErrorKind::TimedOut`] when it has passed.
    fn arm(&self, direction: Direction) -> io::Result<bool> {
        let Some(deadline) = self.deadline.get() else {
            return Ok(false);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(deadline_passed());
        }
        let left = clamp_timeout(left);
        let armed = match direction {
            Direction::Read => &self.read_armed,
            Direction::Write => &self.write_armed,
        };
        if rearm(armed.get(), left) {
            armed.set(None);
            match direction {
                Direction::Read => self.connection.set_read_timeout(Some(left))?,
                Direction::Write => self.connection.set_write_timeout(Some(left))?,
            }
            armed.set(Some(left));
        }
        Ok(true)
    }

    /// Whether a read or write that timed out must be tried again: the connection's timeout
    /// (armed up to [`rearm`]'s slack early) ended before the deadline.
    fn again(&self, e: &io::Error) -> bool {
        is_timeout(e)
            && self
                .deadline
                .get()
                .is_some_and(|deadline| Instant::now() < deadline)
    }

    /// Switches the connection's non-blocking mode.
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.connection.set_nonblocking(nonblocking)?;
        self.nonblocking.set(nonblocking);
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

fn deadline_passed() -> io::Error {
    io::Error::new(ErrorKind::TimedOut, "the deadline passed")
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Whether the socket timeout must be set again for a wait of `wanted`: when the one set
/// (`armed`) would end more than 1/64 of `wanted` (at most 50 ms) after it, or before an eighth
/// of it. One `setsockopt` before every read and write would double the system calls of a
/// small message, and RFC 5321's timeouts differ by stage (2 to 10 minutes): a shorter timeout
/// only makes the stream wait again, now and then; one this much late is noise against
/// minutes.
fn rearm(armed: Option<Duration>, wanted: Duration) -> bool {
    let slack = (wanted / 64).min(Duration::from_millis(50));
    armed.is_none_or(|armed| armed > wanted + slack || armed < wanted / 8)
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("deadline", &self.deadline.get())
            .finish_non_exhaustive()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.nonblocking.get() {
            return self.connection.read(buf);
        }
        loop {
            let bounded = self.arm(Direction::Read)?;
            match self.connection.read(buf) {
                Err(e) if bounded && self.again(&e) => {}
                Err(e) if bounded && is_timeout(&e) => return Err(deadline_passed()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.nonblocking.get() {
            return self.connection.write(buf);
        }
        loop {
            let bounded = self.arm(Direction::Write)?;
            match self.connection.write(buf) {
                Err(e) if bounded && self.again(&e) => {}
                Err(e) if bounded && is_timeout(&e) => return Err(deadline_passed()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.connection.flush()
    }
}

/// Why a TLS handshake did not complete.
#[derive(Debug)]
pub(crate) enum HandshakeFailure {
    /// The handshake failed (certificate, protocol, transport).
    Tls(native_tls::Error),
    /// The peer stalled past the deadline.
    Timeout,
    /// Setting the socket timeouts failed.
    Io(io::Error),
}

/// The transport of one session. Timeouts always go on the socket underneath, even under TLS.
#[derive(Debug)]
pub(crate) enum Transport {
    Plain(Stream),
    Tls(Box<TlsStream<Stream>>),
    /// A TLS upgrade failed half-way: the socket is gone.
    Poisoned,
}

/// Socket timeouts must not be zero (`set_read_timeout(Some(ZERO))` is an error): at least 1 ms.
pub(crate) fn clamp_timeout(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

impl Transport {
    fn stream(&self) -> Option<&Stream> {
        match self {
            Self::Plain(s) => Some(s),
            Self::Tls(t) => Some(t.get_ref()),
            Self::Poisoned => None,
        }
    }

    /// Bounds every following read and write, TLS records and handshake included, by
    /// `deadline`: past it they fail with [`ErrorKind::TimedOut`].
    pub(crate) fn set_deadline(&self, deadline: Instant) -> io::Result<()> {
        self.stream().ok_or_else(poisoned)?.set_deadline(deadline);
        Ok(())
    }

    /// Reads whatever has already arrived, without waiting: `None` when nothing has (under
    /// TLS: no complete record), or when the connection cannot tell without waiting (its
    /// [`Connection::set_nonblocking`] is unsupported); no bytes at the end of the stream.
    pub(crate) fn read_pending<'b>(&mut self, buf: &'b mut [u8]) -> Option<io::Result<&'b [u8]>> {
        let stream = self.stream()?;
        match stream.set_nonblocking(true) {
            Err(e) if e.kind() == ErrorKind::Unsupported => return None,
            Err(e) => return Some(Err(e)),
            Ok(()) => {}
        }
        let read = loop {
            match self.read(buf) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        if let Some(Err(e)) = self.stream().map(|s| s.set_nonblocking(false)) {
            return Some(Err(e));
        }
        match read {
            Err(e) if e.kind() == ErrorKind::WouldBlock => None,
            other => Some(other.map(|n| buf.get(..n).unwrap_or_default())),
        }
    }

    /// Wraps the plain stream in TLS for `server_name`, the handshake bounded by `deadline`.
    pub(crate) fn upgrade(
        &mut self,
        connector: &TlsConnector,
        server_name: &str,
        deadline: Instant,
    ) -> Result<(), HandshakeFailure> {
        let stream = match std::mem::replace(self, Self::Poisoned) {
            Self::Plain(stream) => stream,
            other => {
                *self = other;
                return Err(HandshakeFailure::Io(io::Error::other(
                    "TLS requested on a transport that is not plain",
                )));
            }
        };
        stream.set_deadline(deadline);
        // A connection that cannot time out fails here, as an I/O error, not inside OpenSSL.
        if let Err(e) = stream
            .arm(Direction::Read)
            .and_then(|_| stream.arm(Direction::Write))
        {
            return Err(if is_timeout(&e) {
                HandshakeFailure::Timeout
            } else {
                HandshakeFailure::Io(e)
            });
        }
        match connector.connect(server_name, stream) {
            Ok(tls) => {
                *self = Self::Tls(Box::new(tls));
                Ok(())
            }
            // The stream fails with `TimedOut` past the deadline, which OpenSSL reports as a
            // failure; another back end may report it as `WouldBlock`. Never retry.
            Err(HandshakeError::WouldBlock(_)) => Err(HandshakeFailure::Timeout),
            Err(HandshakeError::Failure(e)) if timed_out(&e) || Instant::now() >= deadline => {
                Err(HandshakeFailure::Timeout)
            }
            Err(HandshakeError::Failure(e)) => Err(HandshakeFailure::Tls(e)),
        }
    }

    /// Closes the connection (no TLS close_notify: the session is over either way).
    pub(crate) fn shutdown(&self) {
        if let Some(s) = self.stream() {
            // Best effort: the peer may already be gone.
            let _ = s.connection.shutdown();
        }
    }
}

/// Whether a TLS error was caused by the stream timing out.
fn timed_out(e: &native_tls::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.downcast_ref::<io::Error>().is_some_and(is_timeout) {
            return true;
        }
        source = cause.source();
    }
    false
}

fn poisoned() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the transport is closed")
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(t) => t.read(buf),
            Self::Poisoned => Err(poisoned()),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(t) => t.write(buf),
            Self::Poisoned => Err(poisoned()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(t) => t.flush(),
            Self::Poisoned => Err(poisoned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_timeouts_are_rearmed_only_when_they_move() {
        let secs = Duration::from_secs;
        let ms = Duration::from_millis;
        assert!(rearm(None, secs(300)));
        // 300 s: a timeout up to 50 ms late stands, one later is shortened.
        assert!(!rearm(Some(secs(300)), secs(300) - ms(50)));
        assert!(rearm(Some(secs(300)), secs(300) - ms(51)));
        // A wait of 640 ms: 10 ms.
        assert!(!rearm(Some(ms(650)), ms(640)));
        assert!(rearm(Some(ms(651)), ms(640)));
        // A much shorter wait (a near deadline) is always armed.
        assert!(rearm(Some(secs(300)), ms(10)));
        // A longer wait keeps a shorter timeout (the stream waits again when it ends), as RFC
        // 5321's stage timeouts alternate: 2 minutes armed serve a 10-minute wait...
        assert!(!rearm(Some(secs(120)), secs(600)));
        assert!(!rearm(Some(ms(630)), ms(640)));
        // ...but not one so short that it would wake the stream over and over.
        assert!(rearm(Some(secs(60)), secs(600)));
    }
}
