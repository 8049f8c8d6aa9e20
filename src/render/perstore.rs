//! `scan -v`: what the scan found in each store (messages, groups, extra copies,
//! conflicts, skipped entries), so a large result can be traced to the folder behind it.

use crate::group::{Class, Grouping};
use crate::model::ScanOutput;
use crate::render::style::Paint;
use std::fmt::Write as _;

/// The counts for one store.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoreCounts {
    pub messages: usize,
    /// Duplicate groups with at least one copy in this store.
    pub groups: usize,
    /// Extra copies in this store (copies that `quarantine` would move).
    pub extras: usize,
    pub same_time: usize,
    pub different_time: usize,
    /// Conflicts with at least one copy in this store.
    pub conflicts: usize,
    /// Skipped entries inside this store (files, or mbox entries at an offset).
    pub skipped: usize,
    /// Thunderbird messages expunged and awaiting compaction (counted in `messages`,
    /// never grouped).
    pub awaiting_compaction: usize,
}

/// The counts of every store, in the order of `scan.stores`.
pub fn per_store(scan: &ScanOutput, grouping: &Grouping) -> Vec<StoreCounts> {
    let mut out = vec![StoreCounts::default(); scan.stores.len()];
    let store_of = |copy: usize| scan.copies[copy].store as usize;
    for c in &scan.copies {
        let s = &mut out[c.store as usize];
        s.messages += 1;
        if c.flags.is_expunged() {
            s.awaiting_compaction += 1;
        }
    }
    let mut seen: Vec<usize> = Vec::new();
    for g in &grouping.groups {
        seen.clear();
        seen.extend(g.members.iter().map(|m| store_of(m.copy)));
        seen.sort_unstable();
        seen.dedup();
        for &s in &seen {
            out[s].groups += 1;
        }
        for m in g.extras() {
            let s = &mut out[store_of(m.copy)];
            s.extras += 1;
            match m.class {
                Some(Class::SameTime) => s.same_time += 1,
                Some(Class::DifferentTime) => s.different_time += 1,
                None => {}
            }
        }
    }
    for k in &grouping.conflicts {
        seen.clear();
        seen.extend(k.copies.iter().map(|&c| store_of(c)));
        seen.sort_unstable();
        seen.dedup();
        for &s in &seen {
            out[s].conflicts += 1;
        }
    }
    // A skipped entry belongs to the innermost store whose path holds it.
    for sk in &scan.skipped {
        let owner = scan
            .stores
            .iter()
            .enumerate()
            .filter(|(_, st)| sk.path.starts_with(&st.path))
            .max_by_key(|(_, st)| st.path.as_os_str().len());
        if let Some((i, _)) = owner {
            out[i].skipped += 1;
        }
    }
    out
}

/// The `-v` table: one line per store.
pub fn table(scan: &ScanOutput, grouping: &Grouping, paint: Paint) -> String {
    let counts = per_store(scan, grouping);
    let mut o = String::new();
    let _ = writeln!(o, "\n{}", paint.heading("Per store:"));
    let _ = writeln!(
        o,
        "  {:>9} {:>7} {:>7} {:>9} {:>9} {:>9} {:>7} {:>9}  store",
        "messages",
        "groups",
        "extras",
        "same-time",
        "diff-time",
        "conflicts",
        "skipped",
        "expunged"
    );
    for (st, c) in scan.stores.iter().zip(&counts) {
        let kind = st.kind.label();
        let _ = writeln!(
            o,
            "  {:>9} {:>7} {:>7} {:>9} {:>9} {:>9} {:>7} {:>9}  {} ({kind})",
            c.messages,
            c.groups,
            c.extras,
            c.same_time,
            c.different_time,
            c.conflicts,
            c.skipped,
            c.awaiting_compaction,
            crate::render::term::path(&st.path)
        );
    }
    o
}
