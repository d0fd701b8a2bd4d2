//! The one façade: calls that only the shared table of smtplib's methods has, checked on every
//! runtime — `send_message_report` (the envelope smtplib hides, and each recipient's reply),
//! `login_with` (a mechanism by name), and the operations run by a loop of the caller's.

use std::time::{Duration, Instant};

use smtp_async_std::AsyncStd;
use smtp_blocking::SmtpClient;
use smtp_proto::client::{MailOutcome, Setup};
use smtp_proto::session::op::{
    AfterHello, Command, Greeting, Operation, Request, SendMessage, SentMessage,
};
use smtp_proto::session::{Error, Pump, Step};
use smtp_proto::{Client, Config, Domain, UsageError};
use smtp_smol::GenericSmtpClient;
use smtp_tests::matrix::AsyncRuntime;
use smtp_tests::server::{Action, Server, Trigger};

const T: Duration = Duration::from_secs(10);
const MESSAGE: &[u8] =
    b"From: a@x.org\r\nTo: b@y.org, bad@y.org\r\nBcc: c@z.org\r\nSubject: hi\r\n\r\nHello.\r\n";

/// A server that refuses `bad@`.
fn server() -> Server {
    Server::builder()
        .on(
            Trigger::command("RCPT TO:<bad@"),
            Action::reply("550 5.1.1 no such user"),
        )
        .start()
        .expect("server")
}

fn check_report(sent: &SentMessage) {
    let to: Vec<&str> = sent
        .envelope
        .to
        .iter()
        .map(|r| r.mailbox.as_str())
        .collect();
    assert_eq!(to, ["b@y.org", "bad@y.org", "c@z.org"]);
    assert_eq!(
        sent.envelope.from.mailbox().map(|m| m.as_str()),
        Some("a@x.org")
    );
    assert!(matches!(sent.report.outcome, MailOutcome::Accepted(_)));
    let refused: Vec<(&str, u16)> = sent
        .report
        .refused()
        .map(|(m, r)| (m.as_str(), r.code().get()))
        .collect();
    assert_eq!(refused, [("bad@y.org", 550)]);
}

#[test]
fn send_message_report_gives_the_envelope_and_every_reply_blocking() {
    let server = server();
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .connect("127.0.0.1", server.port())
        .expect("connect");
    let sent = smtp.send_message_report(MESSAGE, None, None).expect("sent");
    check_report(&sent);
    let refused = sent.into_refused().expect("accepted");
    assert_eq!(refused.len(), 1);
    smtp.quit().expect("quit");
    let logs = server.wait_finished(1, T);
    assert_eq!(logs[0].messages.len(), 1);
    assert!(!String::from_utf8_lossy(&logs[0].messages[0].data).contains("Bcc"));
}

fn send_message_report_async<R: AsyncRuntime>() {
    let server = server();
    R::block_on(async {
        let mut smtp = GenericSmtpClient::<R>::builder()
            .timeout(T)
            .connect("127.0.0.1", server.port())
            .await
            .expect("connect");
        let sent = smtp
            .send_message_report(MESSAGE, None, None)
            .await
            .expect("sent");
        check_report(&sent);
        smtp.quit().await.expect("quit");
    });
    server.wait_finished(1, T);
}

#[test]
fn send_message_report_gives_the_envelope_and_every_reply_smol() {
    send_message_report_async::<smtp_smol::Smol>();
}

#[test]
fn send_message_report_gives_the_envelope_and_every_reply_async_std() {
    send_message_report_async::<AsyncStd>();
}

#[test]
fn login_with_uses_the_mechanism_named_and_nothing_else() {
    let server = server();
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .connect("127.0.0.1", server.port())
        .expect("connect");
    let unknown = smtp.login_with("NO-SUCH-MECH", "alice", "correct horse");
    assert!(
        matches!(unknown, Err(Error::Usage(UsageError::NoSuitableMechanism))),
        "{unknown:?}"
    );
    let wrong = smtp.login_with("login", "alice", "wrong");
    assert!(matches!(wrong, Err(Error::AuthFailed(_))), "{wrong:?}");
    let reply = smtp
        .login_with("login", "alice", "correct horse")
        .expect("login");
    assert_eq!(reply.code().get(), 235);
    smtp.quit().expect("quit");
    let logs = server.wait_finished(1, T);
    let auths: Vec<&String> = logs[0]
        .commands
        .iter()
        .filter(|c| c.starts_with("AUTH"))
        .collect();
    assert_eq!(auths.len(), 2, "{auths:?}");
    assert!(
        auths.iter().all(|c| c.starts_with("AUTH LOGIN")),
        "{auths:?}"
    );
}

#[test]
fn login_with_on_the_async_adapters() {
    fn run<R: AsyncRuntime>() {
        let server = server();
        R::block_on(async {
            let mut smtp = GenericSmtpClient::<R>::builder()
                .timeout(T)
                .connect("127.0.0.1", server.port())
                .await
                .expect("connect");
            let reply = smtp
                .login_with("PLAIN", "alice", "correct horse")
                .await
                .expect("login");
            assert_eq!(reply.code().get(), 235);
            smtp.quit().await.expect("quit");
        });
        let logs = server.wait_finished(1, T);
        assert!(logs[0].commands.iter().any(|c| c.starts_with("AUTH PLAIN")));
    }
    run::<smtp_smol::Smol>();
    run::<AsyncStd>();
}

