//! SMTP commands (RFC 5321 §4.1) encoded to wire bytes: upper-case verbs, CRLF.
//!
//! Every argument is a validated newtype, so encoding cannot fail and cannot inject a second line.
//!
//! All validating constructors (`TryFrom<&str>`, `TryFrom<String>`, `Param::new`, …) check for control
//! bytes (0x00–0x1F and 0x7F, which includes CR, LF, NUL and HT) before any other rule, so an injection
//! attempt is always reported as [`InvalidInput::ControlByte`] naming the first such byte. Positions in
//! errors are 0-based byte offsets into the text as it was given.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// `TryFrom<&str>` and `TryFrom<String>` for a `Self(Box<str>)` newtype checked by its
/// `validate(&str)`: the text is kept as given.
macro_rules! validated_text {
    ($ty:ident) => {
        impl TryFrom<&str> for $ty {
            type Error = InvalidInput;

            fn try_from(s: &str) -> Result<Self, InvalidInput> {
                Self::validate(s)?;
                Ok(Self(s.into()))
            }
        }

        impl TryFrom<String> for $ty {
            type Error = InvalidInput;

            fn try_from(s: String) -> Result<Self, InvalidInput> {
                Self::validate(&s)?;
                Ok(Self(s.into_boxed_str()))
            }
        }
    };
}

mod param;
mod path;

pub use param::{
    xtext_decode, xtext_encode, BodyType, MailParams, Notify, Orcpt, Param, RcptParams, Ret, XText,
};
pub use path::{Domain, Mailbox, ReversePath};

