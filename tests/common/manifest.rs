//! Reading a quarantine folder: its manifest records and its files.
#![allow(dead_code)]

use serde_json::Value;
use std::fs;
use std::path::Path;

/// Every manifest line, parsed (a line that is not JSON panics).
pub fn manifest(qdir: &Path) -> Vec<Value> {
    let text = fs::read_to_string(qdir.join("manifest.jsonl")).expect("read manifest");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("manifest line {l}: {e}")))
        .collect()
}

pub fn records<'a>(m: &'a [Value], kind: &str) -> Vec<&'a Value> {
    m.iter().filter(|r| r["type"] == kind).collect()
}

/// The files in `dir` (names), or nothing when it does not exist.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}
