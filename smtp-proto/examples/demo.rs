//! The demo: one whole SMTP session, client and a scripted server in memory, no network.
//!
//! `cargo run -p smtp-proto --example demo` prints the transcript (AUTH redacted) and the
//! message exactly as the server received it after un-stuffing.
#![allow(clippy::disallowed_methods)] // a real run loop reads the clock; the core never does

use std::error::Error;
use std::time::Instant;

use smtp_proto::body::DataDecoder;
use smtp_proto::client::{Client, Config, Envelope, Event, RequestId, TlsMode};
use smtp_proto::sasl::Plain;
use smtp_proto::{Domain, Mailbox, ReversePath};

/// A small in-memory ESMTP server: PIPELINING, SIZE, 8BITMIME, AUTH PLAIN, DATA.
#[derive(Default)]
struct DemoServer {
    line: Vec<u8>,
    to_client: Vec<u8>,
    data: Option<DataDecoder>,
    message: Vec<u8>,
}

impl DemoServer {
    fn receive(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if let Some(decoder) = self.data.as_mut() {
                match decoder.push(bytes, &mut self.message) {
                    Some(used) => {
                        self.data = None;
                        self.to_client
                            .extend_from_slice(b"250 2.0.0 Ok: queued as 4F2A1\r\n");
                        bytes = &bytes[used..];
                        continue;
                    }
                    None => return,
                }
            }
            let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
                self.line.extend_from_slice(bytes);
                return;
            };
            self.line.extend_from_slice(&bytes[..=end]);
            bytes = &bytes[end + 1..];
            let line = std::mem::take(&mut self.line);
            let verb = line
                .split(|&b| b == b' ' || b == b'\r')
                .next()
                .unwrap_or_default();
            let reply: &[u8] = match verb.to_ascii_uppercase().as_slice() {
                b"EHLO" => b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 ENHANCEDSTATUSCODES\r\n",
                b"AUTH" => b"235 2.7.0 Authentication successful\r\n",
                b"MAIL" => b"250 2.1.0 Ok\r\n",
                b"RCPT" if line.starts_with(b"RCPT TO:<nobody@") => b"550 5.1.1 <nobody@example.net>: Recipient address rejected\r\n",
                b"RCPT" => b"250 2.1.5 Ok\r\n",
                b"DATA" => {
                    self.data = Some(DataDecoder::new());
                    b"354 End data with <CR><LF>.<CR><LF>\r\n"
                }
                b"QUIT" => b"221 2.0.0 Bye\r\n",
                _ => b"502 5.5.2 Error: command not recognized\r\n",
            };
            self.to_client.extend_from_slice(reply);
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let message: &[u8] = b"From: Alice <alice@example.org>\r\n\
To: Bob <bob@example.net>\r\n\
Subject: sans-IO demo\r\n\
\r\n\
Hello Bob,\n\
.this line starts with a dot, and this body uses bare LF line ends;\n\
the client turns them into CRLF and stuffs the dot.\n";

    let mut config = Config::new(Domain::try_from("client.example.org")?);
    config.transcript = true;
    config.tls = TlsMode::Disabled;
    config.allow_auth_without_tls = true; // in-memory demo: there is no wire to protect
    let start = Instant::now();
    let mut client = Client::new(config, start);
    let mut server = DemoServer {
        to_client: b"220 mx.example.net ESMTP demo\r\n".to_vec(),
        ..DemoServer::default()
    };
    let mut body: Option<(RequestId, &[u8])> = None;
    let mut authenticated = false;

    loop {
        let now = Instant::now();
        if let Some((id, rest)) = body.take() {
            if let Some(mut writer) = client.body(id) {
                let n = writer.write(rest)?;
                if n == rest.len() {
                    writer.finish()?;
                } else {
                    body = Some((id, &rest[n..]));
                }
            }
        }
        while let Some(bytes) = client.transmit(now) {
            let n = bytes.len();
            server.receive(&bytes);
            client.handle_written(n, now);
        }
        while let Some(line) = client.poll_transcript() {
            println!("{line}");
        }
        while let Some(event) = client.poll_event() {
            match event {
                Event::Ready => {
                    client.authenticate(Box::new(Plain::new("alice", "correct horse")?))?;
                }
                Event::Authenticated { .. } => {
                    authenticated = true;
                    let from = ReversePath::try_from("alice@example.org")?;
                    let to = [
                        Mailbox::try_from("bob@example.net")?,
                        Mailbox::try_from("nobody@example.net")?,
                    ];
                    let mut envelope = Envelope::new(from, to);
                    envelope.size = Some(message.len() as u64);
                    client.send_mail(envelope)?;
                }
                Event::BodyWanted(id) => body = Some((id, message)),
                Event::MailDone(report) => {
                    println!("\n== outcome: {:?}", report.outcome);
                    for (mailbox, reply) in report.refused() {
                        println!("== refused: {} ({reply})", mailbox.as_str());
                    }
                    client.quit();
                }
                Event::Closed(error) => {
                    while let Some(line) = client.poll_transcript() {
                        println!("{line}");
                    }
                    if let Some(error) = error {
                        return Err(error.into());
                    }
                    println!("\n== authenticated: {authenticated}");
                    println!(
                        "== the server received this message:\n{}",
                        String::from_utf8_lossy(&server.message)
                    );
                    return Ok(());
                }
                _ => {}
            }
        }
        if body.is_some() || client.transmit(now).is_some() {
            continue;
        }
        let input = std::mem::take(&mut server.to_client);
        if input.is_empty() {
            client.handle_eof(Instant::now());
        } else {
            client.handle_input(&input, Instant::now());
        }
    }
}
