//! Editing an mbox in place, so that it keeps its inode: a writer that opened the mbox
//! and waits for its lock appends to the file we edited, never to one we unlinked.
//!
//! The pure part, [`MboxEdit`], turns a list of changes into the new bytes from the first
//! changed offset on (the "tail"): [`MboxEdit::apply`] for quarantine (entries removed,
//! Status lines edited), the same on its [`MboxEdit::invert`] for restore (entries
//! re-inserted, Status lines reverted). The I/O part, [`write_in_place`], writes a tail over an mbox
//! held under its locks, with the tail made durable in `QDIR/rewrite/` and recorded in
//! the manifest first; [`recover`] finishes a write that a killed run left unfinished.
//!
//! Order of a write (N = new size, P = old size, `first` = first changed byte):
//! 1. the tail goes to `QDIR/rewrite/ID.tail` (file and folder fsynced);
//! 2. an `mbox-write` record (fsynced) names it, with blake3 of the bytes before `first`,
//!    of the old bytes `first..min(P, N)` and, when the file shrinks, of the old bytes
//!    `N..P` (the "junk");
//! 3. growing: bytes `P..N` first in one write (the size goes from P straight to N), then
//!    `first..P`, fsync; shrinking: `first..N`, fsync, truncate to N, fsync; same size:
//!    `first..N`, fsync;
//! 4. `mbox-write-done`, then the tail file is removed.
//!
//! Recovery decides from the file alone where mail appended after the crash begins: at N
//! if the extension is there (growing) or the junk is gone (shrinking), else at P; a
//! same-size write leaves it at N. It then writes the tail followed by that mail, as a
//! new `mbox-write` superseding the old one, so a crash during recovery is covered by the
//! same rule. Residual ambiguity: a shrinking write truncated, then a message appended
//! whose first P - N bytes are exactly the junk, would be taken for "not truncated" and
//! lose those bytes; likewise an appended message whose first bytes equal the extension
//! of a growing write. Both need a message byte-identical to bytes we wrote or removed.

use crate::act::manifest::{Manifest, Record};
use crate::act::Problem;
use crate::fault;
use crate::fsutil::write_new_synced;
use crate::model::encode::b3hex;
use crate::store::lock::{LockOptions, MboxLock};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};

/// One change to an mbox: the bytes `original` at `offset` become `replacement` (an
/// entry removed: `replacement` empty; a header block edited: the new block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<'a> {
    pub offset: usize,
    pub original: Cow<'a, [u8]>,
    pub replacement: Cow<'a, [u8]>,
}

impl<'a> Change<'a> {
    /// Removes `old[range]` (an entry, From_ line to separator): what quarantine does
    /// with an extra copy. `None` if the range is not in `old`.
    pub fn remove(old: &'a [u8], range: Range<usize>) -> Option<Change<'a>> {
        Some(Change {
            offset: range.start,
            original: Cow::Borrowed(old.get(range)?),
            replacement: Cow::Borrowed(&[]),
        })
    }

    /// Replaces `old[range]` with `new` (a kept copy's header block gaining flags).
    /// `None` if the range is not in `old`.
    pub fn replace(old: &'a [u8], range: Range<usize>, new: Vec<u8>) -> Option<Change<'a>> {
        Some(Change {
            offset: range.start,
            original: Cow::Borrowed(old.get(range)?),
            replacement: Cow::Owned(new),
        })
    }

    fn end(&self) -> Option<usize> {
        self.offset.checked_add(self.original.len())
    }
}

/// The edit of one mbox, both ways: quarantine [`apply`](MboxEdit::apply)s it (entries
/// removed, Status lines edited), restore applies its [`invert`](MboxEdit::invert)
/// (entries re-inserted, Status lines reverted). Its changes are sorted by offset and
/// do not overlap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MboxEdit<'a> {
    changes: Vec<Change<'a>>,
}

impl<'a> MboxEdit<'a> {
    /// The edit made of `changes` (sorted here); `None` if two overlap.
    pub fn new(mut changes: Vec<Change<'a>>) -> Option<MboxEdit<'a>> {
        changes.sort_by_key(|c| c.offset);
        let mut cursor = 0;
        for c in &changes {
            if c.offset < cursor {
                return None;
            }
            cursor = c.end()?;
        }
        Some(MboxEdit { changes })
    }

    /// The edit a manifest's `mbox-rewrite` record describes, rebuilt for restore: its
    /// `spans` (offset, length and replacement length, in the file before the edit), the
    /// bytes each span held (`originals`), and `edited`, the file as the edit left it
    /// (where each replacement is read). `None` if they do not fit together.
    pub fn recorded(
        spans: &[(usize, usize, usize)],
        originals: Vec<Vec<u8>>,
        edited: &'a [u8],
    ) -> Option<MboxEdit<'a>> {
        if spans.len() != originals.len() {
            return None;
        }
        let mut shift: isize = 0;
        let mut changes = Vec::with_capacity(spans.len());
        for (&(offset, length, replacement_len), original) in spans.iter().zip(originals) {
            if original.len() != length {
                return None;
            }
            let at = offset.checked_add_signed(shift)?;
            changes.push(Change {
                offset,
                original: Cow::Owned(original),
                replacement: Cow::Borrowed(edited.get(at..at.checked_add(replacement_len)?)?),
            });
            shift += replacement_len as isize - length as isize;
        }
        MboxEdit::new(changes)
    }

