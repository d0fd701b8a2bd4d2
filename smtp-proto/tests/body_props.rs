//! Property tests for the body encoder and the DATA decoder.

use proptest::prelude::*;
use smtp_proto::body::{
    normalize_line_endings, BareLineEndings, BodyEncoder, BodyError, DataDecoder, MessageSize,
};

/// Bodies rich in the bytes that matter: CR, LF and dots.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => Just(b'\r'),
        3 => Just(b'\n'),
        3 => Just(b'.'),
        2 => Just(b'a'),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..160)
}

/// Long, mostly well-formed text (so that the encoder's block fast path runs) with occasional
/// bare CRs and LFs, line-leading dots and the SMTP-smuggling suspects.
fn text_body() -> impl Strategy<Value = Vec<u8>> {
    let line = prop::collection::vec(prop_oneof![20 => Just(b'x'), 1 => Just(b'.')], 0..200)
        .prop_map(|mut line| {
            line.extend_from_slice(b"\r\n");
            line
        });
    let segment = prop_oneof![
        12 => line,
        1 => Just(b"\r".to_vec()),
        1 => Just(b"\n".to_vec()),
        1 => Just(b".".to_vec()),
        1 => Just(b"\n.\n".to_vec()),
        1 => Just(b"\r.\r".to_vec()),
        1 => Just(b"\r\n.\r\n".to_vec()),
    ];
    prop::collection::vec(segment, 0..40).prop_map(|segments| segments.concat())
}

/// Either kind of body.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![body(), text_body()]
}

/// Chunk lengths (zero allowed); what they leave of the input forms the last chunk.
fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![0usize..12, 0usize..600], 0..40)
}

fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut rest = input;
    let mut chunks = Vec::new();
    for &cut in cuts {
        let (a, b) = rest.split_at(cut.min(rest.len()));
        chunks.push(a);
        rest = b;
    }
    chunks.push(rest);
    chunks
}

/// Encodes chunk by chunk, checking the expansion bounds; returns every push's output and
/// the finish output separately.
fn encode(mut enc: BodyEncoder, chunks: &[&[u8]]) -> Result<(Vec<Vec<u8>>, Vec<u8>), BodyError> {
    let mut pieces = Vec::new();
    for chunk in chunks {
        let mut out = Vec::new();
        enc.push(chunk, &mut out)?;
        assert!(out.len() <= BodyEncoder::max_encoded_len(chunk.len()));
        pieces.push(out);
    }
    let mut tail = Vec::new();
    enc.finish(&mut tail)?;
    assert!(tail.len() <= BodyEncoder::MAX_FINISH_LEN);
    assert_eq!(enc.push(b"x", &mut tail), Err(BodyError::Finished));
    Ok((pieces, tail))
}

fn encode_whole(enc: BodyEncoder, chunks: &[&[u8]]) -> Result<Vec<u8>, BodyError> {
    let (pieces, tail) = encode(enc, chunks)?;
    Ok(pieces.concat().into_iter().chain(tail).collect())
}

