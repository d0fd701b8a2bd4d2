//! The server and the proxy, driven by a raw `TcpStream` client.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{ChaosProxy, Fault, FaultServer, Limit, Point, Stage};

/// Far longer than anything should take, even on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(20);

struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Self {
            writer: stream,
            reader,
        }
    }

    /// Connects and reads the greeting, which must be a 220.
    fn greeted(addr: SocketAddr) -> Self {
        let mut c = Self::connect(addr);
        let greeting = c.reply().expect("greeting");
        assert!(greeting.starts_with("220 "), "{greeting}");
        c
    }

    /// One reply (all its lines, joined by `\n`); `None` at the end of the stream or a reset.
    fn reply(&mut self) -> Option<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("no reply within {PATIENCE:?}")
                }
                Err(_) => return None,
            }
            let line = line.trim_end().to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return Some(lines.join("\n"));
            }
        }
    }

    /// Writes (ignoring errors: the server may have gone, which the next read shows).
    fn send(&mut self, text: &str) {
        let _ = self.writer.write_all(text.as_bytes());
    }

    fn cmd(&mut self, line: &str) -> Option<String> {
        self.send(&format!("{line}\r\n"));
        self.reply()
    }

    fn expect(&mut self, line: &str, code: &str) {
        let reply = self.cmd(line);
        assert!(
            reply.as_deref().is_some_and(|r| r.starts_with(code)),
            "{line} -> {reply:?}, wanted {code}"
        );
    }

    /// MAIL, RCPT and DATA, each expected to succeed; then the message and the final `.`;
    /// returns the reply to the data.
    fn send_message(&mut self, from: &str, body: &str) -> Option<String> {
        self.expect(&format!("MAIL FROM:<{from}>"), "250");
        self.expect("RCPT TO:<rcpt@test>", "250");
        self.expect("DATA", "354");
        self.send(&format!("{body}.\r\n"));
        self.reply()
    }

    /// Everything up to the end of the stream must be exactly `expected`.
    fn expect_closed_after(&mut self, expected: &[&str]) {
        for want in expected {
            let got = self.reply();
            assert!(
                got.as_deref().is_some_and(|r| r.starts_with(want)),
                "{got:?}, wanted {want}"
            );
        }
        assert_eq!(self.reply(), None, "wanted the end of the stream");
    }
}

fn body(id: u32) -> String {
    format!("Subject: test\r\nX-Test-Id: {id}\r\n\r\nhello\r\n")
}

#[test]
fn delivers_unstuffs_and_acknowledges() {
    let server = FaultServer::start().expect("server");
    let mut c = Client::greeted(server.addr());
    let ehlo = c.cmd("EHLO client.test").expect("ehlo");
    for kw in ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"] {
        assert!(ehlo.contains(kw), "{ehlo}");
    }
    c.expect("MAIL FROM:<a@test> BODY=8BITMIME", "250");
    c.expect("RCPT TO:<b@test>", "250");
    c.expect("RCPT TO:<c@test>", "250");
    c.expect("DATA", "354");
    c.send("Subject: x\r\n\r\n..hidden\r\n.\r\n");
    assert!(c.reply().is_some_and(|r| r.starts_with("250")));
    c.expect("QUIT", "221");
    c.expect_closed_after(&[]);

    let store = server.store();
    assert_eq!(store.len(), 1);
    let m = &store[0];
    assert_eq!((m.from.as_str(), m.connection, m.mail), ("a@test", 1, 1));
    assert_eq!(m.to, ["b@test", "c@test"]);
    assert_eq!(m.data, b"Subject: x\r\n\r\n.hidden\r\n");
    assert!(m.acknowledged);
    assert!(server
        .commands()
        .contains(&(1, "MAIL FROM:<a@test> BODY=8BITMIME".to_owned())));
    assert!(server.wait_open_at_most(0, PATIENCE));
    assert_eq!(
        (server.connections(), server.max_open_connections()),
        (1, 1)
    );
}

#[test]
fn odd_input_gets_errors_not_panics() {
    let server = FaultServer::builder()
        .extensions(&["SIZE 1000"])
        .start()
        .expect("server");
    let mut c = Client::greeted(server.addr());
    assert_eq!(
        c.cmd("EHLO x").as_deref(),
        Some("250-pool-server.test hello\n250 SIZE 1000")
    );
    let _ = c.writer.write_all(b"\xff\xfe\0garbage\r\n");
    assert!(c.reply().is_some_and(|r| r.starts_with("500")));
    for (line, code) in [
        ("", "500"),
        ("BDAT 10 LAST", "500"),
        ("RCPT TO:<x@test>", "503"),
        ("DATA", "503"),
        ("MAIL FROM:", "501"),
        ("MAIL FROM:<>", "250"),
        ("MAIL FROM:<a@test>", "503"),
        ("DATA", "554"),
        ("RCPT TO:<unterminated", "501"),
        ("RSET", "250"),
        ("HELO x", "250"),
        ("noop", "250"),
    ] {
        c.expect(line, code);
    }
}

