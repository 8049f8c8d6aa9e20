//! `scan --each` and `quarantine --each`: every PATH is a mailbox of its own, run through
//! the same pipeline as a one-mailbox run, `--jobs` mailboxes at a time. A mailbox that
//! fails is named and the others go on; the text report has a section per mailbox with
//! something to say and a fleet summary; `--json` prints one line per mailbox as it
//! finishes, then one `{"fleet": ...}` line, so no document grows with the fleet.

use super::args::{FleetArgs, OnlyClass, QuarantineArgs, ScanArgs};
use super::scan_cmd::{scan_paths, Scanned};
use super::{print_error, EXIT_DUPLICATES, EXIT_INCOMPLETE, EXIT_OK, EXIT_PARTIAL};
use crate::act::runlog::RunLog;
use crate::cli::progress::Progress;
use crate::forensics::fleet::{self, FleetIncident, MailboxIncident};
use crate::observe::Silent;
use crate::render::report::{count, human_bytes, thousands, Report};
use crate::render::term::{self, escape as esc};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `work` on every mailbox, `jobs` at a time, and hands each result to `consume` on
/// this thread, in the order of `paths`. A worker takes the next mailbox when it is done
/// with one, but never runs more than `4 × jobs` ahead of the first mailbox not yet
/// handed on: so at most `jobs` mailboxes are being worked on, and the finished results
/// waiting for their turn stay few, however large the fleet. A panic while working on
/// one mailbox is that mailbox's failure.
fn each_mailbox<T: Send>(
    paths: &[PathBuf],
    jobs: usize,
    work: impl Fn(&Path) -> anyhow::Result<T> + Sync,
    mut consume: impl FnMut(usize, Result<T, String>),
) {
    use std::sync::{Condvar, Mutex};
    let jobs = jobs.clamp(1, paths.len().max(1));
    let ahead = 4 * jobs;
    let next = AtomicUsize::new(0);
    let handed = (Mutex::new(0usize), Condvar::new());
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<T, String>)>();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, work, handed) = (&next, &work, &handed);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                {
                    let mut h = handed.0.lock().unwrap_or_else(|p| p.into_inner());
                    while i >= *h + ahead {
                        h = handed.1.wait(h).unwrap_or_else(|p| p.into_inner());
                    }
                }
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(path)));
                let r = match r {
                    Ok(Ok(t)) => Ok(t),
                    Ok(Err(e)) => Err(format!("{e:#}")),
                    Err(_) => Err(format!(
                        "{}: internal error (a panic) while working on it",
                        path.display()
                    )),
                };
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut waiting = std::collections::BTreeMap::new();
        let mut first = 0;
        for (i, r) in rx {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&first) {
                consume(first, r);
                first += 1;
                *handed.0.lock().unwrap_or_else(|p| p.into_inner()) = first;
                handed.1.notify_all();
            }
        }
    });
}

/// The fleet's counts, summed over the mailboxes that did not fail.
#[derive(Debug, Default, Serialize)]
pub(crate) struct FleetSummary {
    pub(crate) version: u32,
    pub(crate) mailboxes: usize,
    pub(crate) failed: usize,
    /// Mailboxes with at least one duplicate group.
    pub(crate) mailboxes_with_duplicates: usize,
    pub(crate) stores: usize,
    pub(crate) messages: usize,
    pub(crate) groups: usize,
    pub(crate) extra_copies: usize,
    pub(crate) same_time: usize,
    pub(crate) different_time: usize,
    pub(crate) conflicts: usize,
    pub(crate) reclaimable_bytes: u64,
    /// Files or folders that could not be read, over all mailboxes.
    pub(crate) unreadable: usize,
    pub(crate) failures: Vec<Failure>,
    pub(crate) incidents: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Failure {
    pub(crate) mailbox: String,
    pub(crate) error: String,
}

/// What one mailbox's scan leaves for the fleet report.
struct ScanDone {
    summary: crate::render::report::Summary,
    incidents: Vec<MailboxIncident>,
    problems: Vec<String>,
    no_store: Vec<String>,
    /// The JSON line, with `--json`.
    json: Option<String>,
    /// The text section (without its heading), without `--json`.
    text: Option<String>,
}

/// The report of one mailbox: today's `scan --json` report with a `mailbox` field.
#[derive(Serialize)]
struct Line<'a, R: Serialize> {
    mailbox: String,
    #[serde(flatten)]
    report: &'a R,
}

