//! The command line: argument parsing, exit codes, and output.

pub mod config;
pub mod manpage;
pub mod progress;

use crate::act::runlog::RunLog;
use crate::cli::progress::Progress;
use crate::group::{group, GroupOptions, KeepRule, DEFAULT_WINDOW_SECS};
use crate::model::SkipKind;
use crate::render::report::{count, thousands, Report};
use crate::render::style::Paint;
use crate::render::term::{self, escape as esc};
use crate::scan::{scan, ScanOptions};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Exit code: the command completed (for `scan --check`: no duplicates).
pub const EXIT_OK: i32 = 0;
/// Exit code: `scan --check` found duplicate groups.
pub const EXIT_DUPLICATES: i32 = 1;
/// Exit code: usage error or fatal error.
pub const EXIT_FATAL: i32 = 2;
/// Exit code: the run was incomplete. A PATH yielded no mail store, or files or folders
/// could not be read; everything else was scanned and reported (and, for `quarantine`,
/// acted on). It wins over 3 and 1: a scheduled run must not hide a path it cannot see.
pub const EXIT_INCOMPLETE: i32 = 4;

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
Start with `maildedup scan PATH...`; it never writes to a store. It never deletes mail.\n\n\
Options a scheduled run repeats (paths, --to, --keep, --same-time-window, --only, --log, ...) can \
live in a config file, maildedup.toml (see --config); flags given on the command line win over it.",
    after_help = "Examples:\n  maildedup scan ~/Maildir ~/mail/archive.mbox\n  \
maildedup quarantine --dry-run ~/Maildir --to ~/dedup-quarantine\n  \
maildedup quarantine -q --only same-time    # PATH... and --to from maildedup.toml\n  \
maildedup restore ~/dedup-quarantine\n\n\
Exit codes: 0 done; 1 `scan --check` found duplicates; 2 usage or fatal error; \
3 `quarantine`/`restore` done, but some copies were left as they were (each is listed); \
4 incomplete: a PATH yielded no mail store, or files could not be read (the rest was done).",
    styles = crate::render::style::CLAP_STYLES
)]
pub struct Cli {
    /// Read options from this TOML file instead of the default
    /// $XDG_CONFIG_HOME/maildedup/maildedup.toml (~/.config/...; read only if it exists).
    /// Flags on the command line win over the file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// When to colour the output: auto (on a terminal, unless NO_COLOR is set or
    /// TERM=dumb), always, or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = crate::render::style::ColorWhen::Auto)]
    pub color: crate::render::style::ColorWhen,

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
same time as the kept one (a delivery-side duplicate) or later (a re-download). It never writes \
to a store: it writes only to stdout, stderr, the --log file and its fingerprint cache \
($XDG_CACHE_HOME/maildedup/; --no-cache skips it).\n\n\
When stdout is not a terminal (cron, systemd, a pipe), only the summary is printed; -v adds a \
table per store and lists conflicts and skipped files; -q prints nothing.",
        after_help = "Examples:\n  maildedup scan ~/Maildir\n  maildedup scan --json /var/mail/alice ~/mail/archive.mbox > report.json\n  maildedup scan --check -q ~/Maildir || echo 'duplicates found'\n  maildedup scan -v --log ~/.local/state/maildedup/runs.jsonl ~/Maildir\n\n\
Exit codes: 0 scan completed; 1 with --check when duplicates were found; 2 usage or fatal error \
(no PATH yielded a mail store); 4 incomplete: a PATH yielded no mail store, or files could not be \
read (the rest was scanned and reported)."
    )]
    Scan(ScanArgs),

    /// Move every extra copy into a quarantine Maildir (never deletes mail).
    #[command(
        long_about = "Scan, then move every extra copy into QDIR, a Maildir any mail client can open. \
Maildir files are moved as they are; mbox messages are extracted (From_ line removed, >From quoting \
undone) and the mbox is rewritten in place without them (the same file, never a new one, so a \
program that has it open loses nothing), under its dotlock and fcntl lock, after checking that \
nothing changed since the scan; the new tail is kept in QDIR until it is written, so a run killed \
half-way is finished by the next one. Flags of the extra copies (Seen, Replied, Flagged, Passed) \
are merged into the kept copy. Every change is recorded in QDIR/manifest.jsonl, fsynced before it \
is made, so `maildedup restore QDIR` can undo it byte for byte. It never deletes mail and never \
moves a conflict.",
        after_help = "Examples:\n  maildedup quarantine --dry-run ~/Maildir --to ~/dedup-quarantine\n  maildedup quarantine ~/Maildir ~/mail/*.mbox --to ~/dedup-quarantine --only same-time\n  maildedup quarantine -q --only same-time    # PATH... and --to from maildedup.toml\n  maildedup restore ~/dedup-quarantine\n\n\
Exit codes: 0 done; 2 usage or fatal error (the run stopped; nothing is lost: see the summary); \
3 done, but some copies were left in place (changed since the scan, vanished, or locked); \
4 incomplete: a PATH yielded no mail store, or files could not be read (the rest was done)."
    )]
    Quarantine(QuarantineArgs),

    /// Put every quarantined copy back where it came from and undo flag merges.
    #[command(
        long_about = "Undo what `quarantine` did into QDIR, as recorded in QDIR/manifest.jsonl: put every \
quarantined copy back where it came from, byte for byte (a Maildir file under its folder and name, \
an mbox message at its original offset, under the mbox's locks) and undo every flag merge. A run \
that was interrupted can simply be run again. It never overwrites an existing file, never writes \
outside the stores the quarantine recorded, refuses an mbox that changed other than by appends, and \
removes a file from QDIR only once its bytes are verified back in the store.",
        after_help = "Examples:\n  maildedup restore --dry-run ~/dedup-quarantine\n  maildedup restore ~/dedup-quarantine\n\n\
Exit codes: 0 done; 2 usage or fatal error; 3 done, but some records could not be undone (listed)."
    )]
    Restore(RestoreArgs),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        long_about = "Print the completion script for SHELL on stdout, generated from the same definitions \
as --help, so it always knows every subcommand, option and value. It never installs anything: \
redirect it to where your shell looks for completions.",
        after_help = "Examples:\n  maildedup completions bash > ~/.local/share/bash-completion/completions/maildedup\n  \
maildedup completions zsh > ~/.zfunc/_maildedup    # with fpath+=(~/.zfunc) before compinit\n  \
maildedup completions fish > ~/.config/fish/completions/maildedup.fish"
    )]
    Completions(CompletionsArgs),

    /// Print the manual page (roff) on stdout.
    #[command(
        long_about = "Print the manual page maildedup(1), or maildedup-COMMAND(1) for one subcommand, as \
roff on stdout, generated from the same definitions as --help. It never installs anything.",
        after_help = "Examples:\n  maildedup man | man -l -\n  maildedup man > /usr/local/share/man/man1/maildedup.1\n  \
maildedup man quarantine > /usr/local/share/man/man1/maildedup-quarantine.1\n  \
maildedup man --dir /usr/local/share/man/man1    # every page"
    )]
    Man(ManArgs),
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The subcommand whose page to print (default: the main page).
    #[arg(value_name = "COMMAND", value_parser = ["scan", "quarantine", "restore", "completions", "man"])]
    pub command: Option<String>,

    /// Instead, write every page (maildedup.1 and maildedup-COMMAND.1 for each
    /// subcommand) into DIR, creating it, and print the files written.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}

