//! Streaming message-body encoder: line-ending normalisation, dot-stuffing (RFC 5321 §4.5.2),
//! BDAT framing support (RFC 3030) and a binary pass-through (BINARYMIME).

/// What to do with a CR or LF that is not part of a CRLF pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BareLineEndings {
    /// Turn each bare CR and bare LF into CRLF (default).
    #[default]
    Normalize,
    /// Report [`BodyError::BareLineEnding`].
    Reject,
}

/// Body encoding errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// A bare CR or LF at byte `at` of the body, under [`BareLineEndings::Reject`].
    #[error("bare {} at body byte {at}", if *.byte == b'\r' { "CR" } else { "LF" })]
    BareLineEnding {
        /// `b'\r'` or `b'\n'`.
        byte: u8,
        /// 0-based offset in the whole body.
        at: u64,
    },
    /// The body was already finished.
    #[error("the body is already finished")]
    Finished,
}

/// Streaming body encoder; chunk boundaries may fall anywhere, including between CR and LF.
#[derive(Clone, Debug)]
pub struct BodyEncoder {
    _todo: (),
}

impl BodyEncoder {
    /// DATA: normalise line ends, then dot-stuff.
    pub fn for_data(policy: BareLineEndings) -> Self {
        let _ = policy;
        todo!()
    }
    /// BDAT: normalise line ends, no stuffing.
    pub fn for_bdat(policy: BareLineEndings) -> Self {
        let _ = policy;
        todo!()
    }
    /// BINARYMIME: bytes untouched.
    pub fn binary() -> Self {
        todo!()
    }
    /// The most bytes `push` can append for `input_len` input bytes (worst case).
    pub const fn max_encoded_len(input_len: usize) -> usize {
        input_len.saturating_mul(2).saturating_add(2)
    }
    /// The most bytes `finish` can append.
    pub const MAX_FINISH_LEN: usize = 5;
    /// Encodes `input`, appending to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), BodyError> {
        let _ = (input, out);
        todo!()
    }
    /// Ends the body. DATA: appends `.\r\n`, preceded by `\r\n` unless the body already ended
    /// with a line end (an empty body gets no empty line). BDAT/binary: flushes a pending CR.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), BodyError> {
        let _ = out;
        todo!()
    }
}
