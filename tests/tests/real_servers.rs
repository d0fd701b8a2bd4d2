//! Real servers nobody here wrote, started by each test on loopback:
//!
//! - Python's `aiosmtpd` (PyPI), through `tests/real-servers/aiosmtpd_server.py`: a server that
//!   offers no PIPELINING, STARTTLS with the test CA of `tests/fixtures/`, AUTH PLAIN and LOGIN,
//!   SMTPUTF8, LMTP with per-recipient replies, refused recipients;
//! - Postfix's `smtp-sink` (Debian `postfix`) in the foreground: PIPELINING, 8BITMIME, 1, 10 and
//!   1000 messages, checked against its dump files;
//! - a private Postfix instance (`master` + `smtpd` in the foreground, its own configuration and
//!   queue in a temporary directory, no system daemon): CHUNKING/BDAT, relayed over LMTP to an
//!   aiosmtpd recorder.
//!
//! Every check is byte-exact on what the server received. `.ci/install-test-servers.sh` installs
//! the servers; a missing one fails the test. The only opt-out is `SMTP_SKIP_REAL_SERVERS=1`,
//! for local runs (refused when `CI` is set).
//!
//! The scenarios take an [`Adapter`]: the blocking adapter is plugged in at the bottom; the smol
//! and async-std adapters plug in the same way (an `impl Adapter` that blocks on its runtime,
//! then `real_server_tests!(TheirAdapter)` in a module of their own).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use std::{env, fs, thread};

use smtp_blocking::proto::sasl::{Login, Mechanism, Plain};
use smtp_blocking::proto::Domain;
use smtp_blocking::{Content, TlsMode};
use smtp_tests::matrix;

// ============================================================================ the adapter seam

/// How a session is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tls {
    /// Plaintext.
    None,
    /// STARTTLS required, the certificate verified against the test CA only.
    StartTlsTestCa,
    /// STARTTLS required, verified against the system's roots (the test CA is not among them).
    StartTlsSystemRoots,
}

/// Which SASL mechanism to authenticate with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthMechanism {
    /// smtplib's `login()`: the client picks among those offered.
    Any,
    Plain,
    Login,
}

#[derive(Clone, Debug)]
struct Auth {
    mechanism: AuthMechanism,
    user: String,
    password: String,
}

/// One message: envelope and the exact bytes to send (CRLF line ends, unstuffed).
#[derive(Clone, Debug)]
struct Message {
    from: String,
    to: Vec<String>,
    body: Vec<u8>,
    /// Declare `BODY=8BITMIME`.
    eight_bit: bool,
}

/// One session: connect to 127.0.0.1, say hello, maybe STARTTLS and AUTH, send every message in
/// order, QUIT.
#[derive(Clone, Debug)]
struct Job {
    port: u16,
    lmtp: bool,
    tls: Tls,
    auth: Option<Auth>,
    messages: Vec<Message>,
    /// Collect the transcript (`C: …` / `S: …` lines, as `TranscriptEntry`'s `Display`).
    transcript: bool,
}

impl Job {
    fn new(port: u16, messages: Vec<Message>) -> Self {
        Self {
            port,
            lmtp: false,
            tls: Tls::None,
            auth: None,
            messages,
            transcript: true,
        }
    }
}

/// What happened to one message: each recipient with the code of its final reply (RCPT's when
/// refused there; for LMTP the per-recipient reply after the data).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Delivery {
    accepted: bool,
    recipients: Vec<(String, u16)>,
}

#[derive(Clone, Debug)]
struct Outcome {
    /// The EHLO/LHLO keywords in force after STARTTLS and AUTH, upper case.
    keywords: Vec<String>,
    /// Whether the session was TLS.
    secure: bool,
    deliveries: Vec<Delivery>,
    transcript: Vec<String>,
}

/// Where a session failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Connect, greeting, hello, STARTTLS.
    Connect,
    Auth,
    /// Sending the message with this index.
    Send(usize),
    Quit,
}

#[derive(Clone, Debug)]
struct Failure {
    step: Step,
    /// The server's reply code, when a reply caused the failure.
    code: Option<u16>,
    message: String,
}

/// A client library under test: runs a [`Job`] to the end.
trait Adapter {
    fn run(&self, job: &Job) -> Result<Outcome, Failure>;
}

const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
const CLIENT_NAME: &str = "client.smtp-rs.test";

/// Any adapter of the conformance matrix (`smtp_tests::matrix`), through its public API only.
struct Via<A: matrix::Adapter>(PhantomData<A>);

/// The keywords the scenarios look at; the `Session` facade answers `has_extn` for each.
const KEYWORDS: &[&str] = &[
    "PIPELINING",
    "CHUNKING",
    "8BITMIME",
    "BINARYMIME",
    "SMTPUTF8",
    "STARTTLS",
    "AUTH",
    "SIZE",
    "DSN",
    "ENHANCEDSTATUSCODES",
];

