//! A session over a stream you connected yourself: an HTTP CONNECT tunnel opened by hand on an
//! async-std `TcpStream` (`http_connect`), then handed to `GenericBuilder::connect_stream`,
//! which runs the whole session over it (`send_through`); any other `futures-io` stream would
//! do. STARTTLS and implicit TLS work as usual over the tunnel, verified for the server name
//! given to `connect_stream`.
//!
//! Run it with `cargo run -p smtp-async-std --example async_std_http_proxy -- PROXY HOST:PORT SERVER_NAME`
//! (e.g. `127.0.0.1:3128 mail.example.org:25 mail.example.org`); the workspace's tests run
//! `send_through` through a proxy and a mail server of their own.

use std::error::Error;
use std::io;
use std::time::Duration;

use async_std::net::TcpStream;
use async_std::prelude::*;
use smtp_async_std::SmtpClient;

/// A tunnel to `target` through an HTTP proxy (`CONNECT`, RFC 9110 §9.3.6), within 10 s.
async fn http_connect(proxy: &str, target: &str) -> io::Result<TcpStream> {
    async_std::io::timeout(Duration::from_secs(10), async {
        let mut tcp = TcpStream::connect(proxy).await?;
        let request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
        tcp.write_all(request.as_bytes()).await?;
        // The proxy's reply head, byte by byte: the bytes after it are the mail server's.
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > 8192 || tcp.read(&mut byte).await? == 0 {
                return Err(io::Error::other("no reply from the proxy"));
            }
            head.extend_from_slice(&byte);
        }
        if !head.starts_with(b"HTTP/1.1 200") && !head.starts_with(b"HTTP/1.0 200") {
            return Err(io::Error::other("the proxy refused the tunnel"));
        }
        tcp.set_nodelay(true)?;
        Ok(tcp)
    })
    .await
}

/// Opens a tunnel through `proxy` to the mail server and sends one message over it.
pub(crate) fn send_through(
    proxy: &str,
    target: &str,
    server_name: &str,
) -> Result<(), smtp_async_std::Error> {
    async_std::task::block_on(async {
        let tunnel = http_connect(proxy, target).await?;
        let mut smtp = SmtpClient::builder()
            .timeout(Duration::from_secs(30))
            .connect_stream(tunnel, server_name)
            .await?;
        let body: &[u8] = b"Subject: hi\r\n\r\nSent through a proxy.\r\n";
        let refused = smtp
            .sendmail("alice@example.org", &["bob@example.net"], body)
            .await?;
        assert!(refused.is_empty());
        smtp.quit().await
    })
}

/// `PROXY HOST:PORT SERVER_NAME` from the command line: the proxy, the mail server it is asked
/// to reach, and the name that server's certificate would be verified against.
fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [proxy, target, server_name] = args.as_slice() else {
        return Err("usage: async_std_http_proxy PROXY HOST:PORT SERVER_NAME".into());
    };
    send_through(proxy, target, server_name)?;
    println!("sent through the proxy at {proxy}");
    Ok(())
}
