//! Crash safety: SIGKILL a `quarantine` run and a `restore` run at every fault point they
//! reach (`MAILDEDUP_FAULT_AT=N`, N = 1..=K, K from `MAILDEDUP_FAULT_COUNT=1`), on several
//! trees so that every step of the Maildir (same filesystem and across filesystems) and
//! mbox paths is hit. After each kill:
//!
//! * every original message exists byte-exact in the stores or in `QDIR/cur` (Maildir
//!   files by their bytes; mbox entries in their mbox, or unquoted in `QDIR/cur`);
//! * quarantine killed: re-running `quarantine` finishes the job (a scan finds 0 groups,
//!   and the stores are exactly what an uninterrupted run leaves, merged flags included,
//!   but for the dead process's dotlock) and `restore` then gives back the original tree
//!   byte for byte; and, killed again at the same point, `restore` straight away gives
//!   back the original tree too (stale dotlocks of the dead process aside);
//! * restore killed: re-running `restore` gives back the original tree byte for byte;
//! * after every restore, QDIR's `cur/`, `new/` and `tmp/` are empty.
//!
//! Trees: Maildir only (same filesystem), mbox only (including two mboxes that each keep
//! a copy gaining flags from the other), and a mixed one with QDIR on another filesystem.
//! They live on a tmpfs when one can be mounted (fast fsync); otherwise on disk.
#![cfg(feature = "fault-injection")]

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tempfile::TempDir;

/// Where a configuration's tree and QDIR live.
struct Area {
    tree: PathBuf,
    qdir: PathBuf,
    template: PathBuf,
    where_: String,
    // Dropped in this order after the paths: unmount, then remove the temporary dirs.
    _mounts: Vec<Mount>,
    _shm: Option<TempDir>,
    _td: TempDir,
}

/// The tree on a tmpfs (or on disk if none can be mounted); QDIR beside it, or with
/// `cross_fs` on a second tmpfs (or in /dev/shm if that is another filesystem).
fn area(cross_fs: bool) -> Option<Area> {
    let (td, root) = canonical_tempdir();
    let a = root.join("a");
    let mut mounts = Vec::new();
    let mut where_ = match Mount::tmpfs(&a, "64m") {
        Ok(m) => {
            mounts.push(m);
            "store on a tmpfs".to_string()
        }
        Err(e) => {
            fs::create_dir_all(&a).unwrap();
            format!("store on disk (cannot mount tmpfs: {e})")
        }
    };
    let mut shm = None;
    let qbase = if !cross_fs {
        where_.push_str(", QDIR beside it");
        a.clone()
    } else {
        let b = root.join("b");
        match Mount::tmpfs(&b, "64m") {
            Ok(m) => {
                mounts.push(m);
                where_.push_str(", QDIR on another tmpfs");
                b
            }
            Err(e) => {
                let dir = Path::new("/dev/shm");
                if !dir.is_dir() || dev(dir) == dev(&a) {
                    eprintln!("skipped: no second filesystem (cannot mount tmpfs: {e})");
                    return None;
                }
                let t = TempDir::new_in(dir).unwrap();
                let p = t.path().to_path_buf();
                shm = Some(t);
                where_.push_str(", QDIR in /dev/shm");
                p
            }
        }
    };
    if cross_fs {
        assert_ne!(dev(&a), dev(&qbase), "two filesystems");
    }
    Some(Area {
        tree: a.join("tree"),
        qdir: qbase.join("q"),
        template: root.join("template"),
        where_,
        _mounts: mounts,
        _shm: shm,
        _td: td,
    })
}

impl Area {
    fn reset(&self) {
        for p in [&self.tree, &self.qdir] {
            if p.exists() {
                fs::remove_dir_all(p).unwrap();
            }
        }
        copy_dir(&self.template, &self.tree);
    }
}

fn maildir_tree(dst: &Path) {
    copy_dir(
        &fixtures().join("cases/Maildir"),
        &dst.join("cases/Maildir"),
    );
    copy_dir(
        &fixtures().join("real/maildirpp"),
        &dst.join("real/maildirpp"),
    );
    copy_dir(&repo().join("demo/Maildir"), &dst.join("demo/Maildir"));
}

