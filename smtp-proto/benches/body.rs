//! Body encoder throughput (DATA and BDAT modes) beside a `memcpy` of the same buffer, and the
//! path of a body held in memory (`data_lent`: passed where it encodes to itself, else
//! encoded; `clean_lent`: the same text without dot-led lines, all passed).
//!
//! The body is CRLF text in 72-byte lines (70 bytes of text), one line in 16 starting with a
//! dot, at two sizes: 1 MiB (fits in cache: memcpy runs at cache speed) and 32 MiB (does not:
//! memcpy runs at memory speed). Each iteration encodes the whole body into a pre-sized, cleared
//! `Vec`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use smtp_proto::body::{BareLineEndings, BodyEncoder};
use smtp_proto::client::MIN_LEND;

fn typical_body(size: usize) -> Vec<u8> {
    const TEXT: &[u8; 70] =
        b"The quick brown fox jumps over the lazy dog; pack my box with five doz";
    let mut body = Vec::with_capacity(size);
    let mut line = 0usize;
    while body.len() + 72 <= size {
        if line.is_multiple_of(16) {
            body.push(b'.');
            body.extend_from_slice(&TEXT[1..]);
        } else {
            let start = line % 7;
            body.extend_from_slice(&TEXT[start..]);
            body.extend_from_slice(&TEXT[..start]);
        }
        body.extend_from_slice(b"\r\n");
        line += 1;
    }
    body
}

fn encode(body: &[u8], mut enc: BodyEncoder, out: &mut Vec<u8>) -> usize {
    out.clear();
    let pushed = enc.push(body, out);
    let finished = enc.finish(out);
    assert!(pushed.is_ok() && finished.is_ok());
    out.len()
}

/// What the pump does with a body held in memory: what encodes to itself is passed (it would
/// be written from where it is, not copied), the rest encoded into `out`, 128 KiB at a time
/// (the outbox's room); returns the bytes passed plus the bytes encoded.
fn lend(body: &[u8], mut enc: BodyEncoder, out: &mut Vec<u8>) -> usize {
    out.clear();
    let (mut at, mut passed) = (0, 0);
    while at < body.len() {
        let rest = &body[at..];
        let n = enc.pass(&rest[..rest.len().min(1 << 20)], MIN_LEND);
        if n > 0 {
            at += n;
            passed += n;
            continue;
        }
        let piece = &rest[..rest.len().min(128 << 10)];
        assert!(enc.push(piece, out).is_ok());
        at += piece.len();
        if out.len() > (1 << 20) {
            out.clear();
        }
    }
    assert!(enc.finish(out).is_ok());
    passed + out.len()
}

fn bodies(c: &mut Criterion, name: &str, size: usize) {
    let body = typical_body(size);
    // The same text without its dot-led lines: all of it is passed.
    let clean: Vec<u8> = body
        .iter()
        .map(|&b| if b == b'.' { b'T' } else { b })
        .collect();
    let mut out = Vec::with_capacity(BodyEncoder::max_encoded_len(body.len()) + 5);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(body.len() as u64));

    group.bench_function("memcpy", |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&body));
            black_box(out.len())
        })
    });
    group.bench_function("data", |b| {
        b.iter(|| {
            let enc = BodyEncoder::for_data(BareLineEndings::Normalize);
            black_box(encode(black_box(&body), enc, &mut out))
        })
    });
    group.bench_function("data_lent", |b| {
        b.iter(|| {
            let enc = BodyEncoder::for_data(BareLineEndings::Normalize);
            black_box(lend(black_box(&body), enc, &mut out))
        })
    });
    group.bench_function("clean_lent", |b| {
        b.iter(|| {
            let enc = BodyEncoder::for_data(BareLineEndings::Normalize);
            black_box(lend(black_box(&clean), enc, &mut out))
        })
    });
    group.bench_function("bdat", |b| {
        b.iter(|| {
            let enc = BodyEncoder::for_bdat(BareLineEndings::Normalize);
            black_box(encode(black_box(&body), enc, &mut out))
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bodies(&mut c, "body_1MiB", 1 << 20);
    bodies(&mut c, "body_32MiB", 32 << 20);
    c.final_summary();
}
