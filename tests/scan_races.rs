//! Another program rewriting an mbox while the scan reads it (mutt's sync truncates the
//! file and writes it again, without the lock the scan waits for) must never kill the
//! scan: no signal (SIGBUS was exit 135 when mbox files were memory-mapped), no panic, and
//! a report that is valid JSON, where a file that changed under the scan is a `skipped`
//! entry naming it.

mod common;

use common::md_cmd;
use serde_json::Value;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// An mbox of `n` messages, every fifth one a duplicate of the one before, with bodies
/// of `body` bytes.
fn mbox(n: usize, body: usize, tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let id = if i % 5 == 4 { i - 1 } else { i };
        out.extend_from_slice(
            format!(
                "From sender@example.org Sat Jan  3 01:05:34 2022\n\
                 From: sender@example.org\nTo: me@example.org\n\
                 Subject: {tag} message {id}\nMessage-ID: <{tag}-{id}@example.org>\n\
                 Date: Sat, 3 Jan 2022 01:05:34 +0000\n\n"
            )
            .as_bytes(),
        );
        for l in 0..body / 64 {
            out.extend_from_slice(
                format!("{tag} {id} line {l:>4} {}\n", "x".repeat(40)).as_bytes(),
            );
        }
        out.push(b'\n');
    }
    out
}

/// Rewrites the file in place as mutt's sync does: the same inode, `set_len`, then a write.
fn rewrite(path: &Path, data: &[u8]) {
    let mut f = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open mbox for writing");
    f.set_len(0).expect("truncate");
    f.seek(SeekFrom::Start(0)).expect("seek");
    f.write_all(data).expect("write");
}

#[test]
fn scans_survive_an_mbox_rewritten_under_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("inbox");
    let long = mbox(6000, 1500, "long");
    let short = mbox(300, 400, "short");
    let other = mbox(3000, 2500, "other");
    std::fs::write(&path, &long).expect("write mbox");

    let stop = Arc::new(AtomicBool::new(false));
    let rewrites = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, rewrites, path) = (stop.clone(), rewrites.clone(), path.clone());
        std::thread::spawn(move || {
            let versions: [&[u8]; 5] = [&short, &long, b"", &other, &long[..long.len() / 3]];
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                rewrite(&path, versions[i % versions.len()]);
                rewrites.fetch_add(1, Ordering::Relaxed);
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(3 + (i % 7) as u64));
            }
        })
    };

    let mut skipped_changed = 0;
    for run in 0..30 {
        let out = md_cmd()
            .args(["scan", "--json", "--no-cache"])
            .arg(&path)
            .output()
            .expect("run maildedup");
        let stderr = String::from_utf8_lossy(&out.stderr);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            None,
            "scan {run} was killed by a signal; stderr: {stderr}"
        );
        let code = out.status.code().expect("an exit code");
        assert!(code < 128, "scan {run} exited {code}; stderr: {stderr}");
        assert_ne!(code, 101, "scan {run} panicked: {stderr}");
        assert!(!stderr.contains("panicked"), "scan {run}: {stderr}");
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "scan {run}: stdout is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        let skipped = json["skipped"].as_array().expect("a skipped array");
        for s in skipped {
            let p = s["path"].as_str().expect("skipped.path");
            let reason = s["reason"].as_str().expect("skipped.reason");
            assert_eq!(
                Path::new(p),
                path.as_path(),
                "scan {run}: a skipped entry must name the mbox: {s}"
            );
            assert!(
                !reason.is_empty(),
                "scan {run}: a skipped entry without a reason"
            );
            if reason.contains("changed by another program") {
                skipped_changed += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread");
    assert!(
        rewrites.load(Ordering::Relaxed) > 30,
        "the file was rewritten while the scans ran"
    );
    eprintln!(
        "{} rewrites; {skipped_changed} of 30 scans reported the mbox as changed while read",
        rewrites.load(Ordering::Relaxed)
    );
}
