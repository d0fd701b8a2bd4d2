//! The real-server scenarios, each written once against the [`Adapter`] seam of the crate root
//! and run for every adapter by `real_server_tests!`: aiosmtpd (plaintext without PIPELINING,
//! refused recipients, STARTTLS with the test CA or an untrusted certificate, AUTH PLAIN and
//! LOGIN, SMTPUTF8, LMTP), Postfix's smtp-sink (1, 10 and 1000 messages) and a private Postfix
//! instance (CHUNKING/BDAT). Each checks byte for byte what the server received.

use super::support::{
    assert_bytes_eq, postfix, smtp_sink, strip_received_header, test_message, Aiosmtpd,
    AiosmtpdOptions, Record,
};
use super::{Adapter, Auth, AuthMechanism, Delivery, Job, Message, Outcome, Step, Tls};

fn run(adapter: &dyn Adapter, job: &Job) -> Outcome {
    match adapter.run(job) {
        Ok(outcome) => outcome,
        Err(failure) => panic!("the session failed: {failure:?}"),
    }
}

fn all_accepted(to: &[&str]) -> Delivery {
    Delivery {
        accepted: true,
        recipients: to.iter().map(|r| ((*r).to_owned(), 250)).collect(),
    }
}

fn message(from: &str, to: &[&str], body: Vec<u8>) -> Message {
    Message {
        from: from.to_owned(),
        to: to.iter().map(|s| (*s).to_owned()).collect(),
        body,
        eight_bit: false,
    }
}

/// `record` is `message` as received: envelope and content byte for byte.
fn assert_received(record: &Record, message: &Message, rcpt_tos: &[&str]) {
    // aiosmtpd records the null reverse-path as `<>`.
    let from = if message.from.is_empty() {
        "<>"
    } else {
        &message.from
    };
    assert_eq!(record.mail_from, from, "MAIL FROM");
    assert_eq!(record.rcpt_tos, rcpt_tos, "RCPT TO");
    assert_bytes_eq(&record.content, &message.body, "content");
}

/// Each `MAIL`/`RCPT`/`DATA` was answered before the next command left (no pipelining).
fn assert_lock_step(transcript: &[String]) {
    let mut commands = 0;
    for (i, line) in transcript.iter().enumerate() {
        if ["C: MAIL FROM:", "C: RCPT TO:", "C: DATA"]
            .iter()
            .any(|c| line.starts_with(c))
        {
            commands += 1;
            let next = transcript.get(i + 1).map_or("", String::as_str);
            assert!(
                next.starts_with("S: "),
                "`{line}` was followed by `{next}`, not by its reply: {transcript:#?}"
            );
        }
    }
    assert!(commands >= 3, "no transaction in {transcript:#?}");
}

pub(crate) fn aiosmtpd_plain_session_without_pipelining(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(&AiosmtpdOptions::default());
    let msg = message(
        "alice@example.test",
        &["bob@example.test"],
        test_message("plain", 1, false),
    );
    let outcome = run(adapter, &Job::new(server.port(), vec![msg.clone()]));
    assert!(!outcome.keywords.iter().any(|k| k == "PIPELINING"));
    assert!(!outcome.keywords.iter().any(|k| k == "CHUNKING"));
    assert!(!outcome.secure);
    assert_eq!(outcome.deliveries, [all_accepted(&["bob@example.test"])]);
    assert_lock_step(&outcome.transcript);
    let records = server.records(1);
    assert_received(&records[0], &msg, &["bob@example.test"]);
    assert_eq!(records[0].helo.as_deref(), Some(super::CLIENT_NAME));
    assert!(records[0].mail_options.is_empty(), "{:?}", records[0]);
    assert!(!records[0].tls && records[0].auth_login.is_none());
}

