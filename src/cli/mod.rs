//! The command line: argument parsing, exit codes, and output.

mod args;
mod config;
mod each;
mod manpage;
pub mod progress;
mod quarantine_cmd;
mod report_cmd;
mod restore_cmd;
mod scan_cmd;

pub use args::*;
use quarantine_cmd::run_quarantine;
use restore_cmd::run_restore;
use scan_cmd::run_scan;

use crate::act::runlog::RunLog;
use crate::render::term::{self, escape as esc};
use clap::{CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::io::Write;

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

/// Exit code: done, but something was left as it was (listed in the output).
pub const EXIT_PARTIAL: i32 = 3;

pub fn run() -> i32 {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let argv = match with_paths_from(argv) {
        Ok(a) => a,
        Err(e) => {
            print_error(&format!("{e:#}"));
            return EXIT_FATAL;
        }
    };
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
        Command::Report(args::ReportCommand::Merge(args)) => report_cmd::run_report_merge(&args),
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

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut stdout, v)?;
    writeln!(stdout)?;
    stdout.flush()?;
    Ok(())
}

/// `--paths-from FILE` (or `--paths-from=FILE`): the file's lines (one path each, blank
/// ones skipped; `-` is standard input) appended to the command line as PATHs, after a
/// `--` (so a path that begins with `-` stays a path), before clap reads it: the PATHs
/// then count as given, for clap and for the config file's `paths` alike. Paths are
/// bytes: a name that is not UTF-8 is kept as it is.
fn with_paths_from(mut argv: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    use std::io::BufRead;
    use std::os::unix::ffi::OsStrExt;
    let end = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    let mut file = None;
    for (i, a) in argv[..end].iter().enumerate() {
        let b = a.as_bytes();
        if b == b"--paths-from" {
            file = argv.get(i + 1).cloned();
        } else if let Some(f) = b.strip_prefix(b"--paths-from=") {
            file = Some(OsString::from(std::ffi::OsStr::from_bytes(f)));
        }
    }
    let Some(file) = file else {
        return Ok(argv);
    };
    let path = std::path::PathBuf::from(&file);
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(&path)
                .map_err(|e| anyhow::anyhow!("--paths-from {}: {e}", path.display()))?,
        ))
    };
    let mut paths = Vec::new();
    for line in reader.split(b'\n') {
        let line = line.map_err(|e| anyhow::anyhow!("--paths-from {}: {e}", path.display()))?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if !line.iter().all(u8::is_ascii_whitespace) {
            paths.push(OsString::from(std::ffi::OsStr::from_bytes(line)));
        }
    }
    if paths.is_empty() {
        anyhow::bail!("--paths-from {}: no path in it", path.display());
    }
    if end == argv.len() {
        argv.push("--".into());
    }
    argv.extend(paths);
    Ok(argv)
}
