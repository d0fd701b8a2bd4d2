//! Black-box tests of the `smtp-send` binary against its contract (flags, exit codes, behaviour).
//!
//! The real executable (`cargo build --example smtp-send`, built once per test run) runs as a
//! subprocess under every `--runtime`, against scripted servers: the test server of
//! [`smtp_tests::server`], or a byte-level script ([`raw`]) for hostile replies. Every case checks
//! the exit code, the `--json` summary (its last line is valid JSON, `ok` is true exactly when the
//! exit code is 0, `refused` maps addresses to `[code, "text"]`) and, where the contract says
//! so, what the server saw.

use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::Duration;

use smtp_tests::cli::*;
use smtp_tests::server::{localhost_acceptor, wrong_host_acceptor, Action, Server, Trigger};
// ------------------------------------------------------------------ exit 2: usage

/// Every usage error exits 2 before connecting (the listener never sees a connection), under
/// every runtime, with a `--json` summary.
#[test]
fn usage_errors_exit_2_before_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let server = listener.local_addr().expect("addr").to_string();
    let s = server.as_str();
    let missing_file = std::env::temp_dir().join("smtp-send-no-such-file.eml");
    let missing = missing_file.to_str().expect("path");
    let base = ["--server", s, "--from", "a@x.org", "--to", "b@y.org"];
    let with = |extra: &[&'static str]| [&base[..], extra].concat();
    let cases: Vec<Vec<&str>> = vec![
        vec!["--from", "a@x.org", "--to", "b@y.org"],
        vec!["--server", s, "--to", "b@y.org"],
        vec!["--server", s, "--from", "a@x.org"],
        vec![
            "--server",
            s,
            "--from",
            "a@x.org\r\nRSET",
            "--to",
            "b@y.org",
        ],
        vec!["--server", s, "--from", "a@x.org\r", "--to", "b@y.org"],
        vec!["--server", s, "--from", "a@x.org", "--to", "b@y.org\n"],
        vec![
            "--server",
            s,
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--to",
            "c@y\r\n.org",
        ],
        with(&["--helo", "x\ny"]),
        with(&["--helo", "x\ry"]),
        with(&["--auth-user", "u"]),
        with(&["--auth-pass", "p"]),
        with(&["--auth-user", "u\r\n", "--auth-pass", "p"]),
        with(&[
            "--auth-user",
            "u",
            "--auth-pass",
            "p",
            "--auth-mech",
            "GSSAPI",
        ]),
        with(&[
            "--auth-user",
            "u\x01",
            "--auth-pass",
            "p",
            "--auth-mech",
            "XOAUTH2",
        ]),
        with(&["--bogus"]),
        with(&["--tls", "sometimes"]),
        with(&["--runtime", "tokio"]),
        with(&["--timeout", "0"]),
        with(&["--timeout", "-1"]),
        with(&["--timeout", "soon"]),
        with(&["--count", "0"]),
        with(&["--count", "-3"]),
        with(&["--count", "many"]),
        [&base[..], &["--data", missing]].concat(),
        with(&["--server"]),
    ];
    each_runtime(|rt| {
        for case in &cases {
            // The case's own flags come last, so they win (and `--server` can lack its value).
            let args = [&["--json", "--timeout", "3", "--runtime", rt][..], case].concat();
            let out = smtp_send(&args, MSG);
            out.assert_code(2);
            assert!(!out.stderr.is_empty(), "{}: no message", out.what);
        }
    });
    assert!(
        listener.accept().is_err(),
        "a usage error connected to the server"
    );
}

// ------------------------------------------------------------------ exit 3: connect, greeting

#[test]
fn connection_refused_exits_3() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let target = format!("127.0.0.1:{port}");
    each_runtime(|rt| send(&target, rt, &[], MSG).assert_code(3));
}

/// Greeting 421 or 554: exit 3, and nothing but QUIT is sent.
#[test]
fn greeting_not_220_exits_3_and_only_quit_is_sent() {
    for greeting in [
        &b"421 4.3.2 busy\r\n"[..],
        b"554 5.7.1 go away\r\n",
        b"554-no\r\n554 never\r\n",
        // Well-formed, any other class: a refused greeting too, never "malformed" (10).
        b"354 go ahead\r\n",
        b"334 VXNlcm5hbWU6\r\n",
        b"250 hello\r\n",
        b"452 later\r\n",
    ] {
        each_runtime(|rt| {
            let server = raw(move |c| {
                c.send(greeting);
                if c.line().is_some_and(|l| l == "QUIT") {
                    c.send(b"221 bye\r\n");
                }
                c.close();
            });
            let out = send(&server.addr, rt, &[], MSG);
            out.assert_code(3);
            let seen = server.seen();
            assert!(
                seen.is_empty() || seen == "QUIT\r\n",
                "{}: sent {seen:?}",
                out.what
            );
        });
    }
}

/// A refused greeting stays 3 however the server treats the QUIT that follows: unanswered (the
/// wait for its reply times out) or answered with garbage.
#[test]
fn greeting_554_exits_3_whatever_happens_to_quit() {
    for quit_reply in [None, Some(&b"garbage\r\n"[..])] {
        each_runtime(|rt| {
            let server = raw(move |c| {
                c.send(b"554 5.7.1 go away\r\n");
                c.expect("QUIT");
                if let Some(reply) = quit_reply {
                    c.send(reply);
                }
            });
            let out = send(&server.addr, rt, &["--timeout", "1"], MSG);
            out.assert_code(3);
            server.seen();
        });
    }
}

/// The same for the other errors that end the session with a polite QUIT: STARTTLS required
/// but not offered stays 13 when QUIT is not answered.
#[test]
fn starttls_required_not_offered_exits_13_when_quit_is_unanswered() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(EHLO_PLAIN);
            c.expect("QUIT");
        });
        let out = send(
            &server.addr,
            rt,
            &["--timeout", "1", "--tls", "starttls-required"],
            MSG,
        );
        out.assert_code(13);
        server.seen();
    });
}

// ------------------------------------------------------------------ exit 4: hello

/// 421 to EHLO: exit 4 without trying HELO.
#[test]
fn ehlo_421_exits_4_without_helo() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(b"421 4.3.2 shutting down\r\n");
        });
        let out = send(&server.addr, rt, &[], MSG);
        out.assert_code(4);
        let seen = server.seen();
        assert!(!seen.contains("HELO "), "{}: {seen:?}", out.what);
        assert!(!seen.contains("MAIL"), "{}: {seen:?}", out.what);
    });
}