    pub fn changes(&self) -> &[Change<'a>] {
        &self.changes
    }

    /// The new file's bytes from the first changed offset on, and that offset. `None` if
    /// a change's original bytes are not in `old` at its offset. Without changes:
    /// `(old.len(), [])`.
    pub fn apply(&self, old: &[u8]) -> Option<(usize, Vec<u8>)> {
        let Some(first) = self.changes.first().map(|c| c.offset) else {
            return Some((old.len(), Vec::new()));
        };
        let mut cap = old.len().checked_sub(first)?;
        for c in &self.changes {
            if old.get(c.offset..c.end()?)? != &c.original[..] {
                return None;
            }
            cap = cap - c.original.len() + c.replacement.len();
        }
        let mut tail = Vec::with_capacity(cap);
        let mut cursor = first;
        for c in &self.changes {
            tail.extend_from_slice(&old[cursor..c.offset]);
            tail.extend_from_slice(&c.replacement);
            cursor = c.offset + c.original.len();
        }
        tail.extend_from_slice(&old[cursor..]);
        Some((first, tail))
    }

    /// The edit that undoes this one, on the file this one leaves: each change at its
    /// offset there, its replacement back to its original.
    pub fn invert(&self) -> MboxEdit<'a> {
        let mut shift: isize = 0;
        let mut changes = Vec::with_capacity(self.changes.len());
        for c in &self.changes {
            changes.push(Change {
                offset: c.offset.saturating_add_signed(shift),
                original: c.replacement.clone(),
                replacement: c.original.clone(),
            });
            shift += c.replacement.len() as isize - c.original.len() as isize;
        }
        MboxEdit { changes }
    }

    /// Per change, where it was in the file before the edit and how much it changed the
    /// length: to find entries after it again in the edited file.
    pub fn shifts(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.changes.iter().map(|c| {
            (
                c.offset as i64,
                c.replacement.len() as i64 - c.original.len() as i64,
            )
        })
    }
}

