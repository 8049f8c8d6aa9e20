//! The command line: argument parsing, exit codes, and output.

use crate::group::{group, GroupOptions, KeepRule, DEFAULT_WINDOW_SECS};
use crate::progress::Progress;
use crate::report::Report;
use crate::scan::{scan, ScanOptions};
use crate::term::{self, escape as esc};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

/// Exit code: the command completed (for `scan --check`: no duplicates).
pub const EXIT_OK: i32 = 0;
/// Exit code: `scan --check` found duplicate groups.
pub const EXIT_DUPLICATES: i32 = 1;
/// Exit code: usage error or fatal error.
pub const EXIT_FATAL: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "maildedup",
    version,
    about = "Find duplicate messages in Maildir and mbox stores and move the extras aside, losslessly.",
    long_about = "Find duplicate messages in Maildir and mbox stores and move the extras aside, losslessly.\n\n\
Two copies are duplicates when they have the same Message-ID and the same content hash: a \
hash of what the sender wrote that ignores what delivery and mail stores add (Received, \
Status, list headers, line endings, >From quoting). Copies with the same Message-ID but \
different content (a list copy with a [tag] in its subject) are conflicts: reported, never moved.\n\n\
Start with `maildedup scan PATH...`; it never writes to a store.",
    after_help = "Exit codes: 0 done; 1 `scan --check` found duplicates; 2 usage or fatal error; \
3 `quarantine`/`restore` done, but some copies were left as they were (each is listed)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Find and classify duplicate copies (read-only).
    #[command(
        long_about = "Find and classify duplicate copies. Reads every Maildir, Maildir++ folder and mbox \
file under each PATH (folders are searched recursively; symlinks are not followed) and reports \
duplicate groups, the copy each group keeps, and whether each extra copy was delivered at the \
same time as the kept one (a delivery-side duplicate) or later (a re-download). Never writes to a store.",
        after_help = "Examples:\n  maildedup scan ~/Maildir\n  maildedup scan --json /var/mail/alice ~/mail/archive.mbox > report.json\n  maildedup scan --check -q ~/Maildir || echo 'duplicates found'\n\n\
Exit codes: 0 scan completed; 1 with --check when duplicates were found; 2 usage or fatal error."
    )]
    Scan(ScanArgs),

    /// Move every extra copy into a quarantine Maildir (never deletes mail).
    #[command(
        long_about = "Scan, then move every extra copy into QDIR, a Maildir any mail client can open. \
Maildir files are moved as they are; mbox messages are extracted (From_ line removed, >From quoting \
undone) and the mbox is rewritten without them, under its dotlock and fcntl lock, after checking \
that nothing changed since the scan. Flags of the extra copies (Seen, Replied, Flagged, Passed) are \
merged into the kept copy. Every change is recorded in QDIR/manifest.jsonl, fsynced before it is \
made, so `maildedup restore QDIR` can undo it byte for byte. Conflicts are never moved.",
        after_help = "Examples:\n  maildedup quarantine --dry-run ~/Maildir --to ~/dedup-quarantine\n  maildedup quarantine ~/Maildir ~/mail/*.mbox --to ~/dedup-quarantine --only same-time\n  maildedup restore ~/dedup-quarantine\n\n\
Exit codes: 0 done; 2 usage or fatal error (the run stopped; nothing is lost: see the summary); \
3 done, but some copies were left in place (changed since the scan, vanished, or locked)."
    )]
    Quarantine(QuarantineArgs),

    /// Put every quarantined copy back where it came from and undo flag merges.
    #[command(
        after_help = "Exit codes: 0 done; 2 usage or fatal error; 3 done, but some records could not be undone (listed)."
    )]
    Restore(RestoreArgs),
}

#[derive(Args, Debug, Clone)]
pub struct LockArgs {
    /// How to lock an mbox before rewriting it.
    #[arg(long, value_enum, default_value_t = crate::lock::LockMethod::Both)]
    pub mbox_lock: crate::lock::LockMethod,

    /// Give up on an mbox whose lock can't be had within this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub lock_timeout: u64,
}

impl LockArgs {
    pub fn options(&self) -> crate::lock::LockOptions {
        crate::lock::LockOptions {
            method: self.mbox_lock,
            timeout: std::time::Duration::from_secs(self.lock_timeout),
        }
    }
}

#[derive(Args, Debug)]
pub struct QuarantineArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// The quarantine folder (a Maildir; created mode 0700 if missing; later runs append).
    #[arg(long, value_name = "QDIR", required = true)]
    pub to: PathBuf,

    /// Only move extra copies of this class.
    #[arg(long, value_name = "CLASS", value_parser = parse_class)]
    pub only: Option<crate::group::Class>,

    /// Print the plan and touch nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub lock: LockArgs,

    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The quarantine folder given to `quarantine --to`.
    #[arg(value_name = "QDIR")]
    pub qdir: PathBuf,

    /// Print what would be restored and touch nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub lock: LockArgs,
}

fn parse_class(s: &str) -> Result<crate::group::Class, String> {
    match s {
        "same-time" => Ok(crate::group::Class::SameTime),
        "different-time" => Ok(crate::group::Class::DifferentTime),
        _ => Err("expected same-time or different-time".into()),
    }
}

