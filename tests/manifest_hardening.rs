//! A manifest `restore` cannot trust, and runs that overlap: every test drives the real
//! binary.
//!
//! - A manifest whose numbers were changed (set to 0, huge, off by one, swapped; edits
//!   reversed, dropped, repeated; ids repeated; names with `..`): `restore` never panics
//!   (exit 101), never loses a message, and names the manifest line of a record it refuses.
//! - A manifest whose last line was cut off while being appended: `restore` says so, names
//!   the line and what it means, and restores the rest.
//! - Two `quarantine` runs over one store at once: the second waits for the first, or
//!   stops before changing anything, saying why; both quarantine folders restore cleanly.
//! - A quarantined copy missing from QDIR but back in its store: not reported as missing.
#![cfg(feature = "fault-injection")]

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Maildir copies (moves and flag merges), mbox copies (extracts, rewrites with removed
/// messages and header edits) in one tree.
fn mixed_tree(dst: &Path) {
    copy_dir(&fixtures().join("cases"), &dst.join("cases"));
    flag_mboxes(&dst.join("flags"));
}

/// Every JSON pointer to a number in `v`.
fn numbers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Number(_) => out.push(at),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| numbers(x, format!("{at}/{i}"), out)),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| numbers(x, format!("{at}/{k}"), out)),
        _ => {}
    }
}

/// One changed manifest: what was changed, the line (1-based) and its new text.
struct Mutation {
    what: String,
    line: usize,
    text: String,
}

fn mutations(lines: &[String]) -> Vec<Mutation> {
    let mut out = Vec::new();
    let mut push = |what: String, line: usize, v: &Value| {
        out.push(Mutation {
            what,
            line: line + 1,
            text: serde_json::to_string(v).unwrap(),
        })
    };
    let recs: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, r) in recs.iter().enumerate() {
        let kind = r["type"].as_str().unwrap_or("").to_string();
        let mut ptrs = Vec::new();
        numbers(r, String::new(), &mut ptrs);
        for p in &ptrs {
            let n = r.pointer(p).and_then(Value::as_u64).unwrap_or(0);
            if p.starts_with("/kept") {
                continue; // never read by restore
            }
            // Off by one below matters for a rewrite's sizes and edits, where it is cheap.
            let below = (kind == "mbox-rewrite").then(|| n.wrapping_sub(1));
            for new in [Some(0), below, Some(n + 1), Some(u64::MAX)]
                .into_iter()
                .flatten()
            {
                if new == n {
                    continue;
                }
                let mut m = r.clone();
                *m.pointer_mut(p).unwrap() = Value::from(new);
                push(format!("{kind} line {}: {p} {n} -> {new}", i + 1), i, &m);
            }
        }
        let swap = |m: &mut Value, a: &str, b: &str| {
            let (x, y) = (m.pointer(a).cloned(), m.pointer(b).cloned());
            if let (Some(x), Some(y)) = (x, y) {
                *m.pointer_mut(a).unwrap() = y;
                *m.pointer_mut(b).unwrap() = x;
            }
        };
        if kind == "mbox-rewrite" {
            let mut m = r.clone();
            swap(&mut m, "/pre_size", "/post_size");
            push(format!("line {}: pre_size <-> post_size", i + 1), i, &m);
            let edits = r["edits"].as_array().cloned().unwrap_or_default();
            for k in 0..edits.len() {
                let mut m = r.clone();
                swap(
                    &mut m,
                    &format!("/edits/{k}/offset"),
                    &format!("/edits/{k}/length"),
                );
                push(format!("line {}: edit {k} offset <-> length", i + 1), i, &m);
                if edits[k]["original"].is_string() {
                    let mut m = r.clone();
                    m["edits"][k]["original"] = Value::from("!!not base64!!");
                    push(format!("line {}: edit {k} bad base64", i + 1), i, &m);
                }
                if edits[k]["extract"].is_string() {
                    let mut m = r.clone();
                    m["edits"][k]["extract"] = Value::from("no-such-extract");
                    push(format!("line {}: edit {k} unknown extract", i + 1), i, &m);
                }
            }
            if edits.len() > 1 {
                let mut m = r.clone();
                m["edits"] = Value::from(edits.iter().rev().cloned().collect::<Vec<_>>());
                push(format!("line {}: edits reversed", i + 1), i, &m);
                let mut m = r.clone();
                let mut e = edits.clone();
                e.rotate_left(1);
                m["edits"] = Value::from(e);
                push(format!("line {}: edits rotated", i + 1), i, &m);
            }
            if !edits.is_empty() {
                let mut m = r.clone();
                m["edits"] = Value::from(edits[1..].to_vec());
                push(format!("line {}: first edit dropped", i + 1), i, &m);
                let mut m = r.clone();
                let mut e = edits.clone();
                e.insert(0, edits[0].clone());
                m["edits"] = Value::from(e);
                push(format!("line {}: first edit twice", i + 1), i, &m);
                let mut m = r.clone();
                m["edits"][0]["offset"] = Value::from(r["pre_size"].as_u64().unwrap() + 10);
                push(format!("line {}: edit past the end", i + 1), i, &m);
            }
        }
        if kind == "mbox-extract" {
            let mut m = r.clone();
            swap(&mut m, "/offset", "/length");
            push(format!("line {}: offset <-> length", i + 1), i, &m);
            let mut m = r.clone();
            m["from_line"] = Value::from("%%%");
            push(format!("line {}: from_line not base64", i + 1), i, &m);
            let mut m = r.clone();
            m["unquoted_lines"] = Value::from(vec![5, 2, 2]);
            push(format!("line {}: unquoted_lines unsorted", i + 1), i, &m);
        }
        if kind == "mbox-extract" || kind == "maildir-move" {
            for bad in [
                "cur/../../escape",
                "cur/a/b",
                "new/x",
                "cur/..",
                "/etc/passwd",
            ] {
                let mut m = r.clone();
                m["quarantined"] = Value::from(bad);
                push(format!("line {}: quarantined {bad:?}", i + 1), i, &m);
            }
        }
        // The id of the record before it (a repeated id).
        if r.get("id").is_some() {
            if let Some(prev) = recs[..i].iter().rev().find_map(|p| p.get("id")) {
                let mut m = r.clone();
                m["id"] = prev.clone();
                push(format!("line {}: id repeated", i + 1), i, &m);
            }
        }
    }
    out
}

