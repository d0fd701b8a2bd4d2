//! ESMTP parameters of MAIL and RCPT, and RFC 3461 xtext.

use std::fmt;

use super::{
    check_bytes, check_controls, check_len, check_non_empty, push_u64, InvalidInput, ReversePath,
};

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
///
/// Holds the raw (decoded) text: 1 to [`XText::MAX_LEN`] characters. On the wire every byte outside
/// 0x21–0x7E, and `+` and `=`, becomes `+HH` (see [`xtext_encode`]).
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
///
/// keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), at most [`Param::MAX_KEYWORD_LEN`] bytes, kept as
/// given; value = 1*(%d33-60 / %d62-126) or non-ASCII UTF-8 (RFC 6531), i.e. anything but controls, SP and
/// `=`, at most [`Param::MAX_VALUE_LEN`] bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    keyword: Box<str>,
    value: Option<Box<str>>,
}

/// MAIL FROM parameters.
///
/// Encoded in this order: ` SIZE=n`, ` BODY=…`, ` SMTPUTF8`, ` RET=…`, ` ENVID=xtext`, ` AUTH=xtext`
/// (the mailbox xtext-encoded, non-ASCII bytes included, or `<>`), ` REQUIRETLS`, then `other` in order.
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
///
/// Encoded in this order: ` NOTIFY=…`, ` ORCPT=type;xtext`, then `other` in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RcptParams {
    /// `NOTIFY=` (RFC 3461).
    pub notify: Option<Notify>,
    /// `ORCPT=` (RFC 3461).
    pub orcpt: Option<Orcpt>,
    /// Anything else, in order.
    pub other: Vec<Param>,
}

impl BodyType {
    /// The `BODY=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SevenBit => "7BIT",
            Self::EightBitMime => "8BITMIME",
            Self::BinaryMime => "BINARYMIME",
        }
    }
}

impl Ret {
    /// The `RET=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Hdrs => "HDRS",
        }
    }
}

impl Notify {
    /// Appends the `NOTIFY=` value: `NEVER`, or the set flags in the order SUCCESS, FAILURE, DELAY.
    fn encode(self, out: &mut Vec<u8>) {
        let (success, failure, delay) = match self {
            Self::Never => (false, false, false),
            Self::On {
                success,
                failure,
                delay,
            } => (success, failure, delay),
        };
        let flags = [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")];
        let mut first = true;
        for (_, name) in flags.iter().filter(|(set, _)| *set) {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(name.as_bytes());
            first = false;
        }
        if first {
            out.extend_from_slice(b"NEVER");
        }
    }
}

impl XText {
    /// The longest text accepted, in characters (= bytes; RFC 3461 §4.2 allows 500 for ORCPT).
    pub const MAX_LEN: usize = 500;

    /// The raw (decoded) text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Appends the xtext-encoded form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        xtext_encode(self.0.as_bytes(), out);
    }

    fn validate(s: &str) -> Result<(), InvalidInput> {
        check_controls(s)?;
        check_non_empty("xtext", s)?;
        check_len("xtext", s.len(), Self::MAX_LEN)?;
        check_bytes(s, 0, |b| b.is_ascii())
    }
}

validated_text!(XText);

/// Appends `raw` as xtext (RFC 3461 §4): bytes outside 0x21–0x7E, and `+` and `=`, become `+HH` with
/// upper-case hex digits; everything else is copied.
pub fn xtext_encode(raw: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in raw {
        if (0x21..=0x7e).contains(&b) && b != b'+' && b != b'=' {
            out.push(b);
        } else {
            out.push(b'+');
            for nibble in [b >> 4, b & 0x0f] {
                out.extend(HEX.get(usize::from(nibble)));
            }
        }
    }
}

/// Decodes xtext strictly: `None` if a byte is outside 0x21–0x7E, is `=`, or is a `+` not followed by two
/// upper-case hex digits.
pub fn xtext_decode(s: &[u8]) -> Option<Vec<u8>> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => {
                let hi = hex(bytes.next()?)?;
                let lo = hex(bytes.next()?)?;
                out.push(hi << 4 | lo);
            }
            b'=' => return None,
            0x21..=0x7e => out.push(b),
            _ => return None,
        }
    }
    Some(out)
}

