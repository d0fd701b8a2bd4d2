//! Batch sending (`send_all`) through all three adapters: every message arrives byte-exact and in
//! order, refusals are reported per message, and with PIPELINING the next transaction is on the
//! wire before the previous one's final reply (observed by a scripted server that withholds that
//! reply until the next `MAIL` has arrived).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use std::sync::{Arc, Mutex};

use smtp_proto::client::{MailOutcome, MailReport};
use smtp_tests::server::{Action, Server, Trigger};

#[allow(dead_code)]
#[path = "../examples/smtp-send/main.rs"]
mod smtp_send;

const T: Duration = Duration::from_secs(10);

/// One adapter's `send_all`, on a fresh connection to `127.0.0.1:port`, then QUIT.
type SendAll = fn(u16, bool, &[(&str, Vec<u8>)]) -> Vec<MailReport>;

fn envelope(to: &str) -> smtp_blocking::Envelope {
    smtp_blocking::envelope("sender@example.org", [to]).expect("envelope")
}

fn blocking(port: u16, pipelining: bool, messages: &[(&str, Vec<u8>)]) -> Vec<MailReport> {
    let mut smtp = smtp_blocking::SmtpClient::builder()
        .timeout(T)
        .pipelining(pipelining)
        .connect("127.0.0.1", port)
        .expect("connect");
    let batch = messages
        .iter()
        .map(|(to, body)| (envelope(to), body.as_slice()));
    let reports = smtp.send_all(batch).expect("send_all");
    // A session the server ended after the last report has nothing to quit.
    if smtp.is_connected() {
        smtp.quit().expect("quit");
    }
    reports
}

async fn on_async<R: smtp_smol::Runtime>(
    port: u16,
    pipelining: bool,
    messages: &[(&str, Vec<u8>)],
) -> Vec<MailReport> {
    let mut smtp = smtp_smol::GenericSmtpClient::<R>::builder()
        .timeout(T)
        .pipelining(pipelining)
        .connect("127.0.0.1", port)
        .await
        .expect("connect");
    let batch = messages
        .iter()
        .map(|(to, body)| (envelope(to), body.as_slice()));
    let reports = smtp.send_all(batch).await.expect("send_all");
    if smtp.is_connected() {
        smtp.quit().await.expect("quit");
    }
    reports
}

fn smol(port: u16, pipelining: bool, messages: &[(&str, Vec<u8>)]) -> Vec<MailReport> {
    smol::block_on(on_async::<smtp_smol::Smol>(port, pipelining, messages))
}

fn async_std(port: u16, pipelining: bool, messages: &[(&str, Vec<u8>)]) -> Vec<MailReport> {
    async_std::task::block_on(on_async::<smtp_async_std::AsyncStd>(
        port, pipelining, messages,
    ))
}

const ADAPTERS: [(&str, SendAll); 3] = [
    ("blocking", blocking),
    ("smol", smol),
    ("async-std", async_std),
];

/// Distinct bodies, with lines that need dot-stuffing and one larger than the adapters' buffers.
fn bodies() -> Vec<Vec<u8>> {
    let mut large = b"Subject: large\r\n\r\n".to_vec();
    for i in 0..20_000 {
        large.extend_from_slice(format!(".line {i} of a large body\r\n").as_bytes());
    }
    vec![
        b"Subject: one\r\n\r\nfirst\r\n".to_vec(),
        b"Subject: two\r\n\r\n.leading dot\r\n..two dots\r\n".to_vec(),
        large,
        b"Subject: four\r\n\r\n.\r\n".to_vec(),
        b"Subject: five\r\n\r\nlast\r\n".to_vec(),
    ]
}

