//! The blocking adapter against the in-process test server over real loopback sockets: every
//! smtplib-parity method, TLS (STARTTLS, implicit, untrusted certificates), timeouts, streaming,
//! `send_message` header handling, LMTP over TCP and Unix sockets, and the `smtp-send` CLI.

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smtp_blocking::proto::client::Stage;
use smtp_blocking::proto::sasl::{Plain, XOAuth2};
use smtp_blocking::proto::{Error as ProtoError, MailParams, RcptParams};
use smtp_blocking::{Content, Error, SmtpClient, TlsMode, UsageError};
use smtp_tests::server::{
    fnv1a, localhost_acceptor, trusting_connector, wrong_host_acceptor, Action, Server, SessionLog,
    Trigger,
};

#[allow(dead_code)]
#[path = "../examples/smtp-send.rs"]
mod smtp_send;

const T: Duration = Duration::from_secs(10);

fn connect(server: &Server) -> SmtpClient {
    SmtpClient::builder()
        .timeout(T)
        .connect("127.0.0.1", server.port())
        .expect("connect")
}

fn finished(server: &Server, n: usize) -> Vec<SessionLog> {
    let logs = server.wait_finished(n, T);
    assert!(
        logs.len() >= n && logs.iter().all(|l| l.finished),
        "{logs:?}"
    );
    logs
}

fn unique_socket_path(tag: &str) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("smtp-rs-{tag}-{}-{n}.sock", std::process::id()))
}

// ------------------------------------------------------------------ smtplib methods

