//! The terminal rendering of the forensics: a one-line sparkline per class and the top
//! incident windows in plain sentences. Message data (paths, header values) is passed
//! through [`crate::term::escape`], so a hostile file name cannot send escape sequences.

use super::timeline::Bucket;
use super::{day, duration, minute, Forensics, Incident};
use crate::term::escape;
use std::fmt::Write as _;

/// How many incidents the summary names.
pub const TOP_INCIDENTS: usize = 3;

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
pub fn human(f: &Forensics, chart: bool, width: Option<usize>) -> String {
    let mut o = String::new();
    if !chart {
        if !f.incidents.is_empty() {
            incidents(&mut o, f, width);
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
            "No incident: the extra copies do not cluster in a burst (see README, \"Incident forensics\")."
        );
        return o;
    }
    incidents(&mut o, f, width);
    o
}

/// The top incident windows in plain sentences.
fn incidents(o: &mut String, f: &Forensics, width: Option<usize>) {
    let _ = writeln!(
        *o,
        "\nIncidents (bursts of extra copies), largest first{}:",
        if f.incidents.len() > TOP_INCIDENTS {
            format!(
                "; {} of {} shown (--json or --html lists all)",
                TOP_INCIDENTS,
                f.incidents.len()
            )
        } else {
            String::new()
        }
    );
    for (n, i) in f.incidents.iter().take(TOP_INCIDENTS).enumerate() {
        let text = sentence(n + 1, i);
        match width {
            Some(w) => {
                for line in text.lines() {
                    let _ = writeln!(*o, "{}", crate::term::wrap(line, w, 5));
                }
            }
            None => o.push_str(&text),
        }
    }
}

/// One incident in plain sentences.
pub fn sentence(n: usize, i: &Incident) -> String {
    let mut o = String::new();
    let lasted = if i.end > i.start {
        format!(" (over {})", duration(i.end - i.start))
    } else {
        String::new()
    };
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
    let _ = writeln!(o, "     Likely cause: {}.", escape(i.likely_cause));
    let _ = writeln!(o, "     Evidence: {}.", escape(&i.evidence));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_maximum() {
        assert_eq!(sparkline([0, 1, 4, 8].into_iter(), 8), " ▁▄█");
        assert_eq!(sparkline([1].into_iter(), 1000), "▁");
    }
}
