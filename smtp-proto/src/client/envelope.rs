//! The envelope of a mail transaction: plain owned data, validated when built.

use crate::command::{MailParams, Mailbox, RcptParams, ReversePath};

/// What the body contains, declared by the caller (the body is streamed, so it cannot be scanned
/// before the envelope is sent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Content {
    /// 7-bit ASCII text (the default): no BODY= parameter.
    #[default]
    SevenBit,
    /// Text with 8-bit bytes: needs 8BITMIME, sent with `BODY=8BITMIME`.
    EightBit,
    /// Binary MIME: needs BINARYMIME and CHUNKING, sent with `BODY=BINARYMIME` as BDAT chunks,
    /// bytes untouched.
    Binary,
}

/// One recipient and its RCPT parameters (NOTIFY, ORCPT, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The forward-path.
    pub mailbox: Mailbox,
    /// RCPT TO parameters.
    pub params: RcptParams,
}

impl From<Mailbox> for Recipient {
    fn from(mailbox: Mailbox) -> Self {
        Self {
            mailbox,
            params: RcptParams::default(),
        }
    }
}

/// Sender, recipients and MAIL parameters of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse-path (`<>` for bounces).
    pub from: ReversePath,
    /// The recipients, at least one.
    pub to: Vec<Recipient>,
    /// MAIL FROM parameters set by the caller (RET, ENVID, AUTH, REQUIRETLS, others). The client
    /// adds SIZE, BODY and SMTPUTF8 itself as the server's capabilities and the content require.
    pub params: MailParams,
    /// The message size in bytes, if known: declared as `SIZE=` when offered, and checked against
    /// the server's limit before anything is sent.
    pub size: Option<u64>,
    /// What the body contains.
    pub content: Content,
}

impl Envelope {
    /// An envelope with default parameters.
    pub fn new(from: ReversePath, to: impl IntoIterator<Item = Mailbox>) -> Self {
        Self {
            from,
            to: to.into_iter().map(Recipient::from).collect(),
            params: MailParams::default(),
            size: None,
            content: Content::SevenBit,
        }
    }

    /// Declares what `shape` found in the message: its size (`SIZE=`, when the server offers
    /// SIZE; a message over the server's limit is refused before anything is sent) and, for
    /// 8-bit bytes, [`Content::EightBit`] (`BODY=8BITMIME`; refused before anything is sent
    /// when the server lacks 8BITMIME). A declared 8-bit content is never lowered.
    ///
    /// ```
    /// use smtp_proto::body::MessageShape;
    /// use smtp_proto::client::{Content, Envelope};
    ///
    /// let mut envelope = Envelope::new("a@x.org".try_into()?, ["b@y.org".try_into()?]);
    /// envelope.declare(&MessageShape::of("Hé\r\n".as_bytes()));
    /// assert_eq!((envelope.size, envelope.content), (Some(5), Content::EightBit));
    /// # Ok::<(), smtp_proto::command::InvalidInput>(())
    /// ```
    pub fn declare(&mut self, shape: &crate::body::MessageShape) {
        self.size = Some(shape.size());
        if shape.eight_bit() {
            self.content = Content::EightBit;
        }
    }

    /// Whether any address or parameter needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        self.params.smtputf8
            || self.from.needs_smtputf8()
            || self.params.needs_smtputf8()
            || self
                .to
                .iter()
                .any(|r| r.mailbox.needs_smtputf8() || r.params.needs_smtputf8())
    }
}
