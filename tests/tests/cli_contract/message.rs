//! The message on the wire: line ends normalised, dots stuffed, an empty message, 8-bit bodies
//! and international addresses (8BITMIME, SMTPUTF8), SIZE declared and enforced, and LMTP's
//! per-recipient replies over TCP and a Unix socket.

use smtp_tests::cli::*;
use smtp_tests::server::{Action, Server, Trigger};

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
