//! Up to the hello: usage errors (exit 2, before any connection), a refused connection or
//! greeting (exit 3), and a refused EHLO/HELO/LHLO (exit 4), with the HELO fallback's rules.

use std::net::TcpListener;

use smtp_tests::cli::*;
use smtp_tests::server::{Action, Server, Trigger};

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
