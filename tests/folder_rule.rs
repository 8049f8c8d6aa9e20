//! The folder rule (issue 14): by default a quarantine never leaves a folder (a Maildir
//! folder, each Maildir++ subfolder, an mbox file) without a copy of a message it held;
//! `--across-folders` applies the keeper rules across folders, the INBOX winning ties.
//! Each case is one of the measured incidents, built as files and run through the binary.

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000;

fn message(id: &str, subject: &str) -> String {
    format!(
        "Return-Path: <list@example.org>\n\
Message-ID: <{id}@folder-rule.example.org>\n\
From: List <list@example.org>\n\
To: users@example.org\n\
Subject: {subject}\n\
Date: Tue, 14 Nov 2023 22:13:00 +0000\n\
\n\
The same message in more than one folder.\n"
    )
}

/// Writes `msg` into the Maildir folder `dir` (creating cur/new/tmp) as delivered at
/// `t`: the delivery second is in the file name. Returns the file's path.
fn deliver(dir: &Path, t: i64, tag: &str, msg: &str) -> PathBuf {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let p = dir.join("cur").join(format!("{t}.M1P{tag}.host:2,S"));
    fs::write(&p, msg).unwrap();
    p
}

/// An mbox holding `msg` once, delivered at `t` (its From_ line).
fn mbox(path: &Path, t: i64, msg: &str) {
    let when = jiff::Timestamp::from_second(t)
        .unwrap()
        .strftime("%a %b %e %H:%M:%S %Y")
        .to_string();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, format!("From list@example.org {when}\n{msg}\n")).unwrap();
}

/// `maildedup scan --json PATHS` without `--across-folders` (`common::scan_json` passes
/// it, for the tests written before the folder rule).
fn scan_json(paths: &[&Path]) -> Value {
    scan_json_with(&[], paths)
}

/// `maildedup quarantine PATHS --to QDIR EXTRA...`, the default rule unless EXTRA says.
fn quarantine(paths: &[&Path], qdir: &Path, extra: &[&str]) -> Out {
    quarantine_with(&[], paths, qdir, extra, &[])
}

fn qdir(t: &tempfile::TempDir) -> PathBuf {
    t.path().join("Q")
}

/// The copies of every group and cross-folder group of a report, by path.
fn copies(r: &Value) -> Vec<Value> {
    let mut v = Vec::new();
    for key in ["groups", "cross_folder"] {
        for g in r[key].as_array().unwrap() {
            v.extend(g["copies"].as_array().unwrap().iter().cloned());
        }
    }
    v
}

fn copy_at<'a>(all: &'a [Value], path: &Path) -> &'a Value {
    all.iter()
        .find(|c| c["path"] == s(path))
        .unwrap_or_else(|| panic!("no copy {} in {all:?}", path.display()))
}

fn moved_paths(q: &Path) -> Vec<String> {
    let m = manifest(q);
    let mut v: Vec<String> = records(&m, "maildir-move")
        .iter()
        .map(|r| r["source"].as_str().unwrap().to_string())
        .chain(
            records(&m, "mbox-extract")
                .iter()
                .map(|r| format!("{}@{}", r["mbox"].as_str().unwrap(), r["offset"])),
        )
        .collect();
    v.sort();
    v
}

