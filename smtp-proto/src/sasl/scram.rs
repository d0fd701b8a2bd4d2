//! SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 5802, RFC 7677), without channel binding.

use hmac::digest::{Digest, KeyInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use super::{decode_challenge, error_text, Mechanism, SaslError, Secret};

/// The hash a [`Scram`] mechanism uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScramHash {
    /// SCRAM-SHA-1 (RFC 5802).
    Sha1,
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
}

impl ScramHash {
    /// The SASL mechanism name: `"SCRAM-SHA-1"` or `"SCRAM-SHA-256"`.
    pub fn mechanism_name(self) -> &'static str {
        match self {
            Self::Sha1 => "SCRAM-SHA-1",
            Self::Sha256 => "SCRAM-SHA-256",
        }
    }
}

/// Where the exchange stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// The client-first message has not been produced yet.
    Start,
    /// The client-first message went out; the server-first message is awaited.
    SentFirst,
    /// The client-final message went out; the server signature it must send is kept.
    SentFinal { server_signature: Secret<Vec<u8>> },
    /// The server proved that it knows the password.
    Verified,
    /// The exchange failed or ended; any further challenge is unexpected.
    Failed,
}

/// SCRAM-SHA-256 or SCRAM-SHA-1 (RFC 5802, RFC 7677): a client-first mechanism that also
/// authenticates the server.
///
/// The exchange, as the SMTP client drives it (RFC 4954):
///
/// 1. initial response: `n,,n=<user>,r=<client nonce>` (GS2 header `n,,`: no channel binding,
///    no authorization identity; `,` and `=` in the user name are sent as `=2C` and `=3D`);
/// 2. the server-first message `r=<nonce>,s=<salt>,i=<iterations>` is answered with
///    `c=biws,r=<nonce>,p=<proof>`;
/// 3. the server-final message `v=<signature>` is checked and answered with an empty
///    response; the server's `235` follows.
///
/// # The server is verified
///
/// A server that does not prove it knows the password never ends in success:
/// - a wrong `v=` is [`SaslError::ServerSignatureMismatch`];
/// - an `e=` from the server is [`SaslError::ServerError`] with its text;
/// - a `235` before a valid `v=` makes [`Mechanism::finish`] return
///   [`SaslError::ServerNotVerified`];
/// - a server-first message that is malformed is [`SaslError::InvalidChallenge`]: a missing
///   or misplaced `r=`, `s=` or `i=`, a mandatory extension (`m=`), bad base64, a nonce that
///   does not extend the client's, or an iteration count outside
///   `1..=`[`Scram::MAX_ITERATIONS`] (so a hostile server cannot make the client burn CPU).
///
/// # Credentials
///
/// SASLprep (RFC 4013) is not implemented. Instead the password must be printable ASCII
/// (`0x20..=0x7E`), on which SASLprep changes nothing; any other password is refused when
/// the mechanism is built, with [`SaslError::InvalidCredential`]. The user name is sent as
/// given (UTF-8, not normalized); one with an ASCII control character (SASLprep prohibits
/// them) is refused.
///
/// # Nonce
///
/// [`Scram::new`] draws 18 bytes from the operating system (the `getrandom` crate) and sends
/// them in base64; [`Scram::with_nonce`] takes the nonce from the caller (for tests, or for
/// a caller with its own randomness source).
///
/// # Example
///
/// The exchange of RFC 7677 §3:
///
/// ```
/// use smtp_proto::sasl::{Mechanism, SaslError, Scram, ScramHash};
///
/// let mut scram = Scram::with_nonce(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO")?;
/// assert_eq!(scram.name(), "SCRAM-SHA-256");
/// let first = scram.initial_response().expect("SCRAM is client-first");
/// assert_eq!(first.expose().as_slice(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
///
/// let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
///                      s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
/// let client_final = scram.respond(server_first)?;
/// assert_eq!(
///     client_final.expose().as_slice(),
///     &b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
///        p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="[..]
/// );
///
/// // A server that cannot prove it knows the password is refused...
/// let mut impostor = scram.clone();
/// assert_eq!(
///     impostor.respond(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap_err(),
///     SaslError::ServerSignatureMismatch
/// );
/// // ...and the real one is answered with an empty response.
/// let last = scram.respond(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")?;
/// assert!(last.expose().is_empty());
/// assert_eq!(scram.finish(), Ok(()));
/// # Ok::<(), SaslError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Scram {
    hash: ScramHash,
    /// The user name, already escaped (`=2C`, `=3D`).
    user: String,
    password: Secret<String>,
    nonce: String,
    state: State,
}

