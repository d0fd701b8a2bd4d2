//! The settings a session starts from, shared by every adapter's builder, and their mapping to
//! the core's [`Config`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::body::BareLineEndings;
use crate::client::{Config, Limits, Setup, Timeouts, TlsMode};
use crate::Domain;

use super::{Error, Result, LMTP_PORT, SMTPS_PORT, SMTP_PORT};

/// Everything a session is set up from, but the TLS backend's own objects (a connector of the
/// caller's) and the transcript sink, which each adapter holds. Every adapter's builder sets these fields
/// with the same names and defaults.
///
/// Defaults: SMTP, no TLS, certificates verified when TLS is used, greeting only on connect
/// (smtplib's behaviour: the first command that needs it says hello), RFC 5321 timeouts,
/// PIPELINING and CHUNKING used when offered, bare CR/LF in bodies turned into CRLF.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// The name sent with EHLO/HELO/LHLO (smtplib's `local_hostname`). Default: this host's
    /// FQDN, else the address literal of the local end of the connection (`[192.0.2.1]`), else
    /// `localhost` (Unix sockets, streams of the caller's): see
    /// [`default_hello_name`](super::default_hello_name).
    pub local_hostname: Option<Domain>,
    /// One timeout for everything (smtplib's `timeout`): the connect, the TLS handshake and
    /// each wait for a complete reply or for write progress. Zero is refused at connect time
    /// (as smtplib's `ValueError`). Default: the RFC 5321 §4.5.3.2 timeouts ([`Timeouts`]).
    pub timeout: Option<Duration>,
    /// Per-stage timeouts; override [`timeout`](Self::timeout) for replies (the connect still
    /// uses `timeout`, or `timeouts.command`).
    pub timeouts: Option<Timeouts>,
    /// The local address to connect from (smtplib's `source_address`); port 0 picks any.
    pub source_address: Option<SocketAddr>,
    /// The TLS policy: [`TlsMode::Implicit`] for SMTPS (port 465, smtplib's `SMTP_SSL`),
    /// [`TlsMode::Opportunistic`] / [`TlsMode::Required`] to upgrade with STARTTLS on connect
    /// (these imply [`hello_on_connect`](Self::hello_on_connect)). Default: disabled (call
    /// `starttls` yourself, as with smtplib).
    pub tls: TlsMode,
    /// Accept any certificate and host name (tests only). Ignored when the adapter is given a
    /// TLS connector of the caller's.
    pub danger_accept_invalid_certs: bool,
    /// PEM-encoded CA certificates trusted in addition to the system's roots (for a private
    /// CA); an entry may hold several certificates (a bundle, see
    /// [`pem_certificates`](super::pem_certificates)). The adapter's TLS backend parses them at connect time (one that
    /// cannot be parsed is an [`Error::InvalidSetting`], before anything is sent). Ignored
    /// when the adapter is given a TLS connector of the caller's.
    pub tls_roots: Vec<Vec<u8>>,
    /// The client certificate and key presented when the server asks for one (TLS client
    /// authentication). Ignored when the adapter is given a TLS connector of the caller's.
    pub tls_identity: Option<TlsIdentity>,
    /// Speak LMTP (RFC 2033, smtplib's `LMTP`): LHLO, and one reply per recipient after the
    /// data. Default port [`LMTP_PORT`]; a host starting with `/` is a Unix socket path.
    pub lmtp: bool,
    /// Say EHLO (HELO as fallback, LHLO for LMTP) as part of connecting, and fail the connect
    /// if both are refused. Default off (smtplib says hello lazily).
    pub hello_on_connect: bool,
    /// Permit AUTH on a plaintext connection to a remote server. Without it AUTH needs TLS,
    /// except to a loopback address or a Unix socket (Go's net/smtp rule after CVE-2017-15042);
    /// a stream the caller connected always counts as remote.
    pub allow_plaintext_auth: bool,
    /// Use PIPELINING (RFC 2920) when offered. Default on.
    pub pipelining: bool,
    /// Use CHUNKING/BDAT (RFC 3030) when offered. Default on.
    pub chunking: bool,
    /// What to do with bare CR or LF in message bodies. Default: turn them into CRLF.
    pub bare_line_endings: BareLineEndings,
    /// Memory bounds of the session.
    pub limits: Limits,
    /// smtplib's `initial_response_ok`: put a mechanism's initial response on the AUTH line
    /// (RFC 4954 SASL-IR) when it fits. Off: it goes after the server's empty `334`. Default on.
    pub initial_response_ok: bool,
    /// How a connection pool built from these settings uses its connections (the adapters'
    /// `Pool`); a single client ignores it.
    pub pool: crate::pool::PoolSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            local_hostname: None,
            timeout: None,
            timeouts: None,
            source_address: None,
            tls: TlsMode::Disabled,
            danger_accept_invalid_certs: false,
            tls_roots: Vec::new(),
            tls_identity: None,
            lmtp: false,
            hello_on_connect: false,
            allow_plaintext_auth: false,
            pipelining: true,
            chunking: true,
            bare_line_endings: BareLineEndings::Normalize,
            limits: Limits::default(),
            initial_response_ok: true,
            pool: crate::pool::PoolSettings::default(),
        }
    }
}

