//! The plan: which extra copies a quarantine moves and which kept copies gain flags.
//! `--dry-run` prints exactly this plan; a real run carries it out.

use crate::group::{Class, Grouping, Scope};
use crate::identity::Flags;
use crate::model::ScanOutput;
use crate::model::StoreKind;

/// Flags merged into the kept copy: Seen, Replied, Flagged, Passed. Never Trashed (an
/// extra copy marked deleted must not make the kept copy deleted) nor Draft, and never
/// Dovecot's lowercase keyword letters (their meaning is per folder).
pub const MERGEABLE: &[u8] = b"FPRS";
/// What an mbox's Status/X-Status can carry of those.
pub const MERGEABLE_MBOX: &[u8] = b"FRS";

#[derive(Debug, Clone)]
pub struct Move {
    /// Index into `ScanOutput::copies`.
    pub copy: usize,
    /// Index into `Grouping::groups`.
    pub group: usize,
    pub class: Class,
    /// The copy kept in this one's place.
    pub kept: usize,
    /// Whether `kept` is in the same folder (always, under the folder rule).
    pub scope: Scope,
}

/// A copy kept in its folder although another folder holds the message too (the folder
/// rule): never moved, reported as "also in".
#[derive(Debug, Clone)]
pub struct AlsoIn {
    /// Index into `ScanOutput::copies`.
    pub copy: usize,
    /// The other folders holding a copy (indexes into `ScanOutput::stores`).
    pub folders: Vec<u32>,
}

#[derive(Debug, Clone)]
pub struct FlagMerge {
    /// The kept copy.
    pub copy: usize,
    /// Flags it gains.
    pub add: Flags,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub moves: Vec<Move>,
    pub flag_merges: Vec<FlagMerge>,
    /// Copies kept in their folders though also in other folders (folder rule only).
    pub also_in: Vec<AlsoIn>,
}

fn only(mask: &[u8], f: Flags) -> Flags {
    let mut out = Flags::default();
    for &c in mask {
        let mut one = Flags::default();
        one.insert(c);
        if f.contains_all(one) {
            out.insert(c);
        }
    }
    out
}

/// The flag merges for kept copies given the flags their extra copies carry: what each
/// kept copy's store can hold and the copy lacks.
fn merges_into_kept(
    scan: &ScanOutput,
    gained: Vec<(usize, Flags)>,
) -> impl Iterator<Item = FlagMerge> + '_ {
    gained.into_iter().filter_map(|(kept, gained)| {
        let k = &scan.copies[kept];
        let mask = match scan.stores[k.store as usize].kind {
            StoreKind::Maildir => MERGEABLE,
            StoreKind::Mbox => MERGEABLE_MBOX,
            // A .eml file has no store flags: nothing is merged into it.
            StoreKind::Eml => &[],
            // Quarantine refuses IMAP stores before it plans (not supported yet).
            StoreKind::Imap => &[],
        };
        let add = Flags(only(mask, gained).0 & !k.flags.0);
        (!add.is_empty()).then_some(FlagMerge { copy: kept, add })
    })
}

/// The flag merges a list of moves calls for: each kept copy gains the flags of the copies
/// moved in its place (a reviewed plan, `crate::act::reviewed`).
pub fn flag_merges_for(scan: &ScanOutput, moves: &[Move]) -> Vec<FlagMerge> {
    let mut gained: Vec<(usize, Flags)> = Vec::new();
    let mut at: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for m in moves {
        let f = scan.copies[m.copy].flags;
        match at.get(&m.kept) {
            Some(&i) => gained[i].1 = gained[i].1.union(f),
            None => {
                at.insert(m.kept, gained.len());
                gained.push((m.kept, f));
            }
        }
    }
    merges_into_kept(scan, gained).collect()
}

/// Builds the plan. `only_class` limits it to one class of extra copies.
pub fn plan(scan: &ScanOutput, grouping: &Grouping, only_class: Option<Class>) -> Plan {
    let mut p = Plan::default();
    for (gi, g) in grouping.groups.iter().enumerate() {
        // Flags go to the copy kept in each extra's place (one per folder under the
        // folder rule), in the group's keep order.
        let mut gained: Vec<(usize, Flags)> = Vec::new();
        for m in g.extras() {
            let Some(class) = m.class else { continue };
            if only_class.is_some_and(|o| o != class) {
                continue;
            }
            let kept = m.relative_to;
            match gained.iter_mut().find(|(k, _)| *k == kept) {
                Some((_, f)) => *f = f.union(scan.copies[m.copy].flags),
                None => gained.push((kept, scan.copies[m.copy].flags)),
            }
            p.moves.push(Move {
                copy: m.copy,
                group: gi,
                class,
                kept,
                scope: m.scope.unwrap_or(Scope::SameFolder),
            });
        }
        p.flag_merges.extend(merges_into_kept(scan, gained));
    }
    for g in grouping.groups.iter().chain(&grouping.cross_folder) {
        for m in g.kept_elsewhere() {
            let own = scan.copies[m.copy].store;
            let mut folders: Vec<u32> = g
                .members
                .iter()
                .map(|o| scan.copies[o.copy].store)
                .filter(|&s| s != own)
                .collect();
            folders.sort_unstable();
            folders.dedup();
            p.also_in.push(AlsoIn {
                copy: m.copy,
                folders,
            });
        }
    }
    p
}
