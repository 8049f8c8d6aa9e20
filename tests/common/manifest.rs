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

/// The manifest's lines as they are (for tests that damage or edit it).
pub fn manifest_lines(qdir: &Path) -> Vec<String> {
    fs::read_to_string(qdir.join("manifest.jsonl"))
        .unwrap_or_else(|e| panic!("read {}/manifest.jsonl: {e}", qdir.display()))
        .lines()
        .map(String::from)
        .collect()
}

/// Replaces the manifest with these lines, each ended by a newline.
pub fn write_manifest_lines(qdir: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(qdir.join("manifest.jsonl"), text)
        .unwrap_or_else(|e| panic!("write {}/manifest.jsonl: {e}", qdir.display()));
}

/// Replaces the manifest with these records, one JSON line each.
pub fn write_manifest(qdir: &Path, records: &[Value]) {
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    write_manifest_lines(qdir, &lines);
}

/// Rewrites every record of the manifest through `edit(line number, record)`, which says
/// whether it changed it; returns how many it changed. A line that is not JSON panics.
pub fn rewrite_manifest(qdir: &Path, edit: impl Fn(usize, &mut Value) -> bool) -> usize {
    let mut edited = 0;
    let lines: Vec<String> = manifest_lines(qdir)
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("manifest line {i} {l}: {e}"));
            if edit(i, &mut v) {
                edited += 1;
            }
            v.to_string()
        })
        .collect();
    write_manifest_lines(qdir, &lines);
    edited
}

/// The newest record of type `kind`, skipping lines that are not JSON (a killed run may
/// leave a torn last line); `None` without a manifest.
pub fn last_record(qdir: &Path, kind: &str) -> Option<Value> {
    let text = fs::read_to_string(qdir.join("manifest.jsonl")).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|r| r["type"] == kind)
}