impl Scram {
    /// The largest iteration count (`i=`) accepted from a server: 1,000,000, a few hundred
    /// times the 4096 that RFC 7677 recommends, and still well under a second of work.
    pub const MAX_ITERATIONS: u32 = 1_000_000;

    /// The number of random bytes in a nonce drawn by [`Scram::new`] (sent as 24 base64
    /// characters).
    pub const NONCE_BYTES: usize = 18;

    /// SCRAM with `hash` for `user` with `password`, with a random client nonce.
    ///
    /// # Errors
    /// [`SaslError::InvalidCredential`] for a password that is not printable ASCII or a user
    /// name with a control character; [`SaslError::NoRandomness`] when the operating system
    /// gives no random bytes.
    pub fn new(
        hash: ScramHash,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, SaslError> {
        let mut random = [0u8; Self::NONCE_BYTES];
        getrandom::fill(&mut random).map_err(|_| SaslError::NoRandomness)?;
        let mut nonce = Vec::new();
        super::encode_response(&random, &mut nonce);
        let nonce = String::from_utf8_lossy(&nonce).into_owned();
        Self::with_nonce(hash, user, password, nonce)
    }

    /// SCRAM with `hash` for `user` with `password` and the caller's client `nonce`.
    ///
    /// The nonce must be unpredictable and never reused outside tests.
    ///
    /// # Errors
    /// [`SaslError::InvalidCredential`] for a password that is not printable ASCII, a user
    /// name with a control character, or a nonce that is empty or not printable ASCII
    /// without `,` (RFC 5802 §7).
    pub fn with_nonce(
        hash: ScramHash,
        user: impl Into<String>,
        password: impl Into<String>,
        nonce: impl Into<String>,
    ) -> Result<Self, SaslError> {
        let user = user.into();
        let password = password.into();
        let nonce = nonce.into();
        if user.chars().any(|c| c.is_ascii_control()) {
            return Err(SaslError::InvalidCredential(
                "SCRAM user name contains a control character",
            ));
        }
        if !password.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(SaslError::InvalidCredential(
                "SCRAM password is not printable ASCII",
            ));
        }
        if !is_nonce(nonce.as_bytes()) {
            return Err(SaslError::InvalidCredential(
                "SCRAM nonce is empty or not printable ASCII without ','",
            ));
        }
        Ok(Self {
            hash,
            user: user.replace('=', "=3D").replace(',', "=2C"),
            password: Secret::new(password),
            nonce,
            state: State::Start,
        })
    }

    /// Whether the server has proved that it knows the password (a valid `v=`).
    pub fn is_verified(&self) -> bool {
        self.state == State::Verified
    }

    /// `n=<user>,r=<nonce>`.
    fn client_first_bare(&self) -> String {
        format!("n={},r={}", self.user, self.nonce)
    }

    fn client_first(&mut self) -> Secret<Vec<u8>> {
        self.state = State::SentFirst;
        Secret::new(format!("n,,{}", self.client_first_bare()).into_bytes())
    }