/// EHLO refused with 5xx: HELO, then no ESMTP parameter (no SIZE=, no BODY=) on MAIL.
#[test]
fn ehlo_5xx_falls_back_to_helo_without_esmtp_parameters() {
    for refusal in [
        &b"500 5.5.1 what?\r\n"[..],
        b"502 5.5.2 not implemented\r\n",
        b"550 no\r\n",
    ] {
        each_runtime(|rt| {
            let server = raw(move |c| {
                c.send(b"220 mx.test\r\n");
                c.expect("EHLO");
                c.send(refusal);
                c.expect("HELO ");
                c.send(b"250 mx.test\r\n");
                c.serve(b"");
            });
            let out = send(&server.addr, rt, &[], MSG);
            out.assert_code(0);
            let seen = server.seen();
            assert!(
                seen.contains("\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\n"),
                "{}: {seen:?}",
                out.what
            );
        });
    }
}

/// After a HELO fall-back nothing is offered: an 8-bit body is 13 and never sent.
#[test]
fn after_helo_an_8bit_body_exits_13_unsent() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(b"502 no\r\n");
            c.expect("HELO");
            c.send(b"250 mx.test\r\n");
            c.serve(b"");
        });
        let out = send(
            &server.addr,
            rt,
            &[],
            "Subject: é\r\n\r\nGrüße\r\n".as_bytes(),
        );
        out.assert_code(13);
        let seen = server.seen();
        assert!(!seen.contains("MAIL"), "{}: {seen:?}", out.what);
    });
}

#[test]
fn ehlo_and_helo_refused_exit_4() {
    each_runtime(|rt| {
        let server = Server::builder()
            .on(Trigger::command("EHLO"), Action::reply("502 5.5.2 no"))
            .on(Trigger::command("HELO"), Action::reply("550 5.7.1 no"))
            .start()
            .expect("server");
        send(&addr(&server), rt, &[], MSG).assert_code(4);
        assert!(!has_command(&commands(&server), "MAIL"));
    });
}

#[test]
fn lhlo_refused_exits_4() {
    each_runtime(|rt| {
        let server = Server::builder()
            .lmtp()
            .on(Trigger::command("LHLO"), Action::reply("550 5.7.1 no"))
            .start()
            .expect("server");
        send(&addr(&server), rt, &["--lmtp"], MSG).assert_code(4);
        let cmds = commands(&server);
        assert!(
            !has_command(&cmds, "MAIL") && !has_command(&cmds, "HELO"),
            "{cmds:?}"
        );
    });
}

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

// ------------------------------------------------------------------ exit 6, 7, 8

/// MAIL refused (550, or 421): 6; no message content is delivered.
#[test]
fn sender_refused_exits_6() {
    for reply in ["550 5.7.1 not you", "421 4.3.2 closing"] {
        each_runtime(|rt| {
            let server = Server::builder()
                .on(Trigger::command("MAIL"), Action::reply(reply))
                .start()
                .expect("server");
            let out = send(&addr(&server), rt, &[], MSG);
            out.assert_code(6);
            assert!(server.messages().is_empty());
            assert_eq!(
                out.json()["reply"][0].as_u64(),
                reply[..3].parse::<u64>().ok()
            );
        });
    }
}

/// Every recipient refused, pipelined DATA answered 354: no body, RSET, then 7; both refusals
/// are in `refused`.
#[test]
fn all_recipients_refused_with_a_pipelined_354_sends_no_body_then_rset_and_exits_7() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(EHLO_PIPELINING);
            c.expect("MAIL");
            c.send(b"250 ok\r\n");
            c.expect("RCPT TO:<b@");
            c.send(b"550 5.1.1 no b\r\n");
            c.expect("RCPT TO:<c@");
            c.send(b"551 5.1.6 no c\r\n");
            c.expect("DATA");
            c.send(b"354 go ahead\r\n");
            // Whatever the client does now, it must not be the body.
            c.serve(EHLO_PIPELINING);
        });
        let out = send(&server.addr, rt, &["--to", "c@y.org"], MSG);
        out.assert_code(7);
        assert_eq!(
            out.refused("b@y.org").map(|r| r.0),
            Some(550),
            "{}",
            out.what
        );
        assert_eq!(
            out.refused("c@y.org").map(|r| r.0),
            Some(551),
            "{}",
            out.what
        );
        let seen = server.seen();
        let rest = after(&seen, "DATA");
        assert!(
            rest == "RSET\r\nQUIT\r\n" || rest == ".\r\nRSET\r\nQUIT\r\n",
            "{}: after DATA: {rest:?}",
            out.what
        );
    });
}

/// Without PIPELINING: no DATA at all, RSET, then 7.
#[test]
fn all_recipients_refused_in_lockstep_rset_then_7() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(EHLO_PLAIN);
            c.expect("MAIL");
            c.send(b"250 ok\r\n");
            c.expect("RCPT");
            c.send(b"550 5.1.1 no\r\n");
            c.serve(EHLO_PLAIN);
        });
        let out = send(&server.addr, rt, &[], MSG);
        out.assert_code(7);
        assert_eq!(out.refused("b@y.org").map(|r| r.0), Some(550));
        let seen = server.seen();
        assert_eq!(after(&seen, "RCPT"), "RSET\r\nQUIT\r\n", "{}", out.what);
    });
}

/// Some recipients refused: 0, the refused ones in `refused`; the message reaches the others.
#[test]
fn some_recipients_refused_exits_0_and_lists_them() {
    each_runtime(|rt| {
        let server = Server::builder()
            .on(
                Trigger::command("RCPT TO:<bad"),
                Action::reply("550 5.1.1 unknown"),
            )
            .start()
            .expect("server");
        let out = send(
            &addr(&server),
            rt,
            &["--to", "bad@y.org", "--to", "c@y.org"],
            MSG,
        );
        out.assert_code(0);
        assert_eq!(
            out.refused("bad@y.org"),
            Some((550, "5.1.1 unknown".to_owned()))
        );
        assert_eq!(out.json()["refused"].as_object().map(|m| m.len()), Some(1));
        let messages = server.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].recipients(), ["b@y.org", "c@y.org"]);
    });
}

/// Starts a scripted test server.
type StartServer = fn() -> Server;

