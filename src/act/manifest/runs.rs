//! The runs a quarantine folder holds, summed up from its manifest for `restore --list`:
//! when each ran, the command, how many copies it took out of which stores, how many of
//! them are restored already.

use super::Record;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// One run of a manifest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    /// The id `restore --run` takes.
    pub run: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// Its command line (empty for manifests of older versions).
    pub command: Vec<String>,
    /// Extra copies it moved into QDIR (Maildir and .eml files moved, mbox messages taken
    /// out).
    pub copies: usize,
    /// Of those, how many a restore has put back already.
    pub restored: usize,
    /// Kept copies whose flags it merged (Maildir renames and mbox header edits).
    pub flag_merges: usize,
    /// mbox files it rewrote.
    pub mboxes_rewritten: usize,
    /// Per store it took copies from (as the run recorded the store), how many.
    pub stores: Vec<StoreCount>,
}

/// Copies a run took out of one store.
#[derive(Debug, Clone, Serialize)]
pub struct StoreCount {
    #[serde(with = "crate::model::pathser")]
    pub store: PathBuf,
    pub copies: usize,
}

/// The recorded store holding `p` (the longest one above it), or `p` itself.
fn store_of(p: &Path, stores: &[PathBuf]) -> PathBuf {
    stores
        .iter()
        .filter(|s| p.starts_with(s))
        .max_by_key(|s| s.as_os_str().len())
        .cloned()
        .unwrap_or_else(|| p.to_path_buf())
}

/// The runs of `records` (a manifest in file order), oldest first.
pub fn summarize(records: &[Record]) -> Vec<RunSummary> {
    let restored: HashSet<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::Restored { id } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let mut out: Vec<RunSummary> = Vec::new();
    let mut stores: Vec<PathBuf> = Vec::new();
    let mut per_store: BTreeMap<PathBuf, usize> = BTreeMap::new();
    let flush = |out: &mut Vec<RunSummary>, per_store: &mut BTreeMap<PathBuf, usize>| {
        if let Some(last) = out.last_mut() {
            last.stores = std::mem::take(per_store)
                .into_iter()
                .map(|(store, copies)| StoreCount { store, copies })
                .collect();
        }
    };
    for r in records {
        let copy_from = match r {
            Record::Run {
                run,
                started,
                stores: s,
                command,
                ..
            } => {
                flush(&mut out, &mut per_store);
                stores = s.clone();
                out.push(RunSummary {
                    run: run.clone(),
                    started: started.clone(),
                    command: command.clone(),
                    ..RunSummary::default()
                });
                None
            }
            Record::MaildirMove { id, source, .. } => Some((id, source)),
            Record::MboxExtract { id, mbox, .. } => Some((id, mbox)),
            Record::MaildirFlags { .. } => {
                if let Some(last) = out.last_mut() {
                    last.flag_merges += 1;
                }
                None
            }
            Record::MboxRewrite { edits, .. } => {
                if let Some(last) = out.last_mut() {
                    last.mboxes_rewritten += 1;
                    last.flag_merges += edits.iter().filter(|e| e.original.is_some()).count();
                }
                None
            }
            _ => None,
        };
        if let (Some((id, path)), Some(last)) = (copy_from, out.last_mut()) {
            last.copies += 1;
            if restored.contains(id.as_str()) {
                last.restored += 1;
            }
            *per_store.entry(store_of(path, &stores)).or_default() += 1;
        }
    }
    flush(&mut out, &mut per_store);
    out
}
