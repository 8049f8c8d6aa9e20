//! Security: a tampered manifest or planted symlinks cannot make `restore` read or write
//! outside the stores and QDIR; the tool never follows symlinks inside stores, never
//! executes anything, makes QDIR owner-only, keeps an mbox's owner and mode, and escapes
//! control characters from messages before they reach a terminal.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

fn msg(id: &str, subject: &str) -> String {
    format!(
        "Message-ID: {id}\nFrom: ann@example.org\nTo: bob@example.org\nSubject: {subject}\n\
Date: Mon, 01 Jan 2024 00:00:00 +0000\n\nHello.\n>From a quoted line.\n"
    )
}

struct Setup {
    _td: TempDir,
    root: PathBuf,
    store: PathBuf,
    qdir: PathBuf,
}

/// A Maildir and an mbox, each holding two copies of one message.
fn setup() -> Setup {
    let td = TempDir::new().unwrap();
    let root = td.path().canonicalize().unwrap();
    let store = root.join("mail");
    let md = store.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(md.join(sub)).unwrap();
    }
    let m = msg("<dup-md@example.org>", "maildir copy");
    fs::write(md.join("cur/1700000000.M1P1.host:2,S"), &m).unwrap();
    fs::write(md.join("cur/1700000100.M2P2.host:2,S"), &m).unwrap();
    let b = msg("<dup-mbox@example.org>", "mbox copy");
    fs::write(
        store.join("inbox.mbox"),
        format!(
            "From ann@example.org Mon Jan  1 00:00:00 2024\n{b}\n\
From ann@example.org Mon Jan  1 00:10:00 2024\n{b}\n"
        ),
    )
    .unwrap();
    Setup {
        qdir: root.join("quarantine"),
        store,
        root,
        _td: td,
    }
}