/// Why user text was refused before it could reach the wire.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// A control byte (CR, LF, NUL, other C0, DEL) at `at`.
    #[error("control byte {byte:#04x} at position {at}")]
    ControlByte {
        /// The byte.
        byte: u8,
        /// Its 0-based position.
        at: usize,
    },
    /// A byte that is not allowed in this kind of value (e.g. `<` in a path, SP in a keyword).
    #[error("byte {byte:#04x} not allowed at position {at}")]
    ForbiddenByte {
        /// The byte.
        byte: u8,
        /// Its 0-based position.
        at: usize,
    },
    /// Longer than the RFC allows.
    #[error("{what} is {len} bytes long, the limit is {limit}")]
    TooLong {
        /// What was measured ("path", "local part", "domain", …).
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Empty where a value is required.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// Well-formed bytes, wrong shape.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// A SASL mechanism name (RFC 4422 §3.1: 1–20 of `A-Z 0-9 - _`, case-insensitive; kept upper case,
/// so `cram-md5` is accepted and stored as `CRAM-MD5`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MechanismName(Box<str>);

/// Free text after a verb (VRFY, EXPN, HELP, NOOP) or a whole raw command line (`docmd`):
/// any characters but controls (0x00–0x1F, 0x7F; HT included), UTF-8 allowed, non-empty, at most
/// [`Argument::MAX_LEN`] bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Argument(Box<str>);

/// A command, borrowing its validated parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `EHLO domain`
    Ehlo(&'a Domain),
    /// `HELO domain`
    Helo(&'a Domain),
    /// `LHLO domain` (RFC 2033)
    Lhlo(&'a Domain),
    /// `STARTTLS`
    StartTls,
    /// `AUTH mech [initial-response]`: the response is raw; the encoder base64s it, empty → `=`.
    Auth {
        /// The mechanism.
        mechanism: &'a MechanismName,
        /// SASL-IR (RFC 4954 §4), raw bytes.
        initial_response: Option<&'a [u8]>,
    },
    /// A response to a `334` challenge, raw; the encoder base64s it (empty → empty line).
    AuthResponse(&'a [u8]),
    /// `*`: cancel the exchange.
    AuthCancel,
    /// `MAIL FROM:<path> [params]`
    Mail {
        /// The reverse-path.
        from: &'a ReversePath,
        /// ESMTP parameters.
        params: &'a MailParams,
    },
    /// `RCPT TO:<path> [params]`
    Rcpt {
        /// The forward-path.
        to: &'a Mailbox,
        /// ESMTP parameters.
        params: &'a RcptParams,
    },
    /// `DATA`
    Data,
    /// `BDAT size [LAST]` (RFC 3030); the chunk follows separately.
    Bdat {
        /// Chunk size in bytes.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`
    Rset,
    /// `NOOP [arg]`
    Noop(Option<&'a Argument>),
    /// `QUIT`
    Quit,
    /// `VRFY arg`
    Vrfy(&'a Argument),
    /// `EXPN arg`
    Expn(&'a Argument),
    /// `HELP [arg]`
    Help(Option<&'a Argument>),
    /// A raw line (smtplib `docmd`), sent as is plus CRLF.
    Raw(&'a Argument),
}

impl Command<'_> {
    /// Appends the command line and its CRLF. Infallible: every part was validated when built.
    ///
    /// Spellings: `EHLO d`, `HELO d`, `LHLO d`, `STARTTLS`, `AUTH MECH [base64 | =]`, a bare base64
    /// line for [`Command::AuthResponse`] (an empty response is an empty line), `*`,
    /// `MAIL FROM:<path> [params]`, `RCPT TO:<path> [params]`, `DATA`, `BDAT n [LAST]`, `RSET`,
    /// `NOOP [arg]`, `QUIT`, `VRFY arg`, `EXPN arg`, `HELP [arg]`, and the raw line as is. Parameter order is
    /// documented on [`MailParams`] and [`RcptParams`].
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Self::Ehlo(d) => verb_arg(out, "EHLO", d.as_str()),
            Self::Helo(d) => verb_arg(out, "HELO", d.as_str()),
            Self::Lhlo(d) => verb_arg(out, "LHLO", d.as_str()),
            Self::StartTls => out.extend_from_slice(b"STARTTLS"),
            Self::Auth {
                mechanism,
                initial_response,
            } => {
                verb_arg(out, "AUTH", mechanism.as_str());
                match initial_response {
                    None => {}
                    Some([]) => out.extend_from_slice(b" ="),
                    Some(raw) => {
                        out.push(b' ');
                        push_base64(out, raw);
                    }
                }
            }
            Self::AuthResponse(raw) => push_base64(out, raw),
            Self::AuthCancel => out.push(b'*'),
            Self::Mail { from, params } => {
                out.extend_from_slice(b"MAIL FROM:<");
                if let ReversePath::Mailbox(m) = from {
                    out.extend_from_slice(m.as_str().as_bytes());
                }
                out.push(b'>');
                params.encode(out);
            }
            Self::Rcpt { to, params } => {
                out.extend_from_slice(b"RCPT TO:<");
                out.extend_from_slice(to.as_str().as_bytes());
                out.push(b'>');
                params.encode(out);
            }
            Self::Data => out.extend_from_slice(b"DATA"),
            Self::Bdat { size, last } => {
                out.extend_from_slice(b"BDAT ");
                push_u64(out, size);
                if last {
                    out.extend_from_slice(b" LAST");
                }
            }
            Self::Rset => out.extend_from_slice(b"RSET"),
            Self::Noop(None) => out.extend_from_slice(b"NOOP"),
            Self::Noop(Some(a)) => verb_arg(out, "NOOP", a.as_str()),
            Self::Quit => out.extend_from_slice(b"QUIT"),
            Self::Vrfy(a) => verb_arg(out, "VRFY", a.as_str()),
            Self::Expn(a) => verb_arg(out, "EXPN", a.as_str()),
            Self::Help(None) => out.extend_from_slice(b"HELP"),
            Self::Help(Some(a)) => verb_arg(out, "HELP", a.as_str()),
            Self::Raw(a) => out.extend_from_slice(a.as_str().as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Whether the encoded line carries SASL data (credentials, possibly in plain base64): `AUTH` with an
    /// initial response, and [`Command::AuthResponse`]. Transcripts should redact such lines.
    pub fn is_auth_payload(&self) -> bool {
        matches!(
            self,
            Self::Auth {
                initial_response: Some(_),
                ..
            } | Self::AuthResponse(_)
        )
    }

    /// The verb, upper case, for error messages and logs: `"EHLO"`, `"MAIL"`, `"BDAT"`, ….
    ///
    /// Lines without a verb of their own get a fixed name: `"AUTH-RESPONSE"` for
    /// [`Command::AuthResponse`] (never the payload itself), `"*"` for [`Command::AuthCancel`] (what is
    /// sent), and `""` for [`Command::Raw`] (unknown; the raw line is the caller's).
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Ehlo(_) => "EHLO",
            Self::Helo(_) => "HELO",
            Self::Lhlo(_) => "LHLO",
            Self::StartTls => "STARTTLS",
            Self::Auth { .. } => "AUTH",
            Self::AuthResponse(_) => "AUTH-RESPONSE",
            Self::AuthCancel => "*",
            Self::Mail { .. } => "MAIL",
            Self::Rcpt { .. } => "RCPT",
            Self::Data => "DATA",
            Self::Bdat { .. } => "BDAT",
            Self::Rset => "RSET",
            Self::Noop(_) => "NOOP",
            Self::Quit => "QUIT",
            Self::Vrfy(_) => "VRFY",
            Self::Expn(_) => "EXPN",
            Self::Help(_) => "HELP",
            Self::Raw(_) => "",
        }
    }
}

impl MechanismName {
    /// The longest name RFC 4422 §3.1 allows.
    pub const MAX_LEN: usize = 20;

    /// The name, upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn validate(s: &str) -> Result<(), InvalidInput> {
        check_controls(s)?;
        check_non_empty("mechanism name", s)?;
        check_len("mechanism name", s.len(), Self::MAX_LEN)?;
        check_bytes(s, 0, |b| {
            b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
        })
    }
}

impl TryFrom<&str> for MechanismName {
    type Error = InvalidInput;

    fn try_from(s: &str) -> Result<Self, InvalidInput> {
        Self::validate(s)?;
        Ok(Self(s.to_ascii_uppercase().into_boxed_str()))
    }
}

impl TryFrom<String> for MechanismName {
    type Error = InvalidInput;

    fn try_from(mut s: String) -> Result<Self, InvalidInput> {
        Self::validate(&s)?;
        s.make_ascii_uppercase();
        Ok(Self(s.into_boxed_str()))
    }
}

impl Argument {
    /// The longest argument accepted, in bytes.
    pub const MAX_LEN: usize = 1000;

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn validate(s: &str) -> Result<(), InvalidInput> {
        check_controls(s)?;
        check_non_empty("argument", s)?;
        check_len("argument", s.len(), Self::MAX_LEN)
    }
}

validated_text!(Argument);

/// Implements `AsRef<str>` and `Display` (the validated text) for a type with `as_str`.
macro_rules! text_impls {
    ($($t:ty),*) => {$(
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

text_impls!(MechanismName, Argument, Domain, Mailbox, XText);

/// Whether `b` is a control byte: C0 (0x00–0x1F) or DEL.
fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// Refuses the first control byte of `s`. Every validator calls this first.
fn check_controls(s: &str) -> Result<(), InvalidInput> {
    match s.bytes().enumerate().find(|&(_, b)| is_control(b)) {
        Some((at, byte)) => Err(InvalidInput::ControlByte { byte, at }),
        None => Ok(()),
    }
}

/// Refuses the first byte of `s` that `allowed` rejects; positions are shifted by `offset`.
fn check_bytes(s: &str, offset: usize, allowed: impl Fn(u8) -> bool) -> Result<(), InvalidInput> {
    match s.bytes().enumerate().find(|&(_, b)| !allowed(b)) {
        Some((i, byte)) => Err(InvalidInput::ForbiddenByte {
            byte,
            at: offset.saturating_add(i),
        }),
        None => Ok(()),
    }
}

/// Refuses a length over `limit`.
fn check_len(what: &'static str, len: usize, limit: usize) -> Result<(), InvalidInput> {
    if len > limit {
        Err(InvalidInput::TooLong { what, len, limit })
    } else {
        Ok(())
    }
}

/// Refuses an empty value.
fn check_non_empty(what: &'static str, s: &str) -> Result<(), InvalidInput> {
    if s.is_empty() {
        Err(InvalidInput::Empty(what))
    } else {
        Ok(())
    }
}

/// `VERB SP arg`, no CRLF.
fn verb_arg(out: &mut Vec<u8>, verb: &str, arg: &str) {
    out.extend_from_slice(verb.as_bytes());
    out.push(b' ');
    out.extend_from_slice(arg.as_bytes());
}

/// Standard base64 with padding.
fn push_base64(out: &mut Vec<u8>, raw: &[u8]) {
    out.extend_from_slice(STANDARD.encode(raw).as_bytes());
}

/// Decimal digits of `n`, without allocating.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let start = out.len();
    loop {
        out.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if let Some(digits) = out.get_mut(start..) {
        digits.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(c: Command<'_>) -> String {
        let mut out = Vec::new();
        c.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn control(byte: u8, at: usize) -> InvalidInput {
        InvalidInput::ControlByte { byte, at }
    }

    #[test]
    fn mechanism_name_rules() {
        let m = MechanismName::try_from("cram-md5").unwrap();
        assert_eq!(m.as_str(), "CRAM-MD5");
        assert_eq!(m.to_string(), "CRAM-MD5");
        assert_eq!(
            MechanismName::try_from("Scram_Sha-1".to_owned())
                .unwrap()
                .as_str(),
            "SCRAM_SHA-1"
        );
        assert!(MechanismName::try_from("A".repeat(20).as_str()).is_ok());
        assert_eq!(
            MechanismName::try_from("A".repeat(21).as_str()),
            Err(InvalidInput::TooLong {
                what: "mechanism name",
                len: 21,
                limit: 20
            })
        );
        assert_eq!(
            MechanismName::try_from(""),
            Err(InvalidInput::Empty("mechanism name"))
        );
        assert_eq!(
            MechanismName::try_from("PL AIN"),
            Err(InvalidInput::ForbiddenByte { byte: b' ', at: 2 })
        );
        assert_eq!(
            MechanismName::try_from("X.Y"),
            Err(InvalidInput::ForbiddenByte { byte: b'.', at: 1 })
        );
        assert_eq!(
            MechanismName::try_from("é"),
            Err(InvalidInput::ForbiddenByte { byte: 0xc3, at: 0 })
        );
        assert_eq!(MechanismName::try_from("PLAIN\r\n"), Err(control(b'\r', 5)));
        assert_eq!(MechanismName::try_from("\0"), Err(control(0, 0)));
        let long = format!("{}\n", "A".repeat(30));
        assert_eq!(MechanismName::try_from(long), Err(control(b'\n', 30)));
    }

    #[test]
    fn argument_rules() {
        for ok in ["hello world", "<user@example.org>", "ünïcödé", "x"] {
            let a = Argument::try_from(ok).unwrap();
            assert_eq!(a.as_str(), ok);
            assert_eq!(a.to_string(), ok);
            assert_eq!(Argument::try_from(ok.to_owned()), Ok(a));
        }
        assert!(Argument::try_from("a".repeat(1000).as_str()).is_ok());
        assert_eq!(
            Argument::try_from("a".repeat(1001)),
            Err(InvalidInput::TooLong {
                what: "argument",
                len: 1001,
                limit: 1000
            })
        );
        assert_eq!(Argument::try_from(""), Err(InvalidInput::Empty("argument")));
        assert_eq!(Argument::try_from("x\r\nRSET"), Err(control(b'\r', 1)));
        assert_eq!(Argument::try_from("x\nRSET"), Err(control(b'\n', 1)));
        assert_eq!(Argument::try_from("a\tb"), Err(control(b'\t', 1)));
        assert_eq!(Argument::try_from("ab\0"), Err(control(0, 2)));
        assert_eq!(Argument::try_from("\x7f"), Err(control(0x7f, 0)));
        assert_eq!(
            Argument::try_from(format!("{}\r", "a".repeat(1200))),
            Err(control(b'\r', 1200))
        );
    }

    #[test]
    fn encodes_simple_commands() {
        let d = Domain::try_from("client.example.org").unwrap();
        let a = Argument::try_from("some arg").unwrap();
        assert_eq!(enc(Command::Ehlo(&d)), "EHLO client.example.org\r\n");
        assert_eq!(enc(Command::Helo(&d)), "HELO client.example.org\r\n");
        assert_eq!(enc(Command::Lhlo(&d)), "LHLO client.example.org\r\n");
        assert_eq!(enc(Command::StartTls), "STARTTLS\r\n");
        assert_eq!(enc(Command::Data), "DATA\r\n");
        assert_eq!(enc(Command::Rset), "RSET\r\n");
        assert_eq!(enc(Command::Quit), "QUIT\r\n");
        assert_eq!(enc(Command::Noop(None)), "NOOP\r\n");
        assert_eq!(enc(Command::Noop(Some(&a))), "NOOP some arg\r\n");
        assert_eq!(enc(Command::Vrfy(&a)), "VRFY some arg\r\n");
        assert_eq!(enc(Command::Expn(&a)), "EXPN some arg\r\n");
        assert_eq!(enc(Command::Help(None)), "HELP\r\n");
        assert_eq!(enc(Command::Help(Some(&a))), "HELP some arg\r\n");
        assert_eq!(enc(Command::Raw(&a)), "some arg\r\n");
        assert_eq!(
            enc(Command::Bdat {
                size: 0,
                last: false
            }),
            "BDAT 0\r\n"
        );
        assert_eq!(
            enc(Command::Bdat {
                size: 1234,
                last: true
            }),
            "BDAT 1234 LAST\r\n"
        );
        assert_eq!(
            enc(Command::Bdat {
                size: u64::MAX,
                last: false
            }),
            "BDAT 18446744073709551615\r\n"
        );
        let lit = Domain::try_from("[IPv6:2001:db8::1]").unwrap();
        assert_eq!(enc(Command::Ehlo(&lit)), "EHLO [IPv6:2001:db8::1]\r\n");
    }

    #[test]
    fn encode_appends() {
        let mut out = b"prefix".to_vec();
        Command::Quit.encode(&mut out);
        Command::Rset.encode(&mut out);
        assert_eq!(out, b"prefixQUIT\r\nRSET\r\n");
    }

    #[test]
    fn encodes_auth() {
        let plain = MechanismName::try_from("plain").unwrap();
        let auth = |initial_response| Command::Auth {
            mechanism: &plain,
            initial_response,
        };
        assert_eq!(enc(auth(None)), "AUTH PLAIN\r\n");
        assert_eq!(enc(auth(Some(b""))), "AUTH PLAIN =\r\n");
        assert_eq!(
            enc(auth(Some(b"\0alice\0secret"))),
            "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"
        );
        assert_eq!(enc(auth(Some(b"a"))), "AUTH PLAIN YQ==\r\n");
        assert_eq!(enc(Command::AuthResponse(b"test")), "dGVzdA==\r\n");
        assert_eq!(enc(Command::AuthResponse(b"\xff\xfe\r\n")), "//4NCg==\r\n");
        assert_eq!(enc(Command::AuthResponse(b"")), "\r\n");
        assert_eq!(enc(Command::AuthCancel), "*\r\n");
    }

    #[test]
    fn encodes_mail_and_rcpt() {
        let null = ReversePath::Null;
        let from = ReversePath::try_from("<sender@example.org>").unwrap();
        let none = MailParams::default();
        assert_eq!(
            enc(Command::Mail {
                from: &null,
                params: &none
            }),
            "MAIL FROM:<>\r\n"
        );
        assert_eq!(
            enc(Command::Mail {
                from: &from,
                params: &none
            }),
            "MAIL FROM:<sender@example.org>\r\n"
        );
        let all = MailParams {
            size: Some(1000),
            body: Some(BodyType::EightBitMime),
            smtputf8: true,
            ret: Some(Ret::Hdrs),
            envid: Some(XText::try_from("id 1").unwrap()),
            auth: Some(ReversePath::Null),
            requiretls: true,
            other: vec![
                Param::try_from("MT-PRIORITY=3").unwrap(),
                Param::try_from("X-FLAG").unwrap(),
            ],
        };
        assert_eq!(
            enc(Command::Mail {
                from: &from,
                params: &all
            }),
            "MAIL FROM:<sender@example.org> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS \
             ENVID=id+201 AUTH=<> REQUIRETLS MT-PRIORITY=3 X-FLAG\r\n"
        );
        let to = Mailbox::try_from("rcpt@example.net").unwrap();
        let pm = Mailbox::try_from("Postmaster").unwrap();
        assert_eq!(
            enc(Command::Rcpt {
                to: &to,
                params: &RcptParams::default()
            }),
            "RCPT TO:<rcpt@example.net>\r\n"
        );
        assert_eq!(
            enc(Command::Rcpt {
                to: &pm,
                params: &RcptParams::default()
            }),
            "RCPT TO:<Postmaster>\r\n"
        );
        let rp = RcptParams {
            notify: Some(Notify::On {
                success: true,
                failure: true,
                delay: false,
            }),
            orcpt: Some(Orcpt::rfc822("rcpt+x@example.net").unwrap()),
            other: vec![Param::try_from("RRVS=2030-01-01T00:00:00Z").unwrap()],
        };
        assert_eq!(
            enc(Command::Rcpt {
                to: &to,
                params: &rp
            }),
            "RCPT TO:<rcpt@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;rcpt+2Bx@example.net \
             RRVS=2030-01-01T00:00:00Z\r\n"
        );
    }

    #[test]
    fn verbs_and_auth_payload() {
        let d = Domain::try_from("x").unwrap();
        let a = Argument::try_from("x").unwrap();
        let m = MechanismName::try_from("LOGIN").unwrap();
        let mb = Mailbox::try_from("a@b").unwrap();
        let rp = ReversePath::Null;
        let mp = MailParams::default();
        let rcp = RcptParams::default();
        let cases: [(Command<'_>, &str, bool); 19] = [
            (Command::Ehlo(&d), "EHLO", false),
            (Command::Helo(&d), "HELO", false),
            (Command::Lhlo(&d), "LHLO", false),
            (Command::StartTls, "STARTTLS", false),
            (
                Command::Auth {
                    mechanism: &m,
                    initial_response: None,
                },
                "AUTH",
                false,
            ),
            (
                Command::Auth {
                    mechanism: &m,
                    initial_response: Some(b""),
                },
                "AUTH",
                true,
            ),
            (Command::AuthResponse(b"secret"), "AUTH-RESPONSE", true),
            (Command::AuthCancel, "*", false),
            (
                Command::Mail {
                    from: &rp,
                    params: &mp,
                },
                "MAIL",
                false,
            ),
            (
                Command::Rcpt {
                    to: &mb,
                    params: &rcp,
                },
                "RCPT",
                false,
            ),
            (Command::Data, "DATA", false),
            (
                Command::Bdat {
                    size: 1,
                    last: true,
                },
                "BDAT",
                false,
            ),
            (Command::Rset, "RSET", false),
            (Command::Noop(None), "NOOP", false),
            (Command::Quit, "QUIT", false),
            (Command::Vrfy(&a), "VRFY", false),
            (Command::Expn(&a), "EXPN", false),
            (Command::Help(Some(&a)), "HELP", false),
            (Command::Raw(&a), "", false),
        ];
        for (cmd, verb, payload) in cases {
            assert_eq!(cmd.verb(), verb, "{cmd:?}");
            assert_eq!(cmd.is_auth_payload(), payload, "{cmd:?}");
            // Every verb but the AuthResponse name is what the line starts with.
            let line = enc(cmd);
            assert_eq!(line.starts_with(verb), verb != "AUTH-RESPONSE", "{line:?}");
        }
    }

    #[test]
    fn push_u64_digits() {
        for (n, s) in [(0, "0"), (9, "9"), (10, "10"), (1_000_000, "1000000")] {
            let mut out = vec![b'x'];
            push_u64(&mut out, n);
            assert_eq!(out, format!("x{s}").as_bytes());
        }
    }
}