fn mailbox_name(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Refuses a PATH given twice or inside another PATH (a mailbox and one of its
/// folders): its mail would be in two worlds, and two workers would quarantine it at once.
fn check_paths(paths: &[PathBuf]) -> anyhow::Result<()> {
    let mut resolved: Vec<(PathBuf, &PathBuf)> = paths
        .iter()
        .map(|p| {
            let r = std::fs::canonicalize(p)
                .or_else(|_| std::path::absolute(p))
                .unwrap_or_else(|_| p.clone());
            (r, p)
        })
        .collect();
    // Component-wise order puts a folder's descendants right after it.
    resolved.sort();
    for w in resolved.windows(2) {
        if w[1].0.starts_with(&w[0].0) {
            anyhow::bail!(
                "{} and {}: the same mailbox, or one inside the other (with --each every PATH is a mailbox of its own; give each mailbox once, at its top)",
                w[0].1.display(),
                w[1].1.display()
            );
        }
    }
    Ok(())
}

fn scan_mailbox(
    path: &Path,
    args: &ScanArgs,
    opts: &crate::scan::ScanOptions,
) -> anyhow::Result<ScanDone> {
    let scanned: Scanned = scan_paths(std::slice::from_ref(&path.to_path_buf()), opts, &Silent)?;
    let out = &scanned.out;
    let grouping = crate::group::merge::group_and_merge(out, &args.selection.group_options());
    let mut report = Report::build(out, &grouping);
    let incidents = report
        .forensics
        .incidents
        .iter()
        .map(|i| MailboxIncident {
            mailbox: 0,
            start: i.start,
            end: i.end,
            kind: i.kind,
            cause: i.cause_code,
            extra_copies: i.extra_copies,
        })
        .collect();
    let json = if args.json {
        Some(serde_json::to_string(&Line {
            mailbox: mailbox_name(path),
            report: &report,
        })?)
    } else {
        None
    };
    let s = &report.summary;
    let something = s.groups > 0
        || s.conflicts > 0
        || !report.forensics.incidents.is_empty()
        || !scanned.unreadable.is_empty();
    let text = (!args.json && !args.quiet && (something || args.verbose)).then(|| {
        let paint = crate::render::style::Paint::plain();
        let mut t =
            report.human_painted(args.verbose, args.largest.unwrap_or(0), false, paint, None);
        if args.verbose {
            t.push_str(&crate::render::perstore::table(out, &grouping, paint));
        }
        t
    });
    Ok(ScanDone {
        summary: std::mem::take(&mut report.summary),
        incidents,
        problems: scanned.unreadable.clone(),
        no_store: scanned.paths_without_store.clone(),
        json,
        text,
    })
}

/// `scan --each PATH...`.
pub(crate) fn run_scan_each(args: &ScanArgs, log: &mut RunLog) -> anyhow::Result<i32> {
    let paths = &args.selection.paths;
    check_paths(paths)?;
    log.set_paths(paths);
    let opts = args.selection.scan_options();
    let mut fleet = FleetSummary {
        version: 1,
        mailboxes: paths.len(),
        ..Default::default()
    };
    let mut incidents: Vec<MailboxIncident> = Vec::new();
    let progress = Progress::new(!args.no_progress && !args.quiet);
    progress.stage("scanning", "mailboxes", Some(paths.len() as u64));
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut write_err = None;
    each_mailbox(
        paths,
        usize::from(args.fleet.jobs),
        |p| scan_mailbox(p, args, &opts),
        |i, r| {
            progress.inc(1);
            // On a terminal, what the mailbox prints goes out under the bar, at once.
            progress.suspend(|| {
                let name = mailbox_name(&paths[i]);
                let res = match r {
                    Err(e) => {
                        print_error(&e);
                        log.errors.push(format!("{name}: {e}"));
                        fleet.failed += 1;
                        let line = args.json.then(|| {
                            serde_json::json!({"mailbox": &name, "error": &e}).to_string()
                        });
                        fleet.failures.push(Failure {
                            mailbox: name.clone(),
                            error: e,
                        });
                        line.map(|l| writeln!(stdout, "{l}"))
                    }
                    Ok(done) => {
                        for line in &done.no_store {
                            print_error(line);
                            log.errors.push(line.clone());
                        }
                        for line in &done.problems {
                            if args.quiet {
                                eprintln!("{}", esc(line));
                            }
                            log.errors.push(line.clone());
                        }
                        add(&mut fleet, &done);
                        incidents.extend(
                            done.incidents
                                .iter()
                                .map(|m| MailboxIncident { mailbox: i, ..*m }),
                        );
                        match (&done.json, &done.text) {
                            (Some(l), _) => Some(writeln!(stdout, "{l}")),
                            (None, Some(t)) => Some(write_section(&mut stdout, &paths[i], t)),
                            _ => None,
                        }
                    }
                };
                // A JSON line goes out whole as soon as it is written, so that a reader can
                // follow the run (`| jq -c`); text waits for the buffer.
                let res = match res {
                    Some(Ok(())) if args.json || progress.shown() => Some(stdout.flush()),
                    other => other,
                };
                if let Some(Err(e)) = res {
                    write_err.get_or_insert(e);
                }
            });
        },
    );
    progress.finish();
    if let Some(e) = write_err {
        return Err(e.into());
    }
    let found = fleet::find(
        &incidents,
        args.fleet.fleet_threshold as usize,
        args.fleet.fleet_window,
    );
    fleet.incidents = found
        .iter()
        .map(|f| incident_json(f, paths))
        .collect::<anyhow::Result<_>>()?;
    log.set("summary", serde_json::to_value(&fleet)?);
    if args.json {
        writeln!(stdout, "{}", serde_json::json!({ "fleet": &fleet }))?;
    } else if !args.quiet {
        write!(
            stdout,
            "{}",
            fleet_text(&fleet, &found, paths, args.verbose)
        )?;
    }
    stdout.flush()?;
    Ok(if fleet.failed > 0 || fleet.unreadable > 0 {
        eprintln!(
            "maildedup: incomplete: {} failed, {} could not be read; every other mailbox was scanned",
            count(fleet.failed, "mailbox", "mailboxes"),
            count(fleet.unreadable, "file or folder", "files or folders")
        );
        EXIT_INCOMPLETE
    } else if args.check && fleet.groups > 0 {
        EXIT_DUPLICATES
    } else {
        EXIT_OK
    })
}

fn add(f: &mut FleetSummary, d: &ScanDone) {
    let s = &d.summary;
    f.stores += s.stores;
    f.messages += s.messages;
    f.groups += s.groups;
    f.extra_copies += s.extra_copies;
    f.same_time += s.same_time;
    f.different_time += s.different_time;
    f.conflicts += s.conflicts;
    f.reclaimable_bytes += s.reclaimable_bytes;
    f.unreadable += d.problems.len() + d.no_store.len();
    if s.groups > 0 {
        f.mailboxes_with_duplicates += 1;
    }
}

pub(crate) fn incident_json(
    f: &FleetIncident,
    paths: &[PathBuf],
) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(f)?;
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "mailboxes".into(),
            f.mailboxes
                .iter()
                .map(|&i| mailbox_name(&paths[i]))
                .collect(),
        );
    }
    Ok(v)
}

