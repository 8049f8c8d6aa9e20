//! Regression tests for what the fuzz targets (`fuzz/`) and the hardening review around
//! them found. Each test names the target (or the review) and the property that failed.

use maildedup::store::mbox::{split, split_chunked, split_releasing};

fn noop(_: usize, _: usize) {}

/// mbox_split: a From_ line that starts before a chunk boundary and crosses it was found
/// by neither chunk, so its message was merged into the one before (files over 8 MiB are
/// split in 16 MiB chunks on every core).
#[test]
fn from_line_across_a_chunk_boundary_is_found() {
    let buf = b"From a Mon Jan  1 00:00:00 2024\nA: 1\n\nbody\n\nFrom b Mon Jan  1 00:00:01 2024\nA: 2\n\nx\n\nFrom c x\nA: 3\n\ny\n";
    let whole = split(buf).expect("an mbox");
    assert_eq!(whole.len(), 3);
    for chunk in 1..buf.len() + 2 {
        let chunked = split_chunked(buf, &noop, 0, chunk).expect("an mbox");
        assert_eq!(chunked, whole, "chunk size {chunk}");
    }
}

/// The same at the real sizes: a From_ line straddling the 16 MiB boundary of a 17 MiB mbox.
#[test]
fn from_line_across_the_16_mib_boundary_is_found() {
    let chunk = 16 << 20;
    let mut buf = b"From a Mon Jan  1 00:00:00 2024\nA: 1\n\n".to_vec();
    // Filler lines, then a blank line, then a From_ line starting 2 bytes before the
    // boundary.
    while buf.len() < chunk - 100 {
        buf.extend_from_slice(b"0123456789012345678901234567890123456789\n");
    }
    buf.resize(chunk - 4, b'x');
    buf.extend_from_slice(b"\n\nFrom b Mon Jan  1 00:00:01 2024\nA: 2\n\n");
    buf.resize(17 << 20, b'y');
    let entries = split_releasing(&buf, &noop).expect("an mbox");
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[1].offset, chunk - 2);
}

/// mbox_split: a preamble of blank lines longer than a chunk made the first chunk start
/// after it ended (a slice panic, or an overflow in the release call).
#[test]
fn preamble_longer_than_a_chunk_does_not_panic() {
    let mut buf = vec![b'\n'; 40];
    buf.extend_from_slice(b"From a Mon Jan  1 00:00:00 2024\nA: 1\n\nx\n");
    let whole = split(&buf).expect("an mbox");
    for chunk in 1..50 {
        assert_eq!(split_chunked(&buf, &noop, 0, chunk), Some(whole.clone()));
    }
    let mut big = vec![b'\n'; 17 << 20];
    big.extend_from_slice(b"From a Mon Jan  1 00:00:00 2024\nA: 1\n\nx\n");
    let e = split_releasing(&big, &noop).expect("an mbox");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].offset, 17 << 20);
}

/// Review of the splitter's work per entry: each candidate's `Content-Length:` lookup
/// read on to the next blank line, which in an mbox without blank lines is the end of the
/// file: quadratic (32,000 such entries, 1.2 MB, took 42 s in a release build). 64,000
/// entries must split at once; the watchdog turns a regression into a failure, not a hang.
#[test]
fn entries_without_blank_lines_split_in_linear_time() {
    let n = 64_000;
    let buf = b"From - Mon Jan  1 00:00:00 2024\nA: b\n".repeat(n);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(split(&buf).map(|e| e.len()));
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("splitting 64,000 entries without blank lines took over 60 s");
    assert_eq!(got, Some(n));
}
