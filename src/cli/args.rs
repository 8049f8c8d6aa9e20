//! The command line as clap sees it: commands, flags and their help, and the settings
//! they turn into (scan, group and lock options).

use crate::group::{GroupOptions, KeepRule, DEFAULT_WINDOW_SECS};
use crate::scan::ScanOptions;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
A whole server, each mailbox on its own (Dovecot's /var/vmail/%d/%n/Maildir, ~user/Maildir, \
/var/mail/USER):\n  maildedup scan --each /var/vmail/*/*/Maildir\n  \
maildedup scan --each --json --jobs 4 /home/*/Maildir > fleet.jsonl   # JSON Lines\n\n\
Exit codes: 0 scan completed; 1 with --check when duplicates were found; 2 usage or fatal error \
(no PATH yielded a mail store); 4 incomplete: a PATH yielded no mail store, or files could not be \
read, or (--each) a mailbox failed (the rest was scanned and reported)."
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
A whole server: each mailbox gets its own quarantine folder, a Maildir++ folder its user sees \
(never scanned; owner, group and mode of the mailbox):\n  \
maildedup quarantine --each --to '{mailbox}/.Quarantine' --only same-time /var/vmail/*/*/Maildir\n  \
runuser -u vmail -- maildedup restore /var/vmail/*/*/Maildir/.Quarantine    # as their owner\n\n\
Exit codes: 0 done; 2 usage or fatal error (the run stopped; nothing is lost: see the summary); \
3 done, but some copies were left in place (changed since the scan, vanished, or locked); \
4 incomplete: a PATH yielded no mail store, or files could not be read, or (--each) a mailbox \
failed (the rest was done)."
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
        after_help = "Examples:\n  maildedup restore --dry-run ~/dedup-quarantine\n  maildedup restore ~/dedup-quarantine\n  \
runuser -u vmail -- maildedup restore /var/vmail/*/*/Maildir/.Quarantine    # after quarantine --each\n\n\
Exit codes: 0 done; 2 usage or fatal error; 3 done, but some records could not be undone (listed); \
4 one of several QDIRs could not be restored (named; the others were)."
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

    /// Work with reports: combine per-mailbox or per-shard reports into one fleet report.
    #[command(subcommand)]
    Report(ReportCommand),

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
    #[arg(value_name = "COMMAND", value_parser = ["scan", "quarantine", "restore", "report-merge", "completions", "man"])]
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

/// `--each` and its settings, shared by scan and quarantine: every PATH is a mailbox of
/// its own (a server's mail root, one run).
#[derive(Args, Debug, Clone)]
pub struct FleetArgs {
    /// Treat every PATH as a mailbox of its own: groups, conflicts, classes and incidents
    /// never span two mailboxes (as if each were scanned alone). Give one PATH per user,
    /// e.g. `/var/vmail/*/*/Maildir` (Dovecot's %d/%n), `/home/*/Maildir` or
    /// `/var/mail/*`. Mailboxes are scanned in parallel (--jobs at a time); one that
    /// fails is reported and the others go on (exit 4). With --json: one JSON line per
    /// mailbox, then a `{"fleet": ...}` line.
    #[arg(long, conflicts_with = "html")]
    pub each: bool,

    /// With --each: how many mailboxes are scanned at a time (memory grows with this
    /// many of the largest mailboxes, not with the number of mailboxes).
    #[arg(long, value_name = "N", default_value_t = 2, requires = "each",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,

    /// With --each: an incident with the same cause in at least this many mailboxes
    /// within --fleet-window is reported as a fleet incident, a server-side cause (a POP
    /// proxy or delivery agent failing for everyone).
    #[arg(long, value_name = "N", default_value_t = 3, requires = "each",
          value_parser = clap::value_parser!(u32).range(2..))]
    pub fleet_threshold: u32,

    /// With --each: incidents in different mailboxes are one fleet incident when each
    /// starts within this many seconds of the end of the others.
    #[arg(long, value_name = "SECONDS", default_value_t = 6 * 3600, requires = "each")]
    pub fleet_window: i64,
}

