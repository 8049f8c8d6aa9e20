//! `--each`: many mailboxes in one run, on a generated server (`tests/common/fleet.rs`):
//! nothing crosses a mailbox, each mailbox's JSON line is its own `scan --json`, a failing
//! mailbox does not stop the others, per-mailbox quarantine folders and their restore,
//! fleet incidents.

mod common;
#[path = "common/fleet.rs"]
mod fleetgen;
#[path = "common/incidents.rs"]
mod gen;

use common::*;
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

fn lines(out: &Out) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

fn args_with(first: &[&str], paths: &[PathBuf]) -> Vec<String> {
    first
        .iter()
        .map(|s| s.to_string())
        .chain(paths.iter().map(|p| s(p)))
        .collect()
}

#[test]
fn each_mailbox_is_its_own_world_and_its_line_is_its_own_scan() {
    let (_t, root) = canonical_tempdir();
    let paths = fleetgen::write_fleet(&root, 50, 10);
    let out = md(args_with(
        &["scan", "--each", "--json", "--no-cache", "--jobs", "3"],
        &paths,
    ));
    out.expect_code(0, "scan --each --json");
    let lines = lines(&out);
    assert_eq!(lines.len(), 51, "{}", out.show());
    for (k, (line, path)) in lines.iter().zip(&paths).enumerate() {
        // In the order of the PATHs, each named.
        assert_eq!(line["mailbox"], s(path));
        let burst = if k % 10 == 0 {
            fleetgen::BURST_COPIES
        } else {
            0
        };
        let expected = fleetgen::own_duplicates(k) + burst;
        assert_eq!(line["summary"]["groups"], expected, "mailbox {k}");
        assert_eq!(line["summary"]["extra_copies"], expected, "mailbox {k}");
        // The list messages are in every mailbox: never a group, never a conflict.
        assert_eq!(line["summary"]["conflicts"], 0);
        for g in line["groups"].as_array().unwrap() {
            for c in g["copies"].as_array().unwrap() {
                let p = c["path"].as_str().unwrap();
                assert!(
                    Path::new(p).starts_with(path),
                    "copy {p} outside mailbox {}",
                    path.display()
                );
            }
        }
        // The same report as a plain scan of that mailbox alone.
        let alone = md(["scan", "--json", "--no-cache", &s(path)]);
        alone.expect_code(0, "scan one mailbox");
        let mut mine = line.clone();
        mine.as_object_mut().unwrap().remove("mailbox");
        assert_eq!(
            mine,
            alone.json(),
            "mailbox {k}: the line differs from its own scan"
        );
    }
    let fleet = &lines[50]["fleet"];
    assert_eq!(fleet["mailboxes"], 50);
    assert_eq!(fleet["failed"], 0);
    assert_eq!(fleet["mailboxes_with_duplicates"], 50);
    let groups: usize = (0..50)
        .map(|k| fleetgen::own_duplicates(k) + if k % 10 == 0 { 30 } else { 0 })
        .sum();
    assert_eq!(fleet["groups"], groups);
    assert_eq!(fleet["messages"].as_u64().unwrap() as usize, {
        let per: usize = (0..50)
            .map(|k| {
                fleetgen::LIST_MESSAGES
                    + 40
                    + 2 * fleetgen::own_duplicates(k)
                    + if k % 10 == 0 { 60 } else { 0 }
            })
            .sum();
        per
    });
    // The shared burst hour in 5 mailboxes: one fleet incident naming them.
    let inc = fleet["incidents"].as_array().unwrap();
    assert_eq!(inc.len(), 1, "{fleet:#}");
    assert_eq!(inc[0]["mailbox_count"], 5);
    assert_eq!(inc[0]["cause_code"], "alias-expansion");
    assert_eq!(inc[0]["kind"], "burst");
    assert_eq!(inc[0]["extra_copies"], 150);
    let named: Vec<&str> = inc[0]["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let want: Vec<String> = (0..50).step_by(10).map(|k| s(&paths[k])).collect();
    assert_eq!(named, want);
}

#[test]
fn a_fleet_incident_needs_the_threshold_and_is_named_in_the_text() {
    let (_t, root) = canonical_tempdir();
    let paths = fleetgen::write_fleet(&root, 8, 2); // 4 mailboxes share the burst
    let text = md(args_with(&["scan", "--each", "--no-cache"], &paths));
    text.expect_code(0, "scan --each");
    assert!(
        text.stdout.contains("Fleet incident: ")
            && text.stdout.contains("in 4 mailboxes")
            && text.stdout.contains("alias-expansion"),
        "{}",
        text.show()
    );
    assert!(text.stdout.contains("Fleet: 8 mailboxes (0 failed)"));
    // One section per mailbox with something to say (every one has duplicates).
    assert_eq!(
        text.stdout.matches("\n== ").count() + 1,
        8,
        "{}",
        text.show()
    );
    let high = md(args_with(
        &[
            "scan",
            "--each",
            "--json",
            "--no-cache",
            "--fleet-threshold",
            "5",
        ],
        &paths,
    ));
    let l = lines(&high);
    assert_eq!(l[8]["fleet"]["incidents"], serde_json::json!([]));
    // A window shorter than the gap between... the bursts overlap: still one incident.
    let low = md(args_with(
        &[
            "scan",
            "--each",
            "--json",
            "--no-cache",
            "--fleet-threshold",
            "4",
        ],
        &paths,
    ));
    assert_eq!(lines(&low)[8]["fleet"]["incidents"][0]["mailbox_count"], 4);
}

#[test]
fn a_failing_mailbox_does_not_stop_the_others() {
    let (_t, root) = canonical_tempdir();
    let mut paths = fleetgen::write_fleet(&root, 6, 0);
    let not_mail = root.join("notes.txt");
    std::fs::write(&not_mail, "just text\n").unwrap();
    paths.insert(2, root.join("example.com/gone/Maildir"));
    paths.push(not_mail);
    for json in [true, false] {
        let mut a = vec!["scan", "--each", "--no-cache"];
        if json {
            a.push("--json");
        }
        let out = md(args_with(&a, &paths));
        out.expect_code(4, "a vanished mailbox and a file that is no mail");
        assert!(out
            .stderr
            .contains("gone/Maildir: no such file or directory"));
        assert!(out.stderr.contains("notes.txt: not a mail store"));
        if json {
            let l = lines(&out);
            assert_eq!(l.len(), 9);
            assert!(l[2]["error"].as_str().unwrap().contains("no such file"));
            assert_eq!(l[2]["mailbox"], s(&paths[2]));
            assert_eq!(l[3]["summary"]["groups"], fleetgen::own_duplicates(2));
            assert_eq!(l[8]["fleet"]["failed"], 2);
            assert_eq!(l[8]["fleet"]["mailboxes"], 8);
            assert_eq!(l[8]["fleet"]["mailboxes_with_duplicates"], 6);
        } else {
            assert!(out.stdout.contains("Fleet: 8 mailboxes (2 failed)"));
            assert!(out.stdout.contains("failed: "));
        }
    }
    // --check: duplicates, but the failure wins (4, as for any PATH without a store).
    let out = md(args_with(
        &["scan", "--each", "--check", "-q", "--no-cache"],
        &paths,
    ));
    out.expect_code(4, "--check with a failing mailbox");
    let ok: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.join("cur").is_dir())
        .cloned()
        .collect();
    let out = md(args_with(
        &["scan", "--each", "--check", "-q", "--no-cache"],
        &ok,
    ));
    out.expect_code(1, "--check over good mailboxes");
}