fn reset(pristine: &Path, area: &Path) {
    if area.exists() {
        fs::remove_dir_all(area).unwrap();
    }
    copy_dir(pristine, area);
}

#[test]
fn tampered_manifests_never_panic_nor_lose_a_message() {
    let d = tempfile::tempdir().unwrap();
    let area = d.path().join("area");
    let (tree, q) = (area.join("tree"), area.join("q"));
    mixed_tree(&tree);
    let before = snapshot(&tree);
    let orig = originals(&before);
    let out = quarantine(&[&tree], &q, &[]);
    assert!(matches!(out.code, Some(0 | 3)), "{}", out.show());
    let lines = manifest_lines(&q);
    let m = manifest(&q);
    assert!(!records(&m, "mbox-rewrite").is_empty() && !records(&m, "maildir-move").is_empty());
    let pristine = d.path().join("pristine");
    copy_dir(&area, &pristine);

    // The manifest as written restores everything.
    let out = restore(&q, &[]);
    out.expect_code(0, "restore of the untouched manifest");
    assert_same(
        &before,
        &snapshot(&tree),
        "restore of the untouched manifest",
    );

    let muts = mutations(&lines);
    assert!(muts.len() > 100, "only {} mutations", muts.len());
    let mut refused = 0;
    for mu in &muts {
        reset(&pristine, &area);
        let mut changed = lines.clone();
        changed[mu.line - 1] = mu.text.clone();
        write_manifest_lines(&q, &changed);
        let out = restore(&q, &[]);
        assert!(
            out.signal.is_none() && matches!(out.code, Some(0 | 2 | 3)),
            "{}: {}",
            mu.what,
            out.show()
        );
        assert!(
            !out.stderr.contains("panicked"),
            "{}: {}",
            mu.what,
            out.show()
        );
        let lost = lost_messages(&orig, &tree, &q);
        assert!(lost.is_empty(), "{}: {lost:#?}\n{}", mu.what, out.show());
        if out
            .stdout
            .contains(&format!("manifest.jsonl: line {}: ", mu.line))
        {
            refused += 1;
        }
    }
    // The checks that were asked for by name, each naming the line of its record.
    for (what, expect) in [
        ("edits reversed", "must be sorted and must not overlap"),
        ("edit past the end", "ends past the old file's size"),
        ("pre_size <-> post_size", ""),
        ("bad base64", "original is not base64"),
        ("unknown extract", "which no record has"),
        ("id repeated", "its id is used by more than one record"),
        (
            "quarantined \"cur/../../escape\"",
            "is not a plain cur/NAME",
        ),
    ] {
        let mu = muts
            .iter()
            .find(|m| m.what.ends_with(what))
            .unwrap_or_else(|| panic!("no mutation {what}"));
        reset(&pristine, &area);
        let mut changed = lines.clone();
        changed[mu.line - 1] = mu.text.clone();
        write_manifest_lines(&q, &changed);
        let out = restore(&q, &[]);
        out.expect_code(3, &mu.what);
        let want = format!("manifest.jsonl: line {}: ", mu.line);
        let hit = out
            .stdout
            .lines()
            .find(|l| l.contains(&want))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no refusal naming line {}:\n{}",
                    mu.what,
                    mu.line,
                    out.show()
                )
            });
        assert!(
            hit.contains("is invalid") && hit.contains(expect),
            "{}: {hit}",
            mu.what
        );
    }
    eprintln!(
        "{} mutated manifests restored without a panic or a lost message; {refused} refused by line",
        muts.len()
    );
}

