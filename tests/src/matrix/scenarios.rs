//! The integration scenarios every adapter must pass against the scriptable test server, each
//! written once against [`Adapter`] and [`Session`]. A scenario panics on failure.

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smtp_blocking::{Content, Error, UsageError};
use smtp_proto::client::{Stage, TlsMode};
use smtp_proto::ehlo::Extension;
use smtp_proto::sasl::{External, Plain, XOAuth2};
use smtp_proto::{Error as ProtoError, MailParams, RcptParams};

use super::{lock, Adapter, Session, Settings, Target};
use crate::server::{
    fnv1a, localhost_acceptor, wrong_host_acceptor, Action, Server, SessionLog, Trigger,
};

const T: Duration = Duration::from_secs(10);

fn open<A: Adapter>(server: &Server, settings: &Settings) -> Result<Box<dyn Session>, Error> {
    A::connect(settings, &Target::loopback(server.port()))
}

fn connect<A: Adapter>(server: &Server) -> Box<dyn Session> {
    open::<A>(server, &Settings::default()).expect("connect")
}

/// Settings that trust the test CA, for a server on `localhost`.
fn trusting() -> Settings {
    Settings {
        trust_test_ca: true,
        ..Settings::default()
    }
}

fn localhost(port: u16) -> Target {
    Target::Tcp("localhost".into(), port)
}

fn finished(server: &Server, n: usize) -> Vec<SessionLog> {
    let logs = server.wait_finished(n, T);
    assert!(
        logs.len() >= n && logs.iter().all(|l| l.finished),
        "{logs:?}"
    );
    logs
}

fn code(reply: Result<smtp_proto::OwnedReply, Error>) -> u16 {
    reply.expect("a reply").code().get()
}

/// A unique Unix socket path.
pub fn unique_socket_path(tag: &str) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("smtp-rs-{tag}-{}-{n}.sock", std::process::id()))
}

// ------------------------------------------------------------------ smtplib methods

