//! The manual pages: `maildedup(1)` and one `maildedup-COMMAND(1)` per subcommand,
//! generated from the same clap definitions as `--help` (clap_mangen), plus the sections a
//! man page is expected to have and clap does not know of: EXAMPLES (from the command's
//! own `Examples:` help), EXIT STATUS, FILES, ENVIRONMENT and SEE ALSO.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The subcommands that get a page of their own.
pub const PAGES: [&str; 6] = [
    "scan",
    "quarantine",
    "restore",
    "report-merge",
    "completions",
    "man",
];

/// The exit codes, as the README's table states them; `commands` says which pages list
/// each (empty: every page that runs the pipeline).
const EXIT_STATUS: &[(&str, &str, &[&str])] = &[
    (
        "0",
        "The command completed (scan --check: no duplicates were found).",
        &[],
    ),
    (
        "1",
        "scan --check found duplicate groups.",
        &["maildedup", "scan"],
    ),
    (
        "2",
        "Usage error, or a fatal error: no PATH yielded a mail store, the configuration is \
         wrong, or quarantine/restore stopped (nothing was lost: the summary says where \
         everything is).",
        &[],
    ),
    (
        "3",
        "quarantine/restore completed, but some copies were left as they were (changed since \
         the scan, vanished, or their mbox could not be locked); each is listed.",
        &["maildedup", "quarantine", "restore"],
    ),
    (
        "4",
        "The run was incomplete: a PATH yielded no mail store (missing, not mail, or a folder \
         without any), or files or folders could not be read. Everything else was scanned, \
         reported and (quarantine) acted on; the errors name each path. It wins over 3 and 1.",
        &["maildedup", "scan", "quarantine"],
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "$XDG_CONFIG_HOME/maildedup/maildedup.toml",
        "The configuration file (default ~/.config/maildedup/maildedup.toml; --config FILE \
         names another). Read only if it exists; flags on the command line win over it.",
    ),
    (
        "$XDG_CACHE_HOME/maildedup/fingerprints.redb",
        "The fingerprint cache (default ~/.cache/maildedup/; --cache DIR names another, \
         --no-cache skips it). It lets an unchanged store be scanned without reading its \
         messages again; deleting it is always safe.",
    ),
    (
        "QDIR/manifest.jsonl",
        "The quarantine manifest: one JSON line per change, fsynced before the change is \
         made; everything restore needs to undo it byte for byte.",
    ),
    (
        "MBOX.lock",
        "The dotlock taken (with an fcntl lock) while an mbox is rewritten, as delivery \
         agents and mail clients take it.",
    ),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "XDG_CONFIG_HOME",
        "Where the configuration file is looked for (default ~/.config).",
    ),
    (
        "XDG_CACHE_HOME",
        "Where the fingerprint cache lives (default ~/.cache).",
    ),
    ("HOME", "The base of the defaults above."),
    (
        "NO_COLOR",
        "Set to anything non-empty: no colour with --color auto (https://no-color.org).",
    ),
    ("TERM", "dumb: no colour with --color auto."),
];

/// Escapes text for a roff line: backslashes, and a leading `.` or `'` that would read as a
/// request.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// The examples and nothing else of a command's `after_help` ("Examples:\n  ...\n\nExit
/// codes: ...").
fn examples(cmd: &clap::Command) -> Vec<String> {
    let Some(after) = cmd.get_after_help().map(|h| h.to_string()) else {
        return Vec::new();
    };
    let Some(rest) = after.strip_prefix("Examples:\n") else {
        return Vec::new();
    };
    rest.lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

/// The page of `name` (`maildedup` or a subcommand's name), as roff.
pub fn page(root: &clap::Command, name: &str) -> io::Result<Vec<u8>> {
    let mut root = root.clone();
    root.build();
    let (cmd, title) = if name == "maildedup" {
        (root.clone(), "maildedup".to_string())
    } else {
        // `report-merge`: the subcommand `merge` of `report`.
        let mut sub = Some(&root);
        for part in name.split('-') {
            sub = sub.and_then(|c| c.find_subcommand(part));
        }
        let sub = sub
            .cloned()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no subcommand {name}"))
            })?
            .version(env!("CARGO_PKG_VERSION"));
        (sub, format!("maildedup-{name}"))
    };
    let man = clap_mangen::Man::new(cmd.clone()).title(title.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out)?;
    }
    let ex = examples(&cmd);
    if !ex.is_empty() {
        writeln!(out, ".SH EXAMPLES")?;
        for e in ex {
            writeln!(out, ".PP\n.nf\n{}\n.fi", roff(&e))?;
        }
    }
    let codes: Vec<_> = EXIT_STATUS
        .iter()
        .filter(|(_, _, on)| on.is_empty() || on.contains(&name))
        .collect();
    if matches!(name, "maildedup" | "scan" | "quarantine" | "restore") {
        writeln!(out, ".SH \"EXIT STATUS\"")?;
        for (code, text, _) in codes {
            writeln!(out, ".TP\n.B {code}\n{}", roff(text))?;
        }
        writeln!(out, ".SH FILES")?;
        for (file, text) in FILES {
            writeln!(out, ".TP\n.I {}\n{}", roff(file), roff(text))?;
        }
    }
    writeln!(out, ".SH ENVIRONMENT")?;
    for (var, text) in ENVIRONMENT {
        writeln!(out, ".TP\n.B {var}\n{}", roff(text))?;
    }
    writeln!(out, ".SH \"SEE ALSO\"")?;
    let others: Vec<String> = std::iter::once("maildedup".to_string())
        .chain(PAGES.iter().map(|p| format!("maildedup-{p}")))
        .filter(|p| *p != title)
        .map(|p| format!("\\fB{}\\fR(1)", roff(&p)))
        .collect();
    writeln!(out, "{}", others.join(", "))?;
    man.render_version_section(&mut out)?;
    Ok(th_first(&String::from_utf8_lossy(&out)).into_bytes())
}

/// Writes every page into `dir` (created if missing) as `NAME.1`; returns the files.
pub fn write_all(root: &clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let mut written = Vec::new();
    for name in std::iter::once("maildedup").chain(PAGES) {
        let file_name = if name == "maildedup" {
            "maildedup.1".to_string()
        } else {
            format!("maildedup-{name}.1")
        };
        let path = dir.join(file_name);
        std::fs::write(&path, page(root, name)?)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

/// A page with its `.TH` line first, as man pages begin (clap_mangen puts the definition
/// of the `Aq` string before it, which may come anywhere before its first use).
fn th_first(page: &str) -> String {
    let Some(th) = page.lines().find(|l| l.starts_with(".TH ")) else {
        return page.to_string();
    };
    let mut out = String::with_capacity(page.len() + 1);
    out.push_str(th);
    out.push('\n');
    for line in page.lines().filter(|l| !l.starts_with(".TH ")) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_escapes_requests_and_backslashes() {
        assert_eq!(roff(".hidden"), "\\&.hidden");
        assert_eq!(roff("a\\b --x"), "a\\eb \\-\\-x");
    }
}
