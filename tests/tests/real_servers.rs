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
//! The scenarios take an [`Adapter`]: this file holds that seam, [`Via`] (any adapter of the
//! conformance matrix through its public API) and one module of tests per adapter (`blocking`,
//! `smol`, `async_std`, each `real_server_tests!` over its `Via`). The scenarios themselves are in
//! `real_servers/scenarios.rs`; starting and reading the servers is in `real_servers/support.rs`
//! and, one file per server, `real_servers/support/`.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
            transcript: job.transcript.then(|| Arc::clone(&transcript)),
            ..matrix::Settings::default()
                .timeout(CLIENT_TIMEOUT)
                .local_hostname(hello_name)
                .lmtp(job.lmtp)
                .hello_on_connect(true)
                .tls(tls)
                .trust_test_ca(trust_test_ca)
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

#[path = "real_servers/scenarios.rs"]
mod scenarios;

// ============================================================================ support

#[path = "real_servers/support.rs"]
mod support;
