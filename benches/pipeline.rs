//! Criterion benchmarks of the pipeline stages on a synthetic mbox built in memory:
//! splitting, stage-1 header fingerprinting, body digests, and grouping.
//! Whole-process comparisons with peers live in `benches/compare.sh`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use maildedup::identity::{body_digest, HeaderFacts};
use maildedup::store::mbox::split;

fn synthetic_mbox(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let id = if i % 10 == 0 { i - i % 20 } else { i };
        out.extend_from_slice(
            format!(
                "From sender{i}@example.com Sat Jan  3 01:{:02}:{:02} 2022\n\
Return-Path: <sender@example.com>\nReceived: from mx.example.com by mail.example.org; Sat, 3 Jan 2022 01:05:34 +0000\n\
From: Sender <sender@example.com>\nTo: you@example.org\nSubject: message number {id}\n\
Date: Sat, 3 Jan 2022 01:05:34 +0000\nMessage-ID: <{id}@example.com>\nMIME-Version: 1.0\n\
Content-Type: text/plain; charset=utf-8\n\n",
                (i / 60) % 60,
                i % 60
            )
            .as_bytes(),
        );
        for l in 0..40 {
            out.extend_from_slice(
                format!(
                    "Line {l} of the body of message {id}, with some text to make it realistic.\n"
                )
                .as_bytes(),
            );
        }
        out.push(b'\n');
    }
    out
}

fn stages(c: &mut Criterion) {
    let mbox = synthetic_mbox(20_000);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Bytes(mbox.len() as u64));
    g.sample_size(20);
    g.bench_function("split", |b| {
        b.iter(|| split(black_box(&mbox)).map(|e| e.len()))
    });
    let entries = split(&mbox).unwrap_or_default();
    g.bench_function("fingerprint_headers", |b| {
        let mut scratch = Vec::new();
        b.iter(|| {
            entries
                .iter()
                .map(|e| HeaderFacts::read(e.message(&mbox), &mut scratch).body_start)
                .sum::<usize>()
        })
    });
    g.bench_function("body_digest", |b| {
        let mut scratch = Vec::new();
        b.iter(|| {
            entries
                .iter()
                .map(|e| body_digest(e.message(&mbox), &mut scratch)[0] as usize)
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
