//! ESMTP parameters of MAIL and RCPT, and RFC 3461 xtext.

use super::{Mailbox, ReversePath};

/// `BODY=` (RFC 6152, RFC 3030).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyType {
    /// `BODY=7BIT`
    SevenBit,
    /// `BODY=8BITMIME`
    EightBitMime,
    /// `BODY=BINARYMIME` (requires CHUNKING)
    BinaryMime,
}

/// `RET=` (RFC 3461 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `RET=FULL`
    Full,
    /// `RET=HDRS`
    Hdrs,
}

/// `NOTIFY=` (RFC 3461 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NOTIFY=NEVER`
    Never,
    /// Any non-empty combination of `SUCCESS`, `FAILURE`, `DELAY` (all `false` encodes as NEVER).
    On {
        /// `SUCCESS`
        success: bool,
        /// `FAILURE`
        failure: bool,
        /// `DELAY`
        delay: bool,
    },
}

/// Printable-ASCII text (0x21–0x7E and SP) carried xtext-encoded (RFC 3461 §4): ENVID and ORCPT values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct XText(Box<str>);

/// `ORCPT=addr-type;xtext` (RFC 3461 §4.2), e.g. `rfc822;user@example.org`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Orcpt {
    /// The address type, e.g. `rfc822` or `utf-8`; a validated atom.
    pub addr_type: Param,
    /// The original recipient.
    pub address: XText,
}

/// Any other `keyword[=value]` (RFC 5321 §4.1.2 `esmtp-param`), validated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    keyword: Box<str>,
    value: Option<Box<str>>,
}

/// MAIL FROM parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MailParams {
    /// `SIZE=n` (RFC 1870).
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152 / RFC 3030).
    pub body: Option<BodyType>,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `RET=` (RFC 3461).
    pub ret: Option<Ret>,
    /// `ENVID=` (RFC 3461).
    pub envid: Option<XText>,
    /// `AUTH=` (RFC 4954 §5): `Some(ReversePath::Null)` sends `AUTH=<>`.
    pub auth: Option<ReversePath>,
    /// `REQUIRETLS` (RFC 8689).
    pub requiretls: bool,
    /// Anything else, in order.
    pub other: Vec<Param>,
}

/// RCPT TO parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RcptParams {
    /// `NOTIFY=` (RFC 3461).
    pub notify: Option<Notify>,
    /// `ORCPT=` (RFC 3461).
    pub orcpt: Option<Orcpt>,
    /// Anything else, in order.
    pub other: Vec<Param>,
}

#[allow(dead_code)]
fn _uses(_: &Mailbox) {}
