//! Opening the socket: the name resolved, each address tried in turn, every wait bounded by the
//! connect timeout. The socket is connected with `async-io` and then handed to the
//! [`Runtime`]'s own stream type, which carries every byte after that.

use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::path::Path;
use std::time::Duration;

use async_io::{Async, Timer};
use futures_lite::future;

use crate::{AsyncIo, Error, Result, Runtime};

/// A connected socket and what the session needs to know about it.
pub(crate) struct Opened {
    pub(crate) io: Box<dyn AsyncIo>,
    /// The local address (for the default hello name); `None` for Unix sockets.
    pub(crate) local: Option<IpAddr>,
    /// Whether the peer is this machine (AUTH over plaintext is then allowed).
    pub(crate) loopback: bool,
}

/// A stream the caller connected: nothing is known about its ends, so the peer counts as remote.
pub(crate) fn stream(io: Box<dyn AsyncIo>) -> Opened {
    Opened {
        io,
        local: None,
        loopback: false,
    }
}

/// `work`, or a `TimedOut` error once `limit` has passed.
async fn bounded<T>(limit: Duration, work: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    let expired = async {
        Timer::after(limit).await;
        Err(io::Error::new(ErrorKind::TimedOut, "connect timed out"))
    };
    future::or(work, expired).await
}

/// Connects to the first address of `host` that answers, from `source` if given.
pub(crate) async fn tcp<R: Runtime>(
    host: &str,
    port: u16,
    source: Option<SocketAddr>,
    limit: Duration,
) -> Result<Opened> {
    let addrs = bounded(limit, smol::net::resolve((host, port))).await?;
    let mut last = None;
    for addr in addrs {
        if source.is_some_and(|s| s.is_ipv4() != addr.is_ipv4()) {
            continue;
        }
        match bounded(limit, attempt(addr, source)).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                let local = stream.local_addr().ok().map(|a| a.ip());
                return Ok(Opened {
                    io: R::tcp(stream)?,
                    local,
                    loopback: addr.ip().to_canonical().is_loopback(),
                });
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Io(last.unwrap_or_else(|| {
        io::Error::new(
            ErrorKind::NotFound,
            format!("{host}: no usable address found"),
        )
    })))
}

/// One connection attempt, bound to `source` first when given.
async fn attempt(addr: SocketAddr, source: Option<SocketAddr>) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return Async::<TcpStream>::connect(addr).await?.into_inner();
    };
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.bind(&source.into())?;
    // Non-blocking: "in progress" is the usual answer (its error code differs by platform).
    let started = socket.connect(&addr.into());
    let stream = Async::new(TcpStream::from(socket))?;
    // Writable once connected or failed; the socket error, or the lack of a peer, says which.
    stream.writable().await?;
    if let Some(e) = stream.get_ref().take_error()? {
        return Err(e);
    }
    match stream.get_ref().peer_addr() {
        Ok(_) => stream.into_inner(),
        Err(e) => Err(started.err().unwrap_or(e)),
    }
}

/// Connects to the Unix socket at `path`.
#[cfg(unix)]
pub(crate) async fn unix<R: Runtime>(path: &Path, limit: Duration) -> Result<Opened> {
    let stream = bounded(limit, Async::<UnixStream>::connect(path)).await?;
    Ok(Opened {
        io: R::unix(stream.into_inner()?)?,
        local: None,
        loopback: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_nobody_answers_is_an_io_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let result = smol::block_on(tcp::<crate::Smol>(
            "127.0.0.1",
            port,
            None,
            Duration::from_secs(5),
        ));
        assert!(matches!(result, Err(Error::Io(_))));
        let bound = smol::block_on(tcp::<crate::Smol>(
            "127.0.0.1",
            port,
            Some("127.0.0.1:0".parse().expect("addr")),
            Duration::from_secs(5),
        ));
        assert!(matches!(bound, Err(Error::Io(_))));
    }
}
