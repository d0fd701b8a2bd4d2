//! The async adapters (`smtp-smol`, `smtp-async-std`) against servers that misbehave in ways
//! that depend on timing: a final reply in the middle of a body, and a STARTTLS `220` followed
//! at once by the end of the stream. One cause must give one outcome, whatever the scheduling.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use smtp_proto::{Error as ProtoError, ReplyCode};
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

// ------------------------------------------------------------ a final reply inside the body

/// The body: far more than the loopback socket buffers hold (about 4 MiB on Linux), so that the
/// client is still writing it when the premature reply has been sent.
const BIG_BODY: usize = 16 << 20;

fn big_message() -> Vec<u8> {
    let mut message = b"Subject: big\r\n\r\n".to_vec();
    let line = [b"y".repeat(76), b"\r\n".to_vec()].concat();
    while message.len() < BIG_BODY {
        message.extend_from_slice(&line);
    }
    message
}

/// What the server does after its premature `250`.
enum Rest {
    /// Pauses (the client fills the socket buffers meanwhile), then reads the rest of the body
    /// and answers `554 no` at its end.
    Read,
    /// Reads nothing more (the client's writes stay pending) until told to go.
    Stop(Receiver<()>),
}

/// After `354` the server reads about 4 KiB of the body, answers `250 premature`, then does
/// `rest`.
fn premature_250_server(rest: Rest) -> io::Result<(u16, JoinHandle<io::Result<()>>)> {
    serve(move |c| {
        c.send(b"220 mx.test\r\n")?;
        c.expect("EHLO")?;
        c.send(b"250-mx.test\r\n250 8BITMIME\r\n")?;
        c.expect("MAIL FROM:")?;
        c.send(b"250 ok\r\n")?;
        c.expect("RCPT TO:")?;
        c.send(b"250 ok\r\n")?;
        c.expect("DATA")?;
        c.send(b"354 go ahead\r\n")?;
        while c.buf.len() < 4096 {
            if !c.fill()? {
                return Ok(());
            }
        }
        c.send(b"250 premature\r\n")?;
        if let Rest::Stop(go) = rest {
            // Either way (told, or the test is gone) the connection closes.
            let _ = go.recv_timeout(PATIENCE);
            return Ok(());
        }
        thread::sleep(Duration::from_millis(300));
        // The rest of the body, until the end of data or the client gives up.
        loop {
            if c.buf.ends_with(b"\r\n.\r\n") {
                c.send(b"554 no\r\n")?;
                c.buf.clear();
            }
            if c.buf.len() > 1 << 20 {
                let keep = c.buf.split_off(c.buf.len() - 8);
                c.buf = keep;
            }
            match c.fill() {
                Ok(true) => {}
                // The client closed (or reset) the connection: it gave up on the transaction.
                Ok(false) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })
}

/// What a premature final reply must give: the transaction fails, on the `250` taken out of
/// step, never counted as delivered.
fn assert_premature_refused(result: smtp_smol::Result<smtp_smol::Refused>, who: &str) {
    match result {
        Err(Error::Smtp(ProtoError::Unexpected { reply, .. })) => {
            assert_eq!(reply.code(), ReplyCode::OK, "{who}: {reply:?}");
        }
        other => panic!("{who}: a 250 in the middle of the body was taken as: {other:?}"),
    }
}

#[test]
fn smol_a_250_in_the_middle_of_the_body_is_not_delivery() -> io::Result<()> {
    let message = big_message();
    let (port, server) = premature_250_server(Rest::Read)?;
    let result = smol::block_on(async {
        let mut client = smtp_smol::SmtpClient::builder()
            .timeout(CLIENT_TIMEOUT)
            .connect("127.0.0.1", port)
            .await?;
        client
            .sendmail("a@x.org", &["b@y.org"], message.as_slice())
            .await
    });
    assert_premature_refused(result, "smol");
    server
        .join()
        .map_err(|_| io::Error::other("server panicked"))?
}

#[test]
fn async_std_a_250_in_the_middle_of_the_body_is_not_delivery() -> io::Result<()> {
    let mut message = b"From: a@x.org\r\nTo: b@y.org\r\n".to_vec();
    message.extend_from_slice(&big_message());
    let (port, server) = premature_250_server(Rest::Read)?;
    let result = async_std::task::block_on(async {
        let mut client = smtp_async_std::SmtpClient::builder()
            .timeout(CLIENT_TIMEOUT)
            .connect("127.0.0.1", port)
            .await?;
        client.send_message(message.as_slice()).await
    });
    assert_premature_refused(result, "async-std");
    server
        .join()
        .map_err(|_| io::Error::other("server panicked"))?
}

/// The same premature `250`, but the server then stops reading: the client's big writes stay
/// pending. The write is raced against the core's Data Block deadline (short here), so the
/// transaction ends failed either way: on the `250` if it was heard between two writes, else on
/// the timeout. Never delivered, never stuck.
#[test]
fn smol_a_250_then_no_more_reading_fails_the_transaction() -> io::Result<()> {
    let message = big_message();
    let (go, wait) = mpsc::channel();
    let (port, server) = premature_250_server(Rest::Stop(wait))?;
    let result = smol::block_on(async {
        let mut client = smtp_smol::SmtpClient::builder()
            .timeout(Duration::from_secs(10))
            .connect("127.0.0.1", port)
            .await?;
        client
            .sendmail("a@x.org", &["b@y.org"], message.as_slice())
            .await
    });
    let _ = go.send(());
    match result {
        Err(Error::Smtp(ProtoError::Unexpected { reply, .. })) => {
            assert_eq!(reply.code(), ReplyCode::OK, "{reply:?}");
        }
        Err(Error::Smtp(ProtoError::Timeout { .. })) => {}
        other => panic!("a 250 in the middle of a stalled body was taken as: {other:?}"),
    }
    server
        .join()
        .map_err(|_| io::Error::other("server panicked"))?
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