/// `--log FILE`, shared by scan, quarantine and restore.
#[derive(Args, Debug, Clone)]
pub struct LogArg {
    /// Append a one-line JSON record of this run to FILE (created mode 0600 if new): time,
    /// command, paths, summary counts, exit code, errors.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}

/// `--only`: which class of extra copies `quarantine` moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnlyClass {
    /// Delivered within the window of the kept copy (a delivery-side duplicate).
    SameTime,
    /// Delivered later (a re-download): worth a look before moving.
    DifferentTime,
    /// Every class (the default; overrides `only` in the config file).
    All,
}

impl OnlyClass {
    pub fn class(self) -> Option<crate::group::Class> {
        match self {
            OnlyClass::SameTime => Some(crate::group::Class::SameTime),
            OnlyClass::DifferentTime => Some(crate::group::Class::DifferentTime),
            OnlyClass::All => None,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct LockArgs {
    /// How to lock an mbox before rewriting it.
    #[arg(long, value_enum, default_value_t = crate::store::lock::LockMethod::Both)]
    pub mbox_lock: crate::store::lock::LockMethod,

    /// Give up on an mbox whose lock can't be had within this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub lock_timeout: u64,
}

impl LockArgs {
    pub fn options(&self) -> crate::store::lock::LockOptions {
        crate::store::lock::LockOptions {
            method: self.mbox_lock,
            timeout: std::time::Duration::from_secs(self.lock_timeout),
        }
    }
}

#[derive(Args, Debug)]
pub struct QuarantineArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// The quarantine folder (a Maildir; created mode 0700 if missing; later runs append;
    /// required unless the config file has `to`).
    #[arg(long, value_name = "QDIR", required = true)]
    pub to: PathBuf,

    /// Only move extra copies of this class.
    #[arg(long, value_name = "CLASS", value_enum)]
    pub only: Option<OnlyClass>,

    /// Print the plan and touch nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: also write the scan report as one self-contained HTML page to FILE
    /// (as `scan --html`).
    #[arg(long, value_name = "FILE", requires = "dry_run")]
    pub html: Option<PathBuf>,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub lock: LockArgs,

    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,

    /// Print nothing on stdout; copies left in place, and folders or files that could not
    /// be read, are still listed, on stderr.
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,

    #[command(flatten)]
    pub log: LogArg,
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

    /// Print nothing on stdout; records that could not be undone are still listed, on
    /// stderr.
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,

    #[command(flatten)]
    pub log: LogArg,
}

/// Exit code: done, but something was left as it was (listed in the output).
pub const EXIT_PARTIAL: i32 = 3;

#[derive(Args, Debug, Clone)]
pub struct Selection {
    /// Maildir folders, mbox files, or folders holding them (required unless the config
    /// file has `paths`).
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

    /// Apply --keep and --prefer across folders: keep one copy per group, and take copies
    /// out of other folders (ties go to the INBOX first, then other folders, then Archive,
    /// Sent/Drafts, Junk/Spam, Trash). Without it, a folder (a Maildir folder, each
    /// Maildir++ subfolder, an mbox file) is never left without a copy of a message it
    /// held: only extra copies within one folder move. (`--across-folders=false` undoes
    /// `across_folders = true` from the config file.)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub across_folders: bool,

    /// Digest every message body, not only those that can have a duplicate (slower; the
    /// result is the same).
    #[arg(long, hide = true)]
    pub hash_all: bool,

    /// Keep the fingerprint cache in DIR (default: $XDG_CACHE_HOME/maildedup, else
    /// ~/.cache/maildedup). Unchanged Maildir messages and unchanged mbox prefixes are
    /// then not read again; the report is the same as without it.
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache: Option<PathBuf>,

    /// Neither read nor write the fingerprint cache. (`--no-cache=false` undoes a
    /// `no_cache = true` from the config file.)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub no_cache: bool,

    /// With the cache, stat every cached Maildir file and read it again if its size or
    /// mtime changed (for stores whose files are rewritten in place, against the Maildir rules).
    /// (`--paranoid=false` undoes `paranoid = true` from the config file.)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub paranoid: bool,
}

impl Selection {
    pub fn scan_options(&self) -> ScanOptions {
        let cache = if self.no_cache {
            None
        } else {
            let dir = self
                .cache
                .clone()
                .or_else(crate::cli::config::default_cache_dir);
            if dir.is_none() {
                eprintln!(
                    "maildedup: warning: no cache folder (set XDG_CACHE_HOME or HOME, or pass --cache DIR); scanning without the cache"
                );
            }
            dir
        };
        ScanOptions {
            hash_all: self.hash_all,
            cache,
            paranoid: self.paranoid,
        }
    }

    pub fn group_options(&self) -> GroupOptions {
        GroupOptions {
            keep: self.keep,
            prefer: self.prefer.clone(),
            window_secs: self.same_time_window,
            across_folders: self.across_folders,
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

    /// Explain per store (messages, groups, extra copies, conflicts, skipped) and list
    /// conflicts and skipped files.
    #[arg(short, long)]
    pub verbose: bool,

    /// Print nothing on stdout (use with --check); folders or files that could not be read
    /// are still named, on stderr.
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,

    /// How many of the largest groups the summary lists [default: 5 when stdout is a
    /// terminal or with -v, else 0].
    #[arg(long, value_name = "N")]
    pub largest: Option<usize>,

    /// Never show a progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,

    #[command(flatten)]
    pub log: LogArg,

    /// Also write the report as one self-contained HTML page (summary, timeline,
    /// incident windows, the largest groups side by side, conflicts) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub fn run() -> i32 {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = match parse(&argv) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = match cli.command {
        Command::Scan(args) => logged("scan", &args.log, |log| run_scan(&args, cli.color, log)),
        Command::Quarantine(args) => {
            logged("quarantine", &args.log, |log| run_quarantine(&args, log))
        }
        Command::Restore(args) => logged("restore", &args.log, |log| run_restore(&args, log)),
        Command::Completions(args) => run_completions(&args),
        Command::Man(args) => run_man(&args),
    };
    crate::fault::report();
    match result {
        Ok(code) => code,
        Err(e) => {
            print_error(&format!("{e:#}"));
            EXIT_FATAL
        }
    }
}

/// The command definition, with clap's own colours following `--color` (read from the
/// raw arguments: clap colours its help and errors before our parsed value exists).
fn command(argv: &[OsString]) -> clap::Command {
    use clap::ValueEnum;
    let mut when = None;
    for (i, a) in argv.iter().enumerate() {
        let a = a.to_string_lossy();
        if let Some(v) = a.strip_prefix("--color=") {
            when = Some(v.to_string());
        } else if a == "--color" {
            when = argv.get(i + 1).map(|v| v.to_string_lossy().into_owned());
        } else if a == "--" {
            break;
        }
    }
    let when = when
        .and_then(|w| crate::render::style::ColorWhen::from_str(&w, false).ok())
        .unwrap_or_default();
    Cli::command().color(when.clap())
}

/// Prints an error on stderr as clap prints its own: `maildedup: error: ` before the first
/// line, each further line (a TOML error's pointer lines, one line per PATH) indented
/// below it. Each line is escaped on its own, so a line break in the message stays a line
/// break and one inside a file name cannot forge a line.
fn print_error(message: &str) {
    let mut lines = message.lines();
    eprintln!(
        "maildedup: error: {}",
        esc(lines.next().unwrap_or_default())
    );
    for line in lines {
        if line.is_empty() {
            eprintln!();
        } else {
            eprintln!("  {}", esc(line));
        }
    }
}

/// Parses the command line over the config file's values (see `src/config.rs`); on
/// failure prints the message (or the help) and gives the exit code.
fn parse(argv: &[OsString]) -> Result<Cli, i32> {
    let fail = |e: clap::Error| {
        let _ = e.print();
        if e.use_stderr() {
            EXIT_FATAL
        } else {
            EXIT_OK
        }
    };
    // First without the config: help, version, completions and man never need it (and
    // help shows the built-in defaults).
    let plain = match command(argv).try_get_matches_from(argv) {
        Err(e) if !e.use_stderr() => return Err(fail(e)),
        other => other,
    };
    if let Ok(m) = &plain {
        if matches!(m.subcommand_name(), Some("completions" | "man")) {
            return Cli::from_arg_matches(m).map_err(fail);
        }
    }
    let config = match crate::cli::config::load(crate::cli::config::config_arg(argv).as_deref()) {
        Ok(c) => c,
        Err(e) => {
            print_error(&format!("{e:#}"));
            return Err(EXIT_FATAL);
        }
    };
    let matches = match config {
        None => plain,
        Some(config) => match config.apply(command(argv)) {
            Ok(cmd) => cmd.try_get_matches_from(argv),
            Err(e) => {
                print_error(&format!("{e:#}"));
                return Err(EXIT_FATAL);
            }
        },
    };
    matches
        .and_then(|m| {
            let mut cli = Cli::from_arg_matches(&m)?;
            // `--cache DIR` on the command line wins over `no_cache = true` in the file
            // (clap's conflict between the two only sees what the command line gave).
            if let Some((_, sub)) = m.subcommand() {
                let given = |id: &str| {
                    sub.try_get_raw(id).is_ok()
                        && sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
                };
                if given("cache") && !given("no_cache") {
                    match &mut cli.command {
                        Command::Scan(a) => a.selection.no_cache = false,
                        Command::Quarantine(a) => a.selection.no_cache = false,
                        _ => {}
                    }
                }
            }
            Ok(cli)
        })
        .map_err(|e| {
            let missing_paths = e.kind() == clap::error::ErrorKind::MissingRequiredArgument
                && e.to_string().contains("<PATH>");
            if !missing_paths {
                return fail(e);
            }
            // One message, not clap's and then ours.
            print_error(&format!(
                "no PATH given: name the stores to scan (Maildir folders, mbox files, or folders holding them), or set `paths` in the config file ({})\n\nUsage: maildedup {} [OPTIONS] <PATH>...\nFor more information, try '--help'.",
                crate::cli::config::config_arg(argv)
                    .or_else(crate::cli::config::default_path)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "--config FILE".into()),
                argv.get(1).map(|a| a.to_string_lossy()).unwrap_or_default(),
            ));
            EXIT_FATAL
        })
}

/// Runs `f` with a run log open on `--log` (if given), then appends its record. A log
/// that cannot be written is an error: a scheduled run must not go unrecorded silently.
fn logged(
    command: &str,
    arg: &LogArg,
    f: impl FnOnce(&mut RunLog) -> anyhow::Result<i32>,
) -> anyhow::Result<i32> {
    let mut log = RunLog::open(arg.log.as_deref(), command)?;
    let result = f(&mut log);
    let code = match &result {
        Ok(code) => *code,
        Err(e) => {
            log.errors.push(format!("{e:#}"));
            EXIT_FATAL
        }
    };
    match log.finish(code) {
        Ok(()) => result,
        Err(le) => match result {
            Ok(EXIT_OK) => Err(le),
            Ok(code) => {
                print_error(&format!("{le:#}"));
                Ok(code)
            }
            Err(e) => {
                print_error(&format!("{le:#}"));
                Err(e)
            }
        },
    }
}

fn run_completions(args: &CompletionsArgs) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    let mut stdout = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "maildedup", &mut stdout);
    stdout.flush()?;
    Ok(EXIT_OK)
}

