//! What every adapter shares above one request: the smtplib-shaped [`Error`], the [`Settings`]
//! a session starts from and their mapping to the core's [`Config`](crate::Config), the hello-name and port
//! rules, and the mapping of a transaction's report to smtplib's `sendmail` result.
//!
//! An adapter (`smtp-blocking`, `smtp-smol`, or your own event loop) keeps only what is its
//! own: connecting, the TLS handshake, and a pump of bytes. Everything here is written once,
//! so that every adapter behaves alike: smtplib's calls as [operations](op), the run loop's
//! rules as a [`Pump`], and the methods themselves as one table
//! ([`smtplib_methods!`](crate::smtplib_methods)) that each adapter expands.
//!
//! ```
//! use smtp_proto::session::{Peer, Settings};
//! use smtp_proto::client::{Setup, TlsMode};
//! use smtp_proto::Domain;
//!
//! let mut settings = Settings::default();
//! settings.tls = TlsMode::Required;
//! assert_eq!(settings.default_port(), 25);
//! let peer = Peer { local_ip: None, loopback: false };
//! let config = settings.config(Domain::try_from("client.example")?, peer, false);
//! // TLS required: the client greets, upgrades and greets again on its own.
//! assert_eq!(config.setup, Setup::Automatic);
//! assert!(!config.allow_auth_without_tls);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The operations behind the methods
//!
//! Each method is one value of [`op`], run to completion by a [`Pump`]; a loop of your own runs
//! the same values (see [`Pump`] for the contract):
//!
//! | methods | operation |
//! | --- | --- |
//! | the connect calls (the greeting, and the set-up the settings ask for) | [`op::Greeting`] |
//! | `helo`, `ehlo`, `helo_as`, `ehlo_as`, `verify`, `expn`, `help`, `noop`, `rset`, `docmd`, `mail`, `rcpt` | [`op::Command`] of an [`op::Request`] |
//! | `ehlo_or_helo_if_needed` | [`op::hello_if_needed`] |
//! | `starttls` | [`op::StartTls`] |
//! | `login`, `login_with`, `auth` | [`op::Authenticate`] |
//! | `data`, `data_per_recipient` | [`op::Data`] |
//! | `send_with_report` | [`op::SendMail`] |
//! | `sendmail`, `sendmail_with` | [`op::Sendmail`] |
//! | `send_message`, `send_message_with` | `op::SendMessage` (feature `message`) |
//! | `send_all`, `send_all_with` | [`op::SendAll`] |
//! | `quit`, `quit_with_reply` | [`op::Quit`] |
//!
//! Those that need a hello (AUTH, STARTTLS, the sending calls) are wrapped in
//! [`op::AfterHello`], smtplib's lazy `ehlo_or_helo_if_needed()`.
//!
//! ## smtplib, call for call
//!
//! | smtplib | here |
//! | --- | --- |
//! | `SMTP(host, port, local_hostname, timeout, source_address)` | `new`, or `builder` with [`local_hostname`](Settings::local_hostname), [`timeout`](Settings::timeout), [`source_address`](Settings::source_address), then `connect` |
//! | `SMTP()` then `connect(host, port)` | `build` then `connect` (returns the greeting; one other than `220` is an error, see below) |
//! | `SMTP_SSL(host, port, context=…)` | `new_tls`, or [`tls`](Settings::tls)`(`[`TlsMode::Implicit`](crate::client::TlsMode::Implicit)`)` + `tls_connector` |
//! | `LMTP(host, port)`, `LMTP('/path')` | `lmtp`, `lmtp_unix`, [`lmtp`](Settings::lmtp) |
//! | `set_debuglevel(1)` | `set_transcript`, `set_transcript_sink` (AUTH redacted) |
//! | `helo()`, `ehlo()` | `helo`, `ehlo` (LHLO for LMTP) |
//! | `helo(name)`, `ehlo(name)` | `helo_as`, `ehlo_as` |
//! | `ehlo_or_helo_if_needed()` | `ehlo_or_helo_if_needed` |
//! | `has_extn(name)`, `esmtp_features`, `does_esmtp` | `has_extn`, `capabilities`, `does_esmtp` |
//! | `ehlo_resp`, `helo_resp` | `ehlo_response`, `helo_response` |
//! | `verify(addr)` / `vrfy`, `expn(addr)`, `help(args)` | `verify`, `expn`, `help` (the whole reply, not only its text) |
//! | `noop()`, `rset()` | `noop`, `rset` |
//! | `docmd(cmd, args)` | `docmd` (the whole line) |
//! | `mail(from, options)`, `rcpt(to, options)` | `mail`, `rcpt` with [`MailParams`](crate::MailParams) / [`RcptParams`](crate::RcptParams) |
//! | `data(msg)` | `data` (from any `Read`, streamed), `data_per_recipient` for LMTP |
//! | `login(user, password)` | `login` (SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN) |
//! | `auth(mechanism, authobject)` | `auth` with any [`Mechanism`](crate::sasl::Mechanism) |
//! | `starttls(context=…)` | `starttls` (connector from the builder), or [`tls`](Settings::tls) with [`TlsMode::Opportunistic`](crate::client::TlsMode::Opportunistic) / [`TlsMode::Required`](crate::client::TlsMode::Required) |
//! | `sendmail(from, to, msg, mail_options, rcpt_options)` | `sendmail`, `sendmail_with` (an [`Envelope`] with parameters); `send_with_report` returns the full [`MailReport`] instead of errors |
//! | `send_message(msg, from_addr, to_addrs)` | `send_message`, `send_message_with` |
//! | `quit()` | `quit`, or `quit_with_reply` for the reply |
//! | `close()` | `close` (also on drop) |
//! | `auth("PLAIN", …)` by name | `login_with(mechanism, user, password)` |
//! | `with SMTP(…) as s:` | drop closes the socket; call `quit` for a polite end (`smtp_blocking::Builder::session` runs a closure, then QUITs) |
//!
//! ## Errors and smtplib's exceptions
//!
//! | smtplib | here |
//! | --- | --- |
//! | `SMTPServerDisconnected` ("please run connect() first") | [`Error::NotConnected`] |
//! | `SMTPServerDisconnected` (EOF, OS error, timeout while reading) | [`Error::Smtp`] with [`UnexpectedEof`](crate::Error::UnexpectedEof) or [`Timeout`](crate::Error::Timeout), or [`Error::Io`] |
//! | `SMTPConnectError` | [`Error::Smtp`] with [`Rejected`](crate::Error::Rejected) at [`Stage::Greeting`](crate::client::Stage::Greeting) (QUIT was sent) |
//! | `SMTPHeloError` | [`Error::HeloRefused`] (or [`Error::Smtp`] with [`HelloRefused`](crate::Error::HelloRefused) with [`hello_on_connect`](Settings::hello_on_connect)) |
//! | `SMTPResponseException` from `starttls()` | [`Error::StartTlsRefused`] (or [`Error::Smtp`] with [`StartTlsRefused`](crate::Error::StartTlsRefused) under [`TlsMode::Required`](crate::client::TlsMode::Required)) |
//! | `SMTPResponseException(500, "Line too long.")` | [`Error::Smtp`] with [`Parse`](crate::Error::Parse) |
//! | `SMTPAuthenticationError` | [`Error::AuthFailed`] |
//! | `SMTPSenderRefused` | [`Error::SenderRefused`] |
//! | `SMTPRecipientsRefused` | [`Error::RecipientsRefused`] (a `421` to RCPT: [`Error::Smtp`] with `Rejected`) |
//! | `SMTPDataError` | [`Error::DataRefused`] |
//! | `SMTPNotSupportedError` | [`Error::Usage`] with [`UsageError::Unsupported`](crate::UsageError::Unsupported) |
//! | `SMTPException("No suitable authentication method found.")` | [`Error::Usage`] with [`UsageError::NoSuitableMechanism`](crate::UsageError::NoSuitableMechanism) |
//! | `SMTPException("Server AUTH mechanism infinite loop…")` | [`Error::Smtp`] with [`AuthLoop`](crate::Error::AuthLoop) |
//! | `ValueError` (CR/LF in a command, zero timeout, two Resent- blocks) | [`Error::InvalidInput`], [`Error::InvalidSetting`], [`Error::Message`] |
//! | `OSError`, `socket.timeout`, `ssl.SSLError` from connect / handshake | [`Error::Io`], [`Error::Smtp`] with `Timeout`, [`Error::Tls`] |
//! | (none: smtplib would continue in plaintext or hang) | [`Error::Smtp`] with [`TlsUnavailable`](crate::Error::TlsUnavailable), [`StartTlsInjection`](crate::Error::StartTlsInjection) |
//! | (none: smtplib would read it as one reply) | [`Error::Smtp`] with `Parse` for malformed replies, `Unexpected` for replies out of place |
//!
//! ## Deliberate differences from smtplib
//!
//! Where smtplib's behaviour is a known hazard or a quirk, this crate does otherwise, on purpose
//! (the conformance scenarios of the workspace's integration tests pin each of these):
//!
//! - **TLS** verifies the certificate and the host name by default, against the host given to
//!   `connect` (smtplib's default context verifies nothing, and its server name is the
//!   constructor's host only). **AUTH over plaintext** is refused
//!   ([`UsageError::AuthWithoutTls`](crate::UsageError::AuthWithoutTls)) unless the peer is a loopback address or a Unix socket, or
//!   [`allow_plaintext_auth`](Settings::allow_plaintext_auth). Plaintext right behind STARTTLS's `220` ends the session
//!   (`StartTlsInjection`) instead of being dropped; STARTTLS on a TLS session is
//!   [`UsageError::AlreadySecure`](crate::UsageError::AlreadySecure).
//! - **Only `235` completes AUTH** (smtplib also takes `503`; a `250` is [`Error::AuthFailed`]
//!   here). After 5 challenge rounds the client cancels with `*` (RFC 4954 §4) before giving up;
//!   an undecodable challenge ends the session. AUTH LOGIN sends the user name after the first
//!   `334` (smtplib sends it as an initial response); an empty initial response is `=`, one too
//!   long for the 512-octet command line follows an empty `334`. `login` matches
//!   mechanism names case-insensitively; `auth` refuses a mechanism the server did
//!   not offer ([`UsageError::MechanismNotOffered`](crate::UsageError::MechanismNotOffered)).
//! - **A `421` to any command ends the session** (RFC 5321 §3.8): [`Error::Smtp`] with
//!   `Rejected` and the stage, the socket closed, no RSET or QUIT. smtplib does this only for
//!   MAIL, RCPT (raising `SMTPRecipientsRefused`) and the end of data, and returns the `421`
//!   from any other command.
//! - **The greeting must be `220`**, for `connect` too (smtplib's `connect()`
//!   returns any greeting; only its constructor raises); otherwise QUIT is sent and the error is
//!   `Rejected` at [`Stage::Greeting`](crate::client::Stage::Greeting).
//! - **Hello**: `ehlo_or_helo_if_needed` falls back to HELO only after a 5xx to
//!   EHLO (a 4xx is [`Error::HeloRefused`] with EHLO's reply; LMTP never sends HELO), and a
//!   refused hello does not count as done: the next call greets again (smtplib stores the failed
//!   replies and then never greets). The last hello defines the session: a successful `helo()`
//!   or a refused `ehlo()` leaves no ESMTP feature known (smtplib keeps the old features after
//!   `helo()`).
//! - **Commands are upper case** (`MAIL FROM:`, `RCPT TO:`, `QUIT`; smtplib 3.13 sends
//!   `mail from:`, `rcpt to:`, `quit`); RFC 5321 §2.4 makes verbs case-insensitive.
//! - **Parameters are typed and checked** against the EHLO capabilities before anything is sent
//!   ([`UsageError::Unsupported`](crate::UsageError::Unsupported)), where smtplib sends options verbatim (and silently drops them
//!   in a HELO session). `sendmail` adds SMTPUTF8 when an address needs it (smtplib raises
//!   `UnicodeEncodeError` unless told), and `SIZE=` only when the envelope declares a size
//!   ([`Envelope::size`](crate::client::Envelope::size) with `sendmail_with`): bodies are streamed, so their size
//!   is not known up front (smtplib always sends `size=<len>` to a SIZE server).
//! - **`sendmail`**: no recipient is [`UsageError::NoRecipients`](crate::UsageError::NoRecipients) before anything is sent
//!   (smtplib: MAIL, RSET, then `SMTPRecipientsRefused({})`); any 2xx to RCPT accepts the
//!   recipient (smtplib: 250 and 251 only); DATA refused (not `354`) is followed by RSET too.
//!   [`Refused`] is a list in envelope order; [`Error::SenderRefused`] names the sender as given.
//! - **Bodies**: bare CR and LF become CRLF (smtplib leaves `bytes` alone;
//!   [`bare_line_endings`](Settings::bare_line_endings) chooses), and an empty body is the `.` line alone.
//! - **`send_message`** sends the header block as it is (smtplib re-serialises the message):
//!   8-bit header bytes declare `BODY=8BITMIME` (and need 8BITMIME) where smtplib RFC 2047-encodes
//!   them; SMTPUTF8 brings `BODY=8BITMIME` only when 8BITMIME is offered; an empty group such as
//!   `undisclosed-recipients:;` adds no recipient (smtplib sends `rcpt to:<>`); a message with no
//!   sender or no recipient header is [`Error::Message`] (smtplib sends `mail from:<None>` or
//!   raises `SMTPRecipientsRefused({})`).
//! - **Replies**: the code must be three digits and every line of a reply must carry the same
//!   code, else the session ends with `Parse` (smtplib takes `int()` of any three bytes and the
//!   last line's code).
//! - **Session end**: `quit` treats a server that hangs up instead of answering
//!   QUIT as a clean end (smtplib raises `SMTPServerDisconnected`); `close` and a
//!   new `connect` forget everything learnt (smtplib keeps the hello replies and
//!   features across `close()` and `connect()`, and then never greets the new server). There is
//!   no context manager: dropping the client closes the socket without QUIT.
//! - **VRFY and EXPN** send their argument as given (smtplib reduces `Name <addr>` to `addr`).
//! - **Timeouts** are never unbounded: [`Timeouts`](crate::client::Timeouts) (RFC 5321 §4.5.3.2) unless
//!   [`timeout`](Settings::timeout) says otherwise; a timeout ends the session.
//! - **LMTP** reads one reply per accepted recipient after the data
//!   (`data_per_recipient`, the refused list of `sendmail`); port 0 is 2003 for
//!   `connect` too (smtplib's `LMTP.connect(host)` goes to 25).
//!