/// Two users each hold one copy of a list message: bob's is never taken to keep alice's.
#[test]
fn two_users_each_keep_their_copy() {
    let t = tempfile::tempdir().unwrap();
    let vmail = t.path().join("vmail");
    let msg = message("two-users", "list message to two users");
    let alice = deliver(&vmail.join("alice/Maildir"), T0, "1", &msg);
    let bob = deliver(&vmail.join("bob/Maildir"), T0 + 2, "2", &msg);

    let r = scan_json(&[&vmail]);
    assert_eq!(r["summary"]["extra_copies"], 0, "{r:#}");
    assert_eq!(r["summary"]["cross_folder_copies"], 1, "{r:#}");
    assert_eq!(r["summary"]["cross_folder_groups"], 1, "{r:#}");
    let all = copies(&r);
    let b = copy_at(&all, &bob);
    assert_eq!(b["keep"], true);
    assert_eq!(b["scope"], "cross-folder");
    assert_eq!(b["also_in"][0], s(&vmail.join("alice/Maildir")));
    assert_eq!(b["relative_to"]["path"], s(&alice));

    let q = qdir(&t);
    let out = quarantine(&[&vmail], &q, &[]);
    out.expect_code(0, "quarantine");
    assert!(bob.exists() && alice.exists(), "{}", out.show());
    assert!(
        out.stdout
            .contains("in their folders though also in other folders"),
        "{}",
        out.show()
    );

    // --across-folders: as before, bob's copy goes to keep alice's (delivered first).
    let q2 = t.path().join("Q2");
    quarantine(&[&vmail], &q2, &["--across-folders"]).expect_code(0, "across");
    assert!(alice.exists());
    assert!(!bob.exists());
    assert_eq!(moved_paths(&q2), [s(&bob)]);
}

/// procmail's file-and-keep: a copy in .Archive and one in the inbox in the same second.
/// The inbox copy stays; with --across-folders the inbox wins the tie.
#[test]
fn file_and_keep_leaves_the_inbox_copy() {
    let t = tempfile::tempdir().unwrap();
    let md = t.path().join("Maildir");
    let msg = message("file-and-keep", "filed and kept");
    let inbox = deliver(&md, T0, "1", &msg);
    let archived = deliver(&md.join(".Archive"), T0, "2", &msg);

    let q = qdir(&t);
    let out = quarantine(&[&md], &q, &[]);
    out.expect_code(0, "quarantine");
    assert!(inbox.exists() && archived.exists(), "{}", out.show());

    let q2 = t.path().join("Q2");
    quarantine(&[&md], &q2, &["--across-folders"]).expect_code(0, "across");
    assert!(inbox.exists(), "the inbox wins the tie");
    assert!(!archived.exists());
    assert_eq!(moved_paths(&q2), [s(&archived)]);
}

/// An archive mbox next to the INBOX Maildir: the INBOX keeps its copies by default; with
/// --across-folders the earlier archive copy is kept as before, and on a tie the INBOX's.
#[test]
fn archive_mbox_never_empties_the_inbox() {
    let t = tempfile::tempdir().unwrap();
    let md = t.path().join("Maildir");
    let arch = t.path().join("mail/archive.mbox");
    let early = message("archived-early", "archived a day before");
    let tie = message("archived-same-second", "archived in the same second");
    mbox(&arch, T0 - 86_400, &early);
    let inbox_early = deliver(&md, T0, "1", &early);
    let inbox_tie = deliver(&md, T0, "2", &tie);
    // The archive's second message, at the same second as the INBOX copy.
    let when = jiff::Timestamp::from_second(T0)
        .unwrap()
        .strftime("%a %b %e %H:%M:%S %Y")
        .to_string();
    let mut data = fs::read(&arch).unwrap();
    data.extend_from_slice(format!("From list@example.org {when}\n{tie}\n").as_bytes());
    fs::write(&arch, &data).unwrap();
    let arch_before = fs::read(&arch).unwrap();

    let r = scan_json(&[&md, &arch]);
    assert_eq!(r["summary"]["extra_copies"], 0, "{r:#}");
    assert_eq!(r["summary"]["cross_folder_copies"], 2, "{r:#}");

    let q = qdir(&t);
    let out = quarantine(&[&md, &arch], &q, &[]);
    out.expect_code(0, "quarantine");
    assert!(inbox_early.exists() && inbox_tie.exists(), "{}", out.show());
    assert_eq!(
        fs::read(&arch).unwrap(),
        arch_before,
        "the archive is untouched"
    );

    let q2 = t.path().join("Q2");
    let out = quarantine(&[&md, &arch], &q2, &["--across-folders"]);
    out.expect_code(0, "across");
    assert!(
        !inbox_early.exists(),
        "the earlier archive copy is kept, as before"
    );
    assert!(inbox_tie.exists(), "on a tie the INBOX copy is kept");
    let moved = moved_paths(&q2);
    assert_eq!(moved.len(), 2, "{moved:?}");
    assert!(moved.contains(&s(&inbox_early)), "{moved:?}");
    assert!(
        moved
            .iter()
            .any(|m| m.starts_with(&format!("{}@", s(&arch)))),
        "{moved:?}"
    );
}

