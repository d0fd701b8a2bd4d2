//! [`Stage`]: where in the session something happened, named by errors, timeouts and
//! events alike (its own module, so that errors and the client both use it without using each
//! other).

use std::fmt;

/// What the client was doing or waiting for; names the step in errors and timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// The `220` greeting.
    Greeting,
    /// EHLO, HELO or LHLO.
    Hello,
    /// The STARTTLS command.
    StartTls,
    /// The TLS handshake the adapter performs after [`Event::UpgradeTls`](crate::Event::UpgradeTls).
    TlsHandshake,
    /// An AUTH exchange.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA, waiting for `354`.
    Data,
    /// Writing the body: no progress in sending bytes.
    DataBlock,
    /// The reply after the end of the data (`.` or `BDAT … LAST`).
    DataEnd,
    /// A non-final BDAT chunk.
    Bdat,
    /// RSET.
    Rset,
    /// NOOP.
    Noop,
    /// VRFY.
    Verify,
    /// EXPN.
    Expand,
    /// HELP.
    Help,
    /// A raw command line.
    Raw,
    /// QUIT.
    Quit,
    /// Writing command bytes: the transport accepted none for too long.
    Write,
    /// No command outstanding (an unprompted reply, or EOF while idle).
    Idle,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Greeting => "the greeting",
            Self::Hello => "EHLO/HELO",
            Self::StartTls => "STARTTLS",
            Self::TlsHandshake => "the TLS handshake",
            Self::Auth => "AUTH",
            Self::Mail => "MAIL",
            Self::Rcpt => "RCPT",
            Self::Data => "DATA",
            Self::DataBlock => "writing the message body",
            Self::DataEnd => "the end of the message data",
            Self::Bdat => "BDAT",
            Self::Rset => "RSET",
            Self::Noop => "NOOP",
            Self::Verify => "VRFY",
            Self::Expand => "EXPN",
            Self::Help => "HELP",
            Self::Raw => "a raw command",
            Self::Quit => "QUIT",
            Self::Write => "writing a command",
            Self::Idle => "nothing (idle)",
        })
    }
}
