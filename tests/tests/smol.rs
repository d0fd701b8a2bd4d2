//! `smtp-smol` through the conformance matrix (every integration scenario), plus what only the
//! async adapters have: cancellation and sessions over any `futures-io` stream. The transcripts
//! over a real socket are one test each, `smol::FILE.smtp`, in `tests/tests/transcripts.rs`.

smtp_tests::conformance_tests!(smtp_tests::matrix::Smol);

smtp_tests::async_only_tests!(smtp_smol::Smol);

/// A STARTTLS-required connect with certificate checks on: trusted with the test CA added as
/// a root, refused without it.
#[test]
fn an_added_root_certificate_verifies_the_starttls_server() {
    use smtp_smol::{Error, SmtpClient, TlsMode};
    use smtp_tests::server::{localhost_acceptor, Server, TEST_CA_PEM};
    use std::time::Duration;

    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let builder = || {
        SmtpClient::builder()
            .timeout(Duration::from_secs(10))
            .tls(TlsMode::Required)
    };
    smol::block_on(async {
        let mut smtp = builder()
            .add_root_certificate_pem(TEST_CA_PEM)
            .connect("127.0.0.1", server.port())
            .await
            .expect("the test CA is trusted");
        assert!(smtp.is_secure());
        smtp.quit().await.expect("quit");
        match builder().connect("127.0.0.1", server.port()).await {
            Err(Error::Tls(_)) => {}
            other => panic!("expected a TLS error without the root: {other:?}"),
        }
        match builder()
            .client_identity_pem(&b"no"[..], &b"key"[..])
            .connect("127.0.0.1", server.port())
            .await
        {
            Err(Error::InvalidSetting(text)) => assert!(text.contains("PEM"), "{text}"),
            other => panic!("expected InvalidSetting: {other:?}"),
        }
    });
}
