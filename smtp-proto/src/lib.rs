//! Sans-IO SMTP/LMTP client protocol core.
#![forbid(unsafe_code)]

pub mod body;
pub mod command;
pub mod ehlo;
pub mod error;
pub mod reply;
pub mod sasl;

pub use body::{BareLineEndings, BodyEncoder};
pub use command::{Command, Domain, Mailbox, MailParams, RcptParams, ReversePath};
pub use ehlo::{AuthMechanisms, Capabilities, Extension};
pub use reply::{EnhancedCode, OwnedReply, Reply, ReplyCode, ReplyLimits, ReplyParser, Status};
pub mod client;

pub use client::{Client, Config, Envelope, Event};
pub use error::{Error, UsageError};
