//! Streaming message-body encoder: line-ending normalisation, dot-stuffing (RFC 5321 §4.5.2),
//! BDAT framing support (RFC 3030) and a binary pass-through (BINARYMIME).
//!
//! [`BodyEncoder`] is the client side. [`DataDecoder`] is the receiving side of DATA (finds the
//! end-of-data marker and removes the dot-stuffing); it serves test servers, fuzzing and
//! property tests. [`normalize_line_endings`] is the whole-buffer form of the encoders'
//! line-ending normalisation.

use memchr::{memchr, memchr2};

mod checked;

pub use checked::CheckedText;

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

/// How the encoder transforms the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Normalise line ends, then dot-stuff.
    Data,
    /// Normalise line ends only.
    Bdat,
    /// Pass bytes through.
    Binary,
}

/// Where the encoder is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    /// Accepting input.
    Open,
    /// `finish` succeeded.
    Finished,
    /// A call failed with this error; every later call repeats it.
    Failed(BodyError),
}

/// Streaming body encoder; chunk boundaries may fall anywhere, including between CR and LF.
///
/// In the text modes (DATA and BDAT) every bare CR and every bare LF becomes CRLF (or is an
/// error under [`BareLineEndings::Reject`]) *before* DATA's dot-stuffing, so no byte sequence
/// in the input can end the data early at a lenient server (the "SMTP smuggling" class).
///
/// If [`push`](Self::push) or [`finish`](Self::finish) returns an error, the encoder is
/// poisoned: every later call returns the same error and appends nothing.
#[derive(Clone, Debug)]
pub struct BodyEncoder {
    mode: Mode,
    policy: BareLineEndings,
    life: Life,
    /// Text modes: the last input byte was a CR whose meaning depends on the next byte; nothing
    /// has been written for it yet. Binary mode: the last input byte was a CR (already written).
    pending_cr: bool,
    /// The output so far is empty or ends with CRLF.
    line_start: bool,
    /// Input bytes consumed so far.
    bytes_in: u64,
    /// Let [`copy_clean`] use vector instructions beyond the baseline when the CPU has them
    /// (cleared by tests to compare both builds).
    vector: bool,
}

impl BodyEncoder {
    fn new(mode: Mode, policy: BareLineEndings) -> Self {
        Self {
            mode,
            policy,
            life: Life::Open,
            pending_cr: false,
            line_start: true,
            bytes_in: 0,
            vector: true,
        }
    }

    /// DATA: normalise line ends, then dot-stuff.
    pub fn for_data(policy: BareLineEndings) -> Self {
        Self::new(Mode::Data, policy)
    }
    /// BDAT: normalise line ends, no stuffing.
    pub fn for_bdat(policy: BareLineEndings) -> Self {
        Self::new(Mode::Bdat, policy)
    }
    /// BINARYMIME: bytes untouched.
    pub fn binary() -> Self {
        Self::new(Mode::Binary, BareLineEndings::Normalize)
    }
    /// The most bytes `push` can append for `input_len` input bytes (worst case).
    pub const fn max_encoded_len(input_len: usize) -> usize {
        input_len.saturating_mul(2).saturating_add(2)
    }
    /// The most bytes `finish` can append.
    pub const MAX_FINISH_LEN: usize = 5;