fn mbox_tree(dst: &Path) {
    copy_dir(&fixtures().join("cases/mbox"), &dst.join("cases/mbox"));
    copy_dir(&fixtures().join("real/mbox"), &dst.join("real/mbox"));
    copy_dir(&repo().join("demo/mbox"), &dst.join("demo/mbox"));
    flag_mboxes(&dst.join("flags"));
}

fn mixed_tree(dst: &Path) {
    copy_dir(&fixtures().join("cases"), &dst.join("cases"));
    flag_mboxes(&dst.join("flags"));
}

fn fault_count(out: &Out) -> usize {
    let line = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("fault-injection: "))
        .and_then(|l| l.strip_suffix(" points"))
        .unwrap_or_else(|| panic!("no fault count:\n{}", out.show()));
    line.parse().unwrap()
}

/// The name of the point a killed run reports, checking it was killed there.
fn killed_at(out: &Out, n: usize, what: &str) -> String {
    assert_eq!(
        out.signal,
        Some(9),
        "{what} at point {n} was not killed:\n{}",
        out.show()
    );
    let prefix = format!("fault-injection: SIGKILL at point {n} (");
    out.stderr
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|l| l.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{what}: no kill report for point {n}:\n{}", out.show()))
        .to_string()
}

struct Report {
    quarantine_kills: usize,
    restore_kills: usize,
    points: BTreeMap<String, usize>,
}

fn check_lost(orig: &Originals, area: &Area, what: &str) {
    let lost = lost_messages(orig, &area.tree, &area.qdir);
    assert!(
        lost.is_empty(),
        "{what}: messages lost:\n  {}",
        lost.join("\n  ")
    );
}

/// The snapshot without dotlocks (`*.lock`) holding the pid of a dead process: what a
/// killed run leaves, for the next locker to remove as stale.
fn without_dead_locks(s: &Snapshot) -> Snapshot {
    let dead = |n: &Node| match n {
        Node::File { data, .. } => String::from_utf8_lossy(data)
            .trim()
            .parse::<i32>()
            // SAFETY: kill with signal 0 only checks whether the process exists.
            .is_ok_and(|pid| pid > 0 && unsafe { libc::kill(pid, 0) } == -1),
        _ => false,
    };
    Snapshot(
        s.0.iter()
            .filter(|(p, n)| p.extension().is_none_or(|e| e != "lock") || !dead(n))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect(),
    )
}

/// After a restore, QDIR holds no message and no leftover temporary file.
fn assert_qdir_clean(q: &Path, what: &str) {
    for sub in ["cur", "new", "tmp"] {
        let left = names(&q.join(sub));
        assert!(
            left.is_empty(),
            "{what}: QDIR/{sub} not empty after restore: {left:?}"
        );
    }
}

fn assert_no_groups(area: &Area, what: &str) {
    let scan = scan_json(&[&area.tree]);
    assert_eq!(
        scan["summary"]["groups"].as_u64(),
        Some(0),
        "{what}: duplicates left: {}",
        scan["groups"]
    );
}

/// The environment pairs as `quarantine_env` and `restore_env` take them.
fn env(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, x)| (k.as_str(), x.as_str())).collect()
}

/// Kills quarantine and restore at every point on one tree.
fn kill_everywhere(name: &str, build: fn(&Path), cross_fs: bool) -> Option<Report> {
    kill_everywhere_batched(name, build, cross_fs, None)
}