/// The fault point number at which `quarantine` reaches `name` in a fresh copy of `tree`.
fn point_number(template: &Path, area: &Path, name: &str) -> usize {
    for n in 1..200 {
        reset(template, area);
        let out = quarantine_env(
            &[&area.join("tree")],
            &area.join("q"),
            &[],
            &[("MAILDEDUP_FAULT_AT", &n.to_string())],
        );
        if out
            .stderr
            .contains(&format!("SIGKILL at point {n} ({name})"))
        {
            return n;
        }
        assert_eq!(
            out.signal,
            Some(9),
            "run ended before {name}:\n{}",
            out.show()
        );
    }
    panic!("{name} never reached");
}

#[test]
fn a_manifest_line_cut_off_while_appending() {
    let d = tempfile::tempdir().unwrap();
    let template = d.path().join("template");
    mbox_only(&template.join("tree"));
    let area = d.path().join("area");
    let (tree, q) = (area.join("tree"), area.join("q"));
    let before = snapshot(&template.join("tree"));
    let orig = originals(&before);

    // Killed after the extracted copy is in QDIR, before the mbox's rewrite record (the
    // mbox is edited in place only after that record): as if killed in the middle of
    // writing that record, whose first bytes we add.
    let n = point_number(&template, &area, "mbox.extract-linked");
    reset(&template, &area);
    let out = quarantine_env(&[&tree], &q, &[], &[("MAILDEDUP_FAULT_AT", &n.to_string())]);
    assert_eq!(out.signal, Some(9), "{}", out.show());
    let mut lines = manifest_lines(&q);
    let extract: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(extract["type"], "mbox-extract");
    let mbox = extract["mbox"].as_str().unwrap().to_string();
    let cut = format!(
        "{{\"type\":\"mbox-rewrite\",\"id\":\"x-9\",\"mbox\":{},\"pre_size\":12",
        serde_json::to_string(&mbox).unwrap()
    );
    lines.push(String::new());
    let mut text = lines[..lines.len() - 1].join("\n");
    text.push('\n');
    text.push_str(&cut); // no line break: cut off
    fs::write(q.join("manifest.jsonl"), &text).unwrap();
    let cut_line = lines.len();

    let out = restore(&q, &[]);
    out.expect_code(3, "restore after a cut-off line");
    let msg = out
        .stdout
        .lines()
        .find(|l| l.contains("is incomplete"))
        .unwrap_or_else(|| panic!("no incomplete line reported:\n{}", out.show()));
    for want in [
        "manifest.jsonl: line".to_string(),
        format!("line {cut_line} (an mbox-rewrite record for {mbox}"),
        "a run was interrupted while writing it".to_string(),
        "that change was never made".to_string(),
    ] {
        assert!(msg.contains(&want), "missing {want:?} in: {msg}");
    }
    assert!(!out.stdout.contains("changed"), "{}", out.show());
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("not restored:"))
            .count(),
        1,
        "only the cut line is a problem:\n{}",
        out.show()
    );
    // The killed run's dotlock stays until a program that wants the mbox breaks it as
    // stale (its pid is dead); restore here never needed the mbox's lock.
    for e in fs::read_dir(tree.join("mbox")).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with(".lock") {
            fs::remove_file(e.path()).unwrap();
        }
    }
    assert_same(&before, &snapshot(&tree), "restore after a cut-off line");
    assert!(
        names(&q.join("cur")).is_empty(),
        "{:?}",
        names(&q.join("cur"))
    );

    // Cut short *after* the rewrite was made (by hand, or a disk that lost the end of
    // the file): the copies in QDIR are named as the messages, nothing is lost.
    let area2 = d.path().join("area2");
    reset(&template, &area2);
    let (tree2, q2) = (area2.join("tree"), area2.join("q"));
    quarantine(&[&tree2], &q2, &[]).expect_code(0, "quarantine");
    let text = fs::read_to_string(q2.join("manifest.jsonl")).unwrap();
    // The last mbox-rewrite record, cut 60 bytes in, and what followed it (the in-place
    // write and its done record) lost with it.
    let last = text
        .rfind("{\"type\":\"mbox-rewrite\"")
        .expect("an mbox-rewrite record");
    fs::write(q2.join("manifest.jsonl"), &text[..last + 60]).unwrap();
    let out = restore(&q2, &[]);
    out.expect_code(3, "restore after the rewrite record was cut");
    assert!(out.stdout.contains("is incomplete"), "{}", out.show());
    assert!(out.stdout.contains("is safe in QDIR"), "{}", out.show());
    assert!(!out.stdout.contains("the mbox changed;"), "{}", out.show());
    let lost = lost_messages(&orig, &tree2, &q2);
    assert!(lost.is_empty(), "{lost:#?}");
}

