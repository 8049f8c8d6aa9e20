//! Helpers shared by the quarantine/restore integration tests: building store trees from
//! the fixtures, byte-exact snapshots of a tree (what `diff -r` compares, plus modes and
//! symlink targets), running the binary, reading the manifest, and checking that no
//! message was lost.
#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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

/// The output of one run of the binary.
#[derive(Debug)]
pub struct Out {
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn show(&self) -> String {
        format!(
            "exit {:?} signal {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.signal, self.stdout, self.stderr
        )
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.show()))
    }

    pub fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: unexpected exit\n{}",
            self.show()
        );
        self
    }
}

/// `XDG_CONFIG_HOME` for every run of the binary in the tests: a folder that does not
/// exist, so no test ever reads the real user's `maildedup.toml`.
pub const NO_CONFIG_HOME: &str = "/nonexistent/maildedup-tests/xdg-config";

/// The fingerprint cache folder tests use (`XDG_CACHE_HOME` of every run), so that no
/// test writes into the real `~/.cache/maildedup`.
pub fn test_cache_home() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("xdg-cache")
}

pub fn bin_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("maildedup")
}

/// Runs `maildedup ARGS` with extra environment variables.
pub fn md_env<I, S>(args: I, env: &[(&str, &str)]) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    use std::os::unix::process::ExitStatusExt;
    let mut cmd = Command::cargo_bin("maildedup").expect("binary maildedup");
    cmd.args(args)
        .env("XDG_CONFIG_HOME", NO_CONFIG_HOME)
        .env("XDG_CACHE_HOME", test_cache_home())
        .env_remove("MAILDEDUP_FAULT_AT")
        .env_remove("MAILDEDUP_FAULT_COUNT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run maildedup");
    Out {
        code: out.status.code(),
        signal: out.status.signal(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn md<I, S>(args: I) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    md_env(args, &[])
}

pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `maildedup scan --json PATHS`, which must exit 0.
pub fn scan_json(paths: &[&Path]) -> Value {
    // `--across-folders`: these tests' trees hold one message in several folders and
    // were written for one kept copy per group (issue 14 made the folder rule the default;
    // tests/folder_rule.rs runs without it).
    let mut args = vec![
        "scan".to_string(),
        "--json".to_string(),
        "--no-progress".to_string(),
        "--across-folders".to_string(),
    ];
    args.extend(paths.iter().map(|p| s(p)));
    let out = md(&args);
    out.expect_code(0, "scan");
    out.json()
}

/// `maildedup quarantine PATHS --to QDIR EXTRA...`.
pub fn quarantine(paths: &[&Path], qdir: &Path, extra: &[&str]) -> Out {
    quarantine_env(paths, qdir, extra, &[])
}

pub fn quarantine_env(paths: &[&Path], qdir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Out {
    // `--across-folders`: see `scan_json`.
    let mut args = vec![
        "quarantine".to_string(),
        "--no-progress".to_string(),
        "--across-folders".to_string(),
    ];
    args.extend(paths.iter().map(|p| s(p)));
    args.push("--to".into());
    args.push(s(qdir));
    args.extend(extra.iter().map(|x| x.to_string()));
    md_env(&args, env)
}

pub fn restore(qdir: &Path, extra: &[&str]) -> Out {
    restore_env(qdir, extra, &[])
}

pub fn restore_env(qdir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Out {
    let mut args = vec!["restore".to_string(), s(qdir)];
    args.extend(extra.iter().map(|x| x.to_string()));
    md_env(&args, env)
}

/// Every manifest line, parsed (a line that is not JSON panics).
pub fn manifest(qdir: &Path) -> Vec<Value> {
    let text = fs::read_to_string(qdir.join("manifest.jsonl")).expect("read manifest");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("manifest line {l}: {e}")))
        .collect()
}

pub fn records<'a>(m: &'a [Value], kind: &str) -> Vec<&'a Value> {
    m.iter().filter(|r| r["type"] == kind).collect()
}

