//! The smtplib conformance audit: where the adapters' smtplib-shaped API must behave as Python's
//! smtplib does (HELO fallback, EHLO feature parsing, RSET after refusals, replies whatever the
//! code, QUIT's reply, STARTTLS forgetting the session, the 8192-byte line cap, `send_message`'s
//! header rules, display-name addresses, SMTPUTF8 for an international sender).

use smtp_blocking::{Error, UsageError};
use smtp_proto::ehlo::Extension;
use smtp_proto::{Error as ProtoError, MailParams, RcptParams};

use super::{code, connect, finished, localhost, open, trusting};
use crate::matrix::{Adapter, Settings};
use crate::server::{localhost_acceptor, Action, Server, Trigger};

// ------------------------------------------------------------------ smtplib conformance audit

fn domain(name: &str) -> smtp_proto::Domain {
    name.try_into().expect("domain")
}

/// Settings with a fixed hello name, lock-step (no PIPELINING): the wire order is smtplib's.
fn lockstep() -> Settings {
    named().pipelining(false)
}

fn named() -> Settings {
    Settings::default().local_hostname(domain("client.test"))
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
    let settings = trusting().local_hostname(domain("client.test"));
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
