//! Running out of room, and folders that can't be written:
//!
//! * QDIR on a tiny tmpfs, the store on the normal disk (the cross-filesystem path: copy,
//!   fsync, rename into place, unlink): quarantine stops with exit 2 and a clear error,
//!   every message still exists byte-exact in its store or in QDIR, and restore gives back
//!   the original;
//! * the store on a nearly full tmpfs: quarantine rewrites the mboxes in place (no room
//!   needed to remove copies); restore, which must grow them, leaves them as they are
//!   with exit 3 and a clear problem, nothing lost; with room, it gives back the original;
//! * a read-only Maildir folder (a read-only bind mount; `chattr +i`) and a folder on a
//!   writable bind mount of the same filesystem.
//!
//! Mounting needs root; without it each test prints why it is skipped.

mod common;

use common::*;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

struct Env {
    _td: TempDir,
    root: PathBuf,
}

fn env() -> Env {
    let td = TempDir::new().unwrap();
    Env {
        root: td.path().canonicalize().unwrap(),
        _td: td,
    }
}

fn mount_tmpfs(dir: &Path, size: &str) -> Option<Mount> {
    match Mount::tmpfs(dir, size) {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("skipped: cannot mount tmpfs: {e}");
            None
        }
    }
}

/// Fills the filesystem holding `dir` with a filler file, then frees `leave` bytes.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let filler = dir.join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    let mut written = 0u64;
    while f.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    drop(f);
    // A failed write may have left part of a chunk: round down to whole pages.
    let len = (written - written.min(leave)) / 4096 * 4096;
    fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(len)
        .unwrap();
    filler
}

#[test]
fn qdir_on_a_full_filesystem_stops_cleanly_and_loses_nothing() {
    // Several sizes, so the disk fills up at different steps (a manifest line, a copy).
    for size in ["24k", "40k", "64k", "100k"] {
        let e = env();
        let tree = e.root.join("tree");
        full_tree(&tree);
        let before = snapshot(&tree);
        let orig = originals(&before);
        let Some(small) = mount_tmpfs(&e.root.join("small"), size) else {
            return;
        };
        let qdir = e.root.join("small/q");
        assert_ne!(dev(&tree), dev(&e.root.join("small")), "cross-filesystem");
        let what = format!("QDIR on a {size} tmpfs");

        let out = quarantine(&[&tree], &qdir, &[]);
        out.expect_code(2, &what);
        assert!(
            out.stderr.contains("No space left on device")
                && out.stderr.contains(&s(&qdir))
                && out.stderr.contains("nothing was lost"),
            "{what}: a clear error:\n{}",
            out.show()
        );
        let moved = names(&qdir.join("cur")).len();
        eprintln!("{what}: full after {moved} copies: {}", out.stderr.trim());
        let lost = lost_messages(&orig, &tree, &qdir);
        assert!(
            lost.is_empty(),
            "{what}: messages lost:\n{}",
            lost.join("\n")
        );

        // Restore on the full filesystem: Maildir copies go back (freeing room); an mbox
        // whose new tail (written to QDIR/rewrite before the mbox changes in place) finds
        // no room even then stays as it is, named, with its messages in QDIR.
        let r = restore(&qdir, &[]);
        if r.code == Some(3) {
            assert!(
                r.stdout.contains("No space left on device")
                    && r.stdout.contains("run restore again once there is room"),
                "{what}: restore from the full QDIR: a clear problem:\n{}",
                r.show()
            );
            let lost = lost_messages(&orig, &tree, &qdir);
            assert!(
                lost.is_empty(),
                "{what}: restore from the full QDIR: messages lost:\n{}",
                lost.join("\n")
            );
            eprintln!("{what}: restore from the full QDIR: {}", r.stdout.trim());
            small.remount("size=1m").unwrap();
            restore(&qdir, &[]).expect_code(0, &format!("{what}: restore with room"));
        } else {
            r.expect_code(0, &format!("{what}: restore from the full QDIR"));
        }
        assert_same(&before, &snapshot(&tree), &format!("{what}: after restore"));
        assert!(names(&qdir.join("cur")).is_empty());
    }
}

