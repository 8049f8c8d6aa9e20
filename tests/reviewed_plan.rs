//! Review, then apply exactly that (issue 15 item 4): `quarantine --dry-run --json` is a
//! plan; edited (a move struck, another copy kept) and given back with `--plan`, it is
//! checked against a fresh scan and carried out as written; copies changed since are left
//! and listed; a plan that breaks a safety rule is refused whole.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// The demo's dry-run plan (with `flags`), as JSON.
fn plan_of(store: &Path, qdir: &Path, flags: &[&str]) -> Value {
    let st = s(store);
    let qd = s(qdir);
    let mut args = vec!["quarantine", "--no-cache", "--dry-run", "--json"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[&st, "--to", &qd]);
    let out = md(&args);
    out.expect_code(0, "quarantine --dry-run --json");
    out.json()
}

fn write_plan(dir: &Path, plan: &Value) -> PathBuf {
    let p = dir.join("plan.json");
    fs::write(&p, serde_json::to_vec_pretty(plan).unwrap()).unwrap();
    p
}

/// `quarantine --plan FILE [flags] STORE --to QDIR`.
fn apply(plan: &Path, store: &Path, qdir: &Path, flags: &[&str]) -> Out {
    let (pl, st, qd) = (s(plan), s(store), s(qdir));
    let mut args = vec!["quarantine", "--no-cache", "--no-progress", "--plan", &pl];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[&st, "--to", &qd]);
    md(&args)
}

fn moves(plan: &Value) -> Vec<Value> {
    plan["moves"].as_array().unwrap().clone()
}

/// The Maildir moves of the demo plan (the mbox one is at an offset).
fn maildir_moves(plan: &Value) -> Vec<Value> {
    moves(plan)
        .into_iter()
        .filter(|m| m["offset"].is_null())
        .collect()
}

/// Strike one move, swap which copy stays in another: exactly that is carried out, and
/// restore puts everything back.
#[test]
fn edited_plan_round_trip() {
    let (dir, demo) = demo_copy();
    let qdir = dir.path().join("q");
    let orig = snapshot(&demo);
    let mut plan = plan_of(&demo, &qdir, &[]);
    let md_moves = maildir_moves(&plan);
    assert_eq!(md_moves.len(), 2, "{plan:#}");
    let (struck, swapped) = (&md_moves[0], &md_moves[1]);
    let swapped_kept = swapped["kept"].clone();
    let new_moves: Vec<Value> = moves(&plan)
        .into_iter()
        .filter(|m| m["path"] != struck["path"])
        .map(|mut m| {
            if m["path"] == swapped["path"] {
                // Keep the copy the plan moved; move the one it kept.
                let old_kept = m["kept"].clone();
                m["kept"] = serde_json::json!({"path": m["path"], "offset": m["offset"],
                    "content_hash": m["content_hash"]});
                m["path"] = old_kept["path"].clone();
                m["offset"] = old_kept["offset"].clone();
            }
            m
        })
        .collect();
    plan["moves"] = Value::Array(new_moves.clone());
    let file = write_plan(dir.path(), &plan);

    let dry = apply(&file, &demo, &qdir, &["--dry-run", "--json"]);
    dry.expect_code(0, "--plan --dry-run");
    assert_eq!(
        dry.json()["summary"]["moves"],
        new_moves.len(),
        "{}",
        dry.show()
    );
    assert_same(&orig, &snapshot(&demo), "store after --plan --dry-run");

    let out = apply(&file, &demo, &qdir, &["--json"]);
    out.expect_code(0, "--plan");
    assert_eq!(
        out.json()["outcome"]["moved"],
        new_moves.len(),
        "{}",
        out.show()
    );
    let p = |v: &Value| PathBuf::from(v.as_str().unwrap());
    assert!(p(&struck["path"]).is_file(), "the struck move's copy stays");
    assert!(
        !p(&swapped_kept["path"]).exists(),
        "the copy the plan kept is moved now"
    );
    assert!(
        p(&swapped["path"]).is_file(),
        "and the one it moved is kept"
    );
    assert_eq!(names(&qdir.join("cur")).len(), new_moves.len());

    restore(&qdir, &[]).expect_code(0, "restore");
    assert_same(&orig, &snapshot(&demo), "store after restore");
}

