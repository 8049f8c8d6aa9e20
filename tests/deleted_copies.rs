//! Issue 20: a copy the user deleted is never the one kept.
//!
//! Mail clients delete in two steps (mark, then expunge or compact). A copy marked deleted
//! — Maildir `T`, mbox `X-Status: D`, Thunderbird's IMAP-deleted bit in
//! `X-Mozilla-Status2` — is never kept while a live copy exists, whatever `--keep` and
//! `--prefer` say; a set of deleted copies only is left whole. Thunderbird messages marked
//! expunged (`X-Mozilla-Status` 0x0008, awaiting compaction) are reported apart and never
//! grouped nor moved. A flag merge into a Thunderbird mbox writes `X-Mozilla-Status` in
//! place, at its width, and restore gives back every byte.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

const MSG: &str = "Message-ID: <issue20@test.example.org>\n\
From: Ann Example <ann@example.org>\n\
To: bob@example.org\n\
Subject: the copy the user deleted\n\
Date: Thu, 11 Jan 2024 09:59:00 +0000\n\
\n\
Hello Bob,\n\
From here on, the body.\n";

/// `X-Mozilla-Keys:` as Thunderbird writes it: padded with spaces for in-place edits.
fn keys() -> String {
    format!("X-Mozilla-Keys: {}\n", " ".repeat(80))
}

/// One Thunderbird mbox entry: `From - DATE`, the Mozilla fields right after it, the
/// message (`From ` in the body quoted), and the blank line before the next entry.
fn tb_entry(date: &str, status: &str, status2: &str, msg: &str) -> String {
    format!(
        "From - {date}\nX-Mozilla-Status: {status}\nX-Mozilla-Status2: {status2}\n{}{}\n",
        keys(),
        msg.replace("\nFrom here", "\n>From here")
    )
}

fn other_msg(n: u32) -> String {
    format!(
        "Message-ID: <other-{n}@test.example.org>\nFrom: carl@example.org\n\
Subject: not a duplicate {n}\nDate: Thu, 11 Jan 2024 08:00:00 +0000\n\nhello {n}\n"
    )
}

fn maildir(root: &Path) -> PathBuf {
    let md = root.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(md.join(sub)).unwrap();
    }
    md
}

fn groups(scan: &Value) -> &Vec<Value> {
    scan["groups"].as_array().expect("groups")
}

