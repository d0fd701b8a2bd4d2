//! Black-box tests of `smtp-send` under every `--runtime`: the DSN flags (`--notify`,
//! `--orcpt`, `--ret`, `--envid`, RFC 3461: what the server records with DSN offered, the
//! warning and the plain envelope without it, the usage errors found before connecting), a
//! large standard input sent in constant memory, and `--trace`'s count of body bytes.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use smtp_tests::cli::*;
use smtp_tests::server::{fnv1a, Server};

#[allow(dead_code)]
#[path = "../examples/smtp-send/main.rs"]
mod smtp_send;

/// Every DSN flag, with an ENVID and an ORCPT that need xtext encoding.
const DSN_FLAGS: [&str; 8] = [
    "--notify",
    "success,FAILURE",
    "--orcpt",
    "<c+d@y.org>",
    "--ret",
    "hdrs",
    "--envid",
    "id+1 =x",
];

#[test]
fn dsn_parameters_are_sent_xtext_encoded_when_offered() {
    each_runtime(|rt| {
        let server = Server::builder()
            .extensions(&["PIPELINING", "8BITMIME", "DSN"])
            .start()
            .expect("server");
        let extra = [&DSN_FLAGS[..], &["--to", "e@y.org"]].concat();
        let out = send(&addr(&server), rt, &extra, MSG);
        out.assert_code(0);
        assert!(!out.stderr.contains("DSN"), "{}: {}", out.what, out.stderr);
        let commands = commands(&server);
        let envelope: Vec<&str> = commands
            .iter()
            .map(String::as_str)
            .filter(|c| c.starts_with("MAIL") || c.starts_with("RCPT"))
            .collect();
        assert_eq!(
            envelope,
            [
                "MAIL FROM:<a@x.org> RET=HDRS ENVID=id+2B1+20+3Dx",
                "RCPT TO:<b@y.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+2Bd@y.org",
                "RCPT TO:<e@y.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+2Bd@y.org",
            ],
            "{rt}"
        );
        let messages = server.messages();
        assert_eq!(messages.len(), 1, "{rt}");
        assert_eq!(messages[0].data, MSG, "{rt}");
    });
}

#[test]
fn notify_never_is_sent_alone() {
    each_runtime(|rt| {
        let server = Server::builder()
            .extensions(&["DSN"])
            .start()
            .expect("server");
        let out = send(&addr(&server), rt, &["--notify", "never"], MSG);
        out.assert_code(0);
        let commands = commands(&server);
        assert!(
            commands
                .iter()
                .any(|c| c == "RCPT TO:<b@y.org> NOTIFY=NEVER"),
            "{rt}: {commands:?}"
        );
        assert!(
            commands.iter().any(|c| c == "MAIL FROM:<a@x.org>"),
            "{rt}: {commands:?}"
        );
    });
}

#[test]
fn without_dsn_offered_the_message_goes_without_dsn_parameters_and_a_warning() {
    each_runtime(|rt| {
        let server = Server::builder()
            .extensions(&["PIPELINING", "8BITMIME"])
            .start()
            .expect("server");
        let out = send(&addr(&server), rt, &DSN_FLAGS, MSG);
        out.assert_code(0);
        assert!(
            out.stderr.contains("warning") && out.stderr.contains("DSN"),
            "{}: no warning: {:?}",
            out.what,
            out.stderr
        );
        let commands = commands(&server);
        let envelope: Vec<&str> = commands
            .iter()
            .map(String::as_str)
            .filter(|c| c.starts_with("MAIL") || c.starts_with("RCPT"))
            .collect();
        assert_eq!(
            envelope,
            ["MAIL FROM:<a@x.org>", "RCPT TO:<b@y.org>"],
            "{rt}"
        );
        let messages = server.messages();
        assert_eq!(messages.len(), 1, "{rt}");
        assert_eq!(messages[0].data, MSG, "{rt}");

        // Without DSN flags there is nothing to warn about.
        let server = Server::builder()
            .extensions(&["PIPELINING"])
            .start()
            .expect("server");
        let out = send(&addr(&server), rt, &[], MSG);
        out.assert_code(0);
        assert!(!out.stderr.contains("DSN"), "{}: {}", out.what, out.stderr);
        finished(&server, 1);
    });
}