/// A POP3 re-download into one inbox is still cleaned by default: a same-folder extra,
/// different-time, relative to the copy kept in that folder.
#[test]
fn pop3_redownload_into_one_inbox_is_still_cleaned() {
    let t = tempfile::tempdir().unwrap();
    let md = t.path().join("Maildir");
    let msg = message("pop3", "downloaded twice");
    let first = deliver(&md, T0, "1", &msg);
    let again = deliver(&md, T0 + 180, "2", &msg);
    // Another message in an archive folder too: it stays where it is.
    let other = message("pop3-archived", "also archived");
    let o1 = deliver(&md, T0, "3", &other);
    let o2 = deliver(&md.join(".Archive"), T0 + 1, "4", &other);

    let r = scan_json(&[&md]);
    assert_eq!(r["summary"]["extra_copies"], 1, "{r:#}");
    assert_eq!(r["summary"]["different_time"], 1, "{r:#}");
    assert_eq!(r["summary"]["cross_folder_copies"], 1, "{r:#}");
    let all = copies(&r);
    let a = copy_at(&all, &again);
    assert_eq!(a["keep"], false);
    assert_eq!(a["class"], "different-time");
    assert_eq!(a["scope"], "same-folder");
    assert_eq!(a["relative_to"]["path"], s(&first));
    let k = copy_at(&all, &first);
    assert_eq!(k["keep"], true);
    assert_eq!(k["scope"], Value::Null);

    let q = qdir(&t);
    quarantine(&[&md], &q, &[]).expect_code(0, "quarantine");
    assert!(first.exists() && !again.exists());
    assert!(o1.exists() && o2.exists());
    assert_eq!(moved_paths(&q), [s(&again)]);
}

/// Classes are relative to the copy kept in the same folder, not to an earlier copy in
/// another folder: an alias burst into a folder a day after the archive's copy is
/// same-time.
#[test]
fn classes_are_relative_to_the_copy_kept_in_the_same_folder() {
    let t = tempfile::tempdir().unwrap();
    let md = t.path().join("Maildir");
    let msg = message("burst", "alias burst");
    let archived = deliver(&md.join(".Archive"), T0 - 86_400, "1", &msg);
    let kept = deliver(&md, T0, "2", &msg);
    let burst = deliver(&md, T0 + 1, "3", &msg);

    let r = scan_json(&[&md]);
    let all = copies(&r);
    let b = copy_at(&all, &burst);
    assert_eq!(b["class"], "same-time", "{r:#}");
    assert_eq!(b["scope"], "same-folder");
    assert_eq!(b["relative_to"]["path"], s(&kept));
    assert_eq!(copy_at(&all, &kept)["keep"], true);
    assert_eq!(copy_at(&all, &kept)["scope"], "cross-folder");
    assert_eq!(copy_at(&all, &archived)["keep"], true);
    assert_eq!(r["summary"]["same_time"], 1);
    assert_eq!(r["summary"]["different_time"], 0);

    // With --across-folders both INBOX copies are different-time extras of the archive's,
    // and say they are in another folder than the kept copy.
    let out = md_args(&[
        "scan",
        "--json",
        "--no-progress",
        "--across-folders",
        &s(&md),
    ]);
    out.expect_code(0, "scan --across-folders");
    let r = out.json();
    let all = copies(&r);
    for p in [&kept, &burst] {
        let c = copy_at(&all, p);
        assert_eq!(c["keep"], false);
        assert_eq!(c["class"], "different-time");
        assert_eq!(c["scope"], "cross-folder");
        assert_eq!(c["relative_to"]["path"], s(&archived));
    }
    assert_eq!(r["summary"]["cross_folder_copies"], 2);
    assert_eq!(r["summary"]["extra_copies"], 2);
}

