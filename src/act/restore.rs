//! Undoing quarantines: every quarantined copy goes back where it came from, byte for
//! byte, and every flag merge is undone. Records are undone newest first, so a second
//! quarantine into the same QDIR is undone before the first. Each undone record gets a
//! `restored` line, so a restore that was interrupted can simply be run again.
//!
//! A restore is planned first: [`Restore::plan`] reads the manifest and checks the disk
//! (read only) to make a [`RestorePlan`], the list of undo [`Step`]s in the order they run
//! (each judged on the files as the steps before it leave them). `--dry-run` reports that
//! plan ([`RestorePlan::outcome`]); a real run carries out exactly its steps, checking each
//! again just before it (under the mbox's locks for an mbox), so both count the same.

use crate::act::manifest::validate::quarantined_ok;
use crate::act::manifest::{read, Edit, Manifest, Record};
use crate::act::mbox_edit::{write_in_place, InPlaceWrite, MboxEdit};
use crate::act::Problem;
use crate::fault;
use crate::fsutil::{fsync_dir, move_batch, move_file, parent, rename_noreplace, MoveItem, Moved};
use crate::model::encode::{b3hex, unb64};
use crate::observe::Observer;
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
    /// Which records are undone ([`Restore::aim_at`]); everything by default.
    aim: crate::act::aim::Aim,
    pub outcome: RestoreOutcome,
    /// Told of the copies and bytes put back, and of the store being worked on.
    observer: Option<Box<dyn Observer>>,
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
    // A moved .eml file goes back into its eml store: that folder (never a Maildir's own
    // folder), or the one file the store was.
    let eml = maildir
        && p.file_name()
            .is_some_and(|n| crate::store::discover::is_eml_name(&n.to_string_lossy()));
    stores.iter().any(|s| {
        let inside = if maildir {
            let in_maildir = p.parent().and_then(Path::parent) == Some(s.path.as_path())
                && p.parent()
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == "cur" || n == "new");
            let in_eml = eml
                && (p == s.path
                    || (p.parent() == Some(s.path.as_path())
                        && !crate::store::discover::is_maildir(&s.path)));
            in_maildir || in_eml
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

/// A problem with `path`.
fn problem(path: &Path, offset: Option<u64>, reason: impl Into<String>) -> Problem {
    Problem {
        path: path.to_string_lossy().into_owned(),
        offset,
        reason: reason.into(),
    }
}

/// A record whose target is outside the stores its run recorded: never carried out.
fn refusal(path: &Path, id: &str, what: &str) -> Problem {
    problem(
        path,
        None,
        format!("record {id}: {what} outside the recorded stores; refused"),
    )
}

/// What a maildir-move record names.
#[derive(Debug, Clone)]
pub struct MoveRec {
    pub id: String,
    pub source: PathBuf,
    pub quarantined: String,
    pub file_b3: String,
}

/// What a maildir-flags record names: the rename `old` → `new` it undoes.
#[derive(Debug, Clone)]
pub struct FlagsRec {
    pub id: String,
    pub old: PathBuf,
    pub new: PathBuf,
}

/// An mbox-rewrite record and the extract records it carried out that are not restored
/// yet: undone together, in one in-place write of the mbox.
#[derive(Debug, Clone)]
pub struct MboxUndo {
    pub id: String,
    pub mbox: PathBuf,
    pub pre_size: u64,
    pub pre_b3: String,
    pub post_size: u64,
    pub post_b3: String,
    pub edits: Vec<Edit>,
    /// The mbox-extract records whose messages go back.
    pub extracts: Vec<Record>,
}

impl MboxUndo {
    /// Header edits (flag merges) the rewrite made, undone with it.
    pub fn flag_edits(&self) -> usize {
        self.edits.iter().filter(|e| e.original.is_some()).count()
    }
}

/// An extract record whose mbox was never rewritten (its run was interrupted).
#[derive(Debug, Clone)]
pub struct OrphanRec {
    pub id: String,
    pub mbox: PathBuf,
    pub offset: u64,
    pub length: u64,
    pub entry_b3: String,
    pub quarantined: String,
    /// Its manifest line, and that of the cut-off rewrite record after it, if any.
    pub line: usize,
    pub cut_line: Option<usize>,
}

/// One undo step of a restore, in the order a restore carries them out (newest record
/// first). Each names what it finds on disk when planned; a real run checks that again
/// just before the step (the files may have changed meanwhile) and does what it finds.
#[derive(Debug, Clone)]
pub enum Step {
    /// Move the quarantined Maildir file back to its source.
    PutBack(MoveRec),
    /// The source holds these very bytes again: the copy in QDIR goes.
    DropCopy(MoveRec),
    /// Back already (its copy gone from QDIR): only marked restored.
    MoveAlready(MoveRec),
    /// Rename the flagged name back to the original one.
    UndoFlags(FlagsRec),
    /// The original name is there already: only marked restored.
    FlagsAlready(FlagsRec),
    /// Re-insert the extracted messages into the mbox and revert its header edits.
    Reinsert(MboxUndo),
    /// The mbox is as it was before the quarantine: the copies in QDIR go.
    MboxAlready(MboxUndo),
    /// An orphan extract still in its mbox: the copy in QDIR goes.
    DropOrphan(OrphanRec),
    /// Nothing to do: this is reported (`mbox`: the mbox the record concerns, if any).
    Problem {
        mbox: Option<PathBuf>,
        problem: Problem,
    },
    /// The mbox could not be read when planned: reported as `problem`; a real run tries
    /// again under its locks.
    MboxUnread { undo: MboxUndo, problem: Problem },
    /// Planning this record met an error that stops a restore (the last step of a plan):
    /// a dry run reports it, a real run tries `retry` again and stops if it fails again.
    Stop {
        retry: Box<Step>,
        kind: io::ErrorKind,
        error: String,
    },
}

impl Step {
    /// The mbox a step changes or concerns.
    fn mbox(&self) -> Option<&Path> {
        match self {
            Step::Reinsert(u) | Step::MboxAlready(u) => Some(&u.mbox),
            Step::MboxUnread { undo, .. } => Some(&undo.mbox),
            Step::DropOrphan(o) => Some(&o.mbox),
            Step::Problem { mbox, .. } => mbox.as_deref(),
            Step::Stop { retry, .. } => retry.mbox(),
            _ => None,
        }
    }
}

/// What the manifest says beyond its records, for messages about a copy missing from
/// QDIR: per quarantined name the maildir-move records naming it (id, source, line), and
/// the ids restored already.
#[derive(Debug, Default, Clone)]
struct Context {
    moves_by_name: HashMap<String, Vec<(String, PathBuf, usize)>>,
    restored_ids: HashSet<String>,
}

/// The undo steps of a restore, in order.
#[derive(Debug, Default, Clone)]
pub struct RestorePlan {
    pub steps: Vec<Step>,
    /// QDIR, the folder the quarantined names are in.
    pub qdir: PathBuf,
    ctx: Context,
}

impl RestorePlan {
    /// What carrying the plan out does, counted: a dry run's outcome, with one action
    /// line per change.
    pub fn outcome(&self) -> RestoreOutcome {
        let mut o = RestoreOutcome::default();
        for s in &self.steps {
            match s {
                Step::PutBack(m) => {
                    o.actions.push(format!(
                        "move {} -> {}",
                        self.qdir.join(&m.quarantined).display(),
                        m.source.display()
                    ));
                    o.restored += 1;
                }
                Step::UndoFlags(f) => {
                    o.actions
                        .push(format!("rename {} -> {}", f.new.display(), f.old.display()));
                    o.flags_undone += 1;
                }
                Step::Reinsert(u) => {
                    o.actions.push(format!(
                        "reinsert {} messages into {}",
                        u.extracts.len(),
                        u.mbox.display()
                    ));
                    o.restored += u.extracts.len();
                    o.flags_undone += u.flag_edits();
                    o.mboxes_restored += 1;
                }
                Step::DropCopy(_)
                | Step::MoveAlready(_)
                | Step::FlagsAlready(_)
                | Step::DropOrphan(_) => o.already += 1,
                Step::MboxAlready(u) => o.already += u.extracts.len(),
                Step::Problem { problem, .. } | Step::MboxUnread { problem, .. } => {
                    o.problems.push(problem.clone())
                }
                Step::Stop { .. } => {}
            }
        }
        o
    }

    /// The error that stops the plan short, if planning met one.
    pub fn stopped(&self) -> Option<io::Error> {
        match self.steps.last() {
            Some(Step::Stop { kind, error, .. }) => Some(io::Error::new(*kind, error.clone())),
            _ => None,
        }
    }

    /// Ends the plan with a step whose planning met `e`.
    fn stop(mut self, retry: Step, e: io::Error) -> RestorePlan {
        self.steps.push(Step::Stop {
            retry: Box::new(retry),
            kind: e.kind(),
            error: e.to_string(),
        });
        self
    }
}

/// The files as the plan leaves them, step by step: planning reads through it, so a
/// step is judged on what the steps before it leave (a newer run's undo of an mbox comes
/// before the older run's). Empty, it is the disk as it is.
#[derive(Default)]
struct Sim {
    /// Path → its content after the steps so far (`None`: gone).
    files: HashMap<PathBuf, Option<std::rc::Rc<Vec<u8>>>>,
}

impl Sim {
    fn exists(&self, p: &Path) -> bool {
        match self.files.get(p) {
            Some(f) => f.is_some(),
            None => p.exists(),
        }
    }

    fn read(&self, p: &Path) -> io::Result<Vec<u8>> {
        match self.files.get(p) {
            Some(Some(d)) => Ok(d.to_vec()),
            Some(None) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: gone by an earlier step", p.display()),
            )),
            None => crate::fsutil::read_regular(p),
        }
    }

    fn remove(&mut self, p: &Path) {
        self.files.insert(p.to_path_buf(), None);
    }

    fn put(&mut self, p: &Path, data: Vec<u8>) {
        self.files
            .insert(p.to_path_buf(), Some(std::rc::Rc::new(data)));
    }

    /// The files in `dir` after the steps so far.
    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| !matches!(self.files.get(p), Some(None)))
                    .collect()
            })
            .unwrap_or_default();
        for (p, f) in &self.files {
            if f.is_some() && p.parent() == Some(dir) && !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
    }
}