#[test]
fn store_too_full_for_the_mbox_rewrite_stops_cleanly_and_loses_nothing() {
    for (lock, leave) in [("both", 4096u64), ("fcntl", 0)] {
        let e = env();
        let Some(_m) = mount_tmpfs(&e.root.join("store"), "1m") else {
            return;
        };
        let tree = e.root.join("store/tree");
        copy_dir(&fixtures().join("cases/mbox"), &tree.join("cases"));
        copy_dir(&repo().join("demo/mbox"), &tree.join("demo"));
        let before = snapshot(&tree);
        let orig = originals(&before);
        let qdir = e.root.join("q");
        // Room for the dotlock (one page) when there is one, none for a new mbox.
        fill(&e.root.join("store"), leave);
        let what = format!("--mbox-lock {lock}");

        // mboxes are rewritten in place: removing copies needs no room in the store.
        let out = quarantine(&[&tree], &qdir, &["--mbox-lock", lock]);
        out.expect_code(0, &what);
        let lost = lost_messages(&orig, &tree, &qdir);
        assert!(
            lost.is_empty(),
            "{what}: messages lost:\n{}",
            lost.join("\n")
        );
        let quarantined = snapshot(&tree);
        // Putting them back grows the mboxes: with the room the quarantine freed taken
        // again, they are left as they are, named.
        let filler = fill(&e.root.join("store"), 0);
        let r = restore(&qdir, &[]);
        r.expect_code(3, &format!("{what}: restore on the full store"));
        assert!(
            r.stdout.contains("No space left on device") && r.stdout.contains("not restored: "),
            "{what}: a clear problem:\n{}",
            r.show()
        );
        assert_same(
            &quarantined,
            &snapshot(&tree),
            &format!("{what}: the mboxes are unchanged by the failed restore"),
        );
        let lost = lost_messages(&orig, &tree, &qdir);
        assert!(
            lost.is_empty(),
            "{what}: messages lost:\n{}",
            lost.join("\n")
        );

        fs::remove_file(&filler).unwrap();
        restore(&qdir, &[]).expect_code(0, &format!("{what}: restore"));
        assert_same(&before, &snapshot(&tree), &format!("{what}: after restore"));
        assert!(names(&qdir.join("cur")).is_empty());
    }
}

/// The cases tree with `.Archive/cur` made read-only by `protect`; quarantine must stop
/// with a clear error naming the folder, lose nothing, and restore must give back the
/// original once the folder is writable again.
fn read_only_folder(
    protect: impl FnOnce(&Path) -> Result<Box<dyn FnOnce()>, String>,
    what: &str,
    error: &str,
) {
    let e = env();
    let tree = e.root.join("tree");
    copy_dir(&fixtures().join("cases"), &tree);
    let before = snapshot(&tree);
    let orig = originals(&before);
    let qdir = e.root.join("q");
    let cur = tree.join("Maildir/.Archive/cur");
    let unprotect = match protect(&cur) {
        Ok(u) => u,
        Err(err) => {
            eprintln!("skipped ({what}): {err}");
            return;
        }
    };
    let out = quarantine(&[&tree], &qdir, &[]);
    out.expect_code(2, what);
    assert!(
        out.stderr.contains(error) && out.stderr.contains(&s(&cur)),
        "{what}: a clear error naming the folder:\n{}",
        out.show()
    );
    let lost = lost_messages(&orig, &tree, &qdir);
    unprotect();
    assert!(
        lost.is_empty(),
        "{what}: messages lost:\n{}",
        lost.join("\n")
    );
    restore(&qdir, &[]).expect_code(0, &format!("{what}: restore"));
    assert_same(&before, &snapshot(&tree), &format!("{what}: after restore"));
}

#[test]
fn read_only_bind_mount_of_a_maildir_folder() {
    read_only_folder(
        |cur| {
            let m = Mount::bind(cur, cur, true).map_err(|e| format!("cannot bind-mount: {e}"))?;
            Ok(Box::new(move || drop(m)))
        },
        "read-only bind mount",
        "Read-only file system",
    );
}

#[test]
fn immutable_maildir_folder() {
    read_only_folder(
        |cur| {
            let st = std::process::Command::new("chattr")
                .arg("+i")
                .arg(cur)
                .output()
                .map_err(|e| format!("cannot run chattr: {e}"))?;
            if !st.status.success() {
                return Err(format!(
                    "chattr +i failed: {}",
                    String::from_utf8_lossy(&st.stderr).trim()
                ));
            }
            let cur = cur.to_path_buf();
            Ok(Box::new(move || {
                let _ = std::process::Command::new("chattr")
                    .arg("-i")
                    .arg(&cur)
                    .status();
            }))
        },
        "chattr +i",
        "Operation not permitted",
    );
}

#[test]
fn maildir_folder_on_a_writable_bind_mount_of_the_same_filesystem() {
    // Same device number as QDIR, but another mount: rename() fails with EXDEV there, so
    // the move must fall back to copying.
    let e = env();
    let tree = e.root.join("tree");
    copy_dir(&fixtures().join("cases"), &tree);
    let before = snapshot(&tree);
    let qdir = e.root.join("q");
    let cur = tree.join("Maildir/.Archive/cur");
    let _m = match Mount::bind(&cur, &cur, false) {
        Ok(m) => m,
        Err(err) => {
            eprintln!("skipped: cannot bind-mount: {err}");
            return;
        }
    };
    assert_eq!(dev(&cur), dev(&e.root), "same filesystem");
    let out = quarantine(&[&tree], &qdir, &[]);
    out.expect_code(0, "quarantine across a bind mount");
    assert_eq!(scan_json(&[&tree])["summary"]["groups"].as_u64(), Some(0));
    restore(&qdir, &[]).expect_code(0, "restore across a bind mount");
    assert_same(&before, &snapshot(&tree), "after restore");
}
