//! EHLO capabilities (RFC 5321 §4.1.1.1, RFC 1869): one parser over an already-parsed `250` reply.

use std::collections::{HashMap, HashSet};

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
        match self {
            Self::Pipelining => "PIPELINING",
            Self::Chunking => "CHUNKING",
            Self::StartTls => "STARTTLS",
            Self::EightBitMime => "8BITMIME",
            Self::BinaryMime => "BINARYMIME",
            Self::SmtpUtf8 => "SMTPUTF8",
            Self::Size => "SIZE",
            Self::Auth => "AUTH",
            Self::EnhancedStatusCodes => "ENHANCEDSTATUSCODES",
            Self::Dsn => "DSN",
            Self::RequireTls => "REQUIRETLS",
        }
    }

    /// The extension whose keyword is `keyword` (case-insensitive), if this crate knows it.
    pub fn from_keyword(keyword: &str) -> Option<Self> {
        KEYWORDS
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .map(|&(_, ext)| ext)
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// Every known keyword with its extension.
const KEYWORDS: &[(&str, Extension)] = &[
    ("PIPELINING", Extension::Pipelining),
    ("CHUNKING", Extension::Chunking),
    ("STARTTLS", Extension::StartTls),
    ("8BITMIME", Extension::EightBitMime),
    ("BINARYMIME", Extension::BinaryMime),
    ("SMTPUTF8", Extension::SmtpUtf8),
    ("SIZE", Extension::Size),
    ("AUTH", Extension::Auth),
    ("ENHANCEDSTATUSCODES", Extension::EnhancedStatusCodes),
    ("DSN", Extension::Dsn),
    ("REQUIRETLS", Extension::RequireTls),
];

/// A set of known extensions, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ExtensionSet(u32);

impl ExtensionSet {
    fn insert(&mut self, ext: Extension) {
        self.0 |= ext.bit();
    }

    fn contains(self, ext: Extension) -> bool {
        self.0 & ext.bit() != 0
    }
}

/// What a server advertised in its EHLO reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    domain: Box<str>,
    known: ExtensionSet,
    max_size: Option<u64>,
    auth: AuthMechanisms,
    /// `(keyword lower case, params)` in order of first appearance; a repeated keyword
    /// replaces the parameters (AUTH merges them).
    features: Vec<(Box<str>, String)>,
    /// Where each keyword of `features` is, so that a reply of many lines costs linear time.
    feature_index: HashMap<Box<str>, usize>,
    /// Lines that are not `keyword[ SP params]`, verbatim.
    other: Vec<Box<str>>,
}

/// Most distinct SASL mechanism names kept from one EHLO reply, besides the ones this crate
/// implements (SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN, XOAUTH2, OAUTHBEARER,
/// EXTERNAL), which are kept wherever they stand. Real servers offer a handful; a reply may
/// legally list hundreds of thousands, which would cost memory for nothing.
pub const MAX_AUTH_MECHANISMS: usize = 64;

/// The mechanism names kept past [`MAX_AUTH_MECHANISMS`]: the ones the client can use.
const ALWAYS_KEPT: [&str; 8] = [
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "CRAM-MD5",
    "PLAIN",
    "LOGIN",
    "XOAUTH2",
    "OAUTHBEARER",
    "EXTERNAL",
];

/// The SASL mechanisms a server offered (`AUTH` and legacy `AUTH=` lines merged), upper case.
///
/// Merging is linear in the reply: duplicates are found through a hash set, and at most
/// [`MAX_AUTH_MECHANISMS`] names are kept (plus those the client can use), so one EHLO reply
/// within the parser's limits costs neither time (a linear search per name made a
/// half-megabyte `AUTH` list cost seconds) nor memory. [`Capabilities::params`] still has the
/// whole list, as smtplib's `esmtp_features["auth"]`.
#[derive(Clone, Debug, Default)]
pub struct AuthMechanisms {
    /// In order of first appearance.
    names: Vec<Box<str>>,
    /// The same names, for lookups.
    set: HashSet<Box<str>>,
}

impl PartialEq for AuthMechanisms {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl Eq for AuthMechanisms {}

impl Capabilities {
    /// Parses the capabilities from a `250` EHLO (or LHLO) reply. Infallible: unknown lines are kept.
    ///
    /// The first line's first word is the domain. Every further line is `keyword[ SP params]`
    /// (RFC 5321 `ehlo-keyword`, case-insensitive) or the legacy `AUTH=mech ...`; any other
    /// line is kept in [`Capabilities::unrecognized`].
    pub fn from_ehlo(reply: &Reply<'_>) -> Self {
        let mut caps = Self::default();
        let mut lines = reply.lines();
        if let Some(first) = lines.next() {
            let mut words = first.split(|b| b.is_ascii_whitespace());
            let word = words.find(|w| !w.is_empty()).unwrap_or_default();
            caps.domain = String::from_utf8_lossy(word).into();
        }
        for line in lines {
            caps.add_line(line);
        }
        caps
    }