    /// Answers the server-first message with the client-final message.
    fn client_final(&mut self, server_first: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        let first = parse_server_first(server_first, self.nonce.as_bytes())?;
        let mut without_proof = b"c=biws,r=".to_vec();
        without_proof.extend_from_slice(first.nonce);
        let mut auth_message = self.client_first_bare().into_bytes();
        auth_message.push(b',');
        auth_message.extend_from_slice(server_first);
        auth_message.push(b',');
        auth_message.extend_from_slice(&without_proof);
        let password = self.password.expose().as_bytes();
        let (salt, iterations) = (&first.salt, first.iterations);
        let (proof, server_signature) = match self.hash {
            ScramHash::Sha1 => keys::<Hmac<Sha1>, Sha1>(password, salt, iterations, &auth_message)?,
            ScramHash::Sha256 => {
                keys::<Hmac<Sha256>, Sha256>(password, salt, iterations, &auth_message)?
            }
        };
        let mut out = without_proof;
        out.extend_from_slice(b",p=");
        super::encode_response(&proof, &mut out);
        self.state = State::SentFinal {
            server_signature: Secret::new(server_signature),
        };
        Ok(Secret::new(out))
    }
}

impl Mechanism for Scram {
    fn name(&self) -> &str {
        self.hash.mechanism_name()
    }

    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        match self.state {
            State::Start => Some(self.client_first()),
            _ => None,
        }
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        match state {
            State::Start if challenge.is_empty() => Ok(self.client_first()),
            State::SentFirst => self.client_final(challenge),
            State::SentFinal { server_signature } => {
                check_server_final(challenge, server_signature.expose())?;
                self.state = State::Verified;
                Ok(Secret::new(Vec::new()))
            }
            State::Start | State::Verified | State::Failed => Err(SaslError::UnexpectedChallenge),
        }
    }

    fn finish(&mut self) -> Result<(), SaslError> {
        if self.is_verified() {
            Ok(())
        } else {
            self.state = State::Failed;
            Err(SaslError::ServerNotVerified)
        }
    }
}

/// A parsed server-first message.
struct ServerFirst<'a> {
    nonce: &'a [u8],
    salt: Vec<u8>,
    iterations: u32,
}

/// `printable = %x21-2B / %x2D-7E` (RFC 5802 §7), at least one.
fn is_nonce(value: &[u8]) -> bool {
    !value.is_empty()
        && value
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// The value of the attribute `name` (`name=value`), if `attribute` is that attribute.
fn attribute(attribute: &[u8], name: u8) -> Option<&[u8]> {
    match attribute {
        [n, b'=', value @ ..] if *n == name => Some(value),
        _ => None,
    }
}

/// `[reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]` (RFC 5802 §7),
/// with the checks this module's [`Scram`] documents.
fn parse_server_first<'a>(
    message: &'a [u8],
    client_nonce: &[u8],
) -> Result<ServerFirst<'a>, SaslError> {
    let invalid = SaslError::InvalidChallenge;
    if let Some(error) = attribute(message, b'e') {
        return Err(SaslError::ServerError(error_text(error)));
    }
    let mut parts = message.split(|&b| b == b',');
    let mut next = || parts.next().unwrap_or_default();
    let first = next();
    if first.starts_with(b"m=") {
        return Err(invalid(
            "SCRAM server requires an unsupported extension (m=)",
        ));
    }
    let nonce = attribute(first, b'r').ok_or(invalid("SCRAM server-first lacks r= first"))?;
    if !is_nonce(nonce) {
        return Err(invalid("SCRAM server nonce is not printable"));
    }
    if nonce.len() <= client_nonce.len() || !nonce.starts_with(client_nonce) {
        return Err(invalid(
            "SCRAM server nonce does not extend the client nonce",
        ));
    }
    let salt = attribute(next(), b's').ok_or(invalid("SCRAM server-first lacks s= second"))?;
    let salt = decode_challenge(salt).map_err(|_| invalid("SCRAM salt is not base64"))?;
    if salt.is_empty() {
        return Err(invalid("SCRAM salt is empty"));
    }
    let count = attribute(next(), b'i').ok_or(invalid("SCRAM server-first lacks i= third"))?;
    let iterations = parse_iterations(count)?;
    // Extensions may follow; each must at least look like an attribute.
    for extension in parts {
        if !matches!(extension, [b'a'..=b'z' | b'A'..=b'Z', b'=', ..]) {
            return Err(invalid("SCRAM server-first has a malformed attribute"));
        }
    }
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

