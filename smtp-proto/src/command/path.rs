//! Validated domains, mailboxes and reverse-paths (RFC 5321 §4.1.2, §4.5.3.1).

use std::fmt;
use std::net::IpAddr;

use super::{check_bytes, check_controls, check_len, check_non_empty, InvalidInput};

/// An EHLO/HELO argument: a domain (`mx.example.org`) or an address literal
/// (`[192.0.2.1]`, `[IPv6:2001:db8::1]`). ASCII only, at most 255 bytes.
///
/// Names may hold letters, digits, `-`, `.` and `_` (label structure is not checked). Address literals are
/// checked loosely: inside the brackets an optional `IPv6:` tag, then one or more of digits, hex letters,
/// `.` and `:`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Domain(Box<str>);

/// A mailbox `local@domain` (without angle brackets); non-ASCII needs SMTPUTF8.
///
/// Built from `local@domain`, `<local@domain>` or `Display Name <local@domain>` (as smtplib's
/// `quoteaddr`: surrounding spaces, the display name and the angle brackets are dropped; the last `<`
/// opens the address), or from the special `postmaster` (any case) without a domain. Several
/// addresses (`a@x, b@y`) are refused, never merged. The local part is either quoted (`"john doe"`, may
/// hold SP and `\`-escapes) or unquoted (no SP, `"` or `\`); `<` and `>` are refused everywhere. The domain
/// is a name (letters, digits, `-`, `.`, `_`, or UTF-8) or an address literal as for [`Domain`].
/// Limits (RFC 5321 §4.5.3.1): local part 64 bytes, domain 255 bytes, the whole path with its angle
/// brackets 256 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    text: Box<str>,
    /// Index of the `@` between local part and domain; `None` for `postmaster`.
    at: Option<usize>,
}

/// The MAIL FROM path: `<>` or a mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`, the null reverse-path (bounces, RFC 5321 §4.5.5).
    Null,
    /// `<mailbox>`.
    Mailbox(Mailbox),
}

impl Domain {
    /// The longest domain, in bytes (RFC 5321 §4.5.3.1.2).
    pub const MAX_LEN: usize = 255;

    /// The domain or address literal as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address literal of `ip`: `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    pub fn address_literal(ip: IpAddr) -> Self {
        let text = match ip {
            IpAddr::V4(v4) => format!("[{v4}]"),
            IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
        };
        Self(text.into_boxed_str())
    }

    /// Whether this is an address literal (`[…]`) rather than a name.
    pub fn is_address_literal(&self) -> bool {
        self.0.starts_with('[')
    }

    fn validate(s: &str) -> Result<(), InvalidInput> {
        check_controls(s)?;
        check_non_empty("domain", s)?;
        check_len("domain", s.len(), Self::MAX_LEN)?;
        check_domain_chars(s, 0, false)
    }
}

validated_text!(Domain);

/// Checks the characters of a domain name or address literal; positions are shifted by `offset`.
/// `utf8` allows non-ASCII bytes in names (mailbox domains under SMTPUTF8).
fn check_domain_chars(s: &str, offset: usize, utf8: bool) -> Result<(), InvalidInput> {
    match s.strip_prefix('[') {
        Some(rest) => check_address_literal(rest, offset.saturating_add(1)),
        None => check_bytes(s, offset, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') || (utf8 && !b.is_ascii())
        }),
    }
}

/// Checks what follows the `[` of an address literal; `offset` is the position of `rest`.
fn check_address_literal(rest: &str, offset: usize) -> Result<(), InvalidInput> {
    const TAG: &str = "IPv6:";
    let inner = rest
        .strip_suffix(']')
        .ok_or(InvalidInput::Malformed("address literal (no closing `]`)"))?;
    let (body, body_offset) = match (inner.get(..TAG.len()), inner.get(TAG.len()..)) {
        (Some(tag), Some(body)) if tag.eq_ignore_ascii_case(TAG) => {
            (body, offset.saturating_add(TAG.len()))
        }
        _ => (inner, offset),
    };
    check_non_empty("address literal", body)?;
    check_bytes(body, body_offset, |b| {
        b.is_ascii_hexdigit() || b == b'.' || b == b':'
    })
}