fn b3(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// A folder outside the stores and QDIR, with one file in it; returns (folder, file).
fn outside(root: &Path) -> (PathBuf, PathBuf) {
    let dir = root.join("outside");
    fs::create_dir_all(dir.join("cur")).unwrap();
    let secret = dir.join("secret.txt");
    fs::write(&secret, "not mail: a secret outside the stores\n").unwrap();
    (dir, secret)
}

fn quarantined(st: &Setup) -> Vec<Value> {
    quarantine(&[&st.store], &st.qdir, &[]).expect_code(0, "quarantine");
    manifest(&st.qdir)
}

// ---- a tampered manifest ------------------------------------------------------------------

#[test]
fn restore_refuses_a_maildir_target_outside_the_recorded_stores() {
    let st = setup();
    let (out_dir, _) = outside(&st.root);
    let mut m = quarantined(&st);
    let before = snapshot(&out_dir);
    for r in m.iter_mut().filter(|r| r["type"] == "maildir-move") {
        r["source"] = Value::from(s(&out_dir.join("cur/1700000100.M2P2.host:2,S")));
    }
    write_manifest(&st.qdir, &m);
    let out = restore(&st.qdir, &[]);
    out.expect_code(3, "restore of a tampered manifest");
    assert!(out.stdout.contains("refused"), "{}", out.show());
    assert_same(
        &before,
        &snapshot(&out_dir),
        "nothing written outside the stores",
    );
    let q = records(&m, "maildir-move")[0]["quarantined"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(st.qdir.join(q).is_file(), "the refused copy stays in QDIR");
}

#[test]
fn restore_refuses_dot_dot_in_a_target() {
    let st = setup();
    let (out_dir, _) = outside(&st.root);
    let mut m = quarantined(&st);
    let before = snapshot(&out_dir);
    for r in m.iter_mut().filter(|r| r["type"] == "maildir-move") {
        // Inside the store by prefix, outside by resolution.
        let sneaky = st.store.join("Maildir/cur/../../../outside/cur/x:2,S");
        r["source"] = Value::from(s(&sneaky));
    }
    for r in m.iter_mut().filter(|r| r["type"] == "run") {
        r["stores"] = serde_json::json!([s(&st.store.join("Maildir/cur/../../../outside"))]);
    }
    write_manifest(&st.qdir, &m);
    let out = restore(&st.qdir, &[]);
    out.expect_code(3, "restore with '..'");
    assert!(out.stdout.contains("refused"), "{}", out.show());
    assert_same(&before, &snapshot(&out_dir), "nothing written through '..'");
}

#[test]
fn restore_refuses_an_mbox_elsewhere_and_a_relative_path() {
    let st = setup();
    let (out_dir, secret) = outside(&st.root);
    let mut m = quarantined(&st);
    let before = snapshot(&out_dir);
    for r in m.iter_mut() {
        match r["type"].as_str() {
            // An absolute path to a file that is not a recorded store.
            Some("mbox-rewrite") | Some("mbox-extract") => r["mbox"] = Value::from(s(&secret)),
            // A relative path, even one that would land in a store from some directory.
            Some("maildir-move") => {
                r["source"] = Value::from("mail/Maildir/cur/1700000100.M2P2.host:2,S")
            }
            _ => {}
        }
    }
    write_manifest(&st.qdir, &m);
    let out = md_env(
        ["restore".to_string(), s(&st.qdir)],
        &[("PWD", &s(&st.root))],
    );
    out.expect_code(3, "restore with targets elsewhere");
    assert!(out.stdout.matches("refused").count() >= 2, "{}", out.show());
    assert_same(
        &before,
        &snapshot(&out_dir),
        "the file elsewhere is untouched",
    );
}

#[test]
fn restore_refuses_a_store_widened_to_a_folder_that_is_not_a_store() {
    // Even a run record rewritten to name the outside folder as a store cannot send a
    // Maildir copy anywhere but a `cur/` or `new/` folder of it, and never over a file.
    let st = setup();
    let (out_dir, secret) = outside(&st.root);
    let mut m = quarantined(&st);
    for r in m.iter_mut().filter(|r| r["type"] == "maildir-move") {
        r["source"] = Value::from(s(&secret));
    }
    for r in m.iter_mut().filter(|r| r["type"] == "run") {
        r["stores"] = serde_json::json!([s(&out_dir)]);
        r["canonical"] = serde_json::json!([s(&out_dir)]);
    }
    let before = snapshot(&out_dir);
    write_manifest(&st.qdir, &m);
    let out = restore(&st.qdir, &[]);
    out.expect_code(3, "restore into a widened store");
    assert_same(&before, &snapshot(&out_dir), "the secret is untouched");
}

// ---- symlinks planted in QDIR --------------------------------------------------------------

#[test]
fn restore_never_reads_through_a_symlink_planted_in_qdir() {
    let st = setup();
    let (_, secret) = outside(&st.root);
    let mut m = quarantined(&st);
    // Every quarantined file becomes a symlink to the secret, and the manifest is made
    // to agree with the secret's bytes, as a thorough attacker would.
    let secret_bytes = fs::read(&secret).unwrap();
    for r in m.iter_mut() {
        if let Some(q) = r["quarantined"].as_str() {
            let q = st.qdir.join(q);
            fs::remove_file(&q).unwrap();
            symlink(&secret, &q).unwrap();
            if r["type"] == "maildir-move" {
                r["file_b3"] = Value::from(b3(&secret_bytes));
            }
        }
    }
    write_manifest(&st.qdir, &m);
    let tree_before = snapshot(&st.store);
    let out = restore(&st.qdir, &[]);
    out.expect_code(3, "restore with symlinks in QDIR");
    assert!(out.stdout.contains("symbolic link"), "{}", out.show());
    let tree_after = snapshot(&st.store);
    assert_same(&tree_before, &tree_after, "no store gained the secret");
    assert_eq!(fs::read(&secret).unwrap(), secret_bytes);
    for md_file in names(&st.store.join("Maildir/cur")) {
        let data = fs::read(st.store.join("Maildir/cur").join(md_file)).unwrap();
        assert!(
            !find(&data, b"secret outside"),
            "secret copied into a store"
        );
    }
}

#[test]
fn restore_refuses_qdir_folders_or_manifest_replaced_by_symlinks() {
    for what in ["tmp", "cur", "manifest.jsonl"] {
        let st = setup();
        let (out_dir, _) = outside(&st.root);
        quarantined(&st);
        // The folder (or manifest) moves aside; a symlink to the outside takes its place.
        let victim = out_dir.join("victim");
        fs::create_dir_all(&victim).unwrap();
        fs::write(
            victim.join("precious"),
            "would be deleted as a QDIR/tmp leftover\n",
        )
        .unwrap();
        let target = st.qdir.join(what);
        fs::rename(&target, st.root.join(format!("aside-{what}"))).unwrap();
        if what == "manifest.jsonl" {
            fs::copy(
                st.root.join(format!("aside-{what}")),
                victim.join("m.jsonl"),
            )
            .unwrap();
            symlink(victim.join("m.jsonl"), &target).unwrap();
        } else {
            symlink(&victim, &target).unwrap();
        }
        let before = snapshot(&out_dir);
        let out = restore(&st.qdir, &[]);
        out.expect_code(2, &format!("restore with QDIR/{what} a symlink"));
        assert!(out.stderr.contains("symbolic link"), "{}", out.show());
        assert_same(
            &before,
            &snapshot(&out_dir),
            &format!("QDIR/{what} symlink"),
        );
    }
}

#[test]
fn restore_refuses_a_qdir_someone_else_could_have_written() {
    let st = setup();
    quarantined(&st);
    let m = st.qdir.join("manifest.jsonl");
    let tree = snapshot(&st.store);
    // Group- or world-writable: anyone could have rewritten where restore writes.
    for (p, mode) in [(&m, 0o622), (&st.qdir, 0o777)] {
        let old = fs::metadata(p).unwrap().permissions().mode();
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
        let out = restore(&st.qdir, &[]);
        out.expect_code(2, "restore of a writable QDIR");
        assert!(
            out.stderr.contains("writable by group or others"),
            "{}",
            out.show()
        );
        fs::set_permissions(p, fs::Permissions::from_mode(old)).unwrap();
    }
    // Owned by another user (root's restore must not follow a user's manifest).
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&m, Some(65534), Some(65534)).unwrap();
        let out = restore(&st.qdir, &[]);
        out.expect_code(2, "restore of a manifest owned by nobody");
        assert!(out.stderr.contains("owned by uid 65534"), "{}", out.show());
        std::os::unix::fs::chown(&m, Some(0), Some(0)).unwrap();
    }
    assert_same(
        &tree,
        &snapshot(&st.store),
        "nothing restored while refused",
    );
    restore(&st.qdir, &[]).expect_code(0, "restore once QDIR is private again");
}

