//! Black-box tests of `smtp-send --connections N` under every `--runtime`: the copies spread
//! over N connections, a connection lost before a message's end of data is replaced and the
//! message sent again, one lost after it counts the message as `unknown` and never resends it,
//! and `--json` reports `sent`, `failed` and `unknown`.

use smtp_tests::cli::*;
use smtp_tests::pool_server::{Fault, FaultServer, Point, Stage};

fn server_addr(server: &FaultServer) -> String {
    server.addr().to_string()
}

fn mails(server: &FaultServer) -> usize {
    server
        .commands()
        .iter()
        .filter(|(_, c)| c.starts_with("MAIL FROM:"))
        .count()
}

fn counts(out: &Out) -> (u64, u64, u64) {
    let json = out.json();
    let n = |k: &str| {
        json[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: no {k}", out.what))
    };
    (n("sent"), n("failed"), n("unknown"))
}

#[test]
fn the_copies_spread_over_the_connections() {
    each_runtime(|rt| {
        let server = FaultServer::start().expect("server");
        let out = send(
            &server_addr(&server),
            rt,
            &["--count", "40", "--connections", "4"],
            MSG,
        );
        out.assert_code(0);
        assert_eq!(counts(&out), (40, 0, 0), "{}", out.what);
        let store = server.store();
        assert_eq!(store.len(), 40);
        assert!(store
            .iter()
            .all(|s| s.acknowledged && s.data.ends_with(b"Hello\r\n")));
        // The first connection checks the set-up; then at most four at once.
        assert!(
            server.max_open_connections() <= 5,
            "{}",
            server.max_open_connections()
        );
        let used: std::collections::BTreeSet<u64> = store.iter().map(|s| s.connection).collect();
        assert!(
            used.len() >= 2,
            "{}: one connection did all the work",
            out.what
        );
    });
}

#[test]
fn a_connection_lost_before_the_end_of_data_is_replaced() {
    each_runtime(|rt| {
        let server = FaultServer::builder()
            .fault(Fault::reset(Point::AfterMail).nth_mail(3))
            .fault(Fault::reply(Stage::Mail, "421 4.3.2 going down").nth_mail(7))
            .start()
            .expect("server");
        let out = send(
            &server_addr(&server),
            rt,
            &["--count", "12", "--connections", "3"],
            MSG,
        );
        out.assert_code(0);
        assert_eq!(counts(&out), (12, 0, 0), "{}", out.what);
        assert_eq!(server.store().len(), 12);
        assert_eq!(mails(&server), 14, "{}: two messages sent twice", out.what);
    });
}

#[test]
fn a_connection_lost_after_the_end_of_data_is_unknown_and_not_resent() {
    each_runtime(|rt| {
        let server = FaultServer::builder()
            .fault(Fault::reset(Point::BeforeDataEndReply).nth_mail(4))
            .start()
            .expect("server");
        let out = send(
            &server_addr(&server),
            rt,
            &["--count", "10", "--connections", "2"],
            MSG,
        );
        out.assert_code_in(&[9, 12]);
        assert_eq!(counts(&out), (9, 0, 1), "{}", out.what);
        assert_eq!(
            mails(&server),
            10,
            "{}: the unknown message was sent again",
            out.what
        );
        let store = server.store();
        assert_eq!(store.len(), 10);
        assert_eq!(store.iter().filter(|s| !s.acknowledged).count(), 1);
        assert!(!out.json()["ok"].as_bool().unwrap_or(true));
    });
}

#[test]
fn refusals_count_as_failed_and_set_the_exit_code() {
    each_runtime(|rt| {
        let server = FaultServer::builder()
            .fault(Fault::reply(Stage::DataEnd, "554 5.7.1 rejected").nth_mail(2))
            .start()
            .expect("server");
        let out = send(
            &server_addr(&server),
            rt,
            &["--count", "5", "--connections", "2"],
            MSG,
        );
        out.assert_code(8);
        assert_eq!(counts(&out), (4, 1, 0), "{}", out.what);
        assert_eq!(mails(&server), 5, "{}: a 5xx is never retried", out.what);
    });
}

#[test]
fn connections_must_be_a_positive_number() {
    for bad in ["0", "x", "-1", "1001"] {
        let out = send("127.0.0.1:9", "blocking", &["--connections", bad], MSG);
        out.assert_code(2);
    }
}
