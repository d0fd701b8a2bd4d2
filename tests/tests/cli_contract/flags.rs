//! The other flags: `--server` host names and IPv6 literals, `--data` sources and large files,
//! the null sender, `--helo`, the defaults, and `--count`.

use std::net::{IpAddr, TcpListener};
use std::time::Duration;

use smtp_tests::cli::*;
use smtp_tests::server::{localhost_acceptor, Action, Server, Trigger};

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