/// Every simple command, the getters around hello, CR/LF refused, `NotConnected` after QUIT.
pub fn every_simple_command_round_trips<A: Adapter>() {
    let server = Server::start().expect("server");
    let mut smtp = connect::<A>(&server);
    assert_eq!(smtp.greeting().map(|g| g.code().get()), Some(220));
    assert!(!smtp.does_esmtp());
    assert!(!smtp.has_extn("pipelining"), "no capabilities before EHLO");

    assert_eq!(code(smtp.ehlo()), 250);
    assert!(smtp.does_esmtp());
    assert!(smtp.has_extn("PIPELINING") && smtp.has_extn("auth"));
    assert_eq!(smtp.max_size(), Some(52_428_800));
    assert_eq!(smtp.ehlo_response().map(|r| r.code().get()), Some(250));

    assert_eq!(code(smtp.helo()), 250);
    assert!(!smtp.does_esmtp(), "HELO ends ESMTP");
    assert_eq!(smtp.helo_response().map(|r| r.code().get()), Some(250));
    smtp.ehlo_or_helo_if_needed().expect("already said hello");

    assert_eq!(code(smtp.noop()), 250);
    assert_eq!(code(smtp.rset()), 250);
    assert_eq!(code(smtp.verify("bob@example.net")), 252);
    assert_eq!(code(smtp.expn("staff")), 250);
    assert_eq!(code(smtp.help(None)), 214);
    assert_eq!(code(smtp.help(Some("MAIL"))), 214);
    assert_eq!(code(smtp.docmd("XFOO bar")), 500);
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

/// A zero timeout, a refused port and a nonnumeric port; a source address and `host:port`.
pub fn connection_failures<A: Adapter>() {
    let zero = Settings {
        timeout: Some(Duration::ZERO),
        ..Settings::default()
    };
    let result = A::connect(&zero, &Target::loopback(25));
    assert!(matches!(result, Err(Error::InvalidSetting(_))));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let refused = A::connect(&Settings::default(), &Target::loopback(port));
    assert!(matches!(refused, Err(Error::Io(_))), "{:?}", refused.err());
    let bad_port = A::connect(
        &Settings::default(),
        &Target::Tcp("127.0.0.1:smtp".into(), 0),
    );
    assert!(matches!(bad_port, Err(Error::InvalidSetting(_))));

    let server = Server::start().expect("server");
    let from_source = Settings {
        source_address: Some("127.0.0.1:0".parse().expect("addr")),
        local_hostname: Some("client.test".try_into().expect("domain")),
        ..Settings::default()
    };
    let target = Target::Tcp(format!("127.0.0.1:{}", server.port()), 0);
    let mut smtp = A::connect(&from_source, &target).expect("connect");
    assert_eq!(smtp.local_hostname().as_deref(), Some("client.test"));
    assert_eq!(smtp.server_name().as_deref(), Some("127.0.0.1"));
    smtp.ehlo().expect("ehlo");
    smtp.close();
    smtp.close();
    assert!(!smtp.is_connected());
    assert_eq!(finished(&server, 1)[0].commands, ["EHLO client.test"]);
}

/// smtplib's `SMTPConnectError`: a `554` greeting, answered with QUIT only.
pub fn greeting_554_is_rejected_and_only_quit_is_sent<A: Adapter>() {
    let server = Server::builder()
        .on(Trigger::Greeting, Action::reply("554 5.7.1 go away"))
        .start()
        .expect("server");
    match open::<A>(&server, &Settings::default()).err() {
        Some(Error::Smtp(ProtoError::Rejected {
            stage: Stage::Greeting,
            reply,
        })) => assert_eq!(reply.code().get(), 554),
        other => panic!("{other:?}"),
    }
    assert_eq!(finished(&server, 1)[0].commands, ["QUIT"]);
}

/// Low-level MAIL, RCPT and DATA; DATA without recipients is `DataRefused`.
pub fn low_level_mail_rcpt_data_streams_the_body<A: Adapter>() {
    let server = Server::start().expect("server");
    let mut smtp = connect::<A>(&server);
    smtp.ehlo().expect("ehlo");
    assert_eq!(code(smtp.mail("a@x.org", MailParams::default())), 250);
    assert_eq!(code(smtp.rcpt("b@y.org", RcptParams::default())), 250);
    let mut body: &[u8] = b"Subject: t\n\n.leading dot\r\nbare CR\rend";
    assert_eq!(code(smtp.data(&mut body)), 250);
    smtp.mail("<>", MailParams::default()).expect("mail");
    match smtp.data(&mut &b"x"[..]) {
        Err(Error::DataRefused { reply, .. }) => assert_eq!(reply.code().get(), 503),
        other => panic!("{other:?}"),
    }
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    let m = &logs[0].messages[0];
    assert_eq!((m.sender(), m.recipients()), ("a@x.org", vec!["b@y.org"]));
    assert_eq!(
        m.data,
        b"Subject: t\r\n\r\n.leading dot\r\nbare CR\r\nend\r\n"
    );
    assert!(logs[0].commands.contains(&"MAIL FROM:<>".to_owned()));
}

/// `sendmail` maps refusals to smtplib's exceptions and leaves the session usable.
pub fn sendmail_reports_refusals_like_smtplib<A: Adapter>() {
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
    let mut smtp = connect::<A>(&server);
    let msg = || b"Subject: hi\r\n\r\nhello\r\n".as_slice();
    match smtp.sendmail("a@x.org", &["b@y.org"], &mut msg()) {
        Err(Error::DataRefused { reply, refused }) => {
            assert_eq!(reply.code().get(), 554);
            assert!(refused.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let refused = smtp
        .sendmail("a@x.org", &["b@y.org", "bad1@y.org"], &mut msg())
        .expect("partial success");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0.as_str(), "bad1@y.org");
    assert_eq!(refused[0].1.code().get(), 550);
    match smtp.sendmail("a@x.org", &["bad1@y.org", "bad2@y.org"], &mut msg()) {
        Err(Error::RecipientsRefused(r)) => assert_eq!(r.len(), 2),
        other => panic!("{other:?}"),
    }
    match smtp.sendmail("spammer@x.org", &["b@y.org"], &mut msg()) {
        Err(Error::SenderRefused { sender, reply }) => {
            assert_eq!(sender, "spammer@x.org", "as given");
            assert_eq!(reply.code().get(), 553);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        smtp.sendmail("a@x.org", &[], &mut msg()),
        Err(Error::Usage(UsageError::NoRecipients))
    ));
    assert!(matches!(
        smtp.sendmail("a@x.org\r\nRSET", &["b@y.org"], &mut msg()),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(code(smtp.noop()), 250, "still usable after every refusal");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert_eq!(logs[0].messages.len(), 2);
    assert_eq!(logs[0].messages[1].recipients(), ["b@y.org"]);
    let rsets = logs[0].commands.iter().filter(|c| *c == "RSET").count();
    assert!(rsets >= 3, "{:?}", logs[0].commands);
}

/// Every RCPT refused but DATA answered 354: the body is never sent.
pub fn pipelined_all_refused_with_data_354_sends_no_body<A: Adapter>() {
    let server = Server::builder()
        .on(Trigger::command("RCPT"), Action::reply("550 5.1.1 no"))
        .on(
            Trigger::command("DATA"),
            Action::reply("354 go ahead anyway"),
        )
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&server);
    let result = smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"secret body\r\n"[..]);
    assert!(
        matches!(result, Err(Error::RecipientsRefused(_))),
        "{result:?}"
    );
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert_eq!(logs[0].messages.len(), 1);
    assert!(logs[0].messages[0].data.is_empty(), "no body may be sent");
}

// ------------------------------------------------------------------ send_message

/// smtplib's `send_message`: envelope from the headers, Bcc stripped, Resent- blocks.
pub fn send_message_takes_the_envelope_from_headers_and_strips_bcc<A: Adapter>() {
    let server = Server::start().expect("server");
    let mut smtp = connect::<A>(&server);
    let msg = "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nCc: Carol <carol@example.net>\r\n\
Bcc: hidden@example.com\r\nSubject: hi\r\n\r\nBody\r\nBcc: this is body text\r\n";
    let refused = smtp.send_message(&mut msg.as_bytes()).expect("send");
    assert!(refused.is_empty());
    let resent = "Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nResent-Sender: rs@example.org\r\n\
Resent-From: rf@example.org\r\nResent-To: new@example.net\r\nResent-Bcc: secret@example.net\r\n\
From: alice@example.org\r\nTo: bob@example.net\r\nBcc: old@example.net\r\n\r\nhi\r\n";
    smtp.send_message(&mut resent.as_bytes()).expect("resent");
    let two = "Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nResent-Date: Tue, 2 Jan 2024 00:00:00 +0000\r\n\
From: a@x.org\r\nTo: b@y.org\r\n\r\nx\r\n";
    assert!(matches!(
        smtp.send_message(&mut two.as_bytes()),
        Err(Error::Message(_))
    ));
    let nobody = "Subject: no addresses\r\n\r\nx\r\n";
    assert!(matches!(
        smtp.send_message(&mut nobody.as_bytes()),
        Err(Error::Message(_))
    ));
    smtp.send_message_with(&mut msg.as_bytes(), Some("x@x.org"), Some(&["only@y.org"]))
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
    assert!(!text.contains("bcc") && text.contains("resent-to: new@example.net\r\n"));
    assert_eq!(
        (m[2].sender(), m[2].recipients()),
        ("x@x.org", vec!["only@y.org"])
    );
}

/// International addresses get SMTPUTF8 and BODY=8BITMIME, or are refused before MAIL.
pub fn send_message_uses_smtputf8_for_international_addresses<A: Adapter>() {
    let server = Server::start().expect("server");
    let mut smtp = connect::<A>(&server);
    let msg = "From: jö@exämple.org\r\nTo: bob@example.net\r\nSubject: ü\r\n\r\nhi\r\n";
    smtp.send_message(&mut msg.as_bytes()).expect("send");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    let mail = logs[0]
        .commands
        .iter()
        .find(|c| c.starts_with("MAIL"))
        .expect("MAIL");
    assert!(mail.starts_with("MAIL FROM:<jö@exämple.org>"), "{mail}");
    assert!(mail.contains("SMTPUTF8") && mail.contains("BODY=8BITMIME"));

    let plain = Server::builder()
        .extensions(&["PIPELINING"])
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&plain);
    let result = smtp.send_message(&mut msg.as_bytes());
    assert!(
        matches!(result, Err(Error::Usage(UsageError::Unsupported(_)))),
        "{result:?}"
    );
    smtp.quit().expect("quit");
    let logs = finished(&plain, 1);
    assert!(!logs[0].commands.iter().any(|c| c.starts_with("MAIL")));
}

// ------------------------------------------------------------------ AUTH

/// `login` (CRAM-MD5 first), `auth` with PLAIN and XOAUTH2, refusals, redacted transcripts.
pub fn login_and_auth_with_any_mechanism<A: Adapter>() {
    let server = Server::start().expect("server");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let settings = Settings {
        transcript: Some(Arc::clone(&lines)),
        ..Settings::default()
    };
    let mut smtp = open::<A>(&server, &settings).expect("connect");
    match smtp.login("alice", "wrong") {
        Err(Error::AuthFailed(reply)) => assert_eq!(reply.code().get(), 535),
        other => panic!("{other:?}"),
    }
    smtp.login("alice", "correct horse").expect("login");
    let plain = Plain::new("alice", "correct horse").expect("plain");
    smtp.auth(Box::new(plain)).expect("PLAIN");
    let token = XOAuth2::new("alice", "correct horse").expect("xoauth2");
    smtp.auth(Box::new(token)).expect("XOAUTH2");
    let bad = XOAuth2::new("alice", "bad token").expect("xoauth2");
    match smtp.auth(Box::new(bad)) {
        Err(Error::AuthFailed(reply)) => assert_eq!(reply.code().get(), 535),
        other => panic!("{other:?}"),
    }
    let external = smtp.auth(Box::new(External::new()));
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
    let transcript = lock(&lines).join("\n");
    assert!(
        transcript.contains("C: AUTH PLAIN <redacted>"),
        "{transcript}"
    );
    assert!(!transcript.contains("Y29ycmVjdCBob3Jz"), "no credentials");
}

/// AUTH not offered is `Unsupported`.
pub fn auth_not_offered_is_unsupported<A: Adapter>() {
    let server = Server::builder()
        .extensions(&["PIPELINING"])
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&server);
    let result = smtp.login("alice", "correct horse");
    assert!(
        matches!(result, Err(Error::Usage(UsageError::Unsupported(_)))),
        "{result:?}"
    );
    smtp.quit().expect("quit");
}

// ------------------------------------------------------------------ TLS

/// smtplib's `starttls()` with the test CA: secure, capabilities forgotten, EHLO again.
pub fn explicit_starttls_upgrades_and_forgets_capabilities<A: Adapter>() {
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let mut smtp = A::connect(&trusting(), &localhost(server.port())).expect("connect");
    assert!(!smtp.is_secure());
    assert_eq!(code(smtp.starttls()), 220);
    assert!(smtp.is_secure());
    assert!(!smtp.knows_capabilities(), "forgotten after TLS");
    assert!(matches!(smtp.starttls(), Err(Error::Usage(_))));
    smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"hi\r\n"[..])
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

/// `TlsMode::Required` upgrades while connecting.
pub fn required_starttls_on_connect<A: Adapter>() {
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let settings = Settings {
        tls: TlsMode::Required,
        ..trusting()
    };
    let mut smtp = A::connect(&settings, &localhost(server.port())).expect("connect");
    assert!(smtp.is_secure() && smtp.has_extn("AUTH") && !smtp.has_extn("STARTTLS"));
    smtp.quit().expect("quit");
}

/// Verification is on by default: an unknown CA and a wrong host name are refused.
pub fn untrusted_certificates_are_refused_by_default<A: Adapter>() {
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let required = Settings {
        tls: TlsMode::Required,
        ..Settings::default()
    };
    let result = A::connect(&required, &localhost(server.port()));
    assert!(matches!(result, Err(Error::Tls(_))), "{:?}", result.err());
    let wrong = Server::builder()
        .starttls(wrong_host_acceptor())
        .start()
        .expect("server");
    let trusting_ca = Settings {
        trust_test_ca: true,
        ..required.clone()
    };
    let result = A::connect(&trusting_ca, &localhost(wrong.port()));
    assert!(matches!(result, Err(Error::Tls(_))), "{:?}", result.err());
    let insecure = Settings {
        insecure: true,
        ..required
    };
    let mut smtp = A::connect(&insecure, &localhost(wrong.port())).expect("insecure");
    assert!(smtp.is_secure());
    smtp.quit().expect("quit");
}

/// SMTPS to an IP address, verified against the certificate's IP entry.
pub fn implicit_tls_verifies_against_the_ip_too<A: Adapter>() {
    let server = Server::builder()
        .implicit_tls(localhost_acceptor())
        .start()
        .expect("server");
    let settings = Settings {
        tls: TlsMode::Implicit,
        ..trusting()
    };
    let mut smtp = open::<A>(&server, &settings).expect("SMTPS");
    assert!(smtp.is_secure());
    smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"over TLS\r\n"[..])
        .expect("send");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert!(logs[0].messages[0].secure);
    assert_eq!(logs[0].messages[0].data, b"over TLS\r\n");
}