/// [`kill_everywhere`], the killed runs (and the runs counting the points) working in
/// batches of `batch` copies (`MAILDEDUP_BATCH`) when given: the kills then fall inside
/// a batch as well as between two. The re-runs and restores after a kill use the normal
/// batch size.
fn kill_everywhere_batched(
    name: &str,
    build: fn(&Path),
    cross_fs: bool,
    batch: Option<&str>,
) -> Option<Report> {
    let with = |kv: (&'static str, &str)| -> Vec<(String, String)> {
        let mut v = vec![(kv.0.to_string(), kv.1.to_string())];
        if let Some(b) = batch {
            v.push(("MAILDEDUP_BATCH".to_string(), b.to_string()));
        }
        v
    };

    let started = Instant::now();
    let area = area(cross_fs)?;
    build(&area.template);
    let orig_snap = snapshot(&area.template);
    let orig = originals(&orig_snap);
    let tree = area.tree.clone();
    let q = area.qdir.clone();
    let mut rep = Report {
        quarantine_kills: 0,
        restore_kills: 0,
        points: BTreeMap::new(),
    };

    // How many points a whole quarantine and a whole restore reach.
    area.reset();
    let count = with(("MAILDEDUP_FAULT_COUNT", "1"));
    let full = quarantine_env(&[&tree], &q, &[], &env(&count));
    full.expect_code(0, "quarantine");
    let kq = fault_count(&full);
    assert_no_groups(&area, "after a whole quarantine");
    let clean = snapshot(&tree);
    let full_r = restore_env(&q, &[], &env(&count));
    full_r.expect_code(0, "restore");
    let kr = fault_count(&full_r);
    assert_same(
        &orig_snap,
        &snapshot(&tree),
        &format!("{name}: a whole round trip"),
    );

    for n in 1..=kq {
        let what = format!("{name}: quarantine killed at point {n}/{kq}");
        area.reset();
        let nstr = n.to_string();
        let at = with(("MAILDEDUP_FAULT_AT", &nstr));
        let out = quarantine_env(&[&tree], &q, &[], &env(&at));
        let point = killed_at(&out, n, &what);
        let what = format!("{what} ({point})");
        *rep.points.entry(point).or_default() += 1;
        rep.quarantine_kills += 1;
        check_lost(&orig, &area, &what);
        let again = quarantine(&[&tree], &q, &[]);
        again.expect_code(0, &format!("{what}: re-run"));
        assert_no_groups(&area, &format!("{what}: after the re-run"));
        // The re-run leaves the stores as an uninterrupted run does (flags merged too);
        // only a dotlock of the killed process may be left, for the next locker to remove.
        assert_same(
            &without_dead_locks(&clean),
            &without_dead_locks(&snapshot(&tree)),
            &format!("{what}: after the re-run, compared with an uninterrupted run"),
        );
        check_lost(&orig, &area, &format!("{what}: after the re-run"));
        let r = restore(&q, &[]);
        r.expect_code(0, &format!("{what}: restore"));
        assert_same(
            &orig_snap,
            &snapshot(&tree),
            &format!("{what}: then re-run, restore"),
        );
        assert_qdir_clean(&q, &what);

        // The same crash, then `restore` straight away (the user gives up on the
        // quarantine): the original tree, byte for byte.
        area.reset();
        let at = with(("MAILDEDUP_FAULT_AT", &nstr));
        let out = quarantine_env(&[&tree], &q, &[], &env(&at));
        killed_at(&out, n, &what);
        if q.join("manifest.jsonl").exists() {
            let r = restore(&q, &[]);
            r.expect_code(0, &format!("{what}: restore straight after the crash"));
            assert_qdir_clean(&q, &format!("{what}: restore straight after the crash"));
        }
        assert_same(
            &orig_snap,
            &without_dead_locks(&snapshot(&tree)),
            &format!("{what}: restore straight after the crash"),
        );
    }

    for n in 1..=kr {
        let what = format!("{name}: restore killed at point {n}/{kr}");
        area.reset();
        quarantine(&[&tree], &q, &[]).expect_code(0, &format!("{what}: quarantine"));
        let nstr = n.to_string();
        let at = with(("MAILDEDUP_FAULT_AT", &nstr));
        let out = restore_env(&q, &[], &env(&at));
        let point = killed_at(&out, n, &what);
        let what = format!("{what} ({point})");
        *rep.points.entry(format!("restore:{point}")).or_default() += 1;
        rep.restore_kills += 1;
        check_lost(&orig, &area, &what);
        let r = restore(&q, &[]);
        r.expect_code(0, &format!("{what}: re-run"));
        assert_same(
            &orig_snap,
            &snapshot(&tree),
            &format!("{what}: after the re-run"),
        );
        assert_qdir_clean(&q, &what);
    }
    eprintln!(
        "{name} ({}): {} quarantine kills, {} restore kills in {:.1?}; points: {:?}",
        area.where_,
        rep.quarantine_kills,
        rep.restore_kills,
        started.elapsed(),
        rep.points
    );
    Some(rep)
}

fn assert_hit(rep: &Report, points: &[&str]) {
    for p in points {
        assert!(
            rep.points.contains_key(*p),
            "point {p} was never hit: {:?}",
            rep.points
        );
    }
}

