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

/// A path, escaped, with a line-break opportunity (`<wbr>`) after each `/`, and after each
/// `.` and `,` inside a name (Maildir file names and `.Folder.Sub` folders), so that a
/// long path wraps at its separators instead of in the middle of a word. The leading dot
/// of a name stays with it.
pub fn path_html(p: &str) -> String {
    let mut o = String::with_capacity(p.len() + p.len() / 4);
    let mut prev = '/';
    let mut chars = p.chars().peekable();
    while let Some(ch) = chars.next() {
        o.push_str(&esc(ch.encode_utf8(&mut [0; 4])));
        let more = chars.peek().is_some();
        if more && (ch == '/' || ((ch == '.' || ch == ',') && prev != '/')) {
            o.push_str("<wbr>");
        }
        prev = ch;
    }
    o
}

/// Paths as [`path_html`], joined by commas.
fn paths_html(ps: &[String]) -> String {
    ps.iter()
        .map(|p| path_html(p))
        .collect::<Vec<_>>()
        .join(", ")
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
            .map(|p| format!("<code>{}</code>", path_html(p)))
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
                path_html(&k.path),
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

/// A "nice" axis maximum: 1, 2, 2.5 or 5 times a power of ten (2.5 from 25 up, so it
/// stays an integer), at least `v`: 220 gets 250, not 500.
fn nice_max(v: usize) -> usize {
    let v = v.max(1);
    let mut p = 1usize;
    loop {
        for m in [10, 20, 25, 50] {
            if m == 25 && p == 1 {
                continue;
            }
            let t = (m * p) / 10;
            if t >= v {
                return t;
            }
        }
        if p > usize::MAX / 100 {
            return v;
        }
        p = p.saturating_mul(10);
    }
}

/// Whether `v` is 1, 2, 2.5 or 5 times a power of ten: a step a reader can count in.
fn is_nice_step(v: usize) -> bool {
    let mut v = v;
    while v >= 10 && v.is_multiple_of(10) {
        v /= 10;
    }
    matches!(v, 1 | 2 | 5 | 25)
}

/// How bar heights follow counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// Heights proportional to counts: used while the smallest non-empty bar is still
    /// at least a twentieth of the axis.
    Linear,
    /// Heights proportional to the square root: one very large bucket no longer
    /// flattens the others (the smallest bar stays at least a twentieth).
    Sqrt,
    /// Heights proportional to log(1 + count): for a spread like 1 to 10,000.
    Log,
}

/// The y axis of the timeline: its top (a nice number at or just above the tallest bar)
/// and its scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct YAxis {
    top: usize,
    scale: Scale,
}

/// No two tick labels closer than this (px); a 12 px label is about 9 px tall.
const TICK_GAP: f64 = 14.0;
/// Any non-empty bucket is at least this tall (px), whatever the scale.
const MIN_BAR: f64 = 3.0;

impl YAxis {
    /// `max` is the tallest bucket, `min` the smallest non-empty one.
    fn new(max: usize, min: usize) -> YAxis {
        let top = nice_max(max);
        let min = min.clamp(1, max.max(1));
        let scale = if min as f64 / top as f64 >= 0.05 {
            Scale::Linear
        } else if (min as f64 / top as f64).sqrt() >= 0.05 {
            Scale::Sqrt
        } else {
            Scale::Log
        };
        YAxis { top, scale }
    }

    /// Where `v` sits on the axis: 0 at the bottom, 1 at the top.
    fn frac(&self, v: usize) -> f64 {
        let (v, t) = (v.min(self.top) as f64, self.top.max(1) as f64);
        match self.scale {
            Scale::Linear => v / t,
            Scale::Sqrt => (v / t).sqrt(),
            Scale::Log => v.ln_1p() / t.ln_1p(),
        }
    }