#[test]
fn idle_connections_are_closed_with_or_without_421() {
    for with_421 in [true, false] {
        let server = FaultServer::builder()
            .idle_close(Duration::from_millis(200), with_421)
            .start()
            .expect("server");
        let mut c = Client::greeted(server.addr());
        c.expect("EHLO x", "250");
        if with_421 {
            c.expect_closed_after(&["421 4.4.2 idle timeout"]);
        } else {
            c.expect_closed_after(&[]);
        }
        assert!(server.wait_open_at_most(0, PATIENCE));
    }
}

#[test]
fn message_limit_452_keeps_the_connection() {
    let server = FaultServer::builder()
        .max_messages_per_connection(1, Limit::Reply452)
        .start()
        .expect("server");
    let mut c = Client::greeted(server.addr());
    assert!(c
        .send_message("a@test", &body(1))
        .is_some_and(|r| r.starts_with("250")));
    c.expect("MAIL FROM:<a@test>", "452 4.5.3");
    c.expect("NOOP", "250");
    // A new connection gets a fresh allowance.
    let mut c2 = Client::greeted(server.addr());
    assert!(c2
        .send_message("a@test", &body(2))
        .is_some_and(|r| r.starts_with("250")));
    assert_eq!(server.store().len(), 2);
}

#[test]
fn message_limit_421_closes_the_connection() {
    let server = FaultServer::builder()
        .max_messages_per_connection(2, Limit::Reply421)
        .start()
        .expect("server");
    let mut c = Client::greeted(server.addr());
    for id in 0..2 {
        assert!(c
            .send_message("a@test", &body(id))
            .is_some_and(|r| r.starts_with("250")));
    }
    c.send("MAIL FROM:<a@test>\r\n");
    c.expect_closed_after(&["421 4.7.0 too many messages"]);
    assert_eq!(server.store().len(), 2);
}

#[test]
fn reply_faults_fire_the_given_number_of_times() {
    let server = FaultServer::builder()
        .fault(
            Fault::reply(Stage::Rcpt, "451 4.3.0 try later")
                .marker("id7")
                .times(2),
        )
        .fault(Fault::reply(Stage::DataEnd, "554 5.7.1 no").marker("X-Test-Id: 17"))
        .fault(Fault::reply(Stage::Mail, "421 4.3.0 shutting down").nth_mail(1))
        .start()
        .expect("server");
    // The first MAIL FROM of the server: 421, then the connection closes.
    let mut c = Client::greeted(server.addr());
    c.send("MAIL FROM:<first@test>\r\n");
    c.expect_closed_after(&["421 4.3.0"]);

    let mut c = Client::greeted(server.addr());
    for _ in 0..2 {
        c.expect("MAIL FROM:<id7@test>", "250");
        c.expect("RCPT TO:<r@test>", "451 4.3.0 try later");
        c.expect("RSET", "250");
    }
    assert!(c
        .send_message("id7@test", &body(7))
        .is_some_and(|r| r.starts_with("250")));

    // Not the marked message: normal. The marked one: refused once, then accepted.
    assert!(c
        .send_message("a@test", &body(1))
        .is_some_and(|r| r.starts_with("250")));
    let rejected = c.send_message("a@test", &body(17));
    assert!(rejected.is_some_and(|r| r.starts_with("554 5.7.1 no")));
    assert!(c
        .send_message("a@test", &body(17))
        .is_some_and(|r| r.starts_with("250")));

    let store = server.store();
    assert_eq!(store.len(), 3);
    assert!(store.iter().all(|m| m.acknowledged && m.connection == 2));
    assert_eq!(server.faults_fired(), 4);
}

#[test]
fn reset_before_the_data_reply_stores_unacknowledged() {
    let server = FaultServer::builder()
        .fault(Fault::reset(Point::BeforeDataEndReply).marker("X-Test-Id: 17"))
        .start()
        .expect("server");
    let mut c = Client::greeted(server.addr());
    assert_eq!(
        c.send_message("a@test", &body(17)),
        None,
        "no reply, just the end"
    );
    let store = server.wait_stored(1, PATIENCE);
    assert_eq!(store.len(), 1);
    assert!(!store[0].acknowledged);
    assert!(String::from_utf8_lossy(&store[0].data).contains("X-Test-Id: 17"));

    // The retry succeeds (a duplicate, as with a real server).
    let mut c = Client::greeted(server.addr());
    assert!(c
        .send_message("a@test", &body(17))
        .is_some_and(|r| r.starts_with("250")));
    let store = server.store();
    assert_eq!(store.len(), 2);
    assert!(store[1].acknowledged && store[1].connection == 2);
}