/// (path, offset) of the kept copy of the only group.
fn kept_of_only_group(scan: &Value) -> (String, Option<u64>) {
    let g = groups(scan);
    assert_eq!(g.len(), 1, "one group: {scan:#}");
    let kept: Vec<&Value> = g[0]["copies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["keep"] == true)
        .collect();
    assert_eq!(kept.len(), 1, "{scan:#}");
    (
        kept[0]["path"].as_str().unwrap().to_string(),
        kept[0]["offset"].as_u64(),
    )
}

fn dry_run(paths: &[&Path], qdir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--dry-run", "--json"];
    args.extend_from_slice(extra);
    let out = quarantine(paths, qdir, &args);
    out.expect_code(0, "quarantine --dry-run");
    out.json()
}

fn scan_with(paths: &[&Path], extra: &[&str]) -> Value {
    let mut args = vec![
        "scan".to_string(),
        "--json".into(),
        "--no-progress".into(),
        "--across-folders".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(paths.iter().map(|p| s(p)));
    let out = md(&args);
    out.expect_code(0, "scan");
    out.json()
}

/// Every keep option there is: the default, `--keep latest`, `--keep earliest`, and
/// `--prefer` pointing at `prefer` (a deleted copy's location).
fn keep_options(prefer: &Path) -> Vec<Vec<String>> {
    vec![
        vec![],
        vec!["--keep".into(), "latest".into()],
        vec!["--keep".into(), "earliest".into()],
        vec!["--prefer".into(), s(prefer)],
        vec![
            "--prefer".into(),
            s(prefer),
            "--keep".into(),
            "latest".into(),
        ],
    ]
}

#[test]
fn thunderbird_expunged_copy_is_reported_apart_and_never_moved() {
    let (_td, root) = canonical_tempdir();
    let inbox = root.join("Inbox");
    // The first copy is read + expunged (0009): Thunderbird no longer shows it and drops
    // it at the next compaction. The second is the live copy the user sees.
    let text = format!(
        "{}{}{}",
        tb_entry("Thu Jan 11 10:00:00 2024", "0009", "00000000", MSG),
        tb_entry("Thu Jan 11 12:00:00 2024", "0001", "00000000", MSG),
        tb_entry(
            "Thu Jan 11 08:00:00 2024",
            "0000",
            "00000000",
            &other_msg(1)
        ),
    );
    fs::write(&inbox, &text).unwrap();
    let qdir = root.join("q");

    let scan = scan_json(&[&inbox]);
    assert_eq!(scan["summary"]["messages"], 3, "{scan:#}");
    assert_eq!(scan["summary"]["groups"], 0, "not a duplicate of live mail");
    assert_eq!(scan["summary"]["extra_copies"], 0);
    assert_eq!(scan["summary"]["conflicts"], 0);
    assert_eq!(scan["awaiting_compaction"], 1, "{scan:#}");
    let per: &Vec<Value> = scan["awaiting_compaction_stores"].as_array().unwrap();
    assert_eq!(per.len(), 1);
    assert_eq!(per[0]["path"], s(&inbox));
    assert_eq!(per[0]["messages"], 1);

    let out = md([
        "scan",
        "--across-folders",
        "--no-progress",
        "-v",
        &s(&inbox),
    ]);
    out.expect_code(0, "scan -v");
    assert!(
        out.stdout.contains("Deleted, awaiting compaction: 1"),
        "{}",
        out.stdout
    );
    // The per-store row: messages groups extras same diff conflicts skipped expunged.
    let row: Vec<u64> = out
        .stdout
        .lines()
        .find(|l| l.ends_with("Inbox (mbox)"))
        .unwrap_or_else(|| panic!("no row: {}", out.stdout))
        .split_whitespace()
        .take(8)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(row, [3, 0, 0, 0, 0, 0, 0, 1]);

    let plan = dry_run(&[&inbox], &qdir, &[]);
    assert_eq!(plan["summary"]["moves"], 0, "{plan:#}");
    quarantine(&[&inbox], &qdir, &[]).expect_code(0, "quarantine");
    assert_eq!(fs::read_to_string(&inbox).unwrap(), text, "Inbox untouched");
}

#[test]
fn thunderbird_expunged_copy_never_makes_a_live_copy_an_extra() {
    let (_td, root) = canonical_tempdir();
    let inbox = root.join("Inbox");
    // expunged (earliest), live unread, live read two seconds later: the two live copies
    // are the group, kept = the earliest live one, the other is same-time.
    let text = format!(
        "{}{}{}",
        tb_entry("Thu Jan 11 10:00:00 2024", "0009", "00000000", MSG),
        tb_entry("Thu Jan 11 12:00:00 2024", "0000", "00000000", MSG),
        tb_entry("Thu Jan 11 12:00:02 2024", "0001", "00000000", MSG),
    );
    fs::write(&inbox, &text).unwrap();
    let entry = |n: usize| -> u64 {
        let mut at = 0;
        for _ in 0..n {
            at = text[at + 1..].find("\nFrom - ").unwrap() + at + 2;
        }
        at as u64
    };
    let scan = scan_json(&[&inbox]);
    assert_eq!(scan["awaiting_compaction"], 1);
    let g = &groups(&scan)[0];
    assert_eq!(g["copies"].as_array().unwrap().len(), 2, "{scan:#}");
    assert_eq!(kept_of_only_group(&scan), (s(&inbox), Some(entry(1))));
    assert_eq!(g["class"], "same-time", "relative to the kept live copy");

    let qdir = root.join("q");
    quarantine(&[&inbox], &qdir, &[]).expect_code(0, "quarantine");
    let after = fs::read_to_string(&inbox).unwrap();
    // The expunged entry is still there, as it was; the kept copy gained Read in place.
    assert!(after.starts_with(&tb_entry(
        "Thu Jan 11 10:00:00 2024",
        "0009",
        "00000000",
        MSG
    )));
    assert_eq!(after.matches("\nFrom - ").count() + 1, 2, "{after}");
    assert!(after.contains(&tb_entry(
        "Thu Jan 11 12:00:00 2024",
        "0001",
        "00000000",
        MSG
    )));
    let again = scan_json(&[&inbox]);
    assert_eq!(again["summary"]["groups"], 0);
    assert_eq!(again["awaiting_compaction"], 1);
    restore(&qdir, &[]).expect_code(0, "restore");
    assert_eq!(
        fs::read_to_string(&inbox).unwrap(),
        text,
        "restore is byte-exact"
    );
}

#[test]
fn thunderbird_imap_deleted_copy_is_never_kept() {
    let (_td, root) = canonical_tempdir();
    let inbox = root.join("INBOX");
    // IMAP offline store: the earlier copy is marked \Deleted on the server (0x00200000).
    let text = format!(
        "{}{}",
        tb_entry("Thu Jan 11 10:00:00 2024", "0001", "00200000", MSG),
        tb_entry("Thu Jan 11 12:00:00 2024", "0001", "00000000", MSG),
    );
    fs::write(&inbox, &text).unwrap();
    let second = (text.find("\nFrom - ").unwrap() + 1) as u64;
    for opts in keep_options(&inbox) {
        let o: Vec<&str> = opts.iter().map(String::as_str).collect();
        let scan = scan_with(&[&inbox], &o);
        assert_eq!(scan["awaiting_compaction"], 0);
        assert_eq!(
            kept_of_only_group(&scan),
            (s(&inbox), Some(second)),
            "{opts:?}"
        );
        let plan = dry_run(&[&inbox], &root.join("q"), &o);
        let moves = plan["moves"].as_array().unwrap();
        assert_eq!(moves.len(), 1, "{opts:?}: {plan:#}");
        assert_eq!(moves[0]["offset"], 0, "{opts:?}: the deleted copy moves");
        assert_eq!(moves[0]["class"], "different-time");
    }
}

#[test]
fn maildir_trashed_copy_is_never_kept() {
    let (_td, root) = canonical_tempdir();
    let md = maildir(&root);
    let trashed = md.join("cur/1704967200.M1P1.test.example.org:2,ST");
    let live = md.join("cur/1704974400.M2P2.test.example.org:2,S");
    let trashed_late = md.join("cur/1704974402.M3P3.test.example.org:2,FT");
    fs::write(&trashed, MSG).unwrap();
    fs::write(&live, MSG).unwrap();
    fs::write(&trashed_late, MSG).unwrap();
    let qdir = root.join("q");
    for opts in keep_options(&trashed)
        .into_iter()
        .chain(keep_options(&trashed_late))
    {
        let o: Vec<&str> = opts.iter().map(String::as_str).collect();
        let scan = scan_with(&[&md], &o);
        assert_eq!(kept_of_only_group(&scan), (s(&live), None), "{opts:?}");
        // Classes are relative to the kept live copy.
        let class_of = |p: &Path| -> Value {
            groups(&scan)[0]["copies"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["path"] == s(p))
                .unwrap()["class"]
                .clone()
        };
        assert_eq!(class_of(&trashed), "different-time", "{opts:?}");
        assert_eq!(class_of(&trashed_late), "same-time", "{opts:?}");
        let plan = dry_run(&[&md], &qdir, &o);
        let moved: Vec<&str> = plan["moves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["path"].as_str().unwrap())
            .collect();
        assert_eq!(moved.len(), 2, "{opts:?}");
        assert!(!moved.contains(&s(&live).as_str()), "{opts:?}: {plan:#}");
    }
    // A real run: the live copy stays, gains F (never T), the trashed copies move.
    let before = snapshot(&md);
    quarantine(&[&md], &qdir, &[]).expect_code(0, "quarantine");
    let live_after = md.join("cur/1704974400.M2P2.test.example.org:2,FS");
    assert_eq!(
        names(&md.join("cur")),
        [live_after
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()]
    );
    assert_eq!(fs::read_to_string(&live_after).unwrap(), MSG);
    assert_eq!(names(&qdir.join("cur")).len(), 2);
    restore(&qdir, &[]).expect_code(0, "restore");
    assert_same(&before, &snapshot(&md), "after restore");
}

#[test]
fn mbox_x_status_deleted_copy_is_never_kept() {
    let (_td, root) = canonical_tempdir();
    let mbox = root.join("mail.mbox");
    let with = |extra: &str| MSG.replacen("\n\n", &format!("\n{extra}\n\n"), 1);
    let text = format!(
        "From ann@example.org Thu Jan 11 10:00:00 2024\n{}\n\
From ann@example.org Thu Jan 11 12:00:00 2024\n{}\n",
        with("Status: RO\nX-Status: DF").replace("\nFrom here", "\n>From here"),
        with("Status: O").replace("\nFrom here", "\n>From here"),
    );
    fs::write(&mbox, &text).unwrap();
    let second = (text.find("\nFrom ann").unwrap() + 1) as u64;
    for opts in keep_options(&mbox) {
        let o: Vec<&str> = opts.iter().map(String::as_str).collect();
        let scan = scan_with(&[&mbox], &o);
        assert_eq!(
            kept_of_only_group(&scan),
            (s(&mbox), Some(second)),
            "{opts:?}"
        );
    }
    let qdir = root.join("q");
    quarantine(&[&mbox], &qdir, &[]).expect_code(0, "quarantine");
    // The kept copy gains Seen and Flagged, never the deleted mark.
    let after = fs::read_to_string(&mbox).unwrap();
    assert_eq!(
        after,
        format!(
            "From ann@example.org Thu Jan 11 12:00:00 2024\n{}\n",
            with("Status: OR\nX-Status: F").replace("\nFrom here", "\n>From here")
        )
    );
    restore(&qdir, &[]).expect_code(0, "restore");
    assert_eq!(
        fs::read_to_string(&mbox).unwrap(),
        text,
        "restore is byte-exact"
    );
}

#[test]
fn a_group_of_deleted_copies_only_is_left_whole() {
    let (_td, top) = canonical_tempdir();
    let root = top.join("st");
    let md = maildir(&root);
    fs::write(md.join("cur/1704967200.M1P1.test.example.org:2,ST"), MSG).unwrap();
    fs::write(md.join("cur/1704974400.M2P2.test.example.org:2,T"), MSG).unwrap();
    let inbox = root.join("Inbox");
    fs::write(
        &inbox,
        format!(
            "{}{}",
            tb_entry(
                "Thu Jan 11 10:00:00 2024",
                "0001",
                "00200000",
                &other_msg(2)
            ),
            tb_entry(
                "Thu Jan 11 12:00:00 2024",
                "0000",
                "00200000",
                &other_msg(2)
            ),
        ),
    )
    .unwrap();
    let before = snapshot(&root);
    let scan = scan_json(&[&md, &inbox]);
    assert_eq!(scan["summary"]["groups"], 0, "{scan:#}");
    assert_eq!(scan["summary"]["deleted_only_groups"], 2, "{scan:#}");
    let out = common::md([
        "scan",
        "--across-folders",
        "--no-progress",
        &s(&md),
        &s(&inbox),
    ]);
    assert!(
        out.stdout.contains("All copies deleted: 2"),
        "{}",
        out.stdout
    );
    let qdir = top.join("q");
    let plan = dry_run(&[&md, &inbox], &qdir, &[]);
    assert_eq!(plan["summary"]["moves"], 0);
    assert_eq!(plan["summary"]["flag_merges"], 0);
    quarantine(&[&md, &inbox], &qdir, &[]).expect_code(0, "quarantine");
    assert_same(&before, &snapshot(&root), "nothing changed");
}

#[test]
fn flag_merge_into_thunderbird_mbox_keeps_the_width_and_restores_exactly() {
    let (_td, top) = canonical_tempdir();
    let root = top.join("st");
    fs::create_dir(&root).unwrap();
    let inbox = root.join("Inbox");
    // Kept: the earliest copy, live, unread (0000); its neighbours must not move.
    let text = format!(
        "{}{}{}",
        tb_entry(
            "Thu Jan 11 08:00:00 2024",
            "0001",
            "00000000",
            &other_msg(3)
        ),
        tb_entry("Thu Jan 11 10:00:00 2024", "1000", "00000000", MSG),
        tb_entry(
            "Thu Jan 11 13:00:00 2024",
            "0000",
            "00000000",
            &other_msg(4)
        ),
    );
    fs::write(&inbox, &text).unwrap();
    let md = maildir(&root);
    // A later copy the user read, answered and flagged, and one deleted (T is never merged).
    let extra = md.join("cur/1704974400.M2P2.test.example.org:2,FRS");
    fs::write(&extra, MSG).unwrap();
    let deleted = md.join("cur/1704974401.M3P3.test.example.org:2,T");
    fs::write(&deleted, MSG).unwrap();
    let kept_at = (text.find("\nFrom - Thu Jan 11 10").unwrap() + 1) as u64;

    let before = snapshot(&root);
    let scan = scan_json(&[&inbox, &md]);
    assert_eq!(kept_of_only_group(&scan), (s(&inbox), Some(kept_at)));
    let qdir = top.join("q");
    let plan = dry_run(&[&inbox, &md], &qdir, &[]);
    assert_eq!(plan["summary"]["flag_merges"], 1, "{plan:#}");
    quarantine(&[&inbox, &md], &qdir, &[]).expect_code(0, "quarantine");

    let after = fs::read(&inbox).unwrap();
    assert_eq!(after.len(), text.len(), "X-Mozilla-Status keeps its width");
    let want = text.replacen(
        "From - Thu Jan 11 10:00:00 2024\nX-Mozilla-Status: 1000\n",
        "From - Thu Jan 11 10:00:00 2024\nX-Mozilla-Status: 1007\n",
        1,
    );
    assert_ne!(want, text);
    assert_eq!(String::from_utf8(after).unwrap(), want);
    assert!(!extra.exists() && !deleted.exists());
    // Thunderbird's flags read back: Read, Replied, Marked (and Forwarded it had).
    let again = scan_json(&[&inbox]);
    assert_eq!(again["summary"]["groups"], 0);

    let out = restore(&qdir, &[]);
    out.expect_code(0, "restore");
    assert_same(&before, &snapshot(&root), "after restore");
    assert_eq!(fs::read_to_string(&inbox).unwrap(), text);
}

#[test]
fn thunderbird_flags_are_read_as_thunderbird_writes_them() {
    let (_td, root) = canonical_tempdir();
    let inbox = root.join("Inbox");
    let text = format!(
        "{}{}",
        tb_entry("Thu Jan 11 10:00:00 2024", "1007", "00000000", MSG),
        tb_entry("Thu Jan 11 12:00:00 2024", "0000", "00200000", MSG),
    );
    fs::write(&inbox, &text).unwrap();
    let scan = scan_json(&[&inbox]);
    let copies = groups(&scan)[0]["copies"].as_array().unwrap();
    let flags: Vec<&str> = copies
        .iter()
        .map(|c| c["flags"].as_str().unwrap())
        .collect();
    assert_eq!(flags, ["FPRS", "T"], "{scan:#}");
}

#[test]
fn a_copy_expunged_after_a_cached_scan_is_seen_as_expunged() {
    // Thunderbird deletes by rewriting X-Mozilla-Status in place (same length), and new
    // mail is appended. The next run, with the fingerprint cache of the last one, must see
    // the delete: the first copy is not kept, and the live copy is not moved.
    let (_td, top) = canonical_tempdir();
    let root = top.join("st");
    fs::create_dir(&root).unwrap();
    let inbox = root.join("Inbox");
    let text = format!(
        "{}{}",
        tb_entry("Thu Jan 11 10:00:00 2024", "0001", "00000000", MSG),
        tb_entry("Thu Jan 11 12:00:00 2024", "0001", "00000000", MSG),
    );
    fs::write(&inbox, &text).unwrap();
    let cache = top.join("cache");
    let cache_s = s(&cache);
    let scan = scan_with(&[&inbox], &["--cache", &cache_s]);
    assert_eq!(kept_of_only_group(&scan), (s(&inbox), Some(0)));

    let expunged = text.replacen("X-Mozilla-Status: 0001", "X-Mozilla-Status: 0009", 1);
    let grown = format!(
        "{expunged}{}",
        tb_entry(
            "Thu Jan 11 14:00:00 2024",
            "0000",
            "00000000",
            &other_msg(5)
        )
    );
    fs::write(&inbox, &grown).unwrap();
    let qdir = top.join("q");
    let out = quarantine(&[&inbox], &qdir, &["--cache", &cache_s, "--json"]);
    out.expect_code(0, "quarantine");
    assert_eq!(out.json()["outcome"]["moved"], 0, "{}", out.show());
    assert_eq!(
        fs::read_to_string(&inbox).unwrap(),
        grown,
        "the live copy stays: {}",
        out.show()
    );
}