/// DATA refused, the final reply refused, BDAT refused: 8.
#[test]
fn data_refusals_exit_8() {
    let cases: [(&str, StartServer); 3] = [
        ("DATA 554", || {
            Server::builder()
                .on(Trigger::command("DATA"), Action::reply("554 5.5.1 no data"))
                .start()
                .expect("server")
        }),
        ("final 554", || {
            Server::builder()
                .on(Trigger::DataEnd, Action::reply("554 5.7.1 spam"))
                .start()
                .expect("server")
        }),
        ("final 451", || {
            Server::builder()
                .on(Trigger::DataEnd, Action::reply("451 4.3.0 try later"))
                .start()
                .expect("server")
        }),
    ];
    for (name, start) in cases {
        each_runtime(|rt| {
            let server = start();
            let out = send(&addr(&server), rt, &[], MSG);
            assert_eq!(out.code, 8, "{name}: {} {}", out.what, out.stderr);
            assert!(
                out.json()["reply"][0].as_u64().is_some_and(|c| c >= 400),
                "{name}"
            );
        });
    }
    // BDAT refused (the server reads the chunk, then refuses it).
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(b"250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
            c.expect("MAIL");
            c.expect("RCPT");
            c.send(b"250 ok\r\n250 ok\r\n");
            let bdat = c.expect("BDAT ");
            let size = bdat.split(' ').nth(1).and_then(|n| n.parse().ok());
            c.take(size.expect("BDAT size"));
            c.send(b"552 5.3.4 too big\r\n");
            c.serve(b"250 mx.test\r\n");
        });
        let out = send(&server.addr, rt, &[], MSG);
        out.assert_code(8);
        assert_eq!(out.json()["reply"][0], 552, "{}", out.what);
        let seen = server.seen();
        assert!(seen.ends_with("RSET\r\nQUIT\r\n"), "{}: {seen:?}", out.what);
    });
}

// ------------------------------------------------------------------ exit 9: closed

/// The final reply cut off by EOF is never success: 9.
#[test]
fn a_final_reply_cut_off_by_eof_exits_9() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(EHLO_PIPELINING);
            c.expect("MAIL");
            c.expect("RCPT");
            c.expect("DATA");
            c.send(b"250 ok\r\n250 ok\r\n354 go\r\n");
            c.data();
            c.send(b"250 2.0.0 queued");
            c.close();
        });
        let out = send(&server.addr, rt, &[], MSG);
        out.assert_code(9);
        assert_eq!(out.json()["sent"], 0, "{}", out.what);
        server.seen();
    });
}

/// The server closes at RCPT, or after TLS at MAIL: 9.
#[test]
fn the_server_closing_mid_session_exits_9() {
    each_runtime(|rt| {
        let server = Server::builder()
            .on(Trigger::command("RCPT"), Action::Close)
            .start()
            .expect("server");
        send(&addr(&server), rt, &[], MSG).assert_code(9);

        let server = Server::builder()
            .starttls(localhost_acceptor())
            .on(Trigger::command("MAIL"), Action::Close)
            .start()
            .expect("server");
        let out = send(
            &addr(&server),
            rt,
            &["--tls", "starttls-required", "--insecure"],
            MSG,
        );
        out.assert_code(9);
        assert!(finished(&server, 1)[0].tls);

        let server = Server::builder()
            .implicit_tls(localhost_acceptor())
            .on(
                Trigger::DataEnd,
                Action::ReplyAndClose(b"250 queued".to_vec()),
            )
            .start()
            .expect("server");
        let out = send(
            &addr(&server),
            rt,
            &["--tls", "implicit", "--insecure"],
            MSG,
        );
        out.assert_code(9);
    });
}

/// A connection reset while saying EHLO is "closed unexpectedly", not "could not connect".
#[test]
fn a_reset_after_the_greeting_exits_9() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            // Closing with the EHLO unread makes the kernel send RST.
            thread::sleep(Duration::from_millis(300));
            c.stream = RawStream::Gone;
        });
        let out = send(&server.addr, rt, &[], MSG);
        out.assert_code(9);
        server.seen();
    });
}

// ------------------------------------------------------------------ exit 10: malformed

/// A malformed reply anywhere: 10 in bounded memory (it ends quickly), and nothing more of the
/// transaction is sent (QUIT allowed).
#[test]
fn malformed_replies_exit_10_and_nothing_more_is_sent() {
    let long_line = [b"250 ".to_vec(), vec![b'a'; 9000], b"\r\n".to_vec()].concat();
    let many_lines = [b"250-x\r\n".repeat(600), b"250 y\r\n".to_vec()].concat();
    let cases: Vec<Vec<u8>> = vec![
        b"250x ok\r\n".to_vec(),
        b"2500 ok\r\n".to_vec(),
        b"25 ok\r\n".to_vec(),
        b"099 ok\r\n".to_vec(),
        b"199 ok\r\n".to_vec(),
        b"600 ok\r\n".to_vec(),
        b"abc ok\r\n".to_vec(),
        b"250-a\r\n251 b\r\n".to_vec(),
        b"250-a\r\n550 b\r\n".to_vec(),
        long_line,
        many_lines,
    ];
    for reply in &cases {
        // In lockstep (no PIPELINING): after the malformed reply to MAIL, only QUIT may follow.
        each_runtime(|rt| {
            let reply = reply.clone();
            let server = raw(move |c| {
                c.send(b"220 mx.test\r\n");
                c.expect("EHLO");
                c.send(EHLO_PLAIN);
                c.expect("MAIL");
                c.send(&reply);
            });
            let out = send(&server.addr, rt, &[], MSG);
            out.assert_code(10);
            let seen = server.seen();
            let rest = after(&seen, "MAIL");
            assert!(
                rest.is_empty() || rest == "QUIT\r\n",
                "{}: {rest:?}",
                out.what
            );
        });
        // Pipelined, malformed at RCPT: the body is never sent.
        each_runtime(|rt| {
            let reply = reply.clone();
            let server = raw(move |c| {
                c.send(b"220 mx.test\r\n");
                c.expect("EHLO");
                c.send(EHLO_PIPELINING);
                c.expect("MAIL");
                c.send(b"250 ok\r\n");
                c.expect("RCPT");
                c.send(&reply);
                c.send(b"354 go ahead\r\n");
            });
            let out = send(&server.addr, rt, &[], MSG);
            out.assert_code(10);
            let seen = server.seen();
            assert!(
                !seen.contains("Subject"),
                "{}: body sent: {seen:?}",
                out.what
            );
            let rest = after(&seen, "DATA");
            assert!(
                rest.is_empty() || rest == "QUIT\r\n",
                "{}: {rest:?}",
                out.what
            );
        });
    }
}

/// Malformed greetings and EHLO replies are 10 as well.
#[test]
fn malformed_greeting_or_ehlo_reply_exits_10() {
    each_runtime(|rt| {
        let server = raw(|c| c.send(b"220-mx.test\r\n221 other\r\n"));
        let out = send(&server.addr, rt, &[], MSG);
        out.assert_code(10);
        let seen = server.seen();
        assert!(seen.is_empty() || seen == "QUIT\r\n", "{seen:?}");

        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(b"250-mx.test\r\n250+PIPELINING\r\n");
        });
        send(&server.addr, rt, &[], MSG).assert_code(10);
        let seen = server.seen();
        assert!(!seen.contains("MAIL"), "{seen:?}");
    });
}

