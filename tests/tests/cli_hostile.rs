//! Hostile and broken servers against the `smtp-send` binary, on every runtime: outcomes that
//! must not flip (a message accepted stays accepted; a reply before the end of the data is never
//! a delivery), waits that must end near `--timeout`, and server text that must not reach the
//! terminal raw. Each case runs the release-like black-box path: the real executable against a
//! byte-level scripted server ([`smtp_tests::cli::raw`]).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use smtp_tests::cli::*;
use smtp_tests::server::{
    localhost_acceptor, micros, Dribble, FullUnixListener, Server, SERVER_CERT_PEM, SERVER_KEY_PEM,
};

/// The final `250` and an unsolicited reply in one segment: the message is delivered and the
/// run says so (0, `ok`, `sent: 1`), whatever the extra reply is, over SMTP and LMTP.
#[test]
fn trouble_after_the_final_reply_does_not_undo_a_delivery() {
    for (lmtp, extra) in [
        (false, &b"421 4.3.2 bye\r\n"[..]),
        (false, b"250 extra\r\n"),
        (false, b"garbage\r\n"),
        (true, b"421 4.3.2 bye\r\n"),
        (true, b"250 extra\r\n"),
    ] {
        each_runtime(|rt| {
            let server = raw(move |c| {
                c.up_to_data(if lmtp { "LHLO" } else { "EHLO" }, EHLO_PLAIN);
                c.data();
                c.send(&[b"250 2.0.0 queued\r\n".as_slice(), extra].concat());
                c.close();
            });
            let flags: &[&str] = if lmtp { &["--lmtp"] } else { &[] };
            let out = send(&server.addr, rt, flags, MSG);
            out.assert_code(0);
            let json = out.json();
            assert_eq!(json["sent"], 1, "{}: {json}", out.what);
            assert_eq!(json["ok"], true, "{}: {json}", out.what);
            let seen = server.seen();
            assert_eq!(seen.matches("DATA\r\n").count(), 1, "{seen:?}");
        });
    }
}

/// A server that answers `250` to DATA after 4 KiB of a 16 MiB body (more than loopback
/// buffers hold), reads the rest, then answers `554`: never a delivery (the early reply is out
/// of step), and the body goes once.
#[test]
fn a_final_reply_before_the_end_of_data_is_not_a_delivery() {
    let body: Vec<u8> = {
        let mut m = b"From: a@x.org\r\nTo: b@y.org\r\nSubject: big\r\n\r\n".to_vec();
        let line = [b'x'; 78];
        while m.len() < 16 << 20 {
            m.extend_from_slice(&line);
            m.extend_from_slice(b"\r\n");
        }
        m
    };
    each_runtime(|rt| {
        let server = raw(move |c| {
            c.up_to_data("EHLO", EHLO_PLAIN);
            c.take(4096);
            c.send(b"250 2.0.0 premature\r\n");
            c.data();
            c.send(b"554 5.6.0 no after all\r\n");
            c.close();
        });
        let out = send(&server.addr, rt, &["--timeout", "5"], &body);
        assert_ne!(out.code, 0, "{}: {}", out.what, out.stdout);
        assert_eq!(out.json()["sent"], 0, "{}", out.what);
        out.assert_within(Duration::from_secs(20));
        let seen = server.seen_bytes();
        let data = seen.windows(6).filter(|w| w == b"DATA\r\n").count();
        assert_eq!(data, 1, "{}", out.what);
    });
}

