//! Hostile and broken input: each case ends in a correct result or a `skipped` entry
//! naming the file, a documented exit code, no panic, and nothing written where it should
//! not be.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

fn maildir(root: &Path, name: &str) -> PathBuf {
    let md = root.join(name);
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(md.join(sub)).unwrap();
    }
    md
}

/// `scan --json PATH`, with a time limit (a FIFO must never block it): exit 0, no panic.
fn scan_ok(path: &Path) -> Value {
    let out = md_timed_cmd()
        .args(["scan", "--across-folders", "--json", "--no-progress"])
        .arg(path)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "scan {}: {stderr}",
        path.display()
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn skipped(report: &Value) -> Vec<(String, String)> {
    report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["path"].as_str().unwrap().to_string(),
                k["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The skipped entry for `path`, which must exist.
fn skip_reason(report: &Value, path: &Path) -> String {
    skipped(report)
        .into_iter()
        .find(|(p, _)| Path::new(p) == path)
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no skipped entry for {}: {report:#}", path.display()))
}

fn groups(report: &Value) -> &Vec<Value> {
    report["groups"].as_array().unwrap()
}

fn mbox_of(msgs: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        out.extend_from_slice(format!("From a@b Mon Jan  1 00:00:0{i} 2024\n").as_bytes());
        out.extend_from_slice(m);
        out.extend_from_slice(b"\n");
    }
    out
}

/// Quarantine then restore `store` into a QDIR under `root`; the tree must come back
/// byte for byte.
fn round_trip(root: &Path, store: &Path, expect_moves: usize) {
    let _ = root;
    let tree = if store.is_dir() {
        store
    } else {
        store.parent().unwrap()
    };
    let before = snapshot(tree);
    let qtd = TempDir::new().unwrap();
    let qdir = qtd.path().join("qdir");
    let out = quarantine(&[store], &qdir, &["--json"]);
    out.expect_code(0, "quarantine");
    assert_eq!(
        out.json()["outcome"]["moved"],
        expect_moves,
        "{}",
        out.show()
    );
    restore(&qdir, &[]).expect_code(0, "restore");
    assert_same(&before, &snapshot(tree), "after quarantine and restore");
}

#[test]
fn nul_bytes_in_headers_and_bodies() {
    let (_td, root) = canonical_tempdir();
    let md = maildir(&root, "Maildir");
    let m = b"Message-ID: <nul@x>\nSubject: a\0b\nX-\0: \0\n\nbody\0with\0nuls\n";
    fs::write(md.join("cur/1700000000.M1.h:2,S"), m).unwrap();
    fs::write(md.join("cur/1700000001.M2.h:2,S"), m).unwrap();
    fs::write(
        root.join("nul.mbox"),
        mbox_of(&[m, m, b"Subject: \0\0\0\n\n\0"]),
    )
    .unwrap();
    let r = scan_ok(&root);
    assert_eq!(r["summary"]["messages"], 5);
    assert_eq!(groups(&r).len(), 1);
    assert_eq!(groups(&r)[0]["copies"].as_array().unwrap().len(), 4);
    round_trip(&root, &root.join("Maildir"), 1);
    round_trip(&root, &root.join("nul.mbox"), 1);
}

#[test]
fn a_100_mb_header_line_in_a_maildir_file_and_an_mbox() {
    let (_td, root) = canonical_tempdir();
    let huge = |id: &str, mb: usize| {
        let mut m = format!("Message-ID: <{id}@x>\nX-Huge: ").into_bytes();
        m.resize(m.len() + (mb << 20), b'a');
        m.extend_from_slice(b"\nSubject: huge\n\nbody\n");
        m
    };
    let md = maildir(&root, "Maildir");
    fs::write(md.join("cur/1700000000.M1.h:2,S"), huge("huge-md", 100)).unwrap();
    fs::write(root.join("huge.mbox"), mbox_of(&[&huge("huge-mbox", 100)])).unwrap();
    // A 100 MB line that never ends (no line break at all, nor a body).
    let mut endless = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: x\nX-Endless: ".to_vec();
    endless.resize(endless.len() + (100 << 20), b'b');
    fs::write(root.join("endless.mbox"), &endless).unwrap();
    drop(endless);
    // A duplicate pair with a long line, one in each kind of store, so that both are
    // read whole and hashed (kept smaller: the debug build hashes slowly).
    let pair = huge("pair", 8);
    fs::write(md.join("cur/1700000001.M2.h:2,S"), &pair).unwrap();
    fs::write(root.join("pair.mbox"), mbox_of(&[&pair])).unwrap();
    let r = scan_ok(&root);
    assert_eq!(r["summary"]["messages"], 5);
    assert_eq!(groups(&r).len(), 1, "{:#}", r["summary"]);
    assert_eq!(groups(&r)[0]["message_id"], "<pair@x>");
}

#[test]
fn no_blank_line_between_header_and_body() {
    let (_td, root) = canonical_tempdir();
    let md = maildir(&root, "Maildir");
    let m = b"Message-ID: <nosep@x>\nSubject: only headers\nX-Last: no blank line, no body";
    fs::write(md.join("cur/1700000000.M1.h:2,S"), m).unwrap();
    fs::write(md.join("cur/1700000001.M2.h:2,S"), m).unwrap();
    // mbox: messages without a separator before the next From_ line.
    let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nMessage-ID: <nosep2@x>\nSubject: s\n\
From a@b Mon Jan  1 00:00:01 2024\nMessage-ID: <nosep2@x>\nSubject: s\n";
    fs::write(root.join("nosep.mbox"), mbox).unwrap();
    let r = scan_ok(&root);
    assert_eq!(r["summary"]["messages"], 4);
    let mut ids: Vec<&str> = groups(&r)
        .iter()
        .map(|g| g["message_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["<nosep2@x>", "<nosep@x>"], "{r:#}");
    round_trip(&root, &root.join("Maildir"), 1);
    round_trip(&root, &root.join("nosep.mbox"), 1);
}

#[test]
fn invalid_utf8_and_invalid_encoded_words_in_headers() {
    let (_td, root) = canonical_tempdir();
    let md = maildir(&root, "Maildir");
    let m = b"Message-ID: <bad-\xff\xfe-utf8@x>\nSubject: =?utf-8?B?!!!not base64?= =?x-unknown?Q?=ZZ=?=\n\
From: \xc3\x28 <\xff@x>\nTo: =?utf-8?q?unterminated\nX-Mixed: \xe2\x82 half a euro\n\n\xff\xfe body\n";
    fs::write(md.join("cur/1700000000.M1.h:2,S"), m).unwrap();
    fs::write(md.join("cur/1700000001.M2.h:2,S"), m).unwrap();
    fs::write(root.join("bad.mbox"), mbox_of(&[m, m])).unwrap();
    let r = scan_ok(&root);
    assert_eq!(r["summary"]["messages"], 4);
    assert_eq!(groups(&r).len(), 1);
    assert_eq!(groups(&r)[0]["copies"].as_array().unwrap().len(), 4);
    let id = groups(&r)[0]["message_id"].as_str().unwrap();
    assert!(id.starts_with("<bad-") && id.ends_with("-utf8@x>"), "{id}");
    round_trip(&root, &root, 3);
}

#[test]
fn two_message_id_headers_the_first_counts() {
    let (_td, root) = canonical_tempdir();
    let md = maildir(&root, "Maildir");
    let a = b"Message-ID: <one@x>\nMessage-ID: <two@x>\nSubject: s\n\nb\n";
    let c = b"Message-ID: <one@x>\nMessage-ID: <three@x>\nSubject: s\n\nb\n";
    fs::write(md.join("cur/1700000000.M1.h:2,S"), a).unwrap();
    fs::write(md.join("cur/1700000001.M2.h:2,S"), a).unwrap();
    fs::write(md.join("cur/1700000002.M3.h:2,S"), c).unwrap();
    let r = scan_ok(&root);
    assert_eq!(groups(&r).len(), 1);
    assert_eq!(groups(&r)[0]["message_id"], "<one@x>");
    assert_eq!(groups(&r)[0]["copies"].as_array().unwrap().len(), 2);
    // The third copy differs in its second Message-ID: a conflict, never merged.
    let conflicts = r["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0]["message_id"], "<one@x>");
}

#[test]
fn hostile_message_ids_never_reach_a_file_name() {
    let (_td, root) = canonical_tempdir();
    let store = root.join("store");
    let md = maildir(&store, "Maildir");
    let long = format!("<{}@x>", "L".repeat(10 * 1024));
    let ids: Vec<Vec<u8>> = vec![
        b"<../../../../etc/passwd@x>".to_vec(),
        b"<a/b/c@x>".to_vec(),
        b"<..>".to_vec(),
        b"<nul\0inside@x>".to_vec(),
        b"<folded\n line@x>".to_vec(),
        b"<cr\rinside@x>".to_vec(),
        long.clone().into_bytes(),
    ];
    let mut mbox_msgs = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut m = b"Message-ID: ".to_vec();
        m.extend_from_slice(id);
        m.extend_from_slice(format!("\nSubject: {i}\n\nbody {i}\n").as_bytes());
        fs::write(md.join(format!("cur/17000000{i:02}.M{i}a.h:2,S")), &m).unwrap();
        fs::write(md.join(format!("cur/17000001{i:02}.M{i}b.h:2,S")), &m).unwrap();
        mbox_msgs.push(m.clone());
        mbox_msgs.push(m);
    }
    let refs: Vec<&[u8]> = mbox_msgs.iter().map(|m| m.as_slice()).collect();
    fs::write(store.join("ids.mbox"), mbox_of(&refs)).unwrap();
    let r = scan_ok(&store);
    assert_eq!(groups(&r).len(), ids.len(), "{r:#}");
    assert!(groups(&r).iter().any(|g| g["message_id"] == long.as_str()));

    let qdir = root.join("qdir");
    let out = quarantine(&[&store], &qdir, &[]);
    out.expect_code(0, "quarantine");
    // Only what quarantine makes, and in cur/ only names of the documented form.
    assert_eq!(names(&qdir), ["cur", "manifest.jsonl", "new", "tmp"]);
    assert!(names(&qdir.join("new")).is_empty() && names(&qdir.join("tmp")).is_empty());
    let cur = names(&qdir.join("cur"));
    assert_eq!(cur.len(), 3 * ids.len(), "four copies of each: three move");
    for n in &cur {
        let (time, rest) = n.split_once(".M").unwrap_or_else(|| panic!("{n}"));
        let (hash, flags) = rest
            .split_once(".maildedup:2,")
            .unwrap_or_else(|| panic!("{n}"));
        assert!(time.bytes().all(|b| b.is_ascii_digit()), "{n}");
        assert!(
            hash.len() == 20 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{n}"
        );
        assert!(flags.bytes().all(|b| b.is_ascii_alphabetic()), "{n}");
    }
    // Nothing appeared beside the store or QDIR.
    assert_eq!(names(&root), ["qdir", "store"]);
    restore(&qdir, &[]).expect_code(0, "restore");
}

#[test]
fn a_truncated_mbox() {
    let (_td, root) = canonical_tempdir();
    let m = b"Message-ID: <t@x>\nSubject: s\n\nbody\n";
    let full = mbox_of(&[
        m,
        m,
        b"Message-ID: <third@x>\nSubject: cut short\n\nlong body\n",
    ]);
    // Cut inside the third message's header, inside its From_ line, and inside a body.
    let cuts = [full.len() - 30, full.len() - 60, full.len() - 3];
    for (i, cut) in cuts.iter().enumerate() {
        fs::write(root.join(format!("cut{i}.mbox")), &full[..*cut]).unwrap();
    }
    // And one cut right after a From_ line.
    let from_only = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: x\n\nb\n\nFrom a@b Mon Jan  1 00:00:01 2024\n";
    fs::write(root.join("from-only.mbox"), from_only).unwrap();
    let r = scan_ok(&root);
    assert_eq!(r["summary"]["mbox_stores"], 4);
    let in_groups = |p: &Path, key: &str| -> usize {
        r[key]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["copies"].as_array().unwrap())
            .filter(|c| Path::new(c["path"].as_str().unwrap()) == p)
            .count()
    };
    // Cut in the third message's header or body: the first two still form a group.
    for i in [0, 2] {
        let p = root.join(format!("cut{i}.mbox"));
        assert_eq!(in_groups(&p, "groups"), 2, "cut{i}.mbox");
    }
    // Cut inside the third From_ line: what is left of it ("From a@b Mon Jan  1
    // 00:00:0") is not followed by a header, so it is body text of the second message,
    // which now differs from the first: a conflict, never a merge. (Its first copy is
    // still grouped with the copies in the other files.)
    let p = root.join("cut1.mbox");
    assert_eq!(
        (in_groups(&p, "groups"), in_groups(&p, "conflicts")),
        (1, 2)
    );
    round_trip(&root, &root.join("cut0.mbox"), 1);
}

#[test]
fn binary_files_are_not_mail() {
    let (_td, root) = canonical_tempdir();
    // Pseudo-random bytes (xorshift), with "\nFrom " sprinkled in.
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let mut noise = Vec::with_capacity(1 << 20);
    while noise.len() < 1 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
        if x.is_multiple_of(97) {
            noise.extend_from_slice(b"\n\nFrom x Mon Jan  1 00:00:00 2024\nA: b\n");
        }
    }
    fs::write(root.join("binary.mbox"), &noise).unwrap();
    let mut looks_like = b"From a@b Mon Jan  1 00:00:00 2024\nA: b\n".to_vec();
    looks_like.extend_from_slice(&noise);
    fs::write(root.join("binary-with-from.mbox"), &looks_like).unwrap();
    let r = scan_ok(&root);
    assert!(skip_reason(&r, &root.join("binary.mbox")).contains("not mail"));
    assert_eq!(r["summary"]["mbox_stores"], 1);
    assert!(r["summary"]["messages"].as_u64().unwrap() >= 1);
}

#[test]
fn fifos_and_devices_are_skipped_without_blocking() {
    let (_td, root) = canonical_tempdir();
    let md = maildir(&root, "Maildir");
    fs::write(
        md.join("cur/1700000000.M1.h:2,S"),
        "Message-ID: <f@x>\n\nb\n",
    )
    .unwrap();
    let fifo = md.join("cur/1700000001.M2.h:2,S");
    let fifo_new = md.join("new/1700000002.M3.h");
    let fifo_top = root.join("inbox.mbox");
    for f in [&fifo, &fifo_new, &fifo_top] {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            f,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
    }
    let dev = md.join("cur/1700000003.M4.h:2,S");
    let have_dev = rustix::fs::mknodat(
        rustix::fs::CWD,
        &dev,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o644),
        rustix::fs::makedev(1, 3), // /dev/null
    )
    .is_ok();
    let r = scan_ok(&root);
    for f in [&fifo, &fifo_new, &fifo_top] {
        assert_eq!(skip_reason(&r, f), "not a regular file");
    }
    if have_dev {
        assert_eq!(skip_reason(&r, &dev), "not a regular file");
    } else {
        eprintln!("skipped the device case: mknod is not allowed here");
    }
    // A FIFO given as the path itself: it yields no store, so it is an error naming it
    // (README "Exit codes"), at once, without waiting for a writer.
    let out = md_timed_cmd()
        .args(["scan", "--across-folders", "--json", "--no-progress"])
        .arg(&fifo_top)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&s(&fifo_top)) && stderr.contains("FIFO"),
        "{stderr}"
    );
    // What every reader uses: refuses a FIFO at once, never waits for a writer.
    let (tx, rx) = std::sync::mpsc::channel();
    let f = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(maildedup::fsutil::read_regular(&f).map(|_| ()));
    });
    let got = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("read_regular blocked on a FIFO");
    assert_eq!(got.unwrap_err().to_string(), "not a regular file");
}

