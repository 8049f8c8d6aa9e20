//! Carrying out a plan: moving extra copies into the quarantine Maildir and merging flags
//! into kept copies, with a manifest line fsynced before every change.
//!
//! The work goes in batches (`crate::act::batch_limits`): a batch's records are appended
//! with one fsync, its new files made durable with one sync and each folder fsynced once
//! (docs/quarantine.md, "Batches"); no copy leaves its store before its batch is durable.
//! Maildir copies are moved as they are (rename on one filesystem; copy, sync, rename,
//! unlink across filesystems or mounts). mbox copies are extracted into QDIR, then the mbox
//! is rewritten without them in place (`crate::act::mbox_edit`: same file, same inode), all
//! under the mbox's dotlock and fcntl lock, after checking that what the scan saw is
//! still there.
//! Every flag merge is made before any copy that gives the flags leaves its store.

use crate::act::manifest::{Edit, KeptRef, Manifest, Record};
use crate::act::mbox_edit::{write_in_place, Change, InPlaceWrite, MboxEdit};
use crate::act::plan::Plan;
use crate::act::Problem;
use crate::fault;
use crate::fsutil::{
    fsync_dir, move_batch, parent, rename_noreplace, write_new, MoveItem, Moved, SyncBatch,
};
use crate::group::{Class, Grouping};
use crate::identity::header::line_at;
use crate::identity::{message_hash, Flags, HeaderFacts};
use crate::model::encode::hex;
use crate::model::encode::{b3hex, b64};
use crate::model::{Loc, MessageCopy, ScanOutput};
use crate::observe::Observer;
use crate::store::lock::{LockOptions, MboxLock};
use crate::store::maildir::MaildirName;
use crate::store::mbox;
use crate::store::mbox::unquote;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    pub moved: usize,
    pub moved_bytes: u64,
    pub same_time: usize,
    pub different_time: usize,
    pub flags_merged: usize,
    pub mboxes_rewritten: usize,
    /// Copies left in place because they changed since the scan, vanished, or their mbox
    /// could not be locked.
    pub left: Vec<Problem>,
}

pub struct Quarantine<'a> {
    pub scan: &'a ScanOutput,
    pub grouping: &'a Grouping,
    pub qdir: PathBuf,
    pub lock: LockOptions,
    run: String,
    seq: usize,
    manifest: Manifest,
    /// The run lock on the scanned stores (`crate::act::runlock`), held until the run ends.
    _runlock: crate::act::runlock::RunLock,
    /// Per mbox store: header edits an earlier rewrite in this run made, as (offset in
    /// the scanned file, change in length), to find the scanned entries again.
    shifts: BTreeMap<u32, Vec<(i64, i64)>>,
    pub outcome: Outcome,
    /// Told of the copies and bytes moved, and of the store being worked on.
    observer: Option<&'a dyn Observer>,
}

/// One Maildir file to move: (target in QDIR, source, temporary file in QDIR/tmp, class,
/// length).
type FileMove = (PathBuf, PathBuf, PathBuf, Class, u64);

/// What [`Quarantine::maildir_prepare`] found for a copy.
enum Prepared {
    /// Not moved (noted in `left`).
    Skip,
    /// Already in QDIR from an interrupted run: its source is to be removed.
    Earlier(Record, FileMove),
    /// To move.
    Move(Record, FileMove),
}

/// Creates QDIR (mode 0700) as a Maildir, if it does not exist yet.
pub fn create_qdir(qdir: &Path) -> io::Result<()> {
    for sub in ["", "cur", "new", "tmp"] {
        let d = qdir.join(sub);
        match std::fs::DirBuilder::new().mode(0o700).create(&d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", d.display()))),
        }
    }
    std::fs::set_permissions(qdir, std::fs::Permissions::from_mode(0o700))?;
    fsync_dir(qdir)?;
    if let Some(p) = qdir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(p)?;
    }
    Ok(())
}