/// Endless replies (a line without end, endless continuation lines) stop at the limits: 10,
/// within a few seconds.
#[test]
fn endless_replies_exit_10_in_bounded_time() {
    for flood in [b"a".repeat(4096), b"250-more\r\n".repeat(100)] {
        each_runtime(|rt| {
            let server = Server::builder()
                .on(Trigger::command("MAIL"), Action::Flood(flood.clone()))
                .start()
                .expect("server");
            let out = send(&addr(&server), rt, &[], MSG);
            out.assert_code(10);
            out.assert_within(Duration::from_secs(5));
            assert!(server.messages().is_empty());
        });
    }
}

// ------------------------------------------------------------------ tolerated replies

/// Bare-LF line ends and replies that are just a code are tolerated.
#[test]
fn bare_lf_replies_and_bare_codes_are_tolerated() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\n");
            c.expect("EHLO");
            c.send(b"250-mx.test\n250-PIPELINING\n250 8BITMIME\n");
            c.expect("MAIL");
            c.send(b"250\r\n");
            c.expect("RCPT");
            c.send(b"250\n");
            c.expect("DATA");
            c.send(b"354\n");
            c.data();
            c.send(b"250\n");
            c.expect("QUIT");
            c.send(b"221\n");
        });
        let out = send(&server.addr, rt, &[], MSG);
        out.assert_code(0);
        assert_eq!(out.json()["sent"], 1);
        let seen = server.seen();
        assert!(seen.ends_with("Hello\r\n.\r\nQUIT\r\n"), "{seen:?}");
    });
}

/// The message accepted, then QUIT unanswered or the connection dropped: 0.
#[test]
fn quit_unanswered_or_dropped_after_acceptance_exits_0() {
    for action in [
        Action::Hang,
        Action::Close,
        Action::ReplyAndClose(b"221".to_vec()),
    ] {
        each_runtime(|rt| {
            let server = Server::builder()
                .on(Trigger::command("QUIT"), action.clone())
                .start()
                .expect("server");
            let out = send(&addr(&server), rt, &["--timeout", "1"], MSG);
            out.assert_code(0);
            out.assert_within(Duration::from_secs(5));
            assert_eq!(server.messages().len(), 1);
        });
    }
}

// ------------------------------------------------------------------ --json

/// Reply texts with invalid UTF-8, quotes, backslashes and control bytes: the summary is still
/// one valid JSON line, texts kept (invalid bytes replaced).
#[test]
fn json_stays_valid_whatever_bytes_the_texts_hold() {
    let hostile: &[u8] =
        b"5.1.1 \xff\xfe\xc3 \"quoted\" back\\slash \x00nul \x1b[31mred\x7f\ttab \x01";
    each_runtime(|rt| {
        let server = raw(move |c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(EHLO_PIPELINING);
            c.expect("MAIL");
            c.send(b"250 ok\r\n");
            c.expect("RCPT TO:<b@");
            c.send(
                &[
                    b"550-".as_slice(),
                    hostile,
                    b"\r\n550 5.1.1 \"second\" line\r\n",
                ]
                .concat(),
            );
            c.expect("RCPT TO:<c@");
            c.send(b"250 ok\r\n");
            c.serve(EHLO_PIPELINING);
        });
        let out = send(&server.addr, rt, &["--to", "c@y.org"], MSG);
        out.assert_code(0);
        let (code, text) = out.refused("b@y.org").expect("b refused");
        assert_eq!(code, 550);
        for part in [
            "\"quoted\"",
            "back\\slash",
            "\u{0}nul",
            "\u{1b}[31m",
            "\t",
            "\u{fffd}",
            "\"second\"",
        ] {
            assert!(
                text.contains(part),
                "{}: {part:?} not in {text:?}",
                out.what
            );
        }
        server.seen();

        // The same bytes in a refusal that fails the run (exit 6) and in the error text.
        let server = raw(move |c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(EHLO_PLAIN);
            c.expect("MAIL");
            c.send(&[b"553 ".as_slice(), hostile, b"\r\n"].concat());
            c.serve(EHLO_PLAIN);
        });
        let out = send(&server.addr, rt, &[], MSG);
        out.assert_code(6);
        assert_eq!(out.json()["reply"][0], 553);
        server.seen();
    });
}

/// Without `--json`, standard output has no JSON summary; with it, the summary is the last
/// line even with `--trace` (which goes to standard error).
#[test]
fn json_is_the_last_line_only_when_asked() {
    each_runtime(|rt| {
        let server = Server::start().expect("server");
        let a = addr(&server);
        let out = smtp_send(
            &[
                "--server",
                &a,
                "--runtime",
                rt,
                "--from",
                "a@x.org",
                "--to",
                "b@y.org",
            ],
            MSG,
        );
        out.assert_code(0);
        assert!(
            !out.stdout.lines().any(|l| l.starts_with('{')),
            "{}: {}",
            out.what,
            out.stdout
        );
        let out = send(&a, rt, &["--trace", "--count", "2"], MSG);
        out.assert_code(0);
        assert_eq!(out.json()["sent"], 2);
        assert!(out.stderr.contains("S: 220"), "{}", out.stderr);
    });
}

/// A server's control bytes (ESC, BEL, CR) never reach the terminal raw: `--trace`, the
/// per-message lines and the error message show them escaped.
#[test]
fn control_bytes_from_the_server_are_escaped_on_the_terminal() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test \x1b]0;title\x07\r\n");
            c.expect("EHLO");
            c.send(b"250-mx.test\r\n250 PIPELINING\r\n");
            c.expect("MAIL");
            c.expect("RCPT");
            c.expect("DATA");
            c.send(b"250 ok\r\n250 ok\r\n354 go\r\n");
            c.data();
            c.send(b"250 queued \x1b[2J\rwiped\r\n");
            c.expect("MAIL");
            c.send(b"550 \x1b[31mno\x07\r\n");
            c.serve(b"250 mx.test\r\n");
        });
        let a = server.addr.clone();
        let args = [
            "--server",
            &a,
            "--runtime",
            rt,
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--count",
            "2",
            "--trace",
            "--timeout",
            "2",
        ];
        let out = smtp_send(&args, MSG);
        out.assert_code(6);
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !text.contains(['\x1b', '\x07', '\r']),
                "{}: raw control bytes on {stream}: {text:?}",
                out.what
            );
        }
        assert!(out.stderr.contains("S: 220 mx.test"), "{}", out.stderr);
        assert!(
            out.stdout.contains("message 1: 250 queued"),
            "{}",
            out.stdout
        );
        server.seen();
    });
}

