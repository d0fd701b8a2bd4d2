//! Reply parser throughput: a 20-line EHLO reply and a one-line `250` reply; capabilities of a
//! 20-line EHLO and of the worst (largest `AUTH` list) the default limits allow.
//!
//! Replies per second = 1 / (time per iteration); each iteration parses one reply.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use smtp_proto::{Capabilities, ReplyParser, Status};

fn ehlo_20_lines() -> Vec<u8> {
    let mut raw = b"250-mx.example.org Hello client.example.net [192.0.2.1]\r\n".to_vec();
    let keywords = [
        "PIPELINING",
        "SIZE 52428800",
        "ETRN",
        "STARTTLS",
        "AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2",
        "AUTH=PLAIN LOGIN",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "BINARYMIME",
        "CHUNKING",
        "DSN",
        "SMTPUTF8",
        "REQUIRETLS",
        "VRFY",
        "DELIVERBY 300",
        "MT-PRIORITY MIXER",
        "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN",
        "XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT",
    ];
    for keyword in keywords {
        raw.extend_from_slice(format!("250-{keyword}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"250 HELP\r\n");
    raw
}

fn bench_one(c: &mut Criterion, name: &str, input: &[u8]) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("parse", |b| {
        let mut parser = ReplyParser::default();
        b.iter(|| match parser.parse(black_box(input)) {
            Ok(Status::Complete((reply, n))) => black_box((reply.code(), n)),
            other => panic!("not one reply: {other:?}"),
        });
    });
    group.finish();
}

fn replies(c: &mut Criterion) {
    let ehlo = ehlo_20_lines();
    assert_eq!(ehlo.iter().filter(|&&b| b == b'\n').count(), 20);
    bench_one(c, "reply/ehlo_20_lines", &ehlo);
    bench_one(c, "reply/one_line_250", b"250 2.0.0 Ok queued\r\n");

    // What the client does with an EHLO reply after parsing it.
    let Ok(Status::Complete((reply, _))) = ReplyParser::default().parse(&ehlo) else {
        panic!("not one reply")
    };
    let mut group = c.benchmark_group("ehlo/capabilities_20_lines");
    group.throughput(Throughput::Bytes(ehlo.len() as u64));
    group.bench_function("from_ehlo", |b| {
        b.iter(|| Capabilities::from_ehlo(black_box(&reply)))
    });
    group.finish();

    // The worst EHLO reply within the default limits: 511 `AUTH` lines of 1,600 distinct
    // names each. Time per byte must stay that of a small reply (merging is linear).
    let worst = largest_auth_reply();
    let Ok(Status::Complete((reply, _))) = ReplyParser::default().parse(&worst) else {
        panic!("not one reply")
    };
    let mut group = c.benchmark_group("ehlo/capabilities_largest_auth_list");
    group.throughput(Throughput::Bytes(worst.len() as u64));
    group.sample_size(10);
    group.bench_function("from_ehlo", |b| {
        b.iter(|| Capabilities::from_ehlo(black_box(&reply)))
    });
    group.finish();
}

/// 511 `AUTH` lines of 1,600 distinct 4-character names (about 4 MB).
fn largest_auth_reply() -> Vec<u8> {
    let mut raw = b"250-mx.example\r\n".to_vec();
    let mut i = 0usize;
    for line in 1..512 {
        raw.extend_from_slice(if line == 511 {
            b"250 AUTH"
        } else {
            b"250-AUTH"
        });
        for _ in 0..1600 {
            let mut n = i;
            raw.push(b' ');
            for _ in 0..4 {
                raw.push(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[n % 36]);
                n /= 36;
            }
            i += 1;
        }
        raw.extend_from_slice(b"\r\n");
    }
    raw
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    replies(&mut c);
    c.final_summary();
}
