//! Body encoder throughput against a `memcpy` of the same buffer.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use smtp_proto::body::{BareLineEndings, BodyEncoder};
use std::time::Duration;

/// About 1 MiB of CRLF text in 72-byte lines (70 bytes of text), one line in 16 starting
/// with a dot.
fn typical_body() -> Vec<u8> {
    const TEXT: &[u8] = b"The quick brown fox jumps over the lazy dog; pack my box with five dozen";
    let mut body = Vec::with_capacity(1 << 20);
    let mut line = 0usize;
    while body.len() + 72 <= 1 << 20 {
        let text = TEXT.get(..70).unwrap_or(TEXT);
        if line % 16 == 0 {
            body.push(b'.');
            body.extend_from_slice(text.get(1..).unwrap_or_default());
        } else {
            let start = line % 7;
            body.extend_from_slice(text.get(start..).unwrap_or_default());
            body.extend_from_slice(text.get(..start).unwrap_or_default());
        }
        body.extend_from_slice(b"\r\n");
        line += 1;
    }
    body
}

fn bench(c: &mut Criterion) {
    let body = typical_body();
    let mut group = c.benchmark_group("body");
    group
        .throughput(Throughput::Bytes(body.len() as u64))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut out = Vec::with_capacity(BodyEncoder::max_encoded_len(body.len()) + 5);

    group.bench_function("memcpy", |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&body));
            black_box(out.len())
        })
    });
    group.bench_function("data", |b| {
        b.iter(|| {
            out.clear();
            let mut enc = BodyEncoder::for_data(BareLineEndings::Normalize);
            let _ = enc.push(black_box(&body), &mut out);
            let _ = enc.finish(&mut out);
            black_box(out.len())
        })
    });
    group.bench_function("bdat", |b| {
        b.iter(|| {
            out.clear();
            let mut enc = BodyEncoder::for_bdat(BareLineEndings::Normalize);
            let _ = enc.push(black_box(&body), &mut out);
            let _ = enc.finish(&mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