fn run_man(args: &ManArgs) -> anyhow::Result<i32> {
    let cmd = Cli::command();
    if let Some(dir) = &args.dir {
        for path in crate::cli::manpage::write_all(&cmd, dir)? {
            println!("{}", term::path(&path));
        }
        return Ok(EXIT_OK);
    }
    let page = crate::cli::manpage::page(&cmd, args.command.as_deref().unwrap_or("maildedup"))?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&page)?;
    stdout.flush()?;
    Ok(EXIT_OK)
}

fn run_scan(
    args: &ScanArgs,
    color: crate::render::style::ColorWhen,
    log: &mut RunLog,
) -> anyhow::Result<i32> {
    let sel = &args.selection;
    log.set_paths(&sel.paths);
    let progress = Progress::new(!args.no_progress && !args.quiet);
    let scanned = scan_selection(sel, &progress)?;
    let out = &scanned.out;
    let grouping = group(out, &sel.group_options());
    let report = Report::build(out, &grouping);
    log.set("summary", serde_json::to_value(&report.summary)?);
    // Nothing on stdout with -q, but a folder or file that could not be read is an error
    // (without -q the report lists it among the skipped).
    let incomplete = scanned.report_problems(log, args.quiet);
    if let Some(file) = &args.html {
        write_html(file, out, &grouping, &report, &sel.paths)?;
    }
    // Buffered: the report can have hundreds of thousands of lines.
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else if !args.quiet {
        // Not on a terminal (cron, systemd, a pipe): the summary only, unless asked.
        let tty = std::io::stdout().is_terminal();
        let largest = args
            .largest
            .unwrap_or(if tty || args.verbose { 5 } else { 0 });
        let paint = Paint::stdout(color);
        write!(
            stdout,
            "{}",
            report.human_painted(
                args.verbose,
                largest,
                tty || args.verbose,
                paint,
                term::stdout_width()
            )
        )?;
        if args.verbose {
            write!(
                stdout,
                "{}",
                crate::render::perstore::table(out, &grouping, paint)
            )?;
        }
    }
    stdout.flush()?;
    Ok(if let Some(code) = incomplete {
        code
    } else if args.check && !report.groups.is_empty() {
        EXIT_DUPLICATES
    } else {
        EXIT_OK
    })
}

