//! The HTML report (`scan --html FILE`): one self-contained page — inline CSS and inline
//! SVG, no script, no network, no external font or image — for a person deciding whether
//! to run `quarantine`: the summary, the timeline, the incident windows, the largest groups
//! with their copies side by side, and the conflicts.
//!
//! Everything that comes from a message or a file name (Message-IDs, paths, header values)
//! is attacker-controlled and goes through [`esc`]. The page is bounded: at most
//! [`MAX_GROUPS`] groups, [`MAX_COPIES`] copies per group, [`MAX_CONFLICTS`] conflicts and
//! [`MAX_SKIPPED`] skipped entries; the page says when it left some out.

use crate::forensics::cause::{classify, Trace};
use crate::forensics::timeline::Bucket;
use crate::forensics::{day, duration, minute, Forensics, Incident};
use crate::group::Grouping;
use crate::identity::header::{normalise_value, scan_fields};
use crate::model::ScanOutput;
use crate::render::chart::width_label;
use crate::render::report::{human_bytes, Report};
use crate::store::read::read_head;
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

pub const MAX_GROUPS: usize = 40;
pub const MAX_COPIES: usize = 6;
/// Rows of the "also in other folders" table.
pub const MAX_ALSO_IN: usize = 200;
pub const MAX_CONFLICTS: usize = 50;
pub const MAX_SKIPPED: usize = 50;
pub const MAX_STORES: usize = 30;
/// Header values are cut to this many characters.
const MAX_VALUE: usize = 180;
/// At most this many differing header fields are shown per group.
const MAX_DIFF_FIELDS: usize = 14;

/// HTML-escapes text from anywhere; control characters become visible `\u{..}` escapes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut o: String = s.chars().take(max).collect();
    o.push('…');
    o
}