    /// The labelled ticks for a plot `ph` px tall: true counts, integers, ascending,
    /// never two with the same value and never two closer than [`TICK_GAP`].
    fn ticks(&self, ph: f64) -> Vec<usize> {
        let top = self.top.max(1);
        if self.scale == Scale::Linear {
            // 5, 4, 2 or 1 equal integer steps of a nice size
            let steps = [5, 4, 2, 1]
                .into_iter()
                .find(|&k| top.is_multiple_of(k) && is_nice_step(top / k))
                .unwrap_or(1);
            return (0..=steps).map(|k| top / steps * k).collect();
        }
        // below the top: 1, 2, 5, 10, 20, 50 … (powers of ten only on a log scale), kept
        // from the top down where they do not crowd the last one kept (or zero)
        let mults: &[usize] = if self.scale == Scale::Log {
            &[1]
        } else {
            &[1, 2, 5]
        };
        let mut candidates = Vec::new();
        let mut p = 1usize;
        'outer: loop {
            for &m in mults {
                let Some(c) = p.checked_mul(m) else {
                    break 'outer;
                };
                if c >= top {
                    break 'outer;
                }
                candidates.push(c);
            }
            let Some(q) = p.checked_mul(10) else {
                break;
            };
            p = q;
        }
        let y = |v: usize| ph * self.frac(v);
        let mut kept = vec![top];
        for &c in candidates.iter().rev() {
            let last = kept[kept.len() - 1];
            if y(last) - y(c) >= TICK_GAP && y(c) >= TICK_GAP {
                kept.push(c);
            }
        }
        kept.push(0);
        kept.reverse();
        kept
    }

    /// What the caption says about the scale.
    fn caption(&self) -> &'static str {
        match self.scale {
            Scale::Linear => "",
            Scale::Sqrt => " · square-root scale, so that small counts stay visible; the ticks give true counts",
            Scale::Log => " · logarithmic scale, so that small counts stay visible next to a huge one; the ticks give true counts",
        }
    }
}

/// An upper bound of the advance of one character of a 12 px label (DejaVu Sans, the
/// widest of the fonts the page asks for: digits 0.64 em, `#` in bold 0.84 em).
const GLYPH_REGULAR: f64 = 12.0 * 0.64;
const GLYPH_BOLD: f64 = 12.0 * 0.84;
/// Height of one lane of incident labels above the plot.
const LANE_H: f64 = 18.0;
/// At most this many lanes; a label that fits in none is left out (the page says so).
const MAX_LANES: usize = 5;
/// An incident window is drawn at least this wide (px).
const MIN_BAND: f64 = 5.0;

/// Where one incident's label goes: its lane (0 right above the plot), the window's
/// extent on the x axis and the label's centre and width. The label and the bracket
/// under it occupy `left()..right()` in their lane.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Mark {
    lane: usize,
    x0: f64,
    x1: f64,
    cx: f64,
    lw: f64,
}

impl Mark {
    fn left(&self) -> f64 {
        self.x0.min(self.cx - self.lw / 2.0)
    }
    fn right(&self) -> f64 {
        self.x1.max(self.cx + self.lw / 2.0)
    }
}

/// Places the labels of the incident windows `spans` (x extents, largest incident
/// first) in lanes above the plot, greedily: each label is centred over its window
/// (moved inside `lo..hi`) and goes into the lowest lane where it keeps a gap from every
/// label already there. `None`: no lane had room.
fn place_labels(spans: &[(f64, f64)], labels: &[String], lo: f64, hi: f64) -> Vec<Option<Mark>> {
    const GAP: f64 = 4.0;
    let mut lanes: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    for (&(x0, x1), label) in spans.iter().zip(labels) {
        let lw = label.chars().count() as f64 * GLYPH_BOLD;
        let cx = ((x0 + x1) / 2.0).clamp(lo + lw / 2.0, (hi - lw / 2.0).max(lo + lw / 2.0));
        let mut m = Mark {
            lane: 0,
            x0,
            x1,
            cx,
            lw,
        };
        let free = |lane: &Vec<(f64, f64)>, m: &Mark| {
            lane.iter()
                .all(|&(a, b)| m.right() + GAP <= a || b + GAP <= m.left())
        };
        let lane = (0..MAX_LANES).find(|&k| lanes.get(k).is_none_or(|l| free(l, &m)));
        match lane {
            Some(k) => {
                m.lane = k;
                if lanes.len() <= k {
                    lanes.resize(k + 1, Vec::new());
                }
                lanes[k].push((m.left(), m.right()));
                out.push(Some(m));
            }
            None => out.push(None),
        }
    }
    out
}