fn write_section(o: &mut impl Write, mailbox: &Path, text: &str) -> std::io::Result<()> {
    writeln!(o, "== {}", term::path(mailbox))?;
    for line in text.lines() {
        if line.is_empty() {
            writeln!(o)?;
        } else {
            writeln!(o, "  {line}")?;
        }
    }
    writeln!(o)
}

/// The fleet summary and the fleet incidents, as text.
pub(crate) fn fleet_text(
    f: &FleetSummary,
    found: &[FleetIncident],
    paths: &[PathBuf],
    verbose: bool,
) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Fleet: {} ({} failed), {} in {}.",
        count(f.mailboxes, "mailbox", "mailboxes"),
        thousands(f.failed),
        count(f.messages, "message", "messages"),
        count(f.stores, "store", "stores"),
    );
    let _ = writeln!(
        o,
        "Duplicate groups: {}   extra copies: {} ({} same-time, {} different-time; {}) in {}; {}.",
        thousands(f.groups),
        thousands(f.extra_copies),
        thousands(f.same_time),
        thousands(f.different_time),
        human_bytes(f.reclaimable_bytes),
        count(f.mailboxes_with_duplicates, "mailbox", "mailboxes"),
        count(f.conflicts, "conflict", "conflicts"),
    );
    for fi in found {
        let _ = writeln!(
            o,
            "Fleet incident: {} to {}, a {} of {} in {} ({}): likely {}.",
            crate::forensics::minute(fi.start),
            crate::forensics::minute(fi.end),
            match fi.kind {
                crate::forensics::Kind::Burst => "burst",
                crate::forensics::Kind::Rate => "rate change",
            },
            fi.cause_code.code(),
            count(fi.mailbox_count, "mailbox", "mailboxes"),
            count(fi.extra_copies, "extra copy", "extra copies"),
            fi.likely_cause
        );
        let shown = if verbose { fi.mailboxes.len() } else { 5 };
        let names: Vec<String> = fi
            .mailboxes
            .iter()
            .take(shown)
            .map(|&i| term::path(&paths[i]).to_string())
            .collect();
        let more = fi.mailboxes.len().saturating_sub(shown);
        let _ = writeln!(
            o,
            "  mailboxes: {}{}",
            names.join(", "),
            if more > 0 {
                format!(" and {} more (-v lists them)", thousands(more))
            } else {
                String::new()
            }
        );
    }
    for fl in &f.failures {
        let _ = writeln!(o, "failed: {}: {}", esc(&fl.mailbox), esc(&fl.error));
    }
    o
}