    /// Input bytes consumed so far by successful [`push`](Self::push) calls (a CR held back
    /// until the next byte is known counts as consumed).
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }

    /// Whether the output so far is empty or ends with CRLF.
    ///
    /// In the text modes a CR at the end of the last chunk is held back (not yet output) until
    /// the next byte or [`finish`](Self::finish) resolves it, so it does not count here.
    pub fn ended_with_line_end(&self) -> bool {
        self.line_start
    }

    /// Whether [`finish`](Self::finish) has succeeded.
    pub fn is_finished(&self) -> bool {
        self.life == Life::Finished
    }

    /// Encodes `input`, appending to `out`.
    ///
    /// Appends at most [`max_encoded_len`](Self::max_encoded_len)`(input.len())` bytes.
    ///
    /// # Errors
    ///
    /// [`BodyError::Finished`] after a successful [`finish`](Self::finish).
    /// [`BodyError::BareLineEnding`] under [`BareLineEndings::Reject`]: `out` then holds the
    /// encoding of every input byte before the offending one and nothing from it onward (for a
    /// CR held back from the previous chunk, nothing at all is appended), and the encoder
    /// refuses all further calls with the same error. After any error [`bytes_in`](Self::bytes_in)
    /// is unchanged.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), BodyError> {
        self.check_open()?;
        match self.mode {
            Mode::Binary => self.push_binary(input, out),
            Mode::Data | Mode::Bdat => {
                if let Err(e) = self.push_text(input, out) {
                    self.life = Life::Failed(e);
                    return Err(e);
                }
            }
        }
        let len = u64::try_from(input.len()).unwrap_or(u64::MAX);
        self.bytes_in = self.bytes_in.saturating_add(len);
        Ok(())
    }

    /// How many leading bytes of `input` encode to themselves, taken as if pushed: the caller
    /// sends them as they are, with no encoded copy made (the fast path for a body held in
    /// memory). In the text modes they are the whole runs of well-formed text from the start —
    /// every CR in a CRLF, and for DATA no line-leading dot — checked as [`push`](Self::push)
    /// checks them, and never ending between a CR and its LF; the rest (a short tail, the bytes
    /// from the first that needs encoding) is left to `push`. Binary: all of `input`. Nothing
    /// is taken when fewer than `min` bytes could be, after an error, after
    /// [`finish`](Self::finish), or while a CR of the last chunk waits for its LF.
    ///
    /// ```
    /// use smtp_proto::body::{BareLineEndings, BodyEncoder};
    ///
    /// let mut encoder = BodyEncoder::for_data(BareLineEndings::Reject);
    /// let text = b"Hello, world, this line is long enough to be one run of the fast path....\r\n"
    ///     .repeat(4);
    /// assert_eq!(encoder.pass(&text, 1024), 0); // not worth it
    /// let taken = encoder.pass(&text, 1);
    /// assert!(taken > 0 && taken < text.len()); // whole runs, not the short tail
    /// // The rest goes through `push`, which stuffs and normalises as usual.
    /// let mut out = Vec::new();
    /// encoder.push(&text[taken..], &mut out)?;
    /// encoder.push(b".dot\r\n", &mut out)?;
    /// assert!(out.ends_with(b"..dot\r\n"));
    /// assert_eq!(encoder.pass(b".", 1), 0); // a line-leading dot needs stuffing
    /// # Ok::<(), smtp_proto::body::BodyError>(())
    /// ```
    pub fn pass(&mut self, input: &[u8], min: usize) -> usize {
        let (stuff, vector) = (self.mode == Mode::Data, self.vector);
        self.take_as_is(input, min, |input| clean_prefix(stuff, vector, input))
    }

    /// [`pass`](Self::pass) for the bytes of `text` from `at` on, at most `max` of them, with
    /// no check beyond the first byte's (the text was checked when it was made).
    pub fn pass_checked(&mut self, text: &CheckedText, at: usize, max: usize, min: usize) -> usize {
        let rest = text.bytes().get(at..).unwrap_or_default();
        let rest = rest.get(..max).unwrap_or(rest);
        self.take_as_is(rest, min, |_| text.clean_from(at))
    }

    /// Takes the leading bytes of `input` that encode to themselves, at most `clean(input)`
    /// of them as far as the text tells, if they are at least `min`.
    fn take_as_is(
        &mut self,
        input: &[u8],
        min: usize,
        clean: impl FnOnce(&[u8]) -> usize,
    ) -> usize {
        if self.check_open().is_err() {
            return 0;
        }
        let n = match self.mode {
            Mode::Binary => input.len(),
            Mode::Data | Mode::Bdat => {
                match input.first() {
                    _ if self.pending_cr => return 0,
                    // A bare LF (no CR waits): the encoder's.
                    Some(b'\n') => return 0,
                    Some(b'.') if self.mode == Mode::Data && self.line_start => return 0,
                    _ => {}
                }
                let mut n = clean(input).min(input.len());
                // The piece must not end between a CR and its LF.
                if n > 0 && input.get(n - 1) == Some(&b'\r') {
                    n -= 1;
                }
                n
            }
        };
        if n == 0 || n < min {
            return 0;
        }
        let taken = input.get(..n).unwrap_or_default();
        match self.mode {
            Mode::Binary => self.note_binary(taken),
            Mode::Data | Mode::Bdat => self.line_start = taken.last() == Some(&b'\n'),
        }
        let len = u64::try_from(n).unwrap_or(u64::MAX);
        self.bytes_in = self.bytes_in.saturating_add(len);
        n
    }

    /// Ends the body. DATA: appends `.\r\n`, preceded by `\r\n` unless the body already ended
    /// with a line end (an empty body gets no empty line). BDAT: appends `\r\n` unless the body
    /// already ended with a line end or is empty (a CR that ended the last chunk becomes CRLF),
    /// so that DATA and BDAT deliver the same message. Binary: nothing is appended.
    ///
    /// Appends at most [`MAX_FINISH_LEN`](Self::MAX_FINISH_LEN) bytes.
    ///
    /// # Errors
    ///
    /// [`BodyError::Finished`] when called twice; [`BodyError::BareLineEnding`] when the body
    /// ends with a bare CR under [`BareLineEndings::Reject`] (nothing is appended and the
    /// encoder is poisoned, as for [`push`](Self::push)).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), BodyError> {
        self.check_open()?;
        if self.mode != Mode::Binary && self.pending_cr {
            if let Err(e) = self.bare(b'\r', self.bytes_in.saturating_sub(1)) {
                self.life = Life::Failed(e);
                return Err(e);
            }
            self.pending_cr = false;
            self.line_start = true;
            out.extend_from_slice(b"\r\n");
        }
        match self.mode {
            Mode::Data => {
                if !self.line_start {
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b".\r\n");
                self.line_start = true;
            }
            Mode::Bdat if !self.line_start => {
                out.extend_from_slice(b"\r\n");
                self.line_start = true;
            }
            Mode::Bdat | Mode::Binary => {}
        }
        self.life = Life::Finished;
        Ok(())
    }

    fn check_open(&self) -> Result<(), BodyError> {
        match self.life {
            Life::Open => Ok(()),
            Life::Finished => Err(BodyError::Finished),
            Life::Failed(e) => Err(e),
        }
    }

    /// A bare CR or LF at body offset `at`: `Ok` (write CRLF) or the `Reject` error.
    fn bare(&self, byte: u8, at: u64) -> Result<(), BodyError> {
        match self.policy {
            BareLineEndings::Normalize => Ok(()),
            BareLineEndings::Reject => Err(BodyError::BareLineEnding { byte, at }),
        }
    }

    fn push_binary(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(input);
        self.note_binary(input);
    }

    /// Binary mode: what `input`, written, does to the line state.
    fn note_binary(&mut self, input: &[u8]) {
        match input {
            [] => {}
            [.., b'\r', b'\n'] => self.line_start = true,
            [b'\n'] => self.line_start = self.pending_cr,
            _ => self.line_start = false,
        }
        if let Some(&last) = input.last() {
            self.pending_cr = last == b'\r';
        }
    }

    /// DATA/BDAT. Well-formed text (CRLFs, and for DATA the line-leading dots, stuffed on the
    /// way) is checked and copied in whole runs by [`copy_clean`]; `memchr2` finds the bytes
    /// around which it stops. When an error is returned, output has been written up to the
    /// offending byte only.
    fn push_text(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), BodyError> {
        let stuff = self.mode == Mode::Data;
        let mut pos = 0;
        if self.pending_cr {
            match input.first() {
                None => return Ok(()),
                Some(b'\n') => pos = 1,
                Some(_) => self.bare(b'\r', self.bytes_in.saturating_sub(1))?,
            }
            out.extend_from_slice(b"\r\n");
            self.pending_cr = false;
            self.line_start = true;
        }
        out.reserve(input.len().saturating_sub(pos).saturating_add(2));
        // `input[flushed..pos]` is verbatim content not yet written to `out`.
        let mut flushed = pos;
        let mut line_start = self.line_start;
        loop {
            if stuff && line_start && input.get(pos) == Some(&b'.') {
                out.extend_from_slice(input.get(flushed..pos).unwrap_or_default());
                out.push(b'.');
                flushed = pos;
            }
            let skipped = copy_clean(stuff, self.vector, input, pos, &mut flushed, out);
            if skipped > pos {
                pos = skipped;
                line_start = input.get(pos.wrapping_sub(1)) == Some(&b'\n');
                if stuff && line_start && input.get(pos) == Some(&b'.') {
                    continue;
                }
            }
            let tail = input.get(pos..).unwrap_or_default();
            let Some(off) = memchr2(b'\r', b'\n', tail) else {
                if !tail.is_empty() {
                    line_start = false;
                }
                break;
            };
            let brk = pos.saturating_add(off);
            let byte = tail.get(off).copied().unwrap_or(b'\n');
            let next = input.get(brk.saturating_add(1)).copied();
            if byte == b'\r' && next == Some(b'\n') {
                // A real CRLF: keep it in the verbatim run.
                pos = brk.saturating_add(2);
                line_start = true;
                continue;
            }
            out.extend_from_slice(input.get(flushed..brk).unwrap_or_default());
            // Whether the output written so far ends a line.
            let ended = off == 0 && line_start;
            if byte == b'\r' && next.is_none() {
                // Meaning depends on the next chunk's first byte.
                self.pending_cr = true;
                self.line_start = ended;
                return Ok(());
            }
            let at = self
                .bytes_in
                .saturating_add(u64::try_from(brk).unwrap_or(u64::MAX));
            if let Err(e) = self.bare(byte, at) {
                self.line_start = ended;
                return Err(e);
            }
            out.extend_from_slice(b"\r\n");
            pos = brk.saturating_add(1);
            flushed = pos;
            line_start = true;
        }
        out.extend_from_slice(input.get(flushed..).unwrap_or_default());
        self.line_start = line_start;
        Ok(())
    }
}

