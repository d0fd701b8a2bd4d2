//! The byte pipe of one session: a runtime's stream, optionally wrapped in TLS, and the TLS
//! connector built from the settings.

use std::io::{self, ErrorKind};
use std::time::Instant;

use async_io::Timer;
use async_native_tls::{Certificate, Identity, TlsConnector, TlsStream};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use smtp_proto::session::{Error, Result, Settings};

use crate::AsyncIo;

/// The byte pipe: a runtime's stream, optionally wrapped in TLS.
pub(crate) enum Transport {
    Plain(Box<dyn AsyncIo>),
    Tls(Box<TlsStream<Box<dyn AsyncIo>>>),
    /// A TLS upgrade failed or was abandoned half-way: the stream is gone.
    Poisoned,
}

impl Transport {
    /// Wraps the plain stream in TLS for `server_name`; the handshake ends by `deadline`
    /// (`Ok(false)`: it did not, and the stream is gone).
    pub(crate) async fn upgrade(
        &mut self,
        connector: &TlsConnector,
        server_name: &str,
        deadline: Instant,
    ) -> Result<bool> {
        let Self::Plain(stream) = std::mem::replace(self, Self::Poisoned) else {
            return Err(Error::Io(io::Error::other(
                "TLS requested on a transport that is not plain",
            )));
        };
        let handshake = async { Some(connector.connect(server_name, stream).await) };
        let expired = async {
            Timer::at(deadline).await;
            None
        };
        match future::or(handshake, expired).await {
            Some(Ok(tls)) => {
                *self = Self::Tls(Box::new(tls));
                Ok(true)
            }
            Some(Err(e)) => Err(Error::tls(e)),
            None => Ok(false),
        }
    }
}

fn poisoned() -> io::Error {
    io::Error::new(ErrorKind::NotConnected, "the transport is closed")
}

impl Transport {
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf).await,
            Self::Tls(t) => t.read(buf).await,
            Self::Poisoned => Err(poisoned()),
        }
    }

    pub(crate) async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf).await,
            Self::Tls(t) => t.write(buf).await,
            Self::Poisoned => Err(poisoned()),
        }
    }
}

/// The TLS connector the settings describe: certificate checks as
/// `danger_accept_invalid_certs` says, the extra roots trusted, the client identity presented.
/// Material that cannot be parsed is an [`Error::InvalidSetting`].
pub(crate) fn tls_connector(settings: &Settings) -> Result<TlsConnector> {
    let insecure = settings.danger_accept_invalid_certs;
    let connector = TlsConnector::new()
        .danger_accept_invalid_certs(insecure)
        .danger_accept_invalid_hostnames(insecure);
    let with_roots = settings
        .root_certificates()
        .try_fold(connector, |c, (n, pem)| {
            Certificate::from_pem(pem)
                .map(|cert| c.add_root_certificate(cert))
                .map_err(|e| Settings::bad_root(n, e))
        })?;
    Ok(match &settings.tls_identity {
        None => with_roots,
        Some(id) => with_roots.identity(
            Identity::from_pkcs8(&id.cert_chain_pem, &id.key_pem)
                .map_err(Settings::bad_identity)?,
        ),
    })
}
