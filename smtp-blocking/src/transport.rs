//! The byte pipe under a session: TCP or a Unix socket, optionally wrapped in TLS.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

use native_tls::{HandshakeError, TlsConnector, TlsStream};

/// A connected socket, before any TLS.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_read_timeout(d),
            #[cfg(unix)]
            Self::Unix(s) => s.set_read_timeout(d),
        }
    }

    fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_write_timeout(d),
            #[cfg(unix)]
            Self::Unix(s) => s.set_write_timeout(d),
        }
    }

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_nonblocking(on),
            #[cfg(unix)]
            Self::Unix(s) => s.set_nonblocking(on),
        }
    }

    fn shutdown(&self) {
        // Best effort: the peer may already be gone.
        let _ = match self {
            Self::Tcp(s) => s.shutdown(Shutdown::Both),
            #[cfg(unix)]
            Self::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Self::Unix(s) => s.flush(),
        }
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

    /// Sets the socket's read timeout (clamped to at least 1 ms).
    pub(crate) fn set_read_timeout(&self, d: Duration) -> io::Result<()> {
        let stream = self.stream().ok_or_else(poisoned)?;
        stream.set_read_timeout(Some(clamp_timeout(d)))
    }

    /// Sets the socket's write timeout (clamped to at least 1 ms).
    pub(crate) fn set_write_timeout(&self, d: Duration) -> io::Result<()> {
        let stream = self.stream().ok_or_else(poisoned)?;
        stream.set_write_timeout(Some(clamp_timeout(d)))
    }

    /// Reads whatever has already arrived on a plain stream, without waiting (0: nothing).
    pub(crate) fn read_pending(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Self::Plain(stream) = self else {
            return Ok(0);
        };
        stream.set_nonblocking(true)?;
        let result = match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            other => other,
        };
        stream.set_nonblocking(false)?;
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
            .set_read_timeout(Some(clamp_timeout(timeout)))
            .and_then(|()| stream.set_write_timeout(Some(clamp_timeout(timeout))))
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

    /// Closes the socket (no TLS close_notify: the session is over either way).
    pub(crate) fn shutdown(&self) {
        if let Some(s) = self.stream() {
            s.shutdown();
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