/// STARTTLS not offered, refused, and plaintext injected after the `220`.
pub fn starttls_problems<A: Adapter>() {
    let plain = Server::start().expect("server");
    let required = Settings {
        tls: TlsMode::Required,
        ..trusting()
    };
    let result = open::<A>(&plain, &required);
    assert!(
        matches!(result, Err(Error::Smtp(ProtoError::TlsUnavailable))),
        "{:?}",
        result.err()
    );
    let opportunistic = Settings {
        tls: TlsMode::Opportunistic,
        ..Settings::default()
    };
    let mut smtp = open::<A>(&plain, &opportunistic).expect("opportunistic");
    assert!(!smtp.is_secure());
    smtp.quit().expect("quit");

    let refusing = Server::builder()
        .starttls(localhost_acceptor())
        .on(
            Trigger::command("STARTTLS"),
            Action::reply("454 4.7.0 TLS not available"),
        )
        .start()
        .expect("server");
    let result = A::connect(&required, &localhost(refusing.port()));
    assert!(
        matches!(result, Err(Error::Smtp(ProtoError::StartTlsRefused(_)))),
        "{:?}",
        result.err()
    );
    let mut smtp = connect::<A>(&refusing);
    assert!(matches!(smtp.starttls(), Err(Error::StartTlsRefused(_))));
    assert_eq!(code(smtp.noop()), 250, "still usable");
    smtp.quit().expect("quit");

    let injecting = Server::builder()
        .starttls(localhost_acceptor())
        .on(
            Trigger::command("STARTTLS"),
            Action::raw(b"220 go ahead\r\n250 injected\r\n"),
        )
        .start()
        .expect("server");
    let result = A::connect(&required, &localhost(injecting.port()));
    assert!(
        matches!(result, Err(Error::Smtp(ProtoError::StartTlsInjection))),
        "{:?}",
        result.err()
    );
}

// ------------------------------------------------------------------ timeouts and disconnects