pub(crate) fn aiosmtpd_several_recipients_one_refused_two_messages(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(&AiosmtpdOptions {
        refuse_rcpt: Some("nobody"),
        ..AiosmtpdOptions::default()
    });
    let to = ["a@one.test", "nobody@two.test", "c@three.test"];
    let first = message("alice@example.test", &to, test_message("multi", 1, false));
    let second = message(
        "",
        &["d@four.test", "e@five.test"],
        test_message("multi", 2, false),
    );
    let job = Job::new(server.port(), vec![first.clone(), second.clone()]);
    let outcome = run(adapter, &job);
    assert_eq!(
        outcome.deliveries[0],
        Delivery {
            accepted: true,
            recipients: vec![
                ("a@one.test".into(), 250),
                ("nobody@two.test".into(), 550),
                ("c@three.test".into(), 250),
            ],
        }
    );
    assert_eq!(
        outcome.deliveries[1],
        all_accepted(&["d@four.test", "e@five.test"])
    );
    let records = server.records(2);
    assert_received(&records[0], &first, &["a@one.test", "c@three.test"]);
    // The null reverse-path.
    assert_received(&records[1], &second, &["d@four.test", "e@five.test"]);
}

pub(crate) fn aiosmtpd_starttls_verified_with_the_test_ca(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(&AiosmtpdOptions {
        tls: true,
        require_starttls: true,
        ..AiosmtpdOptions::default()
    });
    let msg = message(
        "alice@example.test",
        &["bob@example.test"],
        test_message("starttls", 1, false),
    );
    let mut job = Job::new(server.port(), vec![msg.clone()]);
    job.tls = Tls::StartTlsTestCa;
    let outcome = run(adapter, &job);
    assert!(outcome.secure);
    // The hello after the handshake no longer offers STARTTLS.
    assert!(!outcome.keywords.iter().any(|k| k == "STARTTLS"));
    assert!(outcome.transcript.iter().any(|l| l == "C: STARTTLS"));
    assert_eq!(outcome.deliveries, [all_accepted(&["bob@example.test"])]);
    let records = server.records(1);
    assert!(records[0].tls, "aiosmtpd saw the message in plaintext");
    assert_received(&records[0], &msg, &["bob@example.test"]);
}

pub(crate) fn aiosmtpd_starttls_untrusted_certificate_is_refused(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(&AiosmtpdOptions {
        tls: true,
        require_starttls: true,
        ..AiosmtpdOptions::default()
    });
    let msg = message(
        "alice@example.test",
        &["bob@example.test"],
        test_message("untrusted", 1, false),
    );
    let mut job = Job::new(server.port(), vec![msg]);
    job.tls = Tls::StartTlsSystemRoots;
    let failure = match adapter.run(&job) {
        Ok(outcome) => panic!("a certificate of the test CA was trusted: {outcome:?}"),
        Err(failure) => failure,
    };
    assert_eq!(failure.step, Step::Connect, "{failure:?}");
    assert!(
        failure.message.to_lowercase().contains("certificate"),
        "not a certificate error: {failure:?}"
    );
    server.assert_no_records();
}

fn auth_scenario(adapter: &dyn Adapter, mechanism: AuthMechanism, tls: bool) {
    let server = Aiosmtpd::start(&AiosmtpdOptions {
        tls,
        require_starttls: tls,
        auth: Some(("carol", "s3cret pass")),
        auth_required: true,
        auth_allow_plaintext: !tls,
        ..AiosmtpdOptions::default()
    });
    let msg = message(
        "carol@example.test",
        &["dave@example.test"],
        test_message("auth", 1, false),
    );
    let mut job = Job::new(server.port(), vec![msg.clone()]);
    job.tls = if tls { Tls::StartTlsTestCa } else { Tls::None };
    job.auth = Some(Auth {
        mechanism,
        user: "carol".into(),
        password: "s3cret pass".into(),
    });
    let outcome = run(adapter, &job);
    assert_eq!(outcome.secure, tls);
    assert_eq!(outcome.deliveries, [all_accepted(&["dave@example.test"])]);
    // The transcript redacts the credentials.
    let text = outcome.transcript.join("\n");
    assert!(!text.contains("s3cret"), "{text}");
    let records = server.records(1);
    let expected = match mechanism {
        AuthMechanism::Login => "LOGIN",
        // Of what aiosmtpd offers (LOGIN, PLAIN), smtplib's order picks PLAIN.
        AuthMechanism::Plain | AuthMechanism::Any => "PLAIN",
    };
    assert_eq!(records[0].auth_mechanism.as_deref(), Some(expected));
    assert_eq!(records[0].auth_login.as_deref(), Some("carol"));
    assert_eq!(records[0].tls, tls);
    assert_received(&records[0], &msg, &["dave@example.test"]);
}

