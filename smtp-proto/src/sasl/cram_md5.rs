//! CRAM-MD5 (RFC 2195).

use hmac::{Hmac, Mac};
use md5::Md5;

use super::{Mechanism, SaslError, Secret};

/// CRAM-MD5 (RFC 2195): no initial response; the server's challenge is answered with
/// `user SP lowercase-hex(HMAC-MD5(key = password, challenge))`.
///
/// An empty challenge, or any challenge after the first, is
/// [`SaslError::UnexpectedChallenge`].
#[derive(Clone, Debug)]
pub struct CramMd5 {
    user: String,
    password: Secret<String>,
    answered: bool,
}

impl CramMd5 {
    /// CRAM-MD5 for `user` with `password`.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: Secret::new(password.into()),
            answered: false,
        }
    }
}

impl Mechanism for CramMd5 {
    fn name(&self) -> &str {
        "CRAM-MD5"
    }

    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        None
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        if self.answered || challenge.is_empty() {
            return Err(SaslError::UnexpectedChallenge);
        }
        // HMAC takes keys of any length, so this cannot fail; no panic path either way.
        let mut mac = Hmac::<Md5>::new_from_slice(self.password.expose().as_bytes())
            .map_err(|_| SaslError::InvalidCredential("CRAM-MD5 key rejected"))?;
        mac.update(challenge);
        let digest = mac.finalize().into_bytes();

        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = Vec::with_capacity(self.user.len() + 1 + 2 * digest.len());
        out.extend_from_slice(self.user.as_bytes());
        out.push(b' ');
        for byte in digest {
            for nibble in [byte >> 4, byte & 0x0f] {
                out.extend(HEX.get(usize::from(nibble)));
            }
        }
        self.answered = true;
        Ok(Secret::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_CHALLENGE: &[u8] = b"<1896.697170952@postoffice.reston.mci.net>";

    #[test]
    fn rfc2195_example() {
        let mut m = CramMd5::new("tim", "tanstaaftanstaaf");
        assert_eq!(m.name(), "CRAM-MD5");
        assert!(m.initial_response().is_none());
        assert_eq!(
            m.respond(RFC_CHALLENGE).unwrap().expose(),
            b"tim b913a602c7eda7a495b4e6e7334d3890"
        );
    }

    #[test]
    fn rfc2195_example_through_base64() {
        // The challenge exactly as the RFC's server sends it.
        let challenge = crate::sasl::decode_challenge(
            b"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
        )
        .unwrap();
        let response = CramMd5::new("tim", "tanstaaftanstaaf")
            .respond(&challenge)
            .unwrap();
        let mut wire = Vec::new();
        crate::sasl::encode_response(response.expose(), &mut wire);
        assert_eq!(wire, b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
    }

    #[test]
    fn rfc2202_hmac_md5_vectors() {
        // RFC 2202 test cases 1 and 2: the digest is plain HMAC-MD5, key = password.
        let key = "\x0b".repeat(16);
        let mut m = CramMd5::new("u", key);
        assert_eq!(
            m.respond(b"Hi There").unwrap().expose(),
            b"u 9294727a3638bb1c13f48ef8158bfc9d"
        );
        let mut m = CramMd5::new("u", "Jefe");
        assert_eq!(
            m.respond(b"what do ya want for nothing?").unwrap().expose(),
            b"u 750c783e6ab0b503eaa86e310a5db738"
        );
    }

    #[test]
    fn empty_challenge_is_unexpected() {
        let mut m = CramMd5::new("tim", "pw");
        assert_eq!(m.respond(b"").unwrap_err(), SaslError::UnexpectedChallenge);
    }

    #[test]
    fn second_challenge_is_unexpected() {
        let mut m = CramMd5::new("tim", "tanstaaftanstaaf");
        m.respond(RFC_CHALLENGE).unwrap();
        assert_eq!(
            m.respond(RFC_CHALLENGE).unwrap_err(),
            SaslError::UnexpectedChallenge
        );
    }

    #[test]
    fn digest_depends_on_password_and_challenge() {
        let a = CramMd5::new("tim", "pw1").respond(b"<1@x>").unwrap();
        let b = CramMd5::new("tim", "pw2").respond(b"<1@x>").unwrap();
        let c = CramMd5::new("tim", "pw1").respond(b"<2@x>").unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.expose(), c.expose());
        let text = a.expose();
        assert_eq!(text.len(), "tim ".len() + 32);
        assert!(text[4..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)));
    }

    #[test]
    fn debug_redacts_password() {
        let mut m = CramMd5::new("tim", "tanstaaftanstaaf");
        let shown = format!("{m:?}");
        assert!(
            shown.contains("tim") && !shown.contains("tanstaaf"),
            "{shown}"
        );
        m.respond(RFC_CHALLENGE).unwrap();
        assert!(!format!("{m:?}").contains("tanstaaf"));
    }
}
