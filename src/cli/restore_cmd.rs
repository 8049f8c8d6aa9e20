//! `maildedup restore`: put quarantined copies back.

use super::args::RestoreArgs;
use super::{print_json, EXIT_OK, EXIT_PARTIAL};
use crate::act::runlog::RunLog;
use crate::render::report::{count, thousands};
use crate::render::term::escape as esc;

pub(crate) fn run_restore(args: &RestoreArgs, log: &mut RunLog) -> anyhow::Result<i32> {
    log.set_paths(&args.qdir);
    log.set("dry_run", args.dry_run);
    if args.list {
        return list_runs(args);
    }
    match args.qdir.as_slice() {
        [qdir] => {
            log.set("qdir", crate::act::runlog::absolute(qdir));
            restore_one(args, qdir, log, false)
        }
        qdirs => restore_many(args, qdirs, log),
    }
}

/// Several QDIRs (one per mailbox after `quarantine --each`): each restored as if alone,
/// one after the other; one that fails is named and the others go on. With --json, one
/// line per QDIR (JSON Lines). Exit: the highest of the QDIRs' codes, but 4 when a QDIR
/// failed (2 for it alone).
fn restore_many(
    args: &RestoreArgs,
    qdirs: &[std::path::PathBuf],
    log: &mut RunLog,
) -> anyhow::Result<i32> {
    let mut code = EXIT_OK;
    let mut failed = 0;
    let mut summaries = Vec::new();
    for qdir in qdirs {
        let mut one = RunLog::open(None, "restore")?;
        match restore_one(args, qdir, &mut one, true) {
            Ok(c) => code = code.max(c),
            Err(e) => {
                failed += 1;
                let line = format!("{}: {e:#}", qdir.display());
                super::print_error(&line);
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"version": 1, "dry_run": args.dry_run,
                            "qdir": qdir.to_string_lossy(), "error": format!("{e:#}")})
                    );
                }
                log.errors.push(line);
            }
        }
        for e in one.errors.drain(..) {
            log.errors.push(format!("{}: {e}", qdir.display()));
        }
        summaries.push(one.fields.remove("summary"));
    }
    let total = |k: &str| -> u64 {
        summaries
            .iter()
            .filter_map(|s| s.as_ref()?.get(k)?.as_u64())
            .sum()
    };
    log.set(
        "summary",
        serde_json::json!({"qdirs": qdirs.len(), "failed": failed,
            "restored": total("restored"), "flags_undone": total("flags_undone"),
            "mboxes_restored": total("mboxes_restored"), "already": total("already"),
            "problems": total("problems")}),
    );
    if failed > 0 {
        eprintln!(
            "maildedup: incomplete: {} could not be restored; the others were",
            count(failed, "quarantine folder", "quarantine folders")
        );
        return Ok(super::EXIT_INCOMPLETE);
    }
    Ok(code)
}

/// Restores one QDIR; `lines`: print JSON as one line (one of several QDIRs), and name
/// the QDIR before its text.
fn restore_one(
    args: &RestoreArgs,
    qdir: &std::path::Path,
    log: &mut RunLog,
    lines: bool,
) -> anyhow::Result<i32> {
    if lines && !args.json && !args.quiet {
        println!("{}:", crate::render::term::path(qdir));
    }
    let mut r = crate::act::restore::Restore::open(qdir, args.lock.options(), args.dry_run)?;
    let aim = crate::act::aim::Aim::new(&args.runs, &args.stores, &args.message_ids);
    if !aim.is_all() {
        log.set("aim", serde_json::to_value(&aim)?);
        r.aim_at(aim)?;
    }
    // Copies and bytes put back, the store, the time left: on a terminal only.
    let progress = crate::cli::progress::Progress::new(
        !args.no_progress && !args.json && !args.quiet && !args.dry_run,
    );
    r.observe(Box::new(progress.clone()));
    let result = r.run();
    progress.finish();
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
    let json = serde_json::json!({"version": 1, "dry_run": args.dry_run, "qdir": qdir.to_string_lossy(),
            "outcome": &outcome, "error": result.as_ref().err().map(|e| e.to_string())});
    if args.json && lines {
        println!("{json}");
    } else if args.json {
        print_json(&json)?;
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

/// `restore --list`: the runs QDIR holds, oldest first.
fn list_runs(args: &RestoreArgs) -> anyhow::Result<i32> {
    let many = args.qdir.len() > 1;
    for qdir in &args.qdir {
        list_one(args, qdir, many)?;
    }
    Ok(EXIT_OK)
}

/// The runs of one QDIR; `many`: one of several (JSON on one line, text under its name).
fn list_one(args: &RestoreArgs, qdir: &std::path::Path, many: bool) -> anyhow::Result<()> {
    use crate::act::manifest::MANIFEST;
    if !qdir.join(MANIFEST).is_file() {
        anyhow::bail!(
            "{}: no {MANIFEST} here: not a maildedup quarantine folder",
            qdir.display()
        );
    }
    let loaded = crate::act::manifest::validate::load(qdir)?;
    let runs = crate::act::manifest::runs::summarize(&loaded.records);
    if args.json {
        let doc = serde_json::json!({"version": 1, "qdir": qdir.to_string_lossy(), "runs": runs});
        if many {
            println!("{doc}");
        } else {
            print_json(&doc)?;
        }
        return Ok(());
    }
    if args.quiet {
        return Ok(());
    }
    let mut o = String::new();
    if many {
        o.push_str(&format!("{}:\n", crate::render::term::path(qdir)));
    }
    for r in &runs {
        use std::fmt::Write;
        let _ = writeln!(o, "Run {}, started {}", esc(&r.run), esc(&r.started));
        if !r.command.is_empty() {
            let _ = writeln!(o, "  command: {}", esc(&r.command.join(" ")));
        }
        let _ = writeln!(
            o,
            "  moved {} ({} restored since); merged flags into {}; rewrote {}",
            count(r.copies, "copy", "copies"),
            thousands(r.restored),
            count(r.flag_merges, "kept copy", "kept copies"),
            count(r.mboxes_rewritten, "mbox file", "mbox files"),
        );
        for s in &r.stores {
            let _ = writeln!(
                o,
                "  {:>8} from {}",
                thousands(s.copies),
                esc(&s.store.to_string_lossy())
            );
        }
    }
    match runs.len() {
        0 => o.push_str("No quarantine run is recorded here.\n"),
        n => o.push_str(&format!(
            "{}. Restore one with: maildedup restore --run RUN {}\n",
            count(n, "run", "runs"),
            esc(&qdir.to_string_lossy())
        )),
    }
    print!("{o}");
    Ok(())
}