fn mbox_only(dst: &Path) {
    copy_dir(&fixtures().join("cases/mbox"), &dst.join("mbox"));
}

/// `maildedup quarantine` started in the background, paused at `pause` for `secs` s.
fn spawn_quarantine(paths: &[&Path], q: &Path, pause: &str, secs: f64) -> Child {
    // Spawned, not run to the end: the caller starts another run while this one pauses.
    let mut cmd = md_cmd();
    cmd.arg("quarantine").arg("--no-progress");
    cmd.args(paths).arg("--to").arg(q);
    cmd.env("MAILDEDUP_FAULT_PAUSE_AT", pause)
        .env("MAILDEDUP_FAULT_PAUSE_SECS", secs.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(c: Child) -> Out {
    use std::os::unix::process::ExitStatusExt;
    let o = c.wait_with_output().unwrap();
    Out {
        code: o.status.code(),
        signal: o.status.signal(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn two_quarantines_of_one_store_at_once() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    let (one, two) = (tree.join("one"), tree.join("two"));
    copy_dir(&fixtures().join("cases/Maildir"), &one);
    copy_dir(&fixtures().join("cases/Maildir"), &two);
    copy_dir(&fixtures().join("cases/mbox"), &tree.join("mbox"));
    let three = tree.join("three");
    copy_dir(&fixtures().join("cases/Maildir"), &three);
    let before = snapshot(&tree);
    let orig = originals(&before);
    let q: PathBuf = d.path().join("q");
    let qdir = |n: &str| q.join(n);

    fs::create_dir_all(&q).unwrap();
    // An earlier quarantine of `two` alone, to restore while another run holds `two`.
    quarantine(&[&two], &qdir("q2"), &[]).expect_code(0, "quarantine two");
    let two_quarantined = snapshot(&tree);

    // A: both Maildirs and the mboxes, paused right after its run record is written.
    let mbox = tree.join("mbox");
    let a = spawn_quarantine(&[&one, &two, &mbox], &qdir("qa"), "manifest.appended", 4.0);
    wait_for("the first run's manifest", || {
        fs::metadata(qdir("qa").join("manifest.jsonl")).is_ok_and(|m| m.len() > 0)
    });
    let t0 = Instant::now();

    // B, at once: stops before changing anything, naming the store.
    let b = quarantine(&[&one], &qdir("qb"), &["--lock-timeout", "0"]);
    b.expect_code(2, "second quarantine, no wait");
    let one_s = one.display().to_string();
    for want in [
        one_s.as_str(),
        "another maildedup run is working on this store",
        "nothing was changed",
    ] {
        assert!(b.stderr.contains(want), "missing {want:?}:\n{}", b.show());
    }
    assert!(!b.stderr.contains("No such file"), "{}", b.show());
    assert!(!qdir("qb").exists(), "the stopped run created its QDIR");

    // A restore that would write into `two`, locked by A: stops, having changed nothing.
    let q2_manifest = fs::read(qdir("q2").join("manifest.jsonl")).unwrap();
    let r = restore(&qdir("q2"), &["--lock-timeout", "0"]);
    r.expect_code(2, "restore while another run holds the store");
    assert!(
        r.stderr.contains(&two.display().to_string())
            && r.stderr
                .contains("another maildedup run is working on this store"),
        "{}",
        r.show()
    );
    assert_eq!(
        fs::read(qdir("q2").join("manifest.jsonl")).unwrap(),
        q2_manifest
    );

    // C (over `one` and `three`) waits for A, then scans what A left.
    let c = {
        let mut cmd = md_cmd();
        cmd.args(["quarantine", "--no-progress", "--lock-timeout", "60"])
            .arg(&one)
            .arg(&three)
            .arg("--to")
            .arg(qdir("qc"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let a = finish(a);
    assert!(t0.elapsed() >= Duration::from_secs(2), "A did not pause");
    a.expect_code(0, "first quarantine");
    assert_ne!(snapshot(&tree), two_quarantined, "A moved nothing");
    let c = finish(c);
    // Had it scanned before A finished, the copies A moved would be "vanished since the
    // scan: left in place" (exit 3).
    c.expect_code(0, "quarantine that waited");
    assert!(!c.stdout.contains("left in place"), "{}", c.show());
    assert!(
        !records(&manifest(&qdir("qc")), "maildir-move").is_empty(),
        "{}",
        c.show()
    );

    // Every quarantine folder restores cleanly, newest first; every message is back.
    for name in ["qc", "qa", "q2"] {
        let out = restore(&qdir(name), &[]);
        out.expect_code(0, &format!("restore {name}"));
        assert!(!out.stdout.contains("missing"), "{}", out.show());
    }
    assert_same(&before, &snapshot(&tree), "after both restores");
    let lost = lost_messages(&orig, &tree, &qdir("qa"));
    assert!(lost.is_empty(), "{lost:#?}");
}

#[test]
fn a_copy_missing_from_qdir_but_back_in_its_store_is_not_missing() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    copy_dir(&fixtures().join("cases/Maildir"), &tree.join("Maildir"));
    let before = snapshot(&tree);
    let q = d.path().join("q");
    quarantine(&[&tree], &q, &[]).expect_code(0, "quarantine");
    let m = manifest(&q);
    let mv = records(&m, "maildir-move")[0].clone();
    let (src, qn) = (
        PathBuf::from(mv["source"].as_str().unwrap()),
        mv["quarantined"].as_str().unwrap().to_string(),
    );
    // Put back by hand, then flagged by a mail client: another name in its store.
    let name = src.file_name().unwrap().to_string_lossy().into_owned();
    let unique = name.split(":2,").next().unwrap();
    let back = src.parent().unwrap().join(format!("{unique}:2,FRST"));
    assert_ne!(back, src);
    fs::rename(q.join(&qn), &back).unwrap();
    let out = restore(&q, &[]);
    out.expect_code(0, "restore");
    assert!(!out.stdout.contains("missing"), "{}", out.show());
    assert!(
        out.stdout.contains("(1 already in place)"),
        "{}",
        out.show()
    );
    fs::rename(&back, &src).unwrap();
    assert_same(&before, &snapshot(&tree), "after restore");

    // Gone from both QDIR and the store: said where it may be, not "missing".
    let d2 = tempfile::tempdir().unwrap();
    let tree2 = d2.path().join("tree");
    copy_dir(&fixtures().join("cases/Maildir"), &tree2.join("Maildir"));
    let q2 = d2.path().join("q");
    quarantine(&[&tree2], &q2, &[]).expect_code(0, "quarantine");
    let mv = records(&manifest(&q2), "maildir-move")[0].clone();
    let aside = d2.path().join("aside");
    fs::rename(q2.join(mv["quarantined"].as_str().unwrap()), &aside).unwrap();
    let out = restore(&q2, &[]);
    out.expect_code(3, "restore");
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("neither"))
        .unwrap_or_else(|| panic!("{}", out.show()));
    assert!(line.contains("has no file with unique name"), "{line}");
    assert!(!line.contains("is missing from QDIR"), "{line}");
}

#[test]
fn a_copy_renamed_by_a_mail_client_while_being_moved() {
    let d = tempfile::tempdir().unwrap();
    let template = d.path().join("template");
    copy_dir(&fixtures().join("cases/Maildir"), &template.join("Maildir"));
    let before = snapshot(&template);
    // Which manifest line the first move is announced on (its batch's records are
    // appended together; the run pauses once they are, before the batch moves).
    let probe = d.path().join("probe");
    copy_dir(&template, &probe);
    quarantine(&[&probe], &d.path().join("qprobe"), &[]).expect_code(0, "probe");
    let k = manifest_lines(&d.path().join("qprobe"))
        .iter()
        .position(|l| l.contains("\"type\":\"maildir-move\""))
        .unwrap()
        + 1;

    let tree = d.path().join("tree");
    copy_dir(&template, &tree);
    let q = d.path().join("q");
    let run = spawn_quarantine(&[&tree], &q, "batch.recorded@1", 3.0);
    wait_for("the first move's record", || {
        fs::read_to_string(q.join("manifest.jsonl")).is_ok_and(|t| t.lines().count() >= k)
    });
    let rec: Value = serde_json::from_str(&manifest_lines(&q)[k - 1]).unwrap();
    assert_eq!(rec["type"], "maildir-move", "{rec}");
    let src = PathBuf::from(rec["source"].as_str().unwrap());
    let name = src.file_name().unwrap().to_string_lossy().into_owned();
    let renamed = src
        .parent()
        .unwrap()
        .join(format!("{}:2,FRST", name.split(":2,").next().unwrap()));
    assert_ne!(renamed, src);
    // The mail client flags it while the run waits between its record and its move.
    fs::rename(&src, &renamed).unwrap();
    let out = finish(run);
    out.expect_code(3, "quarantine");
    assert!(
        out.stdout.contains("vanished while being moved") && !out.stderr.contains("No such file"),
        "{}",
        out.show()
    );
    let r = restore(&q, &[]);
    r.expect_code(0, "restore");
    assert!(r.stdout.contains("(1 already in place)"), "{}", r.show());
    fs::rename(&renamed, &src).unwrap();
    assert_same(&before, &snapshot(&tree), "after restore");
}