fn write_html(
    file: &std::path::Path,
    out: &crate::model::ScanOutput,
    grouping: &crate::group::Grouping,
    report: &Report,
    paths: &[PathBuf],
) -> anyhow::Result<()> {
    let paths: Vec<String> = paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let page = crate::render::html::render(
        out,
        grouping,
        report,
        &paths,
        jiff::Timestamp::now().as_second(),
    );
    crate::render::html::write(file, &page)
        .map_err(|e| anyhow::anyhow!("{}: cannot write the HTML report: {e}", file.display()))
}

/// What was scanned, and what of the selection could not be: one line per PATH that
/// yielded no mail store, and one per folder or file that could not be read.
struct Scanned {
    out: crate::model::ScanOutput,
    unreadable: Vec<String>,
    paths_without_store: Vec<String>,
}

impl Scanned {
    /// Prints the PATH problems and the failed reads on stderr (`quiet` or not: they are
    /// errors) with a closing count, records them in the run log, and returns the exit
    /// code they call for, if any.
    fn report_problems(&self, log: &mut RunLog, print_failed_reads: bool) -> Option<i32> {
        for line in &self.paths_without_store {
            print_error(line);
            log.errors.push(line.clone());
        }
        for line in &self.unreadable {
            if print_failed_reads {
                eprintln!("{}", esc(line));
            }
            log.errors.push(line.clone());
        }
        let (p, u) = (self.paths_without_store.len(), self.unreadable.len());
        if p + u == 0 {
            return None;
        }
        let mut parts = Vec::new();
        if p > 0 {
            parts.push(format!(
                "{} yielded no mail store",
                count(p, "PATH", "PATHs")
            ));
        }
        if u > 0 {
            parts.push(format!(
                "{} could not be read",
                count(u, "file or folder", "files or folders")
            ));
        }
        eprintln!(
            "maildedup: incomplete: {}; everything else was scanned",
            parts.join(", ")
        );
        Some(EXIT_INCOMPLETE)
    }
}

