//! `quarantine` then `restore` on copies of every committed fixture (cases/, real/, demo/:
//! several mboxes, Maildir++ folders, conflicts, flags to merge):
//!
//! * the round trip gives back the tree byte for byte;
//! * quarantine does exactly what the scan planned and nothing else (kept copies, flag
//!   merges, conflicts, untouched messages, QDIR contents, manifest), and Python's
//!   `mailbox` module reads every store and QDIR with the expected counts;
//! * flags merged into kept Maildir and mbox copies (also between two mboxes, both ways)
//!   and undone by restore;
//! * `--dry-run` prints the plan a real run carries out and touches nothing;
//! * `--only same-time`, idempotence, two runs into one QDIR;
//! * restore refuses manifest records pointing outside the recorded stores and never
//!   overwrites a file;
//! * extra copies stay when their kept copy changed after the scan (library API).

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

// ------------------------------------------------------------------------------------------
// The scan's plan, as `scan --json` reports it.

#[derive(Debug, Clone)]
struct CopyRef {
    path: PathBuf,
    offset: Option<u64>,
    length: u64,
    flags: String,
    class: Option<String>,
}

impl CopyRef {
    fn key(&self) -> (PathBuf, Option<u64>) {
        (self.path.clone(), self.offset)
    }
    fn is_mbox(&self) -> bool {
        self.offset.is_some()
    }
}

#[derive(Debug)]
struct Group {
    kept: CopyRef,
    extras: Vec<CopyRef>,
}

fn copy_ref(c: &Value) -> CopyRef {
    CopyRef {
        path: PathBuf::from(c["path"].as_str().expect("path")),
        offset: c["offset"].as_u64(),
        length: c["length"].as_u64().expect("length"),
        flags: c["flags"].as_str().expect("flags").to_string(),
        class: c["class"].as_str().map(String::from),
    }
}

fn groups(scan: &Value) -> Vec<Group> {
    scan["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            let copies = g["copies"].as_array().expect("copies");
            let kept: Vec<&Value> = copies.iter().filter(|c| c["keep"] == true).collect();
            assert_eq!(kept.len(), 1, "one kept copy per group: {g}");
            Group {
                kept: copy_ref(kept[0]),
                extras: copies
                    .iter()
                    .filter(|c| c["keep"] == false)
                    .map(copy_ref)
                    .collect(),
            }
        })
        .collect()
}

fn summary(scan: &Value, field: &str) -> u64 {
    scan["summary"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("summary.{field}"))
}

/// Splits a Maildir file name into (unique, separator, flags).
fn maildir_name(name: &str) -> (String, char, String) {
    let at = [":2,", ";2,", "!2,"]
        .iter()
        .filter_map(|sep| name.rfind(sep))
        .max();
    match at {
        Some(i) => (
            name[..i].to_string(),
            name[i..].chars().next().unwrap(),
            name[i + 3..].to_string(),
        ),
        None => (name.to_string(), ':', String::new()),
    }
}

/// Maildir order: uppercase letters in ASCII order, then lowercase ones.
fn sort_flags(f: &BTreeSet<char>) -> String {
    let mut v: Vec<char> = f.iter().copied().collect();
    v.sort_by_key(|c| (c.is_ascii_lowercase(), *c));
    v.into_iter().collect()
}

/// The flags a kept copy gains: the extras' flags among `mask`, less its own.
fn gained(g: &Group, mask: &str) -> BTreeSet<char> {
    let own: BTreeSet<char> = g.kept.flags.chars().collect();
    g.extras
        .iter()
        .flat_map(|e| e.flags.chars())
        .filter(|c| mask.contains(*c) && !own.contains(c))
        .collect()
}

/// Where a kept Maildir copy must be after quarantine: its name with the merged flags.
fn kept_maildir_after(g: &Group) -> PathBuf {
    let add = gained(g, "FPRS");
    if add.is_empty() {
        return g.kept.path.clone();
    }
    let name = g
        .kept
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (unique, sep, flags) = maildir_name(&name);
    let mut all: BTreeSet<char> = flags.chars().collect();
    all.extend(add);
    g.kept
        .path
        .with_file_name(format!("{unique}{sep}2,{}", sort_flags(&all)))
}