/// Server text with DEL, C1 controls (U+0085, U+009B: a one-character CSI) and bidirectional
/// overrides reaches no output raw: `--trace` and the per-message line escape them, the
/// `--json` line writes them as `\u` escapes (the decoded value is the server's text).
#[test]
fn terminal_controls_in_server_text_are_escaped_everywhere() {
    let hostile = "x\u{7f}y\u{85}z\u{9b}31m \u{202e}gnp.exe\u{202c} \u{2067}w\u{2069}";
    let reply = format!("550 5.1.1 {hostile}\r\n");
    let accepted = format!("250 2.0.0 {hostile}\r\n");
    let raw_chars = [
        '\u{7f}', '\u{85}', '\u{9b}', '\u{202e}', '\u{202c}', '\u{2067}',
    ];
    for json in [true, false] {
        each_runtime(|rt| {
            let (reply, accepted) = (reply.clone(), accepted.clone());
            let server = raw(move |c| {
                c.send(format!("220 mx.test {hostile}\r\n").as_bytes());
                c.expect("EHLO");
                c.send(EHLO_PLAIN);
                c.expect("MAIL");
                c.send(b"250 ok\r\n");
                c.expect("RCPT TO:<b@");
                c.send(reply.as_bytes());
                c.expect("RCPT TO:<c@");
                c.send(b"250 ok\r\n");
                c.expect("DATA");
                c.send(b"354 go ahead\r\n");
                c.data();
                c.send(accepted.as_bytes());
                c.expect("QUIT");
                c.send(b"221 bye\r\n");
            });
            let out = if json {
                send(&server.addr, rt, &["--to", "c@y.org", "--trace"], MSG)
            } else {
                let args = [
                    "--server",
                    &server.addr,
                    "--runtime",
                    rt,
                    "--from",
                    "a@x.org",
                    "--to",
                    "b@y.org",
                    "--to",
                    "c@y.org",
                    "--timeout",
                    "5",
                    "--trace",
                ];
                smtp_send(&args, MSG)
            };
            out.assert_code(0);
            for c in raw_chars {
                assert!(!out.stdout.contains(c), "{}: raw {c:?} on stdout", out.what);
                assert!(!out.stderr.contains(c), "{}: raw {c:?} on stderr", out.what);
            }
            // The transcript shows the server's text, escaped.
            assert!(out.stderr.contains("\\u{9b}31m"), "{}", out.stderr);
            if json {
                let line = out.stdout.lines().last().unwrap_or_default();
                assert!(
                    line.contains("\\u009b") && line.contains("\\u202e"),
                    "{line}"
                );
                let (code, text) = out.refused("b@y.org").expect("b refused");
                assert_eq!(
                    (code, text.as_str()),
                    (550, format!("5.1.1 {hostile}").as_str())
                );
            } else {
                assert!(out.stdout.contains("\\u{202e}gnp.exe"), "{}", out.stdout);
            }
            server.seen();
        });
    }
}

/// A server that stops reading after `354`: the body write ends with a timeout (12) about one
/// `--timeout` after the socket buffers fill, on every runtime (the partial writes of a full
/// socket are not progress).
#[test]
fn a_server_that_stops_reading_the_body_times_out_in_one_timeout() {
    let body = vec![b'x'; 32 << 20];
    each_runtime(|rt| {
        let server = raw(move |c| {
            c.up_to_data("EHLO", EHLO_PLAIN);
            std::thread::sleep(Duration::from_secs(8));
        });
        let out = send(&server.addr, rt, &["--timeout", "3"], &body);
        out.assert_code(12);
        // One timeout plus filling the socket buffers; before, 2-3 timeouts.
        out.assert_within(Duration::from_millis(5500));
        drop(server);
    });
}

/// The same with the message held in memory (a file of copies, `--count`): its bytes are lent
/// to the transport as they are, and a server that stops taking them still ends the send in
/// one timeout.
#[test]
fn a_server_that_stops_reading_a_body_in_memory_times_out_in_one_timeout() {
    let path = std::env::temp_dir().join(format!("smtp-send-lent-{}.eml", std::process::id()));
    let line = b"Subject: held in memory, lent to the socket\r\n";
    std::fs::write(&path, line.repeat((8 << 20) / line.len())).expect("message file");
    let path_arg = path.to_str().expect("a UTF-8 path").to_owned();
    each_runtime(|rt| {
        let server = raw(move |c| {
            c.up_to_data("EHLO", EHLO_PLAIN);
            std::thread::sleep(Duration::from_secs(8));
        });
        let args = ["--timeout", "3", "--data", &path_arg, "--count", "2"];
        let out = send(&server.addr, rt, &args, b"");
        out.assert_code(12);
        out.assert_within(Duration::from_millis(5500));
        drop(server);
    });
    let _ = std::fs::remove_file(&path);
}

