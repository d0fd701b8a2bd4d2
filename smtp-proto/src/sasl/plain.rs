//! PLAIN (RFC 4616).

use super::{refuse, ClientFirst, Mechanism, SaslError, Secret};

/// PLAIN (RFC 4616): one client message, `authzid NUL user NUL password`.
///
/// RFC 4616 forbids NUL inside the three fields (it is the separator), so the constructors
/// refuse it with [`SaslError::InvalidCredential`]. Empty fields are passed through as given.
#[derive(Clone, Debug)]
pub struct Plain {
    authzid: String,
    user: String,
    password: Secret<String>,
    state: ClientFirst,
}

impl Plain {
    /// PLAIN for `user` with `password`, no authorization identity.
    ///
    /// # Errors
    /// [`SaslError::InvalidCredential`] when `user` or `password` contains NUL.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Result<Self, SaslError> {
        let user = user.into();
        let password = password.into();
        refuse(&user, b"\0", "PLAIN user name contains NUL")?;
        refuse(&password, b"\0", "PLAIN password contains NUL")?;
        Ok(Self {
            authzid: String::new(),
            user,
            password: Secret::new(password),
            state: ClientFirst::default(),
        })
    }

    /// Acts as `authzid` (the identity to log in as), authenticating as the user.
    ///
    /// # Errors
    /// [`SaslError::InvalidCredential`] when `authzid` contains NUL.
    pub fn with_authzid(mut self, authzid: impl Into<String>) -> Result<Self, SaslError> {
        let authzid = authzid.into();
        refuse(&authzid, b"\0", "PLAIN authorization identity contains NUL")?;
        self.authzid = authzid;
        Ok(self)
    }

    fn message(&self) -> Secret<Vec<u8>> {
        let password = self.password.expose();
        let mut out = Vec::with_capacity(self.authzid.len() + self.user.len() + password.len() + 2);
        out.extend_from_slice(self.authzid.as_bytes());
        out.push(0);
        out.extend_from_slice(self.user.as_bytes());
        out.push(0);
        out.extend_from_slice(password.as_bytes());
        Secret::new(out)
    }
}

impl Mechanism for Plain {
    fn name(&self) -> &str {
        "PLAIN"
    }

    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        let message = self.message();
        self.state.initial(message)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        let message = self.message();
        self.state.respond(challenge, message, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_response_bytes() {
        let mut m = Plain::new("tim", "tanstaaftanstaaf").unwrap();
        assert_eq!(m.name(), "PLAIN");
        assert_eq!(
            m.initial_response().unwrap().expose(),
            b"\0tim\0tanstaaftanstaaf"
        );
    }

    #[test]
    fn initial_response_with_authzid() {
        let mut m = Plain::new("tim", "pw")
            .unwrap()
            .with_authzid("admin")
            .unwrap();
        assert_eq!(m.initial_response().unwrap().expose(), b"admin\0tim\0pw");
    }

    #[test]
    fn utf8_and_empty_fields_pass_through() {
        let mut m = Plain::new("jörg", "").unwrap();
        assert_eq!(
            m.initial_response().unwrap().expose(),
            "\0jörg\0".as_bytes()
        );
    }

    #[test]
    fn initial_response_only_once() {
        let mut m = Plain::new("tim", "pw").unwrap();
        assert!(m.initial_response().is_some());
        assert!(m.initial_response().is_none());
    }

    #[test]
    fn any_challenge_after_ir_is_unexpected() {
        for challenge in [&b""[..], b"x", b"\0tim\0pw"] {
            let mut m = Plain::new("tim", "pw").unwrap();
            m.initial_response().unwrap();
            assert_eq!(
                m.respond(challenge).unwrap_err(),
                SaslError::UnexpectedChallenge
            );
            assert_eq!(m.respond(b"").unwrap_err(), SaslError::UnexpectedChallenge);
        }
    }

    #[test]
    fn empty_challenge_before_ir_gets_the_ir_once() {
        let mut m = Plain::new("tim", "pw").unwrap();
        assert_eq!(m.respond(b"").unwrap().expose(), b"\0tim\0pw");
        assert!(m.initial_response().is_none());
        assert_eq!(m.respond(b"").unwrap_err(), SaslError::UnexpectedChallenge);
    }

    #[test]
    fn non_empty_challenge_before_ir_is_unexpected() {
        let mut m = Plain::new("tim", "pw").unwrap();
        assert_eq!(
            m.respond(b"hello").unwrap_err(),
            SaslError::UnexpectedChallenge
        );
    }

    #[test]
    fn nul_refused_in_every_field() {
        assert!(matches!(
            Plain::new("t\0im", "pw"),
            Err(SaslError::InvalidCredential(_))
        ));
        assert!(matches!(
            Plain::new("tim", "p\0w"),
            Err(SaslError::InvalidCredential(_))
        ));
        let m = Plain::new("tim", "pw").unwrap();
        assert!(matches!(
            m.with_authzid("a\0"),
            Err(SaslError::InvalidCredential(_))
        ));
    }

    #[test]
    fn debug_redacts_password() {
        let mut m = Plain::new("tim", "tanstaaftanstaaf")
            .unwrap()
            .with_authzid("boss")
            .unwrap();
        let shown = format!("{m:?}");
        assert!(shown.contains("tim") && shown.contains("boss"), "{shown}");
        assert!(!shown.contains("tanstaaf"), "{shown}");
        let ir = m.initial_response().unwrap();
        assert!(!format!("{ir:?}").contains("tanstaaf"));
    }
}