#[test]
fn every_simple_command_round_trips() {
    let server = Server::start().expect("server");
    let mut smtp = connect(&server);
    assert_eq!(smtp.greeting().map(|g| g.code().get()), Some(220));
    assert!(!smtp.does_esmtp());
    assert!(!smtp.has_extn("pipelining"), "no capabilities before EHLO");

    let ehlo = smtp.ehlo().expect("ehlo");
    assert_eq!(ehlo.code().get(), 250);
    assert!(smtp.does_esmtp());
    assert!(smtp.has_extn("PIPELINING") && smtp.has_extn("auth"));
    assert!(smtp
        .capabilities()
        .is_some_and(|c| c.max_size() == Some(52_428_800)));
    assert_eq!(smtp.ehlo_response().map(|r| r.code().get()), Some(250));

    let helo = smtp.helo().expect("helo");
    assert_eq!(helo.code().get(), 250);
    assert!(!smtp.does_esmtp(), "HELO ends ESMTP");
    assert_eq!(smtp.helo_response().map(|r| r.code().get()), Some(250));
    smtp.ehlo_or_helo_if_needed().expect("already said hello");

    assert_eq!(smtp.noop().expect("noop").code().get(), 250);
    assert_eq!(smtp.rset().expect("rset").code().get(), 250);
    assert_eq!(
        smtp.verify("bob@example.net").expect("vrfy").code().get(),
        252
    );
    assert_eq!(smtp.expn("staff").expect("expn").code().get(), 250);
    assert_eq!(smtp.help(None).expect("help").code().get(), 214);
    assert_eq!(smtp.help(Some("MAIL")).expect("help").code().get(), 214);
    assert_eq!(smtp.docmd("XFOO bar").expect("docmd").code().get(), 500);
    // CR/LF never reach the wire.
    assert!(matches!(
        smtp.docmd("NOOP\r\nRSET"),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(smtp.verify("a\nb"), Err(Error::InvalidInput(_))));
    smtp.quit().expect("quit");
    assert!(!smtp.is_connected());
    assert!(matches!(smtp.noop(), Err(Error::NotConnected)));

    let logs = finished(&server, 1);
    let name =
        smtp_blocking::fqdn().map_or_else(|| "[127.0.0.1]".to_owned(), |d| d.as_str().to_owned());
    assert_eq!(
        logs[0].commands,
        [
            format!("EHLO {name}"),
            format!("HELO {name}"),
            "NOOP".into(),
            "RSET".into(),
            "VRFY bob@example.net".into(),
            "EXPN staff".into(),
            "HELP".into(),
            "HELP MAIL".into(),
            "XFOO bar".into(),
            "QUIT".into(),
        ]
    );
}

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

#[test]
fn connection_failures() {
    let zero = SmtpClient::builder()
        .timeout(Duration::ZERO)
        .connect("127.0.0.1", 25);
    assert!(matches!(zero, Err(Error::InvalidSetting(_))));
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let refused = SmtpClient::builder().timeout(T).connect("127.0.0.1", port);
    assert!(matches!(refused, Err(Error::Io(_))), "{refused:?}");
    let bad_port = SmtpClient::builder().connect("127.0.0.1:smtp", 0);
    assert!(matches!(bad_port, Err(Error::InvalidSetting(_))));
}

#[test]
fn greeting_554_is_rejected_and_only_quit_is_sent() {
    let server = Server::builder()
        .on(Trigger::Greeting, Action::reply("554 5.7.1 go away"))
        .start()
        .expect("server");
    let result = SmtpClient::builder()
        .timeout(T)
        .connect("127.0.0.1", server.port());
    match result {
        Err(Error::Smtp(ProtoError::Rejected {
            stage: Stage::Greeting,
            reply,
        })) => {
            assert_eq!(reply.code().get(), 554);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(finished(&server, 1)[0].commands, ["QUIT"]);
}

#[test]
fn low_level_mail_rcpt_data_streams_the_body() {
    let server = Server::start().expect("server");
    let mut smtp = connect(&server);
    smtp.ehlo().expect("ehlo");
    assert_eq!(
        smtp.mail("a@x.org", MailParams::default())
            .expect("mail")
            .code()
            .get(),
        250
    );
    assert_eq!(
        smtp.rcpt("b@y.org", RcptParams::default())
            .expect("rcpt")
            .code()
            .get(),
        250
    );
    let body: &[u8] = b"Subject: t\n\n.leading dot\r\nbare CR\rend";
    let reply = smtp.data(body).expect("data");
    assert_eq!(reply.code().get(), 250);
    // DATA without recipients: smtplib's SMTPDataError.
    smtp.mail("<>", MailParams::default()).expect("mail");
    match smtp.data(&b"x"[..]) {
        Err(Error::DataRefused { reply, .. }) => assert_eq!(reply.code().get(), 503),
        other => panic!("{other:?}"),
    }
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    let m = &logs[0].messages[0];
    assert_eq!(m.sender(), "a@x.org");
    assert_eq!(m.recipients(), ["b@y.org"]);
    assert_eq!(
        m.data,
        b"Subject: t\r\n\r\n.leading dot\r\nbare CR\r\nend\r\n"
    );
    assert!(logs[0].commands.contains(&"MAIL FROM:<>".to_owned()));
}

#[test]
fn sendmail_reports_refusals_like_smtplib() {
    let server = Server::builder()
        .on(
            Trigger::command("RCPT TO:<bad"),
            Action::reply("550 5.1.1 no such user"),
        )
        .on(
            Trigger::command("MAIL FROM:<spammer@"),
            Action::reply("553 5.7.1 sender refused"),
        )
        .on_times(
            Trigger::DataEnd,
            Action::reply("554 5.6.0 content rejected"),
            1,
        )
        .start()
        .expect("server");
    let mut smtp = connect(&server);
    let msg: &[u8] = b"Subject: hi\r\n\r\nhello\r\n";

    // The first DATA end is refused.
    match smtp.sendmail("a@x.org", &["b@y.org"], msg) {
        Err(Error::DataRefused { reply, refused }) => {
            assert_eq!(reply.code().get(), 554);
            assert!(refused.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let refused = smtp
        .sendmail("a@x.org", &["b@y.org", "bad1@y.org"], msg)
        .expect("partial success");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0.as_str(), "bad1@y.org");
    assert_eq!(refused[0].1.code().get(), 550);

    match smtp.sendmail("a@x.org", &["bad1@y.org", "bad2@y.org"], msg) {
        Err(Error::RecipientsRefused(r)) => assert_eq!(r.len(), 2),
        other => panic!("{other:?}"),
    }
    match smtp.sendmail("spammer@x.org", &["b@y.org"], msg) {
        Err(Error::SenderRefused { sender, reply }) => {
            assert_eq!(sender, "<spammer@x.org>");
            assert_eq!(reply.code().get(), 553);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        smtp.sendmail("a@x.org", &[], msg),
        Err(Error::Usage(UsageError::NoRecipients))
    ));
    assert!(matches!(
        smtp.sendmail("a@x.org\r\nRSET", &["b@y.org"], msg),
        Err(Error::InvalidInput(_))
    ));
    // Still usable after every refusal.
    assert_eq!(smtp.noop().expect("noop").code().get(), 250);
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert_eq!(
        logs[0].messages.len(),
        2,
        "the refused DATA end is recorded, then one message"
    );
    assert_eq!(logs[0].messages[1].recipients(), ["b@y.org"]);
    // RSET followed each failed transaction.
    assert!(
        logs[0].commands.iter().filter(|c| *c == "RSET").count() >= 3,
        "{:?}",
        logs[0].commands
    );
}

#[test]
fn pipelined_all_refused_with_data_354_sends_no_body() {
    let server = Server::builder()
        .on(Trigger::command("RCPT"), Action::reply("550 5.1.1 no"))
        .on(
            Trigger::command("DATA"),
            Action::reply("354 go ahead anyway"),
        )
        .start()
        .expect("server");
    let mut smtp = connect(&server);
    let result = smtp.sendmail("a@x.org", &["b@y.org"], &b"secret body\r\n"[..]);
    assert!(
        matches!(result, Err(Error::RecipientsRefused(_))),
        "{result:?}"
    );
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    let m = &logs[0].messages;
    assert_eq!(m.len(), 1);
    assert!(
        m[0].data.is_empty(),
        "the body must not be sent: {:?}",
        m[0].data
    );
}

// ------------------------------------------------------------------ send_message

#[test]
fn send_message_takes_the_envelope_from_headers_and_strips_bcc() {
    let server = Server::start().expect("server");
    let mut smtp = connect(&server);
    let msg = "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nCc: Carol <carol@example.net>\r\n\
Bcc: hidden@example.com\r\nSubject: hi\r\n\r\nBody\r\nBcc: this is body text\r\n";
    let refused = smtp.send_message(msg.as_bytes()).expect("send_message");
    assert!(refused.is_empty());

    let resent = "Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nResent-Sender: rs@example.org\r\n\
Resent-From: rf@example.org\r\nResent-To: new@example.net\r\nResent-Bcc: secret@example.net\r\n\
From: alice@example.org\r\nTo: bob@example.net\r\nBcc: old@example.net\r\n\r\nhi\r\n";
    smtp.send_message(resent.as_bytes()).expect("resent");

    let two = "Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nResent-Date: Tue, 2 Jan 2024 00:00:00 +0000\r\n\
From: a@x.org\r\nTo: b@y.org\r\n\r\nx\r\n";
    assert!(matches!(
        smtp.send_message(two.as_bytes()),
        Err(Error::Message(_))
    ));
    let nobody = "Subject: no addresses\r\n\r\nx\r\n";
    assert!(matches!(
        smtp.send_message(nobody.as_bytes()),
        Err(Error::Message(_))
    ));

    // Explicit envelope overrides the headers.
    smtp.send_message_with(msg.as_bytes(), Some("x@x.org"), Some(&["only@y.org"]))
        .expect("explicit");
    smtp.quit().expect("quit");

    let logs = finished(&server, 1);
    let m = &logs[0].messages;
    assert_eq!(m.len(), 3);
    assert_eq!(m[0].sender(), "alice@example.org");
    assert_eq!(
        m[0].recipients(),
        ["bob@example.net", "hidden@example.com", "carol@example.net"]
    );
    assert_eq!(
        m[0].data,
        b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nCc: Carol <carol@example.net>\r\n\
Subject: hi\r\n\r\nBody\r\nBcc: this is body text\r\n"
    );
    assert_eq!(m[1].sender(), "rs@example.org");
    assert_eq!(m[1].recipients(), ["new@example.net", "secret@example.net"]);
    let text = String::from_utf8_lossy(&m[1].data).to_ascii_lowercase();
    assert!(!text.contains("bcc"), "{text}");
    assert!(text.contains("resent-to: new@example.net\r\n"));
    assert_eq!(m[2].sender(), "x@x.org");
    assert_eq!(m[2].recipients(), ["only@y.org"]);
}

#[test]
fn send_message_uses_smtputf8_for_international_addresses() {
    let server = Server::start().expect("server");
    let mut smtp = connect(&server);
    let msg = "From: jö@exämple.org\r\nTo: bob@example.net\r\nSubject: ü\r\n\r\nhi\r\n";
    smtp.send_message(msg.as_bytes()).expect("send_message");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    let mail = logs[0]
        .commands
        .iter()
        .find(|c| c.starts_with("MAIL"))
        .expect("MAIL");
    assert!(
        mail.contains("SMTPUTF8") && mail.contains("BODY=8BITMIME"),
        "{mail}"
    );
    assert!(mail.starts_with("MAIL FROM:<jö@exämple.org>"), "{mail}");

    let plain = Server::builder()
        .extensions(&["PIPELINING"])
        .start()
        .expect("server");
    let mut smtp = connect(&plain);
    let result = smtp.send_message(msg.as_bytes());
    assert!(
        matches!(result, Err(Error::Usage(UsageError::Unsupported(_)))),
        "{result:?}"
    );
    smtp.quit().expect("quit");
    let logs = finished(&plain, 1);
    assert!(
        !logs[0].commands.iter().any(|c| c.starts_with("MAIL")),
        "nothing sent"
    );
}

// ------------------------------------------------------------------ AUTH

#[test]
fn login_and_auth_with_any_mechanism() {
    let server = Server::start().expect("server");
    let transcript = Arc::new(Mutex::new(Vec::new()));
    let lines = Arc::clone(&transcript);
    let mut smtp = connect(&server);
    smtp.set_transcript_sink(move |e| lines.lock().expect("lock").push(e.to_string()));

    match smtp.login("alice", "wrong") {
        Err(Error::AuthFailed(reply)) => assert_eq!(reply.code().get(), 535),
        other => panic!("{other:?}"),
    }
    smtp.login("alice", "correct horse")
        .expect("login (CRAM-MD5)");
    smtp.auth(Box::new(
        Plain::new("alice", "correct horse").expect("plain"),
    ))
    .expect("PLAIN");
    smtp.auth(Box::new(
        XOAuth2::new("alice", "correct horse").expect("xoauth2"),
    ))
    .expect("XOAUTH2");
    match smtp.auth(Box::new(
        XOAuth2::new("alice", "bad token").expect("xoauth2"),
    )) {
        Err(Error::AuthFailed(reply)) => assert_eq!(reply.code().get(), 535),
        other => panic!("{other:?}"),
    }
    let external = smtp.auth(Box::new(smtp_blocking::proto::sasl::External::new()));
    assert!(
        matches!(
            external,
            Err(Error::Usage(UsageError::MechanismNotOffered(_)))
        ),
        "{external:?}"
    );
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert_eq!(logs[0].authenticated.as_deref(), Some("alice"));
    assert!(logs[0].commands.iter().any(|c| c == "AUTH CRAM-MD5"));
    let transcript = transcript.lock().expect("lock").join("\n");
    assert!(
        transcript.contains("C: AUTH PLAIN <redacted>"),
        "{transcript}"
    );
    assert!(
        !transcript.contains("Y29ycmVjdCBob3Jz"),
        "no credentials in the transcript"
    );
}

#[test]
fn auth_not_offered_is_unsupported() {
    let server = Server::builder()
        .extensions(&["PIPELINING"])
        .start()
        .expect("server");
    let mut smtp = connect(&server);
    let result = smtp.login("alice", "correct horse");
    assert!(
        matches!(result, Err(Error::Usage(UsageError::Unsupported(_)))),
        "{result:?}"
    );
    smtp.quit().expect("quit");
}

// ------------------------------------------------------------------ TLS

#[test]
fn explicit_starttls_upgrades_and_forgets_capabilities() {
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .tls_connector(trusting_connector())
        .connect("localhost", server.port())
        .expect("connect");
    assert!(!smtp.is_secure());
    let reply = smtp.starttls().expect("starttls");
    assert_eq!(reply.code().get(), 220);
    assert!(smtp.is_secure());
    assert!(smtp.capabilities().is_none(), "forgotten after TLS");
    assert!(matches!(smtp.starttls(), Err(Error::Usage(_))));
    smtp.sendmail("a@x.org", &["b@y.org"], &b"hi\r\n"[..])
        .expect("sendmail");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert!(logs[0].tls && logs[0].messages[0].secure);
    let ehlos = logs[0]
        .commands
        .iter()
        .filter(|c| c.starts_with("EHLO"))
        .count();
    assert_eq!(ehlos, 2, "EHLO again after TLS: {:?}", logs[0].commands);
}

#[test]
fn required_starttls_on_connect() {
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .tls(TlsMode::Required)
        .tls_connector(trusting_connector())
        .connect("localhost", server.port())
        .expect("connect");
    assert!(smtp.is_secure() && smtp.has_extn("AUTH") && !smtp.has_extn("STARTTLS"));
    smtp.quit().expect("quit");
}

#[test]
fn untrusted_certificates_are_refused_by_default() {
    // The test CA is not among the system roots.
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let result = SmtpClient::builder()
        .timeout(T)
        .tls(TlsMode::Required)
        .connect("localhost", server.port());
    assert!(matches!(result, Err(Error::Tls(_))), "{result:?}");
    // A trusted CA but the wrong host name.
    let wrong = Server::builder()
        .starttls(wrong_host_acceptor())
        .start()
        .expect("server");
    let result = SmtpClient::builder()
        .timeout(T)
        .tls(TlsMode::Required)
        .tls_connector(trusting_connector())
        .connect("localhost", wrong.port());
    assert!(matches!(result, Err(Error::Tls(_))), "{result:?}");
    // Only an explicit opt-out accepts it.
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .tls(TlsMode::Required)
        .danger_accept_invalid_certs(true)
        .connect("localhost", wrong.port())
        .expect("insecure connect");
    assert!(smtp.is_secure());
    smtp.quit().expect("quit");
}

#[test]
fn implicit_tls_verifies_against_the_ip_too() {
    let server = Server::builder()
        .implicit_tls(localhost_acceptor())
        .start()
        .expect("server");
    let mut smtp =
        SmtpClient::new_tls("127.0.0.1", server.port(), trusting_connector()).expect("SMTPS");
    assert!(smtp.is_secure());
    smtp.sendmail("a@x.org", &["b@y.org"], &b"over TLS\r\n"[..])
        .expect("send");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert!(logs[0].messages[0].secure);
    assert_eq!(logs[0].messages[0].data, b"over TLS\r\n");
}

#[test]
fn starttls_problems() {
    // Required but not offered.
    let plain = Server::start().expect("server");
    let result = SmtpClient::builder()
        .timeout(T)
        .tls(TlsMode::Required)
        .connect("127.0.0.1", plain.port());
    assert!(
        matches!(result, Err(Error::Smtp(ProtoError::TlsUnavailable))),
        "{result:?}"
    );
    // Opportunistic and not offered: plaintext.
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .tls(TlsMode::Opportunistic)
        .connect("127.0.0.1", plain.port())
        .expect("opportunistic");
    assert!(!smtp.is_secure());
    smtp.quit().expect("quit");

    // Refused with 454: an error under Required, a reply for an explicit starttls().
    let refusing = Server::builder()
        .starttls(localhost_acceptor())
        .on(
            Trigger::command("STARTTLS"),
            Action::reply("454 4.7.0 TLS not available"),
        )
        .start()
        .expect("server");
    let result = SmtpClient::builder()
        .timeout(T)
        .tls(TlsMode::Required)
        .connect("localhost", refusing.port());
    assert!(
        matches!(result, Err(Error::Smtp(ProtoError::StartTlsRefused(_)))),
        "{result:?}"
    );
    let mut smtp = connect(&refusing);
    assert!(matches!(smtp.starttls(), Err(Error::StartTlsRefused(_))));
    assert_eq!(smtp.noop().expect("still usable").code().get(), 250);
    smtp.quit().expect("quit");

    // Plaintext injected after the 220.
    let injecting = Server::builder()
        .starttls(localhost_acceptor())
        .on(
            Trigger::command("STARTTLS"),
            Action::raw(b"220 go ahead\r\n250 injected\r\n"),
        )
        .start()
        .expect("server");
    let result = SmtpClient::builder()
        .timeout(T)
        .tls(TlsMode::Required)
        .tls_connector(trusting_connector())
        .connect("localhost", injecting.port());
    assert!(
        matches!(result, Err(Error::Smtp(ProtoError::StartTlsInjection))),
        "{result:?}"
    );
}

// ------------------------------------------------------------------ timeouts and disconnects

fn assert_timeout(
    result: Result<impl std::fmt::Debug, Error>,
    stage: Stage,
    started: Instant,
    limit: Duration,
) {
    match result {
        Err(Error::Smtp(ProtoError::Timeout { stage: s, .. })) => assert_eq!(s, stage),
        other => panic!("expected a timeout at {stage:?}, got {other:?}"),
    }
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());
}

#[test]
fn a_silent_server_times_out_at_the_greeting() {
    let server = Server::builder()
        .on(Trigger::Greeting, Action::Hang)
        .start()
        .expect("server");
    let started = Instant::now();
    let result = SmtpClient::builder()
        .timeout(Duration::from_millis(300))
        .connect("127.0.0.1", server.port());
    assert_timeout(result, Stage::Greeting, started, Duration::from_secs(3));
}

#[test]
fn a_trickling_reply_times_out_as_a_whole() {
    // One byte every 50 ms: each read succeeds, but the whole reply takes far longer than 400 ms.
    let server = Server::builder()
        .on(
            Trigger::command("EHLO"),
            Action::Trickle(
                b"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n".to_vec(),
                Duration::from_millis(50),
            ),
        )
        .start()
        .expect("server");
    let mut smtp = SmtpClient::builder()
        .timeout(Duration::from_millis(400))
        .connect("127.0.0.1", server.port())
        .expect("connect");
    let started = Instant::now();
    let result = smtp.ehlo();
    assert_timeout(result, Stage::Hello, started, Duration::from_secs(3));
    assert!(!smtp.is_connected(), "a timeout ends the session");
}

#[test]
fn a_slow_data_end_times_out_and_a_delay_within_the_timeout_does_not() {
    let server = Server::builder()
        .on_times(
            Trigger::command("NOOP"),
            Action::Delay(Duration::from_millis(100)),
            1,
        )
        .on(Trigger::DataEnd, Action::Hang)
        .start()
        .expect("server");
    let mut smtp = SmtpClient::builder()
        .timeout(Duration::from_millis(500))
        .connect("127.0.0.1", server.port())
        .expect("connect");
    smtp.noop().expect("a 100 ms delay is fine");
    let started = Instant::now();
    let result = smtp.sendmail("a@x.org", &["b@y.org"], &b"x\r\n"[..]);
    assert_timeout(result, Stage::DataEnd, started, Duration::from_secs(3));
}

#[test]
fn disconnects_are_unexpected_eof() {
    let server = Server::builder()
        .on(Trigger::command("MAIL"), Action::Close)
        .start()
        .expect("server");
    let mut smtp = connect(&server);
    let result = smtp.sendmail("a@x.org", &["b@y.org"], &b"x\r\n"[..]);
    assert!(
        matches!(
            result,
            Err(Error::Smtp(ProtoError::UnexpectedEof(Stage::Mail)))
        ),
        "{result:?}"
    );
    assert!(!smtp.is_connected());

    // A final reply cut off by EOF is never success.
    let cut = Server::builder()
        .on(
            Trigger::DataEnd,
            Action::ReplyAndClose(b"250 queued".to_vec()),
        )
        .start()
        .expect("server");
    let mut smtp = connect(&cut);
    let result = smtp.sendmail("a@x.org", &["b@y.org"], &b"x\r\n"[..]);
    assert!(
        matches!(
            result,
            Err(Error::Smtp(ProtoError::UnexpectedEof(Stage::DataEnd)))
        ),
        "{result:?}"
    );

    // QUIT unanswered after the message was accepted is fine.
    let rude = Server::builder()
        .on(Trigger::command("QUIT"), Action::Close)
        .start()
        .expect("server");
    let mut smtp = connect(&rude);
    smtp.sendmail("a@x.org", &["b@y.org"], &b"x\r\n"[..])
        .expect("accepted");
    smtp.quit().expect("an unanswered QUIT is a clean end");
}

#[test]
fn malformed_and_endless_replies_end_the_session_in_bounded_memory() {
    let server = Server::builder()
        .on(Trigger::command("EHLO"), Action::raw(b"25O not a code\r\n"))
        .start()
        .expect("server");
    let mut smtp = connect(&server);
    assert!(matches!(
        smtp.ehlo(),
        Err(Error::Smtp(ProtoError::Parse(_)))
    ));

    let endless = Server::builder()
        .on(
            Trigger::command("EHLO"),
            Action::Flood(b"250-more\r\n".to_vec()),
        )
        .start()
        .expect("server");
    let mut smtp = connect(&endless);
    assert!(matches!(
        smtp.ehlo(),
        Err(Error::Smtp(ProtoError::Parse(_)))
    ));

    let long_line = Server::builder()
        .on(
            Trigger::command("NOOP"),
            Action::Flood(b"250 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".to_vec()),
        )
        .start()
        .expect("server");
    let mut smtp = connect(&long_line);
    assert!(matches!(
        smtp.noop(),
        Err(Error::Smtp(ProtoError::Parse(_)))
    ));
}

// ------------------------------------------------------------------ streaming

/// A body generated on the fly: numbered lines, some starting with a dot, never in memory whole.
struct Generated {
    left: u64,
    line: u64,
    pending: Vec<u8>,
    hash: u64,
}

impl Generated {
    fn new(bytes: u64) -> Self {
        Self {
            left: bytes,
            line: 0,
            pending: Vec::new(),
            hash: fnv1a(&[]),
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            if self.left == 0 {
                return Ok(0);
            }
            self.line += 1;
            let mut line = if self.line % 7 == 0 {
                format!(".dotted line {} {}\r\n", self.line, "x".repeat(60))
            } else {
                format!("line {} {}\r\n", self.line, "y".repeat(70))
            }
            .into_bytes();
            line.truncate(
                usize::try_from(self.left)
                    .unwrap_or(usize::MAX)
                    .min(line.len()),
            );
            if self.left <= line.len() as u64 && !line.ends_with(b"\r\n") {
                // Keep the generated text CRLF-clean so the server sees it byte for byte.
                line = b"\r\n"[..usize::try_from(self.left).unwrap_or(2).min(2)].to_vec();
                if line == b"\r" {
                    line = b" ".to_vec();
                }
            }
            self.left -= line.len() as u64;
            // Content as the server will see it: un-stuffed, i.e. identical.
            self.hash = smtp_tests_fnv_update(self.hash, &line);
            self.pending = line;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

fn smtp_tests_fnv_update(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn stream_large_body(server: &Server, size: u64) -> (u64, u64) {
    let mut smtp = connect(server);
    let mut body = Generated::new(size);
    let mut envelope = smtp_blocking::envelope("a@x.org", ["b@y.org"]).expect("envelope");
    envelope.size = Some(size);
    let report = smtp.send_mail(envelope, &mut body).expect("send");
    assert!(report.is_accepted(), "{report:?}");
    smtp.quit().expect("quit");
    (body.hash, size)
}

#[test]
fn a_large_body_streams_through_data() {
    let server = Server::builder().keep_data(0).start().expect("server");
    let (hash, size) = stream_large_body(&server, 24 * 1024 * 1024 + 3);
    let logs = finished(&server, 1);
    let m = &logs[0].messages[0];
    assert!(!m.bdat);
    assert_eq!((m.size, m.hash), (size, hash));
}

#[test]
fn a_large_body_streams_through_bdat() {
    let server = Server::builder()
        .keep_data(0)
        .extension("CHUNKING")
        .start()
        .expect("server");
    let (hash, size) = stream_large_body(&server, 8 * 1024 * 1024 + 1);
    let logs = finished(&server, 1);
    let m = &logs[0].messages[0];
    assert!(m.bdat);
    assert_eq!((m.size, m.hash), (size, hash));
}

#[test]
fn eight_bit_content_needs_8bitmime() {
    let server = Server::start().expect("server");
    let mut smtp = connect(&server);
    let mut envelope = smtp_blocking::envelope("a@x.org", ["b@y.org"]).expect("envelope");
    envelope.content = Content::EightBit;
    smtp.sendmail_with(envelope.clone(), "Grüße\r\n".as_bytes())
        .expect("8bit");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert!(
        logs[0]
            .commands
            .iter()
            .any(|c| c == "MAIL FROM:<a@x.org> BODY=8BITMIME"),
        "{:?}",
        logs[0].commands
    );

    let old = Server::builder()
        .extensions(&["PIPELINING"])
        .start()
        .expect("server");
    let mut smtp = connect(&old);
    let result = smtp.sendmail_with(envelope, "Grüße\r\n".as_bytes());
    assert!(
        matches!(result, Err(Error::Usage(UsageError::Unsupported(_)))),
        "{result:?}"
    );
}

// ------------------------------------------------------------------ LMTP

#[test]
fn lmtp_over_tcp_reports_each_recipient() {
    let server = Server::builder()
        .lmtp()
        .on(
            Trigger::delivery("full@"),
            Action::reply("452 4.2.2 mailbox full"),
        )
        .start()
        .expect("server");
    let mut lmtp = SmtpClient::builder()
        .timeout(T)
        .lmtp(true)
        .connect("127.0.0.1", server.port())
        .expect("lmtp");
    let refused = lmtp
        .sendmail("a@x.org", &["ok@y.org", "full@y.org"], &b"hi\r\n"[..])
        .expect("one delivered");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0.as_str(), "full@y.org");
    assert_eq!(refused[0].1.code().get(), 452);
    // Every recipient refused after the data is a data refusal listing them.
    match lmtp.sendmail("a@x.org", &["full@y.org"], &b"hi\r\n"[..]) {
        Err(Error::DataRefused { refused, .. }) => assert_eq!(refused.len(), 1),
        other => panic!("{other:?}"),
    }
    // Low-level: one reply per accepted recipient.
    lmtp.mail("a@x.org", MailParams::default()).expect("mail");
    lmtp.rcpt("ok@y.org", RcptParams::default()).expect("rcpt");
    lmtp.rcpt("full@y.org", RcptParams::default())
        .expect("rcpt");
    let replies = lmtp.data_per_recipient(&b"x\r\n"[..]).expect("data");
    let codes: Vec<u16> = replies.iter().map(|r| r.code().get()).collect();
    assert_eq!(codes, [250, 452]);
    lmtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert!(logs[0].commands[0].starts_with("LHLO "));
}

#[cfg(unix)]
#[test]
fn lmtp_over_a_unix_socket_allows_plaintext_auth() {
    let path = unique_socket_path("lmtp");
    let server = Server::builder()
        .lmtp()
        .unix(&path)
        .start()
        .expect("server");
    let mut lmtp = SmtpClient::lmtp(path.to_str().expect("utf-8 path"), 0).expect("lmtp over unix");
    assert_eq!(lmtp.server_name(), Some("localhost"));
    assert_eq!(
        lmtp.local_hostname().map(|d| d.as_str().is_empty()),
        Some(false)
    );
    lmtp.login("alice", "correct horse")
        .expect("AUTH over a Unix socket");
    lmtp.sendmail("a@x.org", &["b@y.org"], &b"via unix\r\n"[..])
        .expect("send");
    lmtp.quit().expect("quit");
    let mut again = SmtpClient::lmtp_unix(&path).expect("lmtp_unix");
    again.quit().expect("quit");
    let logs = finished(&server, 2);
    assert_eq!(logs[0].messages[0].data, b"via unix\r\n");
    assert_eq!(logs[0].authenticated.as_deref(), Some("alice"));
}

// ------------------------------------------------------------------ transcript switch

#[test]
fn transcript_switch_on_and_off() {
    let server = Server::start().expect("server");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .transcript_sink(move |e| sink.lock().expect("lock").push(e.to_string()))
        .connect("127.0.0.1", server.port())
        .expect("connect");
    smtp.noop().expect("noop");
    smtp.set_transcript(false);
    smtp.rset().expect("rset");
    smtp.set_transcript(true); // to stderr
    smtp.quit().expect("quit");
    let lines = lines.lock().expect("lock").clone();
    assert_eq!(
        lines,
        [
            "S: 220 mx.test ESMTP test server ready",
            "C: NOOP",
            "S: 250 2.0.0 ok"
        ]
    );
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
        assert!(
            m.mail_from.contains(&format!("SIZE={}", MSG.len())),
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
            "smol",
        ],
        &[
            "--server",
            "127.0.0.1:1",
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--runtime",
            "async-std",
        ],
    ] {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let run = cli(&with_json, MSG);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.json()["ok"], false);
    }
    let run = cli(
        &[
            "--server",
            "127.0.0.1:1",
            "--from",
            "a@x.org",
            "--to",
            "b@y.org",
            "--runtime",
            "smol",
        ],
        MSG,
    );
    assert!(run.stderr.contains("not built yet"), "{}", run.stderr);
}

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
                "external",
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
        let started = Instant::now();
        let run = cli_code(&server, extra);
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
    let untrusted = cli_code(&server, &["--tls", "implicit"]);
    assert_eq!(untrusted.code, 11, "{}", untrusted.stderr);
    let insecure = cli_code(&server, &["--tls", "implicit", "--insecure"]);
    assert_eq!(insecure.code, 0, "{}", insecure.stderr);
}
