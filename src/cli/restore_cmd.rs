//! `maildedup restore`: put quarantined copies back.

use super::args::RestoreArgs;
use super::{print_json, EXIT_OK, EXIT_PARTIAL};
use crate::act::runlog::RunLog;
use crate::render::report::{count, thousands};
use crate::render::term::escape as esc;

pub(crate) fn run_restore(args: &RestoreArgs, log: &mut RunLog) -> anyhow::Result<i32> {
    log.set_paths(std::slice::from_ref(&args.qdir));
    log.set("qdir", crate::act::runlog::absolute(&args.qdir));
    log.set("dry_run", args.dry_run);
    if args.list {
        return list_runs(args);
    }
    let mut r = crate::act::restore::Restore::open(&args.qdir, args.lock.options(), args.dry_run)?;
    let aim = crate::act::aim::Aim::new(&args.runs, &args.stores, &args.message_ids);
    if !aim.is_all() {
        log.set("aim", serde_json::to_value(&aim)?);
        r.aim_at(aim)?;
    }
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

/// `restore --list`: the runs QDIR holds, oldest first.
fn list_runs(args: &RestoreArgs) -> anyhow::Result<i32> {
    use crate::act::manifest::MANIFEST;
    if !args.qdir.join(MANIFEST).is_file() {
        anyhow::bail!(
            "{}: no {MANIFEST} here: not a maildedup quarantine folder",
            args.qdir.display()
        );
    }
    let loaded = crate::act::manifest::validate::load(&args.qdir)?;
    let runs = crate::act::manifest::runs::summarize(&loaded.records);
    if args.json {
        print_json(
            &serde_json::json!({"version": 1, "qdir": args.qdir.to_string_lossy(),
            "runs": runs}),
        )?;
        return Ok(EXIT_OK);
    }
    if args.quiet {
        return Ok(EXIT_OK);
    }
    let mut o = String::new();
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
            esc(&args.qdir.to_string_lossy())
        )),
    }
    print!("{o}");
    Ok(EXIT_OK)
}