/// Scans the selection. A PATH that is missing, not mail, or holds no store does not stop
/// the others; it is named in `paths_without_store`. When no PATH yields a store at all,
/// that is a fatal error.
fn scan_selection(sel: &Selection, progress: &Progress) -> anyhow::Result<Scanned> {
    let out = scan(&sel.paths, &sel.scan_options(), progress);
    let paths_without_store: Vec<String> = sel
        .paths
        .iter()
        .filter(|p| !yields_store(p, &out))
        .map(|p| match std::fs::symlink_metadata(p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("{}: no such file or directory", p.display())
            }
            Err(e) => format!("{}: cannot read: {e}", p.display()),
            Ok(m) if m.file_type().is_symlink() => {
                format!("{}: a symbolic link (not followed): no mail store", p.display())
            }
            Ok(m) if m.is_file() => format!(
                "{}: not a mail store (not an mbox file; give Maildir folders, mbox files, or folders holding them)",
                p.display()
            ),
            Ok(m) if !m.is_dir() => format!(
                "{}: not a regular file or folder (a FIFO, socket or device): no mail store",
                p.display()
            ),
            Ok(_) => match out.skipped.iter().find(|s| s.path.starts_with(p)) {
                // Say why: a Maildir through a symlinked cur/, an unreadable folder, ...
                Some(first) => format!(
                    "{}: no mail store read in this folder ({}: {})",
                    p.display(),
                    first.path.display(),
                    first.reason
                ),
                None => format!(
                    "{}: no mail store found in this folder (no Maildir, no mbox file)",
                    p.display()
                ),
            },
        })
        .collect();
    if !sel.paths.is_empty() && paths_without_store.len() == sel.paths.len() {
        anyhow::bail!("{}", paths_without_store.join("\n"));
    }
    let unreadable = failed_reads(
        out.skipped
            .iter()
            .filter(|s| !sel.paths.contains(&s.path) || yields_store(&s.path, &out)),
    );
    Ok(Scanned {
        out,
        unreadable,
        paths_without_store,
    })
}

