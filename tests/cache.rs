//! The fingerprint cache never changes a result: after every kind of change a store sees
//! (adds, deletes, flag renames, moves between folders, mbox appends and rewrites,
//! quarantine and restore), `scan --json` with the cache prints byte for byte what
//! `scan --json --no-cache` prints. A damaged, old-format or busy cache is rebuilt or
//! skipped with a warning, never a failed scan.

mod common;

use common::{copy_dir, fixtures, md_cmd};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn run(cwd: &Path, args: &[&str]) -> Output {
    md_cmd()
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run maildedup")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `scan --json store` in `root`, with the cache in `cache` or with `--no-cache`.
fn scan(root: &Path, cache: Option<&Path>, extra: &[&str]) -> (String, String) {
    let c;
    let mut args = vec!["scan", "--json", "--no-progress"];
    match cache {
        Some(p) => {
            c = p.to_string_lossy().into_owned();
            args.extend(["--cache", c.as_str()]);
        }
        None => args.push("--no-cache"),
    }
    args.extend(extra);
    args.push("store");
    let out = run(root, &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "scan {args:?} failed\n{}",
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

/// Asserts that the cached scan prints exactly what the uncached one prints, and that the
/// cached one printed no warning. Returns the report.
fn same(root: &Path, cache: &Path, step: &str) -> serde_json::Value {
    let (plain, _) = scan(root, None, &[]);
    let (cached, err) = scan(root, Some(cache), &[]);
    assert!(
        plain == cached,
        "step `{step}`: the report with the cache differs from the one without\n{}",
        first_difference(&plain, &cached)
    );
    assert!(
        !err.contains("warning"),
        "step `{step}`: unexpected warning: {err}"
    );
    serde_json::from_str(&plain).expect("JSON report")
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  no cache: {x}\n  cache:    {y}", i + 1);
        }
    }
    format!("lengths {} vs {}", a.len(), b.len())
}

fn msg(id: &str, subject: &str, body: &str) -> String {
    format!(
        "Message-ID: <{id}@cache.test>\nFrom: Ann <ann@example.org>\nTo: bob@example.org\n\
Subject: {subject}\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\n{body}\n"
    )
}

fn from_line(n: u32) -> String {
    format!(
        "From ann@example.org Mon Jan  1 00:{:02}:{:02} 2024\n",
        n / 60,
        n % 60
    )
}

fn maildir(dir: &Path) {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
}

/// A store with two Maildir++ folders, three mbox files and the `cases`, `real` and
/// `demo` fixtures.
fn build(root: &Path) -> PathBuf {
    let store = root.join("store");
    let md = store.join("Maildir");
    maildir(&md);
    maildir(&md.join(".Archive"));
    for n in 0..30u32 {
        let id = format!("m{}", n % 20); // m0..m9 twice: duplicates
        let sub = if n % 7 == 0 { "new" } else { "cur" };
        let name = if sub == "new" {
            format!("17000{n:05}.M{n}P1.test")
        } else {
            format!("17000{n:05}.M{n}P1.test:2,S")
        };
        let folder = if n % 5 == 0 {
            md.join(".Archive")
        } else {
            md.clone()
        };
        fs::write(
            folder.join(sub).join(name),
            msg(&id, &format!("subject {id}"), &format!("body of {id}")),
        )
        .unwrap();
    }
    let mut mbox = String::new();
    for n in 0..12u32 {
        mbox.push_str(&from_line(n));
        mbox.push_str(&msg(
            &format!("m{}", n % 15),
            &format!("subject m{}", n % 15),
            &format!("body of m{}", n % 15),
        ));
        mbox.push('\n');
    }
    fs::write(store.join("inbox.mbox"), &mbox).unwrap();
    // Its last message has no blank line after it.
    fs::write(
        store.join("noblank.mbox"),
        format!(
            "{}{}{}{}",
            from_line(1),
            msg("m1", "subject m1", "body of m1"),
            "\n",
            from_line(2) + &msg("n2", "n2", "x")
        ),
    )
    .unwrap();
    // Its first message's Content-Length points far past the end of the file.
    fs::write(
        store.join("cl.mbox"),
        format!(
            "{}Content-Length: 99999\n{}\n{}{}",
            from_line(3),
            msg("m3", "subject m3", "body of m3"),
            from_line(4),
            msg("cl4", "cl4", "y")
        ),
    )
    .unwrap();
    copy_dir(&fixtures().join("cases"), &store.join("cases"));
    copy_dir(&fixtures().join("real"), &store.join("real"));
    copy_dir(&common::repo().join("demo"), &store.join("demo"));
    store
}

fn append(path: &Path, s: &str) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

/// Lets the clock move on so that a rewrite gets a new mtime and ctime.
fn tick() {
    std::thread::sleep(std::time::Duration::from_millis(30));
}

fn count(v: &serde_json::Value, field: &str) -> u64 {
    v["summary"][field].as_u64().unwrap_or(u64::MAX)
}

#[test]
fn reports_with_and_without_the_cache_are_identical_through_every_change() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let store = build(root);
    let cache = root.join("cache");
    let md = store.join("Maildir");

    let cold = same(root, &cache, "first run (cold cache)");
    assert!(cache.join("fingerprints.redb").is_file());
    assert!(count(&cold, "groups") > 5, "the store has duplicates");
    same(root, &cache, "unchanged second run");

    // Adds: a new duplicate in new/ and a new mbox.
    fs::write(
        md.join("new").join("1700100000.M900P1.test"),
        msg("m4", "subject m4", "body of m4"),
    )
    .unwrap();
    fs::write(
        store.join("added.mbox"),
        from_line(9) + &msg("m5", "subject m5", "body of m5"),
    )
    .unwrap();
    let v = same(root, &cache, "adds");
    assert!(count(&v, "messages") > count(&cold, "messages"));

    // Deletes.
    fs::remove_file(md.join("cur").join("1700000001.M1P1.test:2,S")).unwrap();
    fs::remove_file(store.join("added.mbox")).unwrap();
    same(root, &cache, "deletes");

    // Flag renames: cur/ gets new flags, new/ moves to cur/.
    fs::rename(
        md.join("cur").join("1700000002.M2P1.test:2,S"),
        md.join("cur").join("1700000002.M2P1.test:2,FRS"),
    )
    .unwrap();
    fs::rename(
        md.join("new").join("1700000014.M14P1.test"),
        md.join("cur").join("1700000014.M14P1.test:2,S"),
    )
    .unwrap();
    let v = same(root, &cache, "flag renames");
    assert!(v.to_string().contains("1700000002.M2P1.test:2,FRS"));

    // Moves between folders.
    fs::rename(
        md.join("cur").join("1700000003.M3P1.test:2,S"),
        md.join(".Archive")
            .join("cur")
            .join("1700000003.M3P1.test:2,S"),
    )
    .unwrap();
    same(root, &cache, "move between folders");

    // mbox appends: after a blank line; right after the last message with a dated From_
    // line; an undated From_ line without a blank line (not a separator: the last message
    // grows); a file whose last line had no line break.
    let inbox = store.join("inbox.mbox");
    append(
        &inbox,
        &(from_line(20) + &msg("m1", "subject m1", "body of m1") + "\n"),
    );
    let before = count(&same(root, &cache, "mbox append"), "messages");
    let noblank = store.join("noblank.mbox");
    append(
        &noblank,
        &(from_line(21) + &msg("m2", "subject m2", "body of m2")),
    );
    same(root, &cache, "mbox append without a blank line before it");
    append(
        &noblank,
        &("From nobody\n".to_string() + &msg("z", "z", "z")),
    );
    same(root, &cache, "mbox append that is not a new message");
    let nonl = store.join("nonl.mbox");
    fs::write(
        &nonl,
        from_line(1) + &msg("m7", "subject m7", "body of m7") + "end",
    )
    .unwrap();
    same(root, &cache, "mbox without a final line break");
    append(
        &nonl,
        &("\n\n".to_string() + &from_line(2) + &msg("m7", "subject m7", "body of m7")),
    );
    same(root, &cache, "append to an mbox without a final line break");
    // cl.mbox's first Content-Length now lands exactly on an appended From_ line: the
    // whole file must be split again (the first entry now runs to that line).
    let cl = store.join("cl.mbox");
    let data = fs::read_to_string(&cl).unwrap();
    let body = data.find("\n\n").unwrap() + 2;
    let target = body + 99999;
    append(&cl, &("y".repeat(target + 1 - data.len() - 2) + "\n\n"));
    append(
        &cl,
        &(from_line(22) + &msg("m8", "subject m8", "body of m8")),
    );
    same(root, &cache, "append where a stale Content-Length lands");
    append(
        &inbox,
        &(from_line(23) + &msg("m9", "subject m9", "body of m9") + "\n"),
    );
    append(&inbox, &(from_line(24) + &msg("new24", "s", "b") + "\n"));
    let v = same(root, &cache, "two more appends");
    assert!(count(&v, "messages") > before);

    // mbox rewrites: shrink; same size, other content; a new file renamed over it.
    let data = fs::read(&inbox).unwrap();
    let last = String::from_utf8_lossy(&data).rfind("\nFrom ann").unwrap() + 1;
    tick();
    fs::OpenOptions::new()
        .write(true)
        .open(&inbox)
        .unwrap()
        .set_len(last as u64)
        .unwrap();
    same(root, &cache, "mbox shrunk");
    let mut data = fs::read(&inbox).unwrap();
    let at = String::from_utf8_lossy(&data).find("subject m4").unwrap();
    data[at + 9] = b'X'; // "subject mX": another message, same size
    tick();
    fs::write(&inbox, &data).unwrap();
    let v = same(root, &cache, "mbox rewritten in place, same size");
    assert!(v.to_string().contains("subject") || count(&v, "groups") > 0);
    let tmpf = store.join(".inbox.tmp");
    fs::write(
        &tmpf,
        from_line(30)
            + &msg("m0", "subject m0", "body of m0")
            + "\n"
            + &String::from_utf8_lossy(&data),
    )
    .unwrap();
    fs::rename(&tmpf, &inbox).unwrap();
    same(root, &cache, "mbox replaced by rename");

    // A Maildir++ folder vanishes.
    fs::remove_dir_all(md.join(".Archive")).unwrap();
    same(root, &cache, "folder removed");

    // Quarantine and restore (the quarantine run uses the cache too).
    let q = root.join("q");
    let out = run(
        root,
        &[
            "quarantine",
            "--no-progress",
            "--cache",
            &cache.to_string_lossy(),
            "store",
            "--to",
            &q.to_string_lossy(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = same(root, &cache, "after quarantine");
    assert_eq!(count(&v, "groups"), 0, "quarantine left duplicates: {v}");
    let out = run(root, &["restore", &q.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = same(root, &cache, "after restore");
    assert!(count(&v, "groups") > 0);

    // Records of stores that are gone were pruned: one record per store left.
    let db = redb::Database::create(cache.join("fingerprints.redb")).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let table = txn
        .open_table(redb::TableDefinition::<&[u8], &[u8]>::new("stores"))
        .unwrap();
    let n = redb::ReadableTableMetadata::len(&table).unwrap();
    assert_eq!(n, count(&v, "stores"), "stale store records in the cache");
}

/// The cache is really used: a Maildir file rewritten in place against the Maildir rules
/// (same name, size and mtime) is not read again; `--paranoid` reads it again once its
/// mtime changed.
#[test]
fn maildir_files_are_known_by_name_and_paranoid_checks_size_and_mtime() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let store = root.join("store");
    maildir(&store);
    let a = store.join("cur").join("1700000000.M1P1.test:2,S");
    let b = store.join("cur").join("1700000001.M2P1.test:2,S");
    fs::write(&a, msg("same", "s", "one")).unwrap();
    fs::write(&b, msg("same", "s", "one")).unwrap();
    let cache = root.join("cache");
    let v = same(root, &cache, "first run");
    assert_eq!(count(&v, "groups"), 1);
    // Rewrite b in place, same size, other Message-ID, mtime put back.
    let mtime = fs::metadata(&b).unwrap().modified().unwrap();
    fs::write(&b, msg("diff", "s", "one")).unwrap();
    fs::File::options()
        .write(true)
        .open(&b)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let (plain, _) = scan(root, None, &[]);
    let (cached, _) = scan(root, Some(&cache), &[]);
    assert_ne!(plain, cached, "the cached run did not use the cache");
    let (paranoid, _) = scan(root, Some(&cache), &["--paranoid"]);
    assert_ne!(
        plain, paranoid,
        "same size and mtime: --paranoid trusts the record"
    );
    // Now the mtime changes too: --paranoid sees it.
    fs::File::options()
        .write(true)
        .open(&b)
        .unwrap()
        .set_modified(mtime + std::time::Duration::from_secs(60))
        .unwrap();
    let (plain, _) = scan(root, None, &[]);
    let (paranoid, _) = scan(root, Some(&cache), &["--paranoid"]);
    assert_eq!(plain, paranoid);
    // And the paranoid run updated the record.
    let (cached, _) = scan(root, Some(&cache), &[]);
    assert_eq!(plain, cached);
}

#[test]
fn the_cache_folder_and_file_are_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    build(root);
    let cache = root.join("a").join("b");
    same(root, &cache, "first run");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(&cache.join("fingerprints.redb")), 0o600);
}

#[test]
fn the_default_cache_is_under_xdg_cache_home() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    build(root);
    let xdg = root.join("xdg");
    let out = md_cmd()
        .current_dir(root)
        .env("XDG_CACHE_HOME", &xdg)
        .args(["scan", "--json", "store"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(xdg.join("maildedup").join("fingerprints.redb").is_file());
    let home = root.join("home");
    let out = md_cmd()
        .current_dir(root)
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", &home)
        .args(["scan", "--json", "store"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(home
        .join(".cache")
        .join("maildedup")
        .join("fingerprints.redb")
        .is_file());
}

#[test]
fn a_garbage_cache_is_rebuilt_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    build(root);
    let cache = root.join("cache");
    fs::create_dir_all(&cache).unwrap();
    fs::write(
        cache.join("fingerprints.redb"),
        b"this is not a redb file\n".repeat(300),
    )
    .unwrap();
    let (plain, _) = scan(root, None, &[]);
    let (cached, err) = scan(root, Some(&cache), &[]);
    assert_eq!(plain, cached);
    assert!(
        err.contains("warning") && err.contains("rebuilding"),
        "no warning: {err}"
    );
    // Rebuilt: the next run is quiet and uses it.
    same(root, &cache, "after the rebuild");
}

#[test]
fn a_damaged_cache_never_changes_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    build(root);
    let cache = root.join("cache");
    same(root, &cache, "first run");
    let file = cache.join("fingerprints.redb");
    let mut data = fs::read(&file).unwrap();
    // Damage every 97th byte of the second half (where the records are).
    for i in (data.len() / 2..data.len()).step_by(97) {
        data[i] ^= 0x5a;
    }
    fs::write(&file, &data).unwrap();
    let (plain, _) = scan(root, None, &[]);
    let (cached, _) = scan(root, Some(&cache), &[]);
    assert_eq!(plain, cached);
    let (cached, _) = scan(root, Some(&cache), &[]);
    assert_eq!(plain, cached);
}

#[test]
fn a_cache_of_another_format_is_rebuilt_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    build(root);
    let cache = root.join("cache");
    same(root, &cache, "first run");
    {
        let db = redb::Database::create(cache.join("fingerprints.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
                .unwrap();
            meta.insert("format", 0).unwrap();
        }
        txn.commit().unwrap();
    }
    let (plain, _) = scan(root, None, &[]);
    let (cached, err) = scan(root, Some(&cache), &[]);
    assert_eq!(plain, cached);
    assert!(
        err.contains("format 0") && err.contains("rebuilding"),
        "no warning: {err}"
    );
    same(root, &cache, "after the rebuild");
}

#[test]
fn two_runs_at_once_both_succeed_and_leave_a_sound_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let store = build(root);
    // Enough messages that the two runs overlap.
    let big = store.join("Big");
    maildir(&big);
    for n in 0..1500u32 {
        fs::write(
            big.join("cur").join(format!("17100{n:05}.M{n}P2.test:2,S")),
            msg(
                &format!("b{}", n % 1000),
                "big",
                &"line\n".repeat((n % 40) as usize),
            ),
        )
        .unwrap();
    }
    let cache = root.join("cache");
    let (plain, _) = scan(root, None, &[]);
    for round in 0..3 {
        let c = cache.to_string_lossy().into_owned();
        let args = ["scan", "--json", "--no-progress", "--cache", &c, "store"];
        let spawn = || {
            md_cmd()
                .current_dir(root)
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                text(&out.stderr)
            );
            assert!(
                text(&out.stdout) == plain,
                "round {round}: a concurrent run's report differs"
            );
            let err = text(&out.stderr);
            assert!(
                !err.contains("unreadable") && !err.contains("damaged"),
                "round {round}: {err}"
            );
        }
    }
    same(root, &cache, "after the concurrent runs");
}

/// A cache held by another process: the scan waits a little, then runs without it
/// (a warning says so) and gives the same report; once it is free again it is used.
#[test]
fn a_busy_cache_is_waited_for_then_skipped_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    build(root);
    let cache = root.join("cache");
    same(root, &cache, "first run");
    let (plain, _) = scan(root, None, &[]);
    {
        // redb locks the file while it is open, as another maildedup run would.
        let _held = redb::Database::create(cache.join("fingerprints.redb")).unwrap();
        let started = std::time::Instant::now();
        let (cached, err) = scan(root, Some(&cache), &[]);
        assert_eq!(plain, cached);
        assert!(
            err.contains("in use by another maildedup run"),
            "no warning: {err}"
        );
        assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    }
    // Released while a run waits: that run gets it.
    let held = redb::Database::create(cache.join("fingerprints.redb")).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        drop(held);
    });
    let (cached, err) = scan(root, Some(&cache), &[]);
    release.join().unwrap();
    assert_eq!(plain, cached);
    assert!(!err.contains("warning"), "{err}");
}

