//! The plan as `quarantine --dry-run` shows it: JSON streamed one entry at a time (a plan
//! of a million moves is never held as a million JSON values), and the same entries as
//! text lines.

use crate::act::plan::Plan;
use crate::group::{Class, Scope};
use crate::model::ScanOutput;
use crate::render::term::escape;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use std::io::{self, Write};

/// Where a kept copy is: its file, and its offset in an mbox, and its content hash (which
/// `quarantine --plan` checks again).
#[derive(serde::Serialize)]
struct Place {
    content_hash: Option<String>,
    offset: Option<u64>,
    path: String,
}

/// One planned move. (Fields in alphabetical order: the output is what it was when it
/// was built as a `serde_json::Value`.)
#[derive(serde::Serialize)]
struct MoveView {
    class: Class,
    /// What `quarantine --plan` checks the copy still is.
    content_hash: Option<String>,
    kept: Place,
    length: u64,
    message_id: Option<String>,
    offset: Option<u64>,
    path: String,
    /// `same-folder`, or `cross-folder` (only with `--across-folders`).
    scope: Scope,
}

/// A copy kept in its folder though other folders hold the message too.
#[derive(serde::Serialize)]
struct AlsoInView {
    also_in: Vec<String>,
    offset: Option<u64>,
    path: String,
}

/// One planned flag merge into a kept copy.
#[derive(serde::Serialize)]
struct FlagView {
    add: String,
    offset: Option<u64>,
    path: String,
}

fn place(scan: &ScanOutput, copy: usize) -> Place {
    let c = &scan.copies[copy];
    Place {
        content_hash: c.content_hash().map(|h| crate::model::encode::hex(&h)),
        offset: c.offset(),
        path: c.path(&scan.stores).to_string_lossy().into_owned(),
    }
}

/// The moves of a plan, serialized lazily.
pub struct Moves<'a>(pub &'a ScanOutput, pub &'a Plan);

impl Moves<'_> {
    fn get(&self, i: usize) -> MoveView {
        let m = &self.1.moves[i];
        let here = place(self.0, m.copy);
        MoveView {
            class: m.class,
            content_hash: here.content_hash,
            kept: place(self.0, m.kept),
            length: self.0.copies[m.copy].length,
            message_id: self.0.copies[m.copy]
                .message_id
                .as_deref()
                .map(str::to_string),
            offset: here.offset,
            path: here.path,
            scope: m.scope,
        }
    }
}

/// The copies kept in their folders though also elsewhere, serialized lazily.
pub struct AlsoIns<'a>(pub &'a ScanOutput, pub &'a Plan);

impl AlsoIns<'_> {
    fn get(&self, i: usize) -> AlsoInView {
        let a = &self.1.also_in[i];
        let p = place(self.0, a.copy);
        AlsoInView {
            also_in: a
                .folders
                .iter()
                .map(|&s| {
                    self.0.stores[s as usize]
                        .path
                        .to_string_lossy()
                        .into_owned()
                })
                .collect(),
            offset: p.offset,
            path: p.path,
        }
    }
}

impl Serialize for AlsoIns<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(self.1.also_in.len()))?;
        for i in 0..self.1.also_in.len() {
            seq.serialize_element(&self.get(i))?;
        }
        seq.end()
    }
}

impl Serialize for Moves<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(self.1.moves.len()))?;
        for i in 0..self.1.moves.len() {
            seq.serialize_element(&self.get(i))?;
        }
        seq.end()
    }
}

/// The flag merges of a plan, serialized lazily.
pub struct FlagMerges<'a>(pub &'a ScanOutput, pub &'a Plan);

impl FlagMerges<'_> {
    fn get(&self, i: usize) -> FlagView {
        let f = &self.1.flag_merges[i];
        let p = place(self.0, f.copy);
        FlagView {
            add: f.add.to_string(),
            offset: p.offset,
            path: p.path,
        }
    }
}

impl Serialize for FlagMerges<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(self.1.flag_merges.len()))?;
        for i in 0..self.1.flag_merges.len() {
            seq.serialize_element(&self.get(i))?;
        }
        seq.end()
    }
}

/// The `quarantine --dry-run --json` document.
#[derive(serde::Serialize)]
pub struct DryRun<'a> {
    /// Copies kept in their folders though also in other folders (the folder rule).
    pub cross_folder: AlsoIns<'a>,
    pub dry_run: bool,
    pub flag_merges: FlagMerges<'a>,
    /// With `--plan`: the moves left because their copies changed since the plan.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub left: &'a [crate::act::Problem],
    pub moves: Moves<'a>,
    /// The PATHs the plan was made from (`quarantine --plan` is given them again).
    pub paths: Vec<String>,
    pub qdir: String,
    pub summary: serde_json::Value,
    pub version: u32,
}

/// The plan as text: a `would move` line per move, a `would add flags` line per merge.
/// Paths are escaped for the terminal.
pub fn write_lines(w: &mut impl Write, scan: &ScanOutput, plan: &Plan) -> io::Result<()> {
    let moves = Moves(scan, plan);
    for i in 0..plan.moves.len() {
        let m = moves.get(i);
        writeln!(
            w,
            "would move {}{} ({}) keeping {}{}",
            escape(&m.path),
            m.offset.map(|x| format!(" @{x}")).unwrap_or_default(),
            m.class.as_str(),
            escape(&m.kept.path),
            if m.scope == Scope::CrossFolder {
                " (another folder: --across-folders)"
            } else {
                ""
            }
        )?;
    }
    let also = AlsoIns(scan, plan);
    for i in 0..plan.also_in.len() {
        let a = also.get(i);
        writeln!(
            w,
            "would keep {}{} in its folder (also in {})",
            escape(&a.path),
            a.offset.map(|x| format!(" @{x}")).unwrap_or_default(),
            escape(&a.also_in.join(", "))
        )?;
    }
    let flags = FlagMerges(scan, plan);
    for i in 0..plan.flag_merges.len() {
        let f = flags.get(i);
        writeln!(
            w,
            "would add flags {} to {}",
            escape(&f.add),
            escape(&f.path)
        )?;
    }
    Ok(())
}