mod error;
mod facade;
mod getters;
pub mod op;
pub mod pump;
mod settings;

use std::net::IpAddr;

pub use error::{Error, Refused, Result, TlsError};
pub use getters::Live;
pub use pump::{Pump, Step, BODY_CHUNK, DRAIN_AFTER_WRITE_FAILURE, READ_CHUNK};
pub use settings::{Peer, Settings, TlsIdentity};

use crate::client::{Envelope, MailOutcome, MailReport, TranscriptEntry};
use crate::command::{Mailbox, ReversePath};
use crate::Domain;

/// What every adapter re-exports at its root, so that code written against one compiles
/// against another: `use smtp_blocking::*` and `use smtp_smol::*` bring the same names.
pub mod prelude {
    pub use super::{
        envelope, Error, Refused, Result, Settings, TlsIdentity, TranscriptSink, LMTP_PORT,
        SMTPS_PORT, SMTP_PORT,
    };
    pub use crate::client::{Content, Envelope, MailReport, Timeouts, TlsMode, TranscriptEntry};
    #[cfg(feature = "message")]
    pub use crate::message::MAX_HEADER_BLOCK;
    pub use crate::{MailParams, OwnedReply, RcptParams, UsageError};
}

/// smtplib's `SMTP_PORT`.
pub const SMTP_PORT: u16 = 25;
/// smtplib's `SMTP_SSL_PORT` (implicit TLS, RFC 8314).
pub const SMTPS_PORT: u16 = 465;
/// smtplib's `LMTP_PORT`.
pub const LMTP_PORT: u16 = 2003;