// ------------------------------------------------------------------ TLS: 11 and 13

/// `--tls starttls`: upgrades when offered (EHLO again after TLS), carries on in plaintext
/// when not.
#[test]
fn opportunistic_starttls_upgrades_when_offered_else_stays_plain() {
    each_runtime(|rt| {
        let server = Server::builder()
            .starttls(localhost_acceptor())
            .start()
            .expect("server");
        send(
            &addr(&server),
            rt,
            &["--tls", "starttls", "--insecure"],
            MSG,
        )
        .assert_code(0);
        let logs = finished(&server, 1);
        assert!(logs[0].tls && logs[0].messages[0].secure, "{logs:?}");
        let ehlos: Vec<&String> = logs[0]
            .commands
            .iter()
            .filter(|c| c.starts_with("EHLO"))
            .collect();
        assert_eq!(ehlos.len(), 2, "{:?}", logs[0].commands);

        let server = Server::start().expect("server");
        send(&addr(&server), rt, &["--tls", "starttls"], MSG).assert_code(0);
        let logs = finished(&server, 1);
        assert!(!logs[0].tls && logs[0].messages.len() == 1);

        // Offered but refused (454): still opportunistic, the message goes in plaintext.
        let server = Server::builder()
            .starttls(localhost_acceptor())
            .on(
                Trigger::command("STARTTLS"),
                Action::reply("454 4.7.0 not now"),
            )
            .start()
            .expect("server");
        send(&addr(&server), rt, &["--tls", "starttls"], MSG).assert_code(0);
        let logs = finished(&server, 1);
        assert!(!logs[0].tls && logs[0].messages.len() == 1, "{logs:?}");
    });
}

/// `--tls starttls-required`: not offered 13, 454 11; never a plaintext MAIL.
#[test]
fn required_starttls_never_falls_back_to_plaintext() {
    each_runtime(|rt| {
        let server = Server::start().expect("server");
        let out = send(
            &addr(&server),
            rt,
            &["--tls", "starttls-required", "--insecure"],
            MSG,
        );
        out.assert_code(13);
        assert!(!has_command(&commands(&server), "MAIL"));

        let server = Server::builder()
            .starttls(localhost_acceptor())
            .on(
                Trigger::command("STARTTLS"),
                Action::reply("454 4.7.0 TLS not available"),
            )
            .start()
            .expect("server");
        let out = send(
            &addr(&server),
            rt,
            &["--tls", "starttls-required", "--insecure"],
            MSG,
        );
        out.assert_code(11);
        assert!(!has_command(&commands(&server), "MAIL"));
    });
}

/// After STARTTLS the capabilities are forgotten and EHLO is said again: a SIZE limit offered
/// only before TLS does not apply, 8BITMIME offered only after TLS does.
#[test]
fn after_starttls_the_capabilities_come_from_the_new_ehlo() {
    for mode in ["starttls-required", "starttls"] {
        each_runtime(|rt| {
            let server = raw(|c| {
                c.send(b"220 mx.test\r\n");
                c.expect("EHLO");
                c.send(b"250-mx.test\r\n250-STARTTLS\r\n250 SIZE 10\r\n");
                c.expect("STARTTLS");
                c.send(b"220 go ahead\r\n");
                c.tls();
                c.expect("EHLO");
                c.send(b"250-mx.test\r\n250 8BITMIME\r\n");
                c.serve(EHLO_PLAIN);
            });
            let body = "Subject: caf\u{e9}\r\n\r\nGr\u{fc}\u{df}e\r\n".as_bytes();
            let out = send(&server.addr, rt, &["--tls", mode, "--insecure"], body);
            out.assert_code(0);
            let seen = server.seen_bytes();
            let text = String::from_utf8_lossy(&seen).into_owned();
            let tls = text.find("<TLS>").expect("TLS");
            assert!(!text[..tls].contains("MAIL"), "{text:?}");
            assert!(
                text[tls..].contains("\r\nMAIL FROM:<a@x.org> BODY=8BITMIME\r\n"),
                "{}: {text:?}",
                out.what
            );
            assert!(
                seen.windows(body.len()).any(|w| w == body),
                "{}: body",
                out.what
            );
        });
    }
}

/// Bytes after STARTTLS's 220, before the handshake, are never taken as replies: 10 or 11, and
/// no MAIL is sent, in plaintext or under TLS.
#[test]
fn bytes_after_the_starttls_220_abort_the_session() {
    for extra in [
        &b"250 injected\r\n"[..],
        b"250-mx.test\r\n250 AUTH PLAIN\r\n",
        b"x",
    ] {
        each_runtime(|rt| {
            let server = raw(move |c| {
                c.send(b"220 mx.test\r\n");
                c.expect("EHLO");
                c.send(b"250-mx.test\r\n250 STARTTLS\r\n");
                c.expect("STARTTLS");
                c.send(&[b"220 go ahead\r\n".as_slice(), extra].concat());
                c.tls();
                c.serve(EHLO_PLAIN);
            });
            let out = send(
                &server.addr,
                rt,
                &["--tls", "starttls-required", "--insecure"],
                MSG,
            );
            out.assert_code_in(&[10, 11]);
            let seen = server.seen();
            assert!(!seen.contains("MAIL"), "{}: {seen:?}", out.what);
        });
    }
}

/// Certificates are verified unless `--insecure`: an unknown CA or a wrong host name is 11 (for
/// STARTTLS and implicit TLS), and nothing is sent in plaintext after the failed handshake.
#[test]
fn certificates_are_verified_unless_insecure() {
    each_runtime(|rt| {
        let implicit = Server::builder()
            .implicit_tls(localhost_acceptor())
            .start()
            .expect("server");
        send(&addr(&implicit), rt, &["--tls", "implicit"], MSG).assert_code(11);
        send(
            &addr(&implicit),
            rt,
            &["--tls", "implicit", "--insecure"],
            MSG,
        )
        .assert_code(0);
        assert_eq!(implicit.messages().len(), 1);

        let wrong = Server::builder()
            .starttls(wrong_host_acceptor())
            .start()
            .expect("server");
        let out = send(&addr(&wrong), rt, &["--tls", "starttls-required"], MSG);
        out.assert_code(11);
        let cmds = commands(&wrong);
        assert_eq!(
            cmds.last().map(String::as_str),
            Some("STARTTLS"),
            "{cmds:?}"
        );
        let out = send(&addr(&wrong), rt, &["--tls", "starttls", "--insecure"], MSG);
        out.assert_code(0);
        assert!(wrong.messages()[0].secure);
    });
}

// ------------------------------------------------------------------ exit 12: --timeout