#[test]
fn per_mailbox_quarantine_folders_and_restore_round_trip_byte_exact() {
    let (_t, root) = canonical_tempdir();
    let paths = fleetgen::write_fleet(&root, 8, 4);
    // Mailboxes with modes (and, as root, an owner: nobody) of their own: the quarantine
    // folder must take them.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&root, PermissionsExt::from_mode(0o755)).unwrap();
    for (k, p) in paths.iter().enumerate() {
        let mode = if k % 2 == 0 { 0o700 } else { 0o750 };
        std::fs::set_permissions(p, PermissionsExt::from_mode(mode)).unwrap();
        if is_root() {
            for e in walkdir::WalkDir::new(p.parent().unwrap()) {
                let e = e.unwrap();
                std::os::unix::fs::lchown(e.path(), Some(65534), Some(65534)).unwrap();
            }
        }
    }
    let before = snapshot(&root);
    let dry = md(args_with(
        &[
            "quarantine",
            "--each",
            "--dry-run",
            "--json",
            "--no-cache",
            "--to",
            "{mailbox}/.Quarantine",
        ],
        &paths,
    ));
    dry.expect_code(0, "dry run");
    assert_eq!(snapshot(&root), before, "a dry run wrote");
    let dl = lines(&dry);
    assert_eq!(dl[0]["summary"]["moves"], fleetgen::own_duplicates(0) + 30);
    assert_eq!(
        dl[8]["fleet"]["moved"],
        dl.iter()
            .take(8)
            .map(|l| l["summary"]["moves"].as_u64().unwrap())
            .sum::<u64>()
    );

    let out = md(args_with(
        &[
            "quarantine",
            "--each",
            "--json",
            "--no-cache",
            "--jobs",
            "2",
            "--to",
            "{mailbox}/.Quarantine",
        ],
        &paths,
    ));
    out.expect_code(0, "quarantine --each");
    let l = lines(&out);
    for (k, p) in paths.iter().enumerate() {
        let q = p.join(".Quarantine");
        assert_eq!(l[k]["qdir"], s(&q));
        let expected = fleetgen::own_duplicates(k) + if k % 4 == 0 { 30 } else { 0 };
        assert_eq!(l[k]["outcome"]["moved"], expected, "mailbox {k}");
        let files = std::fs::read_dir(q.join("cur")).unwrap().count()
            + std::fs::read_dir(q.join("new")).unwrap().count();
        assert_eq!(
            files, expected,
            "mailbox {k}: files in its quarantine folder"
        );
        // The folder has the mailbox's mode and owner, and so does what is in it.
        let m = std::fs::metadata(p).unwrap();
        for e in walkdir::WalkDir::new(&q) {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            assert_eq!(
                (md.uid(), md.gid()),
                (m.uid(), m.gid()),
                "{}",
                e.path().display()
            );
            if md.is_dir() {
                assert_eq!(
                    md.mode() & 0o7777,
                    m.mode() & 0o7777,
                    "{}",
                    e.path().display()
                );
            }
        }
    }
    assert_eq!(l[8]["fleet"]["failed"], 0);
    // The quarantine folders are never scanned: no duplicates left, nothing skipped as failed.
    let after = md(args_with(
        &["scan", "--each", "--json", "--no-cache"],
        &paths,
    ));
    after.expect_code(0, "scan after quarantine");
    let al = lines(&after);
    assert_eq!(al[8]["fleet"]["groups"], 0);
    assert_eq!(
        al[0]["summary"]["stores"], 2,
        "the .Quarantine folder was scanned"
    );

    let qdirs: Vec<PathBuf> = paths.iter().map(|p| p.join(".Quarantine")).collect();
    if is_root() {
        // Root refuses a quarantine folder a user owns: a user's manifest must not steer
        // root's writes. Their owner restores them (as nobody, through setpriv).
        let r = md(args_with(&["restore"], &qdirs[..1]));
        r.expect_code(2, "root restoring nobody's quarantine folder");
    }
    let r = Out::from(
        md_cmd_unprivileged()
            .arg("restore")
            .args(&qdirs)
            .output()
            .unwrap(),
    );
    r.expect_code(0, "restore every quarantine folder");
    // Byte for byte (the emptied quarantine folders stay, with the manifest).
    let mut now = snapshot(&root);
    now.0
        .retain(|p, _| !p.components().any(|c| c.as_os_str() == ".Quarantine"));
    assert_same(&before, &now, "after restore");
}