/// What one mailbox's quarantine leaves for the fleet report.
struct QuarantineDone {
    moved: usize,
    moved_bytes: u64,
    flags_merged: usize,
    mboxes_rewritten: usize,
    left: Vec<String>,
    problems: Vec<String>,
    no_store: Vec<String>,
    /// The run stopped on this mailbox (nothing lost: see the manifest).
    error: Option<String>,
    json: Option<String>,
    text: Option<String>,
}

fn quarantine_mailbox(
    path: &Path,
    args: &QuarantineArgs,
    opts: &crate::scan::ScanOptions,
) -> anyhow::Result<QuarantineDone> {
    use crate::act::quarantine::{Outcome, Quarantine};
    let qdir = crate::act::placement::mailbox_qdir(&args.to, path);
    crate::act::placement::check_mailbox_qdir(&qdir, path)?;
    // As a one-mailbox run: refused the same way with --dry-run (see run_quarantine).
    crate::act::placement::check_usable(&qdir)?;
    let sel = &args.selection;
    let mailbox = vec![path.to_path_buf()];
    let _runlock = crate::act::runlock::RunLock::for_paths(&mailbox, args.lock.options().timeout)?;
    // Every write into the mailbox and its quarantine folder is made as the mailbox's
    // owner (`crate::act::as_owner`): run by root, a user's symlink never carries one out.
    let owner = {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        (m.uid(), m.gid())
    };
    let as_owner = || {
        crate::act::as_owner::AsOwner::become_owner(owner.0, owner.1).map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot act as its owner (uid {}): {e}",
                path.display(),
                owner.0
            )
        })
    };
    let recovery = if args.dry_run {
        Vec::new()
    } else {
        let _as = as_owner()?;
        crate::act::mbox_edit::recover_qdir(&qdir, &args.lock.options())?
    };
    let scanned = scan_paths(&mailbox, opts, &Silent)?;
    let out = &scanned.out;
    let grouping = crate::group::merge::group_and_merge(out, &sel.group_options());
    let plan = crate::act::plan::plan(out, &grouping, args.only.and_then(OnlyClass::class));
    let name = mailbox_name(path);
    let qname = qdir.to_string_lossy().into_owned();
    let mut done = QuarantineDone {
        moved: 0,
        moved_bytes: 0,
        flags_merged: 0,
        mboxes_rewritten: 0,
        left: Vec::new(),
        problems: scanned.unreadable.clone(),
        no_store: scanned.paths_without_store.clone(),
        error: None,
        json: None,
        text: None,
    };
    if args.dry_run {
        use crate::render::plan_view::{AlsoIns, DryRun, FlagMerges, Moves};
        let bytes: u64 = plan.moves.iter().map(|m| out.copies[m.copy].length).sum();
        done.moved = plan.moves.len();
        done.moved_bytes = bytes;
        done.flags_merged = plan.flag_merges.len();
        let summary = serde_json::json!({ "moves": plan.moves.len(), "bytes": bytes,
                         "flag_merges": plan.flag_merges.len(),
                         "conflicts_left": grouping.conflicts.len(),
                         "cross_folder_copies": grouping.cross_folder_copies(),
                         "across_folders": grouping.across_folders });
        if args.json {
            done.json = Some(serde_json::to_string(&Line {
                mailbox: name,
                report: &DryRun {
                    cross_folder: AlsoIns(out, &plan),
                    dry_run: true,
                    flag_merges: FlagMerges(out, &plan),
                    left: &[],
                    moves: Moves(out, &plan),
                    paths: vec![path.to_string_lossy().into_owned()],
                    qdir: qname,
                    summary,
                    version: 1,
                },
            })?);
        } else if !plan.moves.is_empty() || !plan.flag_merges.is_empty() {
            done.text = Some(format!(
                "would move {} ({}) into {} and merge flags into {}; {} left alone",
                count(plan.moves.len(), "extra copy", "extra copies"),
                human_bytes(bytes),
                term::path(&qdir),
                count(plan.flag_merges.len(), "kept copy", "kept copies"),
                count(grouping.conflicts.len(), "conflict", "conflicts")
            ));
        }
        return Ok(done);
    }
    let (outcome, result) = if plan.moves.is_empty() && plan.flag_merges.is_empty() {
        (
            Outcome {
                left: recovery,
                ..Default::default()
            },
            Ok(()),
        )
    } else {
        // A template outside the mailboxes (`/srv/quarantine{mailbox}`) names folders
        // that do not exist yet: made mode 0711, so that each user can reach their own
        // quarantine folder (which has their owner and mode) without listing the others.
        if let Some(parent) = qdir.parent().filter(|p| !p.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(parent)
                .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", parent.display()))?;
            own_new_qdir(&qdir, parent, owner)?;
        }
        let _as = as_owner()?;
        let mut q = Quarantine::start(out, &grouping, &qdir, args.lock.options())?;
        q.outcome.left.extend(recovery);
        let result = q.run(&plan);
        (std::mem::take(&mut q.outcome), result)
    };
    // The folder belongs to the mailbox's owner, with its mode, whatever happened above.
    let _as = as_owner()?;
    if std::fs::symlink_metadata(&qdir).is_ok() {
        if let Err(e) = crate::act::owner::match_mailbox(&qdir, path) {
            done.problems.push(format!(
                "{}: cannot give it the owner and mode of {}: {e}",
                qdir.display(),
                path.display()
            ));
        }
    }
    done.moved = outcome.moved;
    done.moved_bytes = outcome.moved_bytes;
    done.flags_merged = outcome.flags_merged;
    done.mboxes_rewritten = outcome.mboxes_rewritten;
    done.left = outcome.left.iter().map(|p| p.to_string()).collect();
    done.error = result.as_ref().err().map(|e| {
        format!(
            "quarantine stopped: {e} (nothing was lost: every copy is in its store or in {})",
            qdir.display()
        )
    });
    if args.json {
        done.json = Some(
            serde_json::json!({"version": 1, "mailbox": name, "dry_run": false, "qdir": qname,
                "outcome": &outcome, "error": &done.error,
                "cross_folder": crate::render::plan_view::AlsoIns(out, &plan)})
            .to_string(),
        );
    } else if outcome.moved > 0 || outcome.flags_merged > 0 || !outcome.left.is_empty() {
        let mut t = format!(
            "moved {} ({} same-time, {} different-time; {}) into {}; merged flags into {}",
            count(outcome.moved, "extra copy", "extra copies"),
            thousands(outcome.same_time),
            thousands(outcome.different_time),
            human_bytes(outcome.moved_bytes),
            term::path(&qdir),
            count(outcome.flags_merged, "kept copy", "kept copies"),
        );
        for l in &done.left {
            t.push_str(&format!("\nleft in place: {}", esc(l)));
        }
        done.text = Some(t);
    }
    Ok(done)
}

