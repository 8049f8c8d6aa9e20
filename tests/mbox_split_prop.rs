//! Property: an mbox built from arbitrary messages — bodies with `From ` lines, `>From`
//! lines, CRLF or LF — splits back into exactly those messages, byte for byte, and the
//! entries tile the file.

use maildedup::read::mbox::split;
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