/// `maildedup ARGS` (the tests name their Maildir `md`, which shadows `common::md`).
fn md_args(args: &[&str]) -> Out {
    md(args)
}

/// The dry-run plan is what the real run does: the same moves, and the same copies
/// reported as kept in their folders.
#[test]
fn dry_run_plan_equals_the_real_run() {
    let t = tempfile::tempdir().unwrap();
    let md = t.path().join("Maildir");
    let a = message("plan-a", "re-downloaded");
    let b = message("plan-b", "filed and kept");
    deliver(&md, T0, "1", &a);
    deliver(&md, T0 + 300, "2", &a);
    deliver(&md.join(".Archive"), T0 + 400, "3", &a);
    deliver(&md, T0, "4", &b);
    deliver(&md.join(".Archive"), T0, "5", &b);
    let q = qdir(&t);
    fs::create_dir_all(&q).unwrap();
    for extra in [&[][..], &["--across-folders"][..]] {
        let q = q.join(if extra.is_empty() { "rule" } else { "across" });
        let tree = t.path().join(if extra.is_empty() { "t1" } else { "t2" });
        copy_dir(&md, &tree);
        let mut args = vec!["--dry-run", "--json"];
        args.extend_from_slice(extra);
        let plan = quarantine(&[&tree], &q, &args);
        plan.expect_code(0, "dry run");
        let plan = plan.json();
        let mut planned: Vec<String> = plan["moves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["path"].as_str().unwrap().to_string())
            .collect();
        planned.sort();
        for m in plan["moves"].as_array().unwrap() {
            let want = if extra.is_empty() {
                "same-folder"
            } else {
                m["scope"].as_str().unwrap()
            };
            assert_eq!(m["scope"], want, "{plan:#}");
        }
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        let real = quarantine(&[&tree], &q, &args);
        real.expect_code(0, "real run");
        let real = real.json();
        assert_eq!(moved_paths(&q), planned, "{plan:#}");
        assert_eq!(real["cross_folder"], plan["cross_folder"]);
        if extra.is_empty() {
            assert_eq!(planned.len(), 1, "{plan:#}");
            // plan-a in .Archive, and plan-b in .Archive (or the inbox): kept there.
            assert_eq!(
                plan["cross_folder"].as_array().unwrap().len(),
                2,
                "{plan:#}"
            );
            assert_eq!(plan["summary"]["cross_folder_copies"], 2);
        } else {
            assert_eq!(planned.len(), 3, "{plan:#}");
            assert!(plan["cross_folder"].as_array().unwrap().is_empty());
            assert!(
                planned.iter().all(|p| !p.contains("P4.")),
                "the inbox copy of plan-b wins the tie: {planned:?}"
            );
        }
    }
}

/// `across_folders = true` in the config file is `--across-folders`.
#[test]
fn across_folders_config_key() {
    let t = tempfile::tempdir().unwrap();
    let md = t.path().join("Maildir");
    let msg = message("config", "config key");
    let inbox = deliver(&md, T0, "1", &msg);
    let archived = deliver(&md.join(".Archive"), T0, "2", &msg);
    let conf = t.path().join("maildedup.toml");
    fs::write(&conf, "across_folders = true\n").unwrap();
    let out = md_args(&[
        "--config",
        &s(&conf),
        "quarantine",
        "--no-progress",
        &s(&md),
        "--to",
        &s(&qdir(&t)),
    ]);
    out.expect_code(0, "quarantine with the config");
    assert!(inbox.exists());
    assert!(!archived.exists(), "{}", out.show());
}
