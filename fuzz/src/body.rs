//! `body` target: the streaming body encoder in every mode, in any chunking.
//!
//! Input: `[mode][split style][split seed][body...]`. Mode bits: `0..=1` DATA / BDAT / binary
//! (3 = DATA again), bit 2 [`BareLineEndings::Reject`].
//!
//! Properties (the body is pushed in the input's split and whole; both must give the same):
//! - every `push` appends at most `max_encoded_len(chunk)` bytes, `finish` at most
//!   `MAX_FINISH_LEN`; `bytes_in` counts the input; `ended_with_line_end` tells the truth;
//! - DATA: the output is exactly the reference encoding (normalised line ends, a CRLF added to a
//!   non-empty body not ending in one, line-leading dots doubled, then `.` CRLF); after the DATA
//!   command's own CRLF, `CRLF . CRLF` occurs exactly once, at the end; and `DataDecoder`, fed the
//!   output in the same split, stops exactly at its end and gives back the normalised body (plus
//!   CRLF when non-empty and not ending in a line end);
//! - BDAT: the output equals the normalised body plus the final CRLF it lacks (as DATA delivers
//!   it), whatever the chunking, and `MessageSize` counts exactly its length;
//! - binary: the output is the body, untouched;
//! - Reject: a body without bare CR/LF encodes as under Normalize; otherwise the error names the
//!   first bare CR/LF, the output holds exactly the (Normalize) encoding of the bytes before it,
//!   and every later call repeats the error.

use smtp_proto::body::{BodyError, DataDecoder, MessageSize};
use smtp_proto::{BareLineEndings, BodyEncoder};

use crate::util::{
    chunk_lengths, count, first_bare_line_end, ref_data_content, ref_data_wire, show, split,
    Reader, Rng,
};

/// The encoder's framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// DATA: normalised and dot-stuffed.
    Data,
    /// BDAT: normalised, ending with a line end.
    Bdat,
    /// BINARYMIME: untouched.
    Binary,
}

/// A new encoder for `mode` and `policy`.
pub fn encoder(mode: Mode, policy: BareLineEndings) -> BodyEncoder {
    match mode {
        Mode::Data => BodyEncoder::for_data(policy),
        Mode::Bdat => BodyEncoder::for_bdat(policy),
        Mode::Binary => BodyEncoder::binary(),
    }
}

/// Pushes `chunks` and finishes, checking the per-call bounds; the output, or the first error
/// with the output written until then.
pub fn encode(mut enc: BodyEncoder, chunks: &[&[u8]]) -> (Vec<u8>, Option<BodyError>) {
    let mut out = Vec::new();
    let mut total = 0u64;
    for chunk in chunks {
        let before = out.len();
        if let Err(e) = enc.push(chunk, &mut out) {
            assert_eq!(enc.bytes_in(), total, "bytes_in changed by a failed push");
            // Poisoned: the same error again, nothing appended.
            let len = out.len();
            assert_eq!(enc.push(b"x", &mut out), Err(e));
            assert_eq!(enc.finish(&mut out), Err(e));
            assert_eq!(out.len(), len, "a poisoned encoder wrote");
            return (out, Some(e));
        }
        total += chunk.len() as u64;
        assert_eq!(enc.bytes_in(), total, "bytes_in");
        assert!(
            out.len() - before <= BodyEncoder::max_encoded_len(chunk.len()),
            "push of {} bytes appended {}",
            chunk.len(),
            out.len() - before
        );
        assert_eq!(
            enc.ended_with_line_end(),
            out.is_empty() || out.ends_with(b"\r\n"),
            "ended_with_line_end after {}",
            show(&out)
        );
    }
    let before = out.len();
    if let Err(e) = enc.finish(&mut out) {
        assert_eq!(out.len(), before, "a failed finish wrote");
        assert_eq!(enc.finish(&mut out), Err(e));
        return (out, Some(e));
    }
    assert!(out.len() - before <= BodyEncoder::MAX_FINISH_LEN);
    assert!(enc.is_finished());
    assert_eq!(enc.push(b"x", &mut out), Err(BodyError::Finished));
    assert_eq!(enc.finish(&mut out), Err(BodyError::Finished));
    (out, None)
}

