//! EHLO capabilities (RFC 5321 §4.1.1.1, RFC 1869): one parser over an already-parsed `250` reply.

use crate::reply::Reply;

/// The service extensions this crate knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Extension {
    /// RFC 2920 PIPELINING.
    Pipelining,
    /// RFC 3030 CHUNKING (BDAT).
    Chunking,
    /// RFC 3207 STARTTLS.
    StartTls,
    /// RFC 6152 8BITMIME.
    EightBitMime,
    /// RFC 3030 BINARYMIME.
    BinaryMime,
    /// RFC 6531 SMTPUTF8.
    SmtpUtf8,
    /// RFC 1870 SIZE.
    Size,
    /// RFC 4954 AUTH.
    Auth,
    /// RFC 2034 ENHANCEDSTATUSCODES.
    EnhancedStatusCodes,
    /// RFC 3461 DSN.
    Dsn,
    /// RFC 8689 REQUIRETLS.
    RequireTls,
}

impl Extension {
    /// The EHLO keyword, upper case (e.g. `"8BITMIME"`).
    pub const fn keyword(self) -> &'static str {
        todo!()
    }
}

/// What a server advertised in its EHLO reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    _todo: (),
}

/// The SASL mechanisms a server offered (`AUTH` and legacy `AUTH=` lines merged), upper case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthMechanisms {
    names: Vec<Box<str>>,
}

impl Capabilities {
    /// Parses the capabilities from a `250` EHLO (or LHLO) reply. Infallible: unknown lines are kept.
    pub fn from_ehlo(reply: &Reply<'_>) -> Self {
        let _ = reply;
        todo!()
    }
    /// The domain the server named on the first line.
    pub fn domain(&self) -> &str {
        todo!()
    }
    /// Whether `ext` was advertised.
    pub fn supports(&self, ext: Extension) -> bool {
        let _ = ext;
        todo!()
    }
    /// RFC 1870 fixed size limit; `None` when absent, bare `SIZE` or `SIZE 0` (no fixed limit).
    pub fn max_size(&self) -> Option<u64> {
        todo!()
    }
    /// The offered SASL mechanisms.
    pub fn auth(&self) -> &AuthMechanisms {
        todo!()
    }
    /// smtplib's `has_extn`: whether any keyword (known or not) was advertised, case-insensitively.
    pub fn has_extn(&self, name: &str) -> bool {
        let _ = name;
        todo!()
    }
    /// The parameters after a keyword (smtplib's `esmtp_features[name]`), `Some("")` when bare.
    pub fn params(&self, name: &str) -> Option<&str> {
        let _ = name;
        todo!()
    }
    /// Every advertised `(keyword lower case, parameters)` in order, like smtplib's `esmtp_features`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        std::iter::empty()
    }
}

impl AuthMechanisms {
    /// Whether `name` was offered (case-insensitive).
    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
    /// The offered names, upper case, in order of first appearance.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(|n| &**n)
    }
    /// Whether nothing was offered.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    /// The first entry of `preference` that was offered (case-insensitive).
    pub fn preferred<'p>(&self, preference: &[&'p str]) -> Option<&'p str> {
        preference.iter().copied().find(|p| self.contains(p))
    }
}