impl Mailbox {
    /// The longest local part, in bytes (RFC 5321 §4.5.3.1.1).
    pub const MAX_LOCAL_LEN: usize = 64;
    /// The longest domain, in bytes (RFC 5321 §4.5.3.1.2).
    pub const MAX_DOMAIN_LEN: usize = 255;
    /// The longest path including its angle brackets, in bytes (RFC 5321 §4.5.3.1.3).
    pub const MAX_PATH_LEN: usize = 256;

    /// `local@domain` (or `postmaster`), without angle brackets.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The local part, with its quotes if it is quoted; the whole text for `postmaster`.
    pub fn local_part(&self) -> &str {
        self.at
            .and_then(|at| self.text.get(..at))
            .unwrap_or(&self.text)
    }

    /// The domain; `None` for the bare `postmaster`.
    pub fn domain(&self) -> Option<&str> {
        self.at.and_then(|at| self.text.get(at.saturating_add(1)..))
    }

    /// Whether the mailbox holds non-ASCII text, so it may only be sent under SMTPUTF8 (RFC 6531).
    pub fn needs_smtputf8(&self) -> bool {
        !self.text.is_ascii()
    }

    /// Validates `input`; returns where the mailbox starts in it and where its `@` is, relative to the start.
    fn parse(input: &str) -> Result<(&str, Option<usize>), InvalidInput> {
        check_controls(input)?;
        let (text, offset) = Self::addr_spec(input);
        check_non_empty("mailbox", text)?;
        if text.eq_ignore_ascii_case("postmaster") {
            return Ok((text, None));
        }
        let at = find_at(text, offset)?;
        let (Some(local), Some(domain)) = (text.get(..at), text.get(at.saturating_add(1)..)) else {
            return Err(InvalidInput::Malformed("mailbox"));
        };
        check_non_empty("local part", local)?;
        check_non_empty("domain", domain)?;
        check_len("local part", local.len(), Self::MAX_LOCAL_LEN)?;
        check_len("domain", domain.len(), Self::MAX_DOMAIN_LEN)?;
        check_len("path", text.len().saturating_add(2), Self::MAX_PATH_LEN)?;
        if local.starts_with('"') {
            check_bytes(local, offset, |b| b != b'<' && b != b'>')?;
        } else {
            check_bytes(local, offset, |b| {
                !matches!(b, b' ' | b'<' | b'>' | b'"' | b'\\')
            })?;
        }
        check_domain_chars(domain, offset.saturating_add(at).saturating_add(1), true)?;
        Ok((text, Some(at)))
    }
}

impl Mailbox {
    /// The address part of `input` and its position there, as smtplib's `quoteaddr` finds it:
    /// surrounding spaces dropped, then `<addr>` → `addr`, `Display Name <addr>` → `addr` (the
    /// last `<` opens the address, so a quoted name may hold `<`), else the text itself.
    fn addr_spec(input: &str) -> (&str, usize) {
        let trimmed = input.trim_start_matches(' ');
        let start = input.len().saturating_sub(trimmed.len());
        let trimmed = trimmed.trim_end_matches(' ');
        let Some(inner) = trimmed.strip_suffix('>') else {
            return (trimmed, start);
        };
        match inner.rfind('<') {
            Some(lt) => {
                let addr = inner.get(lt.saturating_add(1)..).unwrap_or_default();
                (addr, start.saturating_add(lt).saturating_add(1))
            }
            None => (trimmed, start),
        }
    }
}

/// Finds the `@` that ends the local part of `text` (whose position in the input is `offset`): after the
/// closing quote of a quoted local part, else the first one.
fn find_at(text: &str, offset: usize) -> Result<usize, InvalidInput> {
    const NO_DOMAIN: InvalidInput = InvalidInput::Malformed("mailbox (no @domain)");
    if !text.starts_with('"') {
        return text.find('@').ok_or(NO_DOMAIN);
    }
    let mut escaped = false;
    let mut close = None;
    for (i, b) in text.bytes().enumerate().skip(1) {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            close = Some(i);
            break;
        }
    }
    let close = close.ok_or(InvalidInput::Malformed(
        "quoted local part (no closing quote)",
    ))?;
    let at = close.saturating_add(1);
    match text.as_bytes().get(at) {
        Some(b'@') => Ok(at),
        Some(&byte) => Err(InvalidInput::ForbiddenByte {
            byte,
            at: offset.saturating_add(at),
        }),
        None => Err(NO_DOMAIN),
    }
}

impl TryFrom<&str> for Mailbox {
    type Error = InvalidInput;