#[derive(Args, Debug)]
pub struct QuarantineArgs {
    #[command(flatten)]
    pub selection: Selection,

    #[command(flatten)]
    pub fleet: FleetArgs,

    /// The quarantine folder (a Maildir; created mode 0700 if missing; later runs append;
    /// required unless the config file has `to`). With --each, a template: `{mailbox}` is
    /// replaced by each mailbox's PATH, `{name}` by its last component, e.g. `--to
    /// '{mailbox}/.Quarantine'` (a Maildir++ folder the user sees in their own mail client;
    /// it is never scanned) or, for mbox spools, `--to '/var/mail/.quarantine/{name}'`.
    #[arg(long, value_name = "QDIR", required = true)]
    pub to: PathBuf,

    /// Only move extra copies of this class.
    #[arg(long, value_name = "CLASS", value_enum)]
    pub only: Option<OnlyClass>,

    /// Print the plan and touch nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Carry out a reviewed plan: the output of `quarantine --dry-run --json`, edited by
    /// hand or with jq (moves struck, or another copy kept). Every move is checked again
    /// against a fresh scan of PATH...: a copy or kept copy changed since is left and
    /// listed; a plan that breaks a safety rule (keeps a copy it also moves, keeps one that
    /// is not the same message, empties a folder without --across-folders) is refused.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["only", "each"])]
    pub plan: Option<PathBuf>,

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
    /// The quarantine folder given to `quarantine --to`; several (one per mailbox after
    /// `quarantine --each`, e.g. `/var/vmail/*/*/Maildir/.Quarantine`) are restored one
    /// after the other, and one that fails does not stop the others (exit 4).
    #[arg(value_name = "QDIR", required = true)]
    pub qdir: Vec<PathBuf>,

    /// Print what would be restored and touch nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// List the quarantine runs QDIR holds (when, the command, how many copies from which
    /// stores, how many restored already) and change nothing.
    #[arg(long, conflicts_with_all = ["dry_run", "runs", "stores", "message_ids"])]
    pub list: bool,

    /// Restore only what run RUN quarantined: an id `--list` shows, or `last` for the
    /// newest run. Repeatable (any of them).
    #[arg(long = "run", value_name = "RUN")]
    pub runs: Vec<String>,

    /// Restore only copies taken from under PATH: a store, a Maildir++ folder, an mbox
    /// file, or a folder holding some. Repeatable (any of them).
    #[arg(long = "store", value_name = "PATH")]
    pub stores: Vec<PathBuf>,

    /// Restore only copies with this Message-ID (angle brackets optional). Repeatable (any
    /// of them). A copy taken out of an mbox goes back together with the other copies the
    /// same rewrite took out of that mbox. Aims of different kinds combine: `--run R
    /// --store P` restores what run R took from under P.
    #[arg(long = "message-id", value_name = "ID")]
    pub message_ids: Vec<String>,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub lock: LockArgs,

    /// Never show a progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,

    /// Print nothing on stdout; records that could not be undone are still listed, on
    /// stderr.
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,

    #[command(flatten)]
    pub log: LogArg,
}

#[derive(Args, Debug, Clone)]
pub struct Selection {
    /// Maildir folders, mbox files, or folders holding them, or IMAP accounts
    /// (`imaps://USER@HOST[:PORT]/[FOLDER]`, `imap://` with STARTTLS; scan only)
    /// (required unless the config file has `paths`, or --paths-from gives them).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Also read PATHs from FILE, one per line (`-`: standard input; empty lines are
    /// skipped): for more mailboxes than a command line holds, e.g. `ls -d
    /// /var/vmail/*/*/Maildir | maildedup scan --each --paths-from -`.
    #[arg(long, value_name = "FILE")]
    pub paths_from: Option<PathBuf>,

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