/// Maildir flags of an mbox entry, from its Status/X-Status headers.
fn mbox_flags(entry: &[u8]) -> BTreeSet<char> {
    let mut out = BTreeSet::new();
    for line in entry.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let l = String::from_utf8_lossy(line);
        let lower = l.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("status:").map(|_| &l[7..]) {
            if v.contains('R') {
                out.insert('S');
            }
        } else if let Some(v) = lower.strip_prefix("x-status:").map(|_| &l[9..]) {
            for c in v.chars() {
                match c {
                    'A' => {
                        out.insert('R');
                    }
                    'F' => {
                        out.insert('F');
                    }
                    'T' => {
                        out.insert('D');
                    }
                    'D' => {
                        out.insert('T');
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

fn is_status_line(l: &[u8]) -> Option<&'static str> {
    let lower = l.to_ascii_lowercase();
    if lower.starts_with(b"status:") {
        Some("status:")
    } else if lower.starts_with(b"x-status:") {
        Some("x-status:")
    } else {
        None
    }
}

/// `actual` must equal `expected` except for `Status:`/`X-Status:` lines that gained
/// letters or were added. Returns how many such lines changed.
fn equal_but_status(expected: &[u8], actual: &[u8]) -> Result<usize, String> {
    let e: Vec<&[u8]> = expected.split_inclusive(|&b| b == b'\n').collect();
    let a: Vec<&[u8]> = actual.split_inclusive(|&b| b == b'\n').collect();
    let (mut i, mut j, mut changed) = (0, 0, 0);
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            i += 1;
            j += 1;
            continue;
        }
        let Some(name) = a.get(j).and_then(|l| is_status_line(l)) else {
            return Err(format!(
                "line {j}: expected {:?}, found {:?}",
                e.get(i).map(|l| String::from_utf8_lossy(l)),
                a.get(j).map(|l| String::from_utf8_lossy(l))
            ));
        };
        if let Some(el) = e.get(i).filter(|l| is_status_line(l) == Some(name)) {
            let trim = |l: &[u8]| String::from_utf8_lossy(l).trim_end().to_string();
            let (old, new) = (trim(el), trim(a[j]));
            if !new.starts_with(&old)
                || new[old.len()..]
                    .chars()
                    .any(|c| old[name.len()..].contains(c))
            {
                return Err(format!("{old:?} became {new:?}: not only letters added"));
            }
            i += 1;
        }
        j += 1;
        changed += 1;
    }
    Ok(changed)
}

/// The stores under `root` as (kind, path) for the Python check: folders with `cur/` or
/// `new/`, and mbox files (outside Maildir message folders, not dot files, not symlinks).
fn stores_for_python(root: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        let is_md = ["cur", "new"].iter().any(|s| dir.join(s).is_dir());
        if is_md {
            out.push(("maildir".into(), s(dir)));
        }
        let mut names: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let n = e.file_name().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() || (is_md && matches!(n.as_str(), "cur" | "new" | "tmp")) {
                continue;
            }
            if ft.is_dir() {
                walk(&e.path(), out);
            } else if !n.starts_with('.') && is_mbox_bytes(&fs::read(e.path()).unwrap()) {
                out.push(("mbox".into(), s(&e.path())));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out
}

/// Lines starting `From ` inside an mbox entry after its From_ line: Python's `mailbox.mbox`
/// starts a message at each of them.
fn python_messages_in_entry(entry: &[u8]) -> u64 {
    1 + entry
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|l| l.starts_with(b"From "))
        .count() as u64
}

struct Setup {
    _td: TempDir,
    tree: PathBuf,
    qdir: PathBuf,
}

/// A temp dir with `tree/` = cases + real + demo and a QDIR path outside it.
fn setup() -> Setup {
    let (td, root) = canonical_tempdir();
    let tree = root.join("tree");
    full_tree(&tree);
    Setup {
        qdir: root.join("quarantine"),
        tree,
        _td: td,
    }
}

fn rel(tree: &Path, p: &Path) -> PathBuf {
    p.strip_prefix(tree)
        .unwrap_or_else(|_| panic!("{} is not under {}", p.display(), tree.display()))
        .to_path_buf()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

// ------------------------------------------------------------------------------------------

#[test]
fn round_trip_gives_back_every_byte() {
    let st = setup();
    let before = snapshot(&st.tree);
    let pre = scan_json(&[&st.tree]);
    assert!(
        summary(&pre, "extra_copies") > 30,
        "the fixtures have duplicates"
    );
    assert!(summary(&pre, "mbox_stores") >= 8 && summary(&pre, "conflicts") > 0);

    quarantine(&[&st.tree], &st.qdir, &[]).expect_code(0, "quarantine");
    assert_ne!(
        snapshot(&st.tree),
        before,
        "quarantine changed nothing: the test would prove nothing"
    );
    let out = restore(&st.qdir, &["--json"]);
    out.expect_code(0, "restore");
    let j = out.json();
    assert_eq!(
        j["outcome"]["restored"].as_u64(),
        Some(summary(&pre, "extra_copies")),
        "restore counts every copy: {}",
        out.stdout
    );
    assert_same(&before, &snapshot(&st.tree), "after quarantine + restore");
    assert!(
        names(&st.qdir.join("cur")).is_empty(),
        "QDIR/cur is empty after restore: {:?}",
        names(&st.qdir.join("cur"))
    );
    // A second restore finds everything done and changes nothing.
    restore(&st.qdir, &[]).expect_code(0, "second restore");
    assert_same(&before, &snapshot(&st.tree), "after a second restore");
}

#[test]
fn quarantine_does_exactly_what_the_scan_planned() {
    let st = setup();
    let before = snapshot(&st.tree);
    let pre = scan_json(&[&st.tree]);
    let gs = groups(&pre);
    let extra_copies = summary(&pre, "extra_copies") as usize;
    assert_eq!(
        gs.iter().map(|g| g.extras.len()).sum::<usize>(),
        extra_copies
    );
    let py_stores = stores_for_python(&st.tree);
    let py_before = python_counts(&py_stores);

    let out = quarantine(&[&st.tree], &st.qdir, &["--json"]);
    out.expect_code(0, "quarantine");
    let outcome = &out.json()["outcome"];
    assert_eq!(outcome["moved"].as_u64(), Some(extra_copies as u64));
    assert_eq!(
        outcome["same_time"].as_u64(),
        Some(summary(&pre, "same_time"))
    );
    assert_eq!(outcome["left"].as_array().map(Vec::len), Some(0));

    // A new scan finds no duplicates, and the same conflicts.
    let post = scan_json(&[&st.tree]);
    assert_eq!(
        summary(&post, "groups"),
        0,
        "groups left: {}",
        post["groups"]
    );
    assert_eq!(summary(&post, "conflicts"), summary(&pre, "conflicts"));
    let conflict_ids = |s: &Value| -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = s["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["message_id"].as_str().unwrap().to_string(),
                    c["copies"].as_array().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    };
    // A conflict's copies that were extra copies of a group are gone; the others remain.
    let extra_keys: BTreeSet<_> = gs
        .iter()
        .flat_map(|g| g.extras.iter().map(CopyRef::key))
        .collect();
    let mut expected_conflicts: Vec<(String, usize)> = pre["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let left = c["copies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| !extra_keys.contains(&copy_ref(x).key()))
                .count();
            (c["message_id"].as_str().unwrap().to_string(), left)
        })
        .collect();
    expected_conflicts.sort();
    assert_eq!(
        conflict_ids(&post),
        expected_conflicts,
        "conflicts untouched"
    );

    let after = snapshot(&st.tree);

    // Build the expected tree: extras gone, kept copies renamed for merged flags; mbox
    // files checked below.
    let mut expected = before.0.clone();
    let mut mbox_removed: BTreeMap<PathBuf, Vec<(u64, u64)>> = BTreeMap::new();
    let mut mbox_kept: Vec<(&Group, BTreeSet<char>)> = Vec::new();
    let mut renamed = 0;
    for g in &gs {
        for e in &g.extras {
            if let Some(off) = e.offset {
                mbox_removed
                    .entry(rel(&st.tree, &e.path))
                    .or_default()
                    .push((off, e.length));
            } else {
                let r = rel(&st.tree, &e.path);
                assert!(
                    expected.remove(&r).is_some(),
                    "extra {} existed",
                    r.display()
                );
            }
        }
        if g.kept.is_mbox() {
            mbox_kept.push((g, gained(g, "FRS")));
        } else {
            let now = kept_maildir_after(g);
            let (old, new) = (rel(&st.tree, &g.kept.path), rel(&st.tree, &now));
            if old != new {
                let node = expected.remove(&old).expect("kept copy in the snapshot");
                expected.insert(new, node);
                renamed += 1;
            }
        }
    }
    assert!(
        renamed >= 3,
        "the fixtures have Maildir flag merges ({renamed})"
    );
    let mbox_paths: BTreeSet<PathBuf> = before
        .files()
        .filter(|(_, d)| is_mbox_bytes(d))
        .map(|(p, _)| p.clone())
        .collect();
    let strip = |m: &BTreeMap<PathBuf, Node>| -> BTreeMap<PathBuf, Node> {
        m.iter()
            .filter(|(p, _)| !mbox_paths.contains(*p))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect()
    };
    // Every file that is not an mbox: byte-identical, at the expected path (this covers
    // untouched messages, conflicts, index files and the kept Maildir copies' bytes).
    assert_same(
        &Snapshot(strip(&expected)),
        &Snapshot(strip(&after.0)),
        "tree after quarantine (mbox files aside)",
    );
    // Each mbox: the original without its extra entries, where only Status/X-Status lines
    // of kept copies may have gained letters.
    let mut status_changes = 0;
    for p in &mbox_paths {
        let orig = before.data(p).unwrap();
        let mut want = Vec::new();
        let mut cursor = 0usize;
        let mut ranges = mbox_removed.get(p).cloned().unwrap_or_default();
        ranges.sort();
        for (off, len) in ranges {
            want.extend_from_slice(&orig[cursor..off as usize]);
            cursor = (off + len) as usize;
        }
        want.extend_from_slice(&orig[cursor..]);
        let got = after
            .data(p)
            .unwrap_or_else(|| panic!("{} is gone", p.display()));
        status_changes +=
            equal_but_status(&want, got).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(
            mode(&st.tree.join(p)),
            match &before.0[p] {
                Node::File { mode, .. } => *mode,
                _ => unreachable!(),
            },
            "{}: mode kept",
            p.display()
        );
    }
    // Kept mbox copies carry exactly their own flags plus the merged ones.
    let mut mbox_merges = 0;
    for (g, add) in &mbox_kept {
        let p = rel(&st.tree, &g.kept.path);
        let orig = before.data(&p).unwrap();
        let off = g.kept.offset.unwrap() as usize;
        let orig_entry = &orig[off..off + g.kept.length as usize];
        let now = after.data(&p).unwrap();
        let entries = maildedup::store::mbox::split(now).expect("still an mbox");
        let found: Vec<&[u8]> = entries
            .iter()
            .map(|e| &now[e.offset..e.end])
            .filter(|e| without_status(e) == without_status(orig_entry))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "kept copy {}@{off} still in its mbox",
            p.display()
        );
        let mut want = mbox_flags(orig_entry);
        want.extend(add.iter().copied());
        assert_eq!(
            mbox_flags(found[0]),
            want,
            "flags of kept {}@{off}",
            p.display()
        );
        if !add.is_empty() {
            mbox_merges += 1;
        }
    }
    assert!(
        status_changes >= mbox_merges,
        "{status_changes} Status lines changed for {mbox_merges} merges"
    );
    assert_eq!(
        outcome["flags_merged"].as_u64(),
        Some((renamed + mbox_merges) as u64)
    );

    // QDIR: a Maildir, mode 0700, holding exactly the extra copies.
    assert_eq!(mode(&st.qdir), 0o700, "QDIR mode");
    for sub in ["cur", "new", "tmp"] {
        assert!(st.qdir.join(sub).is_dir(), "QDIR/{sub}");
        assert_eq!(mode(&st.qdir.join(sub)), 0o700, "QDIR/{sub} mode");
    }
    let qcur = names(&st.qdir.join("cur"));
    assert_eq!(qcur.len(), extra_copies, "QDIR/cur holds the extra copies");
    assert!(names(&st.qdir.join("new")).is_empty());
    assert!(
        names(&st.qdir.join("tmp")).is_empty(),
        "QDIR/tmp: {:?}",
        names(&st.qdir.join("tmp"))
    );

    // The manifest: one move/extract record per moved copy, naming it, with its bytes.
    let m = manifest(&st.qdir);
    assert_eq!(records(&m, "run").len(), 1);
    let moves = records(&m, "maildir-move");
    let extracts = records(&m, "mbox-extract");
    assert_eq!(
        moves.len() + extracts.len(),
        extra_copies,
        "one record per moved copy"
    );
    let class_of: BTreeMap<_, _> = gs
        .iter()
        .flat_map(|g| g.extras.iter().map(|e| (e.key(), e.class.clone().unwrap())))
        .collect();
    let mut recorded = BTreeSet::new();
    for r in &moves {
        let src = PathBuf::from(r["source"].as_str().unwrap());
        let q = st.qdir.join(r["quarantined"].as_str().unwrap());
        assert_eq!(
            fs::read(&q).unwrap(),
            *before.data(&rel(&st.tree, &src)).unwrap(),
            "{} holds the bytes of {}",
            q.display(),
            src.display()
        );
        assert_eq!(
            Some(&r["class"].as_str().unwrap().to_string()),
            class_of.get(&(src.clone(), None))
        );
        recorded.insert((src, None));
    }
    for r in &extracts {
        let mbox = PathBuf::from(r["mbox"].as_str().unwrap());
        let off = r["offset"].as_u64().unwrap();
        let len = r["length"].as_u64().unwrap() as usize;
        let orig = before.data(&rel(&st.tree, &mbox)).unwrap();
        let entry = &orig[off as usize..off as usize + len];
        let e = maildedup::store::mbox::split(orig)
            .unwrap()
            .into_iter()
            .find(|e| e.offset == off as usize)
            .expect("an entry at the recorded offset");
        assert_eq!(e.end - e.offset, len);
        let q = st.qdir.join(r["quarantined"].as_str().unwrap());
        assert_eq!(
            fs::read(&q).unwrap(),
            unquote(&orig[e.message_start..e.message_end]),
            "{} is the message of {}@{off}, unquoted, without its From_ line",
            q.display(),
            mbox.display()
        );
        assert!(entry.starts_with(b"From "));
        assert_eq!(
            Some(&r["class"].as_str().unwrap().to_string()),
            class_of.get(&(mbox.clone(), Some(off)))
        );
        recorded.insert((mbox, Some(off)));
    }
    let planned: BTreeSet<_> = class_of.keys().cloned().collect();
    assert_eq!(
        recorded, planned,
        "the manifest names exactly the planned extra copies"
    );
    let mut rewritten: BTreeSet<PathBuf> = mbox_removed.keys().cloned().collect();
    for (g, add) in &mbox_kept {
        if !add.is_empty() {
            rewritten.insert(rel(&st.tree, &g.kept.path));
        }
    }
    assert_eq!(records(&m, "mbox-rewrite").len(), rewritten.len());
    assert_eq!(
        outcome["mboxes_rewritten"].as_u64(),
        Some(rewritten.len() as u64)
    );

    // Python's mailbox module reads every store and QDIR with the expected counts.
    if let Some(py_before) = py_before {
        let py_after = python_counts(&py_stores).unwrap();
        let mut removed: BTreeMap<String, u64> = BTreeMap::new();
        for g in &gs {
            for e in &g.extras {
                let (store, n) = match e.offset {
                    Some(off) => {
                        let orig = before.data(&rel(&st.tree, &e.path)).unwrap();
                        let entry = &orig[off as usize..(off + e.length) as usize];
                        (s(&e.path), python_messages_in_entry(entry))
                    }
                    None => (s(e.path.parent().unwrap().parent().unwrap()), 1),
                };
                *removed.entry(store).or_default() += n;
            }
        }
        for (path, n) in &py_before {
            let want = n - removed.get(path).copied().unwrap_or(0);
            assert_eq!(
                py_after[path], want,
                "Python reads {path}: {n} before, {want} expected after"
            );
        }
        let q = python_counts(&[("maildir".into(), s(&st.qdir))]).unwrap();
        assert_eq!(q[&s(&st.qdir)], extra_copies as u64, "Python reads QDIR");
        assert!(
            removed.keys().all(|k| py_before.contains_key(k)),
            "every store was counted"
        );
        eprintln!(
            "Python mailbox: {} stores read ({} messages before, {} after), QDIR {}",
            py_before.len(),
            py_before.values().sum::<u64>(),
            py_after.values().sum::<u64>(),
            q[&s(&st.qdir)]
        );
    }
}