/// Did PATH yield a mail store? An empty file, or a folder of empty files, counts as
/// an empty mbox: a mailbox whose mail was all read is no error.
fn yields_store(p: &std::path::Path, out: &crate::model::ScanOutput) -> bool {
    out.stores.iter().any(|s| s.path.starts_with(p))
        || out.skipped.iter().any(|s| {
            // An empty mbox, or a store that was renamed away while the scan walked
            // (a live server at work: the next run finds it where it went).
            s.path.starts_with(p)
                && (s.kind == SkipKind::Empty || (s.path != p && s.kind == SkipKind::Vanished))
        })
}

/// The skipped entries that are failures (a folder or file that could not be listed,
/// stat-ed or read, an mbox locked too long), not files that are simply not mail: one line
/// each, for stderr and the run log, so a quiet run still names them.
fn failed_reads<'a>(skipped: impl Iterator<Item = &'a crate::model::Skipped>) -> Vec<String> {
    skipped
        .filter(|s| s.is_failure())
        .map(|s| {
            format!(
                "skipped: {}{}: {}",
                s.path.display(),
                s.offset.map(|o| format!(" @{o}")).unwrap_or_default(),
                s.reason
            )
        })
        .collect()
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut stdout, v)?;
    writeln!(stdout)?;
    stdout.flush()?;
    Ok(())
}

/// A path as the kernel will resolve it once its missing folders are created: its
/// longest existing prefix canonicalized (symlinks and `..` resolved), the rest appended
/// with `.` and `..` applied to the names (folders not created yet are no symlinks).
fn resolve_path(p: &std::path::Path) -> std::io::Result<PathBuf> {
    use std::path::Component;
    let abs = std::path::absolute(p)?;
    let comps: Vec<Component> = abs.components().collect();
    for k in (0..=comps.len()).rev() {
        let prefix: PathBuf = comps[..k].iter().collect();
        let Ok(mut out) = std::fs::canonicalize(&prefix) else {
            continue;
        };
        for c in &comps[k..] {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(n) => out.push(n),
                _ => {}
            }
        }
        return Ok(out);
    }
    Ok(abs)
}