/// The fast path for well-formed text: copies the bytes from `pos` on that need no change to
/// `out` and, with `stuff` (DATA), stuffs the line-leading dots among them.
///
/// A byte pair `input[i], input[i + 1]` is *flagged* when it shows a bare CR, a bare LF or
/// (with `stuff`) an LF followed by a dot. The text goes by runs of [`RUN`] pairs, each checked
/// branch-free (so the compiler makes vector code of it) and then copied whole while it is
/// still in registers or the L1 cache. In a run with a flag, the first flag is found
/// branch-free too: at a dot the run is copied through the LF, a `.` is added and the next run
/// starts at the dot; at a bare CR or LF the scan ends.
///
/// `vector`: use the AVX2 build of the same code when the CPU has AVX2.
///
/// `pos` must not be the LF of a CRLF (when `input[pos]` is an LF, hence bare, nothing is
/// done), `input[*flushed..pos]` must be verbatim content not yet in `out`, and no dot at `pos`
/// may be left to stuff. Returns `new >= pos` such that every CR and LF in `input[pos..new]` is
/// part of a CRLF within it, and every line-leading dot in `input[pos + 1..new]`, and none
/// after, has been stuffed; `*flushed <= new` again marks what is not yet in `out`.
/// `input[new]` is then a bare CR or LF or one of the last few bytes.
fn copy_clean(
    stuff: bool,
    vector: bool,
    input: &[u8],
    pos: usize,
    flushed: &mut usize,
    out: &mut Vec<u8>,
) -> usize {
    if input.get(pos) == Some(&b'\n') || run_at(input, pos).is_none() {
        // Nothing to do; decided before paying for a call that cannot be inlined.
        return pos;
    }
    #[cfg(target_arch = "x86_64")]
    if vector && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (just checked; the answer is cached by std).
        #[allow(unsafe_code)]
        return unsafe { copy_clean_avx2(stuff, input, pos, flushed, out) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = vector;
    if stuff {
        copy_clean_runs::<true>(input, pos, flushed, out)
    } else {
        copy_clean_runs::<false>(input, pos, flushed, out)
    }
}

/// [`copy_clean`] compiled for AVX2: twice as many bytes per vector instruction as the SSE2
/// baseline of x86_64.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn copy_clean_avx2(
    stuff: bool,
    input: &[u8],
    pos: usize,
    flushed: &mut usize,
    out: &mut Vec<u8>,
) -> usize {
    if stuff {
        copy_clean_runs::<true>(input, pos, flushed, out)
    } else {
        copy_clean_runs::<false>(input, pos, flushed, out)
    }
}

/// [`copy_clean`] itself; always inlined, so that it is compiled for the caller's CPU features.
#[inline(always)]
fn copy_clean_runs<const STUFF: bool>(
    input: &[u8],
    pos: usize,
    flushed: &mut usize,
    out: &mut Vec<u8>,
) -> usize {
    if input.get(pos) == Some(&b'\n') || run_at(input, pos).is_none() {
        return pos;
    }
    out.extend_from_slice(input.get(*flushed..pos).unwrap_or_default());
    let start = pos;
    let mut pos = pos;
    // At the top of the loop `out` holds everything before `pos`.
    while let Some(run) = run_at(input, pos) {
        if run_is_clean::<STUFF>(run) {
            out.extend_from_slice(run.0);
            pos = pos.saturating_add(RUN);
            continue;
        }
        let i = first_flag::<STUFF>(run);
        let at = pos.saturating_add(i);
        let (a, b) = (
            run.0.get(i).copied().unwrap_or(0),
            run.1.get(i).copied().unwrap_or(0),
        );
        if (a == b'\r') != (b == b'\n') {
            // A bare CR at `at` or a bare LF after it.
            out.extend_from_slice(input.get(pos..at).unwrap_or_default());
            *flushed = at;
            return if a == b'\r' { at } else { at.saturating_add(1) };
        }
        // An LF followed by a dot. A fixed-size copy and a cut are cheaper than a copy of
        // variable length.
        let end = out.len().saturating_add(i).saturating_add(1);
        out.extend_from_slice(run.0);
        out.truncate(end);
        out.push(b'.');
        pos = at.saturating_add(1);
    }
    *flushed = pos;
    if pos > start {
        match input.get(pos.wrapping_sub(1)..pos.saturating_add(1)) {
            // The last run saw that an LF follows this CR; the caller checks the LF's pair.
            Some([b'\r', b'\n']) => pos = pos.saturating_add(1),
            // The last run stuffed this dot.
            Some([b'\n', b'.']) => pos = pos.saturating_add(1),
            _ => {}
        }
    }
    pos
}

/// The length of the whole runs of [`RUN`] pairs from the start of `input` that no pair
/// flags (see [`copy_clean`]), less a last CR (whose LF follows): bytes that encode to
/// themselves. 0 when `input` starts with an LF (a bare one: the caller holds no CR).
fn clean_prefix(stuff: bool, vector: bool, input: &[u8]) -> usize {
    if input.first() == Some(&b'\n') || run_at(input, 0).is_none() {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    if vector && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (just checked; the answer is cached by std).
        #[allow(unsafe_code)]
        return unsafe { clean_prefix_avx2(stuff, input) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = vector;
    if stuff {
        clean_runs::<true>(input)
    } else {
        clean_runs::<false>(input)
    }
}

/// [`clean_prefix`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn clean_prefix_avx2(stuff: bool, input: &[u8]) -> usize {
    if stuff {
        clean_runs::<true>(input)
    } else {
        clean_runs::<false>(input)
    }
}

/// [`clean_prefix`] itself; always inlined, so that it is compiled for the caller's CPU
/// features.
#[inline(always)]
fn clean_runs<const STUFF: bool>(input: &[u8]) -> usize {
    let mut pos = 0;
    while let Some(run) = run_at(input, pos) {
        if !run_is_clean::<STUFF>(run) {
            break;
        }
        pos = pos.saturating_add(RUN);
    }
    // The last pair checked was this CR and its LF, which lies beyond: the CR waits for it.
    if pos > 0 && input.get(pos - 1) == Some(&b'\r') {
        pos -= 1;
    }
    pos
}

/// Byte pairs checked (and bytes copied) per step by [`copy_clean`]: at most 256, as
/// [`first_flag`] counts in bytes. 128 measured faster than 64 and 256.
const RUN: usize = 128;

/// A run of [`RUN`] byte pairs: the first bytes and the second bytes of the pairs.
type Run<'a> = (&'a [u8; RUN], &'a [u8; RUN]);

/// The run of pairs starting at `pos`, if `input` has all their bytes.
#[inline(always)]
fn run_at(input: &[u8], pos: usize) -> Option<Run<'_>> {
    let bytes = array_at::<{ RUN + 1 }>(input, pos)?;
    Some((bytes.first_chunk()?, bytes.last_chunk()?))
}