/// A quarantine folder whose parent the mailbox's owner cannot write (a template outside
/// the mailboxes: `/srv/quarantine{mailbox}`, `/var/mail/.quarantine/{name}`): made by
/// root, mode 0700, and given to the owner at once, so the owner's writes can go in it.
/// Safe as root: its parent is root's, so nobody can swap anything in it meanwhile. A
/// parent the owner may write (the mailbox itself) is left to the owner.
fn own_new_qdir(qdir: &Path, parent: &Path, owner: (u32, u32)) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if !rustix::process::geteuid().is_root() || owner.0 == 0 || qdir.exists() {
        return Ok(());
    }
    let p = std::fs::symlink_metadata(parent)
        .map_err(|e| anyhow::anyhow!("{}: {e}", parent.display()))?;
    if p.uid() == owner.0 {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(qdir)
        .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", qdir.display()))?;
    std::os::unix::fs::lchown(qdir, Some(owner.0), Some(owner.1))
        .map_err(|e| anyhow::anyhow!("{}: cannot give it to uid {}: {e}", qdir.display(), owner.0))
}

/// `quarantine --each --to TEMPLATE PATH...`.
pub(crate) fn run_quarantine_each(args: &QuarantineArgs, log: &mut RunLog) -> anyhow::Result<i32> {
    let paths = &args.selection.paths;
    check_paths(paths)?;
    if !crate::act::placement::is_mailbox_template(&args.to) {
        anyhow::bail!(
            "{}: with --each, --to must name each mailbox's quarantine folder with {{mailbox}} or {{name}}, e.g. --to '{{mailbox}}/.Quarantine' (Maildirs) or --to '/var/mail/.quarantine/{{name}}' (mbox spools)",
            args.to.display()
        );
    }
    log.set_paths(paths);
    log.set("qdir", args.to.to_string_lossy().into_owned());
    log.set("dry_run", args.dry_run);
    let opts = args.selection.scan_options();
    #[derive(Default, Serialize)]
    struct Totals {
        version: u32,
        mailboxes: usize,
        failed: usize,
        dry_run: bool,
        mailboxes_acted_on: usize,
        moved: usize,
        moved_bytes: u64,
        flags_merged: usize,
        mboxes_rewritten: usize,
        left: usize,
        unreadable: usize,
        failures: Vec<Failure>,
    }
    let mut t = Totals {
        version: 1,
        mailboxes: paths.len(),
        dry_run: args.dry_run,
        ..Default::default()
    };
    let progress = Progress::new(!args.no_progress && !args.json && !args.quiet);
    progress.stage(
        if args.dry_run { "planning" } else { "moving" },
        "mailboxes",
        Some(paths.len() as u64),
    );
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut write_err = None;
    each_mailbox(
        paths,
        usize::from(args.fleet.jobs),
        |p| quarantine_mailbox(p, args, &opts),
        |i, r| {
            progress.inc(1);
            // On a terminal, what the mailbox prints goes out under the bar, at once.
            progress.suspend(|| {
                let name = mailbox_name(&paths[i]);
                let res = match r {
                    Err(e) => {
                        print_error(&e);
                        log.errors.push(format!("{name}: {e}"));
                        t.failed += 1;
                        let line = args.json.then(|| {
                            serde_json::json!({"mailbox": &name, "error": &e}).to_string()
                        });
                        t.failures.push(Failure {
                            mailbox: name,
                            error: e,
                        });
                        line.map(|l| writeln!(stdout, "{l}"))
                    }
                    Ok(d) => {
                        for line in d.no_store.iter().chain(d.error.iter()) {
                            print_error(&format!("mailbox {name}: {line}"));
                            log.errors.push(line.clone());
                        }
                        for line in &d.problems {
                            eprintln!("{}", esc(line));
                            log.errors.push(line.clone());
                        }
                        for l in &d.left {
                            log.errors.push(format!("left in place: {l}"));
                            if args.quiet {
                                eprintln!("left in place: {}", esc(l));
                            }
                        }
                        if d.error.is_some() {
                            t.failures.push(Failure {
                                mailbox: name.clone(),
                                error: d.error.clone().unwrap_or_default(),
                            });
                            t.failed += 1;
                        }
                        t.unreadable += d.problems.len() + d.no_store.len();
                        t.moved += d.moved;
                        t.moved_bytes += d.moved_bytes;
                        t.flags_merged += d.flags_merged;
                        t.mboxes_rewritten += d.mboxes_rewritten;
                        t.left += d.left.len();
                        if d.moved + d.flags_merged > 0 {
                            t.mailboxes_acted_on += 1;
                        }
                        match (&d.json, &d.text) {
                            (Some(l), _) => Some(writeln!(stdout, "{l}")),
                            (None, Some(text)) if !args.quiet => {
                                Some(write_section(&mut stdout, &paths[i], text))
                            }
                            _ => None,
                        }
                    }
                };
                // A JSON line goes out whole as soon as it is written, so that a reader can
                // follow the run (`| jq -c`); text waits for the buffer.
                let res = match res {
                    Some(Ok(())) if args.json || progress.shown() => Some(stdout.flush()),
                    other => other,
                };
                if let Some(Err(e)) = res {
                    write_err.get_or_insert(e);
                }
            });
        },
    );
    progress.finish();
    if let Some(e) = write_err {
        return Err(e.into());
    }
    log.set("summary", serde_json::to_value(&t)?);
    if args.json {
        writeln!(stdout, "{}", serde_json::json!({ "fleet": &t }))?;
    } else if !args.quiet {
        writeln!(
            stdout,
            "Fleet: {} ({} failed); {} {} ({}) in {} into their quarantine folders; merged flags into {}; rewrote {}; {} left in place.",
            count(t.mailboxes, "mailbox", "mailboxes"),
            thousands(t.failed),
            if args.dry_run { "would move" } else { "moved" },
            count(t.moved, "extra copy", "extra copies"),
            human_bytes(t.moved_bytes),
            count(t.mailboxes_acted_on, "mailbox", "mailboxes"),
            count(t.flags_merged, "kept copy", "kept copies"),
            count(t.mboxes_rewritten, "mbox file", "mbox files"),
            thousands(t.left),
        )?;
        for fl in &t.failures {
            writeln!(stdout, "failed: {}: {}", esc(&fl.mailbox), esc(&fl.error))?;
        }
        if !args.dry_run && t.mailboxes_acted_on > 0 {
            writeln!(
                stdout,
                "Undo with: maildedup restore QDIR... (each mailbox's {})",
                esc(&args.to.to_string_lossy())
            )?;
        }
    }
    stdout.flush()?;
    Ok(if t.failed > 0 || t.unreadable > 0 {
        eprintln!(
            "maildedup: incomplete: {} failed, {} could not be read; every other mailbox was done",
            count(t.failed, "mailbox", "mailboxes"),
            count(t.unreadable, "file or folder", "files or folders")
        );
        EXIT_INCOMPLETE
    } else if t.left > 0 {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    })
}

/// Is this a `--each` run? (For the dispatch in `scan` and `quarantine`.)
pub(crate) fn wanted(f: &FleetArgs) -> bool {
    f.each
}
