//! A reviewed plan (`quarantine --plan FILE`): the moves of a `quarantine --dry-run --json`
//! document, struck or changed by hand or by `jq`, checked against a fresh scan and turned
//! into a [`Plan`] that moves exactly what the file says.
//!
//! Two kinds of finding, kept apart:
//! - **changed since the plan** (a copy or its kept copy gone, moved, or with other
//!   content): that move is left, and listed; the others go on;
//! - **unsafe** (the file itself breaks a rule: it moves the copy it keeps, keeps a copy it
//!   also moves, pairs a copy with one that is not a duplicate of it — another message or
//!   the other side of a conflict —, keeps a copy marked deleted, keeps a copy in another
//!   folder without `--across-folders`, names a copy twice, or lacks the content hashes to
//!   check): the whole plan is refused and nothing moves.
//!
//! Flag merges are worked out again from the moves that remain: each kept copy gains the
//! flags of the copies moved in its place.

use crate::act::plan::{flag_merges_for, Move, Plan};
use crate::act::Problem;
use crate::group::{Grouping, Scope};
use crate::model::ScanOutput;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

/// Where a copy was when the plan was made, and what it held.
#[derive(Debug, Clone, Deserialize)]
pub struct PlannedPlace {
    pub path: PathBuf,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default)]
    pub content_hash: Option<String>,
}

/// One move of a plan file.
#[derive(Debug, Clone, Deserialize)]
pub struct PlannedMove {
    pub path: PathBuf,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default)]
    pub content_hash: Option<String>,
    pub kept: PlannedPlace,
}

/// The parts of a `quarantine --dry-run --json` document a reviewed run reads.
#[derive(Debug, Clone, Deserialize)]
pub struct PlanFile {
    pub version: u32,
    pub moves: Vec<PlannedMove>,
    #[serde(default)]
    pub summary: serde_json::Value,
}

impl PlanFile {
    /// Reads and parses a plan file; the error names the file and what is wrong.
    pub fn read(path: &Path) -> io::Result<PlanFile> {
        let data = std::fs::read(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let plan: PlanFile = serde_json::from_slice(&data).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: not a plan made by `quarantine --dry-run --json`: {e}",
                    path.display()
                ),
            )
        })?;
        if plan.version != 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: plan version {} (this maildedup reads version 1)",
                    path.display(),
                    plan.version
                ),
            ));
        }
        Ok(plan)
    }

    /// Whether the plan was made with `--across-folders` (its moves may keep a copy in
    /// another folder).
    pub fn across_folders(&self) -> bool {
        self.summary["across_folders"].as_bool() == Some(true)
    }
}

/// A reviewed plan checked against a fresh scan: what to carry out, and the moves left
/// because their copies changed since.
#[derive(Debug, Default)]
pub struct Checked {
    pub plan: Plan,
    pub left: Vec<Problem>,
}