fn assert_timeout<T: std::fmt::Debug>(
    result: Result<T, Error>,
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

fn within(timeout: Duration) -> Settings {
    Settings {
        timeout: Some(timeout),
        ..Settings::default()
    }
}

/// A server that never greets.
pub fn a_silent_server_times_out_at_the_greeting<A: Adapter>() {
    let server = Server::builder()
        .on(Trigger::Greeting, Action::Hang)
        .start()
        .expect("server");
    let started = Instant::now();
    let result = open::<A>(&server, &within(Duration::from_millis(300)));
    assert_timeout(
        result.map(|_| ()),
        Stage::Greeting,
        started,
        Duration::from_secs(3),
    );
}

/// One byte every 50 ms: each read succeeds, but the whole reply takes too long.
pub fn a_trickling_reply_times_out_as_a_whole<A: Adapter>() {
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
    let mut smtp = open::<A>(&server, &within(Duration::from_millis(400))).expect("connect");
    let started = Instant::now();
    let result = smtp.ehlo();
    assert_timeout(result, Stage::Hello, started, Duration::from_secs(3));
    assert!(!smtp.is_connected(), "a timeout ends the session");
}

/// A 100 ms delay is fine; a final reply that never comes is a `DataEnd` timeout.
pub fn a_slow_data_end_times_out_and_a_delay_within_the_timeout_does_not<A: Adapter>() {
    let server = Server::builder()
        .on_times(
            Trigger::command("NOOP"),
            Action::Delay(Duration::from_millis(100)),
            1,
        )
        .on(Trigger::DataEnd, Action::Hang)
        .start()
        .expect("server");
    let mut smtp = open::<A>(&server, &within(Duration::from_millis(500))).expect("connect");
    smtp.noop().expect("a 100 ms delay is fine");
    let started = Instant::now();
    let result = smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"x\r\n"[..]);
    assert_timeout(result, Stage::DataEnd, started, Duration::from_secs(3));
}

/// EOF mid-transaction, a final reply cut off, and an unanswered QUIT.
pub fn disconnects_are_unexpected_eof<A: Adapter>() {
    let server = Server::builder()
        .on(Trigger::command("MAIL"), Action::Close)
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&server);
    let result = smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"x\r\n"[..]);
    assert!(
        matches!(
            result,
            Err(Error::Smtp(ProtoError::UnexpectedEof(Stage::Mail)))
        ),
        "{result:?}"
    );
    assert!(!smtp.is_connected());

    let cut = Server::builder()
        .on(
            Trigger::DataEnd,
            Action::ReplyAndClose(b"250 queued".to_vec()),
        )
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&cut);
    let result = smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"x\r\n"[..]);
    assert!(
        matches!(
            result,
            Err(Error::Smtp(ProtoError::UnexpectedEof(Stage::DataEnd)))
        ),
        "{result:?}"
    );

    let rude = Server::builder()
        .on(Trigger::command("QUIT"), Action::Close)
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&rude);
    smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"x\r\n"[..])
        .expect("accepted");
    smtp.quit().expect("an unanswered QUIT is a clean end");
}

/// A bad code, an endless multi-line reply and an endless line: parse errors, bounded memory.
pub fn malformed_and_endless_replies_end_the_session_in_bounded_memory<A: Adapter>() {
    for (trigger, action) in [
        ("EHLO", Action::raw(b"25O not a code\r\n")),
        ("EHLO", Action::Flood(b"250-more\r\n".to_vec())),
        (
            "NOOP",
            Action::Flood(b"250 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".to_vec()),
        ),
    ] {
        let server = Server::builder()
            .on(Trigger::command(trigger), action)
            .start()
            .expect("server");
        let mut smtp = connect::<A>(&server);
        let result = match trigger {
            "EHLO" => smtp.ehlo(),
            _ => smtp.noop(),
        };
        assert!(
            matches!(result, Err(Error::Smtp(ProtoError::Parse(_)))),
            "{result:?}"
        );
    }
}

// ------------------------------------------------------------------ streaming

/// A body generated on the fly: numbered lines, some starting with a dot, never in memory whole.
pub struct Generated {
    left: u64,
    line: u64,
    pending: Vec<u8>,
    /// FNV-1a of everything produced so far (what the server receives, un-stuffed).
    pub hash: u64,
}

impl Generated {
    /// A body of `bytes` bytes.
    pub fn new(bytes: u64) -> Self {
        Self {
            left: bytes,
            line: 0,
            pending: Vec::new(),
            hash: fnv1a(&[]),
        }
    }

