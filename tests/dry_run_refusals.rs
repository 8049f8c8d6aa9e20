//! `quarantine --dry-run` refuses what the real run refuses (issue 15 item 3): a QDIR that
//! is a file or not a Maildir, one inside a scanned store, on a read-only filesystem, not
//! writable by the user, one whose manifest another run holds, and a store whose run lock
//! another run keeps. Every case runs both ways: the dry run and the real run exit 2 with
//! the same reason on stderr, and neither changes the store or the QDIR.

mod common;

use common::*;
use std::fs;
use std::path::Path;

/// Runs `quarantine --dry-run` and then the real `quarantine` of `store` into `qdir` (with
/// `extra` flags, as user nobody when `unprivileged`), and checks both refuse with
/// `reason` on stderr, leaving `store` and `qdir` as they were.
fn refused_both_ways(store: &Path, qdir: &Path, extra: &[&str], reason: &str, unprivileged: bool) {
    let before = snapshot(store);
    let qbefore = qdir.exists().then(|| snapshot_any(qdir));
    for dry in [true, false] {
        let mut args = vec!["quarantine", "--no-progress", "--no-cache"];
        if dry {
            args.push("--dry-run");
        }
        args.extend_from_slice(extra);
        let st = s(store);
        let qd = s(qdir);
        args.extend_from_slice(&[st.as_str(), "--to", qd.as_str()]);
        let out = match unprivileged {
            true => Out::from(md_cmd_unprivileged().args(&args).output().unwrap()),
            false => md(&args),
        };
        let what = format!("{} ({reason})", args.join(" "));
        out.expect_code(2, &what);
        assert!(
            out.stderr.contains(reason),
            "{what}: stderr does not say why\n{}",
            out.show()
        );
        assert!(
            out.stdout.is_empty(),
            "{what}: printed a plan\n{}",
            out.show()
        );
        assert_same(&before, &snapshot(store), &format!("store after {what}"));
        let qafter = qdir.exists().then(|| snapshot_any(qdir));
        assert_eq!(qbefore, qafter, "{what}: QDIR changed");
    }
}

/// A snapshot of a file or a folder (a QDIR that is a file is one file).
fn snapshot_any(p: &Path) -> (Option<Snapshot>, Option<Vec<u8>>) {
    match p.is_dir() {
        true => (Some(snapshot(p)), None),
        false => (None, Some(fs::read(p).unwrap())),
    }
}

#[test]
fn qdir_that_is_a_file() {
    let (dir, demo) = demo_copy();
    let qdir = dir.path().join("q");
    fs::write(&qdir, "not a folder\n").unwrap();
    refused_both_ways(&demo, &qdir, &[], "exists and is not a folder", false);
}

#[test]
fn qdir_whose_cur_is_a_file() {
    let (dir, demo) = demo_copy();
    let qdir = dir.path().join("q");
    fs::create_dir_all(qdir.join("new")).unwrap();
    fs::write(qdir.join("cur"), "").unwrap();
    refused_both_ways(
        &demo,
        &qdir,
        &[],
        "is not a folder, so the quarantine folder is not a Maildir",
        false,
    );
}

#[test]
fn qdir_under_a_file() {
    let (dir, demo) = demo_copy();
    let file = dir.path().join("plain");
    fs::write(&file, "").unwrap();
    refused_both_ways(
        &demo,
        &file.join("q"),
        &[],
        "is not a folder, so the quarantine folder cannot be created",
        false,
    );
}

#[test]
fn qdir_inside_the_scanned_store() {
    let (_dir, demo) = demo_copy();
    refused_both_ways(
        &demo,
        &demo.join("q"),
        &[],
        "must not be inside (or contain) the scanned path",
        false,
    );
}

#[test]
fn qdir_on_a_read_only_filesystem() {
    let (dir, demo) = demo_copy();
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    let _m = match Mount::bind(&ro, &ro, true) {
        Ok(m) => m,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none() || !is_root(),
                "CI as root must bind-mount: {e}"
            );
            println!("skipped: cannot bind-mount read-only: {e}");
            return;
        }
    };
    refused_both_ways(
        &demo,
        &ro.join("q"),
        &[],
        "is on a read-only filesystem",
        false,
    );
}

#[test]
fn qdir_the_user_may_not_write() {
    let (dir, demo) = demo_copy();
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).unwrap();
    let unprivileged = is_root();
    if unprivileged {
        // Run as nobody, who may read the whole copy but not write into `locked` (root's).
        let mut p = demo.clone();
        loop {
            let _ = fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755));
            if !p.pop() || p == Path::new("/") {
                break;
            }
        }
        for e in walkdir::WalkDir::new(&demo).into_iter().flatten() {
            let mode = if e.file_type().is_dir() { 0o755 } else { 0o644 };
            fs::set_permissions(e.path(), std::os::unix::fs::PermissionsExt::from_mode(mode))
                .unwrap();
        }
        if std::process::Command::new("setpriv")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs setpriv (util-linux)"
            );
            println!("skipped: setpriv missing (util-linux), cannot drop root");
            return;
        }
        fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let probe = Out::from(md_cmd_unprivileged().arg("--version").output().unwrap());
        if probe.code != Some(0) {
            println!(
                "skipped: nobody cannot run the binary here: {}",
                probe.show()
            );
            return;
        }
    } else {
        fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    }
    refused_both_ways(
        &demo,
        &locked.join("q"),
        &[],
        "is not writable by this user",
        unprivileged,
    );
}

#[test]
fn manifest_held_by_another_run() {
    let (dir, demo) = demo_copy();
    let qdir = dir.path().join("q");
    // A quarantine folder with a manifest, as an earlier run leaves it.
    quarantine(&[&demo], &qdir, &[]).expect_code(0, "first quarantine");
    let (_d2, demo2) = demo_copy();
    let held = fs::File::open(qdir.join("manifest.jsonl")).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    refused_both_ways(
        &demo2,
        &qdir,
        &[],
        "another maildedup run is using this quarantine folder",
        false,
    );
}

#[test]
fn store_whose_run_lock_another_run_keeps() {
    let (dir, demo) = demo_copy();
    let qdir = dir.path().join("q");
    // The run lock is a flock on the store's folder (src/act/runlock.rs): hold the one of
    // the Maildir under the demo tree.
    let maildir = demo.join("Maildir");
    assert!(
        maildir.join("cur").is_dir(),
        "the demo has a Maildir at {}",
        maildir.display()
    );
    let held = fs::File::open(&maildir).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    refused_both_ways(
        &demo,
        &qdir,
        &["--lock-timeout", "1"],
        &format!(
            "{}: another maildedup run is working on this store",
            s(&maildir)
        ),
        false,
    );
}

#[test]
fn qdir_owned_by_another_user() {
    if !is_root() {
        println!("skipped: needs root to give the folder to another user");
        return;
    }
    let (dir, demo) = demo_copy();
    let qdir = dir.path().join("q");
    fs::create_dir(&qdir).unwrap();
    std::os::unix::fs::lchown(&qdir, Some(65534), Some(65534)).unwrap();
    refused_both_ways(
        &demo,
        &qdir,
        &[],
        "owned by uid 65534, not by the user running quarantine",
        false,
    );
}
