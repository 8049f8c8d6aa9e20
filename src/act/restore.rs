//! Undoing quarantines: every quarantined copy goes back where it came from, byte for
//! byte, and every flag merge is undone. Records are undone newest first, so a second
//! quarantine into the same QDIR is undone before the first. Each undone record gets a
//! `restored` line, so a restore that was interrupted can simply be run again.

use crate::act::manifest::validate::quarantined_ok;
use crate::act::manifest::{read, Edit, Manifest, Record};
use crate::act::Problem;
use crate::fault;
use crate::fsutil::{fsync_dir, move_file, parent, rename_noreplace};
use crate::model::encode::{b3hex, unb64};
use crate::store::lock::{LockOptions, MboxLock};
use crate::store::maildir::MaildirName;
use crate::store::mbox::requote;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Default, Serialize)]
pub struct RestoreOutcome {
    pub restored: usize,
    pub flags_undone: usize,
    pub mboxes_restored: usize,
    /// Records found already undone (or never carried out by an interrupted run).
    pub already: usize,
    pub problems: Vec<Problem>,
    /// What a dry run would do, one line per action.
    pub actions: Vec<String>,
}

pub struct Restore {
    qdir: PathBuf,
    lock: LockOptions,
    dry_run: bool,
    manifest: Manifest,
    /// mboxes whose restore found no room for its tail, and why.
    deferred: HashMap<PathBuf, String>,
    /// The run lock on the stores the manifest names, held while restoring.
    _runlock: Option<crate::act::runlock::RunLock>,
    /// Per quarantined name: the maildir-move records that name it (id, source, line),
    /// and the ids already restored, to say where a copy missing from QDIR went.
    moves_by_name: HashMap<String, Vec<(String, PathBuf, usize)>>,
    restored_ids: HashSet<String>,
    pub outcome: RestoreOutcome,
}

/// A store a run recorded: its absolute path, and what it resolved to then.
#[derive(Clone)]
struct RecordedStore {
    path: PathBuf,
    canonical: PathBuf,
}

/// Does the store still resolve to where it did at quarantine time? A folder above it
/// swapped for a symlink since would make the store's path lead somewhere else. A store
/// that no longer exists is let through: nothing can be written into it, and the
/// record's own checks report it.
fn resolves_as_recorded(s: &RecordedStore) -> bool {
    match std::fs::canonicalize(&s.path) {
        Ok(now) => now == s.canonical,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// Is `p` absolute, free of `..`, and inside one of `stores`: for a Maildir record a file
/// in a store's `cur/` or `new/`, for an mbox record the mbox file itself?
fn allowed(p: &Path, stores: &[RecordedStore], maildir: bool) -> bool {
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return false;
    }
    // A target, its folder or its store replaced by a symlink since the quarantine must
    // not carry a restore elsewhere (discovery never follows symlinks, so none of them
    // was one when the record was written).
    let is_link = |q: &Path| std::fs::symlink_metadata(q).is_ok_and(|m| m.file_type().is_symlink());
    let folder = p.parent();
    let store = if maildir {
        folder.and_then(Path::parent)
    } else {
        None
    };
    if is_link(p) || folder.is_some_and(|f| maildir && is_link(f)) || store.is_some_and(is_link) {
        return false;
    }
    stores.iter().any(|s| {
        let inside = if maildir {
            p.parent().and_then(Path::parent) == Some(s.path.as_path())
                && p.parent()
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == "cur" || n == "new")
        } else {
            p == s.path
        };
        inside && resolves_as_recorded(s)
    })
}

