//! Acting on a scan: the plan of what to move, quarantine, restore, and the records that
//! make both exact and recoverable.
//!
//! - [`plan`]: which extra copies move and which flags merge (pure);
//! - [`quarantine`]: carries a plan out into a quarantine Maildir;
//! - [`restore`]: puts quarantined copies back;
//! - [`mbox_edit`]: the journaled in-place rewrite of an mbox, and its recovery;
//! - [`manifest`]: the append-only record of every change;
//! - [`runlock`], [`runlog`]: one run per store at a time; a line per run.

pub mod manifest;
pub mod mbox_edit;
pub mod plan;
pub mod quarantine;
pub mod restore;
pub mod runlock;
pub mod runlog;
