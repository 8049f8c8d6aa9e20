//! `maildedup quarantine`: scan, plan, and move the extra copies into QDIR (or show the
//! plan with `--dry-run`).

use super::args::{OnlyClass, QuarantineArgs};
use super::scan_cmd::{scan_selection, write_html};
use super::{print_json, EXIT_OK, EXIT_PARTIAL};
use crate::act::runlog::RunLog;
use crate::cli::progress::Progress;
use crate::render::report::{count, thousands, Report};
use crate::render::term::{self, escape as esc};
use std::io::{IsTerminal, Write};

pub(crate) fn run_quarantine(args: &QuarantineArgs, log: &mut RunLog) -> anyhow::Result<i32> {
    use crate::act::quarantine::Quarantine;
    if super::each::wanted(&args.fleet) {
        return super::each::run_quarantine_each(args, log);
    }
    let sel = &args.selection;
    // IMAP stores are scanned, never changed yet: refused before anything is locked,
    // written or scanned (a plan that silently left them would read as "done").
    if let Some(p) = sel.paths.iter().find(|p| crate::scan::is_imap_path(p)) {
        anyhow::bail!(
            "{}: quarantine on an IMAP account is not supported yet (scan it with `maildedup \
             scan`); nothing was changed",
            p.display()
        );
    }
    log.set_paths(&sel.paths);
    log.set("qdir", crate::act::runlog::absolute(&args.to));
    log.set("dry_run", args.dry_run);
    let only = args.only.and_then(OnlyClass::class);
    log.set("only", serde_json::to_value(only)?);
    let progress = Progress::new(!args.no_progress && !args.json && !args.quiet);
    // Everything the real run would refuse is refused here, before the scan, and the same
    // way with --dry-run: a QDIR inside a scanned path, one it could not write, a run lock
    // another run keeps.
    crate::act::placement::check_qdir(&args.to, &sel.paths)?;
    crate::act::placement::check_usable(&args.to)?;
    crate::act::placement::check_owner(&args.to)?;
    // One run per store at a time (`crate::act::runlock`), taken before the scan: a run that
    // waited for another one scans what that run left. A dry run takes it too (it only
    // locks, never writes), so it shows what a real run started now would do.
    let _runlock =
        crate::act::runlock::RunLock::for_paths(&sel.paths, args.lock.options().timeout)?;
    // An mbox a killed run left half-written in place is finished before it is scanned
    // (mail appended to it since is kept); one that cannot be is reported and left alone.
    let recovery = if args.dry_run {
        Vec::new()
    } else {
        crate::act::mbox_edit::recover_qdir(&args.to, &args.lock.options())?
    };
    // A reviewed plan is read before the scan: a file that is no plan fails at once.
    let reviewed = match &args.plan {
        Some(p) => Some(crate::act::reviewed::PlanFile::read(p)?),
        None => None,
    };
    let scanned = scan_selection(sel, &progress)?;
    let out = &scanned.out;
    // A folder or file that could not be read is never quarantined from: say so on stderr
    // in every mode (with -q too), and in the run log.
    let incomplete = scanned.report_problems(log, true);
    let done = |code: i32| incomplete.unwrap_or(code);
    let (grouping, plan, left) = match &reviewed {
        None => {
            let grouping = crate::group::merge::group_and_merge(out, &sel.group_options());
            let plan = crate::act::plan::plan(out, &grouping, only);
            (grouping, plan, Vec::new())
        }
        Some(file) => checked_plan(args, file, out)?,
    };
    if args.dry_run {
        if let Some(file) = &args.html {
            let report = Report::build(out, &grouping);
            write_html(file, out, &grouping, &report, &sel.paths)?;
        }
        print_dry_run(args, out, &grouping, &plan, &left, log)?;
        return Ok(done(if left.is_empty() {
            EXIT_OK
        } else {
            EXIT_PARTIAL
        }));
    }
    if plan.moves.is_empty() && plan.flag_merges.is_empty() {
        let outcome = crate::act::quarantine::Outcome {
            left: recovery.into_iter().chain(left).collect(),
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
    let command: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // Copies and bytes moved, the store, the time left: on a terminal only.
    let moving = Progress::new(!args.no_progress && !args.json && !args.quiet);
    let mut q =
        Quarantine::start_recording(out, &grouping, &args.to, args.lock.options(), &command)?;
    q.observe(&moving);
    q.outcome.left.extend(recovery);
    q.outcome.left.extend(left);
    let result = q.run(&plan);
    moving.finish();
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

/// `quarantine --plan FILE`: the reviewed plan checked against the scan, grouped across
/// folders so every copy of a message is in one group. Refused whole, listing every rule it
/// breaks; else the plan and the moves left because their copies changed since.
fn checked_plan(
    args: &QuarantineArgs,
    file: &crate::act::reviewed::PlanFile,
    out: &crate::model::ScanOutput,
) -> anyhow::Result<(
    crate::group::Grouping,
    crate::act::plan::Plan,
    Vec<crate::act::Problem>,
)> {
    let mut opts = args.selection.group_options();
    let across = opts.across_folders || file.across_folders();
    opts.across_folders = true;
    let grouping = crate::group::merge::group_and_merge(out, &opts);
    match crate::act::reviewed::check(file, out, &grouping, opts.window_secs, across) {
        Ok(c) => Ok((grouping, c.plan, c.left)),
        Err(rules) => {
            let shown: Vec<&str> = rules.iter().take(20).map(String::as_str).collect();
            let more = rules.len().saturating_sub(shown.len());
            anyhow::bail!(
                "{}: the plan is refused, nothing was moved:\n  {}{}",
                args.plan
                    .as_deref()
                    .unwrap_or(std::path::Path::new("-"))
                    .display(),
                shown.join("\n  "),
                if more > 0 {
                    format!("\n  (and {more} more)")
                } else {
                    String::new()
                }
            )
        }
    }
}

/// `quarantine --dry-run`: the plan, as JSON or one line per move and a summary; `left`:
/// moves of a reviewed plan left because their copies changed.
fn print_dry_run(
    args: &QuarantineArgs,
    out: &crate::model::ScanOutput,
    grouping: &crate::group::Grouping,
    plan: &crate::act::plan::Plan,
    left: &[crate::act::Problem],
    log: &mut RunLog,
) -> anyhow::Result<()> {
    let planned_bytes: u64 = plan.moves.iter().map(|m| out.copies[m.copy].length).sum();
    let summary = serde_json::json!({ "moves": plan.moves.len(), "bytes": planned_bytes,
                         "flag_merges": plan.flag_merges.len(),
                         "conflicts_left": grouping.conflicts.len(),
                         "cross_folder_copies": grouping.cross_folder_copies(),
                         "across_folders": grouping.across_folders });
    log.set("summary", summary.clone());
    if args.json {
        use crate::render::plan_view::{AlsoIns, DryRun, FlagMerges, Moves};
        print_json(&DryRun {
            cross_folder: AlsoIns(out, plan),
            dry_run: true,
            flag_merges: FlagMerges(out, plan),
            left,
            moves: Moves(out, plan),
            paths: args
                .selection
                .paths
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            qdir: args.to.to_string_lossy().into_owned(),
            summary,
            version: 1,
        })?;
    } else if !args.quiet {
        let mut o = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        crate::render::plan_view::write_lines(&mut o, out, plan)?;
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
        for p in left {
            writeln!(o, "would leave in place: {}", esc(&p.to_string()))?;
        }
        o.flush()?;
    }
    Ok(())
}

/// The text lines after a quarantine's counts: copies kept because they are the only copy
/// in their folder, then every copy left in place.
pub(crate) fn print_kept_and_left(
    plan: &crate::act::plan::Plan,
    outcome: &crate::act::quarantine::Outcome,
) {
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
pub(crate) fn outcome_code(outcome: &crate::act::quarantine::Outcome) -> i32 {
    if outcome.left.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    }
}

/// The counts a quarantine run's log record carries.
pub(crate) fn quarantine_summary(
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