#[test]
fn every_message_arrives_byte_exact_and_in_order() {
    for pipelining in [true, false] {
        for (name, send_all) in ADAPTERS {
            let server = Server::start().expect("server");
            let bodies = bodies();
            let recipients: Vec<String> = (0..bodies.len())
                .map(|i| format!("rcpt{i}@example.net"))
                .collect();
            let messages: Vec<(&str, Vec<u8>)> = recipients
                .iter()
                .map(String::as_str)
                .zip(bodies.iter().cloned())
                .collect();
            let reports = send_all(server.port(), pipelining, &messages);
            assert_eq!(reports.len(), bodies.len(), "{name}");
            assert!(
                reports.iter().all(MailReport::is_accepted),
                "{name}: {reports:?}"
            );
            let logs = server.wait_finished(1, T);
            let log = logs.first().expect("one session");
            assert_eq!(log.messages.len(), bodies.len(), "{name}, one connection");
            for (i, (received, body)) in log.messages.iter().zip(&bodies).enumerate() {
                assert_eq!(received.recipients(), [recipients[i].as_str()], "{name}");
                assert!(received.data == *body, "{name}: message {i} differs");
            }
            let mails = log
                .commands
                .iter()
                .filter(|c| c.starts_with("MAIL"))
                .count();
            assert_eq!(mails, bodies.len(), "{name}: {:?}", log.commands);
        }
    }
}

#[test]
fn refusals_are_reported_per_message_and_the_batch_goes_on() {
    for (name, send_all) in ADAPTERS {
        let server = Server::builder()
            .on(
                Trigger::command("RCPT TO:<refused@"),
                Action::reply("550 5.1.1 no such user"),
            )
            .start()
            .expect("server");
        let body = b"Subject: x\r\n\r\nbody\r\n".to_vec();
        let messages = [
            ("a@example.net", body.clone()),
            ("refused@example.net", body.clone()),
            ("c@example.net", body.clone()),
        ];
        let reports = send_all(server.port(), true, &messages);
        let outcomes: Vec<bool> = reports.iter().map(MailReport::is_accepted).collect();
        assert_eq!(outcomes, [true, false, true], "{name}: {reports:?}");
        assert!(
            matches!(reports[1].outcome, MailOutcome::RecipientsRefused),
            "{name}: {:?}",
            reports[1].outcome
        );
        let logs = server.wait_finished(1, T);
        let received: Vec<Vec<&str>> = logs[0].messages.iter().map(|m| m.recipients()).collect();
        assert_eq!(received, [["a@example.net"], ["c@example.net"]], "{name}");
    }
}

/// A scripted PIPELINING server that answers each end of data only once the next `MAIL` (or
/// `QUIT`) has arrived, or after a timeout. Returns, per message, whether the next command was
/// already there when the final reply was due.
fn withholding_server(messages: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut out = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let next_line = |reader: &mut BufReader<_>, line: &mut String| -> bool {
            line.clear();
            matches!(reader.read_line(line), Ok(n) if n > 0)
        };
        let mut seen_before_final = Vec::new();
        out.write_all(b"220 mx.test ESMTP\r\n").expect("greeting");
        let mut withheld = 0;
        let mut in_data = false;
        loop {
            if !next_line(&mut reader, &mut line) {
                if withheld > 0 {
                    // Timed out waiting for the next transaction: answer anyway.
                    seen_before_final.push("(nothing)".to_owned());
                    out.write_all(b"250 2.0.0 queued\r\n").expect("write");
                    withheld -= 1;
                    continue;
                }
                break;
            }
            let text = line.trim_end().to_owned();
            if in_data {
                if text == "." {
                    in_data = false;
                    withheld += 1;
                    if seen_before_final.len() + withheld == messages {
                        // The last message: nothing can follow it but QUIT.
                        out.write_all(b"250 2.0.0 queued\r\n").expect("write");
                        withheld -= 1;
                    }
                }
                continue;
            }
            if withheld > 0 {
                seen_before_final.push(text.clone());
                out.write_all(b"250 2.0.0 queued\r\n").expect("write");
                withheld -= 1;
            }
            let reply: &[u8] = if text.starts_with("EHLO") {
                b"250-mx.test\r\n250 PIPELINING\r\n"
            } else if text == "DATA" {
                in_data = true;
                b"354 go ahead\r\n"
            } else if text == "QUIT" {
                out.write_all(b"221 bye\r\n").expect("write");
                break;
            } else {
                b"250 ok\r\n"
            };
            out.write_all(reply).expect("write");
        }
        seen_before_final
    });
    (port, handle)
}

