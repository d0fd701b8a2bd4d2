//! OAUTHBEARER (RFC 7628).

use super::{refuse, ClientFirst, Mechanism, SaslError, Secret};

/// OAUTHBEARER (RFC 7628): one client message, the GS2 header `n,a=<user>,` followed by
/// `\x01host=<host>\x01port=<port>` (only when set with [`OAuthBearer::with_host`]) and
/// `\x01auth=Bearer <token>\x01\x01`.
///
/// The user name is a `saslname` (RFC 5801): `,` is sent as `=2C` and `=` as `=3D`; an empty
/// user name leaves the authorization identity out (`n,,`).
///
/// On failure the server answers with a `334` carrying a (base64) JSON error; the mechanism
/// records it (see [`OAuthBearer::error`]) and answers with a single `\x01`, as RFC 7628 §3.2.3
/// requires, so the server sends its final `5xx`. A further challenge is
/// [`SaslError::UnexpectedChallenge`].
///
/// The constructors refuse `\x01` (the separator) and NUL in every field.
#[derive(Clone, Debug)]
pub struct OAuthBearer {
    user: String,
    token: Secret<String>,
    host: Option<(String, u16)>,
    state: ClientFirst,
}

impl OAuthBearer {
    /// OAUTHBEARER for `user` with the OAuth 2.0 bearer `token`.
    ///
    /// # Errors
    /// [`SaslError::InvalidCredential`] when `user` or `token` contains `\x01` or NUL.
    pub fn new(user: impl Into<String>, token: impl Into<String>) -> Result<Self, SaslError> {
        let user = user.into();
        let token = token.into();
        refuse(
            &user,
            b"\x01\0",
            "OAUTHBEARER user name contains a control separator",
        )?;
        refuse(
            &token,
            b"\x01\0",
            "OAUTHBEARER token contains a control separator",
        )?;
        Ok(Self {
            user,
            token: Secret::new(token),
            host: None,
            state: ClientFirst::default(),
        })
    }

    /// Adds the `host` and `port` fields (the server the client connected to).
    ///
    /// # Errors
    /// [`SaslError::InvalidCredential`] when `host` contains `\x01` or NUL.
    pub fn with_host(mut self, host: impl Into<String>, port: u16) -> Result<Self, SaslError> {
        let host = host.into();
        refuse(
            &host,
            b"\x01\0",
            "OAUTHBEARER host contains a control separator",
        )?;
        self.host = Some((host, port));
        Ok(self)
    }

    /// The server's error challenge (its JSON, lossy UTF-8, at most
    /// [`MAX_ERROR_LEN`](super::MAX_ERROR_LEN) bytes), if it sent one.
    pub fn error(&self) -> Option<&str> {
        self.state.error()
    }

    fn message(&self) -> Secret<Vec<u8>> {
        let token = self.token.expose();
        let mut out = Vec::with_capacity(self.user.len() + token.len() + 64);
        out.extend_from_slice(b"n,");
        if !self.user.is_empty() {
            out.extend_from_slice(b"a=");
            for byte in self.user.bytes() {
                match byte {
                    b',' => out.extend_from_slice(b"=2C"),
                    b'=' => out.extend_from_slice(b"=3D"),
                    other => out.push(other),
                }
            }
        }
        out.push(b',');
        if let Some((host, port)) = &self.host {
            out.extend_from_slice(b"\x01host=");
            out.extend_from_slice(host.as_bytes());
            out.extend_from_slice(b"\x01port=");
            out.extend_from_slice(port.to_string().as_bytes());
        }
        out.extend_from_slice(b"\x01auth=Bearer ");
        out.extend_from_slice(token.as_bytes());
        out.extend_from_slice(b"\x01\x01");
        Secret::new(out)
    }
}

