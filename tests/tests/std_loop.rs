//! `examples/std_loop.rs`, the complete loop over `std::net::TcpStream` that the core's docs
//! describe, run as users run it: a message delivered byte-exact, a body far larger than the
//! client's outbox through CHUNKING without PIPELINING (one chunk at a time, the loop waiting
//! for each reply instead of spinning), and a deadline that passes ending the call.

use std::time::{Duration, Instant};

use smtp_proto::client::{Config, Timeouts};
use smtp_proto::session::Error;
use smtp_proto::Domain;
use smtp_tests::server::{fnv1a, Action, Server, Trigger};

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/std_loop.rs"]
mod std_loop;

fn config(timeout: Duration) -> Config {
    let mut config = Config::new(Domain::try_from("client.example").expect("domain"));
    config.timeouts = Timeouts::uniform(timeout);
    config
}

const T: Duration = Duration::from_secs(10);

#[test]
fn a_message_arrives_byte_exact() {
    let server = Server::start().expect("server");
    let mut session = std_loop::Session::connect(server.addr(), config(T), T).expect("connect");
    let message = b"Subject: hi\r\n\r\nHello.\r\n";
    let refused = session
        .sendmail("a@x.org", &["b@y.org"], message)
        .expect("sent");
    assert!(refused.is_empty());
    session.quit().expect("quit");
    let received = server.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].data, message);
}

#[test]
fn a_large_body_goes_one_chunk_at_a_time_without_pipelining() {
    let server = Server::builder()
        .extensions(&["CHUNKING", "SIZE 52428800"])
        .keep_data(0)
        .start()
        .expect("server");
    let line = [&[b'x'; 998][..], b"\r\n"].concat();
    let message = line.repeat(2_000); // 2 MB: many times the outbox
    let mut session = std_loop::Session::connect(server.addr(), config(T), T).expect("connect");
    session
        .sendmail("a@x.org", &["b@y.org"], &message)
        .expect("sent");
    session.quit().expect("quit");
    let logs = server.wait_finished(1, T);
    let received = &logs[0].messages[0];
    assert!(received.bdat);
    assert_eq!(
        (received.size, received.hash),
        (message.len() as u64, fnv1a(&message))
    );
    let chunks = logs[0]
        .commands
        .iter()
        .filter(|c| c.starts_with("BDAT"))
        .count();
    assert!(chunks > 2, "{chunks} BDAT chunks");
}

#[test]
fn a_deadline_that_passes_ends_the_call() {
    let server = Server::builder()
        .on(Trigger::DataEnd, Action::Delay(Duration::from_secs(3)))
        .start()
        .expect("server");
    let timeout = Duration::from_millis(400);
    let mut session =
        std_loop::Session::connect(server.addr(), config(timeout), T).expect("connect");
    let start = Instant::now();
    let result = session.sendmail("a@x.org", &["b@y.org"], b"Subject: slow\r\n\r\n.\r\n");
    let took = start.elapsed();
    assert!(result.as_ref().is_err_and(Error::is_timeout), "{result:?}");
    assert!(
        took >= timeout && took < Duration::from_secs(3),
        "took {took:?}"
    );
}