/// Exit code: done, but something was left as it was (listed in the output).
pub const EXIT_PARTIAL: i32 = 3;

#[derive(Args, Debug, Clone)]
pub struct Selection {
    /// Maildir folders, mbox files, or folders holding them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Which copy of a group to keep.
    #[arg(long, value_enum, default_value_t = KeepRule::Earliest)]
    pub keep: KeepRule,

    /// Keep copies under this path in preference (repeatable; earlier wins). Applied
    /// before --keep: e.g. `--prefer ~/Maildir/.Archive` keeps the archived copy.
    #[arg(long, value_name = "PATH")]
    pub prefer: Vec<PathBuf>,

    /// Extra copies delivered within this many seconds of the kept copy are `same-time`
    /// (a delivery-side duplicate); later ones are `different-time` (a re-download).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_WINDOW_SECS)]
    pub same_time_window: i64,

    /// Digest every message body, not only those that can have a duplicate (slower; the
    /// result is the same).
    #[arg(long, hide = true)]
    pub hash_all: bool,
}

impl Selection {
    pub fn group_options(&self) -> GroupOptions {
        GroupOptions {
            keep: self.keep,
            prefer: self.prefer.clone(),
            window_secs: self.same_time_window,
        }
    }
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Print the full report as JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,

    /// Exit with 1 when duplicates were found (for cron and monitoring).
    #[arg(long)]
    pub check: bool,

    /// List conflicts and skipped files in the summary.
    #[arg(short, long)]
    pub verbose: bool,

    /// Print nothing on stdout (use with --check).
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,

    /// How many of the largest groups the summary lists.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub largest: usize,

    /// Never show a progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_FATAL } else { EXIT_OK };
        }
    };
    let result = match cli.command {
        Command::Scan(args) => run_scan(&args),
        Command::Quarantine(args) => run_quarantine(&args),
        Command::Restore(args) => run_restore(&args),
    };
    crate::fault::report();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "maildedup: error: {}",
                crate::term::escape(&format!("{e:#}"))
            );
            EXIT_FATAL
        }
    }
}

fn run_scan(args: &ScanArgs) -> anyhow::Result<i32> {
    let sel = &args.selection;
    let progress = Progress::new(!args.no_progress && !args.quiet);
    for p in &sel.paths {
        if std::fs::symlink_metadata(p).is_err() {
            anyhow::bail!("{}: no such file or directory", p.display());
        }
    }
    let out = scan(
        &sel.paths,
        &ScanOptions {
            hash_all: sel.hash_all,
        },
        &progress,
    );
    let grouping = group(&out, &sel.group_options());
    let report = Report::build(&out, &grouping);
    // Buffered: the report can have hundreds of thousands of lines.
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else if !args.quiet {
        write!(stdout, "{}", report.human(args.verbose, args.largest))?;
    }
    stdout.flush()?;
    Ok(if args.check && !report.groups.is_empty() {
        EXIT_DUPLICATES
    } else {
        EXIT_OK
    })
}