/// Checks `file` against a fresh `scan` grouped across folders (`grouping`, so that every
/// copy of a message is in one group), with the window `window_secs` for classes. Returns
/// the plan to carry out, or every rule the file breaks.
pub fn check(
    file: &PlanFile,
    scan: &ScanOutput,
    grouping: &Grouping,
    window_secs: i64,
    across_folders: bool,
) -> Result<Checked, Vec<String>> {
    let mut at: HashMap<(PathBuf, Option<u64>), usize> = HashMap::with_capacity(scan.copies.len());
    for (i, c) in scan.copies.iter().enumerate() {
        at.insert((c.path(&scan.stores), c.offset()), i);
    }
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    for (gi, g) in grouping.groups.iter().enumerate() {
        for m in &g.members {
            group_of.insert(m.copy, gi);
        }
    }
    let hash_of = |i: usize| {
        scan.copies[i]
            .content_hash()
            .map(|h| crate::model::encode::hex(&h))
    };
    let place = |p: &Path, off: Option<u64>| match off {
        Some(o) => format!("{} @{o}", p.display()),
        None => p.display().to_string(),
    };
    let mut unsafe_: Vec<String> = Vec::new();
    let mut out = Checked::default();
    let mut resolved: Vec<(usize, usize, usize)> = Vec::new();
    let mut seen: HashSet<usize> = HashSet::new();
    for (n, m) in file.moves.iter().enumerate() {
        let what = format!("move {} ({})", n + 1, place(&m.path, m.offset));
        let (Some(want), Some(want_kept)) = (&m.content_hash, &m.kept.content_hash) else {
            unsafe_.push(format!(
                "{what}: no content_hash for the copy or its kept copy, so it cannot be checked \
                 (make the plan with `quarantine --dry-run --json`)"
            ));
            continue;
        };
        if want != want_kept {
            unsafe_.push(format!(
                "{what}: keeps {}, which is not the same message (another content hash)",
                place(&m.kept.path, m.kept.offset)
            ));
            continue;
        }
        let mut left = |why: String| {
            out.left.push(Problem {
                path: m.path.to_string_lossy().into_owned(),
                offset: m.offset,
                reason: why,
            })
        };
        let Some(&copy) = at.get(&(m.path.clone(), m.offset)) else {
            left("not where the plan saw it (moved, renamed or deleted since)".into());
            continue;
        };
        if hash_of(copy).as_ref() != Some(want) {
            left("its content changed since the plan".into());
            continue;
        }
        let Some(&kept) = at.get(&(m.kept.path.clone(), m.kept.offset)) else {
            left(format!(
                "its kept copy {} is no longer where the plan saw it",
                place(&m.kept.path, m.kept.offset)
            ));
            continue;
        };
        if hash_of(kept).as_ref() != Some(want_kept) {
            left(format!(
                "its kept copy {} changed since the plan",
                place(&m.kept.path, m.kept.offset)
            ));
            continue;
        }
        if copy == kept {
            unsafe_.push(format!("{what}: keeps the very copy it moves"));
            continue;
        }
        if !seen.insert(copy) {
            unsafe_.push(format!("{what}: the plan moves this copy twice"));
            continue;
        }
        let (g, gk) = (group_of.get(&copy), group_of.get(&kept));
        if g.is_none() || g != gk {
            unsafe_.push(format!(
                "{what}: {} is no duplicate of it now (a conflict, or a copy marked deleted)",
                place(&m.kept.path, m.kept.offset)
            ));
            continue;
        }
        if scan.copies[kept].flags.is_deleted() {
            unsafe_.push(format!(
                "{what}: keeps {}, which is marked deleted (a client may expunge it)",
                place(&m.kept.path, m.kept.offset)
            ));
            continue;
        }
        if scan.copies[kept].store != scan.copies[copy].store && !across_folders {
            unsafe_.push(format!(
                "{what}: keeps {} in another folder, which would leave this folder without \
                 the message (allowed with --across-folders)",
                place(&m.kept.path, m.kept.offset)
            ));
            continue;
        }
        resolved.push((copy, kept, *gk.unwrap_or(&0)));
    }
    let moved: HashSet<usize> = resolved.iter().map(|&(c, _, _)| c).collect();
    // Kept by some move that stands (never the copy it moves: refused above).
    let kept_by: HashSet<usize> = resolved.iter().map(|&(_, k, _)| k).collect();
    for (n, m) in file.moves.iter().enumerate() {
        if let Some(&kept) = at.get(&(m.kept.path.clone(), m.kept.offset)) {
            if moved.contains(&kept) && kept_by.contains(&kept) {
                unsafe_.push(format!(
                    "move {} ({}): keeps {}, which the plan moves too: the message would be \
                     left with no copy",
                    n + 1,
                    place(&m.path, m.offset),
                    place(&m.kept.path, m.kept.offset)
                ));
            }
        }
    }
    if !unsafe_.is_empty() {
        unsafe_.sort();
        unsafe_.dedup();
        return Err(unsafe_);
    }
    for (copy, kept, group) in resolved {
        let (c, k) = (&scan.copies[copy], &scan.copies[kept]);
        out.plan.moves.push(Move {
            copy,
            group,
            class: crate::group::class_of(k, c, window_secs),
            kept,
            scope: if c.store == k.store {
                Scope::SameFolder
            } else {
                Scope::CrossFolder
            },
        });
    }
    out.plan.flag_merges = flag_merges_for(scan, &out.plan.moves);
    Ok(out)
}
