//! `--merge-conflicts KIND,...` (issue 13, item 2): opt-in only, conflicts of the chosen
//! kinds are treated as duplicates; the undecorated copy of a list copy is kept; any other
//! difference keeps the conflict a conflict; quarantine and restore stay exact.

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;
use tempfile::TempDir;

fn msg(subject: &str, body: &str, extra_headers: &str) -> String {
    format!(
        "Received: from mx.example.org by mail.example.com; Tue, 2 Jan 2024 10:00:00 +0000\n\
         From: Ann <ann@example.org>\nTo: dev@lists.example.org\nSubject: {subject}\n\
         Date: Tue, 2 Jan 2024 09:59:00 +0000\nMessage-ID: <release-1@example.org>\n{extra_headers}\n{body}"
    )
}

const BODY: &str = "The release is out.\n";
const FOOTER: &str = "The release is out.\n-- \ndev mailing list\nhttps://lists.example.org/dev\n";

fn maildir(root: &Path, files: &[(&str, String)]) {
    for d in ["cur", "new", "tmp"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for (name, text) in files {
        fs::write(root.join("cur").join(name), text).unwrap();
    }
}

fn scan(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["scan", "--json", "--no-progress", "--no-cache"];
    args.extend_from_slice(extra);
    let p = s(dir);
    args.push(&p);
    let out = md(&args);
    out.expect_code(0, "scan");
    out.json()
}

fn copies_of(v: &Value, g: usize) -> Vec<(String, bool)> {
    v["groups"][g]["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let p = c["path"].as_str().unwrap();
            (p.rsplit('/').next().unwrap().to_string(), c["keep"] == true)
        })
        .collect()
}

#[test]
fn a_list_copy_is_a_conflict_unless_asked_and_then_the_plain_copy_stays() {
    let td = TempDir::new().unwrap();
    let md_dir = td.path().join("Maildir");
    // The list copy arrived first, so the keep rules alone would keep it.
    maildir(
        &md_dir,
        &[
            (
                "1704189600.M1P1.host:2,S",
                msg(
                    "[dev] Release 1.0",
                    FOOTER,
                    "List-Id: <dev.lists.example.org>\n",
                ),
            ),
            ("1704189660.M2P2.host:2,S", msg("Release 1.0", BODY, "")),
        ],
    );
    let plain = scan(&md_dir, &[]);
    assert_eq!(plain["summary"]["conflicts"], 1, "{plain:#}");
    assert_eq!(plain["summary"]["groups"], 0);
    assert_eq!(plain["summary"]["merged_conflicts"], 0);
    assert_eq!(plain["conflicts"][0]["kind"], "list-copy");

    // Asked for another kind only: still a conflict.
    let other = scan(&md_dir, &["--merge-conflicts", "transfer-encoding"]);
    assert_eq!(other["summary"]["conflicts"], 1, "{other:#}");

    let merged = scan(&md_dir, &["--merge-conflicts", "list-copy"]);
    assert_eq!(merged["summary"]["conflicts"], 0, "{merged:#}");
    assert_eq!(merged["summary"]["merged_conflicts"], 1);
    assert_eq!(merged["groups"][0]["merged_kind"], "list-copy");
    assert_eq!(
        copies_of(&merged, 0),
        [
            ("1704189660.M2P2.host:2,S".to_string(), true),
            ("1704189600.M1P1.host:2,S".to_string(), false)
        ],
        "the undecorated copy is kept although delivered later"
    );
    // Ordinary groups carry no merged_kind.
    assert!(plain["groups"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g.get("merged_kind").is_none()));
}

#[test]
fn a_conflict_with_an_edited_variant_stays_whole() {
    let td = TempDir::new().unwrap();
    let md_dir = td.path().join("Maildir");
    maildir(
        &md_dir,
        &[
            (
                "1704189600.M1P1.host:2,S",
                msg("[dev] Release 1.0", FOOTER, ""),
            ),
            ("1704189660.M2P2.host:2,S", msg("Release 1.0", BODY, "")),
            (
                "1704189720.M3P3.host:2,S",
                msg("Release 1.0", "The release is NOT out.\n", ""),
            ),
        ],
    );
    let v = scan(
        &md_dir,
        &["--merge-conflicts", "list-copy,transfer-encoding"],
    );
    assert_eq!(v["summary"]["conflicts"], 1, "{v:#}");
    assert_eq!(v["summary"]["merged_conflicts"], 0);
    assert_eq!(v["summary"]["groups"], 0);
}

#[test]
fn a_re_encoded_copy_merges_only_when_asked() {
    let td = TempDir::new().unwrap();
    let md_dir = td.path().join("Maildir");
    let eight = msg(
        "Café",
        "Caf\u{e9} au lait.\n",
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n",
    );
    let qp = msg(
        "Café",
        "Caf=C3=A9 au lait.\n",
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n",
    );
    maildir(
        &md_dir,
        &[
            ("1704189600.M1P1.host:2,S", eight),
            ("1704189600.M2P2.host:2,S", qp),
        ],
    );
    let v = scan(&md_dir, &[]);
    assert_eq!(v["conflicts"][0]["kind"], "transfer-encoding", "{v:#}");
    let v = scan(&md_dir, &["--merge-conflicts", "list-copy"]);
    assert_eq!(v["summary"]["conflicts"], 1, "{v:#}");
    let v = scan(&md_dir, &["--merge-conflicts", "transfer-encoding"]);
    assert_eq!(v["summary"]["merged_conflicts"], 1, "{v:#}");
    assert_eq!(v["groups"][0]["merged_kind"], "transfer-encoding");
    assert_eq!(v["groups"][0]["copies"][1]["class"], "same-time");
}

#[test]
fn a_merged_list_copy_quarantines_and_restores_exactly() {
    let td = TempDir::new().unwrap();
    let tree = td.path().join("tree");
    let inbox = tree.join("Maildir");
    maildir(
        &inbox,
        &[("1704189660.M2P2.host:2,S", msg("Release 1.0", BODY, ""))],
    );
    maildir(
        &inbox.join(".Lists.dev"),
        &[(
            "1704189600.M1P1.host:2,S",
            msg("[dev] Release 1.0", FOOTER, ""),
        )],
    );
    fs::write(inbox.join(".Lists.dev/maildirfolder"), "").unwrap();
    let before = snapshot(&tree);
    let qdir = td.path().join("q");
    // Under the folder rule the list folder keeps its only copy: nothing moves.
    let out = md([
        "quarantine",
        "--no-progress",
        "--no-cache",
        "--merge-conflicts",
        "list-copy",
        &s(&tree),
        "--to",
        &s(&qdir),
    ]);
    out.expect_code(0, "quarantine");
    assert_same(&before, &snapshot(&tree), "folder rule: nothing moved");
    // Across folders the list copy moves and the plain copy stays.
    let out = quarantine(
        &[&tree],
        &qdir,
        &["--no-cache", "--merge-conflicts", "list-copy"],
    );
    out.expect_code(0, "quarantine");
    assert!(names(&inbox.join(".Lists.dev/cur")).is_empty());
    assert_eq!(names(&inbox.join("cur")), ["1704189660.M2P2.host:2,S"]);
    let moves = manifest(&qdir);
    let moved = records(&moves, "maildir-move");
    assert_eq!(moved.len(), 1);
    let out = restore(&qdir, &[]);
    out.expect_code(0, "restore");
    assert_same(&before, &snapshot(&tree), "restore puts the list copy back");
}