#[test]
fn kill_anywhere_maildir_same_filesystem() {
    let rep = kill_everywhere("maildir", maildir_tree, false).expect("same-fs area");
    assert_hit(
        &rep,
        &[
            "manifest.appended",
            "maildir.flags",
            "move.renamed",
            "move.synced",
            "restore:manifest.appended",
            "restore:move.renamed",
            "restore:restore.flags",
        ],
    );
}

#[test]
fn kill_anywhere_mbox() {
    let rep = kill_everywhere("mbox", mbox_tree, false).expect("same-fs area");
    assert_hit(
        &rep,
        &[
            "mbox.locked",
            "mbox.extract-written",
            "mbox.extract-linked",
            "mbox.rewrite-recorded",
            "inplace.tail-written",
            "inplace.tail-recorded",
            "inplace.extended",
            "inplace.copied",
            "inplace.synced",
            "inplace.truncated",
            "inplace.truncate-synced",
            "inplace.done-recorded",
            "inplace.tail-removed",
            "restore:inplace.tail-written",
            "restore:inplace.tail-recorded",
            "restore:inplace.extended",
            "restore:inplace.copied",
            "restore:inplace.synced",
            "restore:inplace.done-recorded",
            "restore:inplace.tail-removed",
            "restore:restore.mbox-written",
            "restore:restore.extracts-removed",
            "restore:recover.finished",
        ],
    );
}

#[test]
fn kill_anywhere_mixed_across_filesystems() {
    let Some(rep) = kill_everywhere("mixed, cross-fs", mixed_tree, true) else {
        return;
    };
    assert_hit(
        &rep,
        &[
            "maildir.flags",
            "move.copied",
            "move.linked",
            "move.unlinked",
            "move.synced",
            "inplace.copied",
            "restore:move.copied",
            "restore:move.linked",
            "restore:move.unlinked",
            "restore:restore.mbox-written",
        ],
    );
}

/// Batches of two copies: kills after the batch's records are fsynced but before any
/// file of it moves (`batch.recorded`, `manifest.appended`), after one file of a batch
/// is written but before the batch is synced (`mbox.extract-written`, `move.copied`),
/// after the sync before the renames into QDIR/cur (`batch.synced`), after the renames
/// before the store changes (`mbox.extract-linked`, `move.linked`), and between two
/// batches (`batch.done`). No message is lost, a re-run finishes, a restore gives back
/// every byte.
#[test]
fn kill_inside_batches_mbox() {
    let rep = kill_everywhere_batched("mbox, batches of 2", mbox_tree, false, Some("2"))
        .expect("same-fs area");
    assert_hit(
        &rep,
        &[
            "manifest.appended",
            "mbox.extract-written",
            "batch.synced",
            "mbox.extract-linked",
            "batch.done",
            "mbox.rewrite-recorded",
            "restore:restore.extracts-removed",
        ],
    );
}

#[test]
fn kill_inside_batches_maildir_same_filesystem() {
    let rep = kill_everywhere_batched("maildir, batches of 2", maildir_tree, false, Some("2"))
        .expect("same-fs area");
    assert_hit(
        &rep,
        &[
            "batch.recorded",
            "move.renamed",
            "move.synced",
            "batch.done",
            "restore:move.renamed",
            "restore:manifest.appended",
        ],
    );
}

#[test]
fn kill_inside_batches_mixed_across_filesystems() {
    let Some(rep) =
        kill_everywhere_batched("mixed, cross-fs, batches of 2", mixed_tree, true, Some("2"))
    else {
        return;
    };
    assert_hit(
        &rep,
        &[
            "batch.recorded",
            "move.copied",
            "batch.synced",
            "move.linked",
            "move.unlinked",
            "batch.done",
            "restore:move.copied",
            "restore:batch.synced",
            "restore:move.linked",
            "restore:move.unlinked",
        ],
    );
}

/// The tree for the append-after-kill test: two mboxes that exchange flags (their
/// rewrites grow and shrink) and the mbox cases.
fn append_tree(dst: &Path) {
    copy_dir(&fixtures().join("cases/mbox"), &dst.join("cases/mbox"));
    flag_mboxes(&dst.join("flags"));
}

/// The mbox the newest `mbox-rewrite` record of QDIR's manifest names.
fn last_rewritten_mbox(q: &Path) -> Option<PathBuf> {
    last_record(q, "mbox-rewrite").and_then(|r| r["mbox"].as_str().map(PathBuf::from))
}