/// Receives each transcript line (smtplib's debug output), AUTH payloads already redacted.
pub type TranscriptSink = Box<dyn FnMut(&TranscriptEntry) + Send>;

/// The sink of smtplib's `set_debuglevel(1)`: each line printed to standard error.
pub fn stderr_transcript() -> TranscriptSink {
    Box::new(|entry: &TranscriptEntry| eprintln!("{entry}"))
}

/// An envelope from text addresses (validated: CR, LF and other controls are refused). The
/// recipients may be any collection of strings: `["b@x"]`, a `&[&str]`, a `&Vec<String>`.
///
/// ```
/// use smtp_proto::session::envelope;
///
/// let envelope = envelope("a@example.org", ["b@example.net"])?;
/// assert_eq!(envelope.to.len(), 1);
/// let list: Vec<String> = vec!["b@example.net".into(), "c@example.net".into()];
/// assert_eq!(smtp_proto::session::envelope("a@example.org", &list)?.to.len(), 2);
/// assert!(smtp_proto::session::envelope("a@example.org", ["b@x\r\nRSET"]).is_err());
/// # Ok::<(), smtp_proto::session::Error>(())
/// ```
pub fn envelope(from: &str, to: impl IntoIterator<Item = impl AsRef<str>>) -> Result<Envelope> {
    let from = ReversePath::try_from(from)?;
    let to = to
        .into_iter()
        .map(|r| Mailbox::try_from(r.as_ref()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Envelope::new(from, to))
}

/// smtplib's `sendmail` result for a transaction's report: the refused recipients when the
/// message was accepted, else the error smtplib raises (`sender` names the sender in
/// [`Error::SenderRefused`]).
pub fn sendmail_result(report: MailReport, sender: String) -> Result<Refused> {
    let refused: Refused = report
        .refused()
        .map(|(mailbox, reply)| (mailbox.clone(), reply.clone()))
        .collect();
    Err(match report.outcome {
        MailOutcome::Accepted(_) => return Ok(refused),
        MailOutcome::SenderRefused(reply) => Error::SenderRefused { sender, reply },
        MailOutcome::RecipientsRefused => Error::RecipientsRefused(refused),
        MailOutcome::DataRefused(reply) => Error::DataRefused { reply, refused },
    })
}

/// The sender as [`Error::SenderRefused`] names it for an envelope: the address without angle
/// brackets, `<>` for the null path.
pub fn sender_text(from: &ReversePath) -> String {
    from.mailbox()
        .map_or_else(|| "<>".to_owned(), |m| m.as_str().to_owned())
}

/// This host's FQDN from what the system says, as smtplib's `getfqdn()` finds it without DNS:
/// `host_name` when it has a dot, else the first dotted alias of that name in `hosts` (the text
/// of `/etc/hosts`, what the resolver's canonical name usually is). The adapters read both;
/// this decides.
///
/// ```
/// use smtp_proto::session::fqdn_from;
///
/// let hosts = "127.0.0.1 localhost\n192.0.2.7 box box.example.org\n";
/// assert_eq!(fqdn_from("box", Some(hosts)).map(|d| d.to_string()).as_deref(), Some("box.example.org"));
/// assert_eq!(fqdn_from("mx.example.net.", None).map(|d| d.to_string()).as_deref(), Some("mx.example.net"));
/// assert!(fqdn_from("box", None).is_none());
/// ```
pub fn fqdn_from(host_name: &str, hosts: Option<&str>) -> Option<Domain> {
    let name = host_name.trim().trim_end_matches('.');
    if name.contains('.') {
        if let Ok(domain) = Domain::try_from(name) {
            return Some(domain);
        }
    }
    dotted_alias(hosts?, name)
}

/// The first name with a dot on the `hosts` line that lists `short` (case-insensitive).
fn dotted_alias(hosts: &str, short: &str) -> Option<Domain> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let _address = fields.next()?;
        let names: Vec<&str> = fields.collect();
        if !names.iter().any(|n| n.eq_ignore_ascii_case(short)) {
            return None;
        }
        names
            .iter()
            .map(|n| n.trim_end_matches('.'))
            .filter(|n| n.contains('.'))
            .find_map(|n| Domain::try_from(n).ok())
    })
}

