//! What the server's replies may look like: malformed or endless ones (exit 10, nothing more
//! sent), the tolerated forms (bare LF, a bare code, QUIT unanswered after acceptance), and the
//! `--json` summary and terminal output whatever bytes the replies hold.

use std::time::Duration;

use smtp_tests::cli::*;
use smtp_tests::server::{Action, Server, Trigger};

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
