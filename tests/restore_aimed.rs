//! Restore, aimed (issue 15 item 5): `restore --list` shows a quarantine folder's runs;
//! `restore --run`, `--store` and `--message-id` put back only what they name, the rest
//! stays quarantined, and a later plain `restore` finishes the job byte-exact. Re-running
//! any of them changes nothing.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// `restore --json EXTRA... QDIR`'s outcome, which must exit 0.
fn restored(qdir: &Path, extra: &[&str]) -> Value {
    let out = restore(qdir, &[&["--json"], extra].concat());
    out.expect_code(0, &format!("restore {extra:?}"));
    out.json()["outcome"].clone()
}

fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
}

fn runs(qdir: &Path) -> Vec<Value> {
    let out = md(["restore", "--list", "--json", &s(qdir)]);
    out.expect_code(0, "restore --list --json");
    out.json()["runs"].as_array().unwrap().clone()
}

/// Two runs into one QDIR: `--list` shows both with their counts, stores and command;
/// `--run last` undoes the second only; a plain restore then undoes the first.
#[test]
fn list_then_restore_one_run() {
    let (_a, store_a) = demo_copy();
    let (_b, store_b) = demo_copy();
    let (_q, qroot) = canonical_tempdir();
    let qdir = qroot.join("q");
    let (orig_a, orig_b) = (snapshot(&store_a), snapshot(&store_b));
    let qa = quarantine(&[&store_a], &qdir, &["--json"]);
    qa.expect_code(0, "quarantine a");
    let after_a = snapshot(&store_a);
    let qb = quarantine(&[&store_b], &qdir, &["--json"]);
    qb.expect_code(0, "quarantine b");
    let moved_a = n(&qa.json()["outcome"], "moved");
    let moved_b = n(&qb.json()["outcome"], "moved");
    assert!(moved_a > 0 && moved_b > 0, "the demo has extra copies");

    let list = runs(&qdir);
    assert_eq!(list.len(), 2, "{list:?}");
    for (r, moved, store) in [(&list[0], moved_a, &store_a), (&list[1], moved_b, &store_b)] {
        assert_eq!(n(r, "copies"), moved, "{r}");
        assert_eq!(n(r, "restored"), 0, "{r}");
        let stores = r["stores"].as_array().unwrap();
        let from: u64 = stores.iter().map(|x| n(x, "copies")).sum();
        assert_eq!(from, moved, "per-store counts add up: {r}");
        let abs = std::path::absolute(store).unwrap();
        assert!(
            stores
                .iter()
                .all(|x| Path::new(x["store"].as_str().unwrap()).starts_with(&abs)),
            "{r}"
        );
        let cmd: Vec<&str> = r["command"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            cmd.contains(&"quarantine") && cmd.contains(&s(store).as_str()),
            "{r}"
        );
    }
    let text = md(["restore", "--list", &s(&qdir)]);
    text.expect_code(0, "restore --list");
    assert!(
        text.stdout
            .contains(&format!("Run {}", list[1]["run"].as_str().unwrap())),
        "{}",
        text.show()
    );
    assert!(text.stdout.contains("2 runs."), "{}", text.show());

    // The dry run of an aimed restore reports what the aimed restore does.
    let dry = restored(&qdir, &["--dry-run", "--run", "last"]);
    let o = restored(&qdir, &["--run", "last"]);
    assert_eq!(
        n(&dry, "restored"),
        n(&o, "restored"),
        "dry {dry}\nreal {o}"
    );
    assert_eq!(n(&o, "restored"), moved_b, "{o}");
    assert_same(
        &orig_b,
        &snapshot(&store_b),
        "store b after restore --run last",
    );
    assert_same(
        &after_a,
        &snapshot(&store_a),
        "store a untouched by restore --run last",
    );
    let list = runs(&qdir);
    assert_eq!(
        (n(&list[0], "restored"), n(&list[1], "restored")),
        (0, moved_b)
    );

    // Again: nothing left of that run.
    let again = restored(&qdir, &["--run", list[1]["run"].as_str().unwrap()]);
    assert_eq!(n(&again, "restored"), 0, "{again}");
    assert_same(
        &orig_b,
        &snapshot(&store_b),
        "store b after a second aimed restore",
    );

    let rest = restored(&qdir, &[]);
    assert_eq!(n(&rest, "restored"), moved_a, "{rest}");
    assert_same(
        &orig_a,
        &snapshot(&store_a),
        "store a after the full restore",
    );
    assert_same(
        &orig_b,
        &snapshot(&store_b),
        "store b after the full restore",
    );
    let last = restored(&qdir, &[]);
    assert_eq!(
        n(&last, "restored") + n(&last, "mboxes_restored"),
        0,
        "{last}"
    );
}

