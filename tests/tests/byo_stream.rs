//! Bring your own stream: every adapter runs a session over a stream the caller connected — here
//! through a tiny in-test HTTP CONNECT proxy, so the stream handed over is the proxy's socket,
//! never the server's — with plaintext delivery byte-exact, STARTTLS, implicit TLS, the
//! AUTH-over-plaintext rule, and (blocking) deadlines enforced through a stream type of our own.
//! Each adapter's `examples/<adapter>_http_proxy.rs` (the crate docs point to it) is run here too.

use std::future::Future;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smtp_async_std::AsyncStd;
use smtp_blocking::{Connection, Error, SmtpClient, TlsMode, UsageError};
use smtp_smol::{AsyncIo, GenericSmtpClient, Smol};
use smtp_tests::matrix::{test_ca_builder, AsyncRuntime};
use smtp_tests::server::{
    localhost_acceptor, trusting_connector, Action, Server, SessionLog, Trigger,
};

#[allow(dead_code)]
#[path = "../../smtp-blocking/examples/blocking_http_proxy.rs"]
mod blocking_http_proxy;

#[allow(dead_code)]
#[path = "../../smtp-smol/examples/smol_http_proxy.rs"]
mod smol_http_proxy;

const T: Duration = Duration::from_secs(10);
/// The longest proxy reply head read.
const MAX_HEAD: usize = 8 * 1024;

// ------------------------------------------------------------------ the tunnel

/// An HTTP CONNECT proxy on loopback: each connection names its target in a `CONNECT host:port`
/// request, gets `200`, and is then relayed byte for byte to the target.
struct Proxy {
    addr: SocketAddr,
    /// The targets asked for, in order.
    targets: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&targets);
        // The accept loop lives as long as the test process.
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                thread::spawn(move || serve_tunnel(client, &seen));
            }
        });
        Self { addr, targets }
    }

    fn targets(&self) -> Vec<String> {
        self.targets.lock().expect("targets").clone()
    }
}

fn serve_tunnel(mut client: TcpStream, seen: &Mutex<Vec<String>>) {
    client.set_read_timeout(Some(T)).expect("timeout");
    let Ok(head) = read_head(&mut client) else {
        return;
    };
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_default()
        .to_owned();
    seen.lock().expect("targets").push(target.clone());
    let Ok(server) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        return;
    };
    client.set_read_timeout(None).expect("timeout");
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .expect("200");
    relay(client, server);
}

/// Copies both ways until each side has ended, passing each end of stream on.
fn relay(client: TcpStream, server: TcpStream) {
    let pipe = |mut from: TcpStream, mut to: TcpStream| {
        thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    let up = pipe(
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let down = pipe(server, client);
    let _ = up.join();
    let _ = down.join();
}

/// Reads an HTTP head (up to and including the empty line) byte by byte: what follows belongs
/// to the tunnel.
fn read_head(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD || stream.read(&mut byte)? == 0 {
            return Err(ErrorKind::InvalidData.into());
        }
        head.extend_from_slice(&byte);
    }
    Ok(head)
}

fn connect_request(target: SocketAddr) -> String {
    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")
}

/// A stream through the proxy to `target`, its handshake done: blocking.
fn tunnel(proxy: &Proxy, target: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(proxy.addr).expect("connect to the proxy");
    tcp.set_read_timeout(Some(T)).expect("timeout");
    tcp.write_all(connect_request(target).as_bytes())
        .expect("CONNECT");
    let head = read_head(&mut tcp).expect("proxy reply");
    assert!(head.starts_with(b"HTTP/1.1 200 "), "{head:?}");
    tcp.set_nodelay(true).expect("nodelay");
    tcp
}

/// The same handshake on any async stream.
async fn tunnel_async<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, target: SocketAddr) -> S {
    stream
        .write_all(connect_request(target).as_bytes())
        .await
        .expect("CONNECT");
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < MAX_HEAD, "proxy reply too long");
        let n = stream.read(&mut byte).await.expect("proxy reply");
        assert_eq!(n, 1, "proxy closed during its reply");
        head.extend_from_slice(&byte);
    }
    assert!(head.starts_with(b"HTTP/1.1 200 "), "{head:?}");
    stream
}

// ------------------------------------------------------------------ shared helpers