fn run_quarantine(args: &QuarantineArgs, log: &mut RunLog) -> anyhow::Result<i32> {
    use crate::act::quarantine::Quarantine;
    let sel = &args.selection;
    log.set_paths(&sel.paths);
    log.set("qdir", crate::act::runlog::absolute(&args.to));
    log.set("dry_run", args.dry_run);
    let only = args.only.and_then(OnlyClass::class);
    log.set("only", serde_json::to_value(only)?);
    let progress = Progress::new(!args.no_progress && !args.json && !args.quiet);
    // The quarantine folder must not be inside a scanned path: it would be scanned as a
    // store next time, and its copies taken for duplicates.
    // Both sides resolved as the kernel will: symlinks in the part that exists, `..`
    // (a QDIR not created yet, under a symlink or behind `x/..`, is still caught).
    let qabs = std::path::absolute(&args.to)?;
    let qres = resolve_path(&args.to)?;
    for p in &sel.paths {
        let pabs = std::fs::canonicalize(p).unwrap_or(std::path::absolute(p)?);
        let pres = resolve_path(p)?;
        if qabs.starts_with(&pabs)
            || qres.starts_with(&pabs)
            || qres.starts_with(&pres)
            || pres.starts_with(&qres)
        {
            anyhow::bail!(
                "{}: the quarantine folder must not be inside (or contain) the scanned path {}",
                args.to.display(),
                p.display()
            );
        }
    }
    // One run per store at a time (`crate::act::runlock`), taken before the scan: a run that
    // waited for another one scans what that run left.
    let _runlock = match args.dry_run {
        true => None,
        false => Some(crate::act::runlock::RunLock::for_paths(
            &sel.paths,
            args.lock.options().timeout,
        )?),
    };
    // An mbox a killed run left half-written in place is finished before it is scanned
    // (mail appended to it since is kept); one that cannot be is reported and left alone.
    let recovery = if args.dry_run {
        Vec::new()
    } else {
        crate::act::mbox_edit::recover_qdir(&args.to, &args.lock.options())?
    };
    let scanned = scan_selection(sel, &progress)?;
    let out = &scanned.out;
    // A folder or file that could not be read is never quarantined from: say so on stderr
    // in every mode (with -q too), and in the run log.
    let incomplete = scanned.report_problems(log, true);
    let done = |code: i32| incomplete.unwrap_or(code);
    let grouping = group(out, &sel.group_options());
    let plan = crate::act::plan::plan(out, &grouping, only);
    let planned_bytes: u64 = plan.moves.iter().map(|m| out.copies[m.copy].length).sum();
    if args.dry_run {
        if let Some(file) = &args.html {
            let report = Report::build(out, &grouping);
            write_html(file, out, &grouping, &report, &sel.paths)?;
        }
        let summary = serde_json::json!({ "moves": plan.moves.len(), "bytes": planned_bytes,
                             "flag_merges": plan.flag_merges.len(),
                             "conflicts_left": grouping.conflicts.len(),
        "cross_folder_copies": grouping.cross_folder_copies(),
                             "cross_folder_copies": grouping.cross_folder_copies(),
                             "across_folders": grouping.across_folders });
        log.set("summary", summary.clone());
        if args.json {
            use crate::render::plan_view::{AlsoIns, DryRun, FlagMerges, Moves};
            print_json(&DryRun {
                cross_folder: AlsoIns(out, &plan),
                dry_run: true,
                flag_merges: FlagMerges(out, &plan),
                moves: Moves(out, &plan),
                qdir: args.to.to_string_lossy().into_owned(),
                summary,
                version: 1,
            })?;
        } else if !args.quiet {
            let mut o = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            crate::render::plan_view::write_lines(&mut o, out, &plan)?;
            writeln!(
                o,
                "Dry run: would move {} ({}) into {} and merge flags into {}; {} left alone.",
                count(plan.moves.len(), "extra copy", "extra copies"),
                crate::render::report::human_bytes(planned_bytes),
                term::path(&args.to),
                count(plan.flag_merges.len(), "kept copy", "kept copies"),
                count(grouping.conflicts.len(), "conflict", "conflicts")
            )?;
            if !plan.also_in.is_empty() {
                writeln!(
                    o,
                    "Would keep {} in their folders though also in other folders (--across-folders moves them).",
                    count(plan.also_in.len(), "copy", "copies")
                )?;
            }
            o.flush()?;
        }
        return Ok(done(EXIT_OK));
    }
    if plan.moves.is_empty() && plan.flag_merges.is_empty() {
        let outcome = crate::act::quarantine::Outcome {
            left: recovery,
            ..Default::default()
        };
        log.set("summary", quarantine_summary(&outcome, &grouping));
        for p in &outcome.left {
            log.errors.push(format!("left in place: {p}"));
        }
        if args.json {
            print_json(
                &serde_json::json!({"version": 1, "dry_run": false, "qdir": args.to.to_string_lossy(),
                "outcome": &outcome,
                "cross_folder": crate::render::plan_view::AlsoIns(out, &plan)}),
            )?;
        } else if args.quiet {
            for line in log
                .errors
                .iter()
                .filter(|l| l.starts_with("left in place: "))
            {
                eprintln!("{}", esc(line));
            }
        } else {
            println!("Nothing to quarantine: no duplicate copies found.");
            print_kept_and_left(&plan, &outcome);
        }
        return Ok(done(outcome_code(&outcome)));
    }
    let mut q = Quarantine::start(out, &grouping, &args.to, args.lock.options())?;
    q.outcome.left.extend(recovery);
    let result = q.run(&plan);
    let outcome = std::mem::take(&mut q.outcome);
    log.set("summary", quarantine_summary(&outcome, &grouping));
    for p in &outcome.left {
        log.errors.push(format!("left in place: {p}"));
    }
    if args.json {
        print_json(
            &serde_json::json!({"version": 1, "dry_run": false, "qdir": args.to.to_string_lossy(),
            "outcome": &outcome, "error": result.as_ref().err().map(|e| e.to_string()),
            "cross_folder": crate::render::plan_view::AlsoIns(out, &plan)}),
        )?;
    } else if args.quiet {
        // (The skipped entries were printed after the scan.)
        for line in log.errors.iter().filter(|l| !l.starts_with("skipped: ")) {
            eprintln!("{}", esc(line));
        }
    } else {
        println!(
            "Moved {} ({} same-time, {} different-time; {}) into {}.",
            count(outcome.moved, "extra copy", "extra copies"),
            thousands(outcome.same_time),
            thousands(outcome.different_time),
            crate::render::report::human_bytes(outcome.moved_bytes),
            term::path(&args.to)
        );
        println!(
            "Merged flags into {}; rewrote {}; {} left alone.",
            count(outcome.flags_merged, "kept copy", "kept copies"),
            count(outcome.mboxes_rewritten, "mbox file", "mbox files"),
            count(grouping.conflicts.len(), "conflict", "conflicts")
        );
        print_kept_and_left(&plan, &outcome);
        if std::io::stdout().is_terminal() {
            println!("Undo with: maildedup restore {}", term::path(&args.to));
        }
    }
    result.map_err(|e| {
        anyhow::anyhow!(
            "quarantine stopped: {e} (nothing was lost: every copy is in its store or in {})",
            args.to.display()
        )
    })?;
    Ok(done(outcome_code(&outcome)))
}