/// Reads the whole of an open file with `pread` (never a map: the file may shrink under
/// a writer that takes no lock).
pub fn read_all(f: &File) -> io::Result<Vec<u8>> {
    let len = f.metadata()?.len() as usize;
    let mut buf = vec![0u8; len];
    let mut at = 0;
    while at < len {
        match f.read_at(&mut buf[at..], at as u64) {
            Ok(0) => break, // shrank meanwhile
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(at);
    Ok(buf)
}

/// The folder of pending tails, `QDIR/rewrite`.
pub const REWRITE_DIR: &str = "rewrite";

/// fsyncs a directory; the error names it.
fn fsync_dir(dir: &Path) -> io::Result<()> {
    crate::fsutil::fsync_dir(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
}

/// A fresh id for a write that has no quarantine run id to hang on.
pub fn fresh_id(kind: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::SeqCst) + 1;
    format!(
        "{kind}-{}-{}-{n}",
        jiff::Timestamp::now().as_second(),
        std::process::id()
    )
}

/// Is `t` a tail path as [`write_in_place`] names them (`rewrite/NAME`, NAME plain)?
fn tail_ok(t: &str) -> bool {
    match t.strip_prefix("rewrite/") {
        Some(n) => !n.is_empty() && !n.contains('/') && n != "." && n != "..",
        None => false,
    }
}

/// Why [`write_in_place`] failed: before the mbox was touched (nothing recorded, nothing
/// written; for restore to try again once QDIR has room), or after (the manifest holds
/// the write: the next run finishes it).
#[derive(Debug)]
pub enum WriteError {
    Untouched(io::Error),
    Started(io::Error),
}

impl From<WriteError> for io::Error {
    fn from(e: WriteError) -> io::Error {
        match e {
            WriteError::Untouched(e) | WriteError::Started(e) => e,
        }
    }
}

/// One in-place write: everything from `first` on in the mbox `file` (whose whole
/// content is `cur`, read under the locks the caller holds) becomes `tail`.
pub struct InPlaceWrite<'a> {
    /// The quarantine folder, whose manifest and `rewrite/` folder record the write.
    pub qdir: &'a Path,
    /// The mbox, open under its locks, and its path.
    pub file: &'a File,
    pub mbox: &'a Path,
    /// This write's id, and the id of the record it carries out.
    pub id: &'a str,
    pub of: &'a str,
    /// The unfinished write it replaces (recovery only).
    pub supersedes: Option<String>,
    pub cur: &'a [u8],
    pub first: usize,
    pub tail: &'a [u8],
}

/// Carries out `w` durably and recoverably: see the module comment.
pub fn write_in_place(w: &InPlaceWrite, manifest: &mut Manifest) -> Result<(), WriteError> {
    let tail_path = w.qdir.join(REWRITE_DIR).join(format!("{}.tail", w.id));
    if let Err(e) = prepare(w, manifest) {
        let _ = std::fs::remove_file(&tail_path);
        return Err(WriteError::Untouched(e));
    }
    execute(w.file, w.mbox, w.first, w.cur.len(), w.tail).map_err(WriteError::Started)?;
    finish(w.qdir, manifest, w.id, &tail_path).map_err(WriteError::Started)
}

/// Steps 1 and 2: the tail durable in QDIR, room for growth reserved, the write recorded.
fn prepare(w: &InPlaceWrite, manifest: &mut Manifest) -> io::Result<()> {
    let InPlaceWrite {
        qdir,
        file,
        mbox,
        id,
        of,
        cur,
        first,
        tail,
        ..
    } = *w;
    let pre = cur.len();
    let post = first + tail.len();
    let dir = qdir.join(REWRITE_DIR);
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => fsync_dir(qdir)?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
    }
    let rel = format!("{REWRITE_DIR}/{id}.tail");
    let tail_path = qdir.join(&rel);
    if tail_path.exists() {
        std::fs::remove_file(&tail_path)?; // our own leftover
    }
    write_new_synced(&tail_path, tail, 0o600)?;
    fsync_dir(&dir)?;
    fault::point("inplace.tail-written");
    // Room for the extension, reserved before anything changes (ENOSPC here leaves the
    // mbox untouched); where the filesystem cannot reserve, the write below finds out.
    if post > pre {
        match rustix::fs::fallocate(
            file,
            rustix::fs::FallocateFlags::KEEP_SIZE,
            pre as u64,
            (post - pre) as u64,
        ) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::NOSPC || e == rustix::io::Errno::DQUOT => {
                return Err(io::Error::new(
                    io::Error::from(e).kind(),
                    format!("{}: no room to grow the mbox in place: {e}", mbox.display()),
                ));
            }
            Err(_) => {} // not supported here
        }
    }
    let common = pre.min(post);
    manifest.append(&Record::MboxWrite {
        id: id.to_string(),
        mbox: mbox.to_path_buf(),
        of: of.to_string(),
        supersedes: w.supersedes.clone(),
        first: first as u64,
        pre_size: pre as u64,
        post_size: post as u64,
        tail: rel,
        tail_b3: b3hex(tail),
        prefix_b3: b3hex(&cur[..first]),
        mid_b3: b3hex(&cur[first..common]),
        junk_b3: (post < pre).then(|| b3hex(&cur[post..pre])),
    })?;
    fault::point("inplace.tail-recorded");
    Ok(())
}