pub(crate) fn aiosmtpd_auth_plain_after_starttls(adapter: &dyn Adapter) {
    auth_scenario(adapter, AuthMechanism::Plain, true);
}

pub(crate) fn aiosmtpd_auth_login_after_starttls(adapter: &dyn Adapter) {
    auth_scenario(adapter, AuthMechanism::Login, true);
}

pub(crate) fn aiosmtpd_auth_on_plaintext_loopback(adapter: &dyn Adapter) {
    // aiosmtpd offers AUTH before TLS only with auth_require_tls=False; the client allows
    // plaintext AUTH to a loopback peer.
    auth_scenario(adapter, AuthMechanism::Any, false);
}

pub(crate) fn aiosmtpd_auth_wrong_password(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(&AiosmtpdOptions {
        tls: true,
        require_starttls: true,
        auth: Some(("carol", "right")),
        auth_required: true,
        ..AiosmtpdOptions::default()
    });
    let msg = message(
        "carol@example.test",
        &["dave@example.test"],
        test_message("badauth", 1, false),
    );
    let mut job = Job::new(server.port(), vec![msg]);
    job.tls = Tls::StartTlsTestCa;
    job.auth = Some(Auth {
        mechanism: AuthMechanism::Any,
        user: "carol".into(),
        password: "wrong".into(),
    });
    let failure = match adapter.run(&job) {
        Ok(outcome) => panic!("a wrong password was accepted: {outcome:?}"),
        Err(failure) => failure,
    };
    assert_eq!(failure.step, Step::Auth, "{failure:?}");
    assert_eq!(failure.code, Some(535), "{failure:?}");
    server.assert_no_records();
}

pub(crate) fn aiosmtpd_smtputf8_addresses(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(&AiosmtpdOptions {
        smtputf8: true,
        ..AiosmtpdOptions::default()
    });
    let from = "jörg@bücher.example";
    let to = ["用户@例子.test", "ascii@example.test"];
    let body = "From: Jörg <jörg@bücher.example>\r\n\
                To: 用户@例子.test, ascii@example.test\r\n\
                Subject: Grüße — SMTPUTF8\r\n\
                Message-ID: <utf8.1@smtp-rs.test>\r\n\
                \r\n\
                Ünïcödé body: 日本語, ελληνικά, emoji 📨.\r\n\
                .leading dot é\r\n"
        .as_bytes()
        .to_vec();
    let mut msg = message(from, &to, body);
    msg.eight_bit = true;
    let outcome = run(adapter, &Job::new(server.port(), vec![msg.clone()]));
    assert!(outcome.keywords.iter().any(|k| k == "SMTPUTF8"));
    assert_eq!(outcome.deliveries, [all_accepted(&to)]);
    let records = server.records(1);
    assert!(records[0].smtp_utf8, "{:?}", records[0]);
    assert!(
        records[0].mail_options.iter().any(|o| o == "SMTPUTF8"),
        "{:?}",
        records[0].mail_options
    );
    assert!(
        records[0].mail_options.iter().any(|o| o == "BODY=8BITMIME"),
        "{:?}",
        records[0].mail_options
    );
    assert_received(&records[0], &msg, &to);
}

pub(crate) fn aiosmtpd_utf8_address_without_smtputf8_is_not_sent(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(&AiosmtpdOptions::default());
    let msg = message(
        "jörg@bücher.example",
        &["bob@example.test"],
        test_message("noutf8", 1, false),
    );
    let failure = match adapter.run(&Job::new(server.port(), vec![msg])) {
        Ok(outcome) => panic!("a UTF-8 address went to a server without SMTPUTF8: {outcome:?}"),
        Err(failure) => failure,
    };
    assert_eq!(failure.step, Step::Send(0), "{failure:?}");
    assert_eq!(failure.code, None, "refused by the client, not the server");
    server.assert_no_records();
}

