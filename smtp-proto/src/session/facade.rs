//! smtplib's methods, written once for every adapter: [`smtplib_methods!`](crate::smtplib_methods).

/// Expands, inside the `impl` block of an adapter's client, smtplib's methods (the table in
/// the [`session`](crate::session) docs), each one [`Operation`](crate::session::op::Operation)
/// run by the adapter, blocking or async. The adapter provides:
///
/// - `fn run<O: Operation>(&mut self, op: O) -> Result<O::Output>` (an `async fn` for an
///   async adapter), where `O::Body` is the adapter's reader type: it runs `op` with a
///   [`Pump`](crate::session::Pump) over the open session, [`Error::NotConnected`] when there
///   is none;
/// - `fn client_mut(&mut self) -> Option<&mut Client>` (the core session) and a field
///   `sink: Option<TranscriptSink>`;
/// - `fn close(&mut self)`, which drops the session;
/// - `fn session(&self) -> Option<&Client>`, for [`session_getters!`](crate::session_getters).
///
/// The arguments name the adapter's reader: `read: [bounds]` the bounds of a body argument
/// (`std::io::Read`, or `futures_lite::AsyncRead + Unpin`), `ext: [trait]` the trait whose
/// `read` and `chain` methods the header block of `send_message` is read and chained with
/// (`std::io::Read`, `futures_lite::AsyncReadExt`), and `asyncness: [async]`, `await:
/// [.await]` for an async adapter (both empty for a blocking one).
///
/// [`Error::NotConnected`]: crate::session::Error::NotConnected
#[macro_export]
macro_rules! smtplib_methods {
    (
        read: [$($read:tt)+],
        ext: [$($ext:tt)+],
        asyncness: [$($async:tt)*],
        await: [$($await:tt)*] $(,)?
    ) => {
        // ------------------------------------------------------------ transcript

        /// smtplib's `set_debuglevel`: print the transcript (`C: …` / `S: …`, AUTH payloads
        /// redacted) to standard error, or stop.
        pub fn set_transcript(&mut self, on: bool) {
            self.sink = on.then($crate::session::stderr_transcript);
            self.sync_transcript();
        }

        /// Hands every transcript line to `sink` from now on.
        pub fn set_transcript_sink(
            &mut self,
            sink: impl FnMut(&$crate::client::TranscriptEntry) + Send + 'static,
        ) {
            self.sink = Some(::std::boxed::Box::new(sink));
            self.sync_transcript();
        }

        /// The core records the transcript exactly while there is a sink.
        fn sync_transcript(&mut self) {
            let on = self.sink.is_some();
            if let Some(client) = self.client_mut() {
                client.set_transcript(on);
            }
        }

        // ------------------------------------------------------------ commands

        /// smtplib's `helo()`: `HELO`, returns the reply whatever its code.
        pub $($async)* fn helo(&mut self) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::new($crate::session::op::Request::Hello(
                $crate::client::Hello::Helo,
                None,
            )))
            $($await)*
        }

        /// smtplib's `ehlo()`: `EHLO` (`LHLO` for LMTP), returns the reply whatever its code;
        /// a `250` sets the capabilities.
        pub $($async)* fn ehlo(&mut self) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::new($crate::session::op::Request::Hello(
                $crate::client::Hello::Ehlo,
                None,
            )))
            $($await)*
        }

        /// smtplib's `helo(name)`: [`helo`](Self::helo) with `name` instead of the session's
        /// [`local_hostname`](Self::local_hostname), for this greeting only.
        pub $($async)* fn helo_as(
            &mut self,
            name: $crate::Domain,
        ) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::new($crate::session::op::Request::Hello(
                $crate::client::Hello::Helo,
                Some(name),
            )))
            $($await)*
        }

        /// smtplib's `ehlo(name)`: [`ehlo`](Self::ehlo) with `name` instead of the session's
        /// [`local_hostname`](Self::local_hostname), for this greeting only.
        pub $($async)* fn ehlo_as(
            &mut self,
            name: $crate::Domain,
        ) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::new($crate::session::op::Request::Hello(
                $crate::client::Hello::Ehlo,
                Some(name),
            )))
            $($await)*
        }

        /// smtplib's `ehlo_or_helo_if_needed()`: unless a hello succeeded already, EHLO then
        /// HELO; both refused is [`Error::HeloRefused`](smtp_proto::session::Error::HeloRefused) with HELO's
        /// reply.
        pub $($async)* fn ehlo_or_helo_if_needed(&mut self) -> $crate::session::Result<()> {
            self.run($crate::session::op::hello_if_needed()) $($await)*
        }

        /// smtplib's `verify()`: `VRFY address`.
        pub $($async)* fn verify(
            &mut self,
            address: &str,
        ) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::verify(address)?) $($await)*
        }

        /// smtplib's `expn()`: `EXPN list`.
        pub $($async)* fn expn(&mut self, list: &str) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::expn(list)?) $($await)*
        }

        /// smtplib's `help()`: `HELP [topic]`.
        pub $($async)* fn help(
            &mut self,
            topic: Option<&str>,
        ) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::help(topic)?) $($await)*
        }

        /// smtplib's `noop()`.
        pub $($async)* fn noop(&mut self) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::new($crate::session::op::Request::Noop))
            $($await)*
        }

        /// smtplib's `rset()`.
        pub $($async)* fn rset(&mut self) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::new($crate::session::op::Request::Rset))
            $($await)*
        }

        /// smtplib's `docmd()`: sends one raw command line (validated: no CR, LF or other
        /// control) and returns the reply. The session does not interpret it.
        pub $($async)* fn docmd(&mut self, line: &str) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::raw(line)?) $($await)*
        }

        /// smtplib's `mail()`: `MAIL FROM:<from> [params]`, returns the reply whatever its
        /// code. `""` or `"<>"` is the null reverse-path. SMTPUTF8 is added when `from` needs
        /// it (and refused with [`UsageError::Unsupported`](smtp_proto::UsageError::Unsupported)
        /// when the server lacks it).
        pub $($async)* fn mail(
            &mut self,
            from: &str,
            params: $crate::MailParams,
        ) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::mail(from, params)?) $($await)*
        }

        /// smtplib's `rcpt()`: `RCPT TO:<to> [params]`, returns the reply whatever its code.
        pub $($async)* fn rcpt(
            &mut self,
            to: &str,
            params: $crate::RcptParams,
        ) -> $crate::session::Result<$crate::OwnedReply> {
            self.run($crate::session::op::Command::rcpt(to, params)?) $($await)*
        }

        /// smtplib's `data()`: `DATA`, then the message read from `message` and streamed (line
        /// ends normalised to CRLF, dots stuffed, a final CRLF added when missing), then the
        /// end-of-data reply, returned whatever its code. `DATA` not answered `354` is
        /// [`Error::DataRefused`](smtp_proto::session::Error::DataRefused). For LMTP the last
        /// per-recipient reply is returned; see [`data_per_recipient`](Self::data_per_recipient).
        pub $($async)* fn data(
            &mut self,
            message: impl $($read)+,
        ) -> $crate::session::Result<$crate::OwnedReply> {
            let mut replies = self.data_per_recipient(message) $($await)* ?;
            replies.pop().ok_or($crate::session::Error::NotConnected)
        }

        /// [`data`](Self::data) returning every reply after the body: one for SMTP, one per
        /// recipient accepted since [`mail`](Self::mail) for LMTP (RFC 2033 §4.2).
        pub $($async)* fn data_per_recipient(
            &mut self,
            message: impl $($read)+,
        ) -> $crate::session::Result<::std::vec::Vec<$crate::OwnedReply>> {
            self.run($crate::session::op::Data::new(message)) $($await)*
        }

        /// smtplib's `login(user, password)`: says hello if needed, then tries SCRAM-SHA-256,
        /// SCRAM-SHA-1 (with `smtp-proto`'s default `scram` feature), CRAM-MD5, PLAIN and LOGIN
        /// in that order among those offered, until one succeeds. Refused credentials are
        /// [`Error::AuthFailed`](smtp_proto::session::Error::AuthFailed); no usable mechanism is
        /// [`UsageError::NoSuitableMechanism`](smtp_proto::UsageError::NoSuitableMechanism); AUTH
        /// not offered is [`UsageError::Unsupported`](smtp_proto::UsageError::Unsupported).
        pub $($async)* fn login(
            &mut self,
            user: &str,
            password: &str,
        ) -> $crate::session::Result<$crate::OwnedReply> {
            let op = $crate::session::op::Authenticate::login(user, password);
            self.run($crate::session::op::AfterHello::new(op)) $($await)*
        }

        /// smtplib's `auth("PLAIN", …)`: AUTH with the mechanism named `mechanism`
        /// (case-insensitive: `PLAIN`, `LOGIN`, `CRAM-MD5`, `SCRAM-SHA-256`, `SCRAM-SHA-1`;
        /// `XOAUTH2` and `OAUTHBEARER` with the token as `password`; `EXTERNAL` with `user` as
        /// the authorization identity) for `user` and `password`. It must be offered; it is never replaced by another. An
        /// unknown name (or credentials the mechanism cannot carry) is
        /// [`UsageError::NoSuitableMechanism`](smtp_proto::UsageError::NoSuitableMechanism).
        pub $($async)* fn login_with(
            &mut self,
            mechanism: &str,
            user: &str,
            password: &str,
        ) -> $crate::session::Result<$crate::OwnedReply> {
            let op = $crate::session::op::Authenticate::by_name(mechanism, user, password)?;
            self.run($crate::session::op::AfterHello::new(op)) $($await)*
        }

        /// smtplib's `auth(mechanism, authobject)`: AUTH with any SASL mechanism (see
        /// [`sasl`](smtp_proto::sasl): PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256, SCRAM-SHA-1, XOAUTH2,
        /// OAUTHBEARER, EXTERNAL, or your own). The mechanism must be offered; it is never
        /// silently replaced by another.
        pub $($async)* fn auth(
            &mut self,
            mechanism: ::std::boxed::Box<dyn $crate::sasl::Mechanism>,
        ) -> $crate::session::Result<$crate::OwnedReply> {
            let op = $crate::session::op::Authenticate::mechanism(mechanism);
            self.run($crate::session::op::AfterHello::new(op)) $($await)*
        }

        /// smtplib's `starttls()`: says hello if needed, sends STARTTLS and, on `220`, does the
        /// TLS handshake (certificate and host name verified unless configured otherwise). The
        /// capabilities are forgotten afterwards: the next command that needs them says EHLO
        /// again. Any reply but `220` is [`Error::StartTlsRefused`](smtp_proto::session::Error::StartTlsRefused);
        /// STARTTLS not offered is [`UsageError::Unsupported`](smtp_proto::UsageError::Unsupported).
        pub $($async)* fn starttls(&mut self) -> $crate::session::Result<$crate::OwnedReply> {
            let op = $crate::session::op::StartTls::default();
            self.run($crate::session::op::AfterHello::new(op)) $($await)*
        }

        /// A whole mail transaction: MAIL, every RCPT, DATA or BDAT with the body streamed
        /// from `message` in constant memory, and every reply attributed. Refusals are not
        /// errors here: they are in the [`MailReport`](smtp_proto::client::MailReport) (compare
        /// [`sendmail_with`](Self::sendmail_with), smtplib's shape). Says hello first if needed.
        pub $($async)* fn send_with_report(
            &mut self,
            envelope: $crate::client::Envelope,
            message: impl $($read)+,
        ) -> $crate::session::Result<$crate::client::MailReport> {
            let op = $crate::session::op::SendMail::new(envelope, message);
            self.run($crate::session::op::AfterHello::new(op)) $($await)*
        }

        /// Sends several messages on this connection, in order, and returns one
        /// [`MailReport`](smtp_proto::client::MailReport) per message sent, in the same order. Says
        /// hello first if needed.
        ///
        /// Keeps one message ahead: message k+1's transaction is queued as soon as message
        /// k's body has ended, so that with PIPELINING it leaves right behind k's end of data
        /// (RFC 2920 §3.1) and a transaction costs no extra round trip. Bodies are read one at
        /// a time, each streamed in constant memory; the iterator is pulled lazily, at most one
        /// message ahead. Refusals are in the reports, not errors. If the core refuses to queue
        /// a message (a [`UsageError`](smtp_proto::UsageError), e.g. SMTPUTF8 not offered), the
        /// batch stops there: the messages before it complete, then the error is returned.
        pub $($async)* fn send_all<B: $($read)+>(
            &mut self,
            messages: impl IntoIterator<Item = ($crate::client::Envelope, B)>,
        ) -> $crate::session::Result<::std::vec::Vec<$crate::client::MailReport>> {
            let mut reports = ::std::vec::Vec::new();
            self.send_all_with(messages, |report| reports.push(report)) $($await)* ?;
            Ok(reports)
        }

        /// [`send_all`](Self::send_all), handing each [`MailReport`](smtp_proto::client::MailReport)
        /// to `on_report` as its transaction completes instead of collecting them: memory
        /// stays constant however many messages the iterator yields.
        pub $($async)* fn send_all_with<B: $($read)+>(
            &mut self,
            messages: impl IntoIterator<Item = ($crate::client::Envelope, B)>,
            on_report: impl FnMut($crate::client::MailReport),
        ) -> $crate::session::Result<()> {
            let op = $crate::session::op::SendAll::new(messages, on_report);
            self.run($crate::session::op::AfterHello::new(op)) $($await)*
        }

        /// [`send_all`](Self::send_all) for messages held in memory
        /// ([`MemoryBody`](smtp_proto::session::op::MemoryBody): `&[u8]`, a `Cursor` over
        /// `Vec<u8>` or `Arc<[u8]>`, or over a [`CheckedText`](smtp_proto::body::CheckedText)
        /// to send one message many times). No body is copied into a read buffer: what needs
        /// no encoding is written from where it is, the rest encoded as usual. The envelopes
        /// are sent as given: declare a message's shape with
        /// [`Envelope::declare`](smtp_proto::client::Envelope::declare) (as
        /// [`sendmail_bytes`](Self::sendmail_bytes) does) to have what the server cannot take
        /// refused before anything of it is sent.
        pub $($async)* fn send_all_in_memory<M: $crate::session::op::MemoryBody>(
            &mut self,
            messages: impl IntoIterator<Item = ($crate::client::Envelope, M)>,
        ) -> $crate::session::Result<::std::vec::Vec<$crate::client::MailReport>> {
            let mut reports = ::std::vec::Vec::new();
            self.send_all_in_memory_with(messages, |report| reports.push(report)) $($await)* ?;
            Ok(reports)
        }

        /// [`send_all_in_memory`](Self::send_all_in_memory), handing each
        /// [`MailReport`](smtp_proto::client::MailReport) to `on_report` as its transaction
        /// completes, as [`send_all_with`](Self::send_all_with) does.
        pub $($async)* fn send_all_in_memory_with<M: $crate::session::op::MemoryBody>(
            &mut self,
            messages: impl IntoIterator<Item = ($crate::client::Envelope, M)>,
            on_report: impl FnMut($crate::client::MailReport),
        ) -> $crate::session::Result<()> {
            let op = $crate::session::op::SendAll::new(messages, on_report);
            let op = $crate::session::op::AfterHello::new(op);
            self.run($crate::session::op::InMemory::new(op)) $($await)*
        }

        /// smtplib's `sendmail(from_addr, to_addrs, msg)`: sends `message` (streamed) to every
        /// recipient and returns those refused, with their replies. Sender refused, every
        /// recipient refused and data refused are errors, as in smtplib; SMTPUTF8 is used
        /// when an address needs it. The message is declared 7-bit: use
        /// [`sendmail_with`](Self::sendmail_with) with
        /// [`Content::EightBit`](smtp_proto::client::Content::EightBit) for 8-bit bodies.
        pub $($async)* fn sendmail(
            &mut self,
            from: &str,
            to: impl IntoIterator<Item = impl AsRef<str>>,
            message: impl $($read)+,
        ) -> $crate::session::Result<$crate::session::Refused> {
            let op = $crate::session::op::Sendmail::new(from, to, message)?;
            self.run($crate::session::op::AfterHello::new(op)) $($await)*
        }

        /// [`sendmail`](Self::sendmail) for a message in memory: it is scanned first (one pass,
        /// at memchr speed) and declared as it is — `SIZE=` when the server offers SIZE,
        /// `BODY=8BITMIME` when a byte is above 0x7F — so that a message the server cannot
        /// take (too large, 8-bit without 8BITMIME) is refused with
        /// [`UsageError`](smtp_proto::UsageError) before anything is sent. `sendmail` itself
        /// streams from a reader and declares nothing (smtplib's behaviour): declare a streamed
        /// message's shape with [`Envelope::declare`](smtp_proto::client::Envelope::declare)
        /// and [`sendmail_with`](Self::sendmail_with).
        pub $($async)* fn sendmail_bytes(
            &mut self,
            from: &str,
            to: impl IntoIterator<Item = impl AsRef<str>>,
            message: &[u8],
        ) -> $crate::session::Result<$crate::session::Refused> {
            let op = $crate::session::op::Sendmail::bytes(from, to, message)?;
            let op = $crate::session::op::AfterHello::new(op);
            self.run($crate::session::op::InMemory::new(op)) $($await)*
        }

        /// [`sendmail`](Self::sendmail) with a full [`Envelope`](smtp_proto::client::Envelope)
        /// (MAIL/RCPT parameters, declared size and content).
        /// [`Error::SenderRefused`](smtp_proto::session::Error::SenderRefused) names the sender without
        /// angle brackets (`<>` for the null path).
        pub $($async)* fn sendmail_with(
            &mut self,
            envelope: $crate::client::Envelope,
            message: impl $($read)+,
        ) -> $crate::session::Result<$crate::session::Refused> {
            let op = $crate::session::op::Sendmail::with_envelope(envelope, message);
            self.run($crate::session::op::AfterHello::new(op)) $($await)*
        }

        /// smtplib's `send_message(msg)`: the envelope is taken from the message's headers —
        /// the `Resent-` block when there is exactly one (`Resent-Date`), else `Sender` or
        /// `From` for the sender and `To`, `Bcc`, `Cc` for the recipients — and the message is
        /// sent without its `Bcc` and `Resent-Bcc` fields. SMTPUTF8 (with `BODY=8BITMIME`) is
        /// used when an address needs it; 8-bit header bytes declare `BODY=8BITMIME` too. Only
        /// the header block is held in memory
        /// ([`MAX_HEADER_BLOCK`](smtp_proto::message::MAX_HEADER_BLOCK)); the body streams.
        pub $($async)* fn send_message(
            &mut self,
            message: impl $($read)+,
        ) -> $crate::session::Result<$crate::session::Refused> {
            self.send_message_with(message, None, None) $($await)*
        }

        /// [`send_message`](Self::send_message) for a message in memory: scanned and declared
        /// as [`sendmail_bytes`](Self::sendmail_bytes) does (size and 8-bit content of the text
        /// as sent, `Bcc` removed), what the server cannot take refused before anything is
        /// sent.
        pub $($async)* fn send_message_bytes(
            &mut self,
            message: &[u8],
        ) -> $crate::session::Result<$crate::session::Refused> {
            self.ehlo_or_helo_if_needed() $($await)* ?;
            let end = $crate::message::header_block_end(message, 0).unwrap_or(message.len());
            let (head, rest) = message.split_at_checked(end).unwrap_or((message, &[]));
            let headers = $crate::message::parse_headers(head)
                .map_err(|e| $crate::session::Error::Message(e.to_string()))?;
            let mut shape = $crate::body::MessageShape::of(&headers.head);
            shape.push(rest);
            // Lent from memory, the rewritten header block and then the rest.
            let body = ::std::io::Read::chain(headers.head.as_slice(), rest);
            let op = $crate::session::op::SendMessage::new(&headers, None, None, body)?.declare(shape);
            self.run($crate::session::op::InMemory::new(op)) $($await)* ?.into_refused()
        }

        /// [`send_message`](Self::send_message) with an explicit sender and/or recipients
        /// (smtplib's `from_addr`, `to_addrs`), which override the headers'.
        pub $($async)* fn send_message_with(
            &mut self,
            message: impl $($read)+,
            from: Option<&str>,
            to: Option<&[&str]>,
        ) -> $crate::session::Result<$crate::session::Refused> {
            self.send_message_report(message, from, to) $($await)* ?.into_refused()
        }

        /// [`send_message_with`](Self::send_message_with) returning what smtplib hides: the
        /// envelope taken from the headers and the transaction's report, every recipient's
        /// reply in it (refusals are not errors here).
        pub $($async)* fn send_message_report(
            &mut self,
            mut message: impl $($read)+,
            from: Option<&str>,
            to: Option<&[&str]>,
        ) -> $crate::session::Result<$crate::session::op::SentMessage> {
            use $($ext)+ as _;
            self.ehlo_or_helo_if_needed() $($await)* ?;
            let mut block = $crate::message::HeaderBlock::new();
            let mut chunk = ::std::vec![0u8; 8192];
            let (headers, rest) = loop {
                let n = match message.read(&mut chunk) $($await)* {
                    Err(e) if e.kind() == ::std::io::ErrorKind::Interrupted => continue,
                    other => other?,
                };
                let bytes = chunk.get(..n).unwrap_or_default();
                let read = block
                    .feed(bytes)
                    .map_err(|e| $crate::session::Error::Message(e.to_string()))?;
                if let Some(done) = read {
                    break done;
                }
            };
            let to = to.map(|to| to.iter().map(|t| (*t).to_owned()).collect());
            let body = headers.head.as_slice().chain(rest.as_slice()).chain(message);
            let op = $crate::session::op::SendMessage::new(&headers, from, to, body)?;
            self.run(op) $($await)*
        }

        /// smtplib's `quit()`: QUIT after anything queued, then closes the connection. A server
        /// that closes without answering QUIT is fine. See
        /// [`quit_with_reply`](Self::quit_with_reply) for the server's answer.
        pub $($async)* fn quit(&mut self) -> $crate::session::Result<()> {
            self.quit_with_reply() $($await)* .map(drop)
        }

        /// [`quit`](Self::quit) returning the server's reply to QUIT whatever its code, as
        /// smtplib's `quit()` does; `None` when the server closed without answering.
        pub $($async)* fn quit_with_reply(
            &mut self,
        ) -> $crate::session::Result<Option<$crate::OwnedReply>> {
            let result = self.run($crate::session::op::Quit) $($await)*;
            self.close();
            result
        }
    };
}
