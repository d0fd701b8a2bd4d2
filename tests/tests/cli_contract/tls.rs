//! TLS: opportunistic STARTTLS, required STARTTLS that never falls back to plaintext (13 when not
//! offered, 11 when refused), the capabilities after the upgrade, bytes injected after the
//! STARTTLS `220`, and certificate checks (11 unless `--insecure`).

use smtp_tests::cli::*;
use smtp_tests::server::{localhost_acceptor, wrong_host_acceptor, Action, Server, Trigger};

// ------------------------------------------------------------------ TLS: 11 and 13

/// `--tls starttls`: upgrades when offered (EHLO again after TLS), carries on in plaintext
/// when not.
#[test]
fn opportunistic_starttls_upgrades_when_offered_else_stays_plain() {
    each_runtime(|rt| {
        let server = Server::builder()
            .starttls(localhost_acceptor())
            .start()
            .expect("server");
        send(
            &addr(&server),
            rt,
            &["--tls", "starttls", "--insecure"],
            MSG,
        )
        .assert_code(0);
        let logs = finished(&server, 1);
        assert!(logs[0].tls && logs[0].messages[0].secure, "{logs:?}");
        let ehlos: Vec<&String> = logs[0]
            .commands
            .iter()
            .filter(|c| c.starts_with("EHLO"))
            .collect();
        assert_eq!(ehlos.len(), 2, "{:?}", logs[0].commands);

        let server = Server::start().expect("server");
        send(&addr(&server), rt, &["--tls", "starttls"], MSG).assert_code(0);
        let logs = finished(&server, 1);
        assert!(!logs[0].tls && logs[0].messages.len() == 1);

        // Offered but refused (454): still opportunistic, the message goes in plaintext.
        let server = Server::builder()
            .starttls(localhost_acceptor())
            .on(
                Trigger::command("STARTTLS"),
                Action::reply("454 4.7.0 not now"),
            )
            .start()
            .expect("server");
        send(&addr(&server), rt, &["--tls", "starttls"], MSG).assert_code(0);
        let logs = finished(&server, 1);
        assert!(!logs[0].tls && logs[0].messages.len() == 1, "{logs:?}");
    });
}

/// `--tls starttls-required`: not offered 13, 454 11; never a plaintext MAIL.
#[test]
fn required_starttls_never_falls_back_to_plaintext() {
    each_runtime(|rt| {
        let server = Server::start().expect("server");
        let out = send(
            &addr(&server),
            rt,
            &["--tls", "starttls-required", "--insecure"],
            MSG,
        );
        out.assert_code(13);
        assert!(!has_command(&commands(&server), "MAIL"));

        let server = Server::builder()
            .starttls(localhost_acceptor())
            .on(
                Trigger::command("STARTTLS"),
                Action::reply("454 4.7.0 TLS not available"),
            )
            .start()
            .expect("server");
        let out = send(
            &addr(&server),
            rt,
            &["--tls", "starttls-required", "--insecure"],
            MSG,
        );
        out.assert_code(11);
        assert!(!has_command(&commands(&server), "MAIL"));
    });
}

/// After STARTTLS the capabilities are forgotten and EHLO is said again: a SIZE limit offered
/// only before TLS does not apply, 8BITMIME offered only after TLS does.
#[test]
fn after_starttls_the_capabilities_come_from_the_new_ehlo() {
    for mode in ["starttls-required", "starttls"] {
        each_runtime(|rt| {
            let server = raw(|c| {
                c.send(b"220 mx.test\r\n");
                c.expect("EHLO");
                c.send(b"250-mx.test\r\n250-STARTTLS\r\n250 SIZE 10\r\n");
                c.expect("STARTTLS");
                c.send(b"220 go ahead\r\n");
                c.tls();
                c.expect("EHLO");
                c.send(b"250-mx.test\r\n250 8BITMIME\r\n");
                c.serve(EHLO_PLAIN);
            });
            let body = "Subject: caf\u{e9}\r\n\r\nGr\u{fc}\u{df}e\r\n".as_bytes();
            let out = send(&server.addr, rt, &["--tls", mode, "--insecure"], body);
            out.assert_code(0);
            let seen = server.seen_bytes();
            let text = String::from_utf8_lossy(&seen).into_owned();
            let tls = text.find("<TLS>").expect("TLS");
            assert!(!text[..tls].contains("MAIL"), "{text:?}");
            assert!(
                text[tls..].contains("\r\nMAIL FROM:<a@x.org> BODY=8BITMIME\r\n"),
                "{}: {text:?}",
                out.what
            );
            assert!(
                seen.windows(body.len()).any(|w| w == body),
                "{}: body",
                out.what
            );
        });
    }
}

/// Bytes after STARTTLS's 220, before the handshake, are never taken as replies: 10 or 11, and
/// no MAIL is sent, in plaintext or under TLS.
#[test]
fn bytes_after_the_starttls_220_abort_the_session() {
    for extra in [
        &b"250 injected\r\n"[..],
        b"250-mx.test\r\n250 AUTH PLAIN\r\n",
        b"x",
    ] {
        each_runtime(|rt| {
            let server = raw(move |c| {
                c.send(b"220 mx.test\r\n");
                c.expect("EHLO");
                c.send(b"250-mx.test\r\n250 STARTTLS\r\n");
                c.expect("STARTTLS");
                c.send(&[b"220 go ahead\r\n".as_slice(), extra].concat());
                c.tls();
                c.serve(EHLO_PLAIN);
            });
            let out = send(
                &server.addr,
                rt,
                &["--tls", "starttls-required", "--insecure"],
                MSG,
            );
            out.assert_code_in(&[10, 11]);
            let seen = server.seen();
            assert!(!seen.contains("MAIL"), "{}: {seen:?}", out.what);
        });
    }
}

/// Certificates are verified unless `--insecure`: an unknown CA or a wrong host name is 11 (for
/// STARTTLS and implicit TLS), and nothing is sent in plaintext after the failed handshake.
#[test]
fn certificates_are_verified_unless_insecure() {
    each_runtime(|rt| {
        let implicit = Server::builder()
            .implicit_tls(localhost_acceptor())
            .start()
            .expect("server");
        send(&addr(&implicit), rt, &["--tls", "implicit"], MSG).assert_code(11);
        send(
            &addr(&implicit),
            rt,
            &["--tls", "implicit", "--insecure"],
            MSG,
        )
        .assert_code(0);
        assert_eq!(implicit.messages().len(), 1);

        let wrong = Server::builder()
            .starttls(wrong_host_acceptor())
            .start()
            .expect("server");
        let out = send(&addr(&wrong), rt, &["--tls", "starttls-required"], MSG);
        out.assert_code(11);
        let cmds = commands(&wrong);
        assert_eq!(
            cmds.last().map(String::as_str),
            Some("STARTTLS"),
            "{cmds:?}"
        );
        let out = send(&addr(&wrong), rt, &["--tls", "starttls", "--insecure"], MSG);
        out.assert_code(0);
        assert!(wrong.messages()[0].secure);
    });
}
