//! The example of this crate's README: sends one message to the SMTP server on
//! `localhost:8025` (or the port in `SMTP_PORT`).
//!
//! Start a local server first, e.g. `python3 -m aiosmtpd -n` (it prints what it receives),
//! then run `cargo run -p smtp-blocking --example blocking_readme`.

use smtp_blocking::SmtpClient;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::var("SMTP_PORT").map_or(Ok(8025), |p| p.parse())?;
    let mut smtp = SmtpClient::new("localhost", port)?;
    let message = "From: alice@example.org\r\n\
                   To: bob@example.net\r\n\
                   Subject: hello\r\n\
                   \r\n\
                   Hello Bob, this came through smtp-blocking.\r\n";
    let (from, to) = ("alice@example.org", ["bob@example.net"]);
    // Any `Read` works as the message: it is streamed, never held whole.
    let refused = smtp.sendmail(from, to, message.as_bytes())?;
    println!("sent; refused recipients: {refused:?}");
    smtp.quit()?;
    Ok(())
}