fn scan_selection(sel: &Selection, progress: &Progress) -> anyhow::Result<crate::scan::ScanOutput> {
    for p in &sel.paths {
        if std::fs::symlink_metadata(p).is_err() {
            anyhow::bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(scan(
        &sel.paths,
        &ScanOptions {
            hash_all: sel.hash_all,
        },
        progress,
    ))
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut stdout, v)?;
    writeln!(stdout)?;
    stdout.flush()?;
    Ok(())
}

fn run_quarantine(args: &QuarantineArgs) -> anyhow::Result<i32> {
    use crate::quarantine::Quarantine;
    let sel = &args.selection;
    let progress = Progress::new(!args.no_progress && !args.json);
    // The quarantine folder must not be inside a scanned path: it would be scanned as a
    // store next time, and its copies taken for duplicates.
    let qabs = std::path::absolute(&args.to)?;
    for p in &sel.paths {
        let pabs = std::fs::canonicalize(p).unwrap_or(std::path::absolute(p)?);
        let qcanon = std::fs::canonicalize(&args.to).unwrap_or_else(|_| qabs.clone());
        if qabs.starts_with(&pabs) || qcanon.starts_with(&pabs) || pabs.starts_with(&qcanon) {
            anyhow::bail!(
                "{}: the quarantine folder must not be inside (or contain) the scanned path {}",
                args.to.display(),
                p.display()
            );
        }
    }
    let out = scan_selection(sel, &progress)?;
    let grouping = group(&out, &sel.group_options());
    let plan = crate::plan::plan(&out, &grouping, args.only);
    let planned_bytes: u64 = plan.moves.iter().map(|m| out.copies[m.copy].length).sum();
    if args.dry_run {
        let moves: Vec<serde_json::Value> = plan
            .moves
            .iter()
            .map(|m| {
                let c = &out.copies[m.copy];
                let k = &out.copies[m.kept];
                serde_json::json!({
                    "path": c.path(&out.stores).to_string_lossy(),
                    "offset": c.offset(),
                    "length": c.length,
                    "class": m.class,
                    "kept": { "path": k.path(&out.stores).to_string_lossy(), "offset": k.offset() },
                })
            })
            .collect();
        let flags: Vec<serde_json::Value> = plan
            .flag_merges
            .iter()
            .map(|f| {
                let c = &out.copies[f.copy];
                serde_json::json!({ "path": c.path(&out.stores).to_string_lossy(), "offset": c.offset(), "add": f.add.to_string() })
            })
            .collect();
        if args.json {
            print_json(&serde_json::json!({
                "version": 1, "dry_run": true, "qdir": args.to.to_string_lossy(),
                "summary": { "moves": moves.len(), "bytes": planned_bytes, "flag_merges": flags.len(),
                             "conflicts_left": grouping.conflicts.len() },
                "moves": moves, "flag_merges": flags,
            }))?;
        } else {
            let mut o = std::io::stdout().lock();
            for m in &moves {
                writeln!(
                    o,
                    "would move {}{} ({}) keeping {}",
                    esc(m["path"].as_str().unwrap_or("")),
                    m["offset"]
                        .as_u64()
                        .map(|x| format!(" @{x}"))
                        .unwrap_or_default(),
                    m["class"].as_str().unwrap_or(""),
                    esc(m["kept"]["path"].as_str().unwrap_or(""))
                )?;
            }
            for f in &flags {
                writeln!(
                    o,
                    "would add flags {} to {}",
                    esc(f["add"].as_str().unwrap_or("")),
                    esc(f["path"].as_str().unwrap_or(""))
                )?;
            }
            writeln!(
                o,
                "Dry run: would move {} extra copies ({}) into {} and merge flags into {} kept copies; {} conflicts left alone.",
                moves.len(),
                crate::report::human_bytes(planned_bytes),
                term::path(&args.to),
                flags.len(),
                grouping.conflicts.len()
            )?;
        }
        return Ok(EXIT_OK);
    }
    if plan.moves.is_empty() && plan.flag_merges.is_empty() {
        if args.json {
            print_json(
                &serde_json::json!({"version": 1, "dry_run": false, "qdir": args.to.to_string_lossy(),
                "outcome": crate::quarantine::Outcome::default()}),
            )?;
        } else {
            println!("Nothing to quarantine: no duplicate copies found.");
        }
        return Ok(EXIT_OK);
    }
    let mut q = Quarantine::start(&out, &grouping, &args.to, args.lock.options())?;
    let result = q.run(&plan);
    let outcome = std::mem::take(&mut q.outcome);
    if args.json {
        print_json(
            &serde_json::json!({"version": 1, "dry_run": false, "qdir": args.to.to_string_lossy(),
            "outcome": &outcome, "error": result.as_ref().err().map(|e| e.to_string())}),
        )?;
    } else {
        println!(
            "Moved {} extra copies ({} same-time, {} different-time; {}) into {}.",
            outcome.moved,
            outcome.same_time,
            outcome.different_time,
            crate::report::human_bytes(outcome.moved_bytes),
            term::path(&args.to)
        );
        println!(
            "Merged flags into {} kept copies; rewrote {} mbox files; {} conflicts left alone.",
            outcome.flags_merged,
            outcome.mboxes_rewritten,
            grouping.conflicts.len()
        );
        for p in &outcome.left {
            println!(
                "left in place: {}{}: {}",
                esc(&p.path),
                p.offset.map(|o| format!(" @{o}")).unwrap_or_default(),
                esc(&p.reason)
            );
        }
        println!("Undo with: maildedup restore {}", term::path(&args.to));
    }
    result.map_err(|e| {
        anyhow::anyhow!(
            "quarantine stopped: {e} (nothing was lost: every copy is in its store or in {})",
            args.to.display()
        )
    })?;
    Ok(if outcome.left.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    })
}

fn run_restore(args: &RestoreArgs) -> anyhow::Result<i32> {
    let mut r = crate::restore::Restore::open(&args.qdir, args.lock.options(), args.dry_run)?;
    let result = r.run();
    let outcome = std::mem::take(&mut r.outcome);
    if args.json {
        print_json(
            &serde_json::json!({"version": 1, "dry_run": args.dry_run, "qdir": args.qdir.to_string_lossy(),
            "outcome": &outcome, "error": result.as_ref().err().map(|e| e.to_string())}),
        )?;
    } else {
        for a in &outcome.actions {
            println!("would {}", esc(a));
        }
        println!(
            "{} {} copies, undid {} flag merges, rewrote {} mbox files ({} already in place).",
            if args.dry_run {
                "Dry run: would restore"
            } else {
                "Restored"
            },
            outcome.restored,
            outcome.flags_undone,
            outcome.mboxes_restored,
            outcome.already
        );
        for p in &outcome.problems {
            println!(
                "not restored: {}{}: {}",
                esc(&p.path),
                p.offset.map(|o| format!(" @{o}")).unwrap_or_default(),
                esc(&p.reason)
            );
        }
    }
    result.map_err(|e| anyhow::anyhow!("restore stopped: {e} (run it again to finish)"))?;
    Ok(if outcome.problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    })
}