/// `posit-number = %x31-39 *DIGIT`, at most [`Scram::MAX_ITERATIONS`].
fn parse_iterations(text: &[u8]) -> Result<u32, SaslError> {
    let invalid = SaslError::InvalidChallenge;
    if !matches!(text, [b'1'..=b'9', ..]) || !text.iter().all(u8::is_ascii_digit) {
        return Err(invalid("SCRAM iteration count is not a positive number"));
    }
    // More than ten digits cannot fit the bound anyway; the length check keeps parsing short.
    let count = if text.len() > 10 {
        None
    } else {
        std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
    };
    match count.and_then(|c| u32::try_from(c).ok()) {
        Some(c) if c <= Scram::MAX_ITERATIONS => Ok(c),
        _ => Err(invalid("SCRAM iteration count is too large")),
    }
}

/// Checks the server-final message `(server-error / verifier) ["," extensions]`.
fn check_server_final(message: &[u8], expected: &[u8]) -> Result<(), SaslError> {
    let first = message.split(|&b| b == b',').next().unwrap_or_default();
    if let Some(error) = attribute(first, b'e') {
        return Err(SaslError::ServerError(error_text(error)));
    }
    let signature =
        attribute(first, b'v').ok_or(SaslError::InvalidChallenge("SCRAM server-final lacks v="))?;
    let signature = decode_challenge(signature)
        .map_err(|_| SaslError::InvalidChallenge("SCRAM server signature is not base64"))?;
    if constant_time_eq(&signature, expected) {
        Ok(())
    } else {
        Err(SaslError::ServerSignatureMismatch)
    }
}

