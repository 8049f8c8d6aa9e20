//! The mbox splitter: never panics, and its entries tile the file in order, within
//! bounds, whichever path (one thread, or chunks searched in parallel) finds them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use maildedup::store::mbox::{looks_like_mbox, preamble_len, split, split_chunked, MboxEntry};
use std::sync::Mutex;

fn check(buf: &[u8], entries: &[MboxEntry]) {
    assert!(!entries.is_empty(), "an mbox has at least one entry");
    assert_eq!(
        entries[0].offset,
        preamble_len(buf),
        "first entry after the preamble"
    );
    let last = entries[entries.len() - 1];
    assert_eq!(
        last.end,
        buf.len(),
        "the last entry ends at the end of the file"
    );
    for (i, e) in entries.iter().enumerate() {
        assert!(e.offset < e.message_start || e.message_start == buf.len());
        assert!(e.message_start <= e.message_end, "{e:?}");
        assert!(e.message_end <= e.end, "{e:?}");
        assert!(e.end <= buf.len());
        assert!(
            buf[e.offset..].starts_with(b"From "),
            "entry at a From_ line"
        );
        if let Some(next) = entries.get(i + 1) {
            assert_eq!(e.end, next.offset, "entries tile the file, in order");
        }
        // The accessors never panic on what the splitter returned.
        let _ = e.from_line(buf);
        let _ = e.message(buf);
        let _ = maildedup::store::mbox::from_line_time(e.from_line(buf));
    }
}

fuzz_target!(|buf: &[u8]| {
    let whole = split(buf);
    assert_eq!(whole.is_some(), looks_like_mbox(buf));
    let Some(whole) = whole else { return };
    check(buf, &whole);
    // The chunked path (normally above 8 MiB, 16 MiB chunks) at a size that puts
    // boundaries anywhere: from 1 byte on small inputs to 1/16 of the input and more on
    // big ones (tiny chunks of a big input would only make the run slow). The same
    // entries, and every byte after the first From_ line released exactly once.
    let b = buf.last().copied().unwrap_or(0) as usize;
    let chunk = (buf.len() / (1 + b % 16)).max(1) / (1 + (b >> 4) % 8) + b % 7;
    let released = Mutex::new(Vec::new());
    let record = |off: usize, len: usize| {
        if let Ok(mut r) = released.lock() {
            r.push((off, len));
        }
    };
    let chunked = split_chunked(buf, &record, 0, chunk).expect("same answer to 'is it an mbox'");
    assert_eq!(whole, chunked, "chunk size {chunk} changed the split");
    // The windowed split the scan runs over pread: the same entries whatever the windows.
    let margin = 1 + (b >> 3) % 64;
    let windowed = maildedup::store::mbox::split_source_chunked(
        &maildedup::store::mbox::Bytes(buf),
        None,
        0,
        chunk,
        margin,
    )
    .expect("reads from memory do not fail")
    .expect("same answer to 'is it an mbox'");
    assert_eq!(whole, windowed.entries, "windows of {chunk}/{margin} changed the split");
    let mut r = released.into_inner().unwrap_or_default();
    r.sort_unstable();
    let mut at = None;
    for (off, len) in r {
        assert!(off + len <= buf.len(), "release within bounds");
        if let Some(prev) = at {
            assert_eq!(off, prev, "released ranges do not overlap or leave gaps");
        }
        at = Some(off + len);
    }
});
