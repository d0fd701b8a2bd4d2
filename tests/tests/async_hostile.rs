//! The async adapters (`smtp-smol`, `smtp-async-std`) against servers that misbehave in ways
//! that depend on timing: a STARTTLS `220` followed at once by the end of the stream. One cause
//! must give one outcome, whatever the scheduling.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use smtp_proto::Error as ProtoError;
use smtp_smol::{Error, TlsMode};

/// How long the test servers wait for the client at any one point. Generous: the machine may be
/// busy; nothing here measures the client's speed.
const PATIENCE: Duration = Duration::from_secs(30);

/// The client's own timeouts: long enough never to fire on a loaded machine.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// A server's side of one connection, read line by line.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream) -> io::Result<Self> {
        stream.set_read_timeout(Some(PATIENCE))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads more; `false` at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(n > 0)
    }

    /// The next command line, which must start with `prefix`.
    fn expect(&mut self, prefix: &str) -> io::Result<()> {
        loop {
            if let Some(lf) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=lf).collect();
                let line = String::from_utf8_lossy(&line);
                if line.to_ascii_uppercase().starts_with(prefix) {
                    return Ok(());
                }
                return Err(io::Error::other(format!("expected {prefix}, got {line:?}")));
            }
            if !self.fill()? {
                return Err(io::Error::other(format!("end of stream before {prefix}")));
            }
        }
    }
}

/// Accepts one connection on a fresh listener and runs `script` on it in a thread.
fn serve(
    script: impl FnOnce(&mut Conn) -> io::Result<()> + Send + 'static,
) -> io::Result<(u16, JoinHandle<io::Result<()>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept()?;
        let mut conn = Conn::new(stream)?;
        script(&mut conn)
    });
    Ok((port, handle))
}

// ------------------------------------------------------------ STARTTLS 220, then FIN

/// How often the STARTTLS race is run per adapter.
const ITERATIONS: usize = 30;

/// Answers STARTTLS with `220 go ahead` and closes the connection at once.
fn starttls_then_close() -> io::Result<(u16, JoinHandle<io::Result<()>>)> {
    serve(|c| {
        c.send(b"220 mx.test\r\n")?;
        c.expect("EHLO")?;
        c.send(b"250-mx.test\r\n250 STARTTLS\r\n")?;
        c.expect("STARTTLS")?;
        c.send(b"220 go ahead\r\n")?;
        Ok(())
    })
}

/// The outcome's kind, as the `smtp-send` contract groups them.
fn kind(result: &smtp_smol::Result<()>) -> String {
    match result {
        Err(Error::Tls(_)) => "TLS error".into(),
        Err(Error::Io(_) | Error::NotConnected) => "connection error".into(),
        Err(Error::Smtp(ProtoError::UnexpectedEof(_))) => "server closed".into(),
        other => format!("{other:?}"),
    }
}

/// Runs `connect` against a fresh STARTTLS-then-close server `ITERATIONS` times; returns each
/// outcome's kind.
fn kinds(mut connect: impl FnMut(u16) -> smtp_smol::Result<()>) -> io::Result<Vec<String>> {
    let mut seen = Vec::new();
    for _ in 0..ITERATIONS {
        let (port, server) = starttls_then_close()?;
        seen.push(kind(&connect(port)));
        server
            .join()
            .map_err(|_| io::Error::other("server panicked"))??;
    }
    Ok(seen)
}

/// The blocking adapter's outcome for the same server, the reference.
fn blocking_kinds() -> io::Result<Vec<String>> {
    kinds(|port| {
        smtp_blocking::SmtpClient::builder()
            .timeout(CLIENT_TIMEOUT)
            .tls(TlsMode::Required)
            .danger_accept_invalid_certs(true)
            .connect("127.0.0.1", port)
            .map(drop)
    })
}

fn assert_all_tls_errors(seen: &[String], who: &str) {
    assert!(
        seen.iter().all(|k| k == "TLS error"),
        "{who}: STARTTLS 220 then FIN gave {seen:?}"
    );
}

#[test]
fn blocking_starttls_220_then_close_is_a_tls_error() -> io::Result<()> {
    assert_all_tls_errors(&blocking_kinds()?, "blocking");
    Ok(())
}

#[test]
fn smol_starttls_220_then_close_is_always_a_tls_error() -> io::Result<()> {
    let seen = kinds(|port| {
        smol::block_on(
            smtp_smol::SmtpClient::builder()
                .timeout(CLIENT_TIMEOUT)
                .tls(TlsMode::Required)
                .danger_accept_invalid_certs(true)
                .connect("127.0.0.1", port),
        )
        .map(drop)
    })?;
    assert_all_tls_errors(&seen, "smol");
    Ok(())
}

#[test]
fn async_std_starttls_220_then_close_is_always_a_tls_error() -> io::Result<()> {
    let seen = kinds(|port| {
        async_std::task::block_on(
            smtp_async_std::SmtpClient::builder()
                .timeout(CLIENT_TIMEOUT)
                .tls(TlsMode::Required)
                .danger_accept_invalid_certs(true)
                .connect("127.0.0.1", port),
        )
        .map(drop)
    })?;
    assert_all_tls_errors(&seen, "async-std");
    Ok(())
}