/// Whether the pair `a b` is flagged in the sense of [`copy_clean`].
#[inline(always)]
fn flagged<const STUFF: bool>(a: u8, b: u8) -> bool {
    ((a == b'\r') != (b == b'\n')) | (STUFF & (a == b'\n') & (b == b'.'))
}

/// Whether no pair of the run is flagged.
#[inline(always)]
fn run_is_clean<const STUFF: bool>((first, second): Run<'_>) -> bool {
    let mut any = false;
    for (&a, &b) in first.iter().zip(second) {
        any |= flagged::<STUFF>(a, b);
    }
    !any
}

/// The index of the first flagged pair of a run that has one, found branch-free (a vector
/// minimum over the indexes of the flagged pairs).
#[inline(always)]
fn first_flag<const STUFF: bool>((first, second): Run<'_>) -> usize {
    let mut min = u8::MAX;
    for ((&a, &b), &i) in first.iter().zip(second).zip(&RUN_INDEXES) {
        min = min.min(if flagged::<STUFF>(a, b) { i } else { u8::MAX });
    }
    usize::from(min)
}

/// `0, 1, …, RUN - 1`, as bytes so that [`first_flag`] works on bytes throughout.
const RUN_INDEXES: [u8; RUN] = {
    let mut indexes = [0; RUN];
    let mut i = 0;
    while i < RUN {
        indexes[i] = i as u8;
        i += 1;
    }
    indexes
};

/// The `N` bytes of `input` from `pos`, if there are that many.
#[inline(always)]
fn array_at<const N: usize>(input: &[u8], pos: usize) -> Option<&[u8; N]> {
    let bytes = input.get(pos..pos.checked_add(N)?)?;
    bytes.try_into().ok()
}

/// The size of a message as [`BodyEncoder::for_data`] and [`BodyEncoder::for_bdat`] send it,
/// counted over the message streamed in pieces: the value to declare with `SIZE=` (RFC 1870
/// §3: the octets of the message with CRLF line ends, without dot-stuffing or the end-of-data
/// mark). Every bare CR and bare LF counts as CRLF, and a message that does not end with a line
/// end counts the CRLF the encoder appends.
///
/// ```
/// use smtp_proto::body::MessageSize;
///
/// let mut size = MessageSize::new();
/// size.push(b"Subject: hi\n\nHello\r");
/// size.push(b"\nBob");
/// // 11 + CRLF, CRLF, 5 + CRLF (split across pushes), 3 + the final CRLF.
/// assert_eq!(size.total(), 13 + 2 + 7 + 5);
/// assert_eq!(MessageSize::of(b"a\r\n"), 3);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageSize {
    /// Octets counted so far, a pending CR not included.
    counted: u64,
    /// The last byte pushed was a CR (CRLF or bare: the next byte tells).
    pending_cr: bool,
    /// Whether the last byte pushed was an LF (the octets counted end with a line end).
    line_end: bool,
    /// Whether anything was pushed.
    any: bool,
}

impl MessageSize {
    /// Nothing counted yet.
    pub fn new() -> Self {
        Self {
            line_end: true,
            ..Self::default()
        }
    }

    /// The size of a whole message in memory.
    pub fn of(message: &[u8]) -> u64 {
        let mut size = Self::new();
        size.push(message);
        size.total()
    }

    /// Counts the next piece of the message.
    pub fn push(&mut self, bytes: &[u8]) {
        let Some(&last) = bytes.last() else {
            return;
        };
        self.any = true;
        let mut extra = 0u64;
        let mut rest = bytes;
        if self.pending_cr {
            // A CR ended the previous piece: CRLF either way (bare CR counts as CRLF too).
            extra = 2;
            if rest.first() == Some(&b'\n') {
                rest = rest.get(1..).unwrap_or_default();
            }
            self.pending_cr = false;
        }
        let mut from = 0;
        loop {
            // Well-formed lines add nothing: skipped in whole runs at vector speed.
            from += clean_prefix(false, true, rest.get(from..).unwrap_or_default());
            let Some(i) = rest.get(from..).and_then(|r| memchr2(b'\r', b'\n', r)) else {
                break;
            };
            let at = from.saturating_add(i);
            match rest.get(at) {
                Some(b'\r') if rest.get(at.saturating_add(1)) == Some(&b'\n') => {
                    from = at.saturating_add(2);
                }
                Some(b'\r') if at.saturating_add(1) == rest.len() => {
                    // Held back: whether an LF follows is the next piece's to tell.
                    self.pending_cr = true;
                    from = at.saturating_add(1);
                }
                // A bare CR or a bare LF becomes CRLF: one octet more.
                _ => {
                    extra = extra.saturating_add(1);
                    from = at.saturating_add(1);
                }
            }
        }
        let held = u64::from(self.pending_cr);
        let len = u64::try_from(rest.len()).unwrap_or(u64::MAX);
        self.counted = self
            .counted
            .saturating_add(len.saturating_sub(held))
            .saturating_add(extra);
        // A trailing CR is pending (it ends a line either way, see `total`).
        self.line_end = last == b'\n';
    }

    /// The size of everything pushed, with the final CRLF the encoder adds if missing.
    pub fn total(&self) -> u64 {
        // A pending CR becomes CRLF; a last line without its end gets one.
        if self.pending_cr || (self.any && !self.line_end) {
            self.counted.saturating_add(2)
        } else {
            self.counted
        }
    }
}

/// What a message needs declared in its MAIL command, counted over its bytes (in pieces, in
/// one pass): its RFC 1870 size as the encoders send it, and whether any byte is above 0x7F
/// (`BODY=8BITMIME`). [`Envelope::declare`](crate::client::Envelope::declare) applies it.
///
/// ```
/// use smtp_proto::body::MessageShape;
///
/// let shape = MessageShape::of("Subject: café\r\n\r\nHi\r\n".as_bytes());
/// assert!(shape.eight_bit());
/// assert_eq!(shape.size(), 22);
/// assert!(!MessageShape::of(b"Subject: hi\r\n\r\nHi\r\n").eight_bit());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageShape {
    size: MessageSize,
    eight_bit: bool,
}

impl Default for MessageShape {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageShape {
    /// Nothing counted yet.
    pub fn new() -> Self {
        Self {
            size: MessageSize::new(),
            eight_bit: false,
        }
    }

    /// The shape of a whole message in memory.
    pub fn of(message: &[u8]) -> Self {
        let mut shape = Self::new();
        shape.push(message);
        shape
    }

    /// Counts the next piece of the message.
    pub fn push(&mut self, bytes: &[u8]) {
        self.size.push(bytes);
        self.eight_bit = self.eight_bit || !bytes.is_ascii();
    }

    /// The size as sent (`SIZE=`), the final CRLF the encoder adds included.
    pub fn size(&self) -> u64 {
        self.size.total()
    }