    fn add_line(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        if let Some(mechs) = legacy_auth(&text) {
            self.add_feature("auth", mechs);
            return;
        }
        match split_keyword(&text) {
            Some((keyword, params)) => self.add_feature(&keyword.to_ascii_lowercase(), params),
            None => self.other.push(text.into()),
        }
    }

    /// Records `keyword` (lower case) with its trimmed `params`.
    fn add_feature(&mut self, keyword: &str, params: &str) {
        let params = params.trim();
        let ext = Extension::from_keyword(keyword);
        if let Some(ext) = ext {
            self.known.insert(ext);
        }
        match ext {
            Some(Extension::Size) => self.max_size = parse_size(params),
            Some(Extension::Auth) => self.auth.extend(params),
            _ => {}
        }
        let slot = self
            .feature_index
            .get(keyword)
            .and_then(|&at| self.features.get_mut(at));
        match slot {
            // smtplib appends every AUTH line's parameters (appended in place: linear).
            Some((_, old)) if ext == Some(Extension::Auth) => {
                if !params.is_empty() {
                    if !old.is_empty() {
                        old.push(' ');
                    }
                    old.push_str(params);
                }
            }
            Some((_, old)) => params.clone_into(old),
            None => {
                self.feature_index
                    .insert(keyword.into(), self.features.len());
                self.features.push((keyword.into(), params.to_owned()));
            }
        }
    }

    /// The domain the server named on the first line.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// Whether `ext` was advertised.
    pub fn supports(&self, ext: Extension) -> bool {
        self.known.contains(ext)
    }
    /// RFC 1870 fixed size limit; `None` when absent, bare `SIZE` or `SIZE 0` (no fixed limit).
    ///
    /// A value that is not a decimal number also gives `None`.
    pub fn max_size(&self) -> Option<u64> {
        self.max_size
    }
    /// The offered SASL mechanisms.
    pub fn auth(&self) -> &AuthMechanisms {
        &self.auth
    }
    /// smtplib's `has_extn`: whether any keyword (known or not) was advertised, case-insensitively.
    pub fn has_extn(&self, name: &str) -> bool {
        self.params(name).is_some()
    }
    /// The parameters after a keyword (smtplib's `esmtp_features[name]`), `Some("")` when bare.
    ///
    /// For `AUTH`, the parameters of every `AUTH` and `AUTH=` line, joined by a space.
    pub fn params(&self, name: &str) -> Option<&str> {
        let at = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.feature_index.get(name.to_ascii_lowercase().as_str())
        } else {
            self.feature_index.get(name)
        };
        at.and_then(|&at| self.features.get(at)).map(|(_, p)| &**p)
    }
    /// Every advertised `(keyword lower case, parameters)` in order, like smtplib's `esmtp_features`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.features.iter().map(|(k, p)| (&**k, &**p))
    }
    /// The lines after the first that are not `keyword[ SP params]`, verbatim (lossy UTF-8).
    pub fn unrecognized(&self) -> impl Iterator<Item = &str> + '_ {
        self.other.iter().map(|l| &**l)
    }
}

/// The mechanisms of a legacy `AUTH=mech ...` line (case-insensitive `AUTH=`).
fn legacy_auth(text: &str) -> Option<&str> {
    let prefix = text.get(..5)?;
    prefix
        .eq_ignore_ascii_case("AUTH=")
        .then(|| text.get(5..))
        .flatten()
}

/// Splits `keyword[ SP params]`; `None` when the line does not have that shape.
fn split_keyword(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    if !bytes.first()?.is_ascii_alphanumeric() {
        return None;
    }
    let len = bytes
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'-')
        .count();
    let (keyword, rest) = text.split_at_checked(len)?;
    match rest.as_bytes().first() {
        None => Some((keyword, "")),
        Some(b' ') => Some((keyword, rest)),
        Some(_) => None,
    }
}

/// The RFC 1870 size: a non-zero decimal number, else no fixed limit.
fn parse_size(params: &str) -> Option<u64> {
    if params.is_empty() || !params.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    params.parse().ok().filter(|&n| n != 0)
}

