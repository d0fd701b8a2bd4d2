//! `Client::login` with SCRAM offered: SCRAM-SHA-256 first, then SCRAM-SHA-1, CRAM-MD5, PLAIN,
//! LOGIN; and a server that reports success without proving itself ends the session.
#![allow(clippy::disallowed_methods)] // one Instant as the origin of virtual time

use std::time::Instant;

use smtp_proto::client::{Client, Config, Event};
use smtp_proto::error::Error;
use smtp_proto::sasl::{decode_challenge, SaslError};
use smtp_proto::Domain;

fn config() -> Config {
    let mut c = Config::new(Domain::try_from("client.test").unwrap());
    c.allow_auth_without_tls = true;
    c
}

/// Writes everything the client has to send and returns it.
fn flush(client: &mut Client, now: Instant) -> Vec<u8> {
    let mut sent = Vec::new();
    while let Some(out) = client.transmit(now) {
        let n = out.len();
        sent.extend_from_slice(&out);
        client.handle_written(n, now);
    }
    sent
}

fn events(client: &mut Client) -> Vec<Event> {
    std::iter::from_fn(|| client.poll_event()).collect()
}

fn ready_client(now: Instant, auth: &str) -> Client {
    let mut client = Client::new(config(), now);
    client.handle_input(b"220 mx.test ESMTP\r\n", now);
    assert_eq!(flush(&mut client, now), b"EHLO client.test\r\n");
    client.handle_input(
        format!("250-mx.test\r\n250 AUTH {auth}\r\n").as_bytes(),
        now,
    );
    assert!(matches!(events(&mut client).as_slice(), [Event::Ready]));
    client
}

/// The mechanism and the decoded initial response of an `AUTH` line.
fn auth_line(line: &[u8]) -> (String, Vec<u8>) {
    let line = std::str::from_utf8(line).unwrap();
    let rest = line
        .strip_prefix("AUTH ")
        .unwrap()
        .strip_suffix("\r\n")
        .unwrap();
    match rest.split_once(' ') {
        Some((name, ir)) => (name.to_owned(), decode_challenge(ir.as_bytes()).unwrap()),
        None => (rest.to_owned(), Vec::new()),
    }
}

#[test]
fn login_tries_scram_sha_256_then_scram_sha_1_then_the_rest() {
    let now = Instant::now();
    // Offered in an order unlike the preference.
    let mut client = ready_client(now, "LOGIN PLAIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256");
    client.login("user", "pencil").unwrap();
    let mut tried = Vec::new();
    loop {
        let sent = flush(&mut client, now);
        let (name, ir) = auth_line(&sent);
        if name.starts_with("SCRAM-") {
            // `n,,n=user,r=` and a random nonce.
            assert!(ir.starts_with(b"n,,n=user,r="), "{ir:?}");
            assert_eq!(ir.len(), b"n,,n=user,r=".len() + 24);
        }
        tried.push(name);
        client.handle_input(b"535 5.7.8 no\r\n", now);
        if !events(&mut client).is_empty() {
            break;
        }
        // CRAM-MD5 and LOGIN wait for a challenge; they are refused at once here.
    }
    assert_eq!(
        tried,
        ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]
    );
}

#[test]
fn login_skips_scram_for_a_password_it_cannot_carry() {
    let now = Instant::now();
    let mut client = ready_client(now, "SCRAM-SHA-256 PLAIN");
    client.login("user", "pässword").unwrap();
    let (name, _) = auth_line(&flush(&mut client, now));
    assert_eq!(name, "PLAIN");
}

#[test]
fn success_without_the_server_signature_ends_the_session() {
    let now = Instant::now();
    let mut client = ready_client(now, "SCRAM-SHA-256");
    client.login("user", "pencil").unwrap();
    let (name, first) = auth_line(&flush(&mut client, now));
    assert_eq!(name, "SCRAM-SHA-256");
    // A server-first message that extends the client's nonce; then, instead of `v=`, 235.
    let nonce = std::str::from_utf8(&first[b"n,,n=user,r=".len()..]).unwrap();
    let server_first = format!("r={nonce}xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    let mut line = b"334 ".to_vec();
    smtp_proto::sasl::encode_response(server_first.as_bytes(), &mut line);
    line.extend_from_slice(b"\r\n");
    client.handle_input(&line, now);
    let client_final = flush(&mut client, now);
    let client_final = decode_challenge(client_final.trim_ascii_end()).unwrap();
    assert!(client_final.starts_with(format!("c=biws,r={nonce}xyz,p=").as_bytes()));
    client.handle_input(b"235 2.7.0 ok\r\n", now);
    match events(&mut client).as_slice() {
        [Event::Closed(Some(Error::Sasl(SaslError::ServerNotVerified)))] => {}
        other => panic!("{other:?}"),
    }
    assert!(client.is_closed());
}
