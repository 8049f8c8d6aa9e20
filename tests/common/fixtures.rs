//! Where the repo and its fixtures are, copying store trees, and small generated stores.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo().join("tests").join("fixtures")
}

/// Copies a directory tree: files with their bytes and permission bits, symlinks as
/// symlinks (never followed), directories with their permission bits.
pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap_or_else(|e| panic!("mkdir {}: {e}", dst.display()));
    let mut entries: Vec<_> = fs::read_dir(src)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display()))
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let from = e.path();
        let to = dst.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            let target = fs::read_link(&from).unwrap();
            std::os::unix::fs::symlink(&target, &to).unwrap();
        } else if ft.is_dir() {
            copy_dir(&from, &to);
            let mode = fs::metadata(&from).unwrap().permissions().mode();
            fs::set_permissions(&to, fs::Permissions::from_mode(mode)).unwrap();
        } else {
            fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
        }
    }
}

/// The three committed fixture sets, copied as `DST/cases`, `DST/real`, `DST/demo`.
pub fn full_tree(dst: &Path) {
    copy_dir(&fixtures().join("cases"), &dst.join("cases"));
    copy_dir(&fixtures().join("real"), &dst.join("real"));
    copy_dir(&repo().join("demo"), &dst.join("demo"));
}

pub fn flag_msg(n: u32) -> String {
    format!(
        "Message-ID: <crash-flags-{n}@test.example.org>\n\
From: Ann Example <ann@example.org>\n\
To: bob@example.org\n\
Subject: flags merged from one mbox into another ({n})\n\
Date: Mon, 0{n} Jan 2024 00:00:00 +0000\n"
    )
}

/// Two mbox files, each keeping a copy that gains flags from an extra copy in the other
/// (so each is rewritten twice: flags first, then without its extra copy).
pub fn flag_mboxes(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let body = "\nFirst line.\n>From a quoted line.\n";
    let (m1, m2) = (flag_msg(1), flag_msg(2));
    fs::write(
        dir.join("flags-a.mbox"),
        format!(
            "From ann@example.org Mon Jan  1 00:00:00 2024\n{m1}Status: O\n{body}\n\
From ann@example.org Tue Jan  2 00:00:03 2024\n{m2}Status: RO\nX-Status: F\n{body}\n\
From carl@example.org Mon Jan  1 03:00:00 2024\nMessage-ID: <other@test.example.org>\n\
From: carl@example.org\nSubject: not a duplicate\n\nhello\n"
        ),
    )
    .unwrap();
    fs::write(
        dir.join("flags-b.mbox"),
        format!(
            "From ann@example.org Tue Jan  2 00:00:00 2024\n{m2}{body}\n\
From ann@example.org Mon Jan  1 00:00:02 2024\n{m1}Status: RO\nX-Status: AF\n{body}"
        ),
    )
    .unwrap();
}

/// A temporary folder and its canonical path (`/tmp` may be a symlink; reports print
/// canonical paths).
pub fn canonical_tempdir() -> (tempfile::TempDir, PathBuf) {
    let td = tempfile::TempDir::new().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let root = td
        .path()
        .canonicalize()
        .unwrap_or_else(|e| panic!("canonicalize {}: {e}", td.path().display()));
    (td, root)
}

/// A copy of the README's demo store as `TMP/demo`; returns the folder and that path.
pub fn demo_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let demo = dir.path().join("demo");
    copy_dir(&repo().join("demo"), &demo);
    (dir, demo)
}