/// 100 recipients, 99 refused with the largest reply the parser takes (511 lines of 8,000
/// bytes, ~4 MB each, 400 MB in all): the client's memory stays bounded (it kept every reply
/// whole: ~700 MiB), and the `--json` line stays small.
#[test]
fn maximal_refusals_for_many_recipients_keep_memory_bounded() {
    const N: usize = 100;
    let refusal: Vec<u8> = {
        let mut raw = Vec::new();
        for line in 0..511 {
            raw.extend_from_slice(if line == 510 { b"550 " } else { b"550-" });
            raw.extend_from_slice(b"5.1.1 no ");
            raw.resize(raw.len() + 7985, b'z');
            raw.extend_from_slice(b"\r\n");
        }
        raw
    };
    let recipients: Vec<String> = (0..N).map(|i| format!("r{i}@y.org")).collect();
    let mut args: Vec<&str> = Vec::new();
    for r in &recipients {
        args.extend(["--to", r]);
    }
    each_runtime(|rt| {
        let refusal = refusal.clone();
        let server = raw(move |c| {
            c.send(b"220 mx.test\r\n");
            c.expect("EHLO");
            c.send(EHLO_PLAIN);
            c.expect("MAIL");
            c.send(b"250 ok\r\n");
            for i in 0..=N {
                c.expect("RCPT");
                c.send(if i < N { &refusal } else { b"250 ok\r\n" });
            }
            c.serve(EHLO_PLAIN);
        });
        // b@y.org (named by `send`) and r0..r98 are refused, r99 accepted.
        let out = send(&server.addr, rt, &args, MSG);
        out.assert_code(0);
        assert_eq!(out.json()["refused"].as_object().map(|o| o.len()), Some(N));
        let (code, text) = out.refused("r7@y.org").expect("r7 refused");
        assert_eq!(code, 550);
        assert!(text.starts_with("5.1.1 no zzz"), "{text}");
        assert!(
            out.stdout.len() < 512 * 1024,
            "{} bytes of output",
            out.stdout.len()
        );
        let peak = out.peak_rss_kib.expect("peak RSS (Linux)");
        eprintln!("{rt}: peak RSS {peak} KiB");
        assert!(peak < 32 * 1024, "{}: peak RSS {peak} KiB", out.what);
        server.seen();
    });
}

/// The server side of `raw`'s connection as a plain socket (for wrapping it).
fn take_tcp(c: &mut RawConn) -> Option<TcpStream> {
    match std::mem::replace(&mut c.stream, RawStream::Gone) {
        RawStream::Plain(tcp) => Some(tcp),
        _ => None,
    }
}

/// `--timeout` bounds a TLS handshake (implicit TLS, and after STARTTLS) and a TLS record as a
/// whole, whatever the server dribbles: 12 in about one timeout on every runtime (the blocking
/// client waited up to the timeout again for each read inside OpenSSL: tens of seconds).
#[test]
fn a_dribbled_tls_handshake_or_record_times_out_in_time() {
    for case in [
        "implicit handshake",
        "starttls handshake",
        "greeting record",
    ] {
        each_runtime(|rt| {
            let server = raw(move |c| {
                if case == "starttls handshake" {
                    c.send(b"220 mx.test\r\n");
                    c.expect("EHLO");
                    c.send(b"250-mx.test\r\n250 STARTTLS\r\n");
                    c.expect("STARTTLS");
                    c.send(b"220 go ahead\r\n");
                }
                let Some(tcp) = take_tcp(c) else { return };
                let pause = Duration::from_millis(20);
                let first = if case == "greeting record" {
                    Duration::ZERO
                } else {
                    pause
                };
                let (dribble, knob) = Dribble::new(tcp, first);
                let Ok(mut tls) = localhost_acceptor().accept(dribble) else {
                    return;
                };
                // One TLS record of ~1 KB, a byte every 20 ms.
                knob.store(micros(pause), Ordering::Relaxed);
                let greeting = format!("220 {}\r\n", "x".repeat(1000));
                let _ = tls.write_all(greeting.as_bytes());
            });
            let tls = if case == "starttls handshake" {
                "starttls-required"
            } else {
                "implicit"
            };
            let out = send(
                &server.addr,
                rt,
                &["--tls", tls, "--insecure", "--timeout", "1"],
                MSG,
            );
            out.assert_code(12);
            out.assert_within(Duration::from_secs(5));
            drop(server);
        });
    }
}

/// A Unix listener whose backlog is full: the connect fails promptly, the same way on every
/// runtime (the blocking client waited forever).
#[test]
fn a_full_unix_backlog_fails_the_connect_on_every_runtime() {
    each_runtime(|rt| {
        let path = smtp_tests::matrix::scenarios::unique_socket_path(&format!("cli-full-{rt}"));
        let full = FullUnixListener::bind(path).expect("full backlog");
        let server = full.path.to_string_lossy().into_owned();
        let out = send(&server, rt, &["--lmtp", "--timeout", "1"], MSG);
        out.assert_code(3);
        out.assert_within(Duration::from_secs(5));
    });
}

/// `220` to STARTTLS, then the server closes at once: one cause, one outcome (11, a failed
/// handshake) on every runtime, every time (the async clients said 9 or 11 by a race).
#[test]
fn starttls_220_then_close_gives_one_outcome() {
    each_runtime(|rt| {
        for _ in 0..10 {
            let server = raw(|c| {
                c.send(b"220 mx.test\r\n");
                c.expect("EHLO");
                c.send(b"250-mx.test\r\n250 STARTTLS\r\n");
                c.expect("STARTTLS");
                c.send(b"220 go ahead\r\n");
                c.close();
            });
            let out = send(&server.addr, rt, &["--tls", "starttls-required"], MSG);
            out.assert_code(11);
            drop(server);
        }
    });
}