// ---- a symlink swapped in above a store ----------------------------------------------------

#[test]
fn restore_refuses_a_folder_above_the_store_swapped_for_a_symlink() {
    let st = setup();
    quarantined(&st);
    // mail/ (which holds the Maildir) is moved away and replaced by a symlink to a
    // look-alike tree elsewhere.
    let real = st.root.join("mail-real");
    fs::rename(&st.store, &real).unwrap();
    let fake = st.root.join("elsewhere/mail");
    copy_dir(&real, &fake);
    symlink(&fake, &st.store).unwrap();
    let before = snapshot(&st.root.join("elsewhere"));
    let out = restore(&st.qdir, &[]);
    out.expect_code(3, "restore through a symlink above the store");
    assert!(out.stdout.contains("refused"), "{}", out.show());
    assert_same(
        &before,
        &snapshot(&st.root.join("elsewhere")),
        "nothing written elsewhere",
    );

    // The real tree back in place: the same restore completes.
    fs::remove_file(&st.store).unwrap();
    fs::rename(&real, &st.store).unwrap();
    restore(&st.qdir, &[]).expect_code(0, "restore once the real folder is back");
    assert_eq!(names(&st.store.join("Maildir/cur")).len(), 2);
}

// ---- symlinks inside stores, never executing, owner-only QDIR, mbox owner/mode ----------