#[test]
fn bad_dsn_flags_exit_2_before_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let server = listener.local_addr().expect("addr").to_string();
    let cases: [&[&str]; 22] = [
        &["--notify", "NEVER,SUCCESS"],
        &["--notify", "failure,never"],
        &["--notify", "SUCCESS,SUCCESS"],
        &["--notify", "SUCCESS,"],
        &["--notify", ""],
        &["--notify", "ALWAYS"],
        &["--notify", "SUCCESS\r\nRSET"],
        &["--notify", "NEVER\n"],
        &["--notify"],
        &["--orcpt", "not an address"],
        &["--orcpt", "c@y.org\r\nRSET"],
        &["--orcpt", ""],
        &["--orcpt", "c@y.org>"],
        &["--orcpt", "dé@y.org"],
        &["--ret", "ALL"],
        &["--ret", "FULL\r"],
        &["--ret", ""],
        &["--envid", ""],
        &["--envid", "id\r\nRSET"],
        &["--envid", "id\n"],
        &["--envid", "idé"],
        &["--envid", "x\u{7f}"],
    ];
    let long_envid = "x".repeat(501);
    each_runtime(|rt| {
        let long: &[&str] = &["--envid", &long_envid];
        for case in cases.iter().copied().chain([long]) {
            let args = [
                &["--server", &server, "--from", "a@x.org", "--to", "b@y.org"][..],
                &["--json", "--timeout", "3", "--runtime", rt][..],
                case,
            ]
            .concat();
            let out = smtp_send(&args, MSG);
            out.assert_code(2);
            assert!(!out.stderr.is_empty(), "{}: no message", out.what);
            assert!(!out.json()["ok"].as_bool().unwrap_or(true), "{}", out.what);
        }
    });
    assert!(
        listener.accept().is_err(),
        "a usage error connected to the server"
    );
}

/// A NUL cannot be passed in a process's arguments: the same check, in-process.
#[test]
fn a_nul_in_a_dsn_flag_is_a_usage_error() {
    for (flag, value) in [
        ("--notify", "SUCCESS\0"),
        ("--orcpt", "c@y.org\0"),
        ("--ret", "FULL\0"),
        ("--envid", "id\0x"),
    ] {
        let args: Vec<String> = [
            "--server",
            "127.0.0.1:9",
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            flag,
            value,
        ]
        .map(String::from)
        .to_vec();
        let err = Arc::new(Mutex::new(Vec::new()));
        let mut out = Vec::new();
        let code = smtp_send::run(&args, &mut &MSG[..], &mut out, err.clone());
        assert_eq!(code, 2, "{flag} {value:?}");
        let text = String::from_utf8_lossy(&err.lock().expect("stderr")).into_owned();
        assert!(text.contains("CR, LF or NUL"), "{flag}: {text}");
    }
}

/// `size` bytes (at least) of a message with long lines, lines starting with dots and 8-bit
/// bytes, CRLF line ends throughout: what the server receives un-stuffed is the same bytes.
fn large_message(size: usize) -> Vec<u8> {
    let mut block = Vec::new();
    block.extend_from_slice(&[b'x'; 10_000]);
    block.extend_from_slice(b"\r\n.a line starting with a dot\r\n..and two\r\n.\r\n");
    block.extend_from_slice("caf\u{e9} 8-bit\r\n".as_bytes());
    let mut content = b"Subject: large standard input\r\n\r\n".to_vec();
    while content.len() < size {
        content.extend_from_slice(&block);
    }
    content
}