    /// Treat conflicts of these kinds as duplicates (off by default: a conflict is only
    /// reported). `list-copy`: a list's copy with a `[tag]` subject or a footer, the copy
    /// without them is kept; `transfer-encoding`: re-encoded on the way, the same decoded
    /// content. A conflict with any other difference stays a conflict. Comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KIND")]
    pub merge_conflicts: Vec<crate::group::merge::MergeKind>,

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

    /// How many files are read at once: default 4 per core, at most 32. A disk answers
    /// faster with more requests in flight (on a cold page cache, 8 threads on 2 cores
    /// scanned twice as fast as 2); 1 reads one file at a time. The report is the same
    /// whatever the number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub io_threads: Option<u32>,

    /// Run CMD (with `sh -c`) for an IMAP account's password: its first line of output
    /// (like mbsync's PassCmd). Without it: $MAILDEDUP_IMAP_PASSWORD, then ~/.netrc
    /// (`machine HOST login USER password PW`). Never a password on the command line.
    #[arg(long, value_name = "CMD")]
    pub imap_pass_cmd: Option<String>,

    /// Trust the CA certificate(s) in this PEM FILE for IMAP TLS, besides the built-in
    /// web roots (a private or test CA).
    #[arg(long, value_name = "FILE")]
    pub imap_ca: Option<PathBuf>,
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
            io_threads: self.io_threads.map(|n| n as usize),
            imap: crate::store::imap::ImapOptions {
                pass_cmd: self.imap_pass_cmd.clone(),
                ca: self.imap_ca.clone(),
            },
        }
    }

    pub fn group_options(&self) -> GroupOptions {
        GroupOptions {
            keep: self.keep,
            prefer: self.prefer.clone(),
            window_secs: self.same_time_window,
            across_folders: self.across_folders,
            merge_conflicts: self.merge_conflicts.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    #[command(flatten)]
    pub selection: Selection,

    #[command(flatten)]
    pub fleet: FleetArgs,

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

#[derive(clap::Subcommand, Debug)]
pub enum ReportCommand {
    /// Combine reports of single mailboxes or shards into one fleet report.
    #[command(
        long_about = "Read the reports of many mailboxes — the JSON Lines of `scan --each --json` \
(one per shard, host or pod), or plain `scan --json` reports of one mailbox each — and print one \
fleet report: the fleet's counts, the failed mailboxes, and the fleet incidents (the same incident \
cause in at least --fleet-threshold mailboxes within --fleet-window), as one `scan --each` over all \
of those mailboxes would. Reads each report line by line, keeping only a few numbers per mailbox. \
A REPORT of `-` is standard input. A mailbox found in two reports is refused.",
        after_help = "Examples:\n  maildedup report merge /reports/shard-*.jsonl\n  \
maildedup report merge --json shard-0.jsonl shard-1.jsonl > fleet.jsonl\n  \
ls -d /var/vmail/*/*/Maildir | parallel -j4 -N500 --files maildedup scan --each --json | xargs maildedup report merge\n\n\
Exit codes: 0 merged; 2 a report could not be read or is not a maildedup report (named, with its line), \
or a mailbox is in two reports; 4 merged, but a report names a mailbox that failed."
    )]
    Merge(MergeArgs),
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Reports: JSON Lines from `scan --each --json`, or `scan --json` documents.
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,

    /// Print the merged JSON Lines: every mailbox's line as it was, then one `fleet` line.
    #[arg(long)]
    pub json: bool,

    /// List every mailbox of each fleet incident (not only the first five).
    #[arg(short, long)]
    pub verbose: bool,

    /// An incident with the same cause in at least this many mailboxes within
    /// --fleet-window is a fleet incident.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(2..))]
    pub fleet_threshold: u32,

    /// Incidents in different mailboxes are one fleet incident when each starts within
    /// this many seconds of the end of the others.
    #[arg(long, value_name = "SECONDS", default_value_t = 6 * 3600)]
    pub fleet_window: i64,
}