// ------------------------------------------------------------------------------------------
// Flags

const MBOX_FLAGS_MSG: &str = "Message-ID: <mbox-kept-flags@test.example.org>\n\
From: Ann Example <ann@example.org>\n\
To: bob@example.org\n\
Subject: flags merged into a kept mbox copy\n\
Date: Mon, 01 Jan 2024 00:00:00 +0000\n\
MIME-Version: 1.0\n\
Content-Type: text/plain; charset=us-ascii\n\
\n\
The kept copy of this message is in an mbox.\n\
>From here on, a quoted line.\n";

#[test]
fn flags_are_merged_into_kept_copies_and_restored() {
    let (_td, root) = canonical_tempdir();
    let tree = root.join("tree");
    copy_dir(&fixtures().join("cases"), &tree);
    let qdir = root.join("q");
    // An mbox whose first message is the kept copy (earliest, `Status: RO` = Seen), and a
    // Maildir copy delivered a second later with FRS.
    let unrelated = "From carol@example.org Mon Jan  1 01:00:00 2024\n\
Message-ID: <unrelated@test.example.org>\nFrom: carol@example.org\nSubject: other\n\
Status: O\n\nnot a duplicate\n";
    let kept_headers = MBOX_FLAGS_MSG.replacen("\n\n", "\nStatus: RO\n\n", 1);
    let mbox =
        format!("From ann@example.org Mon Jan  1 00:00:00 2024\n{kept_headers}\n{unrelated}");
    let mbox_path = tree.join("mbox/flags.mbox");
    fs::write(&mbox_path, &mbox).unwrap();
    let maildir_extra = tree.join("Maildir/cur/1704067201.M1P1.test.example.org:2,FRS");
    // The Maildir copy has the From line unquoted, as a Maildir stores it.
    fs::write(
        &maildir_extra,
        MBOX_FLAGS_MSG.replace(">From here", "From here"),
    )
    .unwrap();

    let kept_md = tree.join("Maildir/cur/1701700000.M369246P2034.mx1.example.com:2,S");
    let kept_md_after = tree.join("Maildir/cur/1701700000.M369246P2034.mx1.example.com:2,FRS");
    let extra_md = tree.join("Maildir/cur/1701700001.M377165P2035.mx1.example.com:2,FRS");
    let kept_bytes = fs::read(&kept_md).unwrap();
    let extra_bytes = fs::read(&extra_md).unwrap();
    let before = snapshot(&tree);

    let pre = scan_json(&[&tree]);
    let g = groups(&pre);
    let mg = g
        .iter()
        .find(|g| g.kept.path == mbox_path)
        .expect("a group kept in flags.mbox");
    assert_eq!(mg.kept.offset, Some(0));
    assert_eq!(mg.kept.flags, "S");
    assert_eq!(mg.extras.len(), 1);
    assert_eq!(mg.extras[0].path, maildir_extra);

    quarantine(&[&tree], &qdir, &[]).expect_code(0, "quarantine");

    // Maildir: the kept copy is renamed :2,S -> :2,FRS, same bytes; the extra is in QDIR.
    assert!(!kept_md.exists(), "the kept copy lost its old name");
    assert_eq!(
        fs::read(&kept_md_after).unwrap(),
        kept_bytes,
        "kept copy now ends :2,FRS"
    );
    assert!(!extra_md.exists());
    let q: Vec<String> = names(&qdir.join("cur"));
    let qfrs: Vec<&String> = q
        .iter()
        .filter(|n| fs::read(qdir.join("cur").join(n)).unwrap() == extra_bytes)
        .collect();
    assert_eq!(qfrs.len(), 1, "the extra copy is in QDIR");
    assert!(
        qfrs[0].ends_with(":2,FRS"),
        "and keeps its flags: {}",
        qfrs[0]
    );

    // mbox: the kept copy gains X-Status: AF (Replied, Flagged); Seen it had already.
    let want = mbox.replacen("Status: RO\n", "Status: RO\nX-Status: AF\n", 1);
    assert_eq!(
        String::from_utf8(fs::read(&mbox_path).unwrap()).unwrap(),
        want,
        "flags.mbox after quarantine"
    );
    assert!(!maildir_extra.exists());

    restore(&qdir, &[]).expect_code(0, "restore");
    assert!(kept_md.exists(), "restore gives back :2,S");
    assert!(!kept_md_after.exists());
    assert_eq!(
        fs::read(&mbox_path).unwrap(),
        mbox.as_bytes(),
        "flags.mbox restored"
    );
    assert_same(&before, &snapshot(&tree), "after restore");
}