/// The default hello name: `fqdn`, else the address literal of the local end of the connection
/// (`[192.0.2.1]`), else `localhost` (Unix sockets, streams of the caller's).
pub fn default_hello_name(fqdn: Option<Domain>, local: Option<IpAddr>) -> Domain {
    let literal = || local.map(Domain::address_literal);
    fqdn.or_else(literal)
        .or_else(|| Domain::try_from("localhost").ok())
        .unwrap_or_else(|| Domain::address_literal(IpAddr::from([127, 0, 0, 1])))
}

/// Whether `ip` is a loopback address (IPv4-mapped IPv6 included): AUTH over plaintext is
/// allowed to such a peer (see [`Settings::config`]).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The certificates of a PEM bundle, each from its `-----BEGIN CERTIFICATE-----` line up to
/// the next one (TLS libraries' `from_pem` reads only the first certificate). Text before the
/// first certificate is dropped; a bundle without that line is returned whole, for the TLS
/// library to refuse.
pub fn pem_certificates(pem: &[u8]) -> Vec<&[u8]> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    let starts: Vec<usize> = (0..pem.len())
        .filter(|&i| pem[i..].starts_with(BEGIN))
        .collect();
    if starts.is_empty() {
        return vec![pem];
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| &pem[start..starts.get(n + 1).copied().unwrap_or(pem.len())])
        .collect()
}