impl Mechanism for OAuthBearer {
    fn name(&self) -> &str {
        "OAUTHBEARER"
    }

    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        let message = self.message();
        self.state.initial(message)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        let message = self.message();
        self.state.respond(challenge, message, Some(b"\x01"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_ERROR: &[u8] =
        br#"{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}"#;

    #[test]
    fn rfc7628_example_bytes() {
        // RFC 7628 §4.1, with the same host and port.
        let mut m = OAuthBearer::new(
            "user@example.com",
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
        )
        .unwrap()
        .with_host("server.example.com", 143)
        .unwrap();
        assert_eq!(m.name(), "OAUTHBEARER");
        assert_eq!(
            m.initial_response().unwrap().expose(),
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        assert!(m.initial_response().is_none());
    }

    #[test]
    fn without_host() {
        let mut m = OAuthBearer::new("u@example.com", "tok").unwrap();
        assert_eq!(
            m.initial_response().unwrap().expose(),
            b"n,a=u@example.com,\x01auth=Bearer tok\x01\x01"
        );
    }

    #[test]
    fn saslname_escapes_comma_and_equals() {
        let mut m = OAuthBearer::new("a,b=c,=", "tok")
            .unwrap()
            .with_host("h", 587)
            .unwrap();
        assert_eq!(
            m.initial_response().unwrap().expose(),
            b"n,a=a=2Cb=3Dc=2C=3D,\x01host=h\x01port=587\x01auth=Bearer tok\x01\x01"
        );
    }

    #[test]
    fn empty_user_omits_authzid() {
        let mut m = OAuthBearer::new("", "tok").unwrap();
        assert_eq!(
            m.initial_response().unwrap().expose(),
            b"n,,\x01auth=Bearer tok\x01\x01"
        );
    }

    #[test]
    fn port_extremes() {
        for (port, text) in [(0u16, "0"), (65535, "65535")] {
            let mut m = OAuthBearer::new("u", "t")
                .unwrap()
                .with_host("h", port)
                .unwrap();
            let expected = format!("n,a=u,\x01host=h\x01port={text}\x01auth=Bearer t\x01\x01");
            assert_eq!(m.initial_response().unwrap().expose(), expected.as_bytes());
        }
    }

    #[test]
    fn error_dance() {
        let mut m = OAuthBearer::new("u", "tok").unwrap();
        m.initial_response().unwrap();
        assert_eq!(m.respond(RFC_ERROR).unwrap().expose(), b"\x01");
        assert_eq!(m.error(), Some(std::str::from_utf8(RFC_ERROR).unwrap()));
        assert_eq!(
            m.respond(RFC_ERROR).unwrap_err(),
            SaslError::UnexpectedChallenge
        );
        assert_eq!(m.respond(b"").unwrap_err(), SaslError::UnexpectedChallenge);
    }

    #[test]
    fn error_is_lossy_utf8() {
        let mut m = OAuthBearer::new("u", "tok").unwrap();
        m.initial_response().unwrap();
        m.respond(b"\xc3(").unwrap();
        assert_eq!(m.error(), Some("\u{fffd}("));
    }

    #[test]
    fn empty_challenge_before_ir_gets_the_ir() {
        let mut m = OAuthBearer::new("u", "tok").unwrap();
        assert_eq!(
            m.respond(b"").unwrap().expose(),
            b"n,a=u,\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(m.respond(RFC_ERROR).unwrap().expose(), b"\x01");
    }

    #[test]
    fn non_empty_challenge_before_ir_is_unexpected() {
        let mut m = OAuthBearer::new("u", "tok").unwrap();
        assert_eq!(
            m.respond(RFC_ERROR).unwrap_err(),
            SaslError::UnexpectedChallenge
        );
        assert_eq!(m.error(), None);
    }

    #[test]
    fn separators_refused() {
        for (user, token) in [("a\x01", "t"), ("\0", "t"), ("u", "t\x01"), ("u", "t\0")] {
            assert!(matches!(
                OAuthBearer::new(user, token),
                Err(SaslError::InvalidCredential(_))
            ));
        }
        for host in ["h\x01", "h\0"] {
            let m = OAuthBearer::new("u", "t").unwrap();
            assert!(matches!(
                m.with_host(host, 25),
                Err(SaslError::InvalidCredential(_))
            ));
        }
    }

    #[test]
    fn debug_redacts_token() {
        let mut m = OAuthBearer::new("user@example.com", "SECRETTOKEN")
            .unwrap()
            .with_host("server.example.com", 587)
            .unwrap();
        let shown = format!("{m:?}");
        assert!(shown.contains("user@example.com") && shown.contains("server.example.com"));
        assert!(!shown.contains("SECRETTOKEN"), "{shown}");
        let ir = m.initial_response().unwrap();
        assert!(!format!("{ir:?}").contains("SECRETTOKEN"));
    }
}
