//! XOAUTH2 (Google's OAuth 2.0 SASL mechanism).

use super::{refuse, ClientFirst, Mechanism, SaslError, Secret};

/// XOAUTH2: one client message, `user=<user>\x01auth=Bearer <token>\x01\x01`.
///
/// On failure the server answers the initial response with a `334` carrying a (base64) JSON
/// error; the mechanism records it (see [`XOAuth2::error`]) and answers with an empty
/// response, so the server sends its final `5xx`. A further challenge is
/// [`SaslError::UnexpectedChallenge`].
///
/// The fields are `\x01`-separated, so the constructor refuses `\x01` (and NUL) in them.
#[derive(Clone, Debug)]
pub struct XOAuth2 {
    user: String,
    token: Secret<String>,
    state: ClientFirst,
}

impl XOAuth2 {
    /// XOAUTH2 for `user` with the OAuth 2.0 access `token`.
    ///
    /// # Errors
    /// [`SaslError::InvalidCredential`] when `user` or `token` contains `\x01` or NUL.
    pub fn new(user: impl Into<String>, token: impl Into<String>) -> Result<Self, SaslError> {
        let user = user.into();
        let token = token.into();
        refuse(
            &user,
            b"\x01\0",
            "XOAUTH2 user name contains a control separator",
        )?;
        refuse(
            &token,
            b"\x01\0",
            "XOAUTH2 token contains a control separator",
        )?;
        Ok(Self {
            user,
            token: Secret::new(token),
            state: ClientFirst::default(),
        })
    }

    /// The server's error challenge (its JSON, lossy UTF-8, at most
    /// [`MAX_ERROR_LEN`](super::MAX_ERROR_LEN) bytes), if it sent one.
    pub fn error(&self) -> Option<&str> {
        self.state.error()
    }

    fn message(&self) -> Secret<Vec<u8>> {
        let token = self.token.expose();
        let mut out = Vec::with_capacity(self.user.len() + token.len() + 20);
        out.extend_from_slice(b"user=");
        out.extend_from_slice(self.user.as_bytes());
        out.extend_from_slice(b"\x01auth=Bearer ");
        out.extend_from_slice(token.as_bytes());
        out.extend_from_slice(b"\x01\x01");
        Secret::new(out)
    }
}

impl Mechanism for XOAuth2 {
    fn name(&self) -> &str {
        "XOAUTH2"
    }

    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        let message = self.message();
        self.state.initial(message)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        let message = self.message();
        self.state.respond(challenge, message, Some(b""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOGLE_ERROR: &[u8] =
        br#"{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}"#;

    #[test]
    fn initial_response_bytes() {
        let mut m = XOAuth2::new(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        )
        .unwrap();
        assert_eq!(m.name(), "XOAUTH2");
        assert_eq!(
            m.initial_response().unwrap().expose(),
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        assert_eq!(m.error(), None);
        assert!(m.initial_response().is_none());
    }

    #[test]
    fn error_dance() {
        let mut m = XOAuth2::new("u@example.com", "tok").unwrap();
        m.initial_response().unwrap();
        assert_eq!(m.respond(GOOGLE_ERROR).unwrap().expose(), b"");
        assert_eq!(m.error(), Some(std::str::from_utf8(GOOGLE_ERROR).unwrap()));
        assert_eq!(
            m.respond(GOOGLE_ERROR).unwrap_err(),
            SaslError::UnexpectedChallenge
        );
        assert_eq!(m.respond(b"").unwrap_err(), SaslError::UnexpectedChallenge);
    }

    #[test]
    fn error_is_lossy_utf8() {
        let mut m = XOAuth2::new("u", "tok").unwrap();
        m.initial_response().unwrap();
        m.respond(b"bad \xff json").unwrap();
        assert_eq!(m.error(), Some("bad \u{fffd} json"));
    }

    #[test]
    fn empty_challenge_before_ir_gets_the_ir() {
        let mut m = XOAuth2::new("u", "tok").unwrap();
        assert_eq!(
            m.respond(b"").unwrap().expose(),
            b"user=u\x01auth=Bearer tok\x01\x01"
        );
        // The error dance still works after that.
        assert_eq!(m.respond(GOOGLE_ERROR).unwrap().expose(), b"");
        assert!(m.error().is_some());
    }

    #[test]
    fn non_empty_challenge_before_ir_is_unexpected() {
        let mut m = XOAuth2::new("u", "tok").unwrap();
        assert_eq!(
            m.respond(GOOGLE_ERROR).unwrap_err(),
            SaslError::UnexpectedChallenge
        );
        assert_eq!(m.error(), None);
    }

    #[test]
    fn separators_refused() {
        for (user, token) in [("a\x01b", "t"), ("a\0b", "t"), ("u", "t\x01"), ("u", "\0t")] {
            assert!(
                matches!(
                    XOAuth2::new(user, token),
                    Err(SaslError::InvalidCredential(_))
                ),
                "{user:?} {token:?}"
            );
        }
    }

    #[test]
    fn debug_redacts_token() {
        let mut m = XOAuth2::new("someuser@example.com", "ya29.SECRETTOKEN").unwrap();
        assert!(format!("{m:?}").contains("someuser@example.com"));
        assert!(!format!("{m:?}").contains("SECRETTOKEN"));
        let ir = m.initial_response().unwrap();
        assert!(!format!("{ir:?}").contains("SECRETTOKEN"));
    }
}
