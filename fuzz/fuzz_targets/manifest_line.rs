//! Reading one manifest line: never panics; a record that parses writes back to a line
//! that parses to the same record.
#![no_main]
use libfuzzer_sys::fuzz_target;
use maildedup::act::manifest::Record;
use maildedup::model::encode::unb64;

fuzz_target!(|line: &[u8]| {
    let Ok(r) = serde_json::from_slice::<Record>(line) else {
        return;
    };
    let out = serde_json::to_vec(&r).expect("a record serialises");
    let back: Record = serde_json::from_slice(&out).expect("what we write we read");
    assert_eq!(back, r);
    if let Record::MboxExtract {
        from_line,
        separator,
        ..
    } = &r
    {
        let _ = unb64(from_line);
        let _ = unb64(separator);
    }
});
