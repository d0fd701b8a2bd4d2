//! One connection: open it with the adapter of `--runtime`, log in, send every copy, quit.

use super::*;

use std::io::Cursor;

use smtp_blocking::proto::body::CheckedText;

/// The session: connect, authenticate, send `count` times, quit.
pub(crate) fn send(
    opts: &Options,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &SharedWrite,
    summary: &mut Summary,
) -> i32 {
    let (message, shape) = match Message::open(opts.data.as_deref(), opts.count, stdin) {
        Ok(m) => m,
        Err(e) => {
            summary.error = Some(e);
            return exit::USAGE;
        }
    };
    let connected = open(opts, stderr);
    let mut client = match connected {
        Ok(c) => c,
        Err(e) => return fail(summary, &e, Phase::Connect),
    };
    if let Some((user, pass, mech)) = &opts.auth {
        let result = match mech {
            None => client.login(user, pass),
            Some(m) => match mechanism(*m, user, pass) {
                Ok(m) => client.auth(m),
                Err(e) => {
                    summary.error = Some(e);
                    client.close();
                    return exit::USAGE;
                }
            },
        };
        if let Err(e) = result {
            let code = fail(summary, &e, Phase::Auth);
            let _ = client.quit();
            return code;
        }
    }
    let mut envelope = Envelope::new(opts.from.clone(), opts.to.iter().cloned());
    if opts.dsn.requested() {
        // A DSN is a request, not a need: without the extension the message goes without it.
        if client.offers(Extension::Dsn) {
            opts.dsn.apply(&mut envelope);
        } else {
            say(
                stderr,
                "smtp-send: warning: the server does not offer DSN; \
                 sending without --notify/--orcpt/--ret/--envid",
            );
        }
    }
    envelope.declare(&shape);
    if opts.connections > 1 {
        // This first connection checked the address, TLS, the login and DSN: the pool's
        // connections are set up the same way.
        let _ = client.quit();
        return pooled::send(opts, &message, envelope, stdout, stderr, summary);
    }
    // One connection, the copies pipelined back to back (the adapter keeps one message ahead).
    let start = Instant::now();
    let mut first_failure = None;
    let mut n = 0u64;
    // Each report is tallied as it arrives: memory stays flat whatever `--count` is.
    let mut tally = |report: MailReport| {
        n += 1;
        if let Some(code) = record(summary, opts.json, stdout, n, &report) {
            first_failure.get_or_insert(code);
        }
    };
    // Trouble after the last final reply cannot turn an outcome into an error: `send_all_with`
    // keeps its result when its work was complete (the adapters' run loops).
    // A message in memory is lent to the core as it is; a file is read copy by copy.
    let sent = match message.in_memory() {
        Some(text) => {
            let mut copies = (0..opts.count).map(|_| (envelope.clone(), Cursor::new(text.clone())));
            client.send_all_in_memory_with(&mut copies, &mut tally)
        }
        None => {
            let mut copies = (0..opts.count).map(|_| (envelope.clone(), message.reader()));
            client.send_all_with(&mut copies, &mut tally)
        }
    };
    if let Err(e) = sent {
        let code = fail(summary, &e, Phase::Mail);
        let _ = client.quit();
        return code;
    }
    summary.elapsed = Some(start.elapsed());
    if let Some(code) = first_failure {
        let _ = client.quit();
        return code;
    }
    // The messages are accepted: whatever happens to QUIT does not change that.
    let _ = client.quit();
    exit::OK
}

/// The calls the CLI makes, whichever adapter makes them.
pub(crate) trait Session {
    /// Whether the server's last EHLO/LHLO offered `extension`.
    fn offers(&self, extension: Extension) -> bool;
    fn login(&mut self, user: &str, pass: &str) -> Result<OwnedReply, Error>;
    fn auth(&mut self, mechanism: Box<dyn Mechanism>) -> Result<OwnedReply, Error>;
    fn send_all_with<'a>(
        &mut self,
        messages: &mut dyn Iterator<Item = (Envelope, Reader<'a>)>,
        on_report: &mut dyn FnMut(MailReport),
    ) -> Result<(), Error>;
    fn send_all_in_memory_with(
        &mut self,
        messages: &mut dyn Iterator<Item = (Envelope, Cursor<CheckedText>)>,
        on_report: &mut dyn FnMut(MailReport),
    ) -> Result<(), Error>;
    fn quit(&mut self) -> Result<(), Error>;
    fn close(&mut self);
}

impl Session for SmtpClient {
    fn offers(&self, extension: Extension) -> bool {
        self.capabilities().is_some_and(|c| c.supports(extension))
    }
    fn login(&mut self, user: &str, pass: &str) -> Result<OwnedReply, Error> {
        Self::login(self, user, pass)
    }
    fn auth(&mut self, mechanism: Box<dyn Mechanism>) -> Result<OwnedReply, Error> {
        Self::auth(self, mechanism)
    }
    fn send_all_with<'a>(
        &mut self,
        messages: &mut dyn Iterator<Item = (Envelope, Reader<'a>)>,
        on_report: &mut dyn FnMut(MailReport),
    ) -> Result<(), Error> {
        Self::send_all_with(self, messages, on_report)
    }
    fn send_all_in_memory_with(
        &mut self,
        messages: &mut dyn Iterator<Item = (Envelope, Cursor<CheckedText>)>,
        on_report: &mut dyn FnMut(MailReport),
    ) -> Result<(), Error> {
        Self::send_all_in_memory_with(self, messages, on_report)
    }
    fn quit(&mut self) -> Result<(), Error> {
        Self::quit(self)
    }
    fn close(&mut self) {
        Self::close(self);
    }
}

