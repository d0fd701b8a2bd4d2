//! Quickstart: send a message through `smtp-blocking` and show what happened.
//!
//! ```sh
//! cargo run --example quickstart                      # an in-process server on loopback
//! cargo run --example quickstart -- --server HOST:PORT --from ADDR --to ADDR \
//!     [--tls none|starttls|starttls-required|implicit] [--auth-user U --auth-pass P]
//! ```
//!
//! Without `--server` it needs nothing but this machine: it starts the test server of the
//! `smtp-tests` crate on 127.0.0.1 (STARTTLS with the test certificate of `tests/fixtures/`,
//! AUTH for `alice`), connects with TLS required and the certificate verified against the test
//! CA, logs in, sends a message with `send_message` (envelope from its headers, `Bcc` stripped),
//! and prints the transcript and the message exactly as the server received it.

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_blocking::{SmtpClient, TlsMode};
use smtp_tests::server::{localhost_acceptor, trusting_connector, Action, Server, Trigger};

const MESSAGE: &str = "From: Alice <alice@example.org>\r\n\
To: Bob <bob@example.net>\r\n\
Cc: nobody@example.net\r\n\
Bcc: carol@example.com\r\n\
Subject: Hello from smtp-blocking\r\n\
\r\n\
Hi Bob,\n\
.a line that starts with a dot is stuffed on the wire, and this body's bare LF line ends\n\
become CRLF.\n";

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return demo();
    }
    real_server(&args)
}

/// The in-process demo.
fn demo() -> Result<(), Box<dyn Error>> {
    let server = Server::builder()
        .starttls(localhost_acceptor())
        .on(
            Trigger::command("RCPT TO:<nobody@"),
            Action::reply("550 5.1.1 <nobody@example.net>: no such user"),
        )
        .start()?;
    println!("== test server listening on {}", server.addr());

    let transcript = Arc::new(Mutex::new(Vec::new()));
    let lines = Arc::clone(&transcript);
    let mut smtp = SmtpClient::builder()
        .tls(TlsMode::Required)
        .tls_connector(trusting_connector())
        .timeout(Duration::from_secs(10))
        .transcript_sink(move |entry| {
            if let Ok(mut l) = lines.lock() {
                l.push(entry.to_string());
            }
        })
        .connect("localhost", server.port())?;
    println!(
        "== connected; TLS: {}, EHLO name: {}",
        smtp.is_secure(),
        smtp.local_hostname().map_or("?", |d| d.as_str())
    );
    smtp.login("alice", "correct horse")?;
    let refused = smtp.send_message(MESSAGE.as_bytes())?;
    smtp.quit()?;

    println!("\n== transcript (AUTH redacted)");
    for line in transcript.lock().map(|l| l.clone()).unwrap_or_default() {
        println!("{line}");
    }
    println!("\n== refused recipients");
    for (mailbox, reply) in &refused {
        println!("{}: {reply}", mailbox.as_str());
    }
    let sessions = server.wait_finished(1, Duration::from_secs(5));
    for message in sessions.iter().flat_map(|s| s.messages.iter()) {
        println!("\n== the server received (TLS: {})", message.secure);
        println!("MAIL FROM:{}", message.mail_from);
        for rcpt in &message.rcpt_to {
            println!("RCPT TO:{rcpt}");
        }
        println!("{}", String::from_utf8_lossy(&message.data));
    }
    Ok(())
}

/// `--server HOST:PORT --from A --to B [--tls MODE] [--auth-user U --auth-pass P]`.
fn real_server(args: &[String]) -> Result<(), Box<dyn Error>> {
    let mut server = None;
    let mut from = None;
    let mut to = Vec::new();
    let mut tls = TlsMode::Opportunistic;
    let mut user = None;
    let mut pass = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--server" => server = Some(value()?),
            "--from" => from = Some(value()?),
            "--to" => to.push(value()?),
            "--auth-user" => user = Some(value()?),
            "--auth-pass" => pass = Some(value()?),
            "--tls" => {
                tls = match value()?.as_str() {
                    "none" => TlsMode::Disabled,
                    "starttls" => TlsMode::Opportunistic,
                    "starttls-required" => TlsMode::Required,
                    "implicit" => TlsMode::Implicit,
                    other => return Err(format!("unknown --tls {other}").into()),
                }
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let server = server.ok_or("--server HOST:PORT is required")?;
    let from = from.ok_or("--from is required with --server")?;
    if to.is_empty() {
        return Err("--to is required with --server".into());
    }
    let mut smtp = SmtpClient::builder()
        .tls(tls)
        .transcript(true)
        .timeout(Duration::from_secs(30))
        .connect(&server, 0)?;
    if let (Some(user), Some(pass)) = (&user, &pass) {
        smtp.login(user, pass)?;
    }
    let to_refs: Vec<&str> = to.iter().map(String::as_str).collect();
    let message = format!(
        "From: {from}\r\nTo: {}\r\nSubject: smtp-blocking quickstart\r\n\r\nHello from smtp-blocking.\r\n",
        to.join(", ")
    );
    let refused = smtp.sendmail(&from, &to_refs, message.as_bytes())?;
    smtp.quit()?;
    println!("== sent; refused: {}", refused.len());
    for (mailbox, reply) in &refused {
        println!("{}: {reply}", mailbox.as_str());
    }
    Ok(())
}
