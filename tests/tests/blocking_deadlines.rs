//! The blocking adapter's bounds against servers that stall in ways a per-read socket timeout
//! does not see: a TLS handshake or a TLS record dribbled a byte at a time, a Unix listener
//! whose backlog is full, and a server that answers the end of data before it was sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use native_tls::TlsStream;
use smtp_blocking::{Error, SmtpClient, TlsMode};
use smtp_tests::matrix::scenarios::unique_socket_path;
use smtp_tests::server::{localhost_acceptor, micros, Dribble, FullUnixListener};

/// The client's timeout in every test here.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a bounded failure may take: five times the timeout, for a loaded machine. Each
/// server here would keep an unbounded client busy for well over ten times the timeout.
const BOUND: Duration = Duration::from_secs(5);
/// The pause before each byte a dribbling server writes.
const DRIBBLE: Duration = Duration::from_millis(20);
/// How long a server thread waits for its client.
const SERVER_LIMIT: Duration = Duration::from_secs(60);

/// A one-connection server on 127.0.0.1 running `script` on the accepted socket.
fn serve<T: Send + 'static>(
    script: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (u16, JoinHandle<Option<T>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let handle = thread::spawn(move || {
        let until = Instant::now() + SERVER_LIMIT;
        let tcp = loop {
            match listener.accept() {
                Ok((tcp, _)) => break tcp,
                Err(_) if Instant::now() < until => thread::sleep(Duration::from_millis(2)),
                Err(_) => return None,
            }
        };
        tcp.set_nonblocking(false).expect("blocking");
        tcp.set_read_timeout(Some(SERVER_LIMIT)).expect("timeout");
        tcp.set_nodelay(true).expect("nodelay");
        Some(script(tcp))
    });
    (port, handle)
}

/// Runs `connect` and checks it failed with a timeout, within [`BOUND`].
fn assert_times_out(what: &str, connect: impl FnOnce() -> Result<SmtpClient, Error>) {
    let start = Instant::now();
    let result = connect();
    let took = start.elapsed();
    match result {
        Err(e) => assert!(e.is_timeout(), "{what}: not a timeout: {e:?}"),
        Ok(_) => panic!("{what}: connected after {took:?}"),
    }
    assert!(
        took < BOUND,
        "{what}: the timeout of {TIMEOUT:?} took {took:?}"
    );
}

/// The timeout bounds an implicit-TLS handshake as a whole, not each read inside it.
#[test]
fn a_dribbled_implicit_tls_handshake_times_out() {
    let (port, server) = serve(|tcp| {
        let (dribble, _) = Dribble::new(tcp, DRIBBLE);
        // The client gives up half-way: the handshake fails here.
        localhost_acceptor().accept(dribble).is_ok()
    });
    assert_times_out("implicit TLS handshake", || {
        SmtpClient::builder()
            .timeout(TIMEOUT)
            .tls(TlsMode::Implicit)
            .danger_accept_invalid_certs(true)
            .connect("127.0.0.1", port)
    });
    assert_eq!(server.join().expect("server thread"), Some(false));
}

/// The same after STARTTLS.
#[test]
fn a_dribbled_starttls_handshake_times_out() {
    let (port, server) = serve(|tcp| {
        let mut lines = BufReader::new(tcp.try_clone().expect("clone"));
        let mut out = tcp.try_clone().expect("clone");
        let mut line = String::new();
        out.write_all(b"220 mx.test ESMTP\r\n").expect("greeting");
        lines.read_line(&mut line).expect("EHLO");
        out.write_all(b"250-mx.test\r\n250 STARTTLS\r\n")
            .expect("EHLO reply");
        line.clear();
        lines.read_line(&mut line).expect("STARTTLS");
        out.write_all(b"220 go ahead\r\n").expect("220");
        let (dribble, _) = Dribble::new(tcp, DRIBBLE);
        localhost_acceptor().accept(dribble).is_ok()
    });
    assert_times_out("STARTTLS handshake", || {
        SmtpClient::builder()
            .timeout(TIMEOUT)
            .tls(TlsMode::Required)
            .danger_accept_invalid_certs(true)
            .connect("127.0.0.1", port)
    });
    assert_eq!(server.join().expect("server thread"), Some(false));
}

/// A greeting sent as one TLS record, dribbled: the wait for it ends at its deadline however
/// steadily the bytes come.
#[test]
fn a_dribbled_tls_record_times_out() {
    let (port, server) = serve(|tcp| {
        let (dribble, pause) = Dribble::new(tcp, Duration::ZERO);
        let Ok(mut tls): Result<TlsStream<Dribble>, _> = localhost_acceptor().accept(dribble)
        else {
            return false;
        };
        pause.store(micros(DRIBBLE), Ordering::Relaxed);
        // One write of under 16 KiB is one record: about 1 KiB at 20 ms a byte.
        let mut greeting = Vec::new();
        for _ in 0..15 {
            greeting.extend_from_slice(b"220-mx.test ESMTP, slowly, one byte at a time...\r\n");
        }
        greeting.extend_from_slice(b"220 mx.test ready\r\n");
        tls.write_all(&greeting).is_ok()
    });
    assert_times_out("greeting in one TLS record", || {
        SmtpClient::builder()
            .timeout(TIMEOUT)
            .tls(TlsMode::Implicit)
            .danger_accept_invalid_certs(true)
            .connect("127.0.0.1", port)
    });
    // The client left before the record was complete.
    assert_eq!(server.join().expect("server thread"), Some(false));
}