    fn next_line(&mut self) -> Vec<u8> {
        self.line += 1;
        let mut line = if self.line.is_multiple_of(7) {
            format!(".dotted line {} {}\r\n", self.line, "x".repeat(60))
        } else {
            format!("line {} {}\r\n", self.line, "y".repeat(70))
        }
        .into_bytes();
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        if left < line.len() + 2 {
            // The last line takes all that is left (a 1-byte rest would get a CRLF added), and
            // stays CRLF-clean so that the server sees it byte for byte.
            line = match left {
                0 | 1 => b" ".repeat(left),
                n => [" ".repeat(n - 2).into_bytes(), b"\r\n".to_vec()].concat(),
            };
        }
        line
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() && self.left > 0 {
            let line = self.next_line();
            self.left -= line.len() as u64;
            self.hash = fnv_update(self.hash, &line);
            self.pending = line;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

fn fnv_update(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn stream_large_body<A: Adapter>(server: &Server, size: u64) -> u64 {
    let mut smtp = connect::<A>(server);
    let mut body = Generated::new(size);
    let mut envelope = smtp_blocking::envelope("a@x.org", ["b@y.org"]).expect("envelope");
    envelope.size = Some(size);
    let report = smtp.send_with_report(envelope, &mut body).expect("send");
    assert!(report.is_accepted(), "{report:?}");
    smtp.quit().expect("quit");
    body.hash
}

/// 24 MiB through DATA, generated as it goes.
pub fn a_large_body_streams_through_data<A: Adapter>() {
    let server = Server::builder().keep_data(0).start().expect("server");
    let size = 24 * 1024 * 1024 + 3;
    let hash = stream_large_body::<A>(&server, size);
    let m = &finished(&server, 1)[0].messages[0];
    assert!(!m.bdat);
    assert_eq!((m.size, m.hash), (size, hash));
}

/// 8 MiB through BDAT chunks.
pub fn a_large_body_streams_through_bdat<A: Adapter>() {
    let server = Server::builder()
        .keep_data(0)
        .extension("CHUNKING")
        .start()
        .expect("server");
    let size = 8 * 1024 * 1024 + 1;
    let hash = stream_large_body::<A>(&server, size);
    let m = &finished(&server, 1)[0].messages[0];
    assert!(m.bdat);
    assert_eq!((m.size, m.hash), (size, hash));
}

/// `Content::EightBit` declares BODY=8BITMIME, and is refused without 8BITMIME.
pub fn eight_bit_content_needs_8bitmime<A: Adapter>() {
    let server = Server::start().expect("server");
    let mut smtp = connect::<A>(&server);
    let mut envelope = smtp_blocking::envelope("a@x.org", ["b@y.org"]).expect("envelope");
    envelope.content = Content::EightBit;
    smtp.sendmail_with(envelope.clone(), &mut "Grüße\r\n".as_bytes())
        .expect("8bit");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    let declared = "MAIL FROM:<a@x.org> BODY=8BITMIME";
    assert!(logs[0].commands.iter().any(|c| c == declared));

    let old = Server::builder()
        .extensions(&["PIPELINING"])
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&old);
    let result = smtp.sendmail_with(envelope, &mut "Grüße\r\n".as_bytes());
    assert!(
        matches!(result, Err(Error::Usage(UsageError::Unsupported(_)))),
        "{result:?}"
    );
}

// ------------------------------------------------------------------ LMTP

/// LMTP over TCP: one reply per recipient after the data.
pub fn lmtp_over_tcp_reports_each_recipient<A: Adapter>() {
    let server = Server::builder()
        .lmtp()
        .on(
            Trigger::delivery("full@"),
            Action::reply("452 4.2.2 mailbox full"),
        )
        .start()
        .expect("server");
    let settings = Settings {
        lmtp: true,
        ..Settings::default()
    };
    let mut lmtp = open::<A>(&server, &settings).expect("lmtp");
    let refused = lmtp
        .sendmail("a@x.org", &["ok@y.org", "full@y.org"], &mut &b"hi\r\n"[..])
        .expect("one delivered");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0.as_str(), "full@y.org");
    assert_eq!(refused[0].1.code().get(), 452);
    match lmtp.sendmail("a@x.org", &["full@y.org"], &mut &b"hi\r\n"[..]) {
        Err(Error::DataRefused { refused, .. }) => assert_eq!(refused.len(), 1),
        other => panic!("{other:?}"),
    }
    lmtp.mail("a@x.org", MailParams::default()).expect("mail");
    lmtp.rcpt("ok@y.org", RcptParams::default()).expect("rcpt");
    lmtp.rcpt("full@y.org", RcptParams::default())
        .expect("rcpt");
    let replies = lmtp.data_per_recipient(&mut &b"x\r\n"[..]).expect("data");
    let codes: Vec<u16> = replies.iter().map(|r| r.code().get()).collect();
    assert_eq!(codes, [250, 452]);
    lmtp.quit().expect("quit");
    assert!(finished(&server, 1)[0].commands[0].starts_with("LHLO "));
}

/// LMTP over a Unix socket (by path as the host, and explicitly); AUTH allowed over it.
pub fn lmtp_over_a_unix_socket_allows_plaintext_auth<A: Adapter>() {
    if cfg!(not(unix)) {
        return;
    }
    let path = unique_socket_path("lmtp");
    let server = Server::builder()
        .lmtp()
        .unix(&path)
        .start()
        .expect("server");
    let settings = Settings {
        lmtp: true,
        ..Settings::default()
    };
    let by_host = Target::Tcp(path.to_str().expect("utf-8 path").to_owned(), 0);
    let mut lmtp = A::connect(&settings, &by_host).expect("lmtp over unix");
    assert_eq!(lmtp.server_name().as_deref(), Some("localhost"));
    assert!(lmtp.local_hostname().is_some_and(|n| !n.is_empty()));
    lmtp.login("alice", "correct horse")
        .expect("AUTH over a Unix socket");
    lmtp.sendmail("a@x.org", &["b@y.org"], &mut &b"via unix\r\n"[..])
        .expect("send");
    lmtp.quit().expect("quit");
    let mut again = A::connect(&settings, &Target::Unix(path.clone())).expect("connect_unix");
    again.quit().expect("quit");
    let logs = finished(&server, 2);
    assert_eq!(logs[0].messages[0].data, b"via unix\r\n");
    assert_eq!(logs[0].authenticated.as_deref(), Some("alice"));
}

// ------------------------------------------------------------------ transcript switch

/// The transcript sink gets every line until `set_transcript(false)`.
pub fn transcript_switch_on_and_off<A: Adapter>() {
    let server = Server::start().expect("server");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let settings = Settings {
        transcript: Some(Arc::clone(&lines)),
        ..Settings::default()
    };
    let mut smtp = open::<A>(&server, &settings).expect("connect");
    smtp.noop().expect("noop");
    smtp.set_transcript(false);
    smtp.rset().expect("rset");
    smtp.set_transcript(true); // to stderr
    smtp.quit().expect("quit");
    assert_eq!(
        *lock(&lines),
        [
            "S: 220 mx.test ESMTP test server ready",
            "C: NOOP",
            "S: 250 2.0.0 ok"
        ]
    );
}

// ------------------------------------------------------------------ smtplib conformance audit

fn domain(name: &str) -> smtp_proto::Domain {
    name.try_into().expect("domain")
}

/// Settings with a fixed hello name, lock-step (no PIPELINING): the wire order is smtplib's.
fn lockstep() -> Settings {
    Settings {
        local_hostname: Some(domain("client.test")),
        pipelining: false,
        ..Settings::default()
    }
}

fn named() -> Settings {
    Settings {
        local_hostname: Some(domain("client.test")),
        ..Settings::default()
    }
}

/// smtplib's `ehlo_or_helo_if_needed()`: EHLO refused with a 5xx falls back to HELO (then no
/// extension is known: no parameters, no AUTH, no STARTTLS); both refused is `SMTPHeloError`
/// with HELO's reply, the connection left open. Deliberate differences: a 4xx to EHLO is not
/// "command unknown" (no HELO fallback), and a refused hello does not count as done (the next
/// call greets again).
pub fn ehlo_or_helo_if_needed_falls_back_to_helo_like_smtplib<A: Adapter>() {
    let old = Server::builder()
        .on(
            Trigger::command("EHLO"),
            Action::reply("502 5.5.1 EHLO not implemented"),
        )
        .start()
        .expect("server");
    let mut smtp = open::<A>(&old, &named()).expect("connect");
    let refused = smtp
        .sendmail("a@x.org", &["b@y.org"], &mut &b"hi\r\n"[..])
        .expect("sent after HELO");
    assert!(refused.is_empty());
    assert!(!smtp.does_esmtp());
    assert_eq!(smtp.ehlo_response().map(|r| r.code().get()), Some(502));
    assert_eq!(smtp.helo_response().map(|r| r.code().get()), Some(250));
    assert!(!smtp.has_extn("size") && !smtp.has_extn("auth") && !smtp.has_extn("pipelining"));
    let login = smtp.login("alice", "correct horse");
    assert!(
        matches!(
            login,
            Err(Error::Usage(UsageError::Unsupported(Extension::Auth)))
        ),
        "{login:?}"
    );
    let tls = smtp.starttls();
    assert!(
        matches!(
            tls,
            Err(Error::Usage(UsageError::Unsupported(Extension::StartTls)))
        ),
        "{tls:?}"
    );
    smtp.ehlo_or_helo_if_needed()
        .expect("HELO succeeded: no new hello");
    smtp.quit().expect("quit");
    assert_eq!(
        finished(&old, 1)[0].commands,
        [
            "EHLO client.test",
            "HELO client.test",
            // A HELO session: no PIPELINING (lock-step) and no SIZE or other parameter.
            "MAIL FROM:<a@x.org>",
            "RCPT TO:<b@y.org>",
            "DATA",
            "QUIT"
        ]
    );

    let refusing = Server::builder()
        .on(Trigger::command("EHLO"), Action::reply("500 5.5.2 what?"))
        .on(Trigger::command("HELO"), Action::reply("550 5.7.1 go away"))
        .start()
        .expect("server");
    let mut smtp = open::<A>(&refusing, &named()).expect("connect");
    match smtp.sendmail("a@x.org", &["b@y.org"], &mut &b"hi\r\n"[..]) {
        Err(Error::HeloRefused(reply)) => assert_eq!(reply.code().get(), 550, "HELO's reply"),
        other => panic!("{other:?}"),
    }
    assert!(
        smtp.is_connected(),
        "SMTPHeloError leaves the connection open"
    );
    assert_eq!(code(smtp.noop()), 250);
    assert!(matches!(
        smtp.ehlo_or_helo_if_needed(),
        Err(Error::HeloRefused(_))
    ));
    smtp.quit().expect("quit");
    assert_eq!(
        finished(&refusing, 1)[0].commands,
        [
            "EHLO client.test",
            "HELO client.test",
            "NOOP",
            "EHLO client.test",
            "HELO client.test",
            "QUIT"
        ]
    );

    let busy = Server::builder()
        .on(
            Trigger::command("EHLO"),
            Action::reply("451 4.3.0 try again later"),
        )
        .start()
        .expect("server");
    let mut smtp = open::<A>(&busy, &named()).expect("connect");
    match smtp.ehlo_or_helo_if_needed() {
        Err(Error::HeloRefused(reply)) => assert_eq!(reply.code().get(), 451, "EHLO's reply"),
        other => panic!("{other:?}"),
    }
    smtp.quit().expect("quit");
    assert_eq!(finished(&busy, 1)[0].commands, ["EHLO client.test", "QUIT"]);
}

/// smtplib's `ehlo()` and `esmtp_features`: the first line is never a feature, keywords are
/// case-insensitive, parameters trimmed, the last duplicate wins, `AUTH` and `AUTH=` lines
/// merge; a one-line 250 is ESMTP without features; a refused EHLO is returned (not raised) and
/// forgets the features. `ehlo(name)` / `helo(name)` send another name.
pub fn ehlo_features_are_parsed_like_smtplib<A: Adapter>() {
    let server = Server::builder()
        .on_times(
            Trigger::command("EHLO"),
            Action::raw(
                b"250-mx.test SIZE 999 greets you\r\n250-AUTH=LOGIN PLAIN\r\n250-auth CRAM-MD5\r\n\
250-SIZE 1000\r\n250-SIZE 2000\r\n250-STARTTLS junk  \r\n250-X-CUSTOM a  b\r\n250 8bitmime\r\n",
            ),
            1,
        )
        .on_times(Trigger::command("EHLO"), Action::reply("250 srv.test"), 1)
        .on_times(
            Trigger::command("EHLO"),
            Action::reply("502 5.5.1 no EHLO today"),
            1,
        )
        .start()
        .expect("server");
    let mut smtp = open::<A>(&server, &named()).expect("connect");
    let reply = smtp.ehlo().expect("ehlo");
    assert_eq!(reply.code().get(), 250);
    assert!(smtp.does_esmtp());
    assert!(!smtp.has_extn("mx.test"), "the first line is not a feature");
    assert_eq!(smtp.ext_params("size").as_deref(), Some("2000"));
    assert_eq!(smtp.max_size(), Some(2000));
    assert_eq!(smtp.ext_params("STARTTLS").as_deref(), Some("junk"));
    assert_eq!(smtp.ext_params("x-custom").as_deref(), Some("a  b"));
    assert_eq!(smtp.ext_params("8BITMIME").as_deref(), Some(""));
    assert!(smtp.has_extn("8BitMime") && smtp.has_extn("AUTH") && !smtp.has_extn("dsn"));
    assert_eq!(smtp.auth_mechanisms(), ["LOGIN", "PLAIN", "CRAM-MD5"]);

    assert_eq!(code(smtp.ehlo_as(domain("other.test"))), 250);
    assert!(smtp.does_esmtp() && smtp.knows_capabilities());
    assert!(!smtp.has_extn("size") && smtp.auth_mechanisms().is_empty());

    let refused = smtp
        .ehlo()
        .expect("a refused EHLO is a reply, not an error");
    assert_eq!(refused.code().get(), 502);
    assert!(!smtp.does_esmtp() && !smtp.has_extn("size"));
    assert_eq!(smtp.ehlo_response().map(|r| r.code().get()), Some(502));
    assert_eq!(code(smtp.helo_as(domain("helo.test"))), 250);
    smtp.quit().expect("quit");
    assert_eq!(
        finished(&server, 1)[0].commands,
        [
            "EHLO client.test",
            "EHLO other.test",
            "EHLO client.test",
            "HELO helo.test",
            "QUIT"
        ]
    );
}

/// smtplib's `sendmail` error branches, byte for byte in lock-step: each refusal is its
/// exception with the server's reply (the sender as given, every refused recipient in order)
/// and is followed by RSET; a partial refusal returns the refused; `""` is the null sender.
/// Deliberate difference: DATA itself refused is followed by RSET too.
pub fn sendmail_refusals_reset_like_smtplib<A: Adapter>() {
    let server = Server::builder()
        .on(
            Trigger::command("MAIL FROM:<spammer@"),
            Action::reply("553 5.7.1 sender refused"),
        )
        .on(
            Trigger::command("RCPT TO:<bad"),
            Action::reply("550 5.1.1 no such user"),
        )
        .on_times(
            Trigger::command("DATA"),
            Action::reply("451 4.3.0 try later"),
            1,
        )
        .on_times(
            Trigger::DataEnd,
            Action::reply("554 5.6.0 content rejected"),
            1,
        )
        .start()
        .expect("server");
    let mut smtp = open::<A>(&server, &lockstep()).expect("connect");
    let msg = || b"Subject: hi\r\n\r\nhello\r\n".as_slice();
    match smtp.sendmail("spammer@x.org", &["b@y.org"], &mut msg()) {
        Err(Error::SenderRefused { sender, reply }) => {
            assert_eq!(sender, "spammer@x.org", "as given");
            assert_eq!(reply.to_string(), "553 5.7.1 sender refused");
        }
        other => panic!("{other:?}"),
    }
    match smtp.sendmail("a@x.org", &["bad1@y.org", "bad2@y.org"], &mut msg()) {
        Err(Error::RecipientsRefused(refused)) => {
            let got: Vec<(&str, u16)> = refused
                .iter()
                .map(|(m, r)| (m.as_str(), r.code().get()))
                .collect();
            assert_eq!(got, [("bad1@y.org", 550), ("bad2@y.org", 550)]);
        }
        other => panic!("{other:?}"),
    }
    match smtp.sendmail("a@x.org", &["b@y.org"], &mut msg()) {
        Err(Error::DataRefused { reply, refused }) => {
            assert_eq!(reply.code().get(), 451);
            assert!(refused.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match smtp.sendmail("a@x.org", &["b@y.org"], &mut msg()) {
        Err(Error::DataRefused { reply, .. }) => assert_eq!(reply.code().get(), 554),
        other => panic!("{other:?}"),
    }
    let refused = smtp
        .sendmail("", &["b@y.org", "bad3@y.org"], &mut msg())
        .expect("one accepted");
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (refused[0].0.as_str(), refused[0].1.code().get()),
        ("bad3@y.org", 550)
    );
    match smtp.sendmail("<spammer@x.org>", &["b@y.org"], &mut msg()) {
        Err(Error::SenderRefused { sender, .. }) => assert_eq!(sender, "<spammer@x.org>"),
        other => panic!("{other:?}"),
    }
    let envelope = smtp_blocking::envelope("spammer@x.org", ["b@y.org"]).expect("envelope");
    match smtp.sendmail_with(envelope, &mut msg()) {
        Err(Error::SenderRefused { sender, .. }) => assert_eq!(sender, "spammer@x.org"),
        other => panic!("{other:?}"),
    }
    assert_eq!(code(smtp.noop()), 250, "usable after every refusal");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert_eq!(
        logs[0].commands,
        [
            "EHLO client.test",
            "MAIL FROM:<spammer@x.org>",
            "RSET",
            "MAIL FROM:<a@x.org>",
            "RCPT TO:<bad1@y.org>",
            "RCPT TO:<bad2@y.org>",
            "RSET",
            "MAIL FROM:<a@x.org>",
            "RCPT TO:<b@y.org>",
            "DATA",
            "RSET",
            "MAIL FROM:<a@x.org>",
            "RCPT TO:<b@y.org>",
            "DATA",
            "RSET",
            "MAIL FROM:<>",
            "RCPT TO:<b@y.org>",
            "RCPT TO:<bad3@y.org>",
            "DATA",
            "MAIL FROM:<spammer@x.org>",
            "RSET",
            "MAIL FROM:<spammer@x.org>",
            "RSET",
            "NOOP",
            "QUIT"
        ]
    );
    // The body went out for the data-end refusal and the null-sender message only.
    let m = &logs[0].messages;
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].sender(), "");
    assert_eq!(m[1].recipients(), ["b@y.org"]);
    assert_eq!(m[1].data, msg());
}

/// smtplib's `mail()`, `rcpt()` and `data()` return the reply whatever its code (only DATA not
/// answered 354 is `SMTPDataError`) and send nothing on their own: no RSET after a refusal.
pub fn low_level_commands_return_replies_whatever_the_code<A: Adapter>() {
    let server = Server::builder()
        .on(
            Trigger::command("MAIL FROM:<spammer@"),
            Action::reply("553 5.7.1 sender refused"),
        )
        .on(
            Trigger::command("RCPT TO:<bad"),
            Action::reply("550 5.1.1 no such user"),
        )
        .on_times(
            Trigger::DataEnd,
            Action::reply("554 5.6.0 content rejected"),
            1,
        )
        .start()
        .expect("server");
    let mut smtp = open::<A>(&server, &named()).expect("connect");
    smtp.ehlo().expect("ehlo");
    assert_eq!(code(smtp.mail("spammer@x.org", MailParams::default())), 553);
    assert_eq!(code(smtp.mail("a@x.org", MailParams::default())), 250);
    assert_eq!(code(smtp.rcpt("bad@y.org", RcptParams::default())), 550);
    assert_eq!(code(smtp.rcpt("b@y.org", RcptParams::default())), 250);
    let end = smtp.data(&mut &b"body\r\n"[..]).expect("the final reply");
    assert_eq!(end.to_string(), "554 5.6.0 content rejected");
    assert_eq!(code(smtp.noop()), 250);
    assert_eq!(code(smtp.rset()), 250);
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert_eq!(
        logs[0].commands,
        [
            "EHLO client.test",
            "MAIL FROM:<spammer@x.org>",
            "MAIL FROM:<a@x.org>",
            "RCPT TO:<bad@y.org>",
            "RCPT TO:<b@y.org>",
            "DATA",
            "NOOP",
            "RSET",
            "QUIT"
        ]
    );
    assert_eq!(logs[0].messages[0].data, b"body\r\n");
}

/// smtplib's `quit()` returns the QUIT reply whatever its code; a server that hangs up instead
/// of answering is a clean end here (smtplib raises `SMTPServerDisconnected`); afterwards every
/// command is "please run connect() first".
pub fn quit_returns_the_servers_reply<A: Adapter>() {
    let server = Server::builder()
        .on_times(
            Trigger::command("QUIT"),
            Action::reply("421 4.3.2 closing anyway"),
            1,
        )
        .on_times(Trigger::command("QUIT"), Action::Close, 1)
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&server);
    let reply = smtp.quit_with_reply().expect("quit");
    assert_eq!(
        reply.map(|r| r.to_string()).as_deref(),
        Some("421 4.3.2 closing anyway")
    );
    assert!(!smtp.is_connected());
    assert!(matches!(smtp.quit_with_reply(), Err(Error::NotConnected)));
    assert!(matches!(smtp.noop(), Err(Error::NotConnected)));

    let mut smtp = connect::<A>(&server);
    assert!(smtp.quit_with_reply().expect("a hang-up is fine").is_none());

    let mut smtp = connect::<A>(&server);
    smtp.ehlo().expect("ehlo");
    let reply = smtp.quit_with_reply().expect("quit").expect("a reply");
    assert_eq!(reply.to_string(), "221 2.0.0 bye");
    assert!(!smtp.is_connected() && !smtp.does_esmtp() && smtp.ehlo_response().is_none());
    let logs = finished(&server, 3);
    assert!(logs
        .iter()
        .all(|l| l.commands.last().map(String::as_str) == Some("QUIT")));
}

/// smtplib's `starttls()`: says hello first, on 220 forgets `ehlo_resp`, `helo_resp`,
/// `does_esmtp` and the features without greeting again; `login()` then greets by itself.
/// STARTTLS not offered is `SMTPNotSupportedError`, with nothing sent.
pub fn starttls_forgets_the_session_and_login_greets_again<A: Adapter>() {
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server");
    let settings = Settings {
        local_hostname: Some(domain("client.test")),
        ..trusting()
    };
    let mut smtp = A::connect(&settings, &localhost(server.port())).expect("connect");
    assert_eq!(code(smtp.starttls()), 220);
    assert!(smtp.is_secure());
    assert!(smtp.ehlo_response().is_none() && smtp.helo_response().is_none());
    assert!(!smtp.does_esmtp() && !smtp.knows_capabilities() && !smtp.has_extn("auth"));
    assert_eq!(code(smtp.login("alice", "correct horse")), 235);
    assert!(smtp.does_esmtp() && !smtp.has_extn("starttls"));
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert_eq!(
        logs[0].commands[..4],
        [
            "EHLO client.test",
            "STARTTLS",
            "EHLO client.test",
            "AUTH CRAM-MD5"
        ]
    );
    assert_eq!(logs[0].authenticated.as_deref(), Some("alice"));

    let plain = Server::start().expect("server");
    let mut smtp = open::<A>(&plain, &named()).expect("connect");
    let result = smtp.starttls();
    assert!(
        matches!(
            result,
            Err(Error::Usage(UsageError::Unsupported(Extension::StartTls)))
        ),
        "{result:?}"
    );
    smtp.quit().expect("quit");
    assert_eq!(
        finished(&plain, 1)[0].commands,
        ["EHLO client.test", "QUIT"]
    );
}

/// smtplib's `_MAXLINE`: a reply line of 8192 bytes with its CRLF is read; 8193 ends the session
/// (smtplib's `SMTPResponseException(500, "Line too long.")` after closing).
pub fn reply_lines_are_capped_at_8192_bytes_like_smtplib<A: Adapter>() {
    let line = |len: usize| {
        let mut bytes = b"250 ".to_vec();
        bytes.resize(len - 2, b'x');
        bytes.extend_from_slice(b"\r\n");
        Action::Reply(bytes)
    };
    let server = Server::builder()
        .on_times(Trigger::command("NOOP"), line(8192), 1)
        .on_times(Trigger::command("NOOP"), line(8193), 1)
        .start()
        .expect("server");
    let mut smtp = connect::<A>(&server);
    let reply = smtp.noop().expect("8192 bytes is within the cap");
    assert_eq!(reply.text_lossy().len(), 8192 - 6);
    let result = smtp.noop();
    assert!(
        matches!(result, Err(Error::Smtp(ProtoError::Parse(_)))),
        "{result:?}"
    );
    assert!(!smtp.is_connected());
}

/// smtplib's `send_message` header rules beyond the basics: `Sender` wins over `From`; only the
/// first `To`, `Bcc` and `Cc` count; display names dropped; `Resent-Bcc` stripped even without a
/// `Resent-` block; no recipient header is an error before MAIL; an explicit or header sender
/// is what `SMTPSenderRefused` names. Deliberate differences: an empty group adds no `<>`
/// recipient, and 8-bit header bytes declare BODY=8BITMIME (smtplib re-encodes the headers).
pub fn send_message_header_rules_like_smtplib<A: Adapter>() {
    let server = Server::builder()
        .on(
            Trigger::command("MAIL FROM:<spammer@"),
            Action::reply("553 5.7.1 sender refused"),
        )
        .start()
        .expect("server");
    let mut smtp = open::<A>(&server, &named()).expect("connect");
    let msg =
        "From: f@x.org\r\nSender: s@x.org\r\nTo: a@y.org, B <b@y.org>\r\nTo: ignored@y.org\r\n\
Cc: undisclosed-recipients:;\r\nCc: c@y.org\r\nResent-Bcc: rb@y.org\r\nSubject: s\r\n\r\nbody\r\n";
    smtp.send_message(&mut msg.as_bytes()).expect("send");
    let nobody = "From: f@x.org\r\nSubject: no recipients\r\n\r\nx\r\n";
    let result = smtp.send_message(&mut nobody.as_bytes());
    assert!(matches!(result, Err(Error::Message(_))), "{result:?}");
    let eight_bit = "From: f@x.org\r\nTo: a@y.org\r\nSubject: Grüße\r\n\r\nx\r\n";
    smtp.send_message(&mut eight_bit.as_bytes())
        .expect("8-bit header");
    match smtp.send_message_with(&mut msg.as_bytes(), Some("spammer@x.org"), None) {
        Err(Error::SenderRefused { sender, .. }) => assert_eq!(sender, "spammer@x.org"),
        other => panic!("{other:?}"),
    }
    let spam = "From: Spammer <spammer@x.org>\r\nTo: a@y.org\r\n\r\nx\r\n";
    match smtp.send_message(&mut spam.as_bytes()) {
        Err(Error::SenderRefused { sender, .. }) => assert_eq!(sender, "spammer@x.org"),
        other => panic!("{other:?}"),
    }
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    let m = &logs[0].messages;
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].sender(), "s@x.org");
    assert_eq!(m[0].recipients(), ["a@y.org", "b@y.org"]);
    assert_eq!(
        m[0].data,
        b"From: f@x.org\r\nSender: s@x.org\r\nTo: a@y.org, B <b@y.org>\r\nTo: ignored@y.org\r\n\
Cc: undisclosed-recipients:;\r\nCc: c@y.org\r\nSubject: s\r\n\r\nbody\r\n"
    );
    assert_eq!(m[1].mail_from, "<f@x.org> BODY=8BITMIME");
    let mails = logs[0]
        .commands
        .iter()
        .filter(|c| c.starts_with("MAIL"))
        .count();
    assert_eq!(mails, 4, "no MAIL for the message without recipients");
}

