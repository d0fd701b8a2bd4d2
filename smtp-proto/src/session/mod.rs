//! What every adapter shares above one request: the smtplib-shaped [`Error`], the [`Settings`]
//! a session starts from and their mapping to the core's [`Config`](crate::Config), the hello-name and port
//! rules, and the mapping of a transaction's report to smtplib's `sendmail` result.
//!
//! An adapter (`smtp-blocking`, `smtp-smol`, or your own event loop) keeps only what is its
//! own: connecting, the TLS handshake, and a pump of bytes. Everything here is written once,
//! so that every adapter behaves alike.
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

mod error;
mod facade;
mod getters;
pub mod op;
mod pump;
mod settings;

use std::net::IpAddr;

pub use error::{Error, Refused, Result, TlsError};
pub use pump::{Pump, Step, BODY_CHUNK, DRAIN_AFTER_WRITE_FAILURE, READ_CHUNK};
pub use settings::{Peer, Settings, TlsIdentity};

use crate::client::{Envelope, MailOutcome, MailReport, TranscriptEntry};
use crate::command::{Mailbox, ReversePath};
use crate::Domain;

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