/// A Unix listener that never accepts and whose backlog is full: connecting fails (at once, as
/// with the async adapters) instead of waiting for a slot.
#[cfg(unix)]
#[test]
fn a_full_unix_backlog_fails_the_connect() {
    let full = FullUnixListener::bind(unique_socket_path("full-backlog")).expect("full backlog");
    let path = full.path.clone();
    let (tx, rx) = mpsc::channel();
    let target = path.clone();
    // A blocking connect would never return: watch it from here, with a bound.
    thread::spawn(move || {
        let start = Instant::now();
        let result = SmtpClient::builder()
            .timeout(TIMEOUT)
            .lmtp(true)
            .connect_unix(&target)
            .map(drop);
        let _ = tx.send((result, start.elapsed()));
    });
    let (result, took) = rx
        .recv_timeout(BOUND * 2)
        .expect("connecting to a full Unix backlog did not return");
    assert!(
        result.is_err(),
        "connected to a listener that never accepts"
    );
    assert!(took < BOUND, "the connect took {took:?}");
    drop(full);
}

/// What the premature-reply server saw.
#[derive(Debug, Default)]
struct Seen {
    /// Command lines, in order.
    commands: Vec<String>,
    /// Body bytes received after `354`.
    body: usize,
    /// Whether the body's terminator arrived.
    terminated: bool,
}

/// A server that answers `250` after 4 KiB of the body, keeps reading, and refuses the message
/// (`554`) at its real end, then answers every further command.
fn premature(stream: &mut (impl Read + Write)) -> Seen {
    let mut seen = Seen::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    let mut in_body = false;
    let mut early_sent = false;
    if stream.write_all(b"220 mx.test ESMTP\r\n").is_err() {
        return seen;
    }
    loop {
        if in_body {
            if !early_sent && seen.body >= 4096 {
                early_sent = true;
                if stream
                    .write_all(b"250 2.0.0 queued (too early)\r\n")
                    .is_err()
                {
                    return seen;
                }
                // The client has most of its body still to write.
                thread::sleep(Duration::from_millis(200));
            }
            if let Some(end) = find(&buf, b"\r\n.\r\n") {
                seen.body += end;
                seen.terminated = true;
                buf.drain(..end + 5);
                in_body = false;
                if stream
                    .write_all(b"554 5.7.1 rejected after all\r\n")
                    .is_err()
                {
                    return seen;
                }
                continue;
            }
            // Keep the last 4 bytes: they may start the terminator.
            let keep = buf.len().min(4);
            seen.body += buf.len() - keep;
            buf.drain(..buf.len() - keep);
        } else if let Some(lf) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=lf).collect();
            let line = String::from_utf8_lossy(&line).trim_end().to_owned();
            let reply: &[u8] = if line.starts_with("EHLO") {
                b"250-mx.test\r\n250 8BITMIME\r\n"
            } else if line == "DATA" {
                in_body = true;
                b"354 go ahead\r\n"
            } else if line == "QUIT" {
                b"221 bye\r\n"
            } else {
                b"250 ok\r\n"
            };
            seen.commands.push(line);
            if stream.write_all(reply).is_err() {
                return seen;
            }
            continue;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return seen,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// 4 MiB of body lines.
fn big_message() -> Vec<u8> {
    let mut message = b"From: a@x.org\r\nTo: b@y.org\r\nSubject: big\r\n\r\n".to_vec();
    while message.len() < 4 << 20 {
        message.extend_from_slice(
            b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop\r\n",
        );
    }
    message
}

/// Checks the client's verdict on the premature-reply server and what the server saw.
fn assert_not_delivered(result: Result<smtp_blocking::Refused, Error>, seen: &Seen) {
    assert!(
        result.is_err(),
        "a 250 before the end of data counted as delivery: {result:?}"
    );
    let count = |prefix: &str| {
        seen.commands
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    };
    assert_eq!(count("MAIL FROM"), 1, "{seen:?}");
    assert_eq!(count("DATA"), 1, "{seen:?}");
    // The client stopped mid-body: the server never saw the end of data.
    assert!(!seen.terminated, "{seen:?}");
    assert!(seen.body < 4 << 20, "{seen:?}");
}

/// A reply to the end of data that arrives while the body is still being written is out of
/// step: the transaction fails, and nothing is sent again.
#[test]
fn a_reply_before_the_end_of_data_is_not_delivery() {
    let (port, server) = serve(|mut tcp| {
        let seen = premature(&mut tcp);
        let _ = tcp.shutdown(Shutdown::Both);
        seen
    });
    let mut smtp = SmtpClient::builder()
        .timeout(Duration::from_secs(10))
        .connect("127.0.0.1", port)
        .expect("connect");
    let result = smtp.sendmail("a@x.org", ["b@y.org"], big_message().as_slice());
    smtp.close();
    let seen = server.join().expect("server thread").expect("a connection");
    assert_not_delivered(result, &seen);
}

/// The same under TLS: the check for input between body writes reads complete records only.
#[test]
fn a_reply_before_the_end_of_data_is_not_delivery_under_tls() {
    let (port, server) = serve(|tcp| {
        let mut tls = localhost_acceptor().accept(tcp).ok()?;
        let seen = premature(&mut tls);
        let _ = tls.get_ref().shutdown(Shutdown::Both);
        Some(seen)
    });
    let mut smtp = SmtpClient::builder()
        .timeout(Duration::from_secs(10))
        .tls(TlsMode::Implicit)
        .danger_accept_invalid_certs(true)
        .connect("127.0.0.1", port)
        .expect("connect");
    let result = smtp.sendmail("a@x.org", ["b@y.org"], big_message().as_slice());
    smtp.close();
    let seen = server
        .join()
        .expect("server thread")
        .flatten()
        .expect("a TLS connection");
    assert_not_delivered(result, &seen);
}
