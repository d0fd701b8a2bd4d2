//! A session over a stream you connected yourself: an HTTP CONNECT tunnel opened by hand
//! (`http_connect`), then handed to `Builder::connect_stream`, which runs the whole session over
//! it (`send_through`), bounding every wait with the stream's socket timeouts. STARTTLS and
//! implicit TLS work as usual over the tunnel, verified for the server name given to
//! `connect_stream`.
//!
//! Run it with `cargo run -p smtp-blocking --example blocking_http_proxy`: it starts a fake proxy on
//! loopback that is also the mail server (it answers the `CONNECT`, then speaks SMTP itself),
//! sends one message through it, and checks that the message arrived.

use std::error::Error;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use smtp_blocking::SmtpClient;

/// A tunnel to `target` through an HTTP proxy (`CONNECT`, RFC 9110 §9.3.6).
fn http_connect(proxy: &str, target: &str) -> io::Result<TcpStream> {
    let mut tcp = TcpStream::connect(proxy)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(tcp, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")?;
    // The proxy's reply head, byte by byte: the bytes after it are the mail server's.
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 || tcp.read(&mut byte)? == 0 {
            return Err(io::Error::other("no reply from the proxy"));
        }
        head.extend_from_slice(&byte);
    }
    if !head.starts_with(b"HTTP/1.1 200") && !head.starts_with(b"HTTP/1.0 200") {
        return Err(io::Error::other("the proxy refused the tunnel"));
    }
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Opens a tunnel through `proxy` to the mail server and sends one message over it.
fn send_through(proxy: &str) -> Result<(), smtp_blocking::Error> {
    let tunnel = http_connect(proxy, "mail.example.org:25")?;
    let mut smtp = SmtpClient::builder()
        .timeout(Duration::from_secs(30)) // set on the stream before every read and write
        // .tls(TlsMode::Required) would STARTTLS over the tunnel, verified for the name below
        .connect_stream(tunnel, "mail.example.org")?;
    let body: &[u8] = b"Subject: hi\r\n\r\nSent through a proxy.\r\n";
    let refused = smtp.sendmail("alice@example.org", ["bob@example.net"], body)?;
    assert!(refused.is_empty());
    smtp.quit()?;
    Ok(())
}

// ------------------------------------------------------------------ the fake proxy

/// A fake HTTP proxy on loopback that is also the mail server: it answers one `CONNECT`, then
/// speaks SMTP itself on that connection. Returns its address, and a handle that yields the
/// lines it received that were no commands (the message's lines).
fn fake_proxy() -> io::Result<(String, JoinHandle<io::Result<Vec<String>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let proxy = listener.local_addr()?.to_string();
    let server = thread::spawn(move || -> io::Result<Vec<String>> {
        let (stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut out = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        // The CONNECT request's head, up to its empty line.
        let mut line = String::new();
        while reader.read_line(&mut line)? > 2 {
            line.clear();
        }
        out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n220 mx.test ESMTP\r\n")?;
        let mut seen = Vec::new();
        for line in reader.lines() {
            let line = line?;
            let reply: &[u8] = match line.as_str() {
                "DATA" => b"354 go ahead\r\n",
                "QUIT" => {
                    out.write_all(b"221 bye\r\n")?;
                    break;
                }
                l if l.starts_with("EHLO") => b"250-mx.test\r\n250 PIPELINING\r\n",
                l if l.starts_with("MAIL") || l.starts_with("RCPT") || l == "." => b"250 ok\r\n",
                _ => {
                    seen.push(line);
                    continue;
                }
            };
            out.write_all(reply)?;
        }
        Ok(seen)
    });
    Ok((proxy, server))
}

/// Starts the fake proxy, sends through it, and checks that the message arrived (`pub(crate)`:
/// the workspace's tests run it too).
pub(crate) fn main() -> Result<(), Box<dyn Error>> {
    let (proxy, server) = fake_proxy()?;
    send_through(&proxy)?;
    let received = server.join().map_err(|_| "the fake proxy panicked")??;
    assert!(received.iter().any(|l| l == "Sent through a proxy."));
    println!("sent through the proxy at {proxy}");
    Ok(())
}
