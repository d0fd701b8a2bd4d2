//! The pool scenarios, written once for any [`UnderTest`].

use std::time::{Duration, Instant};

use smtp_proto::client::TlsMode;
use smtp_proto::pool::{Login, Outcome, Rate};
use smtp_proto::session::Settings;
use smtp_tests::pool_server::{ChaosProxy, Fault, FaultServer, Limit, Point, Stage};
use smtp_tests::server::{localhost_acceptor, Server, SessionLog, TEST_CA_PEM};

use super::harness::{account, mails_for, message, messages, settings, Tally, UnderTest};

const WAIT: Duration = Duration::from_secs(20);

pub fn messages_spread_over_the_connections_and_arrive_once<P: UnderTest>() {
    let server = FaultServer::start().expect("server");
    let pool = P::new(settings(|p| p.max_connections = 4), server.port());
    let reports = pool.send_all(messages(200));
    let tally = account(200, &reports, &server.store());
    assert_eq!(tally.delivered, 200);
    assert!(
        server.max_open_connections() <= 4,
        "{} open",
        server.max_open_connections()
    );
    assert!(server.connections() >= 2, "one connection did all the work");
    assert!(pool.connections() <= 4);
    // Connections are reused: far fewer than one per message.
    assert!(
        server.connections() <= 8,
        "{} connections",
        server.connections()
    );
    pool.close();
    assert!(
        server.wait_open_at_most(0, WAIT),
        "close() left connections open"
    );
}

pub fn many_threads_share_one_pool<P: UnderTest>() {
    let server = FaultServer::start().expect("server");
    let pool = P::new(settings(|p| p.max_connections = 3), server.port());
    std::thread::scope(|scope| {
        for t in 0..8 {
            let pool = &pool;
            scope.spawn(move || {
                for k in 0..10 {
                    let (envelope, body) = message(t * 10 + k);
                    let outcome = pool.send(&envelope, &body);
                    assert!(outcome.is_delivered(), "{outcome:?}");
                }
            });
        }
    });
    let store = server.store();
    assert_eq!(store.len(), 80);
    let mut senders: Vec<&str> = store.iter().map(|s| s.from.as_str()).collect();
    senders.sort_unstable();
    senders.dedup();
    assert_eq!(senders.len(), 80, "a message stored twice");
    assert!(
        server.max_open_connections() <= 3,
        "{}",
        server.max_open_connections()
    );
}

pub fn a_per_connection_limit_renews_the_connection<P: UnderTest>(with_421: bool) {
    let limit = if with_421 {
        Limit::Reply421
    } else {
        Limit::Reply452
    };
    let server = FaultServer::builder()
        .max_messages_per_connection(5, limit)
        .start()
        .expect("server");
    let pool = P::new(settings(|p| p.max_connections = 2), server.port());
    let reports = pool.send_all(messages(40));
    let tally = account(40, &reports, &server.store());
    assert_eq!(tally.delivered, 40, "{tally:?}");
    // At most 5 per connection: at least 8 connections.
    assert!(
        server.connections() >= 8,
        "{} connections",
        server.connections()
    );
}

pub fn the_pools_own_quota_renews_connections<P: UnderTest>() {
    let server = FaultServer::start().expect("server");
    let pool = P::new(
        settings(|p| {
            p.max_connections = 1;
            p.max_messages = Some(3);
        }),
        server.port(),
    );
    let reports = pool.send_all(messages(9));
    assert_eq!(account(9, &reports, &server.store()).delivered, 9);
    let mut per_connection = std::collections::BTreeMap::new();
    for s in server.store() {
        *per_connection.entry(s.connection).or_insert(0) += 1;
    }
    assert_eq!(
        per_connection.values().copied().collect::<Vec<_>>(),
        [3, 3, 3]
    );
    let quits = server
        .commands()
        .iter()
        .filter(|(_, c)| c == "QUIT")
        .count();
    assert!(quits >= 3, "each full connection says QUIT ({quits})");
}

pub fn an_idle_close_by_the_server_costs_nothing<P: UnderTest>(with_421: bool) {
    let server = FaultServer::builder()
        .idle_close(Duration::from_millis(200), with_421)
        .start()
        .expect("server");
    // No check before reuse: the dead connection is found by the send itself.
    let pool = P::new(
        settings(|p| {
            p.max_connections = 1;
            p.check_after = Duration::from_secs(3600);
            p.retries = 0;
        }),
        server.port(),
    );
    let (envelope, body) = message(0);
    assert!(pool.send(&envelope, &body).is_delivered());
    assert!(
        server.wait_open_at_most(0, WAIT),
        "the server did not close the idle connection"
    );
    let (envelope, body) = message(1);
    let outcome = pool.send(&envelope, &body);
    assert!(outcome.is_delivered(), "{outcome:?}");
    assert_eq!(server.connections(), 2);
    assert_eq!(server.store().len(), 2);
}