/// The files in `dir` (names), or nothing when it does not exist.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Undoes one level of mboxrd `>From ` quoting, as `quarantine` does for an extracted
/// message (written here independently of the crate).
pub fn unquote(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len());
    for line in msg.split_inclusive(|&b| b == b'\n') {
        let gt = line.iter().take_while(|&&b| b == b'>').count();
        if gt > 0 && line[gt..].starts_with(b"From ") {
            out.extend_from_slice(&line[1..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The bytes with every `Status:` and `X-Status:` line removed: what a flag merge into a
/// kept mbox copy may change.
pub fn without_status(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for line in data.split_inclusive(|&b| b == b'\n') {
        let l = line.to_ascii_lowercase();
        if l.starts_with(b"status:") || l.starts_with(b"x-status:") {
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

pub fn find(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// Does this file start like an mbox?
pub fn is_mbox_bytes(data: &[u8]) -> bool {
    let d = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let d = &d[d.iter().take_while(|&&b| b == b'\n' || b == b'\r').count()..];
    d.starts_with(b"From ")
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

/// Runs a Python snippet with `python3`; `None` (with the reason printed) when there is no
/// usable python3.
pub fn python(script: &str, args: &[String]) -> Option<String> {
    let out = match std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped the Python mailbox check: cannot run python3: {e}");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "python3 failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Message counts of each store as Python's `mailbox` module reads them (`mailbox.Maildir`
/// where the folder has both `cur/` and `new/`, otherwise the files in `cur/`/`new/` are
/// counted; `mailbox.mbox` for mbox files). Keys are the paths given.
pub const PY_COUNT: &str = r#"
import json, mailbox, os, sys
out = {}
for spec in sys.argv[1:]:
    kind, path = spec.split(":", 1)
    if kind == "maildir":
        if os.path.isdir(os.path.join(path, "cur")) and os.path.isdir(os.path.join(path, "new")):
            box = mailbox.Maildir(path, factory=None, create=False)
            n = 0
            for key in box.keys():
                box.get_bytes(key)
                n += 1
        else:
            n = sum(len([f for f in os.listdir(os.path.join(path, d)) if not f.startswith(".")])
                    for d in ("cur", "new") if os.path.isdir(os.path.join(path, d)))
    else:
        box = mailbox.mbox(path, create=False)
        n = 0
        for key in box.keys():
            box.get_bytes(key)
            n += 1
        box.close()
    out[path] = n
print(json.dumps(out))
"#;

pub fn python_counts(stores: &[(String, String)]) -> Option<BTreeMap<String, u64>> {
    let args: Vec<String> = stores.iter().map(|(k, p)| format!("{k}:{p}")).collect();
    let text = python(PY_COUNT, &args)?;
    let v: BTreeMap<String, u64> = serde_json::from_str(text.trim()).expect("python JSON");
    Some(v)
}

/// Mounts a tmpfs of `size` on `dir`; unmounted (lazily if busy) when dropped.
pub struct Mount {
    pub dir: PathBuf,
}

/// Runs `mount ARGS...`; its stderr is the error.
fn mount(args: &[&OsStr]) -> Result<(), String> {
    let out = std::process::Command::new("mount")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

impl Mount {
    pub fn tmpfs(dir: &Path, size: &str) -> Result<Mount, String> {
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let opts = format!("size={size},mode=0755");
        mount(&[
            OsStr::new("-t"),
            OsStr::new("tmpfs"),
            OsStr::new("-o"),
            OsStr::new(&opts),
            OsStr::new("tmpfs"),
            dir.as_os_str(),
        ])?;
        Ok(Mount {
            dir: dir.to_path_buf(),
        })
    }

    /// A bind mount of `src` on `dir`, read-only if `ro`.
    pub fn bind(src: &Path, dir: &Path, ro: bool) -> Result<Mount, String> {
        mount(&[OsStr::new("--bind"), src.as_os_str(), dir.as_os_str()])?;
        let m = Mount {
            dir: dir.to_path_buf(),
        };
        if ro {
            m.remount("ro,bind")?;
        }
        Ok(m)
    }

    pub fn remount(&self, opts: &str) -> Result<(), String> {
        let opts = format!("remount,{opts}");
        mount(&[OsStr::new("-o"), OsStr::new(&opts), self.dir.as_os_str()])
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(&self.dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .status();
        }
    }
}

pub fn dev(p: &Path) -> u64 {
    fs::metadata(p).unwrap().dev()
}