/// A message fingerprinted from the cache but never hashed (it had no duplicate) gets
/// its content hash computed when a duplicate appears, and the hash is stored: a later
/// run takes it from the cache (shown by rewriting the file in place against the Maildir
/// rules, which only a run that reads the file again would notice).
#[test]
fn a_cached_message_is_hashed_when_it_gains_a_duplicate_and_the_hash_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let store = root.join("store");
    maildir(&store);
    let a = store.join("cur").join("1700000000.M1P1.test:2,S");
    fs::write(&a, msg("lonely", "s", "one")).unwrap();
    fs::write(
        store.join("cur").join("1700000009.M9P1.test:2,S"),
        msg("other", "s", "x"),
    )
    .unwrap();
    let cache = root.join("cache");
    let v = same(root, &cache, "first run: nothing to hash");
    assert_eq!(count(&v, "groups"), 0);
    let b = store.join("cur").join("1700000001.M2P1.test:2,S");
    fs::write(&b, msg("lonely", "s", "one")).unwrap();
    let v = same(root, &cache, "a duplicate appears");
    assert_eq!(count(&v, "groups"), 1);
    // Rewrite a in place: same size, same mtime, other body.
    let mtime = fs::metadata(&a).unwrap().modified().unwrap();
    fs::write(&a, msg("lonely", "s", "two")).unwrap();
    fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let (plain, _) = scan(root, None, &[]);
    let (cached, _) = scan(root, Some(&cache), &[]);
    let plain: serde_json::Value = serde_json::from_str(&plain).unwrap();
    let cached: serde_json::Value = serde_json::from_str(&cached).unwrap();
    assert_eq!(
        count(&plain, "groups"),
        0,
        "read again: a conflict, no group"
    );
    assert_eq!(
        count(&cached, "groups"),
        1,
        "the hash computed when the duplicate appeared was not kept"
    );
}