pub(crate) fn aiosmtpd_lmtp_per_recipient_replies(adapter: &dyn Adapter) {
    let server = Aiosmtpd::start(&AiosmtpdOptions {
        lmtp: true,
        refuse_rcpt: Some("unknown"),
        lmtp_fail_rcpt: Some("full"),
        ..AiosmtpdOptions::default()
    });
    let to = [
        "one@lmtp.test",
        "full@lmtp.test",
        "unknown@lmtp.test",
        "two@lmtp.test",
    ];
    let first = message("alice@example.test", &to, test_message("lmtp", 1, false));
    let second = message(
        "alice@example.test",
        &["full@lmtp.test"],
        test_message("lmtp", 2, false),
    );
    let mut job = Job::new(server.port(), vec![first.clone(), second.clone()]);
    job.lmtp = true;
    let outcome = run(adapter, &job);
    assert!(outcome.transcript.iter().any(|l| l.starts_with("C: LHLO ")));
    assert_eq!(
        outcome.deliveries,
        [
            Delivery {
                accepted: true,
                recipients: vec![
                    ("one@lmtp.test".into(), 250),
                    ("full@lmtp.test".into(), 452),
                    ("unknown@lmtp.test".into(), 550),
                    ("two@lmtp.test".into(), 250),
                ],
            },
            // Its only recipient failed after the data: the message was not accepted.
            Delivery {
                accepted: false,
                recipients: vec![("full@lmtp.test".into(), 452)],
            },
        ]
    );
    let records = server.records(2);
    let accepted = ["one@lmtp.test", "full@lmtp.test", "two@lmtp.test"];
    assert_received(&records[0], &first, &accepted);
    assert_received(&records[1], &second, &["full@lmtp.test"]);
}

// ------------------------------------------------------------------------ smtp-sink

fn sink_messages(n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let to: Vec<String> = (0..=i % 3)
                .map(|r| format!("rcpt{r}.{i}@sink.test"))
                .collect();
            Message {
                from: format!("sender.{i}@example.test"),
                to,
                body: test_message("sink", i, i % 2 == 1),
                eight_bit: i % 2 == 1,
            }
        })
        .collect()
}

fn smtp_sink_scenario(adapter: &dyn Adapter, n: usize) {
    let sink = smtp_sink::SmtpSink::start();
    let messages = sink_messages(n);
    let mut job = Job::new(sink.port(), messages.clone());
    // 1000 messages make ~8000 transcript lines: keep it for the small runs only.
    job.transcript = n <= 10;
    let outcome = run(adapter, &job);
    for keyword in ["PIPELINING", "8BITMIME"] {
        assert!(
            outcome.keywords.iter().any(|k| k == keyword),
            "{keyword} not offered: {:?}",
            outcome.keywords
        );
    }
    assert_eq!(outcome.deliveries.len(), n);
    for (delivery, message) in outcome.deliveries.iter().zip(&messages) {
        let to: Vec<&str> = message.to.iter().map(String::as_str).collect();
        assert_eq!(*delivery, all_accepted(&to));
    }
    if job.transcript {
        // PIPELINING used: the first RCPT left right behind MAIL, before MAIL's reply.
        let mail = outcome
            .transcript
            .iter()
            .position(|l| l.starts_with("C: MAIL FROM:"));
        let next = mail.and_then(|i| outcome.transcript.get(i + 1));
        assert!(
            next.is_some_and(|l| l.starts_with("C: RCPT TO:")),
            "MAIL and RCPT were not pipelined: {:#?}",
            outcome.transcript
        );
    }
    let dumps = sink.dumps(n);
    let mut checked = 0;
    for (i, message) in messages.iter().enumerate() {
        let Some(dump) = dumps.get(&i) else {
            panic!("message {i} is not among smtp-sink's {} dumps", dumps.len());
        };
        let mut mail_args = format!("<{}>", message.from);
        if message.eight_bit {
            mail_args.push_str(" BODY=8BITMIME");
        }
        assert_eq!(dump.mail_args, mail_args, "message {i}");
        let rcpt_args: Vec<String> = message.to.iter().map(|r| format!("<{r}>")).collect();
        assert_eq!(dump.rcpt_args, rcpt_args, "message {i}");
        assert_eq!(dump.helo_args, super::CLIENT_NAME, "message {i}");
        assert_eq!(dump.proto, "ESMTP", "message {i}");
        assert_bytes_eq(
            &dump.content,
            &smtp_sink::as_dumped(&message.body),
            &format!("message {i}"),
        );
        checked += 1;
    }
    assert_eq!(checked, n);
    assert_eq!(
        dumps.len(),
        n,
        "smtp-sink dumped more messages than were sent"
    );
}