/// One byte per second: the wait for a complete reply times out (12) in time, at the greeting
/// and at the end of the data.
#[test]
fn a_reply_trickling_one_byte_per_second_times_out() {
    let slow = |trigger: Trigger| {
        Server::builder()
            .on(
                trigger,
                Action::Trickle(
                    b"250 2.0.0 queued, slowly\r\n".to_vec(),
                    Duration::from_secs(1),
                ),
            )
            .start()
            .expect("server")
    };
    each_runtime(|rt| {
        let server = slow(Trigger::Greeting);
        let out = send(&addr(&server), rt, &[], MSG);
        out.assert_code(12);
        out.assert_within(Duration::from_millis(4500));

        let server = slow(Trigger::DataEnd);
        let out = send(&addr(&server), rt, &[], MSG);
        out.assert_code(12);
        assert_eq!(out.json()["sent"], 0);
        out.assert_within(Duration::from_millis(4500));
    });
}

/// `--timeout` bounds each wait, not the session: three waits of 0.6 s each under a 1 s
/// timeout succeed.
#[test]
fn the_timeout_bounds_each_reply_not_the_session() {
    each_runtime(|rt| {
        let pause = Duration::from_millis(600);
        let server = Server::builder()
            .on(Trigger::Greeting, Action::Delay(pause))
            .on(Trigger::command("EHLO"), Action::Delay(pause))
            .on(Trigger::DataEnd, Action::Delay(pause))
            .start()
            .expect("server");
        let out = send(&addr(&server), rt, &["--timeout", "1"], MSG);
        out.assert_code(0);
        assert!(
            out.elapsed > Duration::from_millis(1800),
            "{:?}",
            out.elapsed
        );
    });
}

/// A silent server (no greeting) and a silent TLS peer: 12 within the timeout.
#[test]
fn silence_and_stalled_tls_handshakes_time_out() {
    each_runtime(|rt| {
        let server = Server::builder()
            .on(Trigger::Greeting, Action::Hang)
            .start()
            .expect("server");
        let out = send(&addr(&server), rt, &["--timeout", "1"], MSG);
        out.assert_code(12);
        out.assert_within(Duration::from_secs(3));

        // Implicit TLS: the server reads the ClientHello and says nothing.
        let server = raw(|c| {
            c.line();
        });
        let out = send(
            &server.addr,
            rt,
            &["--timeout", "1", "--tls", "implicit"],
            MSG,
        );
        out.assert_code(12);
        out.assert_within(Duration::from_secs(3));
        server.seen();

        // STARTTLS: 220, then no handshake.
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(b"250-mx.test\r\n250 STARTTLS\r\n");
            c.expect("STARTTLS");
            c.send(b"220 go ahead\r\n");
            c.line();
        });
        let out = send(
            &server.addr,
            rt,
            &["--timeout", "1", "--tls", "starttls-required", "--insecure"],
            MSG,
        );
        out.assert_code(12);
        out.assert_within(Duration::from_secs(3));
        server.seen();
    });
}

/// `--timeout` bounds the TCP connect: a listener whose backlog is full drops SYNs.
#[test]
fn the_timeout_bounds_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = listener.local_addr().expect("addr");
    let mut queued = Vec::new();
    let mut full = false;
    for _ in 0..2000 {
        match TcpStream::connect_timeout(&target, Duration::from_millis(100)) {
            Ok(s) => queued.push(s),
            Err(_) => {
                full = true;
                break;
            }
        }
    }
    if !full {
        eprintln!("could not fill the listen backlog on this host: skipped");
        return;
    }
    let target = target.to_string();
    each_runtime(|rt| {
        let out = send(&target, rt, &["--timeout", "1"], MSG);
        out.assert_code(12);
        out.assert_within(Duration::from_secs(3));
    });
    drop(listener);
}

// ------------------------------------------------------------------ the message

/// CR, LF and CRLF all become CRLF, a final CRLF is added, leading dots are doubled and nothing
/// in the body ends DATA early; with CHUNKING (BDAT) the content is the same. `SIZE=` declares
/// the size of what is sent.
#[test]
fn the_body_is_normalised_stuffed_and_ends_with_crlf() {
    let input: &[u8] =
        b"Subject: x\n\nline1\rline2\r\n.leading\n..two\n.\nsmuggle\n.\r\nmore\r.\rend\r\n.\r\nlast";
    let expected: &[u8] = b"Subject: x\r\n\r\nline1\r\nline2\r\n.leading\r\n..two\r\n.\r\nsmuggle\r\n.\r\nmore\r\n.\r\nend\r\n.\r\nlast\r\n";
    for chunking in [false, true] {
        each_runtime(|rt| {
            let mut builder = Server::builder();
            if chunking {
                builder = builder.extension("CHUNKING");
            }
            let server = builder.start().expect("server");
            let out = send(&addr(&server), rt, &[], input);
            out.assert_code(0);
            let messages = server.messages();
            assert_eq!(messages.len(), 1, "{}: {messages:?}", out.what);
            let m = &messages[0];
            assert_eq!(m.bdat, chunking);
            assert!(
                m.data == expected,
                "{} (CHUNKING {chunking}): received {:?}",
                out.what,
                String::from_utf8_lossy(&m.data)
            );
            assert!(
                m.mail_from.contains(&format!("SIZE={}", expected.len())),
                "{} (CHUNKING {chunking}): {}",
                out.what,
                m.mail_from
            );
            let cmds = commands(&server);
            assert!(
                !cmds
                    .iter()
                    .any(|c| c.starts_with("more") || c.starts_with("end")),
                "{cmds:?}"
            );
        });
    }
}

/// On the wire, DATA's leading dots are doubled (the raw bytes, not the server's decoding).
#[test]
fn data_doubles_leading_dots_on_the_wire() {
    each_runtime(|rt| {
        let server = raw(|c| {
            c.send(b"220 mx.test\r\n");
            c.serve(EHLO_PIPELINING);
        });
        let out = send(&server.addr, rt, &[], b"Subject: x\r\n\r\n.\r\n..\r\n.x\n");
        out.assert_code(0);
        let seen = server.seen();
        assert!(
            seen.contains("DATA\r\nSubject: x\r\n\r\n..\r\n...\r\n..x\r\n.\r\nQUIT\r\n"),
            "{}: {seen:?}",
            out.what
        );
    });
}

/// An empty message is sent as an empty one.
#[test]
fn an_empty_message_is_sent_empty() {
    for chunking in [false, true] {
        each_runtime(|rt| {
            let mut builder = Server::builder();
            if chunking {
                builder = builder.extension("CHUNKING");
            }
            let server = builder.start().expect("server");
            send(&addr(&server), rt, &[], b"").assert_code(0);
            let messages = server.messages();
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0].data, b"");
        });
    }
}