/// A body that must arrive exactly as sent: dot lines (stuffed by the client, un-stuffed by the
/// server), a lone dot that is not the end, and enough lines to take many writes.
fn message() -> Vec<u8> {
    let mut body =
        b"From: a@x.org\r\nTo: b@y.org\r\nSubject: through a tunnel\r\n\r\n.leading dot\r\n"
            .to_vec();
    body.extend_from_slice(b"..two dots\r\n.\r\nnot the end yet\r\n");
    for i in 0..4000 {
        body.extend_from_slice(format!("line {i:05} {}\r\n", "x".repeat(i % 97)).as_bytes());
    }
    body.extend_from_slice(b".\r\n");
    body
}

fn finished(server: &Server) -> SessionLog {
    let logs = server.wait_finished(1, T);
    assert!(logs.len() == 1 && logs[0].finished, "{logs:?}");
    logs[0].clone()
}

/// The one session went through the proxy and delivered `sent` byte for byte.
fn assert_delivered(server: &Server, proxy: &Proxy, sent: &[u8], secure: bool) {
    let log = finished(server);
    assert_eq!(proxy.targets(), [server.addr().to_string()]);
    assert_eq!(log.tls, secure);
    assert_eq!(log.messages.len(), 1, "{log:?}");
    let received = &log.messages[0];
    assert_eq!(received.size, sent.len() as u64);
    assert!(received.data == sent, "the body changed on the way");
    assert_eq!(received.secure, secure);
    assert_eq!(received.sender(), "a@x.org");
    assert_eq!(received.recipients(), ["b@y.org"]);
}

fn starttls_server() -> Server {
    Server::builder()
        .starttls(localhost_acceptor())
        .start()
        .expect("server")
}

fn implicit_tls_server() -> Server {
    Server::builder()
        .implicit_tls(localhost_acceptor())
        .start()
        .expect("server")
}

// ------------------------------------------------------------------ blocking

/// A stream type of our own: a `TcpStream` whose timeout calls are recorded. It does not
/// implement `set_nonblocking` (the optional one).
struct Recorded {
    tcp: TcpStream,
    read_timeouts: Arc<Mutex<Vec<Option<Duration>>>>,
}

impl Read for Recorded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for Recorded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

impl Connection for Recorded {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeouts.lock().expect("timeouts").push(timeout);
        self.tcp.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp.set_write_timeout(timeout)
    }
}

/// A stream that cannot bound its waits, and says so.
struct Unbounded(TcpStream);

impl Read for Unbounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Unbounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Connection for Unbounded {
    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Err(ErrorKind::Unsupported.into())
    }

    fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Err(ErrorKind::Unsupported.into())
    }
}

#[test]
fn blocking_session_over_a_tunnel_delivers_byte_exact() {
    let server = Server::start().expect("server");
    let proxy = Proxy::start();
    let body = message();
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .connect_stream(tunnel(&proxy, server.addr()), "localhost")
        .expect("session");
    assert_eq!(smtp.server_name(), Some("localhost"));
    assert!(!smtp.is_secure());
    let refused = smtp
        .sendmail("a@x.org", ["b@y.org"], body.as_slice())
        .expect("send");
    assert!(refused.is_empty());
    smtp.quit().expect("quit");
    assert_delivered(&server, &proxy, &body, false);
}

#[test]
fn blocking_starttls_over_a_tunnel() {
    let server = starttls_server();
    let proxy = Proxy::start();
    let body = message();
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .tls(TlsMode::Required)
        .tls_connector(trusting_connector())
        .connect_stream(tunnel(&proxy, server.addr()), "localhost")
        .expect("session");
    assert!(smtp.is_secure());
    smtp.sendmail("a@x.org", ["b@y.org"], body.as_slice())
        .expect("send");
    smtp.quit().expect("quit");
    assert_delivered(&server, &proxy, &body, true);
}