/// A TLS client identity, as PEM: the certificate chain (the client's certificate first, then
/// any intermediates) and its private key in PKCS#8 (`-----BEGIN PRIVATE KEY-----`, what
/// `native_tls::Identity::from_pkcs8` takes; convert other key formats with
/// `openssl pkcs8 -topk8 -nocrypt`). Plain bytes: the adapter's TLS backend parses them at
/// connect time.
///
/// Its `Debug` output shows the certificate chain's length, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    /// The certificate chain, PEM-encoded (the client's certificate first).
    pub cert_chain_pem: Vec<u8>,
    /// The private key of the first certificate, PKCS#8 PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field(
                "cert_chain_pem",
                &format_args!("<{} bytes>", self.cert_chain_pem.len()),
            )
            .field("key_pem", &format_args!("<redacted>"))
            .finish()
    }
}

/// What the adapter learned of the connection it opened, for [`Settings::config`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The local address of the connection (TCP), for the default hello name.
    pub local_ip: Option<IpAddr>,
    /// Whether the server is on this host (a loopback address, a Unix socket): AUTH over
    /// plaintext is allowed then.
    pub loopback: bool,
}

impl Settings {
    /// The port used when none is given: [`LMTP_PORT`] for LMTP, [`SMTPS_PORT`] for implicit
    /// TLS, else [`SMTP_PORT`].
    pub fn default_port(&self) -> u16 {
        match (self.lmtp, self.tls) {
            (true, _) => LMTP_PORT,
            (false, TlsMode::Implicit) => SMTPS_PORT,
            (false, _) => SMTP_PORT,
        }
    }

    /// The reply timeouts: [`timeouts`](Self::timeouts), else [`timeout`](Self::timeout) for
    /// every stage, else RFC 5321's.
    pub fn effective_timeouts(&self) -> Timeouts {
        match (self.timeouts, self.timeout) {
            (Some(t), _) => t,
            (None, Some(d)) => Timeouts::uniform(d),
            (None, None) => Timeouts::default(),
        }
    }

