//! Refusals in the transaction (MAIL: exit 6; every recipient: 7; DATA, BDAT or the final
//! reply: 8; some recipients: 0 with the list) and a server that closes mid-session (exit 9).

use std::thread;
use std::time::Duration;

use smtp_tests::cli::*;
use smtp_tests::server::{localhost_acceptor, Action, Server, Trigger};

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
