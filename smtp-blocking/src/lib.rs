//! # smtp-blocking: the smtplib-parity SMTP/LMTP client on std sockets
//!
//! The [`smtp_proto`] sans-IO core plus a blocking read/write loop over
//! [`TcpStream`](std::net::TcpStream), [`UnixStream`](std::os::unix::net::UnixStream) or a stream
//! of your own ([`Connection`]), with TLS by [`native_tls`]. Every method of [`SmtpClient`]
//! queues one request on the core and drives the socket until that request completes; all
//! protocol decisions (pipelining, CHUNKING, timeouts, STARTTLS hygiene, reply parsing,
//! dot-stuffing, AUTH) are the core's.
//!
//! ```no_run
//! use std::time::Duration;
//! use smtp_blocking::{SmtpClient, TlsMode};
//!
//! # fn main() -> Result<(), smtp_blocking::Error> {
//! let mut smtp = SmtpClient::builder()
//!     .tls(TlsMode::Required)            // STARTTLS, certificate verified, or fail
//!     .timeout(Duration::from_secs(30))
//!     .connect("mail.example.org", 587)?;
//! smtp.login("alice", "secret")?;
//! let message = std::fs::File::open("message.eml")?; // streamed, never loaded whole
//! let refused = smtp.send_message(message)?;
//! for (rcpt, reply) in &refused {
//!     eprintln!("refused {}: {reply}", rcpt.as_str());
//! }
//! smtp.quit()?;
//! # Ok(())
//! # }
//! ```
//!
//! ## The loop
//!
//! One loop serves every method (the crate docs of [`smtp_proto`] give the contract):
//! events first (`UpgradeTls` → handshake on the same socket; `BodyWanted` → feed the body from
//! the caller's [`Read`](std::io::Read) while the core has room), then one write of everything
//! [`poll_transmit`](smtp_proto::Client::poll_transmit) lends (a pipelined group leaves in one
//! write), then one read bounded by [`poll_timeout`](smtp_proto::Client::poll_timeout) (the
//! socket's read timeout is set to the time left, at least 1 ms; an expired read is
//! [`handle_timeout`](smtp_proto::Client::handle_timeout)). Writes are bounded the same way, so
//! the core's write-progress timer (RFC 5321's Data Block timeout) holds. `TCP_NODELAY` is set.
//!
//! ## TLS
//!
//! Certificates and host names are verified by default (smtplib's default context does not):
//! the server name is the host passed to `connect` (`localhost` for a Unix socket, the name
//! given to `connect_stream`). Trust a private CA with [`Builder::add_root_certificate_pem`]
//! (verification stays on), present a client certificate with
//! [`Builder::client_identity_pem`], or pass a [`TlsConnector`](native_tls::TlsConnector) of
//! your own (then those two are ignored); opt out only explicitly with
//! [`Builder::danger_accept_invalid_certs`]. The
//! handshake is bounded by the timeout. AUTH over plaintext is refused unless the peer is a
//! loopback address or a Unix socket, or [`Builder::allow_plaintext_auth`] says so.
//!
//! ## Bring your own stream
//!
//! [`Builder::connect_stream`] runs the session over a stream you connected yourself: a SOCKS or
//! HTTP CONNECT tunnel once its handshake is done (a [`TcpStream`](std::net::TcpStream)), or
//! any type of your own that implements [`Connection`] (`Read + Write` plus the two socket
//! timeouts that bound every wait). Implicit TLS and STARTTLS work as usual, wrapping that
//! stream; the certificate is verified against the `server_name` you pass. Such a peer counts as
//! remote: AUTH needs TLS, or [`Builder::allow_plaintext_auth`].
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use std::io::{BufRead, BufReader};
//! # // A fake proxy that is also the mail server: it answers CONNECT, then speaks SMTP.
//! # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! # let proxy = listener.local_addr()?.to_string();
//! # let server = std::thread::spawn(move || -> std::io::Result<Vec<String>> {
//! #     let (stream, _) = listener.accept()?;
//! #     let mut out = stream.try_clone()?;
//! #     let mut reader = BufReader::new(stream);
//! #     let mut line = String::new();
//! #     while reader.read_line(&mut line)? > 2 { line.clear(); }
//! #     out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n220 mx.test ESMTP\r\n")?;
//! #     let mut seen = Vec::new();
//! #     for line in reader.lines() {
//! #         let line = line?;
//! #         let reply: &[u8] = match line.as_str() {
//! #             "DATA" => b"354 go ahead\r\n",
//! #             "QUIT" => { out.write_all(b"221 bye\r\n")?; break; }
//! #             l if l.starts_with("EHLO") => b"250-mx.test\r\n250 PIPELINING\r\n",
//! #             l if l.starts_with("MAIL") || l.starts_with("RCPT") || l == "." => b"250 ok\r\n",
//! #             _ => { seen.push(line); continue; }
//! #         };
//! #         out.write_all(reply)?;
//! #     }
//! #     Ok(seen)
//! # });
//! use std::io::{self, Read, Write};
//! use std::net::TcpStream;
//! use std::time::Duration;
//! use smtp_blocking::SmtpClient;
//!
//! /// A tunnel to `target` through an HTTP proxy (`CONNECT`, RFC 9110 §9.3.6).
//! fn http_connect(proxy: &str, target: &str) -> io::Result<TcpStream> {
//!     let mut tcp = TcpStream::connect(proxy)?;
//!     tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
//!     write!(tcp, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")?;
//!     // The proxy's reply head, byte by byte: the bytes after it are the mail server's.
//!     let mut head = Vec::new();
//!     let mut byte = [0u8];
//!     while !head.ends_with(b"\r\n\r\n") {
//!         if head.len() > 8192 || tcp.read(&mut byte)? == 0 {
//!             return Err(io::Error::other("no reply from the proxy"));
//!         }
//!         head.extend_from_slice(&byte);
//!     }
//!     if !head.starts_with(b"HTTP/1.1 200") && !head.starts_with(b"HTTP/1.0 200") {
//!         return Err(io::Error::other("the proxy refused the tunnel"));
//!     }
//!     tcp.set_nodelay(true)?;
//!     Ok(tcp)
//! }
//!
//! let tunnel = http_connect(&proxy, "mail.example.org:25")?;
//! let mut smtp = SmtpClient::builder()
//!     .timeout(Duration::from_secs(30)) // set on the stream before every read and write
//!     // .tls(TlsMode::Required) would STARTTLS over the tunnel, verified for the name below
//!     .connect_stream(tunnel, "mail.example.org")?;
//! let body: &[u8] = b"Subject: hi\r\n\r\nSent through a proxy.\r\n";
//! let refused = smtp.sendmail("alice@example.org", &["bob@example.net"], body)?;
//! assert!(refused.is_empty());
//! smtp.quit()?;
//! # assert!(server.join().expect("server")?.iter().any(|l| l == "Sent through a proxy."));
//! # Ok(())
//! # }
//! ```
//!
//! A stream type of your own implements [`Connection`]; see its docs for what a stream that
//! cannot time out should do.
//!
//! ## smtplib, call for call
//!
//! | smtplib | here |
//! | --- | --- |
//! | `SMTP(host, port, local_hostname, timeout, source_address)` | [`SmtpClient::new`], or [`SmtpClient::builder`] with [`Builder::local_hostname`], [`Builder::timeout`], [`Builder::source_address`], then [`Builder::connect`] |
//! | `SMTP()` then `connect(host, port)` | [`Builder::build`] then [`SmtpClient::connect`] (returns the greeting; one other than `220` is an error, see below) |
//! | `SMTP_SSL(host, port, context=…)` | [`SmtpClient::new_tls`], or [`Builder::tls`]`(`[`TlsMode::Implicit`]`)` + [`Builder::tls_connector`] |
//! | `LMTP(host, port)`, `LMTP('/path')` | [`SmtpClient::lmtp`], [`SmtpClient::lmtp_unix`], [`Builder::lmtp`] |
//! | `set_debuglevel(1)` | [`SmtpClient::set_transcript`], [`SmtpClient::set_transcript_sink`] (AUTH redacted) |
//! | `helo()`, `ehlo()` | [`SmtpClient::helo`], [`SmtpClient::ehlo`] (LHLO for LMTP) |
//! | `helo(name)`, `ehlo(name)` | [`SmtpClient::helo_as`], [`SmtpClient::ehlo_as`] |
//! | `ehlo_or_helo_if_needed()` | [`SmtpClient::ehlo_or_helo_if_needed`] |
//! | `has_extn(name)`, `esmtp_features`, `does_esmtp` | [`SmtpClient::has_extn`], [`SmtpClient::capabilities`], [`SmtpClient::does_esmtp`] |
//! | `ehlo_resp`, `helo_resp` | [`SmtpClient::ehlo_response`], [`SmtpClient::helo_response`] |
//! | `verify(addr)` / `vrfy`, `expn(addr)`, `help(args)` | [`SmtpClient::verify`], [`SmtpClient::expn`], [`SmtpClient::help`] (the whole reply, not only its text) |
//! | `noop()`, `rset()` | [`SmtpClient::noop`], [`SmtpClient::rset`] |
//! | `docmd(cmd, args)` | [`SmtpClient::docmd`] (the whole line) |
//! | `mail(from, options)`, `rcpt(to, options)` | [`SmtpClient::mail`], [`SmtpClient::rcpt`] with [`MailParams`] / [`RcptParams`] |
//! | `data(msg)` | [`SmtpClient::data`] (from any `Read`, streamed), [`SmtpClient::data_per_recipient`] for LMTP |
//! | `login(user, password)` | [`SmtpClient::login`] (SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN) |
//! | `auth(mechanism, authobject)` | [`SmtpClient::auth`] with any [`Mechanism`](smtp_proto::sasl::Mechanism) |
//! | `starttls(context=…)` | [`SmtpClient::starttls`] (connector from the builder), or [`Builder::tls`] with [`TlsMode::Opportunistic`] / [`TlsMode::Required`] |
//! | `sendmail(from, to, msg, mail_options, rcpt_options)` | [`SmtpClient::sendmail`], [`SmtpClient::sendmail_with`] (an [`Envelope`] with parameters); [`SmtpClient::send_mail`] returns the full [`MailReport`] instead of errors |
//! | `send_message(msg, from_addr, to_addrs)` | [`SmtpClient::send_message`], [`SmtpClient::send_message_with`] |
//! | `quit()` | [`SmtpClient::quit`], or [`SmtpClient::quit_with_reply`] for the reply |
//! | `close()` | [`SmtpClient::close`] (also on drop) |
//! | `with SMTP(…) as s:` | drop closes the socket; call [`SmtpClient::quit`] for a polite end |
//!
//! ## Errors and smtplib's exceptions
//!
//! | smtplib | here |
//! | --- | --- |
//! | `SMTPServerDisconnected` ("please run connect() first") | [`Error::NotConnected`] |
//! | `SMTPServerDisconnected` (EOF, OS error, timeout while reading) | [`Error::Smtp`] with [`UnexpectedEof`](smtp_proto::Error::UnexpectedEof) or [`Timeout`](smtp_proto::Error::Timeout), or [`Error::Io`] |
//! | `SMTPConnectError` | [`Error::Smtp`] with [`Rejected`](smtp_proto::Error::Rejected) at [`Stage::Greeting`](smtp_proto::client::Stage::Greeting) (QUIT was sent) |
//! | `SMTPHeloError` | [`Error::HeloRefused`] (or [`Error::Smtp`] with [`HelloRefused`](smtp_proto::Error::HelloRefused) with [`Builder::hello_on_connect`]) |
//! | `SMTPResponseException` from `starttls()` | [`Error::StartTlsRefused`] (or [`Error::Smtp`] with [`StartTlsRefused`](smtp_proto::Error::StartTlsRefused) under [`TlsMode::Required`]) |
//! | `SMTPResponseException(500, "Line too long.")` | [`Error::Smtp`] with [`Parse`](smtp_proto::Error::Parse) |
//! | `SMTPAuthenticationError` | [`Error::AuthFailed`] |
//! | `SMTPSenderRefused` | [`Error::SenderRefused`] |
//! | `SMTPRecipientsRefused` | [`Error::RecipientsRefused`] (a `421` to RCPT: [`Error::Smtp`] with `Rejected`) |
//! | `SMTPDataError` | [`Error::DataRefused`] |
//! | `SMTPNotSupportedError` | [`Error::Usage`] with [`UsageError::Unsupported`] |
//! | `SMTPException("No suitable authentication method found.")` | [`Error::Usage`] with [`UsageError::NoSuitableMechanism`] |
//! | `SMTPException("Server AUTH mechanism infinite loop…")` | [`Error::Smtp`] with [`AuthLoop`](smtp_proto::Error::AuthLoop) |
//! | `ValueError` (CR/LF in a command, zero timeout, two Resent- blocks) | [`Error::InvalidInput`], [`Error::InvalidSetting`], [`Error::Message`] |
//! | `OSError`, `socket.timeout`, `ssl.SSLError` from connect / handshake | [`Error::Io`], [`Error::Smtp`] with `Timeout`, [`Error::Tls`] |
//! | (none: smtplib would continue in plaintext or hang) | [`Error::Smtp`] with [`TlsUnavailable`](smtp_proto::Error::TlsUnavailable), [`StartTlsInjection`](smtp_proto::Error::StartTlsInjection) |
//! | (none: smtplib would read it as one reply) | [`Error::Smtp`] with `Parse` for malformed replies, `Unexpected` for replies out of place |
//!
//! ## Deliberate differences from smtplib
//!
//! Where smtplib's behaviour is a known hazard or a quirk, this crate does otherwise, on purpose
//! (the conformance scenarios of the `smtp-tests` crate pin each of these):
//!
//! - **TLS** verifies the certificate and the host name by default, against the host given to
//!   `connect` (smtplib's default context verifies nothing, and its server name is the
//!   constructor's host only). **AUTH over plaintext** is refused
//!   ([`UsageError::AuthWithoutTls`]) unless the peer is a loopback address or a Unix socket, or
//!   [`Builder::allow_plaintext_auth`]. Plaintext right behind STARTTLS's `220` ends the session
//!   (`StartTlsInjection`) instead of being dropped; STARTTLS on a TLS session is
//!   [`UsageError::AlreadySecure`].
//! - **Only `235` completes AUTH** (smtplib also takes `503`; a `250` is [`Error::AuthFailed`]
//!   here). After 5 challenge rounds the client cancels with `*` (RFC 4954 §4) before giving up;
//!   an undecodable challenge ends the session. AUTH LOGIN sends the user name after the first
//!   `334` (smtplib sends it as an initial response); an empty initial response is `=`, one too
//!   long for the 512-octet command line follows an empty `334`. [`SmtpClient::login`] matches
//!   mechanism names case-insensitively; [`SmtpClient::auth`] refuses a mechanism the server did
//!   not offer ([`UsageError::MechanismNotOffered`]).
//! - **A `421` to any command ends the session** (RFC 5321 §3.8): [`Error::Smtp`] with
//!   `Rejected` and the stage, the socket closed, no RSET or QUIT. smtplib does this only for
//!   MAIL, RCPT (raising `SMTPRecipientsRefused`) and the end of data, and returns the `421`
//!   from any other command.
//! - **The greeting must be `220`**, for [`SmtpClient::connect`] too (smtplib's `connect()`
//!   returns any greeting; only its constructor raises); otherwise QUIT is sent and the error is
//!   `Rejected` at [`Stage::Greeting`](smtp_proto::client::Stage::Greeting).
//! - **Hello**: [`SmtpClient::ehlo_or_helo_if_needed`] falls back to HELO only after a 5xx to
//!   EHLO (a 4xx is [`Error::HeloRefused`] with EHLO's reply; LMTP never sends HELO), and a
//!   refused hello does not count as done: the next call greets again (smtplib stores the failed
//!   replies and then never greets). The last hello defines the session: a successful `helo()`
//!   or a refused `ehlo()` leaves no ESMTP feature known (smtplib keeps the old features after
//!   `helo()`).
//! - **Commands are upper case** (`MAIL FROM:`, `RCPT TO:`, `QUIT`; smtplib 3.13 sends
//!   `mail from:`, `rcpt to:`, `quit`); RFC 5321 §2.4 makes verbs case-insensitive.
//! - **Parameters are typed and checked** against the EHLO capabilities before anything is sent
//!   ([`UsageError::Unsupported`]), where smtplib sends options verbatim (and silently drops them
//!   in a HELO session). `sendmail` adds SMTPUTF8 when an address needs it (smtplib raises
//!   `UnicodeEncodeError` unless told), and `SIZE=` only when the envelope declares a size
//!   ([`Envelope::size`] with [`SmtpClient::sendmail_with`]): bodies are streamed, so their size
//!   is not known up front (smtplib always sends `size=<len>` to a SIZE server).
//! - **`sendmail`**: no recipient is [`UsageError::NoRecipients`] before anything is sent
//!   (smtplib: MAIL, RSET, then `SMTPRecipientsRefused({})`); any 2xx to RCPT accepts the
//!   recipient (smtplib: 250 and 251 only); DATA refused (not `354`) is followed by RSET too.
//!   [`Refused`] is a list in envelope order; [`Error::SenderRefused`] names the sender as given.
//! - **Bodies**: bare CR and LF become CRLF (smtplib leaves `bytes` alone;
//!   [`Builder::bare_line_endings`] chooses), and an empty body is the `.` line alone.
//! - **`send_message`** sends the header block as it is (smtplib re-serialises the message):
//!   8-bit header bytes declare `BODY=8BITMIME` (and need 8BITMIME) where smtplib RFC 2047-encodes
//!   them; SMTPUTF8 brings `BODY=8BITMIME` only when 8BITMIME is offered; an empty group such as
//!   `undisclosed-recipients:;` adds no recipient (smtplib sends `rcpt to:<>`); a message with no
//!   sender or no recipient header is [`Error::Message`] (smtplib sends `mail from:<None>` or
//!   raises `SMTPRecipientsRefused({})`).
//! - **Replies**: the code must be three digits and every line of a reply must carry the same
//!   code, else the session ends with `Parse` (smtplib takes `int()` of any three bytes and the
//!   last line's code).
//! - **Session end**: [`SmtpClient::quit`] treats a server that hangs up instead of answering
//!   QUIT as a clean end (smtplib raises `SMTPServerDisconnected`); [`SmtpClient::close`] and a
//!   new [`SmtpClient::connect`] forget everything learnt (smtplib keeps the hello replies and
//!   features across `close()` and `connect()`, and then never greets the new server). There is
//!   no context manager: dropping the client closes the socket without QUIT.
//! - **VRFY and EXPN** send their argument as given (smtplib reduces `Name <addr>` to `addr`).
//! - **Timeouts** are never unbounded: [`Timeouts`] (RFC 5321 §4.5.3.2) unless
//!   [`Builder::timeout`] says otherwise; a timeout ends the session.
//! - **LMTP** reads one reply per accepted recipient after the data
//!   ([`SmtpClient::data_per_recipient`], the refused list of `sendmail`); port 0 is 2003 for
//!   [`SmtpClient::connect`] too (smtplib's `LMTP.connect(host)` goes to 25).
//!
//! ## Feature flags
//!
//! This crate has no optional features. It enables `smtp-proto`'s `message` feature (the
//! envelope of a message from its headers, for [`SmtpClient::send_message`]) and, through
//! `smtp-proto`'s defaults, `cram-md5`. TLS is `native-tls` (OpenSSL on Linux, the platform's
//! own TLS on macOS and Windows); its features (e.g. `vendored`) can be enabled in your own
//! `Cargo.toml`, as Cargo unifies them.
#![forbid(unsafe_code)]

mod client;
mod connect;
mod local_name;
mod transport;

pub use client::{Builder, SmtpClient};
pub use local_name::fqdn;
pub use native_tls;
pub use smtp_proto as proto;
pub use smtp_proto::client::{Content, Envelope, MailReport, Timeouts, TlsMode, TranscriptEntry};
pub use smtp_proto::message::MAX_HEADER_BLOCK;
pub use smtp_proto::session::{
    envelope, Error, Refused, Result, Settings, TlsIdentity, TranscriptSink, LMTP_PORT, SMTPS_PORT,
    SMTP_PORT,
};
pub use smtp_proto::{MailParams, OwnedReply, RcptParams, UsageError};
pub use transport::Connection;

/// Compiles the README's example.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
