//! Library errors and replies in the contract's terms: exit codes and the summary.

use super::*;

/// Tallies one transaction's report into the summary (and, without `--json`, prints its
/// line as message `n`); returns the exit code it calls for when the message was refused.
pub(crate) fn record(
    summary: &mut Summary,
    json: bool,
    stdout: &mut dyn Write,
    n: u64,
    report: &MailReport,
) -> Option<i32> {
    for (mailbox, reply) in report.refused() {
        summary
            .refused
            .insert(mailbox.as_str().to_owned(), reply_pair(reply));
    }
    let (code, reply) = match &report.outcome {
        MailOutcome::Accepted(r) => (exit::OK, Some(r)),
        MailOutcome::SenderRefused(r) => (exit::SENDER, Some(r)),
        MailOutcome::RecipientsRefused => (exit::RECIPIENTS, None),
        MailOutcome::DataRefused(r) => (exit::DATA, Some(r)),
        _ => (exit::SMTP, None),
    };
    if let Some(r) = reply {
        summary.last_reply = Some(reply_pair(r));
    }
    if !json {
        let what = match reply {
            Some(r) => r.to_string(),
            None => "every recipient refused".to_owned(),
        };
        let _ = writeln!(stdout, "message {n}: {}", printable(&what));
    }
    if code == exit::OK {
        summary.sent += 1;
        return None;
    }
    summary.failed += 1;
    if summary.error.is_none() {
        summary.error = Some(match reply {
            Some(r) => format!("message {n} refused: {r}"),
            None => format!("message {n}: every recipient refused"),
        });
    }
    Some(code)
}

pub(crate) fn reply_pair(reply: &OwnedReply) -> (u16, String) {
    let text: Vec<String> = reply
        .lines()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    (reply.code().get(), text.join("\n"))
}

/// Where in the session an error happened (an I/O error means "could not connect" only while
/// connecting).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Connect,
    Auth,
    Mail,
}

pub(crate) fn fail(summary: &mut Summary, error: &Error, phase: Phase) -> i32 {
    summary.error = Some(error.to_string());
    if let Some(reply) = error.reply() {
        summary.last_reply = Some(reply_pair(reply));
    }
    if let Error::RecipientsRefused(refused) | Error::DataRefused { refused, .. } = error {
        for (mailbox, reply) in refused {
            summary
                .refused
                .insert(mailbox.as_str().to_owned(), reply_pair(reply));
        }
    }
    exit_code(error, phase)
}

/// The contract's exit code for a library error.
pub(crate) fn exit_code(error: &Error, phase: Phase) -> i32 {
    if error.is_timeout() {
        return exit::TIMEOUT;
    }
    match error {
        Error::Io(_) if phase == Phase::Connect => exit::CONNECT,
        Error::Io(_) | Error::NotConnected => exit::CLOSED,
        Error::Tls(_) | Error::StartTlsRefused(_) => exit::TLS,
        Error::Smtp(e) => match e {
            ProtoError::UnexpectedEof(_) => exit::CLOSED,
            ProtoError::Rejected { stage, .. } => match stage {
                Stage::Greeting => exit::CONNECT,
                Stage::Hello => exit::HELLO,
                Stage::StartTls | Stage::TlsHandshake => exit::TLS,
                Stage::Auth => exit::AUTH,
                Stage::Mail => exit::SENDER,
                Stage::Rcpt => exit::RECIPIENTS,
                Stage::Data | Stage::DataBlock | Stage::DataEnd | Stage::Bdat => exit::DATA,
                _ => exit::SMTP,
            },
            ProtoError::HelloRefused(_) => exit::HELLO,
            ProtoError::TlsUnavailable => exit::UNSUPPORTED,
            ProtoError::StartTlsRefused(_) | ProtoError::StartTlsInjection => exit::TLS,
            ProtoError::Sasl(_) | ProtoError::AuthLoop(_) => exit::AUTH,
            _ => exit::SMTP,
        },
        Error::Usage(u) => match u {
            UsageError::Unsupported(_)
            | UsageError::MechanismNotOffered(_)
            | UsageError::NoSuitableMechanism
            | UsageError::AuthWithoutTls
            | UsageError::RequireTlsWithoutTls => exit::UNSUPPORTED,
            UsageError::TooLarge { .. } => exit::DATA,
            UsageError::NoRecipients | UsageError::InvalidMechanism(_) => exit::USAGE,
            _ => exit::SMTP,
        },
        Error::InvalidInput(_) | Error::InvalidSetting(_) | Error::Message(_) => exit::USAGE,
        Error::HeloRefused(_) => exit::HELLO,
        Error::AuthFailed(_) => exit::AUTH,
        Error::SenderRefused { .. } => exit::SENDER,
        Error::RecipientsRefused(_) => exit::RECIPIENTS,
        Error::DataRefused { .. } => exit::DATA,
        _ => exit::SMTP,
    }
}