#[test]
fn permission_denied_files_and_folders() {
    let (_td, root) = canonical_tempdir();
    let md = maildir(&root, "Maildir");
    let m = "Message-ID: <p@x>\nSubject: s\n\nb\n";
    fs::write(md.join("cur/1700000000.M1.h:2,S"), m).unwrap();
    fs::write(md.join("cur/1700000001.M2.h:2,S"), m).unwrap();
    let locked_file = md.join("cur/1700000002.M3.h:2,S");
    fs::write(&locked_file, m).unwrap();
    let sub = maildir(&md, ".Locked");
    fs::write(sub.join("cur/1700000003.M4.h:2,S"), m).unwrap();
    let locked_dir = sub.join("cur");
    let locked_mbox = root.join("locked.mbox");
    fs::write(&locked_mbox, mbox_of(&[m.as_bytes()])).unwrap();
    let locked_tree = root.join("private");
    maildir(&locked_tree, "Maildir");
    for p in [&locked_file, &locked_mbox] {
        fs::set_permissions(p, fs::Permissions::from_mode(0o000)).unwrap();
    }
    for p in [&locked_dir, &locked_tree] {
        fs::set_permissions(p, fs::Permissions::from_mode(0o000)).unwrap();
    }
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    // Root is not denied by permission bits: run the scan as nobody.
    // nobody can read neither root's config nor a cache under target/: --no-cache.
    let out = assert_cmd::Command::from_std(md_cmd_unprivileged())
        .args([
            "scan",
            "--across-folders",
            "--json",
            "--no-progress",
            "--no-cache",
        ])
        .arg(&root)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Incomplete (README "Exit codes"): what could not be read is named, the rest scanned.
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("could not be read"), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    for p in [&locked_file, &locked_mbox, &locked_dir, &locked_tree] {
        let reason = skip_reason(&r, p);
        assert!(
            reason.contains("ermission denied"),
            "{}: {reason}",
            p.display()
        );
    }
    assert_eq!(groups(&r).len(), 1, "the readable copies are still grouped");
    for p in [&locked_dir, &locked_tree] {
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn symlink_loops() {
    let (_td, root) = canonical_tempdir();
    let md = maildir(&root, "Maildir");
    fs::write(
        md.join("cur/1700000000.M1.h:2,S"),
        "Message-ID: <l@x>\n\nb\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("self", root.join("self")).unwrap();
    std::os::unix::fs::symlink("b", root.join("a")).unwrap();
    std::os::unix::fs::symlink("a", root.join("b")).unwrap();
    std::os::unix::fs::symlink("..", md.join("up")).unwrap();
    std::os::unix::fs::symlink("..", md.join("cur/1700000001.M2.h:2,S")).unwrap();
    let r = scan_ok(&root);
    assert_eq!(r["summary"]["messages"], 1);
    for p in ["self", "a", "b"] {
        assert!(skip_reason(&r, &root.join(p)).contains("symbolic link"));
    }
    assert!(skip_reason(&r, &md.join("cur/1700000001.M2.h:2,S")).contains("symbolic link"));
    // Given as the path itself.
    // A PATH that is a symlink is not followed and so yields no store: an error naming it.
    let out = md_env(
        ["scan", "--across-folders", "--json", &s(&root.join("self"))],
        &[],
    );
    out.expect_code(2, "scan of a looping symlink");
    assert!(out.stderr.contains("symbolic link"), "{}", out.show());
}

#[test]
fn a_store_renamed_or_deleted_during_the_scan() {
    let (_td, root) = canonical_tempdir();
    let md = maildir(&root, "Maildir");
    for i in 0..3000 {
        let m = format!("Message-ID: <r{}@x>\nSubject: {i}\n\nb\n", i % 1500);
        fs::write(md.join(format!("cur/17000{i:05}.M{i}.h:2,S")), m).unwrap();
    }
    fs::write(
        root.join("box.mbox"),
        mbox_of(&[&b"Subject: a\n\nb\n"[..]; 200]),
    )
    .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (stop, root, md) = (stop.clone(), root.clone(), md.clone());
        std::thread::spawn(move || {
            let aside = root.join("Maildir-renamed");
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = fs::rename(&md, &aside);
                let _ = fs::rename(root.join("box.mbox"), root.join("box.renamed"));
                std::thread::sleep(Duration::from_millis(3));
                let _ = fs::rename(&aside, &md);
                let _ = fs::rename(root.join("box.renamed"), root.join("box.mbox"));
                // Delete some files outright, as a client expunging.
                let _ = fs::remove_file(md.join(format!("cur/17000{:05}.M{n}.h:2,S", n % 3000)));
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    for _ in 0..15 {
        let out = md_timed_cmd()
            .args(["scan", "--across-folders", "--json", "--no-progress"])
            .arg(&root)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        for (p, reason) in skipped(&r) {
            assert!(!p.is_empty() && !reason.is_empty());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
}

#[test]
fn one_huge_group_of_identical_copies() {
    // 1,000,000 copies were measured by hand in release (docs/performance.md, "One huge group"); here
    // 15,000 in an mbox and a Maildir, enough to make quadratic work show as a hang.
    let (_td, root) = canonical_tempdir();
    let n = 10_000;
    let m = b"Message-ID: <same@x>\nSubject: one message, many copies\n\nbody\n";
    let mut mbox = Vec::with_capacity(n * 100);
    for i in 0..n {
        mbox.extend_from_slice(
            format!("From a@b Mon Jan  1 00:00:00 {}\n", 2000 + i % 20).as_bytes(),
        );
        mbox.extend_from_slice(m);
        mbox.extend_from_slice(b"\n");
    }
    fs::write(root.join("many.mbox"), &mbox).unwrap();
    let md = maildir(&root, "Maildir");
    for i in 0..5_000 {
        fs::write(md.join(format!("cur/17{i:08}.M{i}.h:2,S")), m).unwrap();
    }
    let r = scan_ok(&root);
    assert_eq!(r["summary"]["groups"], 1);
    assert_eq!(r["summary"]["extra_copies"], (n + 5_000 - 1) as u64);
    let out = quarantine(
        &[&root.join("many.mbox"), &md],
        &root.join("q"),
        &["--dry-run", "--json"],
    );
    out.expect_code(0, "dry run");
    assert_eq!(out.json()["summary"]["moves"], (n + 5_000 - 1) as u64);
}

#[test]
fn dates_of_year_0_9999_and_garbage() {
    let (_td, root) = canonical_tempdir();
    let m = |id: &str, extra: &str| format!("Message-ID: <{id}@x>\n{extra}Subject: s\n\nb\n");
    let from_lines = [
        "From a@b Mon Jan  1 00:00:00 0000",
        "From a@b Fri Dec 31 23:59:59 9999",
        "From a@b Sat Jan  1 00:00:00 10000",
        "From a@b Xyz Foo 99 99:99:99 -2024",
        "From a@b Mon Jan  1 00:00:00 2024 +9999",
        "From a@b \u{1F4E7} 1:2:3",
    ];
    let headers = [
        "Delivery-date: Mon, 1 Jan 0000 00:00:00 +0000\n",
        "Delivery-date: Fri, 31 Dec 9999 23:59:59 +0000\n",
        "Delivery-date: garbage; 99 Foo 12345678901234567890\n",
        "Received: from x by y; Mon, 1 Jan 0000 00:00:00 -9999\n",
        "Received: from x by y; Fri, 31 Dec 65535 23:59:59 +9959\n",
        "Delivery-date: 0\n",
    ];
    let mut mbox = String::new();
    for (i, f) in from_lines.iter().enumerate() {
        mbox.push_str(&format!("{f}\n{}\n", m(&format!("from{i}"), "")));
        mbox.push_str(&format!("{f}\n{}\n", m(&format!("from{i}"), "")));
    }
    for (i, h) in headers.iter().enumerate() {
        // No date on the From_ line: the header is the delivery time.
        mbox.push_str(&format!("From a@b\n{}\n", m(&format!("hdr{i}"), h)));
        mbox.push_str(&format!("From a@b\n{}\n", m(&format!("hdr{i}"), h)));
    }
    fs::write(root.join("dates.mbox"), &mbox).unwrap();
    let md = maildir(&root, "Maildir");
    for name in [
        "00000000000.M1.h:2,S",
        "99999999999.M2.h:2,S",
        "-1.M3.h:2,S",
    ] {
        fs::write(md.join("cur").join(name), m("md", "")).unwrap();
    }
    let r = scan_ok(&root);
    for g in groups(&r) {
        for c in g["copies"].as_array().unwrap() {
            match c["delivered_at"].as_str() {
                None => assert!(c["delivered_at"].is_null()),
                Some(t) => assert!(t.parse::<jiff::Timestamp>().is_ok(), "{t}"),
            }
        }
    }
    assert_eq!(groups(&r).len(), from_lines.len() + headers.len() + 1);
    round_trip(&root, &root, from_lines.len() + headers.len() + 2);
}