#[test]
fn flags_merged_both_ways_between_two_mboxes() {
    // Each mbox keeps a copy that gains flags from an extra copy in the other: both get
    // their flags before either loses a copy (two rewrites each).
    let (_td, root) = canonical_tempdir();
    let tree = root.join("tree");
    flag_mboxes(&tree);
    let qdir = root.join("q");
    let before = snapshot(&tree);
    let pre = scan_json(&[&tree]);
    assert_eq!(summary(&pre, "groups"), 2);
    let out = quarantine(&[&tree], &qdir, &["--json"]);
    out.expect_code(0, "quarantine");
    let o = &out.json()["outcome"];
    assert_eq!(o["moved"].as_u64(), Some(2), "{}", out.stdout);
    assert_eq!(o["flags_merged"].as_u64(), Some(2), "{}", out.stdout);
    let body = "\nFirst line.\n>From a quoted line.\n";
    let (m1, m2) = (flag_msg(1), flag_msg(2));
    assert_eq!(
        fs::read_to_string(tree.join("flags-a.mbox")).unwrap(),
        format!(
            "From ann@example.org Mon Jan  1 00:00:00 2024\n{m1}Status: OR\nX-Status: AF\n{body}\n\
From carl@example.org Mon Jan  1 03:00:00 2024\nMessage-ID: <other@test.example.org>\n\
From: carl@example.org\nSubject: not a duplicate\n\nhello\n"
        )
    );
    assert_eq!(
        fs::read_to_string(tree.join("flags-b.mbox")).unwrap(),
        format!(
            "From ann@example.org Tue Jan  2 00:00:00 2024\n{m2}Status: R\nX-Status: F\n{body}\n"
        )
    );
    assert_eq!(summary(&scan_json(&[&tree]), "groups"), 0);
    assert_eq!(names(&qdir.join("cur")).len(), 2);
    // Both merges were made before either copy giving the flags left its mbox (so a crash
    // in between cannot lose a merge): flag rewrites first, then the extractions.
    let m = manifest(&qdir);
    let pos = |f: &dyn Fn(&serde_json::Value) -> bool| -> Vec<usize> {
        m.iter()
            .enumerate()
            .filter(|(_, r)| f(r))
            .map(|(i, _)| i)
            .collect()
    };
    let flag_rewrites = pos(&|r| {
        r["type"] == "mbox-rewrite"
            && r["edits"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| !e["original"].is_null())
    });
    let extracts = pos(&|r| r["type"] == "mbox-extract");
    assert_eq!((flag_rewrites.len(), extracts.len()), (2, 2), "{m:?}");
    assert!(flag_rewrites[1] < extracts[0], "flags first: {m:?}");
    assert_eq!(records(&m, "mbox-rewrite").len(), 4);
    restore(&qdir, &[]).expect_code(0, "restore");
    assert_same(&before, &snapshot(&tree), "after restore");
}

