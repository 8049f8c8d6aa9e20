//! `maildedup report merge`: many per-mailbox or per-shard reports into one fleet report,
//! as one `scan --each` over all their mailboxes would print it. Each report is read line
//! by line and only a few numbers a mailbox are kept (its counts, its incidents' windows
//! and causes), so 100,000 mailboxes never build one document; with `--json` each
//! mailbox's line is copied out as soon as it is read.

use super::args::MergeArgs;
use super::each::{fleet_text, incident_json, Failure, FleetSummary};
use super::{EXIT_INCOMPLETE, EXIT_OK};
use crate::forensics::fleet::{self, MailboxIncident};
use anyhow::Context;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// One mailbox's report, reduced to what the fleet report needs.
struct Mailbox {
    name: String,
    /// The line to copy out with `--json` (compact; `mailbox` added to a plain report).
    line: String,
}

/// A plain `scan --json` report has no `mailbox`: its name is the folder holding all its
/// stores (or the report file's own path when they share none).
fn mailbox_of_plain(report: &Value, file: &Path) -> String {
    let stores: Vec<PathBuf> = report["stores"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["path"].as_str().map(PathBuf::from))
                .collect()
        })
        .unwrap_or_default();
    let mut common = match stores.first() {
        Some(p) => p.clone(),
        None => return file.to_string_lossy().into_owned(),
    };
    for s in &stores[1..] {
        while !s.starts_with(&common) {
            if !common.pop() {
                return file.to_string_lossy().into_owned();
            }
        }
    }
    common.to_string_lossy().into_owned()
}

/// Adds one mailbox's report (`v`) to the fleet counts and incidents; `Err`: what is
/// wrong with it.
fn add_report(
    fleet: &mut FleetSummary,
    incidents: &mut Vec<MailboxIncident>,
    index: usize,
    v: &Value,
) -> Result<(), String> {
    let s = &v["summary"];
    let n = |k: &str| -> Result<usize, String> {
        s[k].as_u64()
            .map(|x| x as usize)
            .ok_or_else(|| format!("no summary.{k}"))
    };
    fleet.stores += n("stores")?;
    fleet.messages += n("messages")?;
    let groups = n("groups")?;
    fleet.groups += groups;
    fleet.extra_copies += n("extra_copies")?;
    fleet.same_time += n("same_time")?;
    fleet.different_time += n("different_time")?;
    fleet.conflicts += n("conflicts")?;
    fleet.reclaimable_bytes += n("reclaimable_bytes")? as u64;
    if groups > 0 {
        fleet.mailboxes_with_duplicates += 1;
    }
    for i in v["incidents"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let time = |k: &str| -> Result<i64, String> {
            i[k].as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_second())
                .ok_or_else(|| format!("an incident without a valid `{k}`"))
        };
        let parse = |k: &str| -> Result<Value, String> {
            i.get(k)
                .cloned()
                .ok_or(format!("an incident without `{k}`"))
        };
        incidents.push(MailboxIncident {
            mailbox: index,
            start: time("start")?,
            end: time("end")?,
            kind: serde_json::from_value(parse("kind")?).map_err(|e| format!("kind: {e}"))?,
            cause: serde_json::from_value(parse("cause_code")?)
                .map_err(|e| format!("cause_code: {e}"))?,
            extra_copies: i["extra_copies"].as_u64().unwrap_or(0) as usize,
        });
    }
    Ok(())
}

/// The items of one report, with their first line number and, for JSON Lines, the line
/// as it was: a JSON document spread over many lines (`scan --json`) is one item; JSON
/// Lines are one item a line.
/// Each is handed to `f` as soon as it is read.
fn for_each_item(
    file: &Path,
    mut f: impl FnMut(usize, Value, Option<String>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let reader: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("{}", file.display()))?,
        ))
    };
    let mut pending = String::new();
    let mut pending_from = 0;
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("{}: line {}", file.display(), i + 1))?;
        if pending.is_empty() && line.trim().is_empty() {
            continue;
        }
        if pending.is_empty() {
            pending_from = i + 1;
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                f(i + 1, v, Some(line))?;
                continue;
            }
        }
        pending.push_str(&line);
        pending.push('\n');
        // A pretty document ends with a line holding only `}`.
        if line == "}" {
            let v: Value = serde_json::from_str(&pending)
                .with_context(|| format!("{}: line {pending_from}: not JSON", file.display()))?;
            pending.clear();
            f(pending_from, v, None)?;
        }
    }
    if !pending.is_empty() {
        anyhow::bail!(
            "{}: line {pending_from}: not JSON (cut short?)",
            file.display()
        );
    }
    Ok(())
}

pub(crate) fn run_report_merge(args: &MergeArgs) -> anyhow::Result<i32> {
    let mut fleet = FleetSummary {
        version: 1,
        ..Default::default()
    };
    let mut incidents: Vec<MailboxIncident> = Vec::new();
    let mut names: Vec<PathBuf> = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    for file in &args.reports {
        for_each_item(file, |line, v, raw| {
            let at = || format!("{}: line {line}", file.display());
            if v.get("fleet").is_some() {
                // A shard's own fleet line: worked out again over all mailboxes.
                return Ok(());
            }
            let m = match (v["mailbox"].as_str(), v.get("summary")) {
                (Some(name), _) => Mailbox {
                    name: name.to_string(),
                    // As `scan --each --json` wrote it, byte for byte.
                    line: match raw {
                        Some(r) => r,
                        None => serde_json::to_string(&v)?,
                    },
                },
                (None, Some(_)) => {
                    let name = mailbox_of_plain(&v, file);
                    let mut with = serde_json::Map::new();
                    with.insert("mailbox".into(), Value::String(name.clone()));
                    if let Some(o) = v.as_object() {
                        with.extend(o.iter().map(|(k, x)| (k.clone(), x.clone())));
                    }
                    Mailbox {
                        name,
                        line: Value::Object(with).to_string(),
                    }
                }
                (None, None) => anyhow::bail!(
                    "{}: not a maildedup report (no `mailbox`, no `summary`)",
                    at()
                ),
            };
            if let Some(first) = seen.insert(m.name.clone(), at()) {
                anyhow::bail!(
                    "{}: mailbox {} is already in {first}: a mailbox must be in one report only",
                    at(),
                    m.name
                );
            }
            let index = names.len();
            names.push(PathBuf::from(&m.name));
            fleet.mailboxes += 1;
            match v["error"].as_str() {
                Some(e) if v.get("summary").is_none() => {
                    fleet.failed += 1;
                    fleet.failures.push(Failure {
                        mailbox: m.name.clone(),
                        error: e.to_string(),
                    });
                }
                _ => add_report(&mut fleet, &mut incidents, index, &v)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", at()))?,
            }
            if args.json {
                writeln!(stdout, "{}", m.line)?;
            }
            Ok(())
        })?;
    }
    let mut found = fleet::find(&incidents, args.fleet_threshold as usize, args.fleet_window);
    // Named in name order, so the order the reports are given in changes nothing.
    for f in &mut found {
        f.mailboxes.sort_by(|&a, &b| names[a].cmp(&names[b]));
    }
    fleet.incidents = found
        .iter()
        .map(|f| incident_json(f, &names))
        .collect::<anyhow::Result<_>>()?;
    if args.json {
        writeln!(stdout, "{}", serde_json::json!({ "fleet": &fleet }))?;
    } else {
        write!(
            stdout,
            "{}",
            fleet_text(&fleet, &found, &names, args.verbose)
        )?;
    }
    stdout.flush()?;
    Ok(if fleet.failed > 0 {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    })
}