/// An async runtime, run to completion one call at a time (a CLI has one session to drive).
pub(crate) trait BlockOn: smtp_smol::Runtime {
    fn block_on<F: Future>(future: F) -> F::Output;
}

impl BlockOn for smtp_smol::Smol {
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
}

impl BlockOn for smtp_async_std::AsyncStd {
    fn block_on<F: Future>(future: F) -> F::Output {
        async_std::task::block_on(future)
    }
}

/// The message file (or standard input copy) as an `AsyncRead`: a local read in the session's
/// own task, which has nothing else to do meanwhile.
pub(crate) struct LocalRead<R>(pub(crate) R);

impl<R: Read + Unpin> futures_lite::AsyncRead for LocalRead<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.0.read(buf))
    }
}

impl<R: BlockOn> Session for GenericSmtpClient<R> {
    fn offers(&self, extension: Extension) -> bool {
        self.capabilities().is_some_and(|c| c.supports(extension))
    }
    fn login(&mut self, user: &str, pass: &str) -> Result<OwnedReply, Error> {
        R::block_on(Self::login(self, user, pass))
    }
    fn auth(&mut self, mechanism: Box<dyn Mechanism>) -> Result<OwnedReply, Error> {
        R::block_on(Self::auth(self, mechanism))
    }
    fn send_all_with<'a>(
        &mut self,
        messages: &mut dyn Iterator<Item = (Envelope, Reader<'a>)>,
        on_report: &mut dyn FnMut(MailReport),
    ) -> Result<(), Error> {
        let messages = messages.map(|(envelope, body)| (envelope, LocalRead(body)));
        R::block_on(Self::send_all_with(self, messages, on_report))
    }
    fn send_all_in_memory_with(
        &mut self,
        messages: &mut dyn Iterator<Item = (Envelope, Cursor<CheckedText>)>,
        on_report: &mut dyn FnMut(MailReport),
    ) -> Result<(), Error> {
        R::block_on(Self::send_all_in_memory_with(self, messages, on_report))
    }
    fn quit(&mut self) -> Result<(), Error> {
        R::block_on(Self::quit(self))
    }
    fn close(&mut self) {
        Self::close(self);
    }
}

/// The session settings the options ask for (every adapter takes them whole).
pub(crate) fn settings(opts: &Options) -> Settings {
    let mut s = Settings::default();
    s.hello_on_connect = true;
    s.tls = opts.tls;
    s.lmtp = opts.lmtp;
    s.danger_accept_invalid_certs = opts.insecure;
    s.allow_plaintext_auth = opts.allow_plaintext_auth;
    s.timeout = opts.timeout;
    s.local_hostname = opts.helo.clone();
    s.tls_roots = opts.ca.clone();
    s.tls_identity = opts.identity.clone();
    s
}

/// The builder of any adapter with the options set (`settings` and `transcript_sink` are
/// every builder's).
macro_rules! configured {
    ($builder:expr, $opts:expr, $stderr:expr) => {{
        let opts: &Options = $opts;
        let mut builder = $builder.settings(settings(opts));
        if opts.trace {
            let sink = Arc::clone($stderr);
            builder = builder.transcript_sink(move |entry| {
                if let Ok(mut err) = sink.lock() {
                    let _ = writeln!(err, "{}", printable(&entry.to_string()));
                }
            });
        }
        builder
    }};
}

/// Connects with the adapter of `--runtime`: the only place the runtimes differ.
pub(crate) fn open(opts: &Options, stderr: &SharedWrite) -> Result<Box<dyn Session>, Error> {
    match opts.runtime {
        Runtime::Blocking => {
            let builder = configured!(SmtpClient::builder(), opts, stderr);
            Ok(Box::new(match &opts.server {
                Server::Tcp(host, port) => builder.connect(host, *port)?,
                Server::Unix(path) => builder.connect_unix(path)?,
            }))
        }
        Runtime::Smol => open_async::<smtp_smol::Smol>(opts, stderr),
        Runtime::AsyncStd => open_async::<smtp_async_std::AsyncStd>(opts, stderr),
    }
}

fn open_async<R: BlockOn>(opts: &Options, stderr: &SharedWrite) -> Result<Box<dyn Session>, Error> {
    let builder = configured!(GenericSmtpClient::<R>::builder(), opts, stderr);
    let client = R::block_on(async {
        match &opts.server {
            Server::Tcp(host, port) => builder.connect(host, *port).await,
            Server::Unix(path) => builder.connect_unix(path).await,
        }
    })?;
    Ok(Box::new(client))
}

/// The `--auth-mech` mechanism: OAuth mechanisms take the password as the token, EXTERNAL
/// takes the user as its authorization identity and ignores the password.
pub(crate) fn mechanism(m: AuthMech, user: &str, pass: &str) -> Result<Box<dyn Mechanism>, String> {
    let e = |e: smtp_blocking::proto::sasl::SaslError| e.to_string();
    Ok(match m {
        AuthMech::Plain => Box::new(Plain::new(user, pass).map_err(e)?),
        AuthMech::Login => Box::new(Login::new(user, pass)),
        AuthMech::CramMd5 => Box::new(CramMd5::new(user, pass)),
        AuthMech::XOAuth2 => Box::new(XOAuth2::new(user, pass).map_err(e)?),
        AuthMech::ScramSha256 => Box::new(Scram::new(ScramHash::Sha256, user, pass).map_err(e)?),
        AuthMech::ScramSha1 => Box::new(Scram::new(ScramHash::Sha1, user, pass).map_err(e)?),
        AuthMech::OAuthBearer => Box::new(OAuthBearer::new(user, pass).map_err(e)?),
        AuthMech::External => Box::new(External::new().with_authzid(user).map_err(e)?),
    })
}