/// Merges overlapping `(x0, x1)` extents, so that shaded windows never lie on each other.
fn union(spans: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = spans.to_vec();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// A bucket never gets wider than this share of the plot: a timeline of one bucket is
/// one bar, not a wall.
const MIN_SLOTS: usize = 20;

fn timeline_svg(o: &mut String, f: &Forensics) {
    let b: &[Bucket] = &f.timeline;
    let w = 1100.0;
    let (left, right, bottom) = (56.0, 12.0, 40.0);
    let ph = 206.0;
    let pw = w - left - right;
    let max = b.iter().map(Bucket::total).max().unwrap_or(0);
    let min = b
        .iter()
        .map(Bucket::total)
        .filter(|&t| t > 0)
        .min()
        .unwrap_or(1);
    let axis = YAxis::new(max, min);
    let n = b.len().max(1);
    let bw = pw / n.max(MIN_SLOTS) as f64;
    let xs = left + (pw - bw * n as f64) / 2.0;
    let t0 = b.first().map_or(0, |x| x.start);
    let bucket = f.timeline_bucket_seconds.max(1);
    let x_of = |t: i64| xs + bw * (t - t0) as f64 / bucket as f64;

    // the incident windows (whole buckets, a little wider than the bars) and their labels
    let spans: Vec<(f64, f64)> = f
        .incidents
        .iter()
        .map(|i| {
            let b0 = t0 + (i.start - t0).div_euclid(bucket) * bucket;
            let b1 = t0 + ((i.end - t0).div_euclid(bucket) + 1) * bucket;
            let (mut x0, mut x1) = (x_of(b0) - 2.0, x_of(b1) + 2.0);
            if x1 - x0 < MIN_BAND {
                let c = (x0 + x1) / 2.0;
                (x0, x1) = (c - MIN_BAND / 2.0, c + MIN_BAND / 2.0);
            }
            // inside the plot, and never a negative width
            let x0 = x0.clamp(left - 4.0, w - right + 4.0 - MIN_BAND);
            (x0, x1.min(w - right + 4.0).max(x0 + MIN_BAND))
        })
        .collect();
    let labels: Vec<String> = (1..=f.incidents.len()).map(|k| format!("#{k}")).collect();
    let marks = place_labels(&spans, &labels, 2.0, w - 2.0);
    let lanes = marks
        .iter()
        .flatten()
        .map(|m| m.lane + 1)
        .max()
        .unwrap_or(0);
    let top = 12.0 + lanes as f64 * LANE_H;
    let h = top + ph + bottom;
    let base = top + ph;
    let _ = write!(
        o,
        "<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"Extra copies by delivery time\" style=\"display:block;font:12px system-ui,sans-serif\">"
    );
    // shaded windows behind the bars, merged where they touch
    for (x0, x1) in union(&spans) {
        let _ = write!(
            o,
            "<rect class=\"band\" x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{ph}\" fill=\"#f3c13a\" opacity=\".35\"/>",
            x1 - x0
        );
    }
    // labels in lanes, each over a bracket as wide as its window
    for (k, (m, i)) in marks.iter().zip(&f.incidents).enumerate() {
        let Some(m) = m else { continue };
        let lane_bottom = top - 2.0 - m.lane as f64 * LANE_H;
        let _ = write!(
            o,
            "<g><title>incident {}: {} extra copies, {} to {} UTC</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"3\" fill=\"#c99a00\"/><text class=\"il\" x=\"{:.1}\" y=\"{:.1}\" fill=\"#8a6a00\" font-weight=\"700\" text-anchor=\"middle\">{}</text></g>",
            k + 1,
            i.extra_copies,
            minute(i.start),
            minute(i.end),
            m.x0,
            lane_bottom - 3.0,
            m.x1 - m.x0,
            m.cx,
            lane_bottom - 6.0,
            esc(&labels[k])
        );
    }
    // grid and y axis
    for v in axis.ticks(ph) {
        let y = base - ph * axis.frac(v);
        let _ = write!(
            o,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e6ec\"/><text class=\"yt\" x=\"{}\" y=\"{:.1}\" fill=\"#5d6675\" text-anchor=\"end\">{v}</text>",
            w - right,
            left - 6.0,
            y + 4.0
        );
    }
    // bars: the total's height on the axis, split between the classes in proportion
    let gap = if bw > 4.0 { 1.0 } else { 0.0 };
    let bar_w = (bw - gap).max(0.8);
    for (k, x) in b.iter().enumerate() {
        if x.total() == 0 {
            continue;
        }
        let bx = xs + k as f64 * bw + gap / 2.0;
        let total = (ph * axis.frac(x.total())).max(MIN_BAR);
        let mut hd = total * x.different_time as f64 / x.total() as f64;
        let mut hs = total - hd;
        // at least 1.5 px for a non-empty class, so single copies stay visible
        if x.different_time > 0 {
            hd = hd.max(1.5);
        }
        if x.same_time > 0 {
            hs = hs.max(1.5);
        }
        let label = if bucket < 86_400 {
            format!("{} – {}", minute(x.start), minute(x.end))
        } else {
            format!("{} – {}", day(x.start), day(x.end - 1))
        };
        let _ = write!(
            o,
            "<g><title>{label}: {} same-time, {} different-time</title>",
            x.same_time, x.different_time
        );
        if x.different_time > 0 {
            let _ = write!(o, "<rect class=\"bar\" x=\"{bx:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{hd:.1}\" fill=\"#3b6fd8\"/>", base - hd);
        }
        if x.same_time > 0 {
            let _ = write!(o, "<rect class=\"bar\" x=\"{bx:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{hs:.1}\" fill=\"#e08a2c\"/>", base - hd - hs);
        }
        o.push_str("</g>");
    }
    // x axis: labels on bucket boundaries, as many as fit without touching
    let _ = write!(
        o,
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{base}\" y2=\"{base}\" stroke=\"#9aa3b2\"/>",
        w - right
    );
    let text_of = |t: i64| if bucket < 86_400 { minute(t) } else { day(t) };
    let lw = text_of(t0).chars().count() as f64 * GLYPH_REGULAR;
    let every = ((lw + 16.0) / bw).ceil().max(1.0) as usize;
    let mut last_right = f64::NEG_INFINITY;
    for idx in (0..=n).step_by(every) {
        let t = t0 + idx as i64 * bucket;
        let x = xs + idx as f64 * bw;
        let text = text_of(t);
        let tw = text.chars().count() as f64 * GLYPH_REGULAR;
        let cx = x.clamp(tw / 2.0 + 2.0, w - tw / 2.0 - 2.0);
        if cx - tw / 2.0 < last_right + 12.0 {
            continue;
        }
        last_right = cx + tw / 2.0;
        let _ = write!(
            o,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{base}\" y2=\"{}\" stroke=\"#9aa3b2\"/><text x=\"{cx:.1}\" y=\"{}\" fill=\"#5d6675\" text-anchor=\"middle\">{}</text>",
            base + 5.0,
            base + 20.0,
            esc(&text)
        );
    }
    let _ = write!(
        o,
        "<text x=\"{left}\" y=\"{}\" fill=\"#5d6675\">extra copies per {}{}</text>",
        h - 3.0,
        esc(&width_label(f.timeline_bucket_seconds)),
        axis.caption()
    );
    o.push_str("</svg>");
    let left_out = marks.iter().filter(|m| m.is_none()).count();
    if left_out > 0 {
        let _ = write!(
            o,
            "<p class=\"note\">{left_out} incident windows are shaded but not numbered in the chart (no room); all are listed below.</p>"
        );
    }
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
            path_html(i.folder.as_deref().unwrap_or("?")),
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
        .map(|f| format!("<code>{}</code> ({})", path_html(&f.path), f.extra_copies))
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
        .map(|p| format!("<code>{}</code>", path_html(p)))
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
            path_html(&st.path.to_string_lossy()),
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
                        path_html(&c.path(&scan.stores).to_string_lossy())
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
                    paths_html(&crate::render::report::also_in(g, m.copy, scan))
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
            path_html(&c.path(&scan.stores).to_string_lossy()),
            paths_html(&crate::render::report::also_in(g, *copy, scan))
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
                    path_html(&c.path),
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

    /// The axis top is the next 1/2/2.5/5 number (issue 17: 500 for a tallest bar of 220).
    #[test]
    fn the_axis_top_fits_the_tallest_bar() {
        assert_eq!(nice_max(220), 250);
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(10_000), 10_000);
        assert_eq!(nice_max(10_001), 20_000);
        for max in 1..5_000 {
            let top = nice_max(max);
            assert!(top >= max && (top < 2 * max || max == 1), "{max} -> {top}");
        }
    }

    /// Ticks are true, distinct integers, ascending from 0 to the top, never crowded; a
    /// non-empty bucket is never drawn flat, and the scale leaves the linear one only
    /// when the smallest bar would be under a twentieth of the axis.
    #[test]
    fn ticks_are_distinct_and_small_buckets_stay_visible() {
        let ph = 206.0;
        let cases = [
            (1, 1, Scale::Linear),
            (2, 1, Scale::Linear),
            (7, 2, Scale::Linear),
            (220, 200, Scale::Linear),
            (220, 1, Scale::Sqrt),
            (200, 1, Scale::Sqrt),
            (10_000, 1, Scale::Log),
            (10_000, 3, Scale::Log),
            (1_000_000_000, 1, Scale::Log),
        ];
        for (max, min, scale) in cases {
            let a = YAxis::new(max, min);
            assert_eq!(a.scale, scale, "{max}/{min}");
            assert!(a.top >= max, "{max}/{min}: {a:?}");
            let t = a.ticks(ph);
            assert_eq!(t[0], 0, "{max}/{min}: {t:?}");
            assert_eq!(t[t.len() - 1], a.top, "{max}/{min}: {t:?}");
            for w in t.windows(2) {
                assert!(w[0] < w[1], "{max}/{min}: {t:?}");
                let gap = ph * (a.frac(w[1]) - a.frac(w[0]));
                assert!(gap >= TICK_GAP - 1e-9, "{max}/{min}: {t:?} ({gap} px)");
            }
            if max <= 10_000 {
                assert!(
                    ph * a.frac(min) >= 10.0,
                    "{max}/{min}: {} px",
                    ph * a.frac(min)
                );
            }
            assert_eq!(a.frac(a.top), 1.0);
            assert_eq!(a.frac(0), 0.0);
        }
        // a 1-copy chart: one "0" and one "1", not four zeros
        assert_eq!(YAxis::new(1, 1).ticks(ph), vec![0, 1]);
        assert_eq!(
            YAxis::new(220, 150).ticks(ph),
            vec![0, 50, 100, 150, 200, 250]
        );
        assert_eq!(
            YAxis::new(10_000, 1).ticks(ph),
            vec![0, 1, 10, 100, 1_000, 10_000]
        );
    }

    fn boxes_overlap(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
        a.0 < b.1 && b.0 < a.1 && a.2 < b.3 && b.2 < a.3
    }

    /// 12 incidents in neighbouring (and some in the same) buckets: every label is
    /// placed, and no two label boxes (label and bracket, in their lane) intersect.
    #[test]
    fn twelve_close_incidents_get_labels_that_do_not_overlap() {
        let bw = 11.5;
        let spans: Vec<(f64, f64)> = (0..12)
            .map(|k| {
                let b = 300.0 + (k / 2 * 2 + k % 3) as f64 * bw;
                (b - 2.0, b + bw + 2.0)
            })
            .collect();
        let labels: Vec<String> = (1..=12).map(|k| format!("#{k}")).collect();
        let marks = place_labels(&spans, &labels, 2.0, 1098.0);
        let placed: Vec<Mark> = marks.iter().flatten().copied().collect();
        assert_eq!(placed.len(), 12, "{marks:?}");
        let boxes: Vec<(f64, f64, f64, f64)> = placed
            .iter()
            .map(|m| {
                let y = m.lane as f64 * LANE_H;
                (m.left(), m.right(), y, y + LANE_H)
            })
            .collect();
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                assert!(!boxes_overlap(*a, *b), "{a:?} and {b:?}");
            }
        }
        for m in &placed {
            assert!(
                m.left() >= 2.0 - 1e-9 && m.right() <= 1098.0 + 1e-9,
                "{m:?}"
            );
            // the label stays over its window (or as close as the plot allows)
            assert!(m.cx >= m.x0 - m.lw && m.cx <= m.x1 + m.lw, "{m:?}");
        }
    }

    fn incident_at(start: i64, end: i64, n: usize) -> Incident {
        use crate::forensics::{cause::Cause, Delay, Kind, Span};
        Incident {
            start,
            end,
            extra_copies: n,
            class: crate::group::GroupClass::DifferentTime,
            same_time: 0,
            different_time: n,
            likely_cause: "client re-download: x",
            cause_code: Cause::ReDownload,
            evidence: String::new(),
            stores: Vec::new(),
            folders: Vec::new(),
            kept_stores: Vec::new(),
            original_span: Span {
                start: None,
                end: None,
            },
            delay_seconds: Delay {
                min: None,
                median: None,
                max: None,
            },
            causes: Default::default(),
            examined: 0,
            kind: Kind::Burst,
            mechanism: "",
            next_step: "",
            folder: None,
            deliveries: None,
            duplicated_deliveries: None,
            rate_before: None,
            rate_during: None,
            rate_after: None,
            still_going: None,
        }
    }

    /// `(x, y, width, height, text)` of each `<tag class="class" …>` in `svg`.
    fn elements(svg: &str, tag: &str, class: &str) -> Vec<(f64, f64, f64, f64, String)> {
        let open = format!("<{tag} class=\"{class}\" ");
        let attr = |e: &str, name: &str| -> f64 {
            let k = format!(" {name}=\"");
            e.find(&k)
                .and_then(|i| {
                    let v = &e[i + k.len()..];
                    v[..v.find('"')?].parse().ok()
                })
                .unwrap_or(f64::NAN)
        };
        svg.match_indices(&open)
            .map(|(i, _)| {
                let e = &svg[i..];
                let end = e.find('>').unwrap_or(e.len());
                let text = e[end + 1..].split('<').next().unwrap_or("").to_string();
                let e = &e[..end];
                (
                    attr(e, "x"),
                    attr(e, "y"),
                    attr(e, "width"),
                    attr(e, "height"),
                    text,
                )
            })
            .collect()
    }

    fn forensics(buckets: &[(usize, usize)], width: i64, incidents: Vec<Incident>) -> Forensics {
        let t0 = 1_704_067_200;
        Forensics {
            timeline_bucket_seconds: width,
            timeline: buckets
                .iter()
                .enumerate()
                .map(|(k, &(s, d))| Bucket {
                    start: t0 + k as i64 * width,
                    end: t0 + (k as i64 + 1) * width,
                    same_time: s,
                    different_time: d,
                })
                .collect(),
            incidents,
            ..Default::default()
        }
    }

    /// The drawn chart: 12 incidents on 12 neighbouring days of a 90-day timeline get 12
    /// labels whose boxes (character count × an upper bound of the glyph width) do not
    /// intersect, and shaded windows that do not lie on each other.
    #[test]
    fn drawn_incident_labels_and_windows_do_not_overlap() {
        let t0 = 1_704_067_200;
        let day = 86_400;
        let mut buckets = vec![(0, 1); 90];
        let mut incs = Vec::new();
        for k in 0..12 {
            buckets[40 + k] = (0, 300 - k);
            incs.push(incident_at(
                t0 + (40 + k as i64) * day + 3_600,
                t0 + (40 + k as i64) * day + 7_200 + (k as i64 % 3) * day,
                300 - k,
            ));
        }
        let f = forensics(&buckets, day, incs);
        let mut svg = String::new();
        timeline_svg(&mut svg, &f);
        let labels = elements(&svg, "text", "il");
        assert_eq!(labels.len(), 12, "{svg}");
        let boxes: Vec<(f64, f64, f64, f64)> = labels
            .iter()
            .map(|(x, y, _, _, t)| {
                let w = t.chars().count() as f64 * GLYPH_BOLD;
                (x - w / 2.0, x + w / 2.0, y - 12.0, *y + 3.0)
            })
            .collect();
        for (i, a) in boxes.iter().enumerate() {
            assert!(a.0.is_finite() && a.2 >= 0.0, "{a:?}");
            for b in &boxes[i + 1..] {
                assert!(!boxes_overlap(*a, *b), "{a:?} and {b:?}\n{svg}");
            }
        }
        let bands = elements(&svg, "rect", "band");
        assert!(!bands.is_empty());
        for (i, a) in bands.iter().enumerate() {
            assert!(a.2 >= MIN_BAND, "{a:?}");
            for b in &bands[i + 1..] {
                assert!(a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0, "{a:?} and {b:?}");
            }
        }
        // every non-empty bucket is a visible bar; ticks are distinct
        let bars = elements(&svg, "rect", "bar");
        assert_eq!(bars.len(), 90);
        assert!(bars.iter().all(|b| b.3 >= MIN_BAR), "{bars:?}");
        let ticks: Vec<String> = elements(&svg, "text", "yt")
            .into_iter()
            .map(|t| t.4)
            .collect();
        let mut distinct = ticks.clone();
        distinct.dedup();
        assert_eq!(ticks, distinct);
    }

    /// One extra copy: one bar of a sane width, ticks 0 and 1 once each.
    #[test]
    fn a_single_copy_is_one_narrow_bar() {
        let f = forensics(&[(0, 1)], 60, Vec::new());
        let mut svg = String::new();
        timeline_svg(&mut svg, &f);
        let ticks: Vec<String> = elements(&svg, "text", "yt")
            .into_iter()
            .map(|t| t.4)
            .collect();
        assert_eq!(ticks, ["0", "1"]);
        let bars = elements(&svg, "rect", "bar");
        assert_eq!(bars.len(), 1);
        assert!(bars[0].2 <= 1100.0 / MIN_SLOTS as f64, "{bars:?}");
    }

    /// Paths break after `/`, and after `.` and `,` inside a name, escaped first.
    #[test]
    fn paths_wrap_at_separators() {
        assert_eq!(
            path_html("Mail/.Lists.rust/cur/17.M1,S=3:2,S"),
            "Mail/<wbr>.Lists.<wbr>rust/<wbr>cur/<wbr>17.<wbr>M1,<wbr>S=3:2,<wbr>S"
        );
        assert_eq!(path_html("a/<b>&"), "a/<wbr>&lt;b&gt;&amp;");
        assert_eq!(path_html("/x/"), "/<wbr>x/");
        assert_eq!(path_html("plain"), "plain");
        assert_eq!(
            paths_html(&["a/b".into(), "c.d".into()]),
            "a/<wbr>b, c.<wbr>d"
        );
    }
}