pub(crate) fn smtp_sink_one_message(adapter: &dyn Adapter) {
    smtp_sink_scenario(adapter, 1);
}

pub(crate) fn smtp_sink_ten_messages(adapter: &dyn Adapter) {
    smtp_sink_scenario(adapter, 10);
}

pub(crate) fn smtp_sink_thousand_messages(adapter: &dyn Adapter) {
    smtp_sink_scenario(adapter, 1000);
}

// ------------------------------------------------------------------------ Postfix smtpd

pub(crate) fn postfix_smtpd_chunking(adapter: &dyn Adapter) {
    let mta = postfix::PrivatePostfix::start();
    // 200 KiB: more than three BDAT chunks of the client's default 64 KiB.
    let mut big = test_message("bdat", 1, false);
    while big.len() < 200 * 1024 {
        big.extend_from_slice(b"0123456789 abcdefghijklmnopqrstuvwxyz .dot-inside\r\n.\r\n..\r\n");
    }
    let mut eight = message(
        "alice@example.test",
        &["bob@example.test", "carol@example.test"],
        test_message("bdat", 2, true),
    );
    eight.eight_bit = true;
    let mut utf8 = message(
        "jörg@example.test",
        &["użytkownik@example.test"],
        "Subject: Grüße\r\nMessage-ID: <bdat.3@smtp-rs.test>\r\n\r\nÜnïcödé über BDAT.\r\n"
            .as_bytes()
            .to_vec(),
    );
    utf8.eight_bit = true;
    let messages = vec![
        message("alice@example.test", &["bob@example.test"], big),
        eight,
        utf8,
    ];
    let outcome = run(adapter, &Job::new(mta.port(), messages.clone()));
    assert!(
        outcome.keywords.iter().any(|k| k == "CHUNKING"),
        "{:?}",
        outcome.keywords
    );
    let bdat = outcome
        .transcript
        .iter()
        .filter(|l| l.starts_with("C: BDAT "))
        .count();
    assert!(
        bdat >= 6,
        "BDAT not used as expected: {:#?}",
        outcome.transcript
    );
    assert!(
        !outcome.transcript.iter().any(|l| l == "C: DATA"),
        "DATA used although CHUNKING was offered"
    );
    for (delivery, message) in outcome.deliveries.iter().zip(&messages) {
        let to: Vec<&str> = message.to.iter().map(String::as_str).collect();
        assert_eq!(*delivery, all_accepted(&to));
    }
    // Postfix relays each message over LMTP to aiosmtpd, in queue order: match by content.
    let records = mta.records(messages.len());
    for message in &messages {
        let to: Vec<&str> = message.to.iter().map(String::as_str).collect();
        let Some(record) = records
            .iter()
            .find(|r| strip_received_header(&r.content).is_some_and(|body| body == message.body))
        else {
            let got: Vec<String> = records
                .iter()
                .map(|r| {
                    String::from_utf8_lossy(&r.content)
                        .chars()
                        .take(400)
                        .collect()
                })
                .collect();
            panic!(
                "message from {} not relayed byte-exact; relayed (Received header + \
                 message expected): {got:#?}",
                message.from
            );
        };
        assert_eq!(record.mail_from, message.from);
        assert_eq!(record.rcpt_tos, to);
        // smtpd's trace header names our EHLO and Postfix (peer name lookups are off).
        let received = String::from_utf8_lossy(&record.content);
        let head: String = received.chars().take(300).collect();
        assert!(
            head.starts_with("Received: from client.smtp-rs.test (unknown [127.0.0.1])")
                && head.contains("by postfix.test (Postfix) with "),
            "{head}"
        );
        if message.eight_bit {
            assert!(
                record.mail_options.iter().any(|o| o == "BODY=8BITMIME"),
                "{:?}",
                record.mail_options
            );
        }
    }
}
