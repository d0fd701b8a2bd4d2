//! The smtplib-shaped methods against the test server: every simple command, connection
//! failures, a refused greeting, low-level MAIL/RCPT/DATA, `sendmail` and its refusals,
//! `send_message` (envelope from the headers, Bcc stripped, SMTPUTF8), `login` and `auth`, and
//! the transcript switch.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_blocking::{Error, UsageError};
use smtp_proto::client::Stage;
use smtp_proto::sasl::{External, Plain, XOAuth2};
use smtp_proto::{Error as ProtoError, MailParams, RcptParams};

use super::{code, connect, finished, open};
use crate::matrix::{lock, Adapter, Settings, Target};
use crate::server::{Action, Server, Trigger};

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
    let zero = Settings::default().timeout(Duration::ZERO);
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
    let from_source = Settings::default()
        .source_address("127.0.0.1:0".parse().expect("addr"))
        .local_hostname("client.test".try_into().expect("domain"));
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
    let settings = Settings::default().transcript(&lines);
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

// ------------------------------------------------------------------ transcript switch

/// The transcript sink gets every line until `set_transcript(false)`.
pub fn transcript_switch_on_and_off<A: Adapter>() {
    let server = Server::start().expect("server");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let settings = Settings::default().transcript(&lines);
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