/// The sizes before and after of the newest `mbox-write` record, if any.
fn last_write_sizes(q: &Path) -> Option<(u64, u64)> {
    last_record(q, "mbox-write")
        .and_then(|r| Some((r["pre_size"].as_u64()?, r["post_size"].as_u64()?)))
}

/// Appends `entry` to `mbox` the way a writer that takes no lock does (the dead
/// process's dotlock is stale; a writer would break it, or not look at all).
fn plain_append(mbox: &Path, entry: &[u8]) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new().append(true).open(mbox).unwrap();
    f.write_all(entry).unwrap();
    f.sync_all().unwrap();
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    memchr::memmem::find_iter(hay, needle).count()
}

/// After the appended `entry`: it is in `mbox` exactly once; restoring gives back the
/// original tree with `entry` at the end of `mbox`, byte for byte.
fn check_appended_kept(
    area: &Area,
    orig_snap: &Snapshot,
    orig: &Originals,
    mbox: &Path,
    entry: &[u8],
    what: &str,
) {
    let now = fs::read(mbox).unwrap();
    assert_eq!(
        count(&now, entry),
        1,
        "{what}: the appended message is not in {} exactly once",
        mbox.display()
    );
    check_lost(orig, area, what);
    let r = restore(&area.qdir, &[]);
    r.expect_code(0, &format!("{what}: restore"));
    let mut want = orig_snap.clone();
    let rel = mbox.strip_prefix(&area.tree).unwrap();
    match want.0.get_mut(rel) {
        Some(Node::File { data, .. }) => data.extend_from_slice(entry),
        _ => panic!("{what}: {} not in the snapshot", rel.display()),
    }
    assert_same(
        &want,
        &without_dead_locks(&snapshot(&area.tree)),
        &format!("{what}: after restore, the original plus the appended message"),
    );
    assert_qdir_clean(&area.qdir, &format!("{what}: after restore"));
}