/// Steps 3 of a write: the bytes into the mbox, in the order recovery relies on.
fn execute(file: &File, mbox: &Path, first: usize, pre: usize, tail: &[u8]) -> io::Result<()> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", mbox.display()));
    let post = first + tail.len();
    if post > pre {
        let split = pre - first;
        if let Err(e) = file.write_all_at(&tail[split..], pre as u64) {
            // Our own partial extension (we hold the locks): take it back, so it is never
            // taken for appended mail.
            let _ = file.set_len(pre as u64);
            let _ = file.sync_all();
            return Err(named(e));
        }
        fault::point("inplace.extended");
        file.write_all_at(&tail[..split], first as u64)
            .map_err(named)?;
        fault::point("inplace.copied");
        file.sync_all().map_err(named)?;
        fault::point("inplace.synced");
    } else {
        file.write_all_at(tail, first as u64).map_err(named)?;
        fault::point("inplace.copied");
        file.sync_all().map_err(named)?;
        fault::point("inplace.synced");
        if post < pre {
            file.set_len(post as u64).map_err(named)?;
            fault::point("inplace.truncated");
            file.sync_all().map_err(named)?;
            fault::point("inplace.truncate-synced");
        }
    }
    Ok(())
}

/// Step 4: the write is done; its tail file goes.
fn finish(qdir: &Path, manifest: &mut Manifest, id: &str, tail_path: &Path) -> io::Result<()> {
    manifest.append(&Record::MboxWriteDone {
        id: id.to_string(),
        abandoned: None,
    })?;
    fault::point("inplace.done-recorded");
    if tail_path.exists() {
        std::fs::remove_file(tail_path)?;
        fsync_dir(&qdir.join(REWRITE_DIR))?;
    }
    fault::point("inplace.tail-removed");
    remove_rewrite_dir(qdir)
}

/// Removes `QDIR/rewrite` once empty, so a QDIR at rest holds only its Maildir and
/// manifest.
fn remove_rewrite_dir(qdir: &Path) -> io::Result<()> {
    match std::fs::remove_dir(qdir.join(REWRITE_DIR)) {
        Ok(()) => fsync_dir(qdir),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.kind() == io::ErrorKind::DirectoryNotEmpty =>
        {
            Ok(())
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("{}: {e}", qdir.join(REWRITE_DIR).display()),
        )),
    }
}