    /// Whether a byte is above 0x7F: the body is 8-bit (`BODY=8BITMIME`).
    pub fn eight_bit(&self) -> bool {
        self.eight_bit
    }
}

/// Turns every bare CR and every bare LF of `input` into CRLF; CRLF pairs stay as they are.
///
/// This is the whole-buffer form of what [`BodyEncoder::for_data`] and
/// [`BodyEncoder::for_bdat`] do to line ends under [`BareLineEndings::Normalize`] (without
/// dot-stuffing or the DATA terminator).
pub fn normalize_line_endings(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\r' => {
                bytes.next_if_eq(&b'\n');
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
    }
    out
}

/// Where the decoder is in the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DecodeState {
    /// At the start of the data or just after a CRLF.
    LineStart,
    /// Inside a line; the last byte was not a CR.
    Mid,
    /// Inside a line; the last byte was a CR (already written).
    MidCr,
    /// A `.` at the start of a line, held back.
    Dot,
    /// `.` CR at the start of a line, both held back.
    DotCr,
    /// The terminator was found.
    Done,
}

/// The receiving side of DATA: finds the end-of-data marker and removes the dot-stuffing.
///
/// Feed it the bytes that follow the `354` reply, split anywhere. It is strict: only
/// CRLF `.` CRLF (or `.` CRLF at the very start) ends the data; a line starts only after CRLF,
/// so `\n.\n` or `\r.\r` are ordinary content. A line-leading `.` that is not the terminator is
/// removed (RFC 5321 §4.5.2), so `..` becomes `.`. Line ends are kept as sent, and the CRLF that
/// precedes the terminating `.` belongs to the content. The state is a few bits; no input is
/// buffered.
#[derive(Clone, Debug)]
pub struct DataDecoder {
    state: DecodeState,
}

impl Default for DataDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl DataDecoder {
    /// A decoder at the start of the data.
    pub fn new() -> Self {
        Self {
            state: DecodeState::LineStart,
        }
    }

    /// Whether the terminator has been found.
    pub fn is_done(&self) -> bool {
        self.state == DecodeState::Done
    }