/// A copy changed or gone since the plan: its move is left and listed (exit 3), the others
/// go on.
#[test]
fn copies_changed_since_are_left() {
    let (dir, demo) = demo_copy();
    let qdir = dir.path().join("q");
    let plan = plan_of(&demo, &qdir, &[]);
    let file = write_plan(dir.path(), &plan);
    let md_moves = maildir_moves(&plan);
    let gone = PathBuf::from(md_moves[0]["path"].as_str().unwrap());
    let changed = PathBuf::from(md_moves[1]["path"].as_str().unwrap());
    // One copy was expunged by the user, another rewritten by a client since the review.
    let moved_away = dir.path().join("expunged");
    fs::rename(&gone, &moved_away).unwrap();
    let mut text = fs::read(&changed).unwrap();
    text.extend_from_slice(b"\nA line a client added.\n");
    fs::write(&changed, &text).unwrap();
    let before = snapshot(&demo);

    let out = apply(&file, &demo, &qdir, &["--json"]);
    out.expect_code(3, "--plan with changed copies");
    let o = &out.json()["outcome"];
    assert_eq!(o["moved"], moves(&plan).len() - 2, "{}", out.show());
    let left: Vec<String> = o["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left.iter().any(|l| l.contains("not where the plan saw it")),
        "{left:?}"
    );
    assert!(
        left.iter()
            .any(|l| l.contains("content changed since the plan")),
        "{left:?}"
    );
    assert_eq!(
        fs::read(&changed).unwrap(),
        text,
        "the changed copy stays as it is"
    );
    restore(&qdir, &[]).expect_code(0, "restore");
    assert_same(&before, &snapshot(&demo), "store after restore");
}

/// Plans that break a safety rule are refused whole: nothing moves.
#[test]
fn unsafe_plans_are_refused() {
    let (dir, demo) = demo_copy();
    let qdir = dir.path().join("q");
    let orig = snapshot(&demo);
    let plan = plan_of(&demo, &qdir, &[]);
    let m0 = maildir_moves(&plan)[0].clone();
    let m1 = maildir_moves(&plan)[1].clone();
    let kept_of = |m: &Value| serde_json::json!({"path": m["path"], "offset": m["offset"], "content_hash": m["content_hash"]});
    let mut cases: Vec<(&str, Value)> = Vec::new();
    // 1. Both copies of a message moved, each keeping the other.
    let mut both = plan.clone();
    let mut back = m0.clone();
    back["path"] = m0["kept"]["path"].clone();
    back["kept"] = kept_of(&m0);
    both["moves"].as_array_mut().unwrap().push(back);
    cases.push(("which the plan moves too", both));
    // 2. A copy kept in place of another message.
    let mut other = plan.clone();
    let mut wrong = m0.clone();
    wrong["kept"] = m1["kept"].clone();
    other["moves"] = Value::Array(vec![wrong]);
    cases.push(("not the same message", other));
    // 3. The copy it moves kept.
    let mut itself = plan.clone();
    let mut same = m0.clone();
    same["kept"] = kept_of(&m0);
    itself["moves"] = Value::Array(vec![same]);
    cases.push(("keeps the very copy it moves", itself));
    // 4. No content hash to check against.
    let mut bare = plan.clone();
    let mut nohash = m0.clone();
    nohash.as_object_mut().unwrap().remove("content_hash");
    bare["moves"] = Value::Array(vec![nohash]);
    cases.push(("no content_hash", bare));
    // 5. A plan made with --across-folders, its flag taken out: a folder would be emptied.
    let mut across = plan_of(&demo, &qdir, &["--across-folders"]);
    across["summary"]["across_folders"] = Value::Bool(false);
    cases.push(("in another folder", across));
    for (why, p) in cases {
        let file = write_plan(dir.path(), &p);
        for dry in [true, false] {
            let flags: &[&str] = if dry { &["--dry-run"] } else { &[] };
            let out = apply(&file, &demo, &qdir, flags);
            out.expect_code(2, &format!("{why} (dry run: {dry})"));
            assert!(
                out.stderr
                    .contains("the plan is refused, nothing was moved"),
                "{}",
                out.show()
            );
            assert!(out.stderr.contains(why), "{why}: {}", out.show());
            assert_same(
                &orig,
                &snapshot(&demo),
                &format!("store after a refused plan ({why})"),
            );
            assert!(
                !qdir.join("manifest.jsonl").exists(),
                "{why}: nothing recorded"
            );
        }
    }
    // The same cross-folder plan with the flag given again is carried out.
    let across = plan_of(&demo, &qdir, &["--across-folders"]);
    let file = write_plan(dir.path(), &across);
    let out = apply(&file, &demo, &qdir, &["--across-folders", "--json"]);
    out.expect_code(0, "cross-folder plan with --across-folders");
    assert_eq!(
        out.json()["outcome"]["moved"],
        moves(&across).len(),
        "{}",
        out.show()
    );
    restore(&qdir, &[]).expect_code(0, "restore");
    assert_same(&orig, &snapshot(&demo), "store after restore");
}

#[test]
fn a_file_that_is_no_plan_fails_before_the_scan() {
    let (dir, demo) = demo_copy();
    let file = dir.path().join("plan.json");
    fs::write(&file, "{\"moves\": 3}").unwrap();
    let out = apply(&file, &demo, &dir.path().join("q"), &[]);
    out.expect_code(2, "not a plan");
    assert!(
        out.stderr
            .contains("not a plan made by `quarantine --dry-run --json`"),
        "{}",
        out.show()
    );
}