    /// What bounds the connect and an implicit-TLS handshake: [`timeout`](Self::timeout), else
    /// the command timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.timeout
            .unwrap_or_else(|| self.effective_timeouts().command)
    }

    /// Refuses settings that cannot work, before anything is connected: a zero timeout (the
    /// adapters' sockets would not block at all; smtplib raises `ValueError`).
    pub fn check(&self) -> Result<()> {
        if self.timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::InvalidSetting(
                "a zero timeout is not supported".into(),
            ));
        }
        Ok(())
    }

    /// The core's configuration for a session to `peer`, greeting as `hello_name` (see
    /// [`default_hello_name`](super::default_hello_name) for the default), with the transcript
    /// kept when someone reads it. The automatic set-up (hello, and STARTTLS when TLS is
    /// wanted) runs when [`hello_on_connect`](Self::hello_on_connect) is set or the TLS policy
    /// is opportunistic or required; plaintext AUTH is allowed to a loopback peer or when
    /// [`allow_plaintext_auth`](Self::allow_plaintext_auth) says so.
    pub fn config(&self, hello_name: Domain, peer: Peer, transcript: bool) -> Config {
        let automatic =
            self.hello_on_connect || matches!(self.tls, TlsMode::Opportunistic | TlsMode::Required);
        let mut config = Config::new(self.local_hostname.clone().unwrap_or(hello_name));
        config.lmtp = self.lmtp;
        config.tls = self.tls;
        config.setup = if automatic {
            Setup::Automatic
        } else {
            Setup::Manual
        };
        config.allow_auth_without_tls = self.allow_plaintext_auth || peer.loopback;
        config.pipelining = self.pipelining;
        config.chunking = self.chunking;
        config.bare_line_endings = self.bare_line_endings;
        // Only while someone reads it: every line is formatted and allocated.
        config.transcript = transcript;
        config.timeouts = self.effective_timeouts();
        config.limits = self.limits;
        config.initial_response = self.initial_response_ok;
        config
    }

    /// Whether a session will do TLS, or TLS material was given: then the adapter builds its
    /// TLS connector before connecting, so that bad material fails before anything is sent
    /// (and a plaintext session never pays for loading the system's roots).
    pub fn wants_tls(&self) -> bool {
        self.tls != TlsMode::Disabled || !self.tls_roots.is_empty() || self.tls_identity.is_some()
    }

    /// [`config`](Self::config) for a session to `peer`, greeting as the configured hello
    /// name, else `fqdn` (this host's, as the system says), else the address literal of the
    /// connection's local end, else `localhost` (see
    /// [`default_hello_name`](super::default_hello_name)).
    pub fn session_config(&self, peer: Peer, fqdn: Option<Domain>, transcript: bool) -> Config {
        let hello_name = super::default_hello_name(fqdn, peer.local_ip);
        self.config(hello_name, peer, transcript)
    }

    /// Every certificate of [`tls_roots`](Self::tls_roots), one PEM text each, with the
    /// number of the bundle it came from (from 1), for [`bad_root`](Self::bad_root).
    pub fn root_certificates(&self) -> impl Iterator<Item = (usize, &[u8])> {
        self.tls_roots.iter().enumerate().flat_map(|(n, pem)| {
            super::pem_certificates(pem)
                .into_iter()
                .map(move |c| (n + 1, c))
        })
    }

    /// The error for a root certificate of bundle `n` that the TLS library refused.
    pub fn bad_root(n: usize, error: impl std::fmt::Display) -> Error {
        Error::InvalidSetting(format!(
            "root certificate {n} is not a PEM certificate: {error}"
        ))
    }

    /// The error for a [`tls_identity`](Self::tls_identity) that the TLS library refused.
    pub fn bad_identity(error: impl std::fmt::Display) -> Error {
        Error::InvalidSetting(format!(
            "the client identity is not a PEM certificate chain with its PKCS#8 PEM key: {error}"
        ))
    }
}