const CSS: &str = r#"
:root{--ink:#1d2330;--mute:#5d6675;--line:#dfe3ea;--bg:#f5f6f8;--card:#fff;--same:#e08a2c;--diff:#3b6fd8;--keep:#1f8a4c;--warn:#b3261e;--inc:#f3c13a}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 28px 60px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:34px 0 10px;padding-bottom:6px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:0 0 6px}
p{margin:6px 0}
.sub{color:var(--mute);font-size:13px}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px;margin:18px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .n{font-size:24px;font-weight:650;line-height:1.2}
.card .l{color:var(--mute);font-size:13px}
.verdict{background:#fff;border:1px solid var(--line);border-left:5px solid var(--keep);border-radius:10px;padding:14px 18px}
.verdict.warn{border-left-color:var(--inc)}
.verdict ul{margin:6px 0 0 18px;padding:0}
.panel{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin:12px 0}
.legend{display:flex;gap:18px;font-size:13px;color:var(--mute);margin:0 0 6px}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.badge{display:inline-block;font-size:12px;font-weight:600;border-radius:999px;padding:1px 9px;color:#fff;white-space:nowrap}
.b-same-time{background:var(--same)}.b-different-time{background:var(--diff)}.b-mixed{background:#7a56c2}
.b-keep{background:var(--keep)}
.inc{border-left:5px solid var(--inc)}
.inc .when{font-weight:650}
.cause{font-size:16px;font-weight:600;margin:6px 0 2px}
dl.kv{display:grid;grid-template-columns:150px 1fr;gap:3px 12px;margin:8px 0 0;font-size:14px}
dl.kv dt{color:var(--mute)}dl.kv dd{margin:0}
table{border-collapse:collapse;width:100%;font-size:13.5px}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid var(--line)}
th{color:var(--mute);font-weight:600;background:#fafbfc}
table.side{table-layout:fixed}
table.side th:first-child{width:130px}
table.side td.keep{background:#eef8f1}
tr.diff td{background:#fff8e6}
td .mono+.mono{border-top:1px dashed #e2d6b5;margin-top:4px;padding-top:4px}
tr.diff td.keep{background:#f3f7e9}
.group h3 .mid{font-weight:500}
.note{color:var(--mute);font-size:13px;margin-top:8px}
footer{margin-top:40px;color:var(--mute);font-size:12.5px}
"#;

/// The whole page. `now` (Unix seconds) is the time the page says it was made: the page
/// depends on its arguments only.
pub fn render(
    scan: &ScanOutput,
    grouping: &Grouping,
    report: &Report,
    paths: &[String],
    now: i64,
) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let s = &report.summary;
    let f = &report.forensics;
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    // Defence in depth: even if something escaped the escaping, nothing may load or run.
    o.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">");
    let _ = write!(
        o,
        "<title>maildedup report: {} duplicate groups</title><style>{CSS}</style></head><body><main>",
        s.groups
    );
    let _ = write!(
        o,
        "<h1>Duplicate mail report</h1><p class=\"sub\">maildedup {} · scanned {} · {} UTC · read-only: nothing was changed</p>",
        env!("CARGO_PKG_VERSION"),
        paths
            .iter()
            .map(|p| format!("<code>{}</code>", esc(p)))
            .collect::<Vec<_>>()
            .join(", "),
        minute(now)
    );

    // Summary cards.
    o.push_str("<div class=\"cards\">");
    let card = |o: &mut String, n: String, l: &str| {
        let _ = write!(
            o,
            "<div class=\"card\"><div class=\"n\">{n}</div><div class=\"l\">{l}</div></div>"
        );
    };
    card(
        &mut o,
        s.messages.to_string(),
        &format!(
            "messages in {} stores ({} Maildir, {} mbox{})",
            s.stores,
            s.maildir_stores,
            s.mbox_stores,
            match s.eml_stores {
                0 => String::new(),
                n => format!(", {n} eml"),
            }
        ),
    );
    card(&mut o, s.groups.to_string(), "duplicate groups");
    card(&mut o, s.extra_copies.to_string(), &format!("extra copies: <b style=\"color:var(--same)\">{}</b> same-time, <b style=\"color:var(--diff)\">{}</b> different-time", s.same_time, s.different_time));
    card(
        &mut o,
        esc(&human_bytes(s.reclaimable_bytes)),
        "reclaimable by quarantine",
    );
    card(
        &mut o,
        s.conflicts.to_string(),
        if s.conflicts == 1 {
            "conflict (never moved)"
        } else {
            "conflicts (never moved)"
        },
    );
    if s.cross_folder_copies > 0 {
        card(
            &mut o,
            s.cross_folder_copies.to_string(),
            if s.across_folders {
                "copies in another folder than the kept copy (--across-folders: moved)"
            } else {
                "also in other folders: kept in their folders (--across-folders moves them)"
            },
        );
    }
    card(&mut o, s.skipped.to_string(), "files skipped");
    o.push_str("</div>");

    verdict(&mut o, report, paths);

    // Timeline.
    o.push_str("<h2>When the extra copies appeared</h2>");
    if f.timeline.is_empty() {
        o.push_str("<p>No extra copy has a delivery time to place on a timeline.</p>");
    } else {
        o.push_str("<div class=\"panel\">");
        let _ = write!(
            o,
            "<div class=\"legend\"><span><span class=\"sw\" style=\"background:var(--same)\"></span>same-time (delivered with the kept copy)</span><span><span class=\"sw\" style=\"background:var(--diff)\"></span>different-time (delivered later)</span>{}<span>one bar = {}, UTC</span></div>",
            if f.incidents.is_empty() { "" } else { "<span><span class=\"sw\" style=\"background:var(--inc);opacity:.5\"></span>incident window</span>" },
            width_label(f.timeline_bucket_seconds)
        );
        timeline_svg(&mut o, f);
        if f.undated_extra_copies > 0 {
            let _ = write!(
                o,
                "<p class=\"note\">{} extra copies have no delivery time and are not shown.</p>",
                f.undated_extra_copies
            );
        }
        o.push_str("</div>");
    }

    // Incidents.
    o.push_str("<h2>Incident windows</h2>");
    if f.incidents.is_empty() {
        o.push_str("<p>No incident: the extra copies do not cluster in a burst. Scattered duplicates like these usually come from single events (a message filed twice, a one-off re-delivery).</p>");
    } else {
        let _ = write!(o, "<p class=\"sub\">Bursts where extra copies cluster, and lasting changes in the share of a folder's deliveries that get a same-time copy (rate), largest first; all of them are listed. The cause is inferred from the delivery times and the server-side <code>Received</code> chain of each extra copy compared with its kept copy.</p>");
        for (n, i) in f.incidents.iter().enumerate() {
            incident(&mut o, n + 1, i);
        }
    }

    folders(&mut o, scan, grouping);
    groups(&mut o, scan, grouping);
    also_in(&mut o, scan, grouping);
    conflicts(&mut o, report);
    if !report.skipped.is_empty() {
        let _ = write!(o, "<h2>Skipped ({})</h2><div class=\"panel\"><table><tr><th>path</th><th>reason</th></tr>", report.skipped.len());
        for k in report.skipped.iter().take(MAX_SKIPPED) {
            let at = k.offset.map(|x| format!(" @{x}")).unwrap_or_default();
            let _ = write!(
                o,
                "<tr><td class=\"mono\">{}{at}</td><td>{}</td></tr>",
                esc(&k.path),
                esc(&k.reason)
            );
        }
        o.push_str("</table>");
        if report.skipped.len() > MAX_SKIPPED {
            let _ = write!(o, "<p class=\"note\">The first {MAX_SKIPPED} of {} are shown; <code>scan --json</code> lists all.</p>", report.skipped.len());
        }
        o.push_str("</div>");
    }
    let _ = write!(
        o,
        "<footer>Generated by maildedup {}. This page is self-contained (no scripts, no network). It shows at most {MAX_GROUPS} groups, {MAX_COPIES} copies per group, {MAX_CONFLICTS} conflicts and {MAX_SKIPPED} skipped files; <code>maildedup scan --json</code> gives everything. Times are UTC.</footer></main></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    o.push('\n');
    o
}

/// What a quarantine would do, in a few lines.
fn verdict(o: &mut String, report: &Report, paths: &[String]) {
    let s = &report.summary;
    if s.groups == 0 {
        o.push_str("<div class=\"verdict\"><h3>No duplicates found</h3><p>There is nothing to quarantine.</p></div>");
        return;
    }
    let warn = !report.forensics.incidents.is_empty();
    let _ = write!(
        o,
        "<div class=\"verdict{}\"><h3>If you run <code>quarantine</code></h3><ul>\
<li>{} extra copies ({}) would move into a quarantine Maildir; one copy of each of the {} groups stays where it is (the earliest delivered, unless <code>--keep</code>/<code>--prefer</code> say otherwise).</li>\
<li>Flags (Seen, Replied, Flagged, Passed) of the extra copies are merged into the kept copy. Nothing is deleted; <code>maildedup restore QDIR</code> puts everything back byte for byte.</li>\
<li>{} (same Message-ID, different content) never move.</li>{}</ul>\
<p class=\"note\">Preview the exact plan first: <code>maildedup quarantine {} --to QDIR --dry-run</code></p></div>",
        if warn { " warn" } else { "" },
        s.extra_copies,
        esc(&human_bytes(s.reclaimable_bytes)),
        s.groups,
        match s.conflicts {
            0 => "There are no conflicts; conflicts".to_string(),
            1 => "The 1 conflict".to_string(),
            n => format!("The {n} conflicts"),
        },
        if warn {
            let i = &report.forensics.incidents[0];
            format!(
                "<li><b>Before you clean up:</b> the largest incident ({} extra copies, {} to {} UTC) points to a {}. Fix that first, or it will happen again: {}.</li>",
                i.extra_copies,
                minute(i.start),
                minute(i.end),
                esc(i.likely_cause.split(':').next().unwrap_or(i.likely_cause)),
                esc(i.next_step)
            )
        } else {
            String::new()
        },
        paths.iter().map(|p| esc(p)).collect::<Vec<_>>().join(" ")
    );
}

/// A "nice" axis maximum: 1, 2 or 5 times a power of ten, at least `v`.
fn nice_max(v: usize) -> usize {
    let mut p = 1usize;
    loop {
        for m in [1, 2, 5] {
            if m * p >= v.max(1) {
                return m * p;
            }
        }
        p = p.saturating_mul(10);
    }
}

fn timeline_svg(o: &mut String, f: &Forensics) {
    let b: &[Bucket] = &f.timeline;
    let (w, h) = (1100.0, 260.0);
    let (left, right, top, bottom) = (48.0, 12.0, 14.0, 40.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let max = nice_max(b.iter().map(Bucket::total).max().unwrap_or(1));
    let n = b.len().max(1);
    let bw = pw / n as f64;
    let t0 = b.first().map_or(0, |x| x.start);
    let t1 = b.last().map_or(1, |x| x.end);
    let x_of = |t: i64| left + pw * (t - t0) as f64 / (t1 - t0).max(1) as f64;
    let _ = write!(
        o,
        "<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"Extra copies by delivery time\" style=\"display:block;font:12px system-ui,sans-serif\">"
    );
    // incident windows behind the bars
    for (k, i) in f.incidents.iter().enumerate() {
        // the whole buckets the incident falls in
        let w = f.timeline_bucket_seconds.max(1);
        let b0 = t0 + (i.start - t0).div_euclid(w) * w;
        let b1 = t0 + ((i.end - t0).div_euclid(w) + 1) * w;
        let x0 = x_of(b0) - 1.0;
        let x1 = (x_of(b1) + 1.0).max(x0 + 5.0);
        let _ = write!(
            o,
            "<rect x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{ph}\" fill=\"#f3c13a\" opacity=\".35\"><title>incident {}: {} extra copies</title></rect><text x=\"{:.1}\" y=\"{}\" fill=\"#8a6a00\" font-weight=\"700\" text-anchor=\"middle\">{}</text>",
            x1 - x0,
            k + 1,
            i.extra_copies,
            (x0 + x1) / 2.0,
            top + 11.0,
            k + 1
        );
    }
    // grid and y axis
    for k in 0..=4 {
        let v = max * k / 4;
        let y = top + ph - ph * v as f64 / max as f64;
        let _ = write!(
            o,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e6ec\"/><text x=\"{}\" y=\"{:.1}\" fill=\"#5d6675\" text-anchor=\"end\">{v}</text>",
            w - right,
            left - 6.0,
            y + 4.0
        );
    }
    // bars
    let gap = if bw > 4.0 { 1.0 } else { 0.0 };
    for (k, x) in b.iter().enumerate() {
        if x.total() == 0 {
            continue;
        }
        let bx = left + k as f64 * bw + gap / 2.0;
        let hd = ph * x.different_time as f64 / max as f64;
        let hs = ph * x.same_time as f64 / max as f64;
        let label = if f.timeline_bucket_seconds < 86_400 {
            format!("{} – {}", minute(x.start), minute(x.end))
        } else {
            format!("{} – {}", day(x.start), day(x.end - 1))
        };
        let _ = write!(
            o,
            "<g><title>{label}: {} same-time, {} different-time</title>",
            x.same_time, x.different_time
        );
        let base = top + ph;
        // at least one pixel for a non-empty class, so single copies stay visible
        let hd = if x.different_time > 0 {
            hd.max(1.5)
        } else {
            0.0
        };
        let hs = if x.same_time > 0 { hs.max(1.5) } else { 0.0 };
        if hd > 0.0 {
            let _ = write!(o, "<rect x=\"{bx:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hd:.1}\" fill=\"#3b6fd8\"/>", base - hd, (bw - gap).max(0.8));
        }
        if hs > 0.0 {
            let _ = write!(o, "<rect x=\"{bx:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hs:.1}\" fill=\"#e08a2c\"/>", base - hd - hs, (bw - gap).max(0.8));
        }
        o.push_str("</g>");
    }
    // x axis: up to 6 labels on bucket boundaries
    let _ = write!(
        o,
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#9aa3b2\"/>",
        w - right,
        top + ph,
        top + ph
    );
    let labels = 6.min(n);
    for k in 0..=labels {
        let idx = (n * k / labels.max(1)).min(n);
        let t = t0 + idx as i64 * f.timeline_bucket_seconds;
        let x = left + idx as f64 * bw;
        let text = if f.timeline_bucket_seconds < 86_400 {
            minute(t)
        } else {
            day(t)
        };
        let anchor = if k == 0 {
            "start"
        } else if k == labels {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            o,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#9aa3b2\"/><text x=\"{x:.1}\" y=\"{}\" fill=\"#5d6675\" text-anchor=\"{anchor}\">{}</text>",
            top + ph,
            top + ph + 5.0,
            top + ph + 20.0,
            esc(&text)
        );
    }
    let _ = write!(
        o,
        "<text x=\"{left}\" y=\"{}\" fill=\"#5d6675\">extra copies per {}</text>",
        h - 3.0,
        esc(&width_label(f.timeline_bucket_seconds))
    );
    o.push_str("</svg>");
}

fn incident(o: &mut String, n: usize, i: &Incident) {
    let lasted = if i.end > i.start {
        format!(" · over {}", duration(i.end - i.start))
    } else {
        String::new()
    };
    let _ = write!(
        o,
        "<div class=\"panel inc\"><div><span class=\"when\">#{n} · {} to {} UTC</span>{lasted} · <b>{}</b> extra copies <span class=\"badge b-{}\">{}</span></div>",
        minute(i.start),
        minute(i.end),
        i.extra_copies,
        i.class.as_str(),
        i.class.as_str()
    );
    if i.folder.is_some() {
        let (k, d) = (
            i.duplicated_deliveries.unwrap_or(0),
            i.deliveries.unwrap_or(0),
        );
        let pct = |r: f64| format!("{:.0}%", r * 100.0);
        let _ = write!(
            o,
            "<p><b>{}</b> in <code>{}</code>: since {} UTC, {} of {} deliveries ({}) have a second copy in the same second; before: {}; {}.</p>",
            if i.kind == crate::forensics::Kind::Rate {
                "Rate incident"
            } else {
                "Also a change in the rate of doubled deliveries"
            },
            esc(i.folder.as_deref().unwrap_or("?")),
            minute(i.start),
            k,
            d,
            pct(i.rate_during.unwrap_or(0.0)),
            i.rate_before.map_or("none before (the folder's first delivery)".to_string(), pct),
            if i.still_going == Some(true) {
                "still going at the last delivery".to_string()
            } else {
                format!(
                    "ended {} UTC{}",
                    minute(i.end),
                    i.rate_after.map(|r| format!(", {} after", pct(r))).unwrap_or_default()
                )
            }
        );
    }
    let (head, tail) = i
        .likely_cause
        .split_once(": ")
        .unwrap_or((i.likely_cause, ""));
    let _ = write!(
        o,
        "<p class=\"cause\">Likely cause: {}</p><p>{}</p>",
        esc(head),
        esc(tail)
    );
    o.push_str("<dl class=\"kv\">");
    let _ = write!(o, "<dt>How this happens</dt><dd>{}</dd>", esc(i.mechanism));
    let _ = write!(o, "<dt>Evidence</dt><dd>{}</dd>", esc(&i.evidence));
    let _ = write!(o, "<dt>Next step</dt><dd><b>{}</b></dd>", esc(i.next_step));
    let _ = write!(
        o,
        "<dt>Class mix</dt><dd>{} same-time, {} different-time</dd>",
        i.same_time, i.different_time
    );
    let folders: Vec<String> = i
        .folders
        .iter()
        .take(8)
        .map(|f| format!("<code>{}</code> ({})", esc(&f.path), f.extra_copies))
        .collect();
    let more = i.folders.len().saturating_sub(8);
    let _ = write!(
        o,
        "<dt>Extra copies in</dt><dd>{}{}</dd>",
        folders.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    let kept: Vec<String> = i
        .kept_stores
        .iter()
        .take(8)
        .map(|p| format!("<code>{}</code>", esc(p)))
        .collect();
    let _ = write!(
        o,
        "<dt>Kept copies in</dt><dd>{}{}</dd>",
        kept.join(", "),
        if i.kept_stores.len() > 8 { " …" } else { "" }
    );
    if let (Some(a), Some(b)) = (i.original_span.start, i.original_span.end) {
        let _ = write!(
            o,
            "<dt>Originals delivered</dt><dd>{} to {}</dd>",
            day(a),
            day(b)
        );
    }
    if let (Some(a), Some(m), Some(b)) = (
        i.delay_seconds.min,
        i.delay_seconds.median,
        i.delay_seconds.max,
    ) {
        let d = if b == 0 {
            "the same second".to_string()
        } else if duration(a) == duration(b) {
            duration(b)
        } else {
            format!(
                "{} to {} (median {})",
                duration(a),
                duration(b),
                duration(m)
            )
        };
        let _ = write!(o, "<dt>Delay after original</dt><dd>{d}</dd>");
    }
    let causes: Vec<String> = i
        .causes
        .iter()
        .map(|(c, k)| format!("{} {k}", esc(c)))
        .collect();
    let _ = write!(
        o,
        "<dt>Causes of the {} copies examined</dt><dd>{}</dd>",
        i.examined,
        causes.join(", ")
    );
    o.push_str("</dl></div>");
}

/// Where the extra copies are: one row per store, most copies first.
fn folders(o: &mut String, scan: &ScanOutput, grouping: &Grouping) {
    #[derive(Default)]
    struct Row {
        same: usize,
        diff: usize,
        bytes: u64,
        kept: usize,
    }
    let mut rows: Vec<Row> = (0..scan.stores.len()).map(|_| Row::default()).collect();
    for g in &grouping.groups {
        rows[scan.copies[g.kept()].store as usize].kept += 1;
        for m in g.extras() {
            let c = &scan.copies[m.copy];
            let r = &mut rows[c.store as usize];
            match m.class {
                Some(crate::group::Class::SameTime) => r.same += 1,
                _ => r.diff += 1,
            }
            r.bytes += c.length;
        }
    }
    let mut order: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].same + rows[i].diff + rows[i].kept > 0)
        .collect();
    if order.is_empty() {
        return;
    }
    order.sort_by_key(|&i| (std::cmp::Reverse(rows[i].same + rows[i].diff), i));
    let _ = write!(o, "<h2>Where the extra copies are</h2><div class=\"panel\"><table><tr><th>store</th><th>kind</th><th>extra copies</th><th>same-time</th><th>different-time</th><th>size</th><th>kept copies here</th></tr>");
    for &i in order.iter().take(MAX_STORES) {
        let r = &rows[i];
        let st = &scan.stores[i];
        let _ = write!(
            o,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&st.path.to_string_lossy()),
            st.kind.label(),
            r.same + r.diff,
            r.same,
            r.diff,
            esc(&human_bytes(r.bytes)),
            r.kept
        );
    }
    o.push_str("</table>");
    if order.len() > MAX_STORES {
        let _ = write!(
            o,
            "<p class=\"note\">{} more stores are not shown.</p>",
            order.len() - MAX_STORES
        );
    }
    o.push_str("</div>");
}

/// The header fields of one copy: (lowercase name, normalised value), in order.
fn fields(head: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    scan_fields(head, |name, value| {
        let mut v = Vec::new();
        normalise_value(value, &mut v);
        out.push((
            String::from_utf8_lossy(name).to_ascii_lowercase(),
            String::from_utf8_lossy(&v).into_owned(),
        ));
    });
    out
}

fn groups(o: &mut String, scan: &ScanOutput, grouping: &Grouping) {
    let total = grouping.groups.len();
    if total == 0 {
        return;
    }
    let mut order: Vec<usize> = (0..total).collect();
    let extra_bytes = |gi: usize| -> u64 {
        let g = &grouping.groups[gi];
        g.extras().iter().map(|m| scan.copies[m.copy].length).sum()
    };
    order.sort_by_cached_key(|&i| {
        (
            std::cmp::Reverse(grouping.groups[i].members.len()),
            std::cmp::Reverse(extra_bytes(i)),
        )
    });
    order.truncate(MAX_GROUPS);
    let _ = write!(
        o,
        "<h2>Largest groups</h2><p class=\"sub\">{} of {total} groups, most copies first. Each column is one copy; the <span class=\"badge b-keep\">keep</span> column stays, the others would move. Highlighted rows are header fields that differ between the copies (trace and store headers such as <code>Received</code> or <code>Status</code>, which the duplicate test ignores).</p>",
        order.len()
    );
    // Read the header blocks of the shown copies in parallel.
    let shown: Vec<(usize, Vec<usize>)> = order
        .iter()
        .map(|&gi| {
            let g = &grouping.groups[gi];
            (
                gi,
                g.members.iter().take(MAX_COPIES).map(|m| m.copy).collect(),
            )
        })
        .collect();
    let heads: Vec<Vec<Vec<(String, String)>>> = shown
        .par_iter()
        .map(|(_, copies)| {
            copies
                .iter()
                .map(|&c| {
                    read_head(&scan.copies[c], &scan.stores)
                        .map(|h| fields(&h))
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    for ((gi, copies), heads) in shown.iter().zip(heads) {
        let g = &grouping.groups[*gi];
        let subject = heads
            .first()
            .and_then(|h| h.iter().find(|(n, _)| n == "subject"))
            .map(|(_, v)| v.as_str())
            .unwrap_or("(no subject)");
        let _ = write!(
            o,
            "<div class=\"panel group\"><h3>{} <span class=\"badge b-{}\">{}</span></h3><p class=\"mono\">{} · {} copies</p>",
            esc(&clip(subject, 140)),
            g.class().as_str(),
            g.class().as_str(),
            esc(g.message_id.as_deref().unwrap_or("(no Message-ID: grouped by content)")),
            g.members.len()
        );
        o.push_str("<table class=\"side\"><tr><th></th>");
        for (k, m) in g.members.iter().take(MAX_COPIES).enumerate() {
            let badge = match m.class {
                None if k > 0 => {
                    "<span class=\"badge b-keep\">keep</span> <span class=\"sub\">(in its folder)</span>".to_string()
                }
                None => "<span class=\"badge b-keep\">keep</span>".to_string(),
                Some(c) => format!("<span class=\"badge b-{0}\">{0}</span>", c.as_str()),
            };
            let _ = write!(o, "<th>copy {} {badge}</th>", k + 1);
        }
        o.push_str("</tr>");
        let kept_cols: Vec<bool> = g
            .members
            .iter()
            .take(MAX_COPIES)
            .map(|m| m.class.is_none())
            .collect();
        let cell = |k: usize| {
            if kept_cols.get(k).copied().unwrap_or(false) {
                "<td class=\"keep\">"
            } else {
                "<td>"
            }
        };
        let row = |o: &mut String, name: &str, vals: &[String], diff: bool| {
            let _ = write!(
                o,
                "<tr{}><th>{}</th>",
                if diff { " class=\"diff\"" } else { "" },
                esc(name)
            );
            for (k, v) in vals.iter().enumerate() {
                let _ = write!(o, "{}{v}</td>", cell(k));
            }
            o.push_str("</tr>");
        };
        let cs: Vec<&crate::model::MessageCopy> = copies.iter().map(|&c| &scan.copies[c]).collect();
        row(
            o,
            "where",
            &cs.iter()
                .map(|c| {
                    let at = c.offset().map(|x| format!(" @{x}")).unwrap_or_default();
                    format!(
                        "<span class=\"mono\">{}{at}</span>",
                        esc(&c.path(&scan.stores).to_string_lossy())
                    )
                })
                .collect::<Vec<_>>(),
            false,
        );
        row(
            o,
            "delivered",
            &cs.iter()
                .map(|c| match c.delivered_at {
                    Some(t) => format!(
                        "{} <span class=\"sub\">({})</span>",
                        esc(&crate::model::encode::rfc3339(t).unwrap_or_default()),
                        c.time_source.map_or("", |s| s.as_str())
                    ),
                    None => "unknown".into(),
                })
                .collect::<Vec<_>>(),
            false,
        );
        row(
            o,
            "flags · size",
            &cs.iter()
                .map(|c| {
                    format!(
                        "{} · {}",
                        if c.flags.is_empty() {
                            "none".to_string()
                        } else {
                            esc(&c.flags.to_string())
                        },
                        esc(&human_bytes(c.length))
                    )
                })
                .collect::<Vec<_>>(),
            false,
        );
        let traces: Vec<Trace> = heads
            .iter()
            .map(|h| {
                let raw: String = h.iter().map(|(n, v)| format!("{n}: {v}\n")).collect();
                Trace::parse(raw.as_bytes())
            })
            .collect();
        let causes: Vec<String> = g
            .members
            .iter()
            .take(MAX_COPIES)
            .enumerate()
            .map(|(k, m)| match m.class {
                None if k > 0 => format!(
                    "<span class=\"sub\">kept in its folder; also in {}</span>",
                    esc(&crate::render::report::also_in(g, m.copy, scan).join(", "))
                ),
                None => "<span class=\"sub\">the original</span>".to_string(),
                Some(class) => {
                    // Compared with the copy kept in its place (its folder's, under
                    // the folder rule).
                    let r = copies.iter().position(|&c| c == m.relative_to).unwrap_or(0);
                    let other = cs[k].store != cs[r].store;
                    let c = classify(class, other, Some((&traces[k], &traces[r])));
                    let words = c.describe().split(':').next().unwrap_or("");
                    format!(
                        "{}<div class=\"sub\">{}</div>",
                        esc(words),
                        esc(c.evidence())
                    )
                }
            })
            .collect();
        row(o, "likely cause", &causes, false);
        // header fields that differ
        let mut names: Vec<&str> = Vec::new();
        for h in &heads {
            for (n, _) in h {
                if !names.contains(&n.as_str()) {
                    names.push(n);
                }
            }
        }
        let values = |h: &[(String, String)], name: &str| -> Vec<String> {
            h.iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let mut shown_rows = 0;
        let mut hidden = 0;
        for name in names {
            let per: Vec<Vec<String>> = heads.iter().map(|h| values(h, name)).collect();
            if per.windows(2).all(|w| w[0] == w[1]) {
                continue;
            }
            if shown_rows >= MAX_DIFF_FIELDS {
                hidden += 1;
                continue;
            }
            shown_rows += 1;
            let label = if name.is_empty() {
                "(non-header line)"
            } else {
                name
            };
            let cells: Vec<String> = per
                .iter()
                .map(|vs| {
                    if vs.is_empty() {
                        "<span class=\"sub\">(absent)</span>".to_string()
                    } else {
                        vs.iter()
                            .map(|v| {
                                format!("<div class=\"mono\">{}</div>", esc(&clip(v, MAX_VALUE)))
                            })
                            .collect()
                    }
                })
                .collect();
            row(o, label, &cells, true);
        }
        o.push_str("</table>");
        let mut notes = Vec::new();
        if shown_rows == 0 {
            notes.push("The copies have identical header blocks.".to_string());
        }
        if hidden > 0 {
            notes.push(format!("{hidden} more differing fields are not shown."));
        }
        if g.members.len() > MAX_COPIES {
            notes.push(format!(
                "{} more copies are not shown.",
                g.members.len() - MAX_COPIES
            ));
        }
        let extra: u64 = g.extras().iter().map(|m| scan.copies[m.copy].length).sum();
        notes.push(format!(
            "Quarantine would reclaim {}.",
            esc(&human_bytes(extra))
        ));
        let _ = write!(o, "<p class=\"note\">{}</p></div>", notes.join(" "));
    }
    if total > MAX_GROUPS {
        let _ = write!(o, "<p class=\"note\">{} more groups are not shown; <code>maildedup scan --json</code> lists all {total}.</p>", total - MAX_GROUPS);
    }
}

/// The copies kept in their folders though other folders hold the message too (the
/// folder rule): never moved, listed with the other folders.
fn also_in(o: &mut String, scan: &ScanOutput, grouping: &Grouping) {
    let rows: Vec<(&crate::group::Group, usize)> = grouping
        .groups
        .iter()
        .chain(&grouping.cross_folder)
        .flat_map(|g| g.kept_elsewhere().iter().map(move |m| (g, m.copy)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "<h2>Also in other folders ({})</h2><p class=\"sub\">Copies of a message that another folder holds too. Each folder keeps its copy: a quarantine never leaves a folder without a message it held (<code>--across-folders</code> keeps one copy across folders instead).</p><div class=\"panel\"><table><tr><th>kept copy</th><th>also in</th></tr>",
        rows.len()
    );
    for (g, copy) in rows.iter().take(MAX_ALSO_IN) {
        let c = &scan.copies[*copy];
        let at = c.offset().map(|x| format!(" @{x}")).unwrap_or_default();
        let _ = write!(
            o,
            "<tr><td class=\"mono\">{}{at}</td><td class=\"mono\">{}</td></tr>",
            esc(&c.path(&scan.stores).to_string_lossy()),
            esc(&crate::render::report::also_in(g, *copy, scan).join(", "))
        );
    }
    o.push_str("</table>");
    if rows.len() > MAX_ALSO_IN {
        let _ = write!(
            o,
            "<p class=\"note\">{} more are not shown; <code>maildedup scan --json</code> lists all (<code>scope: \"cross-folder\"</code>).</p>",
            rows.len() - MAX_ALSO_IN
        );
    }
    o.push_str("</div>");
}

fn conflicts(o: &mut String, report: &Report) {
    let n = report.conflicts.len();
    if n == 0 {
        return;
    }
    let _ = write!(
        o,
        "<h2>Conflicts ({n})</h2><p class=\"sub\">Copies that share a Message-ID but not their content (a list copy with a tagged subject or a footer, an edited re-send). They are reported and never moved.</p><div class=\"panel\"><table><tr><th>Message-ID</th><th>variants</th><th>differ in</th><th>copies</th></tr>"
    );
    for k in report.conflicts.iter().take(MAX_CONFLICTS) {
        let mut differs: Vec<String> = k
            .differs
            .headers
            .iter()
            .map(|h| format!("<code>{}</code>", esc(h)))
            .collect();
        if k.differs.body {
            differs.push("body".into());
        }
        let copies: Vec<String> = k
            .copies
            .iter()
            .take(6)
            .map(|c| {
                format!(
                    "<div class=\"mono\">{}{}</div>",
                    esc(&c.path),
                    c.offset.map(|x| format!(" @{x}")).unwrap_or_default()
                )
            })
            .collect();
        let _ = write!(
            o,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            esc(&k.message_id),
            k.variants,
            differs.join(", "),
            copies.concat(),
            if k.copies.len() > 6 {
                format!("<div class=\"sub\">and {} more</div>", k.copies.len() - 6)
            } else {
                String::new()
            }
        );
    }
    o.push_str("</table>");
    if n > MAX_CONFLICTS {
        let _ = write!(o, "<p class=\"note\">The first {MAX_CONFLICTS} of {n} are shown; <code>scan --json</code> lists all.</p>");
    }
    o.push_str("</div>");
}

/// Writes the page to `path` (through a temporary file in the same folder, renamed).
pub fn write(path: &Path, page: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.maildedup-tmp"));
    std::fs::write(&tmp, page)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            esc("<a href='x'>&\"\x1b"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;\\u{1b}"
        );
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(130), 200);
    }
}