impl Orcpt {
    /// `ORCPT=rfc822;address`, the usual form.
    pub fn rfc822(address: &str) -> Result<Self, InvalidInput> {
        Self::new("rfc822", address)
    }

    /// `ORCPT=addr_type;address`; `addr_type` must be a parameter keyword (e.g. `rfc822`, `x400`).
    pub fn new(addr_type: &str, address: &str) -> Result<Self, InvalidInput> {
        Ok(Self {
            addr_type: Param::new(addr_type, None)?,
            address: XText::try_from(address)?,
        })
    }

    /// Appends `type;xtext`. Only the keyword of `addr_type` is used.
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.addr_type.keyword().as_bytes());
        out.push(b';');
        self.address.encode(out);
    }
}

impl Param {
    /// The longest keyword accepted, in bytes.
    pub const MAX_KEYWORD_LEN: usize = 64;
    /// The longest value accepted, in bytes.
    pub const MAX_VALUE_LEN: usize = 1000;

    /// A validated `keyword` or `keyword=value`. Error positions count in the text `keyword=value`, so a
    /// value byte at index `i` is reported at `keyword.len() + 1 + i`.
    pub fn new(keyword: &str, value: Option<&str>) -> Result<Self, InvalidInput> {
        let value_offset = keyword.len().saturating_add(1);
        check_controls(keyword)?;
        if let Some(v) = value {
            check_controls(v).map_err(|e| shift(e, value_offset))?;
        }
        check_non_empty("parameter keyword", keyword)?;
        check_len("parameter keyword", keyword.len(), Self::MAX_KEYWORD_LEN)?;
        if keyword.starts_with('-') {
            return Err(InvalidInput::ForbiddenByte { byte: b'-', at: 0 });
        }
        check_bytes(keyword, 0, |b| b.is_ascii_alphanumeric() || b == b'-')?;
        if let Some(v) = value {
            check_non_empty("parameter value", v)?;
            check_len("parameter value", v.len(), Self::MAX_VALUE_LEN)?;
            check_bytes(v, value_offset, |b| b != b' ' && b != b'=')?;
        }
        Ok(Self {
            keyword: keyword.into(),
            value: value.map(Into::into),
        })
    }

    /// The keyword, as given.
    pub fn keyword(&self) -> &str {
        &self.keyword
    }

    /// The value, if any.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Whether the value holds non-ASCII text (allowed only under SMTPUTF8, RFC 6531).
    pub fn needs_smtputf8(&self) -> bool {
        self.value.as_deref().is_some_and(|v| !v.is_ascii())
    }

    /// Appends ` KEY` or ` KEY=VALUE`.
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(b' ');
        out.extend_from_slice(self.keyword.as_bytes());
        if let Some(v) = &self.value {
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
        }
    }
}

/// Moves the position of a byte error by `by`.
fn shift(e: InvalidInput, by: usize) -> InvalidInput {
    match e {
        InvalidInput::ControlByte { byte, at } => InvalidInput::ControlByte {
            byte,
            at: at.saturating_add(by),
        },
        other => other,
    }
}

/// Parses `KEY` or `KEY=VALUE` (split at the first `=`), as [`Param::new`].
impl TryFrom<&str> for Param {
    type Error = InvalidInput;

    fn try_from(s: &str) -> Result<Self, InvalidInput> {
        check_controls(s)?;
        match s.split_once('=') {
            Some((keyword, value)) => Self::new(keyword, Some(value)),
            None => Self::new(s, None),
        }
    }
}

/// Parses `KEY` or `KEY=VALUE`, as for `&str`.
impl TryFrom<String> for Param {
    type Error = InvalidInput;

    fn try_from(s: String) -> Result<Self, InvalidInput> {
        Self::try_from(s.as_str())
    }
}

