//! Opt-in only: conflicts of chosen kinds treated as duplicates (`--merge-conflicts`).
//!
//! A conflict is copies sharing a Message-ID whose content differs; by default it is
//! reported and never moved. A user who knows their lists may ask that a list's copy (a
//! `[tag]` subject, a trailing footer) or a relay's re-encoding be treated as a duplicate.
//! Then the conflict's variants become one group when *every* variant relates to one base
//! variant by a chosen kind; anything else in the conflict (an edited variant) leaves the
//! whole conflict as it was. For list copies the base is the undecorated variant (the
//! shortest), and the copy kept comes from it; for re-encodings the keep rules choose.
//!
//! [`merge_conflicts`] is pure: `relate` says how two copies differ. [`relate_by_reading`]
//! reads them through [`crate::store::read`]. A quarantine checks every copy against the
//! content hash the scan computed before it moves anything, so the relation it moves on
//! is the one found here.

use super::conflict::{compare, ConflictKind};
use super::{GroupOptions, Grouping, Ranker};
use crate::model::ScanOutput;
use std::collections::HashSet;

/// The conflict kinds that may be merged, as the command line names them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum MergeKind {
    /// A mailing list's copy: a `[tag]` subject and/or a trailing footer. The copy
    /// without them is kept.
    ListCopy,
    /// Re-encoded on the way (8bit to quoted-printable or base64): the same decoded
    /// content.
    TransferEncoding,
}

impl MergeKind {
    pub fn conflict_kind(self) -> ConflictKind {
        match self {
            MergeKind::ListCopy => ConflictKind::ListCopy,
            MergeKind::TransferEncoding => ConflictKind::TransferEncoding,
        }
    }
}

/// Merges the conflicts whose every variant relates to a base variant by one of `kinds`.
/// `relate(a, b)` is the kind of difference between copies `a` and `b` (`None`: they
/// cannot be compared, e.g. one can no longer be read: the conflict stays).
pub fn merge_conflicts(
    scan: &ScanOutput,
    grouping: &mut Grouping,
    opts: &GroupOptions,
    relate: &dyn Fn(usize, usize) -> Option<ConflictKind>,
) {
    let kinds: HashSet<ConflictKind> = opts
        .merge_conflicts
        .iter()
        .map(|k| k.conflict_kind())
        .collect();
    if kinds.is_empty() {
        return;
    }
    let ranker = Ranker::new(scan, opts);
    let mut kept_conflicts = Vec::new();
    for conflict in std::mem::take(&mut grouping.conflicts) {
        // The variants, in the order their first copy appears; expunged copies are no
        // part of any group.
        let mut variants: Vec<Vec<usize>> = Vec::new();
        for &i in &conflict.copies {
            let c = &scan.copies[i];
            if c.flags.is_expunged() {
                continue;
            }
            match variants
                .iter_mut()
                .find(|v| scan.copies[v[0]].content_hash() == c.content_hash())
            {
                Some(v) => v.push(i),
                None => variants.push(vec![i]),
            }
        }
        // The base: the shortest variant (a list adds a tag and a footer, never removes).
        let Some(base) = (0..variants.len()).min_by_key(|&v| scan.copies[variants[v][0]].length)
        else {
            kept_conflicts.push(conflict);
            continue;
        };
        let mut merged_kind = None;
        let all_related = variants.iter().enumerate().all(|(v, copies)| {
            if v == base {
                return true;
            }
            match relate(variants[base][0], copies[0]) {
                Some(k) if kinds.contains(&k) => {
                    merged_kind = Some(merged_kind.map_or(k, |m: ConflictKind| m.max(k)));
                    true
                }
                _ => false,
            }
        });
        let (Some(kind), true) = (merged_kind, all_related) else {
            kept_conflicts.push(conflict);
            continue;
        };
        // The variants' own groups give way to the merged one.
        let id: &str = &conflict.message_id;
        let same_id = |g: &super::Group| g.message_id.as_deref() == Some(id);
        grouping.groups.retain(|g| !same_id(g));
        grouping.cross_folder.retain(|g| !same_id(g));
        let base_copies: HashSet<usize> = variants[base].iter().copied().collect();
        let all: Vec<usize> = variants.concat();
        let prefer_base = kind == ConflictKind::ListCopy;
        let Some(hash) = scan.copies[variants[base][0]].content_hash() else {
            kept_conflicts.push(conflict);
            continue;
        };
        let mut g = ranker.make_group_preferring(
            Some(conflict.message_id.clone()),
            hash,
            all,
            prefer_base.then_some(&base_copies),
        );
        g.merged_kind = Some(kind);
        if g.n_extras == 0 {
            grouping.cross_folder.push(g);
        } else {
            grouping.groups.push(g);
        }
        grouping.merged_conflicts += 1;
    }
    grouping.conflicts = kept_conflicts;
    grouping
        .groups
        .sort_by_cached_key(|g| ranker.location_key(g.kept()));
    grouping
        .cross_folder
        .sort_by_cached_key(|g| ranker.location_key(g.kept()));
}

/// `relate` for [`merge_conflicts`] that reads both copies as they are stored now.
pub fn relate_by_reading(scan: &ScanOutput) -> impl Fn(usize, usize) -> Option<ConflictKind> + '_ {
    move |a, b| {
        let read = |i: usize| crate::store::read::message_bytes(&scan.copies[i], &scan.stores).ok();
        let (a, b) = (read(a)?, read(b)?);
        Some(compare(&a, &b).2)
    }
}

/// Groups, then merges the conflicts of the kinds `opts` names (reading their copies).
pub fn group_and_merge(scan: &ScanOutput, opts: &GroupOptions) -> Grouping {
    let mut g = super::group(scan, opts);
    if !opts.merge_conflicts.is_empty() {
        merge_conflicts(scan, &mut g, opts, &relate_by_reading(scan));
    }
    g
}
