//! The command line: argument parsing, exit codes, and output.

use crate::group::{group, GroupOptions, KeepRule, DEFAULT_WINDOW_SECS};
use crate::progress::Progress;
use crate::report::Report;
use crate::scan::{scan, ScanOptions};
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
    after_help = "Exit codes: 0 done; 1 `scan --check` found duplicates; 2 usage or fatal error."
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
}

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
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("maildedup: error: {e:#}");
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
    let mut stdout = std::io::stdout().lock();
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
