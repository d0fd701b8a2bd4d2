//! Peer clients for `benches/e2e.sh`: lettre 0.11 and mail-send.
//!
//! Usage (always six arguments; the second is a mode or a connection count):
//!
//! - `smtp-bench-peers lettre|mail-send nodelay|default HOST PORT COUNT FILE`: the message in
//!   FILE sent COUNT times over one reused connection (lettre's `AsyncSmtpConnection`,
//!   mail-send's `SmtpClient`), with or without TCP_NODELAY, on a current-thread runtime.
//! - `smtp-bench-peers lettre-pool N HOST PORT COUNT FILE`: lettre's connection pool
//!   (`AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(HOST).port(PORT)` with
//!   `PoolConfig::new().max_size(N)`), driven by N tokio tasks on a multi-thread runtime (one
//!   worker thread per CPU), each sending its share of the COUNT messages (COUNT/N, the first
//!   COUNT % N tasks one more) with `transport.send_raw(&envelope, body)`. lettre's transport
//!   does NOT set TCP_NODELAY (lettre 0.11.23's `AsyncNetworkStream::connect_tokio1` connects a
//!   plain `tokio::net::TcpSocket` and nothing in lettre calls `set_nodelay`), and it writes
//!   the body and the final `\r\n.\r\n` in two writes, so every message waits for a delayed
//!   ACK (~40 ms on Linux): expect about 25 messages a second per connection. The pool also
//!   sends a NOOP (one more round trip) each time it hands out an idle connection, and
//!   recycles a connection in a spawned task, so a task asking again at once may open a new
//!   one (`max_size` bounds the idle connections kept, not the open ones).
//! - `smtp-bench-peers lettre-conns N HOST PORT COUNT FILE`: the same N tasks and runtime,
//!   each with its own `AsyncSmtpConnection` over a stream WITH TCP_NODELAY (the `lettre
//!   nodelay` loop, N times in parallel): lettre's protocol engine without the pool and
//!   without Nagle.
//!
//! Prints one line: `msgs_per_sec=<f64>` (COUNT over the time from the first message to the
//! last reply; connecting and QUIT excluded except for the pool, which connects on demand).
//!
//! A benchmark driver for other libraries, not part of this project's clients: every
//! `unwrap`/`expect` here is deliberate — any failure (bad arguments, a refused message, a
//! broken connection) must abort the measurement loudly rather than report a rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::net::TcpStream;

const FROM: &str = "bench@example.org";
const TO: &str = "sink@example.net";

const USAGE: &str = "lettre|mail-send nodelay|default HOST PORT COUNT FILE\n   \
     or: lettre-pool|lettre-conns N HOST PORT COUNT FILE";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!("usage: {} {USAGE}", args[0]);
        std::process::exit(2);
    }
    let (host, port) = (args[3].as_str(), args[4].as_str());
    let count: usize = args[5].parse().expect("COUNT");
    let body = std::fs::read(&args[6]).expect("FILE");
    let elapsed = match args[1].as_str() {
        mode @ ("lettre" | "mail-send") => {
            let nodelay = match args[2].as_str() {
                "nodelay" => true,
                "default" => false,
                other => panic!("nodelay|default, not {other}"),
            };
            let addr = format!("{host}:{port}");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if mode == "lettre" {
                    lettre_run(&addr, nodelay, count, &body).await
                } else {
                    mail_send_run(&addr, nodelay, count, &body).await
                }
            })
        }
        mode @ ("lettre-pool" | "lettre-conns") => {
            let tasks: usize = args[2].parse().expect("N");
            assert!(tasks >= 1, "N must be at least 1");
            let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .expect("runtime");
            let port: u16 = port.parse().expect("PORT");
            let body = Arc::new(body);
            if mode == "lettre-pool" {
                rt.block_on(lettre_pool_run(host, port, tasks, count, body))
            } else {
                rt.block_on(lettre_conns_run(host, port, tasks, count, body))
            }
        }
        other => panic!("lettre|mail-send|lettre-pool|lettre-conns, not {other}"),
    };
    println!("msgs_per_sec={:.1}", count as f64 / elapsed.as_secs_f64());
}

fn envelope() -> Envelope {
    Envelope::new(
        Some(FROM.parse().expect("from")),
        vec![TO.parse().expect("to")],
    )
    .expect("envelope")
}

/// Task `i`'s share of `count` messages over `tasks` tasks: they add up to `count`.
fn share(count: usize, tasks: usize, i: usize) -> usize {
    count / tasks + usize::from(i < count % tasks)
}

async fn lettre_pool_run(
    host: &str,
    port: u16,
    tasks: usize,
    count: usize,
    body: Arc<Vec<u8>>,
) -> Duration {
    let transport = Arc::new(
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .hello_name(ClientId::Domain("bench.example".into()))
            .pool_config(PoolConfig::new().max_size(u32::try_from(tasks).expect("N")))
            .build(),
    );
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let (transport, body) = (Arc::clone(&transport), Arc::clone(&body));
            tokio::spawn(async move {
                let envelope = envelope();
                for _ in 0..share(count, tasks, i) {
                    transport
                        .send_raw(&envelope, &body)
                        .await
                        .expect("lettre pool send");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("lettre pool task");
    }
    let elapsed = start.elapsed();
    transport.shutdown().await;
    elapsed
}

async fn lettre_conns_run(
    host: &str,
    port: u16,
    tasks: usize,
    count: usize,
    body: Arc<Vec<u8>>,
) -> Duration {
    let mut conns = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        conns.push(lettre_connect(&format!("{host}:{port}"), true).await);
    }
    let start = Instant::now();
    let handles: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut conn)| {
            let body = Arc::clone(&body);
            tokio::spawn(async move {
                let envelope = envelope();
                for _ in 0..share(count, tasks, i) {
                    conn.send(&envelope, &body).await.expect("lettre send");
                }
                conn
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(tasks);
    for handle in handles {
        conns.push(handle.await.expect("lettre task"));
    }
    let elapsed = start.elapsed();
    for mut conn in conns {
        conn.quit().await.expect("lettre quit");
    }
    elapsed
}

async fn lettre_connect(addr: &str, nodelay: bool) -> AsyncSmtpConnection {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(nodelay).expect("nodelay");
    let hello = ClientId::Domain("bench.example".into());
    AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
        .await
        .expect("lettre connect")
}

async fn lettre_run(addr: &str, nodelay: bool, count: usize, body: &[u8]) -> Duration {
    let mut conn = lettre_connect(addr, nodelay).await;
    let envelope = envelope();
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
