//! Validated domains, mailboxes and reverse-paths (RFC 5321 §4.1.2, §4.5.3.1).

/// An EHLO/HELO argument: a domain (`mx.example.org`) or an address literal
/// (`[192.0.2.1]`, `[IPv6:2001:db8::1]`). ASCII only, at most 255 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Domain(Box<str>);

/// A mailbox `local@domain` (without angle brackets); non-ASCII needs SMTPUTF8.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox(Box<str>);

/// The MAIL FROM path: `<>` or a mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`, the null reverse-path (bounces, RFC 5321 §4.5.5).
    Null,
    /// `<mailbox>`.
    Mailbox(Mailbox),
}