/// STARTTLS on demand over a stream type without `set_nonblocking`: the check for plaintext
/// behind the `220` is skipped, the upgrade works.
#[test]
fn blocking_starttls_over_a_stream_type_of_our_own() {
    let server = starttls_server();
    let proxy = Proxy::start();
    let body = message();
    let stream = Recorded {
        tcp: tunnel(&proxy, server.addr()),
        read_timeouts: Arc::default(),
    };
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .tls_connector(trusting_connector())
        .build();
    let greeting = smtp.connect_stream(stream, "localhost").expect("session");
    assert_eq!(greeting.code().get(), 220);
    assert!(!smtp.is_secure());
    assert_eq!(smtp.starttls().expect("starttls").code().get(), 220);
    assert!(smtp.is_secure());
    smtp.sendmail("a@x.org", ["b@y.org"], body.as_slice())
        .expect("send");
    smtp.quit().expect("quit");
    assert_delivered(&server, &proxy, &body, true);
}

#[test]
fn blocking_implicit_tls_over_a_tunnel() {
    let server = implicit_tls_server();
    let proxy = Proxy::start();
    let body = message();
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .tls(TlsMode::Implicit)
        .tls_connector(trusting_connector())
        .connect_stream(tunnel(&proxy, server.addr()), "localhost")
        .expect("session");
    assert!(smtp.is_secure());
    smtp.sendmail("a@x.org", ["b@y.org"], body.as_slice())
        .expect("send");
    smtp.quit().expect("quit");
    assert_delivered(&server, &proxy, &body, true);
}

/// The certificate is checked against the name given, not the proxy's address.
#[test]
fn blocking_tls_over_a_tunnel_verifies_the_server_name_given() {
    let server = implicit_tls_server();
    let proxy = Proxy::start();
    let result = SmtpClient::builder()
        .timeout(T)
        .tls(TlsMode::Implicit)
        .tls_connector(trusting_connector())
        .connect_stream(tunnel(&proxy, server.addr()), "mx.elsewhere.test");
    assert!(matches!(result, Err(Error::Tls(_))), "{result:?}");
}

#[test]
fn blocking_stalled_peer_behind_our_own_stream_type_times_out() {
    let server = Server::builder()
        .on(Trigger::command("MAIL"), Action::Hang)
        .start()
        .expect("server");
    let proxy = Proxy::start();
    let limit = Duration::from_millis(400);
    let read_timeouts = Arc::new(Mutex::new(Vec::new()));
    let stream = Recorded {
        tcp: tunnel(&proxy, server.addr()),
        read_timeouts: Arc::clone(&read_timeouts),
    };
    let mut smtp = SmtpClient::builder()
        .timeout(limit)
        .connect_stream(stream, "localhost")
        .expect("session");
    smtp.ehlo().expect("ehlo");
    let started = Instant::now();
    let result = smtp.sendmail("a@x.org", ["b@y.org"], &b"never sent\r\n"[..]);
    let took = started.elapsed();
    assert!(result.as_ref().is_err_and(Error::is_timeout), "{result:?}");
    assert!(took >= limit - Duration::from_millis(50), "{took:?}");
    assert!(took < limit + Duration::from_secs(2), "{took:?}");
    assert!(!smtp.is_connected());
    // The deadlines reached the stream: every read was bounded, never by more than the limit.
    let timeouts = read_timeouts.lock().expect("timeouts").clone();
    assert!(!timeouts.is_empty());
    assert!(
        timeouts.iter().all(|t| t.is_some_and(|t| t <= limit)),
        "{timeouts:?}"
    );
}

/// A stream that cannot time out fails the session at once rather than wait without a bound.
#[test]
fn blocking_stream_that_cannot_time_out_is_an_io_error() {
    let server = Server::start().expect("server");
    let proxy = Proxy::start();
    let started = Instant::now();
    let result = SmtpClient::builder()
        .timeout(T)
        .connect_stream(Unbounded(tunnel(&proxy, server.addr())), "localhost");
    assert!(
        matches!(&result, Err(Error::Io(e)) if e.kind() == ErrorKind::Unsupported),
        "{result:?}"
    );
    assert!(started.elapsed() < T);
}