#[test]
fn symlinks_inside_stores_are_never_followed() {
    let st = setup();
    let (out_dir, _) = outside(&st.root);
    // A duplicate of the Maildir message outside, linked into cur/; a linked folder; a
    // linked mbox.
    let m = msg("<dup-md@example.org>", "maildir copy");
    fs::write(out_dir.join("cur/1700000200.M3P3.host:2,S"), &m).unwrap();
    symlink(
        out_dir.join("cur/1700000200.M3P3.host:2,S"),
        st.store.join("Maildir/cur/1700000200.M3P3.host:2,S"),
    )
    .unwrap();
    symlink(&out_dir, st.store.join("linked-folder")).unwrap();
    symlink(st.store.join("inbox.mbox"), st.store.join("linked.mbox")).unwrap();
    let before = snapshot(&out_dir);
    let report = scan_json(&[&st.store]);
    assert_eq!(report["summary"]["messages"], 4, "{report:#}");
    let skipped: Vec<&str> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        skipped
            .iter()
            .filter(|r| r.contains("symbolic link"))
            .count(),
        3,
        "{skipped:?}"
    );
    quarantine(&[&st.store], &st.qdir, &[]).expect_code(0, "quarantine");
    assert_same(
        &before,
        &snapshot(&out_dir),
        "the linked-to files are untouched",
    );
    assert!(
        fs::symlink_metadata(st.store.join("Maildir/cur/1700000200.M3P3.host:2,S"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn nothing_in_a_message_or_a_name_is_ever_executed() {
    let st = setup();
    let canary = st.root.join("executed");
    let evil = format!("<$(touch {c})`touch {c}`;touch {c}@x>", c = s(&canary));
    let m = msg(&evil, "$(touch /tmp/never) | sh");
    let cur = st.store.join("Maildir/cur");
    fs::write(
        cur.join(format!("1700000300.M4P4.$(touch {}):2,S", "x")),
        &m,
    )
    .unwrap();
    fs::write(cur.join("1700000301.M5P5.`id`;sh:2,S"), &m).unwrap();
    quarantine(&[&st.store], &st.qdir, &[]).expect_code(0, "quarantine");
    restore(&st.qdir, &[]).expect_code(0, "restore");
    assert!(!canary.exists(), "something ran a command from a message");
    // And nothing in the source can start a process, but the one place that runs the
    // password command the user gives (`--imap-pass-cmd`, like mbsync's PassCmd): a
    // command from the command line or the user's config file, never from mail.
    let pass_cmd = repo().join("src/store/imap/auth.rs");
    for f in walk(&repo().join("src")) {
        let text = fs::read_to_string(&f).unwrap();
        for bad in [
            "process::Command",
            "libc::exec",
            "libc::system",
            "libc::fork",
            "posix_spawn",
        ] {
            if f == pass_cmd && bad == "process::Command" {
                assert_eq!(
                    text.matches(bad).count(),
                    1,
                    "{} starts one process: the password command",
                    f.display()
                );
                assert!(
                    text.contains("fn run_pass_cmd(cmd: &str)"),
                    "{}",
                    f.display()
                );
                continue;
            }
            assert!(!text.contains(bad), "{} uses {bad}", f.display());
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

#[test]
fn qdir_is_created_owner_only() {
    let st = setup();
    quarantined(&st);
    let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&st.qdir), 0o700);
    for sub in ["cur", "new", "tmp"] {
        assert_eq!(mode(&st.qdir.join(sub)), 0o700, "QDIR/{sub}");
    }
    assert_eq!(mode(&st.qdir.join("manifest.jsonl")), 0o600);
    // What quarantine writes itself (an mbox message) is 0600; a Maildir file moved
    // keeps its own mode (restore gives it back as it was), behind QDIR's 0700.
    let m = manifest(&st.qdir);
    let extract = records(&m, "mbox-extract")[0]["quarantined"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(mode(&st.qdir.join(extract)), 0o600);
}

#[test]
fn mbox_owner_and_mode_survive_quarantine_and_restore() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to chown to nobody:nogroup");
        return;
    }
    let st = setup();
    let mbox = st.store.join("inbox.mbox");
    let (uid, gid) = (65534, 65534); // nobody:nogroup
    std::os::unix::fs::chown(&mbox, Some(uid), Some(gid)).unwrap();
    fs::set_permissions(&mbox, fs::Permissions::from_mode(0o640)).unwrap();
    quarantined(&st);
    let meta = fs::metadata(&mbox).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (uid, gid, 0o640)
    );
    assert_eq!(
        fs::read_to_string(&mbox)
            .unwrap()
            .matches("\nFrom ")
            .count()
            + 1,
        1,
        "the mbox was rewritten with one copy"
    );
    restore(&st.qdir, &[]).expect_code(0, "restore");
    let meta = fs::metadata(&mbox).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (uid, gid, 0o640)
    );
}

// ---- control characters never reach the terminal -------------------------------------------

fn assert_inert(text: &str, what: &str) {
    for (c, name) in [
        ('\x1b', "ESC"),
        ('\r', "CR"),
        ('\x07', "BEL"),
        ('\u{9b}', "CSI"),
    ] {
        assert!(!text.contains(c), "{what}: raw {name} in output:\n{text:?}");
    }
    assert!(
        !text.lines().any(|l| l.starts_with("FORGED")),
        "{what}: a forged line:\n{text}"
    );
}

/// A store whose Message-IDs and file names carry terminal escapes, CR and newlines.
fn hostile_store(root: &Path) -> PathBuf {
    let store = root.join("evil\x1b[31mstore");
    let md = store.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(md.join(sub)).unwrap();
    }
    let m = msg("<red\x1b[31m\x07\u{9b}1m@x>", "escapes");
    fs::write(
        md.join("cur/1700000000.M1P1.a\x1b[2J\rb\nFORGED line:2,S"),
        &m,
    )
    .unwrap();
    fs::write(md.join("cur/1700000009.M1P2.c\x1b]0;title\x07:2,S"), &m).unwrap();
    // A conflict: the same Message-ID, other content.
    fs::write(
        md.join("cur/1700000010.M1P3.d\rFORGED:2,S"),
        msg("<red\x1b[31m\x07\u{9b}1m@x>", "other"),
    )
    .unwrap();
    fs::write(md.join("cur/1700000011.M1P4.\x1b[0m\nFORGED"), "").unwrap(); // skipped: empty
    store
}