#[test]
fn with_pipelining_the_next_mail_goes_out_before_the_final_reply() {
    for (name, send_all) in ADAPTERS {
        let (port, server) = withholding_server(3);
        let body = b"Subject: x\r\n\r\nbody\r\n".to_vec();
        let messages = [
            ("a@example.net", body.clone()),
            ("b@example.net", body.clone()),
            ("c@example.net", body.clone()),
        ];
        let reports = send_all(port, true, &messages);
        assert!(reports.iter().all(MailReport::is_accepted), "{name}");
        let seen = server.join().expect("server thread");
        assert_eq!(
            seen,
            [
                "MAIL FROM:<sender@example.org>",
                "MAIL FROM:<sender@example.org>"
            ],
            "{name}: what had arrived when each final reply was due"
        );
    }
}

/// `smtp-send --count N --data FILE` with a file over 1 MiB: read once per copy (rewound, never
/// loaded whole), every copy arrives byte-exact on one connection, and `--json` reports the
/// rate; a refused copy sets the exit code while the others are still sent.
#[test]
fn cli_count_sends_every_copy_of_a_file_and_reports_msgs_per_sec() {
    let dir = std::env::temp_dir().join(format!("smtp-send-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("message.eml");
    let mut content = b"From: a@x.org\r\nTo: b@y.org\r\nSubject: file\r\n\r\n".to_vec();
    for i in 0..50_000 {
        content.extend_from_slice(format!("line {i}\r\n.dotted {i}\r\n").as_bytes());
    }
    std::fs::write(&path, &content).expect("write");
    let path = path.to_str().expect("utf-8 path").to_owned();
    for runtime in ["blocking", "smol", "async-std"] {
        let server = Server::builder()
            .on_times(Trigger::DataEnd, Action::Delay(Duration::ZERO), 3)
            .on_times(Trigger::DataEnd, Action::reply("554 5.7.1 no"), 1)
            .start()
            .expect("server");
        let server_addr = format!("127.0.0.1:{}", server.port());
        let args: Vec<String> = [
            "--server",
            &server_addr,
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--count",
            "5",
            "--data",
            &path,
            "--json",
            "--runtime",
            runtime,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let err = Arc::new(Mutex::new(Vec::<u8>::new()));
        let mut out = Vec::new();
        let code = smtp_send::run(&args, &mut std::io::empty(), &mut out, err.clone());
        let stdout = String::from_utf8_lossy(&out).into_owned();
        assert_eq!(code, 8, "{runtime}, the fourth copy refused: {stdout}");
        let last = stdout.lines().last().expect("json line");
        let json: serde_json::Value = serde_json::from_str(last).expect("json");
        assert_eq!(json["sent"], 4, "{runtime}: {json}");
        assert!(
            json["msgs_per_sec"].as_f64().is_some_and(|r| r > 0.0),
            "{runtime}: {json}"
        );
        let logs = server.wait_finished(1, T);
        assert_eq!(logs[0].messages.len(), 5, "{runtime}: one connection");
        for m in &logs[0].messages {
            assert!(m.data == content, "{runtime}: a copy differs");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The last message's final `250` arrives with an unsolicited `421` that ends the session:
/// `send_all` still returns every report (the delivery stands) rather than the `421`.
#[test]
fn trouble_after_the_last_final_reply_keeps_the_batch_result() {
    for (name, send_all) in ADAPTERS {
        let server = Server::builder()
            .on(
                Trigger::DataEnd,
                Action::ReplyAndClose(b"250 2.0.0 queued\r\n421 4.3.2 bye\r\n".to_vec()),
            )
            .start()
            .expect("server");
        let reports = send_all(
            server.port(),
            true,
            &[("a@example.net", b"Subject: x\r\n\r\nhi\r\n".to_vec())],
        );
        assert_eq!(reports.len(), 1, "{name}");
        assert!(
            matches!(reports[0].outcome, MailOutcome::Accepted(_)),
            "{name}: {:?}",
            reports[0].outcome
        );
    }
}