/// What recovery found in an mbox an unfinished write was carrying out.
#[derive(Debug, PartialEq, Eq)]
pub enum State {
    /// The write's bytes (all, some or none of them) are there, and the mail appended
    /// since begins at this offset.
    Known { appended_from: usize },
    /// The file matches neither the old nor the new state: someone else changed it.
    Foreign(&'static str),
}

/// The pure decision of recovery: where does mail appended after the crash begin in
/// `cur`, for a write of `tail` at `first` over a file of `pre` bytes?
pub fn classify(
    cur: &[u8],
    first: usize,
    pre: usize,
    tail: &[u8],
    prefix_b3: &str,
    mid_b3: &str,
    junk_b3: Option<&str>,
) -> State {
    let post = first + tail.len();
    if cur.len() < first || b3hex(&cur[..first]) != prefix_b3 {
        return State::Foreign("the bytes before the edit changed");
    }
    let appended_from = if post > pre {
        if cur.len() >= post && cur[pre..post] == tail[pre - first..] {
            post
        } else {
            pre
        }
    } else if post < pre {
        match junk_b3 {
            Some(j) if cur.len() >= pre && b3hex(&cur[post..pre]) == j => pre,
            _ => post,
        }
    } else {
        post
    };
    if cur.len() < appended_from {
        return State::Foreign("shorter than both the old and the new file");
    }
    let common = pre.min(post);
    let mid = &cur[first..common];
    if mid != &tail[..common - first] && b3hex(mid) != mid_b3 {
        return State::Foreign("the edited bytes are neither the old nor the new ones");
    }
    State::Known { appended_from }
}

/// Finishes every `mbox-write` in QDIR's manifest without its `mbox-write-done` (and not
/// superseded), each under its mbox's locks, keeping any mail appended since behind the
/// new tail. Returns the mboxes it could not finish (locks not had, tail missing, or the
/// mbox changed by someone else: then it is left untouched and the write abandoned; the
/// extracted messages stay in QDIR).
pub fn recover(
    qdir: &Path,
    manifest: &mut Manifest,
    lock: &LockOptions,
) -> io::Result<Vec<Problem>> {
    let (records, _) = crate::act::manifest::read(qdir)?;
    let mut closed: HashSet<&str> = HashSet::new();
    // A write is carried out only on an mbox a quarantine run of this QDIR scanned.
    let mut stores: HashSet<&Path> = HashSet::new();
    for r in &records {
        match r {
            Record::Run { stores: s, .. } => stores.extend(s.iter().map(PathBuf::as_path)),
            Record::MboxWriteDone { id, .. } => {
                closed.insert(id);
            }
            Record::MboxWrite {
                supersedes: Some(s),
                ..
            } => {
                closed.insert(s);
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    let problem = |p: &Path, reason: String| Problem {
        path: p.to_string_lossy().into_owned(),
        offset: None,
        reason,
    };
    let mut removed_any = false;
    for r in &records {
        let Record::MboxWrite {
            id,
            mbox,
            of,
            first,
            pre_size,
            post_size,
            tail,
            tail_b3,
            prefix_b3,
            mid_b3,
            junk_b3,
            ..
        } = r
        else {
            continue;
        };
        if !tail_ok(tail) {
            continue;
        }
        let tail_path = qdir.join(tail);
        if closed.contains(id.as_str()) {
            // A tail whose write is complete or superseded, left by a kill before its
            // removal.
            if tail_path.is_file() {
                std::fs::remove_file(&tail_path)?;
                removed_any = true;
            }
            continue;
        }
        let is_link = std::fs::symlink_metadata(mbox).is_ok_and(|m| m.file_type().is_symlink());
        if !mbox.is_absolute() || !stores.contains(mbox.as_path()) || is_link {
            problems.push(problem(
                mbox,
                format!(
                    "unfinished in-place write {id}: not an mbox this QDIR's runs scanned; refused"
                ),
            ));
            continue;
        }
        let t = match crate::fsutil::read_regular(&tail_path) {
            Ok(t) if &b3hex(&t) == tail_b3 => t,
            Ok(_) => {
                problems.push(problem(
                    mbox,
                    format!("unfinished in-place write {id}: {} does not match the manifest; mbox left as it is", tail_path.display()),
                ));
                continue;
            }
            Err(e) => {
                problems.push(problem(
                    mbox,
                    format!(
                        "unfinished in-place write {id}: {}: {e}; mbox left as it is",
                        tail_path.display()
                    ),
                ));
                continue;
            }
        };
        let (first, pre) = (*first as usize, *pre_size as usize);
        if first + t.len() != *post_size as usize || first > pre {
            continue;
        }
        let held = match MboxLock::acquire(mbox, lock) {
            Ok(l) => l,
            Err(e) => {
                problems.push(problem(
                    mbox,
                    format!("unfinished in-place write {id} not finished: {e}"),
                ));
                continue;
            }
        };
        fault::point("recover.locked");
        let cur = read_all(&held.file)?;
        match classify(&cur, first, pre, &t, prefix_b3, mid_b3, junk_b3.as_deref()) {
            State::Foreign(why) => {
                manifest.append(&Record::MboxWriteDone {
                    id: id.clone(),
                    abandoned: Some(why.to_string()),
                })?;
                problems.push(problem(
                    mbox,
                    format!(
                        "changed by another program while an in-place write ({id}) was unfinished ({why}): left as it is; its quarantined messages stay in QDIR"
                    ),
                ));
            }
            State::Known { appended_from } if appended_from == cur.len() => {
                // Nothing appended: the same write again, from the state it reached.
                execute(&held.file, mbox, first, cur.len(), &t)?;
                fault::point("recover.redone");
                finish(qdir, manifest, id, &tail_path)?;
            }
            State::Known { appended_from } => {
                let mut moved = t;
                moved.extend_from_slice(&cur[appended_from..]);
                let nid = fresh_id("recover");
                write_in_place(
                    &InPlaceWrite {
                        qdir,
                        file: &held.file,
                        mbox,
                        id: &nid,
                        of,
                        supersedes: Some(id.clone()),
                        cur: &cur,
                        first,
                        tail: &moved,
                    },
                    manifest,
                )?;
                fault::point("recover.appended-moved");
                if tail_path.is_file() {
                    std::fs::remove_file(&tail_path)?;
                    removed_any = true;
                }
            }
        }
        drop(held);
    }
    // (The folder may be gone already: the last write finished above removed it.)
    if removed_any && qdir.join(REWRITE_DIR).is_dir() {
        fsync_dir(&qdir.join(REWRITE_DIR))?;
    }
    remove_rewrite_dir(qdir)?;
    fault::point("recover.finished");
    Ok(problems)
}

/// Opens QDIR's manifest (if there is one) and runs [`recover`]. For `quarantine`,
/// before it scans: an mbox left half-written must be whole before it is read.
pub fn recover_qdir(qdir: &Path, lock: &LockOptions) -> io::Result<Vec<Problem>> {
    if !qdir.join(crate::act::manifest::MANIFEST).is_file() {
        return Ok(Vec::new());
    }
    let mut m = Manifest::open(qdir)?;
    recover(qdir, &mut m, lock)
}

/// The tail file of a write id, for tests and messages.
pub fn tail_path(qdir: &Path, id: &str) -> PathBuf {
    qdir.join(REWRITE_DIR).join(format!("{id}.tail"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The whole file an edit gives.
    fn whole(old: &[u8], edit: &MboxEdit) -> Vec<u8> {
        let (first, tail) = edit.apply(old).expect("the edit fits");
        let mut v = old[..first].to_vec();
        v.extend_from_slice(&tail);
        v
    }

    fn change<'a>(old: &'a [u8], at: usize, len: usize, new: &[u8]) -> Change<'a> {
        Change::replace(old, at..at + len, new.to_vec()).expect("in range")
    }

    #[test]
    fn apply_and_invert() {
        let old = b"aaaa-REMOVE-bbbb-HDR-cccc";
        let edit = MboxEdit::new(vec![
            change(old, 16, 4, b"-HEADER"),
            Change::remove(old, 4..12).unwrap(),
        ])
        .unwrap();
        let (first, tail) = edit.apply(old).unwrap();
        assert_eq!(first, 4);
        assert_eq!(tail, b"bbbb-HEADER-cccc");
        let new = whole(old, &edit);
        let inv = edit.invert();
        assert_eq!(inv.changes()[0].offset, 4);
        assert_eq!(inv.changes()[1].offset, 8);
        assert_eq!(whole(&new, &inv), old);
        // The same edit as restore rebuilds it from a manifest record.
        let rec = MboxEdit::recorded(
            &[(4, 8, 0), (16, 4, 7)],
            vec![b"-REMOVE-".to_vec(), b"-HDR".to_vec()],
            &new,
        )
        .unwrap();
        assert_eq!(rec, edit);
    }

    #[test]
    fn bad_edits_are_refused() {
        let old = b"0123456789";
        assert_eq!(
            MboxEdit::new(vec![change(old, 2, 4, b""), change(old, 3, 1, b"")]),
            None,
            "overlapping"
        );
        assert_eq!(Change::remove(old, 8..12), None, "past the end");
        let edit = MboxEdit::new(vec![change(old, 2, 2, b"x")]).unwrap();
        assert_eq!(edit.apply(b"01ab456789"), None, "other bytes there");
        assert_eq!(edit.apply(b"012"), None, "too short");
        assert_eq!(
            MboxEdit::default().apply(old),
            Some((10, Vec::new())),
            "no change"
        );
        assert_eq!(
            MboxEdit::recorded(&[(2, 2, 5)], vec![b"23".to_vec()], b"01x"),
            None,
            "a replacement past the edited file's end"
        );
        assert_eq!(
            MboxEdit::recorded(&[(2, 2, 1)], vec![b"234".to_vec()], b"01x456789"),
            None,
            "an original of another length"
        );
    }

    /// A real mbox: From_ lines, `>From` quoting, a Status line and none, LF or CRLF.
    fn mbox(eol: &str) -> Vec<u8> {
        let text = "From alice@example.org Mon Jan  1 00:00:00 2024\n\
                    From: alice@example.org\nSubject: one\nStatus: O\n\n\
                    Hello.\n>From the quoted line.\n>>From twice.\n\n\
                    From bob@example.org Mon Jan  1 00:01:00 2024\n\
                    From: bob@example.org\nSubject: two\n\n\
                    >From here on.\nBye.\n\n\
                    From alice@example.org Mon Jan  1 00:02:00 2024\n\
                    From: alice@example.org\nSubject: one\nStatus: RO\nX-Status: A\n\n\
                    Hello.\n>From the quoted line.\n>>From twice.\n\n\
                    From carol@example.org Mon Jan  1 00:03:00 2024\n\
                    From: carol@example.org\nSubject: three\n\nLast.\n";
        text.replace('\n', eol).into_bytes()
    }

    /// What quarantine does to an mbox: the third entry (an extra copy) removed, the
    /// first (its kept copy) gaining its flags; restore's inverse gives back every byte,
    /// also when built from the manifest's record.
    #[test]
    fn invert_apply_is_identity_on_real_mbox_bytes() {
        for eol in ["\n", "\r\n"] {
            let old = mbox(eol);
            let entries = crate::store::mbox::split(&old).expect("an mbox");
            assert_eq!(entries.len(), 4, "{eol:?}");
            let kept = entries[0];
            let extra = entries[2];
            let hb = crate::identity::HeaderFacts::read(kept.message(&old), &mut Vec::new());
            let block = kept.message_start..kept.message_start + hb.body_start;
            let flags = crate::identity::Flags::from_maildir("RS");
            let new_block = crate::act::quarantine::with_status(&old[block.clone()], flags);
            assert_ne!(&new_block[..], &old[block.clone()]);
            let edit = MboxEdit::new(vec![
                Change::remove(&old, extra.offset..extra.end).unwrap(),
                Change::replace(&old, block.clone(), new_block).unwrap(),
            ])
            .unwrap();
            let new = whole(&old, &edit);
            assert_eq!(
                crate::store::mbox::split(&new).map(|e| e.len()),
                Some(3),
                "{eol:?}: one entry fewer"
            );
            assert!(memchr::memmem::find(&new, b">>From twice.").is_some());
            assert_eq!(whole(&new, &edit.invert()), old, "{eol:?}");
            let rec = MboxEdit::recorded(
                &edit
                    .changes()
                    .iter()
                    .map(|c| (c.offset, c.original.len(), c.replacement.len()))
                    .collect::<Vec<_>>(),
                edit.changes().iter().map(|c| c.original.to_vec()).collect(),
                &new,
            )
            .expect("the record fits");
            assert_eq!(whole(&new, &rec.invert()), old, "{eol:?}: from the record");
            // The extracted message, unquoted and quoted again, is the entry's message.
            let (msg, lines) = crate::store::mbox::unquote(extra.message(&old));
            assert!(!lines.is_empty(), "{eol:?}: >From lines unquoted");
            let mut entry = old[extra.offset..extra.message_start].to_vec();
            entry.extend_from_slice(&crate::store::mbox::requote(&msg, &lines));
            entry.extend_from_slice(&old[extra.message_end..extra.end]);
            assert_eq!(entry, &old[extra.offset..extra.end], "{eol:?}");
        }
    }

    fn state(old: &[u8], first: usize, tail: &[u8]) -> (String, String, Option<String>) {
        let post = first + tail.len();
        let common = old.len().min(post);
        (
            b3hex(&old[..first]),
            b3hex(&old[first..common]),
            (post < old.len()).then(|| b3hex(&old[post..])),
        )
    }

    /// Every state a killed write can leave, with mail appended after the kill: recovery
    /// finds where that mail begins.
    #[test]
    fn classify_finds_appended_mail() {
        let old = b"From a\nkeep\nFrom b\nremove me please\n".to_vec();
        let append = b"From c\nnew\n";
        for (first, tail) in [
            (12usize, b"".to_vec()),                                  // shrink
            (12, b"From b\nStatus: RO\nremove me please\n".to_vec()), // grow
            (12, b"From b\nREMOVE ME PLEASE\n".to_vec()),             // same size
        ] {
            let (p, m, j) = state(&old, first, &tail);
            let post = first + tail.len();
            let pre = old.len();
            let mut new = old[..first].to_vec();
            new.extend_from_slice(&tail);
            // Untouched, and finished.
            let mut states = vec![(old.clone(), pre), (new.clone(), post)];
            if post > pre {
                // Extended only.
                let mut ext = old.clone();
                ext.extend_from_slice(&tail[pre - first..]);
                states.push((ext, post));
            }
            if post < pre {
                // Copied, not truncated.
                let mut copied = new.clone();
                copied.extend_from_slice(&old[post..]);
                states.push((copied, pre));
            }
            for (s, from) in states {
                for extra in [&b""[..], append] {
                    let mut cur = s.clone();
                    cur.extend_from_slice(extra);
                    assert_eq!(
                        classify(&cur, first, pre, &tail, &p, &m, j.as_deref()),
                        State::Known {
                            appended_from: from
                        },
                        "first {first}, tail {:?}, state {:?}",
                        String::from_utf8_lossy(&tail),
                        String::from_utf8_lossy(&cur)
                    );
                }
            }
            let mut other = old.clone();
            other[0] = b'X';
            assert!(matches!(
                classify(&other, first, pre, &tail, &p, &m, j.as_deref()),
                State::Foreign(_)
            ));
            let mut other = old.clone();
            other[first] ^= 1;
            if first < pre.min(post) {
                assert!(matches!(
                    classify(&other, first, pre, &tail, &p, &m, j.as_deref()),
                    State::Foreign(_)
                ));
            }
        }
    }

    /// Old bytes and raw (offset, length, replacement) cuts.
    type Case = (Vec<u8>, Vec<(usize, usize, Vec<u8>)>);

    fn edits_strategy() -> impl Strategy<Value = Case> {
        proptest::collection::vec(any::<u8>(), 0..200).prop_flat_map(|old| {
            let n = old.len();
            let cuts = proptest::collection::vec(
                (
                    0..=n,
                    0..20usize,
                    proptest::collection::vec(any::<u8>(), 0..20),
                ),
                0..6,
            );
            (Just(old), cuts)
        })
    }

    proptest! {
        #[test]
        fn invert_undoes_apply((old, raw) in edits_strategy()) {
            // Sort and drop overlaps to get valid edits.
            let mut raw = raw;
            raw.sort_by_key(|r| r.0);
            let mut changes = Vec::new();
            let mut cursor = 0;
            for (off, len, rep) in &raw {
                let len = (*len).min(old.len() - off);
                if *off < cursor { continue; }
                changes.push(change(&old, *off, len, rep));
                cursor = off + len;
            }
            let edit = MboxEdit::new(changes).expect("no overlaps");
            let new = whole(&old, &edit);
            prop_assert_eq!(whole(&new, &edit.invert()), old.clone());
            let spans: Vec<(usize, usize, usize)> = edit
                .changes()
                .iter()
                .map(|c| (c.offset, c.original.len(), c.replacement.len()))
                .collect();
            let originals = edit.changes().iter().map(|c| c.original.to_vec()).collect();
            let rec = MboxEdit::recorded(&spans, originals, &new).expect("fits");
            prop_assert_eq!(whole(&new, &rec.invert()), old);
        }
    }
}