/// An 8-bit body declares BODY=8BITMIME when offered; not offered: 13, the body not sent.
#[test]
fn an_8bit_body_needs_8bitmime() {
    let body = "Subject: x\r\n\r\nGr\u{fc}\u{df}e\r\n".as_bytes();
    each_runtime(|rt| {
        let server = Server::start().expect("server");
        send(&addr(&server), rt, &[], body).assert_code(0);
        let messages = server.messages();
        assert!(
            messages[0].mail_from.contains("BODY=8BITMIME"),
            "{}",
            messages[0].mail_from
        );
        assert_eq!(messages[0].data, body);

        let server = Server::builder()
            .extensions(&["PIPELINING", "SMTPUTF8"])
            .start()
            .expect("server");
        send(&addr(&server), rt, &[], body).assert_code(13);
        assert!(!has_command(&commands(&server), "MAIL"));
        assert!(server.messages().is_empty());
    });
}

/// A non-ASCII address is sent as UTF-8 with SMTPUTF8 when offered; not offered: 13.
#[test]
fn a_non_ascii_address_needs_smtputf8() {
    each_runtime(|rt| {
        let server = Server::start().expect("server");
        let out = send(
            &addr(&server),
            rt,
            &["--to", "j\u{f6}rg@b\u{fc}cher.example"],
            MSG,
        );
        out.assert_code(0);
        let cmds = commands(&server);
        let mail = cmds.iter().find(|c| c.starts_with("MAIL")).expect("MAIL");
        assert!(mail.contains("SMTPUTF8"), "{mail}");
        assert!(
            cmds.iter()
                .any(|c| c == "RCPT TO:<j\u{f6}rg@b\u{fc}cher.example>"),
            "{cmds:?}"
        );

        let server = Server::builder()
            .extensions(&["PIPELINING", "8BITMIME"])
            .start()
            .expect("server");
        let out = smtp_send(
            &[
                "--server",
                &addr(&server),
                "--runtime",
                rt,
                "--json",
                "--timeout",
                "2",
                "--from",
                "r\u{e9}my@x.org",
                "--to",
                "b@y.org",
            ],
            MSG,
        );
        out.assert_code(13);
        assert!(!has_command(&commands(&server), "MAIL"));
    });
}

/// SIZE: `SIZE=n` declared; `SIZE 0` is no limit; over the limit the message is refused before
/// its body is sent (counting the CRLFs that bare line ends become).
#[test]
fn size_limits_are_declared_and_enforced_before_the_body() {
    let big = [
        b"Subject: big\r\n\r\n".as_slice(),
        &b"0123456789\r\n".repeat(1000),
    ]
    .concat();
    // 10 lines with bare LFs: 50 bytes as written, 60 as sent.
    let lf_lines = b"line\n".repeat(10);
    each_runtime(|rt| {
        let unlimited = Server::builder()
            .extensions(&["PIPELINING", "SIZE 0"])
            .start()
            .expect("server");
        send(&addr(&unlimited), rt, &[], &big).assert_code(0);
        let m = &unlimited.messages()[0];
        assert!(
            m.mail_from.contains(&format!("SIZE={}", big.len())),
            "{}",
            m.mail_from
        );
        assert_eq!(m.data, big);

        let limited = Server::builder()
            .extensions(&["PIPELINING", "SIZE 1000"])
            .start()
            .expect("server");
        send(&addr(&limited), rt, &[], &big).assert_code(8);
        assert!(!has_command(&commands(&limited), "MAIL"));

        let edge = Server::builder()
            .extensions(&["PIPELINING", "SIZE 55"])
            .start()
            .expect("server");
        send(&addr(&edge), rt, &[], &lf_lines).assert_code(8);
        assert!(!has_command(&commands(&edge), "MAIL"));

        let exact = Server::builder()
            .extensions(&["PIPELINING", "SIZE 60"])
            .start()
            .expect("server");
        send(&addr(&exact), rt, &[], &lf_lines).assert_code(0);
        let m = &exact.messages()[0];
        assert!(m.mail_from.ends_with(" SIZE=60"), "{}", m.mail_from);
        assert_eq!(m.size, 60);
    });
}

// ------------------------------------------------------------------ LMTP

/// LMTP over TCP: LHLO, one reply per accepted recipient after the data; failures (at RCPT or
/// after the data) in `refused`; 0 when one was delivered, 8 when none was.
#[test]
fn lmtp_reports_each_recipient() {
    each_runtime(|rt| {
        let server = Server::builder()
            .lmtp()
            .on(
                Trigger::command("RCPT TO:<gone@"),
                Action::reply("550 5.1.1 no such user"),
            )
            .on(
                Trigger::delivery("full@"),
                Action::reply("552 5.2.2 over quota"),
            )
            .start()
            .expect("server");
        let out = send(
            &addr(&server),
            rt,
            &["--lmtp", "--to", "full@y.org", "--to", "gone@y.org"],
            MSG,
        );
        out.assert_code(0);
        assert_eq!(
            out.refused("full@y.org").map(|r| r.0),
            Some(552),
            "{}",
            out.stdout
        );
        assert_eq!(
            out.refused("gone@y.org").map(|r| r.0),
            Some(550),
            "{}",
            out.stdout
        );
        assert!(out.refused("b@y.org").is_none());
        let logs = finished(&server, 1);
        assert!(
            logs[0].commands[0].starts_with("LHLO "),
            "{:?}",
            logs[0].commands
        );
        assert_eq!(logs[0].messages[0].recipients(), ["b@y.org"]);

        let server = Server::builder()
            .lmtp()
            .on(
                Trigger::delivery(""),
                Action::reply("452 4.2.2 mailbox full"),
            )
            .start()
            .expect("server");
        let out = send(&addr(&server), rt, &["--lmtp", "--to", "c@y.org"], MSG);
        out.assert_code(8);
        assert_eq!(out.refused("b@y.org").map(|r| r.0), Some(452));
        assert_eq!(out.refused("c@y.org").map(|r| r.0), Some(452));
    });
}

/// LMTP over a Unix socket (`--server /path`).
#[cfg(unix)]
#[test]
fn lmtp_over_a_unix_socket() {
    each_runtime(|rt| {
        let path = smtp_tests::matrix::scenarios::unique_socket_path(&format!("cli-lmtp-{rt}"));
        let server = Server::builder()
            .lmtp()
            .unix(&path)
            .start()
            .expect("server");
        let out = send(
            path.to_str().expect("path"),
            rt,
            &["--lmtp", "--to", "c@y.org"],
            MSG,
        );
        out.assert_code(0);
        let logs = finished(&server, 1);
        assert_eq!(logs[0].messages[0].recipients(), ["b@y.org", "c@y.org"]);
        assert_eq!(logs[0].messages[0].data, MSG);
    });
}