impl<A: matrix::Adapter> Adapter for Via<A> {
    fn run(&self, job: &Job) -> Result<Outcome, Failure> {
        let fail = |step: Step| {
            move |e: smtp_blocking::Error| Failure {
                step,
                code: e.reply().map(|r| r.code().get()),
                message: e.to_string(),
            }
        };
        let hello_name = Domain::try_from(CLIENT_NAME).map_err(|e| Failure {
            step: Step::Connect,
            code: None,
            message: e.to_string(),
        })?;
        let transcript = Arc::new(Mutex::new(Vec::new()));
        let (tls, trust_test_ca) = match job.tls {
            Tls::None => (TlsMode::Disabled, false),
            Tls::StartTlsTestCa => (TlsMode::Required, true),
            Tls::StartTlsSystemRoots => (TlsMode::Required, false),
        };
        let settings = matrix::Settings {
            timeout: Some(CLIENT_TIMEOUT),
            local_hostname: Some(hello_name),
            lmtp: job.lmtp,
            hello_on_connect: true,
            tls,
            trust_test_ca,
            transcript: job.transcript.then(|| Arc::clone(&transcript)),
            ..matrix::Settings::default()
        };
        let mut smtp = A::connect(&settings, &matrix::Target::loopback(job.port))
            .map_err(fail(Step::Connect))?;
        if let Some(auth) = &job.auth {
            let (user, password) = (auth.user.as_str(), auth.password.as_str());
            let mechanism: Option<Box<dyn Mechanism>> = match auth.mechanism {
                AuthMechanism::Any => None,
                AuthMechanism::Plain => {
                    Some(Box::new(Plain::new(user, password).map_err(|e| {
                        Failure {
                            step: Step::Auth,
                            code: None,
                            message: e.to_string(),
                        }
                    })?))
                }
                AuthMechanism::Login => Some(Box::new(Login::new(user, password))),
            };
            match mechanism {
                None => smtp.login(user, password),
                Some(mechanism) => smtp.auth(mechanism),
            }
            .map_err(fail(Step::Auth))?;
        }
        let keywords = KEYWORDS
            .iter()
            .filter(|k| smtp.has_extn(k))
            .map(|k| (*k).to_owned())
            .collect();
        let secure = smtp.is_secure();
        let mut deliveries = Vec::with_capacity(job.messages.len());
        for (i, message) in job.messages.iter().enumerate() {
            let mut envelope =
                smtp_blocking::envelope(&message.from, message.to.iter().map(String::as_str))
                    .map_err(fail(Step::Send(i)))?;
            if message.eight_bit {
                envelope.content = Content::EightBit;
            }
            let mut body: &[u8] = message.body.as_slice();
            let report = smtp
                .send_with_report(envelope, &mut body)
                .map_err(fail(Step::Send(i)))?;
            let recipients = report
                .recipients
                .iter()
                .map(|r| {
                    let last = r.refusal().or(r.delivery.as_ref()).or(r.rcpt.as_ref());
                    let code = last.map_or(0, |reply| reply.code().get());
                    (r.mailbox.as_str().to_owned(), code)
                })
                .collect();
            deliveries.push(Delivery {
                accepted: report.is_accepted(),
                recipients,
            });
        }
        smtp.quit().map_err(fail(Step::Quit))?;
        let transcript = transcript.lock().map(|t| t.clone()).unwrap_or_default();
        Ok(Outcome {
            keywords,
            secure,
            deliveries,
            transcript,
        })
    }
}

/// Every scenario as a `#[test]` for one adapter.
macro_rules! real_server_tests {
    ($adapter:expr) => {
        real_server_tests!(@each $adapter;
            aiosmtpd_plain_session_without_pipelining,
            aiosmtpd_several_recipients_one_refused_two_messages,
            aiosmtpd_starttls_verified_with_the_test_ca,
            aiosmtpd_starttls_untrusted_certificate_is_refused,
            aiosmtpd_auth_plain_after_starttls,
            aiosmtpd_auth_login_after_starttls,
            aiosmtpd_auth_on_plaintext_loopback,
            aiosmtpd_auth_wrong_password,
            aiosmtpd_smtputf8_addresses,
            aiosmtpd_utf8_address_without_smtputf8_is_not_sent,
            aiosmtpd_lmtp_per_recipient_replies,
            smtp_sink_one_message,
            smtp_sink_ten_messages,
            smtp_sink_thousand_messages,
            postfix_smtpd_chunking,
        );
    };
    (@each $adapter:expr; $($scenario:ident),+ $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                if crate::support::servers_required() {
                    crate::scenarios::$scenario(&$adapter);
                }
            }
        )+
    };
}

