//! The blocking adapter through the conformance matrix (every integration scenario of
//! `smtp_tests::matrix::scenarios`: smtplib-parity methods, TLS, timeouts, streaming,
//! `send_message`, LMTP), what only the blocking client has, and the `smtp-send` CLI under every
//! `--runtime`. The transcripts over a real socket are one test each, `blocking::FILE.smtp`, in
//! `tests/tests/transcripts.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smtp_blocking::SmtpClient;
use smtp_tests::matrix::scenarios::unique_socket_path;
use smtp_tests::server::{localhost_acceptor, Action, Server, SessionLog, Trigger};

#[allow(dead_code)]
#[path = "../examples/smtp-send/main.rs"]
mod smtp_send;

const T: Duration = Duration::from_secs(10);

fn finished(server: &Server, n: usize) -> Vec<SessionLog> {
    let logs = server.wait_finished(n, T);
    assert!(
        logs.len() >= n && logs.iter().all(|l| l.finished),
        "{logs:?}"
    );
    logs
}

smtp_tests::conformance_tests!(smtp_tests::matrix::Blocking);

// ------------------------------------------------------------------ blocking only

#[test]
fn connect_method_reconnects_and_close_is_silent() {
    let server = Server::start().expect("server");
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .local_hostname("client.test".try_into().expect("domain"))
        .source_address("127.0.0.1:0".parse().expect("addr"))
        .build();
    assert!(!smtp.is_connected());
    let greeting = smtp
        .connect(&format!("127.0.0.1:{}", server.port()), 0)
        .expect("connect");
    assert_eq!(greeting.code().get(), 220);
    assert_eq!(
        smtp.local_hostname().map(|d| d.as_str()),
        Some("client.test")
    );
    smtp.ehlo().expect("ehlo");
    smtp.close();
    smtp.close();
    assert!(!smtp.is_connected());
    smtp.connect("127.0.0.1", server.port()).expect("reconnect");
    assert_eq!(smtp.server_name(), Some("127.0.0.1"));
    smtp.quit().expect("quit");
    let logs = finished(&server, 2);
    assert_eq!(
        logs[0].commands,
        ["EHLO client.test"],
        "close sends nothing"
    );
    assert_eq!(logs[1].commands, ["QUIT"]);
}

// ------------------------------------------------------------------ the CLI

struct Cli {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Cli {
    fn json(&self) -> serde_json::Value {
        let last = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("last line is not JSON ({e}): {}", self.stdout))
    }
}

fn cli(args: &[&str], stdin: &[u8]) -> Cli {
    let err = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut out = Vec::new();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let mut input = stdin;
    let code = smtp_send::run(&args, &mut input, &mut out, err.clone());
    let stderr = String::from_utf8_lossy(&err.lock().expect("lock")).into_owned();
    Cli {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr,
    }
}

fn addr(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port())
}

const MSG: &[u8] = b"From: a@x.org\r\nTo: b@y.org\r\nSubject: cli\r\n\r\nHello\n.dot\r\n";

#[test]
fn cli_sends_and_summarises_in_json() {
    let server = Server::builder()
        .on(
            Trigger::command("RCPT TO:<bad@"),
            Action::raw(b"550 5.1.1 \xff\xfe \"quoted\" \\ no\r\n"),
        )
        .start()
        .expect("server");
    let a = addr(&server);
    let run = cli(
        &[
            "--server",
            &a,
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--to",
            "bad@y.org",
            "--json",
            "--count",
            "3",
        ],
        MSG,
    );
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["sent"], 3);
    assert_eq!(json["refused"]["bad@y.org"][0], 550);
    assert!(json["refused"]["bad@y.org"][1]
        .as_str()
        .is_some_and(|t| t.contains("\"quoted\"")));
    let logs = finished(&server, 1);
    assert_eq!(logs[0].messages.len(), 3);
    for m in &logs[0].messages {
        assert_eq!(
            m.data,
            b"From: a@x.org\r\nTo: b@y.org\r\nSubject: cli\r\n\r\nHello\r\n.dot\r\n"
        );
        // RFC 1870: the size as sent, bare line ends counted as CRLF.
        assert!(
            m.mail_from.contains(&format!("SIZE={}", m.data.len())),
            "{}",
            m.mail_from
        );
    }
}