// ------------------------------------------------------------------ the other flags

/// `--server` takes a host name (`localhost:PORT`) and a bracketed IPv6 literal.
#[test]
fn server_host_names_and_ipv6_literals() {
    each_runtime(|rt| {
        let server = Server::start().expect("server");
        let target = format!("localhost:{}", server.port());
        send(&target, rt, &[], MSG).assert_code(0);
        assert_eq!(server.messages().len(), 1);

        if TcpListener::bind("[::1]:0").is_err() {
            eprintln!("no IPv6 loopback: the [::1] case is skipped");
            return;
        }
        let server = raw_on(IpAddr::from(std::net::Ipv6Addr::LOCALHOST), |c| {
            c.send(b"220 mx.test\r\n");
            c.serve(EHLO_PIPELINING);
        });
        assert!(server.addr.starts_with("[::1]:"), "{}", server.addr);
        send(&server.addr, rt, &[], MSG).assert_code(0);
        let seen = server.seen();
        assert!(seen.contains("Hello\r\n.\r\n"), "{seen:?}");
    });
}

/// A file over the in-memory limit (streamed from disk for each copy) with bare LFs and no
/// final line end: every copy arrives normalised with its CRLF added, by DATA and by BDAT, and
/// `SIZE=` counts what is sent.
#[test]
fn a_large_file_without_a_final_line_end_streams_complete_copies() {
    let mut content = b"Subject: large\n\n".to_vec();
    for i in 0..60_000 {
        content.extend_from_slice(format!(".line {i} of the file\n").as_bytes());
    }
    content.extend_from_slice(b"no line end");
    assert!(content.len() > 1024 * 1024);
    let mut expected = Vec::new();
    for line in content.split(|&b| b == b'\n') {
        expected.extend_from_slice(line);
        expected.extend_from_slice(b"\r\n");
    }
    let path = std::env::temp_dir().join(format!("smtp-send-large-{}.eml", std::process::id()));
    std::fs::write(&path, &content).expect("write");
    let file = path.to_str().expect("path").to_owned();
    for chunking in [false, true] {
        each_runtime(|rt| {
            let mut builder = Server::builder();
            if chunking {
                builder = builder.extension("CHUNKING");
            }
            let server = builder.start().expect("server");
            let out = send(&addr(&server), rt, &["--data", &file, "--count", "2"], b"");
            out.assert_code(0);
            let messages = server.messages();
            assert_eq!(messages.len(), 2, "{}", out.what);
            for m in &messages {
                assert_eq!(m.bdat, chunking);
                assert!(
                    m.data == expected,
                    "{} (CHUNKING {chunking}): a copy differs",
                    out.what
                );
                let size = format!("SIZE={}", expected.len());
                assert!(m.mail_from.contains(&size), "{}: {}", out.what, m.mail_from);
            }
        });
    }
    let _ = std::fs::remove_file(&path);
}

/// `--data FILE`, `--data -` and no `--data` (standard input) send the same bytes; `--from ""`
/// is `MAIL FROM:<>`; `--helo NAME` is the EHLO name.
#[test]
fn data_sources_null_sender_and_helo_name() {
    let path = std::env::temp_dir().join(format!("smtp-send-contract-{}.eml", std::process::id()));
    std::fs::write(&path, MSG).expect("write");
    let file = path.to_str().expect("path").to_owned();
    each_runtime(|rt| {
        let server = Server::start().expect("server");
        let a = addr(&server);
        send(&a, rt, &["--data", &file], b"ignored\r\n").assert_code(0);
        send(&a, rt, &["--data", "-"], MSG).assert_code(0);
        send(&a, rt, &[], MSG).assert_code(0);
        send(&a, rt, &["--from", "", "--helo", "client.example"], MSG).assert_code(0);
        let logs = finished(&server, 4);
        for log in &logs {
            assert_eq!(log.messages.len(), 1, "{log:?}");
            assert_eq!(log.messages[0].data, MSG);
        }
        assert!(
            logs[3].commands.contains(&"EHLO client.example".to_owned()),
            "{:?}",
            logs[3]
        );
        assert_eq!(logs[3].messages[0].sender(), "");
        assert!(
            logs[3]
                .commands
                .iter()
                .any(|c| c.starts_with("MAIL FROM:<> ")),
            "{:?}",
            logs[3]
        );
    });
    let _ = std::fs::remove_file(&path);
}

/// The defaults: `--runtime blocking` (no flag needed), `--tls none` (STARTTLS offered but not
/// used), the hello name this host's FQDN (else the address literal of the local end).
#[test]
fn defaults_runtime_tls_none_and_fqdn_hello() {
    let expected_name = smtp_blocking::fqdn()
        .map(|d| d.as_str().to_owned())
        .unwrap_or_else(|| "[127.0.0.1]".to_owned());
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let a = addr(&server);
    let out = smtp_send(
        &["--server", &a, "--from", "a@x.org", "--to", "b@y.org"],
        MSG,
    );
    out.assert_code(0);
    let cmds = commands(&server);
    assert_eq!(cmds[0], format!("EHLO {expected_name}"));
    assert!(!has_command(&cmds, "STARTTLS"), "{cmds:?}");
    assert!(!server.messages()[0].secure);
    each_runtime(|rt| {
        let server = Server::start().expect("server");
        send(&addr(&server), rt, &[], MSG).assert_code(0);
        assert_eq!(commands(&server)[0], format!("EHLO {expected_name}"));
    });
}

/// `--count N`: N byte-exact messages on one connection; 0 only when every one was accepted.
#[test]
fn count_sends_n_messages_and_fails_if_one_fails() {
    each_runtime(|rt| {
        let server = Server::start().expect("server");
        let out = send(&addr(&server), rt, &["--count", "3"], MSG);
        out.assert_code(0);
        assert_eq!(out.json()["sent"], 3);
        let logs = finished(&server, 1);
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].messages.len(), 3);
        assert!(logs[0].messages.iter().all(|m| m.data == MSG));

        let server = Server::builder()
            .on_times(Trigger::command("RCPT"), Action::Delay(Duration::ZERO), 1)
            .on_times(
                Trigger::command("RCPT"),
                Action::reply("550 5.1.1 not now"),
                1,
            )
            .start()
            .expect("server");
        let out = send(&addr(&server), rt, &["--count", "3"], MSG);
        out.assert_code(7);
        assert_eq!(out.json()["sent"], 2);
        assert_eq!(server.messages().len(), 2);
    });
}