fn abs(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A deterministic quarantine file name, so a re-run after a crash finds its own earlier
/// work: `<delivery time>.M<hash>.maildedup:2,<flags>`.
fn qname(c: &MessageCopy, identity: &[u8], flags: Flags) -> String {
    let h = blake3::hash(identity).to_hex();
    format!(
        "{}.M{}.maildedup:2,{}",
        c.delivered_at.unwrap_or(0).max(0),
        &h[..20],
        flags
    )
}

impl<'a> Quarantine<'a> {
    pub fn start(
        scan: &'a ScanOutput,
        grouping: &'a Grouping,
        qdir: &Path,
        lock: LockOptions,
    ) -> io::Result<Self> {
        Self::start_recording(scan, grouping, qdir, lock, &[])
    }

    /// [`Quarantine::start`], recording `command` (the command line that asked for the
    /// run) in the manifest's run record, for `restore --list`.
    pub fn start_recording(
        scan: &'a ScanOutput,
        grouping: &'a Grouping,
        qdir: &Path,
        lock: LockOptions,
        command: &[String],
    ) -> io::Result<Self> {
        // No other maildedup run may change these stores while this one does; taken
        // before anything is written (shared with a lock the caller took before the scan).
        let runlock = crate::act::runlock::RunLock::for_stores(&scan.stores, lock.timeout)?;
        create_qdir(qdir)?;
        let mut manifest = Manifest::open(qdir)?;
        let now = jiff::Timestamp::now();
        let run = format!("{}-{}", now.as_second(), std::process::id());
        manifest.append(&Record::Run {
            run: run.clone(),
            version: 1,
            started: now.to_string(),
            stores: scan.stores.iter().map(|s| abs(&s.path)).collect(),
            canonical: scan
                .stores
                .iter()
                .map(|s| std::fs::canonicalize(&s.path).unwrap_or_else(|_| abs(&s.path)))
                .collect(),
            command: command.to_vec(),
        })?;
        Ok(Quarantine {
            scan,
            grouping,
            qdir: qdir.to_path_buf(),
            lock,
            run,
            seq: 0,
            manifest,
            _runlock: runlock,
            shifts: BTreeMap::new(),
            outcome: Outcome::default(),
            observer: None,
        })
    }

    /// Reports progress (copies and bytes moved, the store being worked on) to `o`.
    pub fn observe(&mut self, o: &'a dyn Observer) {
        self.observer = Some(o);
    }

    fn next_id(&mut self) -> String {
        self.seq += 1;
        format!("{}-{}", self.run, self.seq)
    }

    fn left(&mut self, path: &Path, offset: Option<u64>, reason: impl Into<String>) {
        self.outcome.left.push(Problem {
            path: path.to_string_lossy().into_owned(),
            offset,
            reason: reason.into(),
        });
    }

    fn kept_ref(&self, kept: usize) -> KeptRef {
        let k = &self.scan.copies[kept];
        KeptRef {
            path: abs(&k.path(&self.scan.stores)),
            offset: k.offset(),
        }
    }

    /// Carries out the whole plan: Maildir flag merges and moves, then each mbox under
    /// its locks. A failure that risks mail (disk full, read-only folder) stops the run.
    pub fn run(&mut self, plan: &Plan) -> io::Result<()> {
        let stores = &self.scan.stores;
        let is_maildir = |c: usize| {
            stores[self.scan.copies[c].store as usize]
                .kind
                .file_per_message()
        };
        // Never leave a group without its kept copy: check every kept copy is still there,
        // unchanged, before moving anything.
        let mut kept_ok: std::collections::HashMap<usize, bool> = std::collections::HashMap::new();
        for m in &plan.moves {
            if !*kept_ok
                .entry(m.kept)
                .or_insert_with(|| self.verify_kept(m.kept))
            {
                let c = &self.scan.copies[m.copy];
                let p = c.path(stores);
                self.left(
                    &p,
                    c.offset(),
                    "the copy to keep vanished or changed since the scan: left in place",
                );
            }
        }
        // An mbox extra copy's flags (Status/X-Status, outside the content hash) made the
        // plan's flag merge: if they changed since the scan (the cache keeps an entry's old
        // flags when its mbox was edited in place at the same length and grew), its whole
        // group stays as it is, flag merge included.
        let mut stale: std::collections::HashSet<usize> = std::collections::HashSet::new();
        for m in &plan.moves {
            if !is_maildir(m.copy)
                && kept_ok.get(&m.kept) == Some(&true)
                && !stale.contains(&m.kept)
                && !self.mbox_flags_unchanged(m.copy)
            {
                stale.insert(m.kept);
            }
        }
        for m in plan.moves.iter().filter(|m| stale.contains(&m.kept)) {
            let c = &self.scan.copies[m.copy];
            let p = c.path(stores);
            self.left(
                &p,
                c.offset(),
                "changed since the scan (Status/X-Status flags of a copy in its group differ): left in place",
            );
        }
        for k in stale {
            kept_ok.insert(k, false);
        }
        let moves: Vec<&crate::act::plan::Move> = plan
            .moves
            .iter()
            .filter(|m| kept_ok.get(&m.kept) == Some(&true))
            .collect();
        if let Some(o) = self.observer {
            let bytes = moves.iter().map(|m| self.scan.copies[m.copy].length).sum();
            o.stage_bytes("quarantine", "copies", moves.len() as u64, bytes);
        }
        // Flags are merged only into kept copies that passed the check (their extra copies
        // stay, flags and all, otherwise).
        let flag_merges: Vec<&crate::act::plan::FlagMerge> = plan
            .flag_merges
            .iter()
            .filter(|f| kept_ok.get(&f.copy) == Some(&true))
            .collect();
        let file_flags: Vec<(usize, Flags)> = flag_merges
            .iter()
            .filter(|f| is_maildir(f.copy))
            .map(|f| (f.copy, f.add))
            .collect();
        self.maildir_flags_batched(&file_flags)?;
        // Kept mbox copies gain their flags before any copy that gives them leaves its
        // store: after a crash in between, the re-run no longer sees that copy and the
        // merge would be lost. An mbox whose own extra copies give flags to a kept copy in
        // another store is therefore rewritten twice: flags first, extra copies last.
        let scan = self.scan;
        let store_of = |c: usize| scan.copies[c].store;
        let merged: std::collections::HashSet<usize> = flag_merges
            .iter()
            .filter(|f| !is_maildir(f.copy))
            .map(|f| f.copy)
            .collect();
        // Per mbox: its extra copies and its kept copies that gain flags.
        let mut per_mbox: BTreeMap<
            u32,
            (
                Vec<&crate::act::plan::Move>,
                Vec<&crate::act::plan::FlagMerge>,
            ),
        > = BTreeMap::new();
        for m in moves.iter().filter(|m| !is_maildir(m.copy)) {
            per_mbox.entry(store_of(m.copy)).or_default().0.push(m);
        }
        for f in flag_merges.iter().filter(|f| !is_maildir(f.copy)) {
            per_mbox.entry(store_of(f.copy)).or_default().1.push(f);
        }
        let mut last: Vec<(u32, Vec<&crate::act::plan::Move>)> = Vec::new();
        for (store, (moves, flags)) in per_mbox {
            let gives_away = moves
                .iter()
                .any(|m| merged.contains(&m.kept) && store_of(m.kept) != store);
            if flags.is_empty() || gives_away {
                if !flags.is_empty() {
                    self.rewrite_mbox(store, &[], &flags)?;
                }
                last.push((store, moves));
            } else {
                self.rewrite_mbox(store, &moves, &flags)?;
            }
        }
        let file_moves: Vec<&crate::act::plan::Move> = moves
            .iter()
            .copied()
            .filter(|m| is_maildir(m.copy))
            .collect();
        self.maildir_moves(&file_moves)?;
        for (store, moves) in last.into_iter().filter(|(_, m)| !m.is_empty()) {
            self.rewrite_mbox(store, &moves, &[])?;
        }
        Ok(())
    }

    /// Is the kept copy still where the scan saw it (or renamed by a mail client), with the
    /// content the scan hashed, and not marked deleted since (a deleted copy is never the
    /// one kept: its group stays as it is until the next scan)?
    fn verify_kept(&self, kept: usize) -> bool {
        let c = &self.scan.copies[kept];
        let (bytes, deleted) = match c.loc {
            Loc::Eml { .. } => {
                let p = c.path(&self.scan.stores);
                (crate::fsutil::read_regular(&p).ok(), false)
            }
            Loc::Maildir { .. } => {
                let Some(p) = self.locate(c) else {
                    return false;
                };
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let deleted = Flags::from_maildir(MaildirName::parse(&name).flags).is_deleted();
                (crate::fsutil::read_regular(&p).ok(), deleted)
            }
            // Quarantine refuses IMAP stores before it starts: never kept here unverified.
            Loc::Imap { .. } => return false,
            Loc::Mbox { .. } => {
                let b = crate::store::read::message_bytes(c, &self.scan.stores).ok();
                let deleted = b
                    .as_deref()
                    .is_some_and(|b| HeaderFacts::read_facts(b).mbox_flags.is_deleted());
                (b, deleted)
            }
        };
        deleted == c.flags.is_deleted()
            && bytes.is_some_and(|b| Some(message_hash(&b, &mut Vec::new())) == c.content_hash())
    }

    /// Does an mbox copy still carry the flags the scan saw? (`true` when it can't be read
    /// here: the check under the mbox's lock decides then.)
    fn mbox_flags_unchanged(&self, copy: usize) -> bool {
        let c = &self.scan.copies[copy];
        crate::store::read::message_bytes(c, &self.scan.stores)
            .map(|b| HeaderFacts::read_facts(&b).mbox_flags == c.flags)
            .unwrap_or(true)
    }

    /// Finds a Maildir copy's file now: where the scan saw it, or, if a mail client has
    /// since renamed it (flags changed, or moved from new/ to cur/), by its unique name.
    fn locate(&self, c: &MessageCopy) -> Option<PathBuf> {
        let p = c.path(&self.scan.stores);
        if p.exists() {
            return Some(p);
        }
        let Loc::Maildir { name, .. } = &c.loc else {
            return None;
        };
        let name = name.to_string_lossy();
        let unique = MaildirName::parse(&name).unique.to_string();
        let store = &self.scan.stores[c.store as usize].path;
        for sub in ["cur", "new"] {
            let Ok(rd) = std::fs::read_dir(store.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                if MaildirName::parse(&e.file_name().to_string_lossy()).unique == unique {
                    return Some(e.path());
                }
            }
        }
        None
    }

    /// Merges flags into kept Maildir copies in batches: the batch's `maildir-flags`
    /// records appended with one fsync, then the renames, then one fsync per folder.
    fn maildir_flags_batched(&mut self, merges: &[(usize, Flags)]) -> io::Result<()> {
        let (max_n, _) = crate::act::batch_limits();
        for chunk in merges.chunks(max_n) {
            let mut records = Vec::new();
            let mut renames = Vec::new();
            for &(kept, add) in chunk {
                if let Some((record, old, new)) = self.maildir_flags(kept, add) {
                    records.push(record);
                    renames.push((old, new));
                }
            }
            self.manifest.append_all(&records)?;
            let mut dirs = Vec::new();
            for (old, new) in &renames {
                rename_noreplace(old, new)?;
                fault::point("maildir.flags");
                self.outcome.flags_merged += 1;
                dirs.push(parent(new).to_path_buf());
            }
            dirs.sort();
            dirs.dedup();
            for d in &dirs {
                fsync_dir(d)?;
            }
        }
        Ok(())
    }

    /// The record and the rename (old, new name) that give a kept Maildir copy the union
    /// of its flags and `add`; `None` when it has them already or vanished (noted).
    fn maildir_flags(&mut self, kept: usize, add: Flags) -> Option<(Record, PathBuf, PathBuf)> {
        let c = &self.scan.copies[kept];
        let Some(old) = self.locate(c) else {
            let p = c.path(&self.scan.stores);
            self.left(
                &p,
                None,
                "kept copy vanished before its flags could be merged",
            );
            return None;
        };
        let fname = old
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = MaildirName::parse(&fname);
        let have = Flags::from_maildir(name.flags);
        let union = have.union(add);
        if union == have {
            return None;
        }
        // Keep the lowercase keyword letters and any other info as they were. A name
        // that is not UTF-8 is rebuilt from its bytes, never from its lossy text.
        let new_name: std::ffi::OsString = match old.file_name().map(|n| n.to_str()) {
            Some(Some(_)) | None => name.with_flags(&union.to_string()).into(),
            Some(None) => {
                use std::os::unix::ffi::{OsStrExt, OsStringExt};
                let raw = old.file_name().map(|n| n.as_bytes()).unwrap_or_default();
                let cut = crate::store::maildir::info_start(raw).unwrap_or(raw.len());
                let mut b = raw[..cut].to_vec();
                b.push(raw.get(cut).copied().unwrap_or(b':'));
                b.extend_from_slice(b"2,");
                b.extend_from_slice(union.to_string().as_bytes());
                std::ffi::OsString::from_vec(b)
            }
        };
        let new = parent(&old).join(new_name);
        let record = Record::MaildirFlags {
            id: self.next_id(),
            old: abs(&old),
            new: abs(&new),
            added: Flags(union.0 & !have.0).to_string(),
        };
        Some((record, old, new))
    }

    /// Moves Maildir (and .eml) files into QDIR in batches: each batch's records are
    /// appended with one fsync before any of its files moves, then the files are moved
    /// together ([`move_batch`]: renames, or copies synced once, and each folder fsynced
    /// once per batch).
    fn maildir_moves(&mut self, moves: &[&crate::act::plan::Move]) -> io::Result<()> {
        let (max_n, max_bytes) = crate::act::batch_limits();
        let sizes: Vec<u64> = moves
            .iter()
            .map(|m| self.scan.copies[m.copy].length)
            .collect();
        for range in crate::act::batches(&sizes, max_n, max_bytes) {
            let mut records = Vec::new();
            let mut earlier = Vec::new();
            let mut pending = Vec::new();
            for m in &moves[range] {
                match self.maildir_prepare(m.copy, m.group, m.class, m.kept) {
                    Prepared::Skip => {}
                    Prepared::Earlier(record, f) => {
                        records.push(record);
                        earlier.push(f);
                    }
                    Prepared::Move(record, f) => {
                        records.push(record);
                        pending.push(f);
                    }
                }
            }
            if let Some((_, src, ..)) = pending.first().or(earlier.first()) {
                if let Some(o) = self.observer {
                    o.at(&parent(parent(src)).to_string_lossy());
                }
            }
            self.manifest.append_all(&records)?;
            fault::point("batch.recorded");
            // Copies an interrupted run had already put into QDIR: only the source goes.
            let mut dirs = Vec::new();
            for (_, src, _, class, len) in &earlier {
                std::fs::remove_file(src)?;
                fault::point("maildir.finished-earlier-move");
                dirs.push(parent(src).to_path_buf());
                self.count(*class, *len);
                self.advance(1, *len);
            }
            dirs.sort();
            dirs.dedup();
            for d in &dirs {
                fsync_dir(d)?;
            }
            let items: Vec<MoveItem> = pending
                .iter()
                .map(|(target, src, tmp, ..)| MoveItem {
                    from: src,
                    to: target,
                    tmp,
                })
                .collect();
            let res = move_batch(&items);
            let (mut n, mut bytes) = (0, 0);
            for ((_, src, _, class, len), done) in pending.iter().zip(&res.done) {
                match done {
                    Moved::Moved => {
                        self.count(*class, *len);
                        n += 1;
                        bytes += len;
                    }
                    // Deleted or renamed by another program since it was read: nothing
                    // was moved (restore finds this record's file back in its store, or
                    // says it is gone).
                    Moved::Vanished => self.left(
                        src,
                        None,
                        "vanished while being moved (renamed or deleted by another program): not moved",
                    ),
                }
            }
            self.advance(n, bytes);
            if let Some(e) = res.error {
                return Err(e);
            }
            fault::point("batch.done");
        }
        Ok(())
    }

    /// Reports progress to the observer, if there is one.
    fn advance(&self, n: u64, bytes: u64) {
        if let Some(o) = self.observer {
            o.advance_bytes(n, bytes);
        }
    }

    /// Checks one Maildir copy and builds its record: where it goes, or nothing (the
    /// reason noted in `left`).
    fn maildir_prepare(
        &mut self,
        copy: usize,
        group: usize,
        class: Class,
        kept: usize,
    ) -> Prepared {
        let c = &self.scan.copies[copy];
        let Some(src) = self.locate(c) else {
            let p = c.path(&self.scan.stores);
            self.left(&p, None, "vanished since the scan");
            return Prepared::Skip;
        };
        let data = match crate::fsutil::read_regular(&src) {
            Ok(d) => d,
            Err(e) => {
                self.left(&src, None, format!("cannot read: {e}"));
                return Prepared::Skip;
            }
        };
        if Some(message_hash(&data, &mut Vec::new())) != c.content_hash() {
            self.left(
                &src,
                None,
                "changed since the scan (content hash differs): left in place",
            );
            return Prepared::Skip;
        }
        let file_b3 = b3hex(&data);
        let src_abs = abs(&src);
        let mut identity = src_abs.as_os_str().as_encoded_bytes().to_vec();
        identity.extend_from_slice(file_b3.as_bytes());
        let flags = Flags::from_maildir(
            MaildirName::parse(
                &src.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
            .flags,
        );
        let name = qname(c, &identity, flags);
        let target = self.qdir.join("cur").join(&name);
        let g = &self.grouping.groups[group];
        let length = c.length;
        let record = Record::MaildirMove {
            id: self.next_id(),
            source: src_abs,
            quarantined: format!("cur/{name}"),
            file_b3: file_b3.clone(),
            content_hash: hex(&c.content_hash().unwrap_or(g.content_hash)),
            message_id: g.message_id.as_deref().map(String::from),
            group: hex(&g.content_hash),
            class: class.as_str().into(),
            kept: self.kept_ref(kept),
        };
        let tmp = self.qdir.join("tmp").join(&name);
        if target.exists() {
            // An interrupted run already put these exact bytes here (cross-filesystem
            // copy done, source not yet removed).
            if crate::fsutil::read_regular(&target)
                .map(|d| b3hex(&d) == file_b3)
                .unwrap_or(false)
            {
                return Prepared::Earlier(record, (target, src, tmp, class, length));
            }
            self.left(
                &src,
                None,
                format!("{} already exists with other content", target.display()),
            );
            return Prepared::Skip;
        }
        Prepared::Move(record, (target, src, tmp, class, length))
    }

    fn count(&mut self, class: Class, bytes: u64) {
        self.outcome.moved += 1;
        self.outcome.moved_bytes += bytes;
        match class {
            Class::SameTime => self.outcome.same_time += 1,
            Class::DifferentTime => self.outcome.different_time += 1,
        }
    }

    fn rewrite_mbox(
        &mut self,
        store: u32,
        moves: &[&crate::act::plan::Move],
        flags: &[&crate::act::plan::FlagMerge],
    ) -> io::Result<()> {
        let path = self.scan.stores[store as usize].path.clone();
        let lock = match MboxLock::acquire(&path, &self.lock) {
            Ok(l) => l,
            Err(e) => {
                for m in moves {
                    let off = self.scan.copies[m.copy].offset();
                    self.left(&path, off, format!("not moved: {e}"));
                }
                for f in flags {
                    let off = self.scan.copies[f.copy].offset();
                    self.left(&path, off, format!("flags not merged: {e}"));
                }
                return Ok(());
            }
        };
        fault::point("mbox.locked");
        // Read whole (with pread, not a map: the same open file is then written in place).
        let data = crate::act::mbox_edit::read_all(&lock.file)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let buf: &[u8] = &data;
        let entries = mbox::split(buf).unwrap_or_default();
        let shifts = self.shifts.get(&store).cloned().unwrap_or_default();
        let find = |c: &MessageCopy| -> Option<mbox::MboxEntry> {
            // Where an earlier rewrite in this run (merged flags) moved the entry.
            let off = c.offset()? as i64;
            let delta: i64 = shifts
                .iter()
                .filter(|(at, _)| *at < off)
                .map(|(_, d)| d)
                .sum();
            let off = (off + delta) as usize;
            let i = entries.binary_search_by_key(&off, |e| e.offset).ok()?;
            let e = entries[i];
            (e.len() as u64 == c.length
                && Some(message_hash(e.message(buf), &mut Vec::new())) == c.content_hash())
            .then_some(e)
        };
        // Check under the lock that every range involved is what the scan saw.
        let mut edits: Vec<(
            mbox::MboxEntry,
            Option<&crate::act::plan::Move>,
            Option<Flags>,
        )> = Vec::new();
        for m in moves {
            let c = &self.scan.copies[m.copy];
            match find(c) {
                // Its flags gave the plan's flag merge (and name its quarantine file): they
                // must be the ones the scan saw. (Status/X-Status are not in the content
                // hash; an mbox edited in place at the same length and grown since the
                // last run keeps the cache's old flags for that entry.)
                Some(e) if HeaderFacts::read_facts(e.message(buf)).mbox_flags != c.flags => self
                    .left(
                        &path,
                        c.offset(),
                        "changed since the scan (its Status/X-Status flags differ): left in place",
                    ),
                Some(e) => edits.push((e, Some(m), None)),
                None => self.left(&path, c.offset(), "changed since the scan: left in place"),
            }
        }
        for f in flags {
            let c = &self.scan.copies[f.copy];
            match find(c) {
                Some(e) => edits.push((e, None, Some(f.add))),
                None => self.left(
                    &path,
                    c.offset(),
                    "kept copy changed since the scan: flags not merged",
                ),
            }
        }
        if edits.is_empty() {
            return Ok(());
        }
        edits.sort_by_key(|(e, _, _)| e.offset);
        let mbox_abs = abs(&path);
        // 1. Extract every extra copy into QDIR, each announced in the manifest first.
        let mut manifest_edits = Vec::new();
        let mut changes: Vec<Option<Change>> = Vec::new();
        let mut flag_edits = 0;
        if let Some(o) = self.observer {
            o.at(&path.to_string_lossy());
        }
        let jobs: Vec<(mbox::MboxEntry, &crate::act::plan::Move)> = edits
            .iter()
            .filter_map(|(e, m, _)| m.map(|m| (*e, m)))
            .collect();
        let mut ids = self.extract_batched(&mbox_abs, buf, &jobs)?.into_iter();
        for (e, m, add) in &edits {
            if m.is_some() {
                let id = ids
                    .next()
                    .ok_or_else(|| io::Error::other("extract ids out of step (a bug)"))?;
                manifest_edits.push(Edit {
                    offset: e.offset as u64,
                    length: e.len() as u64,
                    replacement_len: 0,
                    extract: Some(id),
                    original: None,
                });
                changes.push(Change::remove(buf, e.offset..e.end));
            } else if let Some(add) = add {
                let start = e.message_start;
                let hb = HeaderFacts::read(e.message(buf), &mut Vec::new());
                let end = start + hb.body_start;
                let original = &buf[start..end];
                let new = with_status(original, *add);
                if new == original {
                    continue; // carries the flags already: no merge to make, nor to count
                }
                flag_edits += 1;
                manifest_edits.push(Edit {
                    offset: start as u64,
                    length: original.len() as u64,
                    replacement_len: new.len() as u64,
                    extract: None,
                    original: Some(b64(original)),
                });
                changes.push(Change::replace(buf, start..end, new));
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        // 2. The new bytes from the first change on, announced in the manifest, then
        //    written over the old ones in the same open file (its inode, mode and owner
        //    stay): a writer waiting for our lock appends to this file once we let go.
        let edit = changes
            .into_iter()
            .collect::<Option<Vec<Change>>>()
            .and_then(MboxEdit::new);
        let Some((first, tail)) = edit.as_ref().and_then(|e| e.apply(buf)) else {
            return Err(io::Error::other(format!(
                "{}: overlapping edits (a bug); nothing changed",
                path.display()
            )));
        };
        let post_size = (first + tail.len()) as u64;
        let mut h = blake3::Hasher::new();
        h.update(&buf[..first]);
        h.update(&tail);
        let post_b3 = h.finalize().to_hex().to_string();
        let id = self.next_id();
        self.manifest.append(&Record::MboxRewrite {
            id: id.clone(),
            mbox: mbox_abs.clone(),
            pre_size: buf.len() as u64,
            pre_b3: b3hex(buf),
            post_size,
            post_b3,
            edits: manifest_edits,
            in_place: true,
        })?;
        fault::point("mbox.rewrite-recorded");
        let wid = self.next_id();
        write_in_place(
            &InPlaceWrite {
                qdir: &self.qdir,
                file: &lock.file,
                mbox: &mbox_abs,
                id: &wid,
                of: &id,
                supersedes: None,
                cur: buf,
                first,
                tail: &tail,
            },
            &mut self.manifest,
        )?;
        let shifts = self.shifts.entry(store).or_default();
        shifts.extend(edit.iter().flat_map(MboxEdit::shifts));
        for (_, m, _) in &edits {
            if let Some(m) = m {
                self.count(m.class, self.scan.copies[m.copy].length);
            }
        }
        self.outcome.flags_merged += flag_edits;
        self.outcome.mboxes_rewritten += 1;
        drop(lock);
        Ok(())
    }

    /// Writes an mbox's extra copies into QDIR (From_ line removed, `>From` quoting
    /// undone) in batches, and records them. Per batch: the records, appended with one
    /// fsync; the files, written to QDIR/tmp unsynced; one sync of them all
    /// ([`SyncBatch`]); their renames into QDIR/cur (never replacing) and one fsync of
    /// QDIR/cur. The mbox itself changes only after every batch is durable. Returns the
    /// record ids, in the order of `jobs`.
    fn extract_batched(
        &mut self,
        mbox_abs: &Path,
        buf: &[u8],
        jobs: &[(mbox::MboxEntry, &crate::act::plan::Move)],
    ) -> io::Result<Vec<String>> {
        let (max_n, max_bytes) = crate::act::batch_limits();
        let sizes: Vec<u64> = jobs.iter().map(|(e, _)| e.len() as u64).collect();
        let mut ids = Vec::with_capacity(jobs.len());
        let (cur, tmpdir) = (self.qdir.join("cur"), self.qdir.join("tmp"));
        for range in crate::act::batches(&sizes, max_n, max_bytes) {
            let mut records = Vec::new();
            let mut files = Vec::new();
            let mut bytes = 0;
            for (e, m) in &jobs[range] {
                let (record, id, name, msg) = self.extract_record(mbox_abs, buf, e, m);
                records.push(record);
                ids.push(id);
                files.push((name, msg));
                bytes += e.len() as u64;
            }
            self.manifest.append_all(&records)?;
            let mut sync = SyncBatch::default();
            sync.watch(&tmpdir)?;
            let mut written: Vec<&str> = Vec::new();
            let r = (|| -> io::Result<()> {
                for (name, msg) in &files {
                    let target = cur.join(name);
                    if target.exists()
                        && crate::fsutil::read_regular(&target)
                            .map(|d| d == *msg)
                            .unwrap_or(false)
                    {
                        continue; // written by an interrupted earlier run
                    }
                    let tmp = tmpdir.join(name);
                    if tmp.exists() {
                        std::fs::remove_file(&tmp)?;
                    }
                    write_new(&tmp, msg, 0o600)?;
                    written.push(name);
                    sync.written(&tmp);
                    fault::point("mbox.extract-written");
                }
                sync.sync()
            })();
            if let Err(e) = r {
                // Our own unsynced files; their messages are still in the mbox.
                for name in &written {
                    let _ = std::fs::remove_file(tmpdir.join(name));
                }
                return Err(e);
            }
            // Renamed (never replacing), so a crash leaves no copy behind in QDIR/tmp.
            for name in &written {
                rename_noreplace(&tmpdir.join(name), &cur.join(name))?;
                fault::point("mbox.extract-linked");
            }
            if !written.is_empty() {
                fsync_dir(&cur)?;
            }
            fault::point("batch.done");
            self.advance(records.len() as u64, bytes);
        }
        Ok(ids)
    }

    /// The record of one mbox message to extract, its id, its name in QDIR and its bytes
    /// there.
    fn extract_record(
        &mut self,
        mbox_abs: &Path,
        buf: &[u8],
        e: &mbox::MboxEntry,
        m: &crate::act::plan::Move,
    ) -> (Record, String, String, Vec<u8>) {
        let c = &self.scan.copies[m.copy];
        let (msg, unquoted) = unquote(e.message(buf));
        let entry = &buf[e.offset..e.end];
        let entry_b3 = b3hex(entry);
        let mut identity = mbox_abs.as_os_str().as_encoded_bytes().to_vec();
        identity.extend_from_slice(format!("@{}:{entry_b3}", e.offset).as_bytes());
        let name = qname(c, &identity, c.flags);
        let g = &self.grouping.groups[m.group];
        let id = self.next_id();
        let record = Record::MboxExtract {
            id: id.clone(),
            mbox: mbox_abs.to_path_buf(),
            offset: e.offset as u64,
            length: e.len() as u64,
            entry_b3,
            from_line: b64(&buf[e.offset..e.message_start]),
            separator: b64(&buf[e.message_end..e.end]),
            unquoted_lines: unquoted,
            quarantined: format!("cur/{name}"),
            content_hash: hex(&g.content_hash),
            message_id: g.message_id.as_deref().map(String::from),
            group: hex(&g.content_hash),
            class: m.class.as_str().into(),
            kept: self.kept_ref(m.kept),
        };
        (record, id, name, msg)
    }
}

/// The header block with `Status:`/`X-Status:` carrying `add` as well (Seen → `R` in
/// Status; Replied → `A`, Flagged → `F` in X-Status). Missing fields are added before the
/// blank line.
///
/// A Thunderbird message (one with a hex `X-Mozilla-Status:`) gets the flags there
/// instead, the way Thunderbird reads them: Read, Replied and Marked are ORed into the
/// value in place, at its width and letter case (Thunderbird rewrites this field in place
/// too), and nothing else of the block changes. A deleted mark is never added.
pub fn with_status(block: &[u8], add: Flags) -> Vec<u8> {
    if let Some(out) = with_mozilla_status(block, add) {
        return out;
    }
    let eol: &[u8] = if memchr::memmem::find(block, b"\r\n").is_some() {
        b"\r\n"
    } else {
        b"\n"
    };
    let has = |c: u8| {
        let mut f = Flags::default();
        f.insert(c);
        add.contains_all(f)
    };
    let mut status_add = Vec::new();
    if has(b'S') {
        status_add.push(b'R');
    }
    let mut xstatus_add = Vec::new();
    if has(b'R') {
        xstatus_add.push(b'A');
    }
    if has(b'F') {
        xstatus_add.push(b'F');
    }
    let mut out = Vec::with_capacity(block.len() + 32);
    let (mut seen_status, mut seen_x) = (false, false);
    let mut pos = 0;
    let mut blank_at = block.len();
    while pos < block.len() {
        let (end, next) = line_at(block, pos);
        let line = &block[pos..end];
        if line.is_empty() {
            blank_at = pos;
            break;
        }
        let merge = |name_len: usize, adds: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(&line[..name_len]);
            let value = &line[name_len..];
            out.extend_from_slice(value);
            for &a in adds {
                if !value.contains(&a) {
                    out.push(a);
                }
            }
            out.extend_from_slice(&block[end..next]);
        };
        if line.len() >= 7 && line[..7].eq_ignore_ascii_case(b"Status:") {
            seen_status = true;
            merge(7, &status_add, &mut out);
        } else if line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"X-Status:") {
            seen_x = true;
            merge(9, &xstatus_add, &mut out);
        } else {
            out.extend_from_slice(&block[pos..next]);
        }
        pos = next;
    }
    if !seen_status && !status_add.is_empty() {
        out.extend_from_slice(b"Status: ");
        out.extend_from_slice(&status_add);
        out.extend_from_slice(eol);
    }
    if !seen_x && !xstatus_add.is_empty() {
        out.extend_from_slice(b"X-Status: ");
        out.extend_from_slice(&xstatus_add);
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(&block[blank_at..]);
    out
}

/// [`with_status`] for a block with a hex `X-Mozilla-Status:` field (`None` without one).
fn with_mozilla_status(block: &[u8], add: Flags) -> Option<Vec<u8>> {
    use crate::identity::mozilla;
    const NAME: &[u8] = b"X-Mozilla-Status:";
    let has = |c: u8| {
        let mut f = Flags::default();
        f.insert(c);
        add.contains_all(f)
    };
    let mut bits = 0u32;
    for (c, bit) in [
        (b'S', mozilla::READ),
        (b'R', mozilla::REPLIED),
        (b'F', mozilla::MARKED),
    ] {
        if has(c) {
            bits |= bit;
        }
    }
    let mut pos = 0;
    while pos < block.len() {
        let (end, next) = line_at(block, pos);
        let line = &block[pos..end];
        if line.is_empty() {
            break;
        }
        if line.len() > NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME) {
            let value = &line[NAME.len()..];
            // The hex digits: the value without its surrounding blanks.
            let first = value.iter().position(|b| !matches!(b, b' ' | b'\t'))?;
            let last = value.iter().rposition(|b| !matches!(b, b' ' | b'\t'))? + 1;
            let digits = &value[first..last];
            let old = mozilla::parse(digits)?;
            let new = old | bits;
            // Read, Replied and Marked are the low three bits: the new value fits in as
            // many hex digits as the old one had.
            let upper = digits.iter().any(|b| b.is_ascii_uppercase());
            let text = if upper {
                format!("{new:0width$X}", width = digits.len())
            } else {
                format!("{new:0width$x}", width = digits.len())
            };
            if text.len() != digits.len() {
                return None;
            }
            let at = pos + NAME.len() + first;
            let mut out = block.to_vec();
            out[at..at + digits.len()].copy_from_slice(text.as_bytes());
            return Some(out);
        }
        pos = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mbox::requote;

    #[test]
    fn unquote_requote_round_trip() {
        let m = b"A: b\n\n>From x\n>>From y\nFrom z\n>Fromage\n";
        let (u, lines) = unquote(m);
        assert_eq!(u, b"A: b\n\nFrom x\n>From y\nFrom z\n>Fromage\n");
        assert_eq!(lines, vec![2, 3]);
        assert_eq!(requote(&u, &lines), m);
    }

    #[test]
    fn status_headers_gain_flags() {
        let mut add = Flags::default();
        add.insert(b'S');
        add.insert(b'F');
        assert_eq!(
            with_status(b"A: b\nStatus: O\n\n", add),
            b"A: b\nStatus: OR\nX-Status: F\n\n"
        );
        assert_eq!(
            with_status(b"A: b\r\n\r\n", add),
            b"A: b\r\nStatus: R\r\nX-Status: F\r\n\r\n"
        );
    }

    #[test]
    fn thunderbird_status_gains_flags_in_place() {
        let flags = |s: &str| Flags::from_maildir(s);
        let block = b"X-Mozilla-Status: 0000\nX-Mozilla-Status2: 00000000\nA: b\n\n";
        let out = with_status(block, flags("S"));
        assert_eq!(
            out,
            b"X-Mozilla-Status: 0001\nX-Mozilla-Status2: 00000000\nA: b\n\n"
        );
        assert_eq!(out.len(), block.len(), "the field keeps its width");
        // ORed into what is there (0x1000 forwarded, 0x0008 kept), letter case kept.
        assert_eq!(
            with_status(b"X-Mozilla-Status: 100A\r\n\r\n", flags("FRS")),
            b"X-Mozilla-Status: 100F\r\n\r\n"
        );
        assert_eq!(
            with_status(b"x-mozilla-status:  a008 \n\n", flags("F")),
            b"x-mozilla-status:  a00c \n\n"
        );
        // Never a deleted mark, and nothing for flags Thunderbird has no bit for here.
        assert_eq!(
            with_status(b"X-Mozilla-Status: 0001\n\n", flags("DST")),
            b"X-Mozilla-Status: 0001\n\n"
        );
        // Not hex: the Status/X-Status fields instead.
        assert_eq!(
            with_status(b"X-Mozilla-Status: junk\n\n", flags("S")),
            b"X-Mozilla-Status: junk\nStatus: R\n\n"
        );
    }
}