#[test]
fn cli_reads_a_data_file_and_traces_with_auth_redacted() {
    let server = Server::start().expect("server");
    let path = std::env::temp_dir().join(format!("smtp-send-test-{}.eml", std::process::id()));
    std::fs::write(&path, MSG).expect("write message");
    let a = addr(&server);
    let run = cli(
        &[
            "--server",
            &a,
            "--from",
            "",
            "--to",
            "b@y.org",
            "--data",
            path.to_str().expect("path"),
            "--auth-user",
            "alice",
            "--auth-pass",
            "correct horse",
            "--auth-mech",
            "plain",
            "--trace",
            "--helo",
            "cli.test",
            "--timeout",
            "5",
        ],
        b"",
    );
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert!(run.stderr.contains("C: EHLO cli.test"), "{}", run.stderr);
    assert!(
        run.stderr.contains("C: AUTH PLAIN <redacted>"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Y29ycmVjdCBob3Jz"), "{}", run.stderr);
    assert!(run.stderr.contains("C: MAIL FROM:<>"), "{}", run.stderr);
    let logs = finished(&server, 1);
    assert_eq!(logs[0].authenticated.as_deref(), Some("alice"));
}

#[test]
fn cli_usage_errors_exit_2_before_connecting() {
    for args in [
        &["--from", "a@x.org", "--to", "b@y.org"][..],
        &["--server", "127.0.0.1:1", "--to", "b@y.org"],
        &["--server", "127.0.0.1:1", "--from", "a@x.org"],
        &[
            "--server",
            "127.0.0.1:1",
            "--from",
            "a@x.org\r\nRSET",
            "--to",
            "b@y.org",
        ],
        &[
            "--server",
            "127.0.0.1:1",
            "--from",
            "a@x.org",
            "--to",
            "b@y.org\0",
        ],
        &[
            "--server",
            "127.0.0.1:1",
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--helo",
            "x\ny",
        ],
        &[
            "--server",
            "127.0.0.1:1",
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--auth-user",
            "u",
        ],
        &[
            "--server",
            "127.0.0.1:1",
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--bogus",
        ],
        &[
            "--server",
            "127.0.0.1:1",
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--timeout",
            "0",
        ],
        &[
            "--server",
            "127.0.0.1:1",
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--count",
            "0",
        ],
        &[
            "--server",
            "127.0.0.1:1",
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--runtime",
            "tokio",
        ],
    ] {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let run = cli(&with_json, MSG);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.json()["ok"], false);
    }
}

/// Every `--runtime`: the CLI must behave the same under each.
const RUNTIMES: [&str; 3] = ["blocking", "smol", "async-std"];

fn cli_code(server: &Server, extra: &[&str]) -> Cli {
    let a = addr(server);
    let mut args = vec![
        "--server",
        a.as_str(),
        "--from",
        "a@x.org",
        "--to",
        "b@y.org",
        "--json",
        "--timeout",
        "2",
    ];
    args.extend_from_slice(extra);
    cli(&args, MSG)
}

#[test]
fn cli_exit_codes_follow_the_contract() {
    let cases: Vec<(Server, &[&str], i32)> = vec![
        (
            Server::builder()
                .on(Trigger::Greeting, Action::reply("554 no"))
                .start()
                .expect("s"),
            &[],
            3,
        ),
        (
            Server::builder()
                .on(Trigger::Greeting, Action::reply("421 busy"))
                .start()
                .expect("s"),
            &[],
            3,
        ),
        (
            Server::builder()
                .on(Trigger::command("EHLO"), Action::reply("421 bye"))
                .start()
                .expect("s"),
            &[],
            4,
        ),
        (
            Server::builder()
                .on(Trigger::command("EHLO"), Action::reply("502 no"))
                .on(Trigger::command("HELO"), Action::reply("550 no"))
                .start()
                .expect("s"),
            &[],
            4,
        ),
        (
            Server::start().expect("s"),
            &["--auth-user", "alice", "--auth-pass", "nope"],
            5,
        ),
        (
            Server::builder()
                .on(Trigger::command("MAIL"), Action::reply("550 no"))
                .start()
                .expect("s"),
            &[],
            6,
        ),
        (
            Server::builder()
                .on(Trigger::command("MAIL"), Action::reply("421 bye"))
                .start()
                .expect("s"),
            &[],
            6,
        ),
        (
            Server::builder()
                .on(Trigger::command("RCPT"), Action::reply("550 no"))
                .start()
                .expect("s"),
            &[],
            7,
        ),
        (
            Server::builder()
                .on(Trigger::DataEnd, Action::reply("554 no"))
                .start()
                .expect("s"),
            &[],
            8,
        ),
        (
            Server::builder()
                .on(Trigger::DataEnd, Action::ReplyAndClose(b"250 ok".to_vec()))
                .start()
                .expect("s"),
            &[],
            9,
        ),
        (
            Server::builder()
                .on(Trigger::command("RCPT"), Action::Close)
                .start()
                .expect("s"),
            &[],
            9,
        ),
        (
            Server::builder()
                .on(Trigger::command("EHLO"), Action::raw(b"250-a\r\n251 b\r\n"))
                .start()
                .expect("s"),
            &[],
            10,
        ),
        (
            Server::builder()
                .starttls(localhost_acceptor())
                .start()
                .expect("s"),
            &["--tls", "starttls-required"],
            11,
        ),
        (
            Server::builder()
                .starttls(localhost_acceptor())
                .on(Trigger::command("STARTTLS"), Action::reply("454 4.7.0 no"))
                .start()
                .expect("s"),
            &["--tls", "starttls-required"],
            11,
        ),
        (
            Server::builder()
                .on(Trigger::command("MAIL"), Action::Hang)
                .start()
                .expect("s"),
            &["--timeout", "0.3"],
            12,
        ),
        (
            Server::start().expect("s"),
            &["--tls", "starttls-required"],
            13,
        ),
        (
            Server::builder()
                .extensions(&["PIPELINING"])
                .start()
                .expect("s"),
            &["--auth-user", "u", "--auth-pass", "p"],
            13,
        ),
        (
            Server::start().expect("s"),
            &[
                "--auth-user",
                "alice",
                "--auth-pass",
                "x",
                "--auth-mech",
                "ntlm",
            ],
            2,
        ),
        (
            Server::builder()
                .users(&[])
                .extensions(&["AUTH LOGIN"])
                .start()
                .expect("s"),
            &[
                "--auth-user",
                "u",
                "--auth-pass",
                "p",
                "--auth-mech",
                "PLAIN",
            ],
            13,
        ),
    ];
    for (server, extra, expected) in cases {
        for runtime in RUNTIMES {
            let started = Instant::now();
            let mut extra = extra.to_vec();
            extra.extend(["--runtime", runtime]);
            let run = cli_code(&server, &extra);
            assert_eq!(
                run.code, expected,
                "{extra:?}: {}\n{}",
                run.stdout, run.stderr
            );
            assert_eq!(run.json()["ok"], false);
            assert!(
                started.elapsed() < Duration::from_secs(6),
                "{extra:?} took {:?}",
                started.elapsed()
            );
        }
    }
}

#[test]
fn cli_refuses_8bit_without_8bitmime_and_utf8_without_smtputf8() {
    let server = Server::builder()
        .extensions(&["PIPELINING"])
        .start()
        .expect("server");
    let a = addr(&server);
    let run = cli(
        &["--server", &a, "--from", "a@x.org", "--to", "b@y.org"],
        "Grüße\r\n".as_bytes(),
    );
    assert_eq!(run.code, 13, "{}", run.stderr);
    let run = cli(
        &["--server", &a, "--from", "jö@x.org", "--to", "b@y.org"],
        MSG,
    );
    assert_eq!(run.code, 13, "{}", run.stderr);
    let logs = finished(&server, 2);
    assert!(logs
        .iter()
        .all(|l| !l.commands.iter().any(|c| c.starts_with("MAIL"))));
}

#[cfg(unix)]
#[test]
fn cli_lmtp_over_a_unix_socket() {
    let path = unique_socket_path("cli");
    let _server = Server::builder()
        .lmtp()
        .unix(&path)
        .on(
            Trigger::delivery("full@"),
            Action::reply("552 5.2.2 over quota"),
        )
        .start()
        .expect("server");
    let p = path.to_str().expect("path");
    let run = cli(
        &[
            "--server",
            p,
            "--lmtp",
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--to",
            "full@y.org",
            "--json",
        ],
        MSG,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["refused"]["full@y.org"][0], 552);
    let run = cli(
        &[
            "--server",
            p,
            "--lmtp",
            "--from",
            "a@x.org",
            "--to",
            "full@y.org",
            "--json",
        ],
        MSG,
    );
    assert_eq!(run.code, 8, "{}", run.stderr);
    assert_eq!(run.json()["refused"]["full@y.org"][0], 552);
}

#[test]
fn cli_implicit_tls_with_insecure() {
    let server = Server::builder()
        .implicit_tls(localhost_acceptor())
        .start()
        .expect("server");
    for runtime in RUNTIMES {
        let untrusted = cli_code(&server, &["--tls", "implicit", "--runtime", runtime]);
        assert_eq!(untrusted.code, 11, "{runtime}: {}", untrusted.stderr);
        let insecure = cli_code(
            &server,
            &["--tls", "implicit", "--insecure", "--runtime", runtime],
        );
        assert_eq!(insecure.code, 0, "{runtime}: {}", insecure.stderr);
    }
}

#[test]
fn cli_sends_the_same_under_every_runtime() {
    let server = Server::builder()
        .on(
            Trigger::command("RCPT TO:<bad@"),
            Action::reply("550 5.1.1 no such user"),
        )
        .start()
        .expect("server");
    let a = addr(&server);
    for runtime in RUNTIMES {
        let run = cli(
            &[
                "--server",
                &a,
                "--from",
                "a@x.org",
                "--to",
                "b@y.org",
                "--to",
                "bad@y.org",
                "--json",
                "--count",
                "2",
                "--trace",
                "--runtime",
                runtime,
            ],
            MSG,
        );
        assert_eq!(run.code, 0, "{runtime}: {} {}", run.stdout, run.stderr);
        let json = run.json();
        assert_eq!(
            (
                json["sent"].as_u64(),
                json["refused"]["bad@y.org"][0].as_u64()
            ),
            (Some(2), Some(550))
        );
        assert!(
            run.stderr.contains("C: MAIL FROM:<a@x.org>"),
            "{runtime}: {}",
            run.stderr
        );
    }
    let logs = finished(&server, RUNTIMES.len());
    for log in &logs {
        assert_eq!(log.messages.len(), 2);
        assert_eq!(
            log.messages[0].data,
            b"From: a@x.org\r\nTo: b@y.org\r\nSubject: cli\r\n\r\nHello\r\n.dot\r\n"
        );
    }
}

// ------------------------------------------------------------------ TLS material in Settings

/// A STARTTLS-required connect with certificate checks on: trusted with the test CA added as
/// a root, refused without it.
#[test]
fn an_added_root_certificate_verifies_the_starttls_server() {
    use smtp_blocking::{Error, TlsMode};
    use smtp_tests::server::TEST_CA_PEM;

    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let builder = || SmtpClient::builder().timeout(T).tls(TlsMode::Required);
    let mut smtp = builder()
        .add_root_certificate_pem(TEST_CA_PEM)
        .connect("127.0.0.1", server.port())
        .expect("the test CA is trusted");
    assert!(smtp.is_secure());
    smtp.quit().expect("quit");
    match builder().connect("127.0.0.1", server.port()) {
        Err(Error::Tls(_)) => {}
        other => panic!("expected a TLS error without the root: {other:?}"),
    }
}

/// Material that does not parse is a setting error, before anything is connected.
#[test]
fn unparsable_tls_material_fails_before_connecting() {
    use smtp_blocking::{Error, TlsMode};

    let server = Server::start().expect("server");
    let refused = [
        SmtpClient::builder().add_root_certificate_pem(&b"not a certificate"[..]),
        SmtpClient::builder().client_identity_pem(&b"no"[..], &b"key"[..]),
    ];
    for builder in refused {
        match builder
            .timeout(T)
            .tls(TlsMode::Required)
            .connect("127.0.0.1", server.port())
        {
            Err(Error::InvalidSetting(text)) => assert!(text.contains("PEM"), "{text}"),
            other => panic!("expected InvalidSetting: {other:?}"),
        }
    }
    assert!(server
        .wait_finished(1, Duration::from_millis(200))
        .is_empty());
}

/// smtplib's `with SMTP(...) as smtp:`: the session ends with QUIT whether the closure
/// succeeded or failed, and the closure's result is what `session` returns.
#[test]
fn a_scoped_session_ends_with_quit_either_way() {
    let server = Server::builder()
        .on(
            Trigger::command("RCPT TO:<nobody@"),
            Action::reply("550 5.1.1 no such user"),
        )
        .start()
        .expect("server");
    let body = &b"Subject: scoped\r\n\r\nhi\r\n"[..];
    let refused = SmtpClient::builder()
        .timeout(T)
        .session("127.0.0.1", server.port(), |smtp| {
            smtp.sendmail("a@example.org", ["b@example.net"], body)
        })
        .expect("sent");
    assert!(refused.is_empty());
    let failed = SmtpClient::builder()
        .timeout(T)
        .session("127.0.0.1", server.port(), |smtp| {
            smtp.sendmail("a@example.org", ["nobody@example.net"], body)
        });
    assert!(
        matches!(failed, Err(smtp_blocking::Error::RecipientsRefused(_))),
        "{failed:?}"
    );
    let logs = finished(&server, 2);
    for log in &logs {
        assert_eq!(
            log.commands.last().map(String::as_str),
            Some("QUIT"),
            "{log:?}"
        );
    }
    assert_eq!(server.messages().len(), 1);
}
