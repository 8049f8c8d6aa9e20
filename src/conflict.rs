//! Explaining a conflict: which header fields and whether the body differ between copies
//! that share a Message-ID but not their content.

use crate::discover::Store;
use crate::fingerprint::{body_digest, is_ignored, HeaderFacts};
use crate::message::{normalise_value, scan_fields};
use crate::scan::{message_bytes, Copy};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Differences {
    /// Header fields (lowercase names) whose values differ, among those the content hash
    /// covers.
    pub headers: Vec<String>,
    /// Whether the normalised bodies differ.
    pub body: bool,
}

/// The hashed header fields of a message, by lowercase name, values normalised.
fn hashed_fields(msg: &[u8]) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    scan_fields(msg, |name, value| {
        if is_ignored(name) {
            return;
        }
        let mut v = Vec::new();
        normalise_value(value, &mut v);
        out.entry(String::from_utf8_lossy(name).to_ascii_lowercase())
            .or_default()
            .push(v);
    });
    out
}

/// Compares every copy with the first one. Copies that cannot be read any more are left
/// out of the comparison.
pub fn describe(copies: &[&Copy], stores: &[Store]) -> Differences {
    let mut scratch = Vec::new();
    let mut read = copies.iter().filter_map(|c| message_bytes(c, stores).ok());
    let Some(first) = read.next() else {
        return Differences::default();
    };
    let first_fields = hashed_fields(&first);
    let first_body = body_digest(
        &first[HeaderFacts::read(&first, &mut scratch).body_start..],
        &mut scratch,
    );
    let mut headers = BTreeSet::new();
    let mut body = false;
    for other in read {
        let fields = hashed_fields(&other);
        for name in first_fields.keys().chain(fields.keys()) {
            if first_fields.get(name) != fields.get(name) {
                headers.insert(if name.is_empty() {
                    "(non-header line)".to_string()
                } else {
                    name.clone()
                });
            }
        }
        let b = body_digest(
            &other[HeaderFacts::read(&other, &mut scratch).body_start..],
            &mut scratch,
        );
        body |= b != first_body;
    }
    Differences {
        headers: headers.into_iter().collect(),
        body,
    }
}