/// Expands, inside the `impl` block of an adapter's builder that has a `settings: Settings`
/// field, one chaining setter per [`Settings`] field, with the same names, defaults and docs in
/// every adapter. The adapter adds what is its own (the TLS connector, the transcript sink,
/// connecting).
///
/// ```
/// use smtp_proto::session::Settings;
///
/// #[derive(Default)]
/// struct MyBuilder {
///     settings: Settings,
/// }
///
/// impl MyBuilder {
///     smtp_proto::settings_setters!();
/// }
///
/// let builder = MyBuilder::default().lmtp(true).pipelining(false);
/// assert!(builder.settings.lmtp && !builder.settings.pipelining);
/// ```
#[macro_export]
macro_rules! settings_setters {
    () => {
        /// The name sent with EHLO/HELO/LHLO (smtplib's `local_hostname`). Default: this host's
        /// FQDN, else the address literal of the local end of the connection (`[192.0.2.1]`),
        /// else `localhost` (Unix sockets, streams of the caller's).
        pub fn local_hostname(mut self, name: $crate::Domain) -> Self {
            self.settings.local_hostname = Some(name);
            self
        }

        /// One timeout for everything (smtplib's `timeout`): the connect, the TLS handshake and
        /// each wait for a complete reply or for write progress. Zero is refused at connect
        /// time (as smtplib's `ValueError`). Default: the RFC 5321 §4.5.3.2 timeouts.
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.settings.timeout = Some(timeout);
            self
        }

        /// Per-stage timeouts; overrides [`timeout`](Self::timeout) for replies (the connect
        /// still uses `timeout`, or `timeouts.command`).
        pub fn timeouts(mut self, timeouts: $crate::client::Timeouts) -> Self {
            self.settings.timeouts = Some(timeouts);
            self
        }

        /// The local address to connect from (smtplib's `source_address`); port 0 picks any.
        pub fn source_address(mut self, addr: ::std::net::SocketAddr) -> Self {
            self.settings.source_address = Some(addr);
            self
        }

        /// The TLS policy: `Implicit` for SMTPS (port 465, smtplib's `SMTP_SSL`),
        /// `Opportunistic` / `Required` to upgrade with STARTTLS on connect (these imply
        /// [`hello_on_connect`](Self::hello_on_connect)). Default: disabled (call `starttls`
        /// yourself, as with smtplib).
        pub fn tls(mut self, mode: $crate::client::TlsMode) -> Self {
            self.settings.tls = mode;
            self
        }

        /// Accept any certificate and host name (tests only). Ignored when a TLS connector of
        /// your own is given.
        pub fn danger_accept_invalid_certs(mut self, insecure: bool) -> Self {
            self.settings.danger_accept_invalid_certs = insecure;
            self
        }

        /// Trusts the PEM-encoded CA certificate `pem` in addition to the system's roots (a
        /// bundle of several certificates trusts each; call again for more). A certificate that cannot be parsed fails the connect with
        /// `Error::InvalidSetting` before anything is sent. Ignored when a TLS connector of your own is
        /// given.
        ///
        /// For a private CA, trust it and keep verification on:
        /// `builder.add_root_certificate_pem(std::fs::read("ca.pem")?)`, then connect to a
        /// host name the server's certificate names.
        pub fn add_root_certificate_pem(mut self, pem: impl Into<::std::vec::Vec<u8>>) -> Self {
            self.settings.tls_roots.push(pem.into());
            self
        }

        /// Presents this client certificate (PEM, the client's certificate first, then any
        /// intermediates) with its private key (PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`)
        /// when the server asks for one (TLS client authentication). An identity that cannot be
        /// parsed fails the connect with `Error::InvalidSetting` before anything is sent. Ignored when a
        /// TLS connector of your own is given.
        ///
        /// A key in another format converts with `openssl pkcs8 -topk8 -nocrypt -in key.pem`.
        pub fn client_identity_pem(
            mut self,
            cert_chain: impl Into<::std::vec::Vec<u8>>,
            key: impl Into<::std::vec::Vec<u8>>,
        ) -> Self {
            self.settings.tls_identity = Some($crate::session::TlsIdentity {
                cert_chain_pem: cert_chain.into(),
                key_pem: key.into(),
            });
            self
        }

        /// Speak LMTP (RFC 2033, smtplib's `LMTP`): LHLO, and one reply per recipient after the
        /// data. Default port 2003; a host starting with `/` is a Unix socket path.
        pub fn lmtp(mut self, lmtp: bool) -> Self {
            self.settings.lmtp = lmtp;
            self
        }

        /// Say EHLO (HELO as fallback, LHLO for LMTP) as part of connecting, and fail the
        /// connect if both are refused. Default off (smtplib says hello lazily).
        pub fn hello_on_connect(mut self, on: bool) -> Self {
            self.settings.hello_on_connect = on;
            self
        }

        /// Permit AUTH on a plaintext connection to a remote server. Without it AUTH needs TLS,
        /// except to a loopback address or a Unix socket (Go's net/smtp rule after
        /// CVE-2017-15042); a stream you connected yourself always counts as remote.
        pub fn allow_plaintext_auth(mut self, allow: bool) -> Self {
            self.settings.allow_plaintext_auth = allow;
            self
        }

        /// Use PIPELINING (RFC 2920) when offered. Default on.
        pub fn pipelining(mut self, on: bool) -> Self {
            self.settings.pipelining = on;
            self
        }

        /// Use CHUNKING/BDAT (RFC 3030) when offered. Default on.
        pub fn chunking(mut self, on: bool) -> Self {
            self.settings.chunking = on;
            self
        }

        /// What to do with bare CR or LF in message bodies. Default: turn them into CRLF.
        pub fn bare_line_endings(mut self, policy: $crate::body::BareLineEndings) -> Self {
            self.settings.bare_line_endings = policy;
            self
        }

        /// Memory bounds of the session.
        pub fn limits(mut self, limits: $crate::client::Limits) -> Self {
            self.settings.limits = limits;
            self
        }

        /// smtplib's `initial_response_ok`: put a mechanism's initial response on the AUTH
        /// line (RFC 4954 SASL-IR) when it fits; off, it goes after the server's empty `334`
        /// (for servers that mishandle SASL-IR). Default on.
        pub fn initial_response_ok(mut self, on: bool) -> Self {
            self.settings.initial_response_ok = on;
            self
        }

        /// How a connection pool built from these settings uses its connections (max
        /// connections, messages per connection, idle timeout, retries, login, …).
        pub fn pool(mut self, pool: $crate::pool::PoolSettings) -> Self {
            self.settings.pool = pool;
            self
        }

        /// All the settings at once (what the other setters set one by one).
        pub fn settings(mut self, settings: $crate::session::Settings) -> Self {
            self.settings = settings;
            self
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_debug_hides_the_key() {
        let s = Settings {
            tls_identity: Some(TlsIdentity {
                cert_chain_pem: b"CERT".to_vec(),
                key_pem: b"SECRET-KEY-BYTES".to_vec(),
            }),
            ..Settings::default()
        };
        let text = format!("{s:?}");
        assert!(
            text.contains("<4 bytes>") && text.contains("<redacted>"),
            "{text}"
        );
        assert!(
            !text.contains("SECRET") && !text.contains("83, 69"),
            "{text}"
        );
    }

    #[test]
    fn default_ports_follow_protocol_and_tls() {
        let mut s = Settings::default();
        assert_eq!(s.default_port(), SMTP_PORT);
        s.tls = TlsMode::Implicit;
        assert_eq!(s.default_port(), SMTPS_PORT);
        s.lmtp = true;
        assert_eq!(s.default_port(), LMTP_PORT);
    }

    #[test]
    fn timeouts_and_the_zero_timeout() {
        let mut s = Settings::default();
        assert_eq!(s.effective_timeouts(), Timeouts::default());
        assert_eq!(s.connect_timeout(), Timeouts::default().command);
        s.timeout = Some(Duration::from_secs(3));
        assert_eq!(
            s.effective_timeouts(),
            Timeouts::uniform(Duration::from_secs(3))
        );
        assert_eq!(s.connect_timeout(), Duration::from_secs(3));
        assert!(s.check().is_ok());
        s.timeout = Some(Duration::ZERO);
        assert!(matches!(s.check(), Err(Error::InvalidSetting(_))));
    }

    #[test]
    fn the_config_says_who_greets_and_who_may_auth_in_plaintext() {
        let name = || Domain::try_from("client.example").expect("domain");
        let remote = Peer {
            local_ip: None,
            loopback: false,
        };
        let local = Peer {
            loopback: true,
            ..remote
        };
        let mut s = Settings::default();
        let c = s.config(name(), remote, true);
        assert_eq!(c.setup, Setup::Manual);
        assert!(!c.allow_auth_without_tls && c.transcript);
        assert!(s.config(name(), local, false).allow_auth_without_tls);
        s.tls = TlsMode::Opportunistic;
        assert_eq!(s.config(name(), remote, false).setup, Setup::Automatic);
        s.tls = TlsMode::Disabled;
        s.hello_on_connect = true;
        s.allow_plaintext_auth = true;
        s.local_hostname = Some(Domain::try_from("mine.example").expect("domain"));
        let c = s.config(name(), remote, false);
        assert_eq!(c.setup, Setup::Automatic);
        assert!(c.allow_auth_without_tls);
        assert_eq!(c.hello_name.as_str(), "mine.example");
    }
}