/// Runs every property on `data`.
pub fn check(data: &[u8]) {
    let mut r = Reader::new(data);
    let flags = r.u8();
    let style = r.u8();
    let seed = r.u8();
    let body = r.rest();
    let mode = match flags & 3 {
        1 => Mode::Bdat,
        2 => Mode::Binary,
        _ => Mode::Data,
    };
    let policy = if flags & 4 != 0 {
        BareLineEndings::Reject
    } else {
        BareLineEndings::Normalize
    };
    let mut rng = Rng::new(u64::from(seed) << 8 | u64::from(style));
    let lengths = chunk_lengths(body.len(), style, &mut rng);
    let chunks = split(body, &lengths);

    let (out, err) = encode(encoder(mode, policy), &chunks);
    let whole = encode(encoder(mode, policy), &[body]);
    assert_eq!(
        (&out, &err),
        (&whole.0, &whole.1),
        "chunking {lengths:?} changed the output"
    );

    if mode != Mode::Binary && policy == BareLineEndings::Reject {
        check_reject(mode, body, &out, err);
        return;
    }
    assert_eq!(err, None, "Normalize/binary failed");
    match mode {
        Mode::Binary => assert_eq!(out, body, "binary is not the identity"),
        Mode::Bdat => {
            assert_eq!(out, ref_data_content(body), "BDAT output: {}", show(body));
            // The declared size (RFC 1870) is what BDAT sends, however the body is cut.
            let mut size = MessageSize::new();
            for chunk in &chunks {
                size.push(chunk);
            }
            assert_eq!(
                size.total(),
                out.len() as u64,
                "MessageSize of {}",
                show(body)
            );
            assert_eq!(MessageSize::of(body), out.len() as u64);
        }
        Mode::Data => check_data(body, &out, &lengths),
    }
}

/// DATA output against the reference and the decoder.
fn check_data(body: &[u8], out: &[u8], lengths: &[usize]) {
    assert_eq!(out, ref_data_wire(body), "DATA output for {}", show(body));
    // The DATA command's CRLF comes first on the wire.
    let mut wire = b"\r\n".to_vec();
    wire.extend_from_slice(out);
    assert_eq!(count(&wire, b"\r\n.\r\n"), 1, "terminators: {}", show(out));
    assert!(wire.ends_with(b"\r\n.\r\n"));

    // Decode in the same split as the input (scaled to the output's length).
    let mut rng = Rng::new(lengths.len() as u64);
    let out_lengths = chunk_lengths(out.len(), (lengths.len() % 6) as u8, &mut rng);
    let mut dec = DataDecoder::new();
    let mut decoded = Vec::new();
    let mut consumed = 0;
    let mut done = false;
    for chunk in split(out, &out_lengths) {
        if chunk.is_empty() {
            continue;
        }
        assert!(!done, "decoder stopped before the end");
        match dec.push(chunk, &mut decoded) {
            Some(n) => {
                consumed += n;
                done = true;
                assert_eq!(n, chunk.len(), "decoder left bytes over");
            }
            None => consumed += chunk.len(),
        }
    }
    assert!(done, "decoder never saw the terminator");
    assert!(dec.is_done());
    assert_eq!(consumed, out.len());
    assert_eq!(
        decoded,
        ref_data_content(body),
        "decoded DATA for {}",
        show(body)
    );
}

/// Reject policy: identical to Normalize for clean bodies, else an exact error.
fn check_reject(mode: Mode, body: &[u8], out: &[u8], err: Option<BodyError>) {
    match first_bare_line_end(body) {
        None => {
            assert_eq!(err, None, "clean body rejected");
            let (normal, _) = encode(encoder(mode, BareLineEndings::Normalize), &[body]);
            assert_eq!(out, normal, "Reject and Normalize differ on a clean body");
        }
        Some(at) => {
            assert_eq!(
                err,
                Some(BodyError::BareLineEnding {
                    byte: body[at],
                    at: at as u64
                }),
                "for {}",
                show(body)
            );
            // Everything before the offending byte, encoded, and nothing else.
            let mut enc = encoder(mode, BareLineEndings::Normalize);
            let mut expected = Vec::new();
            enc.push(&body[..at], &mut expected)
                .expect("Normalize never fails");
            assert_eq!(out, expected, "output before the bare line end");
        }
    }
}