/// The tunnel's socket ends at a loopback address, yet the peer counts as remote.
#[test]
fn blocking_auth_over_a_plaintext_stream_needs_permission() {
    let server = Server::start().expect("server");
    let proxy = Proxy::start();
    let mut smtp = SmtpClient::builder()
        .timeout(T)
        .connect_stream(tunnel(&proxy, server.addr()), "localhost")
        .expect("session");
    let refused = smtp.login("alice", "correct horse");
    assert!(
        matches!(refused, Err(Error::Usage(UsageError::AuthWithoutTls))),
        "{refused:?}"
    );
    smtp.quit().expect("quit");
    let mut allowed = SmtpClient::builder()
        .timeout(T)
        .allow_plaintext_auth(true)
        .connect_stream(tunnel(&proxy, server.addr()), "localhost")
        .expect("session");
    allowed.login("alice", "correct horse").expect("login");
    allowed.quit().expect("quit");
    let logs = server.wait_finished(2, T);
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs[0].commands.iter().all(|c| !c.starts_with("AUTH")));
    assert_eq!(logs[0].authenticated, None);
    assert_eq!(logs[1].authenticated.as_deref(), Some("alice"));
}

// ------------------------------------------------------------------ async (smol, async-std)

/// A runtime's own TCP stream, to build the tunnel on.
trait Net: AsyncRuntime {
    type Tcp: AsyncIo + 'static;
    fn dial(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Tcp>>;
}

impl Net for Smol {
    type Tcp = smol::net::TcpStream;
    async fn dial(addr: SocketAddr) -> io::Result<Self::Tcp> {
        smol::net::TcpStream::connect(addr).await
    }
}

impl Net for AsyncStd {
    type Tcp = async_std::net::TcpStream;
    async fn dial(addr: SocketAddr) -> io::Result<Self::Tcp> {
        async_std::net::TcpStream::connect(addr).await
    }
}

async fn tunnel_on<R: Net>(proxy: &Proxy, target: SocketAddr) -> R::Tcp {
    let tcp = R::dial(proxy.addr).await.expect("connect to the proxy");
    tunnel_async(tcp, target).await
}

fn async_session_over_a_tunnel<R: Net>() {
    let server = Server::start().expect("server");
    let proxy = Proxy::start();
    let body = message();
    R::block_on(async {
        let stream = tunnel_on::<R>(&proxy, server.addr()).await;
        let mut smtp = GenericSmtpClient::<R>::builder()
            .timeout(T)
            .connect_stream(stream, "localhost")
            .await
            .expect("session");
        assert_eq!(smtp.server_name(), Some("localhost"));
        assert!(!smtp.is_secure());
        let refused = smtp
            .sendmail("a@x.org", &["b@y.org"], body.as_slice())
            .await
            .expect("send");
        assert!(refused.is_empty());
        smtp.quit().await.expect("quit");
    });
    assert_delivered(&server, &proxy, &body, false);
}

fn async_starttls_over_a_tunnel<R: Net>() {
    let server = starttls_server();
    let proxy = Proxy::start();
    let body = message();
    R::block_on(async {
        let stream = tunnel_on::<R>(&proxy, server.addr()).await;
        let mut smtp = GenericSmtpClient::<R>::builder()
            .timeout(T)
            .tls(TlsMode::Required)
            .tls_connector(test_ca_builder())
            .connect_stream(stream, "localhost")
            .await
            .expect("session");
        assert!(smtp.is_secure());
        smtp.sendmail("a@x.org", &["b@y.org"], body.as_slice())
            .await
            .expect("send");
        smtp.quit().await.expect("quit");
    });
    assert_delivered(&server, &proxy, &body, true);
}

fn async_implicit_tls_over_a_tunnel<R: Net>() {
    let server = implicit_tls_server();
    let proxy = Proxy::start();
    let body = message();
    R::block_on(async {
        // The client-side method, on an unconnected client.
        let mut smtp = GenericSmtpClient::<R>::builder()
            .timeout(T)
            .tls(TlsMode::Implicit)
            .tls_connector(test_ca_builder())
            .build();
        let stream = tunnel_on::<R>(&proxy, server.addr()).await;
        let greeting = smtp
            .connect_stream(stream, "localhost")
            .await
            .expect("session");
        assert_eq!(greeting.code().get(), 220);
        assert!(smtp.is_secure());
        smtp.sendmail("a@x.org", &["b@y.org"], body.as_slice())
            .await
            .expect("send");
        smtp.quit().await.expect("quit");
    });
    assert_delivered(&server, &proxy, &body, true);
}

fn async_auth_over_a_plaintext_stream_needs_permission<R: Net>() {
    let server = Server::start().expect("server");
    let proxy = Proxy::start();
    R::block_on(async {
        let stream = tunnel_on::<R>(&proxy, server.addr()).await;
        let mut smtp = GenericSmtpClient::<R>::builder()
            .timeout(T)
            .connect_stream(stream, "localhost")
            .await
            .expect("session");
        let refused = smtp.login("alice", "correct horse").await;
        assert!(
            matches!(refused, Err(Error::Usage(UsageError::AuthWithoutTls))),
            "{refused:?}"
        );
        smtp.quit().await.expect("quit");
        let stream = tunnel_on::<R>(&proxy, server.addr()).await;
        let mut allowed = GenericSmtpClient::<R>::builder()
            .timeout(T)
            .allow_plaintext_auth(true)
            .connect_stream(stream, "localhost")
            .await
            .expect("session");
        allowed
            .login("alice", "correct horse")
            .await
            .expect("login");
        allowed.quit().await.expect("quit");
    });
    let logs = server.wait_finished(2, T);
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs[0].commands.iter().all(|c| !c.starts_with("AUTH")));
    assert_eq!(logs[0].authenticated, None);
    assert_eq!(logs[1].authenticated.as_deref(), Some("alice"));
}