// ------------------------------------------------------------------------------------------
// --dry-run

type MoveKey = (PathBuf, Option<u64>, String, PathBuf, Option<u64>);

#[test]
fn dry_run_prints_the_plan_a_real_run_carries_out_and_touches_nothing() {
    let st = setup();
    let before = snapshot(&st.tree);
    let pre = scan_json(&[&st.tree]);

    let dry = quarantine(&[&st.tree], &st.qdir, &["--dry-run", "--json"]);
    dry.expect_code(0, "dry run");
    assert!(!st.qdir.exists(), "--dry-run created QDIR");
    assert_same(&before, &snapshot(&st.tree), "after --dry-run --json");
    let human = quarantine(&[&st.tree], &st.qdir, &["--dry-run"]);
    human.expect_code(0, "dry run");
    assert!(
        human.stdout.contains(&format!(
            "Dry run: would move {} extra copies",
            summary(&pre, "extra_copies")
        )),
        "{}",
        human.stdout
    );
    assert!(!st.qdir.exists(), "--dry-run created QDIR");
    assert_same(&before, &snapshot(&st.tree), "after --dry-run");

    let plan = dry.json();
    let planned: BTreeSet<MoveKey> = plan["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                PathBuf::from(m["path"].as_str().unwrap()),
                m["offset"].as_u64(),
                m["class"].as_str().unwrap().to_string(),
                PathBuf::from(m["kept"]["path"].as_str().unwrap()),
                m["kept"]["offset"].as_u64(),
            )
        })
        .collect();
    assert_eq!(planned.len() as u64, summary(&pre, "extra_copies"));
    let dry_flags: Vec<&Value> = plan["flag_merges"].as_array().unwrap().iter().collect();
    assert!(!dry_flags.is_empty());

    let real = quarantine(&[&st.tree], &st.qdir, &["--json"]);
    real.expect_code(0, "quarantine");
    let outcome = &real.json()["outcome"];
    assert_eq!(outcome["moved"].as_u64(), plan["summary"]["moves"].as_u64());
    assert_eq!(
        outcome["moved_bytes"].as_u64(),
        plan["summary"]["bytes"].as_u64()
    );
    assert_eq!(
        outcome["flags_merged"].as_u64(),
        plan["summary"]["flag_merges"].as_u64()
    );

    let m = manifest(&st.qdir);
    let kept = |r: &Value| {
        (
            PathBuf::from(r["kept"]["path"].as_str().unwrap()),
            r["kept"]["offset"].as_u64(),
        )
    };
    let mut done: BTreeSet<MoveKey> = BTreeSet::new();
    for r in records(&m, "maildir-move") {
        let (kp, ko) = kept(r);
        done.insert((
            PathBuf::from(r["source"].as_str().unwrap()),
            None,
            r["class"].as_str().unwrap().to_string(),
            kp,
            ko,
        ));
    }
    for r in records(&m, "mbox-extract") {
        let (kp, ko) = kept(r);
        done.insert((
            PathBuf::from(r["mbox"].as_str().unwrap()),
            r["offset"].as_u64(),
            r["class"].as_str().unwrap().to_string(),
            kp,
            ko,
        ));
    }
    assert_eq!(
        done, planned,
        "the manifest records exactly the planned moves"
    );
    let planned_md_flags: BTreeSet<(PathBuf, String)> = dry_flags
        .iter()
        .filter(|f| f["offset"].is_null())
        .map(|f| {
            (
                PathBuf::from(f["path"].as_str().unwrap()),
                f["add"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let done_md_flags: BTreeSet<(PathBuf, String)> = records(&m, "maildir-flags")
        .iter()
        .map(|r| {
            (
                PathBuf::from(r["old"].as_str().unwrap()),
                r["added"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        done_md_flags, planned_md_flags,
        "Maildir flag merges as planned"
    );
    let planned_mbox_flags = dry_flags.iter().filter(|f| !f["offset"].is_null()).count();
    let done_mbox_flags: usize = records(&m, "mbox-rewrite")
        .iter()
        .map(|r| {
            r["edits"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| !e["original"].is_null())
                .count()
        })
        .sum();
    assert_eq!(
        done_mbox_flags, planned_mbox_flags,
        "mbox flag merges as planned"
    );

    // restore --dry-run lists the same copies and touches nothing either.
    let tree_q = snapshot(&st.tree);
    let q_snap = snapshot(&st.qdir);
    let rd = restore(&st.qdir, &["--dry-run", "--json"]);
    rd.expect_code(0, "restore --dry-run");
    assert_eq!(
        rd.json()["outcome"]["restored"].as_u64(),
        plan["summary"]["moves"].as_u64()
    );
    assert_same(&tree_q, &snapshot(&st.tree), "after restore --dry-run");
    assert_same(&q_snap, &snapshot(&st.qdir), "QDIR after restore --dry-run");
}

// ------------------------------------------------------------------------------------------
// --only, idempotence, two runs

#[test]
fn only_same_time_moves_only_same_time_extras() {
    let st = setup();
    let before = snapshot(&st.tree);
    let pre = scan_json(&[&st.tree]);
    let gs = groups(&pre);
    let same: BTreeSet<_> = gs
        .iter()
        .flat_map(|g| g.extras.iter())
        .filter(|e| e.class.as_deref() == Some("same-time"))
        .map(CopyRef::key)
        .collect();
    let different: Vec<&CopyRef> = gs
        .iter()
        .flat_map(|g| g.extras.iter())
        .filter(|e| e.class.as_deref() == Some("different-time"))
        .collect();
    assert!(!same.is_empty() && !different.is_empty());

    let out = quarantine(&[&st.tree], &st.qdir, &["--only", "same-time", "--json"]);
    out.expect_code(0, "quarantine --only same-time");
    assert_eq!(
        out.json()["outcome"]["different_time"].as_u64(),
        Some(0),
        "{}",
        out.stdout
    );
    let m = manifest(&st.qdir);
    let mut moved = BTreeSet::new();
    for r in records(&m, "maildir-move")
        .into_iter()
        .chain(records(&m, "mbox-extract"))
    {
        assert_eq!(r["class"], "same-time", "{r}");
        let p = r["source"].as_str().or(r["mbox"].as_str()).unwrap();
        moved.insert((PathBuf::from(p), r["offset"].as_u64()));
    }
    assert_eq!(moved, same, "exactly the same-time extra copies were moved");
    assert_eq!(names(&st.qdir.join("cur")).len(), same.len());

    let post = scan_json(&[&st.tree]);
    assert_eq!(summary(&post, "same_time"), 0);
    assert_eq!(summary(&post, "different_time"), different.len() as u64);
    // The different-time extra copies are untouched where they are Maildir files.
    for d in &different {
        if d.offset.is_none() {
            let r = rel(&st.tree, &d.path);
            assert_eq!(
                fs::read(&d.path).ok().as_ref(),
                before.data(&r),
                "{} untouched",
                d.path.display()
            );
        }
    }
    restore(&st.qdir, &[]).expect_code(0, "restore");
    assert_same(&before, &snapshot(&st.tree), "after restore");
}

#[test]
fn a_second_quarantine_finds_nothing_and_changes_nothing() {
    let st = setup();
    quarantine(&[&st.tree], &st.qdir, &[]).expect_code(0, "quarantine");
    let tree1 = snapshot(&st.tree);
    let q1 = snapshot(&st.qdir);
    let out = quarantine(&[&st.tree], &st.qdir, &["--json"]);
    out.expect_code(0, "second quarantine");
    assert_eq!(out.json()["outcome"]["moved"].as_u64(), Some(0));
    assert_eq!(out.json()["outcome"]["flags_merged"].as_u64(), Some(0));
    let human = quarantine(&[&st.tree], &st.qdir, &[]);
    human.expect_code(0, "third quarantine");
    assert!(
        human.stdout.contains("Nothing to quarantine"),
        "{}",
        human.stdout
    );
    assert_same(
        &tree1,
        &snapshot(&st.tree),
        "tree after a second quarantine",
    );
    assert_same(
        &q1,
        &snapshot(&st.qdir),
        "QDIR (and manifest) after a second quarantine",
    );
}

#[test]
fn two_runs_into_one_qdir_append_and_restore_undoes_both() {
    let st = setup();
    let before = snapshot(&st.tree);
    let pre = scan_json(&[&st.tree]);
    quarantine(&[&st.tree], &st.qdir, &["--only", "same-time"]).expect_code(0, "first run");
    let m1 = fs::read(st.qdir.join("manifest.jsonl")).unwrap();
    let n1 = names(&st.qdir.join("cur")).len() as u64;
    assert_eq!(n1, summary(&pre, "same_time"));
    quarantine(&[&st.tree], &st.qdir, &[]).expect_code(0, "second run");
    let m2 = fs::read(st.qdir.join("manifest.jsonl")).unwrap();
    assert!(
        m2.len() > m1.len() && m2.starts_with(&m1),
        "the second run appends to the manifest"
    );
    assert_eq!(records(&manifest(&st.qdir), "run").len(), 2);
    assert_eq!(
        names(&st.qdir.join("cur")).len() as u64,
        summary(&pre, "extra_copies"),
        "QDIR holds the extra copies of both runs"
    );
    assert_eq!(summary(&scan_json(&[&st.tree]), "groups"), 0);
    restore(&st.qdir, &[]).expect_code(0, "restore");
    assert_same(&before, &snapshot(&st.tree), "after restoring both runs");
    assert!(names(&st.qdir.join("cur")).is_empty());
}

// ------------------------------------------------------------------------------------------
// restore's limits

#[test]
fn restore_refuses_targets_outside_the_recorded_stores() {
    let st = setup();
    let root = st.tree.parent().unwrap().to_path_buf();
    let outside = root.join("outside");
    fs::create_dir_all(outside.join("cur")).unwrap();
    fs::create_dir_all(outside.join("new")).unwrap();
    quarantine(&[&st.tree], &st.qdir, &[]).expect_code(0, "quarantine");
    let m = manifest(&st.qdir);
    let moves = records(&m, "maildir-move");
    let (a, b) = (moves[0]["id"].clone(), moves[1]["id"].clone());
    let flags_id = records(&m, "maildir-flags")[0]["id"].clone();
    let rw = records(&m, "mbox-rewrite")[0];
    let rw_id = rw["id"].clone();
    let rw_mbox = PathBuf::from(rw["mbox"].as_str().unwrap());
    // A copy of that mbox (as quarantine left it) outside the stores: restore must not
    // touch it even though its content matches the record.
    let outside_mbox = outside.join("export.mbox");
    fs::copy(&rw_mbox, &outside_mbox).unwrap();
    let store = |p: &str| {
        PathBuf::from(p)
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf()
    };
    let edited = rewrite_manifest(&st.qdir, |_, r| {
        let name = |p: &Value| {
            PathBuf::from(p.as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        if r["id"] == a {
            r["source"] = s(&outside.join("cur").join(name(&r["source"]))).into();
        } else if r["id"] == b {
            let st_dir = store(r["source"].as_str().unwrap());
            let dotted = st_dir
                .join("cur/../../../../outside/cur")
                .join(name(&r["source"]));
            r["source"] = s(&dotted).into();
        } else if r["id"] == flags_id {
            r["old"] = s(&outside.join("cur").join(name(&r["old"]))).into();
            r["new"] = s(&outside.join("cur").join(name(&r["new"]))).into();
        } else if r["id"] == rw_id {
            r["mbox"] = s(&outside_mbox).into();
        } else {
            return false;
        }
        true
    });
    assert_eq!(edited, 4);
    let outside_before = snapshot(&outside);
    let q_refused: Vec<PathBuf> = m
        .iter()
        .filter(|r| r["id"] == a || r["id"] == b)
        .map(|r| st.qdir.join(r["quarantined"].as_str().unwrap()))
        .collect();

    let out = restore(&st.qdir, &["--json"]);
    out.expect_code(3, "restore with refused records");
    let problems = out.json()["outcome"]["problems"]
        .as_array()
        .unwrap()
        .clone();
    let refused: Vec<&Value> = problems
        .iter()
        .filter(|p| p["reason"].as_str().unwrap().contains("refused"))
        .collect();
    assert_eq!(refused.len(), 4, "four records refused: {problems:?}");
    assert_same(
        &outside_before,
        &snapshot(&outside),
        "nothing written outside the stores",
    );
    for q in &q_refused {
        assert!(q.exists(), "{} stays in QDIR", q.display());
    }
    // The dotted path was not followed either.
    assert!(names(&outside.join("cur")).is_empty());
    // Everything else went back, and nothing is lost.
    let lost = lost_messages(&originals(&snapshot_of_fixtures()), &st.tree, &st.qdir);
    assert!(lost.is_empty(), "{lost:?}");
}

/// The original tree as `setup` builds it (to check for lost messages).
fn snapshot_of_fixtures() -> Snapshot {
    let td = TempDir::new().unwrap();
    full_tree(td.path());
    snapshot(td.path())
}

#[test]
fn restore_never_overwrites_an_existing_file() {
    let st = setup();
    quarantine(&[&st.tree], &st.qdir, &[]).expect_code(0, "quarantine");
    let m = manifest(&st.qdir);
    let mv = records(&m, "maildir-move")[0];
    let source = PathBuf::from(mv["source"].as_str().unwrap());
    let q = st.qdir.join(mv["quarantined"].as_str().unwrap());
    let fl = records(&m, "maildir-flags")[0];
    let old = PathBuf::from(fl["old"].as_str().unwrap());
    let new = PathBuf::from(fl["new"].as_str().unwrap());
    assert!(!source.exists() && q.exists() && !old.exists() && new.exists());
    // New files with those names appeared since (a mail client, a sync tool).
    fs::write(
        &source,
        b"Subject: a different message with the same name\n\nhi\n",
    )
    .unwrap();
    fs::write(&old, b"Subject: another one\n\nhi\n").unwrap();
    let new_bytes = fs::read(&new).unwrap();
    let q_bytes = fs::read(&q).unwrap();

    let out = restore(&st.qdir, &["--json"]);
    out.expect_code(3, "restore");
    assert_eq!(
        out.json()["outcome"]["problems"].as_array().unwrap().len(),
        2,
        "{}",
        out.stdout
    );
    assert_eq!(
        fs::read(&source).unwrap(),
        b"Subject: a different message with the same name\n\nhi\n"
    );
    assert_eq!(fs::read(&old).unwrap(), b"Subject: another one\n\nhi\n");
    assert_eq!(fs::read(&new).unwrap(), new_bytes, "the flagged copy stays");
    assert_eq!(
        fs::read(&q).unwrap(),
        q_bytes,
        "the quarantined copy stays in QDIR"
    );
    // A second restore still refuses, and still overwrites nothing.
    restore(&st.qdir, &[]).expect_code(3, "second restore");
    assert_eq!(fs::read(&q).unwrap(), q_bytes);
    assert_eq!(fs::read(&old).unwrap(), b"Subject: another one\n\nhi\n");
}

// ------------------------------------------------------------------------------------------
// A kept copy that changes between the scan and the moves. The window is inside one run of
// the binary, so this test drives the library: scan, plan, change the kept copies, run.

#[test]
fn extras_stay_when_their_kept_copy_changed_after_the_scan() {
    use maildedup::act::{plan, quarantine};
    use maildedup::store::lock;
    use maildedup::{group, scan};
    let (_td, root) = canonical_tempdir();
    let tree = root.join("tree");
    copy_dir(&fixtures().join("cases"), &tree);
    let qdir = root.join("q");
    let out = scan::scan(
        std::slice::from_ref(&tree),
        &scan::ScanOptions::default(),
        &maildedup::observe::Silent,
    );
    // The kept copies and their extras are in different folders: --across-folders.
    let opts = group::GroupOptions {
        across_folders: true,
        ..group::GroupOptions::default()
    };
    let grouping = group::group(&out, &opts);
    let p = plan::plan(&out, &grouping, None);

    // store-headers: kept in the Maildir, its extra copy in export.mbox @ 0. The kept copy
    // is edited by a mail client after the scan.
    let kept = tree.join("Maildir/cur/1700100000.M123757P2003.mx1.example.com:2,RS");
    let mut text = fs::read(&kept).unwrap();
    text.extend_from_slice(b"A line added after the scan.\n");
    fs::write(&kept, &text).unwrap();
    // trace-headers: kept in the Maildir, its extra in .Archive; the kept copy is deleted.
    let kept2 = tree.join("Maildir/cur/1700000000.M107919P2001.mx1.example.com:2,S");
    fs::remove_file(&kept2).unwrap();
    let extra2 = tree.join("Maildir/.Archive/cur/1700000003.M115838P2002.mx1.example.com:2,S");
    let export = tree.join("mbox/export.mbox");
    let export_before = fs::read(&export).unwrap();
    let entry0 = {
        let e = &maildedup::store::mbox::split(&export_before).unwrap()[0];
        export_before[e.offset..e.end].to_vec()
    };

    let mut q = quarantine::Quarantine::start(&out, &grouping, &qdir, lock::LockOptions::default())
        .unwrap();
    q.run(&p).unwrap();
    let left: Vec<(String, Option<u64>)> = q
        .outcome
        .left
        .iter()
        .map(|l| (l.path.clone(), l.offset))
        .collect();
    assert!(
        left.contains(&(s(&export), Some(0))),
        "export.mbox @ 0 left in place: {left:?}"
    );
    assert!(left.iter().any(|(p, _)| *p == s(&extra2)), "{left:?}");
    assert!(
        extra2.exists(),
        "the extra copy of a deleted kept copy stays"
    );
    assert!(
        fs::read(&export).unwrap().starts_with(&entry0),
        "the mbox extra copy of a changed kept copy stays in its mbox"
    );
    assert_eq!(
        fs::read(&kept).unwrap(),
        text,
        "the edited kept copy is untouched"
    );
    let m = manifest(&qdir);
    assert!(
        !records(&m, "mbox-extract")
            .iter()
            .any(|r| r["mbox"] == s(&export) && r["offset"] == 0),
        "no extract record for export.mbox @ 0"
    );
}

#[test]
fn restore_refuses_a_folder_replaced_by_a_symlink() {
    let st = setup();
    quarantine(&[&st.tree], &st.qdir, &[]).expect_code(0, "quarantine");
    let m = manifest(&st.qdir);
    let mv = records(&m, "maildir-move")[0];
    let source = PathBuf::from(mv["source"].as_str().unwrap());
    let folder = source.parent().unwrap().to_path_buf();
    // The folder the copy came from is swapped for a symlink to somewhere else.
    let elsewhere = st.qdir.parent().unwrap().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let moved_aside = folder.with_file_name("cur-moved-aside");
    fs::rename(&folder, &moved_aside).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &folder).unwrap();

    let out = restore(&st.qdir, &[]);
    out.expect_code(3, "restore with a symlinked folder");
    assert!(out.stdout.contains("refused"), "{}", out.stdout);
    assert_eq!(
        names(&elsewhere),
        Vec::<String>::new(),
        "nothing may be written through the symlink"
    );
    assert!(
        st.qdir.join(mv["quarantined"].as_str().unwrap()).is_file(),
        "the copy stays in QDIR"
    );

    // Put the real folder back: the same restore now completes.
    fs::remove_file(&folder).unwrap();
    fs::rename(&moved_aside, &folder).unwrap();
    restore(&st.qdir, &[]).expect_code(0, "restore after the folder is back");
    assert!(source.is_file());
}

// ------------------------------------------------------------------------------------------
// mboxes are edited in place

/// (inode, mode, uid, gid) of every mbox file under `tree`.
fn mbox_identities(tree: &Path) -> BTreeMap<PathBuf, (u64, u32, u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(tree).into_iter().flatten() {
        if e.path_is_symlink() || !e.file_type().is_file() {
            continue;
        }
        let p = e.path();
        if p.extension().is_some_and(|x| x == "mbox") {
            let m = fs::metadata(p).unwrap();
            out.insert(rel(tree, p), (m.ino(), m.mode() & 0o7777, m.uid(), m.gid()));
        }
    }
    out
}

#[test]
fn mboxes_keep_their_inode_mode_and_owner_through_quarantine_and_restore() {
    let st = setup();
    // An owner and a mode of their own (the owner only when running as root).
    let export = st.tree.join("cases/mbox/export.mbox");
    fs::set_permissions(&export, fs::Permissions::from_mode(0o640)).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&export, Some(4321), Some(4322)).unwrap();
    }
    let before = snapshot(&st.tree);
    let ids = mbox_identities(&st.tree);
    assert!(ids.len() >= 8, "{ids:?}");

    let out = quarantine(&[&st.tree], &st.qdir, &["--json"]);
    out.expect_code(0, "quarantine");
    let merged = out.json()["outcome"]["flags_merged"].as_u64().unwrap();
    assert!(
        out.json()["outcome"]["mboxes_rewritten"].as_u64() > Some(0),
        "{}",
        out.stdout
    );
    assert_ne!(snapshot(&st.tree), before, "quarantine changed nothing");
    assert_eq!(
        mbox_identities(&st.tree),
        ids,
        "inode, mode and owner after quarantine"
    );
    // Every in-place write is complete: done recorded, its tail gone from QDIR.
    let m = manifest(&st.qdir);
    let writes = records(&m, "mbox-write");
    assert!(!writes.is_empty());
    assert_eq!(writes.len(), records(&m, "mbox-write-done").len(), "{m:?}");
    assert!(
        !st.qdir.join("rewrite").exists(),
        "QDIR/rewrite is removed once empty"
    );

    let r = restore(&st.qdir, &["--json"]);
    r.expect_code(0, "restore");
    assert_eq!(
        r.json()["outcome"]["flags_undone"].as_u64(),
        Some(merged),
        "restore undoes as many flag merges as quarantine made: {}",
        r.stdout
    );
    assert_same(&before, &snapshot(&st.tree), "after restore");
    assert_eq!(
        mbox_identities(&st.tree),
        ids,
        "inode, mode and owner after restore"
    );
}

#[test]
fn merged_and_undone_flag_counts_agree_in_the_text_output() {
    let (_td, root) = canonical_tempdir();
    let tree = root.join("tree");
    flag_mboxes(&tree.join("mbox"));
    copy_dir(&fixtures().join("cases/Maildir"), &tree.join("Maildir"));
    let qdir = root.join("q");
    let out = quarantine(&[&tree], &qdir, &[]);
    out.expect_code(0, "quarantine");
    let merged: u64 = out
        .stdout
        .split("Merged flags into ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no merge count:\n{}", out.show()));
    assert!(merged >= 3, "mbox and Maildir merges: {}", out.stdout);
    let r = restore(&qdir, &[]);
    r.expect_code(0, "restore");
    assert!(
        r.stdout.contains(&format!("undid {merged} flag merges")),
        "quarantine merged {merged}:\n{}",
        r.show()
    );
}

/// A manifest written by the rename-based versions has no `in_place` and no
/// `mbox-write` records: restore still puts everything back.
#[test]
fn a_manifest_of_the_rename_based_versions_still_restores() {
    let st = setup();
    let before = snapshot(&st.tree);
    quarantine(&[&st.tree], &st.qdir, &[]).expect_code(0, "quarantine");
    let text = fs::read_to_string(st.qdir.join("manifest.jsonl")).unwrap();
    let old: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if v["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("mbox-write"))
            {
                return None;
            }
            v.as_object_mut().unwrap().remove("in_place");
            Some(serde_json::to_string(&v).unwrap())
        })
        .collect();
    assert!(old.len() < text.lines().count());
    write_manifest_lines(&st.qdir, &old);
    restore(&st.qdir, &[]).expect_code(0, "restore");
    assert_same(&before, &snapshot(&st.tree), "after restore");
}