#[test]
fn terminal_output_escapes_control_characters() {
    let td = TempDir::new().unwrap();
    let root = td.path().canonicalize().unwrap();
    let store = hostile_store(&root);
    let qdir = root.join("q\x1b[1mdir");

    let out = md(["scan", "-v", "--no-progress", &s(&store)]);
    out.expect_code(0, "scan");
    assert_inert(&out.stdout, "scan summary");
    assert!(out.stdout.contains("\\x1b[31m"), "{}", out.stdout);
    assert!(out.stdout.contains("empty file"), "{}", out.stdout);

    let out = quarantine(&[&store], &qdir, &["--dry-run"]);
    out.expect_code(0, "dry run");
    assert_inert(&out.stdout, "quarantine --dry-run");
    let out = quarantine(&[&store], &qdir, &[]);
    out.expect_code(0, "quarantine");
    assert_inert(&out.stdout, "quarantine");

    // Restore meets a copy it cannot put back (a file now has its name).
    let m = manifest(&qdir);
    let src = PathBuf::from(records(&m, "maildir-move")[0]["source"].as_str().unwrap());
    fs::write(&src, "in the way\n").unwrap();
    let out = restore(&qdir, &["--dry-run"]);
    assert_inert(&out.stdout, "restore --dry-run");
    let out = restore(&qdir, &[]);
    out.expect_code(3, "restore with a name taken");
    assert_inert(&out.stdout, "restore");
    assert!(out.stdout.contains("not restored"), "{}", out.show());

    // Error messages: a QDIR that is not one, a path that does not exist.
    let out = restore(&root.join("no\x1b[31mqdir\rFORGED"), &[]);
    out.expect_code(2, "restore of a missing QDIR");
    assert_inert(&out.stderr, "restore error");
    let out = md(["scan", &s(&root.join("missing\x1b[31m\nFORGED"))]);
    out.expect_code(2, "scan of a missing path");
    assert_inert(&out.stderr, "scan error");
}

#[test]
fn quiet_restore_escapes_the_problems_it_names_on_stderr() {
    // With -q the problems go to stderr; a path from a tampered manifest must reach the
    // terminal as inert text there too.
    let st = setup();
    let mut m = quarantined(&st);
    for r in m.iter_mut().filter(|r| r["type"] == "maildir-move") {
        let hostile = st
            .root
            .join("elsewhere\x1b[2J\r\nFORGED line\x07/cur/x:2,S");
        r["source"] = Value::from(s(&hostile));
    }
    write_manifest(&st.qdir, &m);
    let out = restore(&st.qdir, &["-q"]);
    out.expect_code(3, "restore -q with a hostile target");
    assert_eq!(out.stdout, "", "-q prints nothing on stdout");
    assert!(out.stderr.contains("not restored"), "{}", out.show());
    assert!(out.stderr.contains("\\x1b[2J"), "{}", out.show());
    assert_inert(&out.stderr, "restore -q stderr");
}