/// A large EHLO reply within the parser's limits (127 `AUTH` lines of 1,600 distinct names,
/// ~1 MB, a quarter of the largest): the client sends its message in about the time the bytes
/// take (merging the names took minutes, with no timeout running; the largest reply is checked
/// in the core's own tests, where no server waits on a debug build).
#[test]
fn the_largest_ehlo_reply_costs_linear_time() {
    let mut ehlo = b"250-mx.test\r\n".to_vec();
    let mut i = 0usize;
    for line in 1..512 {
        ehlo.extend_from_slice(if line == 511 {
            b"250 AUTH"
        } else {
            b"250-AUTH"
        });
        for _ in 0..1600 {
            let mut n = i;
            ehlo.push(b' ');
            for _ in 0..4 {
                ehlo.push(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[n % 36]);
                n /= 36;
            }
            i += 1;
        }
        ehlo.extend_from_slice(b"\r\n");
    }
    each_runtime(|rt| {
        let ehlo = ehlo.clone();
        let server = raw(move |c| {
            // The client's CPU time (a debug build, maybe on a busy machine) is not the
            // server's to bound.
            if let RawStream::Plain(tcp) = &c.stream {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(60)));
            }
            c.send(b"220 mx.test\r\n");
            c.serve(&ehlo);
        });
        let out = send(&server.addr, rt, &["--timeout", "10"], MSG);
        out.assert_code(0);
        out.assert_within(Duration::from_secs(30));
        assert!(server.seen().contains("\r\n.\r\n"));
    });
}

/// With `--insecure`, a TLS 1.2 handshake that the server ends with a fatal `internal_error`
/// alert after sending its certificate is reported by the alert alone: not with the result of
/// the certificate check, which was off (OpenSSL records one anyway). A relay passes the
/// ClientHello to a real TLS 1.2 server and its first flight back, then answers the client's
/// key exchange with the alert. With the checks on, a failed verification keeps its result.
#[test]
fn an_insecure_handshake_failure_does_not_blame_the_certificate() {
    each_runtime(|rt| {
        let server = raw(|c| {
            let identity = native_tls::Identity::from_pkcs8(SERVER_CERT_PEM, SERVER_KEY_PEM)
                .expect("fixture identity");
            let acceptor = native_tls::TlsAcceptor::builder(identity)
                .max_protocol_version(Some(native_tls::Protocol::Tlsv12))
                .build()
                .expect("TLS 1.2 acceptor");
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let backend_addr = listener.local_addr().expect("addr");
            let tls_server = thread::spawn(move || {
                if let Ok((tcp, _)) = listener.accept() {
                    let _ = acceptor.accept(tcp);
                }
            });
            let mut backend = TcpStream::connect(backend_addr).expect("connect");
            let RawStream::Plain(client) = &c.stream else {
                return;
            };
            let mut to_client = client.try_clone().expect("clone");
            let mut from_backend = backend.try_clone().expect("clone");
            let relay = thread::spawn(move || {
                let _ = std::io::copy(&mut from_backend, &mut to_client);
            });
            // The ClientHello: one record, its length in bytes 3 and 4 of the header.
            let header = c.take(5);
            assert_eq!(header.first(), Some(&0x16), "not a handshake record");
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            let hello = c.take(len);
            backend.write_all(&header).expect("relay");
            backend.write_all(&hello).expect("relay");
            // The client's answer to the server's flight (its key exchange): not passed on.
            assert!(c.fill(), "the client did not go on with the handshake");
            c.send(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50]);
            c.close();
            let _ = backend.shutdown(std::net::Shutdown::Both);
            let _ = relay.join();
            let _ = tls_server.join();
        });
        let out = send(
            &server.addr,
            rt,
            &["--tls", "implicit", "--insecure", "--timeout", "5"],
            MSG,
        );
        out.assert_code(11);
        let error = out.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.contains("alert"), "{}: {error}", out.what);
        assert!(
            !error.contains("certificate") && !error.ends_with(')'),
            "{}: {error}",
            out.what
        );
        drop(server);

        // With the checks on, a failed verification still says why.
        let server = Server::builder()
            .implicit_tls(localhost_acceptor())
            .start()
            .expect("server");
        let out = send(&addr(&server), rt, &["--tls", "implicit"], MSG);
        out.assert_code(11);
        let error = out.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(
            error.contains("certificate verify failed") && error.ends_with("certificate)"),
            "{}: {error}",
            out.what
        );
    });
}
