//! Property: an mbox built from arbitrary messages — bodies with `From ` lines, `>From`
//! lines, CRLF or LF — splits back into exactly those messages, byte for byte, and the
//! entries tile the file.

use maildedup::store::mbox::split;
use proptest::prelude::*;

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 .,:]{0,40}",
        Just("From ".to_string()),
        "From [a-z]{1,8}( [a-z]{1,8})?",
        ">+From [a-z ]{0,12}",
        "[A-Z][a-z]{1,8}: [a-z ]{0,12}",
        Just(String::new()),
    ]
}

#[derive(Debug, Clone)]
struct Msg {
    headers: Vec<(String, String)>,
    body: Vec<String>,
}

fn message() -> impl Strategy<Value = Msg> {
    (
        prop::collection::vec(("[A-Z][a-z]{1,8}(-[A-Z][a-z]{1,6})?", "[ -~]{0,30}"), 1..5),
        prop::collection::vec(line(), 0..12),
    )
        .prop_map(|(headers, body)| Msg { headers, body })
}

/// Quotes a body the way an mboxrd writer does: `>*From ` gains one `>`.
fn quote(line: &str) -> String {
    if line.trim_start_matches('>').starts_with("From ") {
        format!(">{line}")
    } else {
        line.to_string()
    }
}

fn render(m: &Msg, eol: &str) -> String {
    let mut s = String::new();
    for (n, v) in &m.headers {
        s.push_str(&format!("{n}: {}{eol}", v.trim_end()));
    }
    s.push_str(eol);
    for l in &m.body {
        s.push_str(&quote(l));
        s.push_str(eol);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn split_gives_back_every_message(msgs in prop::collection::vec(message(), 1..8), crlf in any::<bool>(), takeout in any::<bool>()) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut file = String::new();
        let mut expected = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let from = if takeout {
                format!("From 17293847561234{i:05}@xxx Sat Jan 03 01:05:34 +0000 2022{eol}")
            } else {
                format!("From sender{i}@example.com Sat Jan  3 01:05:{:02} 2022{eol}", i % 60)
            };
            file.push_str(&from);
            let text = render(m, eol);
            expected.push(text.clone());
            file.push_str(&text);
            file.push_str(eol); // the separator blank line
        }
        let buf = file.as_bytes();
        let entries = split(buf).expect("an mbox");
        let got: Vec<String> = entries.iter().map(|e| String::from_utf8_lossy(e.message(buf)).into_owned()).collect();
        prop_assert_eq!(&got, &expected);
        // Entries tile the file: nothing lost between or after them.
        prop_assert_eq!(entries[0].offset, 0);
        for w in entries.windows(2) {
            prop_assert_eq!(w[0].end, w[1].offset);
        }
        prop_assert_eq!(entries.last().map(|e| e.end), Some(buf.len()));
    }

    #[test]
    fn split_never_panics_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..2000), prefix in any::<bool>()) {
        let mut buf = if prefix { b"From x Sat Jan  3 01:05:34 2022\nA: b\n\n".to_vec() } else { Vec::new() };
        buf.extend_from_slice(&data);
        if let Some(entries) = split(&buf) {
            let mut at = entries.first().map(|e| e.offset).unwrap_or(0);
            for e in &entries {
                prop_assert_eq!(e.offset, at);
                prop_assert!(e.message_start <= e.message_end && e.message_end <= e.end);
                at = e.end;
            }
            prop_assert_eq!(at, buf.len());
        }
    }
}

