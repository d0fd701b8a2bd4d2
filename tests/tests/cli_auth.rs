//! `smtp-send` with SCRAM-SHA-256 against a scripted server that computes the server side of
//! RFC 5802 / RFC 7677 itself: it checks the client's proof and sends its own signature. A
//! right signature ends in exit 0 on every runtime; a wrong one is an authentication failure
//! (exit 5), with no mail sent.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use smtp_proto::sasl::{decode_challenge, encode_response};
use smtp_tests::cli::{each_runtime, raw, send, RawConn, MSG};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse";
const SALT: &[u8] = b"scripted salt";
const ITERATIONS: u32 = 4096;
const EHLO: &[u8] = b"250-mx.test\r\n250 AUTH PLAIN LOGIN SCRAM-SHA-256\r\n";

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `Hi()` of RFC 5802 §2.2: PBKDF2-HMAC-SHA-256, one block.
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut u = hmac(password, &[salt, &1u32.to_be_bytes()].concat());
    let mut result = u.clone();
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (r, x) in result.iter_mut().zip(&u) {
            *r ^= x;
        }
    }
    result
}

fn b64(raw: &[u8]) -> String {
    let mut out = Vec::new();
    encode_response(raw, &mut out);
    String::from_utf8(out).expect("base64")
}

/// Reads one base64 client line and decodes it.
fn client_message(c: &mut RawConn) -> String {
    let line = c.line().expect("a client line");
    let raw = decode_challenge(line.as_bytes()).expect("client sends base64");
    String::from_utf8(raw).expect("SCRAM messages are UTF-8")
}

/// The server side of SCRAM-SHA-256 after `AUTH SCRAM-SHA-256 <client-first>`. Checks the
/// client's proof, then sends `v=` (spoiled when `honest` is false). Returns whether the
/// client's proof was right.
fn scram_server(c: &mut RawConn, honest: bool) -> bool {
    let auth = c.expect("AUTH SCRAM-SHA-256 ");
    let first = decode_challenge(&auth.as_bytes()["AUTH SCRAM-SHA-256 ".len()..]).expect("IR");
    let first = String::from_utf8(first).expect("UTF-8");
    let bare = first.strip_prefix("n,,").expect("GS2 header n,,");
    let client_nonce = bare
        .strip_prefix(&format!("n={USER},r="))
        .expect("n=user,r=nonce");
    assert!(!client_nonce.is_empty() && !client_nonce.contains(','));

    let server_first = format!(
        "r={client_nonce}3rfcNHYJY1ZVvWVs7j,s={},i={ITERATIONS}",
        b64(SALT)
    );
    c.send(format!("334 {}\r\n", b64(server_first.as_bytes())).as_bytes());

    let last = client_message(c);
    let (without_proof, proof) = last.rsplit_once(",p=").expect("p= last");
    assert_eq!(
        without_proof,
        format!("c=biws,r={client_nonce}3rfcNHYJY1ZVvWVs7j")
    );
    let proof = decode_challenge(proof.as_bytes()).expect("proof in base64");
    let auth_message = format!("{bare},{server_first},{without_proof}");

    let salted = hi(PASSWORD.as_bytes(), SALT, ITERATIONS);
    let stored_key = Sha256::digest(hmac(&salted, b"Client Key"));
    let client_signature = hmac(&stored_key, auth_message.as_bytes());
    let client_key: Vec<u8> = proof
        .iter()
        .zip(&client_signature)
        .map(|(p, s)| p ^ s)
        .collect();
    let proof_ok = Sha256::digest(&client_key) == stored_key;
    if !proof_ok {
        c.send(b"535 5.7.8 bad proof\r\n");
        return false;
    }
    let mut signature = hmac(&hmac(&salted, b"Server Key"), auth_message.as_bytes());
    if !honest {
        signature[0] ^= 1;
    }
    let server_final = format!("v={}", b64(&signature));
    c.send(format!("334 {}\r\n", b64(server_final.as_bytes())).as_bytes());
    if honest {
        assert_eq!(c.line().as_deref(), Some(""), "an empty response to v=");
        c.send(b"235 2.7.0 ok\r\n");
    }
    true
}

fn auth_flags(mech: Option<&'static str>) -> Vec<&'static str> {
    let mut flags = vec!["--auth-user", USER, "--auth-pass", PASSWORD];
    if let Some(mech) = mech {
        flags.extend(["--auth-mech", mech]);
    }
    flags
}

/// `--auth-mech SCRAM-SHA-256` (any case), and `login()`'s own choice when SCRAM-SHA-256 is
/// offered: the proof checks out, the signature is accepted, the mail goes: exit 0.
#[test]
fn scram_sha_256_authenticates_and_sends() {
    for mech in [Some("SCRAM-SHA-256"), Some("scram-sha-256"), None] {
        each_runtime(|rt| {
            let server = raw(|c| {
                c.send(b"220 mx.test ESMTP\r\n");
                c.expect("EHLO");
                c.send(EHLO);
                assert!(scram_server(c, true), "the client's proof is wrong");
                c.serve(EHLO);
            });
            let out = send(&server.addr, rt, &auth_flags(mech), MSG);
            out.assert_code(0);
            let seen = server.seen();
            assert!(seen.contains("MAIL FROM:<a@x.org>"), "{seen:?}");
        });
    }
}

/// A server whose `v=` is wrong has not proved it knows the password: authentication failed
/// (exit 5), and the client neither answers it nor sends any mail.
#[test]
fn a_wrong_server_signature_is_exit_5() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test ESMTP\r\n");
            c.expect("EHLO");
            c.send(EHLO);
            assert!(scram_server(c, false), "the client's proof is wrong");
            c.serve(EHLO);
        });
        let out = send(&server.addr, rt, &auth_flags(Some("SCRAM-SHA-256")), MSG);
        out.assert_code(5);
        let seen = server.seen();
        // EHLO, AUTH with the client-first message, the client-final message; then nothing.
        let lines: Vec<&str> = seen.lines().collect();
        assert_eq!(lines.len(), 3, "{seen:?}");
        assert!(lines[1].starts_with("AUTH SCRAM-SHA-256 "), "{seen:?}");
    });
}
