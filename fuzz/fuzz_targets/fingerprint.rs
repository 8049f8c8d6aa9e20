//! Fingerprinting one message: header facts, Message-ID normalisation, delivery-time
//! parsing (RFC 822 dates and From_ line dates), header digest, body digest, content hash.
#![no_main]
use libfuzzer_sys::fuzz_target;
use maildedup::identity::{
    body_digest, header_digest, message_hash_and_id, normalise_message_id, parse_rfc822_date,
    HeaderFacts,
};
use maildedup::store::mbox::from_line_time;

fuzz_target!(|msg: &[u8]| {
    let mut scratch = Vec::new();
    let facts = HeaderFacts::read(msg, &mut scratch);
    let only = HeaderFacts::read_facts(msg);
    assert_eq!(facts.message_id, only.message_id);
    assert_eq!(facts.body_start, only.body_start);
    assert!(facts.body_start <= msg.len());
    assert_eq!(facts.header_digest, header_digest(msg, &mut scratch));
    if let Some(id) = &facts.message_id {
        assert!(
            id.starts_with('<') && id.ends_with('>') && id.len() > 2,
            "{id:?}"
        );
        assert!(!id.bytes().any(|b| b.is_ascii_whitespace()), "{id:?}");
        // Not idempotent in general (`a>;>` gives `<a>;>`, which gives `<a>`), and it
        // need not be: the raw header is what is normalised, every time.
        assert!(normalise_message_id(id.as_bytes()).is_some());
    }
    // Stage 1 + stage 2 give the same hash as the one-call path, and it is deterministic.
    let (hash, id) = message_hash_and_id(msg, &mut scratch);
    assert_eq!(id, facts.message_id);
    let body = body_digest(&msg[facts.body_start..], &mut scratch);
    assert_eq!(
        hash,
        maildedup::identity::content_hash(&facts.header_digest, &body)
    );
    // CRLF and LF copies of one body digest alike.
    let lf: Vec<u8> = msg[facts.body_start..]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect::<Vec<_>>()
        .join(&b"\n"[..]);
    if !lf.contains(&b'\r') {
        assert_eq!(body, body_digest(&lf, &mut scratch), "CRLF vs LF body");
    }
    // Date parsers on arbitrary text: no panic, and a From_ line date is a real instant.
    if let Some(t) = parse_rfc822_date(msg) {
        assert!(maildedup::model::encode::rfc3339(t).is_some(), "{t}");
    }
    let mut line = b"From x@y ".to_vec();
    line.extend_from_slice(&msg[..msg.len().min(200)]);
    if let Some(t) = from_line_time(&line) {
        assert!(maildedup::model::encode::rfc3339(t).is_some(), "{t}");
    }
    let _ = from_line_time(msg);
});
