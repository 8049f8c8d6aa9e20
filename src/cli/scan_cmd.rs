//! `maildedup scan`: scan, group, report (text, JSON, HTML), and what makes a run
//! incomplete.

use super::args::{ScanArgs, Selection};
use super::{print_error, EXIT_DUPLICATES, EXIT_INCOMPLETE, EXIT_OK};
use crate::act::runlog::RunLog;
use crate::cli::progress::Progress;
use crate::model::SkipKind;
use crate::render::report::{count, Report};
use crate::render::style::Paint;
use crate::render::term::{self, escape as esc};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

pub(crate) fn run_scan(
    args: &ScanArgs,
    color: crate::render::style::ColorWhen,
    log: &mut RunLog,
) -> anyhow::Result<i32> {
    if super::each::wanted(&args.fleet) {
        return super::each::run_scan_each(args, log);
    }
    let sel = &args.selection;
    log.set_paths(&sel.paths);
    let progress = Progress::new(!args.no_progress && !args.quiet);
    let scanned = scan_selection(sel, &progress)?;
    let out = &scanned.out;
    let grouping = crate::group::merge::group_and_merge(out, &sel.group_options());
    let report = Report::build(out, &grouping);
    if let Some(dir) = &scanned.cache {
        // The conflicts explained this run, so the next one reads neither copy again.
        crate::cache::comparisons::save(dir, &out.comparisons);
    }
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

pub(crate) fn write_html(
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
pub(crate) struct Scanned {
    pub(crate) out: crate::model::ScanOutput,
    pub(crate) unreadable: Vec<String>,
    pub(crate) paths_without_store: Vec<String>,
    /// The fingerprint cache folder the scan used, if any.
    pub(crate) cache: Option<std::path::PathBuf>,
}

impl Scanned {
    /// Prints the PATH problems and the failed reads on stderr (`quiet` or not: they are
    /// errors) with a closing count, records them in the run log, and returns the exit
    /// code they call for, if any.
    pub(crate) fn report_problems(
        &self,
        log: &mut RunLog,
        print_failed_reads: bool,
    ) -> Option<i32> {
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
pub(crate) fn scan_selection(sel: &Selection, progress: &Progress) -> anyhow::Result<Scanned> {
    scan_paths(&sel.paths, &sel.scan_options(), progress)
}

/// [`scan_selection`] over `paths` with the options already made (a `--each` run scans
/// each mailbox with the same options).
pub(crate) fn scan_paths(
    paths: &[PathBuf],
    opts: &crate::scan::ScanOptions,
    progress: &dyn crate::observe::Observer,
) -> anyhow::Result<Scanned> {
    let out = crate::scan::try_scan(paths, opts, progress).map_err(|e| anyhow::anyhow!("{e}"))?;
    let paths_without_store: Vec<String> = paths
        .iter()
        // An IMAP account was reached and logged in to (else try_scan failed): its
        // folders, even none, are what it holds.
        .filter(|p| !crate::scan::is_imap_path(p) && !yields_store(p, &out))
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
    if !paths.is_empty() && paths_without_store.len() == paths.len() {
        anyhow::bail!("{}", paths_without_store.join("\n"));
    }
    let unreadable = failed_reads(
        out.skipped
            .iter()
            .filter(|s| !paths.contains(&s.path) || yields_store(&s.path, &out)),
    );
    Ok(Scanned {
        out,
        unreadable,
        paths_without_store,
        cache: opts.cache.clone(),
    })
}

/// Did PATH yield a mail store? An empty file, or a folder of empty files, counts as
/// an empty mbox: a mailbox whose mail was all read is no error.
pub(crate) fn yields_store(p: &std::path::Path, out: &crate::model::ScanOutput) -> bool {
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
pub(crate) fn failed_reads<'a>(
    skipped: impl Iterator<Item = &'a crate::model::Skipped>,
) -> Vec<String> {
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