impl AuthMechanisms {
    /// Adds the whitespace-separated names of `list`, upper-cased, skipping duplicates.
    fn extend(&mut self, list: &str) {
        for name in list.split_whitespace() {
            if self.contains(name) {
                continue;
            }
            let usable = || ALWAYS_KEPT.iter().any(|k| k.eq_ignore_ascii_case(name));
            if self.names.len() >= MAX_AUTH_MECHANISMS && !usable() {
                continue;
            }
            let upper: Box<str> = name.to_ascii_uppercase().into();
            self.set.insert(upper.clone());
            self.names.push(upper);
        }
    }
    /// Whether `name` was offered (case-insensitive).
    pub fn contains(&self, name: &str) -> bool {
        if name.bytes().any(|b| b.is_ascii_lowercase()) {
            self.set.contains(name.to_ascii_uppercase().as_str())
        } else {
            self.set.contains(name)
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{parse_reply, Status};

    fn caps(raw: &[u8]) -> Capabilities {
        match parse_reply(raw) {
            Ok(Status::Complete((reply, n))) if n == raw.len() => Capabilities::from_ehlo(&reply),
            other => panic!("{raw:?} is not one reply: {other:?}"),
        }
    }

    /// The largest `AUTH` list the default reply limits let through: 511 `AUTH` lines of about
    /// 8 KB, 1,600 4-character names each; name `i` of the whole list is word `i % distinct`
    /// (upper case on even lines, lower case on odd ones).
    fn largest_auth_reply(distinct: usize) -> Vec<u8> {
        let mut raw = b"250-mx.example\r\n".to_vec();
        let mut i = 0usize;
        for line in 1..512 {
            raw.extend_from_slice(if line == 511 {
                b"250 AUTH"
            } else {
                b"250-AUTH"
            });
            for _ in 0..1600 {
                let mut n = i % distinct;
                raw.push(b' ');
                for _ in 0..4 {
                    let c = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[n % 36];
                    raw.push(if line % 2 == 0 {
                        c
                    } else {
                        c.to_ascii_lowercase()
                    });
                    n /= 36;
                }
                i += 1;
            }
            raw.extend_from_slice(b"\r\n");
        }
        raw
    }

    /// Merging is linear: the largest legal list (which took minutes with a linear search per
    /// name) is merged whole; 64 names are kept, and a usable one anywhere; duplicates in any
    /// case are dropped; the parameters keep every name (smtplib's `esmtp_features`).
    #[test]
    fn the_largest_legal_auth_lists_are_merged_in_linear_time() {
        let total = 511 * 1600;
        let mut raw = largest_auth_reply(usize::MAX);
        // A usable mechanism at the very end.
        raw.truncate(raw.len() - 2);
        raw.extend_from_slice(b" plain\r\n");
        let c = caps(&raw);
        assert_eq!(c.auth().iter().count(), MAX_AUTH_MECHANISMS + 1);
        assert!(c.auth().contains("aaaa") && c.auth().contains("BAAA"));
        assert!(c.auth().contains("PLAIN"));
        assert_eq!(c.auth().preferred(&["CRAM-MD5", "PLAIN"]), Some("PLAIN"));
        assert_eq!(
            c.params("AUTH").unwrap_or_default().split(' ').count(),
            total + 1
        );
        // Every line repeats the same names: the first 64 kept, in order of first appearance.
        let c = caps(&largest_auth_reply(1600));
        assert_eq!(c.auth().iter().count(), MAX_AUTH_MECHANISMS);
        assert_eq!(c.auth().iter().next(), Some("AAAA"));
        assert_eq!(
            c.params("auth").unwrap_or_default().split(' ').count(),
            total
        );
    }

    fn features(caps: &Capabilities) -> Vec<(&str, &str)> {
        caps.iter().collect()
    }

    fn auth(caps: &Capabilities) -> Vec<&str> {
        caps.auth().iter().collect()
    }

    const ALL: [Extension; 11] = [
        Extension::Pipelining,
        Extension::Chunking,
        Extension::StartTls,
        Extension::EightBitMime,
        Extension::BinaryMime,
        Extension::SmtpUtf8,
        Extension::Size,
        Extension::Auth,
        Extension::EnhancedStatusCodes,
        Extension::Dsn,
        Extension::RequireTls,
    ];

    #[test]
    fn keyword_table_matches_keyword() {
        assert_eq!(KEYWORDS.len(), ALL.len());
        for ext in ALL {
            assert!(KEYWORDS.contains(&(ext.keyword(), ext)), "{ext:?}");
            assert_eq!(Extension::from_keyword(ext.keyword()), Some(ext));
            assert_eq!(
                Extension::from_keyword(&ext.keyword().to_ascii_lowercase()),
                Some(ext)
            );
        }
        assert_eq!(
            Extension::from_keyword("8bitmime"),
            Some(Extension::EightBitMime)
        );
        assert_eq!(Extension::from_keyword("XCLIENT"), None);
        assert_eq!(Extension::from_keyword(""), None);
        // Distinct bits.
        let mut set = ExtensionSet::default();
        for ext in ALL {
            assert!(!set.contains(ext));
            set.insert(ext);
            assert!(set.contains(ext));
        }
    }

    #[test]
    fn rfc5321_d1_ehlo() {
        let c = caps(
            b"250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n",
        );
        assert_eq!(c.domain(), "foo.com");
        assert!(c.supports(Extension::EightBitMime));
        assert!(c.supports(Extension::Size));
        assert!(c.supports(Extension::Dsn));
        assert_eq!(c.max_size(), None);
        for ext in [Extension::Pipelining, Extension::StartTls, Extension::Auth] {
            assert!(!c.supports(ext), "{ext:?}");
        }
        assert!(c.has_extn("help"));
        assert_eq!(c.params("HELP"), Some(""));
        assert_eq!(
            features(&c),
            [("8bitmime", ""), ("size", ""), ("dsn", ""), ("help", "")]
        );
        assert!(c.auth().is_empty());
        assert_eq!(c.unrecognized().count(), 0);
    }

    #[test]
    fn postfix_ehlo() {
        let c = caps(
            b"250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n\
              250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n\
              250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n\
              250 CHUNKING\r\n",
        );
        assert_eq!(c.domain(), "mail.example.org");
        for ext in ALL {
            let expected = !matches!(ext, Extension::BinaryMime | Extension::RequireTls);
            assert_eq!(c.supports(ext), expected, "{ext:?}");
        }
        assert_eq!(c.max_size(), Some(10_240_000));
        assert_eq!(auth(&c), ["PLAIN", "LOGIN"]);
        assert!(c.auth().contains("login"));
        assert_eq!(
            c.auth().preferred(&["CRAM-MD5", "LOGIN", "PLAIN"]),
            Some("LOGIN")
        );
        assert!(c.has_extn("vrfy") && c.has_extn("ETRN") && c.has_extn("Etrn"));
        assert!(!c.has_extn("XCLIENT"));
        assert_eq!(c.params("size"), Some("10240000"));
        let keywords: Vec<&str> = c.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keywords,
            [
                "pipelining",
                "size",
                "vrfy",
                "etrn",
                "starttls",
                "auth",
                "enhancedstatuscodes",
                "8bitmime",
                "dsn",
                "smtputf8",
                "chunking"
            ]
        );
    }

    #[test]
    fn lower_case_keywords() {
        let c = caps(b"250-mx.example\r\n250-starttls\r\n250-size 1000\r\n250-auth login\r\n250 Pipelining\r\n");
        assert!(c.supports(Extension::StartTls));
        assert!(c.supports(Extension::Pipelining));
        assert_eq!(c.max_size(), Some(1000));
        assert_eq!(auth(&c), ["LOGIN"]);
        assert!(c.has_extn("STARTTLS"));
        assert_eq!(features(&c)[3], ("pipelining", ""));
    }

    #[test]
    fn legacy_auth_is_merged() {
        let c = caps(b"250-mx\r\n250-AUTH=LOGIN PLAIN\r\n250 AUTH PLAIN CRAM-MD5\r\n");
        assert!(c.supports(Extension::Auth));
        assert_eq!(auth(&c), ["LOGIN", "PLAIN", "CRAM-MD5"]);
        assert_eq!(c.params("AUTH"), Some("LOGIN PLAIN PLAIN CRAM-MD5"));
        assert_eq!(features(&c), [("auth", "LOGIN PLAIN PLAIN CRAM-MD5")]);

        let c =
            caps(b"250-mx\r\n250-auth=login\r\n250-AUTH   plain  xoauth2 \r\n250 AUTH=Login\r\n");
        assert_eq!(auth(&c), ["LOGIN", "PLAIN", "XOAUTH2"]);
        // Only the legacy form: AUTH is still advertised.
        let c = caps(b"250-mx\r\n250 AUTH=PLAIN\r\n");
        assert!(c.supports(Extension::Auth) && c.has_extn("auth"));
        assert_eq!(auth(&c), ["PLAIN"]);
        // Bare AUTH: advertised, no mechanisms.
        let c = caps(b"250-mx\r\n250 AUTH\r\n");
        assert!(c.supports(Extension::Auth));
        assert!(c.auth().is_empty());
    }

    #[test]
    fn size_variants() {
        let size = |line: &str| {
            let c = caps(format!("250-mx\r\n250 {line}\r\n").as_bytes());
            (c.supports(Extension::Size), c.max_size())
        };
        assert_eq!(size("SIZE 35882577"), (true, Some(35_882_577)));
        assert_eq!(size("SIZE   1024  "), (true, Some(1024)));
        assert_eq!(size("SIZE"), (true, None));
        assert_eq!(size("SIZE 0"), (true, None));
        assert_eq!(size("SIZE 000"), (true, None));
        assert_eq!(size("SIZE big"), (true, None));
        assert_eq!(size("SIZE -5"), (true, None));
        assert_eq!(size("SIZE +5"), (true, None));
        assert_eq!(size("SIZE 10 MB"), (true, None));
        assert_eq!(size("SIZE 99999999999999999999999"), (true, None));
        assert_eq!(size("SIZE 18446744073709551615"), (true, Some(u64::MAX)));
        assert_eq!(size("PIPELINING"), (false, None));
        // A repeated keyword: the last one counts, as in smtplib's dict.
        let c = caps(b"250-mx\r\n250-SIZE 100\r\n250 SIZE 200\r\n");
        assert_eq!(c.max_size(), Some(200));
        assert_eq!(features(&c), [("size", "200")]);
    }

    #[test]
    fn unknown_keywords_and_lines() {
        let c = caps(
            b"250-mx.example\r\n250-X-EXPS GSSAPI NTLM\r\n250-XCLIENT NAME ADDR\r\n\
              250-DELIVERBY 300\r\n250-not a = keyword? ok\r\n250 HELP\r\n",
        );
        assert_eq!(c.params("x-exps"), Some("GSSAPI NTLM"));
        assert_eq!(c.params("xclient"), Some("NAME ADDR"));
        assert_eq!(c.params("DeliverBy"), Some("300"));
        // `not` fits the keyword grammar; its parameters are kept verbatim.
        assert_eq!(c.params("not"), Some("a = keyword? ok"));
        assert_eq!(c.params("X-EXP"), None);
        assert_eq!(c.unrecognized().count(), 0);
    }

    #[test]
    fn one_line_reply() {
        let c = caps(b"250 mx.example\r\n");
        assert_eq!(c.domain(), "mx.example");
        assert_eq!(c.iter().count(), 0);
        assert!(ALL.iter().all(|&ext| !c.supports(ext)));
        let c = caps(b"250\r\n");
        assert_eq!(c.domain(), "");
        let c = caps(b"250   mx.example   hello\r\n");
        assert_eq!(c.domain(), "mx.example");
    }

    #[test]
    fn junk_lines_are_kept_not_fatal() {
        let c = caps(
            b"250-mx.ex\xffample\r\n250-  \r\n250-=x\r\n250--DASH\r\n250-SIZE\t100\r\n\
              250-\xc3\xa9TRN\r\n250-AUTH\xff PLAIN\r\n250-\r\n250-8BITMIME \xff\r\n250-STARTTLS\r\n250 PIPELINING=yes\r\n",
        );
        assert_eq!(c.domain(), "mx.ex\u{fffd}ample");
        let other: Vec<&str> = c.unrecognized().collect();
        assert_eq!(
            other,
            [
                "  ",
                "=x",
                "-DASH",
                "SIZE\t100",
                "\u{e9}TRN",
                "AUTH\u{fffd} PLAIN",
                "",
                "PIPELINING=yes"
            ]
        );
        assert!(!c.supports(Extension::Size));
        assert!(!c.supports(Extension::Auth));
        assert!(!c.supports(Extension::Pipelining));
        assert!(c.supports(Extension::EightBitMime));
        assert_eq!(c.params("8bitmime"), Some("\u{fffd}"));
        assert!(c.supports(Extension::StartTls));
        assert_eq!(features(&c), [("8bitmime", "\u{fffd}"), ("starttls", "")]);
    }

    #[test]
    fn default_is_helo() {
        let c = Capabilities::default();
        assert_eq!(c.domain(), "");
        assert!(ALL.iter().all(|&ext| !c.supports(ext)));
        assert_eq!(c.max_size(), None);
        assert!(c.auth().is_empty());
        assert!(!c.has_extn("size"));
        assert_eq!(c.iter().count(), 0);
        assert_eq!(c.unrecognized().count(), 0);
        let clone = caps(b"250-mx\r\n250 DSN\r\n").clone();
        assert!(clone.supports(Extension::Dsn));
    }
}