/// Sends `content` on standard input `count` times under `rt` to a server that keeps only the
/// size and hash; checks that every copy arrived whole, with `SIZE=` and `BODY=8BITMIME`, and
/// returns the run.
fn send_stdin(rt: &str, content: &Arc<Vec<u8>>, count: usize) -> Out {
    let size = content.len() as u64;
    let hash = fnv1a(content);
    let server = Server::builder()
        .extensions(&["PIPELINING", "8BITMIME", "SIZE"])
        .keep_data(0)
        .start()
        .expect("server");
    let a = addr(&server);
    let count_arg = count.to_string();
    let args = [
        "--server",
        &a,
        "--runtime",
        rt,
        "--from",
        "a@x.org",
        "--to",
        "b@y.org",
        "--json",
        "--timeout",
        "20",
        "--count",
        &count_arg,
    ];
    let content = Arc::clone(content);
    let out = smtp_send_fed(&args, move |pipe| pipe.write_all(&content));
    out.assert_code(0);
    let messages = server.messages();
    assert_eq!(messages.len(), count, "{}", out.what);
    for m in &messages {
        assert_eq!(
            (m.size, m.hash),
            (size, hash),
            "{}: a copy differs",
            out.what
        );
        assert!(
            m.mail_from.contains(&format!("SIZE={size}")) && m.mail_from.contains("BODY=8BITMIME"),
            "{}: {}",
            out.what,
            m.mail_from
        );
    }
    out
}

/// 100 MiB on standard input is sent whole in constant memory: beyond 1 MiB it is spooled to
/// a temporary file, not read into memory (before: a peak RSS of about 106 MiB).
#[test]
fn a_large_standard_input_is_sent_in_constant_memory() {
    let content = Arc::new(large_message(100 * 1024 * 1024));
    each_runtime(|rt| {
        let out = send_stdin(rt, &content, 1);
        let peak = out.peak_rss_kib.expect("peak RSS (Linux)");
        assert!(peak < 16 * 1024, "{}: peak RSS {peak} KiB", out.what);
    });
}

/// Standard input just over the in-memory limit is spooled, and the spool is rewound for each
/// `--count` copy; just under the limit it stays in memory: the same bytes either way.
#[test]
fn standard_input_around_the_spool_threshold_sends_every_copy_whole() {
    let over = Arc::new(large_message(3 * 1024 * 1024));
    let mut under = large_message(1024 * 1024 - 20_000);
    under.truncate(1024 * 1024 - 20_000);
    under.extend_from_slice(b"\r\n");
    let under = Arc::new(under);
    each_runtime(|rt| {
        send_stdin(rt, &over, 3);
        send_stdin(rt, &under, 2);
    });
}

/// `--trace` counts the body bytes as sent: by DATA, line ends normalised and dot-stuffed (the
/// final `.` line on its own); by BDAT, the chunk size announced.
#[test]
fn trace_counts_body_bytes_as_sent() {
    // 30 bytes in; bare LFs become CRLF (+4), the leading dot is doubled (+1).
    let input = b"From: a@x.org\nSubject: t\n\n.Hi\n";
    assert_eq!(input.len(), 30);
    for (chunking, expected) in [
        (false, ["C: <35 body bytes>", "C: ."]),
        (true, ["C: BDAT 34 LAST", "C: <34 body bytes>"]),
    ] {
        each_runtime(|rt| {
            let mut builder = Server::builder();
            if chunking {
                builder = builder.extension("CHUNKING");
            }
            let server = builder.start().expect("server");
            let out = send(&addr(&server), rt, &["--trace"], input);
            out.assert_code(0);
            let lines: Vec<&str> = out.stderr.lines().collect();
            assert!(
                lines.windows(2).any(|w| w == expected),
                "{}: {expected:?} not in {}",
                out.what,
                out.stderr
            );
            let messages = server.messages();
            assert_eq!(messages.len(), 1, "{}", out.what);
            assert_eq!(
                messages[0].data,
                b"From: a@x.org\r\nSubject: t\r\n\r\n.Hi\r\n"
            );
        });
    }
}
