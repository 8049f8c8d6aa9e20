//! Byte-exact snapshots of a tree (what `diff -r` compares, plus modes and symlink
//! targets), and the check that no original message was lost.
#![allow(dead_code)]

use super::manifest::names;
use super::mbox::{find, is_mbox_bytes, unquote, without_status};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One entry of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    Link(PathBuf),
}

/// Every path under a root (relative), with its bytes, mode or link target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<PathBuf, Node>);

pub fn snapshot(root: &Path) -> Snapshot {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Node>) {
        for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display())) {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let meta = fs::symlink_metadata(&p).unwrap();
            let ft = meta.file_type();
            if ft.is_symlink() {
                out.insert(rel, Node::Link(fs::read_link(&p).unwrap()));
            } else if ft.is_dir() {
                out.insert(
                    rel,
                    Node::Dir {
                        mode: meta.mode() & 0o7777,
                    },
                );
                walk(root, &p, out);
            } else {
                let data = fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
                out.insert(
                    rel,
                    Node::File {
                        mode: meta.mode() & 0o7777,
                        data,
                    },
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    Snapshot(out)
}

impl Snapshot {
    pub fn files(&self) -> impl Iterator<Item = (&PathBuf, &Vec<u8>)> {
        self.0.iter().filter_map(|(p, n)| match n {
            Node::File { data, .. } => Some((p, data)),
            _ => None,
        })
    }

    pub fn data(&self, rel: &Path) -> Option<&Vec<u8>> {
        match self.0.get(rel) {
            Some(Node::File { data, .. }) => Some(data),
            _ => None,
        }
    }

    /// The differences from `other`, as `diff -r` would list them (plus modes and symlink
    /// targets); empty when identical.
    pub fn diff(&self, other: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (p, a) in &self.0 {
            match other.0.get(p) {
                None => out.push(format!("only in expected: {}", p.display())),
                Some(b) if a != b => {
                    out.push(format!("differs: {}: {}", p.display(), describe(a, b)))
                }
                _ => {}
            }
        }
        for p in other.0.keys() {
            if !self.0.contains_key(p) {
                out.push(format!("only in actual: {}", p.display()));
            }
        }
        out
    }
}

fn describe(a: &Node, b: &Node) -> String {
    match (a, b) {
        (Node::File { mode: ma, data: da }, Node::File { mode: mb, data: db }) => {
            if ma != mb {
                return format!("mode {ma:o} became {mb:o}");
            }
            let first = da.iter().zip(db.iter()).position(|(x, y)| x != y);
            format!(
                "{} bytes became {} bytes (first difference at byte {})",
                da.len(),
                db.len(),
                first.unwrap_or(da.len().min(db.len()))
            )
        }
        _ => format!("{a:?} became {b:?}").chars().take(300).collect(),
    }
}

/// Panics, listing the differences, unless `actual` equals `expected`.
pub fn assert_same(expected: &Snapshot, actual: &Snapshot, what: &str) {
    let d = expected.diff(actual);
    if !d.is_empty() {
        let shown: Vec<&String> = d.iter().take(30).collect();
        panic!(
            "{what}: the tree is not identical to the snapshot ({} differences):\n  {}",
            d.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}

/// What must never be lost: the original tree's files and mbox entries.
pub struct Originals {
    /// (relative path, bytes) of every regular file that is not an mbox.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// (relative mbox path, offset, entry bytes, message bytes) of every mbox entry.
    pub entries: Vec<(PathBuf, usize, Vec<u8>, Vec<u8>)>,
}

pub fn originals(snap: &Snapshot) -> Originals {
    let mut files = Vec::new();
    let mut entries = Vec::new();
    for (p, data) in snap.files() {
        if is_mbox_bytes(data) {
            let split = maildedup::store::mbox::split(data)
                .unwrap_or_else(|| panic!("{} is not an mbox", p.display()));
            for e in split {
                entries.push((
                    p.clone(),
                    e.offset,
                    data[e.offset..e.end].to_vec(),
                    data[e.message_start..e.message_end].to_vec(),
                ));
            }
        } else {
            files.push((p.clone(), data.clone()));
        }
    }
    Originals { files, entries }
}

fn b3(d: &[u8]) -> [u8; 32] {
    *blake3::hash(d).as_bytes()
}

/// Checks that every original message still exists, byte-exact, in the tree or in
/// `QDIR/cur`: each non-mbox file's bytes as some file (counted, so two identical
/// originals need two files); each mbox entry either still in its mbox (compared without
/// `Status:`/`X-Status:` lines, which a flag merge may change) or, unquoted and without its
/// From_ line, as a file in `QDIR/cur`. Returns the problems found.
pub fn lost_messages(orig: &Originals, tree: &Path, qdir: &Path) -> Vec<String> {
    let now = snapshot(tree);
    let mut have: HashMap<[u8; 32], usize> = HashMap::new();
    let mut q_files: Vec<Vec<u8>> = Vec::new();
    for (_, d) in now.files() {
        *have.entry(b3(d)).or_default() += 1;
    }
    for n in names(&qdir.join("cur")) {
        let d = fs::read(qdir.join("cur").join(&n)).unwrap();
        *have.entry(b3(&d)).or_default() += 1;
        q_files.push(d);
    }
    let q_hashes: std::collections::HashSet<[u8; 32]> = q_files.iter().map(|d| b3(d)).collect();
    let mut need: HashMap<[u8; 32], (usize, &PathBuf)> = HashMap::new();
    for (p, d) in &orig.files {
        need.entry(b3(d)).or_insert((0, p)).0 += 1;
    }
    let mut problems = Vec::new();
    for (h, (n, p)) in need {
        let got = have.get(&h).copied().unwrap_or(0);
        if got < n {
            problems.push(format!(
                "lost: {} ({} original files with these bytes, {} found in tree + QDIR/cur)",
                p.display(),
                n,
                got
            ));
        }
    }
    // Per mbox: its current entries (without Status lines), hashed, and its whole text.
    let mut mbox_now: HashMap<&PathBuf, (std::collections::HashSet<[u8; 32]>, Vec<u8>)> =
        HashMap::new();
    for (p, off, entry, msg) in &orig.entries {
        let (entries, text) = mbox_now.entry(p).or_insert_with(|| {
            let d = now.data(p).cloned().unwrap_or_default();
            let set = maildedup::store::mbox::split(&d)
                .unwrap_or_default()
                .iter()
                .map(|e| b3(&without_status(&d[e.offset..e.end])))
                .collect();
            (set, without_status(&d))
        });
        let e = without_status(entry);
        if entries.contains(&b3(&e)) || q_hashes.contains(&b3(&unquote(msg))) || find(text, &e) {
            continue;
        }
        problems.push(format!(
            "lost: mbox entry {}@{off} ({} bytes) is neither in its mbox nor in QDIR/cur",
            p.display(),
            entry.len()
        ));
    }
    problems
}
