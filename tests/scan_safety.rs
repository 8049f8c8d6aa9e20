//! Stores the scan must not trust blindly, run through the real binary: a Maildir whose
//! `cur/`, `new/` or `tmp/` is a symlink (never read nor emptied), a Maildir file name
//! that is not UTF-8 (quarantined and restored byte for byte, name included), and
//! errors that name the file they concern.

mod common;

use common::*;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

fn message(id: &str, date: &str) -> String {
    format!(
        "From: a@example.org\nTo: b@example.org\nSubject: {id}\nMessage-ID: <{id}@example.org>\nDate: {date}\n\nbody of {id}\n"
    )
}

fn maildir(dir: &Path) {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
}

#[test]
fn a_maildir_with_a_symlinked_subfolder_is_skipped_and_never_emptied() {
    let t = tempfile::tempdir().expect("tempdir");
    let tree = t.path().join("tree");
    let elsewhere = t.path().join("elsewhere");
    let good = tree.join("Good");
    maildir(&good);
    let m = message("one", "Sat, 3 Jan 2022 01:05:34 +0000");
    fs::write(good.join("cur/1700000000.M1P1.h:2,S"), &m).expect("write");
    fs::create_dir_all(&elsewhere).expect("mkdir");
    fs::write(elsewhere.join("1700000001.M2P2.h:2,S"), &m).expect("write");
    fs::write(elsewhere.join("1700000002.M3P3.h:2,S"), &m).expect("write");
    for (name, sub) in [
        ("LinkedCur", "cur"),
        ("LinkedNew", "new"),
        ("LinkedTmp", "tmp"),
    ] {
        let d = tree.join(name);
        for s in ["cur", "new", "tmp"].iter().filter(|s| **s != sub) {
            fs::create_dir_all(d.join(s)).expect("mkdir");
        }
        std::os::unix::fs::symlink(&elsewhere, d.join(sub)).expect("symlink");
        if sub == "tmp" {
            fs::write(d.join("cur/1700000003.M4P4.h:2,S"), &m).expect("write");
        }
    }
    let before = snapshot(t.path());

    let scan = scan_json(&[&tree]);
    let skipped = scan["skipped"].as_array().expect("skipped");
    for (name, sub) in [
        ("LinkedCur", "cur"),
        ("LinkedNew", "new"),
        ("LinkedTmp", "tmp"),
    ] {
        let want = s(&tree.join(name).join(sub));
        let hit = skipped
            .iter()
            .find(|x| x["path"] == want.as_str())
            .unwrap_or_else(|| panic!("{want} is not skipped: {scan:#}"));
        assert!(
            hit["reason"]
                .as_str()
                .unwrap_or("")
                .contains("symbolic link"),
            "{hit}"
        );
    }
    assert_eq!(
        scan["summary"]["messages"], 1,
        "only Good is read: {scan:#}"
    );
    assert_eq!(scan["summary"]["groups"], 0, "{scan:#}");

    // Given as a path of its own, the Maildir is not read either: that PATH yields no
    // store, an error (exit 2) that says why.
    let own = md(["scan", "--json", "--no-cache", &s(&tree.join("LinkedCur"))]);
    own.expect_code(2, "scan of a Maildir with a symlinked cur/");
    assert!(
        own.stderr.contains(&s(&tree.join("LinkedCur/cur")))
            && own.stderr.contains("symbolic link"),
        "{}",
        own.show()
    );

    // Quarantine moves nothing out of the symlinks' target, nor anything else.
    let qdir = t.path().join("q");
    let out = quarantine(&[&tree], &qdir, &[]);
    assert!(matches!(out.code, Some(c) if c < 100), "{}", out.show());
    let after = snapshot(t.path());
    let changed: Vec<_> = before
        .0
        .iter()
        .filter(|(p, n)| after.0.get(*p) != Some(n))
        .map(|(p, _)| p.clone())
        .collect();
    assert!(
        changed.is_empty(),
        "quarantine changed {changed:?}\n{}",
        out.show()
    );
}

