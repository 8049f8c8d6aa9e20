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

/// The most copies one batch of quarantine or restore holds, and the most bytes (reached
/// first by large messages). A batch is made durable with one sync and recorded with one
/// manifest fsync: larger batches cost fewer flushes, smaller ones less memory (an mbox
/// batch holds its messages) and less work to redo after a crash.
pub const BATCH_COPIES: usize = 1000;
pub const BATCH_BYTES: u64 = 64 << 20;

/// [`BATCH_COPIES`] and [`BATCH_BYTES`]; the crash tests set `MAILDEDUP_BATCH=N` (with
/// the `fault-injection` feature only) for batches of N copies, so that a kill can fall
/// between two batches and inside one.
pub(crate) fn batch_limits() -> (usize, u64) {
    #[cfg(feature = "fault-injection")]
    if let Some(n) = std::env::var("MAILDEDUP_BATCH")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        return (n.max(1), BATCH_BYTES);
    }
    (BATCH_COPIES, BATCH_BYTES)
}

/// Splits `0..sizes.len()` into consecutive batches of at most `max_n` items and, unless
/// one item is larger alone, `max_bytes` bytes.
pub(crate) fn batches(sizes: &[u64], max_n: usize, max_bytes: u64) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, &s) in sizes.iter().enumerate() {
        if i > start && (i - start >= max_n || bytes.saturating_add(s) > max_bytes) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(s);
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

#[cfg(test)]
mod batch_tests {
    use super::batches;

    #[test]
    fn batches_split_by_count_and_bytes() {
        assert_eq!(batches(&[], 3, 10), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(batches(&[1; 7], 3, 100), vec![0..3, 3..6, 6..7]);
        assert_eq!(
            batches(&[4, 4, 4, 20, 1], 10, 10),
            vec![0..2, 2..3, 3..4, 4..5]
        );
    }
}