/// Rewrites a Maildir file in place against the Maildir rules: new content, same name
/// and mtime, so the cache keeps trusting its record.
fn rewrite_in_place(path: &Path, content: &str) {
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    fs::write(path, content).unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A stale cache record can never make `quarantine` move a copy that is not a true
/// duplicate of its kept copy: with the extra copy, then the kept copy, rewritten in
/// place (the cached scan still groups them), quarantine re-hashes both from disk and
/// leaves everything where it is (exit 3, each copy named).
#[test]
fn quarantine_with_a_stale_cache_record_moves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let store = root.join("store");
    maildir(&store);
    let kept = store.join("cur").join("1700000000.M1P1.test:2,S");
    let extra = store.join("cur").join("1700000001.M2P1.test:2,");
    let original = msg("twin", "s", "one");
    fs::write(&kept, &original).unwrap();
    fs::write(&extra, &original).unwrap();
    let cache = root.join("cache");
    let v = same(root, &cache, "first run");
    assert_eq!(count(&v, "groups"), 1);
    let cache_arg = cache.to_string_lossy().into_owned();
    let quarantine = |q: &Path| {
        run(
            root,
            &[
                "quarantine",
                "--no-progress",
                "--json",
                "--cache",
                &cache_arg,
                "store",
                "--to",
                &q.to_string_lossy(),
            ],
        )
    };
    for (step, changed, other) in [("extra copy", &extra, &kept), ("kept copy", &kept, &extra)] {
        let changed_text = msg("twin", "s", "two");
        rewrite_in_place(changed, &changed_text);
        // The plant works: the cached scan still sees one group, a fresh scan does not.
        let (plain, _) = scan(root, None, &[]);
        let (cached, _) = scan(root, Some(&cache), &[]);
        let plain: serde_json::Value = serde_json::from_str(&plain).unwrap();
        let cached: serde_json::Value = serde_json::from_str(&cached).unwrap();
        assert_eq!(count(&plain, "groups"), 0, "{step}: fresh scan");
        assert_eq!(
            count(&cached, "groups"),
            1,
            "{step}: the stale record was not used"
        );
        let q = root.join(format!("q-{}", step.replace(' ', "-")));
        let out = quarantine(&q);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{step}: quarantine should leave the copies and exit 3\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            files_in(&q.join("cur")).is_empty() && files_in(&q.join("tmp")).is_empty(),
            "{step}: something was quarantined: {:?}",
            files_in(&q.join("cur"))
        );
        assert_eq!(fs::read_to_string(changed).unwrap(), changed_text, "{step}");
        assert_eq!(fs::read_to_string(other).unwrap(), original, "{step}");
        assert_eq!(
            files_in(&store.join("cur")).len(),
            2,
            "{step}: a copy was renamed or moved"
        );
        // Put it back as it was for the next step (same name, same mtime).
        rewrite_in_place(changed, &original);
    }
}

