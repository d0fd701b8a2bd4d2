//! SASL client mechanisms (RFC 4422) as tiny state machines behind one trait.
//!
//! # Who does what
//!
//! A mechanism never sees SMTP. The SMTP client owns everything on the wire: the `AUTH`
//! command, base64 in both directions, the `334` loop, `*` cancellation, the RFC 4954
//! line-length rule and the choice between sending the initial response inline (SASL-IR,
//! RFC 4954 §4) or after an empty `334`. A [`Mechanism`] only turns decoded challenges into
//! raw responses:
//!
//! 1. The client calls [`Mechanism::initial_response`] at most once, before anything else.
//!    `Some(bytes)` is the client's first message; the client sends it inline or after the
//!    server's empty `334`, as it sees fit. `None` means the mechanism waits for a challenge.
//! 2. For every `334` that follows, the client decodes the text with [`decode_challenge`] and
//!    passes the raw bytes to [`Mechanism::respond`], then sends the returned bytes (base64).
//! 3. When `respond` returns [`SaslError::UnexpectedChallenge`], the mechanism cannot go on:
//!    the client cancels the exchange with `*`.
//! 4. The final `5xx` reply ends the exchange; the mechanism is not told about it. On the
//!    final `235` the client calls [`Mechanism::finish`]: a mechanism that authenticates the
//!    server (SCRAM) refuses a success it has not verified, and the client then ends the
//!    session with that error instead of reporting success.
//!
//! As a convenience (RFC 4422 §4), a client-first mechanism whose initial response was never
//! taken answers an *empty* challenge with that initial response; a client that follows the
//! contract above never relies on this.
//!
//! Credentials that a mechanism's wire format cannot carry (e.g. a NUL inside a PLAIN user
//! name, which would shift the fields the server sees) are refused when the mechanism is built,
//! with [`SaslError::InvalidCredential`]. Passwords and tokens are held in [`Secret`], so no
//! mechanism's `Debug` output shows them; responses come back as `Secret<Vec<u8>>` too.
//!
//! # Example
//!
//! ```
//! use smtp_proto::sasl::{Mechanism, Plain, SaslError};
//!
//! let mut plain = Plain::new("tim", "tanstaaftanstaaf")?;
//! assert_eq!(plain.name(), "PLAIN");
//! let ir = plain.initial_response().expect("PLAIN is client-first");
//! assert_eq!(ir.expose().as_slice(), b"\0tim\0tanstaaftanstaaf");
//! // PLAIN has nothing more to say: any challenge is a protocol error.
//! assert_eq!(plain.respond(b"more?").unwrap_err(), SaslError::UnexpectedChallenge);
//! # Ok::<(), SaslError>(())
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

#[cfg(feature = "cram-md5")]
mod cram_md5;
mod external;
mod login;
mod oauthbearer;
mod plain;
#[cfg(feature = "scram")]
mod scram;
mod xoauth2;

#[cfg(feature = "cram-md5")]
pub use cram_md5::CramMd5;
pub use external::External;
pub use login::Login;
pub use oauthbearer::OAuthBearer;
pub use plain::Plain;
#[cfg(feature = "scram")]
pub use scram::{Scram, ScramHash};
pub use xoauth2::XOAuth2;

/// `login()`'s order: SCRAM-SHA-256, SCRAM-SHA-1 (with the `scram` feature), then smtplib's
/// CRAM-MD5, PLAIN, LOGIN.
#[cfg(feature = "scram")]
pub const DEFAULT_PREFERENCE: &[&str] =
    &["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"];

/// `login()`'s order: smtplib's CRAM-MD5, PLAIN, LOGIN (SCRAM-SHA-256 and SCRAM-SHA-1 come
/// first with the `scram` feature).
#[cfg(not(feature = "scram"))]
pub const DEFAULT_PREFERENCE: &[&str] = &["CRAM-MD5", "PLAIN", "LOGIN"];

/// The longest server error text (in bytes) that XOAUTH2 and OAUTHBEARER keep; longer texts
/// are cut at a character boundary.
pub const MAX_ERROR_LEN: usize = 4096;