/// Above 8 MiB the file is searched in 16 MiB chunks on every core: the result must be
/// the same message by message, including messages that straddle a chunk boundary.
#[test]
fn a_big_mbox_splits_across_chunks_exactly() {
    let mut file = Vec::new();
    let mut expected = Vec::new();
    let mut i = 0u32;
    while file.len() < 40 << 20 {
        let eol = if i.is_multiple_of(3) { "\r\n" } else { "\n" };
        let from = format!(
            "From s{i}@example.com Sat Jan  3 01:05:{:02} 2022{eol}",
            i % 60
        );
        let mut msg = format!("Message-ID: <{i}@example.com>{eol}Subject: n{i}{eol}{eol}");
        for l in 0..(i % 50) {
            msg.push_str(&format!("line {l} of {i}{eol}"));
            if l % 17 == 3 {
                msg.push_str(&format!(">From quoted {l}{eol}"));
            }
        }
        if i.is_multiple_of(7) {
            // A big body so that some messages straddle chunk boundaries.
            msg.push_str(&"x".repeat(300_000));
            msg.push_str(eol);
        }
        file.extend_from_slice(from.as_bytes());
        file.extend_from_slice(msg.as_bytes());
        file.extend_from_slice(eol.as_bytes());
        expected.push(msg);
        i += 1;
    }
    let released = std::sync::atomic::AtomicUsize::new(0);
    let entries = maildedup::store::mbox::split_releasing(&file, &|_, len| {
        released.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
    })
    .expect("an mbox");
    assert_eq!(entries.len(), expected.len());
    for (e, want) in entries.iter().zip(&expected) {
        assert_eq!(e.message(&file), want.as_bytes());
    }
    assert_eq!(entries.last().map(|e| e.end), Some(file.len()));
    // Every byte after the first From_ line's start was handed back exactly once.
    assert_eq!(released.into_inner(), file.len() - 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// The incremental re-split the fingerprint cache does on an mbox that grew: when the
    /// old file's horizon is within its size, the entries before its old last entry stay
    /// as they were, and splitting from that entry's From_ line gives exactly the rest.
    #[test]
    fn a_grown_mbox_resplit_from_its_old_last_entry_is_exact(
        lines in prop::collection::vec(split_line(), 1..60),
        crlf in any::<bool>(),
        cut in 0.0f64..1.0,
    ) {
        use maildedup::store::mbox::split_from;
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut file = format!("From a Sat Jan  3 01:05:34 2022{eol}A: b{eol}");
        for l in &lines {
            file.push_str(l);
            file.push_str(eol);
        }
        let b = file.as_bytes();
        let min = 10;
        let n = min + ((b.len() - min) as f64 * cut) as usize;
        let a = &b[..n];
        let none = &|_: usize, _: usize| {};
        let (Some(old), Some(new)) = (split_from(a, None, none), split_from(b, None, none)) else {
            return Ok(());
        };
        let l = old.entries.len() - 1;
        let last = old.entries[l];
        if old.horizon > last.offset {
            return Ok(());
        }
        prop_assert_eq!(&new.entries[..l], &old.entries[..l]);
        let tail = split_from(b, Some(last.offset), none).expect("still a separator");
        prop_assert_eq!(&tail.entries[..], &new.entries[l..]);
    }
}

fn split_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("From a Sat Jan  3 01:05:34 2022".to_string()),
        Just("From b".to_string()),
        Just("From - x".to_string()),
        (0u32..120).prop_map(|n| format!("Content-Length: {n}")),
        "[A-Z][a-z]{0,3}: [a-z]{0,6}",
        "[a-z ]{0,12}",
        Just(String::new()),
        Just(String::new()),
    ]
}

fn raw_line() -> impl Strategy<Value = String> {
    prop_oneof![
        split_line(),
        Just("\r".to_string()),
        Just("From a Sat Jan  3 01:05:34 2022\r".to_string()),
        "[A-Z][a-z]{0,3}:[ \r]{0,2}[a-z]{0,3}",
        "[ \t]{0,2}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]
    /// The split that reads a file window by window with `pread` (`split_source`, used by
    /// the scan so that a file truncated under it cannot fault the process) gives exactly
    /// the split of the whole buffer, whatever the window sizes: every re-read (a
    /// separator or header block crossing a window's end, a Content-Length landing, the
    /// preamble) is driven by windows of a few bytes.
    #[test]
    fn windowed_split_is_the_whole_buffer_split(
        lines in prop::collection::vec(raw_line(), 0..50),
        eols in prop::collection::vec(0u8..3, 50),
        preamble in "(\u{feff})?[\n ]{0,3}",
        threshold in 0usize..64,
        chunk in 1usize..48,
        margin in 1usize..40,
    ) {
        use maildedup::store::mbox::{split_from, split_source_chunked, Bytes};
        let mut file = format!("{preamble}From a Sat Jan  3 01:05:34 2022\nA: b\n");
        for (i, l) in lines.iter().enumerate() {
            file.push_str(l);
            file.push_str(["\n", "\r\n", ""][eols[i] as usize]);
        }
        let b = file.as_bytes();
        let none = &|_: usize, _: usize| {};
        let whole = split_from(b, None, none);
        let windowed = split_source_chunked(&Bytes(b), None, threshold, chunk, margin)
            .expect("reads from memory do not fail");
        prop_assert_eq!(whole.is_some(), windowed.is_some());
        let (Some(whole), Some(windowed)) = (whole, windowed) else {
            return Ok(());
        };
        prop_assert_eq!(&whole.entries, &windowed.entries);
        prop_assert_eq!(whole.horizon, windowed.horizon);
        // And from any entry's From_ line, as a grown mbox is re-split.
        for e in whole.entries.iter().skip(1) {
            let a = split_from(b, Some(e.offset), none).expect("a separator");
            let w = split_source_chunked(&Bytes(b), Some(e.offset), threshold, chunk, margin)
                .expect("reads from memory do not fail")
                .expect("a separator");
            prop_assert_eq!(&a.entries, &w.entries);
            prop_assert_eq!(a.horizon, w.horizon);
        }
    }
}
