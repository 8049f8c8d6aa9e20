//! The terminal rendering of the forensics: a one-line sparkline per class and the top
//! incident windows in plain sentences. Message data (paths, header values) is passed
//! through [`crate::render::term::escape`], so a hostile file name cannot send escape sequences.

use crate::forensics::timeline::Bucket;
use crate::forensics::{day, duration, minute, Forensics, Incident, Kind};
use crate::render::term::escape;
use std::fmt::Write as _;

/// How many incidents a summary on a terminal names in full without `-v`; the rest are
/// counted, with how to see them. With `-v`, and off a terminal (cron), all are named.
pub const TOP_INCIDENTS: usize = 10;

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A bucket width in words: "1 min", "6 h", "1 day", "1 week", "30 days".
pub fn width_label(w: i64) -> String {
    match w {
        60 => "1 minute".into(),
        w if w < 3_600 => format!("{} minutes", w / 60),
        3_600 => "1 hour".into(),
        w if w < 86_400 => format!("{} hours", w / 3_600),
        86_400 => "1 day".into(),
        604_800 => "1 week".into(),
        w => format!("{} days", w / 86_400),
    }
}

/// One sparkline: a block per bucket, scaled to `max`; a space for an empty bucket.
pub fn sparkline(values: impl Iterator<Item = usize>, max: usize) -> String {
    values
        .map(|v| {
            if v == 0 || max == 0 {
                ' '
            } else {
                let level = (v * BLOCKS.len()).div_ceil(max).clamp(1, BLOCKS.len());
                BLOCKS[level - 1]
            }
        })
        .collect()
}

/// The timeline chart and the top incidents, for the human summary. Empty when there are
/// no dated extra copies.
///
/// Without `chart` (a scheduled run off a terminal) only the incidents are listed, and
/// nothing when there are none.
/// `width`: the terminal's, to wrap the incident sentences at (none off a terminal).
/// `all`: name every incident (`-v`); off a terminal every incident is named anyway.
pub fn human(f: &Forensics, chart: bool, width: Option<usize>, all: bool) -> String {
    let mut o = String::new();
    if !chart {
        if !f.incidents.is_empty() {
            incidents(&mut o, f, width, true);
        }
        return o;
    }
    let b: &[Bucket] = &f.timeline;
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return o;
    };
    let max = b
        .iter()
        .map(|x| x.same_time.max(x.different_time))
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        o,
        "\nTimeline of extra copies by delivery time (one column = {}, UTC; tallest = {}):",
        width_label(f.timeline_bucket_seconds),
        max
    );
    let same: usize = b.iter().map(|x| x.same_time).sum();
    let diff: usize = b.iter().map(|x| x.different_time).sum();
    let _ = writeln!(
        o,
        "  same-time       │{}│ {same}",
        sparkline(b.iter().map(|x| x.same_time), max)
    );
    let _ = writeln!(
        o,
        "  different-time  │{}│ {diff}",
        sparkline(b.iter().map(|x| x.different_time), max)
    );
    let (a, z) = if f.timeline_bucket_seconds < 86_400 {
        (minute(first.start), minute(last.end))
    } else {
        (day(first.start), day(last.end - 1))
    };
    let cols = b.len() + 2;
    if cols >= a.len() + z.len() + 2 {
        let _ = writeln!(o, "                  {a}{z:>w$}", w = cols - a.len());
    } else {
        let _ = writeln!(o, "                  {a} to {z}");
    }
    if f.undated_extra_copies > 0 {
        let _ = writeln!(
            o,
            "  ({} extra copies have no delivery time and are not shown.)",
            f.undated_extra_copies
        );
    }
    if f.incidents.is_empty() {
        let _ = writeln!(
            o,
            "No incident: the extra copies do not cluster in a burst, and no folder's share of doubled deliveries changed (see README, \"Incident forensics\")."
        );
        return o;
    }
    incidents(&mut o, f, width, all);
    o
}

/// The incidents in plain sentences, largest first: all of them, or (`all` false) the
/// first [`TOP_INCIDENTS`] and how many more there are and how to see them.
fn incidents(o: &mut String, f: &Forensics, width: Option<usize>, all: bool) {
    let n = f.incidents.len();
    let shown = if all { n } else { n.min(TOP_INCIDENTS) };
    let _ = writeln!(
        *o,
        "\nIncidents ({n}: bursts of extra copies and lasting rates of doubled deliveries), largest first:"
    );
    for (k, i) in f.incidents.iter().take(shown).enumerate() {
        let text = sentence(k + 1, i);
        match width {
            Some(w) => {
                for line in text.lines() {
                    let _ = writeln!(*o, "{}", crate::render::term::wrap(line, w, 5));
                }
            }
            None => o.push_str(&text),
        }
    }
    if shown < n {
        let rest = &f.incidents[shown..];
        let copies: usize = rest.iter().map(|i| i.extra_copies).sum();
        let _ = writeln!(
            *o,
            "  ... and {} more incident{} ({} to {} extra copies each, {copies} in all) not shown here: `-v` names all of them, as do `--json` and `--html FILE`.",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" },
            rest.iter().map(|i| i.extra_copies).min().unwrap_or(0),
            rest.iter().map(|i| i.extra_copies).max().unwrap_or(0),
        );
    }
}