mod blocking {
    real_server_tests!(crate::Via::<smtp_tests::matrix::Blocking>(
        std::marker::PhantomData
    ));
}

mod smol {
    real_server_tests!(crate::Via::<smtp_tests::matrix::Async<smtp_smol::Smol>>(
        std::marker::PhantomData
    ));
}

mod async_std {
    real_server_tests!(crate::Via::<
        smtp_tests::matrix::Async<smtp_async_std::AsyncStd>,
    >(std::marker::PhantomData));
}

// ============================================================================ the scenarios

mod scenarios {
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
            big.extend_from_slice(
                b"0123456789 abcdefghijklmnopqrstuvwxyz .dot-inside\r\n.\r\n..\r\n",
            );
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
            let Some(record) = records.iter().find(|r| {
                strip_received_header(&r.content).is_some_and(|body| body == message.body)
            }) else {
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
}

// ============================================================================ support

mod support {
    use super::*;

    /// Whether to run: `false` only for a local `SMTP_SKIP_REAL_SERVERS=1` (refused under CI).
    pub(crate) fn servers_required() -> bool {
        let skip = env::var("SMTP_SKIP_REAL_SERVERS").is_ok_and(|v| v == "1");
        if !skip {
            return true;
        }
        let ci = env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(
            !ci,
            "SMTP_SKIP_REAL_SERVERS=1 is a local opt-out: CI must run the real-server tests"
        );
        eprintln!("SMTP_SKIP_REAL_SERVERS=1: real-server test not run");
        false
    }

    const START_LIMIT: Duration = Duration::from_secs(20);
    const DELIVERY_LIMIT: Duration = Duration::from_secs(30);
    /// The longest a server started here may live.
    const SERVER_LIFETIME: Duration = Duration::from_secs(600);

    // ------------------------------------------------------------------------ test messages

    /// A message exercising dot-stuffing (leading dots, a lone dot, `..`), empty lines,
    /// trailing white space, a tab, a 998-byte line and, when `eight_bit`, UTF-8 bytes. Its
    /// `X-Test-Seq` header identifies it; its length varies with `seq`.
    pub(crate) fn test_message(tag: &str, seq: usize, eight_bit: bool) -> Vec<u8> {
        let mut m = String::new();
        let _ = write!(
            m,
            "From: Alice <alice@example.test>\r\n\
             To: Bob <bob@example.test>\r\n\
             Subject: real-server test {tag} #{seq}\r\n\
             Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\
             Message-ID: <{tag}.{seq}@smtp-rs.test>\r\n\
             X-Test-Seq: {seq}\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset={}\r\n\
             \r\n\
             First line of message {seq}.\r\n\
             .A line starting with a dot\r\n\
             ..two dots\r\n\
             .\r\n\
             \r\n\
             \r\n\
             trailing white space   \r\n\
             \tleading tab\r\n",
            if eight_bit { "utf-8" } else { "us-ascii" }
        );
        if eight_bit {
            m.push_str("8-bit: Grüße, naïve café, 日本語, ελληνικά.\r\n");
        }
        m.push_str(&"x".repeat(998));
        m.push_str("\r\n");
        for line in 0..seq % 7 {
            let _ = write!(m, "filler line {line} of message {seq}\r\n");
        }
        m.push_str("-- \r\nlast line\r\n");
        m.into_bytes()
    }

    /// `actual == expected`, or a panic showing where they differ.
    pub(crate) fn assert_bytes_eq(actual: &[u8], expected: &[u8], what: &str) {
        if actual == expected {
            return;
        }
        let at = actual
            .iter()
            .zip(expected)
            .position(|(a, e)| a != e)
            .unwrap_or(actual.len().min(expected.len()));
        let around = |b: &[u8]| {
            let from = at.saturating_sub(40);
            let to = (at + 40).min(b.len());
            String::from_utf8_lossy(b.get(from..to).unwrap_or_default()).into_owned()
        };
        panic!(
            "{what}: not byte-exact: {} bytes received, {} expected, first difference at byte \
             {at}:\n  received: {:?}\n  expected: {:?}",
            actual.len(),
            expected.len(),
            around(actual),
            around(expected)
        );
    }

    /// The message after the first header when that header is a `Received:` field (with its
    /// continuation lines): what Postfix prepends.
    pub(crate) fn strip_received_header(content: &[u8]) -> Option<&[u8]> {
        let mut rest = content.strip_prefix(b"Received: ")?;
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n")?;
            rest = rest.get(eol + 2..)?;
            if !rest.starts_with(b" ") && !rest.starts_with(b"\t") {
                return Some(rest);
            }
        }
    }

    // ------------------------------------------------------------------------ processes

