//! Acting on a scan: the plan of what to move, quarantine, restore, and the records that
//! make both exact and recoverable.
//!
//! - [`plan`]: which extra copies move and which flags merge (pure);
//! - [`quarantine`]: carries a plan out into a quarantine Maildir;
//! - [`restore`]: puts quarantined copies back;
//! - [`mbox_edit`]: the journaled in-place rewrite of an mbox, and its recovery;
//! - [`manifest`]: the append-only record of every change;
//! - [`runlock`], [`runlog`]: one run per store at a time; a line per run.

pub mod aim;
pub mod as_owner;
pub mod manifest;
pub mod mbox_edit;
pub mod owner;
pub mod placement;
pub mod plan;
pub mod quarantine;
pub mod restore;
pub mod reviewed;
pub mod runlock;
pub mod runlog;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: String,
    pub offset: Option<u64>,
    pub reason: String,
}

/// `PATH[ @OFFSET]: REASON`, as the output and the run log name a problem (raw: the
/// terminal escapes it, `crate::render::term::escape`).
impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(o) = self.offset {
            write!(f, " @{o}")?;
        }
        write!(f, ": {}", self.reason)
    }
}
