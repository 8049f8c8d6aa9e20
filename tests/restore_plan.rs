//! `restore --dry-run` reports exactly what a real restore then does (issue 15 item 3):
//! its counts come from the same plan of undo steps the real run executes.

mod common;

use common::*;
use serde_json::Value;
use tempfile::TempDir;

/// The counts of a restore's JSON outcome, by field.
fn counts(o: &Value) -> Vec<(&'static str, u64)> {
    ["restored", "flags_undone", "mboxes_restored", "already"]
        .into_iter()
        .map(|f| {
            (
                f,
                o["outcome"][f]
                    .as_u64()
                    .unwrap_or_else(|| panic!("no {f} in {o}")),
            )
        })
        .chain([(
            "problems",
            o["outcome"]["problems"]
                .as_array()
                .map_or(u64::MAX, |a| a.len() as u64),
        )])
        .collect()
}

fn field(c: &[(&'static str, u64)], name: &str) -> u64 {
    c.iter().find(|(f, _)| *f == name).map_or(u64::MAX, |x| x.1)
}

/// Maildir and mbox extras, Maildir and mbox flag merges: the dry run's counts equal the
/// real run's, and the dry run lists one action per undo step.
#[test]
fn dry_run_counts_equal_the_real_runs() {
    let td = TempDir::new().unwrap();
    let root = td.path().canonicalize().unwrap();
    let tree = root.join("tree");
    full_tree(&tree);
    let qdir = root.join("quarantine");
    let before = snapshot(&tree);
    let q = quarantine(&[&tree], &qdir, &["--json"]);
    q.expect_code(0, "quarantine");
    let qo = &q.json()["outcome"];
    let rewritten = qo["mboxes_rewritten"].as_u64().unwrap();
    let merged = qo["flags_merged"].as_u64().unwrap();
    let moved = qo["moved"].as_u64().unwrap();
    assert!(rewritten > 0, "the fixture has mbox extras: {qo}");
    assert!(merged > 0, "the fixture has flag merges: {qo}");

    let after_q = snapshot(&tree);
    let q_snap = snapshot(&qdir);
    let dry = restore(&qdir, &["--dry-run", "--json"]);
    dry.expect_code(0, "restore --dry-run");
    assert_same(&after_q, &snapshot(&tree), "tree after restore --dry-run");
    assert_same(&q_snap, &snapshot(&qdir), "QDIR after restore --dry-run");
    let real = restore(&qdir, &["--json"]);
    real.expect_code(0, "restore");
    assert_same(&before, &snapshot(&tree), "tree after restore");

    let (d, r) = (counts(&dry.json()), counts(&real.json()));
    assert_eq!(d, r, "dry run and real run counts");
    assert_eq!(field(&r, "restored"), moved, "every moved copy restored");
    assert_eq!(field(&r, "flags_undone"), merged, "every merge undone");
    assert!(
        field(&r, "mboxes_restored") >= 1 && field(&r, "mboxes_restored") <= rewritten,
        "{r:?}"
    );
    assert_eq!(dry.json()["dry_run"], true);
    let actions = dry.json()["outcome"]["actions"]
        .as_array()
        .map_or(0, Vec::len) as u64;
    let mbox_actions = dry.json()["outcome"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a.as_str().is_some_and(|a| a.starts_with("reinsert ")))
        .count() as u64;
    assert_eq!(mbox_actions, field(&r, "mboxes_restored"), "one per mbox");
    assert!(
        actions > mbox_actions,
        "Maildir moves and renames listed too"
    );

    // Nothing left: both agree on that too.
    let dry2 = restore(&qdir, &["--dry-run", "--json"]);
    let real2 = restore(&qdir, &["--json"]);
    assert_eq!(
        counts(&dry2.json()),
        counts(&real2.json()),
        "second restore"
    );
    assert_eq!(field(&counts(&real2.json()), "restored"), 0);
}

/// Two runs into one QDIR (the second rewrites mboxes the first rewrote already): the
/// dry run plans the newer run's undo before judging the older one, as the real run does.
#[test]
fn dry_run_counts_equal_the_real_runs_over_two_quarantine_runs() {
    let td = TempDir::new().unwrap();
    let root = td.path().canonicalize().unwrap();
    let tree = root.join("tree");
    full_tree(&tree);
    let qdir = root.join("quarantine");
    let before = snapshot(&tree);
    quarantine(&[&tree], &qdir, &["--only", "same-time"]).expect_code(0, "first run");
    quarantine(&[&tree], &qdir, &[]).expect_code(0, "second run");
    let dry = restore(&qdir, &["--dry-run", "--json"]);
    dry.expect_code(0, "restore --dry-run");
    let real = restore(&qdir, &["--json"]);
    real.expect_code(0, "restore");
    assert_same(&before, &snapshot(&tree), "after restoring both runs");
    let (d, r) = (counts(&dry.json()), counts(&real.json()));
    assert_eq!(d, r, "dry run and real run counts");
    assert!(field(&r, "mboxes_restored") >= 2, "{r:?}");
}

/// A restore interrupted after its mbox rewrites (here: a restore whose `restored` lines
/// were lost) finds the mboxes already whole: the dry run says so the way the real run does.
#[test]
fn dry_run_counts_what_is_already_in_place() {
    let td = TempDir::new().unwrap();
    let root = td.path().canonicalize().unwrap();
    let tree = root.join("tree");
    full_tree(&tree);
    let qdir = root.join("quarantine");
    quarantine(&[&tree], &qdir, &[]).expect_code(0, "quarantine");
    let manifest = std::fs::read(qdir.join("manifest.jsonl")).unwrap();
    restore(&qdir, &[]).expect_code(0, "restore");
    // Forget the restore: the manifest as the quarantine left it.
    std::fs::write(qdir.join("manifest.jsonl"), &manifest).unwrap();
    let dry = restore(&qdir, &["--dry-run", "--json"]);
    let real = restore(&qdir, &["--json"]);
    let (d, r) = (counts(&dry.json()), counts(&real.json()));
    assert_eq!(d, r, "dry run and real run counts");
    assert_eq!(field(&r, "restored"), 0);
    assert!(field(&r, "already") > 0, "{r:?}");
}

/// The text output: the dry run's summary line carries the real run's numbers.
#[test]
fn dry_run_text_summary_has_the_real_runs_numbers() {
    let td = TempDir::new().unwrap();
    let root = td.path().canonicalize().unwrap();
    let tree = root.join("tree");
    full_tree(&tree);
    let qdir = root.join("quarantine");
    quarantine(&[&tree], &qdir, &[]).expect_code(0, "quarantine");
    let dry = restore(&qdir, &["--dry-run"]);
    dry.expect_code(0, "restore --dry-run");
    let real = restore(&qdir, &[]);
    real.expect_code(0, "restore");
    let summary = |out: &str, lead: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(lead))
            .unwrap_or_else(|| panic!("no line starting {lead:?} in:\n{out}"))
            .replace("undo ", "")
            .replace("undid ", "")
            .replace("rewrite ", "")
            .replace("rewrote ", "")
    };
    let d = summary(&dry.stdout, "Dry run: would restore ");
    let r = summary(&real.stdout, "Restored ");
    assert_eq!(d, r, "dry:\n{}\nreal:\n{}", dry.stdout, real.stdout);
    assert!(!r.contains(" 0 mbox files"), "{r}");
    assert!(dry.stdout.lines().any(|l| l.starts_with("would reinsert ")));
    assert!(dry.stdout.lines().any(|l| l.starts_with("would move ")));
}