#[test]
fn a_file_name_that_is_not_utf8_is_quarantined_and_restored_exactly() {
    let t = tempfile::tempdir().expect("tempdir");
    let tree = t.path().join("tree");
    let md = tree.join("Mail");
    maildir(&md);
    // Before every delivery time below: a Date after the delivery would make it
    // implausible (docs/identity.md, "Delivery times that cannot be true").
    let date = "Sat, 1 Jul 2017 01:05:34 +0000";
    fs::write(
        md.join("cur/1600000000.M1P1.host:2,S"),
        message("dup", date),
    )
    .expect("write");
    let odd = OsString::from_vec(b"1700000000.M2P2.h\xffst:2,S".to_vec());
    fs::write(md.join("cur").join(&odd), message("dup", date)).expect("write");
    // The odd name on a copy that is kept (and gains a flag from its duplicate) too.
    let kept = OsString::from_vec(b"1500000000.M3P3.h\xfe".to_vec());
    fs::write(md.join("new").join(kept), message("kept", date)).expect("write");
    fs::write(
        md.join("cur/1650000000.M4P4.host:2,F"),
        message("kept", date),
    )
    .expect("write");
    let before = snapshot(&tree);

    let scan = scan_json(&[&tree]);
    assert_eq!(scan["summary"]["groups"], 2, "{scan:#}");
    let text = md_env(["scan", "--no-progress", "-v", &s(&tree)], &[]);
    assert_eq!(text.code, Some(0), "{}", text.show());

    let qdir = t.path().join("q");
    let out = quarantine(&[&tree], &qdir, &["--json"]);
    assert_eq!(out.code, Some(0), "{}", out.show());
    assert!(
        !md.join("cur").join(&odd).exists(),
        "the later copy, with the odd name, was moved: {}",
        out.show()
    );
    let m = manifest(&qdir);
    let moved = records(&m, "maildir-move");
    assert_eq!(moved.len(), 2, "{m:#?}");
    let odd_source = moved
        .iter()
        .find(|r| r["source"].is_object())
        .unwrap_or_else(|| panic!("the odd name is written as bytes: {m:#?}"));
    assert!(odd_source["source"]["b64"].is_string(), "{odd_source}");
    // UTF-8 paths are written as strings, as before.
    assert!(moved.iter().any(|r| r["source"].is_string()), "{m:#?}");

    let back = restore(&qdir, &[]);
    assert_eq!(back.code, Some(0), "{}", back.show());
    assert_same(&before, &snapshot(&tree), "after restore");
}

/// Runs the binary as `nobody` when the tests run as root (root is never refused a
/// rename, so the error could not happen), as the current user otherwise.
fn md_unprivileged(args: &[String], tree: &Path) -> Out {
    if is_root() {
        // Everything the run touches belongs to nobody.
        let st = std::process::Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(tree)
            .status()
            .expect("chown");
        assert!(st.success(), "chown");
    }
    let out = md_cmd_unprivileged()
        .args(args)
        .env("XDG_CACHE_HOME", tree.join("cache"))
        .output()
        .expect("run maildedup");
    Out::from(out)
}

#[test]
fn a_refused_flag_merge_names_the_kept_file() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let tree = t.path().join("tree");
    // Before every delivery time below: a Date after the delivery would make it
    // implausible (docs/identity.md, "Delivery times that cannot be true").
    let date = "Sat, 1 Jul 2017 01:05:34 +0000";
    let (a, b) = (tree.join("A"), tree.join("B"));
    maildir(&a);
    maildir(&b);
    let kept = a.join("cur/1600000000.M1P1.host:2,");
    fs::write(&kept, message("flagged", date)).expect("write");
    fs::write(
        b.join("cur/1700000000.M2P2.host:2,F"),
        message("flagged", date),
    )
    .expect("write");
    let qdir = t.path().join("q");
    fs::create_dir_all(&qdir).expect("mkdir");
    if rustix::process::geteuid().is_root() {
        md_unprivileged(&["--version".to_string()], t.path());
    }
    // The kept copy's folder is read-only: merging the F flag into its name is refused.
    fs::set_permissions(a.join("cur"), fs::Permissions::from_mode(0o555)).expect("chmod");
    // The two copies are in two folders: only --across-folders moves one and merges its
    // flag into the other.
    let args: Vec<String> = [
        "quarantine",
        "--across-folders",
        "--no-progress",
        "--no-cache",
        &s(&tree),
        "--to",
        &s(&qdir),
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    let out = md_unprivileged(&args, t.path());
    fs::set_permissions(a.join("cur"), fs::Permissions::from_mode(0o755)).expect("chmod");
    assert!(out.signal.is_none(), "{}", out.show());
    let all = format!("{}\n{}", out.stdout, out.stderr);
    assert!(
        all.contains("Permission denied"),
        "the rename was refused: {}",
        out.show()
    );
    for line in all.lines().filter(|l| l.contains("Permission denied")) {
        assert!(
            line.contains(&s(&kept)),
            "the error names the kept file {}: {line}\n{}",
            kept.display(),
            out.show()
        );
    }
}
