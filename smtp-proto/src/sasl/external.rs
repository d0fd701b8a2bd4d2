//! EXTERNAL (RFC 4422 Appendix A).

use super::{refuse, ClientFirst, Mechanism, SaslError, Secret};

/// EXTERNAL (RFC 4422 Appendix A): authentication comes from outside SASL (typically a TLS
/// client certificate); the one client message is the authorization identity, empty by
/// default (act as the identity the credentials establish). Any challenge after it is
/// [`SaslError::UnexpectedChallenge`].
#[derive(Clone, Debug, Default)]
pub struct External {
    authzid: String,
    state: ClientFirst,
}

impl External {
    /// EXTERNAL with an empty authorization identity.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests to act as `authzid`.
    ///
    /// # Errors
    /// [`SaslError::InvalidCredential`] when `authzid` contains NUL (RFC 4422 Appendix A).
    pub fn with_authzid(mut self, authzid: impl Into<String>) -> Result<Self, SaslError> {
        let authzid = authzid.into();
        refuse(
            &authzid,
            b"\0",
            "EXTERNAL authorization identity contains NUL",
        )?;
        self.authzid = authzid;
        Ok(self)
    }
}

impl Mechanism for External {
    fn name(&self) -> &str {
        "EXTERNAL"
    }

    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        let message = Secret::new(self.authzid.as_bytes().to_vec());
        self.state.initial(message)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        let message = Secret::new(self.authzid.as_bytes().to_vec());
        self.state.respond(challenge, message, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_initial_response_by_default() {
        let mut m = External::new();
        assert_eq!(m.name(), "EXTERNAL");
        assert_eq!(m.initial_response().unwrap().expose(), b"");
        assert!(m.initial_response().is_none());
    }

    #[test]
    fn initial_response_is_the_authzid() {
        let mut m = External::new().with_authzid("admin@example.com").unwrap();
        assert_eq!(m.initial_response().unwrap().expose(), b"admin@example.com");
    }

    #[test]
    fn any_challenge_after_ir_is_unexpected() {
        for challenge in [&b""[..], b"x"] {
            let mut m = External::new();
            m.initial_response().unwrap();
            assert_eq!(
                m.respond(challenge).unwrap_err(),
                SaslError::UnexpectedChallenge
            );
        }
    }

    #[test]
    fn empty_challenge_before_ir_gets_the_ir_once() {
        let mut m = External::new().with_authzid("a").unwrap();
        assert_eq!(m.respond(b"").unwrap().expose(), b"a");
        assert_eq!(m.respond(b"").unwrap_err(), SaslError::UnexpectedChallenge);
        assert!(m.initial_response().is_none());
    }

    #[test]
    fn non_empty_challenge_before_ir_is_unexpected() {
        let mut m = External::new();
        assert_eq!(m.respond(b"x").unwrap_err(), SaslError::UnexpectedChallenge);
    }

    #[test]
    fn nul_in_authzid_refused() {
        assert!(matches!(
            External::new().with_authzid("a\0b"),
            Err(SaslError::InvalidCredential(_))
        ));
    }
}