/// `--store` puts back the copies taken from under one folder only.
#[test]
fn restore_one_store() {
    let (_t, root) = canonical_tempdir();
    let tree = root.join("tree");
    full_tree(&tree);
    let qdir = root.join("q");
    let orig = snapshot(&tree);
    quarantine(&[&tree], &qdir, &[]).expect_code(0, "quarantine");
    let after = snapshot(&tree);
    let target = tree.join("demo/Maildir");
    let dry = restored(&qdir, &["--dry-run", "--store", &s(&target)]);
    let o = restored(&qdir, &["--store", &s(&target)]);
    assert!(n(&o, "restored") > 0, "{o}");
    assert_eq!(
        n(&dry, "restored"),
        n(&o, "restored"),
        "dry {dry}\nreal {o}"
    );
    assert_eq!(
        n(&o, "mboxes_restored"),
        0,
        "no mbox lies under {}: {o}",
        target.display()
    );
    let now = snapshot(&tree);
    for (p, data) in now.files() {
        let full = tree.join(p);
        let was = after.data(p);
        if !full.starts_with(&target) {
            assert_eq!(
                was,
                Some(data),
                "{} changed by restore --store",
                p.display()
            );
        }
    }
    // Everything under the target is as before the quarantine.
    for (p, data) in orig.files() {
        if tree.join(p).starts_with(&target) && !p.to_string_lossy().contains("/tmp/") {
            let back = now.data(p).is_some() || now.files().any(|(_, d)| d == data);
            assert!(back, "{} not back", p.display());
        }
    }
    restored(&qdir, &[]);
    assert_same(&orig, &snapshot(&tree), "tree after the full restore");
}

/// `--message-id` puts back the copies of one message: a Maildir file alone; from an
/// mbox, with the other copies the same rewrite took out.
#[test]
fn restore_one_message() {
    let (_t, root) = canonical_tempdir();
    let tree = root.join("tree");
    full_tree(&tree);
    let qdir = root.join("q");
    let orig = snapshot(&tree);
    quarantine(&[&tree], &qdir, &[]).expect_code(0, "quarantine");
    let m = manifest(&qdir);
    let moves = records(&m, "maildir-move");
    let ids = |r: &&Value| r["message_id"].as_str().map(str::to_string);
    let mid = moves
        .iter()
        .find_map(ids)
        .expect("a Maildir move with a Message-ID");
    let same: Vec<_> = moves
        .iter()
        .filter(|r| ids(r).as_deref() == Some(mid.as_str()))
        .collect();
    let extracts_with = records(&m, "mbox-extract")
        .into_iter()
        .filter(|r| ids(r).as_deref() == Some(mid.as_str()))
        .count();
    // Given without its angle brackets (the manifest keeps them).
    let bare = mid.trim_start_matches('<').trim_end_matches('>');
    let o = restored(&qdir, &["--message-id", bare]);
    assert_eq!(
        n(&o, "restored"),
        same.len() as u64 + extracts_with as u64,
        "{mid}: {o}"
    );
    for r in &same {
        let src = Path::new(r["source"].as_str().unwrap());
        assert!(src.is_file(), "{} not back", src.display());
    }
    let left = records(&manifest(&qdir), "maildir-move").len();
    assert!(left > same.len(), "other copies stay quarantined");

    // One message from an mbox: its rewrite goes back whole.
    let m = manifest(&qdir);
    let ex = records(&m, "mbox-extract")
        .into_iter()
        .find(|r| r["message_id"].is_string())
        .expect("the tree has mbox extras with a Message-ID");
    {
        let mid = ex["message_id"].as_str().unwrap();
        let rewrite = records(&m, "mbox-rewrite")
            .into_iter()
            .find(|rw| {
                rw["edits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["extract"] == ex["id"])
            })
            .expect("the rewrite that took it out");
        let taken = rewrite["edits"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["extract"].is_string())
            .count();
        let o = restored(&qdir, &["--message-id", mid]);
        assert_eq!(n(&o, "mboxes_restored"), 1, "{o}");
        assert!(
            n(&o, "restored") as usize >= taken,
            "{taken} copies of that rewrite: {o}"
        );
    }
    restored(&qdir, &[]);
    assert_same(&orig, &snapshot(&tree), "tree after the full restore");
}

#[test]
fn unknown_run_is_refused() {
    let (_a, store) = demo_copy();
    let (_q, qroot) = canonical_tempdir();
    let qdir = qroot.join("q");
    quarantine(&[&store], &qdir, &[]).expect_code(0, "quarantine");
    let before = snapshot(&qdir);
    let out = md(["restore", "--run", "12-34", &s(&qdir)]);
    out.expect_code(2, "restore --run of no run");
    assert!(out.stderr.contains("no run 12-34"), "{}", out.show());
    assert_same(&before, &snapshot(&qdir), "QDIR after a refused restore");
    let out = md(["restore", "--list", &s(&qroot)]);
    out.expect_code(2, "restore --list of no QDIR");
}
