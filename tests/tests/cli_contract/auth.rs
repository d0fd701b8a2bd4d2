//! AUTH: a refused login (exit 5), every mechanism with the secrets redacted from the trace, a
//! mechanism not offered or no AUTH at all (exit 13), hostile challenges, and when AUTH may go
//! over plaintext (loopback, Unix sockets, `--allow-plaintext-auth`).

use std::net::{IpAddr, UdpSocket};
use std::time::Duration;

use smtp_tests::cli::*;
use smtp_tests::server::Server;

// ------------------------------------------------------------------ exit 5 and 13: AUTH

/// 535: exit 5; the message is not sent.
#[test]
fn auth_535_exits_5() {
    each_runtime(|rt| {
        let server = Server::start().expect("server");
        let out = send(
            &addr(&server),
            rt,
            &["--auth-user", "alice", "--auth-pass", "wrong"],
            MSG,
        );
        out.assert_code(5);
        let cmds = commands(&server);
        assert!(
            has_command(&cmds, "AUTH") && !has_command(&cmds, "MAIL"),
            "{cmds:?}"
        );
        assert_eq!(out.json()["reply"][0], 535, "{}", out.what);
    });
}

/// The default mechanism choice and every `--auth-mech` authenticate, and `--trace` shows the
/// session on stderr with every AUTH secret redacted.
#[test]
fn every_mechanism_authenticates_and_trace_redacts_the_secrets() {
    let password = "correct horse";
    let mut secrets = vec![password.to_owned()];
    for raw_secret in [
        "correct horse".to_owned(),
        "\0alice\0correct horse".to_owned(),
        "user=alice\x01auth=Bearer correct horse\x01\x01".to_owned(),
    ] {
        let mut encoded = Vec::new();
        smtp_proto::sasl::encode_response(raw_secret.as_bytes(), &mut encoded);
        secrets.push(String::from_utf8(encoded).expect("base64"));
    }
    for mech in [
        None,
        Some("PLAIN"),
        Some("login"),
        Some("CRAM-MD5"),
        Some("XOAUTH2"),
    ] {
        each_runtime(|rt| {
            let server = Server::start().expect("server");
            let mut extra = vec!["--auth-user", "alice", "--auth-pass", password, "--trace"];
            if let Some(m) = mech {
                extra.extend(["--auth-mech", m]);
            }
            let out = send(&addr(&server), rt, &extra, MSG);
            out.assert_code(0);
            let logs = finished(&server, 1);
            assert_eq!(
                logs[0].authenticated.as_deref(),
                Some("alice"),
                "{}",
                out.what
            );
            let err = &out.stderr;
            assert!(err.contains("C: EHLO"), "{}: {err}", out.what);
            assert!(
                err.contains("C: MAIL FROM:<a@x.org>"),
                "{}: {err}",
                out.what
            );
            for secret in &secrets {
                assert!(
                    !err.contains(secret.as_str()),
                    "{}: {secret:?} in {err}",
                    out.what
                );
            }
            // Between AUTH and its final reply, every client line is redacted.
            let mut in_auth = false;
            for line in err.lines() {
                if line.starts_with("C: AUTH ") {
                    in_auth = true;
                    let words: Vec<&str> = line.split(' ').collect();
                    assert!(
                        words.len() == 3 || words.get(3) == Some(&"<redacted>"),
                        "{}: {line}",
                        out.what
                    );
                } else if in_auth && line.starts_with("S: 235") {
                    in_auth = false;
                } else if in_auth && line.starts_with("C: ") {
                    assert_eq!(line, "C: <redacted>", "{}", out.what);
                }
            }
            assert!(!out.stdout.contains("C: "), "{}: trace on stdout", out.what);
        });
    }
}

/// AUTH keywords and mechanism names are compared case-insensitively; `AUTH=` alone works.
#[test]
fn auth_keywords_are_case_insensitive_and_the_old_equals_form_is_accepted() {
    for ehlo in [
        &b"250-mx.test\r\n250 auth plain\r\n"[..],
        b"250-mx.test\r\n250 Auth LoGiN\r\n",
        b"250-mx.test\r\n250 AUTH=PLAIN\r\n",
        b"250-mx.test\r\n250 AUTH=LOGIN\r\n",
    ] {
        each_runtime(|rt| {
            let server = raw(move |c| {
                c.send(b"220 mx.test\r\n");
                c.expect("EHLO");
                c.send(ehlo);
                let auth = c.expect("AUTH ");
                if auth.to_ascii_uppercase().starts_with("AUTH LOGIN") {
                    if auth.split(' ').count() < 3 {
                        c.send(b"334 VXNlcm5hbWU6\r\n");
                        c.line();
                    }
                    c.send(b"334 UGFzc3dvcmQ6\r\n");
                    c.line();
                }
                c.send(b"235 2.7.0 ok\r\n");
                c.serve(ehlo);
            });
            let out = send(
                &server.addr,
                rt,
                &["--auth-user", "u", "--auth-pass", "p"],
                MSG,
            );
            out.assert_code(0);
            let seen = server.seen();
            assert!(
                seen.contains("\r\nMAIL FROM:<a@x.org>"),
                "{}: {seen:?}",
                out.what
            );
        });
    }
}

/// The requested mechanism not offered: 5 or 13, never a fall-back to another (no AUTH sent).
#[test]
fn a_requested_mechanism_that_is_not_offered_is_never_replaced() {
    each_runtime(|rt| {
        let server = Server::builder()
            .extensions(&["PIPELINING", "AUTH LOGIN"])
            .start()
            .expect("server");
        let out = send(
            &addr(&server),
            rt,
            &[
                "--auth-user",
                "alice",
                "--auth-pass",
                "correct horse",
                "--auth-mech",
                "PLAIN",
            ],
            MSG,
        );
        out.assert_code_in(&[5, 13]);
        let cmds = commands(&server);
        assert!(
            !has_command(&cmds, "AUTH") && !has_command(&cmds, "MAIL"),
            "{cmds:?}"
        );
    });
}