/// An mbox entry whose `X-Status:` is edited in place at the same length while mail is
/// appended keeps the cache's old flags (only the old last entry and sampled From_ lines
/// are checked; this entry is neither). Quarantine re-reads the flags of every extra copy under the lock: the
/// copy is left in place rather than moved with the kept copy gaining flags it never had
/// (Replied) and missing the one it has now (Flagged).
#[test]
fn quarantine_leaves_an_mbox_copy_whose_flags_the_cache_has_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let store = root.join("store");
    fs::create_dir_all(&store).unwrap();
    let mbox = store.join("inbox.mbox");
    let with_xs = msg("twin", "s", "one").replacen("\n\n", "\nX-Status: A\n\n", 1);
    let body = format!(
        "{}{}\n{}{}\n{}{}\n",
        from_line(0),
        msg("twin", "s", "one"),
        from_line(1),
        with_xs,
        from_line(2),
        msg("other", "o", "x"),
    );
    fs::write(&mbox, &body).unwrap();
    let cache = root.join("cache");
    same(root, &cache, "first run");
    // Replied -> Flagged in place (same length), and new mail appended.
    let edited = body.replacen("X-Status: A", "X-Status: F", 1);
    {
        use std::io::{Seek, Write};
        let mut f = fs::OpenOptions::new().write(true).open(&mbox).unwrap();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.write_all(edited.as_bytes()).unwrap();
    }
    let appended = format!("{}{}\n", from_line(3), msg("new", "n", "y"));
    append(&mbox, &appended);
    let q = root.join("q");
    let out = run(
        root,
        &[
            "quarantine",
            "--no-progress",
            "--cache",
            &cache.to_string_lossy(),
            "store",
            "--to",
            &q.to_string_lossy(),
        ],
    );
    let now = fs::read_to_string(&mbox).unwrap();
    assert_eq!(
        now,
        format!("{edited}{appended}"),
        "the mbox was rewritten from stale flags\n{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("flags of a copy in its group differ"),
        "the reason is not given: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A conflict is explained once: the next cached run takes what differs from the cache and
/// reads neither copy (issue 16). Shown by giving the list copy the other copy's bytes
/// under its old name, which a cached run does not look at (Maildir files never change):
/// the cached run still reports the subject tag, a run without the cache finds no
/// difference left to explain.
#[test]
fn a_conflict_is_explained_from_the_cache_without_reading_its_copies() {
    let td = tempfile::tempdir().unwrap();
    let root = td.path();
    copy_dir(&common::repo().join("demo"), &root.join("store"));
    let cache = root.join("cache");
    let (first, _) = scan(root, Some(&cache), &[]);
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let conflict = &first["conflicts"][0];
    assert_eq!(conflict["kind"], "list-copy", "{conflict:#}");
    assert_eq!(
        conflict["differs"]["headers"],
        serde_json::json!(["subject"])
    );
    let paths: Vec<PathBuf> = conflict["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| root.join(c["path"].as_str().unwrap()))
        .collect();
    fs::write(&paths[0], fs::read(&paths[1]).unwrap()).unwrap();
    let (again, _) = scan(root, Some(&cache), &[]);
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["conflicts"], first["conflicts"], "from the cache");
    let (fresh, _) = scan(root, None, &[]);
    let fresh: serde_json::Value = serde_json::from_str(&fresh).unwrap();
    assert_ne!(
        fresh["conflicts"], first["conflicts"],
        "without the cache the copies are read (and now hold the same bytes)"
    );
}

/// A cache written before the key index (`store_keys`) gets it at its next save, and
/// finding the records to remove works with it and without it: a store removed from
/// under a scanned path leaves no record behind either way.
#[test]
fn the_store_key_index_is_built_for_an_older_cache_and_kept_in_step() {
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
    const STORES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("stores");
    const KEYS: TableDefinition<&[u8], u64> = TableDefinition::new("store_keys");
    let td = tempfile::tempdir().unwrap();
    let root = td.path();
    copy_dir(&common::repo().join("demo"), &root.join("store"));
    let cache = root.join("cache");
    same(root, &cache, "first");
    let file = cache.join("fingerprints.redb");
    let count = |t: TableDefinition<&[u8], u64>| -> Option<u64> {
        let db = redb::Database::open(&file).unwrap();
        let txn = db.begin_read().unwrap();
        let n = txn.open_table(t).ok().map(|t| t.len().unwrap());
        drop(txn);
        n
    };
    let stores_len = || -> u64 {
        let db = redb::Database::open(&file).unwrap();
        let txn = db.begin_read().unwrap();
        let n = txn.open_table(STORES).unwrap().len().unwrap();
        drop(txn);
        n
    };
    assert_eq!(count(KEYS), Some(stores_len()), "one key per record");
    // As an older version left it: no index.
    {
        let db = redb::Database::open(&file).unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(KEYS).unwrap();
        txn.commit().unwrap();
    }
    assert_eq!(count(KEYS), None);
    same(root, &cache, "older cache");
    assert_eq!(count(KEYS), Some(stores_len()), "the index was built");
    let before = stores_len();
    fs::remove_dir_all(root.join("store/mbox")).unwrap();
    same(root, &cache, "a store removed");
    assert!(stores_len() < before, "the removed stores' records went");
    assert_eq!(count(KEYS), Some(stores_len()), "and their keys with them");
}
