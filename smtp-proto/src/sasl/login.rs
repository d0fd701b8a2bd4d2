//! LOGIN (draft-murchison-sasl-login): the de-facto two-prompt mechanism.

use super::{Mechanism, SaslError, Secret};

/// LOGIN (draft-murchison-sasl-login): no initial response; the first challenge (whatever its
/// text, normally `Username:`) is answered with the user name, the second (normally
/// `Password:`) with the password; a third is [`SaslError::UnexpectedChallenge`].
///
/// Each field travels on its own, so any bytes are accepted.
#[derive(Clone, Debug)]
pub struct Login {
    user: String,
    password: Secret<String>,
    /// Challenges answered so far (0, 1 or 2).
    round: u8,
}

impl Login {
    /// LOGIN for `user` with `password`.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: Secret::new(password.into()),
            round: 0,
        }
    }
}

impl Mechanism for Login {
    fn name(&self) -> &str {
        "LOGIN"
    }

    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        None
    }

    fn respond(&mut self, _challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        let answer = match self.round {
            0 => self.user.as_bytes(),
            1 => self.password.expose().as_bytes(),
            _ => return Err(SaslError::UnexpectedChallenge),
        };
        let answer = Secret::new(answer.to_vec());
        self.round += 1;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_rounds_then_unexpected() {
        let mut m = Login::new("tim", "tanstaaftanstaaf");
        assert_eq!(m.name(), "LOGIN");
        assert!(m.initial_response().is_none());
        assert_eq!(m.respond(b"Username:").unwrap().expose(), b"tim");
        assert_eq!(
            m.respond(b"Password:").unwrap().expose(),
            b"tanstaaftanstaaf"
        );
        assert_eq!(
            m.respond(b"Password:").unwrap_err(),
            SaslError::UnexpectedChallenge
        );
        assert_eq!(m.respond(b"").unwrap_err(), SaslError::UnexpectedChallenge);
    }

    #[test]
    fn prompt_text_is_ignored() {
        let mut m = Login::new("tim", "pw");
        assert_eq!(m.respond(b"").unwrap().expose(), b"tim");
        assert_eq!(m.respond(b"User Name\0").unwrap().expose(), b"pw");
    }

    #[test]
    fn initial_response_never_advances() {
        let mut m = Login::new("tim", "pw");
        assert!(m.initial_response().is_none());
        assert!(m.initial_response().is_none());
        assert_eq!(m.respond(b"Username:").unwrap().expose(), b"tim");
    }

    #[test]
    fn empty_credentials_are_sent_empty() {
        let mut m = Login::new("", "");
        assert_eq!(m.respond(b"Username:").unwrap().expose(), b"");
        assert_eq!(m.respond(b"Password:").unwrap().expose(), b"");
    }

    #[test]
    fn debug_redacts_password() {
        let mut m = Login::new("tim", "tanstaaftanstaaf");
        let shown = format!("{m:?}");
        assert!(
            shown.contains("tim") && !shown.contains("tanstaaf"),
            "{shown}"
        );
        m.respond(b"Username:").unwrap();
        let pw = m.respond(b"Password:").unwrap();
        assert!(!format!("{pw:?}").contains("tanstaaf"));
        assert!(!format!("{m:?}").contains("tanstaaf"));
    }
}