#[test]
fn the_template_must_name_the_mailbox_and_a_qdir_inside_must_be_a_dot_folder() {
    let (_t, root) = canonical_tempdir();
    let paths = fleetgen::write_fleet(&root, 3, 0);
    let before = snapshot(&root);
    let out = md(args_with(
        &[
            "quarantine",
            "--each",
            "--no-cache",
            "--to",
            &s(&root.join("q")),
        ],
        &paths,
    ));
    out.expect_code(2, "a --to without {mailbox}");
    assert!(out.stderr.contains("{mailbox}"), "{}", out.show());
    let out = md(args_with(
        &[
            "quarantine",
            "--each",
            "--no-cache",
            "--to",
            "{mailbox}/cur/q",
        ],
        &paths,
    ));
    out.expect_code(4, "a quarantine folder inside the mailbox's cur/");
    assert!(
        out.stderr.contains("Maildir++ folder right inside it"),
        "{}",
        out.show()
    );
    assert_eq!(snapshot(&root), before);
    // Outside the mailboxes, anywhere the template puts it.
    let out = md(args_with(
        &[
            "quarantine",
            "--each",
            "--no-cache",
            "--to",
            &format!("{}/{{mailbox}}", s(&root.join("q"))),
        ],
        &paths,
    ));
    out.expect_code(0, "quarantine folders outside");
    assert!(root
        .join("q")
        .join(paths[1].strip_prefix("/").unwrap())
        .join("cur")
        .is_dir());
}