/// `KEY` or `KEY=VALUE`.
impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keyword)?;
        if let Some(v) = &self.value {
            write!(f, "={v}")?;
        }
        Ok(())
    }
}

impl MailParams {
    /// Whether the parameters need SMTPUTF8: a non-ASCII `AUTH=` mailbox or `other` value.
    pub fn needs_smtputf8(&self) -> bool {
        self.auth.as_ref().is_some_and(ReversePath::needs_smtputf8)
            || self.other.iter().any(Param::needs_smtputf8)
    }

    /// Appends the parameters, each with its leading SP, in the documented order.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        if let Some(size) = self.size {
            out.extend_from_slice(b" SIZE=");
            push_u64(out, size);
        }
        if let Some(body) = self.body {
            out.extend_from_slice(b" BODY=");
            out.extend_from_slice(body.as_str().as_bytes());
        }
        if self.smtputf8 {
            out.extend_from_slice(b" SMTPUTF8");
        }
        if let Some(ret) = self.ret {
            out.extend_from_slice(b" RET=");
            out.extend_from_slice(ret.as_str().as_bytes());
        }
        if let Some(envid) = &self.envid {
            out.extend_from_slice(b" ENVID=");
            envid.encode(out);
        }
        match &self.auth {
            None => {}
            Some(ReversePath::Null) => out.extend_from_slice(b" AUTH=<>"),
            Some(ReversePath::Mailbox(m)) => {
                out.extend_from_slice(b" AUTH=");
                xtext_encode(m.as_str().as_bytes(), out);
            }
        }
        if self.requiretls {
            out.extend_from_slice(b" REQUIRETLS");
        }
        for p in &self.other {
            p.encode(out);
        }
    }
}

impl RcptParams {
    /// Whether the parameters need SMTPUTF8: a non-ASCII `other` value.
    pub fn needs_smtputf8(&self) -> bool {
        self.other.iter().any(Param::needs_smtputf8)
    }

