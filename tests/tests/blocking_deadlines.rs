//! The blocking adapter's bounds against servers that stall in ways a per-read socket timeout
//! does not see: a TLS handshake or a TLS record dribbled a byte at a time.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use native_tls::TlsStream;
use smtp_blocking::{Error, SmtpClient, TlsMode};
use smtp_tests::server::localhost_acceptor;

/// The client's timeout in every test here.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a bounded failure may take: five times the timeout, for a loaded machine. Each
/// server here would keep an unbounded client busy for well over ten times the timeout.
const BOUND: Duration = Duration::from_secs(5);
/// The pause before each byte a dribbling server writes.
const DRIBBLE: Duration = Duration::from_millis(20);
/// How long a server thread waits for its client.
const SERVER_LIMIT: Duration = Duration::from_secs(60);

/// A socket that writes one byte per call, after a pause (none while the pause is zero).
struct Dribble {
    tcp: TcpStream,
    /// The pause before each byte, in microseconds.
    pause_us: Arc<AtomicU64>,
}

impl Dribble {
    fn new(tcp: TcpStream, pause: Duration) -> (Self, Arc<AtomicU64>) {
        let pause_us = Arc::new(AtomicU64::new(micros(pause)));
        let dribble = Self {
            tcp,
            pause_us: Arc::clone(&pause_us),
        };
        (dribble, pause_us)
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Read for Dribble {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for Dribble {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let pause = Duration::from_micros(self.pause_us.load(Ordering::Relaxed));
        if pause.is_zero() {
            return self.tcp.write(buf);
        }
        thread::sleep(pause);
        self.tcp.write(buf.get(..1).unwrap_or_default())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A one-connection server on 127.0.0.1 running `script` on the accepted socket.
fn serve<T: Send + 'static>(
    script: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (u16, JoinHandle<Option<T>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let handle = thread::spawn(move || {
        let until = Instant::now() + SERVER_LIMIT;
        let tcp = loop {
            match listener.accept() {
                Ok((tcp, _)) => break tcp,
                Err(_) if Instant::now() < until => thread::sleep(Duration::from_millis(2)),
                Err(_) => return None,
            }
        };
        tcp.set_nonblocking(false).expect("blocking");
        tcp.set_read_timeout(Some(SERVER_LIMIT)).expect("timeout");
        tcp.set_nodelay(true).expect("nodelay");
        Some(script(tcp))
    });
    (port, handle)
}

/// Runs `connect` and checks it failed with a timeout, within [`BOUND`].
fn assert_times_out(what: &str, connect: impl FnOnce() -> Result<SmtpClient, Error>) {
    let start = Instant::now();
    let result = connect();
    let took = start.elapsed();
    match result {
        Err(e) => assert!(e.is_timeout(), "{what}: not a timeout: {e:?}"),
        Ok(_) => panic!("{what}: connected after {took:?}"),
    }
    assert!(
        took < BOUND,
        "{what}: the timeout of {TIMEOUT:?} took {took:?}"
    );
}

/// The timeout bounds an implicit-TLS handshake as a whole, not each read inside it.
#[test]
fn a_dribbled_implicit_tls_handshake_times_out() {
    let (port, server) = serve(|tcp| {
        let (dribble, _) = Dribble::new(tcp, DRIBBLE);
        // The client gives up half-way: the handshake fails here.
        localhost_acceptor().accept(dribble).is_ok()
    });
    assert_times_out("implicit TLS handshake", || {
        SmtpClient::builder()
            .timeout(TIMEOUT)
            .tls(TlsMode::Implicit)
            .danger_accept_invalid_certs(true)
            .connect("127.0.0.1", port)
    });
    assert_eq!(server.join().expect("server thread"), Some(false));
}

/// The same after STARTTLS.
#[test]
fn a_dribbled_starttls_handshake_times_out() {
    let (port, server) = serve(|tcp| {
        let mut lines = BufReader::new(tcp.try_clone().expect("clone"));
        let mut out = tcp.try_clone().expect("clone");
        let mut line = String::new();
        out.write_all(b"220 mx.test ESMTP\r\n").expect("greeting");
        lines.read_line(&mut line).expect("EHLO");
        out.write_all(b"250-mx.test\r\n250 STARTTLS\r\n")
            .expect("EHLO reply");
        line.clear();
        lines.read_line(&mut line).expect("STARTTLS");
        out.write_all(b"220 go ahead\r\n").expect("220");
        let (dribble, _) = Dribble::new(tcp, DRIBBLE);
        localhost_acceptor().accept(dribble).is_ok()
    });
    assert_times_out("STARTTLS handshake", || {
        SmtpClient::builder()
            .timeout(TIMEOUT)
            .tls(TlsMode::Required)
            .danger_accept_invalid_certs(true)
            .connect("127.0.0.1", port)
    });
    assert_eq!(server.join().expect("server thread"), Some(false));
}

/// A greeting sent as one TLS record, dribbled: the wait for it ends at its deadline however
/// steadily the bytes come.
#[test]
fn a_dribbled_tls_record_times_out() {
    let (port, server) = serve(|tcp| {
        let (dribble, pause) = Dribble::new(tcp, Duration::ZERO);
        let Ok(mut tls): Result<TlsStream<Dribble>, _> = localhost_acceptor().accept(dribble)
        else {
            return false;
        };
        pause.store(micros(DRIBBLE), Ordering::Relaxed);
        // One write of under 16 KiB is one record: about 1 KiB at 20 ms a byte.
        let mut greeting = Vec::new();
        for _ in 0..15 {
            greeting.extend_from_slice(b"220-mx.test ESMTP, slowly, one byte at a time...\r\n");
        }
        greeting.extend_from_slice(b"220 mx.test ready\r\n");
        tls.write_all(&greeting).is_ok()
    });
    assert_times_out("greeting in one TLS record", || {
        SmtpClient::builder()
            .timeout(TIMEOUT)
            .tls(TlsMode::Implicit)
            .danger_accept_invalid_certs(true)
            .connect("127.0.0.1", port)
    });
    // The client left before the record was complete.
    assert_eq!(server.join().expect("server thread"), Some(false));
}