/// The text lines after a quarantine's counts: copies kept because they are the only copy
/// in their folder, then every copy left in place.
fn print_kept_and_left(plan: &crate::act::plan::Plan, outcome: &crate::act::quarantine::Outcome) {
    if !plan.also_in.is_empty() {
        println!(
            "Kept {} in their folders though also in other folders (--across-folders moves them).",
            count(plan.also_in.len(), "copy", "copies")
        );
    }
    for p in &outcome.left {
        println!("left in place: {}", esc(&p.to_string()));
    }
}

/// 3 when a quarantine left copies in place, else 0.
fn outcome_code(outcome: &crate::act::quarantine::Outcome) -> i32 {
    if outcome.left.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    }
}

/// The counts a quarantine run's log record carries.
fn quarantine_summary(
    o: &crate::act::quarantine::Outcome,
    grouping: &crate::group::Grouping,
) -> serde_json::Value {
    serde_json::json!({
        "moved": o.moved, "moved_bytes": o.moved_bytes, "same_time": o.same_time,
        "different_time": o.different_time, "flags_merged": o.flags_merged,
        "mboxes_rewritten": o.mboxes_rewritten, "left": o.left.len(),
        "conflicts_left": grouping.conflicts.len(),
    })
}

fn run_restore(args: &RestoreArgs, log: &mut RunLog) -> anyhow::Result<i32> {
    log.set_paths(std::slice::from_ref(&args.qdir));
    log.set("qdir", crate::act::runlog::absolute(&args.qdir));
    log.set("dry_run", args.dry_run);
    let mut r = crate::act::restore::Restore::open(&args.qdir, args.lock.options(), args.dry_run)?;
    let result = r.run();
    let outcome = std::mem::take(&mut r.outcome);
    log.set(
        "summary",
        serde_json::json!({
            "restored": outcome.restored, "flags_undone": outcome.flags_undone,
            "mboxes_restored": outcome.mboxes_restored, "already": outcome.already,
            "problems": outcome.problems.len(),
        }),
    );
    for p in &outcome.problems {
        log.errors.push(format!("not restored: {p}"));
    }
    if args.json {
        print_json(
            &serde_json::json!({"version": 1, "dry_run": args.dry_run, "qdir": args.qdir.to_string_lossy(),
            "outcome": &outcome, "error": result.as_ref().err().map(|e| e.to_string())}),
        )?;
    } else if args.quiet {
        for line in log.errors.iter() {
            eprintln!("{}", esc(line));
        }
    } else {
        for a in &outcome.actions {
            println!("would {}", esc(a));
        }
        println!(
            "{} {}, {} {}, {} {} ({} already in place).",
            if args.dry_run {
                "Dry run: would restore"
            } else {
                "Restored"
            },
            count(outcome.restored, "copy", "copies"),
            if args.dry_run { "undo" } else { "undid" },
            count(outcome.flags_undone, "flag merge", "flag merges"),
            if args.dry_run { "rewrite" } else { "rewrote" },
            count(outcome.mboxes_restored, "mbox file", "mbox files"),
            thousands(outcome.already)
        );
        for p in &outcome.problems {
            println!("not restored: {}", esc(&p.to_string()));
        }
    }
    result.map_err(|e| anyhow::anyhow!("restore stopped: {e} (run it again to finish)"))?;
    Ok(if outcome.problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    })
}
