//! Peer clients for `benches/e2e.sh`: lettre 0.11 and mail-send, each sending the same message
//! N times over one reused connection, with or without TCP_NODELAY.
//!
//! Usage: `smtp-bench-peers lettre|mail-send nodelay|default HOST PORT COUNT FILE`
//! Prints one line: `msgs_per_sec=<f64>`.
//!
//! A benchmark driver for other libraries, not part of this project's clients: every
//! `unwrap`/`expect` here is deliberate — any failure (bad arguments, a refused message, a
//! broken connection) must abort the measurement loudly rather than report a rate.

use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;

const FROM: &str = "bench@example.org";
const TO: &str = "sink@example.net";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!(
            "usage: {} lettre|mail-send nodelay|default HOST PORT COUNT FILE",
            args[0]
        );
        std::process::exit(2);
    }
    let nodelay = match args[2].as_str() {
        "nodelay" => true,
        "default" => false,
        other => panic!("nodelay|default, not {other}"),
    };
    let addr = format!("{}:{}", args[3], args[4]);
    let count: usize = args[5].parse().expect("COUNT");
    let body = std::fs::read(&args[6]).expect("FILE");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let elapsed = rt.block_on(async {
        match args[1].as_str() {
            "lettre" => lettre_run(&addr, nodelay, count, &body).await,
            "mail-send" => mail_send_run(&addr, nodelay, count, &body).await,
            other => panic!("lettre|mail-send, not {other}"),
        }
    });
    println!("msgs_per_sec={:.1}", count as f64 / elapsed.as_secs_f64());
}

async fn lettre_run(addr: &str, nodelay: bool, count: usize, body: &[u8]) -> Duration {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(nodelay).expect("nodelay");
    let hello = ClientId::Domain("bench.example".into());
    let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
        .await
        .expect("lettre connect");
    let envelope = Envelope::new(
        Some(FROM.parse().expect("from")),
        vec![TO.parse().expect("to")],
    )
    .expect("envelope");
    let start = Instant::now();
    for _ in 0..count {
        conn.send(&envelope, body).await.expect("lettre send");
    }
    let elapsed = start.elapsed();
    conn.quit().await.expect("lettre quit");
    elapsed
}

async fn mail_send_run(addr: &str, nodelay: bool, count: usize, body: &[u8]) -> Duration {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(nodelay).expect("nodelay");
    let mut client = mail_send::SmtpClient {
        stream,
        timeout: Duration::from_secs(60),
    };
    let greeting = client.read().await.expect("greeting");
    assert!(greeting.is_positive_completion(), "greeting {greeting:?}");
    client
        .capabilities("bench.example", false)
        .await
        .expect("ehlo");
    let start = Instant::now();
    for _ in 0..count {
        let message = mail_send::smtp::message::Message::new(FROM, [TO], body);
        client.send(message).await.expect("mail-send send");
    }
    let elapsed = start.elapsed();
    client.quit().await.expect("mail-send quit");
    elapsed
}