#[test]
fn restore_names_a_missing_quarantine_folder_and_restores_the_others() {
    let (_t, root) = canonical_tempdir();
    let paths = fleetgen::write_fleet(&root, 2, 0);
    let before = snapshot(&root);
    md(args_with(
        &[
            "quarantine",
            "--each",
            "--no-cache",
            "--to",
            "{mailbox}/.Quarantine",
        ],
        &paths,
    ))
    .expect_code(0, "quarantine");
    let out = md([
        "restore".to_string(),
        s(&paths[0].join(".Quarantine")),
        s(&root.join("nowhere")),
        s(&paths[1].join(".Quarantine")),
    ]);
    out.expect_code(4, "one of three quarantine folders is missing");
    assert!(out.stderr.contains("nowhere"), "{}", out.show());
    let mut now = snapshot(&root);
    now.0
        .retain(|p, _| !p.components().any(|c| c.as_os_str() == ".Quarantine"));
    assert_same(&before, &now, "after restore");
}

#[test]
fn an_unreadable_mailbox_is_named_and_the_others_are_scanned() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, root) = canonical_tempdir();
    std::fs::set_permissions(&root, PermissionsExt::from_mode(0o755)).unwrap();
    let paths = fleetgen::write_fleet(&root, 3, 0);
    std::fs::set_permissions(&paths[1], PermissionsExt::from_mode(0o000)).unwrap();
    // As root, run as nobody: permission bits deny it what they would deny a user.
    let out = Out::from(
        md_cmd_unprivileged()
            .args(["scan", "--each", "--json", "--no-cache"])
            .args(&paths)
            .output()
            .unwrap(),
    );
    std::fs::set_permissions(&paths[1], PermissionsExt::from_mode(0o755)).unwrap();
    out.expect_code(4, "an unreadable mailbox");
    let l = lines(&out);
    assert_eq!(l.len(), 4, "{}", out.show());
    assert!(
        l[1]["error"].as_str().unwrap().contains("ermission denied"),
        "{}",
        out.show()
    );
    assert_eq!(l[0]["summary"]["groups"], fleetgen::own_duplicates(0));
    assert_eq!(l[2]["summary"]["groups"], fleetgen::own_duplicates(2));
    assert_eq!(l[3]["fleet"]["failed"], 1);
}