/// A zero timeout is refused before the stream is used, as with `connect`.
fn async_zero_timeout_is_refused<R: Net>() {
    let server = Server::start().expect("server");
    let proxy = Proxy::start();
    R::block_on(async {
        let stream = tunnel_on::<R>(&proxy, server.addr()).await;
        let result = GenericSmtpClient::<R>::builder()
            .timeout(Duration::ZERO)
            .connect_stream(stream, "localhost")
            .await;
        assert!(
            matches!(result, Err(Error::InvalidSetting(_))),
            "{result:?}"
        );
    });
}

macro_rules! async_tests {
    ($($runtime:ty => $($scenario:ident as $name:ident),+ $(,)?);+ $(;)?) => {
        $($(
            #[test]
            fn $name() {
                $scenario::<$runtime>();
            }
        )+)+
    };
}

async_tests! {
    Smol =>
        async_session_over_a_tunnel as smol_session_over_a_tunnel_delivers_byte_exact,
        async_starttls_over_a_tunnel as smol_starttls_over_a_tunnel,
        async_implicit_tls_over_a_tunnel as smol_implicit_tls_over_a_tunnel,
        async_auth_over_a_plaintext_stream_needs_permission
            as smol_auth_over_a_plaintext_stream_needs_permission,
        async_zero_timeout_is_refused as smol_zero_timeout_is_refused;
    AsyncStd =>
        async_session_over_a_tunnel as async_std_session_over_a_tunnel_delivers_byte_exact,
        async_starttls_over_a_tunnel as async_std_starttls_over_a_tunnel,
        async_implicit_tls_over_a_tunnel as async_std_implicit_tls_over_a_tunnel,
        async_auth_over_a_plaintext_stream_needs_permission
            as async_std_auth_over_a_plaintext_stream_needs_permission,
        async_zero_timeout_is_refused as async_std_zero_timeout_is_refused;
}

// ------------------------------------------------------------------ the crates' examples

/// Each adapter's `examples/<adapter>_http_proxy.rs`, through this file's proxy to a test
/// server: the tunnel opened by hand, the session run over it, the message delivered.
#[test]
fn the_http_proxy_examples_send_through_a_tunnel() {
    type SendThrough = fn(&str, &str, &str) -> Result<(), smtp_blocking::Error>;
    let examples: [(&str, SendThrough); 2] = [
        ("blocking", blocking_http_proxy::send_through),
        ("smol", smol_http_proxy::send_through),
    ];
    for (name, send_through) in examples {
        let server = Server::start().expect("server");
        let proxy = Proxy::start();
        let target = server.addr().to_string();
        send_through(&proxy.addr.to_string(), &target, "mx.test")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let log = finished(&server);
        assert_eq!(proxy.targets(), [target], "{name}");
        assert_eq!(log.messages.len(), 1, "{name}: {log:?}");
        assert_eq!(
            log.messages[0].data,
            b"Subject: hi\r\n\r\nSent through a proxy.\r\n"
        );
    }
}
