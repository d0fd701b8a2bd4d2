//! TLS: explicit STARTTLS (capabilities forgotten), STARTTLS required on connect, untrusted
//! certificates refused by default, implicit TLS verified against an IP address, and STARTTLS
//! problems (refusals, injection, a failed handshake).

use smtp_blocking::Error;
use smtp_proto::client::TlsMode;
use smtp_proto::Error as ProtoError;

use super::{code, connect, finished, localhost, open, trusting};
use crate::matrix::{Adapter, Settings};
use crate::server::{localhost_acceptor, wrong_host_acceptor, Action, Server, Trigger};

// ------------------------------------------------------------------ TLS

/// smtplib's `starttls()` with the test CA: secure, capabilities forgotten, EHLO again.
pub fn explicit_starttls_upgrades_and_forgets_capabilities<A: Adapter>() {
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let mut smtp = A::connect(&trusting(), &localhost(server.port())).expect("connect");
    assert!(!smtp.is_secure());
    assert_eq!(code(smtp.starttls()), 220);
    assert!(smtp.is_secure());
    assert!(!smtp.knows_capabilities(), "forgotten after TLS");
    assert!(matches!(smtp.starttls(), Err(Error::Usage(_))));
    smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"hi\r\n"[..])
        .expect("sendmail");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert!(logs[0].tls && logs[0].messages[0].secure);
    let ehlos = logs[0]
        .commands
        .iter()
        .filter(|c| c.starts_with("EHLO"))
        .count();
    assert_eq!(ehlos, 2, "EHLO again after TLS: {:?}", logs[0].commands);
}

/// `TlsMode::Required` upgrades while connecting.
pub fn required_starttls_on_connect<A: Adapter>() {
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let settings = trusting().tls(TlsMode::Required);
    let mut smtp = A::connect(&settings, &localhost(server.port())).expect("connect");
    assert!(smtp.is_secure() && smtp.has_extn("AUTH") && !smtp.has_extn("STARTTLS"));
    smtp.quit().expect("quit");
}

/// Verification is on by default: an unknown CA and a wrong host name are refused.
pub fn untrusted_certificates_are_refused_by_default<A: Adapter>() {
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let required = Settings::default().tls(TlsMode::Required);
    let result = A::connect(&required, &localhost(server.port()));
    assert!(matches!(result, Err(Error::Tls(_))), "{:?}", result.err());
    let wrong = Server::builder()
        .starttls(wrong_host_acceptor())
        .start()
        .expect("server");
    let trusting_ca = required.clone().trust_test_ca(true);
    let result = A::connect(&trusting_ca, &localhost(wrong.port()));
    assert!(matches!(result, Err(Error::Tls(_))), "{:?}", result.err());
    let insecure = required.danger_accept_invalid_certs(true);
    let mut smtp = A::connect(&insecure, &localhost(wrong.port())).expect("insecure");
    assert!(smtp.is_secure());
    smtp.quit().expect("quit");
}

/// SMTPS to an IP address, verified against the certificate's IP entry.
pub fn implicit_tls_verifies_against_the_ip_too<A: Adapter>() {
    let server = Server::builder()
        .implicit_tls(localhost_acceptor())
        .start()
        .expect("server");
    let settings = trusting().tls(TlsMode::Implicit);
    let mut smtp = open::<A>(&server, &settings).expect("SMTPS");
    assert!(smtp.is_secure());
    smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"over TLS\r\n"[..])
        .expect("send");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert!(logs[0].messages[0].secure);
    assert_eq!(logs[0].messages[0].data, b"over TLS\r\n");
}

/// STARTTLS not offered, refused, and plaintext injected after the `220`.
pub fn starttls_problems<A: Adapter>() {
    let plain = Server::start().expect("server");
    let required = trusting().tls(TlsMode::Required);
    let result = open::<A>(&plain, &required);
    assert!(
        matches!(result, Err(Error::Smtp(ProtoError::TlsUnavailable))),
        "{:?}",
        result.err()
    );
    let opportunistic = Settings::default().tls(TlsMode::Opportunistic);
    let mut smtp = open::<A>(&plain, &opportunistic).expect("opportunistic");
    assert!(!smtp.is_secure());
    smtp.quit().expect("quit");

    let refusing = Server::builder()
        .starttls(localhost_acceptor())
        .on(
            Trigger::command("STARTTLS"),
            Action::reply("454 4.7.0 TLS not available"),
        )
        .start()
        .expect("server");
    let result = A::connect(&required, &localhost(refusing.port()));
    assert!(
        matches!(result, Err(Error::Smtp(ProtoError::StartTlsRefused(_)))),
        "{:?}",
        result.err()
    );
    let mut smtp = connect::<A>(&refusing);
    assert!(matches!(smtp.starttls(), Err(Error::StartTlsRefused(_))));
    assert_eq!(code(smtp.noop()), 250, "still usable");
    smtp.quit().expect("quit");

    let injecting = Server::builder()
        .starttls(localhost_acceptor())
        .on(
            Trigger::command("STARTTLS"),
            Action::raw(b"220 go ahead\r\n250 injected\r\n"),
        )
        .start()
        .expect("server");
    let result = A::connect(&required, &localhost(injecting.port()));
    assert!(
        matches!(result, Err(Error::Smtp(ProtoError::StartTlsInjection))),
        "{:?}",
        result.err()
    );
}
