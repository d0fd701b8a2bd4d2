//! The byte pipe under a session: a [`Connection`] (TCP, a Unix socket or the caller's own
//! stream), optionally wrapped in TLS.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

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
/// ([`poll_timeout`](smtp_proto::Client::poll_timeout)): before each read and write the client
/// sets the stream's read or write timeout to the time left (at least 1 ms), and a read or write
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
///     // Optional: lets STARTTLS check for plaintext behind the server's `220`.
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
    /// it once per STARTTLS, right before the handshake, to read plaintext the server sent
    /// behind its `220` (a sign of STARTTLS command injection, reported as
    /// [`StartTlsInjection`](smtp_proto::Error::StartTlsInjection)). The default returns
    /// [`ErrorKind::Unsupported`]: the check is then skipped, and such bytes make the TLS
    /// handshake fail instead.
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

impl Connection for TcpStream {
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

#[cfg(unix)]
impl Connection for UnixStream {
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

/// A connected stream, before any TLS.
pub(crate) struct Stream(Box<dyn Connection>);

impl Stream {
    pub(crate) fn new(connection: impl Connection) -> Self {
        Self(Box::new(connection))
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stream")
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
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
    fn connection(&self) -> Option<&dyn Connection> {
        match self {
            Self::Plain(s) => Some(&*s.0),
            Self::Tls(t) => Some(&*t.get_ref().0),
            Self::Poisoned => None,
        }
    }

    /// Sets the socket's read timeout (clamped to at least 1 ms).
    pub(crate) fn set_read_timeout(&self, d: Duration) -> io::Result<()> {
        let connection = self.connection().ok_or_else(poisoned)?;
        connection.set_read_timeout(Some(clamp_timeout(d)))
    }

    /// Sets the socket's write timeout (clamped to at least 1 ms).
    pub(crate) fn set_write_timeout(&self, d: Duration) -> io::Result<()> {
        let connection = self.connection().ok_or_else(poisoned)?;
        connection.set_write_timeout(Some(clamp_timeout(d)))
    }

    /// Reads whatever has already arrived on a plain stream, without waiting (0: nothing, or a
    /// connection that cannot tell without waiting).
    pub(crate) fn read_pending(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Self::Plain(stream) = self else {
            return Ok(0);
        };
        match stream.0.set_nonblocking(true) {
            Err(e) if e.kind() == ErrorKind::Unsupported => return Ok(0),
            other => other?,
        }
        let result = match stream.read(buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(0),
            other => other,
        };
        stream.0.set_nonblocking(false)?;
        result
    }

    /// Wraps the plain stream in TLS for `server_name`, the handshake bounded by `timeout`.
    pub(crate) fn upgrade(
        &mut self,
        connector: &TlsConnector,
        server_name: &str,
        timeout: Duration,
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
        stream
            .0
            .set_read_timeout(Some(clamp_timeout(timeout)))
            .and_then(|()| stream.0.set_write_timeout(Some(clamp_timeout(timeout))))
            .map_err(HandshakeFailure::Io)?;
        match connector.connect(server_name, stream) {
            Ok(tls) => {
                *self = Self::Tls(Box::new(tls));
                Ok(())
            }
            // With a socket timeout set, a stalled handshake surfaces as WouldBlock: never retry.
            Err(HandshakeError::WouldBlock(_)) => Err(HandshakeFailure::Timeout),
            Err(HandshakeError::Failure(e)) => Err(HandshakeFailure::Tls(e)),
        }
    }

    /// Closes the connection (no TLS close_notify: the session is over either way).
    pub(crate) fn shutdown(&self) {
        if let Some(c) = self.connection() {
            // Best effort: the peer may already be gone.
            let _ = c.shutdown();
        }
    }
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