/// smtplib's `quoteaddr`: `Name <addr>` is sent as `<addr>` (the reference's design guidance).
pub fn sendmail_takes_display_name_addresses_like_quoteaddr<A: Adapter>() {
    let server = Server::start().expect("server");
    let mut smtp = open::<A>(&server, &lockstep()).expect("connect");
    smtp.sendmail(
        "Alice <alice@example.org>",
        &["Bob <bob@example.net>"],
        &mut &b"hi\r\n"[..],
    )
    .expect("display names are dropped");
    smtp.quit().expect("quit");
    let logs = finished(&server, 1);
    assert_eq!(
        logs[0].commands[1..3],
        ["MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.net>"]
    );
}

/// RFC 6531 §3.4 and the adapters' `mail()` docs: a non-ASCII sender carries SMTPUTF8.
pub fn low_level_mail_declares_smtputf8_for_an_international_sender<A: Adapter>() {
    let server = Server::start().expect("server");
    let mut smtp = open::<A>(&server, &named()).expect("connect");
    smtp.ehlo().expect("ehlo");
    assert_eq!(
        code(smtp.mail("jö@exämple.org", MailParams::default())),
        250
    );
    smtp.quit().expect("quit");
    assert_eq!(
        finished(&server, 1)[0].commands[1],
        "MAIL FROM:<jö@exämple.org> SMTPUTF8"
    );
}
