//! The test PKI of `tests/fixtures/` (a CA, a `localhost` identity, a `wrong.example` one),
//! as PEM bytes, a connector that trusts the test CA only, and acceptors for each identity.

use native_tls::{Certificate, Identity, TlsAcceptor, TlsConnector};

/// The test CA certificate (PEM), `tests/fixtures/ca.pem`.
pub const TEST_CA_PEM: &[u8] = include_bytes!("../../fixtures/ca.pem");
/// The server certificate for `localhost`, `127.0.0.1` and `::1`, signed by the test CA.
pub const SERVER_CERT_PEM: &[u8] = include_bytes!("../../fixtures/server.pem");
/// The server certificate's PKCS#8 key.
pub const SERVER_KEY_PEM: &[u8] = include_bytes!("../../fixtures/server.key");
/// A certificate for `wrong.example` (not localhost), signed by the test CA.
pub const WRONG_HOST_CERT_PEM: &[u8] = include_bytes!("../../fixtures/wrong-host.pem");
/// Its PKCS#8 key.
pub const WRONG_HOST_KEY_PEM: &[u8] = include_bytes!("../../fixtures/wrong-host.key");

/// The test CA as a certificate to trust.
pub fn test_ca() -> Certificate {
    Certificate::from_pem(TEST_CA_PEM).expect("fixtures/ca.pem is a valid certificate")
}

/// A TLS connector that verifies certificates against the test CA only (host names checked).
pub fn trusting_connector() -> TlsConnector {
    TlsConnector::builder()
        .add_root_certificate(test_ca())
        .disable_built_in_roots(true)
        .build()
        .expect("TLS connector")
}

/// The `localhost` server identity.
pub fn localhost_acceptor() -> TlsAcceptor {
    acceptor(SERVER_CERT_PEM, SERVER_KEY_PEM)
}

/// The `wrong.example` server identity (host-name mismatch for clients that connect to
/// `localhost`).
pub fn wrong_host_acceptor() -> TlsAcceptor {
    acceptor(WRONG_HOST_CERT_PEM, WRONG_HOST_KEY_PEM)
}

fn acceptor(cert: &[u8], key: &[u8]) -> TlsAcceptor {
    let identity = Identity::from_pkcs8(cert, key).expect("fixture identity");
    TlsAcceptor::new(identity).expect("TLS acceptor")
}