pub fn an_idle_connection_is_checked_before_reuse<P: UnderTest>() {
    let server = FaultServer::start().expect("server");
    let pool = P::new(
        settings(|p| {
            p.max_connections = 1;
            p.check_after = Duration::ZERO;
        }),
        server.port(),
    );
    for i in 0..2 {
        let (envelope, body) = message(i);
        std::thread::sleep(Duration::from_millis(5));
        assert!(pool.send(&envelope, &body).is_delivered());
    }
    let commands: Vec<String> = server.commands().into_iter().map(|(_, c)| c).collect();
    let first_mail = commands
        .iter()
        .position(|c| c.starts_with("MAIL"))
        .expect("MAIL");
    let second_mail = commands
        .iter()
        .rposition(|c| c.starts_with("MAIL"))
        .expect("MAIL");
    assert!(
        commands[first_mail..second_mail]
            .iter()
            .any(|c| c == "RSET"),
        "no RSET between the messages: {commands:?}"
    );
    assert_eq!(server.connections(), 1);
}

pub fn a_421_mid_session_is_retried_on_a_new_connection<P: UnderTest>() {
    let server = FaultServer::builder()
        .fault(Fault::reply(Stage::Mail, "421 4.3.2 shutting down").marker("m3@test"))
        .start()
        .expect("server");
    let pool = P::new(settings(|p| p.max_connections = 2), server.port());
    let reports = pool.send_all(messages(10));
    assert_eq!(account(10, &reports, &server.store()).delivered, 10);
    assert_eq!(mails_for(&server.commands(), 3), 2, "tried twice");
}

pub fn a_5xx_is_reported_and_never_retried<P: UnderTest>() {
    let server = FaultServer::builder()
        .fault(Fault::reply(Stage::Rcpt, "550 5.1.1 no such user").marker("m2@test"))
        .fault(Fault::reply(Stage::DataEnd, "554 5.7.1 spam").marker("Hello 4."))
        .start()
        .expect("server");
    let pool = P::new(settings(|p| p.max_connections = 2), server.port());
    let reports = pool.send_all(messages(6));
    let tally = account(6, &reports, &server.store());
    assert_eq!((tally.delivered, tally.refused), (4, 2), "{tally:?}");
    let commands = server.commands();
    assert_eq!(mails_for(&commands, 2), 1);
    assert_eq!(mails_for(&commands, 4), 1);
    for report in &reports {
        if report.index == 2 {
            let Outcome::Refused(r) = &report.outcome else {
                panic!("{:?}", report.outcome)
            };
            let refused: Vec<u16> = r.refused().map(|(_, reply)| reply.code().get()).collect();
            assert_eq!(refused, [550]);
        }
    }
}

pub fn a_4xx_is_retried_until_the_retries_are_spent<P: UnderTest>() {
    let server = FaultServer::builder()
        // Message 1: twice, then it passes; message 2: more often than the retries.
        .fault(
            Fault::reply(Stage::Mail, "451 4.3.0 try later")
                .marker("m1@test")
                .times(2),
        )
        .fault(
            Fault::reply(Stage::DataEnd, "452 4.3.1 full")
                .marker("Hello 2.")
                .times(100),
        )
        .start()
        .expect("server");
    let pool = P::new(
        settings(|p| {
            p.max_connections = 1;
            p.retries = 3;
        }),
        server.port(),
    );
    let reports = pool.send_all(messages(3));
    let tally = account(3, &reports, &server.store());
    assert_eq!((tally.delivered, tally.refused), (2, 1), "{tally:?}");
    let commands = server.commands();
    assert_eq!(mails_for(&commands, 1), 3);
    assert_eq!(mails_for(&commands, 2), 4, "first try and three retries");
}