/// What an mbox holds, judged against the rewrite record that would be undone.
enum MboxVerdict {
    /// Rewritten as recorded (maybe with mail appended since): the bytes from `first` on
    /// that put it back as it was, appended mail behind.
    Reinsert { first: usize, tail: Vec<u8> },
    /// As it was before the quarantine: nothing to write.
    Whole,
    /// Neither: why nothing is done.
    Problem(String),
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
            aim: crate::act::aim::Aim::default(),
            outcome: RestoreOutcome::default(),
            observer: None,
        })
    }

    /// Limits this restore to the records `aim` names (`restore --run/--store/
    /// --message-id`); `last` among its runs becomes the newest run. Fails, changing
    /// nothing, on a run id the manifest does not hold.
    pub fn aim_at(&mut self, mut aim: crate::act::aim::Aim) -> io::Result<()> {
        let loaded = crate::act::manifest::validate::load(&self.qdir)?;
        let runs: Vec<&str> = loaded
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Run { run, .. } => Some(run.as_str()),
                _ => None,
            })
            .collect();
        aim.resolve_runs(&runs).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: {e}", self.qdir.display()),
            )
        })?;
        self.aim = aim;
        Ok(())
    }

    /// Reports progress (copies and bytes put back, the store being worked on) to `o`.
    pub fn observe(&mut self, o: Box<dyn Observer>) {
        self.observer = Some(o);
    }

    fn advance(&self, n: u64, bytes: u64) {
        if let Some(o) = &self.observer {
            o.advance_bytes(n, bytes);
        }
    }

    fn at(&self, place: &Path) {
        if let Some(o) = &self.observer {
            o.at(&place.to_string_lossy());
        }
    }

    /// Starts the progress stage: the copies the plan puts back, and their bytes.
    fn stage(&self, plan: &RestorePlan) {
        let Some(o) = &self.observer else {
            return;
        };
        let (mut n, mut bytes) = (0u64, 0u64);
        for s in &plan.steps {
            match s {
                Step::PutBack(m) => {
                    n += 1;
                    bytes += std::fs::symlink_metadata(self.qdir.join(&m.quarantined))
                        .map(|md| md.len())
                        .unwrap_or(0);
                }
                Step::Reinsert(u) => {
                    n += u.extracts.len() as u64;
                    bytes += extracts_bytes(&u.extracts);
                }
                _ => {}
            }
        }
        o.stage_bytes("restore", "copies", n, bytes);
    }

    fn problem(&mut self, path: &Path, offset: Option<u64>, reason: impl Into<String>) {
        self.outcome.problems.push(problem(path, offset, reason));
    }

    fn rejected(
        &self,
        loaded: &crate::act::manifest::validate::Loaded,
        i: usize,
        r: &Record,
        why: &str,
        restored: &HashSet<String>,
        handled: &mut HashSet<String>,
    ) -> Option<Problem> {
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
                return None
            }
        };
        if restored.contains(id) {
            return None;
        }
        let mpath = self.qdir.join(crate::act::manifest::MANIFEST);
        Some(problem(
            &mpath,
            None,
            format!("line {line}: {kind} record {id} is invalid: {why}; refused ({kept})"),
        ))
    }

    fn done(&mut self, id: &str) -> io::Result<()> {
        self.done_all(&[id.to_string()])
    }

    /// Marks records restored, with one manifest fsync.
    fn done_all(&mut self, ids: &[String]) -> io::Result<()> {
        let records: Vec<Record> = ids
            .iter()
            .map(|id| Record::Restored { id: id.clone() })
            .collect();
        match self.manifest.append_all(&records) {
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
        }
    }

    /// The plan of undo steps for the whole manifest, from its records and what is on
    /// disk (read only). `--dry-run` reports it; [`Restore::run`] carries it out.
    pub fn plan(&self) -> io::Result<RestorePlan> {
        self.plan_pass(None)
    }

    pub fn run(&mut self) -> io::Result<()> {
        if self.dry_run {
            let plan = self.plan()?;
            self.outcome = plan.outcome();
            return plan.stopped().map_or(Ok(()), Err);
        }
        // One run per store at a time: the stores the manifest names, before any write.
        let loaded = crate::act::manifest::validate::load(&self.qdir)?;
        self._runlock = Some(lock_recorded_stores(&loaded.records, &self.lock)?);
        // An in-place mbox write a killed run left unfinished is finished first (keeping
        // mail appended since), so the plan meets each mbox whole.
        let problems = crate::act::mbox_edit::recover(&self.qdir, &mut self.manifest, &self.lock)?;
        self.outcome.problems.extend(problems);
        let plan = self.plan_pass(None)?;
        self.stage(&plan);
        self.execute(&plan)?;
        // An mbox whose tail found no room in QDIR waits for the other records to free
        // some, then is planned and tried again (its older records with it, in order).
        while !self.deferred.is_empty() {
            let waiting = std::mem::take(&mut self.deferred);
            let o = &self.outcome;
            let before = o.restored + o.flags_undone + o.mboxes_restored + o.already;
            let plan = self.plan_pass(Some(&waiting))?;
            self.execute(&plan)?;
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
        self.remove_leftovers()
    }

    /// Carries out a plan's steps in order, each after checking again what it finds.
    /// Steps of an mbox whose write found no room wait (`deferred`) for the next plan.
    /// Consecutive maildir-move steps are carried out in batches ([`Restore::execute_moves`]).
    fn execute(&mut self, plan: &RestorePlan) -> io::Result<()> {
        let steps = &plan.steps;
        let mut i = 0;
        while i < steps.len() {
            let run = steps[i..]
                .iter()
                .take_while(|s| move_rec(s).is_some())
                .count();
            if run > 0 {
                let recs: Vec<&MoveRec> = steps[i..i + run].iter().filter_map(move_rec).collect();
                self.execute_moves(&recs, &plan.ctx)?;
                i += run;
                continue;
            }
            let step = &steps[i];
            i += 1;
            if step.mbox().is_some_and(|m| self.deferred.contains_key(m)) {
                continue;
            }
            self.execute_step(step, &plan.ctx)?;
        }
        Ok(())
    }

    /// Maildir-move records, undone in batches: each judged again as it is now, then the
    /// batch's copies moved back together ([`move_batch`]: durable in their stores, each
    /// folder fsynced once), and only then the batch marked restored, with one manifest
    /// fsync. Two records naming the same file never share a batch (the second is
    /// judged after the first is done).
    fn execute_moves(&mut self, recs: &[&MoveRec], ctx: &Context) -> io::Result<()> {
        let (max_n, max_bytes) = crate::act::batch_limits();
        let mut i = 0;
        while i < recs.len() {
            let mut batch = Vec::new();
            let mut seen: HashSet<PathBuf> = HashSet::new();
            let mut bytes = 0u64;
            while i < recs.len() && batch.len() < max_n && bytes < max_bytes {
                let m = recs[i];
                let q = self.qdir.join(&m.quarantined);
                if !batch.is_empty() && (seen.contains(&m.source) || seen.contains(&q)) {
                    break;
                }
                bytes += std::fs::symlink_metadata(&q)
                    .map(|md| md.len())
                    .unwrap_or(0);
                seen.insert(m.source.clone());
                seen.insert(q);
                batch.push(self.judge_move(&Sim::default(), ctx, m)?);
                i += 1;
            }
            self.do_moves(batch)?;
        }
        Ok(())
    }

    /// Carries out a batch of maildir-move steps.
    fn do_moves(&mut self, steps: Vec<Step>) -> io::Result<()> {
        let mut ids = Vec::new();
        let mut dirs = Vec::new();
        let mut put = Vec::new();
        for step in steps {
            match step {
                Step::PutBack(m) => put.push(m),
                Step::DropCopy(m) => {
                    let q = self.qdir.join(&m.quarantined);
                    std::fs::remove_file(&q)?;
                    dirs.push(parent(&q).to_path_buf());
                    self.outcome.already += 1;
                    ids.push(m.id);
                }
                Step::MoveAlready(m) => {
                    self.outcome.already += 1;
                    ids.push(m.id);
                }
                Step::Problem { problem, .. } => self.outcome.problems.push(problem),
                _ => {}
            }
        }
        dirs.sort();
        dirs.dedup();
        for d in &dirs {
            fsync_dir(d)?;
        }
        if let Some(m) = put.first() {
            self.at(parent(parent(&m.source)));
        }
        let paths: Vec<(PathBuf, PathBuf)> = put
            .iter()
            .map(|m| {
                let name = m
                    .source
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (
                    self.qdir.join(&m.quarantined),
                    parent(&m.source).join(format!(".{name}.maildedup-restore")),
                )
            })
            .collect();
        let items: Vec<MoveItem> = put
            .iter()
            .zip(&paths)
            .map(|(m, (q, tmp))| MoveItem {
                from: q,
                to: &m.source,
                tmp,
            })
            .collect();
        let sizes: Vec<u64> = paths
            .iter()
            .map(|(q, _)| std::fs::symlink_metadata(q).map(|md| md.len()).unwrap_or(0))
            .collect();
        let res = move_batch(&items);
        let (mut n, mut bytes) = (0, 0);
        for ((m, done), size) in put.iter().zip(&res.done).zip(&sizes) {
            match done {
                Moved::Moved => {
                    self.outcome.restored += 1;
                    ids.push(m.id.clone());
                    n += 1;
                    bytes += size;
                }
                Moved::Vanished => self.problem(
                    &self.qdir.join(&m.quarantined),
                    None,
                    format!(
                        "record {}: the quarantined copy vanished while being put back (removed by another program)",
                        m.id
                    ),
                ),
            }
        }
        // Marked restored only now, every copy durable back in its store.
        self.done_all(&ids)?;
        self.advance(n, bytes);
        match res.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn execute_step(&mut self, step: &Step, ctx: &Context) -> io::Result<()> {
        match step {
            Step::PutBack(m) | Step::DropCopy(m) | Step::MoveAlready(m) => {
                let now = self.judge_move(&Sim::default(), ctx, m)?;
                self.do_move(now)
            }
            Step::UndoFlags(f) | Step::FlagsAlready(f) => {
                let now = judge_flags(&Sim::default(), f);
                self.do_flags(now)
            }
            Step::Reinsert(u) | Step::MboxAlready(u) | Step::MboxUnread { undo: u, .. } => {
                self.do_mbox(u)
            }
            Step::DropOrphan(o) => {
                let now = judge_orphan(&Sim::default(), o)?;
                self.do_orphan(now)
            }
            Step::Problem { problem, .. } => {
                self.outcome.problems.push(problem.clone());
                Ok(())
            }
            // Planning met an error here: the step is tried again (and most likely stops
            // the run the same way).
            Step::Stop { retry, .. } => self.execute_step(retry, ctx),
        }
    }

    /// One pass over the manifest, newest record first, as a plan; with `only`, just the
    /// records of those mboxes.
    fn plan_pass(&self, only: Option<&HashMap<PathBuf, String>>) -> io::Result<RestorePlan> {
        let loaded = crate::act::manifest::validate::load(&self.qdir)?;
        let mut plan = RestorePlan {
            qdir: self.qdir.clone(),
            ..RestorePlan::default()
        };
        let mut sim = Sim::default();
        let mpath = self.qdir.join(crate::act::manifest::MANIFEST);
        if only.is_none() {
            for (_, why) in &loaded.unreadable {
                plan.steps.push(Step::Problem {
                    mbox: None,
                    problem: problem(&mpath, None, why.clone()),
                });
            }
        }
        let records = &loaded.records;
        let skip = |mbox: &Path| only.is_some_and(|o| !o.contains_key(mbox));
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
                plan.ctx
                    .moves_by_name
                    .entry(quarantined.clone())
                    .or_default()
                    .push((id.clone(), source.clone(), *line));
            }
        }
        plan.ctx.restored_ids = restored.clone();
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
        let run_of = crate::act::aim::run_of_each(records);
        let extract_mid = |x: &str| match extracts.get(x) {
            Some(Record::MboxExtract { message_id, .. }) => message_id.as_deref(),
            _ => None,
        };
        for (i, r) in records.iter().enumerate().rev() {
            let stores = &stores_of[i];
            if !self.aim.selects(r, run_of[i], extract_mid) {
                // Left for another restore; the messages its rewrite took out are its own.
                if let Record::MboxRewrite { edits, .. } = r {
                    handled.extend(edits.iter().filter_map(|e| e.extract.clone()));
                }
                continue;
            }
            if let Some(why) = &loaded.rejected[i] {
                // Said once, in the first pass; a pass for deferred mboxes only skips it.
                if only.is_none() {
                    if let Some(p) = self.rejected(&loaded, i, r, why, &restored, &mut handled) {
                        plan.steps.push(Step::Problem {
                            mbox: None,
                            problem: p,
                        });
                    }
                }
                continue;
            }
            let step = match r {
                Record::MaildirMove { .. } | Record::MaildirFlags { .. } if only.is_some() => {
                    continue
                }
                Record::MaildirMove {
                    id,
                    source,
                    quarantined,
                    file_b3,
                    ..
                } if !restored.contains(id) => {
                    if !allowed(source, stores, true) || !quarantined_ok(quarantined) {
                        Step::Problem {
                            mbox: None,
                            problem: refusal(source, id, "target"),
                        }
                    } else {
                        let m = MoveRec {
                            id: id.clone(),
                            source: source.clone(),
                            quarantined: quarantined.clone(),
                            file_b3: file_b3.clone(),
                        };
                        match self.judge_move(&sim, &plan.ctx, &m) {
                            Ok(s) => s,
                            Err(e) => return Ok(plan.stop(Step::PutBack(m), e)),
                        }
                    }
                }
                Record::MaildirFlags { id, old, new, .. } if !restored.contains(id) => {
                    if !allowed(old, stores, true) || !allowed(new, stores, true) {
                        Step::Problem {
                            mbox: None,
                            problem: refusal(old, id, "target"),
                        }
                    } else {
                        let f = FlagsRec {
                            id: id.clone(),
                            old: old.clone(),
                            new: new.clone(),
                        };
                        judge_flags(&sim, &f)
                    }
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
                                if !restored.contains(x) {
                                    ex.push((*r).clone());
                                }
                            }
                        }
                    }
                    if skip(mbox) {
                        continue;
                    }
                    if !allowed(mbox, stores, false) {
                        Step::Problem {
                            mbox: Some(mbox.clone()),
                            problem: refusal(mbox, id, "mbox"),
                        }
                    } else {
                        let u = MboxUndo {
                            id: id.clone(),
                            mbox: mbox.clone(),
                            pre_size: *pre_size,
                            pre_b3: pre_b3.clone(),
                            post_size: *post_size,
                            post_b3: post_b3.clone(),
                            edits: edits.clone(),
                            extracts: ex,
                        };
                        match self.plan_mbox(&mut sim, &u) {
                            Ok(s) => s,
                            Err(e) => return Ok(plan.stop(Step::Reinsert(u), e)),
                        }
                    }
                }
                Record::MboxRewrite { edits, .. } => {
                    handled.extend(edits.iter().filter_map(|e| e.extract.clone()));
                    continue;
                }
                Record::MboxExtract {
                    id,
                    mbox,
                    offset,
                    length,
                    entry_b3,
                    quarantined,
                    ..
                } if !restored.contains(id) && !handled.contains(id) => {
                    if skip(mbox) {
                        continue;
                    }
                    // Extracted, but the mbox was never rewritten (the run was interrupted).
                    if !allowed(mbox, stores, false) {
                        Step::Problem {
                            mbox: Some(mbox.clone()),
                            problem: refusal(mbox, id, "mbox"),
                        }
                    } else {
                        let line = loaded.lines.get(i).copied().unwrap_or(0);
                        let cut = loaded
                            .cut_after(line)
                            .filter(|c| c.target.as_deref().is_none_or(|t| t == mbox.as_path()));
                        let o = OrphanRec {
                            id: id.clone(),
                            mbox: mbox.clone(),
                            offset: *offset,
                            length: *length,
                            entry_b3: entry_b3.clone(),
                            quarantined: quarantined.clone(),
                            line,
                            cut_line: cut.map(|c| c.line),
                        };
                        match judge_orphan(&sim, &o) {
                            Ok(s) => s,
                            Err(e) => return Ok(plan.stop(Step::DropOrphan(o), e)),
                        }
                    }
                }
                _ => continue,
            };
            apply_to_sim(&mut sim, &self.qdir, &step);
            plan.steps.push(step);
        }
        Ok(plan)
    }

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

    /// What to do for a maildir-move record, from what `sim` holds.
    fn judge_move(&self, sim: &Sim, ctx: &Context, m: &MoveRec) -> io::Result<Step> {
        let q = self.qdir.join(&m.quarantined);
        let source = m.source.as_path();
        Ok(match (sim.exists(&q), sim.exists(source)) {
            (true, false) => {
                let data = match sim.read(&q) {
                    Ok(d) => d,
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                        // A symlink or FIFO planted in QDIR: never read through it, never
                        // moved into a store.
                        return Ok(Step::Problem {
                            mbox: None,
                            problem: problem(&q, None, format!("{e}; refused, left in QDIR")),
                        });
                    }
                    Err(e) => return Err(e),
                };
                if b3hex(&data) != m.file_b3 {
                    Step::Problem {
                        mbox: None,
                        problem: problem(
                            &q,
                            None,
                            "quarantined file no longer matches the manifest; left in QDIR",
                        ),
                    }
                } else if !parent(source).is_dir() {
                    Step::Problem {
                        mbox: None,
                        problem: problem(source, None, "its folder no longer exists; left in QDIR"),
                    }
                } else {
                    Step::PutBack(m.clone())
                }
            }
            (true, true) => {
                if sim
                    .read(source)
                    .map(|d| b3hex(&d) == m.file_b3)
                    .unwrap_or(false)
                {
                    // Back already (an interrupted cross-filesystem move): drop our copy.
                    Step::DropCopy(m.clone())
                } else {
                    Step::Problem {
                        mbox: None,
                        problem: problem(
                            source,
                            None,
                            "a different file now has this name; the copy stays in QDIR",
                        ),
                    }
                }
            }
            (false, true) => Step::MoveAlready(m.clone()),
            (false, false) => match self.missing_copy(sim, ctx, m) {
                // Back in its store under another name (a mail client changed its flags
                // after an earlier restore, or moved it from new/ to cur/).
                Missing::BackInStore => Step::MoveAlready(m.clone()),
                Missing::Elsewhere(why) => Step::Problem {
                    mbox: None,
                    problem: problem(source, None, why),
                },
            },
        })
    }

    /// Carries out a maildir-move step.
    fn do_move(&mut self, step: Step) -> io::Result<()> {
        match step {
            Step::PutBack(m) => {
                let q = self.qdir.join(&m.quarantined);
                let name = m
                    .source
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let tmp = parent(&m.source).join(format!(".{name}.maildedup-restore"));
                move_file(&q, &m.source, &tmp)?;
                self.outcome.restored += 1;
                self.done(&m.id)
            }
            Step::DropCopy(m) => {
                let q = self.qdir.join(&m.quarantined);
                std::fs::remove_file(&q)?;
                fsync_dir(parent(&q))?;
                self.outcome.already += 1;
                self.done(&m.id)
            }
            Step::MoveAlready(m) => {
                self.outcome.already += 1;
                self.done(&m.id)
            }
            Step::Problem { problem, .. } => {
                self.outcome.problems.push(problem);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Where the copy of a maildir-move record went when it is neither in QDIR nor at its
    /// source: back in its store under another name, or moved back by another record, or
    /// (when nothing says) where it may be — never a bare "missing", which reads like loss.
    fn missing_copy(&self, sim: &Sim, ctx: &Context, m: &MoveRec) -> Missing {
        let (id, source, quarantined, file_b3) = (
            m.id.as_str(),
            m.source.as_path(),
            m.quarantined.as_str(),
            m.file_b3.as_str(),
        );
        let name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let unique = MaildirName::parse(&name).unique.to_string();
        let mut same_unique = None;
        if let Some(store) = source.parent().and_then(Path::parent) {
            for sub in ["cur", "new"] {
                for p in sim.list(&store.join(sub)) {
                    let n = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if MaildirName::parse(&n).unique != unique {
                        continue;
                    }
                    if sim.read(&p).is_ok_and(|d| b3hex(&d) == file_b3) {
                        return Missing::BackInStore;
                    }
                    same_unique = Some(p);
                }
            }
        }
        let q = self.qdir.join(quarantined);
        let others: Vec<&(String, PathBuf, usize)> = ctx
            .moves_by_name
            .get(quarantined)
            .map(|v| v.iter().filter(|(o, _, _)| o != id).collect())
            .unwrap_or_default();
        if let Some((other, to, line)) =
            others.iter().find(|(o, _, _)| ctx.restored_ids.contains(o))
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

    /// Carries out a maildir-flags step.
    fn do_flags(&mut self, step: Step) -> io::Result<()> {
        match step {
            Step::UndoFlags(f) => {
                rename_noreplace(&f.new, &f.old)?;
                fsync_dir(parent(&f.old))?;
                fault::point("restore.flags");
                self.outcome.flags_undone += 1;
                self.done(&f.id)
            }
            Step::FlagsAlready(f) => {
                self.outcome.already += 1;
                self.done(&f.id)
            }
            Step::Problem { problem, .. } => {
                self.outcome.problems.push(problem);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Rebuilds the entry an extract record describes from its quarantined file.
    fn rebuild_entry(&self, sim: &Sim, r: &Record) -> io::Result<Vec<u8>> {
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
        let msg = sim.read(&self.qdir.join(quarantined))?;
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

    /// Removes the copies of extract records whose messages are back in their mbox (or
    /// never left it), then marks the records restored with one manifest fsync.
    fn remove_extracts(&mut self, ex: &[Record]) -> io::Result<()> {
        let mut ids = Vec::new();
        for r in ex {
            if let Record::MboxExtract {
                id, quarantined, ..
            } = r
            {
                let q = self.qdir.join(quarantined);
                if q.exists() {
                    std::fs::remove_file(&q)?;
                }
                ids.push(id.clone());
            }
        }
        fsync_dir(&self.qdir.join("cur"))?;
        fault::point("restore.extracts-removed");
        self.done_all(&ids)
    }

    /// Judges an mbox (whole content `cur`) against the rewrite record to undo.
    fn judge_mbox(&self, sim: &Sim, cur: &[u8], u: &MboxUndo) -> io::Result<MboxVerdict> {
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
        if prefix_is(u.pre_size, &u.pre_b3) {
            // Never rewritten (interrupted before the write) or restored already: every
            // extracted message is in the mbox, so our copies in QDIR can go.
            return Ok(MboxVerdict::Whole);
        }
        if !prefix_is(u.post_size, &u.post_b3) {
            return Ok(MboxVerdict::Problem(
                "changed since the quarantine (not only appended to): its messages stay in QDIR"
                    .into(),
            ));
        }
        // Rebuild the file as it was before the quarantine, plus what arrived since.
        let mut rebuilt: HashMap<String, Vec<u8>> = HashMap::new();
        for r in &u.extracts {
            if let Record::MboxExtract { id, .. } = r {
                match self.rebuild_entry(sim, r) {
                    Ok(e) => {
                        rebuilt.insert(id.clone(), e);
                    }
                    Err(e) => {
                        return Ok(MboxVerdict::Problem(format!(
                            "cannot restore: extract {id}: {e}"
                        )))
                    }
                }
            }
        }
        let mut originals: Vec<Vec<u8>> = Vec::new();
        for e in &u.edits {
            originals.push(match (&e.extract, &e.original) {
                (Some(x), _) => match rebuilt.get(x) {
                    Some(b) => b.clone(),
                    None => {
                        return Ok(MboxVerdict::Problem(format!(
                            "cannot restore: extract {x} already undone elsewhere"
                        )))
                    }
                },
                (None, Some(o)) => unb64(o)?,
                (None, None) => Vec::new(),
            });
        }
        // The inverse of the quarantine's edits, in the rewritten file's offsets.
        let spans: Vec<(usize, usize, usize)> = u
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
        let post = u.post_size as usize;
        let Some((first, mut tail)) = MboxEdit::recorded(&spans, originals, &cur[..post])
            .and_then(|edit| edit.invert().apply(&cur[..post]))
        else {
            return Ok(MboxVerdict::Problem(
                "the manifest's edits do not fit the mbox; nothing changed".into(),
            ));
        };
        let mut h = blake3::Hasher::new();
        h.update(&cur[..first]);
        h.update(&tail);
        if (first + tail.len()) as u64 != u.pre_size || h.finalize().to_hex().as_str() != u.pre_b3 {
            return Ok(MboxVerdict::Problem(
                "rebuilt mbox does not match the manifest; nothing changed".into(),
            ));
        }
        // What arrived since the quarantine stays behind it.
        tail.extend_from_slice(&cur[post..]);
        Ok(MboxVerdict::Reinsert { first, tail })
    }

    /// The step for an mbox-rewrite record, judged on the mbox as `sim` has it (read
    /// without its locks: the real run reads it again under them), and what it leaves.
    fn plan_mbox(&self, sim: &mut Sim, u: &MboxUndo) -> io::Result<Step> {
        let cur = match sim.read(&u.mbox) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Step::MboxUnread {
                    undo: u.clone(),
                    problem: problem(&u.mbox, None, format!("not restored: {e}")),
                })
            }
        };
        Ok(match self.judge_mbox(sim, &cur, u)? {
            MboxVerdict::Problem(why) => Step::Problem {
                mbox: Some(u.mbox.clone()),
                problem: problem(&u.mbox, None, why),
            },
            MboxVerdict::Whole => Step::MboxAlready(u.clone()),
            MboxVerdict::Reinsert { first, tail } => {
                let mut new = cur[..first].to_vec();
                new.extend_from_slice(&tail);
                sim.put(&u.mbox, new);
                Step::Reinsert(u.clone())
            }
        })
    }

    /// Carries out an mbox step under the mbox's locks, judging the mbox again as it is
    /// now.
    fn do_mbox(&mut self, u: &MboxUndo) -> io::Result<()> {
        self.at(&u.mbox);
        let lock = match MboxLock::acquire(&u.mbox, &self.lock) {
            Ok(l) => l,
            Err(e) => {
                self.problem(&u.mbox, None, format!("not restored: {e}"));
                return Ok(());
            }
        };
        let data = crate::act::mbox_edit::read_all(&lock.file)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", u.mbox.display())))?;
        let cur: &[u8] = &data;
        match self.judge_mbox(&Sim::default(), cur, u)? {
            MboxVerdict::Problem(why) => {
                self.problem(&u.mbox, None, why);
                Ok(())
            }
            MboxVerdict::Whole => {
                drop(lock);
                self.outcome.already += u.extracts.len();
                self.remove_extracts(&u.extracts)?;
                self.done(&u.id)
            }
            MboxVerdict::Reinsert { first, tail } => {
                let wid = crate::act::mbox_edit::fresh_id("restore");
                let write = InPlaceWrite {
                    qdir: &self.qdir,
                    file: &lock.file,
                    mbox: &u.mbox,
                    id: &wid,
                    of: &u.id,
                    supersedes: None,
                    cur,
                    first,
                    tail: &tail,
                };
                match write_in_place(&write, &mut self.manifest) {
                    Ok(()) => {}
                    Err(crate::act::mbox_edit::WriteError::Untouched(e))
                        if matches!(
                            e.kind(),
                            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
                        ) =>
                    {
                        // Nothing changed; QDIR (or the mbox's filesystem) is full.
                        self.deferred.insert(u.mbox.clone(), e.to_string());
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                }
                fault::point("restore.mbox-written");
                drop(lock);
                self.advance(u.extracts.len() as u64, extracts_bytes(&u.extracts));
                self.outcome.restored += u.extracts.len();
                self.outcome.flags_undone += u.flag_edits();
                self.outcome.mboxes_restored += 1;
                self.remove_extracts(&u.extracts)?;
                self.done(&u.id)
            }
        }
    }

    /// Carries out an orphan-extract step.
    fn do_orphan(&mut self, step: Step) -> io::Result<()> {
        match step {
            Step::DropOrphan(o) => {
                let q = self.qdir.join(&o.quarantined);
                if q.exists() {
                    std::fs::remove_file(&q)?;
                    fsync_dir(parent(&q))?;
                }
                self.outcome.already += 1;
                self.done(&o.id)
            }
            Step::Problem { problem, .. } => {
                self.outcome.problems.push(problem);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// What to do for a maildir-flags record, from what `sim` holds.
fn judge_flags(sim: &Sim, f: &FlagsRec) -> Step {
    let (old, new) = (f.old.as_path(), f.new.as_path());
    match (sim.exists(new), sim.exists(old)) {
        (true, false) => Step::UndoFlags(f.clone()),
        (false, true) => Step::FlagsAlready(f.clone()),
        (true, true) => Step::Problem {
            mbox: None,
            problem: problem(
                old,
                None,
                "both the flagged and the original name exist; left as they are",
            ),
        },
        (false, false) => {
            let name = old
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let unique = MaildirName::parse(&name).unique.to_string();
            Step::Problem {
                mbox: None,
                problem: problem(
                    old,
                    None,
                    format!("renamed since by a mail client (unique name {unique}); its flags are left as they are now"),
                ),
            }
        }
    }
}

/// What to do for an extract whose mbox was never rewritten: is its entry still there?
fn judge_orphan(sim: &Sim, o: &OrphanRec) -> io::Result<Step> {
    let data = sim.read(&o.mbox)?;
    let entry = usize::try_from(o.offset)
        .ok()
        .zip(usize::try_from(o.length).ok())
        .and_then(|(at, l)| data.get(at..at.checked_add(l)?));
    if entry.is_some_and(|e| b3hex(e) == o.entry_b3) {
        return Ok(Step::DropOrphan(o.clone()));
    }
    let (quarantined, line) = (&o.quarantined, o.line);
    let why = match o.cut_line {
        Some(c) => format!(
            "{quarantined} (manifest line {line}) was extracted from here, and the mbox no longer holds it here, although the rewrite record that would follow (line {c}) is incomplete, so that rewrite was never made: the mbox was changed since by another program (or the manifest was cut short after the rewrite). The message is safe in QDIR as {quarantined} (nothing lost); put it back by hand if the mbox lacks it"
        ),
        None => format!(
            "{quarantined} (manifest line {line}) was extracted from here, and the mbox changed here since (no rewrite record names this extract); the message is safe in QDIR as {quarantined} (nothing lost)"
        ),
    };
    Ok(Step::Problem {
        mbox: Some(o.mbox.clone()),
        problem: problem(&o.mbox, Some(o.offset), why),
    })
}

/// What `step` leaves on disk, recorded in `sim` for the steps after it. (An mbox a
/// reinsert rewrites is recorded by [`Restore::plan_mbox`], which has its new bytes.)
fn apply_to_sim(sim: &mut Sim, qdir: &Path, step: &Step) {
    match step {
        Step::PutBack(m) => {
            let q = qdir.join(&m.quarantined);
            let data = sim.read(&q).unwrap_or_default();
            sim.remove(&q);
            sim.put(&m.source, data);
        }
        Step::DropCopy(m) => sim.remove(&qdir.join(&m.quarantined)),
        Step::UndoFlags(f) => {
            let data = sim.read(&f.new).unwrap_or_default();
            sim.remove(&f.new);
            sim.put(&f.old, data);
        }
        Step::Reinsert(u) | Step::MboxAlready(u) => {
            for r in &u.extracts {
                if let Record::MboxExtract { quarantined, .. } = r {
                    sim.remove(&qdir.join(quarantined));
                }
            }
        }
        Step::DropOrphan(o) => sim.remove(&qdir.join(&o.quarantined)),
        Step::MoveAlready(_)
        | Step::FlagsAlready(_)
        | Step::Problem { .. }
        | Step::MboxUnread { .. }
        | Step::Stop { .. } => {}
    }
}

/// Where a copy missing from QDIR is.
enum Missing {
    /// Its store has these very bytes again, under another name.
    BackInStore,
    /// Elsewhere, or unknown: the problem to report.
    Elsewhere(String),
}

/// The maildir-move record of a step that undoes one.
fn move_rec(s: &Step) -> Option<&MoveRec> {
    match s {
        Step::PutBack(m) | Step::DropCopy(m) | Step::MoveAlready(m) => Some(m),
        _ => None,
    }
}

/// The bytes of the mbox entries extract records name.
fn extracts_bytes(ex: &[Record]) -> u64 {
    ex.iter()
        .map(|r| match r {
            Record::MboxExtract { length, .. } => *length,
            _ => 0,
        })
        .sum()
}