/// A share as a percentage, rounded: "100%", "3%".
fn percent(r: f64) -> String {
    format!("{:.0}%", r * 100.0)
}

/// A rate in words ("every message delivered to INBOX has a second copy in the same
/// second (40 of 40), 0% before; until ..."), when the incident has rates.
fn rate_phrase(i: &Incident) -> Option<String> {
    let folder = escape(i.folder.as_deref()?);
    let (k, d) = (i.duplicated_deliveries?, i.deliveries?);
    let during = i.rate_during.unwrap_or(0.0);
    let what = if k == d {
        format!(
            "every message delivered to {folder} has a second copy in the same second ({k} of {d})"
        )
    } else {
        format!(
            "{} of the messages delivered to {folder} have a second copy in the same second ({k} of {d})",
            percent(during)
        )
    };
    let before = match i.rate_before {
        Some(r) => format!(", {} before", percent(r)),
        None => ", from the folder's first delivery".to_string(),
    };
    let until = if i.still_going == Some(true) {
        "still going at the last delivery".to_string()
    } else {
        format!(
            "until {} UTC{}",
            minute(i.end),
            i.rate_after
                .map(|r| format!(" ({} after)", percent(r)))
                .unwrap_or_default()
        )
    };
    Some(format!("{what}{before}; {until}"))
}

/// One incident in plain sentences.
pub fn sentence(n: usize, i: &Incident) -> String {
    let mut o = String::new();
    let lasted = if i.end > i.start {
        format!(" (over {})", duration(i.end - i.start))
    } else {
        String::new()
    };
    if let (Kind::Rate, Some(rate)) = (i.kind, rate_phrase(i)) {
        let _ = writeln!(
            o,
            "  {n}. Since {} UTC {rate}{lasted}: {} extra copies ({}, rate).",
            minute(i.start),
            i.extra_copies,
            i.class.as_str(),
        );
    } else {
        let where_ = match i.stores.as_slice() {
            [] => String::new(),
            [one] => format!(" in {}", escape(one)),
            [one, rest @ ..] => format!(
                " in {} and {} more folder{}",
                escape(one),
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            ),
        };
        let _ = writeln!(
            o,
            "  {n}. {} to {} UTC{lasted}: {} extra copies ({}){where_}.",
            minute(i.start),
            minute(i.end),
            i.extra_copies,
            i.class.as_str(),
        );
    }
    if i.kind == Kind::Burst {
        if let Some(rate) = rate_phrase(i) {
            let _ = writeln!(o, "     Rate: {rate}.");
        }
    }
    let _ = writeln!(o, "     Likely cause: {}.", escape(i.likely_cause));
    let _ = writeln!(o, "     How: {}.", escape(i.mechanism));
    let _ = writeln!(o, "     Evidence: {}.", escape(&i.evidence));
    let _ = writeln!(o, "     Next step: {}.", escape(i.next_step));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(copies: usize, start: i64) -> Incident {
        use crate::forensics::cause::Cause;
        Incident {
            start,
            end: start + 60,
            extra_copies: copies,
            class: crate::group::GroupClass::DifferentTime,
            same_time: 0,
            different_time: copies,
            likely_cause: Cause::ReDownload.describe(),
            cause_code: Cause::ReDownload,
            evidence: "e".into(),
            stores: vec!["INBOX".into()],
            folders: Vec::new(),
            kept_stores: Vec::new(),
            original_span: crate::forensics::Span {
                start: None,
                end: None,
            },
            delay_seconds: crate::forensics::Delay {
                min: None,
                median: None,
                max: None,
            },
            causes: Default::default(),
            examined: copies,
            kind: Kind::Burst,
            mechanism: Cause::ReDownload.mechanism(),
            next_step: Cause::ReDownload.next_step(false),
            folder: None,
            deliveries: None,
            duplicated_deliveries: None,
            rate_before: None,
            rate_during: None,
            rate_after: None,
            still_going: None,
        }
    }

    #[test]
    fn a_terminal_names_the_first_incidents_and_says_how_to_see_the_rest() {
        let f = Forensics {
            timeline_bucket_seconds: 60,
            timeline: vec![Bucket {
                start: 0,
                end: 60,
                same_time: 0,
                different_time: 1,
            }],
            incidents: (0..14)
                .map(|k| incident(100 - k, k as i64 * 86_400))
                .collect(),
            ..Forensics::default()
        };
        let t = human(&f, true, None, false);
        assert!(t.contains("Incidents (14:"), "{t}");
        assert!(t.contains("\n  10. ") && !t.contains("\n  11. "), "{t}");
        assert!(
            t.contains("... and 4 more incidents (87 to 90 extra copies each, 354 in all)"),
            "{t}"
        );
        assert!(t.contains("`-v` names all") && t.contains("--json") && t.contains("--html"));
        // -v, and off a terminal: every one
        for t in [human(&f, true, None, true), human(&f, false, None, false)] {
            assert!(
                t.contains("\n  14. ") && !t.contains("more incident"),
                "{t}"
            );
            assert_eq!(t.matches("Next step: ").count(), 14);
        }
    }

    #[test]
    fn sparkline_scales_to_the_maximum() {
        assert_eq!(sparkline([0, 1, 4, 8].into_iter(), 8), " ▁▄█");
        assert_eq!(sparkline([1].into_iter(), 1000), "▁");
    }
}