/// QDIR's own folders and manifest must be what `quarantine` made: real folders and a
/// regular file, not symlinks planted to send restore's reads, deletes (of `QDIR/tmp`
/// leftovers, of restored copies) or manifest appends somewhere else.
fn check_qdir(qdir: &Path) -> io::Result<()> {
    let bad = |what: &Path, is: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: {is}: not a maildedup quarantine folder as it was made; nothing restored",
                what.display()
            ),
        )
    };
    for sub in ["cur", "new", "tmp", crate::act::mbox_edit::REWRITE_DIR] {
        let d = qdir.join(sub);
        match std::fs::symlink_metadata(&d) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => return Err(bad(&d, "a symbolic link")),
            Ok(_) => return Err(bad(&d, "not a folder")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let m = qdir.join(crate::act::manifest::MANIFEST);
    match std::fs::symlink_metadata(&m) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(bad(&m, "a symbolic link")),
        _ => {}
    }
    // The manifest says where restore writes. If someone other than the user running
    // restore could have written it (QDIR or the manifest owned by another user, or
    // writable by group or others), a root restore could be steered into any file.
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    for p in [qdir, m.as_path()] {
        let Ok(meta) = std::fs::metadata(p) else {
            continue;
        };
        if meta.uid() != me {
            return Err(bad(
                p,
                &format!(
                    "owned by uid {}, not by the user running restore (uid {me}); run restore as its owner",
                    meta.uid()
                ),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(bad(
                p,
                &format!(
                    "writable by group or others (mode {:o}), so the manifest may have been altered",
                    meta.mode() & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

/// Takes the run lock (`crate::act::runlock`) on every store the manifest's runs recorded that
/// still exists, so no other maildedup run changes them while they are restored.
fn lock_recorded_stores(
    records: &[Record],
    lock: &LockOptions,
) -> io::Result<crate::act::runlock::RunLock> {
    use crate::model::StoreKind;
    let mut stores: Vec<(PathBuf, StoreKind)> = Vec::new();
    for r in records {
        if let Record::Run { stores: s, .. } = r {
            for p in s {
                match std::fs::symlink_metadata(p) {
                    Ok(m) if m.is_dir() => stores.push((p.clone(), StoreKind::Maildir)),
                    Ok(m) if m.is_file() => stores.push((p.clone(), StoreKind::Mbox)),
                    _ => {}
                }
            }
        }
    }
    crate::act::runlock::RunLock::acquire(&stores, lock.timeout)
}

impl Restore {
    pub fn open(qdir: &Path, lock: LockOptions, dry_run: bool) -> io::Result<Restore> {
        check_qdir(qdir)?;
        if !qdir.join(crate::act::manifest::MANIFEST).is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{}: no {} here: not a maildedup quarantine folder",
                    qdir.display(),
                    crate::act::manifest::MANIFEST
                ),
            ));
        }
        Ok(Restore {
            qdir: qdir.to_path_buf(),
            lock,
            dry_run,
            manifest: Manifest::open(qdir)?,
            deferred: HashMap::new(),
            _runlock: None,
            moves_by_name: HashMap::new(),
            restored_ids: HashSet::new(),
            outcome: RestoreOutcome::default(),
        })
    }

    fn problem(&mut self, path: &Path, offset: Option<u64>, reason: impl Into<String>) {
        self.outcome.problems.push(Problem {
            path: path.to_string_lossy().into_owned(),
            offset,
            reason: reason.into(),
        });
    }

    /// A record whose target is outside the stores its run recorded: never carried out.
    fn refuse(&mut self, path: &Path, id: &str, what: &str) {
        self.problem(
            path,
            None,
            format!("record {id}: {what} outside the recorded stores; refused"),
        );
    }

    /// A record that does not hold together (see `manifest::validate`): never acted on.
    fn rejected(
        &mut self,
        loaded: &crate::act::manifest::validate::Loaded,
        i: usize,
        r: &Record,
        why: &str,
        restored: &HashSet<String>,
        handled: &mut HashSet<String>,
    ) {
        let line = loaded.lines.get(i).copied().unwrap_or(0);
        let (kind, id, kept) = match r {
            Record::Run { run, .. } => (
                "run",
                run.as_str(),
                "the records after it name no store restore may write into",
            ),
            Record::MaildirMove { id, .. } => {
                ("maildir-move", id.as_str(), "its copy stays in QDIR")
            }
            Record::MaildirFlags { id, .. } => {
                ("maildir-flags", id.as_str(), "the flags stay as they are")
            }
            Record::MboxExtract { id, .. } => {
                ("mbox-extract", id.as_str(), "its copy stays in QDIR")
            }
            Record::MboxRewrite { id, edits, .. } => {
                // Its extracted messages are not taken for extracts of an interrupted run.
                handled.extend(edits.iter().filter_map(|e| e.extract.clone()));
                (
                    "mbox-rewrite",
                    id.as_str(),
                    "the mbox stays as it is and the messages extracted from it stay in QDIR",
                )
            }
            // In-place writes are finished or abandoned by `mbox_edit::recover`, not here.
            Record::Restored { .. } | Record::MboxWrite { .. } | Record::MboxWriteDone { .. } => {
                return
            }
        };
        if restored.contains(id) {
            return;
        }
        let mpath = self.qdir.join(crate::act::manifest::MANIFEST);
        self.problem(
            &mpath,
            None,
            format!("line {line}: {kind} record {id} is invalid: {why}; refused ({kept})"),
        );
    }

    fn done(&mut self, id: &str) -> io::Result<()> {
        if !self.dry_run {
            match self
                .manifest
                .append(&Record::Restored { id: id.to_string() })
            {
                // QDIR's filesystem is full: restoring frees room there, and a record
                // left unmarked is found already undone by the next restore.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
                    ) =>
                {
                    Ok(())
                }
                r => r,
            }?;
        }
        Ok(())
    }

    pub fn run(&mut self) -> io::Result<()> {
        // An in-place mbox write a killed run left unfinished is finished first (keeping
        // mail appended since), so the records below meet each mbox whole.
        if !self.dry_run {
            // One run per store at a time: the stores the manifest names, before any write.
            let loaded = crate::act::manifest::validate::load(&self.qdir)?;
            self._runlock = Some(lock_recorded_stores(&loaded.records, &self.lock)?);
            let problems =
                crate::act::mbox_edit::recover(&self.qdir, &mut self.manifest, &self.lock)?;
            self.outcome.problems.extend(problems);
        }
        self.pass(None)?;
        // An mbox whose tail found no room in QDIR waits for the other records to free
        // some, then is tried again (its older records with it, in order).
        while !self.deferred.is_empty() {
            let waiting = std::mem::take(&mut self.deferred);
            let o = &self.outcome;
            let before = o.restored + o.flags_undone + o.mboxes_restored + o.already;
            self.pass(Some(&waiting))?;
            let o = &self.outcome;
            let after = o.restored + o.flags_undone + o.mboxes_restored + o.already;
            if after == before {
                let mut left: Vec<(PathBuf, String)> =
                    std::mem::take(&mut self.deferred).into_iter().collect();
                left.sort();
                for (mbox, e) in left {
                    self.problem(
                        &mbox,
                        None,
                        format!("not restored: {e}; its messages stay in QDIR: run restore again once there is room"),
                    );
                }
            }
        }
        if !self.dry_run {
            self.remove_leftovers()?;
        }
        Ok(())
    }

    /// One pass over the manifest, newest record first; with `only`, just the records of
    /// those mboxes.
    fn pass(&mut self, only: Option<&HashMap<PathBuf, String>>) -> io::Result<()> {
        let loaded = crate::act::manifest::validate::load(&self.qdir)?;
        if only.is_none() {
            let mpath = self.qdir.join(crate::act::manifest::MANIFEST);
            for (_, why) in &loaded.unreadable {
                self.problem(&mpath, None, why.clone());
            }
        }
        let records = &loaded.records;
        let skip = |mbox: &Path, deferred: &HashMap<PathBuf, String>| {
            deferred.contains_key(mbox) || only.is_some_and(|o| !o.contains_key(mbox))
        };
        let restored: HashSet<String> = records
            .iter()
            .filter_map(|r| match r {
                Record::Restored { id } => Some(id.clone()),
                _ => None,
            })
            .collect();
        for (r, line) in records.iter().zip(&loaded.lines) {
            if let Record::MaildirMove {
                id,
                source,
                quarantined,
                ..
            } = r
            {
                self.moves_by_name
                    .entry(quarantined.clone())
                    .or_default()
                    .push((id.clone(), source.clone(), *line));
            }
        }
        self.restored_ids = restored.clone();
        // The stores each record's run scanned.
        let mut stores_of: Vec<std::rc::Rc<Vec<RecordedStore>>> = Vec::with_capacity(records.len());
        let mut current = std::rc::Rc::new(Vec::new());
        for r in records {
            if let Record::Run {
                stores, canonical, ..
            } = r
            {
                if loaded.rejected[stores_of.len()].is_some() {
                    // A run record that does not hold together names no store restore
                    // may write into.
                    current = std::rc::Rc::new(Vec::new());
                    stores_of.push(current.clone());
                    continue;
                }
                current = std::rc::Rc::new(
                    stores
                        .iter()
                        .enumerate()
                        .map(|(i, s)| RecordedStore {
                            path: s.clone(),
                            canonical: canonical.get(i).unwrap_or(s).clone(),
                        })
                        .collect(),
                );
            }
            stores_of.push(current.clone());
        }
        let extracts: HashMap<&str, &Record> = records
            .iter()
            .filter_map(|r| match r {
                Record::MboxExtract { id, .. } => Some((id.as_str(), r)),
                _ => None,
            })
            .collect();
        let mut handled: HashSet<String> = HashSet::new();
        for (i, r) in records.iter().enumerate().rev() {
            let stores = &stores_of[i];
            if let Some(why) = &loaded.rejected[i] {
                // Said once, in the first pass; a pass for deferred mboxes only skips it.
                if only.is_none() {
                    self.rejected(&loaded, i, r, why, &restored, &mut handled);
                }
                continue;
            }
            match r {
                Record::MaildirMove { .. } | Record::MaildirFlags { .. } if only.is_some() => {}
                Record::MaildirMove {
                    id,
                    source,
                    quarantined,
                    file_b3,
                    ..
                } if !restored.contains(id) => {
                    if !allowed(source, stores, true) || !quarantined_ok(quarantined) {
                        self.refuse(source, id, "target");
                        continue;
                    }
                    self.maildir_move(id, source, quarantined, file_b3)?;
                }
                Record::MaildirFlags { id, old, new, .. } if !restored.contains(id) => {
                    if !allowed(old, stores, true) || !allowed(new, stores, true) {
                        self.refuse(old, id, "target");
                        continue;
                    }
                    self.maildir_flags(id, old, new)?;
                }
                Record::MboxRewrite {
                    id,
                    mbox,
                    pre_size,
                    pre_b3,
                    post_size,
                    post_b3,
                    edits,
                    ..
                } if !restored.contains(id) => {
                    let mut ex = Vec::new();
                    for e in edits {
                        if let Some(x) = &e.extract {
                            handled.insert(x.clone());
                            if let Some(r) = extracts.get(x.as_str()) {
                                ex.push(*r);
                            }
                        }
                    }
                    if skip(mbox, &self.deferred) {
                        continue;
                    }
                    if !allowed(mbox, stores, false) {
                        self.refuse(mbox, id, "mbox");
                        continue;
                    }
                    let rw = Rewrite {
                        mbox,
                        pre_size: *pre_size,
                        pre_b3,
                        post_size: *post_size,
                        post_b3,
                        edits,
                    };
                    self.mbox_rewrite(id, &rw, &ex, &restored)?;
                }
                Record::MboxRewrite { edits, .. } => {
                    handled.extend(edits.iter().filter_map(|e| e.extract.clone()));
                }
                Record::MboxExtract { id, mbox, .. }
                    if !restored.contains(id) && !handled.contains(id) =>
                {
                    if skip(mbox, &self.deferred) {
                        continue;
                    }
                    // Extracted, but the mbox was never rewritten (the run was interrupted).
                    if !allowed(mbox, stores, false) {
                        self.refuse(mbox, id, "mbox");
                        continue;
                    }
                    let line = loaded.lines.get(i).copied().unwrap_or(0);
                    let cut = loaded
                        .cut_after(line)
                        .filter(|c| c.target.as_deref().is_none_or(|t| t == mbox.as_path()));
                    self.orphan_extract(r, line, cut)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Removes the temporary copy of an mbox (`.NAME.maildedup-tmp`) that a quarantine
    /// killed before its rename left beside it, under the mbox's locks (a running
    /// quarantine into another QDIR writes that file only while it holds them).
    fn remove_leftovers(&mut self) -> io::Result<()> {
        let (records, _) = read(&self.qdir)?;
        let mut mboxes: Vec<&PathBuf> = records
            .iter()
            .flat_map(|r| match r {
                Record::Run { stores, .. } => stores.iter().collect(),
                _ => Vec::new(),
            })
            .filter(|s| s.is_file())
            .collect();
        mboxes.sort();
        mboxes.dedup();
        for mbox in mboxes {
            let tmp = crate::fsutil::sibling_tmp(mbox);
            if !tmp.is_file() {
                continue;
            }
            let Ok(lock) = MboxLock::acquire(mbox, &self.lock) else {
                continue;
            };
            if tmp.is_file() {
                std::fs::remove_file(&tmp)?;
                fsync_dir(parent(&tmp))?;
            }
            drop(lock);
        }
        // QDIR/tmp holds only copies a killed quarantine had not renamed into QDIR/cur yet;
        // their originals were never removed (that comes after the rename).
        if let Ok(rd) = std::fs::read_dir(self.qdir.join("tmp")) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_file()) {
                    std::fs::remove_file(e.path())?;
                }
            }
        }
        Ok(())
    }

    fn maildir_move(
        &mut self,
        id: &str,
        source: &Path,
        quarantined: &str,
        file_b3: &str,
    ) -> io::Result<()> {
        let q = self.qdir.join(quarantined);
        let q_exists = q.exists();
        let src_exists = source.exists();
        if self.dry_run {
            if q_exists && !src_exists {
                self.outcome
                    .actions
                    .push(format!("move {} -> {}", q.display(), source.display()));
                self.outcome.restored += 1;
            }
            return Ok(());
        }
        match (q_exists, src_exists) {
            (true, false) => {
                let data = match crate::fsutil::read_regular(&q) {
                    Ok(d) => d,
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                        // A symlink or FIFO planted in QDIR: never read through it, never
                        // moved into a store.
                        self.problem(&q, None, format!("{e}; refused, left in QDIR"));
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                };
                if b3hex(&data) != file_b3 {
                    self.problem(
                        &q,
                        None,
                        "quarantined file no longer matches the manifest; left in QDIR",
                    );
                    return Ok(());
                }
                let dir = parent(source);
                if !dir.is_dir() {
                    self.problem(source, None, "its folder no longer exists; left in QDIR");
                    return Ok(());
                }
                let name = source
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let tmp = dir.join(format!(".{name}.maildedup-restore"));
                move_file(&q, source, &tmp)?;
                self.outcome.restored += 1;
            }
            (true, true) => {
                if crate::fsutil::read_regular(source)
                    .map(|d| b3hex(&d) == file_b3)
                    .unwrap_or(false)
                {
                    // Back already (an interrupted cross-filesystem move): drop our copy.
                    std::fs::remove_file(&q)?;
                    fsync_dir(parent(&q))?;
                    self.outcome.already += 1;
                } else {
                    self.problem(
                        source,
                        None,
                        "a different file now has this name; the copy stays in QDIR",
                    );
                    return Ok(());
                }
            }
            (false, true) => self.outcome.already += 1,
            (false, false) => match self.missing_copy(id, source, quarantined, file_b3) {
                // Back in its store under another name (a mail client changed its flags
                // after an earlier restore, or moved it from new/ to cur/).
                Missing::BackInStore => self.outcome.already += 1,
                Missing::Elsewhere(why) => {
                    self.problem(source, None, why);
                    return Ok(());
                }
            },
        }
        self.done(id)
    }

    /// Where the copy of a maildir-move record went when it is neither in QDIR nor at its
    /// source: back in its store under another name, or moved back by another record, or
    /// (when nothing says) where it may be — never a bare "missing", which reads like loss.
    fn missing_copy(&self, id: &str, source: &Path, quarantined: &str, file_b3: &str) -> Missing {
        let name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let unique = MaildirName::parse(&name).unique.to_string();
        let mut same_unique = None;
        if let Some(store) = source.parent().and_then(Path::parent) {
            for sub in ["cur", "new"] {
                let Ok(rd) = std::fs::read_dir(store.join(sub)) else {
                    continue;
                };
                for e in rd.flatten() {
                    let n = e.file_name();
                    if MaildirName::parse(&n.to_string_lossy()).unique != unique {
                        continue;
                    }
                    let p = e.path();
                    if crate::fsutil::read_regular(&p).is_ok_and(|d| b3hex(&d) == file_b3) {
                        return Missing::BackInStore;
                    }
                    same_unique = Some(p);
                }
            }
        }
        let q = self.qdir.join(quarantined);
        let others: Vec<&(String, PathBuf, usize)> = self
            .moves_by_name
            .get(quarantined)
            .map(|v| v.iter().filter(|(o, _, _)| o != id).collect())
            .unwrap_or_default();
        if let Some((other, to, line)) = others
            .iter()
            .find(|(o, _, _)| self.restored_ids.contains(o))
        {
            return Missing::Elsewhere(format!(
                "not in QDIR: record {other} (manifest line {line}) quarantined the same file as {quarantined} and was restored already, which moved it back to {}; this record has nothing left to restore (nothing was lost)",
                to.display()
            ));
        }
        if let Some(p) = same_unique {
            return Missing::Elsewhere(format!(
                "not in QDIR ({}), and its store has a file with its unique name {unique} but other content ({}): the message is there, changed since by a mail client; nothing restored",
                q.display(),
                p.display()
            ));
        }
        Missing::Elsewhere(format!(
            "neither {} nor this file exists, and its store has no file with unique name {unique}: the move was never made here (its run stopped first, e.g. because another maildedup run moved this file into its own quarantine folder: look for {unique} there), or it was moved or deleted since by another program",
            q.display()
        ))
    }

    fn maildir_flags(&mut self, id: &str, old: &Path, new: &Path) -> io::Result<()> {
        if self.dry_run {
            if new.exists() && !old.exists() {
                self.outcome
                    .actions
                    .push(format!("rename {} -> {}", new.display(), old.display()));
                self.outcome.flags_undone += 1;
            }
            return Ok(());
        }
        match (new.exists(), old.exists()) {
            (true, false) => {
                rename_noreplace(new, old)?;
                fsync_dir(parent(old))?;
                fault::point("restore.flags");
                self.outcome.flags_undone += 1;
            }
            (false, true) => self.outcome.already += 1,
            (true, true) => {
                self.problem(
                    old,
                    None,
                    "both the flagged and the original name exist; left as they are",
                );
                return Ok(());
            }
            (false, false) => {
                let name = old
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let unique = MaildirName::parse(&name).unique.to_string();
                self.problem(
                    old,
                    None,
                    format!("renamed since by a mail client (unique name {unique}); its flags are left as they are now"),
                );
            }
        }
        self.done(id)
    }

    /// Rebuilds the entry an extract record describes from its quarantined file.
    fn rebuild_entry(&self, r: &Record) -> io::Result<Vec<u8>> {
        let Record::MboxExtract {
            from_line,
            separator,
            unquoted_lines,
            quarantined,
            entry_b3,
            ..
        } = r
        else {
            return Err(io::Error::other("not an extract record"));
        };
        if !quarantined_ok(quarantined) {
            return Err(io::Error::other("bad quarantined name"));
        }
        let msg = crate::fsutil::read_regular(&self.qdir.join(quarantined))?;
        let mut entry = unb64(from_line)?;
        entry.extend_from_slice(&requote(&msg, unquoted_lines));
        entry.extend_from_slice(&unb64(separator)?);
        if &b3hex(&entry) != entry_b3 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "rebuilt entry does not match the manifest",
            ));
        }
        Ok(entry)
    }

    fn remove_extracts(&mut self, ex: &[&Record]) -> io::Result<()> {
        for r in ex {
            if let Record::MboxExtract {
                id, quarantined, ..
            } = r
            {
                let q = self.qdir.join(quarantined);
                if q.exists() {
                    std::fs::remove_file(&q)?;
                }
                self.done(id)?;
            }
        }
        fsync_dir(&self.qdir.join("cur"))?;
        fault::point("restore.extracts-removed");
        Ok(())
    }

    fn mbox_rewrite(
        &mut self,
        id: &str,
        rw: &Rewrite,
        ex: &[&Record],
        restored: &HashSet<String>,
    ) -> io::Result<()> {
        let ex: Vec<&Record> = ex
            .iter()
            .copied()
            .filter(|r| matches!(r, Record::MboxExtract { id, .. } if !restored.contains(id)))
            .collect();
        if self.dry_run {
            self.outcome.actions.push(format!(
                "reinsert {} messages into {}",
                ex.len(),
                rw.mbox.display()
            ));
            self.outcome.restored += ex.len();
            return Ok(());
        }
        let lock = match MboxLock::acquire(rw.mbox, &self.lock) {
            Ok(l) => l,
            Err(e) => {
                self.problem(rw.mbox, None, format!("not restored: {e}"));
                return Ok(());
            }
        };
        let data = crate::act::mbox_edit::read_all(&lock.file)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", rw.mbox.display())))?;
        let cur: &[u8] = &data;
        let flag_edits = rw.edits.iter().filter(|e| e.original.is_some()).count();
        let prefix_is = |size: u64, b3: &str| {
            usize::try_from(size)
                .ok()
                .and_then(|n| cur.get(..n))
                .is_some_and(|p| b3hex(p) == b3)
        };
        // The file as it was before the quarantine comes first: when the removed messages
        // were at the end (or were all of it), the rewritten file is a prefix of the
        // original, and an mbox already put back would be taken for one still rewritten
        // and get those messages a second time.
        if !prefix_is(rw.pre_size, rw.pre_b3) && prefix_is(rw.post_size, rw.post_b3) {
            // Rebuild the file as it was before the quarantine, plus what arrived since.
            let mut rebuilt: HashMap<String, Vec<u8>> = HashMap::new();
            for r in &ex {
                if let Record::MboxExtract { id, .. } = r {
                    match self.rebuild_entry(r) {
                        Ok(e) => {
                            rebuilt.insert(id.clone(), e);
                        }
                        Err(e) => {
                            self.problem(
                                rw.mbox,
                                None,
                                format!("cannot restore: extract {id}: {e}"),
                            );
                            return Ok(());
                        }
                    }
                }
            }
            let mut originals: Vec<Vec<u8>> = Vec::new();
            for e in rw.edits {
                originals.push(match (&e.extract, &e.original) {
                    (Some(x), _) => match rebuilt.get(x) {
                        Some(b) => b.clone(),
                        None => {
                            self.problem(
                                rw.mbox,
                                None,
                                format!("cannot restore: extract {x} already undone elsewhere"),
                            );
                            return Ok(());
                        }
                    },
                    (None, Some(o)) => unb64(o)?,
                    (None, None) => Vec::new(),
                });
            }
            // The inverse of the quarantine's edits, in the rewritten file's offsets.
            let spans: Vec<(usize, usize, usize)> = rw
                .edits
                .iter()
                .map(|e| {
                    (
                        e.offset as usize,
                        e.length as usize,
                        e.replacement_len as usize,
                    )
                })
                .collect();
            let undo = crate::act::mbox_edit::inverse(&spans, &originals);
            let post = rw.post_size as usize;
            let Some((first, mut tail)) = crate::act::mbox_edit::splice_tail(&cur[..post], &undo)
            else {
                self.problem(
                    rw.mbox,
                    None,
                    "the manifest's edits do not fit the mbox; nothing changed",
                );
                return Ok(());
            };
            let mut h = blake3::Hasher::new();
            h.update(&cur[..first]);
            h.update(&tail);
            if (first + tail.len()) as u64 != rw.pre_size
                || h.finalize().to_hex().as_str() != rw.pre_b3
            {
                self.problem(
                    rw.mbox,
                    None,
                    "rebuilt mbox does not match the manifest; nothing changed",
                );
                return Ok(());
            }
            // What arrived since the quarantine stays behind it.
            tail.extend_from_slice(&cur[post..]);
            let wid = crate::act::mbox_edit::fresh_id("restore");
            match crate::act::mbox_edit::write_in_place(
                &self.qdir,
                &mut self.manifest,
                &lock.file,
                rw.mbox,
                &wid,
                id,
                None,
                cur,
                first,
                &tail,
            ) {
                Ok(()) => {}
                Err(crate::act::mbox_edit::WriteError::Untouched(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
                    ) =>
                {
                    // Nothing changed; QDIR (or the mbox's filesystem) is full.
                    self.deferred.insert(rw.mbox.to_path_buf(), e.to_string());
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
            fault::point("restore.mbox-written");
            drop(lock);
            self.outcome.restored += ex.len();
            self.outcome.flags_undone += flag_edits;
            self.outcome.mboxes_restored += 1;
            self.remove_extracts(&ex)?;
            self.done(id)
        } else if prefix_is(rw.pre_size, rw.pre_b3) {
            // Never rewritten (interrupted before the write) or restored already: every
            // extracted message is in the mbox, so our copies in QDIR can go.
            drop(lock);
            self.outcome.already += ex.len();
            self.remove_extracts(&ex)?;
            self.done(id)
        } else {
            self.problem(
                rw.mbox,
                None,
                "changed since the quarantine (not only appended to): its messages stay in QDIR",
            );
            Ok(())
        }
    }

    fn orphan_extract(
        &mut self,
        r: &Record,
        line: usize,
        cut: Option<&crate::act::manifest::validate::Cut>,
    ) -> io::Result<()> {
        let Record::MboxExtract {
            id,
            mbox,
            offset,
            length,
            entry_b3,
            quarantined,
            ..
        } = r
        else {
            return Ok(());
        };
        if self.dry_run {
            return Ok(());
        }
        let data = crate::fsutil::read_regular(mbox)?;
        let entry = usize::try_from(*offset)
            .ok()
            .zip(usize::try_from(*length).ok())
            .and_then(|(o, l)| data.get(o..o.checked_add(l)?));
        if entry.is_some_and(|e| &b3hex(e) == entry_b3) {
            let q = self.qdir.join(quarantined);
            if q.exists() {
                std::fs::remove_file(&q)?;
                fsync_dir(parent(&q))?;
            }
            self.outcome.already += 1;
            self.done(id)
        } else {
            let why = match cut {
                Some(c) => format!(
                    "{quarantined} (manifest line {line}) was extracted from here, and the mbox no longer holds it here, although the rewrite record that would follow (line {}) is incomplete, so that rewrite was never made: the mbox was changed since by another program (or the manifest was cut short after the rewrite). The message is safe in QDIR as {quarantined} (nothing lost); put it back by hand if the mbox lacks it",
                    c.line
                ),
                None => format!(
                    "{quarantined} (manifest line {line}) was extracted from here, and the mbox changed here since (no rewrite record names this extract); the message is safe in QDIR as {quarantined} (nothing lost)"
                ),
            };
            self.problem(mbox, Some(*offset), why);
            Ok(())
        }
    }
}

/// Where a copy missing from QDIR is.
enum Missing {
    /// Its store has these very bytes again, under another name.
    BackInStore,
    /// Elsewhere, or unknown: the problem to report.
    Elsewhere(String),
}

struct Rewrite<'a> {
    mbox: &'a Path,
    pre_size: u64,
    pre_b3: &'a str,
    post_size: u64,
    post_b3: &'a str,
    edits: &'a [Edit],
}
