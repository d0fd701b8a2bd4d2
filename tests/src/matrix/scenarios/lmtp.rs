//! LMTP: one reply per recipient after the data, over TCP and over a Unix socket (where
//! plaintext AUTH is allowed).

use smtp_blocking::Error;
use smtp_proto::{MailParams, RcptParams};

use super::{finished, open, unique_socket_path};
use crate::matrix::{Adapter, Settings, Target};
use crate::server::{Action, Server, Trigger};

// ------------------------------------------------------------------ LMTP

/// LMTP over TCP: one reply per recipient after the data.
pub fn lmtp_over_tcp_reports_each_recipient<A: Adapter>() {
    let server = Server::builder()
        .lmtp()
        .on(
            Trigger::delivery("full@"),
            Action::reply("452 4.2.2 mailbox full"),
        )
        .start()
        .expect("server");
    let settings = Settings::default().lmtp(true);
    let mut lmtp = open::<A>(&server, &settings).expect("lmtp");
    let refused = lmtp
        .sendmail("a@x.org", &["ok@y.org", "full@y.org"], &mut &b"hi\r\n"[..])
        .expect("one delivered");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0.as_str(), "full@y.org");
    assert_eq!(refused[0].1.code().get(), 452);
    match lmtp.sendmail("a@x.org", &["full@y.org"], &mut &b"hi\r\n"[..]) {
        Err(Error::DataRefused { refused, .. }) => assert_eq!(refused.len(), 1),
        other => panic!("{other:?}"),
    }
    lmtp.mail("a@x.org", MailParams::default()).expect("mail");
    lmtp.rcpt("ok@y.org", RcptParams::default()).expect("rcpt");
    lmtp.rcpt("full@y.org", RcptParams::default())
        .expect("rcpt");
    let replies = lmtp.data_per_recipient(&mut &b"x\r\n"[..]).expect("data");
    let codes: Vec<u16> = replies.iter().map(|r| r.code().get()).collect();
    assert_eq!(codes, [250, 452]);
    lmtp.quit().expect("quit");
    assert!(finished(&server, 1)[0].commands[0].starts_with("LHLO "));
}

/// LMTP over a Unix socket (by path as the host, and explicitly); AUTH allowed over it.
pub fn lmtp_over_a_unix_socket_allows_plaintext_auth<A: Adapter>() {
    if cfg!(not(unix)) {
        return;
    }
    let path = unique_socket_path("lmtp");
    let server = Server::builder()
        .lmtp()
        .unix(&path)
        .start()
        .expect("server");
    let settings = Settings::default().lmtp(true);
    let by_host = Target::Tcp(path.to_str().expect("utf-8 path").to_owned(), 0);
    let mut lmtp = A::connect(&settings, &by_host).expect("lmtp over unix");
    assert_eq!(lmtp.server_name().as_deref(), Some("localhost"));
    assert!(lmtp.local_hostname().is_some_and(|n| !n.is_empty()));
    lmtp.login("alice", "correct horse")
        .expect("AUTH over a Unix socket");
    lmtp.sendmail("a@x.org", &["b@y.org"], &mut &b"via unix\r\n"[..])
        .expect("send");
    lmtp.quit().expect("quit");
    let mut again = A::connect(&settings, &Target::Unix(path.clone())).expect("connect_unix");
    again.quit().expect("quit");
    let logs = finished(&server, 2);
    assert_eq!(logs[0].messages[0].data, b"via unix\r\n");
    assert_eq!(logs[0].authenticated.as_deref(), Some("alice"));
}
