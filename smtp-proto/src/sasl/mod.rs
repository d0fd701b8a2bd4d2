//! SASL client mechanisms (RFC 4422) as tiny state machines behind one trait.
//!
//! A mechanism never sees SMTP: the client owns base64, the `334` loop, `*` cancellation and
//! the RFC 4954 line-length rule.

/// Smtplib's `login()` order.
pub const DEFAULT_PREFERENCE: &[&str] = &["CRAM-MD5", "PLAIN", "LOGIN"];

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
}

/// A client-side SASL mechanism.
pub trait Mechanism: Send {
    /// The mechanism's name, e.g. `"PLAIN"`.
    fn name(&self) -> &str;
    /// SASL-IR (RFC 4954 §4): the initial response, raw bytes, if the mechanism has one.
    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>>;
    /// Answers one decoded `334` challenge.
    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError>;
}

/// Decodes a `334` challenge text strictly (standard alphabet, padding required).
pub fn decode_challenge(text: &[u8]) -> Result<Vec<u8>, SaslError> {
    let _ = text;
    todo!()
}

/// The mechanism `name` (case-insensitive) built from a user name and password, for
/// `login()`: CRAM-MD5 (with the feature), PLAIN, LOGIN; `None` for anything else.
pub fn password_mechanism(name: &str, user: &str, password: &str) -> Option<Box<dyn Mechanism>> {
    let _ = (name, user, password);
    todo!()
}