/// Offset and byte of the first bare CR or LF, if any.
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

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w == &needle)
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn data_round_trips_through_the_decoder(input in any_body(), cuts in cuts(), dec_cuts in cuts()) {
        let policy = BareLineEndings::Normalize;
        let out = encode_whole(BodyEncoder::for_data(policy), &split(&input, &cuts)).unwrap();
        let whole = encode_whole(BodyEncoder::for_data(policy), &[&input]).unwrap();
        prop_assert_eq!(&out, &whole, "chunking changed the output");

        let mut expected = normalize_line_endings(&input);
        if !expected.is_empty() && !expected.ends_with(b"\r\n") {
            expected.extend_from_slice(b"\r\n");
        }
        // The terminator appears once, at the end; nowhere earlier can the data end.
        if input.is_empty() {
            prop_assert_eq!(&out, b".\r\n");
        } else {
            prop_assert!(out.ends_with(b"\r\n.\r\n"));
            prop_assert_eq!(count(&out, b"\r\n.\r\n"), 1);
            prop_assert!(!out.starts_with(b".\r\n"));
        }

        // Decode with other chunking and trailing bytes after the terminator.
        let mut wire = out.clone();
        wire.extend_from_slice(b"QUIT\r\n");
        let mut dec = DataDecoder::new();
        let mut content = Vec::new();
        let mut consumed = 0;
        let mut done = None;
        for chunk in split(&wire, &dec_cuts) {
            if let Some(n) = dec.push(chunk, &mut content) {
                done = Some(consumed + n);
                break;
            }
            consumed += chunk.len();
        }
        prop_assert_eq!(done, Some(out.len()));
        prop_assert_eq!(content, expected);
    }

    #[test]
    fn bdat_is_normalisation_and_a_final_line_end(input in any_body(), cuts in cuts()) {
        let chunks = split(&input, &cuts);
        let (pieces, tail) =
            encode(BodyEncoder::for_bdat(BareLineEndings::Normalize), &chunks).unwrap();
        prop_assert!(tail.len() <= 2);
        // One output buffer shared by all pushes gives the same bytes as the pieces.
        let mut enc = BodyEncoder::for_bdat(BareLineEndings::Normalize);
        let mut shared = Vec::new();
        for chunk in &chunks {
            enc.push(chunk, &mut shared).unwrap();
        }
        enc.finish(&mut shared).unwrap();
        prop_assert_eq!(enc.bytes_in(), input.len() as u64);
        let total: usize = pieces.iter().map(Vec::len).sum::<usize>() + tail.len();
        prop_assert_eq!(total, shared.len());
        let joined: Vec<u8> = pieces.concat().into_iter().chain(tail).collect();
        prop_assert_eq!(&joined, &shared);
        // Normalised, and ending with a line end unless empty (as DATA delivers it).
        let mut expected = normalize_line_endings(&input);
        if !expected.is_empty() && !expected.ends_with(b"\r\n") {
            expected.extend_from_slice(b"\r\n");
        }
        prop_assert_eq!(joined, expected);
    }

    #[test]
    fn reject_fails_at_the_first_bare_line_ending(input in any_body(), cuts in cuts(), data in any::<bool>()) {
        let make = |policy| if data {
            BodyEncoder::for_data(policy)
        } else {
            BodyEncoder::for_bdat(policy)
        };
        let chunks = split(&input, &cuts);
        let strict = encode_whole(make(BareLineEndings::Reject), &chunks);
        match first_bare(&input) {
            Some((byte, at)) => {
                prop_assert_eq!(strict, Err(BodyError::BareLineEnding { byte, at }));
            }
            None => {
                let lenient = encode_whole(make(BareLineEndings::Normalize), &chunks);
                prop_assert_eq!(strict, lenient);
            }
        }
    }

    #[test]
    fn reject_writes_only_what_precedes_the_error(input in any_body(), cuts in cuts()) {
        let mut enc = BodyEncoder::for_data(BareLineEndings::Reject);
        let mut out = Vec::new();
        let mut fed = 0;
        for chunk in split(&input, &cuts) {
            if let Err(BodyError::BareLineEnding { at, .. }) = enc.push(chunk, &mut out) {
                // `out` is exactly the encoding of the bytes before the offending one.
                let at = usize::try_from(at).unwrap();
                let mut prefix = BodyEncoder::for_data(BareLineEndings::Reject);
                let mut expected = Vec::new();
                prefix.push(&input[..at], &mut expected).unwrap();
                prop_assert_eq!(out, expected);
                prop_assert_eq!(enc.push(b"a", &mut Vec::new()).is_err(), true);
                return Ok(());
            }
            fed += chunk.len();
            prop_assert_eq!(enc.bytes_in(), fed as u64);
        }
    }

    #[test]
    fn binary_is_identity(input in any::<Vec<u8>>(), cuts in cuts()) {
        let (pieces, tail) = encode(BodyEncoder::binary(), &split(&input, &cuts)).unwrap();
        prop_assert!(tail.is_empty());
        prop_assert_eq!(pieces.concat(), input);
    }

    #[test]
    fn decoder_never_panics_and_respects_bounds(wire in any_body(), cuts in cuts()) {
        let mut dec = DataDecoder::new();
        let mut content = Vec::new();
        let mut consumed = 0;
        for chunk in split(&wire, &cuts) {
            if let Some(n) = dec.push(chunk, &mut content) {
                prop_assert!(n <= chunk.len());
                consumed += n;
                prop_assert!(wire[..consumed].ends_with(b".\r\n"));
                break;
            }
            consumed += chunk.len();
        }
        prop_assert!(content.len() <= consumed);
    }

    #[test]
    fn message_size_is_what_the_encoders_send(input in any_body(), cuts in cuts()) {
        let chunks = split(&input, &cuts);
        let mut size = MessageSize::new();
        for chunk in &chunks {
            size.push(chunk);
        }
        let bdat = encode_whole(BodyEncoder::for_bdat(BareLineEndings::Normalize), &chunks).unwrap();
        prop_assert_eq!(size.total(), bdat.len() as u64);
        prop_assert_eq!(MessageSize::of(&input), bdat.len() as u64);
    }
}