#[test]
fn a_mailbox_given_twice_or_inside_another_is_refused() {
    let (_t, root) = canonical_tempdir();
    let paths = fleetgen::write_fleet(&root, 2, 0);
    let before = snapshot(&root);
    for extra in [paths[0].clone(), paths[1].join(".Lists")] {
        let mut p = paths.clone();
        p.push(extra);
        let out = md(args_with(&["scan", "--each", "--no-cache"], &p));
        out.expect_code(2, "nested or repeated mailboxes");
        assert!(
            out.stderr.contains("one inside the other"),
            "{}",
            out.show()
        );
        let out = md(args_with(
            &[
                "quarantine",
                "--each",
                "--no-cache",
                "--to",
                "{mailbox}/.Quarantine",
            ],
            &p,
        ));
        out.expect_code(2, "nested or repeated mailboxes");
    }
    assert_eq!(snapshot(&root), before);
}

#[test]
fn the_run_log_records_the_fleet_and_each_failure() {
    let (_t, root) = canonical_tempdir();
    let mut paths = fleetgen::write_fleet(&root, 3, 0);
    paths.push(root.join("example.com/gone/Maildir"));
    let log = root.join("runs.jsonl");
    let out = md(args_with(
        &["scan", "--each", "-q", "--no-cache", "--log", &s(&log)],
        &paths,
    ));
    out.expect_code(4, "a missing mailbox");
    let rec: Value = serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(rec["command"], "scan");
    assert_eq!(rec["exit_code"], 4);
    assert_eq!(rec["summary"]["mailboxes"], 4);
    assert_eq!(rec["summary"]["failed"], 1);
    let groups: usize = (0..3).map(fleetgen::own_duplicates).sum();
    assert_eq!(rec["summary"]["groups"], groups);
    let errors = rec["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{rec:#}");
    assert!(errors[0].as_str().unwrap().contains("gone/Maildir"));
}

/// Root over users' mailboxes writes as each mailbox's owner: a user who points their
/// quarantine folder's manifest and `cur/` at root's files (symbolic links) gets nothing
/// written there — the kernel refuses the owner what root could have done — and the other
/// mailboxes are quarantined as usual.
#[test]
fn a_users_symlinks_never_carry_roots_writes() {
    if !is_root() {
        println!("skipped: needs root (the attack is on root's writes)");
        return;
    }
    let (_t, root) = canonical_tempdir();
    let paths = fleetgen::write_fleet(&root, 2, 100);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&root, PermissionsExt::from_mode(0o755)).unwrap();
    for p in &paths {
        for e in walkdir::WalkDir::new(p.parent().unwrap()) {
            let e = e.unwrap();
            std::os::unix::fs::lchown(e.path(), Some(65534), Some(65534)).unwrap();
        }
    }
    // Root's files the user aims at.
    let victim = root.join("root-only");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::set_permissions(&victim, PermissionsExt::from_mode(0o755)).unwrap();
    let victim_before = snapshot(&victim);
    // The user's quarantine folder, made ready by the user: links to root's files.
    let q = paths[0].join(".Quarantine");
    std::fs::create_dir(&q).unwrap();
    std::os::unix::fs::symlink(victim.join("passwd"), q.join("manifest.jsonl")).unwrap();
    std::os::unix::fs::symlink(&victim, q.join("cur")).unwrap();
    for e in [&q, &q.join("manifest.jsonl"), &q.join("cur")] {
        std::os::unix::fs::lchown(e, Some(65534), Some(65534)).unwrap();
    }
    let before = snapshot(&paths[0]);
    let out = md(args_with(
        &[
            "quarantine",
            "--each",
            "--no-cache",
            "--to",
            "{mailbox}/.Quarantine",
        ],
        &paths,
    ));
    assert_eq!(
        snapshot(&victim),
        victim_before,
        "root's files changed\n{}",
        out.show()
    );
    assert_eq!(
        snapshot(&paths[0]),
        before,
        "the attacking mailbox is left as it was"
    );
    assert_ne!(
        out.code,
        Some(0),
        "the attacking mailbox fails\n{}",
        out.show()
    );
    let other = manifest(&paths[1].join(".Quarantine"));
    assert!(
        !records(&other, "maildir-move").is_empty(),
        "the other mailbox is done\n{}",
        out.show()
    );
    let owner = std::fs::metadata(paths[1].join(".Quarantine/manifest.jsonl")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (owner.uid(), owner.gid()),
        (65534, 65534),
        "written as the owner"
    );
}
