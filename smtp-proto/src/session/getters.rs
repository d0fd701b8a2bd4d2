//! The smtplib-style getters every adapter's client has, written once, and the open session
//! they read.

/// One open session as an adapter holds it: the core, the adapter's transport, and the name
/// the server's certificate is verified against.
#[derive(Debug)]
pub struct Live<T> {
    /// The core session.
    pub client: crate::Client,
    /// The adapter's byte pipe.
    pub io: T,
    /// The TLS server name: the host connected to (`localhost` for a Unix socket), or the
    /// name given to `connect_stream`.
    pub server_name: String,
}

impl<T> Live<T> {
    /// A session over `io` from `config` (see [`Settings::session_config`](super::Settings::session_config));
    /// `now` starts the greeting's timer.
    pub fn new(config: crate::Config, io: T, server_name: &str, now: std::time::Instant) -> Self {
        Self {
            client: crate::Client::new(config, now),
            io,
            server_name: server_name.to_owned(),
        }
    }
}

/// Expands, inside the `impl` block of an adapter's client that has a method
/// `fn session(&self) -> Option<&Client>` (the core session, `None` when not connected), the
/// getters smtplib users look for: `greeting`, `ehlo_response`, `helo_response`, `does_esmtp`,
/// `capabilities`, `has_extn`, `is_secure` and `local_hostname`. With `field name`, for a
/// client whose field `name` is an `Option<`[`Live`]`<_>>`, it also expands `session`,
/// `server_name` and the private `client_mut` that [`smtplib_methods!`](crate::smtplib_methods)
/// needs.
///
/// ```
/// use smtp_proto::Client;
///
/// struct MyClient {
///     core: Option<Client>,
/// }
///
/// impl MyClient {
///     /// The core session.
///     pub fn session(&self) -> Option<&Client> {
///         self.core.as_ref()
///     }
///
///     smtp_proto::session_getters!();
/// }
///
/// let client = MyClient { core: None };
/// assert!(client.greeting().is_none() && !client.is_secure() && !client.has_extn("SIZE"));
/// ```
#[macro_export]
macro_rules! session_getters {
    (field $session:ident) => {
        /// The core session, for everything the getters below do not cover.
        pub fn session(&self) -> Option<&$crate::Client> {
            self.$session.as_ref().map(|s| &s.client)
        }

        fn client_mut(&mut self) -> Option<&mut $crate::Client> {
            self.$session.as_mut().map(|s| &mut s.client)
        }

        /// The TLS server name: the host connected to (`localhost` for a Unix socket), or the
        /// name given to `connect_stream`.
        pub fn server_name(&self) -> Option<&str> {
            self.$session.as_ref().map(|s| s.server_name.as_str())
        }

        $crate::session_getters!();
    };
    () => {
        /// The greeting reply.
        pub fn greeting(&self) -> Option<&$crate::OwnedReply> {
            self.session()?.greeting()
        }

        /// The last EHLO/LHLO reply (smtplib's `ehlo_resp`).
        pub fn ehlo_response(&self) -> Option<&$crate::OwnedReply> {
            self.session()?.ehlo_response()
        }

        /// The last HELO reply (smtplib's `helo_resp`).
        pub fn helo_response(&self) -> Option<&$crate::OwnedReply> {
            self.session()?.helo_response()
        }

        /// Whether the last hello was a successful EHLO/LHLO (smtplib's `does_esmtp`).
        pub fn does_esmtp(&self) -> bool {
            self.session().is_some_and($crate::Client::does_esmtp)
        }

        /// The server's capabilities from the last EHLO (smtplib's `esmtp_features`).
        pub fn capabilities(&self) -> Option<&$crate::Capabilities> {
            self.session()?.capabilities()
        }

        /// smtplib's `has_extn`: whether the last EHLO advertised `name` (case-insensitive).
        pub fn has_extn(&self, name: &str) -> bool {
            self.session().is_some_and(|c| c.has_extn(name))
        }

        /// Whether the connection is TLS (implicit, or after STARTTLS).
        pub fn is_secure(&self) -> bool {
            self.session().is_some_and($crate::Client::is_secure)
        }

        /// The name sent with EHLO/HELO/LHLO in this session (smtplib's `local_hostname`).
        pub fn local_hostname(&self) -> Option<&$crate::Domain> {
            self.session().map(|c| &c.config().hello_name)
        }
    };
}