    /// Appends the parameters, each with its leading SP, in the documented order.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        if let Some(notify) = self.notify {
            out.extend_from_slice(b" NOTIFY=");
            notify.encode(out);
        }
        if let Some(orcpt) = &self.orcpt {
            out.extend_from_slice(b" ORCPT=");
            orcpt.encode(out);
        }
        for p in &self.other {
            p.encode(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Mailbox;

    fn control(byte: u8, at: usize) -> InvalidInput {
        InvalidInput::ControlByte { byte, at }
    }

    fn forbidden(byte: u8, at: usize) -> InvalidInput {
        InvalidInput::ForbiddenByte { byte, at }
    }

    fn encode_xtext(raw: &[u8]) -> String {
        let mut out = Vec::new();
        xtext_encode(raw, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn mail(p: &MailParams) -> String {
        let mut out = Vec::new();
        p.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn rcpt(p: &RcptParams) -> String {
        let mut out = Vec::new();
        p.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn param_accepts() {
        let p = Param::new("X-FOO", Some("bar")).unwrap();
        assert_eq!(p.keyword(), "X-FOO");
        assert_eq!(p.value(), Some("bar"));
        assert_eq!(p.to_string(), "X-FOO=bar");
        assert!(!p.needs_smtputf8());
        let p = Param::try_from("HOLDFOR").unwrap();
        assert_eq!((p.keyword(), p.value()), ("HOLDFOR", None));
        assert_eq!(p.to_string(), "HOLDFOR");
        assert_eq!(
            Param::try_from("mt-priority=-3"),
            Param::new("mt-priority", Some("-3"))
        );
        assert_eq!(Param::try_from("9=!<~"), Param::new("9", Some("!<~")));
        assert_eq!(
            Param::try_from("K=v".to_owned()),
            Param::new("K", Some("v"))
        );
        assert_eq!(Param::try_from("K=\r".to_owned()), Err(control(b'\r', 2)));
        let utf8 = Param::try_from("X=ünï").unwrap();
        assert_eq!(utf8.value(), Some("ünï"));
        assert!(utf8.needs_smtputf8());
    }

    #[test]
    fn param_refuses() {
        assert_eq!(
            Param::try_from("=v"),
            Err(InvalidInput::Empty("parameter keyword"))
        );
        assert_eq!(
            Param::try_from(""),
            Err(InvalidInput::Empty("parameter keyword"))
        );
        assert_eq!(
            Param::try_from("KEY="),
            Err(InvalidInput::Empty("parameter value"))
        );
        assert_eq!(
            Param::new("KEY", Some("")),
            Err(InvalidInput::Empty("parameter value"))
        );
        assert_eq!(Param::try_from("A=B=C"), Err(forbidden(b'=', 3)));
        assert_eq!(Param::try_from("-A"), Err(forbidden(b'-', 0)));
        assert_eq!(Param::try_from("A_B"), Err(forbidden(b'_', 1)));
        assert_eq!(Param::try_from("A B=c"), Err(forbidden(b' ', 1)));
        assert_eq!(Param::try_from("K=a b"), Err(forbidden(b' ', 3)));
        assert_eq!(Param::try_from("Ü=1"), Err(forbidden(0xc3, 0)));
        assert_eq!(Param::new("K", Some("a=b")), Err(forbidden(b'=', 3)));
    }

    #[test]
    fn param_limits() {
        let k64 = "K".repeat(64);
        assert!(Param::new(&k64, None).is_ok());
        assert_eq!(
            Param::new(&format!("{k64}K"), None),
            Err(InvalidInput::TooLong {
                what: "parameter keyword",
                len: 65,
                limit: 64
            })
        );
        let v1000 = "v".repeat(1000);
        assert!(Param::new("K", Some(&v1000)).is_ok());
        assert_eq!(
            Param::try_from(format!("K={v1000}v").as_str()),
            Err(InvalidInput::TooLong {
                what: "parameter value",
                len: 1001,
                limit: 1000
            })
        );
    }

    #[test]
    fn param_refuses_controls_first() {
        assert_eq!(Param::try_from("K=v\r\nRSET"), Err(control(b'\r', 3)));
        assert_eq!(Param::try_from("K\0"), Err(control(0, 1)));
        assert_eq!(Param::new("K\r", None), Err(control(b'\r', 1)));
        assert_eq!(Param::new("KEY", Some("v\n")), Err(control(b'\n', 5)));
        // The keyword is bad too, but the control byte in the value is named.
        assert_eq!(Param::new("-", Some("\r")), Err(control(b'\r', 2)));
        assert_eq!(Param::new("", Some("\t")), Err(control(b'\t', 1)));
        assert_eq!(Param::try_from("A B=\x7f"), Err(control(0x7f, 4)));
    }

    #[test]
    fn xtext_rules() {
        let x = XText::try_from("id 1+2=3").unwrap();
        assert_eq!(x.as_str(), "id 1+2=3");
        assert_eq!(x.to_string(), "id 1+2=3");
        let mut out = Vec::new();
        x.encode(&mut out);
        assert_eq!(out, b"id+201+2B2+3D3");
        assert_eq!(XText::try_from("id".to_owned()), XText::try_from("id"));
        assert!(XText::try_from("x".repeat(500).as_str()).is_ok());
        assert_eq!(
            XText::try_from("x".repeat(501)),
            Err(InvalidInput::TooLong {
                what: "xtext",
                len: 501,
                limit: 500
            })
        );
        assert_eq!(XText::try_from(""), Err(InvalidInput::Empty("xtext")));
        assert_eq!(XText::try_from("aé"), Err(forbidden(0xc3, 1)));
        assert_eq!(XText::try_from("a\r\nb"), Err(control(b'\r', 1)));
        assert_eq!(XText::try_from("\0"), Err(control(0, 0)));
        assert_eq!(XText::try_from("é\n"), Err(control(b'\n', 2)));
    }

    #[test]
    fn xtext_encoding() {
        assert_eq!(encode_xtext(b"user@example.org"), "user@example.org");
        assert_eq!(encode_xtext(b"+"), "+2B");
        assert_eq!(encode_xtext(b"="), "+3D");
        assert_eq!(encode_xtext(b" "), "+20");
        assert_eq!(encode_xtext(b"\0\r\n"), "+00+0D+0A");
        assert_eq!(encode_xtext(b"\x7f\x80\xff"), "+7F+80+FF");
        assert_eq!(encode_xtext(b"!~"), "!~");
        assert_eq!(encode_xtext("ü".as_bytes()), "+C3+BC");
        assert_eq!(encode_xtext(b""), "");
    }

    #[test]
    fn xtext_decoding() {
        assert_eq!(xtext_decode(b"a+2Bb+3D"), Some(b"a+b=".to_vec()));
        assert_eq!(xtext_decode(b"+41"), Some(b"A".to_vec()));
        assert_eq!(xtext_decode(b"+00+FF"), Some(vec![0, 0xff]));
        assert_eq!(xtext_decode(b""), Some(Vec::new()));
        for bad in [
            &b"+2b"[..],
            b"+2",
            b"+",
            b"a+",
            b"+G0",
            b"+ 1",
            b"a=b",
            b" ",
            b"\x7f",
            b"\r\n",
            b"\0",
            "é".as_bytes(),
        ] {
            assert_eq!(xtext_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn xtext_round_trip_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let mut wire = Vec::new();
        xtext_encode(&all, &mut wire);
        assert!(wire.iter().all(|b| (0x21..=0x7e).contains(b) && *b != b'='));
        assert_eq!(xtext_decode(&wire), Some(all));
    }

    #[test]
    fn orcpt() {
        let o = Orcpt::rfc822("user+tag@example.org").unwrap();
        assert_eq!(o.addr_type.keyword(), "rfc822");
        assert_eq!(o.address.as_str(), "user+tag@example.org");
        let mut out = Vec::new();
        o.encode(&mut out);
        assert_eq!(out, b"rfc822;user+2Btag@example.org");
        assert!(Orcpt::new("x400", "c=us;a=x").is_ok());
        assert_eq!(Orcpt::rfc822("a@b\r\nDATA"), Err(control(b'\r', 3)));
        assert_eq!(Orcpt::rfc822("ü@b"), Err(forbidden(0xc3, 0)));
        assert_eq!(Orcpt::new("rfc 822", "a@b"), Err(forbidden(b' ', 3)));
        assert_eq!(Orcpt::new("rfc822\n", "a@b"), Err(control(b'\n', 6)));
    }

    #[test]
    fn mail_params_each() {
        let p = |f: fn(&mut MailParams)| {
            let mut m = MailParams::default();
            f(&mut m);
            mail(&m)
        };
        assert_eq!(mail(&MailParams::default()), "");
        assert_eq!(p(|m| m.size = Some(0)), " SIZE=0");
        assert_eq!(p(|m| m.size = Some(35_882_577)), " SIZE=35882577");
        assert_eq!(p(|m| m.body = Some(BodyType::SevenBit)), " BODY=7BIT");
        assert_eq!(
            p(|m| m.body = Some(BodyType::EightBitMime)),
            " BODY=8BITMIME"
        );
        assert_eq!(
            p(|m| m.body = Some(BodyType::BinaryMime)),
            " BODY=BINARYMIME"
        );
        assert_eq!(p(|m| m.smtputf8 = true), " SMTPUTF8");
        assert_eq!(p(|m| m.ret = Some(Ret::Full)), " RET=FULL");
        assert_eq!(p(|m| m.ret = Some(Ret::Hdrs)), " RET=HDRS");
        assert_eq!(
            p(|m| m.envid = XText::try_from("QQ314159+x").ok()),
            " ENVID=QQ314159+2Bx"
        );
        assert_eq!(p(|m| m.auth = Some(ReversePath::Null)), " AUTH=<>");
        assert_eq!(
            p(|m| m.auth = ReversePath::try_from("<e+=mc2@example.com>").ok()),
            " AUTH=e+2B+3Dmc2@example.com"
        );
        assert_eq!(
            p(|m| m.auth = ReversePath::try_from("\"a b\"@x").ok()),
            " AUTH=\"a+20b\"@x"
        );
        assert_eq!(
            p(|m| m.auth = ReversePath::try_from("ü@x").ok()),
            " AUTH=+C3+BC@x"
        );
        assert_eq!(p(|m| m.requiretls = true), " REQUIRETLS");
        assert_eq!(
            p(|m| m.other = vec![
                Param::try_from("B=1").unwrap(),
                Param::try_from("A").unwrap()
            ]),
            " B=1 A"
        );
    }

    #[test]
    fn mail_params_order() {
        let m = MailParams {
            size: Some(5),
            body: Some(BodyType::BinaryMime),
            smtputf8: true,
            ret: Some(Ret::Full),
            envid: XText::try_from("e").ok(),
            auth: ReversePath::try_from("a@b").ok(),
            requiretls: true,
            other: vec![Param::try_from("Z=9").unwrap()],
        };
        assert_eq!(
            mail(&m),
            " SIZE=5 BODY=BINARYMIME SMTPUTF8 RET=FULL ENVID=e AUTH=a@b REQUIRETLS Z=9"
        );
    }

    #[test]
    fn rcpt_params() {
        let notify = |success, failure, delay| RcptParams {
            notify: Some(Notify::On {
                success,
                failure,
                delay,
            }),
            ..RcptParams::default()
        };
        assert_eq!(rcpt(&RcptParams::default()), "");
        assert_eq!(
            rcpt(&RcptParams {
                notify: Some(Notify::Never),
                ..RcptParams::default()
            }),
            " NOTIFY=NEVER"
        );
        assert_eq!(rcpt(&notify(false, false, false)), " NOTIFY=NEVER");
        assert_eq!(rcpt(&notify(true, false, false)), " NOTIFY=SUCCESS");
        assert_eq!(rcpt(&notify(false, true, false)), " NOTIFY=FAILURE");
        assert_eq!(rcpt(&notify(false, false, true)), " NOTIFY=DELAY");
        assert_eq!(rcpt(&notify(true, false, true)), " NOTIFY=SUCCESS,DELAY");
        assert_eq!(rcpt(&notify(false, true, true)), " NOTIFY=FAILURE,DELAY");
        assert_eq!(
            rcpt(&notify(true, true, true)),
            " NOTIFY=SUCCESS,FAILURE,DELAY"
        );
        let all = RcptParams {
            notify: Some(Notify::Never),
            orcpt: Orcpt::rfc822("o=x@y").ok(),
            other: vec![
                Param::try_from("X-A=1").unwrap(),
                Param::try_from("X-B").unwrap(),
            ],
        };
        assert_eq!(rcpt(&all), " NOTIFY=NEVER ORCPT=rfc822;o+3Dx@y X-A=1 X-B");
    }

    #[test]
    fn needs_smtputf8() {
        let mut m = MailParams::default();
        assert!(!m.needs_smtputf8());
        m.auth = Some(ReversePath::Null);
        assert!(!m.needs_smtputf8());
        m.auth = Mailbox::try_from("a@b").ok().map(ReversePath::from);
        assert!(!m.needs_smtputf8());
        m.other.push(Param::try_from("X=y").unwrap());
        assert!(!m.needs_smtputf8());
        m.other.push(Param::try_from("X=ÿ").unwrap());
        assert!(m.needs_smtputf8());
        let m = MailParams {
            auth: Mailbox::try_from("ü@b").ok().map(ReversePath::from),
            ..MailParams::default()
        };
        assert!(m.needs_smtputf8());

        let mut r = RcptParams {
            orcpt: Orcpt::rfc822("a@b").ok(),
            ..RcptParams::default()
        };
        assert!(!r.needs_smtputf8());
        r.other.push(Param::try_from("X=ü").unwrap());
        assert!(r.needs_smtputf8());
    }

    #[test]
    fn as_str_of_enums() {
        assert_eq!(BodyType::SevenBit.as_str(), "7BIT");
        assert_eq!(Ret::Hdrs.as_str(), "HDRS");
    }
}