    fn try_from(input: &str) -> Result<Self, InvalidInput> {
        let (text, at) = Self::parse(input)?;
        Ok(Self {
            text: text.into(),
            at,
        })
    }
}

impl TryFrom<String> for Mailbox {
    type Error = InvalidInput;

    fn try_from(input: String) -> Result<Self, InvalidInput> {
        let (text, at) = Self::parse(&input)?;
        let text = if text.len() == input.len() {
            input.into_boxed_str()
        } else {
            text.into()
        };
        Ok(Self { text, at })
    }
}

impl ReversePath {
    /// Whether this is the null path `<>`.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The mailbox, unless this is the null path.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            Self::Null => None,
            Self::Mailbox(m) => Some(m),
        }
    }

    /// Whether the path needs SMTPUTF8 (a non-ASCII mailbox).
    pub fn needs_smtputf8(&self) -> bool {
        self.mailbox().is_some_and(Mailbox::needs_smtputf8)
    }
}

/// `""` and `"<>"` (surrounding spaces allowed) are the null path; anything else must be a
/// [`Mailbox`].
impl TryFrom<&str> for ReversePath {
    type Error = InvalidInput;

    fn try_from(input: &str) -> Result<Self, InvalidInput> {
        if input.is_empty() || input.trim_matches(' ') == "<>" {
            Ok(Self::Null)
        } else {
            Mailbox::try_from(input).map(Self::Mailbox)
        }
    }
}

/// `""` and `"<>"` (surrounding spaces allowed) are the null path; anything else must be a
/// [`Mailbox`].
impl TryFrom<String> for ReversePath {
    type Error = InvalidInput;

    fn try_from(input: String) -> Result<Self, InvalidInput> {
        if input.is_empty() || input.trim_matches(' ') == "<>" {
            Ok(Self::Null)
        } else {
            Mailbox::try_from(input).map(Self::Mailbox)
        }
    }
}

impl From<Mailbox> for ReversePath {
    fn from(mailbox: Mailbox) -> Self {
        Self::Mailbox(mailbox)
    }
}