pub fn a_reset_before_the_end_of_data_is_retried<P: UnderTest>() {
    let server = FaultServer::builder()
        .fault(Fault::reset(Point::AfterMail).marker("m1@test"))
        .fault(Fault::reset(Point::AfterData354).marker("m3@test"))
        .start()
        .expect("server");
    let pool = P::new(settings(|p| p.max_connections = 2), server.port());
    let reports = pool.send_all(messages(5));
    let tally = account(5, &reports, &server.store());
    let commands = server.commands();
    assert_eq!(
        mails_for(&commands, 1),
        2,
        "the reset before 354 is retried"
    );
    // A reset right after the 354 races the body: if the end of data left before the reset
    // arrived, the outcome is unknown and the message is not sent again.
    let third = reports.iter().find(|r| r.index == 3).expect("report");
    match &third.outcome {
        Outcome::Delivered(_) => assert_eq!(mails_for(&commands, 3), 2),
        Outcome::Unknown(_) => assert_eq!(mails_for(&commands, 3), 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(tally.delivered + tally.unknown, 5, "{tally:?}");
}

pub fn a_reset_after_the_end_of_data_is_unknown_and_never_resent<P: UnderTest>() {
    let server = FaultServer::builder()
        .fault(Fault::reset(Point::BeforeDataEndReply).marker("Hello 2."))
        .start()
        .expect("server");
    let pool = P::new(settings(|p| p.max_connections = 2), server.port());
    let reports = pool.send_all(messages(5));
    let tally = account(5, &reports, &server.store());
    assert_eq!((tally.delivered, tally.unknown), (4, 1), "{tally:?}");
    assert_eq!(
        mails_for(&server.commands(), 2),
        1,
        "an unknown message was sent again"
    );
    let unknown = reports.iter().find(|r| r.index == 2).expect("report");
    assert!(
        matches!(unknown.outcome, Outcome::Unknown(_)),
        "{:?}",
        unknown.outcome
    );
}

pub fn refused_connections_are_retried_with_backoff<P: UnderTest>() {
    let server = FaultServer::builder()
        .refuse_connections_until(Instant::now() + Duration::from_millis(300))
        .start()
        .expect("server");
    let pool = P::new(
        settings(|p| {
            p.max_connections = 2;
            p.retries = 20;
            p.backoff = Duration::from_millis(50);
            p.max_backoff = Duration::from_millis(100);
        }),
        server.port(),
    );
    let reports = pool.send_all(messages(4));
    assert_eq!(account(4, &reports, &server.store()).delivered, 4);
    assert!(server.refused_connections() >= 1);
    // Backed off, not hammered: at most one try per 50 ms per worker, plus slack.
    assert!(
        server.refused_connections() < 40,
        "{}",
        server.refused_connections()
    );
}

pub fn a_server_that_stays_down_fails_each_message_once<P: UnderTest>() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let pool = P::new(
        settings(|p| {
            p.max_connections = 2;
            p.retries = 2;
        }),
        port,
    );
    let reports = pool.send_all(messages(3));
    let tally = account(3, &reports, &[]);
    assert_eq!(
        tally,
        Tally {
            failed: 3,
            ..Tally::default()
        }
    );
    assert_eq!(pool.connections(), 0);
}

pub fn pooled_connections_log_in<P: UnderTest>() {
    let server = Server::builder()
        .users(&[("pool", "secret")])
        .start()
        .expect("server");
    let mut s = settings(|p| {
        p.max_connections = 2;
        p.login = Some(pool_login(Some("PLAIN")));
        p.rate = Some(Rate {
            messages: 100,
            per: Duration::from_secs(1),
        });
    });
    s.allow_plaintext_auth = true;
    for session in six_delivered::<P>(s, &server) {
        assert_eq!(
            session.authenticated.as_deref(),
            Some("pool"),
            "{session:?}"
        );
    }
}

pub fn pooled_connections_use_starttls_verified<P: UnderTest>() {
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .users(&[("pool", "secret")])
        .start()
        .expect("server");
    let mut s = settings(|p| {
        p.max_connections = 2;
        p.login = Some(pool_login(None));
    });
    s.tls = TlsMode::Required;
    s.tls_roots = vec![TEST_CA_PEM.to_vec()];
    for session in six_delivered::<P>(s, &server) {
        assert!(session.tls, "a pooled connection without TLS: {session:?}");
        assert_eq!(session.authenticated.as_deref(), Some("pool"));
        assert!(session.messages.iter().all(|m| m.secure));
    }
}

/// The test server's account `pool`, by `mechanism` or `login()`'s choice.
fn pool_login(mechanism: Option<&str>) -> Login {
    Login {
        user: "pool".into(),
        password: "secret".into(),
        mechanism: mechanism.map(str::to_owned),
    }
}

/// Sends six messages through a pool with `settings`, checks they were delivered and that the
/// server's sessions hold them, and returns those sessions.
fn six_delivered<P: UnderTest>(settings: Settings, server: &Server) -> Vec<SessionLog> {
    let pool = P::new(settings, server.port());
    let reports = pool.send_all(messages(6));
    assert!(
        reports.iter().all(|r| r.outcome.is_delivered()),
        "{reports:?}"
    );
    pool.close();
    let sessions = server.wait_finished(1, WAIT);
    assert!(!sessions.is_empty());
    assert_eq!(sessions.iter().map(|s| s.messages.len()).sum::<usize>(), 6);
    sessions
}

/// Messages through a proxy that resets 2% of the connections at random points (and a few
/// server-side resets): every message is reported once, delivered ones are stored once, and
/// only unknown ones may be stored unacknowledged.
pub fn chaos<P: UnderTest>(n: usize) {
    let server = FaultServer::builder()
        .random_faults(7, 5)
        .start()
        .expect("server");
    let proxy = ChaosProxy::start(server.addr(), 11, 20).expect("proxy");
    let pool = P::new(
        settings(|p| {
            p.max_connections = 4;
            p.retries = 5;
            p.backoff = Duration::from_millis(1);
            p.max_backoff = Duration::from_millis(10);
            p.max_messages = Some(25);
        }),
        proxy.addr().port(),
    );
    let reports = pool.send_all(messages(n));
    pool.close();
    let tally = account(n, &reports, &server.store());
    assert_eq!(tally.refused, 0, "{tally:?}");
    assert_eq!(tally.delivered + tally.failed + tally.unknown, n);
    assert!(tally.delivered >= n * 9 / 10, "{tally:?}");
    assert!(
        proxy.resets() + server.faults_fired() > 0,
        "no chaos happened"
    );
}