/// Kills quarantine at every step of its in-place mbox writes, then appends a message
/// to the mbox being written with a writer that takes no lock (the killed process's
/// locks are gone or stale): a re-run of quarantine, and separately a restore, keep the
/// appended message in the mbox byte for byte and every original message in the mbox
/// or QDIR. For the first kill at each step, the recovery itself is then killed at each
/// of its steps, and the next run must still lose nothing.
#[test]
fn kill_in_place_write_then_append_without_lock() {
    let started = Instant::now();
    let area = area(false).expect("same-fs area");
    append_tree(&area.template);
    let orig_snap = snapshot(&area.template);
    let orig = originals(&orig_snap);
    let tree = area.tree.clone();
    let q = area.qdir.clone();
    area.reset();
    let full = quarantine_env(&[&tree], &q, &[], &[("MAILDEDUP_FAULT_COUNT", "1")]);
    full.expect_code(0, "quarantine");
    let kq = fault_count(&full);
    let entry = b"From late@example.org Thu Feb  1 00:00:00 2024\n\
Message-ID: <appended-after-kill@test.example.org>\nFrom: late@example.org\n\
Subject: appended while maildedup lay dead\n\nThis one must survive.\n\n";
    // Kill at point `n`, append (or not): the point, and the mbox being rewritten.
    let kill_and_append = |n: usize, what: &str, append: bool| -> Option<(String, PathBuf)> {
        area.reset();
        let out = quarantine_env(&[&tree], &q, &[], &[("MAILDEDUP_FAULT_AT", &n.to_string())]);
        let point = killed_at(&out, n, what);
        if !point.starts_with("inplace.") && point != "mbox.rewrite-recorded" {
            return None;
        }
        let mbox = last_rewritten_mbox(&q).expect("an mbox-rewrite record");
        if append {
            plain_append(&mbox, entry);
        }
        Some((point, mbox))
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut kinds = std::collections::BTreeSet::new();
    let mut recovery_kills = 0;
    for n in 1..=kq {
        let what = format!("quarantine killed at point {n}/{kq}");
        let Some((point, mbox)) = kill_and_append(n, &what, true) else {
            continue;
        };
        let what = format!("{what} ({point}), a message appended");
        // Recovery is killed for the first kill at each step of a growing, a shrinking
        // and a same-size write.
        let kind = match last_write_sizes(&q) {
            Some((pre, post)) if post > pre => "grow",
            Some((pre, post)) if post < pre => "shrink",
            Some(_) => "same",
            None => "none",
        };
        let first_at_point = kinds.insert(format!("{point} {kind}"));
        *seen.entry(point.clone()).or_default() += 1;

        // Re-run quarantine.
        let again = quarantine(&[&tree], &q, &[]);
        again.expect_code(0, &format!("{what}: re-run"));
        check_appended_kept(
            &area,
            &orig_snap,
            &orig,
            &mbox,
            entry,
            &format!("{what}: re-run"),
        );

        // Restore straight away.
        kill_and_append(n, &what, true);
        restore(&q, &[]).expect_code(0, &format!("{what}: restore"));
        let now = fs::read(&mbox).unwrap();
        assert_eq!(count(&now, entry), 1, "{what}: restore: appended message");
        let mut want = orig_snap.clone();
        let rel = mbox.strip_prefix(&tree).unwrap();
        if let Some(Node::File { data, .. }) = want.0.get_mut(rel) {
            data.extend_from_slice(entry);
        }
        assert_same(
            &want,
            &without_dead_locks(&snapshot(&tree)),
            &format!("{what}: restore straight after"),
        );
        assert_qdir_clean(&q, &format!("{what}: restore straight after"));

        if !first_at_point {
            continue;
        }
        let mut done_without_append = false;
        // Kill the recovery at each of its steps (the points a re-run reaches up to the
        // end of its recovery).
        for (m, append) in (1..).flat_map(|m| [(m, true), (m, false)]) {
            if done_without_append && !append {
                continue;
            }
            kill_and_append(n, &what, append);
            let out = quarantine_env(&[&tree], &q, &[], &[("MAILDEDUP_FAULT_AT", &m.to_string())]);
            let w = format!("{what}; recovery killed at point {m} (appended: {append})");
            let rpoint = killed_at(&out, m, &w);
            let w = format!("{w} ({rpoint})");
            recovery_kills += 1;
            *seen.entry(format!("recovery:{rpoint}")).or_default() += 1;
            check_lost(&orig, &area, &w);
            // The appended message is in the mbox or in a pending tail in QDIR.
            let in_mbox = count(&fs::read(&mbox).unwrap(), entry) > 0;
            let in_tail = fs::read_dir(q.join("rewrite"))
                .map(|rd| {
                    rd.flatten()
                        .any(|e| count(&fs::read(e.path()).unwrap(), entry) > 0)
                })
                .unwrap_or(false);
            assert!(
                in_mbox || in_tail || !append,
                "{w}: the appended message is lost"
            );
            quarantine(&[&tree], &q, &[]).expect_code(0, &format!("{w}: re-run"));
            let entry: &[u8] = if append { entry } else { b"" };
            if append {
                check_appended_kept(
                    &area,
                    &orig_snap,
                    &orig,
                    &mbox,
                    entry,
                    &format!("{w}: re-run"),
                );
            } else {
                check_lost(&orig, &area, &w);
                restore(&q, &[]).expect_code(0, &format!("{w}: restore"));
                assert_same(
                    &orig_snap,
                    &without_dead_locks(&snapshot(&tree)),
                    &format!("{w}: restore"),
                );
            }
            if rpoint == "recover.finished" {
                if append {
                    break;
                }
                done_without_append = true;
            }
        }
    }
    eprintln!(
        "append after kill: {recovery_kills} recovery kills in {:.1?}; points: {seen:?}",
        started.elapsed()
    );
    for p in [
        "mbox.rewrite-recorded",
        "inplace.tail-written",
        "inplace.tail-recorded",
        "inplace.extended",
        "inplace.copied",
        "inplace.synced",
        "inplace.truncated",
        "inplace.truncate-synced",
        "inplace.done-recorded",
        "inplace.tail-removed",
        "recovery:recover.locked",
        "recovery:recover.redone",
        "recovery:recover.appended-moved",
        "recovery:recover.finished",
        "recovery:inplace.tail-written",
        "recovery:inplace.tail-recorded",
        "recovery:inplace.copied",
        "recovery:inplace.truncated",
        "recovery:inplace.done-recorded",
    ] {
        assert!(seen.contains_key(p), "point {p} was never hit: {seen:?}");
    }
}