/// The path as on the wire: `<>` or `<local@domain>`.
impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("<>"),
            Self::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn control(byte: u8, at: usize) -> InvalidInput {
        InvalidInput::ControlByte { byte, at }
    }

    fn forbidden(byte: u8, at: usize) -> InvalidInput {
        InvalidInput::ForbiddenByte { byte, at }
    }

    fn too_long(what: &'static str, len: usize, limit: usize) -> InvalidInput {
        InvalidInput::TooLong { what, len, limit }
    }

    fn domain(s: &str) -> Result<Domain, InvalidInput> {
        Domain::try_from(s)
    }

    fn mailbox(s: &str) -> Result<Mailbox, InvalidInput> {
        Mailbox::try_from(s)
    }

    #[test]
    fn domain_accepts_names_and_literals() {
        for ok in [
            "mx.example.org",
            "a-b_c.D9",
            "localhost",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
            "[ipv6:::1]",
            "[IPv6:::ffff:192.0.2.1]",
        ] {
            let d = domain(ok).unwrap();
            assert_eq!(d.as_str(), ok);
            assert_eq!(d.to_string(), ok);
            assert_eq!(AsRef::<str>::as_ref(&d), ok);
            assert_eq!(Domain::try_from(ok.to_owned()), Ok(d));
        }
        assert!(domain("[192.0.2.1]").unwrap().is_address_literal());
        assert!(!domain("example.org").unwrap().is_address_literal());
    }

    #[test]
    fn domain_refuses_controls_first() {
        assert_eq!(domain("mx\r\nQUIT"), Err(control(b'\r', 2)));
        assert_eq!(domain("mx\n"), Err(control(b'\n', 2)));
        assert_eq!(domain("a\0b"), Err(control(0, 1)));
        assert_eq!(domain("a\tb"), Err(control(b'\t', 1)));
        assert_eq!(domain("\x7f"), Err(control(0x7f, 0)));
        assert_eq!(domain("\x1b"), Err(control(0x1b, 0)));
        // A forbidden byte and an over-long text come earlier, but the control byte is named.
        assert_eq!(domain("a b\r"), Err(control(b'\r', 3)));
        let long = format!("{}\n", "a".repeat(300));
        assert_eq!(domain(&long), Err(control(b'\n', 300)));
        assert_eq!(Domain::try_from("[1\r]".to_owned()), Err(control(b'\r', 2)));
    }

    #[test]
    fn domain_length_limit() {
        assert_eq!(domain(""), Err(InvalidInput::Empty("domain")));
        assert!(domain(&"a".repeat(255)).is_ok());
        assert_eq!(domain(&"a".repeat(256)), Err(too_long("domain", 256, 255)));
    }

    #[test]
    fn domain_refuses_other_bytes() {
        assert_eq!(domain("a b"), Err(forbidden(b' ', 1)));
        assert_eq!(domain("user@example.org"), Err(forbidden(b'@', 4)));
        assert_eq!(domain("exämple.org"), Err(forbidden(0xc3, 2)));
        assert_eq!(domain("a]"), Err(forbidden(b']', 1)));
        assert_eq!(domain("<a>"), Err(forbidden(b'<', 0)));
    }

    #[test]
    fn address_literal_rules() {
        let no_close = InvalidInput::Malformed("address literal (no closing `]`)");
        assert_eq!(domain("[192.0.2.1"), Err(no_close.clone()));
        assert_eq!(domain("["), Err(no_close));
        assert_eq!(domain("[]"), Err(InvalidInput::Empty("address literal")));
        assert_eq!(
            domain("[IPv6:]"),
            Err(InvalidInput::Empty("address literal"))
        );
        assert_eq!(domain("[1.2 .3]"), Err(forbidden(b' ', 4)));
        assert_eq!(domain("[1[2]"), Err(forbidden(b'[', 2)));
        assert_eq!(domain("[1]2]"), Err(forbidden(b']', 2)));
        assert_eq!(domain("[IPv6:2001:db8::g]"), Err(forbidden(b'g', 16)));
        assert_eq!(domain("[IPv4:1.2.3.4]"), Err(forbidden(b'I', 1)));
    }

    #[test]
    fn address_literal_from_ip() {
        let v4 = Domain::address_literal(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(v4.as_str(), "[192.0.2.1]");
        let v6 =
            Domain::address_literal(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
        assert_eq!(v6.as_str(), "[IPv6:2001:db8::1]");
        let mapped =
            Domain::address_literal(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()));
        for d in [v4, v6, mapped] {
            assert_eq!(domain(d.as_str()), Ok(d.clone()));
            assert!(d.is_address_literal());
        }
    }

    #[test]
    fn mailbox_plain_and_bracketed() {
        let m = mailbox("user@example.org").unwrap();
        assert_eq!(m.as_str(), "user@example.org");
        assert_eq!(m.local_part(), "user");
        assert_eq!(m.domain(), Some("example.org"));
        assert!(!m.needs_smtputf8());
        assert_eq!(m.to_string(), "user@example.org");
        assert_eq!(mailbox("<user@example.org>"), Ok(m.clone()));
        assert_eq!(
            Mailbox::try_from("<user@example.org>".to_owned()),
            Ok(m.clone())
        );
        assert_eq!(Mailbox::try_from("user@example.org".to_owned()), Ok(m));
        // Only one pair is removed (the last `<` opens the address).
        assert_eq!(mailbox("<<a@b>>"), Err(forbidden(b'>', 5)));
        assert_eq!(mailbox("<a@b"), Err(forbidden(b'<', 0)));
        assert_eq!(mailbox("a@b>"), Err(forbidden(b'>', 3)));
        let lit = mailbox("a@[192.0.2.1]").unwrap();
        assert_eq!(lit.domain(), Some("[192.0.2.1]"));
        assert_eq!(
            mailbox("a@[192.0.2.1"),
            Err(InvalidInput::Malformed("address literal (no closing `]`)"))
        );
    }

    #[test]
    fn mailbox_postmaster() {
        for pm in ["postmaster", "PostMaster", "<POSTMASTER>"] {
            let m = mailbox(pm).unwrap();
            assert_eq!(m.domain(), None);
            assert!(m.local_part().eq_ignore_ascii_case("postmaster"));
            assert_eq!(m.local_part(), m.as_str());
        }
        let m = mailbox("postmaster@example.org").unwrap();
        assert_eq!(m.domain(), Some("example.org"));
        assert_eq!(
            mailbox("postmistress"),
            Err(InvalidInput::Malformed("mailbox (no @domain)"))
        );
    }

    #[test]
    fn mailbox_quoted_local_part() {
        let m = mailbox("\"john doe\"@example.org").unwrap();
        assert_eq!(m.local_part(), "\"john doe\"");
        assert_eq!(m.domain(), Some("example.org"));
        let m = mailbox("<\"a@b\"@c>").unwrap();
        assert_eq!(m.local_part(), "\"a@b\"");
        assert_eq!(m.domain(), Some("c"));
        let m = mailbox(r#""a\"b c"@x"#).unwrap();
        assert_eq!(m.local_part(), r#""a\"b c""#);
        assert!(mailbox("\"\"@x").is_ok());
        assert_eq!(
            mailbox("\"john doe@x"),
            Err(InvalidInput::Malformed(
                "quoted local part (no closing quote)"
            ))
        );
        assert_eq!(
            mailbox(r#""a\"@x"#),
            Err(InvalidInput::Malformed(
                "quoted local part (no closing quote)"
            ))
        );
        assert_eq!(mailbox("\"a\"b@x"), Err(forbidden(b'b', 3)));
        assert_eq!(
            mailbox("\"a\""),
            Err(InvalidInput::Malformed("mailbox (no @domain)"))
        );
        assert_eq!(mailbox("\"a>b\"@x"), Err(forbidden(b'>', 2)));
        assert_eq!(mailbox("<\"a<b\"@x>"), Err(forbidden(b'"', 5)));
    }

    #[test]
    fn mailbox_from_display_name_forms_like_quoteaddr() {
        let bob = mailbox("bob@example.net").unwrap();
        for input in [
            "Bob <bob@example.net>",
            "\"Bob, the <builder>\" <bob@example.net>",
            "  bob@example.net ",
            " <bob@example.net> ",
            "Bob<bob@example.net>",
        ] {
            assert_eq!(mailbox(input), Ok(bob.clone()), "{input}");
            assert_eq!(
                Mailbox::try_from(input.to_owned()),
                Ok(bob.clone()),
                "{input}"
            );
        }
        // Several addresses are refused, never merged; an empty address is no address.
        assert_eq!(mailbox("a@x, b@y"), Err(forbidden(b',', 3)));
        assert_eq!(mailbox("Bob <>"), Err(InvalidInput::Empty("mailbox")));
        // Errors point into the input as given.
        assert_eq!(mailbox("Bob <b b@x>"), Err(forbidden(b' ', 6)));
        assert_eq!(ReversePath::try_from("  <>  "), Ok(ReversePath::Null));
        assert_eq!(
            ReversePath::try_from("Alice <alice@example.org>").map(|p| p.to_string()),
            Ok("<alice@example.org>".to_owned())
        );
    }

    #[test]
    fn mailbox_forbidden_bytes() {
        assert_eq!(mailbox("john doe@x"), Err(forbidden(b' ', 4)));
        assert_eq!(mailbox("a>b@x"), Err(forbidden(b'>', 1)));
        assert_eq!(mailbox("a<b@x"), Err(forbidden(b'<', 1)));
        assert_eq!(mailbox("a\"b@x"), Err(forbidden(b'"', 1)));
        assert_eq!(mailbox("a\\b@x"), Err(forbidden(b'\\', 1)));
        assert_eq!(mailbox("a@b>c"), Err(forbidden(b'>', 3)));
        assert_eq!(mailbox("a@b c"), Err(forbidden(b' ', 3)));
        assert_eq!(mailbox("a@b@c"), Err(forbidden(b'@', 3)));
        assert_eq!(mailbox("<a@b c>"), Err(forbidden(b' ', 4)));
    }

    #[test]
    fn mailbox_empty_parts() {
        assert_eq!(mailbox(""), Err(InvalidInput::Empty("mailbox")));
        assert_eq!(mailbox("<>"), Err(InvalidInput::Empty("mailbox")));
        assert_eq!(mailbox("@x"), Err(InvalidInput::Empty("local part")));
        assert_eq!(mailbox("a@"), Err(InvalidInput::Empty("domain")));
        assert_eq!(mailbox("<a@>"), Err(InvalidInput::Empty("domain")));
        assert_eq!(
            mailbox("abc"),
            Err(InvalidInput::Malformed("mailbox (no @domain)"))
        );
    }

    #[test]
    fn mailbox_length_limits() {
        let local64 = "l".repeat(64);
        assert!(mailbox(&format!("{local64}@x")).is_ok());
        assert_eq!(
            mailbox(&format!("{local64}l@x")),
            Err(too_long("local part", 65, 64))
        );
        // Path: "<" + "a@" + domain + ">" must fit in 256, so the domain may have 252 bytes here.
        let d252 = "d".repeat(252);
        assert!(mailbox(&format!("a@{d252}")).is_ok());
        assert!(mailbox(&format!("<a@{d252}>")).is_ok());
        assert_eq!(
            mailbox(&format!("a@{d252}d")),
            Err(too_long("path", 257, 256))
        );
        assert_eq!(
            mailbox(&format!("<a@{d252}d>")),
            Err(too_long("path", 257, 256))
        );
        // A 255-byte domain passes the domain limit but not the path limit; 256 fails the domain limit.
        assert_eq!(
            mailbox(&format!("a@{}", "d".repeat(255))),
            Err(too_long("path", 259, 256))
        );
        assert_eq!(
            mailbox(&format!("a@{}", "d".repeat(256))),
            Err(too_long("domain", 256, 255))
        );
        // Path at the limit with a maximal local part: 2 + 64 + 1 + 189 = 256.
        assert!(mailbox(&format!("{local64}@{}", "d".repeat(189))).is_ok());
    }

    #[test]
    fn mailbox_utf8_is_flagged() {
        for s in [
            "用户@例子.广告",
            "δοκιμή@παράδειγμα.δοκιμή",
            "user@exämple.org",
            "\"jöhn\"@x",
        ] {
            let m = mailbox(s).unwrap();
            assert!(m.needs_smtputf8(), "{s}");
            assert_eq!(m.as_str(), s);
        }
        let m = mailbox("用户@例子.广告").unwrap();
        assert_eq!(m.local_part(), "用户");
        assert_eq!(m.domain(), Some("例子.广告"));
    }

    #[test]
    fn mailbox_refuses_injection() {
        assert_eq!(mailbox("a@b\r\nRCPT TO:<x@y>"), Err(control(b'\r', 3)));
        assert_eq!(mailbox("<a\0@b>"), Err(control(0, 2)));
        assert_eq!(mailbox("a@b\n"), Err(control(b'\n', 3)));
        assert_eq!(mailbox("\"a\r\n\"@b"), Err(control(b'\r', 2)));
        assert_eq!(mailbox("post\rmaster"), Err(control(b'\r', 4)));
        assert_eq!(mailbox("a b\x7f@c"), Err(control(0x7f, 3)));
        assert_eq!(
            Mailbox::try_from("a@b\r".to_owned()),
            Err(control(b'\r', 3))
        );
        let long = format!("{}\n@x", "a".repeat(100));
        assert_eq!(mailbox(&long), Err(control(b'\n', 100)));
    }

    #[test]
    fn reverse_path() {
        assert_eq!(ReversePath::try_from(""), Ok(ReversePath::Null));
        assert_eq!(ReversePath::try_from("<>"), Ok(ReversePath::Null));
        assert_eq!(
            ReversePath::try_from("<>".to_owned()),
            Ok(ReversePath::Null)
        );
        let m = mailbox("a@b").unwrap();
        assert_eq!(
            ReversePath::try_from("<a@b>"),
            Ok(ReversePath::Mailbox(m.clone()))
        );
        assert_eq!(
            ReversePath::try_from("a@b".to_owned()),
            Ok(m.clone().into())
        );
        assert_eq!(ReversePath::from(m.clone()).mailbox(), Some(&m));
        assert!(ReversePath::Null.is_null());
        assert!(!ReversePath::from(m.clone()).is_null());
        assert_eq!(ReversePath::Null.to_string(), "<>");
        assert_eq!(ReversePath::from(m).to_string(), "<a@b>");
        assert!(!ReversePath::Null.needs_smtputf8());
        assert!(ReversePath::try_from("ü@b").unwrap().needs_smtputf8());
        assert_eq!(ReversePath::try_from("\r\n"), Err(control(b'\r', 0)));
        assert_eq!(ReversePath::try_from("<>\r\n"), Err(control(b'\r', 2)));
        assert_eq!(ReversePath::try_from("<\0>"), Err(control(0, 1)));
        assert_eq!(
            ReversePath::try_from("< >"),
            Err(InvalidInput::Malformed("mailbox (no @domain)"))
        );
    }
}