fn unbracket(h: &str) -> &str {
    h.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h)
}

/// `host` and `port`, taking a `:port` suffix of `host` (`mx:2525`, `[::1]:2525`) when `port`
/// is 0, and `default` when there is none. Brackets around an IPv6 address are removed.
///
/// ```
/// use smtp_proto::session::host_and_port;
///
/// assert_eq!(host_and_port("mx.example:2525", 0, 25)?, ("mx.example", 2525));
/// assert_eq!(host_and_port("[::1]", 0, 25)?, ("::1", 25));
/// # Ok::<(), smtp_proto::session::Error>(())
/// ```
pub fn host_and_port(host: &str, port: u16, default: u16) -> Result<(&str, u16)> {
    let host = host.trim();
    if host.is_empty() {
        return Err(Error::InvalidSetting("empty host".into()));
    }
    // A bare IPv6 address has several colons and no port; `[v6]:port` ends its host in `]`.
    let suffix = host
        .rsplit_once(':')
        .filter(|(h, _)| port == 0 && (h.ends_with(']') || !h.contains(':')));
    let Some((name, digits)) = suffix else {
        return Ok((unbracket(host), if port == 0 { default } else { port }));
    };
    let parsed = digits
        .parse()
        .map_err(|_| Error::InvalidSetting(format!("nonnumeric port {digits:?}")))?;
    Ok((unbracket(name), parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_suffixes_and_brackets() {
        fn ok(h: &str, p: u16) -> Option<(&str, u16)> {
            host_and_port(h, p, 25).ok()
        }
        assert_eq!(ok("mx", 0), Some(("mx", 25)));
        assert_eq!(ok(" mx:2525 ", 0), Some(("mx", 2525)));
        assert_eq!(ok("mx:2525", 26), Some(("mx:2525", 26)));
        assert_eq!(ok("[::1]:2525", 0), Some(("::1", 2525)));
        assert_eq!(ok("::1", 0), Some(("::1", 25)));
        assert_eq!(ok("[::1]", 7), Some(("::1", 7)));
        assert!(matches!(
            host_and_port("mx:smtp", 0, 25),
            Err(Error::InvalidSetting(_))
        ));
        assert!(matches!(
            host_and_port("  ", 0, 25),
            Err(Error::InvalidSetting(_))
        ));
    }

    #[test]
    fn a_pem_bundle_splits_into_certificates() {
        let one = b"-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n";
        let two = b"-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        let bundle = [&b"# a comment\n"[..], one, two].concat();
        assert_eq!(pem_certificates(&bundle), vec![&one[..], &two[..]]);
        assert_eq!(pem_certificates(one), vec![&one[..]]);
        assert_eq!(pem_certificates(b"junk"), vec![&b"junk"[..]]);
    }

    #[test]
    fn finds_the_dotted_alias_of_the_short_name() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.1 box.example.org box\n\
                     192.0.2.7\tbox box.example.org  # comment\n";
        let found = dotted_alias(hosts, "BOX").map(|d| d.as_str().to_owned());
        assert_eq!(found.as_deref(), Some("box.example.org"));
        assert!(dotted_alias(hosts, "other").is_none());
        assert!(dotted_alias("127.0.0.1 localhost\n", "localhost").is_none());
    }

    #[test]
    fn the_hello_name_falls_back_to_a_literal_then_localhost() {
        let ip = IpAddr::from([192, 0, 2, 1]);
        assert_eq!(default_hello_name(None, Some(ip)).as_str(), "[192.0.2.1]");
        assert_eq!(default_hello_name(None, None).as_str(), "localhost");
        let fqdn = Domain::try_from("box.example.org").ok();
        assert_eq!(
            default_hello_name(fqdn, Some(ip)).as_str(),
            "box.example.org"
        );
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback(IpAddr::from([127, 0, 0, 1])));
        assert!(is_loopback(IpAddr::from([127, 1, 2, 3])));
        assert!(is_loopback("::1".parse().expect("ip")));
        assert!(is_loopback("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!is_loopback(IpAddr::from([192, 0, 2, 1])));
    }
}