    /// A temporary directory, removed on drop unless the test failed (then kept for a look).
    pub(crate) struct TempDir(PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::SeqCst);
            let path =
                env::temp_dir().join(format!("smtp-rs-real-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path)
                .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
            // Whatever the umask: the servers' unprivileged users (nobody, postfix) must get in.
            set_mode(&path, 0o755);
            Self(path)
        }

        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            if thread::panicking() {
                eprintln!("kept for inspection: {}", self.0.display());
            } else {
                let _ = fs::remove_dir_all(&self.0);
            }
        }
    }

    /// A server process: stopped (SIGTERM, then SIGKILL after a grace period) and reaped on
    /// drop. Its output goes to `log`.
    pub(crate) struct ServerProcess {
        name: &'static str,
        child: Child,
        stdin: Option<ChildStdin>,
        log: PathBuf,
    }

    impl ServerProcess {
        pub(crate) fn spawn(name: &'static str, mut command: Command, log: PathBuf) -> Self {
            let out = fs::File::create(&log)
                .unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
            let err = out.try_clone().expect("log file handle");
            command
                .stdin(Stdio::piped())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err));
            Self::from_command(name, command, log)
        }

        fn from_command(name: &'static str, mut command: Command, log: PathBuf) -> Self {
            let mut child = command.spawn().unwrap_or_else(|e| {
                panic!(
                    "cannot start {name} ({command:?}): {e}; run .ci/install-test-servers.sh \
                     (or set SMTP_SKIP_REAL_SERVERS=1 to skip these tests locally)"
                )
            });
            let stdin = child.stdin.take();
            Self {
                name,
                child,
                stdin,
                log,
            }
        }

        /// The log so far (for failure messages).
        pub(crate) fn log_text(&self) -> String {
            let text = fs::read(&self.log).unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        }

        /// Waits until 127.0.0.1:`port` accepts TCP connections (`true`), or the process
        /// exits (`false`: e.g. the port was taken meanwhile); panics after [`START_LIMIT`].
        pub(crate) fn listening(&mut self, port: u16) -> bool {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let deadline = Instant::now() + START_LIMIT;
            loop {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return false;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return true;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} does not listen on {addr} after {START_LIMIT:?}; its output:\n{}",
                    self.name,
                    self.log_text()
                );
                thread::sleep(Duration::from_millis(50));
            }
        }
    }

    impl Drop for ServerProcess {
        fn drop(&mut self) {
            drop(self.stdin.take());
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            // SIGTERM lets Postfix's master stop its children; std only sends SIGKILL.
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub(crate) fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }

    /// `program` under coreutils' `timeout`: a server that outlives a killed test process
    /// still ends (SIGTERM after [`SERVER_LIFETIME`], SIGKILL 5 s later). `timeout` passes
    /// the SIGTERM of [`ServerProcess`]'s drop on to it.
    pub(crate) fn bounded(program: &str) -> Command {
        let mut command = Command::new("timeout");
        command
            .args(["-k", "5"])
            .arg(SERVER_LIFETIME.as_secs().to_string())
            .arg(program);
        command
    }

    /// A port that was free a moment ago (for servers that cannot report the one they chose).
    pub(crate) fn free_port() -> u16 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        listener.local_addr().expect("local address").port()
    }

    /// Whether this process runs as root (the effective uid, from /proc).
    pub(crate) fn is_root() -> bool {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    }

    /// Polls `check` until it returns something or `limit` passes.
    fn poll<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = check() {
                return Some(found);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    // ------------------------------------------------------------------------ aiosmtpd

    /// One message as aiosmtpd's handler recorded it.
    #[derive(Clone, Debug)]
    pub(crate) struct Record {
        pub(crate) mail_from: String,
        pub(crate) rcpt_tos: Vec<String>,
        pub(crate) mail_options: Vec<String>,
        pub(crate) smtp_utf8: bool,
        pub(crate) content: Vec<u8>,
        pub(crate) tls: bool,
        pub(crate) auth_mechanism: Option<String>,
        pub(crate) auth_login: Option<String>,
        pub(crate) helo: Option<String>,
    }

    impl Record {
        fn parse(json: &[u8]) -> Result<Self, String> {
            let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
            let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
            let list = |k: &str| -> Vec<String> {
                v.get(k)
                    .and_then(|x| x.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let content = text("content_hex").ok_or("no content")?;
            Ok(Self {
                mail_from: text("mail_from").ok_or("no mail_from")?,
                rcpt_tos: list("rcpt_tos"),
                mail_options: list("mail_options"),
                smtp_utf8: v.get("smtp_utf8").and_then(|x| x.as_bool()) == Some(true),
                content: decode_hex(&content)?,
                tls: v.get("tls").and_then(|x| x.as_bool()) == Some(true),
                auth_mechanism: text("auth_mechanism"),
                auth_login: text("auth_login"),
                helo: text("helo"),
            })
        }
    }

    fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
        let digits = text.as_bytes();
        if !digits.len().is_multiple_of(2) {
            return Err("odd-length hex".into());
        }
        digits
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or_else(|| format!("bad hex {pair:?}"))
            })
            .collect()
    }

    /// Options of `tests/real-servers/aiosmtpd_server.py`.
    #[derive(Clone, Debug, Default)]
    pub(crate) struct AiosmtpdOptions {
        pub(crate) lmtp: bool,
        pub(crate) smtputf8: bool,
        /// Offer STARTTLS with the `localhost` test identity.
        pub(crate) tls: bool,
        pub(crate) require_starttls: bool,
        pub(crate) auth: Option<(&'static str, &'static str)>,
        pub(crate) auth_required: bool,
        pub(crate) auth_allow_plaintext: bool,
        pub(crate) refuse_rcpt: Option<&'static str>,
        pub(crate) lmtp_fail_rcpt: Option<&'static str>,
    }

    /// aiosmtpd on 127.0.0.1, recording into a temporary directory.
    pub(crate) struct Aiosmtpd {
        // Field order: the process stops before its directory goes.
        process: ServerProcess,
        port: u16,
        dir: TempDir,
    }

    fn python() -> String {
        env::var("SMTP_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
    }

    impl Aiosmtpd {
        pub(crate) fn start(options: &AiosmtpdOptions) -> Self {
            let dir = TempDir::new(if options.lmtp {
                "aiosmtpd-lmtp"
            } else {
                "aiosmtpd"
            });
            let records = dir.path().join("records");
            fs::create_dir_all(&records).expect("records directory");
            let here = Path::new(env!("CARGO_MANIFEST_DIR"));
            let mut command = Command::new(python());
            command
                .arg(here.join("real-servers/aiosmtpd_server.py"))
                .arg("--out")
                .arg(&records);
            let flags = [
                (options.lmtp, "--lmtp"),
                (options.smtputf8, "--smtputf8"),
                (options.require_starttls, "--require-starttls"),
                (options.auth_required, "--auth-required"),
                (options.auth_allow_plaintext, "--auth-allow-plaintext"),
            ];
            for (on, flag) in flags {
                if on {
                    command.arg(flag);
                }
            }
            if options.tls {
                command
                    .arg("--tls-cert")
                    .arg(here.join("fixtures/server.pem"))
                    .arg("--tls-key")
                    .arg(here.join("fixtures/server.key"));
            }
            if let Some((user, password)) = options.auth {
                command.arg("--auth").arg(format!("{user}:{password}"));
            }
            if let Some(s) = options.refuse_rcpt {
                command.arg("--refuse-rcpt").arg(s);
            }
            if let Some(s) = options.lmtp_fail_rcpt {
                command.arg("--lmtp-fail-rcpt").arg(s);
            }
            // stdout is read for `LISTENING <port>`; stderr goes to the log.
            let log = dir.path().join("aiosmtpd.log");
            let err = fs::File::create(&log).expect("log file");
            command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(err));
            let mut process = ServerProcess::from_command("aiosmtpd", command, log);
            let stdout = process.child.stdout.take().expect("piped stdout");
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(port) = line.strip_prefix("LISTENING ") {
                        let _ = tx.send(port.trim().parse::<u16>().ok());
                    }
                }
            });
            let Ok(Some(port)) = rx.recv_timeout(START_LIMIT) else {
                // Exited (its output says why), or silent for START_LIMIT.
                thread::sleep(Duration::from_millis(200));
                panic!(
                    "aiosmtpd did not report a listening port (limit {START_LIMIT:?}); \
                     run .ci/install-test-servers.sh; its output:\n{}",
                    process.log_text()
                );
            };
            Self { process, port, dir }
        }

        pub(crate) fn port(&self) -> u16 {
            self.port
        }

        fn read_records(&self) -> Vec<Record> {
            let mut found: Vec<(usize, Record)> = fs::read_dir(self.dir.path().join("records"))
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter_map(|e| {
                            let name = e.file_name().into_string().ok()?;
                            let n = name.strip_suffix(".json")?.parse().ok()?;
                            let bytes = fs::read(e.path()).ok()?;
                            let record = Record::parse(&bytes)
                                .unwrap_or_else(|err| panic!("record {name}: {err}"));
                            Some((n, record))
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.sort_by_key(|(n, _)| *n);
            found.into_iter().map(|(_, r)| r).collect()
        }

        /// The first `n` messages received, in arrival order (waits for them, bounded).
        pub(crate) fn records(&self, n: usize) -> Vec<Record> {
            let got = poll(DELIVERY_LIMIT, || {
                let records = self.read_records();
                (records.len() >= n).then_some(records)
            });
            got.unwrap_or_else(|| {
                panic!(
                    "aiosmtpd recorded {} of {n} messages within {DELIVERY_LIMIT:?}:\n{}",
                    self.read_records().len(),
                    self.process.log_text()
                )
            })
        }

        /// Nothing was received (checked after the client's session is over).
        pub(crate) fn assert_no_records(&self) {
            thread::sleep(Duration::from_millis(100));
            let records = self.read_records();
            assert!(records.is_empty(), "aiosmtpd received {records:?}");
        }
    }

    // ------------------------------------------------------------------------ smtp-sink

    pub(crate) mod smtp_sink {
        use super::*;

        pub(crate) const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

        /// One dump file of `smtp-sink -d`.
        #[derive(Debug)]
        pub(crate) struct Dump {
            pub(crate) proto: String,
            pub(crate) helo_args: String,
            pub(crate) mail_args: String,
            pub(crate) rcpt_args: Vec<String>,
            /// What follows smtp-sink's own header lines.
            pub(crate) content: Vec<u8>,
        }

        /// What `smtp-sink -d` writes for a message sent as `body`, determined empirically
        /// with Postfix 3.7 (and matching its man page, "DUMP FILE FORMAT"): smtp-sink reads
        /// the data line by line, so each CRLF becomes LF and dot-stuffing is undone; after
        /// the message it writes one empty line. Before it come smtp-sink's own lines
        /// (`X-Client-Addr`, `X-Client-Proto`, `X-Helo-Args`, `X-Mail-Args`, one `X-Rcpt-Args`
        /// per RCPT, and a three-line `Received:` header), which [`parse`] takes apart.
        pub(crate) fn as_dumped(body: &[u8]) -> Vec<u8> {
            let mut out = Vec::with_capacity(body.len() + 1);
            let mut rest = body;
            while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
                out.extend_from_slice(&rest[..eol]);
                out.push(b'\n');
                rest = &rest[eol + 2..];
            }
            out.extend_from_slice(rest);
            out.push(b'\n');
            out
        }

        /// Splits a dump file into smtp-sink's lines and the message, or `None` if it is not
        /// complete yet.
        pub(crate) fn parse(file: &[u8]) -> Option<Dump> {
            if !file.ends_with(b"\n\n") {
                return None;
            }
            let mut dump = Dump {
                proto: String::new(),
                helo_args: String::new(),
                mail_args: String::new(),
                rcpt_args: Vec::new(),
                content: Vec::new(),
            };
            let mut rest = file;
            let mut in_received = false;
            loop {
                let eol = rest.iter().position(|&b| b == b'\n')?;
                let line = String::from_utf8_lossy(&rest[..eol]).into_owned();
                if in_received && !line.starts_with('\t') {
                    break;
                }
                rest = &rest[eol + 1..];
                if let Some(v) = line.strip_prefix("X-Client-Proto: ") {
                    dump.proto = v.to_owned();
                } else if let Some(v) = line.strip_prefix("X-Helo-Args: ") {
                    dump.helo_args = v.to_owned();
                } else if let Some(v) = line.strip_prefix("X-Mail-Args: ") {
                    dump.mail_args = v.to_owned();
                } else if let Some(v) = line.strip_prefix("X-Rcpt-Args: ") {
                    dump.rcpt_args.push(v.to_owned());
                } else if line.starts_with("Received: ") {
                    in_received = true;
                }
            }
            dump.content = rest.to_vec();
            Some(dump)
        }

        /// The `X-Test-Seq` of a dumped message.
        fn seq(content: &[u8]) -> Option<usize> {
            let text = String::from_utf8_lossy(content);
            text.lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix("X-Test-Seq: "))
                .and_then(|s| s.trim().parse().ok())
        }

        /// `smtp-sink` on 127.0.0.1, in the foreground, dumping each message to a file.
        pub(crate) struct SmtpSink {
            process: ServerProcess,
            port: u16,
            dumps: PathBuf,
            _dir: TempDir,
        }

        impl SmtpSink {
            pub(crate) fn start() -> Self {
                assert!(
                    Path::new(SMTP_SINK).exists(),
                    "{SMTP_SINK} is missing: run .ci/install-test-servers.sh (Debian package \
                     postfix), or set SMTP_SKIP_REAL_SERVERS=1 to skip these tests locally"
                );
                let dir = TempDir::new("smtp-sink");
                let dumps = dir.path().join("dumps");
                fs::create_dir_all(&dumps).expect("dump directory");
                let root = is_root();
                if root {
                    // smtp-sink refuses to run as root without -u; user nobody writes here.
                    set_mode(&dumps, 0o777);
                }
                // The port is chosen here, so it may be taken meanwhile: try a few.
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let port = free_port();
                    let mut command = bounded(SMTP_SINK);
                    if root {
                        command.args(["-u", "nobody"]);
                    }
                    // -d: one file per message, named from this template plus a random suffix.
                    command
                        .arg("-d")
                        .arg(dumps.join("msg."))
                        .args(["-h", "sink.test", "-t", "60"])
                        .arg(format!("127.0.0.1:{port}"))
                        .arg("64");
                    let log = dir.path().join(format!("smtp-sink-{attempts}.log"));
                    let mut process = ServerProcess::spawn("smtp-sink", command, log);
                    if process.listening(port) {
                        return Self {
                            process,
                            port,
                            dumps,
                            _dir: dir,
                        };
                    }
                    assert!(
                        attempts < 3,
                        "smtp-sink did not start:\n{}",
                        process.log_text()
                    );
                }
            }

            pub(crate) fn port(&self) -> u16 {
                self.port
            }

            /// Every message dumped, by `X-Test-Seq`, once `n` complete dumps exist (waits,
            /// bounded). The probe connection of the start-up check dumps nothing.
            pub(crate) fn dumps(&self, n: usize) -> BTreeMap<usize, Dump> {
                let mut last = 0;
                let got = poll(DELIVERY_LIMIT, || {
                    let entries: Vec<PathBuf> = fs::read_dir(&self.dumps)
                        .ok()?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .collect();
                    last = entries.len();
                    if entries.len() < n {
                        return None;
                    }
                    let mut dumps = BTreeMap::new();
                    for path in entries {
                        let dump = parse(&fs::read(&path).ok()?)?;
                        let seq = seq(&dump.content)
                            .unwrap_or_else(|| panic!("{}: no X-Test-Seq header", path.display()));
                        assert!(
                            dumps.insert(seq, dump).is_none(),
                            "message {seq} dumped twice"
                        );
                    }
                    Some(dumps)
                });
                got.unwrap_or_else(|| {
                    panic!(
                        "smtp-sink dumped {last} of {n} messages within {DELIVERY_LIMIT:?}:\n{}",
                        self.process.log_text()
                    )
                })
            }
        }
    }

    // ------------------------------------------------------------------------ Postfix

    pub(crate) mod postfix {
        use super::*;

        const MASTER: &str = "/usr/lib/postfix/sbin/master";

        /// `(name, uid, gid)` of the user and group Postfix runs as.
        fn ids(file: &str, name: &str) -> Option<(u32, u32)> {
            let text = fs::read_to_string(file).ok()?;
            text.lines().find_map(|l| {
                let mut fields = l.split(':');
                if fields.next()? != name {
                    return None;
                }
                let id = fields.nth(1)?.parse().ok()?;
                let gid = fields.next().and_then(|g| g.parse().ok()).unwrap_or(id);
                Some((id, gid))
            })
        }

        /// A Postfix instance of its own: `master` in the foreground (`-s -d`: no detaching,
        /// logging to its stdout through `postlogd`), started by the test as root (Postfix's
        /// master must be root; its daemons run as user `postfix`), configuration and queue in
        /// a temporary directory, `smtpd` on 127.0.0.1:<free port>, and every message relayed
        /// by Postfix's `lmtp` client to an aiosmtpd LMTP recorder. The system's Postfix (if
        /// any) is not touched; nothing listens on port 25.
        pub(crate) struct PrivatePostfix {
            // Field order: master stops first, then the recorder, then the directory goes.
            master: ServerProcess,
            recorder: Aiosmtpd,
            port: u16,
            _dir: TempDir,
        }

        impl PrivatePostfix {
            pub(crate) fn start() -> Self {
                assert!(
                    Path::new(MASTER).exists(),
                    "{MASTER} is missing: run .ci/install-test-servers.sh (Debian package \
                     postfix), or set SMTP_SKIP_REAL_SERVERS=1 to skip these tests locally"
                );
                assert!(
                    is_root(),
                    "Postfix's master daemon must be started as root (as CI does); set \
                     SMTP_SKIP_REAL_SERVERS=1 to skip these tests locally"
                );
                let (uid, _) = ids("/etc/passwd", "postfix")
                    .expect("user postfix (run .ci/install-test-servers.sh)");
                let (postdrop, _) = ids("/etc/group", "postdrop")
                    .expect("group postdrop (run .ci/install-test-servers.sh)");
                let recorder = Aiosmtpd::start(&AiosmtpdOptions {
                    lmtp: true,
                    smtputf8: true,
                    ..AiosmtpdOptions::default()
                });
                let dir = TempDir::new("postfix");
                let base = dir.path();
                let conf = base.join("conf");
                let queue = base.join("queue");
                let data = base.join("data");
                fs::create_dir_all(&conf).expect("conf directory");
                // The queue layout of Postfix's postfix-files, made by hand so that nothing
                // outside this directory is touched (`postfix set-permissions` would also
                // check the system's files).
                make_dir(&queue, 0, 0, 0o755);
                make_dir(&data, uid, 0, 0o700);
                for sub in [
                    "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold",
                    "incoming", "private", "saved", "trace",
                ] {
                    make_dir(&queue.join(sub), uid, 0, 0o700);
                }
                make_dir(&queue.join("maildrop"), uid, postdrop, 0o730);
                make_dir(&queue.join("public"), uid, postdrop, 0o710);
                make_dir(&queue.join("pid"), 0, 0, 0o755);

                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let port = free_port();
                    write_config(&conf, &queue, &data, port, recorder.port());
                    let mut command = bounded(MASTER);
                    command.arg("-c").arg(&conf).args(["-s", "-d"]);
                    let log = base.join(format!("postfix-{attempts}.log"));
                    let mut master = ServerProcess::spawn("postfix master", command, log);
                    if master.listening(port) {
                        return Self {
                            master,
                            recorder,
                            port,
                            _dir: dir,
                        };
                    }
                    assert!(
                        attempts < 3,
                        "Postfix did not start:\n{}",
                        master.log_text()
                    );
                }
            }

            pub(crate) fn port(&self) -> u16 {
                self.port
            }

            /// The first `n` messages Postfix relayed (waits for them, bounded); on a timeout
            /// the panic shows Postfix's log.
            pub(crate) fn records(&self, n: usize) -> Vec<Record> {
                let got = poll(DELIVERY_LIMIT, || {
                    let records = self.recorder.read_records();
                    (records.len() >= n).then_some(records)
                });
                got.unwrap_or_else(|| {
                    panic!(
                        "Postfix relayed {} of {n} messages within {DELIVERY_LIMIT:?}; its \
                         log:\n{}",
                        self.recorder.read_records().len(),
                        self.master.log_text()
                    )
                })
            }
        }

        fn make_dir(path: &Path, uid: u32, gid: u32, mode: u32) {
            fs::create_dir_all(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
            set_mode(path, mode);
        }

        /// main.cf and master.cf: smtpd on the loopback port, every recipient relayed over
        /// LMTP to the recorder, no DNS, no header rewriting (so that the only change to a
        /// message is the `Received:` header smtpd prepends), logging to master's stdout.
        fn write_config(conf: &Path, queue: &Path, data: &Path, port: u16, lmtp_port: u16) {
            let main_cf = format!(
                "compatibility_level = 3.6\n\
                 queue_directory = {queue}\n\
                 data_directory = {data}\n\
                 mail_owner = postfix\n\
                 setgid_group = postdrop\n\
                 myhostname = postfix.test\n\
                 mydomain = test\n\
                 mydestination =\n\
                 inet_interfaces = 127.0.0.1\n\
                 inet_protocols = ipv4\n\
                 mynetworks = 127.0.0.0/8\n\
                 smtpd_relay_restrictions = permit_mynetworks, reject\n\
                 default_transport = lmtp:inet:127.0.0.1:{lmtp_port}\n\
                 relay_transport = lmtp:inet:127.0.0.1:{lmtp_port}\n\
                 smtp_dns_support_level = disabled\n\
                 lmtp_host_lookup = native\n\
                 smtpd_peername_lookup = no\n\
                 local_header_rewrite_clients =\n\
                 smtputf8_enable = yes\n\
                 alias_maps =\n\
                 alias_database =\n\
                 biff = no\n\
                 maillog_file = /dev/stdout\n",
                queue = queue.display(),
                data = data.display(),
            );
            let master_cf = format!(
                "127.0.0.1:{port} inet n - n - - smtpd\n\
                 cleanup   unix  n - n - 0 cleanup\n\
                 qmgr      unix  n - n 300 1 qmgr\n\
                 rewrite   unix  - - n - - trivial-rewrite\n\
                 bounce    unix  - - n - 0 bounce\n\
                 defer     unix  - - n - 0 bounce\n\
                 trace     unix  - - n - 0 bounce\n\
                 verify    unix  - - n - 1 verify\n\
                 flush     unix  n - n 1000? 0 flush\n\
                 proxymap  unix  - - n - - proxymap\n\
                 smtp      unix  - - n - - smtp\n\
                 lmtp      unix  - - n - - lmtp\n\
                 error     unix  - - n - - error\n\
                 retry     unix  - - n - - error\n\
                 discard   unix  - - n - - discard\n\
                 anvil     unix  - - n - 1 anvil\n\
                 scache    unix  - - n - 1 scache\n\
                 postlog   unix-dgram n - n - 1 postlogd\n"
            );
            fs::write(conf.join("main.cf"), main_cf).expect("main.cf");
            fs::write(conf.join("master.cf"), master_cf).expect("master.cf");
            set_mode(conf, 0o755);
            set_mode(&conf.join("main.cf"), 0o644);
            set_mode(&conf.join("master.cf"), 0o644);
        }
    }
}
