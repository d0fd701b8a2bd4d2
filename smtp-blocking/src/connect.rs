//! Opening the socket (each address tried in turn, the whole connect bounded by the connect
//! timeout; a Unix socket without waiting) and the TLS connector built from the settings.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::path::Path;
use std::time::{Duration, Instant};

use native_tls::{Certificate, Identity, TlsConnector};
use smtp_proto::session::{Error, Result, Settings};

/// Connects to the first address of `host` that answers, the whole connect (every address
/// tried) bounded by `timeout`.
pub(crate) fn connect_tcp(
    host: &str,
    port: u16,
    source: Option<SocketAddr>,
    timeout: Duration,
) -> Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    let addrs = (host, port).to_socket_addrs()?;
    connect_addrs(host, addrs, source, deadline)
}

/// Tries `addrs` in order until one answers, each attempt given what is left until `deadline`.
fn connect_addrs(
    host: &str,
    addrs: impl IntoIterator<Item = SocketAddr>,
    source: Option<SocketAddr>,
    deadline: Instant,
) -> Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        if source.is_some_and(|s| s.is_ipv4() != addr.is_ipv4()) {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            last = Some(io::Error::new(
                ErrorKind::TimedOut,
                format!("{host}: connect timed out"),
            ));
            break;
        }
        let attempt = match source {
            None => TcpStream::connect_timeout(&addr, left),
            Some(source) => connect_from(source, addr, left),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
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

/// Connects to the Unix socket at `path` without waiting, so that the connect is bounded
/// whatever the listener does: one whose backlog is full fails at once (`EAGAIN` on Linux), as
/// with the async adapters, rather than block until it accepts. (Local connects complete or
/// fail at once; there is no handshake to wait for.)
#[cfg(unix)]
pub(crate) fn connect_unix(path: &Path) -> io::Result<UnixStream> {
    use socket2::{Domain as SockDomain, SockAddr, Socket, Type};
    let socket = Socket::new(SockDomain::UNIX, Type::STREAM, None)?;
    let addr = SockAddr::unix(path)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr) {
        // Linux: the listener's backlog is full. Not a timeout (nothing was waited for): the
        // server is not taking connections, as the async adapters report it too.
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            return Err(io::Error::new(
                ErrorKind::ConnectionRefused,
                format!("{}: the listener's backlog is full ({e})", path.display()),
            ))
        }
        other => other?,
    }
    socket.set_nonblocking(false)?;
    Ok(UnixStream::from(std::os::fd::OwnedFd::from(socket)))
}

fn connect_from(source: SocketAddr, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    use socket2::{Domain as SockDomain, Protocol, Socket, Type};
    let socket = Socket::new(
        SockDomain::for_address(addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.bind(&source.into())?;
    socket.connect_timeout(&addr.into(), timeout)?;
    Ok(socket.into())
}

/// The TLS connector the settings describe: certificate checks as
/// `danger_accept_invalid_certs` says, the extra roots trusted, the client identity presented.
/// Material that cannot be parsed is an [`Error::InvalidSetting`].
pub(crate) fn tls_connector(settings: &Settings) -> Result<TlsConnector> {
    let insecure = settings.danger_accept_invalid_certs;
    let mut builder = TlsConnector::builder();
    builder.danger_accept_invalid_certs(insecure);
    builder.danger_accept_invalid_hostnames(insecure);
    for (n, cert) in settings.root_certificates() {
        let parsed = Certificate::from_pem(cert);
        builder.add_root_certificate(parsed.map_err(|e| Settings::bad_root(n, e))?);
    }
    if let Some(id) = &settings.tls_identity {
        let identity = Identity::from_pkcs8(&id.cert_chain_pem, &id.key_pem);
        builder.identity(identity.map_err(Settings::bad_identity)?);
    }
    builder.build().map_err(Error::tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback listener that takes no more connections: its accept queue is full, so the
    /// kernel drops further SYNs and a connect to it waits (`None`: could not fill it).
    fn full_listener() -> Option<(socket2::Socket, SocketAddr, Vec<TcpStream>)> {
        use socket2::{Domain as SockDomain, Socket, Type};
        let socket = Socket::new(SockDomain::IPV4, Type::STREAM, None).ok()?;
        let any: SocketAddr = "127.0.0.1:0".parse().ok()?;
        socket.bind(&any.into()).ok()?;
        socket.listen(0).ok()?;
        let addr = socket.local_addr().ok()?.as_socket()?;
        let mut queued = Vec::new();
        for _ in 0..64 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => queued.push(s),
                Err(_) => return Some((socket, addr, queued)),
            }
        }
        None
    }

    #[test]
    fn the_connect_timeout_bounds_every_address_together() {
        let mut listeners = Vec::new();
        for _ in 0..6 {
            let Some(full) = full_listener() else {
                eprintln!("could not fill a listen backlog on this host: skipped");
                return;
            };
            listeners.push(full);
        }
        let addrs: Vec<SocketAddr> = listeners.iter().map(|(_, addr, _)| *addr).collect();
        let timeout = Duration::from_secs(1);
        let start = Instant::now();
        let result = connect_addrs("stalled.test", addrs, None, start + timeout);
        let took = start.elapsed();
        assert!(result.as_ref().is_err_and(Error::is_timeout), "{result:?}");
        // Each of the six addresses given the whole second would take six.
        assert!(took < timeout * 3, "the connect took {took:?}");
    }
}
