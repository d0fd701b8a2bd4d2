//! `--timeout` (exit 12): a trickling reply, silence, a stalled TLS handshake and a connect
//! that never completes time out in time; the limit bounds each reply, not the session.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use smtp_tests::cli::*;
use smtp_tests::server::{Action, Server, Trigger};

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
