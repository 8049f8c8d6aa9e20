//! Folders of `.eml` files are stores of their own kind (issue 13, item 5): one message
//! per file, delivery time from the headers then the file's mtime, never a one-message
//! mbox, and quarantined and restored by moving the file as it is.

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};
use tempfile::TempDir;

const MSG: &str =
    "Received: from mx.example.org by mail.example.com; Tue, 2 Jan 2024 10:00:00 +0000\n\
From: Ann <ann@example.org>\nTo: bob@example.com\nSubject: minutes\n\
Date: Tue, 2 Jan 2024 09:59:00 +0000\nMessage-ID: <minutes-1@example.org>\n\nThe minutes.\n";

const NO_RECEIVED: &str = "From: Ann <ann@example.org>\nTo: bob@example.com\nSubject: saved\n\
Date: Wed, 3 Jan 2024 09:00:00 +0000\nMessage-ID: <saved-1@example.org>\n\nSaved by hand.\n";

fn set_mtime(p: &Path, unix: u64) {
    let f = fs::File::options().write(true).open(p).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(unix))
        .unwrap();
}

fn stores(v: &Value) -> Vec<(String, String, u64)> {
    v["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["kind"].as_str().unwrap().to_string(),
                s["messages"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn all_copies(v: &Value) -> Vec<Value> {
    v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["copies"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn a_folder_of_eml_files_is_one_store_and_its_copies_group() {
    let td = TempDir::new().unwrap();
    let dir = td.path().join("saved");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("minutes.eml"), MSG).unwrap();
    fs::write(dir.join("minutes (1).EML"), MSG).unwrap();
    // Saved with its mbox From_ line: one message of this store, not a one-message mbox.
    fs::write(
        dir.join("with-from-line.eml"),
        format!("From ann@example.org Tue Jan  2 10:00:00 2024\n{NO_RECEIVED}"),
    )
    .unwrap();
    fs::write(dir.join("notes.txt"), "not mail, and not an .eml").unwrap();
    let v = scan_json(&[td.path()]);
    assert_eq!(
        stores(&v),
        [(s(&dir), "eml".to_string(), 3)],
        "one eml store of 3 messages: {v:#}"
    );
    assert_eq!(v["summary"]["eml_stores"], 1);
    assert_eq!(v["summary"]["mbox_stores"], 0);
    assert_eq!(v["summary"]["messages"], 3);
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{v:#}");
    assert_eq!(groups[0]["message_id"], "<minutes-1@example.org>");
    let extra: Vec<&Value> = groups[0]["copies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["keep"] == false)
        .collect();
    assert_eq!(extra.len(), 1);
    assert_eq!(extra[0]["class"], "same-time");
    assert_eq!(extra[0]["scope"], "same-folder");
}

#[test]
fn delivery_time_comes_from_the_headers_then_the_mtime() {
    let td = TempDir::new().unwrap();
    let dir = td.path().join("saved");
    fs::create_dir(&dir).unwrap();
    for name in ["a.eml", "b.eml"] {
        fs::write(dir.join(name), MSG).unwrap();
    }
    for name in ["c.eml", "d.eml"] {
        fs::write(dir.join(name), NO_RECEIVED).unwrap();
    }
    // Saved a day apart: the mtime is all there is.
    set_mtime(&dir.join("c.eml"), 1_704_276_000); // 2024-01-03T10:00:00Z
    set_mtime(&dir.join("d.eml"), 1_704_362_400); // 2024-01-04T10:00:00Z
    let v = scan_json(&[&dir]);
    let copies = all_copies(&v);
    let by_name = |n: &str| {
        copies
            .iter()
            .find(|c| c["path"].as_str().unwrap().ends_with(n))
            .unwrap_or_else(|| panic!("{n} in a group: {v:#}"))
            .clone()
    };
    assert_eq!(by_name("a.eml")["time_source"], "received-header");
    assert_eq!(by_name("a.eml")["delivered_at"], "2024-01-02T10:00:00Z");
    assert_eq!(by_name("c.eml")["time_source"], "file-mtime");
    assert_eq!(by_name("c.eml")["delivered_at"], "2024-01-03T10:00:00Z");
    let d = by_name("d.eml");
    assert_eq!(d["keep"], false, "the later save is the extra copy");
    assert_eq!(d["class"], "different-time");
}

#[test]
fn one_eml_file_given_as_a_path_is_a_store() {
    let td = TempDir::new().unwrap();
    let f = td.path().join("one.eml");
    fs::write(&f, MSG).unwrap();
    let v = scan_json(&[&f]);
    assert_eq!(stores(&v), [(s(&f), "eml".to_string(), 1)], "{v:#}");
    // A file that is not mail is skipped with its reason, never a store.
    let bad = td.path().join("bad.eml");
    fs::write(&bad, [0u8, 159, 146, 150, 0, 1, 2]).unwrap();
    let v = scan_json(&[&bad]);
    assert_eq!(v["summary"]["messages"], 0, "{v:#}");
    let skipped = v["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|k| k["reason"].as_str().unwrap().starts_with("not mail")),
        "{v:#}"
    );
}

#[test]
fn real_eml_files_scan_as_eml() {
    // Dovecot's MIME edge cases (via stalwart mail-parser, MIT), none with a Message-ID.
    let td = TempDir::new().unwrap();
    let dir = td.path().join("thirdparty");
    copy_dir(&fixtures().join("eml"), &dir);
    fs::copy(dir.join("001.eml"), dir.join("001 copy.eml")).unwrap();
    let v = scan_json(&[&dir]);
    assert_eq!(stores(&v), [(s(&dir), "eml".to_string(), 5)], "{v:#}");
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{v:#}");
    assert_eq!(groups[0]["copies"].as_array().unwrap().len(), 2);
}

#[test]
fn an_extra_eml_file_is_quarantined_and_restored_byte_exact() {
    let td = TempDir::new().unwrap();
    let tree = td.path().join("tree");
    let dir = tree.join("saved");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("minutes.eml"), MSG).unwrap();
    fs::write(dir.join("minutes (1).eml"), MSG).unwrap();
    fs::write(dir.join("other.eml"), NO_RECEIVED).unwrap();
    let before = snapshot(&tree);
    let qdir = td.path().join("q");
    let out = quarantine(&[&tree], &qdir, &["--no-cache"]);
    out.expect_code(0, "quarantine");
    let mut left = names(&dir);
    left.sort();
    assert_eq!(left.len(), 2, "one of the two copies moved: {left:?}");
    assert!(left.contains(&"other.eml".to_string()));
    let moves = manifest(&qdir);
    assert_eq!(records(&moves, "maildir-move").len(), 1, "{moves:?}");
    let moved: Vec<String> = names(&qdir.join("cur"));
    assert_eq!(moved.len(), 1);
    assert_eq!(
        fs::read(qdir.join("cur").join(&moved[0])).unwrap(),
        MSG.as_bytes()
    );
    let out = restore(&qdir, &[]);
    out.expect_code(0, "restore");
    assert_same(&before, &snapshot(&tree), "restore puts the .eml back");
}