/// Runs `op` over a scripted server whose whole answer is `script`, handed over 7 bytes at a
/// time; what the client wrote is added to `wire`.
fn scripted<O: Operation>(
    client: &mut Client,
    wire: &mut Vec<u8>,
    mut script: &[u8],
    op: O,
) -> (Result<O::Output, Error>, bool) {
    let mut pump = Pump::new(op);
    let mut sink = None;
    loop {
        match pump.next(client, &mut sink, Instant::now()) {
            Step::Write { .. } => {
                let bytes = pump.outgoing(client);
                wire.extend_from_slice(bytes);
                let n = bytes.len();
                pump.wrote(client, Ok(n), Instant::now());
            }
            Step::Read { .. } => {
                let (now, rest) = script.split_at(script.len().min(7));
                script = rest;
                pump.read(client, Ok(now), Instant::now());
            }
            Step::Done { result, close } => return (result, close),
            Step::Body { .. } | Step::Handshake { .. } => panic!("no body, no TLS here"),
        }
    }
}

/// The operations need no adapter: a scripted exchange, driven by hand through a [`Pump`].
#[test]
fn a_loop_of_ones_own_runs_the_same_operations() {
    let name = Domain::try_from("c.example").expect("name");
    let mut config = Config::new(name);
    config.setup = Setup::Manual;
    let mut client = Client::new(config, Instant::now());
    let mut wire = Vec::new();
    let (greeting, _) = scripted(&mut client, &mut wire, b"220 mx ESMTP\r\n", Greeting);
    assert_eq!(greeting.expect("greeting").code().get(), 220);
    let script = b"250-mx\r\n250 SIZE 100\r\n250 2.0.0 ok\r\n";
    let noop = AfterHello::new(Command::new(Request::Noop));
    let (noop, close) = scripted(&mut client, &mut wire, script, noop);
    assert_eq!((noop.expect("noop").code().get(), close), (250, false));
    assert_eq!(String::from_utf8_lossy(&wire), "EHLO c.example\r\nNOOP\r\n");
    // The server hangs up instead of answering: the call fails and the session is over.
    let (rset, close) = scripted(&mut client, &mut wire, b"", Command::new(Request::Rset));
    assert!(rset.is_err_and(|e| e.is_fatal()) && close);
    // A message without a recipient header never reaches the wire.
    let headers = smtp_proto::message::parse_headers(b"From: a@x.org\r\n\r\n").expect("headers");
    let refused = SendMessage::new(&headers, None, None, &b""[..]);
    assert!(matches!(refused, Err(Error::Message(_))), "{refused:?}");
}

/// `SIZE=` and `BODY=` of the one message `server` received, and the size it counted.
fn declared(server: &Server) -> (Option<u64>, bool, u64) {
    let logs = server.wait_finished(1, T);
    let message = &logs[0].messages[0];
    let size = message
        .mail_from
        .split_whitespace()
        .find_map(|p| p.strip_prefix("SIZE="))
        .and_then(|n| n.parse().ok());
    (
        size,
        message.mail_from.contains("BODY=8BITMIME"),
        message.size,
    )
}

#[test]
fn a_message_in_memory_is_declared_as_it_is() {
    let eight_bit = "From: a@x.org\r\nTo: b@y.org\r\nBcc: c@z.org\r\n\r\nCafé.\n".as_bytes();
    for send_message in [false, true] {
        let server = Server::start().expect("server");
        let mut smtp = SmtpClient::builder()
            .timeout(T)
            .connect("127.0.0.1", server.port())
            .expect("connect");
        let refused = if send_message {
            smtp.send_message_bytes(eight_bit)
        } else {
            smtp.sendmail_bytes("a@x.org", ["b@y.org"], eight_bit)
        };
        assert!(refused.expect("sent").is_empty());
        smtp.quit().expect("quit");
        let (size, body_8bit, received) = declared(&server);
        // The size declared is the size sent: line ends normalised, Bcc gone for send_message.
        assert_eq!(size, Some(received), "send_message: {send_message}");
        assert!(body_8bit, "send_message: {send_message}");
    }
    // A 7-bit message declares its size only.
    let server = Server::start().expect("server");
    smol::block_on(async {
        let mut smtp = smtp_smol::SmtpClient::builder()
            .timeout(T)
            .connect("127.0.0.1", server.port())
            .await
            .expect("connect");
        let plain = b"Subject: hi\r\n\r\nHi.\r\n";
        smtp.sendmail_bytes("a@x.org", ["b@y.org"], plain)
            .await
            .expect("sent");
        smtp.quit().await.expect("quit");
    });
    assert_eq!(declared(&server), (Some(20), false, 20));
}

#[test]
fn what_the_server_cannot_take_is_refused_before_the_wire() {
    let big = vec![b'x'; 200];
    let server = Server::builder()
        .extensions(&["PIPELINING", "SIZE 100"])
        .start()
        .expect("server");
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .connect("127.0.0.1", server.port())
        .expect("connect");
    let too_big = smtp.sendmail_bytes("a@x.org", ["b@y.org"], &big);
    assert!(matches!(too_big, Err(Error::Usage(_))), "{too_big:?}");
    let eight_bit = smtp.sendmail_bytes("a@x.org", ["b@y.org"], "é\r\n".as_bytes());
    assert!(matches!(eight_bit, Err(Error::Usage(_))), "{eight_bit:?}");
    // smtplib's behaviour stays reachable: a reader is declared 7-bit, sizeless.
    smtp.sendmail("a@x.org", ["b@y.org"], "é\r\n".as_bytes())
        .expect("sent undeclared");
    smtp.quit().expect("quit");
    let logs = server.wait_finished(1, T);
    let mails: Vec<&String> = logs[0]
        .commands
        .iter()
        .filter(|c| c.starts_with("MAIL"))
        .collect();
    assert_eq!(mails, ["MAIL FROM:<a@x.org>"]);
}
