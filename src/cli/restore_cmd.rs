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
    let mut r = crate::act::restore::Restore::open(&args.qdir, args.lock.options(), args.dry_run)?;
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