#[test]
fn other_reset_points() {
    let server = FaultServer::builder()
        .fault(Fault::reset(Point::AfterMail).marker("m1"))
        .fault(Fault::reset(Point::AfterData354).marker("m2"))
        .fault(Fault::reset(Point::AfterDataEndReply).marker("m3"))
        .start()
        .expect("server");
    let mut c = Client::greeted(server.addr());
    assert_eq!(c.cmd("MAIL FROM:<m1@test>"), None);

    let mut c = Client::greeted(server.addr());
    c.expect("MAIL FROM:<m2@test>", "250");
    c.expect("RCPT TO:<r@test>", "250");
    c.expect("DATA", "354");
    c.send(&body(2));
    c.send(".\r\n");
    assert_eq!(c.reply(), None);

    let mut c = Client::greeted(server.addr());
    assert!(c
        .send_message("m3@test", &body(3))
        .is_some_and(|r| r.starts_with("250")));
    assert_eq!(c.cmd("NOOP"), None);

    let store = server.store();
    assert_eq!(store.len(), 1);
    assert!(store[0].acknowledged && store[0].from == "m3@test");
    assert_eq!(server.faults_fired(), 3);
}

#[test]
fn random_faults_are_consistent_with_the_store() {
    let always = FaultServer::builder()
        .random_faults(1, 1000)
        .start()
        .expect("server");
    let mut c = Client::greeted(always.addr());
    assert_eq!(c.cmd("MAIL FROM:<a@test>"), None);

    let server = FaultServer::builder()
        .random_faults(42, 300)
        .start()
        .expect("server");
    let (mut acknowledged, mut unknown) = (0, 0);
    for id in 0..30 {
        let mut c = Client::greeted(server.addr());
        if !c
            .cmd("MAIL FROM:<a@test>")
            .is_some_and(|r| r.starts_with("250"))
        {
            continue;
        }
        c.expect("RCPT TO:<r@test>", "250");
        if !c.cmd("DATA").is_some_and(|r| r.starts_with("354")) {
            continue;
        }
        c.send(&format!("{}.\r\n", body(id)));
        match c.reply() {
            Some(r) if r.starts_with("250") => acknowledged += 1,
            Some(r) => panic!("{r}"),
            None => unknown += 1,
        }
    }
    assert!(server.wait_open_at_most(0, PATIENCE));
    let store = server.store();
    assert_eq!(
        store.iter().filter(|m| m.acknowledged).count(),
        acknowledged
    );
    // An unknown outcome is a cut before the reply to the data (stored) or after the 354 (not).
    assert!(store.iter().filter(|m| !m.acknowledged).count() <= unknown);
    assert!(acknowledged > 0 && acknowledged < 30, "{acknowledged}");
    assert!(server.faults_fired() > 0);
}

#[test]
fn refused_connections_get_no_greeting() {
    let refusing = FaultServer::builder()
        .refuse_connections_until(Instant::now() + Duration::from_secs(600))
        .start()
        .expect("server");
    let mut c = Client::connect(refusing.addr());
    assert_eq!(c.reply(), None);
    assert_eq!(
        (refusing.connections(), refusing.refused_connections()),
        (1, 1)
    );
    assert_eq!(refusing.max_open_connections(), 0);

    // A window that is over.
    let over = FaultServer::builder()
        .refuse_connections_until(Instant::now())
        .start()
        .expect("server");
    Client::greeted(over.addr()).expect("NOOP", "250");
    assert_eq!(over.refused_connections(), 0);
}

#[test]
fn counts_open_connections_and_kills_them() {
    let server = FaultServer::start().expect("server");
    let mut clients: Vec<Client> = (0..3).map(|_| Client::greeted(server.addr())).collect();
    assert_eq!(server.open_connections(), 3);
    drop(clients.pop());
    assert!(server.wait_open_at_most(2, PATIENCE));
    server.kill_connections();
    for c in &mut clients {
        assert_eq!(c.reply(), None);
    }
    assert!(server.wait_open_at_most(0, PATIENCE));
    assert_eq!(server.max_open_connections(), 3);
}

#[test]
fn proxy_passes_sessions_through() {
    let server = FaultServer::start().expect("server");
    let proxy = ChaosProxy::start(server.addr(), 7, 0).expect("proxy");
    let mut c = Client::greeted(proxy.addr());
    c.expect("EHLO x", "250");
    let big = format!("{}{}\r\n", body(1), "x".repeat(20_000));
    assert!(c
        .send_message("a@test", &big)
        .is_some_and(|r| r.starts_with("250")));
    c.expect("QUIT", "221");
    c.expect_closed_after(&[]);
    assert_eq!(server.store()[0].data, big.as_bytes());
    assert_eq!((proxy.connections(), proxy.resets()), (1, 0));
    assert!(server.wait_open_at_most(0, PATIENCE));
}

#[test]
fn proxy_cuts_every_connection_at_1000() {
    let server = FaultServer::start().expect("server");
    let proxy = ChaosProxy::start(server.addr(), 7, 1000).expect("proxy");
    for _ in 0..4 {
        // NOOPs move more than 4 KiB each way: the cut comes, whichever direction it is in.
        let mut c = Client::connect(proxy.addr());
        let mut alive = c.reply().is_some();
        let mut noops = 0;
        while alive && noops < 2000 {
            alive = c.cmd("NOOP").is_some();
            noops += 1;
        }
        assert!(!alive, "the connection survived {noops} NOOPs");
    }
    assert_eq!((proxy.connections(), proxy.resets()), (4, 4));
    assert!(server.wait_open_at_most(0, PATIENCE));
}
