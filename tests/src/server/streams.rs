//! Sockets: the server's side of a connection (TCP or Unix, plain or TLS), and misbehaving
//! streams and listeners for tests: [`Dribble`] (one byte per write, after a pause) and
//! [`FullUnixListener`] (a backlog that takes no more connections).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use native_tls::TlsStream;

/// The server side of a socket.
#[derive(Debug)]
pub(super) enum Plain {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Plain {
    pub(super) fn set_timeouts(&self, d: Duration) -> io::Result<()> {
        match self {
            Self::Tcp(s) => {
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            }
            #[cfg(unix)]
            Self::Unix(s) => {
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            }
        }
    }

    fn shutdown(&self) {
        let _ = match self {
            Self::Tcp(s) => s.shutdown(Shutdown::Both),
            #[cfg(unix)]
            Self::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Plain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Plain {
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

/// The server side of a connection, plain or TLS.
pub(super) enum ServerStream {
    Plain(Plain),
    Tls(Box<TlsStream<Plain>>),
    Gone,
}

impl ServerStream {
    pub(super) fn shutdown(&mut self) {
        match self {
            Self::Plain(p) => p.shutdown(),
            Self::Tls(t) => {
                let _ = t.shutdown();
                t.get_ref().shutdown();
            }
            Self::Gone => {}
        }
    }
}

impl Read for ServerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(p) => p.read(buf),
            Self::Tls(t) => t.read(buf),
            Self::Gone => Ok(0),
        }
    }
}

impl Write for ServerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(p) => p.write(buf),
            Self::Tls(t) => t.write(buf),
            Self::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(p) => p.flush(),
            Self::Tls(t) => t.flush(),
            Self::Gone => Ok(()),
        }
    }
}

/// A socket that writes one byte per call, after a pause (none while the pause is zero): a
/// server that dribbles, under TLS or not.
pub struct Dribble {
    tcp: TcpStream,
    /// The pause before each byte, in microseconds.
    pause_us: Arc<AtomicU64>,
}

impl Dribble {
    /// Wraps `tcp`; returns the pause as a handle that changes it while the stream is in use.
    pub fn new(tcp: TcpStream, pause: Duration) -> (Self, Arc<AtomicU64>) {
        let pause_us = Arc::new(AtomicU64::new(micros(pause)));
        let dribble = Self {
            tcp,
            pause_us: Arc::clone(&pause_us),
        };
        (dribble, pause_us)
    }
}

/// `d` in microseconds, as [`Dribble`] takes its pause.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Read for Dribble {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for Dribble {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let pause = Duration::from_micros(self.pause_us.load(Ordering::Relaxed));
        if pause.is_zero() {
            return self.tcp.write(buf);
        }
        thread::sleep(pause);
        self.tcp.write(buf.get(..1).unwrap_or_default())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A Unix listener that never accepts, its backlog filled with non-blocking connections, so
/// that the next connect cannot complete: drop it to free the path.
#[cfg(unix)]
pub struct FullUnixListener {
    /// The socket's path.
    pub path: PathBuf,
    _listener: UnixListener,
    _queued: Vec<mio::net::UnixStream>,
}

#[cfg(unix)]
impl FullUnixListener {
    /// Binds `path` and connects until the backlog refuses (4,097 on a default Linux).
    pub fn bind(path: PathBuf) -> io::Result<Self> {
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        let mut queued = Vec::new();
        loop {
            if queued.len() > 20_000 {
                return Err(io::Error::other("the backlog never filled"));
            }
            match mio::net::UnixStream::connect(&path) {
                Ok(s) => queued.push(s),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(Self {
            path,
            _listener: listener,
            _queued: queued,
        })
    }
}

#[cfg(unix)]
impl Drop for FullUnixListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