/// AUTH not offered: 13, nothing sent but EHLO (and QUIT).
#[test]
fn auth_not_offered_exits_13() {
    each_runtime(|rt| {
        let server = Server::builder()
            .extensions(&["PIPELINING", "8BITMIME"])
            .start()
            .expect("server");
        let out = send(
            &addr(&server),
            rt,
            &["--auth-user", "u", "--auth-pass", "p"],
            MSG,
        );
        out.assert_code(13);
        let cmds = commands(&server);
        assert!(
            !has_command(&cmds, "AUTH") && !has_command(&cmds, "MAIL"),
            "{cmds:?}"
        );
    });
}

/// A challenge that is not valid base64: the exchange is abandoned without a response line
/// (any line would be taken as the answer), and the run fails.
#[test]
fn a_challenge_that_is_not_base64_is_not_answered() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(b"250-mx.test\r\n250 AUTH LOGIN\r\n");
            c.expect("AUTH LOGIN");
            c.send(b"334 %%% not base64 %%%\r\n");
        });
        let out = send(
            &server.addr,
            rt,
            &["--auth-user", "u", "--auth-pass", "p"],
            MSG,
        );
        out.assert_code_in(&[5, 10]);
        let seen = server.seen();
        assert_eq!(after(&seen, "AUTH LOGIN"), "", "{}: {seen:?}", out.what);
    });
}

/// Endless 334s: the client gives up after a few rounds, quickly.
#[test]
fn endless_334_challenges_are_given_up() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(b"250-mx.test\r\n250 AUTH LOGIN\r\n");
            c.expect("AUTH");
            for _ in 0..1000 {
                c.send(b"334 VXNlcm5hbWU6\r\n");
                if c.line().is_none() {
                    return;
                }
            }
            panic!("the client answered 1000 challenges");
        });
        let out = send(
            &server.addr,
            rt,
            &["--auth-user", "u", "--auth-pass", "p"],
            MSG,
        );
        out.assert_code_in(&[5, 10]);
        out.assert_within(Duration::from_secs(5));
        let seen = server.seen();
        assert!(!seen.contains("MAIL"), "{}: {seen:?}", out.what);
    });
}

/// A local address that is not loopback, if this host has one.
fn non_loopback_ip() -> Option<IpAddr> {
    ["192.0.2.1:9", "198.51.100.1:9", "8.8.8.8:53"]
        .into_iter()
        .find_map(|peer| {
            let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
            socket.connect(peer).ok()?;
            let ip = socket.local_addr().ok()?.ip();
            (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
        })
}

/// AUTH without TLS to a non-loopback server: 13 before any credential is sent, unless
/// `--allow-plaintext-auth`.
#[test]
fn auth_without_tls_needs_loopback_or_allow_plaintext_auth() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address on this host: skipped");
        return;
    };
    let ehlo = b"250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n";
    each_runtime(|rt| {
        let server = raw_on(ip, move |c| {
            c.send(b"220 mx.test\r\n");
            c.serve(ehlo);
        });
        let creds = ["--auth-user", "u", "--auth-pass", "sekrit"];
        let out = send(&server.addr, rt, &creds, MSG);
        out.assert_code(13);
        let seen = server.seen();
        assert!(!seen.contains("AUTH"), "{}: {seen:?}", out.what);

        let server = raw_on(ip, move |c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(ehlo);
            c.expect("AUTH PLAIN");
            c.send(b"235 ok\r\n");
            c.serve(ehlo);
        });
        let mut extra = creds.to_vec();
        extra.push("--allow-plaintext-auth");
        send(&server.addr, rt, &extra, MSG).assert_code(0);
        server.seen();
    });
}

/// AUTH under TLS to a non-loopback server is allowed (the rule is about plaintext).
#[test]
fn auth_under_tls_to_a_non_loopback_server_is_allowed() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address on this host: skipped");
        return;
    };
    each_runtime(|rt| {
        let server = raw_on(ip, |c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(b"250-mx.test\r\n250 STARTTLS\r\n");
            c.expect("STARTTLS");
            c.send(b"220 go ahead\r\n");
            c.tls();
            c.expect("EHLO");
            c.send(b"250-mx.test\r\n250 AUTH PLAIN\r\n");
            c.expect("AUTH PLAIN ");
            c.send(b"235 ok\r\n");
            c.serve(b"250 mx.test\r\n");
        });
        let extra = [
            "--auth-user",
            "u",
            "--auth-pass",
            "p",
            "--tls",
            "starttls-required",
            "--insecure",
        ];
        send(&server.addr, rt, &extra, MSG).assert_code(0);
        server.seen();
    });
}

/// AUTH over a Unix socket counts as local.
#[cfg(unix)]
#[test]
fn auth_over_a_unix_socket_is_allowed() {
    each_runtime(|rt| {
        let path = smtp_tests::matrix::scenarios::unique_socket_path(&format!("cli-auth-{rt}"));
        let server = Server::builder().unix(&path).start().expect("server");
        let out = send(
            path.to_str().expect("path"),
            rt,
            &["--auth-user", "alice", "--auth-pass", "correct horse"],
            MSG,
        );
        out.assert_code(0);
        let logs = finished(&server, 1);
        assert_eq!(logs[0].authenticated.as_deref(), Some("alice"));
        assert_eq!(logs[0].messages.len(), 1);
    });
}