    /// Consumes `input`, appending the un-stuffed content to `out`.
    ///
    /// Returns `Some(n)` once the terminator is found, where `n` counts the bytes of `input`
    /// consumed, the terminator included (the rest of `input` belongs to the next command);
    /// `None` when all of `input` was consumed and more is needed. Once done, every call
    /// returns `Some(0)` and appends nothing.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        if self.is_done() {
            return Some(0);
        }
        let mut pos = 0;
        while let Some(&byte) = input.get(pos) {
            if self.state == DecodeState::Mid {
                // Fast path: copy up to and including the next CR.
                let tail = input.get(pos..).unwrap_or_default();
                match memchr(b'\r', tail) {
                    Some(off) => {
                        let end = pos.saturating_add(off).saturating_add(1);
                        out.extend_from_slice(input.get(pos..end).unwrap_or_default());
                        self.state = DecodeState::MidCr;
                        pos = end;
                    }
                    None => {
                        out.extend_from_slice(tail);
                        pos = input.len();
                    }
                }
                continue;
            }
            pos = pos.saturating_add(1);
            self.state = match (self.state, byte) {
                (DecodeState::LineStart, b'.') => DecodeState::Dot,
                (DecodeState::Dot, b'\r') => DecodeState::DotCr,
                (DecodeState::DotCr, b'\n') => {
                    self.state = DecodeState::Done;
                    return Some(pos);
                }
                (DecodeState::DotCr, _) => {
                    // The dot is dropped; the CR was content.
                    out.push(b'\r');
                    Self::content(out, DecodeState::MidCr, byte)
                }
                (state, _) => Self::content(out, state, byte),
            };
        }
        None
    }

    /// Writes one content byte and returns the next state (any held-back dot is dropped).
    fn content(out: &mut Vec<u8>, state: DecodeState, byte: u8) -> DecodeState {
        out.push(byte);
        match byte {
            b'\r' => DecodeState::MidCr,
            b'\n' if state == DecodeState::MidCr => DecodeState::LineStart,
            _ => DecodeState::Mid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` then finishes; returns the whole output or the first error.
    fn run(mut enc: BodyEncoder, chunks: &[&[u8]]) -> Result<Vec<u8>, BodyError> {
        let mut out = Vec::new();
        for chunk in chunks {
            let before = out.len();
            enc.push(chunk, &mut out)?;
            assert!(out.len() - before <= BodyEncoder::max_encoded_len(chunk.len()));
            assert_eq!(
                enc.ended_with_line_end(),
                out.ends_with(b"\r\n") || out.is_empty()
            );
        }
        let before = out.len();
        enc.finish(&mut out)?;
        assert!(out.len() - before <= BodyEncoder::MAX_FINISH_LEN);
        Ok(out)
    }

    /// Encodes `input` whole, split in two at every position, and byte by byte; all must give
    /// the same result, which is returned.
    fn encode(make: fn() -> BodyEncoder, input: &[u8]) -> Result<Vec<u8>, BodyError> {
        let whole = run(make(), &[input]);
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(run(make(), &[a, b]), whole, "split at {i} of {input:?}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(make(), &bytes), whole, "byte by byte {input:?}");
        // Empty chunks in between change nothing.
        let mut with_empty: Vec<&[u8]> = vec![b""];
        for b in &bytes {
            with_empty.extend_from_slice(&[b, b""]);
        }
        assert_eq!(
            run(make(), &with_empty),
            whole,
            "with empty chunks {input:?}"
        );
        whole
    }

    fn data() -> BodyEncoder {
        BodyEncoder::for_data(BareLineEndings::Normalize)
    }
    fn data_strict() -> BodyEncoder {
        BodyEncoder::for_data(BareLineEndings::Reject)
    }
    fn bdat() -> BodyEncoder {
        BodyEncoder::for_bdat(BareLineEndings::Normalize)
    }
    fn bdat_strict() -> BodyEncoder {
        BodyEncoder::for_bdat(BareLineEndings::Reject)
    }

    #[track_caller]
    fn check(make: fn() -> BodyEncoder, input: &[u8], expected: &[u8]) {
        let got = encode(make, input).expect("encodes");
        assert_eq!(
            got.escape_ascii().to_string(),
            expected.escape_ascii().to_string(),
            "input {}",
            input.escape_ascii()
        );
    }

    #[test]
    fn data_vectors() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b".", b"..\r\n.\r\n"),
            (b"..", b"...\r\n.\r\n"),
            (b".\r\n", b"..\r\n.\r\n"),
            (b"a\r\n.", b"a\r\n..\r\n.\r\n"),
            (b"a\r\n.b\r\n", b"a\r\n..b\r\n.\r\n"),
            (b"a\r\nb", b"a\r\nb\r\n.\r\n"),
            (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
            (b"\r\n", b"\r\n.\r\n"),
            (b"a\n.\nb", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"\r.\r", b"\r\n..\r\n.\r\n"),
            (b"\r.\r\n", b"\r\n..\r\n.\r\n"),
            (b"\r\n.\n", b"\r\n..\r\n.\r\n"),
            (b"a\r", b"a\r\n.\r\n"),
            (b"\r", b"\r\n.\r\n"),
            (b"\n", b"\r\n.\r\n"),
            (b"a\r.b", b"a\r\n..b\r\n.\r\n"),
            (b"a\n\n.", b"a\r\n\r\n..\r\n.\r\n"),
            (b"\r\r\n.", b"\r\n\r\n..\r\n.\r\n"),
            (b"\n\r", b"\r\n\r\n.\r\n"),
            (b"a.b\r\n x.", b"a.b\r\n x.\r\n.\r\n"),
            (b"\r\n\r\n..\r\n", b"\r\n\r\n...\r\n.\r\n"),
        ];
        for (input, expected) in cases {
            check(data, input, expected);
        }
    }

    #[test]
    fn bdat_vectors() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b".", b".\r\n"),
            (b"a\r\n.\r\n", b"a\r\n.\r\n"),
            (b"a\n.\nb", b"a\r\n.\r\nb\r\n"),
            (b"\r.\r", b"\r\n.\r\n"),
            (b"a\r", b"a\r\n"),
            (b"a", b"a\r\n"),
            (b"\n\r", b"\r\n\r\n"),
        ];
        for (input, expected) in cases {
            check(bdat, input, expected);
        }
    }

    #[test]
    fn binary_untouched() {
        let input = b"\r.\r\n.\n\0\xff\r";
        check(BodyEncoder::binary, input, input);
        check(BodyEncoder::binary, b"", b"");
        let mut enc = BodyEncoder::binary();
        let mut out = Vec::new();
        enc.push(b"a\r", &mut out).unwrap();
        assert!(!enc.ended_with_line_end());
        enc.push(b"\n", &mut out).unwrap();
        assert!(enc.ended_with_line_end());
        enc.push(b"\n", &mut out).unwrap();
        assert!(!enc.ended_with_line_end());
        assert_eq!(enc.bytes_in(), 4);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let mut enc = data();
        let mut out = Vec::new();
        enc.push(b"a\r", &mut out).unwrap();
        assert_eq!(out, b"a", "the CR is held back");
        assert!(!enc.ended_with_line_end());
        enc.push(b"", &mut out).unwrap();
        assert_eq!(out, b"a");
        enc.push(b"\n.", &mut out).unwrap();
        assert_eq!(out, b"a\r\n..");
        enc.finish(&mut out).unwrap();
        assert_eq!(out, b"a\r\n..\r\n.\r\n");
        assert_eq!(enc.bytes_in(), 4);
    }

    #[test]
    fn reject_reports_exact_offsets() {
        let lf = |at| Err(BodyError::BareLineEnding { byte: b'\n', at });
        let cr = |at| Err(BodyError::BareLineEnding { byte: b'\r', at });
        for make in [data_strict, bdat_strict] {
            assert_eq!(encode(make, b"ab\ncd"), lf(2));
            assert_eq!(encode(make, b"\n"), lf(0));
            assert_eq!(encode(make, b"ab\r\ncd\rx"), cr(6));
            assert_eq!(encode(make, b"ab\r\ncd\r"), cr(6), "bare CR at the end");
            assert_eq!(encode(make, b"\r\r\n"), cr(0));
            assert_eq!(encode(make, b"a\r\n\n"), lf(3));
        }
        check(data_strict, b"a\r\n.b\r\n", b"a\r\n..b\r\n.\r\n");
        check(bdat_strict, b"a\r\n.b\r\n", b"a\r\n.b\r\n");
    }

    #[test]
    fn reject_output_and_poisoning() {
        let mut enc = data_strict();
        let mut out = Vec::new();
        enc.push(b"x\r\n", &mut out).unwrap();
        let err = BodyError::BareLineEnding { byte: b'\n', at: 5 };
        assert_eq!(enc.push(b".a\nb", &mut out), Err(err));
        assert_eq!(
            out, b"x\r\n..a",
            "everything before the bare LF, nothing after"
        );
        assert_eq!(enc.bytes_in(), 3, "unchanged by the failed push");
        assert_eq!(enc.push(b"c", &mut out), Err(err));
        assert_eq!(enc.finish(&mut out), Err(err));
        assert_eq!(out, b"x\r\n..a");

        // A held-back CR resolved as bare by the next chunk: nothing is appended.
        let mut enc = bdat_strict();
        let mut out = Vec::new();
        enc.push(b"ab\r", &mut out).unwrap();
        let err = BodyError::BareLineEnding { byte: b'\r', at: 2 };
        assert_eq!(enc.push(b"cd", &mut out), Err(err));
        assert_eq!(out, b"ab");

        // A bare CR at finish.
        let mut enc = data_strict();
        let mut out = Vec::new();
        enc.push(b"ab\r", &mut out).unwrap();
        assert_eq!(enc.finish(&mut out), Err(err));
        assert_eq!(out, b"ab");
        assert!(!enc.is_finished());
        assert_eq!(enc.push(b"\n", &mut out), Err(err));
    }

    #[test]
    fn finished_refuses_more() {
        for mut enc in [data(), bdat(), BodyEncoder::binary()] {
            let mut out = Vec::new();
            enc.push(b"a", &mut out).unwrap();
            enc.finish(&mut out).unwrap();
            assert!(enc.is_finished());
            let len = out.len();
            assert_eq!(enc.push(b"b", &mut out), Err(BodyError::Finished));
            assert_eq!(enc.finish(&mut out), Err(BodyError::Finished));
            assert_eq!(out.len(), len);
        }
    }

    #[test]
    fn error_messages() {
        let e = BodyError::BareLineEnding { byte: b'\r', at: 7 };
        assert_eq!(e.to_string(), "bare CR at body byte 7");
        let e = BodyError::BareLineEnding { byte: b'\n', at: 0 };
        assert_eq!(e.to_string(), "bare LF at body byte 0");
    }

    #[test]
    fn worst_case_expansion_is_reached_not_exceeded() {
        // Held-back CR resolved as bare (2 bytes for 0 new input) then a line-leading dot.
        let mut enc = data();
        let mut out = Vec::new();
        enc.push(b"a\r", &mut out).unwrap();
        out.clear();
        enc.push(b".", &mut out).unwrap();
        assert_eq!(out, b"\r\n..");
        assert_eq!(out.len(), BodyEncoder::max_encoded_len(1));
        out.clear();
        enc.finish(&mut out).unwrap();
        assert_eq!(out.len(), BodyEncoder::MAX_FINISH_LEN);
        let mut enc = data();
        enc.push(b"a\r", &mut Vec::new()).unwrap();
        out.clear();
        enc.finish(&mut out).unwrap();
        assert_eq!(out, b"\r\n.\r\n");
    }

    #[test]
    fn normalize_vectors() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"a\r\nb", b"a\r\nb"),
            (b"a\nb\r", b"a\r\nb\r\n"),
            (b"\r\r\n\n", b"\r\n\r\n\r\n"),
            (b"\n\r", b"\r\n\r\n"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_line_endings(input), *expected, "{input:?}");
        }
    }

    /// Byte-at-a-time model of the encoders under `Normalize`: normalise, stuff, terminate.
    fn reference(input: &[u8], data: bool) -> Vec<u8> {
        let mut normal = normalize_line_endings(input);
        if !data {
            if !normal.is_empty() && !normal.ends_with(b"\r\n") {
                normal.extend_from_slice(b"\r\n");
            }
            return normal;
        }
        let mut out = Vec::new();
        for &b in &normal {
            if b == b'.' && (out.is_empty() || out.ends_with(b"\r\n")) {
                out.push(b'.');
            }
            out.push(b);
        }
        if !normal.is_empty() && !normal.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        out
    }

    /// The first CR or LF that is not part of a CRLF, and its offset.
    fn first_bare(input: &[u8]) -> Option<(u8, u64)> {
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            match b {
                b'\r' if input.get(i + 1) == Some(&b'\n') => i += 2,
                b'\r' | b'\n' => return Some((b, i as u64)),
                _ => i += 1,
            }
        }
        None
    }

    /// About 600 bytes of well-formed text: lines of many lengths, some empty, no dots.
    fn long_text() -> Vec<u8> {
        let mut text = Vec::new();
        for len in [70, 0, 3, 130, 1, 64, 127, 128, 0, 15, 16, 17, 40] {
            text.extend((0..len).map(|i| b'a' + (i % 26) as u8));
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(b"tail without line end");
        text
    }

    /// A way to make an encoder.
    type Make = fn() -> BodyEncoder;

    /// `make()` with the vector build of the fast path turned off.
    fn portable(make: fn() -> BodyEncoder) -> BodyEncoder {
        let mut enc = make();
        enc.vector = false;
        enc
    }
    fn data_portable() -> BodyEncoder {
        portable(data)
    }
    fn data_strict_portable() -> BodyEncoder {
        portable(data_strict)
    }
    fn bdat_portable() -> BodyEncoder {
        portable(bdat)
    }

    #[test]
    fn passing_agrees_in_both_builds_with_one_change_anywhere() {
        // The bytes the fast path lends as they are: the same in both builds, and passing
        // them then pushing the rest encodes as pushing everything does.
        let base = [long_text(), long_text()].concat();
        let edits: &[&[u8]] = &[
            b"\r", b"\n", b".", b"\r\n.", b"\n.", b"\r.", b"\n\n", b"\r\r\n",
        ];
        for at in 0..=base.len() {
            for edit in edits {
                let input = [&base[..at], edit, &base[at..]].concat();
                let makes: [(Make, Make, bool); 2] =
                    [(data, data_portable, true), (bdat, bdat_portable, false)];
                for (vector, portable, is_data) in makes {
                    let lent = clean_prefix(is_data, true, &input);
                    assert_eq!(
                        lent,
                        clean_prefix(is_data, false, &input),
                        "at {at} {edit:?}"
                    );
                    for make in [vector, portable] {
                        let mut enc = make();
                        let n = enc.pass(&input, 1);
                        // A dot that starts the body starts a line: DATA stuffs it.
                        let dot_first = is_data && input.first() == Some(&b'.');
                        assert_eq!(n, if dot_first { 0 } else { lent });
                        let mut out = input[..n].to_vec();
                        enc.push(&input[n..], &mut out).unwrap();
                        enc.finish(&mut out).unwrap();
                        assert_eq!(out, reference(&input, is_data), "at {at} {edit:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn long_text_with_one_change_anywhere() {
        // The fast path, in both builds, must notice each of these wherever it falls in a run
        // or a vector.
        let base = long_text();
        let edits: &[&[u8]] = &[
            b"\r", b"\n", b".", b"\r\n.", b"\n.", b"\r.", b".\r\n", b"\n\n", b"\r\r\n",
        ];
        let splits = |len: usize, at: usize| [0, at.saturating_sub(1), at, at + 1, at + 2, len];
        let makes: [(fn() -> BodyEncoder, bool); 4] = [
            (data, true),
            (data_portable, true),
            (bdat, false),
            (bdat_portable, false),
        ];
        for at in 0..=base.len() {
            for edit in edits {
                let mut input = base[..at].to_vec();
                input.extend_from_slice(edit);
                input.extend_from_slice(&base[at..]);
                for (make, is_data) in makes {
                    let expected = reference(&input, is_data);
                    assert_eq!(
                        run(make(), &[&input]).unwrap(),
                        expected,
                        "at {at} {edit:?}"
                    );
                    for cut in splits(input.len(), at) {
                        let (a, b) = input.split_at(cut.min(input.len()));
                        assert_eq!(run(make(), &[a, b]).unwrap(), expected, "cut {cut}");
                    }
                }
                // Reject reports the first bare byte, wherever it is.
                let expected = match first_bare(&input) {
                    Some((byte, at)) => Err(BodyError::BareLineEnding { byte, at }),
                    None => Ok(reference(&input, true)),
                };
                for make in [data_strict, data_strict_portable] {
                    assert_eq!(run(make(), &[&input]), expected, "at {at} {edit:?}");
                }
            }
        }
        // The unchanged text, and the same text with a dot on every line.
        check(data, &base, &reference(&base, true));
        check(data_portable, &base, &reference(&base, true));
        let dotted: Vec<u8> = base
            .split(|&b| b == b'\n')
            .flat_map(|line| [b".", line, b"\n"].concat())
            .collect();
        let dotted = &dotted[..dotted.len() - 1];
        for make in [data, data_portable] {
            assert_eq!(run(make(), &[dotted]).unwrap(), reference(dotted, true));
        }
    }

    /// Deterministic pseudo-random text (xorshift): letters with CRLFs, line-leading dots, bare
    /// CRs and LFs and stray dots mixed in; the larger `sparse`, the rarer they are (0: most
    /// pieces are one of them).
    fn random_text(seed: &mut u64, len: usize, sparse: u64) -> Vec<u8> {
        let mut text = Vec::with_capacity(len + 3);
        while text.len() < len {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            let piece: &[u8] = match *seed % (30 + sparse) {
                0..=14 => b"\r\n",
                15..=19 => b"\r\n.",
                20 => b"\r",
                21 => b"\n",
                22..=27 => b".",
                28 => b"\n.",
                _ => b"abcdefghijklmnopqrstuvwxyz",
            };
            let take = if piece.len() > 3 {
                usize::try_from(*seed >> 40).unwrap() % piece.len() + 1
            } else {
                piece.len()
            };
            text.extend_from_slice(&piece[..take]);
        }
        text
    }

    #[test]
    fn vector_and_portable_builds_agree() {
        #[cfg(target_arch = "x86_64")]
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 here: both builds are the portable one");
        }
        let mut seed = 0x2545_f491_4f6c_dd1d;
        for case in 0..600 {
            let len = 100 + case % 7 * 97 + case % 3;
            let input = random_text(&mut seed, len, [0, 30, 200, 1000][case % 4]);
            // The fast path itself, from many starting points (near run and vector sizes).
            for start in [0, 1, 2, 15, 16, 31, 32, 63, 64, 127, 128, 129, 255, 256] {
                for stuff in [false, true] {
                    let results = [false, true].map(|vector| {
                        let (mut flushed, mut out) = (start, b"prefix".to_vec());
                        let stop = copy_clean(stuff, vector, &input, start, &mut flushed, &mut out);
                        (stop, flushed, out)
                    });
                    assert_eq!(results[0], results[1], "case {case} start {start}");
                }
            }
            // The encoders, whole and in chunks of changing sizes (CRLFs split among them).
            let mut chunks = Vec::new();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let size = (usize::try_from(seed % 300).unwrap() + 1).min(rest.len());
                seed = seed.rotate_left(7) ^ 0x9e37_79b9;
                let (chunk, tail) = rest.split_at(size);
                chunks.push(chunk);
                rest = tail;
            }
            type Make = fn() -> BodyEncoder;
            let makes: [(Make, Make, bool); 2] =
                [(data, data_portable, true), (bdat, bdat_portable, false)];
            for (vector, portable, is_data) in makes {
                let expected = reference(&input, is_data);
                for parts in [&[&input[..]][..], &chunks] {
                    assert_eq!(run(vector(), parts).unwrap(), expected, "case {case}");
                    assert_eq!(run(portable(), parts).unwrap(), expected, "case {case}");
                }
            }
            let expected = match first_bare(&input) {
                Some((byte, at)) => Err(BodyError::BareLineEnding { byte, at }),
                None => Ok(reference(&input, true)),
            };
            assert_eq!(run(data_strict(), &chunks), expected, "case {case}");
            assert_eq!(
                run(data_strict_portable(), &chunks),
                expected,
                "case {case}"
            );
        }
    }

    #[test]
    fn long_chunks_of_clean_text_copy_verbatim() {
        // Many blocks, several skip limits, a CRLF straddling block and chunk boundaries.
        let line = [b"x".repeat(126), b"\r\n".to_vec()].concat();
        let input = line.repeat(40);
        assert_eq!(run(bdat(), &[&input]).unwrap(), input);
        let mut expected = input.clone();
        expected.extend_from_slice(b".\r\n");
        assert_eq!(run(data(), &[&input]).unwrap(), expected);
        for cut in [127, 128, 129, 2047, 2048, 2049, 4097] {
            let (a, b) = input.split_at(cut);
            assert_eq!(run(data(), &[a, b]).unwrap(), expected, "cut {cut}");
        }
    }

    /// Decodes `input` whole, split in two at every position, and byte by byte; all must
    /// agree. Returns the content and the consumed count.
    fn decode(input: &[u8]) -> (Vec<u8>, Option<usize>) {
        fn chunked(chunks: &[&[u8]]) -> (Vec<u8>, Option<usize>) {
            let mut dec = DataDecoder::new();
            let mut out = Vec::new();
            let mut consumed = 0;
            for chunk in chunks {
                match dec.push(chunk, &mut out) {
                    Some(n) => {
                        assert!(dec.is_done());
                        return (out, Some(consumed + n));
                    }
                    None => consumed += chunk.len(),
                }
            }
            assert!(!dec.is_done());
            (out, None)
        }
        let whole = chunked(&[input]);
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(chunked(&[a, b]), whole, "split at {i} of {input:?}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(chunked(&bytes), whole, "byte by byte {input:?}");
        whole
    }

    #[test]
    fn decoder_vectors() {
        let cases: &[(&[u8], &[u8], Option<usize>)] = &[
            (b".\r\n", b"", Some(3)),
            (b".\r\nMAIL", b"", Some(3)),
            (b"a\r\n.\r\n", b"a\r\n", Some(6)),
            (b"a\r\n.\r\nQUIT\r\n", b"a\r\n", Some(6)),
            (b"..\r\n.\r\n", b".\r\n", Some(7)),
            (b"a\r\n..b\r\n.\r\n", b"a\r\n.b\r\n", Some(11)),
            (b"a\r\n.b\r\n.\r\n", b"a\r\nb\r\n", Some(10)),
            (b"\r\n.\r\n", b"\r\n", Some(5)),
            // Not terminators: only CRLF . CRLF counts.
            (b"a\n.\nb", b"a\n.\nb", None),
            (b"a\r.\rb", b"a\r.\rb", None),
            (b"a\r\n.\nb", b"a\r\n\nb", None),
            (b"a\n.\r\nb", b"a\n.\r\nb", None),
            (b"a\r\n.\rb", b"a\r\n\rb", None),
            (b"a\r\n.\r\rb", b"a\r\n\r\rb", None),
            // A bare LF never starts a line, wherever it appears.
            (b"\n.\r\nb", b"\n.\r\nb", None),
            (b"a\r\n\n.\r\nb", b"a\r\n\n.\r\nb", None),
            (b".\n.\r\nb", b"\n.\r\nb", None),
            (b"a\r\n.\r\n.\r\nb", b"a\r\n", Some(6)),
            (b"a\r\n.\r\r\n.\r\nz", b"a\r\n\r\r\n", Some(10)),
            (b"", b"", None),
            (b"a\r\n.", b"a\r\n", None),
            (b"a\r\n.\r", b"a\r\n", None),
        ];
        for (input, content, consumed) in cases {
            let (got, n) = decode(input);
            assert_eq!(
                (got.escape_ascii().to_string(), n),
                (content.escape_ascii().to_string(), *consumed),
                "{}",
                input.escape_ascii()
            );
        }
    }

    #[test]
    fn decoder_after_done_consumes_nothing() {
        let mut dec = DataDecoder::default();
        let mut out = Vec::new();
        assert_eq!(dec.push(b"x\r\n.\r\nRSET\r\n", &mut out), Some(6));
        assert_eq!(dec.push(b"more\r\n.\r\n", &mut out), Some(0));
        assert_eq!(out, b"x\r\n");
    }

    #[test]
    fn decoder_round_trips_the_encoder() {
        let bodies: &[&[u8]] = &[
            b"",
            b".",
            b"..\r\n.\r\n",
            b"Subject: x\r\n\r\n.hidden\r\n..two\r\n.\r\nend",
            b"a\n.\nb\r.\r\r\n.\n",
        ];
        for body in bodies {
            let encoded = encode(data, body).unwrap();
            let mut wire = encoded.clone();
            wire.extend_from_slice(b"QUIT\r\n");
            let (content, n) = decode(&wire);
            assert_eq!(n, Some(encoded.len()), "{body:?}");
            let mut expected = normalize_line_endings(body);
            if !expected.is_empty() && !expected.ends_with(b"\r\n") {
                expected.extend_from_slice(b"\r\n");
            }
            assert_eq!(content, expected, "{body:?}");
        }
    }
}