/// A value whose `Debug` output is redacted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret.
    pub fn new(value: T) -> Self {
        Self(value)
    }
    /// The secret itself.
    pub fn expose(&self) -> &T {
        &self.0
    }
    /// Unwraps the secret.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// SASL errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// A `334` challenge that is not valid base64.
    #[error("challenge is not valid base64")]
    InvalidBase64,
    /// The mechanism got a challenge it did not expect (e.g. a third LOGIN round).
    #[error("unexpected challenge")]
    UnexpectedChallenge,
    /// A credential the mechanism's wire format cannot carry; the text names the field and
    /// the problem (e.g. `"PLAIN user name contains NUL"`), never the value.
    #[error("invalid credential: {0}")]
    InvalidCredential(&'static str),
    /// A challenge the mechanism cannot accept (e.g. a SCRAM server-first message without a
    /// salt); the text names the problem.
    #[error("invalid challenge: {0}")]
    InvalidChallenge(&'static str),
    /// The server reported an error inside the exchange (SCRAM's `e=`); lossy UTF-8, at most
    /// [`MAX_ERROR_LEN`] bytes.
    #[error("server error: {0}")]
    ServerError(String),
    /// The server's proof that it knows the password (SCRAM's `v=`) is wrong.
    #[error("server signature does not match")]
    ServerSignatureMismatch,
    /// The server reported success without proving that it knows the password (SCRAM: a `235`
    /// before a valid `v=`).
    #[error("server reported success without proving that it knows the password")]
    ServerNotVerified,
    /// The operating system gave no random bytes for a nonce.
    #[error("no random bytes for a nonce")]
    NoRandomness,
}

/// A client-side SASL mechanism.
pub trait Mechanism: Send {
    /// The mechanism's name, e.g. `"PLAIN"`.
    fn name(&self) -> &str;
    /// SASL-IR (RFC 4954 §4): the initial response, raw bytes, if the mechanism has one.
    ///
    /// Meant to be called once, first; a client-first mechanism returns `None` once its
    /// initial response has been taken.
    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>>;
    /// Answers one decoded `334` challenge.
    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError>;
    /// Called when the server reports success (`235`). A mechanism that authenticates the
    /// server returns an error when the server has not proved itself (SCRAM:
    /// [`SaslError::ServerNotVerified`]); the default accepts.
    fn finish(&mut self) -> Result<(), SaslError> {
        Ok(())
    }
}

/// Decodes a `334` challenge text strictly (standard alphabet, padding required).
///
/// An empty text decodes to nothing. Anything else that is not canonical base64 (characters
/// outside the alphabet, whitespace, missing or extra padding, non-zero trailing bits) is
/// [`SaslError::InvalidBase64`].
pub fn decode_challenge(text: &[u8]) -> Result<Vec<u8>, SaslError> {
    STANDARD.decode(text).map_err(|_| SaslError::InvalidBase64)
}

/// Appends the base64 (standard alphabet, padded) of `raw` to `out`.
///
/// An empty `raw` appends nothing: whether that becomes an empty line or `=` (an empty
/// SASL-IR, RFC 4954 §4) is the caller's business.
pub fn encode_response(raw: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(STANDARD.encode(raw).as_bytes());
}

/// The mechanism `name` (case-insensitive) built from a user name and password, for
/// `login()`: SCRAM-SHA-256 and SCRAM-SHA-1 (with a random nonce; `scram` feature), CRAM-MD5
/// (`cram-md5` feature), PLAIN, LOGIN; `None` for anything else.
///
/// Also `None` when the mechanism cannot carry these credentials (PLAIN refuses a NUL in the
/// user name or password, SCRAM a password that is not printable ASCII), so a caller walking a
/// preference list simply tries the next name.
pub fn password_mechanism(name: &str, user: &str, password: &str) -> Option<Box<dyn Mechanism>> {
    #[cfg(feature = "scram")]
    for hash in [ScramHash::Sha256, ScramHash::Sha1] {
        if name.eq_ignore_ascii_case(hash.mechanism_name()) {
            return Scram::new(hash, user, password)
                .ok()
                .map(|m| Box::new(m) as Box<dyn Mechanism>);
        }
    }
    #[cfg(feature = "cram-md5")]
    if name.eq_ignore_ascii_case("CRAM-MD5") {
        return Some(Box::new(CramMd5::new(user, password)));
    }
    if name.eq_ignore_ascii_case("PLAIN") {
        return Plain::new(user, password)
            .ok()
            .map(|m| Box::new(m) as Box<dyn Mechanism>);
    }
    if name.eq_ignore_ascii_case("LOGIN") {
        return Some(Box::new(Login::new(user, password)));
    }
    None
}

/// Any mechanism of this module by `name` (case-insensitive), for a caller that names one:
/// those of [`password_mechanism`], plus XOAUTH2 and OAUTHBEARER (`secret` is the OAuth 2.0
/// token) and EXTERNAL (`user`, if not empty, is the authorization identity; `secret` is not
/// used). `None` for an unknown name, or credentials the mechanism cannot carry.
pub fn named_mechanism(name: &str, user: &str, secret: &str) -> Option<Box<dyn Mechanism>> {
    if name.eq_ignore_ascii_case("XOAUTH2") {
        return XOAuth2::new(user, secret)
            .ok()
            .map(|m| Box::new(m) as Box<dyn Mechanism>);
    }
    if name.eq_ignore_ascii_case("OAUTHBEARER") {
        return OAuthBearer::new(user, secret)
            .ok()
            .map(|m| Box::new(m) as Box<dyn Mechanism>);
    }
    if name.eq_ignore_ascii_case("EXTERNAL") {
        let external = if user.is_empty() {
            Ok(External::new())
        } else {
            External::new().with_authzid(user)
        };
        return external.ok().map(|m| Box::new(m) as Box<dyn Mechanism>);
    }
    password_mechanism(name, user, secret)
}

/// `Err(InvalidCredential(what))` when `value` contains any of the `forbidden` bytes.
fn refuse(value: &str, forbidden: &[u8], what: &'static str) -> Result<(), SaslError> {
    if value.bytes().any(|b| forbidden.contains(&b)) {
        Err(SaslError::InvalidCredential(what))
    } else {
        Ok(())
    }
}

/// A server's error challenge as text: lossy UTF-8, at most [`MAX_ERROR_LEN`] bytes.
fn error_text(challenge: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(challenge).into_owned();
    if text.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Where a client-first mechanism (one whose whole exchange is its initial response) stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Step {
    /// The initial response has not been produced yet.
    #[default]
    Start,
    /// The initial response went out.
    Sent,
    /// The exchange is over as far as the mechanism is concerned.
    Done,
}

/// The exchange shared by PLAIN, EXTERNAL, XOAUTH2 and OAUTHBEARER: one client message, sent
/// as the initial response or after an empty challenge (RFC 4422 §4); after it, either any
/// challenge is unexpected or, for the OAuth mechanisms, one error challenge is recorded and
/// answered with a fixed response so that the server sends its final reply.
#[derive(Clone, Debug, Default)]
struct ClientFirst {
    step: Step,
    error: Option<String>,
}

impl ClientFirst {
    /// The initial response, once.
    fn initial(&mut self, message: Secret<Vec<u8>>) -> Option<Secret<Vec<u8>>> {
        if self.step != Step::Start {
            return None;
        }
        self.step = Step::Sent;
        Some(message)
    }

    /// Answers one challenge; `error_answer` is the OAuth error-dance response, if any.
    fn respond(
        &mut self,
        challenge: &[u8],
        message: Secret<Vec<u8>>,
        error_answer: Option<&[u8]>,
    ) -> Result<Secret<Vec<u8>>, SaslError> {
        match (self.step, error_answer) {
            (Step::Start, _) if challenge.is_empty() => {
                self.step = Step::Sent;
                Ok(message)
            }
            (Step::Sent, Some(answer)) => {
                self.error = Some(error_text(challenge));
                self.step = Step::Done;
                Ok(Secret::new(answer.to_vec()))
            }
            _ => {
                self.step = Step::Done;
                Err(SaslError::UnexpectedChallenge)
            }
        }
    }

    /// The recorded error challenge.
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_valid_vectors() {
        assert_eq!(decode_challenge(b"").unwrap(), b"");
        assert_eq!(decode_challenge(b"Zg==").unwrap(), b"f");
        assert_eq!(decode_challenge(b"Zm8=").unwrap(), b"fo");
        assert_eq!(decode_challenge(b"Zm9v").unwrap(), b"foo");
        assert_eq!(decode_challenge(b"VXNlcm5hbWU6").unwrap(), b"Username:");
        assert_eq!(decode_challenge(b"+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        assert_eq!(decode_challenge(b"AA==").unwrap(), [0]);
    }

    #[test]
    fn decode_rejects_missing_padding() {
        assert_eq!(decode_challenge(b"Zg"), Err(SaslError::InvalidBase64));
        assert_eq!(decode_challenge(b"Zm8"), Err(SaslError::InvalidBase64));
        assert_eq!(decode_challenge(b"Zg="), Err(SaslError::InvalidBase64));
    }

    #[test]
    fn decode_rejects_extra_or_misplaced_padding() {
        for bad in [
            &b"Zm9v===="[..],
            b"Zm9v=",
            b"Zg===",
            b"Zm8==",
            b"=",
            b"====",
            b"Zg==Zg==",
            b"Z=g=",
        ] {
            assert_eq!(
                decode_challenge(bad),
                Err(SaslError::InvalidBase64),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn decode_rejects_invalid_chars_and_whitespace() {
        for bad in [
            &b"Zm9v!"[..],
            b"Zm-v",
            b"Zm_v",
            b"Zm9v\0",
            b"Zm9v\xff",
            b" Zm9v",
            b"Zm9v ",
            b"Zm 9v",
            b"Zm9v\r\n",
            b"Zm\t9v",
            b"Z",
        ] {
            assert_eq!(
                decode_challenge(bad),
                Err(SaslError::InvalidBase64),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn decode_rejects_non_canonical_trailing_bits() {
        // "Zh==" carries bits the canonical encoding of "f" ("Zg==") leaves zero.
        assert_eq!(decode_challenge(b"Zh=="), Err(SaslError::InvalidBase64));
        assert_eq!(decode_challenge(b"Zm9="), Err(SaslError::InvalidBase64));
    }

    #[test]
    fn encode_appends() {
        let mut out = b"AUTH PLAIN ".to_vec();
        encode_response(b"\0tim\0tanstaaftanstaaf", &mut out);
        assert_eq!(out, b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
        let mut empty = Vec::new();
        encode_response(b"", &mut empty);
        assert!(empty.is_empty());
    }

    #[test]
    fn encode_decode_round_trip() {
        let raw: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        encode_response(&raw, &mut out);
        assert_eq!(decode_challenge(&out).unwrap(), raw);
    }

    #[test]
    fn secret_is_redacted() {
        let s = Secret::new(String::from("hunter2"));
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.into_inner(), "hunter2");
    }

    #[test]
    fn password_mechanism_matches_case_insensitively() {
        for (name, canonical) in [
            ("PLAIN", "PLAIN"),
            ("plain", "PLAIN"),
            ("PlAiN", "PLAIN"),
            ("LOGIN", "LOGIN"),
            ("login", "LOGIN"),
        ] {
            let m = password_mechanism(name, "u", "p").unwrap();
            assert_eq!(m.name(), canonical);
        }
    }

    #[cfg(feature = "cram-md5")]
    #[test]
    fn password_mechanism_builds_cram_md5() {
        for name in ["CRAM-MD5", "cram-md5", "Cram-Md5"] {
            assert_eq!(
                password_mechanism(name, "u", "p").unwrap().name(),
                "CRAM-MD5"
            );
        }
    }

    #[cfg(feature = "scram")]
    #[test]
    fn password_mechanism_builds_scram() {
        for (name, canonical) in [
            ("SCRAM-SHA-256", "SCRAM-SHA-256"),
            ("scram-sha-256", "SCRAM-SHA-256"),
            ("SCRAM-SHA-1", "SCRAM-SHA-1"),
            ("Scram-Sha-1", "SCRAM-SHA-1"),
        ] {
            let mut m = password_mechanism(name, "user", "pencil").unwrap();
            assert_eq!(m.name(), canonical);
            let first = m.initial_response().unwrap();
            // `n,,n=user,r=` and 24 base64 characters of random nonce.
            let first = first.expose();
            assert!(first.starts_with(b"n,,n=user,r="), "{first:?}");
            assert_eq!(first.len(), "n,,n=user,r=".len() + 24);
        }
        // Two mechanisms never share a nonce.
        let a = password_mechanism("SCRAM-SHA-256", "u", "p")
            .unwrap()
            .initial_response();
        let b = password_mechanism("SCRAM-SHA-256", "u", "p")
            .unwrap()
            .initial_response();
        assert_ne!(a, b);
        // A password SCRAM cannot carry leaves the name to the next mechanism.
        assert!(password_mechanism("SCRAM-SHA-256", "user", "pässword").is_none());
        assert_eq!(
            DEFAULT_PREFERENCE,
            ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]
        );
    }

    #[cfg(not(feature = "scram"))]
    #[test]
    fn password_mechanism_without_scram() {
        assert!(password_mechanism("SCRAM-SHA-256", "u", "p").is_none());
        assert!(password_mechanism("SCRAM-SHA-1", "u", "p").is_none());
        assert_eq!(DEFAULT_PREFERENCE, ["CRAM-MD5", "PLAIN", "LOGIN"]);
    }

    #[cfg(not(feature = "cram-md5"))]
    #[test]
    fn password_mechanism_without_cram_md5() {
        assert!(password_mechanism("CRAM-MD5", "u", "p").is_none());
    }

    #[test]
    fn password_mechanism_refuses_unknown_names() {
        for name in [
            "",
            "XOAUTH2",
            "OAUTHBEARER",
            "EXTERNAL",
            "GSSAPI",
            "PLAIN ",
            " PLAIN",
            "PLAINX",
            "LOGI",
            "CRAM-MD",
            "CRAM_MD5",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-512",
        ] {
            assert!(password_mechanism(name, "u", "p").is_none(), "{name:?}");
        }
    }

    #[test]
    fn password_mechanism_produces_working_mechanisms() {
        let mut plain = password_mechanism("plain", "tim", "pw").unwrap();
        assert_eq!(plain.initial_response().unwrap().expose(), b"\0tim\0pw");
        let mut login = password_mechanism("login", "tim", "pw").unwrap();
        assert!(login.initial_response().is_none());
        assert_eq!(login.respond(b"Username:").unwrap().expose(), b"tim");
        assert_eq!(login.respond(b"Password:").unwrap().expose(), b"pw");
    }

    #[test]
    fn password_mechanism_plain_refuses_nul() {
        assert!(password_mechanism("PLAIN", "a\0b", "pw").is_none());
        assert!(password_mechanism("PLAIN", "tim", "p\0w").is_none());
        // LOGIN sends each field on its own, so it can carry a NUL.
        assert!(password_mechanism("LOGIN", "a\0b", "pw").is_some());
    }

    #[test]
    fn mechanisms_are_send_and_object_safe() {
        fn assert_send<T: Send>(_: &T) {}
        let boxed: Vec<Box<dyn Mechanism>> = vec![
            Box::new(Plain::new("u", "p").unwrap()),
            Box::new(Login::new("u", "p")),
            Box::new(XOAuth2::new("u", "t").unwrap()),
            Box::new(OAuthBearer::new("u", "t").unwrap()),
            Box::new(External::new()),
        ];
        assert_send(&boxed);
        let names: Vec<&str> = boxed.iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", "EXTERNAL"]
        );
    }

    #[test]
    fn error_text_is_lossy_and_bounded() {
        assert_eq!(error_text(b"{\"status\":\"401\"}"), "{\"status\":\"401\"}");
        assert_eq!(error_text(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(error_text(&[b'x'; MAX_ERROR_LEN + 10]).len(), MAX_ERROR_LEN);
        // A two-byte character straddling the limit is dropped whole.
        let mut long = vec![b'x'; MAX_ERROR_LEN - 1];
        long.extend_from_slice("é".as_bytes());
        let text = error_text(&long);
        assert_eq!(text.len(), MAX_ERROR_LEN - 1);
        assert!(text.bytes().all(|b| b == b'x'));
    }

    #[test]
    fn refuse_names_the_field_only() {
        assert_eq!(refuse("ok", b"\0", "f"), Ok(()));
        let err = refuse("secret\0", b"\0", "field contains NUL").unwrap_err();
        assert_eq!(err, SaslError::InvalidCredential("field contains NUL"));
        assert!(!err.to_string().contains("secret"));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics_and_round_trips(text: Vec<u8>, raw: Vec<u8>) {
            let _ = decode_challenge(&text);
            let mut wire = Vec::new();
            encode_response(&raw, &mut wire);
            proptest::prop_assert_eq!(decode_challenge(&wire), Ok(raw));
        }

        #[test]
        fn mechanisms_never_panic(
            challenges: Vec<Vec<u8>>,
            take_ir: bool,
            user in "\\PC*",
            secret in "\\PC*",
        ) {
            let mut all: Vec<Box<dyn Mechanism>> = vec![Box::new(Login::new(&*user, &*secret))];
            #[cfg(feature = "cram-md5")]
            all.push(Box::new(CramMd5::new(&*user, &*secret)));
            all.extend(Plain::new(&*user, &*secret).ok().map(|m| Box::new(m) as Box<dyn Mechanism>));
            all.extend(XOAuth2::new(&*user, &*secret).ok().map(|m| Box::new(m) as Box<dyn Mechanism>));
            all.extend(OAuthBearer::new(&*user, &*secret).ok().map(|m| Box::new(m) as Box<dyn Mechanism>));
            all.extend(External::new().with_authzid(&*user).ok().map(|m| Box::new(m) as Box<dyn Mechanism>));
            #[cfg(feature = "scram")]
            for hash in [ScramHash::Sha1, ScramHash::Sha256] {
                all.extend(Scram::with_nonce(hash, &*user, &*secret, "fyko+d2lbbFgONRv9qkxdawL").ok().map(|m| Box::new(m) as Box<dyn Mechanism>));
            }
            for mut m in all {
                if take_ir {
                    let _ = m.initial_response();
                }
                let mut answered = 0usize;
                for c in &challenges {
                    if m.respond(c).is_ok() {
                        answered += 1;
                    }
                }
                // No mechanism answers more than two challenges.
                proptest::prop_assert!(answered <= 2, "{} answered {answered}", m.name());
            }
        }
    }
}