/// Byte equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `(ClientProof, ServerSignature)` (RFC 5802 §3) with HMAC `M` and hash `D`.
fn keys<M, D>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    auth_message: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), SaslError>
where
    M: Mac + KeyInit + Clone,
    D: Digest,
{
    let salted = hi::<M>(password, salt, iterations)?;
    let client_key = hmac::<M>(&salted, b"Client Key")?;
    let stored_key = D::digest(&client_key);
    let client_signature = hmac::<M>(&stored_key, auth_message)?;
    let proof = client_key
        .iter()
        .zip(&client_signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac::<M>(&salted, b"Server Key")?;
    Ok((proof, hmac::<M>(&server_key, auth_message)?))
}

/// HMAC keyed with `key`. HMAC takes keys of any length, so this does not fail.
fn keyed<M: Mac + KeyInit>(key: &[u8]) -> Result<M, SaslError> {
    <M as KeyInit>::new_from_slice(key)
        .map_err(|_| SaslError::InvalidCredential("SCRAM key rejected"))
}

/// `HMAC(key, data)`.
fn hmac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, SaslError> {
    Ok(keyed::<M>(key)?
        .chain_update(data)
        .finalize()
        .into_bytes()
        .to_vec())
}

/// `Hi(password, salt, i)` (RFC 5802 §2.2): PBKDF2 with HMAC `M`, one block.
fn hi<M: Mac + KeyInit + Clone>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<Vec<u8>, SaslError> {
    let mac = keyed::<M>(password)?;
    let mut u = mac
        .clone()
        .chain_update(salt)
        .chain_update(1u32.to_be_bytes())
        .finalize()
        .into_bytes();
    let mut result = u.clone();
    for _ in 1..iterations {
        u = mac.clone().chain_update(u).finalize().into_bytes();
        for (r, x) in result.iter_mut().zip(&u) {
            *r ^= x;
        }
    }
    Ok(result.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1_NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";
    const SHA1_SERVER_FIRST: &[u8] =
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const SHA256_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SHA256_SERVER_FIRST: &[u8] =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const SHA256_SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn sha1() -> Scram {
        Scram::with_nonce(ScramHash::Sha1, "user", "pencil", SHA1_NONCE).unwrap()
    }

    fn sha256() -> Scram {
        Scram::with_nonce(ScramHash::Sha256, "user", "pencil", SHA256_NONCE).unwrap()
    }

    /// A SCRAM-SHA-256 mechanism that has sent its client-final message of RFC 7677 §3.
    fn sha256_after_final() -> Scram {
        let mut m = sha256();
        m.initial_response().unwrap();
        m.respond(SHA256_SERVER_FIRST).unwrap();
        m
    }

    /// The client-final message `m` sends for `server_first`, or the error.
    fn final_for(server_first: &[u8]) -> Result<Vec<u8>, SaslError> {
        let mut m = sha256();
        m.initial_response().unwrap();
        m.respond(server_first).map(Secret::into_inner)
    }

    #[test]
    fn rfc5802_example_sha1() {
        let mut m = sha1();
        assert_eq!(m.name(), "SCRAM-SHA-1");
        assert_eq!(
            m.initial_response().unwrap().expose(),
            b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        assert!(m.initial_response().is_none());
        assert_eq!(
            m.respond(SHA1_SERVER_FIRST).unwrap().expose(),
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        assert!(!m.is_verified());
        assert!(m
            .respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
            .unwrap()
            .expose()
            .is_empty());
        assert!(m.is_verified());
        assert_eq!(m.finish(), Ok(()));
        assert_eq!(m.respond(b""), Err(SaslError::UnexpectedChallenge));
    }

    #[test]
    fn rfc7677_example_sha256() {
        let mut m = sha256();
        assert_eq!(m.name(), "SCRAM-SHA-256");
        assert_eq!(
            m.initial_response().unwrap().expose(),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        assert_eq!(
            m.respond(SHA256_SERVER_FIRST).unwrap().expose(),
            &b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
               p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="[..]
        );
        assert!(m.respond(SHA256_SERVER_FINAL).unwrap().expose().is_empty());
        assert_eq!(m.finish(), Ok(()));
    }

    #[test]
    fn empty_challenge_before_the_initial_response_gets_it() {
        let mut m = sha256();
        assert_eq!(
            m.respond(b"").unwrap().expose(),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        assert!(m.initial_response().is_none());
        assert!(m.respond(SHA256_SERVER_FIRST).is_ok());
    }

    #[test]
    fn a_non_empty_challenge_before_the_initial_response_is_unexpected() {
        let mut m = sha256();
        assert_eq!(
            m.respond(SHA256_SERVER_FIRST),
            Err(SaslError::UnexpectedChallenge)
        );
    }

    #[test]
    fn wrong_server_signature_fails() {
        let mut m = sha256_after_final();
        // The SCRAM-SHA-1 example's signature, and the right one with its first byte changed.
        assert_eq!(
            m.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
            Err(SaslError::ServerSignatureMismatch)
        );
        assert!(!m.is_verified());
        assert_eq!(m.finish(), Err(SaslError::ServerNotVerified));
        let mut m = sha256_after_final();
        assert_eq!(
            m.respond(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(SaslError::ServerSignatureMismatch)
        );
        // After a failure, nothing more is answered.
        assert_eq!(
            m.respond(SHA256_SERVER_FINAL),
            Err(SaslError::UnexpectedChallenge)
        );
        assert_eq!(m.finish(), Err(SaslError::ServerNotVerified));
    }

    #[test]
    fn missing_server_signature_fails() {
        // Success reported right after the client-final message.
        let mut m = sha256_after_final();
        assert_eq!(m.finish(), Err(SaslError::ServerNotVerified));
        // Or before anything at all.
        let mut m = sha256();
        assert_eq!(m.finish(), Err(SaslError::ServerNotVerified));
        // A server-final message without `v=`.
        for bad in [
            &b""[..],
            b"x=1",
            b"v",
            b"V=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        ] {
            let mut m = sha256_after_final();
            assert!(
                matches!(m.respond(bad), Err(SaslError::InvalidChallenge(_))),
                "{bad:?}"
            );
            assert_eq!(m.finish(), Err(SaslError::ServerNotVerified));
        }
        let mut m = sha256_after_final();
        assert!(matches!(
            m.respond(b"v=not base64!"),
            Err(SaslError::InvalidChallenge(_))
        ));
    }

    #[test]
    fn server_final_extensions_are_ignored() {
        let mut m = sha256_after_final();
        let mut message = SHA256_SERVER_FINAL.to_vec();
        message.extend_from_slice(b",x=ext");
        assert!(m.respond(&message).is_ok());
        assert_eq!(m.finish(), Ok(()));
    }

    #[test]
    fn server_error_fails() {
        let mut m = sha256_after_final();
        assert_eq!(
            m.respond(b"e=invalid-proof"),
            Err(SaslError::ServerError("invalid-proof".into()))
        );
        assert_eq!(m.finish(), Err(SaslError::ServerNotVerified));
        let mut m = sha256();
        m.initial_response();
        assert_eq!(
            m.respond(b"e=unknown-user"),
            Err(SaslError::ServerError("unknown-user".into()))
        );
    }

    #[test]
    fn malformed_server_first_fails() {
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvY";
        for bad in [
            String::new(),
            "garbage".into(),
            // Missing or misplaced attributes.
            "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".into(),
            format!("r={nonce},i=4096"),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ=="),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,"),
            format!("s=W22ZaJ0SNY7soEsUEjb6gQ==,r={nonce},i=4096"),
            format!("r={nonce},i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ=="),
            format!("R={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
            format!("m=ext,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
            // Bad base64 salt, empty salt.
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ,i=4096"),
            format!("r={nonce},s=W22Z aJ0S,i=4096"),
            format!("r={nonce},s=,i=4096"),
            // Nonces that do not extend ours.
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".into(),
            "r=rOprNGfwEbeRWgbNEkq,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".into(),
            "r=XOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".into(),
            "r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".into(),
            "r=,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".into(),
            "r=rOprNGfwEbeRWgbNEkqO x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".into(),
            "r=rOprNGfwEbeRWgbNEkqO\u{e9},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".into(),
            // Iteration counts: zero, huge, signed, leading zero, not a number, overflowing.
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0"),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001"),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4294967295"),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4294967296"),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999999"),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096"),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1"),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096"),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x"),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i="),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i= 4096"),
            // A malformed extension.
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,junk"),
            format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,,"),
        ] {
            let result = final_for(bad.as_bytes());
            assert!(
                matches!(result, Err(SaslError::InvalidChallenge(_))),
                "{bad:?}: {result:?}"
            );
        }
        // Bad bytes outside UTF-8 are refused too.
        assert!(final_for(b"r=rOprNGfwEbeRWgbNEkqO\xff,s=AA==,i=1").is_err());
    }

    #[test]
    fn iteration_bounds() {
        assert_eq!(parse_iterations(b"1"), Ok(1));
        assert_eq!(parse_iterations(b"4096"), Ok(4096));
        assert_eq!(parse_iterations(b"1000000"), Ok(Scram::MAX_ITERATIONS));
        assert!(parse_iterations(b"1000001").is_err());
        assert!(parse_iterations(b"0").is_err());
        // A low count is accepted; the server chose it for its own stored keys.
        assert!(final_for(b"r=rOprNGfwEbeRWgbNEkqOx,s=AA==,i=1").is_ok());
    }

    #[test]
    fn server_first_extensions_are_ignored() {
        let mut message = SHA256_SERVER_FIRST.to_vec();
        message.extend_from_slice(b",x=ext,y=");
        let mut m = sha256();
        m.initial_response();
        let client_final = m.respond(&message).unwrap().into_inner();
        assert!(client_final.starts_with(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvY"));
    }

    #[test]
    fn user_name_is_escaped() {
        let mut m = Scram::with_nonce(ScramHash::Sha256, "a,b=c", "pw", "n").unwrap();
        assert_eq!(
            m.initial_response().unwrap().expose(),
            b"n,,n=a=2Cb=3Dc,r=n"
        );
        let mut m = Scram::with_nonce(ScramHash::Sha1, "jöhn", "pw", "n").unwrap();
        assert_eq!(
            m.initial_response().unwrap().expose(),
            "n,,n=jöhn,r=n".as_bytes()
        );
    }

    #[test]
    fn credentials_and_nonce_are_checked() {
        let build = |user: &str, password: &str, nonce: &str| {
            Scram::with_nonce(ScramHash::Sha256, user, password, nonce).map(drop)
        };
        assert_eq!(build("user", "pencil", "n"), Ok(()));
        assert_eq!(build("user", "", "n"), Ok(()));
        assert_eq!(build("user", " ~!,=", "n"), Ok(()));
        for password in ["pässword", "tab\there", "nul\0", "del\x7f", "newline\n"] {
            assert!(
                matches!(
                    build("user", password, "n"),
                    Err(SaslError::InvalidCredential(_))
                ),
                "{password:?}"
            );
        }
        for user in ["a\0b", "a\r\nb", "\x7f"] {
            assert!(matches!(
                build(user, "pw", "n"),
                Err(SaslError::InvalidCredential(_))
            ));
        }
        for nonce in ["", "a,b", "a b", "é", "a\0"] {
            assert!(
                matches!(
                    build("user", "pw", nonce),
                    Err(SaslError::InvalidCredential(_))
                ),
                "{nonce:?}"
            );
        }
        let err = build("user", "pässword", "n").unwrap_err();
        assert!(!err.to_string().contains("pässword"));
    }

    #[test]
    fn random_nonces() {
        let mut a = Scram::new(ScramHash::Sha256, "user", "pencil").unwrap();
        let mut b = Scram::new(ScramHash::Sha256, "user", "pencil").unwrap();
        let (a, b) = (a.initial_response().unwrap(), b.initial_response().unwrap());
        assert_ne!(a, b);
        let nonce = &a.expose()[b"n,,n=user,r=".len()..];
        assert_eq!(nonce.len(), 24);
        assert!(is_nonce(nonce));
    }

    #[test]
    fn debug_hides_the_password() {
        let m = sha256_after_final();
        let debug = format!("{m:?}");
        assert!(!debug.contains("pencil"), "{debug}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_server_messages_never_panic_or_verify(
            first: Vec<u8>,
            last: Vec<u8>,
            suffix in "[!-+--~]{1,40}",
            iterations in 0u32..5000,
            salt: Vec<u8>,
        ) {
            // Entirely arbitrary bytes.
            let mut m = sha256();
            m.initial_response();
            let _ = m.respond(&first);
            proptest::prop_assert!(m.respond(&last).is_err());
            proptest::prop_assert_eq!(m.finish(), Err(SaslError::ServerNotVerified));

            // A well-formed server-first message with arbitrary values, then arbitrary bytes.
            let mut salt_b64 = Vec::new();
            super::super::encode_response(&salt, &mut salt_b64);
            let mut message = format!("r={SHA1_NONCE}{suffix},s=").into_bytes();
            message.extend_from_slice(&salt_b64);
            message.extend_from_slice(format!(",i={iterations}").as_bytes());
            let mut m = sha1();
            m.initial_response();
            let answer = m.respond(&message);
            proptest::prop_assert_eq!(
                answer.is_ok(),
                !salt.is_empty() && iterations > 0,
                "{:?}",
                answer
            );
            proptest::prop_assert!(m.respond(&last).is_err());
            proptest::prop_assert!(!m.is_verified());
        }
    }
}
